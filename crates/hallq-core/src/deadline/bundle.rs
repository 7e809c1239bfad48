//! 一件事一次办 bundles (DESIGN.md, "Beyond the clock"): the matters of one application,
//! accepted together at one front desk (a hall) and delivered there together.
//!
//! A bundle is not a record of its own. Its members are the cases `{bundle}-1` …
//! `{bundle}-n`, each carrying the bundle's id: every member keeps its own clock, alarms,
//! route and outcome, and the bundle's state is derived from them whenever it is shown, so
//! it can never disagree with them. Accepting and delivering are all or nothing: every
//! member is checked before the first one changes. Never reads the clock, never does I/O.

use std::sync::Arc;

use jiff::Timestamp;
use serde::Serialize;

use super::*;
use crate::localtime::LocalTime;

/// The most matters one application may bundle.
pub const MAX_MEMBERS: usize = 20;

/// The id of a bundle's `n`-th member (from 1).
pub fn member_id(bundle: &str, n: usize) -> String {
    format!("{bundle}-{n}")
}

/// A bundle to accept: its matters (catalogue positions, in order) at one front desk.
#[derive(Debug, Clone, PartialEq)]
pub struct BundleAcceptance {
    pub id: String,
    /// The front desk (综合受理窗口): the hall that accepts every matter and delivers the
    /// results.
    pub hall: usize,
    pub matters: Vec<usize>,
    pub accepted_at: Timestamp,
    pub applicant: Option<Box<Applicant>>,
}

/// Where a bundle stands, derived from its members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BundleState {
    /// A member waits for its outcome.
    Open,
    /// Every member is decided (or closed) and at least one result waits to be delivered.
    Ready,
    /// Every result was delivered (members closed without one, e.g. withdrawn, count as
    /// settled).
    Delivered,
    /// Every member closed without a result to deliver (withdrawn, 不予受理, 撤销).
    Closed,
}

/// One member as the bundle shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemberView {
    pub case: String,
    pub matter: Arc<str>,
    pub matter_name: Arc<str>,
    /// Where the member is now (a route may have handed it to the county back office).
    pub hall: Arc<str>,
    pub state: CaseState,
    pub stage: Stage,
    pub deadline: Option<LocalTime>,
    pub overdue: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<OutcomeKind>,
    /// The result reached the applicant.
    pub delivered: bool,
}

/// A bundle as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BundleView {
    pub id: String,
    /// The front desk.
    pub hall: String,
    pub accepted_at: LocalTime,
    pub state: BundleState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applicant: Option<Applicant>,
    pub members: Vec<MemberView>,
}

/// Why a bundle command was refused; nothing changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    #[error("there is no bundle `{id}`")]
    Unknown { id: String },
    #[error(
        "bundle id `{id}` is not valid: use 1-60 letters, digits, '.', '-' or '_' (its \
         members are `{id}-1`, `{id}-2` …)"
    )]
    BadId { id: String },
    #[error("bundle `{id}` was accepted with another list of matters")]
    Differs { id: String },
    /// A bundle-wide field (`accepted_at`, `at`) was refused.
    #[error(transparent)]
    Case(CaseError),
    /// One member was refused (`index` from 0: in the request's `matters` when accepting, in
    /// the bundle's `members` when delivering).
    #[error("{list}[{index}] (case `{case}`): {error}")]
    Member {
        list: &'static str,
        index: usize,
        case: String,
        error: CaseError,
    },
    #[error("bundle `{id}` is not ready for delivery: case `{case}` {why}")]
    NotReady {
        id: String,
        index: usize,
        case: String,
        why: String,
    },
}

impl DeadlineEngine {
    /// Accept every matter of a bundle, or none. Accepting the same bundle again (same
    /// matters, hall and time) answers it as it stands and changes nothing (`false`); a member
    /// id already taken by another case is a conflict on that member.
    pub fn accept_bundle(
        &mut self,
        now: Timestamp,
        b: BundleAcceptance,
        closed: &dyn ClosedCases,
        out: &mut Vec<CaseEvent>,
    ) -> Result<(BundleView, bool), BundleError> {
        if !valid_case_id(&member_id(&b.id, MAX_MEMBERS)) {
            return Err(BundleError::BadId { id: b.id });
        }
        let ids: Vec<String> = (1..=b.matters.len()).map(|n| member_id(&b.id, n)).collect();
        let member = |index: usize| {
            let case = ids[index].clone();
            move |error| BundleError::Member {
                list: "matters",
                index,
                case,
                error,
            }
        };
        let mut existing = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            if let Some(v) = self.find_view(id, now, closed).map_err(member(i))? {
                existing.push((i, v));
            }
        }
        let accept = |i: usize| CaseCommand::Accept {
            id: ids[i].clone(),
            hall: b.hall,
            matter: b.matters[i],
            accepted_at: b.accepted_at,
            origin: None,
            applicant: b.applicant.clone(),
            bundle: Some(b.id.clone()),
        };
        // A member taken by a case of another application (or a bundle half there, which
        // this engine never leaves) is a conflict on it.
        if let Some((i, v)) = existing
            .iter()
            .find(|(_, v)| v.details.bundle.as_deref() != Some(&b.id))
            .or_else(|| existing.first().filter(|_| existing.len() < ids.len()))
        {
            let error = CaseError::Conflict {
                id: v.id.clone(),
                field: "bundle",
            };
            return Err(member(*i)(error));
        }
        let created = existing.is_empty();
        if !created && self.members(&b.id, now, closed)?.len() != ids.len() {
            return Err(BundleError::Differs { id: b.id });
        }
        if created {
            self.not_future(b.hall as u32, now, b.accepted_at, "accepted_at")
                .map_err(BundleError::Case)?;
            for (i, &m) in b.matters.iter().enumerate() {
                self.prepare_new(&ids[i], b.hall as u32, m as u32, b.accepted_at)
                    .map_err(member(i))?;
            }
        }
        // Checked above: each accept inserts its case (or replays it) without refusing.
        for i in 0..ids.len() {
            self.apply(now, accept(i), closed, out).map_err(member(i))?;
        }
        let view = self.bundle_view(&b.id, now, closed)?;
        Ok((view, created))
    }

    /// The bundle `id`, its members as they stand now. Whoever may see its front desk may
    /// see every member's summary, wherever a route took it.
    pub fn bundle_view(
        &self,
        id: &str,
        now: Timestamp,
        closed: &dyn ClosedCases,
    ) -> Result<BundleView, BundleError> {
        let unknown = || BundleError::Unknown { id: id.to_owned() };
        let members = self.members(id, now, closed)?;
        let first = members.first().ok_or_else(unknown)?;
        let desk = first
            .details
            .route
            .first()
            .map_or(&*first.hall, |leg| leg.from_hall.as_str());
        Ok(BundleView {
            id: id.to_owned(),
            hall: desk.to_owned(),
            accepted_at: first.accepted_at,
            state: state(&members),
            applicant: first.details.applicant.clone(),
            members: members.iter().map(member_view).collect(),
        })
    }

    /// Deliver every decided result of the bundle at its front desk, in one step: refused
    /// (naming the member) while a member waits for its outcome or its decision, or is at
    /// another hall. Members already delivered or closed are left as they are.
    pub fn deliver_bundle(
        &mut self,
        now: Timestamp,
        id: &str,
        at: Timestamp,
        closed: &dyn ClosedCases,
        out: &mut Vec<CaseEvent>,
    ) -> Result<BundleView, BundleError> {
        let view = self.bundle_view(id, now, closed)?;
        let not_ready = |index: usize, m: &MemberView, why: String| BundleError::NotReady {
            id: id.to_owned(),
            index,
            case: m.case.clone(),
            why,
        };
        let mut due = Vec::new();
        for (i, m) in view.members.iter().enumerate() {
            if m.state.is_closed() || m.delivered {
                continue;
            }
            if m.outcome.is_none() {
                return Err(not_ready(i, m, "has no outcome yet".into()));
            }
            if m.hall.as_ref() != view.hall {
                let why = format!(
                    "is at hall `{}`: hand it back to the front desk `{}` first",
                    m.hall, view.hall
                );
                return Err(not_ready(i, m, why));
            }
            let cmd = CaseCommand::Deliver {
                id: m.case.clone(),
                at,
            };
            let member = |error| BundleError::Member {
                list: "members",
                index: i,
                case: m.case.clone(),
                error,
            };
            self.check_pending(&cmd).map_err(member)?;
            self.deliverable(now, &m.case, at, closed).map_err(member)?;
            due.push((i, cmd));
        }
        if due.is_empty() {
            return Err(BundleError::NotReady {
                id: id.to_owned(),
                index: 0,
                case: view.members[0].case.clone(),
                why: "and every other member have nothing left to deliver".into(),
            });
        }
        for (i, cmd) in due {
            let case = view.members[i].case.clone();
            self.apply(now, cmd, closed, out)
                .map_err(|error| BundleError::Member {
                    list: "members",
                    index: i,
                    case,
                    error,
                })?;
        }
        self.bundle_view(id, now, closed)
    }

    /// The members `{id}-1`, `{id}-2` … as they are now, up to the first that does not exist.
    fn members(
        &self,
        id: &str,
        now: Timestamp,
        closed: &dyn ClosedCases,
    ) -> Result<Vec<CaseView>, BundleError> {
        let mut members = Vec::new();
        for n in 1..=MAX_MEMBERS {
            let case = member_id(id, n);
            let found = self
                .find_view(&case, now, closed)
                .map_err(BundleError::Case)?;
            match found {
                Some(v) if v.details.bundle.as_deref() == Some(id) => members.push(v),
                _ => break,
            }
        }
        Ok(members)
    }
}

fn member_view(v: &CaseView) -> MemberView {
    MemberView {
        case: v.id.clone(),
        matter: v.matter.clone(),
        matter_name: v.matter_name.clone(),
        hall: v.hall.clone(),
        state: v.state,
        stage: v.stage,
        deadline: v.deadline,
        overdue: v.overdue,
        outcome: v.details.outcome.as_ref().map(|o| o.result),
        delivered: v
            .details
            .delivery
            .as_ref()
            .is_some_and(|d| d.delivered_at.is_some()),
    }
}

/// Open while a member waits for its outcome; ready while a decided result waits to be
/// delivered; delivered once every result was (closed members count as settled).
fn state(members: &[CaseView]) -> BundleState {
    let decided = |v: &CaseView| v.details.outcome.is_some() || v.state.is_closed();
    let waiting = |v: &CaseView| !v.state.is_closed() && !member_view(v).delivered;
    if !members.iter().all(decided) {
        BundleState::Open
    } else if members.iter().any(waiting) {
        BundleState::Ready
    } else if members
        .iter()
        .any(|v| v.state == CaseState::Completed || v.details.delivery.is_some())
    {
        BundleState::Delivered
    } else {
        BundleState::Closed
    }
}
