//! `[hall.market]` and a service's `market_only`: market days (赶集日) as townships keep
//! them, and a day's `HH:MM-HH:MM` intervals (the week, make-up days, overrides, a service's
//! own hours), checked where they are written (file, line, field). The rule itself and what a date
//! is under it belong to `calendar::market`; this module only reads and locates.

use jiff::civil::{Date, Time};
use toml::Spanned;

use super::Ctx;
use crate::calendar::{MarketDays, MarketDaysError};
use crate::config::raw::{RawMarket, RawService};
use crate::model::{Market, parse_interval};

/// The hall's market rule; `None` (with the problems reported) when it is not usable.
pub(super) fn market(cx: &mut Ctx, raw: &Spanned<RawMarket>, path: &str) -> Option<Market> {
    let m = raw.get_ref();
    let given = [
        m.every_days.is_some(),
        m.day_ends_in.is_some(),
        m.lunar_day_ends_in.is_some(),
    ]
    .into_iter()
    .filter(|&g| g)
    .count();
    if given != 1 {
        cx.at(
            raw,
            path,
            "give exactly one rule: `every_days` with `anchor`, `day_ends_in` (solar) or \
             `lunar_day_ends_in` (农历)",
        );
        return None;
    }
    let days = if let Some(every) = &m.every_days {
        let Some(anchor) = &m.anchor else {
            cx.at(
                every,
                format!("{path}.anchor"),
                "`every_days` counts from an `anchor` date that is a market day, e.g. anchor = 2027-01-02",
            );
            return None;
        };
        let date = plain_date(anchor.get_ref());
        let Some(date) = date else {
            cx.at(
                anchor,
                format!("{path}.anchor"),
                format!(
                    "`{}` is not a plain date; expected e.g. 2027-01-02 (no time, no offset)",
                    anchor.get_ref()
                ),
            );
            return None;
        };
        match MarketDays::every(date, *every.get_ref()) {
            Ok(d) => d,
            Err(e) => {
                cx.at(every, format!("{path}.every_days"), e.to_string());
                return None;
            }
        }
    } else {
        if let Some(anchor) = &m.anchor {
            cx.at(
                anchor,
                format!("{path}.anchor"),
                "`anchor` belongs to an `every_days` rule",
            );
        }
        let (list, field, lunar) = match (&m.day_ends_in, &m.lunar_day_ends_in) {
            (Some(l), _) => (l, "day_ends_in", false),
            (None, Some(l)) => (l, "lunar_day_ends_in", true),
            (None, None) => unreachable!("exactly one rule was given"),
        };
        let digits: Vec<u8> = list.get_ref().iter().map(|d| *d.get_ref()).collect();
        if let Some((k, d)) = list
            .get_ref()
            .iter()
            .enumerate()
            .find(|(_, d)| *d.get_ref() > 9)
        {
            cx.at(
                d,
                format!("{path}.{field}[{k}]"),
                MarketDaysError::Digit(*d.get_ref()).to_string(),
            );
            return None;
        }
        let rule = if lunar {
            MarketDays::lunar_day_ends_in(digits)
        } else {
            MarketDays::day_ends_in(digits)
        };
        match rule {
            Ok(d) => d,
            Err(e) => {
                cx.at(list, format!("{path}.{field}"), e.to_string());
                return None;
            }
        }
    };
    let hours = m.hours.as_ref().map(|list| {
        if list.get_ref().is_empty() {
            cx.at(
                list,
                format!("{path}.hours"),
                "a market day's hours cannot be empty; leave `hours` out to keep the usual ones",
            );
        }
        day_hours(cx, list.get_ref(), &format!("{path}.hours"))
    });
    Some(Market { days, hours })
}

/// A service's `market_only`, refused in a hall without market days (it would never open).
pub(super) fn market_only(cx: &mut Ctx, s: &RawService, has_market: bool, path: &str) -> bool {
    let Some(flag) = &s.market_only else {
        return false;
    };
    if *flag.get_ref() && !has_market {
        cx.at(
            flag,
            format!("{path}.market_only"),
            "this hall has no `[hall.market]`, so a market-only service would never open",
        );
    }
    *flag.get_ref()
}

fn plain_date(v: &toml::value::Datetime) -> Option<Date> {
    match v {
        toml::value::Datetime {
            date: Some(d),
            time: None,
            offset: None,
        } => Date::new(d.year as i16, d.month as i8, d.day as i8).ok(),
        _ => None,
    }
}

/// A day's `HH:MM-HH:MM` intervals, each checked where it is written: valid, in order, not
/// overlapping. Bad ones are reported and left out.
pub(super) fn day_hours(cx: &mut Ctx, list: &[Spanned<String>], field: &str) -> Vec<(Time, Time)> {
    let mut out: Vec<(Time, Time)> = Vec::new();
    for (k, iv) in list.iter().enumerate() {
        let field = format!("{field}[{k}]");
        match parse_interval(iv.get_ref()) {
            Err(e) => cx.at(iv, field, e),
            Ok(pair) => {
                if out.last().is_some_and(|&(_, end)| end > pair.0) {
                    cx.at(iv, field, "intervals must be in order and not overlap");
                }
                out.push(pair);
            }
        }
    }
    out
}
