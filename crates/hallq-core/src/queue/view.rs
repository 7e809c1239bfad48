//! What the outside sees: ticket, window and hall views, and the hall's events; and how the
//! engine builds the views (a ticket's position and estimated wait, window and hall
//! snapshots). The view builders only read: they never change the engine.
//!
//! Every instant is a `LocalTime` in the hall's time zone (see `crate::localtime`).
//!
//! Events are self-contained: a display applies them without a second request, so a call
//! carries the number, the window's id and name, the announcement sentence, and the new
//! waiting counts of the queues it changed.

use std::sync::Arc;

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::QueueError;
use super::engine::*;
use super::event::*;
use super::opening::ScheduleView;
use super::{CallReason, Lane, Post, Reclass, TicketClass, TicketStatus, WindowState};
use crate::localtime::LocalTime;
use crate::model::{Tier, WindowKind};

/// A ticket as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TicketView {
    pub id: String,
    pub number: String,
    pub service: Arc<str>,
    pub service_name: Arc<str>,
    pub class: TicketClass,
    pub status: TicketStatus,
    /// 1 = next to be called in its service; 0 when not waiting, and for an appointment not
    /// callable yet (see `callable_at`).
    pub position: u32,
    /// Estimated seconds until the call; for an appointment not callable yet, the seconds
    /// until it becomes callable; 0 when not waiting.
    pub estimated_wait_s: u64,
    /// The lane it waits in: appointment, priority or normal. Only while waiting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lane: Option<Lane>,
    /// An appointment in its lane (or booked): the instant it becomes callable, its slot
    /// less the hall's `early`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callable_at: Option<LocalTime>,
    /// An appointment that left its lane: to which, when and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reclassified: Option<Reclass<LocalTime>>,
    pub issued_at: LocalTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slot: Option<LocalTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub called_at: Option<LocalTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<LocalTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<LocalTime>,
    /// The window calling or serving it (or the last one that did).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<Arc<str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window_name: Option<Arc<str>>,
    pub call_count: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evaluation: Option<u8>,
    /// The citizen's reason tags with the rating.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// The officer serving at the window that last called it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub officer: Option<String>,
    /// The service that issued the number, when the ticket was transferred since.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_for: Option<Arc<str>>,
    /// Why it was called, while it is called or served.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<CallReason>,
    /// The contact told when the turn is near, masked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_masked: Option<String>,
}

/// A window as the API and snapshots show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowView {
    pub id: Arc<str>,
    pub name: Arc<str>,
    pub kind: WindowKind,
    pub state: WindowState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pause_reason: Option<String>,
    /// Service ids in rank order.
    pub services: Vec<Arc<str>>,
    pub current: Option<TicketView>,
    /// Officers signed in on posts A and B.
    pub officers: [Option<String>; 2],
    /// The post whose officer is serving: A when signed in, else B.
    pub active_post: Option<Post>,
    /// Where each post's officer is while away (去向公开).
    pub away: [Option<Box<super::Absence>>; 2],
    /// Tickets this window could call now, over all its services.
    pub waiting: u32,
    /// Appointments checked in that it cannot call yet (before their slot less `early`).
    pub waiting_early: u32,
    /// When the first of those becomes callable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_callable_at: Option<LocalTime>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceView {
    pub id: Arc<str>,
    pub name: Arc<str>,
    pub prefix: Arc<str>,
    pub waiting: u32,
    pub waiting_priority: u32,
    pub waiting_appointment: u32,
    /// Of `waiting_appointment`, those not callable yet.
    pub waiting_early: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_callable_at: Option<LocalTime>,
    pub issued_today: u32,
    /// The last number issued today, if any.
    pub last_number: Option<String>,
    /// Seconds the longest-waiting ticket has waited.
    pub longest_wait_s: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_wait_s: Option<i64>,
    /// Moving average of recent service times.
    pub avg_service_s: u64,
    /// Estimated wait of a ticket issued now.
    pub estimated_wait_s: u64,
    pub windows_open: u32,
}

/// `GET /v1/halls/{hall}`: everything a display or console needs to start from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HallSnapshot {
    pub id: Arc<str>,
    pub name: Arc<str>,
    pub tier: Tier,
    pub parent: Option<Arc<str>>,
    pub time_zone: Arc<str>,
    pub business_day: Date,
    /// The last event applied; a stream resumed from here misses nothing.
    pub seq: u64,
    /// Whether a kiosk can take a number now (`schedule.open_now`).
    pub open_now: bool,
    /// Today's hours, why the hall is closed, when it next opens or closes, the overrides
    /// ahead.
    pub schedule: ScheduleView,
    pub services: Vec<ServiceView>,
    pub windows: Vec<WindowView>,
    /// The last calls, newest first.
    pub recent_calls: Vec<std::sync::Arc<CallEvent>>,
    pub at: LocalTime,
}

/// A is the primary post; B takes over while A is away.
fn active_post(officers: &[Option<String>; 2]) -> Option<Post> {
    match officers {
        [Some(_), _] => Some(Post::A),
        [None, Some(_)] => Some(Post::B),
        [None, None] => None,
    }
}

impl HallEngine {
    pub fn ticket_view(&self, id: &str, now: Timestamp) -> Result<TicketView, QueueError> {
        Ok(self.view(self.lookup(id)?, now))
    }

    pub(crate) fn view(&self, idx: u32, now: Timestamp) -> TicketView {
        let t = &self.tickets[idx as usize];
        let svc = &self.cfg.services[t.service as usize];
        let position = self.position(idx, now);
        let window = t.window.map(|w| &self.cfg.windows[w as usize]);
        let callable_at = self.callable_at(t);
        let estimated_wait_s = match callable_at {
            // Not callable yet: the earliest it can be called is what the citizen can count on.
            Some(at) if at > now && t.place.is_some() => (at.as_second() - now.as_second()) as u64,
            _ if position == 0 => 0,
            _ => self.estimate(t.service as usize, position),
        };
        TicketView {
            id: self.ticket_id(t),
            number: self.number(t),
            service: svc.id.clone(),
            service_name: svc.name.clone(),
            class: t.class,
            status: t.status,
            position,
            estimated_wait_s,
            lane: t.place.map(|p| p.lane),
            callable_at: callable_at.map(|at| self.local(at)),
            reclassified: t.reclassified.map(|r| r.local(&self.cfg.time_zone)),
            issued_at: self.local(t.issued_at),
            slot: t.slot.map(|at| self.local(at)),
            called_at: t.called_at.map(|at| self.local(at)),
            started_at: t.started_at.map(|at| self.local(at)),
            finished_at: t.finished_at.map(|at| self.local(at)),
            window: window.map(|w| w.id.clone()),
            window_name: window.map(|w| w.name.clone()),
            call_count: t.call_count,
            evaluation: t.evaluation,
            reasons: t.reasons.clone(),
            officer: t.officer.clone(),
            issued_for: (t.origin != t.service)
                .then(|| self.cfg.services[t.origin as usize].id.clone()),
            reason: matches!(t.status, TicketStatus::Called | TicketStatus::Serving)
                .then_some(t.reason)
                .flatten(),
            contact_masked: t.contact.as_ref().map(|c| c.contact_masked.clone()),
        }
    }

    pub(super) fn brief(&self, idx: u32) -> TicketBrief {
        let t = &self.tickets[idx as usize];
        let svc = &self.cfg.services[t.service as usize];
        TicketBrief {
            id: self.ticket_id(t),
            number: self.number(t),
            service: svc.id.clone(),
            service_name: svc.name.clone(),
            class: t.class,
            status: t.status,
        }
    }

    /// When an appointment waiting in (or booked for) its lane becomes callable: its slot
    /// less the hall's `early`. `None` for other tickets.
    fn callable_at(&self, t: &Ticket) -> Option<Timestamp> {
        let in_lane = match t.place {
            Some(p) => p.lane == Lane::Appointment,
            None => t.status == TicketStatus::Booked,
        };
        let slot = t.slot.filter(|_| in_lane && t.reclassified.is_none())?;
        Some(slot - SignedDuration::from_secs(self.cfg.policy.appointment_early_s))
    }

    /// 1 + the tickets of the same service that will be called before this one (assuming no
    /// aging and no new priority arrivals); 0 when not waiting, and for an appointment that
    /// is not callable yet (it has no place in the order until then: see `callable_at`).
    pub(super) fn position(&self, idx: u32, now: Timestamp) -> u32 {
        let t = &self.tickets[idx as usize];
        let Some(p) = t.place else { return 0 };
        let q = &self.services[t.service as usize].queue;
        let early = self.cfg.policy.appointment_early_s;
        let callable = q.appointments_up_to(now.as_second() + early);
        let ahead = match p.lane {
            Lane::Appointment if p.slot - early > now.as_second() => return 0,
            Lane::Appointment => q.ahead_in_lane(p),
            Lane::Priority => callable + q.ahead_in_lane(p),
            Lane::Normal => callable + q.len(Lane::Priority) + q.ahead_in_lane(p),
        };
        u32::try_from(ahead + 1).unwrap_or(u32::MAX)
    }

    fn open_windows(&self, service: usize) -> u32 {
        self.servers[service]
            .iter()
            .filter(|&&w| self.windows[w as usize].mode == Mode::Open)
            .count() as u32
    }

    /// Seconds until a ticket at `position` is called: the queue ahead shared by the open
    /// windows that serve it, at the recent average service time.
    fn estimate(&self, service: usize, position: u32) -> u64 {
        let windows = f64::from(self.open_windows(service).max(1));
        (f64::from(position) * self.services[service].avg_service_s / windows).round() as u64
    }

    pub(super) fn counts(&self, services: &[u16]) -> Vec<QueueCount> {
        services
            .iter()
            .map(|&s| QueueCount {
                service: self.cfg.services[s as usize].id.clone(),
                waiting: self.services[s as usize].queue.waiting() as u32,
            })
            .collect()
    }

    pub fn window_view(&self, w: usize, now: Timestamp) -> WindowView {
        let wc = &self.cfg.windows[w];
        let rt = &self.windows[w];
        let state = self.window_view_state(w);
        // What this window can call now (by its own policy's `early`, as `choose` decides),
        // and the appointments checked in that it cannot call yet.
        let horizon = now.as_second() + wc.policy.appointment_early_s;
        let (mut waiting, mut early, mut next) = (0, 0, None::<i64>);
        for s in &wc.services {
            let q = &self.services[s.service].queue;
            let callable = q.appointments_up_to(horizon);
            waiting += (q.waiting() - q.len(Lane::Appointment) + callable) as u32;
            early += (q.len(Lane::Appointment) - callable) as u32;
            if let Some(slot) = q.first_appointment_after(horizon) {
                next = Some(next.map_or(slot, |n| n.min(slot)));
            }
        }
        WindowView {
            id: wc.id.clone(),
            name: wc.name.clone(),
            kind: wc.kind,
            state,
            pause_reason: rt.pause_reason.clone(),
            services: wc
                .services
                .iter()
                .map(|s| self.cfg.services[s.service].id.clone())
                .collect(),
            current: rt.current.map(|c| self.view(c, now)),
            officers: rt.officers.clone(),
            active_post: active_post(&rt.officers),
            away: rt.away.clone(),
            waiting,
            waiting_early: early,
            next_callable_at: next
                .and_then(|slot| Timestamp::from_second(slot - wc.policy.appointment_early_s).ok())
                .map(|at| self.local(at)),
        }
    }

    pub fn snapshot(&self, now: Timestamp) -> HallSnapshot {
        let schedule = self.schedule(now);
        HallSnapshot {
            id: self.cfg.id.clone(),
            name: self.cfg.name.clone(),
            tier: self.cfg.tier,
            parent: self.cfg.parent_id.clone(),
            time_zone: self.cfg.time_zone_name.clone(),
            business_day: self.day,
            seq: self.seq,
            open_now: schedule.open_now,
            schedule,
            services: (0..self.services.len())
                .map(|s| self.service_view(s, now))
                .collect(),
            windows: (0..self.windows.len())
                .map(|w| self.window_view(w, now))
                .collect(),
            recent_calls: self.recent_calls.iter().rev().cloned().collect(),
            at: self.local(now),
        }
    }

    fn service_view(&self, s: usize, now: Timestamp) -> ServiceView {
        let cfg = &self.cfg.services[s];
        let rt = &self.services[s];
        let q = &rt.queue;
        let longest = q
            .head_aging
            .map(|((since, _), _)| since)
            .into_iter()
            .chain(
                q.head_appointment
                    .and_then(|(_, t)| self.tickets[t as usize].checked_in_at)
                    .map(|c| c.as_second()),
            )
            .min()
            .map_or(0, |since| (now.as_second() - since).max(0) as u64);
        let waiting = q.waiting() as u32;
        let early_s = self.cfg.policy.appointment_early_s;
        let horizon = now.as_second() + early_s;
        let early = (q.len(Lane::Appointment) - q.appointments_up_to(horizon)) as u32;
        ServiceView {
            id: cfg.id.clone(),
            name: cfg.name.clone(),
            prefix: cfg.prefix.clone(),
            waiting,
            waiting_priority: q.len(Lane::Priority) as u32,
            waiting_appointment: q.len(Lane::Appointment) as u32,
            waiting_early: early,
            next_callable_at: q
                .first_appointment_after(horizon)
                .and_then(|slot| Timestamp::from_second(slot - early_s).ok())
                .map(|at| self.local(at)),
            issued_today: rt.issued_today,
            last_number: (rt.issued_today > 0).then(|| {
                let last = if rt.next == cfg.first {
                    cfg.last
                } else {
                    rt.next - 1
                };
                cfg.format_number(last)
            }),
            longest_wait_s: longest,
            target_wait_s: cfg.target_wait_s,
            avg_service_s: rt.avg_service_s.round() as u64,
            estimated_wait_s: self.estimate(s, waiting - early + 1),
            windows_open: self.open_windows(s),
        }
    }

    /// Today's tickets matching a filter, in issue order.
    pub fn list(
        &self,
        now: Timestamp,
        mut keep: impl FnMut(&TicketView) -> bool,
    ) -> Vec<TicketView> {
        (0..self.tickets.len() as u32)
            .map(|i| self.view(i, now))
            .filter(|v| keep(v))
            .collect()
    }

    /// Tickets a window may call, in the order its services rank them, then the
    /// appointments checked in that are not callable yet (position 0), by `callable_at`.
    pub fn waiting_for_window(&self, w: usize, now: Timestamp) -> Vec<TicketView> {
        let mut out: Vec<(bool, u8, u32, Option<LocalTime>, TicketView)> = Vec::new();
        for ws in &self.cfg.windows[w].services {
            for t in self.services[ws.service].queue.all() {
                let v = self.view(t, now);
                out.push((v.position == 0, ws.rank, v.position, v.callable_at, v));
            }
        }
        out.sort_by_key(|(later, rank, pos, at, _)| {
            (*later, if *later { 0 } else { *rank }, *pos, *at)
        });
        out.into_iter().map(|(.., v)| v).collect()
    }

    pub(super) fn window_view_state(&self, w: usize) -> WindowState {
        let rt = &self.windows[w];
        match (rt.mode, rt.current.map(|c| self.tickets[c as usize].status)) {
            (Mode::Closed, _) => WindowState::Closed,
            (Mode::Paused, _) => WindowState::Paused,
            (Mode::Open, Some(TicketStatus::Called)) => WindowState::Calling,
            (Mode::Open, Some(_)) => WindowState::Serving,
            (Mode::Open, None) => WindowState::Open,
        }
    }
}
