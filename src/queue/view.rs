//! What the outside sees: ticket, window and hall views, and the hall's events.
//!
//! Every instant is a `LocalTime` in the hall's time zone (see `crate::localtime`).
//!
//! Events are self-contained: a display applies them without a second request, so a call
//! carries the number, the window's id and name, the announcement sentence, and the new
//! waiting counts of the queues it changed.

use std::sync::Arc;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::schedule::{ScheduleCause, ScheduleView};
use super::{
    CallReason, Lane, Post, Reclass, ReclassReason, TicketClass, TicketStatus, WindowState,
};
use crate::localtime::LocalTime;
use crate::model::{Tier, WindowKind};

/// A ticket as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TicketView {
    pub id: String,
    pub number: String,
    pub service: Arc<str>,
    pub service_name: Arc<str>,
    pub class: TicketClass,
    pub status: TicketStatus,
    /// 1 = next to be called in its service; 0 when not waiting, and for an appointment not
    /// callable yet (see `callable_at`).
    pub position: u32,
    /// Estimated seconds until the call; for an appointment not callable yet, the seconds
    /// until it becomes callable; 0 when not waiting.
    pub estimated_wait_s: u64,
    /// The lane it waits in: appointment, priority or normal. Only while waiting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lane: Option<Lane>,
    /// An appointment in its lane (or booked): the instant it becomes callable, its slot
    /// less the hall's `early`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callable_at: Option<LocalTime>,
    /// An appointment that left its lane: to which, when and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reclassified: Option<Reclass<LocalTime>>,
    pub issued_at: LocalTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slot: Option<LocalTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub called_at: Option<LocalTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<LocalTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<LocalTime>,
    /// The window calling or serving it (or the last one that did).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<Arc<str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window_name: Option<Arc<str>>,
    pub call_count: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evaluation: Option<u8>,
    /// The service that issued the number, when the ticket was transferred since.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_for: Option<Arc<str>>,
    /// Why it was called, while it is called or served.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<CallReason>,
}

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

/// A window as the API and snapshots show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowView {
    pub id: Arc<str>,
    pub name: Arc<str>,
    pub kind: WindowKind,
    pub state: WindowState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pause_reason: Option<String>,
    /// Service ids in rank order.
    pub services: Vec<Arc<str>>,
    pub current: Option<TicketView>,
    /// Officers signed in on posts A and B.
    pub officers: [Option<String>; 2],
    /// The post whose officer is serving: A when signed in, else B.
    pub active_post: Option<Post>,
    /// Tickets this window could call now, over all its services.
    pub waiting: u32,
    /// Appointments checked in that it cannot call yet (before their slot less `early`).
    pub waiting_early: u32,
    /// When the first of those becomes callable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_callable_at: Option<LocalTime>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceView {
    pub id: Arc<str>,
    pub name: Arc<str>,
    pub prefix: Arc<str>,
    pub waiting: u32,
    pub waiting_priority: u32,
    pub waiting_appointment: u32,
    /// Of `waiting_appointment`, those not callable yet.
    pub waiting_early: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_callable_at: Option<LocalTime>,
    pub issued_today: u32,
    /// The last number issued today, if any.
    pub last_number: Option<String>,
    /// Seconds the longest-waiting ticket has waited.
    pub longest_wait_s: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_wait_s: Option<i64>,
    /// Moving average of recent service times.
    pub avg_service_s: u64,
    /// Estimated wait of a ticket issued now.
    pub estimated_wait_s: u64,
    pub windows_open: u32,
}

/// `GET /v1/halls/{hall}`: everything a display or console needs to start from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HallSnapshot {
    pub id: Arc<str>,
    pub name: Arc<str>,
    pub tier: Tier,
    pub parent: Option<Arc<str>>,
    pub time_zone: Arc<str>,
    pub business_day: Date,
    /// The last event applied; a stream resumed from here misses nothing.
    pub seq: u64,
    /// Whether a kiosk can take a number now (`schedule.open_now`).
    pub open_now: bool,
    /// Today's hours, why the hall is closed, when it next opens or closes, the overrides
    /// ahead.
    pub schedule: ScheduleView,
    pub services: Vec<ServiceView>,
    pub windows: Vec<WindowView>,
    /// The last calls, newest first.
    pub recent_calls: Vec<std::sync::Arc<CallEvent>>,
    pub at: LocalTime,
}
