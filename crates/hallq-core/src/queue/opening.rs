//! What a hall's schedule says of a day and of now: a date's hours and where they come from
//! (`DayHours`), why the hall is closed and when it opens (`ClosedReason`), the schedule's
//! view and what changed it, and the engine's cached "open now" (`OpenNow`).
//!
//! Data only: the rules that compute them live in `schedule`. Never reads the clock.

use std::sync::Arc;

use jiff::Timestamp;
use jiff::civil::Date;
use serde::Serialize;

use crate::localtime::LocalTime;

/// Which rule decided a date's hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DaySource {
    Override,
    Always,
    Holiday,
    Makeup,
    Week,
    /// A market day's own hours (赶集日).
    Market,
}

/// Where an override came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SetBy {
    Config,
    Api,
}

/// One date's hours as the hall will keep them, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayHours {
    pub date: Date,
    /// `HH:MM-HH:MM` in the hall's time zone; empty when closed all day.
    pub hours: Vec<String>,
    pub closed: bool,
    pub source: DaySource,
    /// The holiday or make-up day's festival, from the calendar (e.g. 国庆节).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<Arc<str>>,
    /// An override's reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Arc<str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set_by: Option<SetBy>,
    /// A market day of the hall (赶集日), whichever rule decided the hours.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub market_day: bool,
}

/// Why a hall is closed now. `code` is stable; `name` is the holiday or the override's
/// reason, when there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClosedReason {
    pub code: ClosedCode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<Arc<str>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClosedCode {
    /// A calendar `off` day.
    Holiday,
    /// A dated override closes the day.
    Override,
    /// The weekly table has no hours this weekday (e.g. Sunday).
    ClosedToday,
    BeforeHours,
    /// Between two intervals of the day (the midday break).
    Break,
    AfterHours,
}

impl ClosedReason {
    /// In words, for problem details and logs.
    pub fn describe(&self) -> String {
        let what = match self.code {
            ClosedCode::Holiday => "a public holiday",
            ClosedCode::Override => "closed for the day by an override",
            ClosedCode::ClosedToday => "no service on this day of the week",
            ClosedCode::BeforeHours => "before opening hours",
            ClosedCode::Break => "the midday break",
            ClosedCode::AfterHours => "after hours",
        };
        match &self.name {
            Some(n) => format!("{what}: {n}"),
            None => what.to_owned(),
        }
    }
}

/// The hall's schedule as a display, kiosk or operator needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScheduleView {
    pub open_now: bool,
    /// Today's hours (the hall's local date) and the rule behind them.
    pub today: DayHours,
    /// While open: when it next closes (`None`: open around the clock for the coming month).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closes_at: Option<LocalTime>,
    /// While closed: when it next opens (`None`: no opening in the coming year).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_opening: Option<LocalTime>,
    /// While closed: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_reason: Option<ClosedReason>,
    /// Overrides from today on, config and API merged (the API's wins on a date).
    pub overrides: Vec<DayHours>,
}

/// What changed the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleCause {
    /// An interval began.
    Opened,
    /// An interval ended (lunch, close of day, a holiday).
    Closed,
    /// An override was set or removed.
    Override,
    /// The hall's calendar was replaced.
    Calendar,
}

/// The cached answer of the hot path: `open` holds for `from <= now < until`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OpenNow {
    pub open: bool,
    pub(super) from: Timestamp,
    pub(super) until: Timestamp,
}

impl OpenNow {
    /// Stale at once: the first command or tick computes it.
    pub(crate) fn unknown() -> OpenNow {
        OpenNow {
            open: true,
            from: Timestamp::MAX,
            until: Timestamp::MIN,
        }
    }

    pub(crate) fn holds_at(&self, now: Timestamp) -> bool {
        self.from <= now && now < self.until
    }
}
