//! The hall's events as the stream carries them (`Event`, `EventBody`) and the pieces they
//! carry: ticket briefs, queue counts, calls, wait alarms.
//!
//! Events are self-contained: a display applies them without a second request, so a call
//! carries the number, the window's id and name, the announcement sentence, and the new
//! waiting counts of the queues it changed. Data only: the engine's files build them; this
//! file never reads or changes the engine.

use std::sync::Arc;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::opening::{ScheduleCause, ScheduleView};
use super::*;
use crate::localtime::LocalTime;

/// The part of a ticket every event carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketBrief {
    pub id: String,
    pub number: String,
    pub service: Arc<str>,
    pub service_name: Arc<str>,
    pub class: TicketClass,
    pub status: TicketStatus,
}

/// A service's waiting count after an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueCount {
    pub service: Arc<str>,
    pub waiting: u32,
}

/// A call (or recall): everything a display and a loudspeaker need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallEvent {
    pub ticket: String,
    pub number: String,
    pub service: Arc<str>,
    pub service_name: Arc<str>,
    pub class: TicketClass,
    pub window: Arc<str>,
    pub window_name: Arc<str>,
    /// 1 for the first call, 2 for the first recall, …
    pub call_count: u8,
    pub reason: CallReason,
    /// The officer serving at the window (A when signed in, else B).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub officer: Option<String>,
    /// The sentence to display and speak: 请A023号到5号窗口办理.
    pub announcement: String,
    pub called_at: LocalTime,
    pub issued_at: LocalTime,
}

/// An alarm about one ticket: waiting past its service's target, or called and not started
/// in time. It is on the hall's stream and on the alarm stream (电子监察).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TicketAlarm {
    /// Stable: `{hall}/{ticket}/{level}`; raised at most once per ticket (per service for
    /// waits).
    pub id: String,
    pub level: &'static str,
    pub hall: Arc<str>,
    pub ticket: String,
    pub number: String,
    pub service: Arc<str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<Arc<str>>,
    /// The target wait or the start time-out, in seconds.
    pub limit_s: i64,
    pub due_at: LocalTime,
    pub raised_at: LocalTime,
}

/// One state change of a hall, numbered gap-free per hall (`seq`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub seq: u64,
    pub at: LocalTime,
    pub hall: Arc<str>,
    #[serde(flatten)]
    pub body: EventBody,
}

impl Event {
    /// The SSE `event:` name.
    pub fn kind(&self) -> &'static str {
        self.body.kind()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventBody {
    /// The business day turned: numbers restart, open tickets expired, windows closed.
    DayOpened {
        date: Date,
        previous: Date,
        expired: u32,
    },
    Issued {
        ticket: TicketBrief,
        queues: Vec<QueueCount>,
    },
    CheckedIn {
        ticket: TicketBrief,
        queues: Vec<QueueCount>,
    },
    Called {
        #[serde(flatten)]
        call: std::sync::Arc<CallEvent>,
        queues: Vec<QueueCount>,
    },
    Started {
        ticket: TicketBrief,
        window: Arc<str>,
        window_name: Arc<str>,
    },
    Completed {
        ticket: TicketBrief,
        window: Arc<str>,
        window_name: Arc<str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        evaluation: Option<u8>,
        /// Completed by calling the next ticket rather than explicitly.
        implicit: bool,
        service_s: i64,
    },
    NoShow {
        ticket: TicketBrief,
        window: Arc<str>,
        window_name: Arc<str>,
        /// True when the recall limit made it a no-show.
        recall_limit: bool,
    },
    Reactivated {
        ticket: TicketBrief,
        queues: Vec<QueueCount>,
    },
    Transferred {
        ticket: TicketBrief,
        from: Arc<str>,
        window: Arc<str>,
        window_name: Arc<str>,
        queues: Vec<QueueCount>,
    },
    Parked {
        ticket: TicketBrief,
        window: Arc<str>,
        window_name: Arc<str>,
    },
    Returned {
        ticket: TicketBrief,
        queues: Vec<QueueCount>,
    },
    Released {
        ticket: TicketBrief,
        window: Arc<str>,
        window_name: Arc<str>,
        queues: Vec<QueueCount>,
    },
    Cancelled {
        ticket: TicketBrief,
        queues: Vec<QueueCount>,
    },
    Evaluated {
        ticket: TicketBrief,
        evaluation: u8,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        reasons: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        window: Option<Arc<str>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        officer: Option<String>,
    },
    WindowOpened {
        window: Arc<str>,
        window_name: Arc<str>,
    },
    WindowPaused {
        window: Arc<str>,
        window_name: Arc<str>,
        reason: String,
    },
    WindowClosed {
        window: Arc<str>,
        window_name: Arc<str>,
    },
    OfficerSignedIn {
        window: Arc<str>,
        post: Post,
        officer: String,
    },
    OfficerSignedOut {
        window: Arc<str>,
        post: Post,
        /// Leave or a short absence, with its whereabouts note; none when off for the day.
        #[serde(skip_serializing_if = "Option::is_none")]
        absence: Option<Box<super::Absence>>,
    },
    WaitOverTarget {
        ticket: TicketBrief,
        alarm: TicketAlarm,
    },
    NotStarted {
        ticket: TicketBrief,
        alarm: TicketAlarm,
    },
    /// An appointment stopped ranking as one (late past its grace period, transferred,
    /// reactivated or returned): every change of class is stated.
    Reclassified {
        ticket: TicketBrief,
        from: Lane,
        to: Lane,
        reason: ReclassReason,
        #[serde(skip_serializing_if = "Option::is_none")]
        slot: Option<LocalTime>,
        grace_s: i64,
    },
    /// The hall opened or closed, or its hours changed (an override, a new calendar).
    ScheduleChanged {
        cause: ScheduleCause,
        /// The date an override was set or removed for.
        #[serde(skip_serializing_if = "Option::is_none")]
        date: Option<Date>,
        schedule: ScheduleView,
    },
    /// 预约: a booking made, cancelled, checked in or flagged (never the citizen).
    Booking {
        action: crate::booking::BookingAction,
        booking: crate::booking::BookingBrief,
    },
}

impl EventBody {
    /// The alarm this event raises on the alarm stream, if any.
    pub fn alarm(&self) -> Option<&TicketAlarm> {
        match self {
            EventBody::WaitOverTarget { alarm, .. } | EventBody::NotStarted { alarm, .. } => {
                Some(alarm)
            }
            _ => None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            EventBody::DayOpened { .. } => "day_opened",
            EventBody::Issued { .. } => "issued",
            EventBody::CheckedIn { .. } => "checked_in",
            EventBody::Called { .. } => "called",
            EventBody::Started { .. } => "started",
            EventBody::Completed { .. } => "completed",
            EventBody::NoShow { .. } => "no_show",
            EventBody::Reactivated { .. } => "reactivated",
            EventBody::Transferred { .. } => "transferred",
            EventBody::Parked { .. } => "parked",
            EventBody::Returned { .. } => "returned",
            EventBody::Released { .. } => "released",
            EventBody::Cancelled { .. } => "cancelled",
            EventBody::Evaluated { .. } => "evaluated",
            EventBody::WindowOpened { .. } => "window_opened",
            EventBody::WindowPaused { .. } => "window_paused",
            EventBody::WindowClosed { .. } => "window_closed",
            EventBody::OfficerSignedIn { .. } => "officer_signed_in",
            EventBody::OfficerSignedOut { .. } => "officer_signed_out",
            EventBody::WaitOverTarget { .. } => "wait_over_target",
            EventBody::NotStarted { .. } => "not_started",
            EventBody::Reclassified { .. } => "reclassified",
            EventBody::ScheduleChanged { .. } => "schedule_changed",
            EventBody::Booking { .. } => "booking",
        }
    }

    /// The ticket the event is about, if any.
    pub fn ticket_id(&self) -> Option<&str> {
        match self {
            EventBody::Issued { ticket, .. }
            | EventBody::CheckedIn { ticket, .. }
            | EventBody::Started { ticket, .. }
            | EventBody::Completed { ticket, .. }
            | EventBody::NoShow { ticket, .. }
            | EventBody::Reactivated { ticket, .. }
            | EventBody::Transferred { ticket, .. }
            | EventBody::Parked { ticket, .. }
            | EventBody::Returned { ticket, .. }
            | EventBody::Released { ticket, .. }
            | EventBody::Cancelled { ticket, .. }
            | EventBody::Evaluated { ticket, .. }
            | EventBody::WaitOverTarget { ticket, .. }
            | EventBody::NotStarted { ticket, .. }
            | EventBody::Reclassified { ticket, .. } => Some(&ticket.id),
            EventBody::Called { call, .. } => Some(&call.ticket),
            _ => None,
        }
    }
}
