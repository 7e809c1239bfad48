//! `HallEngine`: one hall's state (its business day, services, windows and today's tickets)
//! and the entry points that apply a command or a tick at a given `now` and return events.
//!
//! This file holds the state and what every part shares: `apply` and `tick`, ticket lookup
//! and ids, the event stream, the changes for the store, and the business day turning. The
//! rules live beside it: `calling` (who is called and why), `tickets` and `windows` (the
//! commands), `filing` (lanes), `timers`, `view` and `stats` (reads), `schedule` (opening
//! hours), `record` (the stored form). Never reads the clock, never does I/O, never knows
//! about threads.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use jiff::civil::Date;
use jiff::{Timestamp, ToSpan};
use serde::{Deserialize, Serialize};

use super::daybook::*;
use super::event::*;
use super::lanes::{Lane, Place, ServiceQueue};
use super::opening::OpenNow;
use super::*;
use crate::calendar::Calendar;
use crate::hash::FastMap;
use crate::localtime::{LocalTime, LocalZone};
use crate::model::{DayOverride, Hall};

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
    /// Why each post's officer is away, while away (去向公开); cleared at sign-in.
    pub away: [Option<Box<Absence>>; 2],
    /// When each post's officer signed in, while signed in: attendance counts from here.
    pub signed_in_at: [Option<Timestamp>; 2],
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
    /// The officer serving at the window when the ticket was last called (the rating and
    /// any rectification are bound to them).
    pub officer: Option<String>,
    /// The citizen's reason tags with the rating.
    pub reasons: Vec<String>,
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
    /// Whom to tell that their turn is near (`contact`), masked and hashed.
    pub contact: Option<Box<super::TicketContact>>,
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
    pub closed_day: Option<DayStats>,
}

pub struct HallEngine {
    pub(crate) cfg: Arc<Hall>,
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
    pub(crate) index: FastMap<(u16, u32), u32>,
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
    /// Today's closed sign-in intervals and absences per officer (`attendance`).
    pub(crate) attendance: Vec<Attendance>,
}

/// The business day `now` falls in and the instant it ends, in the hall's time zone.
pub(crate) fn business_day(cfg: &Hall, now: Timestamp) -> (Date, Timestamp) {
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
    pub fn new(cfg: Arc<Hall>, now: Timestamp) -> Self {
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
                away: [None, None],
                signed_in_at: [None, None],
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
            index: FastMap::default(),
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
            attendance: Vec::new(),
        };
        engine.init_open(now);
        engine
    }

    pub fn config(&self) -> &Arc<Hall> {
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

    /// Put a booking's change on the hall's event stream, in sequence with the hall's other
    /// events (the booking shard calls this after the book changed).
    pub fn emit_booking(
        &mut self,
        now: Timestamp,
        action: crate::booking::BookingAction,
        booking: crate::booking::BookingBrief,
        out: &mut Vec<Event>,
    ) {
        self.emit(now, EventBody::Booking { action, booking }, out);
    }

    /// Check in a booking whose slot lies in the service's appointment-only hours: its
    /// appointment ticket is issued while the hall is closed to everyone else. The caller
    /// (the booking shard) has checked the slot; the API's plain issue never comes here.
    pub fn check_in_booked(
        &mut self,
        now: Timestamp,
        service: usize,
        slot: Timestamp,
        out: &mut Vec<Event>,
    ) -> Result<Reply, QueueError> {
        self.zone.follow(now);
        self.roll_day(now, out);
        self.roll_schedule(now, out);
        self.issue_in_any_hours(
            now,
            service,
            TicketClass::Appointment,
            Some(slot),
            true,
            out,
        )
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
            Command::Evaluate {
                ticket,
                evaluation,
                rating,
            } => self.evaluate(now, &ticket, evaluation, rating, out),
            Command::Window { window, action } => self.window_action(now, window, action, out),
            Command::SetHours {
                date,
                hours,
                reason,
            } => self.set_hours(now, date, hours, reason, out),
            Command::ClearHours { date } => self.clear_hours(now, date, out),
        }
    }

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

    /// `at` as the API shows it: in the hall's time zone.
    pub(crate) fn local(&self, at: Timestamp) -> LocalTime {
        self.zone.local(at)
    }

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
        self.attendance.clear();
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
                away: [None, None],
                signed_in_at: [None, None],
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticket_ids_spell_the_day_as_strftime_does() {
        use jiff::civil::date;
        for day in [
            date(2026, 11, 23),
            date(2026, 1, 9),
            date(1999, 12, 31),
            date(2000, 2, 29),
            date(987, 6, 5),
            date(5, 10, 1),
            date(9999, 12, 31),
            date(-12, 3, 4),
        ] {
            let mut key = String::new();
            push_day_key(&mut key, day);
            assert_eq!(key, day.strftime("%Y%m%d").to_string(), "{day}");
        }
    }
}
