//! Whether a hall is open (DESIGN.md "Schedules"): its calendar first, then its hours, with
//! dated overrides over both.
//!
//! The rules for one local date, the first that applies wins:
//! 1. a dated override, the API's over the config's: its hours, or closed all day;
//! 2. `always` hours: open around the clock (a 24-hour hall keeps no holidays);
//! 3. a calendar `off` day (a holiday, or a weekend day inside a holiday break): closed;
//! 4. a market day (赶集日) of a hall whose market brings its own hours: those hours;
//! 5. a calendar `work` day (调休 make-up day, always on a day the calendar's week has off):
//!    the hall's `makeup_day` hours, else those of the calendar week's first working weekday
//!    (Monday on the mainland calendar) — a make-up day is worked as an ordinary weekday,
//!    and the State Council's notices do not say which weekday it stands for; a service's
//!    own weekly hours are read on that same weekday (`worked_as`), for walk-ins and slots;
//! 6. the weekly table.
//!
//! A hall without a calendar uses rules 1, 2, 4 and 6. Days past the calendar's covered years
//! have no dated entries, so they follow the weekly table, as the calendar's default week
//! does for deadlines there.
//!
//! The hot path (issuing a ticket) reads one cached answer: open or closed, valid from the
//! instant it was computed until the next instant it can change (the end of the current
//! interval, or the next opening). It is recomputed when `now` leaves that range, and at
//! once when an override or the calendar changes, so a request never walks the rules.
//! When the answer flips, the hall emits `schedule_changed`, so displays and kiosks follow
//! without polling.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

use super::engine::HallEngine;
use super::event::{Event, EventBody};
pub(crate) use super::opening::OpenNow;
pub use super::opening::{
    ClosedCode, ClosedReason, DayHours, DaySource, ScheduleCause, ScheduleView, SetBy,
};
use super::{QueueError, Reply};
use crate::calendar::{Calendar, DayKind};
use crate::model::{DayOverride, Market, OpeningHours, format_interval};

/// Days looked ahead for the next opening. A hall closed longer than this shows none.
const LOOKAHEAD_DAYS: i32 = 366;
/// Days looked ahead for the end of a stretch of open days (a 24-hour hall's next closed
/// day). Snapshots compute it, so it stays short; beyond it `closes_at` is left out.
const CLOSES_AT_DAYS: i32 = 31;
/// Overrides set through the API that a hall keeps (past ones are dropped as days turn).
pub const MAX_API_OVERRIDES: usize = 400;

const ALL_DAY: &[(Time, Time)] = &[(Time::MIN, Time::MAX)];

/// One date's rule, borrowed: no allocation on the hot path.
struct Day<'a> {
    hours: &'a [(Time, Time)],
    source: DaySource,
    name: Option<&'a str>,
    reason: Option<&'a Arc<str>>,
    set_by: Option<SetBy>,
}

/// Where `now` stands.
enum At {
    Open {
        ends: Timestamp,
        date: Date,
        end: Time,
    },
    Closed {
        why: ClosedReason,
        opens: Option<Timestamp>,
    },
}

/// Everything the rules read.
struct Rules<'a> {
    hours: &'a OpeningHours,
    calendar: Option<&'a Calendar>,
    market: Option<&'a Market>,
    config: &'a BTreeMap<Date, DayOverride>,
    api: &'a BTreeMap<Date, DayOverride>,
    tz: &'a TimeZone,
}

impl<'a> Rules<'a> {
    fn day(&self, date: Date) -> Day<'a> {
        let over = |o: &'a DayOverride, set_by| Day {
            hours: &o.hours,
            source: DaySource::Override,
            name: None,
            reason: o.reason.as_ref(),
            set_by: Some(set_by),
        };
        if let Some(o) = self.api.get(&date) {
            return over(o, SetBy::Api);
        }
        if let Some(o) = self.config.get(&date) {
            return over(o, SetBy::Config);
        }
        let plain = |hours, source, name| Day {
            hours,
            source,
            name,
            reason: None,
            set_by: None,
        };
        if self.hours.always {
            return plain(ALL_DAY, DaySource::Always, None);
        }
        let special = self.calendar.and_then(|cal| cal.override_on(date));
        if let Some(o) = special
            && o.kind == DayKind::Off
        {
            return plain(&[], DaySource::Holiday, Some(&o.name));
        }
        if let Some(Market {
            hours: Some(hours), ..
        }) = self.market
            && self.is_market_day(date)
        {
            return plain(hours, DaySource::Market, None);
        }
        if let Some(cal) = self.calendar
            && let Some(o) = special
        {
            return match o.kind {
                DayKind::Off => plain(&[], DaySource::Holiday, Some(&o.name)),
                DayKind::Work => {
                    let hours = match &self.hours.makeup_day {
                        Some(h) => h.as_slice(),
                        None => {
                            first_working_weekday(cal).map_or(&[][..], |w| self.hours.weekday(w))
                        }
                    };
                    plain(hours, DaySource::Makeup, Some(&o.name))
                }
            };
        }
        plain(self.hours.weekday(date.weekday()), DaySource::Week, None)
    }

    fn is_market_day(&self, date: Date) -> bool {
        self.market.is_some_and(|m| m.days.is_market_day(date))
    }

    /// The instant of local `time` on `date`; `Time::MAX` (24:00) is the next midnight.
    fn instant(&self, date: Date, time: Time) -> Timestamp {
        let (date, time) = if time == Time::MAX {
            (date.tomorrow().unwrap_or(date), Time::MIN)
        } else {
            (date, time)
        };
        self.tz
            .to_ambiguous_timestamp(date.to_datetime(time))
            .compatible()
            .unwrap_or(Timestamp::MAX)
    }

    fn at(&self, now: Timestamp) -> At {
        let local = self.tz.to_datetime(now);
        let (date, time) = (local.date(), local.time());
        let day = self.day(date);
        if let Some(&(_, end)) = day.hours.iter().find(|&&(a, b)| a <= time && time < b) {
            return At::Open {
                ends: self.instant(date, end),
                date,
                end,
            };
        }
        let name = |n: Option<&str>| n.map(Arc::from);
        let why = match (day.source, day.hours) {
            (DaySource::Holiday, _) => ClosedReason {
                code: ClosedCode::Holiday,
                name: name(day.name),
            },
            (DaySource::Override, []) => ClosedReason {
                code: ClosedCode::Override,
                name: day.reason.cloned(),
            },
            (_, []) => ClosedReason {
                code: ClosedCode::ClosedToday,
                name: None,
            },
            (_, [(first, _), ..]) if time < *first => ClosedReason {
                code: ClosedCode::BeforeHours,
                name: None,
            },
            (_, [.., (_, last)]) if time >= *last => ClosedReason {
                code: ClosedCode::AfterHours,
                name: None,
            },
            _ => ClosedReason {
                code: ClosedCode::Break,
                name: None,
            },
        };
        At::Closed {
            why,
            opens: self.next_opening(date, time),
        }
    }

    /// The first interval start after local `time` on `date`, or on a later day.
    fn next_opening(&self, date: Date, time: Time) -> Option<Timestamp> {
        if let Some(&(a, _)) = self.day(date).hours.iter().find(|&&(a, _)| a > time) {
            return Some(self.instant(date, a));
        }
        let mut d = date;
        for _ in 0..LOOKAHEAD_DAYS {
            d = d.tomorrow().ok()?;
            if let Some(&(a, _)) = self.day(d).hours.first() {
                return Some(self.instant(d, a));
            }
        }
        None
    }

    /// When an open stretch that reaches local `end` on `date` closes: intervals that start
    /// where the previous one ends (a lunch-time shift, midnight on a 24-hour day) continue it.
    fn closes_at(&self, mut date: Date, mut end: Time) -> Option<Timestamp> {
        let mut days = 0;
        loop {
            if end == Time::MAX {
                days += 1;
                if days > CLOSES_AT_DAYS {
                    return None;
                }
                let next = date.tomorrow().ok()?;
                match self.day(next).hours.first() {
                    Some(&(a, b)) if a == Time::MIN => (date, end) = (next, b),
                    _ => return Some(self.instant(date, end)),
                }
                continue;
            }
            // Intervals are ordered and end after they start, so this walk ends within a day.
            match self.day(date).hours.iter().find(|&&(a, _)| a == end) {
                Some(&(_, b)) => end = b,
                None => return Some(self.instant(date, end)),
            }
        }
    }

    fn view(&self, date: Date) -> DayHours {
        let d = self.day(date);
        DayHours {
            date,
            hours: d.hours.iter().map(|&iv| format_interval(iv)).collect(),
            closed: d.hours.is_empty(),
            source: d.source,
            name: d.name.map(Arc::from),
            reason: d.reason.cloned(),
            set_by: d.set_by,
            market_day: self.is_market_day(date),
        }
    }
}

impl Rules<'_> {
    /// The weekday `date` is worked as: a calendar `work` day (调休) stands for the calendar
    /// week's first working weekday (rule 5), every other day for itself. A service's own
    /// weekly hours are read on this weekday, as the hall's are.
    fn worked_as(&self, date: Date) -> jiff::civil::Weekday {
        self.calendar
            .filter(|cal| {
                cal.override_on(date)
                    .is_some_and(|o| o.kind == DayKind::Work)
            })
            .and_then(first_working_weekday)
            .unwrap_or(date.weekday())
    }
}

/// The calendar week's first working weekday, Monday first.
fn first_working_weekday(cal: &Calendar) -> Option<jiff::civil::Weekday> {
    (0..7)
        .map(|i| jiff::civil::Weekday::from_monday_zero_offset(i).expect("0..7 are weekdays"))
        .find(|&w| cal.week().is_working(w))
}

impl HallEngine {
    fn rules(&self) -> Rules<'_> {
        Rules {
            hours: &self.cfg.hours,
            calendar: self.calendar.as_deref(),
            market: self.cfg.market.as_ref(),
            config: &self.cfg.hours_overrides,
            api: &self.hours_overrides,
            tz: &self.cfg.time_zone,
        }
    }

    /// Recompute the cached open/closed answer at `now`; true when it flipped.
    fn refresh_open(&mut self, now: Timestamp) -> bool {
        let (open, until) = match self.rules().at(now) {
            At::Open { ends, .. } => (true, ends),
            // With no opening ahead, look again tomorrow (an override may come).
            At::Closed { opens, .. } => (false, opens.unwrap_or(now + 24.hours())),
        };
        let flipped = open != self.open_now.open;
        self.open_now = OpenNow {
            open,
            from: now,
            until,
        };
        flipped
    }

    /// Set the cache at start or restore, without an event.
    pub(super) fn init_open(&mut self, now: Timestamp) {
        self.refresh_open(now);
    }

    /// Time-driven: when `now` has left the cached answer's range, recompute it, and say so
    /// on the hall's stream when the hall opened or closed.
    pub(super) fn roll_schedule(&mut self, now: Timestamp, out: &mut Vec<Event>) {
        if self.open_now.holds_at(now) {
            return;
        }
        if self.refresh_open(now) {
            let cause = if self.open_now.open {
                ScheduleCause::Opened
            } else {
                ScheduleCause::Closed
            };
            self.emit_schedule(now, cause, None, out);
        }
    }

    /// Whether the hall takes tickets at `now`; `roll_schedule(now)` ran first.
    pub(super) fn is_open(&self) -> bool {
        self.open_now.open
    }

    fn emit_schedule(
        &mut self,
        now: Timestamp,
        cause: ScheduleCause,
        date: Option<Date>,
        out: &mut Vec<Event>,
    ) {
        let schedule = self.schedule(now);
        self.emit(
            now,
            EventBody::ScheduleChanged {
                cause,
                date,
                schedule,
            },
            out,
        );
    }

    /// The hall's schedule at `now`: open or not, why, until when, and what is ahead.
    pub fn schedule(&self, now: Timestamp) -> ScheduleView {
        let rules = self.rules();
        let today = self.cfg.time_zone.to_datetime(now).date();
        let (open_now, closes_at, next_opening, closed_reason) = match rules.at(now) {
            At::Open { date, end, .. } => (true, rules.closes_at(date, end), None, None),
            At::Closed { why, opens } => (false, None, opens, Some(why)),
        };
        let dates: BTreeSet<Date> = self
            .cfg
            .hours_overrides
            .range(today..)
            .chain(self.hours_overrides.range(today..))
            .map(|(d, _)| *d)
            .collect();
        ScheduleView {
            open_now,
            today: rules.view(today),
            closes_at: closes_at.map(|t| self.local(t)),
            next_opening: next_opening.map(|t| self.local(t)),
            closed_reason,
            overrides: dates.into_iter().map(|d| rules.view(d)).collect(),
        }
    }

    /// A date's hours and the rule behind them.
    pub fn day_hours(&self, date: Date) -> DayHours {
        self.rules().view(date)
    }

    /// Why `service` takes no walk-in tickets at `now` although the hall is open: it is
    /// offered on market days only, or `now` is outside its own weekly hours.
    pub(super) fn service_closed(&self, service: usize, now: Timestamp) -> Option<&'static str> {
        let svc = &self.cfg.services[service];
        let local = self.cfg.time_zone.to_datetime(now);
        if svc.market_only && !self.rules().is_market_day(local.date()) {
            return Some("it is offered on market days only");
        }
        match &svc.hours {
            Some(h) if !h.is_open(self.rules().worked_as(local.date()), local.time()) => {
                Some("it is outside the service's own hours")
            }
            _ => None,
        }
    }

    /// The weekday a date is worked as: itself, or for a make-up day (调休) the weekday whose
    /// hours it keeps (DESIGN.md "Schedules"). Services' own hours are read on it.
    pub fn worked_as(&self, date: Date) -> jiff::civil::Weekday {
        self.rules().worked_as(date)
    }

    /// A date's open intervals (local times) and whether it is a market day: what a
    /// service's hours and bookable slots are cut from.
    pub fn day_intervals(&self, date: Date) -> (Vec<(Time, Time)>, bool) {
        let rules = self.rules();
        (rules.day(date).hours.to_vec(), rules.is_market_day(date))
    }

    /// The refusal of a kiosk at `now` while the hall is closed: why, and when it opens.
    pub(super) fn closed_error(&self, now: Timestamp) -> QueueError {
        let view = self.schedule(now);
        let local = |t: Timestamp| {
            t.to_zoned_datetime(self.cfg.time_zone.clone())
                .strftime("%a %Y-%m-%d %H:%M")
                .to_string()
        };
        let reason = view.closed_reason.unwrap_or(ClosedReason {
            code: ClosedCode::AfterHours,
            name: None,
        });
        QueueError::HallClosed {
            hall: self.cfg.id.to_string(),
            local: local(now).into(),
            opens: match view.next_opening {
                Some(t) => format!("it opens {}", local(t.at())).into(),
                None => "no opening is scheduled in the coming year".into(),
            },
            next_opening: view.next_opening,
            reason,
        }
    }

    /// The calendar the hall's schedule follows, set at start-up (the one in force may have
    /// been replaced through the API before a restart): no event.
    /// The calendar the schedule follows (the config's, or one replaced at run time).
    pub fn calendar(&self) -> Option<&Arc<Calendar>> {
        self.calendar.as_ref()
    }

    pub fn set_calendar(&mut self, calendar: Option<Arc<Calendar>>, now: Timestamp) {
        self.calendar = calendar;
        self.init_open(now);
    }

    /// The hall's calendar was replaced at run time: the schedule follows it from now on.
    pub fn replace_calendar(
        &mut self,
        now: Timestamp,
        calendar: Arc<Calendar>,
        out: &mut Vec<Event>,
    ) {
        self.roll_day(now, out);
        self.calendar = Some(calendar);
        self.refresh_open(now);
        self.emit_schedule(now, ScheduleCause::Calendar, None, out);
    }

    /// `PUT /v1/halls/{hall}/hours/{date}`: the date's hours (empty: closed), from today on.
    pub(super) fn set_hours(
        &mut self,
        now: Timestamp,
        date: Date,
        hours: Box<[(Time, Time)]>,
        reason: Option<Box<str>>,
        out: &mut Vec<Event>,
    ) -> Result<Reply, QueueError> {
        self.check_override_date(now, date)?;
        if !self.hours_overrides.contains_key(&date)
            && self.hours_overrides.len() >= MAX_API_OVERRIDES
        {
            return Err(QueueError::TooManyOverrides {
                hall: self.cfg.id.to_string(),
                max: MAX_API_OVERRIDES,
            });
        }
        debug_assert!(
            hours.windows(2).all(|w| w[0].1 <= w[1].0) && hours.iter().all(|(a, b)| a < b),
            "the API hands over ordered, non-overlapping intervals"
        );
        let reason = reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(Arc::from);
        let hours = hours.into_vec();
        self.hours_overrides
            .insert(date, DayOverride { hours, reason });
        self.refresh_open(now);
        self.emit_schedule(now, ScheduleCause::Override, Some(date), out);
        Ok(Reply::Hours(self.day_hours(date)))
    }

    /// `DELETE /v1/halls/{hall}/hours/{date}`: the date follows the config again.
    pub(super) fn clear_hours(
        &mut self,
        now: Timestamp,
        date: Date,
        out: &mut Vec<Event>,
    ) -> Result<Reply, QueueError> {
        if self.hours_overrides.remove(&date).is_none() {
            return Err(QueueError::NoOverride {
                hall: self.cfg.id.to_string(),
                date: date.to_string(),
                in_config: self.cfg.hours_overrides.contains_key(&date),
            });
        }
        self.refresh_open(now);
        self.emit_schedule(now, ScheduleCause::Override, Some(date), out);
        Ok(Reply::Hours(self.day_hours(date)))
    }

    /// Overrides are for today and later: a past day's hours cannot matter any more.
    fn check_override_date(&self, now: Timestamp, date: Date) -> Result<(), QueueError> {
        let today = self.cfg.time_zone.to_datetime(now).date();
        if date < today {
            return Err(QueueError::OverrideInPast {
                date: date.to_string(),
                today: today.to_string(),
            });
        }
        Ok(())
    }

    /// Drop API overrides of days before `day`: the hall record keeps what can still apply.
    pub(super) fn prune_overrides(&mut self, day: Date) {
        self.hours_overrides = self.hours_overrides.split_off(&day);
    }
}
