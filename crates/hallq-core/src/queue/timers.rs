//! Ticket timers: waiting over the service's target, and called but not started within the
//! policy's time-out. The engine says when to arm and disarm them (`Changes::timers`); the
//! shard keeps them in its timing wheel and calls `timer_fired` when one comes due.
//!
//! Never holds a timer or reads the clock: a timer that fires early is armed again, a stale
//! one (the ticket moved on) raises nothing, and each alarm is raised at most once per
//! ticket and service (or per call).
use jiff::{SignedDuration, Timestamp};

use super::engine::*;
use super::*;

/// The timers a ticket can have. The engine says when to arm and disarm them; the shard keeps
/// them in its timing wheel and calls `timer_fired` when one comes due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimerKind {
    /// Waiting longer than the service's target.
    Wait,
    /// Called and not started within the policy's time-out.
    Start,
}

impl TimerKind {
    /// The alarm level it raises.
    pub fn name(self) -> &'static str {
        match self {
            TimerKind::Wait => "wait_over_target",
            TimerKind::Start => "not_started",
        }
    }
}

/// Arm (`at: Some`) or disarm (`at: None`) a ticket's timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerOp {
    pub ticket: u32,
    pub kind: TimerKind,
    pub at: Option<Timestamp>,
}

impl HallEngine {
    pub(super) fn arm(&mut self, ticket: u32, kind: TimerKind, at: Timestamp) {
        self.changes.timers.push(TimerOp {
            ticket,
            kind,
            at: Some(at),
        });
    }

    pub(super) fn disarm(&mut self, ticket: u32, kind: TimerKind) {
        self.changes.timers.push(TimerOp {
            ticket,
            kind,
            at: None,
        });
    }

    /// A called ticket leaves `Called`: its start time-out no longer applies.
    pub(super) fn end_call(&mut self, idx: u32) {
        if self.cfg.policy.start_timeout_s.is_some() {
            self.disarm(idx, TimerKind::Start);
        }
    }

    /// Every timer the hall's tickets need, for a shard rebuilding its wheel after recovery.
    pub fn timers(&self) -> Vec<TimerOp> {
        let mut out = Vec::new();
        for (i, t) in self.tickets.iter().enumerate() {
            let ticket = i as u32;
            match t.status {
                TicketStatus::Waiting if !t.wait_alarmed => {
                    if let Some(target) = self.cfg.services[t.service as usize].target_wait_s {
                        let at = t.waiting_since + SignedDuration::from_secs(target);
                        out.push(TimerOp {
                            ticket,
                            kind: TimerKind::Wait,
                            at: Some(at),
                        });
                    }
                }
                TicketStatus::Called if !t.start_alarmed => {
                    if let (Some(timeout), Some(called)) =
                        (self.cfg.policy.start_timeout_s, t.called_at)
                    {
                        let at = called + SignedDuration::from_secs(timeout);
                        out.push(TimerOp {
                            ticket,
                            kind: TimerKind::Start,
                            at: Some(at),
                        });
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// A timer came due. Raises the alarm if it still applies (the ticket may have moved on
    /// since; a stale timer is harmless) and arms it again if it fired early.
    pub fn timer_fired(
        &mut self,
        now: Timestamp,
        ticket: u32,
        kind: TimerKind,
        out: &mut Vec<Event>,
    ) {
        let Some(t) = self.tickets.get(ticket as usize) else {
            return;
        };
        let (since, limit) = match kind {
            TimerKind::Wait => {
                let Some(target) = self.cfg.services[t.service as usize].target_wait_s else {
                    return;
                };
                if t.status != TicketStatus::Waiting || t.wait_alarmed {
                    return;
                }
                (t.waiting_since, target)
            }
            TimerKind::Start => {
                let (Some(timeout), Some(called)) = (self.cfg.policy.start_timeout_s, t.called_at)
                else {
                    return;
                };
                if t.status != TicketStatus::Called || t.start_alarmed {
                    return;
                }
                (called, timeout)
            }
        };
        let due_at = since + SignedDuration::from_secs(limit);
        if now < due_at {
            self.arm(ticket, kind, due_at);
            return;
        }
        let t = &mut self.tickets[ticket as usize];
        match kind {
            TimerKind::Wait => t.wait_alarmed = true,
            TimerKind::Start => t.start_alarmed = true,
        }
        let window = t.window.map(|w| self.cfg.windows[w as usize].id.clone());
        self.touch(ticket);
        let brief = self.brief(ticket);
        let alarm = TicketAlarm {
            id: format!("{}/{}/{}", self.cfg.id, brief.id, kind.name()),
            level: kind.name(),
            hall: self.cfg.id.clone(),
            ticket: brief.id.clone(),
            number: brief.number.clone(),
            service: brief.service.clone(),
            window,
            limit_s: limit,
            due_at: self.local(due_at),
            raised_at: self.local(now),
        };
        let body = match kind {
            TimerKind::Wait => EventBody::WaitOverTarget {
                ticket: brief,
                alarm,
            },
            TimerKind::Start => EventBody::NotStarted {
                ticket: brief,
                alarm,
            },
        };
        self.emit(now, body, out);
    }
}
