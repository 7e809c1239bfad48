//! The deadline engine (限时办结 + 电子监察): cases, their working-time deadlines, and the
//! alarm ladder that warns before and after a case runs late.
//!
//! Pure, like the queue engine: every entry point takes `now`, nothing reads the clock or
//! does I/O. One engine owns every open case. Each running case has exactly one timer in the
//! timing wheel, at the earliest instant one of its unfired levels comes due; when it fires,
//! every level due by then fires in ladder order and the next timer is set. So ten million
//! open cases cost one wheel entry each and no work until something is due.
//!
//! Alarm rules (DESIGN.md, "Alarms"):
//! - each level fires once per arming; its id is `{case}/{level}/{n}`, where `n` counts the
//!   times that level has fired for the case, so the id is the same whenever and however
//!   often the daemon computes it (after a restart, a level that came due while it was down
//!   fires once, with the id it would have had);
//! - a change that moves the deadline (suspension, resume, extension, forwarding, a new
//!   calendar) re-arms: every fired level whose instant now lies in the future is `cleared`
//!   and may fire again later as `n + 1`; levels that still hold stay fired;
//! - while the clock is stopped (an open suspension) nothing fires and nothing is cleared;
//!   the resume decides.
//!
//! Views and events show every instant in the time zone of the case's hall (a forwarded case
//! is the upper hall's), as `LocalTime`; records keep the plain instants.
//!
//! Closed is final (DESIGN.md, "Durability and recovery"): a closed case leaves the engine
//! (`take_changes`), and every command that names an id the engine does not hold asks the
//! caller's [`ClosedCases`] first. Accepting a closed id again answers the stored case
//! unchanged (or a conflict naming the field that differs); any other command is refused as
//! `case-closed`. So no command, and no re-offer at start-up, reopens what was closed.

mod alarms;
mod case;
mod commands;
mod engine;
mod index;
mod origin;
mod record;
mod slab;
mod view;

use std::sync::Arc;

use jiff::Timestamp;
use serde::Serialize;

use crate::calendar::{CalendarError, Limit};
use crate::localtime::LocalTime;
pub use crate::model::CaseKind;
pub use engine::{CaseChange, DeadlineEngine, Recomputed};
pub use origin::{CaseOrigin, ClosingRecord, FollowUp};

/// Open rectifications or complaints of a hall (`DeadlineEngine::open_rating_cases`): (hall,
/// whether complaints, how many are open, how many of them are past their deadline).
pub type OpenRatingCases = (usize, bool, u64, u64);
pub use record::CaseRecord;

/// Where a case stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseState {
    /// The clock runs.
    Open,
    /// An open suspension stopped the clock.
    Suspended,
    Completed,
    Withdrawn,
}

impl CaseState {
    pub fn as_str(self) -> &'static str {
        match self {
            CaseState::Open => "open",
            CaseState::Suspended => "suspended",
            CaseState::Completed => "completed",
            CaseState::Withdrawn => "withdrawn",
        }
    }

    pub fn is_closed(self) -> bool {
        matches!(self, CaseState::Completed | CaseState::Withdrawn)
    }
}

/// 上报件 stages; other kinds have one stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Single,
    /// Being prepared for the upper hall, under the matter's stage limit.
    Forwarding,
    /// At the upper hall, under the matter's limit.
    Upper,
}

/// A command for the deadline engine. Hall, matter and suspension reason are positions in
/// the config, resolved by the caller.
#[derive(Debug, Clone, PartialEq)]
pub enum CaseCommand {
    Accept {
        id: String,
        hall: usize,
        matter: usize,
        accepted_at: Timestamp,
        /// The bad rating or complaint the case answers; `None` for an application. A
        /// replayed acceptance keeps the first one.
        origin: Option<Box<CaseOrigin>>,
    },
    Suspend {
        id: String,
        reason: usize,
        at: Timestamp,
    },
    Resume {
        id: String,
        at: Timestamp,
    },
    Extend {
        id: String,
        amount: Limit,
        reason: String,
        approver: String,
    },
    Complete {
        id: String,
        at: Timestamp,
        /// Required for a case with an origin (a rectification or complaint).
        closing: Option<Box<ClosingRecord>>,
    },
    Withdraw {
        id: String,
        reason: String,
        at: Timestamp,
    },
    /// 上报件: hand the case to the upper hall.
    Forward {
        id: String,
        at: Timestamp,
    },
}

/// A case as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseView {
    pub id: String,
    pub hall: Arc<str>,
    pub matter: Arc<str>,
    pub matter_name: Arc<str>,
    pub kind: CaseKind,
    pub state: CaseState,
    pub stage: Stage,
    pub accepted_at: LocalTime,
    /// The limit of the current stage, e.g. `20wd`, with extensions.
    pub limit: String,
    /// The deadline; absent while the clock is stopped.
    pub deadline: Option<LocalTime>,
    /// The deadline was counted over days the calendar's notices do not cover (on the default
    /// week); it is recounted when the calendar is replaced.
    pub provisional: bool,
    /// Which calendar lacks which days, when `provisional`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provisional_reason: Option<ProvisionalReason>,
    /// Office seconds left (negative: overdue), while the clock runs.
    pub remaining_working_s: Option<i64>,
    /// Working days left as the alarm ladder counts them (negative: days overdue).
    pub remaining_working_days: Option<i64>,
    pub overdue: bool,
    /// The most severe level fired and not cleared, if any.
    pub level: Option<Arc<str>>,
    /// Every fired level's alarm id.
    pub alarms: Vec<String>,
    pub calendar: Arc<str>,
    pub suspensions: Vec<SuspensionView>,
    pub extensions: Vec<ExtensionView>,
    /// A joint case's children (one per department), or the lead of a child.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lead: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department: Option<Arc<str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<LocalTime>,
    /// Whether it was closed by its deadline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_time: Option<bool>,
    /// The bad rating or complaint it answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<CaseOrigin>,
    /// How it was closed (核实, 整改, 反馈).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closing: Option<ClosingRecord>,
}

/// Why a deadline is provisional (DESIGN.md, "The calendar's horizon").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProvisionalReason {
    pub calendar: Arc<str>,
    /// The first day the count ran over that no loaded notice covers.
    pub first_uncovered_day: jiff::civil::Date,
    /// The same, in words, with what to do about it.
    pub detail: String,
}

impl ProvisionalReason {
    pub(crate) fn new(
        calendar: Arc<str>,
        range: crate::calendar::CoveredRange,
        first_uncovered_day: jiff::civil::Date,
    ) -> ProvisionalReason {
        let detail = if first_uncovered_day > range.last {
            format!(
                "calendar {calendar} has no holiday notice from {first_uncovered_day} on; those \
                 days were counted on the default week until the notice is loaded \
                 (PUT /v1/calendars/{calendar})"
            )
        } else {
            format!(
                "calendar {calendar} has no holiday notice before {}; the days from \
                 {first_uncovered_day} were counted on the default week",
                range.first
            )
        };
        ProvisionalReason {
            calendar,
            first_uncovered_day,
            detail,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SuspensionView {
    pub reason: Arc<str>,
    pub mode: &'static str,
    pub from: LocalTime,
    pub until: Option<LocalTime>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExtensionView {
    pub amount: String,
    pub reason: String,
    pub approver: String,
    pub at: LocalTime,
}

/// One alarm level firing for one case.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alarm {
    /// Stable: `{case}/{level}/{n}`.
    pub id: String,
    pub case: String,
    pub hall: Arc<str>,
    pub matter: Arc<str>,
    pub level: Arc<str>,
    /// The instant the level came due.
    pub due_at: LocalTime,
    /// The case's deadline.
    pub deadline: LocalTime,
    /// When the engine raised it: later than `due_at` only if it came due while the daemon
    /// was down.
    pub raised_at: LocalTime,
}

/// Which stream an event belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Cases,
    Alarms,
}

/// An event of the deadline engine. Its stream sequence number is assigned when it is
/// stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseEvent {
    #[serde(skip)]
    pub stream: Stream,
    /// Position of the hall in the config, for scoping subscribers.
    #[serde(skip)]
    pub hall: usize,
    pub at: LocalTime,
    #[serde(flatten)]
    pub body: CaseEventBody,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CaseEventBody {
    Accepted {
        case: Box<CaseView>,
    },
    Suspended {
        case: String,
        reason: Arc<str>,
    },
    Resumed {
        case: String,
    },
    Extended {
        case: String,
        amount: String,
        reason: String,
        approver: String,
    },
    Forwarded {
        case: String,
        hall: Arc<str>,
    },
    Completed {
        case: String,
        on_time: bool,
        /// When it was finished (may be earlier than the event, when reported late).
        closed_at: LocalTime,
    },
    Withdrawn {
        case: String,
        reason: String,
    },
    /// The deadline moved (or stopped, or started again), or it stopped (or started) being
    /// provisional.
    DeadlineChanged {
        case: String,
        previous: Option<LocalTime>,
        deadline: Option<LocalTime>,
        /// The new deadline's: see [`CaseView::provisional`].
        provisional: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        provisional_reason: Option<ProvisionalReason>,
    },
    Alarm(Alarm),
    /// A fired level no longer holds after the deadline moved.
    Cleared {
        id: String,
        case: String,
        hall: Arc<str>,
        level: Arc<str>,
    },
}

impl CaseEventBody {
    pub fn kind(&self) -> &'static str {
        match self {
            CaseEventBody::Accepted { .. } => "accepted",
            CaseEventBody::Suspended { .. } => "suspended",
            CaseEventBody::Resumed { .. } => "resumed",
            CaseEventBody::Extended { .. } => "extended",
            CaseEventBody::Forwarded { .. } => "forwarded",
            CaseEventBody::Completed { .. } => "completed",
            CaseEventBody::Withdrawn { .. } => "withdrawn",
            CaseEventBody::DeadlineChanged { .. } => "deadline_changed",
            CaseEventBody::Alarm(_) => "alarm",
            CaseEventBody::Cleared { .. } => "cleared",
        }
    }
}

/// Why a case command was refused. Nothing changed.
///
/// Not `#[non_exhaustive]`, although it crosses a crate boundary: the API gives every variant
/// its status in one exhaustive match (`src/api/problem.rs`), so a new variant must fail to
/// compile there until someone chooses its status. The crate is not published.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaseError {
    #[error("there is no open case `{id}`")]
    UnknownCase { id: String },
    #[error("case `{id}` already exists with another {field}")]
    Conflict { id: String, field: &'static str },
    #[error("case id `{id}` is not valid: use 1-64 letters, digits, '.', '-' or '_'")]
    BadId { id: String },
    #[error("case `{id}` is not suspended")]
    NotSuspended { id: String },
    #[error("case `{id}` is already suspended")]
    AlreadySuspended { id: String },
    #[error("case `{id}` is {state}")]
    Closed { id: String, state: &'static str },
    #[error("case `{id}` still has {open} open department case(s); they complete it")]
    ChildrenOpen { id: String, open: usize },
    #[error("case `{id}` is not an escalated case (上报件) waiting to be forwarded")]
    NotForwardable { id: String },
    #[error("hall `{hall}` has no upper hall to forward case `{id}` to")]
    NoUpperHall { id: String, hall: String },
    #[error("hall `{hall}` has no working calendar configured")]
    NoCalendar { hall: String },
    #[error("`{field}` ({at}) is in the future")]
    InTheFuture { field: &'static str, at: String },
    #[error("`at` ({at}) is before the case's last recorded change ({last})")]
    OutOfOrder { at: String, last: String },
    #[error("{0}")]
    Calendar(#[from] CalendarError),
    /// An extension adds at least one unit of time.
    #[error("an extension of case `{id}` must add time; {amount} adds none")]
    EmptyExtension { id: String, amount: Limit },
    /// Extensions of a stage may not add up to more than the matter allows.
    #[error(
        "case `{id}` may be extended by at most {max} in all; with {amount} its extensions \
         would add up to {total}"
    )]
    ExtensionOverLimit {
        id: String,
        amount: Limit,
        total: Limit,
        max: Limit,
    },
    /// A rectification or complaint closes only with what was verified, done and fed back.
    #[error(
        "case `{id}` answers a rating or complaint: completing it records `verification`, \
         `action` and `feedback`"
    )]
    ClosingRecordRequired { id: String },
    /// A follow-up (回访) is recorded once, on a rectification or complaint closed with its
    /// record.
    #[error("no follow-up can be recorded on case `{id}`: {why}")]
    FollowUpRefused { id: String, why: &'static str },
    /// The closed-case lookup failed (the store cannot be read): nothing changed, retry.
    #[error("cannot tell whether case `{id}` was closed: {reason}")]
    Unavailable { id: String, reason: String },
}

impl CaseError {
    pub fn code(&self) -> &'static str {
        match self {
            CaseError::UnknownCase { .. } => "unknown-case",
            CaseError::Conflict { .. } => "case-exists",
            CaseError::BadId { .. } => "invalid-case-id",
            CaseError::NotSuspended { .. } => "not-suspended",
            CaseError::AlreadySuspended { .. } => "already-suspended",
            CaseError::Closed { .. } => "case-closed",
            CaseError::ChildrenOpen { .. } => "children-open",
            CaseError::NotForwardable { .. } => "not-forwardable",
            CaseError::NoUpperHall { .. } => "no-upper-hall",
            CaseError::NoCalendar { .. } => "no-calendar",
            CaseError::InTheFuture { .. } => "in-the-future",
            CaseError::OutOfOrder { .. } => "out-of-order",
            CaseError::Calendar(CalendarError::ExtensionUnit { .. }) => "extension-unit",
            CaseError::EmptyExtension { .. } => "empty-extension",
            CaseError::ExtensionOverLimit { .. } => "extension-over-limit",
            CaseError::Calendar(_) => "calendar",
            CaseError::Unavailable { .. } => "unavailable",
            CaseError::ClosingRecordRequired { .. } => "closing-record-required",
            CaseError::FollowUpRefused { .. } => "follow-up-refused",
        }
    }

    pub fn field(&self) -> Option<&'static str> {
        match self {
            CaseError::UnknownCase { .. } | CaseError::BadId { .. } => Some("id"),
            CaseError::Conflict { field, .. } | CaseError::InTheFuture { field, .. } => Some(field),
            CaseError::Calendar(CalendarError::ExtensionUnit { .. })
            | CaseError::EmptyExtension { .. }
            | CaseError::ExtensionOverLimit { .. } => Some("amount"),
            CaseError::Calendar(CalendarError::Suspension { .. })
            | CaseError::OutOfOrder { .. } => Some("at"),
            _ => None,
        }
    }
}

/// Cases that have closed and left the engine, by id: the daemon's closed-case table plus the
/// closes sent to the store but not yet committed (`cases.rs`); a map in tests.
pub trait ClosedCases {
    /// The stored record of the closed case `id`, if a case with that id was ever closed.
    /// `Err` says why it cannot be known right now; the command is then refused unchanged.
    fn closed(&self, id: &str) -> Result<Option<CaseRecord>, String>;
}

impl<S: std::hash::BuildHasher> ClosedCases for std::collections::HashMap<String, CaseRecord, S> {
    fn closed(&self, id: &str) -> Result<Option<CaseRecord>, String> {
        Ok(self.get(id).cloned())
    }
}

/// Case ids are chosen by the business system: letters, digits, '.', '-', '_'. A joint
/// case's children are `{lead}:{department}`.
pub fn valid_case_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}
