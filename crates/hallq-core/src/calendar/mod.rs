//! Calendars and working-time arithmetic: the core of the deadline engine (限时办结).
//!
//! This module owns what a working day is (the State Council holiday calendar with its
//! make-up workdays, 调休), what office hours are, and how a time limit turns into a
//! deadline. It is pure: it parses strings and does arithmetic, it never reads the clock
//! (`now` is always a parameter) and never touches files.
//!
//! # Semantics (the product contract; see DESIGN.md, "Deadline semantics")
//!
//! All counting happens on the calendar's local civil time. The *close* of a day is the end
//! of its last office-hours interval (17:00 by default).
//!
//! - **Working days** (`20wd`): the acceptance day is not counted; day 1 is the first working
//!   day after it; the deadline is the close of the N-th working day. `0wd` (即办件) is due at
//!   the close of the acceptance day if it is a working day, else of the next working day.
//! - **Working seconds** (`8wh`, `90wm`): only office time counts, to the second, from the
//!   acceptance instant (or the next opening). The deadline is the *earliest* instant at which
//!   the limit is used up, so `3wh` from 09:00 is due at 12:00, not 13:00.
//! - **Natural days** (`30d`): N calendar days after the acceptance day, due at the close of
//!   that day; if that day is not a working day, at the close of the next working day
//!   (期间届满的最后一日是节假日的，以节假日后的第一日为期间届满的日期).
//! - **A deadline never precedes its acceptance**: a `0wd`/`0d` case accepted after the close
//!   of a working day is due at the close of the next working day.
//! - **Pause** suspensions: the suspension day counts as used, the resume day is not counted,
//!   counting goes on from the next working day with what remains — exactly as if the case
//!   were accepted again on the resume day with the remaining limit (so a remainder of 0 is
//!   due like a 即办件, at the close of the resume day). Natural days are paused the same way
//!   with every calendar day counted; working seconds are paused to the second.
//! - **Restart** suspensions (补正): on resume the full limit starts again, with the resume
//!   day as the new acceptance day.
//! - **A suspension that starts after the deadline has passed does not move it**: an overdue
//!   case stays overdue; that suspension and any later ones are ignored.
//! - **Extensions** add to the limit in the limit's unit; a restart restarts the extended limit.
//! - **The horizon**: the notices cover `Jan 1` of the first `[[year]]` to `Dec 31` of the
//!   last. Nothing is refused outside that range: days outside it are counted on the default
//!   week, and a deadline whose count ran over such a day (its due day lies past the range,
//!   or counting started before it) is flagged `provisional`, with the first uncovered day,
//!   so it can be recounted when the notice for that year is loaded.
//! - **Remaining time** is working time between `now` and the deadline, on the same office
//!   hours: see [`Remaining`] for what "N working days remaining" means, and
//!   [`Calendar::when_remaining`] for the instants at which alarms are armed.
//!
//! On a day whose UTC offset changes during office hours (not in China since 1991), working
//! time follows the wall clock.
//!
//! # Performance
//!
//! Loading tabulates every covered day once (`days::DayTable`); after that, finding the N-th
//! working day is an index, and each deadline costs two time-zone conversions plus O(1)
//! arithmetic, whatever the limit.

mod days;
mod deadline;
mod limit;
mod load;
mod market;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;

use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;

pub use self::days::Week;
use self::days::{DayTable, date_of, day_number};
pub use self::deadline::{Deadline, Due, Remaining, Stopped, Suspension, SuspensionMode};
pub use self::limit::{Limit, LimitError};
pub use self::market::{LunarDate, MarketDays, MarketDaysError, lunar_date};

/// A working calendar: which days are working days, the office hours on them, and the time
/// zone they are read in. Immutable once loaded; replace it whole when a new notice is
/// published.
#[derive(Debug, Clone)]
pub struct Calendar {
    id: String,
    time_zone: TimeZone,
    /// Dated exceptions to the week, as listed; kept for display and for checking the table.
    overrides: BTreeMap<Date, Override>,
    office_hours: OfficeHours,
    range: CoveredRange,
    /// Day numbers of `range`, so range checks are integer comparisons on the hot path.
    first_day: i64,
    last_day: i64,
    /// Every day from the first listed date (or range start) to the last: the fast lookup.
    table: DayTable,
}

/// A dated exception to the default week.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    /// `Off` for a holiday (or a weekend day inside a break), `Work` for a make-up day.
    pub kind: DayKind,
    /// The festival it belongs to, e.g. 春节.
    pub name: String,
}

/// Whether a day is worked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DayKind {
    /// 休息日 / 节假日.
    Off,
    /// 工作日, including make-up days (调休上班).
    Work,
}

/// The first and last dates (inclusive) a calendar's notices cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CoveredRange {
    /// Jan 1 of the first `[[year]]`.
    pub first: Date,
    /// Dec 31 of the last `[[year]]`.
    pub last: Date,
}

impl fmt::Display for CoveredRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..={}", self.first, self.last)
    }
}

/// Office hours of every working day, as seconds since local midnight.
#[derive(Debug, Clone, PartialEq, Eq)]
struct OfficeHours {
    /// Ordered, non-empty, non-overlapping `[open, close)` intervals.
    intervals: Vec<(u32, u32)>,
    /// Sum of the interval lengths: the working seconds of one working day.
    per_day: i64,
}

impl OfficeHours {
    fn new(intervals: Vec<(u32, u32)>) -> OfficeHours {
        let per_day = intervals.iter().map(|(a, b)| i64::from(b - a)).sum();
        OfficeHours { intervals, per_day }
    }

    fn close(&self) -> u32 {
        self.intervals.last().map_or(0, |i| i.1)
    }

    /// Office seconds of a working day before second-of-day `at`.
    fn worked_before(&self, at: u32) -> i64 {
        self.intervals
            .iter()
            .map(|&(open, close)| i64::from(at.clamp(open, close) - open))
            .sum()
    }

    /// The earliest second-of-day by which `worked` office seconds have passed, for
    /// `0 < worked <= per_day`.
    fn instant_after(&self, worked: i64) -> u32 {
        let mut left = worked;
        for &(open, close) in &self.intervals {
            let len = i64::from(close - open);
            if left <= len {
                return open + left as u32;
            }
            left -= len;
        }
        self.close()
    }
}

/// A deadline computation or a lookup that the calendar cannot answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CalendarError {
    /// Suspensions must be in order, after acceptance, each ending after it starts, and only
    /// the last one may still be open.
    #[error("calendar {calendar}: suspension #{index} starting {from}: {problem}")]
    Suspension {
        calendar: String,
        /// 1-based position in the list given.
        index: usize,
        /// In the calendar's time zone, as the message shows it.
        from: crate::localtime::LocalTime,
        problem: &'static str,
    },
    /// An extension in another unit than the limit it extends.
    #[error(
        "calendar {calendar}: an extension of {extension} cannot extend a limit of {limit}; \
         give it in the limit's unit"
    )]
    ExtensionUnit {
        calendar: String,
        limit: Limit,
        extension: Limit,
    },
    /// The limit plus extension overflows.
    #[error("calendar {calendar}: {limit} extended by {extension} is too long")]
    ExtensionTooLong {
        calendar: String,
        limit: Limit,
        extension: Limit,
    },
    /// The result lies beyond the years jiff represents (±9999).
    #[error("calendar {calendar}: the result falls beyond year 9999")]
    Unrepresentable { calendar: String },
    /// Text given as a local time did not parse.
    #[error(
        "calendar {calendar}: `{input}` is not a time: expected YYYY-MM-DD, \
         YYYY-MM-DDTHH:MM[:SS] (in {time_zone}) or an RFC 3339 instant"
    )]
    LocalTime {
        calendar: String,
        input: String,
        time_zone: String,
    },
}

/// An instant on the calendar's local time line, to the whole second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Moment {
    at: Timestamp,
    day: i64,
    second: u32,
}

impl Calendar {
    /// Loads and validates a calendar from TOML text. `file_label` names the file in errors.
    /// Every problem found is reported, each with file, line, column and field.
    pub fn from_toml(
        file_label: &str,
        source: &str,
    ) -> Result<Calendar, crate::diag::SourceErrors> {
        load::from_toml(file_label, source)
    }

    /// Builds the lookup table. The caller has validated everything.
    fn new(
        id: String,
        time_zone: TimeZone,
        week: Week,
        overrides: BTreeMap<Date, Override>,
        office_hours: Vec<(u32, u32)>,
        range: CoveredRange,
    ) -> Calendar {
        let first_day = day_number(range.first);
        let last_day = day_number(range.last);
        let table_first = overrides
            .keys()
            .next()
            .map_or(first_day, |&d| day_number(d).min(first_day));
        let table_last = overrides
            .keys()
            .next_back()
            .map_or(last_day, |&d| day_number(d).max(last_day));
        let table = DayTable::new(table_first, table_last, week.clone(), |day| {
            let date = date_of(day).expect("tabled days come from valid dates");
            match overrides.get(&date) {
                Some(o) => o.kind == DayKind::Work,
                None => week.is_working(date.weekday()),
            }
        });
        Calendar {
            id,
            time_zone,
            overrides,
            office_hours: OfficeHours::new(office_hours),
            range,
            first_day,
            last_day,
            table,
        }
    }

    /// The calendar's id, e.g. `cn-mainland`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The time zone days and office hours are read in.
    pub fn time_zone(&self) -> &TimeZone {
        &self.time_zone
    }

    /// The dates the loaded notices cover.
    pub fn range(&self) -> CoveredRange {
        self.range
    }

    /// The default week, which rules every day without an override.
    pub fn week(&self) -> &Week {
        self.table.week()
    }

    /// Days from `now`'s date (in the calendar's zone) to the last covered day: 0 on that
    /// day, negative past it. What `hallq_calendar_horizon_days` exports.
    pub fn horizon_days(&self, now: Timestamp) -> i64 {
        self.last_day - day_number(self.time_zone.to_datetime(now).date())
    }

    /// The next local midnight after `now`, when [`Calendar::horizon_days`] next changes.
    pub fn next_day_starts(&self, now: Timestamp) -> Timestamp {
        let today = self.time_zone.to_datetime(now).date();
        today
            .tomorrow()
            .ok()
            .and_then(|d| {
                self.time_zone
                    .to_ambiguous_timestamp(d.to_datetime(Time::midnight()))
                    .compatible()
                    .ok()
            })
            .unwrap_or(Timestamp::MAX)
    }

    /// The dated exception on `date`, if any.
    pub fn override_on(&self, date: Date) -> Option<&Override> {
        self.overrides.get(&date)
    }

    /// Office hours of every working day, in order.
    pub fn office_hours(&self) -> impl Iterator<Item = (Time, Time)> + '_ {
        self.office_hours
            .intervals
            .iter()
            .map(|&(a, b)| (time_of(a), time_of(b)))
    }

    /// Working seconds in one working day (28,800 for 09:00–12:00 and 13:00–17:00): the
    /// size of "one working day" in [`Remaining`] and [`Calendar::when_remaining`].
    pub fn working_day_seconds(&self) -> i64 {
        self.office_hours.per_day
    }

    /// Whether `date` is a working day. O(1); outside the table, by the default week.
    pub fn is_working_day(&self, date: Date) -> bool {
        self.table.is_working(day_number(date))
    }

    /// Reads `text` as an instant: `YYYY-MM-DD` (local midnight), `YYYY-MM-DDTHH:MM[:SS]`
    /// (local time in this calendar's zone) or an RFC 3339 instant with an offset.
    pub fn parse_instant(&self, text: &str) -> Result<Timestamp, CalendarError> {
        let text = text.trim();
        if let Ok(at) = text.parse::<Timestamp>() {
            return Ok(at);
        }
        text.parse::<DateTime>()
            .ok()
            .and_then(|dt| self.time_zone.to_ambiguous_timestamp(dt).compatible().ok())
            .ok_or_else(|| CalendarError::LocalTime {
                calendar: self.id.clone(),
                input: text.to_owned(),
                time_zone: self.time_zone.iana_name().unwrap_or("its zone").to_owned(),
            })
    }

    /// `at` as RFC 3339 with this calendar's UTC offset, e.g. `2025-10-30T17:00:00+08:00`.
    pub fn format_rfc3339(&self, at: Timestamp) -> String {
        at.display_with_offset(self.time_zone.to_offset(at))
            .to_string()
    }

    /// `at` on the local time line, truncated to the whole second.
    fn moment(&self, at: Timestamp) -> Moment {
        let at = Timestamp::from_second(at.as_second()).expect("truncating stays in range");
        let local = self.time_zone.to_datetime(at);
        let t = local.time();
        Moment {
            at,
            day: day_number(local.date()),
            second: t.hour() as u32 * 3600 + t.minute() as u32 * 60 + t.second() as u32,
        }
    }

    /// The instant of local `second` on `day`.
    fn instant(&self, day: i64, second: u32) -> Result<Timestamp, CalendarError> {
        date_of(day)
            .map(|date| date.to_datetime(time_of(second)))
            .and_then(|dt| self.time_zone.to_ambiguous_timestamp(dt).compatible().ok())
            .ok_or_else(|| CalendarError::Unrepresentable {
                calendar: self.id.clone(),
            })
    }

    /// Working seconds from the calendar's origin to `(day, second)`: the working-time
    /// coordinate. Non-decreasing in time; flat outside office hours and on days off.
    fn coordinate(&self, day: i64, second: u32) -> i64 {
        let before = self.table.rank(day) * self.office_hours.per_day;
        if self.table.is_working(day) {
            before + self.office_hours.worked_before(second)
        } else {
            before
        }
    }

    /// The earliest `(day, second)` whose coordinate is `coordinate` (the inverse of
    /// [`Calendar::coordinate`] that lands on an office-hours instant, never on the next
    /// opening when an interval's end would do).
    fn position_of(&self, coordinate: i64) -> (i64, u32) {
        let per_day = self.office_hours.per_day;
        let day_rank = (coordinate - 1).div_euclid(per_day);
        let into_day = coordinate - day_rank * per_day;
        let day = self.table.select(day_rank);
        (day, self.office_hours.instant_after(into_day))
    }

    /// The first working day on or after `day`.
    fn working_day_from(&self, day: i64) -> i64 {
        self.table.select(self.table.rank(day))
    }
}

/// A second of the day as a civil time.
fn time_of(second: u32) -> Time {
    Time::new(
        (second / 3600) as i8,
        (second / 60 % 60) as i8,
        (second % 60) as i8,
        0,
    )
    .expect("seconds of a day make a time")
}
