//! The catalogue: working calendars (read from their files), suspension reasons, alarm
//! ladders and matters with their limits and departments. It resolves a matter's calendar
//! and ladder by id; it never looks at halls, tokens or daemon settings.

use std::collections::HashSet;
use std::sync::Arc;

use toml::Spanned;

use super::{Ctx, Files, check_slug, non_empty};
use crate::calendar::{Calendar, Limit, SuspensionMode};
use crate::config::raw::{RawAlarmPolicy, RawCalendarRef, RawMatter, RawSuspension};
use crate::model::{
    AlarmLevel, AlarmPolicy, CalendarEntry, CaseKind, Department, Matter, SuspensionReason,
    Threshold,
};

/// Calendar files the demo config names, built into the binary.
const EMBEDDED_CALENDARS: &[(&str, &str)] = &[(
    "calendars/cn-mainland.toml",
    include_str!("../../../config/calendars/cn-mainland.toml"),
)];

pub(super) fn calendars(cx: &mut Ctx, raw: &[RawCalendarRef], files: &Files) -> Vec<CalendarEntry> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, r) in raw.iter().enumerate() {
        let path = format!("calendar[{i}]");
        check_slug(cx, &r.id, &format!("{path}.id"));
        if !seen.insert(r.id.get_ref().as_str()) {
            cx.at(
                &r.id,
                format!("{path}.id"),
                format!("duplicate calendar id `{}`", r.id.get_ref()),
            );
            continue;
        }
        let name = r.file.get_ref();
        let (label, text) = match files {
            Files::Embedded => match EMBEDDED_CALENDARS.iter().find(|(f, _)| f == name) {
                Some((f, t)) => ((*f).to_owned(), (*t).to_owned()),
                None => {
                    cx.at(
                        &r.file,
                        format!("{path}.file"),
                        format!("no embedded calendar `{name}`"),
                    );
                    continue;
                }
            },
            Files::Dir(dir) => {
                let full = dir.join(name);
                match std::fs::read_to_string(&full) {
                    Ok(t) => (full.display().to_string(), t),
                    Err(e) => {
                        cx.at(
                            &r.file,
                            format!("{path}.file"),
                            format!("cannot read {}: {e}", full.display()),
                        );
                        continue;
                    }
                }
            }
        };
        match Calendar::from_toml(&label, &text) {
            Ok(c) if c.id() != r.id.get_ref() => cx.at(
                &r.id,
                format!("{path}.id"),
                format!("{label} is calendar `{}`, not `{}`", c.id(), r.id.get_ref()),
            ),
            Ok(c) => out.push(CalendarEntry {
                id: Arc::from(r.id.get_ref().as_str()),
                file: name.clone(),
                calendar: Arc::new(c),
            }),
            Err(errors) => cx.errors.extend(errors.0),
        }
    }
    out
}

pub(super) fn suspensions(cx: &mut Ctx, raw: &[RawSuspension]) -> Vec<SuspensionReason> {
    if raw.is_empty() {
        return SuspensionReason::defaults();
    }
    let mut seen = HashSet::new();
    raw.iter()
        .enumerate()
        .map(|(i, r)| {
            let path = format!("suspension[{i}]");
            check_slug(cx, &r.id, &format!("{path}.id"));
            if !seen.insert(r.id.get_ref().as_str()) {
                cx.at(
                    &r.id,
                    format!("{path}.id"),
                    format!("duplicate suspension reason `{}`", r.id.get_ref()),
                );
            }
            let mode = match r.mode.get_ref().as_str() {
                "pause" => SuspensionMode::Pause,
                "restart" => SuspensionMode::Restart,
                other => {
                    cx.at(
                        &r.mode,
                        format!("{path}.mode"),
                        format!("unknown mode `{other}`; expected pause or restart"),
                    );
                    SuspensionMode::Pause
                }
            };
            SuspensionReason {
                id: Arc::from(r.id.get_ref().as_str()),
                name: non_empty(cx, &r.name, &format!("{path}.name")),
                mode,
            }
        })
        .collect()
}

pub(super) fn alarm_policies(cx: &mut Ctx, raw: &[RawAlarmPolicy]) -> Vec<AlarmPolicy> {
    if raw.is_empty() {
        return vec![AlarmPolicy::standard()];
    }
    let mut seen = HashSet::new();
    raw.iter()
        .enumerate()
        .map(|(i, r)| {
            let path = format!("alarm_policy[{i}]");
            check_slug(cx, &r.id, &format!("{path}.id"));
            if !seen.insert(r.id.get_ref().as_str()) {
                cx.at(
                    &r.id,
                    format!("{path}.id"),
                    format!("duplicate alarm policy `{}`", r.id.get_ref()),
                );
            }
            let levels = r.levels.get_ref();
            if levels.is_empty() || levels.len() > AlarmPolicy::MAX_LEVELS {
                cx.at(
                    &r.levels,
                    format!("{path}.levels"),
                    format!("a ladder has 1 to {} levels", AlarmPolicy::MAX_LEVELS),
                );
            }
            let mut names = HashSet::new();
            let levels = levels
                .iter()
                .enumerate()
                .filter_map(|(k, l)| {
                    let field = format!("{path}.levels[{k}]");
                    let l_ref = l.get_ref();
                    check_slug(cx, &l_ref.level, &format!("{field}.level"));
                    if !names.insert(l_ref.level.get_ref().as_str()) {
                        cx.at(
                            &l_ref.level,
                            format!("{field}.level"),
                            "a level appears twice in this ladder",
                        );
                    }
                    let threshold = match (&l_ref.remaining, &l_ref.overdue, &l_ref.elapsed_percent)
                    {
                        (Some(t), None, None) => Threshold::Remaining(working_limit(
                            cx,
                            t,
                            &format!("{field}.remaining"),
                        )?),
                        (None, Some(t), None) => {
                            Threshold::Overdue(working_limit(cx, t, &format!("{field}.overdue"))?)
                        }
                        (None, None, Some(p)) if (1..=1000).contains(p.get_ref()) => {
                            Threshold::ElapsedPercent(*p.get_ref())
                        }
                        (None, None, Some(p)) => {
                            cx.at(
                                p,
                                format!("{field}.elapsed_percent"),
                                "must be between 1 and 1000",
                            );
                            return None;
                        }
                        _ => {
                            cx.at(
                                l,
                                field,
                                "give exactly one of remaining, overdue or elapsed_percent",
                            );
                            return None;
                        }
                    };
                    Some(AlarmLevel {
                        name: Arc::from(l_ref.level.get_ref().as_str()),
                        threshold,
                    })
                })
                .collect();
            AlarmPolicy {
                id: Arc::from(r.id.get_ref().as_str()),
                levels,
            }
        })
        .collect()
}

fn parse_limit(cx: &mut Ctx, v: &Spanned<String>, field: &str) -> Option<Limit> {
    match v.get_ref().parse::<Limit>() {
        Ok(l) => Some(l),
        Err(e) => {
            cx.at(v, field, e.to_string());
            None
        }
    }
}

/// Thresholds count working time: working days or working hours, not natural days.
fn working_limit(cx: &mut Ctx, v: &Spanned<String>, field: &str) -> Option<Limit> {
    match parse_limit(cx, v, field)? {
        Limit::NaturalDays(_) => {
            cx.at(
                v,
                field,
                "alarm thresholds count working time: use wd, wh, wm or ws",
            );
            None
        }
        l => Some(l),
    }
}

/// Matter codes (事项编码) are letters, digits, '.', '-' and '_'.
fn check_code(cx: &mut Ctx, v: &Spanned<String>, field: &str) {
    let s = v.get_ref();
    if s.is_empty()
        || s.len() > 64
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        cx.at(
            v,
            field,
            format!("`{s}` is not a valid code: use 1-64 letters, digits, '.', '-' or '_'"),
        );
    }
}

pub(super) fn matters(
    cx: &mut Ctx,
    raw: &[RawMatter],
    calendars: &[CalendarEntry],
    policies: &[AlarmPolicy],
    complaint_limit: Limit,
) -> Vec<Matter> {
    let mut seen = HashSet::new();
    let default_policy = policies
        .iter()
        .position(|p| &*p.id == AlarmPolicy::STANDARD)
        .unwrap_or(0);
    let mut out: Vec<Matter> = raw
        .iter()
        .enumerate()
        .filter_map(|(i, m)| {
            let path = format!("matter[{i}]");
            check_code(cx, &m.id, &format!("{path}.id"));
            if !seen.insert(m.id.get_ref().as_str()) || [Matter::RECTIFICATION, Matter::COMPLAINT].contains(&m.id.get_ref().as_str()) {
                cx.at(&m.id, format!("{path}.id"), format!("duplicate matter id `{}`", m.id.get_ref()));
            }
            let name = non_empty(cx, &m.name, &format!("{path}.name"));
            let kind = match m.kind.get_ref().as_str() {
                "instant" => CaseKind::Instant,
                "promised" => CaseKind::Promised,
                "joint" => CaseKind::Joint,
                "escalated" => CaseKind::Escalated,
                other => {
                    cx.at(&m.kind, format!("{path}.kind"), format!("unknown kind `{other}`; expected instant, promised, joint or escalated"));
                    return None;
                }
            };
            let calendar = match &m.calendar {
                None if calendars.is_empty() => {
                    cx.at(&m.id, format!("{path}.calendar"), "no [[calendar]] is configured, so this matter's deadlines cannot be counted");
                    None
                }
                None => None,
                Some(c) => match calendars.iter().position(|e| &*e.id == c.get_ref()) {
                    Some(k) => Some(k),
                    None => {
                        cx.at(c, format!("{path}.calendar"), format!("unknown calendar `{}`", c.get_ref()));
                        None
                    }
                },
            };
            let policy = match &m.alarm_policy {
                None => default_policy,
                Some(p) => policies.iter().position(|x| &*x.id == p.get_ref()).unwrap_or_else(|| {
                    cx.at(p, format!("{path}.alarm_policy"), format!("unknown alarm policy `{}`", p.get_ref()));
                    default_policy
                }),
            };
            let limit_of = |cx: &mut Ctx, v: &Option<Spanned<String>>, key: &str| match v {
                Some(v) => parse_limit(cx, v, &format!("{path}.{key}")),
                None => {
                    cx.at(&m.kind, format!("{path}.{key}"), format!("a {} matter needs `{key}`", kind.as_str()));
                    None
                }
            };
            let limit = match kind {
                CaseKind::Instant => match &m.limit {
                    None => Some(Limit::WorkingDays(0)),
                    Some(v) => parse_limit(cx, v, &format!("{path}.limit")).filter(|l| {
                        let ok = l.amount() == 0;
                        if !ok {
                            cx.at(v, format!("{path}.limit"), "an instant matter (即办件) is due the day it is accepted: 0wd");
                        }
                        ok
                    }),
                },
                _ => limit_of(cx, &m.limit, "limit"),
            }?;
            let stage_limit = match kind {
                CaseKind::Escalated => Some(limit_of(cx, &m.stage_limit, "stage_limit")?),
                _ => None,
            };
            let max_extension = m.max_extension.as_ref().and_then(|v| {
                let field = format!("{path}.max_extension");
                let max = parse_limit(cx, v, &field)?;
                if std::mem::discriminant(&max) != std::mem::discriminant(&limit) {
                    cx.at(v, field, format!("extensions count in the limit's unit ({limit}), so the maximum must too"));
                    return None;
                }
                Some(max)
            });
            let departments = match (kind, &m.departments) {
                (CaseKind::Joint, Some(list)) if !list.is_empty() => {
                    let mut ids = HashSet::new();
                    list.iter()
                        .enumerate()
                        .filter_map(|(k, d)| {
                            let field = format!("{path}.departments[{k}]");
                            check_slug(cx, &d.id, &format!("{field}.id"));
                            if !ids.insert(d.id.get_ref().as_str()) {
                                cx.at(&d.id, format!("{field}.id"), "a department appears twice");
                            }
                            Some(Department {
                                id: Arc::from(d.id.get_ref().as_str()),
                                name: non_empty(cx, &d.name, &format!("{field}.name")),
                                limit: parse_limit(cx, &d.limit, &format!("{field}.limit"))?,
                            })
                        })
                        .collect()
                }
                (CaseKind::Joint, _) => {
                    cx.at(&m.kind, format!("{path}.departments"), "a joint matter (联办件) lists its co-handling departments");
                    Vec::new()
                }
                (_, Some(_)) => {
                    cx.at(&m.kind, format!("{path}.departments"), "only joint matters have departments");
                    Vec::new()
                }
                (_, None) => Vec::new(),
            };
            let acceptance_limit = m.acceptance_limit.as_ref().and_then(|v| parse_limit(cx, v, &format!("{path}.acceptance_limit")));
            let delivery_limit = m.delivery_limit.as_ref().and_then(|v| parse_limit(cx, v, &format!("{path}.delivery_limit")));
            Some(Matter { id: Arc::from(m.id.get_ref().as_str()), name, kind, limit, calendar, policy, departments, stage_limit, max_extension, acceptance_limit, delivery_limit })
        })
        .collect();
    // The written enquiry is an ordinary matter (cases of it are accepted through the API);
    // the two only the daemon opens come last, where `Catalogue::complaint_matter` and
    // `rectification_matter` find them.
    if !out.iter().any(|m| &*m.id == Matter::ENQUIRY) {
        out.push(Matter::enquiry(default_policy));
    }
    out.push(Matter::complaint(default_policy, complaint_limit));
    out.push(Matter::rectification(default_policy));
    out
}
