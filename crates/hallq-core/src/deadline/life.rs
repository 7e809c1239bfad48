//! What a case's life beyond the clock records, and the commands' resolved fields: the
//! obligations (容缺 / 承诺审批 materials), the outcome, the delivery and the 补正 notices a case
//! holds (`Details`) with their views, the statutory default limits, and how a command found
//! its case (`Target`) and how a case closes (`Closing`).
//!
//! Data only, shared by `commands`, `obligations`, `outcome` and `statutory` so that none of
//! them imports another; the rules that change these values live in those files. Never reads
//! the clock, never does I/O.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::*;
use crate::calendar::Limit;

/// What a command acted on: a case the engine holds (and whether it was just created), a
/// case it just created and already showed in its event (the view is the answer too: the
/// same case at the same `now`, so it is not made twice), or a closed case an acceptance
/// replayed, as stored.
pub(super) enum Target {
    Held(u32, bool),
    Created(Box<CaseView>),
    Closed(Box<CaseView>),
}

/// How a case closes.
pub(super) enum Closing {
    Completed,
    Withdrawn(String),
    /// By its outcome (不予受理, 撤销), reported by the outcome's own event.
    Decided(CaseState),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObligationKind {
    /// 容缺受理: accepted with secondary materials missing; overdue → `refusal_pending`.
    Deficiency,
    /// 承诺审批: approved first, materials follow; overdue → `revocation_pending`.
    Commitment,
}

/// One promise, stored as is in the case's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Obligation {
    pub kind: ObligationKind,
    pub materials: Vec<String>,
    /// As given, e.g. `5wd`.
    pub limit: String,
    pub from: Timestamp,
    /// Counted once, when promised, on the case's calendar.
    pub due: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fulfilled_at: Option<Timestamp>,
    /// When it was found overdue (its alarm's `raised_at`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overdue_at: Option<Timestamp>,
    /// An officer accepted it late or waived it, with this reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excused: Option<String>,
}

impl Obligation {
    /// Neither fulfilled, nor overdue, nor excused: its due instant is still watched.
    pub(super) fn watched(&self) -> bool {
        self.fulfilled_at.is_none() && self.overdue_at.is_none() && self.excused.is_none()
    }

    /// Not yet settled: watched, or overdue and waiting for the officer.
    pub(super) fn unsettled(&self) -> bool {
        self.fulfilled_at.is_none() && self.excused.is_none()
    }

    pub(super) fn state(&self) -> &'static str {
        if self.fulfilled_at.is_some() {
            "fulfilled"
        } else if self.excused.is_some() {
            "excused"
        } else if self.overdue_at.is_some() {
            "overdue"
        } else {
            "open"
        }
    }

    pub(super) fn view(&self, n: usize, local: impl Fn(Timestamp) -> LocalTime) -> ObligationView {
        ObligationView {
            n,
            kind: self.kind,
            materials: self.materials.clone(),
            limit: self.limit.clone(),
            from: local(self.from),
            due: local(self.due),
            state: self.state(),
            fulfilled_at: self.fulfilled_at.map(&local),
            overdue_at: self.overdue_at.map(&local),
            excused: self.excused.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObligationView {
    /// 1-based, the number `fulfil` names.
    pub n: usize,
    pub kind: ObligationKind,
    pub materials: Vec<String>,
    pub limit: String,
    pub from: LocalTime,
    pub due: LocalTime,
    /// `open`, `fulfilled`, `overdue` or `excused`.
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fulfilled_at: Option<LocalTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overdue_at: Option<LocalTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub excused: Option<String>,
}

/// A promise's fields, as `CaseCommand::Promise` carries them.
pub(super) struct Promising {
    pub kind: ObligationKind,
    pub materials: Vec<String>,
    pub limit: Limit,
    pub at: Timestamp,
}

/// An officer's decision, as `CaseCommand::Resolve` carries it.
pub(super) struct Resolving {
    pub decision: Decision,
    pub reason: String,
    pub delivery: Option<DeliveryMethod>,
    pub at: Timestamp,
}

/// The statutory limit for deciding acceptance (第十七条: 3 working days) when the matter sets
/// none.
pub const ACCEPTANCE_LIMIT: Limit = Limit::WorkingDays(3);
/// The delivery stage's limit when the matter sets none.
pub const DELIVERY_LIMIT: Limit = Limit::WorkingDays(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    /// 不予受理.
    NotAccepted,
    /// 准予.
    Approved,
    /// 不予批准 / 不予许可.
    Refused,
    /// 撤销: an approval under 承诺审批 revoked for materials that never came.
    Revoked,
}

impl OutcomeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::NotAccepted => "not_accepted",
            OutcomeKind::Approved => "approved",
            OutcomeKind::Refused => "refused",
            OutcomeKind::Revoked => "revoked",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryMethod {
    /// 窗口领取.
    Window,
    /// 邮寄.
    Mail,
    /// 电子送达.
    Electronic,
}

/// An officer's decision on a case whose obligation is overdue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// 容缺: refuse the application (不予批准), delivered like any outcome.
    Refuse,
    /// 承诺审批: revoke the approval; the case closes `revoked`.
    Revoke,
    /// Accept the materials late (or waive them): the case goes on.
    Excuse,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Refuse => "refuse",
            Decision::Revoke => "revoke",
            Decision::Excuse => "excuse",
        }
    }
}

/// What a case carries beyond its clock, stored as is in its record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Details {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub obligations: Vec<Obligation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<Delivery>,
    /// 补正 notices, one per suspension that asked for materials.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notices: Vec<Notice>,
    /// Submitted online at: the acceptance clock ran from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_at: Option<Timestamp>,
    /// Hand-overs between halls, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub route: Vec<super::Leg>,
    /// Who applied and where to notify them: masked and keyed hashes only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applicant: Option<Applicant>,
    /// 一件事一次办: the application this case is one matter of, with its front desk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<String>,
}

/// The applicant of a case as hallq keeps them (DESIGN.md, "Beyond the clock"): masked for
/// display and hashed under the citizen key (`[booking] keys`) for look-ups and for the
/// notification gateway, which holds the directory from hash to number. The caller masks and
/// hashes before the data reaches the core; nothing here is ever in clear.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applicant {
    /// `张*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_masked: Option<String>,
    /// `4401**********123X`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_masked: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_hash: Option<String>,
    /// `138****8000`: notifications go to this contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_masked: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_hash: Option<String>,
}

impl Details {
    pub fn is_empty(&self) -> bool {
        *self == Details::default()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub result: OutcomeKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub at: Timestamp,
    /// Decided by the handling deadline.
    pub on_time: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub method: DeliveryMethod,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    pub missing: Vec<String>,
    pub at: Timestamp,
}

/// [`Details`] as the API shows them, in the hall's time zone.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DetailsView {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub obligations: Vec<ObligationView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<OutcomeView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliveryView>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notices: Vec<NoticeView>,
    /// Submitted online at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub submitted_at: Option<LocalTime>,
    /// Hand-overs between halls, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub route: Vec<super::LegView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applicant: Option<Applicant>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bundle: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutcomeView {
    pub result: OutcomeKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub at: LocalTime,
    pub on_time: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeliveryView {
    pub method: DeliveryMethod,
    /// The delivery stage's limit, e.g. `2wd`.
    pub limit: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<LocalTime>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoticeView {
    pub missing: Vec<String>,
    pub at: LocalTime,
}

/// A decision's fields, as `CaseCommand::Decide` carries them.
pub(super) struct Deciding {
    pub result: OutcomeKind,
    pub reason: Option<String>,
    pub delivery: Option<DeliveryMethod>,
    pub at: Timestamp,
}

/// An online submission's fields, resolved to the catalogue's positions.
pub(super) struct Submission {
    pub id: String,
    pub hall: u32,
    pub matter: u32,
    pub submitted_at: Timestamp,
    pub applicant: Option<Box<Applicant>>,
    pub bundle: Option<String>,
}
