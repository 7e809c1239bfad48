//! `HallEngine`: applies commands to one hall at a given `now` and returns events.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp, ToSpan};
use serde::{Deserialize, Serialize};

use super::lanes::{Lane, Place, ServiceQueue};
use super::schedule::OpenNow;
use super::view::*;
use super::*;
use crate::calendar::Calendar;
use crate::config::{DayOverride, HallConfig, Placement};
use crate::localtime::{LocalTime, LocalZone};

/// A priority candidate: its sort key (rank, appointment before green channel, then slot or
/// order), the ticket and the rule that makes it a candidate.
type PriorityPick = ((u8, u8, i64, i64), u32, CallReason);

/// Calls kept for the snapshot's "recent calls" and the display's history.
pub(super) const RECENT_CALLS: usize = 10;
/// Head placements sort before every issue-order key and stay FIFO among themselves.
const HEAD_BASE: i64 = i64::MIN / 2;

/// A window's own mode; whether it is calling or serving follows from its current ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Closed,
    Open,
    Paused,
}

#[derive(Debug, Clone)]
pub(crate) struct WindowRt {
    pub mode: Mode,
    pub pause_reason: Option<String>,
    pub officers: [Option<String>; 2],
    /// The ticket being called or served here.
    pub current: Option<u32>,
    /// Priority calls in a row since the last normal call (the k of k:1).
    pub priority_run: u32,
    /// Smooth weighted round-robin credit per window service (same order as the config).
    pub wrr: Vec<i64>,
    /// Seconds the window was open (idle, calling or serving) today, before `open_since`.
    pub open_s: i64,
    /// When the window last opened, while it is open: utilisation counts from here.
    pub open_since: Option<Timestamp>,
}

impl WindowRt {
    pub(super) fn stop_open_clock(&mut self, now: Timestamp) {
        if let Some(since) = self.open_since.take() {
            self.open_s += (now.as_second() - since.as_second()).max(0);
        }
    }

    /// Seconds open today up to `now`.
    pub(super) fn open_seconds(&self, now: Timestamp) -> i64 {
        self.open_s
            + self
                .open_since
                .map_or(0, |s| (now.as_second() - s.as_second()).max(0))
    }
}

#[derive(Debug)]
pub(crate) struct ServiceRt {
    /// The next sequence value to issue.
    pub next: u32,
    pub issued_today: u32,
    /// Moving average of service seconds, seeded from the config.
    pub avg_service_s: f64,
    pub queue: ServiceQueue,
}

#[derive(Debug, Clone)]
pub(crate) struct Ticket {
    /// The service whose prefix and sequence make the number.
    pub origin: u16,
    pub seq: u32,
    /// The service it waits for now (differs from `origin` after a transfer).
    pub service: u16,
    pub class: TicketClass,
    pub status: TicketStatus,
    /// Set exactly while `Waiting`.
    pub place: Option<Place>,
    /// Issue (or check-in) order; `Placement::Original` files the ticket by this.
    pub first_order: i64,
    pub issued_at: Timestamp,
    pub waiting_since: Timestamp,
    pub slot: Option<Timestamp>,
    pub checked_in_at: Option<Timestamp>,
    pub called_at: Option<Timestamp>,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub window: Option<u16>,
    pub call_count: u8,
    pub reason: Option<CallReason>,
    pub evaluation: Option<u8>,
    pub transfers: u8,
    pub no_show_at: Option<Timestamp>,
    /// The first call: a ticket's wait is issue → first call, recalls and releases aside.
    pub first_called_at: Option<Timestamp>,
    /// The wait-over-target alarm was raised (once per ticket and service).
    pub wait_alarmed: bool,
    /// The called-but-not-started alarm was raised for the current call.
    pub start_alarmed: bool,
    /// An appointment that left its lane: when, why and for which lane (at most once).
    pub reclassified: Option<Reclass>,
}

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

/// What changed since the store last took a copy: the shard persists exactly this.
#[derive(Debug, Default)]
pub struct Changes {
    /// Positions of tickets whose record must be rewritten.
    pub tickets: Vec<u32>,
    /// The hall record (counters, windows, seq) must be rewritten.
    pub hall: bool,
    /// The business day turned: ticket records of days before this one must be deleted, and
    /// every timer of the hall dropped (ticket positions start again).
    pub purge_before: Option<Date>,
    /// Timers to arm or disarm, in order.
    pub timers: Vec<TimerOp>,
    /// The business day that just ended, for the statistics table.
    pub closed_day: Option<super::stats::DayStats>,
}

pub struct HallEngine {
    pub(crate) cfg: Arc<HallConfig>,
    pub(crate) day: Date,
    /// When the current business day ends; checked on every command and tick.
    pub(crate) day_ends: Timestamp,
    /// Last event sequence number of this hall's stream.
    pub(crate) seq: u64,
    pub(crate) next_order: i64,
    pub(crate) next_head: i64,
    pub(crate) services: Vec<ServiceRt>,
    pub(crate) windows: Vec<WindowRt>,
    /// Today's tickets, in issue order; positions are `u32` ticket indices.
    pub(crate) tickets: Vec<Ticket>,
    /// (origin service, sequence) → ticket index, for today.
    pub(crate) index: HashMap<(u16, u32), u32>,
    /// Shared with the `called` events and the stored hall record: a call is built once.
    pub(crate) recent_calls: VecDeque<Arc<CallEvent>>,
    /// Windows serving each service, for estimates.
    pub(super) servers: Vec<Vec<u16>>,
    /// The calendar the schedule follows (holidays, make-up days); the config's at first,
    /// replaced at run time by `replace_calendar`.
    pub(crate) calendar: Option<Arc<Calendar>>,
    /// Dated overrides set through the API (stored with the hall record); they win over the
    /// config's. Only today's and later ones are kept.
    pub(crate) hours_overrides: BTreeMap<Date, DayOverride>,
    /// Whether the hall takes tickets, cached until it can next change (see `schedule`).
    pub(crate) open_now: OpenNow,
    /// The hall's time zone, with its current offset at hand: views and events show every
    /// instant in it, and a call renders several.
    zone: LocalZone,
    pub(super) changes: Changes,
}

/// The business day `now` falls in and the instant it ends, in the hall's time zone.
pub(crate) fn business_day(cfg: &HallConfig, now: Timestamp) -> (Date, Timestamp) {
    let local = now.to_zoned_datetime(cfg.time_zone.clone()).datetime();
    let date = if local.time() < cfg.day_starts {
        local.date().yesterday().unwrap_or(local.date())
    } else {
        local.date()
    };
    let next = date.tomorrow().unwrap_or(date).to_datetime(cfg.day_starts);
    let ends = cfg
        .time_zone
        .to_timestamp(next)
        .unwrap_or_else(|_| now + 24.hours());
    (date, ends)
}

/// Append the business day as `YYYYMMDD`, exactly as `strftime("%Y%m%d")` writes it.
pub(super) fn push_day_key(out: &mut String, day: Date) {
    match u16::try_from(day.year()) {
        Ok(year) if year <= 9999 => {
            let (month, mday) = (day.month().unsigned_abs(), day.day().unsigned_abs());
            for digit in [
                year / 1000,
                year / 100 % 10,
                year / 10 % 10,
                year % 10,
                u16::from(month / 10),
                u16::from(month % 10),
                u16::from(mday / 10),
                u16::from(mday % 10),
            ] {
                out.push(char::from(b'0' + digit as u8));
            }
        }
        // Years before 0 never name a business day; keep strftime's spelling anyway.
        _ => out.push_str(&day.strftime("%Y%m%d").to_string()),
    }
}

pub(super) fn lane_for(class: TicketClass) -> Lane {
    match class {
        TicketClass::Priority => Lane::Priority,
        TicketClass::Normal | TicketClass::Appointment => Lane::Normal,
    }
}

impl HallEngine {
    /// A fresh hall at `now`: no tickets, all windows closed.
    pub fn new(cfg: Arc<HallConfig>, now: Timestamp) -> Self {
        let (day, day_ends) = business_day(&cfg, now);
        let services = cfg
            .services
            .iter()
            .map(|s| ServiceRt {
                next: s.first,
                issued_today: 0,
                avg_service_s: f64::from(s.expected_service_s),
                queue: ServiceQueue::default(),
            })
            .collect();
        let windows = cfg
            .windows
            .iter()
            .map(|w| WindowRt {
                mode: Mode::Closed,
                pause_reason: None,
                officers: [None, None],
                current: None,
                priority_run: 0,
                wrr: vec![0; w.services.len()],
                open_s: 0,
                open_since: None,
            })
            .collect();
        let servers = (0..cfg.services.len())
            .map(|s| {
                (0..cfg.windows.len())
                    .filter(|&w| cfg.windows[w].serves(s))
                    .map(|w| w as u16)
                    .collect()
            })
            .collect();
        let calendar = cfg.working_calendar.clone();
        let zone = LocalZone::new(cfg.time_zone.clone(), now);
        let mut engine = HallEngine {
            cfg,
            day,
            day_ends,
            seq: 0,
            next_order: 1,
            next_head: HEAD_BASE,
            services,
            windows,
            tickets: Vec::new(),
            index: HashMap::new(),
            recent_calls: VecDeque::with_capacity(RECENT_CALLS),
            servers,
            calendar,
            hours_overrides: BTreeMap::new(),
            open_now: OpenNow::unknown(),
            zone,
            changes: Changes {
                hall: true,
                ..Changes::default()
            },
        };
        engine.init_open(now);
        engine
    }

    pub fn config(&self) -> &Arc<HallConfig> {
        &self.cfg
    }

    /// Last event sequence number.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    pub fn business_day(&self) -> Date {
        self.day
    }

    /// Tickets waiting in all services.
    pub fn waiting(&self) -> usize {
        self.services.iter().map(|s| s.queue.waiting()).sum()
    }

    /// Hand the accumulated changes to the store.
    pub fn take_changes(&mut self) -> Changes {
        let mut c = std::mem::take(&mut self.changes);
        c.tickets.sort_unstable();
        c.tickets.dedup();
        c
    }

    /// Time-driven work: the business day turning, the hall opening or closing, appointments
    /// leaving their grace period.
    pub fn tick(&mut self, now: Timestamp, out: &mut Vec<Event>) {
        self.zone.follow(now);
        self.roll_day(now, out);
        self.roll_schedule(now, out);
        for s in 0..self.services.len() {
            self.expire_appointments(s, now, out);
        }
    }

    /// Apply one command. On error nothing changed and nothing was emitted, except that the
    /// business day may have turned or the hall opened or closed first (events of their own).
    pub fn apply(
        &mut self,
        now: Timestamp,
        cmd: Command,
        out: &mut Vec<Event>,
    ) -> Result<Reply, QueueError> {
        self.zone.follow(now);
        self.roll_day(now, out);
        self.roll_schedule(now, out);
        match cmd {
            Command::Issue {
                service,
                class,
                slot,
                checked_in,
            } => self.issue(now, service, class, slot, checked_in, out),
            Command::CheckIn { ticket } => self.check_in(now, &ticket, out),
            Command::Cancel { ticket } => self.cancel(now, &ticket, out),
            Command::Reactivate { ticket } => self.reactivate(now, &ticket, out),
            Command::Return { ticket } => self.return_parked(now, &ticket, out),
            Command::Evaluate { ticket, evaluation } => {
                self.evaluate(now, &ticket, evaluation, out)
            }
            Command::Window { window, action } => self.window_action(now, window, action, out),
            Command::SetHours {
                date,
                hours,
                reason,
            } => self.set_hours(now, date, hours, reason, out),
            Command::ClearHours { date } => self.clear_hours(now, date, out),
        }
    }

    // ------------------------------------------------------------------ lookups and views

    /// Parse a public ticket id (`20261123-A023`) to today's ticket index.
    pub fn find(&self, id: &str) -> Option<u32> {
        let (date, number) = id.split_once('-')?;
        if date.len() != 8 || date != self.day_key() {
            return None;
        }
        let split = number.find(|c: char| c.is_ascii_digit())?;
        let (prefix, digits) = number.split_at(split);
        let origin = self.cfg.service_by_prefix(prefix)?;
        let seq: u32 = digits.parse().ok()?;
        if self.cfg.services[origin].format_number(seq) != number {
            return None;
        }
        self.index.get(&(origin as u16, seq)).copied()
    }

    pub(super) fn lookup(&self, id: &str) -> Result<u32, QueueError> {
        self.find(id).ok_or_else(|| QueueError::UnknownTicket {
            hall: self.cfg.id.to_string(),
            ticket: id.to_owned(),
        })
    }

    fn day_key(&self) -> String {
        let mut key = String::with_capacity(8);
        push_day_key(&mut key, self.day);
        key
    }

    pub(crate) fn number(&self, t: &Ticket) -> String {
        self.cfg.services[t.origin as usize].format_number(t.seq)
    }

    /// `20261123-A023`. A call makes the id three times (event, recent-call history, reply),
    /// so it is written in one allocation rather than through `format!` and `strftime`,
    /// which cost more than the calling decision itself (benches/queue.rs).
    pub(crate) fn ticket_id(&self, t: &Ticket) -> String {
        let number = self.number(t);
        let mut id = String::with_capacity(9 + number.len());
        push_day_key(&mut id, self.day);
        id.push('-');
        id.push_str(&number);
        id
    }

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
            issued_for: (t.origin != t.service)
                .then(|| self.cfg.services[t.origin as usize].id.clone()),
            reason: matches!(t.status, TicketStatus::Called | TicketStatus::Serving)
                .then_some(t.reason)
                .flatten(),
        }
    }

    /// `at` as the API shows it: in the hall's time zone.
    pub(crate) fn local(&self, at: Timestamp) -> LocalTime {
        self.zone.local(at)
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
    fn position(&self, idx: u32, now: Timestamp) -> u32 {
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

    // ------------------------------------------------------------------ events

    pub(super) fn emit(&mut self, now: Timestamp, body: EventBody, out: &mut Vec<Event>) {
        self.seq += 1;
        self.changes.hall = true;
        out.push(Event {
            seq: self.seq,
            at: self.local(now),
            hall: self.cfg.id.clone(),
            body,
        });
    }

    pub(super) fn touch(&mut self, idx: u32) {
        self.changes.tickets.push(idx);
    }

    // ------------------------------------------------------------------ business day

    pub(super) fn roll_day(&mut self, now: Timestamp, out: &mut Vec<Event>) {
        if now < self.day_ends {
            return;
        }
        let (day, ends) = business_day(&self.cfg, now);
        let old_end = std::mem::replace(&mut self.day_ends, ends);
        if day <= self.day {
            return;
        }
        let previous = self.day;
        let expired = self
            .tickets
            .iter()
            .filter(|t| !t.status.is_terminal())
            .count() as u32;
        // What was still open when the day ended expired with it.
        let mut closed = self.day_stats(old_end.min(now));
        for s in &mut closed.services {
            s.expired += s.open + s.in_service;
            s.open = 0;
            s.in_service = 0;
        }
        self.changes.closed_day = Some(closed);
        self.tickets.clear();
        self.index.clear();
        self.recent_calls.clear();
        for (s, rt) in self.services.iter_mut().enumerate() {
            let cfg = &self.cfg.services[s];
            rt.issued_today = 0;
            if !cfg.wrap {
                rt.next = cfg.first;
            }
            rt.queue = ServiceQueue::default();
        }
        for w in &mut self.windows {
            *w = WindowRt {
                mode: Mode::Closed,
                pause_reason: None,
                officers: [None, None],
                current: None,
                priority_run: 0,
                wrr: vec![0; w.wrr.len()],
                open_s: 0,
                open_since: None,
            };
        }
        self.next_order = 1;
        self.next_head = HEAD_BASE;
        self.day = day;
        self.prune_overrides(day);
        self.changes.tickets.clear();
        self.changes.timers.clear();
        self.changes.purge_before = Some(day);
        self.emit(
            now,
            EventBody::DayOpened {
                date: day,
                previous,
                expired,
            },
            out,
        );
    }

    // ------------------------------------------------------------------ filing

    pub(super) fn file(&mut self, idx: u32, lane: Lane, order: i64, since: Timestamp) {
        let t = &mut self.tickets[idx as usize];
        let place = Place {
            lane,
            order,
            since: since.as_second(),
            slot: t.slot.map_or(0, |s| s.as_second()),
        };
        t.status = TicketStatus::Waiting;
        t.place = Some(place);
        t.waiting_since = since;
        let service = t.service as usize;
        let alarmed = t.wait_alarmed;
        self.services[service].queue.insert(place, idx);
        self.touch(idx);
        if let Some(target) = self.cfg.services[service].target_wait_s
            && !alarmed
        {
            self.arm(
                idx,
                TimerKind::Wait,
                since + SignedDuration::from_secs(target),
            );
        }
    }

    pub(super) fn unfile(&mut self, idx: u32) {
        let t = &mut self.tickets[idx as usize];
        if let Some(p) = t.place.take() {
            self.services[t.service as usize].queue.remove(p);
            self.disarm(idx, TimerKind::Wait);
        }
    }

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

    /// What the hall's gauges show now: per service (waiting, seconds the longest has
    /// waited), and windows per state (closed, open, calling, serving, paused).
    pub fn gauges(&self, now: Timestamp) -> (Vec<(u32, u64)>, [u32; 5]) {
        let services = self
            .services
            .iter()
            .map(|rt| {
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
                (q.waiting() as u32, longest)
            })
            .collect();
        let mut windows = [0u32; 5];
        for w in 0..self.windows.len() {
            let i = match self.window_view_state(w) {
                WindowState::Closed => 0,
                WindowState::Open => 1,
                WindowState::Calling => 2,
                WindowState::Serving => 3,
                WindowState::Paused => 4,
            };
            windows[i] += 1;
        }
        (services, windows)
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

    /// The business day's statistics so far, from its tickets and windows.
    pub fn day_stats(&self, now: Timestamp) -> super::stats::DayStats {
        use super::stats::{DayStats, ServiceDay, WindowDay};
        let mut services: Vec<ServiceDay> = self
            .cfg
            .services
            .iter()
            .map(|s| ServiceDay {
                service: s.id.to_string(),
                ..ServiceDay::default()
            })
            .collect();
        let mut windows: Vec<WindowDay> = self
            .cfg
            .windows
            .iter()
            .zip(&self.windows)
            .map(|(c, rt)| WindowDay {
                window: c.id.to_string(),
                open_s: rt.open_seconds(now).max(0) as u64,
                ..WindowDay::default()
            })
            .collect();
        let secs = |a: Timestamp, b: Timestamp| (b.as_second() - a.as_second()).max(0) as u32;
        for t in &self.tickets {
            let s = &mut services[t.service as usize];
            s.issued += 1;
            match t.status {
                TicketStatus::Done => s.served += 1,
                TicketStatus::NoShow => s.no_show += 1,
                TicketStatus::Cancelled => s.cancelled += 1,
                TicketStatus::Expired => s.expired += 1,
                TicketStatus::Booked | TicketStatus::Waiting | TicketStatus::Parked => s.open += 1,
                TicketStatus::Called | TicketStatus::Serving => s.in_service += 1,
            }
            if let Some(first) = t.first_called_at {
                s.wait_s.push(secs(t.issued_at, first));
            }
            if let Some(r) = t.evaluation {
                s.ratings[usize::from(r.clamp(1, 5)) - 1] += 1;
            }
            if t.status == TicketStatus::Done
                && let (Some(end), Some(began)) = (t.finished_at, t.started_at.or(t.called_at))
            {
                s.service_s.push(secs(began, end));
                if let Some(w) = t.window {
                    windows[w as usize].busy_s += u64::from(secs(began, end));
                    windows[w as usize].served += 1;
                }
            }
        }
        DayStats {
            hall: self.cfg.id.to_string(),
            day: self.day,
            services,
            windows,
        }
    }

    /// Today's tickets rated 1 or 2, with when they were finished: each owes a rectification.
    pub fn bad_ratings(&self) -> Vec<(String, Timestamp)> {
        self.tickets
            .iter()
            .filter(|t| t.evaluation.is_some_and(|e| e <= 2))
            .map(|t| (self.ticket_id(t), t.finished_at.unwrap_or(t.issued_at)))
            .collect()
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

    pub(super) fn order_for(&mut self, placement: Placement, first_order: i64) -> i64 {
        match placement {
            Placement::Original => first_order,
            Placement::Head => {
                self.next_head += 1;
                self.next_head
            }
            Placement::Back => {
                self.next_order += 1;
                self.next_order
            }
        }
    }

    pub(super) fn fresh_order(&mut self) -> i64 {
        self.next_order += 1;
        self.next_order
    }

    /// Appointments past their grace period rank as normal tickets, filed by check-in order;
    /// each move is stated (`reclassified`).
    pub(super) fn expire_appointments(
        &mut self,
        service: usize,
        now: Timestamp,
        out: &mut Vec<Event>,
    ) {
        let grace = self.cfg.policy.appointment_grace_s;
        let limit = now.as_second() - grace;
        loop {
            let q = &self.services[service].queue;
            let Some(((slot, _), idx)) = q.head_appointment else {
                return;
            };
            if slot >= limit {
                return;
            }
            let t = &self.tickets[idx as usize];
            let (order, since) = (t.first_order, t.checked_in_at.unwrap_or(t.issued_at));
            self.unfile(idx);
            self.file(idx, Lane::Normal, order, since);
            self.reclassify(now, idx, ReclassReason::AppointmentLate, out);
        }
    }

    /// The lane a ticket arriving (or released back) at `now` ranks in: an appointment in
    /// its own lane until `grace` after its slot, unless it already left it.
    pub(super) fn lane_at(&self, idx: u32, now: Timestamp) -> Lane {
        let t = &self.tickets[idx as usize];
        match (t.class, t.slot) {
            (TicketClass::Appointment, Some(slot))
                if t.reclassified.is_none()
                    && slot.as_second() + self.cfg.policy.appointment_grace_s
                        >= now.as_second() =>
            {
                Lane::Appointment
            }
            (class, _) => lane_for(class),
        }
    }

    /// An appointment now waits in another lane than its own: record it on the ticket (so
    /// its view says so) and on the hall's stream. At most once per ticket; a no-op for
    /// other tickets.
    pub(super) fn reclassify(
        &mut self,
        now: Timestamp,
        idx: u32,
        reason: ReclassReason,
        out: &mut Vec<Event>,
    ) {
        let t = &mut self.tickets[idx as usize];
        let Some(Place { lane: to, .. }) = t.place else {
            return;
        };
        if t.class != TicketClass::Appointment
            || t.reclassified.is_some()
            || to == Lane::Appointment
        {
            return;
        }
        let change = Reclass {
            from: Lane::Appointment,
            to,
            reason,
            at: now,
        };
        t.reclassified = Some(change);
        let slot = t.slot;
        self.touch(idx);
        let ticket = self.brief(idx);
        self.emit(
            now,
            EventBody::Reclassified {
                ticket,
                from: change.from,
                to: change.to,
                reason,
                slot: slot.map(|at| self.local(at)),
                grace_s: self.cfg.policy.appointment_grace_s,
            },
            out,
        );
    }

    // ------------------------------------------------------------------ ticket commands

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
            transfers: 0,
            no_show_at: None,
            first_called_at: None,
            wait_alarmed: false,
            start_alarmed: false,
            reclassified: None,
        });
        self.index.insert((service as u16, seq), idx);
        self.touch(idx);
        if !booked {
            self.file_arrival(idx, now, order);
        }
        let queues = self.counts(&[service as u16]);
        let ticket = self.brief(idx);
        self.emit(now, EventBody::Issued { ticket, queues }, out);
        self.reclassify(now, idx, ReclassReason::AppointmentLate, out);
        Ok(Reply::Issued(self.view(idx, now)))
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
        let queues = self.counts(&[service]);
        let ticket = self.brief(idx);
        self.emit(now, EventBody::CheckedIn { ticket, queues }, out);
        self.reclassify(now, idx, ReclassReason::AppointmentLate, out);
        Ok(Reply::Ticket(self.view(idx, now)))
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
        self.touch(idx);
        let queues = self.counts(&[service]);
        let ticket = self.brief(idx);
        self.emit(now, EventBody::Cancelled { ticket, queues }, out);
        Ok(Reply::Ticket(self.view(idx, now)))
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
        let queues = self.counts(&[service]);
        let ticket = self.brief(idx);
        self.emit(now, EventBody::Reactivated { ticket, queues }, out);
        self.reclassify(now, idx, ReclassReason::Reactivated, out);
        Ok(Reply::Ticket(self.view(idx, now)))
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
        let queues = self.counts(&[service]);
        let ticket = self.brief(idx);
        self.emit(now, EventBody::Returned { ticket, queues }, out);
        self.reclassify(now, idx, ReclassReason::Returned, out);
        Ok(Reply::Ticket(self.view(idx, now)))
    }

    pub(super) fn evaluate(
        &mut self,
        now: Timestamp,
        id: &str,
        evaluation: u8,
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
        self.tickets[idx as usize].evaluation = Some(evaluation);
        self.touch(idx);
        let ticket = self.brief(idx);
        self.emit(now, EventBody::Evaluated { ticket, evaluation }, out);
        Ok(Reply::Ticket(self.view(idx, now)))
    }

    // ------------------------------------------------------------------ window commands

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
            WindowAction::SignOut { post } => self.sign_out(now, w, post, out),
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

    fn must_be_idle(&self, w: usize) -> Result<(), QueueError> {
        match self.windows[w].current {
            None => Ok(()),
            Some(c) => Err(QueueError::WindowBusy {
                window: self.cfg.windows[w].id.to_string(),
                ticket: self.ticket_id(&self.tickets[c as usize]),
            }),
        }
    }

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
        self.touch(idx);
        let (window, window_name) = self.window_name(w);
        let ticket = self.brief(idx);
        self.emit(
            now,
            EventBody::Started {
                ticket,
                window,
                window_name,
            },
            out,
        );
        Ok(Reply::Ticket(self.view(idx, now)))
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
        let queues = self.counts(&[from, service as u16]);
        let ticket = self.brief(idx);
        self.emit(
            now,
            EventBody::Transferred {
                ticket,
                from: self.cfg.services[from as usize].id.clone(),
                window,
                window_name,
                queues,
            },
            out,
        );
        self.reclassify(now, idx, ReclassReason::Transferred, out);
        Ok(Reply::Ticket(self.view(idx, now)))
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
        self.touch(idx);
        let (window, window_name) = self.window_name(w);
        let ticket = self.brief(idx);
        self.emit(
            now,
            EventBody::Parked {
                ticket,
                window,
                window_name,
            },
            out,
        );
        Ok(Reply::Ticket(self.view(idx, now)))
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
        let queues = self.counts(&[service]);
        let ticket = self.brief(idx);
        self.emit(
            now,
            EventBody::Released {
                ticket,
                window,
                window_name,
                queues,
            },
            out,
        );
        self.reclassify(now, idx, ReclassReason::AppointmentLate, out);
        Ok(Reply::Ticket(self.view(idx, now)))
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

    fn pause(
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
        self.windows[w].officers[post.index()] = Some(officer.clone());
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

    fn sign_out(
        &mut self,
        now: Timestamp,
        w: usize,
        post: Post,
        out: &mut Vec<Event>,
    ) -> Result<Reply, QueueError> {
        if self.windows[w].officers[post.index()].take().is_some() {
            let window = self.cfg.windows[w].id.clone();
            self.emit(now, EventBody::OfficerSignedOut { window, post }, out);
        }
        Ok(Reply::Window(self.window_view(w, now)))
    }
}

/// A is the primary post; B takes over while A is away.
fn active_post(officers: &[Option<String>; 2]) -> Option<Post> {
    match officers {
        [Some(_), _] => Some(Post::A),
        [None, Some(_)] => Some(Post::B),
        [None, None] => None,
    }
}
