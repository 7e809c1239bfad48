//! The calling policy (叫号): which ticket a window calls next and why, and the call itself
//! with its announcement (请A023号到5号窗口办理), the recent-call history and the start
//! time-out.
//!
//! "Why was A023 called?" is answered in this file. `choose` applies, in order: the aging cap
//! (the longest wait over all the window's services), priority (callable appointments, then
//! the green channel, best rank first, at most k in a row while normal tickets wait), then
//! normal tickets of the best rank, by issue order or by smooth weighted round robin. The
//! reason travels with the call as a `CallReason`.
//!
//! Never reads the clock, never does I/O, never changes a ticket it does not call; `choose`
//! reads only the lanes' cached heads, so deciding costs a few comparisons per service the
//! window serves (benches/queue.rs).
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};

use super::engine::*;
use super::lanes::Lane;
use super::*;

/// A priority candidate: its sort key (rank, appointment before green channel, then slot or
/// order), the ticket and the rule that makes it a candidate.
type PriorityPick = ((u8, u8, i64, i64), u32, CallReason);

impl HallEngine {
    pub(super) fn call_next(
        &mut self,
        now: Timestamp,
        w: usize,
        out: &mut Vec<Event>,
    ) -> Result<Reply, QueueError> {
        self.must_be_open(w)?;
        self.finish_current(now, w, None, true, out);
        for i in 0..self.cfg.windows[w].services.len() {
            let s = self.cfg.windows[w].services[i].service;
            self.expire_appointments(s, now, out);
        }
        match self.choose(w, now) {
            None => Ok(Reply::NobodyWaiting),
            Some((idx, reason)) => Ok(Reply::Ticket(self.call(now, w, idx, reason, out))),
        }
    }

    pub(super) fn call_specific(
        &mut self,
        now: Timestamp,
        w: usize,
        id: &str,
        out: &mut Vec<Event>,
    ) -> Result<Reply, QueueError> {
        self.must_be_open(w)?;
        let idx = self.lookup(id)?;
        let t = &self.tickets[idx as usize];
        if t.status != TicketStatus::Waiting {
            return Err(self.invalid(idx, "called"));
        }
        if !self.cfg.windows[w].serves(t.service as usize) {
            return Err(QueueError::NotServedHere {
                window: self.cfg.windows[w].id.to_string(),
                ticket: id.to_owned(),
                service: self.cfg.services[t.service as usize].id.to_string(),
            });
        }
        self.finish_current(now, w, None, true, out);
        Ok(Reply::Ticket(self.call(
            now,
            w,
            idx,
            CallReason::Specific,
            out,
        )))
    }

    /// The calling policy: which ticket window `w` calls next, and why. Reads only cached
    /// lane heads, so its cost is a few comparisons per service the window serves. The
    /// weighted rule advances the window's round-robin credit.
    fn choose(&mut self, w: usize, now: Timestamp) -> Option<(u32, CallReason)> {
        let wc = &self.cfg.windows[w];
        let policy = &wc.policy;
        let now_s = now.as_second();

        // 1. Aging cap: the longest-waiting ticket over all the window's services.
        if let Some(max) = policy.max_wait_s {
            let oldest = wc
                .services
                .iter()
                .filter_map(|ws| self.services[ws.service].queue.head_aging)
                .min();
            if let Some(((since, _), idx)) = oldest
                && now_s - since >= max
            {
                return Some((idx, CallReason::Aged));
            }
        }

        // 2. Priority: callable appointments, then green channel; best rank first.
        let deadline = now_s + policy.appointment_early_s;
        let mut best_priority: Option<PriorityPick> = None;
        let mut normal_waiting = false;
        for ws in &wc.services {
            let q = &self.services[ws.service].queue;
            normal_waiting |= q.head_normal.is_some();
            let appt = q
                .head_appointment
                .filter(|((slot, _), _)| *slot <= deadline)
                .map(|((slot, order), t)| ((ws.rank, 0, slot, order), t, CallReason::Appointment));
            let prio = q
                .head_priority
                .map(|(order, t)| ((ws.rank, 1, order, 0), t, CallReason::Priority));
            for c in [appt, prio].into_iter().flatten() {
                if best_priority.as_ref().is_none_or(|b| c.0 < b.0) {
                    best_priority = Some(c);
                }
            }
        }
        let run = self.windows[w].priority_run;
        if let Some((_, idx, reason)) = best_priority
            && (!normal_waiting || run < policy.max_priority_run)
        {
            return Some((idx, reason));
        }

        // 3. Normal tickets: best rank; within a rank, issue order or weighted turns.
        let rank = wc
            .services
            .iter()
            .filter(|ws| self.services[ws.service].queue.head_normal.is_some())
            .map(|ws| ws.rank)
            .min()?;
        let fifo_reason = if best_priority.is_some() {
            CallReason::Ratio
        } else {
            CallReason::Fifo
        };
        let group = || {
            wc.services.iter().enumerate().filter(|(_, ws)| {
                ws.rank == rank && self.services[ws.service].queue.head_normal.is_some()
            })
        };
        if group().all(|(_, ws)| ws.weight.is_none()) || group().count() == 1 {
            let (_, idx) = group()
                .filter_map(|(_, ws)| self.services[ws.service].queue.head_normal)
                .min()?;
            return Some((idx, fifo_reason));
        }
        // Smooth weighted round robin (as in nginx): every candidate gains its weight, the
        // richest is picked and pays the total, so picks interleave in proportion.
        let members: Vec<(usize, i64)> = group()
            .map(|(i, ws)| (i, i64::from(ws.weight.unwrap_or(1))))
            .collect();
        let total: i64 = members.iter().map(|&(_, wt)| wt).sum();
        let credit = &mut self.windows[w].wrr;
        let mut pick = members[0].0;
        for &(i, wt) in &members {
            credit[i] += wt;
            if credit[i] > credit[pick] {
                pick = i;
            }
        }
        credit[pick] -= total;
        let service = wc.services[pick].service;
        let (_, idx) = self.services[service].queue.head_normal?;
        Some((
            idx,
            if best_priority.is_some() {
                CallReason::Ratio
            } else {
                CallReason::Weighted
            },
        ))
    }

    fn call(
        &mut self,
        now: Timestamp,
        w: usize,
        idx: u32,
        reason: CallReason,
        out: &mut Vec<Event>,
    ) -> TicketView {
        let lane = self.tickets[idx as usize].place.map(|p| p.lane);
        self.unfile(idx);
        let rt = &mut self.windows[w];
        rt.current = Some(idx);
        match lane {
            Some(Lane::Priority | Lane::Appointment) => rt.priority_run += 1,
            _ => rt.priority_run = 0,
        }
        let t = &mut self.tickets[idx as usize];
        t.status = TicketStatus::Called;
        t.called_at = Some(now);
        t.first_called_at.get_or_insert(now);
        t.window = Some(w as u16);
        t.call_count = 1;
        t.reason = Some(reason);
        t.start_alarmed = false;
        self.touch(idx);
        if let Some(timeout) = self.cfg.policy.start_timeout_s {
            self.arm(
                idx,
                TimerKind::Start,
                now + SignedDuration::from_secs(timeout),
            );
        }
        self.announce(now, w, idx, reason, out);
        self.view(idx, now)
    }

    pub(super) fn announce(
        &mut self,
        now: Timestamp,
        w: usize,
        idx: u32,
        reason: CallReason,
        out: &mut Vec<Event>,
    ) {
        let officer = self.serving_officer(w);
        self.tickets[idx as usize].officer.clone_from(&officer);
        let t = &self.tickets[idx as usize];
        let (window, window_name) = self.window_name(w);
        let svc = &self.cfg.services[t.service as usize];
        let number = self.number(t);
        let call = CallEvent {
            ticket: self.ticket_id(t),
            announcement: self.cfg.announce(&number, &window_name),
            number,
            service: svc.id.clone(),
            service_name: svc.name.clone(),
            class: t.class,
            window,
            window_name,
            call_count: t.call_count,
            reason,
            officer,
            called_at: self.local(now),
            issued_at: self.local(t.issued_at),
        };
        if self.recent_calls.len() == RECENT_CALLS {
            self.recent_calls.pop_front();
        }
        let call = Arc::new(call);
        self.recent_calls.push_back(call.clone());
        let queues = self.counts(&[t.service]);
        self.emit(now, EventBody::Called { call, queues }, out);
    }
}
