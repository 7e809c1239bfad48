//! Opening hours: the weekly table, dated overrides, and the `HH:MM-HH:MM` notation the
//! config file and the API share. Whether a hall is open on a date also depends on its
//! calendar; combining them is the queue's schedule, not this module's.

use std::sync::Arc;

use jiff::civil::{Time, Weekday};

/// Opening hours per weekday (Monday first). An empty day is closed; `always` means the
/// hall is open around the clock on every day, holidays included (only a dated override
/// closes it). Intervals are ordered and do not overlap; an end of `Time::MAX` is 24:00.
///
/// These are the weekly table only: whether the hall is open on a date also depends on its
/// calendar and dated overrides (`queue::schedule`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpeningHours {
    pub always: bool,
    pub days: [Vec<(Time, Time)>; 7],
    /// Hours of a calendar make-up day (调休上班) that falls on a day the calendar's week has
    /// off; `None` takes those of the week's first working weekday.
    pub makeup_day: Option<Vec<(Time, Time)>>,
}

impl OpeningHours {
    pub fn always() -> Self {
        OpeningHours {
            always: true,
            days: Default::default(),
            makeup_day: None,
        }
    }

    /// The weekly table's intervals for `weekday`.
    pub fn weekday(&self, weekday: Weekday) -> &[(Time, Time)] {
        &self.days[weekday.to_monday_zero_offset() as usize]
    }

    /// Whether the weekly table alone has the hall open at this weekday and time.
    pub fn is_open(&self, weekday: Weekday, time: Time) -> bool {
        self.always
            || self
                .weekday(weekday)
                .iter()
                .any(|&(from, to)| from <= time && time < to)
    }
}

/// A dated exception to a hall's hours (临时闭厅, 延时服务, a special Saturday).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayOverride {
    /// The day's intervals, ordered and not overlapping; empty means closed all day.
    pub hours: Vec<(Time, Time)>,
    /// Why, as shown to citizens (e.g. 系统升级暂停办理).
    pub reason: Option<Arc<str>>,
}

/// Longest override reason accepted, in characters.
pub const MAX_REASON_CHARS: usize = 200;

/// `HH:MM` as a time of day; `24:00` only when `is_end` (as `Time::MAX`, the end of the day).
pub fn parse_clock(s: &str, is_end: bool) -> Option<Time> {
    let (h, m) = s.split_once(':')?;
    let (h, m): (i8, i8) = (h.trim().parse().ok()?, m.trim().parse().ok()?);
    match (h, m) {
        (24, 0) if is_end => Some(Time::MAX),
        (0..=23, 0..=59) => Time::new(h, m, 0, 0).ok(),
        _ => None,
    }
}

/// `HH:MM-HH:MM` as an interval of a day; the message says what is wrong.
pub fn parse_interval(s: &str) -> Result<(Time, Time), String> {
    let Some((a, b)) = s.split_once('-') else {
        return Err(format!("`{s}` is not an interval HH:MM-HH:MM"));
    };
    let bad = |t: &str| format!("`{t}` is not a time of day HH:MM");
    let from = parse_clock(a, false).ok_or_else(|| bad(a))?;
    let to = parse_clock(b, true).ok_or_else(|| bad(b))?;
    if from >= to {
        return Err("the interval ends before it starts".to_owned());
    }
    Ok((from, to))
}

/// A day's intervals, each `HH:MM-HH:MM`, in order and not overlapping. The error gives the
/// position of the first bad one and why.
pub fn parse_day_hours<'a>(
    list: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<(Time, Time)>, (usize, String)> {
    let mut out: Vec<(Time, Time)> = Vec::new();
    for (k, s) in list.into_iter().enumerate() {
        let pair = parse_interval(s).map_err(|e| (k, e))?;
        if out.last().is_some_and(|&(_, end)| end > pair.0) {
            return Err((k, "intervals must be in order and not overlap".to_owned()));
        }
        out.push(pair);
    }
    Ok(out)
}

/// `08:30-12:00`, with `24:00` for an interval that runs to the end of the day.
pub fn format_interval((from, to): (Time, Time)) -> String {
    let end = if to == Time::MAX {
        "24:00".to_owned()
    } else {
        to.strftime("%H:%M").to_string()
    };
    format!("{}-{end}", from.strftime("%H:%M"))
}
