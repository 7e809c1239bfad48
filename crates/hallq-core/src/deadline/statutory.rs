//! Statutory clocks beyond the promised limit (DESIGN.md, "Beyond the clock"): an application
//! submitted online must be decided for acceptance within the matter's acceptance limit (第十七条:
//! 3 working days unless configured). It is held as a case in the `acceptance` stage, on the
//! same wheel and alarm ladder as every other stage; accepting it starts the promised limit,
//! 不予受理 closes it. (Written enquiries, 5 working days, are cases of the built-in `enquiry`
//! matter: `Matter::enquiry`.)
//!
//! Never reads the clock, never does I/O.

use jiff::Timestamp;

use super::engine::*;
use super::life::*;

use super::*;
use crate::calendar::Limit;

impl DeadlineEngine {
    /// The acceptance decision's limit for cases of `matter`.
    pub(super) fn acceptance_limit(&self, matter: u32) -> Limit {
        self.catalogue.matters[matter as usize]
            .acceptance_limit
            .unwrap_or(ACCEPTANCE_LIMIT)
    }

    /// Hold an online application under its acceptance clock. Idempotent on the id like an
    /// acceptance: the same submission answers the case as it stands.
    pub(super) fn submit(
        &mut self,
        now: Timestamp,
        s: Submission,
        closed: &dyn ClosedCases,
        out: &mut Vec<CaseEvent>,
    ) -> Result<Target, CaseError> {
        let Submission {
            id,
            hall,
            matter,
            submitted_at,
            applicant,
            bundle,
        } = s;
        if !valid_case_id(&id) {
            return Err(CaseError::BadId { id });
        }
        let same = |h: &str, m: &str, at: Option<Timestamp>| {
            if h != &*self.catalogue.halls[hall as usize].id {
                Some("hall")
            } else if m != &*self.catalogue.matters[matter as usize].id {
                Some("matter")
            } else if at != Some(submitted_at) {
                Some("submitted_at")
            } else {
                None
            }
        };
        if let Some(idx) = self.lookup(&id) {
            let c = self.case(idx);
            let stored = (
                &*self.catalogue.halls[c.hall as usize].id,
                &*self.catalogue.matters[c.matter as usize].id,
                c.extra().details.submitted_at,
            );
            return match same(stored.0, stored.1, stored.2) {
                Some(field) => Err(CaseError::Conflict { id, field }),
                None => Ok(Target::Held(idx, false)),
            };
        }
        let replayed = self.replay_closed(&id, now, closed, |r| {
            same(&r.hall, &r.matter, r.details.submitted_at)
        })?;
        if let Some(target) = replayed {
            return Ok(target);
        }
        self.not_future(hall, now, submitted_at, "submitted_at")?;
        if self.catalogue.matters[matter as usize].kind == CaseKind::Joint {
            return Err(CaseError::JointOnline { id });
        }
        let mut case = Self::new_case(&id, hall, matter, submitted_at);
        case.stage = Stage::Acceptance;
        let details = &mut case.extra_mut().details;
        details.submitted_at = Some(submitted_at);
        details.applicant = applicant.map(|a| *a);
        details.bundle = bundle;
        let deadline = self.compute(&case)?;
        case.due = deadline.due().copied();
        let idx = self.insert(case);
        self.arm_now(idx, now, out);
        let view = Box::new(self.view(idx, now));
        out.push(self.case_event(
            self.case(idx),
            now,
            CaseEventBody::Submitted { case: view.clone() },
        ));
        Ok(Target::Created(view))
    }

    /// A creating command (acceptance, submission) replayed for a case that has closed: the
    /// stored case, unchanged, or a conflict naming the field `conflict` finds different;
    /// `None` when no case `id` ever closed.
    pub(super) fn replay_closed(
        &self,
        id: &str,
        now: Timestamp,
        closed: &dyn ClosedCases,
        conflict: impl Fn(&CaseRecord) -> Option<&'static str>,
    ) -> Result<Option<Target>, CaseError> {
        let record = closed.closed(id).map_err(|reason| CaseError::Unavailable {
            id: id.to_owned(),
            reason,
        })?;
        let Some(r) = record else { return Ok(None) };
        if let Some(field) = conflict(&r) {
            return Err(CaseError::Conflict {
                id: id.to_owned(),
                field,
            });
        }
        let state = r.state.as_str();
        // A record the config can no longer show (a department or suspension reason was
        // removed) is still closed: say so rather than show it.
        match self.closed_view(r, now) {
            Ok(view) => Ok(Some(Target::Closed(Box::new(view)))),
            Err(_) => Err(CaseError::Closed {
                id: id.to_owned(),
                state,
            }),
        }
    }

    /// Accept an online application (受理): the promised limit starts at `at`.
    pub(super) fn accept_submitted(
        &mut self,
        now: Timestamp,
        id: &str,
        at: Timestamp,
        closed: &dyn ClosedCases,
        out: &mut Vec<CaseEvent>,
    ) -> Result<u32, CaseError> {
        let idx = self.open(id, closed)?;
        let c = self.case(idx);
        if c.stage != Stage::Acceptance {
            return Err(CaseError::NotSubmitted { id: id.to_owned() });
        }
        self.check_at(now, c, at)?;
        let mut tentative = c.clone();
        tentative.stage = match self.catalogue.matters[c.matter as usize].kind {
            CaseKind::Escalated => Stage::Forwarding,
            _ => Stage::Single,
        };
        tentative.state = CaseState::Open;
        tentative.accepted_at = at;
        tentative.stage_start = at;
        let e = tentative.extra_mut();
        e.suspensions.clear();
        e.extensions.clear();
        let on_time = self.case(idx).due.is_none_or(|d| at <= d.at);
        let event = CaseEventBody::AcceptedOnline {
            case: id.to_owned(),
            on_time,
        };
        self.change(idx, tentative, event, now, out)
    }
}
