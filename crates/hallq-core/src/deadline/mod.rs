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
mod bundle;
mod case;
mod commands;
mod engine;
mod index;
mod life;
mod obligations;
mod origin;
mod outcome;
mod record;
mod route;
mod slab;
mod statutory;
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
pub use bundle::{
    BundleAcceptance, BundleError, BundleState, BundleView, MAX_MEMBERS, MemberView, member_id,
};
pub use life::{Applicant, Obligation, ObligationKind, ObligationView};
pub use life::{
    Decision, DeliveryMethod, DeliveryView, Details, DetailsView, Notice, NoticeView, OutcomeKind,
    OutcomeView,
};
pub use record::{CaseRecord, ExtensionRecord, PreparedCase, SuspensionRecord};
pub use route::{Leg, LegView};

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
    /// 容缺受理: a promised material is overdue; an officer decides (refuse or accept late).
    RefusalPending,
    /// 承诺审批: a material promised after approval is overdue; an officer decides (revoke or
    /// accept late).
    RevocationPending,
    /// Closed: 不予受理.
    NotAccepted,
    /// Closed: the approval was revoked (撤销) for materials that never came.
    Revoked,
}

impl CaseState {
    pub fn as_str(self) -> &'static str {
        match self {
            CaseState::Open => "open",
            CaseState::Suspended => "suspended",
            CaseState::Completed => "completed",
            CaseState::Withdrawn => "withdrawn",
            CaseState::RefusalPending => "refusal_pending",
            CaseState::RevocationPending => "revocation_pending",
            CaseState::NotAccepted => "not_accepted",
            CaseState::Revoked => "revoked",
        }
    }

    pub fn is_closed(self) -> bool {
        matches!(
            self,
            CaseState::Completed
                | CaseState::Withdrawn
                | CaseState::NotAccepted
                | CaseState::Revoked
        )
    }

    /// An overdue obligation waits for an officer's decision.
    pub fn is_pending(self) -> bool {
        matches!(
            self,
            CaseState::RefusalPending | CaseState::RevocationPending
        )
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
    /// An application submitted online, waiting for the acceptance decision (受理 or 不予受理)
    /// under the matter's acceptance limit.
    Acceptance,
    /// Handed to another hall of the tree (县事乡办), under the leg's limit.
    Routed,
    /// The outcome is decided; the result is being delivered (送达) under the matter's
    /// delivery limit.
    Delivery,
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
        /// The applicant, masked and hashed; a replayed acceptance keeps the first one.
        applicant: Option<Box<Applicant>>,
        /// 一件事一次办: the application this case is one matter of.
        bundle: Option<String>,
    },
    Suspend {
        id: String,
        reason: usize,
        at: Timestamp,
        /// The 补正 notice: every missing material, in one record.
        missing: Vec<String>,
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
    /// 容缺 / 承诺审批: the applicant promises `materials` within `limit` (working days).
    Promise {
        id: String,
        kind: ObligationKind,
        materials: Vec<String>,
        limit: Limit,
        at: Timestamp,
    },
    /// The promised materials of obligation `n` (1-based) came in.
    Fulfil {
        id: String,
        n: usize,
        at: Timestamp,
    },
    /// The outcome: 不予受理, 准予 or 不予批准; a decided case goes to delivery by `delivery`.
    Decide {
        id: String,
        result: OutcomeKind,
        reason: Option<String>,
        delivery: Option<DeliveryMethod>,
        at: Timestamp,
    },
    /// An officer's decision on a case whose obligation is overdue.
    Resolve {
        id: String,
        decision: Decision,
        reason: String,
        /// How a refusal is delivered.
        delivery: Option<DeliveryMethod>,
        at: Timestamp,
    },
    /// The result reached the applicant (送达).
    Deliver {
        id: String,
        at: Timestamp,
    },
    /// An application submitted online: held under the acceptance clock until accepted.
    Submit {
        id: String,
        hall: usize,
        matter: usize,
        submitted_at: Timestamp,
        applicant: Option<Box<Applicant>>,
        bundle: Option<String>,
    },
    /// Accept an application submitted online (受理).
    AcceptSubmitted {
        id: String,
        at: Timestamp,
    },
    /// Hand the case to another hall of its tree (`hall`, a position in the config), with
    /// the leg's limit (the matter's when `None`).
    Hand {
        id: String,
        hall: usize,
        limit: Option<Limit>,
        at: Timestamp,
    },
}

impl CaseCommand {
    /// The existing case the command acts on; `None` for an acceptance.
    pub fn case_id(&self) -> Option<&str> {
        match self {
            CaseCommand::Accept { .. } | CaseCommand::Submit { .. } => None,
            CaseCommand::AcceptSubmitted { id, .. }
            | CaseCommand::Hand { id, .. }
            | CaseCommand::Suspend { id, .. }
            | CaseCommand::Resume { id, .. }
            | CaseCommand::Extend { id, .. }
            | CaseCommand::Complete { id, .. }
            | CaseCommand::Withdraw { id, .. }
            | CaseCommand::Forward { id, .. }
            | CaseCommand::Promise { id, .. }
            | CaseCommand::Fulfil { id, .. }
            | CaseCommand::Decide { id, .. }
            | CaseCommand::Resolve { id, .. }
            | CaseCommand::Deliver { id, .. } => Some(id),
        }
    }
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
    /// Obligations, outcome, delivery and 补正 notices.
    #[serde(flatten)]
    pub details: DetailsView,
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
        /// The 补正 notice: everything missing, at once.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        missing: Vec<String>,
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
    /// The applicant promised materials (容缺 / 承诺审批).
    Promised {
        case: String,
        obligation: ObligationView,
    },
    Fulfilled {
        case: String,
        n: usize,
    },
    /// An obligation is overdue: the case waits for an officer's decision (`state`).
    ObligationOverdue {
        case: String,
        n: usize,
        state: CaseState,
        materials: Vec<String>,
    },
    /// The outcome was decided (or an officer resolved an overdue obligation).
    Outcome {
        case: String,
        outcome: OutcomeView,
        #[serde(skip_serializing_if = "Option::is_none")]
        delivery: Option<DeliveryView>,
    },
    /// The result is ready for the applicant (window pickup, mail or electronic).
    Delivered {
        case: String,
        method: DeliveryMethod,
    },
    /// Handed to another hall of the tree; `limit` is the new leg's (none for delivery).
    Handed {
        case: String,
        from: Arc<str>,
        to: Arc<str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        limit: Option<String>,
    },
    /// An application submitted online, under its acceptance clock.
    Submitted {
        case: Box<CaseView>,
    },
    /// An application submitted online was accepted: the promised limit runs.
    AcceptedOnline {
        case: String,
        /// Within the acceptance clock.
        on_time: bool,
    },
    /// An officer accepted overdue materials late: the case goes on.
    Excused {
        case: String,
        n: usize,
        reason: String,
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
            CaseEventBody::Promised { .. } => "promised",
            CaseEventBody::Fulfilled { .. } => "fulfilled",
            CaseEventBody::ObligationOverdue { .. } => "obligation_overdue",
            CaseEventBody::Outcome { .. } => "outcome",
            CaseEventBody::Delivered { .. } => "delivered",
            CaseEventBody::Excused { .. } => "excused",
            CaseEventBody::Submitted { .. } => "submitted",
            CaseEventBody::Handed { .. } => "handed",
            CaseEventBody::AcceptedOnline { .. } => "accepted_online",
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
    /// An overdue obligation waits for an officer's decision (`resolve`) first.
    #[error("case `{id}` is {state}: an officer must decide on its overdue materials first")]
    DecisionPending { id: String, state: &'static str },
    #[error("case `{id}` has no obligation {n}")]
    UnknownObligation { id: String, n: usize },
    #[error("obligation {n} of case `{id}` is already {state}")]
    ObligationSettled {
        id: String,
        n: usize,
        state: &'static str,
    },
    /// Obligations are counted in working days.
    #[error("an obligation is due in working days, e.g. `5wd`; {limit} is not")]
    ObligationUnit { limit: Limit },
    #[error("`{field}` must list at least one material")]
    NoMaterials { field: &'static str },
    /// The outcome of a case is decided once.
    #[error("case `{id}` already has its outcome ({result})")]
    AlreadyDecided { id: String, result: &'static str },
    #[error("case `{id}` has no outcome to deliver yet")]
    NotDecided { id: String },
    /// 不予受理 is decided within the acceptance clock, not after handling began.
    #[error(
        "case `{id}` can no longer be refused acceptance: the acceptance decision was due by \
         {due}; decide `refused` instead"
    )]
    AcceptanceClockOver { id: String, due: String },
    #[error("`{field}` is required for {what}")]
    Required {
        field: &'static str,
        what: &'static str,
    },
    #[error("case `{id}` is not waiting for a decision on overdue materials")]
    NothingToResolve { id: String },
    #[error("{decision} does not settle a {state} case")]
    WrongDecision {
        decision: &'static str,
        state: &'static str,
    },
    #[error(
        "case `{id}` cannot be handed to hall `{hall}`: it is the case's hall or outside its tier tree"
    )]
    NotInRoute { id: String, hall: String },
    #[error("case `{id}` is part of a joint case (联办件): its departments are its route")]
    JointRoute { id: String },
    #[error("a leg's limit counts in the matter's unit; {limit} does not")]
    RouteUnit { limit: Limit },
    #[error("case `{id}` is a joint matter (联办件): it is accepted at the counter, not online")]
    JointOnline { id: String },
    #[error("case `{id}` is not an online application waiting to be accepted")]
    NotSubmitted { id: String },
    #[error("case `{id}` is not accepted yet: accept it (or decide `not_accepted`) first")]
    NotYetAccepted { id: String },
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
            CaseError::DecisionPending { .. } => "decision-pending",
            CaseError::UnknownObligation { .. } => "unknown-obligation",
            CaseError::ObligationSettled { .. } => "obligation-settled",
            CaseError::ObligationUnit { .. } => "obligation-unit",
            CaseError::NoMaterials { .. } => "missing-field",
            CaseError::AlreadyDecided { .. } => "already-decided",
            CaseError::NotDecided { .. } => "not-decided",
            CaseError::AcceptanceClockOver { .. } => "acceptance-clock-over",
            CaseError::Required { .. } => "missing-field",
            CaseError::NothingToResolve { .. } => "nothing-to-resolve",
            CaseError::WrongDecision { .. } => "wrong-decision",
            CaseError::JointOnline { .. } => "joint-online",
            CaseError::NotInRoute { .. } => "not-in-route",
            CaseError::JointRoute { .. } => "joint-route",
            CaseError::RouteUnit { .. } => "route-unit",
            CaseError::NotSubmitted { .. } => "not-submitted",
            CaseError::NotYetAccepted { .. } => "not-yet-accepted",
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
            CaseError::UnknownObligation { .. } | CaseError::ObligationSettled { .. } => {
                Some("obligation")
            }
            CaseError::ObligationUnit { .. } => Some("limit"),
            CaseError::NoMaterials { field } | CaseError::Required { field, .. } => Some(field),
            CaseError::AlreadyDecided { .. }
            | CaseError::AcceptanceClockOver { .. }
            | CaseError::NotYetAccepted { .. } => Some("result"),
            CaseError::JointOnline { .. } => Some("matter"),
            CaseError::NotInRoute { .. } => Some("hall"),
            CaseError::RouteUnit { .. } => Some("limit"),
            CaseError::WrongDecision { .. } => Some("decision"),
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
