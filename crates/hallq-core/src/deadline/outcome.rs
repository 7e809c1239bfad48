//! A case's outcome and delivery (DESIGN.md, "Beyond the clock"): 不予受理 within the
//! acceptance clock, 准予 or 不予批准 with its reason, the delivery stage (window pickup, mail,
//! electronic) under the matter's delivery limit, and the 补正 notices that list everything
//! missing at once.
//!
//! A decided case never goes back: an outcome is recorded once, delivery only follows an
//! outcome, and what closes a case here (不予受理, delivery, revocation) closes it for good.
//! Never reads the clock, never does I/O.

use jiff::Timestamp;

use super::engine::*;
use super::life::*;

use super::*;
use crate::calendar::Limit;

impl DeadlineEngine {
    pub(super) fn details_view(&self, c: &Case) -> DetailsView {
        let d = &c.extra().details;
        let local = |t: Timestamp| self.local(c.hall, t);
        DetailsView {
            obligations: d
                .obligations
                .iter()
                .enumerate()
                .map(|(i, o)| o.view(i + 1, local))
                .collect(),
            outcome: d.outcome.as_ref().map(|o| OutcomeView {
                result: o.result,
                reason: o.reason.clone(),
                at: local(o.at),
                on_time: o.on_time,
            }),
            delivery: d.delivery.as_ref().map(|v| DeliveryView {
                method: v.method,
                limit: self.delivery_limit(c).to_string(),
                delivered_at: v.delivered_at.map(local),
            }),
            notices: d
                .notices
                .iter()
                .map(|n| NoticeView {
                    missing: n.missing.clone(),
                    at: local(n.at),
                })
                .collect(),
            submitted_at: d.submitted_at.map(local),
            route: d.route.iter().map(|l| l.view(local)).collect(),
            applicant: d.applicant.clone(),
            bundle: d.bundle.clone(),
        }
    }

    pub(super) fn delivery_limit(&self, c: &Case) -> Limit {
        self.catalogue.matters[c.matter as usize]
            .delivery_limit
            .unwrap_or(DELIVERY_LIMIT)
    }

    /// Whether the result reached the applicant: the handling clock has nothing left to warn
    /// about, although the case may stay open for materials promised under 承诺审批.
    pub(super) fn delivered(c: &Case) -> bool {
        c.extra()
            .details
            .delivery
            .as_ref()
            .is_some_and(|d| d.delivered_at.is_some())
    }

    /// The end of the acceptance clock: the matter's `acceptance_limit` from acceptance.
    fn acceptance_due(&self, c: &Case) -> Result<Timestamp, CaseError> {
        let cal = &self.calendars[self.calendar_of(c.hall, c.matter)?];
        let limit = self.acceptance_limit(c.matter);
        let deadline = cal.deadline(c.accepted_at, limit, &[], None)?;
        Ok(deadline.due().map_or(c.accepted_at, |d| d.at))
    }

    /// Record the outcome. 不予受理 closes the case; 准予 and 不予批准 start the delivery
    /// stage, whose clock and ladder replace the handling stage's.
    pub(super) fn decide(
        &mut self,
        now: Timestamp,
        id: &str,
        d: Deciding,
        closed: &dyn ClosedCases,
        out: &mut Vec<CaseEvent>,
    ) -> Result<u32, CaseError> {
        let idx = self.open(id, closed)?;
        let c = self.case(idx);
        if let Some(o) = &c.extra().details.outcome {
            return Err(CaseError::AlreadyDecided {
                id: id.to_owned(),
                result: o.result.as_str(),
            });
        }
        let open = c.extra().open_children as usize;
        if open > 0 {
            return Err(CaseError::ChildrenOpen {
                id: id.to_owned(),
                open,
            });
        }
        self.check_at(now, c, d.at)?;
        let reason = d.reason.filter(|r| !r.trim().is_empty());
        if matches!(d.result, OutcomeKind::NotAccepted | OutcomeKind::Refused) && reason.is_none() {
            return Err(CaseError::Required {
                field: "reason",
                what: "a negative outcome (不予受理, 不予批准)",
            });
        }
        let outcome = Outcome {
            result: d.result,
            reason,
            at: d.at,
            on_time: c.due.is_none_or(|due| d.at <= due.at),
        };
        let submitted = c.extra().details.submitted_at.is_some();
        match (c.stage, d.result) {
            (Stage::Acceptance, OutcomeKind::NotAccepted) => {}
            (Stage::Acceptance, _) => {
                return Err(CaseError::NotYetAccepted { id: id.to_owned() });
            }
            (_, OutcomeKind::NotAccepted) if submitted => {
                return Err(CaseError::AlreadyDecided {
                    id: id.to_owned(),
                    result: "accepted",
                });
            }
            _ => {}
        }
        match d.result {
            OutcomeKind::NotAccepted => {
                // At the counter, acceptance was decided on the spot; it can be taken back
                // only within the acceptance clock. Online, the stage's own clock warns.
                let due = self.acceptance_due(c)?;
                if c.stage != Stage::Acceptance && d.at > due {
                    return Err(CaseError::AcceptanceClockOver {
                        id: id.to_owned(),
                        due: self.local(c.hall, due).to_string(),
                    });
                }
                self.case_mut(idx).extra_mut().details.outcome = Some(outcome);
                let event = self.outcome_event(self.case(idx));
                out.push(self.case_event(self.case(idx), now, event));
                self.close(
                    idx,
                    Closing::Decided(CaseState::NotAccepted),
                    d.at,
                    now,
                    out,
                );
                Ok(idx)
            }
            OutcomeKind::Revoked => Err(CaseError::WrongDecision {
                decision: "revoked",
                state: "decided",
            }),
            OutcomeKind::Approved | OutcomeKind::Refused => {
                let Some(method) = d.delivery else {
                    return Err(CaseError::Required {
                        field: "delivery",
                        what: "an outcome that is delivered (window, mail or electronic)",
                    });
                };
                self.start_delivery(idx, outcome, method, now, out)
            }
        }
    }

    /// Move a decided case to its delivery stage.
    pub(super) fn start_delivery(
        &mut self,
        idx: u32,
        outcome: Outcome,
        method: DeliveryMethod,
        now: Timestamp,
        out: &mut Vec<CaseEvent>,
    ) -> Result<u32, CaseError> {
        let mut tentative = self.case(idx).clone();
        tentative.stage = Stage::Delivery;
        tentative.stage_start = outcome.at;
        tentative.state = CaseState::Open;
        let e = tentative.extra_mut();
        e.suspensions.clear();
        e.extensions.clear();
        e.details.outcome = Some(outcome);
        e.details.delivery = Some(Delivery {
            method,
            delivered_at: None,
        });
        let event = self.outcome_event(&tentative);
        self.change(idx, tentative, event, now, out)
    }

    pub(super) fn outcome_event(&self, c: &Case) -> CaseEventBody {
        let view = self.details_view(c);
        CaseEventBody::Outcome {
            case: c.id.to_string(),
            outcome: view.outcome.expect("an outcome was recorded"),
            delivery: view.delivery,
        }
    }

    /// The result reached the applicant. The case completes, unless materials promised
    /// under 承诺审批 are still due: then it stays open for them, with no handling alarms.
    /// The open case `id` whose decided result can be delivered at `at`, and how; changes
    /// nothing (a bundle checks every member before delivering the first).
    pub(super) fn deliverable(
        &self,
        now: Timestamp,
        id: &str,
        at: Timestamp,
        closed: &dyn ClosedCases,
    ) -> Result<(u32, DeliveryMethod), CaseError> {
        let idx = self.open(id, closed)?;
        let c = self.case(idx);
        let Some(delivery) = &c.extra().details.delivery else {
            return Err(CaseError::NotDecided { id: id.to_owned() });
        };
        if delivery.delivered_at.is_some() {
            return Err(CaseError::AlreadyDecided {
                id: id.to_owned(),
                result: "delivered",
            });
        }
        self.check_at(now, c, at)?;
        Ok((idx, delivery.method))
    }

    pub(super) fn deliver(
        &mut self,
        now: Timestamp,
        id: &str,
        at: Timestamp,
        closed: &dyn ClosedCases,
        out: &mut Vec<CaseEvent>,
    ) -> Result<u32, CaseError> {
        let (idx, method) = self.deliverable(now, id, at, closed)?;
        let c = self.case_mut(idx);
        if let Some(d) = c.extra_mut().details.delivery.as_mut() {
            d.delivered_at = Some(at);
        }
        out.push(self.case_event(
            self.case(idx),
            now,
            CaseEventBody::Delivered {
                case: id.to_owned(),
                method,
            },
        ));
        self.dirty.push(idx);
        if self.open_obligations(self.case(idx)) == 0 {
            self.close(idx, Closing::Completed, at, now, out);
        } else {
            self.arm(idx);
        }
        Ok(idx)
    }
}

impl DeadlineEngine {
    /// Attach a 补正 notice to a suspension: every missing material in one record (trimmed,
    /// each once). Returns what it lists.
    pub(super) fn notice(c: &mut Case, missing: Vec<String>, at: Timestamp) -> Vec<String> {
        let mut list: Vec<String> = Vec::new();
        for m in missing {
            let m = m.trim();
            if !m.is_empty() && !list.iter().any(|x| x == m) {
                list.push(m.to_owned());
            }
        }
        if !list.is_empty() {
            c.extra_mut().details.notices.push(Notice {
                missing: list.clone(),
                at,
            });
        }
        list
    }
}
