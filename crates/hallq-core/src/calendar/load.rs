//! Loading a calendar from TOML, in the format of `config/calendars/cn-mainland.toml`.
//!
//! Parsing keeps the span of every field that a later check may reject, so each problem is
//! reported with file, line, column and the dotted field (`year[3].days[4].kind`). All
//! problems are collected in one pass. Nothing here does I/O: the caller reads the file.
//!
//! Rules beyond the shape: a date is listed once; `work` only on a day the week has off
//! (a make-up day on a weekday is a typo for `off` or a wrong date), while `off` on a day the
//! week already has off is allowed (the notices list the weekends inside a break); every date
//! lies within one year of its `[[year]]`; years are unique and consecutive, since a missing
//! year would silently follow the default week.

use std::collections::BTreeMap;
use std::ops::Range;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue};
use toml::value::Datetime;

use super::{Calendar, CoveredRange, DayKind, Override, Week};
use crate::diag::{SourceError, SourceErrors, from_toml as located};

const DEFAULT_TIME_ZONE: &str = "Asia/Shanghai";
const DEFAULT_OFFICE_HOURS: [(u32, u32); 2] = [(9 * 3600, 12 * 3600), (13 * 3600, 17 * 3600)];
const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCalendar {
    id: Spanned<String>,
    time_zone: Option<Spanned<String>>,
    week: Option<Spanned<Vec<Spanned<String>>>>,
    office_hours: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    year: Vec<RawYear>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawYear {
    year: Spanned<i64>,
    notice: Spanned<String>,
    #[serde(default)]
    days: Vec<RawDay>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDay {
    date: Spanned<Datetime>,
    kind: Spanned<String>,
    name: Spanned<String>,
}

/// Collects located problems for one file.
struct Problems<'a> {
    file: &'a str,
    source: &'a str,
    found: Vec<SourceError>,
}

impl Problems<'_> {
    fn at(
        &mut self,
        span: Option<Range<usize>>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.found.push(SourceError::at(
            self.file,
            self.source,
            span,
            field,
            message,
        ));
    }

    fn line_of(&self, span: &Range<usize>) -> usize {
        crate::diag::line_col(self.source, span.start).0
    }
}

pub(super) fn from_toml(file: &str, source: &str) -> Result<Calendar, SourceErrors> {
    let raw: RawCalendar = toml::from_str(source).map_err(|e| {
        let mut error = located(file, source, &e);
        error.field = e.span().map(|s| field_at(source, &s)).unwrap_or_default();
        error
    })?;
    let mut problems = Problems {
        file,
        source,
        found: Vec::new(),
    };

    let id = raw.id.get_ref().trim().to_owned();
    if id.is_empty() {
        problems.at(
            Some(raw.id.span()),
            "id",
            "must not be empty, e.g. \"cn-mainland\"",
        );
    }
    let time_zone = time_zone(&mut problems, raw.time_zone.as_ref());
    let week = raw
        .week
        .as_ref()
        .map_or_else(Week::mon_to_fri, |w| week(&mut problems, w));
    let office_hours = raw.office_hours.as_ref().map_or_else(
        || DEFAULT_OFFICE_HOURS.to_vec(),
        |h| office_hours(&mut problems, h),
    );
    let range = years(&mut problems, &raw.year);
    let overrides = days(&mut problems, &raw.year, &week);

    match (problems.found.is_empty(), time_zone, range) {
        (true, Some(time_zone), Some(range)) => Ok(Calendar::new(
            id,
            time_zone,
            week,
            overrides,
            office_hours,
            range,
        )),
        _ => Err(SourceErrors(problems.found)),
    }
}

fn time_zone(problems: &mut Problems, raw: Option<&Spanned<String>>) -> Option<TimeZone> {
    let (name, span) = match raw {
        Some(name) => (name.get_ref().as_str(), Some(name.span())),
        None => (DEFAULT_TIME_ZONE, None),
    };
    match TimeZone::get(name) {
        Ok(tz) => Some(tz),
        Err(e) => {
            problems.at(
                span,
                "time_zone",
                format!(
                    "unknown time zone `{name}` ({e}); expected an IANA name like \"Asia/Shanghai\""
                ),
            );
            None
        }
    }
}

fn week(problems: &mut Problems, raw: &Spanned<Vec<Spanned<String>>>) -> Week {
    let mut working = [false; 7];
    for (i, day) in raw.get_ref().iter().enumerate() {
        let field = format!("week[{i}]");
        match WEEKDAYS.iter().position(|w| *w == day.get_ref()) {
            Some(d) if working[d] => problems.at(
                Some(day.span()),
                field,
                format!("`{}` is listed twice", day.get_ref()),
            ),
            Some(d) => working[d] = true,
            None => problems.at(
                Some(day.span()),
                field,
                format!(
                    "unknown weekday `{}`; expected one of {}",
                    day.get_ref(),
                    WEEKDAYS.join(", ")
                ),
            ),
        }
    }
    if working.iter().any(|w| *w) {
        return Week::from_days(working);
    }
    // A non-empty list without a valid entry has been reported entry by entry.
    if raw.get_ref().is_empty() {
        problems.at(
            Some(raw.span()),
            "week",
            "needs at least one working weekday, e.g. [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]",
        );
    }
    // Stand-in so the remaining checks can run; the load fails anyway.
    Week::mon_to_fri()
}

fn office_hours(problems: &mut Problems, raw: &Spanned<Vec<Spanned<String>>>) -> Vec<(u32, u32)> {
    let mut intervals: Vec<(u32, u32)> = Vec::new();
    for (i, text) in raw.get_ref().iter().enumerate() {
        let field = format!("office_hours[{i}]");
        let Some((open, close)) = interval(text.get_ref()) else {
            problems.at(
                Some(text.span()),
                field,
                format!(
                    "`{}` is not an interval; expected HH:MM-HH:MM, e.g. \"09:00-12:00\"",
                    text.get_ref()
                ),
            );
            continue;
        };
        if open >= close {
            problems.at(
                Some(text.span()),
                field,
                format!(
                    "`{}` is empty: it must close after it opens",
                    text.get_ref()
                ),
            );
        } else if let Some(&(_, previous_close)) = intervals.last()
            && open < previous_close
        {
            problems.at(
                Some(text.span()),
                field,
                format!("`{}` starts before the previous interval closes; list intervals in order without overlap", text.get_ref()),
            );
        } else {
            intervals.push((open, close));
        }
    }
    if raw.get_ref().is_empty() {
        problems.at(
            Some(raw.span()),
            "office_hours",
            "needs at least one interval, e.g. [\"09:00-12:00\", \"13:00-17:00\"]",
        );
    }
    intervals
}

/// `HH:MM-HH:MM` as seconds since midnight.
fn interval(text: &str) -> Option<(u32, u32)> {
    let clock = |t: &str| {
        let (h, m) = t.trim().split_once(':')?;
        if h.len() != 2 || m.len() != 2 {
            return None;
        }
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60).then_some(h * 3600 + m * 60)
    };
    let (open, close) = text.split_once('-')?;
    Some((clock(open)?, clock(close)?))
}

/// Checks the `[[year]]` blocks and returns the range they cover.
fn years(problems: &mut Problems, raw: &[RawYear]) -> Option<CoveredRange> {
    let mut seen: BTreeMap<i64, usize> = BTreeMap::new();
    for (i, y) in raw.iter().enumerate() {
        let year = *y.year.get_ref();
        if !(1..=9998).contains(&year) {
            problems.at(
                Some(y.year.span()),
                format!("year[{i}].year"),
                format!("{year} is not a year between 1 and 9998"),
            );
            continue;
        }
        if let Some(&first) = seen.get(&year) {
            problems.at(
                Some(y.year.span()),
                format!("year[{i}].year"),
                format!("{year} is already listed as year[{first}]"),
            );
        } else {
            seen.insert(year, i);
        }
        if y.notice.get_ref().trim().is_empty() {
            problems.at(
                Some(y.notice.span()),
                format!("year[{i}].notice"),
                "must name the notice the dates come from",
            );
        }
    }
    for ((&year, _), (&next, &i)) in seen.iter().zip(seen.iter().skip(1)) {
        if next != year + 1 {
            problems.at(
                Some(raw[i].year.span()),
                format!("year[{i}].year"),
                format!("years must be consecutive: {} is missing before {next}; a missing year would silently follow the default week", year + 1),
            );
        }
    }
    if raw.is_empty() {
        problems.at(
            None,
            "year",
            "no [[year]] block: a calendar needs at least one year's notice",
        );
    }
    let first = *seen.keys().next()?;
    let last = *seen.keys().next_back()?;
    Some(CoveredRange {
        first: Date::new(first as i16, 1, 1).ok()?,
        last: Date::new(last as i16, 12, 31).ok()?,
    })
}

/// Checks every listed day and returns the overrides.
fn days(problems: &mut Problems, raw: &[RawYear], week: &Week) -> BTreeMap<Date, Override> {
    let mut overrides = BTreeMap::new();
    let mut listed_at: BTreeMap<Date, (usize, String)> = BTreeMap::new();
    for (i, y) in raw.iter().enumerate() {
        for (j, day) in y.days.iter().enumerate() {
            let field = |name: &str| format!("year[{i}].days[{j}].{name}");
            let Some(date) = local_date(day.date.get_ref()) else {
                problems.at(
                    Some(day.date.span()),
                    field("date"),
                    format!(
                        "`{}` is not a plain date; expected e.g. 2026-02-17 (no time, no offset)",
                        day.date.get_ref()
                    ),
                );
                continue;
            };
            let year = *y.year.get_ref();
            if (i64::from(date.year()) - year).abs() > 1 {
                problems.at(
                    Some(day.date.span()),
                    field("date"),
                    format!("{date} is more than a year away from the [[year]] {year} it is listed under"),
                );
                continue;
            }
            if let Some((line, first)) = listed_at.get(&date) {
                problems.at(
                    Some(day.date.span()),
                    field("date"),
                    format!("{date} is already listed at line {line} ({first})"),
                );
                continue;
            }
            listed_at.insert(date, (problems.line_of(&day.date.span()), field("date")));
            let kind = match day.kind.get_ref().as_str() {
                "off" => DayKind::Off,
                "work" if week.is_working(date.weekday()) => {
                    problems.at(
                        Some(day.kind.span()),
                        field("kind"),
                        format!(
                            "{date} is a {:?}, already a working day in this calendar's week; \
                             `work` is for make-up days on days the week has off",
                            date.weekday()
                        ),
                    );
                    continue;
                }
                "work" => DayKind::Work,
                other => {
                    problems.at(
                        Some(day.kind.span()),
                        field("kind"),
                        format!("unknown kind `{other}`; expected \"off\" or \"work\""),
                    );
                    continue;
                }
            };
            let name = day.name.get_ref().trim();
            if name.is_empty() {
                problems.at(
                    Some(day.name.span()),
                    field("name"),
                    "must name the holiday, e.g. \"春节\"",
                );
            }
            overrides.insert(
                date,
                Override {
                    kind,
                    name: name.to_owned(),
                },
            );
        }
    }
    overrides
}

fn local_date(value: &Datetime) -> Option<Date> {
    match value {
        Datetime {
            date: Some(d),
            time: None,
            offset: None,
        } => Date::new(d.year as i16, d.month as i8, d.day as i8).ok(),
        _ => None,
    }
}

/// The dotted path (`year[1].days[3].kind`) of the innermost field whose key or value
/// contains `span`, for errors the toml crate reports with a position but no field.
fn field_at(source: &str, span: &Range<usize>) -> String {
    let Ok(doc) = DeTable::parse(source) else {
        return String::new();
    };
    let mut path = String::new();
    find_field(&DeValue::Table(doc.into_inner()), span, &mut path);
    path
}

/// Appends to `path` the field of `value` that holds `span`; false if none does. Searches
/// containers even when their span does not hold `span`: the span of a `[[year]]` array of
/// tables is its header only.
fn find_field(value: &DeValue, span: &Range<usize>, path: &mut String) -> bool {
    let inside = |s: Range<usize>| s.start <= span.start && span.end <= s.end;
    let is_container = |v: &DeValue| matches!(v, DeValue::Table(_) | DeValue::Array(_));
    let children: Vec<(String, _, _)> = match value {
        DeValue::Table(table) => table
            .iter()
            .map(|(k, v)| {
                let sep = if path.is_empty() { "" } else { "." };
                (format!("{sep}{}", k.get_ref()), Some(k.span()), v)
            })
            .collect(),
        DeValue::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("[{i}]"), None, v))
            .collect(),
        _ => return false,
    };
    for (segment, key_span, child) in children {
        let mark = path.len();
        path.push_str(&segment);
        if key_span.is_some_and(inside) {
            return true;
        }
        if inside(child.span()) {
            find_field(child.get_ref(), span, path);
            return true;
        }
        if is_container(child.get_ref()) && find_field(child.get_ref(), span, path) {
            return true;
        }
        path.truncate(mark);
    }
    false
}
