//! Window commands: what an officer does at a window to its current ticket (recall, start,
//! complete, no-show, transfer, park, release) and to the window itself (open, pause, close,
//! sign in and out of the A/B posts). "Call next" and "call by number" are routed to
//! `calling`.
//!
//! A window's `current` ticket is `Called` or `Serving` and points back at the window; every
//! command here keeps that. Never picks the next ticket itself, never reads the clock, never
//! does I/O.
use std::sync::Arc;

use jiff::Timestamp;

use super::engine::*;
use super::*;
use crate::model::Placement;

impl HallEngine {
    pub(super) fn window_action(
        &mut self,
        now: Timestamp,
        w: usize,
        action: WindowAction,
        out: &mut Vec<Event>,
    ) -> Result<Reply, QueueError> {
        match action {
            WindowAction::CallNext => self.call_next(now, w, out),
            WindowAction::Call { ticket } => self.call_specific(now, w, &ticket, out),
            WindowAction::Recall => self.recall(now, w, out),
            WindowAction::Start => self.start(now, w, out),
            WindowAction::Complete { evaluation } => self.complete(now, w, evaluation, out),
            WindowAction::NoShow => self.no_show(now, w, out),
            WindowAction::Transfer { service, placement } => {
                self.transfer(now, w, service, placement, out)
            }
            WindowAction::Park => self.park(now, w, out),
            WindowAction::Release => self.release(now, w, out),
            WindowAction::Open { sign_in } => self.open(now, w, sign_in, out),
            WindowAction::Pause { reason } => self.pause(now, w, reason, out),
            WindowAction::Close => self.close(now, w, out),
            WindowAction::SignIn { post, officer } => self.sign_in(now, w, post, officer, out),
            WindowAction::SignOut { post, absence } => self.sign_out(now, w, post, absence, out),
        }
    }

    pub(super) fn window_name(&self, w: usize) -> (Arc<str>, Arc<str>) {
        let wc = &self.cfg.windows[w];
        (wc.id.clone(), wc.name.clone())
    }

    pub(super) fn must_be_open(&self, w: usize) -> Result<(), QueueError> {
        let rt = &self.windows[w];
        match rt.mode {
            Mode::Open => Ok(()),
            Mode::Closed => Err(QueueError::WindowClosed {
                window: self.cfg.windows[w].id.to_string(),
            }),
            Mode::Paused => Err(QueueError::WindowPaused {
                window: self.cfg.windows[w].id.to_string(),
                reason: rt.pause_reason.clone().unwrap_or_default(),
            }),
        }
    }

    fn current(&self, w: usize) -> Result<u32, QueueError> {
        self.windows[w]
            .current
            .ok_or_else(|| QueueError::NoCurrentTicket {
                window: self.cfg.windows[w].id.to_string(),
            })
    }

    pub(super) fn must_be_idle(&self, w: usize) -> Result<(), QueueError> {
        match self.windows[w].current {
            None => Ok(()),
            Some(c) => Err(QueueError::WindowBusy {
                window: self.cfg.windows[w].id.to_string(),
                ticket: self.ticket_id(&self.tickets[c as usize]),
            }),
        }
    }

    /// Complete the window's current ticket, if any (explicitly or because the officer
    /// called the next citizen).
    pub(super) fn finish_current(
        &mut self,
        now: Timestamp,
        w: usize,
        evaluation: Option<u8>,
        implicit: bool,
        out: &mut Vec<Event>,
    ) {
        let Some(idx) = self.windows[w].current.take() else {
            return;
        };
        self.end_call(idx);
        let t = &mut self.tickets[idx as usize];
        t.status = TicketStatus::Done;
        t.finished_at = Some(now);
        t.evaluation = evaluation;
        let began = t.started_at.or(t.called_at).unwrap_or(now);
        let service_s = (now.as_second() - began.as_second()).max(0);
        let service = t.service as usize;
        if t.started_at.is_some() {
            // Seconds-long or day-long outliers must not swing the estimate.
            let s = service_s.clamp(30, 4 * 3600) as f64;
            let avg = &mut self.services[service].avg_service_s;
            *avg = 0.8 * *avg + 0.2 * s;
        }
        self.touch(idx);
        let (window, window_name) = self.window_name(w);
        let ticket = self.brief(idx);
        self.emit(
            now,
            EventBody::Completed {
                ticket,
                window,
                window_name,
                evaluation,
                implicit,
                service_s,
            },
            out,
        );
    }

    fn recall(
        &mut self,
        now: Timestamp,
        w: usize,
        out: &mut Vec<Event>,
    ) -> Result<Reply, QueueError> {
        self.must_be_open(w)?;
        let idx = self.current(w)?;
        if self.tickets[idx as usize].status != TicketStatus::Called {
            return Err(self.invalid(idx, "recalled"));
        }
        let limit = self.cfg.windows[w].policy.recall_limit;
        if u32::from(self.tickets[idx as usize].call_count) > limit {
            self.mark_no_show(now, w, idx, true, out);
            return Ok(Reply::Ticket(self.view(idx, now)));
        }
        let t = &mut self.tickets[idx as usize];
        t.call_count = t.call_count.saturating_add(1);
        t.called_at = Some(now);
        self.touch(idx);
        self.announce(now, w, idx, CallReason::Recall, out);
        Ok(Reply::Ticket(self.view(idx, now)))
    }

    fn start(
        &mut self,
        now: Timestamp,
        w: usize,
        out: &mut Vec<Event>,
    ) -> Result<Reply, QueueError> {
        let idx = self.current(w)?;
        if self.tickets[idx as usize].status != TicketStatus::Called {
            return Err(self.invalid(idx, "started"));
        }
        self.end_call(idx);
        let t = &mut self.tickets[idx as usize];
        t.status = TicketStatus::Serving;
        t.started_at = Some(now);
        let (window, window_name) = self.window_name(w);
        Ok(Reply::Ticket(self.settle(
            now,
            idx,
            &[],
            |ticket, _| EventBody::Started {
                ticket,
                window,
                window_name,
            },
            None,
            out,
        )))
    }

    fn complete(
        &mut self,
        now: Timestamp,
        w: usize,
        evaluation: Option<u8>,
        out: &mut Vec<Event>,
    ) -> Result<Reply, QueueError> {
        let idx = self.current(w)?;
        if let Some(e) = evaluation
            && !(1..=5).contains(&e)
        {
            return Err(QueueError::BadEvaluation { value: e });
        }
        self.finish_current(now, w, evaluation, false, out);
        Ok(Reply::Ticket(self.view(idx, now)))
    }

    fn mark_no_show(
        &mut self,
        now: Timestamp,
        w: usize,
        idx: u32,
        recall_limit: bool,
        out: &mut Vec<Event>,
    ) {
        self.windows[w].current = None;
        self.end_call(idx);
        let t = &mut self.tickets[idx as usize];
        t.status = TicketStatus::NoShow;
        t.no_show_at = Some(now);
        self.touch(idx);
        let (window, window_name) = self.window_name(w);
        let ticket = self.brief(idx);
        self.emit(
            now,
            EventBody::NoShow {
                ticket,
                window,
                window_name,
                recall_limit,
            },
            out,
        );
    }

    fn no_show(
        &mut self,
        now: Timestamp,
        w: usize,
        out: &mut Vec<Event>,
    ) -> Result<Reply, QueueError> {
        let idx = self.current(w)?;
        if self.tickets[idx as usize].status != TicketStatus::Called {
            return Err(self.invalid(idx, "marked as no-show"));
        }
        self.mark_no_show(now, w, idx, false, out);
        Ok(Reply::Ticket(self.view(idx, now)))
    }

    fn transfer(
        &mut self,
        now: Timestamp,
        w: usize,
        service: usize,
        placement: Option<Placement>,
        out: &mut Vec<Event>,
    ) -> Result<Reply, QueueError> {
        let idx = self.current(w)?;
        let t = &self.tickets[idx as usize];
        if t.service as usize == service {
            return Err(QueueError::SameService {
                ticket: self.ticket_id(t),
                service: self.cfg.services[service].id.to_string(),
            });
        }
        let placement = placement.unwrap_or(self.cfg.windows[w].policy.transfer_placement);
        let (from, first, lane, since) = (t.service, t.first_order, lane_for(t.class), t.issued_at);
        let order = self.order_for(placement, first);
        self.windows[w].current = None;
        self.end_call(idx);
        let t = &mut self.tickets[idx as usize];
        t.service = service as u16;
        t.transfers = t.transfers.saturating_add(1);
        t.call_count = 0;
        // A new queue, a new target: the wait alarm applies again.
        t.wait_alarmed = false;
        // Transferred citizens keep their aging credit: they have been in the hall since issue.
        self.file(idx, lane, order, since);
        let (window, window_name) = self.window_name(w);
        let from_id = self.cfg.services[from as usize].id.clone();
        Ok(Reply::Ticket(self.settle(
            now,
            idx,
            &[from, service as u16],
            |ticket, queues| EventBody::Transferred {
                ticket,
                from: from_id,
                window,
                window_name,
                queues,
            },
            Some(ReclassReason::Transferred),
            out,
        )))
    }

    fn park(
        &mut self,
        now: Timestamp,
        w: usize,
        out: &mut Vec<Event>,
    ) -> Result<Reply, QueueError> {
        let idx = self.current(w)?;
        self.windows[w].current = None;
        self.end_call(idx);
        let t = &mut self.tickets[idx as usize];
        t.status = TicketStatus::Parked;
        t.call_count = 0;
        let (window, window_name) = self.window_name(w);
        Ok(Reply::Ticket(self.settle(
            now,
            idx,
            &[],
            |ticket, _| EventBody::Parked {
                ticket,
                window,
                window_name,
            },
            None,
            out,
        )))
    }

    fn release(
        &mut self,
        now: Timestamp,
        w: usize,
        out: &mut Vec<Event>,
    ) -> Result<Reply, QueueError> {
        let idx = self.current(w)?;
        let t = &self.tickets[idx as usize];
        if t.status != TicketStatus::Called {
            return Err(self.invalid(idx, "released"));
        }
        let (first, service, since) = (t.first_order, t.service, t.waiting_since);
        let lane = self.lane_at(idx, now);
        self.windows[w].current = None;
        self.end_call(idx);
        let t = &mut self.tickets[idx as usize];
        t.call_count = 0;
        t.called_at = None;
        t.reason = None;
        self.file(idx, lane, first, since);
        let (window, window_name) = self.window_name(w);
        Ok(Reply::Ticket(self.settle(
            now,
            idx,
            &[service],
            |ticket, queues| EventBody::Released {
                ticket,
                window,
                window_name,
                queues,
            },
            Some(ReclassReason::AppointmentLate),
            out,
        )))
    }

    fn open(
        &mut self,
        now: Timestamp,
        w: usize,
        sign_in: Option<(Post, String)>,
        out: &mut Vec<Event>,
    ) -> Result<Reply, QueueError> {
        if let Some((post, officer)) = &sign_in {
            self.check_officer(w, *post, officer)?;
        }
        if self.windows[w].mode != Mode::Open {
            let rt = &mut self.windows[w];
            rt.mode = Mode::Open;
            rt.pause_reason = None;
            rt.open_since = Some(now);
            let (window, window_name) = self.window_name(w);
            self.emit(
                now,
                EventBody::WindowOpened {
                    window,
                    window_name,
                },
                out,
            );
        }
        if let Some((post, officer)) = sign_in {
            self.record_sign_in(now, w, post, officer, out);
        }
        Ok(Reply::Window(self.window_view(w, now)))
    }

    pub(super) fn pause(
        &mut self,
        now: Timestamp,
        w: usize,
        reason: String,
        out: &mut Vec<Event>,
    ) -> Result<Reply, QueueError> {
        if reason.trim().is_empty() {
            return Err(QueueError::PauseReasonRequired);
        }
        if self.windows[w].mode == Mode::Closed {
            return Err(QueueError::WindowClosed {
                window: self.cfg.windows[w].id.to_string(),
            });
        }
        self.must_be_idle(w)?;
        let rt = &mut self.windows[w];
        rt.mode = Mode::Paused;
        rt.pause_reason = Some(reason.clone());
        rt.stop_open_clock(now);
        let (window, window_name) = self.window_name(w);
        self.emit(
            now,
            EventBody::WindowPaused {
                window,
                window_name,
                reason,
            },
            out,
        );
        Ok(Reply::Window(self.window_view(w, now)))
    }

    fn close(
        &mut self,
        now: Timestamp,
        w: usize,
        out: &mut Vec<Event>,
    ) -> Result<Reply, QueueError> {
        self.must_be_idle(w)?;
        if self.windows[w].mode != Mode::Closed {
            let rt = &mut self.windows[w];
            rt.mode = Mode::Closed;
            rt.pause_reason = None;
            rt.stop_open_clock(now);
            let (window, window_name) = self.window_name(w);
            self.emit(
                now,
                EventBody::WindowClosed {
                    window,
                    window_name,
                },
                out,
            );
        }
        Ok(Reply::Window(self.window_view(w, now)))
    }

    fn check_officer(&self, w: usize, post: Post, officer: &str) -> Result<(), QueueError> {
        match &self.cfg.windows[w].posts[post.index()] {
            Some(assigned) if &**assigned != officer => Err(QueueError::OfficerNotAssigned {
                window: self.cfg.windows[w].id.to_string(),
                post,
                officer: officer.to_owned(),
            }),
            _ if officer.trim().is_empty() => Err(QueueError::OfficerNotAssigned {
                window: self.cfg.windows[w].id.to_string(),
                post,
                officer: officer.to_owned(),
            }),
            _ => Ok(()),
        }
    }

    fn record_sign_in(
        &mut self,
        now: Timestamp,
        w: usize,
        post: Post,
        officer: String,
        out: &mut Vec<Event>,
    ) {
        self.clock_out(now, w, post, None);
        self.windows[w].officers[post.index()] = Some(officer.clone());
        self.windows[w].signed_in_at[post.index()] = Some(now);
        self.windows[w].away[post.index()] = None;
        let window = self.cfg.windows[w].id.clone();
        self.emit(
            now,
            EventBody::OfficerSignedIn {
                window,
                post,
                officer,
            },
            out,
        );
    }

    fn sign_in(
        &mut self,
        now: Timestamp,
        w: usize,
        post: Post,
        officer: String,
        out: &mut Vec<Event>,
    ) -> Result<Reply, QueueError> {
        self.check_officer(w, post, &officer)?;
        self.record_sign_in(now, w, post, officer, out);
        Ok(Reply::Window(self.window_view(w, now)))
    }
}
