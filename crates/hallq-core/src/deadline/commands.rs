//! Case commands: accept (受理, idempotent on the case id), suspend, resume, extend, forward
//! to the upper hall (上报), complete, withdraw, and replacing a calendar.
//!
//! Every command is checked and its deadline counted before anything changes, so a refused
//! command changes nothing and emits nothing; one that moves the deadline re-arms the case's
//! alarms (`alarms`). A closed case is never reopened. Never reads the clock (`now` and the
//! client's `at` come in), never does I/O.
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};

use super::engine::*;
use super::life::*;
use super::*;
use crate::calendar::Calendar;

/// How far in the future a client's clock may be when it reports `accepted_at` or `at`.
const CLOCK_SKEW: SignedDuration = SignedDuration::from_mins(5);

impl DeadlineEngine {
    /// Apply one command; `closed` holds the cases that closed and left the engine. Returns
    /// the case and whether this command created it (an acceptance replayed, of an open or a
    /// closed case, is `false` and changes nothing). On error nothing changed and nothing was
    /// emitted. Levels already due once it is applied are raised by it (see `arm_now`).
    pub fn apply(
        &mut self,
        now: Timestamp,
        cmd: CaseCommand,
        closed: &dyn ClosedCases,
        out: &mut Vec<CaseEvent>,
    ) -> Result<(CaseView, bool), CaseError> {
        let held = |r: Result<u32, CaseError>| r.map(|idx| Target::Held(idx, false));
        self.check_pending(&cmd)?;
        let target = match cmd {
            CaseCommand::Accept {
                id,
                hall,
                matter,
                accepted_at,
                origin,
                applicant,
                bundle,
            } => {
                let acceptance = Acceptance {
                    id,
                    hall: hall as u32,
                    matter: matter as u32,
                    accepted_at,
                    origin,
                    applicant,
                    bundle,
                };
                self.accept(now, acceptance, closed, out)
            }
            CaseCommand::Suspend {
                id,
                reason,
                at,
                missing,
            } => held(self.suspend(now, &id, (reason, missing), at, closed, out)),
            CaseCommand::Resume { id, at } => held(self.resume(now, &id, at, closed, out)),
            CaseCommand::Extend {
                id,
                amount,
                reason,
                approver,
            } => {
                let extension = ExtensionRec {
                    amount,
                    reason,
                    approver,
                    at: now,
                };
                held(self.extend(now, &id, extension, closed, out))
            }
            CaseCommand::Complete { id, at, closing } => {
                held(self.complete(now, &id, at, closing, closed, out))
            }
            CaseCommand::Withdraw { id, reason, at } => {
                held(self.withdraw(now, &id, reason, at, closed, out))
            }
            CaseCommand::Forward { id, at } => held(self.forward(now, &id, at, closed, out)),
            CaseCommand::Promise {
                id,
                kind,
                materials,
                limit,
                at,
            } => {
                let p = Promising {
                    kind,
                    materials,
                    limit,
                    at,
                };
                held(self.promise(now, &id, p, closed, out))
            }
            CaseCommand::Fulfil { id, n, at } => held(self.fulfil(now, &id, n, at, closed, out)),
            CaseCommand::Decide {
                id,
                result,
                reason,
                delivery,
                at,
            } => {
                let d = Deciding {
                    result,
                    reason,
                    delivery,
                    at,
                };
                held(self.decide(now, &id, d, closed, out))
            }
            CaseCommand::Resolve {
                id,
                decision,
                reason,
                delivery,
                at,
            } => {
                let r = Resolving {
                    decision,
                    reason,
                    delivery,
                    at,
                };
                held(self.resolve(now, &id, r, closed, out))
            }
            CaseCommand::Deliver { id, at } => held(self.deliver(now, &id, at, closed, out)),
            CaseCommand::Submit {
                id,
                hall,
                matter,
                submitted_at,
                applicant,
                bundle,
            } => {
                let s = Submission {
                    id,
                    hall: hall as u32,
                    matter: matter as u32,
                    submitted_at,
                    applicant,
                    bundle,
                };
                self.submit(now, s, closed, out)
            }
            CaseCommand::AcceptSubmitted { id, at } => {
                held(self.accept_submitted(now, &id, at, closed, out))
            }
            CaseCommand::Hand {
                id,
                hall,
                limit,
                at,
            } => {
                let h = super::route::Handing {
                    hall: hall as u32,
                    limit,
                    at,
                };
                held(self.hand(now, &id, h, closed, out))
            }
        }?;
        Ok(match target {
            Target::Held(idx, created) => (self.view(idx, now), created),
            Target::Created(view) => (*view, true),
            Target::Closed(view) => (*view, false),
        })
    }

    /// `at` (of a command on a case of `hall`) is not later than `now`, give or take a
    /// client's clock skew.
    pub(super) fn not_future(
        &self,
        hall: u32,
        now: Timestamp,
        at: Timestamp,
        field: &'static str,
    ) -> Result<(), CaseError> {
        if at > now + CLOCK_SKEW {
            return Err(CaseError::InTheFuture {
                field,
                at: self.local(hall, at).to_string(),
            });
        }
        Ok(())
    }

    /// The open case `id`; a closed one, held or not, is refused as closed.
    pub(super) fn open(&self, id: &str, closed: &dyn ClosedCases) -> Result<u32, CaseError> {
        let Some(idx) = self.lookup(id) else {
            return Err(match closed.closed(id) {
                Ok(Some(r)) => CaseError::Closed {
                    id: id.to_owned(),
                    state: r.state.as_str(),
                },
                Ok(None) => CaseError::UnknownCase { id: id.to_owned() },
                Err(reason) => CaseError::Unavailable {
                    id: id.to_owned(),
                    reason,
                },
            });
        };
        let c = self.case(idx);
        if c.state.is_closed() {
            return Err(CaseError::Closed {
                id: id.to_owned(),
                state: c.state.as_str(),
            });
        }
        Ok(idx)
    }

    pub(super) fn new_case(id: &str, hall: u32, matter: u32, accepted_at: Timestamp) -> Case {
        Case {
            id: id.into(),
            hall,
            matter,
            dept: None,
            state: CaseState::Open,
            stage: Stage::Single,
            accepted_at,
            stage_start: accepted_at,
            due: None,
            fired: 0,
            counts: [0; 8],
            timer: None,
            closed_at: None,
            extra: None,
            counted: None,
        }
    }

    /// Which field of an acceptance differs from the stored case (hall, matter and acceptance
    /// time, by id), if any. A forwarded case (上报件) now belongs to the upper hall: the
    /// acceptance names the hall below it.
    fn replay_conflict(
        &self,
        stored: (&str, Stage, &str, Timestamp),
        hall: u32,
        matter: u32,
        accepted_at: Timestamp,
    ) -> Option<&'static str> {
        let (stored_hall, stage, stored_matter, stored_at) = stored;
        let h = &self.catalogue.halls[hall as usize];
        let expected_hall = match stage {
            Stage::Upper => h.parent.map(|p| &*self.catalogue.halls[p].id),
            Stage::Single | Stage::Forwarding | Stage::Acceptance => Some(&*h.id),
            // Handed on from the hall that accepted it: the route shows where it came from.
            Stage::Routed => Some(stored_hall),
            // Delivered where it was decided: at this hall, or above it once forwarded.
            Stage::Delivery if stored_hall == &*h.id => Some(&*h.id),
            Stage::Delivery => h.parent.map(|p| &*self.catalogue.halls[p].id),
        };
        if expected_hall != Some(stored_hall) {
            Some("hall")
        } else if stored_matter != &*self.catalogue.matters[matter as usize].id {
            Some("matter")
        } else if stored_at != accepted_at {
            Some("accepted_at")
        } else {
            None
        }
    }

    fn accept(
        &mut self,
        now: Timestamp,
        acceptance: Acceptance,
        closed: &dyn ClosedCases,
        out: &mut Vec<CaseEvent>,
    ) -> Result<Target, CaseError> {
        let Acceptance {
            id,
            hall,
            matter,
            accepted_at,
            origin,
            applicant,
            bundle,
        } = acceptance;
        if !valid_case_id(&id) {
            return Err(CaseError::BadId { id });
        }
        // Idempotent on the client's id, whatever the case's state: the same acceptance
        // answers the case as it stands and changes nothing; a different one is a conflict.
        if let Some(idx) = self.lookup(&id) {
            let c = self.case(idx);
            let stored = (
                &*self.catalogue.halls[c.hall as usize].id,
                c.stage,
                &*self.catalogue.matters[c.matter as usize].id,
                c.accepted_at,
            );
            return match self.replay_conflict(stored, hall, matter, accepted_at) {
                Some(field) => Err(CaseError::Conflict { id, field }),
                None => Ok(Target::Held(idx, false)),
            };
        }
        let replayed = self.replay_closed(&id, now, closed, |r| {
            let stored = (&*r.hall, r.stage, &*r.matter, r.accepted_at);
            self.replay_conflict(stored, hall, matter, accepted_at)
        })?;
        if let Some(target) = replayed {
            return Ok(target);
        }
        self.not_future(hall, now, accepted_at, "accepted_at")?;
        let Prepared {
            mut lead,
            deadline,
            children,
            child_deadlines,
        } = self.prepare_new(&id, hall, matter, accepted_at)?;
        if !children.is_empty() {
            let extra = lead.extra_mut();
            extra.children = children.iter().map(|c| c.id.clone()).collect();
            extra.open_children = children.len() as u16;
        }
        if origin.is_some() {
            lead.extra_mut().origin = origin;
        }
        if applicant.is_some() || bundle.is_some() {
            let details = &mut lead.extra_mut().details;
            details.applicant = applicant.map(|a| *a);
            details.bundle = bundle;
        }
        lead.due = deadline.due().copied();
        let idx = self.insert(lead);
        self.arm_now(idx, now, out);
        // The lead's view does not depend on its children: the answer is the event's.
        let view = Box::new(self.view(idx, now));
        out.push(self.case_event(
            self.case(idx),
            now,
            CaseEventBody::Accepted { case: view.clone() },
        ));
        for (mut child, d) in children.into_iter().zip(child_deadlines) {
            child.due = d.due().copied();
            let c = self.insert(child);
            self.arm_now(c, now, out);
            let view = self.view(c, now);
            out.push(self.case_event(
                self.case(c),
                now,
                CaseEventBody::Accepted {
                    case: Box::new(view),
                },
            ));
        }
        Ok(Target::Created(view))
    }

    /// A new case and its children (one per department of a joint matter), with every
    /// deadline computed and nothing stored: what `accept` inserts, and what a bundle checks
    /// for each of its matters before accepting the first.
    pub(super) fn prepare_new(
        &self,
        id: &str,
        hall: u32,
        matter: u32,
        accepted_at: Timestamp,
    ) -> Result<Prepared, CaseError> {
        // The catalogue, not the matter (departments and all), is what gets cloned.
        let catalogue = self.catalogue.clone();
        let m = &catalogue.matters[matter as usize];
        let mut lead = Self::new_case(id, hall, matter, accepted_at);
        if m.kind == CaseKind::Escalated {
            lead.stage = Stage::Forwarding;
        }
        let mut children = Vec::new();
        for (d, dept) in m.departments.iter().enumerate() {
            let mut child = Self::new_case(&format!("{id}:{}", dept.id), hall, matter, accepted_at);
            child.dept = Some(d as u16);
            child.extra_mut().lead = Some(id.into());
            children.push(child);
        }
        let deadline = self.compute(&lead)?;
        let child_deadlines = children
            .iter()
            .map(|c| self.compute(c))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Prepared {
            lead,
            deadline,
            children,
            child_deadlines,
        })
    }

    /// The instant a stage event happened: not in the future, not before the stage started or
    /// the last suspension boundary (the calendar checks the order precisely).
    pub(super) fn check_at(
        &self,
        now: Timestamp,
        c: &Case,
        at: Timestamp,
    ) -> Result<(), CaseError> {
        self.not_future(c.hall, now, at, "at")?;
        let last = c
            .extra()
            .suspensions
            .last()
            .map(|s| s.until.unwrap_or(s.from))
            .unwrap_or(c.stage_start);
        if at < last {
            return Err(CaseError::OutOfOrder {
                at: self.local(c.hall, at).to_string(),
                last: self.local(c.hall, last).to_string(),
            });
        }
        Ok(())
    }

    fn suspend(
        &mut self,
        now: Timestamp,
        id: &str,
        (reason, missing): (usize, Vec<String>),
        at: Timestamp,
        closed: &dyn ClosedCases,
        out: &mut Vec<CaseEvent>,
    ) -> Result<u32, CaseError> {
        let idx = self.open(id, closed)?;
        let c = self.case(idx);
        if c.state == CaseState::Suspended {
            return Err(CaseError::AlreadySuspended { id: id.to_owned() });
        }
        self.check_at(now, c, at)?;
        let mut tentative = c.clone();
        tentative.extra_mut().suspensions.push(SuspensionRec {
            reason: reason as u16,
            from: at,
            until: None,
        });
        tentative.state = CaseState::Suspended;
        let missing = Self::notice(&mut tentative, missing, at);
        let event = CaseEventBody::Suspended {
            case: id.to_owned(),
            reason: self.catalogue.suspension_reasons[reason].id.clone(),
            missing,
        };
        self.change(idx, tentative, event, now, out)
    }

    /// Put in place a changed copy of case `idx` once the calendar has counted its deadline
    /// (an error leaves the case as it was), report `event`, and re-arm its alarms.
    pub(super) fn change(
        &mut self,
        idx: u32,
        tentative: Case,
        event: CaseEventBody,
        now: Timestamp,
        out: &mut Vec<CaseEvent>,
    ) -> Result<u32, CaseError> {
        let deadline = self.compute(&tentative)?;
        *self.case_mut(idx) = tentative;
        out.push(self.case_event(self.case(idx), now, event));
        self.rearm(idx, deadline, now, out);
        Ok(idx)
    }

    fn resume(
        &mut self,
        now: Timestamp,
        id: &str,
        at: Timestamp,
        closed: &dyn ClosedCases,
        out: &mut Vec<CaseEvent>,
    ) -> Result<u32, CaseError> {
        let idx = self.open(id, closed)?;
        let c = self.case(idx);
        if c.state != CaseState::Suspended {
            return Err(CaseError::NotSuspended { id: id.to_owned() });
        }
        self.check_at(now, c, at)?;
        let mut tentative = c.clone();
        if let Some(s) = tentative.extra_mut().suspensions.last_mut() {
            s.until = Some(at);
        }
        tentative.state = CaseState::Open;
        let event = CaseEventBody::Resumed {
            case: id.to_owned(),
        };
        self.change(idx, tentative, event, now, out)
    }

    fn extend(
        &mut self,
        now: Timestamp,
        id: &str,
        extension: ExtensionRec,
        closed: &dyn ClosedCases,
        out: &mut Vec<CaseEvent>,
    ) -> Result<u32, CaseError> {
        let idx = self.open(id, closed)?;
        self.check_extension(idx, extension.amount)?;
        let mut tentative = self.case(idx).clone();
        let event = CaseEventBody::Extended {
            case: id.to_owned(),
            amount: extension.amount.to_string(),
            reason: extension.reason.clone(),
            approver: extension.approver.clone(),
        };
        tentative.extra_mut().extensions.push(extension);
        self.change(idx, tentative, event, now, out)
    }

    /// An extension adds time, in the limit's unit, and the stage's extensions stay within
    /// the matter's `max_extension` (by default the stage's own limit: at most doubled), so a
    /// mistyped `5000wd` cannot push a deadline out by decades.
    fn check_extension(&self, idx: u32, amount: Limit) -> Result<(), CaseError> {
        let c = self.case(idx);
        let id = || c.id.to_string();
        if amount.amount() == 0 {
            return Err(CaseError::EmptyExtension { id: id(), amount });
        }
        let base = self.base_limit(c);
        if std::mem::discriminant(&base) != std::mem::discriminant(&amount) {
            // The calendar names this refusal when the deadline is counted.
            return Ok(());
        }
        let max = self.catalogue.matters[c.matter as usize]
            .max_extension
            .unwrap_or(base);
        let total = c
            .extra()
            .extensions
            .iter()
            .try_fold(amount, |sum, e| sum.checked_add(e.amount));
        match total {
            Some(total) if total.amount() <= max.amount() => Ok(()),
            _ => Err(CaseError::ExtensionOverLimit {
                id: id(),
                amount,
                total: total.unwrap_or(amount.with_amount(u32::MAX)),
                max,
            }),
        }
    }

    fn forward(
        &mut self,
        now: Timestamp,
        id: &str,
        at: Timestamp,
        closed: &dyn ClosedCases,
        out: &mut Vec<CaseEvent>,
    ) -> Result<u32, CaseError> {
        let idx = self.open(id, closed)?;
        let c = self.case(idx);
        if c.stage != Stage::Forwarding || c.state != CaseState::Open {
            return Err(CaseError::NotForwardable { id: id.to_owned() });
        }
        self.check_at(now, c, at)?;
        let hall = &self.catalogue.halls[c.hall as usize];
        let Some(upper) = hall.parent else {
            return Err(CaseError::NoUpperHall {
                id: id.to_owned(),
                hall: hall.id.to_string(),
            });
        };
        let mut tentative = c.clone();
        tentative.stage = Stage::Upper;
        tentative.hall = upper as u32;
        tentative.stage_start = at;
        if let Some(e) = tentative.extra.as_deref_mut() {
            e.suspensions.clear();
            e.extensions.clear();
        }
        let event = CaseEventBody::Forwarded {
            case: id.to_owned(),
            hall: self.catalogue.halls[upper].id.clone(),
        };
        self.change(idx, tentative, event, now, out)
    }

    fn complete(
        &mut self,
        now: Timestamp,
        id: &str,
        at: Timestamp,
        closing: Option<Box<ClosingRecord>>,
        closed: &dyn ClosedCases,
        out: &mut Vec<CaseEvent>,
    ) -> Result<u32, CaseError> {
        let idx = self.open(id, closed)?;
        let c = self.case(idx);
        let open = c.extra().open_children as usize;
        if open > 0 {
            return Err(CaseError::ChildrenOpen {
                id: id.to_owned(),
                open,
            });
        }
        if c.extra().origin.is_some() && closing.is_none() {
            return Err(CaseError::ClosingRecordRequired { id: id.to_owned() });
        }
        self.not_future(c.hall, now, at, "at")?;
        if closing.is_some() {
            self.case_mut(idx).extra_mut().closing = closing;
        }
        self.close(idx, Closing::Completed, at, now, out);
        Ok(idx)
    }

    fn withdraw(
        &mut self,
        now: Timestamp,
        id: &str,
        reason: String,
        at: Timestamp,
        closed: &dyn ClosedCases,
        out: &mut Vec<CaseEvent>,
    ) -> Result<u32, CaseError> {
        let idx = self.open(id, closed)?;
        self.not_future(self.case(idx).hall, now, at, "at")?;
        // A lead withdrawn takes its open department cases with it.
        let children: Vec<u32> = self
            .case(idx)
            .extra()
            .children
            .iter()
            .filter_map(|c| self.lookup(c))
            .filter(|&c| !self.case(c).state.is_closed())
            .collect();
        for child in children {
            self.close(child, Closing::Withdrawn(reason.clone()), at, now, out);
        }
        self.close(idx, Closing::Withdrawn(reason), at, now, out);
        Ok(idx)
    }

    /// Close a case; a joint child closing may complete its lead.
    pub(super) fn close(
        &mut self,
        idx: u32,
        how: Closing,
        at: Timestamp,
        now: Timestamp,
        out: &mut Vec<CaseEvent>,
    ) {
        if let Some(key) = self.case_mut(idx).timer.take() {
            self.wheel.cancel(key);
        }
        let closed_at = self.local(self.case(idx).hall, at);
        let c = self.case_mut(idx);
        if let Some(s) = c
            .extra
            .as_deref_mut()
            .and_then(|e| e.suspensions.last_mut())
            && s.until.is_none()
        {
            s.until = Some(at.max(s.from));
        }
        c.closed_at = Some(at);
        let on_time = c.due.is_none_or(|d| at <= d.at);
        let case = c.id.to_string();
        let body = match how {
            Closing::Completed => {
                c.state = CaseState::Completed;
                Some(CaseEventBody::Completed {
                    case,
                    on_time,
                    closed_at,
                })
            }
            Closing::Withdrawn(reason) => {
                c.state = CaseState::Withdrawn;
                Some(CaseEventBody::Withdrawn { case, reason })
            }
            Closing::Decided(state) => {
                c.state = state;
                None
            }
        };
        let lead = c.extra().lead.clone();
        if let Some(body) = body {
            out.push(self.case_event(self.case(idx), now, body));
        }
        self.dirty.push(idx);

        let Some(lead) = lead.and_then(|l| self.lookup(&l)) else {
            return;
        };
        let e = self.case_mut(lead).extra_mut();
        e.open_children = e.open_children.saturating_sub(1);
        let remaining = e.open_children;
        self.dirty.push(lead);
        if remaining == 0 && !self.case(lead).state.is_closed() {
            self.close(lead, Closing::Completed, at, now, out);
        }
    }

    /// Replace a calendar and recount every open case on it. The new calendar is checked
    /// against every case first, so a calendar that cannot count one of them (an acceptance
    /// outside its years) is refused and nothing changes.
    pub fn replace_calendar(
        &mut self,
        now: Timestamp,
        id: &str,
        calendar: Arc<Calendar>,
        out: &mut Vec<CaseEvent>,
    ) -> Result<Recomputed, CaseError> {
        let Some(pos) = self.catalogue.calendar_index(id) else {
            return Err(CaseError::NoCalendar {
                hall: id.to_owned(),
            });
        };
        let uses = |e: &Self, c: &Case| e.calendar_of(c.hall, c.matter).ok() == Some(pos);
        let affected: Vec<u32> = (0..self.cases.len() as u32)
            .filter(|&i| {
                self.cases[i as usize]
                    .as_ref()
                    .is_some_and(|c| !c.state.is_closed() && uses(self, c))
            })
            .collect();
        let old = std::mem::replace(&mut self.calendars[pos], calendar);
        if let Some(err) = affected
            .iter()
            .find_map(|&i| self.compute(self.case(i)).err())
        {
            self.calendars[pos] = old;
            return Err(err);
        }
        let (mut changed, mut provisional) = (0, 0);
        for &i in &affected {
            let deadline = self.compute(self.case(i)).expect("checked above");
            if deadline.due().map(|d| d.at) != self.case(i).due.map(|d| d.at) {
                changed += 1;
            }
            if deadline.due().is_some_and(|d| d.provisional) {
                provisional += 1;
            }
            self.rearm(i, deadline, now, out);
        }
        Ok(Recomputed {
            cases: affected.len(),
            changed,
            provisional,
        })
    }
}

/// An acceptance's fields, resolved to the catalogue's positions (`CaseCommand::Accept`).
struct Acceptance {
    id: String,
    hall: u32,
    matter: u32,
    accepted_at: Timestamp,
    /// The bad rating or complaint a rectification or complaint case answers.
    origin: Option<Box<CaseOrigin>>,
    applicant: Option<Box<Applicant>>,
    bundle: Option<String>,
}

/// A case ready to insert (`prepare_new`): every deadline is computed before anything is stored.
pub(super) struct Prepared {
    lead: Case,
    deadline: crate::calendar::Deadline,
    children: Vec<Case>,
    child_deadlines: Vec<crate::calendar::Deadline>,
}
