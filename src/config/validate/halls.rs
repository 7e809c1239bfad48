//! Halls: the tier tree, time zone, calendar, opening hours and dated overrides, the
//! announcement, the calling policy (hall defaults and window overrides), services and
//! windows. It resolves a hall's calendar by id; it never reads files or settings.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use jiff::civil::Time;
use jiff::tz::TimeZone;
use toml::Spanned;

use super::schedule::{self, day_hours};
use super::{Ctx, check_slug, non_empty};
use crate::config::raw::{RawConfig, RawHall, RawPolicy, RawService, RawWindow};
use crate::model::{
    CalendarEntry, DayOverride, Hall, IdList, MAX_REASON_CHARS, OpeningHours, Placement, Policy,
    Service, Tier, Window, WindowKind, WindowService, parse_clock,
};

pub(super) fn policy(cx: &mut Ctx, base: &Policy, raw: &RawPolicy, path: &str) -> Policy {
    let mut p = base.clone();
    if let Some(m) = raw.max_wait_min {
        p.max_wait_s = (m > 0).then_some(i64::from(m) * 60);
    }
    if let Some(k) = &raw.max_priority_run {
        if *k.get_ref() == 0 {
            cx.at(
                k,
                format!("{path}.max_priority_run"),
                "must be at least 1 (k priority calls, then one normal call)",
            );
        } else {
            p.max_priority_run = *k.get_ref();
        }
    }
    if let Some(m) = raw.appointment_early_min {
        p.appointment_early_s = i64::from(m) * 60;
    }
    if let Some(m) = raw.appointment_grace_min {
        p.appointment_grace_s = i64::from(m) * 60;
    }
    if let Some(n) = raw.recall_limit {
        p.recall_limit = n;
    }
    if let Some(m) = raw.reactivate_min {
        p.reactivate_s = i64::from(m) * 60;
    }
    if let Some(m) = raw.start_timeout_min {
        p.start_timeout_s = (m > 0).then_some(i64::from(m) * 60);
    }
    if let Some(n) = raw.turn_near {
        p.turn_near = n;
    }
    if let Some(pl) = &raw.transfer_placement {
        p.transfer_placement = placement(cx, pl, &format!("{path}.transfer_placement"));
    }
    if let Some(pl) = &raw.reactivate_placement {
        p.reactivate_placement = placement(cx, pl, &format!("{path}.reactivate_placement"));
    }
    p
}

fn placement(cx: &mut Ctx, v: &Spanned<String>, field: &str) -> Placement {
    match v.get_ref().as_str() {
        "original" => Placement::Original,
        "head" => Placement::Head,
        "back" => Placement::Back,
        other => {
            cx.at(
                v,
                field,
                format!("unknown placement `{other}`; expected one of original, head, back"),
            );
            Placement::Original
        }
    }
}

pub(super) fn halls(
    cx: &mut Ctx,
    raw: &RawConfig,
    defaults: &Policy,
    calendars: &[CalendarEntry],
) -> Vec<Hall> {
    if raw.halls.is_empty() {
        cx.err(
            None,
            "hall",
            "no halls configured: add at least one [[hall]]",
        );
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, h) in raw.halls.iter().enumerate() {
        if seen.insert(h.id.get_ref(), i).is_some() {
            cx.at(
                &h.id,
                format!("hall[{i}].id"),
                format!("duplicate hall id `{}`", h.id.get_ref()),
            );
        }
    }
    let tiers: Vec<Option<Tier>> = raw
        .halls
        .iter()
        .enumerate()
        .map(|(i, h)| tier(cx, &h.tier, &format!("hall[{i}].tier")))
        .collect();
    raw.halls
        .iter()
        .enumerate()
        .map(|(i, h)| hall(cx, i, h, &seen, &tiers, defaults, calendars))
        .collect()
}

fn tier(cx: &mut Ctx, v: &Spanned<String>, field: &str) -> Option<Tier> {
    let t = Tier::ALL
        .into_iter()
        .find(|t| t.as_str() == v.get_ref().as_str());
    if t.is_none() {
        cx.at(
            v,
            field,
            format!(
                "unknown tier `{}`; expected one of province, city, county, township, village",
                v.get_ref()
            ),
        );
    }
    t
}

fn hall(
    cx: &mut Ctx,
    i: usize,
    h: &RawHall,
    ids: &HashMap<&str, usize>,
    tiers: &[Option<Tier>],
    defaults: &Policy,
    calendars: &[CalendarEntry],
) -> Hall {
    let path = format!("hall[{i}]");
    check_slug(cx, &h.id, &format!("{path}.id"));
    let name = non_empty(cx, &h.name, &format!("{path}.name"));
    let tier = tiers[i].unwrap_or(Tier::Village);

    let parent = h.parent.as_ref().and_then(|p| {
        let field = format!("{path}.parent");
        match ids.get(p.get_ref().as_str()) {
            None => {
                cx.at(p, field, format!("unknown hall `{}`", p.get_ref()));
                None
            }
            Some(&j) if j == i => {
                cx.at(p, field, "a hall cannot be its own parent");
                None
            }
            Some(&j) => {
                if let (Some(pt), Some(ct)) = (tiers[j], tiers[i])
                    && pt >= ct
                {
                    cx.at(
                        p,
                        field,
                        format!(
                            "parent `{}` is a {} hall; a {} hall's parent must be of a higher tier",
                            p.get_ref(),
                            pt.as_str(),
                            ct.as_str()
                        ),
                    );
                }
                Some(j)
            }
        }
    });

    let tz_name = h
        .time_zone
        .as_ref()
        .map_or("Asia/Shanghai", |t| t.get_ref().as_str());
    let time_zone = TimeZone::get(tz_name).unwrap_or_else(|_| {
        if let Some(t) = &h.time_zone {
            cx.at(
                t,
                format!("{path}.time_zone"),
                format!("unknown time zone `{tz_name}`; use an IANA name like Asia/Shanghai"),
            );
        }
        TimeZone::UTC
    });

    let calendar = match &h.calendar {
        None => (!calendars.is_empty()).then_some(0),
        Some(c) => {
            let found = calendars.iter().position(|e| &*e.id == c.get_ref());
            if found.is_none() {
                cx.at(
                    c,
                    format!("{path}.calendar"),
                    format!("unknown calendar `{}`", c.get_ref()),
                );
            }
            found
        }
    };
    let day_starts = h.day_starts.as_ref().map_or(Time::midnight(), |d| {
        clock_time(cx, d, d.get_ref(), &format!("{path}.day_starts"), false)
    });

    let hours = match &h.hours {
        None => OpeningHours::always(),
        Some(raw) => weekly(cx, raw, &format!("{path}.hours")),
    };
    let hours_overrides = hours_overrides(cx, &path, h);
    let market = h
        .market
        .as_ref()
        .and_then(|m| schedule::market(cx, m, &format!("{path}.market")));

    let announcement = match &h.announcement {
        None => Arc::from(Hall::DEFAULT_ANNOUNCEMENT),
        Some(a) => {
            if !a.get_ref().contains("{number}") || !a.get_ref().contains("{window}") {
                cx.at(
                    a,
                    format!("{path}.announcement"),
                    "must contain both {number} and {window}",
                );
            }
            Arc::from(a.get_ref().as_str())
        }
    };

    let policy = match &h.policy {
        Some(p) => policy(cx, defaults, p, &format!("{path}.policy")),
        None => defaults.clone(),
    };

    let services = IdList::new(services(cx, &path, &h.services, h.market.is_some()), |s| {
        &s.id
    });
    let windows = windows(cx, &path, h, &services, &policy);
    for (k, s) in services.iter().enumerate() {
        if !windows.iter().any(|w| w.serves(k)) && !windows.is_empty() {
            cx.at(
                &h.services[k].id,
                format!("{path}.service[{k}]"),
                format!(
                    "service `{}` is served by no window, so its tickets could never be called",
                    s.id
                ),
            );
        }
    }

    Hall {
        id: Arc::from(h.id.get_ref().as_str()),
        name,
        tier,
        parent,
        parent_id: h.parent.as_ref().map(|p| Arc::from(p.get_ref().as_str())),
        time_zone,
        time_zone_name: Arc::from(tz_name),
        calendar,
        working_calendar: calendar.map(|c| calendars[c].calendar.clone()),
        day_starts,
        hours,
        hours_overrides,
        market,
        announcement,
        policy,
        services,
        windows: IdList::new(windows, |w| &w.id),
    }
}

/// A weekly table (`hours.mon = [...]`, `always`, `makeup_day`), the hall's or a service's.
pub(super) fn weekly(cx: &mut Ctx, raw: &crate::config::raw::RawHours, path: &str) -> OpeningHours {
    let mut days: [Vec<(Time, Time)>; 7] = Default::default();
    for (d, (key, list)) in raw.days().into_iter().enumerate() {
        if let Some(list) = list {
            days[d] = day_hours(cx, list, &format!("{path}.{key}"));
        }
    }
    OpeningHours {
        always: raw.always,
        days,
        makeup_day: raw
            .makeup_day
            .as_ref()
            .map(|list| day_hours(cx, list, &format!("{path}.makeup_day"))),
    }
}

/// `HH:MM`; `24:00` is accepted only as the end of an interval.
fn clock_time<T>(cx: &mut Ctx, at: &Spanned<T>, s: &str, field: &str, is_end: bool) -> Time {
    parse_clock(s, is_end).unwrap_or_else(|| {
        cx.at(at, field, format!("`{s}` is not a time of day HH:MM"));
        Time::midnight()
    })
}

/// `[[hall.hours_override]]`: one entry per date, either `closed = true` or `hours`.
fn hours_overrides(
    cx: &mut Ctx,
    path: &str,
    h: &RawHall,
) -> BTreeMap<jiff::civil::Date, DayOverride> {
    let mut out = BTreeMap::new();
    for (k, o) in h.hours_overrides.iter().enumerate() {
        let field = format!("{path}.hours_override[{k}]");
        let date = match o.date.get_ref() {
            toml::value::Datetime {
                date: Some(d),
                time: None,
                offset: None,
            } => jiff::civil::Date::new(d.year as i16, d.month as i8, d.day as i8).ok(),
            _ => None,
        };
        let Some(date) = date else {
            cx.at(
                &o.date,
                format!("{field}.date"),
                format!(
                    "`{}` is not a plain date; expected e.g. 2026-10-08 (no time, no offset)",
                    o.date.get_ref()
                ),
            );
            continue;
        };
        let hours = match (&o.closed, &o.hours) {
            (Some(c), None) if *c.get_ref() => Vec::new(),
            (None | Some(_), Some(list)) if o.closed.as_ref().is_none_or(|c| !c.get_ref()) => {
                if list.get_ref().is_empty() {
                    cx.at(
                        list,
                        format!("{field}.hours"),
                        "list the day's hours, or write `closed = true` for a closed day",
                    );
                    continue;
                }
                day_hours(cx, list.get_ref(), &format!("{field}.hours"))
            }
            (Some(c), Some(_)) => {
                cx.at(
                    c,
                    format!("{field}.closed"),
                    "give either `closed = true` or `hours`, not both",
                );
                continue;
            }
            _ => {
                cx.at(
                    &o.date,
                    format!("{field}.hours"),
                    "an override needs `closed = true` or `hours = [\"HH:MM-HH:MM\", ...]`",
                );
                continue;
            }
        };
        let reason = o.reason.as_ref().and_then(|r| {
            let text = r.get_ref().trim();
            if text.chars().count() > MAX_REASON_CHARS {
                cx.at(
                    r,
                    format!("{field}.reason"),
                    format!("at most {MAX_REASON_CHARS} characters"),
                );
            }
            (!text.is_empty()).then(|| Arc::from(text))
        });
        if out.insert(date, DayOverride { hours, reason }).is_some() {
            cx.at(
                &o.date,
                format!("{field}.date"),
                format!("{date} already has an override in this hall"),
            );
        }
    }
    out
}

fn services(cx: &mut Ctx, hall: &str, raw: &[RawService], has_market: bool) -> Vec<Service> {
    let mut ids = HashSet::new();
    let mut prefixes = HashSet::new();
    raw.iter()
        .enumerate()
        .map(|(k, s)| {
            let path = format!("{hall}.service[{k}]");
            check_slug(cx, &s.id, &format!("{path}.id"));
            if !ids.insert(s.id.get_ref().as_str()) {
                cx.at(
                    &s.id,
                    format!("{path}.id"),
                    format!("duplicate service id `{}`", s.id.get_ref()),
                );
            }
            let prefix = s.prefix.get_ref();
            if !(1..=2).contains(&prefix.len()) || !prefix.bytes().all(|b| b.is_ascii_uppercase()) {
                cx.at(
                    &s.prefix,
                    format!("{path}.prefix"),
                    "must be one or two letters A-Z",
                );
            } else if !prefixes.insert(prefix.as_str()) {
                cx.at(
                    &s.prefix,
                    format!("{path}.prefix"),
                    format!("prefix `{prefix}` is already used by another service of this hall"),
                );
            }
            let first = s.first.as_ref().map_or(1, |v| *v.get_ref());
            let last = s.last.as_ref().map_or(999, |v| *v.get_ref());
            if let Some(l) = &s.last
                && last > 999_999
            {
                cx.at(l, format!("{path}.last"), "numbers have at most 6 digits");
            }
            if first > last {
                let at = s.first.as_ref().or(s.last.as_ref()).map(|v| v.span());
                cx.err(
                    at,
                    format!("{path}.first"),
                    format!("first ({first}) is after last ({last})"),
                );
            }
            let range = last.saturating_sub(first) + 1;
            if let Some(c) = &s.daily_cap
                && (*c.get_ref() == 0 || *c.get_ref() > range)
            {
                cx.at(
                    c,
                    format!("{path}.daily_cap"),
                    format!("must be between 1 and the size of the number range ({range})"),
                );
            }
            let expected = s
                .expected_service_min
                .as_ref()
                .map_or(5.0, |v| *v.get_ref());
            if let Some(v) = &s.expected_service_min
                && !(expected > 0.0 && expected <= 24.0 * 60.0)
            {
                cx.at(
                    v,
                    format!("{path}.expected_service_min"),
                    "must be more than 0 and at most a day",
                );
            }
            Service {
                id: Arc::from(s.id.get_ref().as_str()),
                name: non_empty(cx, &s.name, &format!("{path}.name")),
                prefix: Arc::from(prefix.as_str()),
                first,
                last,
                wrap: s.wrap.unwrap_or(false),
                daily_cap: s.daily_cap.as_ref().map(|c| *c.get_ref()),
                target_wait_s: s
                    .target_wait_min
                    .filter(|&m| m > 0)
                    .map(|m| i64::from(m) * 60),
                expected_service_s: (expected.clamp(0.0, 1440.0) * 60.0).round() as u32,
                digits: last.max(1).to_string().len().max(3),
                hours: s
                    .hours
                    .as_ref()
                    .map(|h| weekly(cx, h, &format!("{path}.hours"))),
                market_only: schedule::market_only(cx, s, has_market, &path),
            }
        })
        .collect()
}

fn windows(
    cx: &mut Ctx,
    hall: &str,
    h: &RawHall,
    services: &IdList<Service>,
    hall_policy: &Policy,
) -> Vec<Window> {
    if h.windows.is_empty() {
        cx.at(
            &h.id,
            format!("{hall}.window"),
            "a hall needs at least one [[hall.window]]",
        );
    }
    let mut ids = HashSet::new();
    h.windows
        .iter()
        .enumerate()
        .map(|(k, w)| {
            window(
                cx,
                &format!("{hall}.window[{k}]"),
                w,
                &mut ids,
                services,
                hall_policy,
            )
        })
        .collect()
}

fn window<'a>(
    cx: &mut Ctx,
    path: &str,
    w: &'a RawWindow,
    ids: &mut HashSet<&'a str>,
    services: &IdList<Service>,
    hall_policy: &Policy,
) -> Window {
    check_slug(cx, &w.id, &format!("{path}.id"));
    if !ids.insert(w.id.get_ref().as_str()) {
        cx.at(
            &w.id,
            format!("{path}.id"),
            format!("duplicate window id `{}`", w.id.get_ref()),
        );
    }
    let kind = match w.kind.as_ref() {
        None => WindowKind::General,
        Some(k) => {
            match k.get_ref().as_str() {
                "general" => WindowKind::General,
                "domain" => WindowKind::Domain,
                "department" => WindowKind::Department,
                other => {
                    cx.at(k, format!("{path}.kind"), format!("unknown window kind `{other}`; expected one of general, domain, department"));
                    WindowKind::General
                }
            }
        }
    };
    if w.services.get_ref().is_empty() {
        cx.at(
            &w.services,
            format!("{path}.services"),
            "a window must serve at least one service",
        );
    }
    let mut list: Vec<WindowService> = Vec::new();
    for (n, s) in w.services.get_ref().iter().enumerate() {
        let field = format!("{path}.services[{n}]");
        let raw = s.get_ref();
        let Some(idx) = services.position(raw.service.as_str()) else {
            let mut known: Vec<&str> = services.ids().collect();
            known.sort_unstable();
            cx.at(
                s,
                field,
                format!(
                    "unknown service `{}`; this hall's services are: {}",
                    raw.service,
                    known.join(", ")
                ),
            );
            continue;
        };
        if list.iter().any(|l| l.service == idx) {
            cx.at(
                s,
                field,
                format!("service `{}` is listed twice", raw.service),
            );
            continue;
        }
        if raw.rank == Some(0) || raw.weight == Some(0) {
            cx.at(s, field, "rank and weight start at 1");
        }
        list.push(WindowService {
            service: idx,
            rank: raw
                .rank
                .unwrap_or_else(|| u8::try_from(n + 1).unwrap_or(u8::MAX)),
            weight: raw.weight,
        });
    }
    // Stable: equal ranks keep the order in which the operator listed them.
    list.sort_by_key(|s| s.rank);
    let posts = w.posts.as_ref().map_or([None, None], |p| {
        [p.a.as_deref().map(Arc::from), p.b.as_deref().map(Arc::from)]
    });
    Window {
        id: Arc::from(w.id.get_ref().as_str()),
        name: non_empty(cx, &w.name, &format!("{path}.name")),
        kind,
        services: list,
        posts,
        policy: match &w.policy {
            Some(p) => policy(cx, hall_policy, p, &format!("{path}.policy")),
            None => hall_policy.clone(),
        },
    }
}
