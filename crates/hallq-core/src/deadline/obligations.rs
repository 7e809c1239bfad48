//! Obligations (DESIGN.md, "Beyond the clock"): materials an applicant promised by a date in
//! working days — under 容缺受理 the secondary materials missing at acceptance, under 承诺审批
//! the materials that follow an approval. Each has its due instant on the case's calendar and
//! shares the case's one timer in the wheel; when one comes due unfulfilled it raises an
//! alarm (`{case}/obligation-{n}/1`) and moves the case to `refusal_pending` or
//! `revocation_pending`, where only an officer's decision (`resolve`) or a withdrawal moves it
//! on.
//!
//! Never changes the handling clock (suspensions, extensions, stages are `commands`), never
//! reads the clock, never does I/O.

use jiff::Timestamp;

use super::engine::*;
use super::life::*;

use super::*;
use crate::calendar::Limit;

impl DeadlineEngine {
    /// Commands other than a decision or a withdrawal wait while an overdue obligation does.
    pub(super) fn check_pending(&self, cmd: &CaseCommand) -> Result<(), CaseError> {
        if matches!(
            cmd,
            CaseCommand::Withdraw { .. } | CaseCommand::Resolve { .. }
        ) {
            return Ok(());
        }
        let Some(id) = cmd.case_id() else {
            return Ok(());
        };
        match self.lookup(id).map(|i| self.case(i).state) {
            Some(state) if state.is_pending() => Err(CaseError::DecisionPending {
                id: id.to_owned(),
                state: state.as_str(),
            }),
            _ => Ok(()),
        }
    }

    /// Obligations not yet fulfilled or excused; a refused or revoked case owes nothing.
    pub(super) fn open_obligations(&self, c: &Case) -> usize {
        let d = &c.extra().details;
        if d.outcome
            .as_ref()
            .is_some_and(|o| o.result != OutcomeKind::Approved)
        {
            return 0;
        }
        d.obligations.iter().filter(|o| o.unsettled()).count()
    }

    /// The earliest watched obligation's due instant, while the case runs (a suspended case's
    /// promises are judged when it resumes; a pending one waits for the officer).
    pub(super) fn obligation_timer(&self, c: &Case) -> Option<Timestamp> {
        if c.state != CaseState::Open || self.open_obligations(c) == 0 {
            return None;
        }
        c.extra()
            .details
            .obligations
            .iter()
            .filter(|o| o.watched())
            .map(|o| o.due)
            .min()
    }

    /// Raise the earliest obligation due by `now`, if any: its alarm, and the case waits for
    /// an officer. One at a time: the pending case stops the others' clocks until decided.
    pub(super) fn fire_obligations(&mut self, idx: u32, now: Timestamp, out: &mut Vec<CaseEvent>) {
        let Some(due) = self.obligation_timer(self.case(idx)) else {
            return;
        };
        if due > now {
            return;
        }
        let c = self.case(idx);
        let Some(n) = c
            .extra()
            .details
            .obligations
            .iter()
            .position(|o| o.watched() && o.due == due)
        else {
            return;
        };
        let o = &c.extra().details.obligations[n];
        let (kind, materials) = (o.kind, o.materials.clone());
        let state = match kind {
            ObligationKind::Deficiency => CaseState::RefusalPending,
            ObligationKind::Commitment => CaseState::RevocationPending,
        };
        let hall = c.hall;
        let alarm = Alarm {
            id: format!("{}/obligation-{}/1", c.id, n + 1),
            case: c.id.to_string(),
            hall: self.catalogue.halls[hall as usize].id.clone(),
            matter: self.catalogue.matters[c.matter as usize].id.clone(),
            level: "obligation".into(),
            due_at: self.local(hall, due),
            deadline: self.local(hall, due),
            raised_at: self.local(hall, now),
        };
        let c = self.case_mut(idx);
        c.state = state;
        c.extra_mut().details.obligations[n].overdue_at = Some(now);
        let body = CaseEventBody::ObligationOverdue {
            case: c.id.to_string(),
            n: n + 1,
            state,
            materials,
        };
        out.push(CaseEvent {
            stream: Stream::Alarms,
            hall: hall as usize,
            at: self.local(hall, now),
            body: CaseEventBody::Alarm(alarm),
        });
        out.push(self.case_event(self.case(idx), now, body));
        self.dirty.push(idx);
    }

    pub(super) fn promise(
        &mut self,
        now: Timestamp,
        id: &str,
        p: Promising,
        closed: &dyn ClosedCases,
        out: &mut Vec<CaseEvent>,
    ) -> Result<u32, CaseError> {
        let idx = self.open(id, closed)?;
        let c = self.case(idx);
        let materials: Vec<String> = p
            .materials
            .iter()
            .map(|m| m.trim().to_owned())
            .filter(|m| !m.is_empty())
            .collect();
        if materials.is_empty() {
            return Err(CaseError::NoMaterials { field: "materials" });
        }
        if !matches!(p.limit, Limit::WorkingDays(n) if n > 0) {
            return Err(CaseError::ObligationUnit { limit: p.limit });
        }
        let outcome = c.extra().details.outcome.as_ref().map(|o| o.result);
        match (p.kind, outcome) {
            (ObligationKind::Deficiency, Some(result)) => {
                return Err(CaseError::AlreadyDecided {
                    id: id.to_owned(),
                    result: result.as_str(),
                });
            }
            (_, Some(OutcomeKind::Refused | OutcomeKind::NotAccepted | OutcomeKind::Revoked)) => {
                return Err(CaseError::AlreadyDecided {
                    id: id.to_owned(),
                    result: outcome.map_or("", OutcomeKind::as_str),
                });
            }
            _ => {}
        }
        self.check_at(now, c, p.at)?;
        let cal = &self.calendars[self.calendar_of(c.hall, c.matter)?];
        let due = cal
            .deadline(p.at, p.limit, &[], None)?
            .due()
            .map_or(p.at, |d| d.at);
        let obligation = Obligation {
            kind: p.kind,
            materials,
            limit: p.limit.to_string(),
            from: p.at,
            due,
            fulfilled_at: None,
            overdue_at: None,
            excused: None,
        };
        let hall = c.hall;
        let n = c.extra().details.obligations.len() + 1;
        let view = obligation.view(n, |t| self.local(hall, t));
        self.case_mut(idx)
            .extra_mut()
            .details
            .obligations
            .push(obligation);
        out.push(self.case_event(
            self.case(idx),
            now,
            CaseEventBody::Promised {
                case: id.to_owned(),
                obligation: view,
            },
        ));
        self.dirty.push(idx);
        self.arm_now(idx, now, out);
        Ok(idx)
    }

    /// The promised materials of obligation `n` came in, in time.
    pub(super) fn fulfil(
        &mut self,
        now: Timestamp,
        id: &str,
        n: usize,
        at: Timestamp,
        closed: &dyn ClosedCases,
        out: &mut Vec<CaseEvent>,
    ) -> Result<u32, CaseError> {
        let idx = self.open(id, closed)?;
        let c = self.case(idx);
        let Some(o) = n
            .checked_sub(1)
            .and_then(|i| c.extra().details.obligations.get(i))
        else {
            return Err(CaseError::UnknownObligation {
                id: id.to_owned(),
                n,
            });
        };
        if !o.watched() {
            return Err(CaseError::ObligationSettled {
                id: id.to_owned(),
                n,
                state: o.state(),
            });
        }
        self.not_future(c.hall, now, at, "at")?;
        self.case_mut(idx).extra_mut().details.obligations[n - 1].fulfilled_at = Some(at);
        out.push(self.case_event(
            self.case(idx),
            now,
            CaseEventBody::Fulfilled {
                case: id.to_owned(),
                n,
            },
        ));
        self.settled(idx, at, now, out);
        Ok(idx)
    }

    /// After an obligation settled: a delivered case that owes nothing more completes;
    /// otherwise the timer moves to the next promise.
    fn settled(&mut self, idx: u32, at: Timestamp, now: Timestamp, out: &mut Vec<CaseEvent>) {
        self.dirty.push(idx);
        let c = self.case(idx);
        if Self::delivered(c) && self.open_obligations(c) == 0 {
            self.close(idx, Closing::Completed, at, now, out);
        } else {
            self.arm_now(idx, now, out);
        }
    }

    /// An officer's decision on the overdue obligation of a pending case.
    pub(super) fn resolve(
        &mut self,
        now: Timestamp,
        id: &str,
        r: Resolving,
        closed: &dyn ClosedCases,
        out: &mut Vec<CaseEvent>,
    ) -> Result<u32, CaseError> {
        let idx = self.open(id, closed)?;
        let c = self.case(idx);
        let state = c.state;
        if !state.is_pending() {
            return Err(CaseError::NothingToResolve { id: id.to_owned() });
        }
        let reason = r.reason.trim().to_owned();
        if reason.is_empty() {
            return Err(CaseError::Required {
                field: "reason",
                what: "a decision on overdue materials",
            });
        }
        match (r.decision, state) {
            (Decision::Refuse, CaseState::RefusalPending)
            | (Decision::Revoke, CaseState::RevocationPending)
            | (Decision::Excuse, _) => {}
            _ => {
                return Err(CaseError::WrongDecision {
                    decision: r.decision.as_str(),
                    state: state.as_str(),
                });
            }
        }
        self.not_future(c.hall, now, r.at, "at")?;
        let n = c
            .extra()
            .details
            .obligations
            .iter()
            .position(|o| o.overdue_at.is_some() && o.unsettled())
            .map_or(0, |i| i + 1);
        match r.decision {
            Decision::Excuse => {
                let c = self.case_mut(idx);
                c.state = CaseState::Open;
                if let Some(o) = n
                    .checked_sub(1)
                    .and_then(|i| c.extra_mut().details.obligations.get_mut(i))
                {
                    o.excused = Some(reason.clone());
                }
                out.push(self.case_event(
                    self.case(idx),
                    now,
                    CaseEventBody::Excused {
                        case: id.to_owned(),
                        n,
                        reason,
                    },
                ));
                self.settled(idx, r.at, now, out);
                Ok(idx)
            }
            Decision::Refuse => {
                let Some(method) = r.delivery else {
                    return Err(CaseError::Required {
                        field: "delivery",
                        what: "a refusal, which is delivered (window, mail or electronic)",
                    });
                };
                let outcome = Outcome {
                    result: OutcomeKind::Refused,
                    reason: Some(reason),
                    at: r.at,
                    on_time: c.due.is_none_or(|d| r.at <= d.at),
                };
                self.start_delivery(idx, outcome, method, now, out)
            }
            Decision::Revoke => {
                let c = self.case_mut(idx);
                c.extra_mut().details.outcome = Some(Outcome {
                    result: OutcomeKind::Revoked,
                    reason: Some(reason),
                    at: r.at,
                    on_time: true,
                });
                let event = self.outcome_event(self.case(idx));
                out.push(self.case_event(self.case(idx), now, event));
                self.close(idx, Closing::Decided(CaseState::Revoked), r.at, now, out);
                Ok(idx)
            }
        }
    }
}
