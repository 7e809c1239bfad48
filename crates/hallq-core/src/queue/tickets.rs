//! Ticket commands: issue (取号), check in, cancel, reactivate a no-show, return a parked
//! ticket, evaluate (评价).
//!
//! Each looks the ticket up and checks its status before it changes anything, so a refused
//! command leaves the hall as it was and emits nothing. Never decides who is called (that is
//! `calling`), never reads the clock, never does I/O.
use jiff::Timestamp;

use super::engine::*;
use super::*;
use crate::model::Placement;

impl HallEngine {
    pub(super) fn issue(
        &mut self,
        now: Timestamp,
        service: usize,
        class: TicketClass,
        slot: Option<Timestamp>,
        checked_in: bool,
        out: &mut Vec<Event>,
    ) -> Result<Reply, QueueError> {
        if !self.is_open() {
            return Err(self.closed_error(now));
        }
        // A checked-in appointment's slot already proves the service was open for it.
        if !(class == TicketClass::Appointment && checked_in)
            && let Some(why) = self.service_closed(service, now)
        {
            return Err(QueueError::ServiceClosed {
                hall: self.cfg.id.to_string(),
                service: self.cfg.services[service].id.to_string(),
                why,
            });
        }
        self.issue_in_any_hours(now, service, class, slot, checked_in, out)
    }

    /// `issue` without the open-hours check: a booked citizen checking in during the
    /// appointment-only hours before opening or after closing (早晚弹性办), which the
    /// booking's slot already proves.
    pub(super) fn issue_in_any_hours(
        &mut self,
        now: Timestamp,
        service: usize,
        class: TicketClass,
        slot: Option<Timestamp>,
        checked_in: bool,
        out: &mut Vec<Event>,
    ) -> Result<Reply, QueueError> {
        let cfg = self.cfg.clone();
        let svc = &cfg.services[service];
        match (class, slot) {
            (TicketClass::Appointment, None) => return Err(QueueError::SlotRequired),
            (TicketClass::Appointment, Some(s)) => {
                if business_day(&cfg, s).0 != self.day {
                    return Err(QueueError::SlotNotToday {
                        slot: self.local(s).to_string(),
                        day: self.day.to_string(),
                    });
                }
            }
            (_, Some(_)) => return Err(QueueError::SlotNotAllowed),
            (_, None) => {}
        }
        let rt = &self.services[service];
        if let Some(cap) = svc.daily_cap
            && rt.issued_today >= cap
        {
            return Err(QueueError::DailyCapReached {
                service: svc.id.to_string(),
                cap,
            });
        }
        if rt.issued_today >= svc.range_size() {
            return Err(QueueError::NumbersExhausted {
                service: svc.id.to_string(),
                size: svc.range_size(),
            });
        }

        let seq = rt.next;
        let rt = &mut self.services[service];
        rt.next = if seq >= svc.last { svc.first } else { seq + 1 };
        rt.issued_today += 1;
        let order = self.fresh_order();
        let booked = class == TicketClass::Appointment && !checked_in;
        let idx = self.tickets.len() as u32;
        self.tickets.push(Ticket {
            origin: service as u16,
            seq,
            service: service as u16,
            class,
            status: TicketStatus::Booked,
            place: None,
            first_order: order,
            issued_at: now,
            waiting_since: now,
            slot,
            checked_in_at: (!booked && class == TicketClass::Appointment).then_some(now),
            called_at: None,
            started_at: None,
            finished_at: None,
            window: None,
            call_count: 0,
            reason: None,
            evaluation: None,
            officer: None,
            reasons: Vec::new(),
            transfers: 0,
            no_show_at: None,
            first_called_at: None,
            wait_alarmed: false,
            start_alarmed: false,
            reclassified: None,
            contact: None,
        });
        self.index.insert((service as u16, seq), idx);
        if !booked {
            self.file_arrival(idx, now, order);
        }
        let view = self.settle(
            now,
            idx,
            &[service as u16],
            |ticket, queues| EventBody::Issued { ticket, queues },
            Some(ReclassReason::AppointmentLate),
            out,
        );
        Ok(Reply::Issued(view))
    }

    /// The common tail of a command that changed ticket `idx`: its record is rewritten, its
    /// event goes on the stream (built from the ticket's brief and the new waiting counts of
    /// the services in `queues`), an appointment that now waits outside its lane says so
    /// after it (`reclassified`, at most once per ticket), and the answer is the ticket as it
    /// stands.
    pub(super) fn settle(
        &mut self,
        now: Timestamp,
        idx: u32,
        queues: &[u16],
        event: impl FnOnce(TicketBrief, Vec<QueueCount>) -> EventBody,
        reclassified: Option<ReclassReason>,
        out: &mut Vec<Event>,
    ) -> TicketView {
        self.touch(idx);
        let queues = self.counts(queues);
        let ticket = self.brief(idx);
        self.emit(now, event(ticket, queues), out);
        if let Some(reason) = reclassified {
            self.reclassify(now, idx, reason, out);
        }
        self.view(idx, now)
    }

    /// File a ticket arriving in the hall (issued, or a booked appointment checking in). An
    /// appointment arriving after its grace period goes to the normal lane; the caller
    /// states that (`reclassify`) after its own event.
    fn file_arrival(&mut self, idx: u32, now: Timestamp, order: i64) {
        let lane = self.lane_at(idx, now);
        self.file(idx, lane, order, now);
    }

    pub(super) fn invalid(&self, idx: u32, action: &'static str) -> QueueError {
        let t = &self.tickets[idx as usize];
        QueueError::InvalidTransition {
            ticket: self.ticket_id(t),
            status: t.status.as_str(),
            action,
        }
    }

    pub(super) fn check_in(
        &mut self,
        now: Timestamp,
        id: &str,
        out: &mut Vec<Event>,
    ) -> Result<Reply, QueueError> {
        let idx = self.lookup(id)?;
        if self.tickets[idx as usize].status != TicketStatus::Booked {
            return Err(self.invalid(idx, "checked in"));
        }
        let order = self.fresh_order();
        let t = &mut self.tickets[idx as usize];
        t.checked_in_at = Some(now);
        t.first_order = order;
        let service = t.service;
        self.file_arrival(idx, now, order);
        Ok(Reply::Ticket(self.settle(
            now,
            idx,
            &[service],
            |ticket, queues| EventBody::CheckedIn { ticket, queues },
            Some(ReclassReason::AppointmentLate),
            out,
        )))
    }

    pub(super) fn cancel(
        &mut self,
        now: Timestamp,
        id: &str,
        out: &mut Vec<Event>,
    ) -> Result<Reply, QueueError> {
        let idx = self.lookup(id)?;
        let t = &self.tickets[idx as usize];
        if !matches!(
            t.status,
            TicketStatus::Booked
                | TicketStatus::Waiting
                | TicketStatus::Parked
                | TicketStatus::NoShow
        ) {
            return Err(self.invalid(idx, "cancelled"));
        }
        let service = t.service;
        self.unfile(idx);
        let t = &mut self.tickets[idx as usize];
        t.status = TicketStatus::Cancelled;
        t.finished_at = Some(now);
        Ok(Reply::Ticket(self.settle(
            now,
            idx,
            &[service],
            |ticket, queues| EventBody::Cancelled { ticket, queues },
            None,
            out,
        )))
    }

    pub(super) fn reactivate(
        &mut self,
        now: Timestamp,
        id: &str,
        out: &mut Vec<Event>,
    ) -> Result<Reply, QueueError> {
        let idx = self.lookup(id)?;
        let t = &self.tickets[idx as usize];
        if t.status != TicketStatus::NoShow {
            return Err(self.invalid(idx, "reactivated"));
        }
        let limit = self.cfg.policy.reactivate_s;
        if t.no_show_at
            .is_some_and(|at| now.as_second() - at.as_second() > limit)
        {
            return Err(QueueError::ReactivationExpired {
                ticket: self.ticket_id(t),
                minutes: limit / 60,
            });
        }
        let placement = self.cfg.policy.reactivate_placement;
        let (first, lane, service, issued) =
            (t.first_order, lane_for(t.class), t.service, t.issued_at);
        let order = self.order_for(placement, first);
        // A citizen who missed the call keeps aging credit only if filed by issue order.
        let since = if placement == Placement::Original {
            issued
        } else {
            now
        };
        let t = &mut self.tickets[idx as usize];
        t.no_show_at = None;
        t.call_count = 0;
        t.window = None;
        self.file(idx, lane, order, since);
        Ok(Reply::Ticket(self.settle(
            now,
            idx,
            &[service],
            |ticket, queues| EventBody::Reactivated { ticket, queues },
            Some(ReclassReason::Reactivated),
            out,
        )))
    }

    pub(super) fn return_parked(
        &mut self,
        now: Timestamp,
        id: &str,
        out: &mut Vec<Event>,
    ) -> Result<Reply, QueueError> {
        let idx = self.lookup(id)?;
        let t = &self.tickets[idx as usize];
        if t.status != TicketStatus::Parked {
            return Err(self.invalid(idx, "returned"));
        }
        let (first, lane, service, since) =
            (t.first_order, lane_for(t.class), t.service, t.issued_at);
        let order = self.order_for(Placement::Head, first);
        self.file(idx, lane, order, since);
        Ok(Reply::Ticket(self.settle(
            now,
            idx,
            &[service],
            |ticket, queues| EventBody::Returned { ticket, queues },
            Some(ReclassReason::Returned),
            out,
        )))
    }

    pub(super) fn evaluate(
        &mut self,
        now: Timestamp,
        id: &str,
        evaluation: u8,
        rating: Option<Box<Rating>>,
        out: &mut Vec<Event>,
    ) -> Result<Reply, QueueError> {
        let idx = self.lookup(id)?;
        if !(1..=5).contains(&evaluation) {
            return Err(QueueError::BadEvaluation { value: evaluation });
        }
        let t = &self.tickets[idx as usize];
        if t.status != TicketStatus::Done {
            return Err(self.invalid(idx, "evaluated"));
        }
        if t.evaluation.is_some() {
            return Err(QueueError::AlreadyEvaluated {
                ticket: self.ticket_id(t),
            });
        }
        let Rating { reasons, within_s } = rating.map(|r| *r).unwrap_or_default();
        if let (Some(limit), Some(done)) = (within_s, t.finished_at)
            && now.as_second() - done.as_second() > i64::from(limit)
        {
            return Err(QueueError::RatingClosed {
                ticket: self.ticket_id(t),
                minutes: i64::from(limit / 60),
            });
        }
        let window = t.window.map(|w| self.cfg.windows[w as usize].id.clone());
        let officer = t.officer.clone();
        let t = &mut self.tickets[idx as usize];
        t.evaluation = Some(evaluation);
        t.reasons = reasons;
        let tags = t.reasons.clone();
        Ok(Reply::Ticket(self.settle(
            now,
            idx,
            &[],
            |ticket, _| EventBody::Evaluated {
                ticket,
                evaluation,
                reasons: tags,
                window,
                officer,
            },
            None,
            out,
        )))
    }
}
