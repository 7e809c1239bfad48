//! The queue engine (排队叫号): one hall's tickets, windows and calling policy.
//!
//! Pure: every entry point takes `now` and returns events; nothing here reads the clock, does
//! I/O or knows about threads. A hall's engine is owned by exactly one shard thread, so every
//! operation sees and leaves a consistent hall — "call next" is atomic by construction, and
//! no ticket can be called by two windows or get a number twice.
//!
//! Invariants kept by `HallEngine` (checked by the property tests in `tests/queue_model.rs`):
//! - a ticket is in exactly one waiting lane iff its status is `Waiting`;
//! - a window's `current` ticket is `Called` or `Serving` and points back at that window;
//! - numbers are unique per (service, business day) and never reused within a day;
//! - an operation that returns an error has changed nothing and emitted nothing.

pub mod attendance;
mod calling;
mod contact;
mod daybook;
mod engine;
mod event;
mod filing;
mod lanes;
mod officers;
mod opening;
mod record;
pub mod schedule;
pub mod stats;
mod tickets;
mod timers;
mod view;
mod windows;

use serde::{Deserialize, Serialize};

pub use contact::{TicketContact, TurnNear};
pub use engine::{Changes, HallEngine, Mode};
pub use timers::{TimerKind, TimerOp};

/// The business day (in the hall's time zone, turning at its `day_starts`) that `at` falls in.
pub fn business_date(hall: &crate::model::Hall, at: jiff::Timestamp) -> jiff::civil::Date {
    engine::business_day(hall, at).0
}
pub use event::{CallEvent, Event, EventBody, QueueCount, TicketAlarm, TicketBrief};
pub use lanes::Lane;
pub use opening::{ClosedCode, ClosedReason, DayHours, ScheduleCause, ScheduleView};
pub use record::{HallRecord, ServiceRecord, TicketRecord, WindowRecord};
pub use view::{HallSnapshot, ServiceView, TicketView, WindowView};

/// 普通 / 绿色通道 / 预约.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketClass {
    Normal,
    /// Green channel: elderly, disabled, pregnant, military.
    Priority,
    /// Booked for a time slot.
    Appointment,
}

impl TicketClass {
    /// The serde name.
    pub fn as_str(self) -> &'static str {
        match self {
            TicketClass::Normal => "normal",
            TicketClass::Priority => "priority",
            TicketClass::Appointment => "appointment",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    /// An appointment issued before the citizen arrived; check-in makes it `Waiting`.
    Booked,
    Waiting,
    Called,
    Serving,
    Done,
    NoShow,
    /// The citizen went to fetch papers; returns to the head of the queue.
    Parked,
    Cancelled,
    /// Still open when the business day ended.
    Expired,
}

impl TicketStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TicketStatus::Booked => "booked",
            TicketStatus::Waiting => "waiting",
            TicketStatus::Called => "called",
            TicketStatus::Serving => "serving",
            TicketStatus::Done => "done",
            TicketStatus::NoShow => "no_show",
            TicketStatus::Parked => "parked",
            TicketStatus::Cancelled => "cancelled",
            TicketStatus::Expired => "expired",
        }
    }

    /// Whether nothing more can happen to the ticket today (a no-show can still be
    /// reactivated, so it is not terminal).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TicketStatus::Done | TicketStatus::Cancelled | TicketStatus::Expired
        )
    }
}

/// What a window displays and what the console shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowState {
    Closed,
    /// Open and idle.
    Open,
    Calling,
    Serving,
    Paused,
}

/// AB岗: the A (primary) and B (backup) post of a window. Read in either case, as the config
/// writes them (`posts = { a = …, b = … }`) or as officers say them (A岗, B岗).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Post {
    #[serde(alias = "a")]
    A,
    #[serde(alias = "b")]
    B,
}

impl Post {
    pub fn index(self) -> usize {
        match self {
            Post::A => 0,
            Post::B => 1,
        }
    }
}

/// An appointment that stopped ranking in the appointment lane. Stated on the ticket, in the
/// answer that caused it and as a `reclassified` event, never silently.
/// Stored with the instant (`Reclass`), shown with the hall's offset (`Reclass<LocalTime>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reclass<At = jiff::Timestamp> {
    pub from: Lane,
    pub to: Lane,
    pub reason: ReclassReason,
    pub at: At,
}

impl Reclass {
    /// As a view shows it, in `zone`.
    pub fn local(self, zone: &jiff::tz::TimeZone) -> Reclass<crate::localtime::LocalTime> {
        Reclass {
            from: self.from,
            to: self.to,
            reason: self.reason,
            at: crate::localtime::LocalTime::new(self.at, zone),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReclassReason {
    /// Checked in, waiting or released after its slot plus the policy's `grace`.
    AppointmentLate,
    /// Moved to another service, where its slot does not apply.
    Transferred,
    /// A no-show reactivated: it goes back by the reactivation placement, as others do.
    Reactivated,
    /// Back from fetching papers: at the head of the normal lane, as others are.
    Returned,
}

/// Which rule of the calling policy chose a ticket. Every call event carries one, so a
/// complaint ("why was he called before me?") can be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallReason {
    /// Waited at least the hall's maximum wait (aging cap).
    Aged,
    /// A checked-in appointment inside its early/grace window.
    Appointment,
    /// Green channel.
    Priority,
    /// A normal ticket called because `k` priority calls in a row were made.
    Ratio,
    /// The window's service rank, then issue order.
    Fifo,
    /// Weighted turn among services of the same rank.
    Weighted,
    /// The officer called this ticket by number.
    Specific,
    /// Announced again.
    Recall,
}

impl CallReason {
    /// The serde name.
    pub fn as_str(self) -> &'static str {
        match self {
            CallReason::Aged => "aged",
            CallReason::Appointment => "appointment",
            CallReason::Priority => "priority",
            CallReason::Ratio => "ratio",
            CallReason::Fifo => "fifo",
            CallReason::Weighted => "weighted",
            CallReason::Specific => "specific",
            CallReason::Recall => "recall",
        }
    }
}

/// A command for one hall. Window and service positions are resolved from ids by the caller
/// (the API layer) through `Hall`; tickets are named by their public id.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Issue {
        service: usize,
        class: TicketClass,
        /// Appointment slot; required for appointments, refused otherwise.
        slot: Option<jiff::Timestamp>,
        /// An appointment issued at the kiosk is checked in at once; one pushed ahead by a
        /// booking system is `Booked` until the citizen checks in.
        checked_in: bool,
    },
    CheckIn {
        ticket: String,
    },
    Cancel {
        ticket: String,
    },
    Reactivate {
        ticket: String,
    },
    Return {
        ticket: String,
    },
    Evaluate {
        ticket: String,
        evaluation: u8,
        /// The citizen's own rating (boxed: commands travel by value); none from the
        /// officer's console.
        rating: Option<Box<Rating>>,
    },
    Window {
        window: usize,
        action: WindowAction,
    },
    /// A dated override of the hall's hours (today or later); empty `hours` closes the day.
    /// Intervals are ordered and do not overlap (the API checks them).
    SetHours {
        date: jiff::civil::Date,
        /// Boxed, as `reason`: commands travel by value through the shards' queues.
        hours: Box<[(jiff::civil::Time, jiff::civil::Time)]>,
        reason: Option<Box<str>>,
    },
    /// Remove the API's override of a date.
    ClearHours {
        date: jiff::civil::Date,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum WindowAction {
    CallNext,
    Call {
        ticket: String,
    },
    Recall,
    Start,
    Complete {
        evaluation: Option<u8>,
    },
    NoShow,
    Transfer {
        service: usize,
        placement: Option<crate::model::Placement>,
    },
    Park,
    Release,
    Open {
        sign_in: Option<(Post, String)>,
    },
    Pause {
        reason: String,
    },
    Close,
    SignIn {
        post: Post,
        officer: String,
    },
    SignOut {
        post: Post,
        /// Why the officer leaves, when not for the day: leave (请假) needs the other post
        /// signed in; a short absence pauses a window left without an officer (去向公开).
        absence: Option<Box<Absence>>,
    },
}

/// What the citizen's rating adds to the evaluation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rating {
    /// Reason tags the citizen chose.
    pub reasons: Vec<String>,
    /// Refused this many seconds after completion (the citizen's rating window).
    pub within_s: Option<u32>,
}

/// An officer's absence from a post, as the sign-out states it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Absence {
    /// The whereabouts note shown on the display and counter (会议, 外出办件).
    pub note: String,
    /// When the officer expects to be back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub back_at: Option<jiff::Timestamp>,
    /// Half a day or more (the config's `short_absence_min` and longer, or no return
    /// given): it must be covered by the other post (AB岗).
    pub leave: bool,
}

impl WindowAction {
    /// The action's name in the API path and in error messages.
    pub fn name(&self) -> &'static str {
        match self {
            WindowAction::CallNext => "call",
            WindowAction::Call { .. } => "call",
            WindowAction::Recall => "recall",
            WindowAction::Start => "start",
            WindowAction::Complete { .. } => "complete",
            WindowAction::NoShow => "no-show",
            WindowAction::Transfer { .. } => "transfer",
            WindowAction::Park => "park",
            WindowAction::Release => "release",
            WindowAction::Open { .. } => "open",
            WindowAction::Pause { .. } => "pause",
            WindowAction::Close => "close",
            WindowAction::SignIn { .. } => "sign-in",
            WindowAction::SignOut { .. } => "sign-out",
        }
    }
}

/// What a successful command answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// A ticket was issued (201).
    Issued(TicketView),
    /// A ticket changed or was called (200).
    Ticket(TicketView),
    /// Call-next found nobody waiting (204).
    NobodyWaiting,
    Window(WindowView),
    /// A date's hours after an override changed (200).
    Hours(DayHours),
}

/// Why a command was refused. The engine changed nothing. Messages name the hall, window,
/// ticket or service involved; `field()` names the request field at fault, if any.
///
/// Not `#[non_exhaustive]`, although it crosses a crate boundary: the API gives every variant
/// its status in one exhaustive match (`src/api/problem.rs`), so a new variant must fail to
/// compile there until someone chooses its status. The crate is not published.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    #[error("hall `{hall}` has no ticket `{ticket}` today")]
    UnknownTicket { hall: String, ticket: String },
    #[error("window `{window}` is closed; open it first")]
    WindowClosed { window: String },
    #[error("window `{window}` is paused ({reason}); open it first")]
    WindowPaused { window: String, reason: String },
    #[error(
        "window `{window}` is busy with ticket {ticket}; complete, release or transfer it first"
    )]
    WindowBusy { window: String, ticket: String },
    #[error("window `{window}` has no current ticket")]
    NoCurrentTicket { window: String },
    #[error("ticket {ticket} is {status}; it cannot be {action}")]
    InvalidTransition {
        ticket: String,
        status: &'static str,
        action: &'static str,
    },
    #[error("window `{window}` does not serve `{service}`, the service of ticket {ticket}")]
    NotServedHere {
        window: String,
        ticket: String,
        service: String,
    },
    #[error("ticket {ticket} is already in service `{service}`")]
    SameService { ticket: String, service: String },
    #[error("service `{service}` has reached its daily cap of {cap} tickets")]
    DailyCapReached { service: String, cap: u32 },
    #[error("service `{service}` has issued all {size} numbers of its range today")]
    NumbersExhausted { service: String, size: u32 },
    #[error("hall `{hall}` is closed now ({local}, {}); {opens}", reason.describe())]
    HallClosed {
        hall: String,
        /// Now, in the hall's time zone. Boxed, as `opens`: with `next_opening`'s offset the
        /// error type would outgrow clippy's 128 bytes on every `Result` of the engine.
        local: Box<str>,
        /// When it opens, in words and the hall's time zone.
        opens: Box<str>,
        next_opening: Option<crate::localtime::LocalTime>,
        reason: ClosedReason,
    },
    #[error("service `{service}` of hall `{hall}` takes no tickets now: {why}")]
    ServiceClosed {
        hall: String,
        service: String,
        why: &'static str,
    },
    #[error(
        "{date} is before today ({today}) in the hall's time zone; overrides are for today or later"
    )]
    OverrideInPast { date: String, today: String },
    #[error("hall `{hall}` has no override set through the API for {date}{}", if *in_config { " (the config's override for that date stays: change the config to remove it)" } else { "" })]
    NoOverride {
        hall: String,
        date: String,
        in_config: bool,
    },
    #[error("hall `{hall}` already has {max} overrides ahead; remove some first")]
    TooManyOverrides { hall: String, max: usize },
    #[error("evaluation must be 1 to 5, not {value}")]
    BadEvaluation { value: u8 },
    #[error("ticket {ticket} was already evaluated")]
    AlreadyEvaluated { ticket: String },
    #[error("an appointment needs a `slot`")]
    SlotRequired,
    #[error("only appointments have a `slot`")]
    SlotNotAllowed,
    #[error("the slot {slot} is not in today's business day {day}")]
    SlotNotToday { slot: String, day: String },
    #[error("no-show {ticket} can be reactivated only within {minutes} minutes")]
    ReactivationExpired { ticket: String, minutes: i64 },
    #[error("officer `{officer}` is not assigned to post {post:?} of window `{window}`")]
    OfficerNotAssigned {
        window: String,
        post: Post,
        officer: String,
    },
    #[error("a pause needs a non-empty `reason`")]
    PauseReasonRequired,
    #[error(
        "post {post:?} of window `{window}` cannot leave: the covering post {cover_post:?} ({cover}) is not signed in; 顶岗人员到岗后，请假人员方可离开"
    )]
    CoverAbsent {
        window: String,
        post: Post,
        cover_post: Post,
        /// The officer assigned to the covering post, or `unassigned`.
        cover: String,
    },
    #[error(
        "ticket {ticket} can no longer be rated: ratings close {minutes} minutes after completion"
    )]
    RatingClosed { ticket: String, minutes: i64 },
}

impl QueueError {
    /// Stable machine-readable code (the problem `type` slug).
    pub fn code(&self) -> &'static str {
        match self {
            QueueError::UnknownTicket { .. } => "unknown-ticket",
            QueueError::WindowClosed { .. } => "window-closed",
            QueueError::WindowPaused { .. } => "window-paused",
            QueueError::WindowBusy { .. } => "window-busy",
            QueueError::NoCurrentTicket { .. } => "no-current-ticket",
            QueueError::InvalidTransition { .. } => "invalid-transition",
            QueueError::NotServedHere { .. } => "not-served-here",
            QueueError::SameService { .. } => "same-service",
            QueueError::DailyCapReached { .. } => "daily-cap-reached",
            QueueError::NumbersExhausted { .. } => "numbers-exhausted",
            QueueError::HallClosed { .. } => "hall-closed",
            QueueError::ServiceClosed { .. } => "service-closed",
            QueueError::OverrideInPast { .. } => "override-in-past",
            QueueError::NoOverride { .. } => "no-override",
            QueueError::TooManyOverrides { .. } => "too-many-overrides",
            QueueError::BadEvaluation { .. } => "bad-evaluation",
            QueueError::AlreadyEvaluated { .. } => "already-evaluated",
            QueueError::SlotRequired => "slot-required",
            QueueError::SlotNotAllowed => "slot-not-allowed",
            QueueError::SlotNotToday { .. } => "slot-not-today",
            QueueError::ReactivationExpired { .. } => "reactivation-expired",
            QueueError::OfficerNotAssigned { .. } => "officer-not-assigned",
            QueueError::PauseReasonRequired => "pause-reason-required",
            QueueError::CoverAbsent { .. } => "cover-absent",
            QueueError::RatingClosed { .. } => "rating-closed",
        }
    }

    /// The request field at fault, when the error is about one.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            QueueError::UnknownTicket { .. } => Some("ticket"),
            QueueError::BadEvaluation { .. } => Some("evaluation"),
            QueueError::SlotRequired
            | QueueError::SlotNotAllowed
            | QueueError::SlotNotToday { .. } => Some("slot"),
            QueueError::SameService { .. } | QueueError::ServiceClosed { .. } => Some("service"),
            QueueError::OfficerNotAssigned { .. } => Some("officer"),
            QueueError::OverrideInPast { .. } | QueueError::NoOverride { .. } => Some("date"),
            QueueError::PauseReasonRequired => Some("reason"),
            _ => None,
        }
    }
}
