//! Raw config → validated `Config`. Every problem is collected (not just the first) with its
//! position, so an operator fixes a file in one pass.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use jiff::civil::Time;
use jiff::tz::TimeZone;
use toml::Spanned;

use super::raw::{
    RawAlarmPolicy, RawCalendarRef, RawConfig, RawHall, RawMatter, RawPolicy, RawService,
    RawSuspension, RawToken, RawWindow,
};
use super::*;
use crate::calendar::{Calendar, Limit, SuspensionMode};
use crate::diag;

mod officers;

struct Ctx<'a> {
    file: &'a str,
    src: &'a str,
    errors: Vec<SourceError>,
}

impl Ctx<'_> {
    fn err(
        &mut self,
        span: Option<Range<usize>>,
        field: impl Into<String>,
        msg: impl Into<String>,
    ) {
        self.errors
            .push(SourceError::at(self.file, self.src, span, field, msg));
    }

    fn at<T>(&mut self, v: &Spanned<T>, field: impl Into<String>, msg: impl Into<String>) {
        self.err(Some(v.span()), field, msg);
    }
}

/// Where `[[calendar]] file = ...` paths are read from.
pub(super) enum Files<'a> {
    /// Relative to this directory (the config file's).
    Dir(&'a std::path::Path),
    /// The calendars built into the binary, for the demo config.
    Embedded,
}

/// Calendar files the demo config names, built into the binary.
const EMBEDDED_CALENDARS: &[(&str, &str)] = &[(
    "calendars/cn-mainland.toml",
    include_str!("../../config/calendars/cn-mainland.toml"),
)];

pub(super) fn load(
    file: &str,
    src: &str,
    demo: bool,
    files: Files,
) -> Result<Config, SourceErrors> {
    let raw: RawConfig =
        toml::from_str(src).map_err(|e| SourceErrors::from(diag::from_toml(file, src, &e)))?;
    let mut cx = Ctx {
        file,
        src,
        errors: Vec::new(),
    };
    let server = server(&mut cx, &raw);
    let store = store(&mut cx, &raw);
    let metric_labels = match &raw.metrics.labels {
        None => crate::metrics::LabelMode::Hall,
        Some(l) => match l.get_ref().as_str() {
            "hall" => crate::metrics::LabelMode::Hall,
            "tier" => crate::metrics::LabelMode::Tier,
            other => {
                cx.at(
                    l,
                    "metrics.labels",
                    format!("unknown label mode `{other}`; expected hall or tier"),
                );
                crate::metrics::LabelMode::Hall
            }
        },
    };
    let defaults = policy(&mut cx, &Policy::default(), &raw.policy, "policy");
    let calendars = calendars(&mut cx, &raw.calendars, &files);
    let suspension_reasons = suspensions(&mut cx, &raw.suspensions);
    let alarm_policies = alarm_policies(&mut cx, &raw.alarm_policies);
    let matters = matters(&mut cx, &raw.matters, &calendars, &alarm_policies);
    let matter_index = matters
        .iter()
        .enumerate()
        .map(|(i, m)| (m.id.clone(), i))
        .collect();
    let halls = halls(&mut cx, &raw, &defaults, &calendars);
    let hall_index: HashMap<Arc<str>, usize> = halls
        .iter()
        .enumerate()
        .map(|(i, h)| (h.id.clone(), i))
        .collect();
    let tokens = tokens(&mut cx, &raw.tokens, &hall_index, demo);
    let officers = officers::officers(&mut cx, &raw.officers, &files);
    let mut halls = halls;
    officers::name_posts(&mut halls, &officers);
    let rating = officers::rating(&mut cx, &raw.rating);
    if !cx.errors.is_empty() {
        return Err(SourceErrors(cx.errors));
    }
    Ok(Config {
        source: file.to_owned(),
        demo,
        server,
        store,
        metric_labels,
        halls: halls.into_iter().map(Arc::new).collect(),
        tokens,
        calendars,
        suspension_reasons,
        alarm_policies,
        matters: matters.into_iter().map(Arc::new).collect(),
        hall_index,
        matter_index,
        officers,
        rating,
    })
}

fn calendars(cx: &mut Ctx, raw: &[RawCalendarRef], files: &Files) -> Vec<CalendarEntry> {
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

/// The reasons every hall knows when the config lists none: 补正 restarts the clock
/// (Administrative Licensing Law), special procedures pause it.
const DEFAULT_SUSPENSIONS: &[(&str, &str, SuspensionMode)] = &[
    ("supplement", "补正材料", SuspensionMode::Restart),
    ("hearing", "听证", SuspensionMode::Pause),
    ("inspection", "检验检测", SuspensionMode::Pause),
    ("appraisal", "鉴定", SuspensionMode::Pause),
    ("expert-review", "专家评审", SuspensionMode::Pause),
    ("special", "其他特别程序", SuspensionMode::Pause),
];

fn suspensions(cx: &mut Ctx, raw: &[RawSuspension]) -> Vec<SuspensionReason> {
    if raw.is_empty() {
        return DEFAULT_SUSPENSIONS
            .iter()
            .map(|&(id, name, mode)| SuspensionReason {
                id: Arc::from(id),
                name: Arc::from(name),
                mode,
            })
            .collect();
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

/// The ladder used when the config defines none: yellow card with one working day left, red
/// card at the deadline, escalation (督办) two working days overdue.
fn standard_policy() -> AlarmPolicy {
    let level = |name: &str, threshold| AlarmLevel {
        name: Arc::from(name),
        threshold,
    };
    AlarmPolicy {
        id: Arc::from("standard"),
        levels: vec![
            level("yellow", Threshold::Remaining(Limit::WorkingDays(1))),
            level("red", Threshold::Remaining(Limit::WorkingDays(0))),
            level("escalate", Threshold::Overdue(Limit::WorkingDays(2))),
        ],
    }
}

/// Levels per ladder: fired levels are a bitmask of a case.
const MAX_LEVELS: usize = 8;

fn alarm_policies(cx: &mut Ctx, raw: &[RawAlarmPolicy]) -> Vec<AlarmPolicy> {
    if raw.is_empty() {
        return vec![standard_policy()];
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
            if levels.is_empty() || levels.len() > MAX_LEVELS {
                cx.at(
                    &r.levels,
                    format!("{path}.levels"),
                    format!("a ladder has 1 to {MAX_LEVELS} levels"),
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

fn matters(
    cx: &mut Ctx,
    raw: &[RawMatter],
    calendars: &[CalendarEntry],
    policies: &[AlarmPolicy],
) -> Vec<Matter> {
    let mut seen = HashSet::new();
    let default_policy = policies
        .iter()
        .position(|p| &*p.id == "standard")
        .unwrap_or(0);
    let mut out: Vec<Matter> = raw
        .iter()
        .enumerate()
        .filter_map(|(i, m)| {
            let path = format!("matter[{i}]");
            check_code(cx, &m.id, &format!("{path}.id"));
            if !seen.insert(m.id.get_ref().as_str()) || m.id.get_ref() == "rectification" {
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
            Some(Matter { id: Arc::from(m.id.get_ref().as_str()), name, kind, limit, calendar, policy, departments, stage_limit, max_extension })
        })
        .collect();
    out.push(Matter {
        id: Arc::from("rectification"),
        name: Arc::from("差评整改"),
        kind: CaseKind::Promised,
        limit: Limit::WorkingDays(1),
        calendar: None,
        policy: default_policy,
        departments: Vec::new(),
        stage_limit: None,
        max_extension: None,
    });
    out
}

fn server(cx: &mut Ctx, raw: &RawConfig) -> ServerConfig {
    let r = &raw.server;
    let listen = match &r.listen {
        None => SocketAddr::from(([127, 0, 0, 1], 8080)),
        Some(l) => l.get_ref().parse().unwrap_or_else(|_| {
            cx.at(
                l,
                "server.listen",
                format!(
                    "`{}` is not an address:port like 127.0.0.1:8080",
                    l.get_ref()
                ),
            );
            SocketAddr::from(([127, 0, 0, 1], 8080))
        }),
    };
    ServerConfig {
        listen,
        data: PathBuf::from(r.data.as_deref().unwrap_or("./data")),
        body_limit: bounded(
            cx,
            &r.body_limit_kib,
            "server.body_limit_kib",
            1,
            10_240,
            64,
        ) as usize
            * 1024,
        queue_depth: bounded(
            cx,
            &r.queue_depth,
            "server.queue_depth",
            16,
            1 << 20,
            65_536,
        ) as usize,
        shutdown_grace_s: u64::from(r.shutdown_grace_s.unwrap_or(10)),
        sse_keepalive_s: u64::from(bounded(
            cx,
            &r.sse_keepalive_s,
            "server.sse_keepalive_s",
            1,
            300,
            15,
        )),
        sse_buffer: bounded(cx, &r.sse_buffer, "server.sse_buffer", 16, 1 << 20, 4096) as usize,
        max_subscribers: bounded(
            cx,
            &r.max_subscribers,
            "server.max_subscribers",
            1,
            1 << 20,
            20_000,
        ) as usize,
        header_timeout_s: secs(cx, &r.header_timeout_s, "server.header_timeout_s", 10),
        body_timeout_s: secs(cx, &r.body_timeout_s, "server.body_timeout_s", 10),
        idle_timeout_s: secs(cx, &r.idle_timeout_s, "server.idle_timeout_s", 75),
        write_timeout_s: secs(cx, &r.write_timeout_s, "server.write_timeout_s", 30),
        max_connections: bounded(cx, &r.max_connections, "server.max_connections", 0, 1 << 24, 0)
            as usize,
        reserved_connections: reserved(cx, r),
        max_connections_per_address: bounded(
            cx,
            &r.max_connections_per_address,
            "server.max_connections_per_address",
            0,
            1 << 24,
            512,
        ) as usize,
        limit_loopback: r.limit_loopback.unwrap_or(false),
        sse_max_lag_events: bounded(
            cx,
            &r.sse_max_lag_events,
            "server.sse_max_lag_events",
            1,
            1 << 20,
            1024,
        ) as usize,
        sse_max_lag_s: secs(cx, &r.sse_max_lag_s, "server.sse_max_lag_s", 15),
        max_streams_per_link: bounded(
            cx,
            &r.max_streams_per_link,
            "server.max_streams_per_link",
            1,
            1000,
            3,
        ) as usize,
        metrics_token_sha256: r.metrics_token_sha256.as_ref().and_then(|h| {
            let parsed = parse_hash(h.get_ref());
            if parsed.is_none() {
                cx.at(
                    h,
                    "server.metrics_token_sha256",
                    "must be 64 hex digits: the SHA-256 of the scrape token (`hallq token` prints one)",
                );
            }
            parsed
        }),
    }
}

/// A timeout in seconds: 1 s to an hour.
fn secs(cx: &mut Ctx, v: &Option<Spanned<u32>>, field: &str, def: u32) -> u64 {
    u64::from(bounded(cx, v, field, 1, 3600, def))
}

/// The reserve must leave room for ordinary connections under an explicit cap.
fn reserved(cx: &mut Ctx, r: &super::raw::RawServer) -> usize {
    let n = bounded(
        cx,
        &r.reserved_connections,
        "server.reserved_connections",
        0,
        1 << 20,
        64,
    );
    if let (Some(v), Some(max)) = (&r.reserved_connections, &r.max_connections)
        && *max.get_ref() > 0
        && n >= *max.get_ref()
    {
        cx.at(
            v,
            "server.reserved_connections",
            format!("must be below server.max_connections ({})", max.get_ref()),
        );
    }
    n as usize
}

fn store(cx: &mut Ctx, raw: &RawConfig) -> StoreConfig {
    let r = &raw.store;
    let retention = match &r.event_retention {
        Some(v) if *v.get_ref() < 100 => {
            cx.at(v, "store.event_retention", "must be at least 100 events");
            100
        }
        Some(v) => *v.get_ref(),
        None => 100_000,
    };
    let retry_min = bounded(cx, &r.retry_min_ms, "store.retry_min_ms", 10, 60_000, 500);
    let mut retry_max = bounded(
        cx,
        &r.retry_max_ms,
        "store.retry_max_ms",
        10,
        3_600_000,
        30_000,
    );
    if let Some(v) = &r.retry_max_ms
        && retry_max < retry_min
    {
        cx.at(
            v,
            "store.retry_max_ms",
            format!("must be at least store.retry_min_ms ({retry_min})"),
        );
        retry_max = retry_min;
    }
    StoreConfig {
        event_retention: retention,
        max_batch: bounded(cx, &r.max_batch, "store.max_batch", 1, 1 << 16, 4096) as usize,
        idempotency_ttl_s: u64::from(bounded(
            cx,
            &r.idempotency_ttl_h,
            "store.idempotency_ttl_h",
            1,
            24 * 30,
            24,
        )) * 3600,
        quick_repair: r.quick_repair.unwrap_or(true),
        cache_bytes: (bounded(cx, &r.cache_mb, "store.cache_mb", 8, 1 << 20, 64) as usize) << 20,
        retry_min_ms: u64::from(retry_min),
        retry_max_ms: u64::from(retry_max),
    }
}

fn bounded(cx: &mut Ctx, v: &Option<Spanned<u32>>, field: &str, lo: u32, hi: u32, def: u32) -> u32 {
    match v {
        None => def,
        Some(s) if (lo..=hi).contains(s.get_ref()) => *s.get_ref(),
        Some(s) => {
            cx.at(s, field, format!("must be between {lo} and {hi}"));
            def
        }
    }
}

fn policy(cx: &mut Ctx, base: &Policy, raw: &RawPolicy, path: &str) -> Policy {
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

/// Ids are slugs so they can appear in URLs and stream names unescaped.
fn check_slug(cx: &mut Ctx, v: &Spanned<String>, field: &str) {
    let s = v.get_ref();
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-');
    if !ok {
        cx.at(
            v,
            field,
            format!(
                "`{s}` is not a valid id: use 1-64 characters a-z, 0-9 and '-', not starting with '-'"
            ),
        );
    }
}

fn non_empty(cx: &mut Ctx, v: &Spanned<String>, field: &str) -> Arc<str> {
    if v.get_ref().trim().is_empty() {
        cx.at(v, field, "must not be empty");
    }
    Arc::from(v.get_ref().as_str())
}

fn halls(
    cx: &mut Ctx,
    raw: &RawConfig,
    defaults: &Policy,
    calendars: &[CalendarEntry],
) -> Vec<HallConfig> {
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
) -> HallConfig {
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
        Some(raw) => {
            let mut days: [Vec<(Time, Time)>; 7] = Default::default();
            for (d, (key, list)) in raw.days().into_iter().enumerate() {
                if let Some(list) = list {
                    days[d] = day_hours(cx, list, &format!("{path}.hours.{key}"));
                }
            }
            OpeningHours {
                always: raw.always,
                days,
                makeup_day: raw
                    .makeup_day
                    .as_ref()
                    .map(|list| day_hours(cx, list, &format!("{path}.hours.makeup_day"))),
            }
        }
    };
    let hours_overrides = hours_overrides(cx, &path, h);

    let announcement = match &h.announcement {
        None => Arc::from("请{number}号到{window}办理"),
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

    let services = services(cx, &path, &h.services);
    let service_index: HashMap<Arc<str>, usize> = services
        .iter()
        .enumerate()
        .map(|(k, s)| (s.id.clone(), k))
        .collect();
    let windows = windows(cx, &path, h, &service_index, &policy);
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
    let window_index = windows
        .iter()
        .enumerate()
        .map(|(k, w)| (w.id.clone(), k))
        .collect();

    HallConfig {
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
        announcement,
        policy,
        services,
        windows,
        service_index,
        window_index,
    }
}

/// `HH:MM`; `24:00` is accepted only as the end of an interval.
fn clock_time<T>(cx: &mut Ctx, at: &Spanned<T>, s: &str, field: &str, is_end: bool) -> Time {
    parse_clock(s, is_end).unwrap_or_else(|| {
        cx.at(at, field, format!("`{s}` is not a time of day HH:MM"));
        Time::midnight()
    })
}

/// A day's `HH:MM-HH:MM` intervals, each checked where it is written: valid, in order, not
/// overlapping. Bad ones are reported and left out.
fn day_hours(cx: &mut Ctx, list: &[Spanned<String>], field: &str) -> Vec<(Time, Time)> {
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

fn services(cx: &mut Ctx, hall: &str, raw: &[RawService]) -> Vec<ServiceConfig> {
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
            ServiceConfig {
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
            }
        })
        .collect()
}

fn windows(
    cx: &mut Ctx,
    hall: &str,
    h: &RawHall,
    services: &HashMap<Arc<str>, usize>,
    hall_policy: &Policy,
) -> Vec<WindowConfig> {
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
    services: &HashMap<Arc<str>, usize>,
    hall_policy: &Policy,
) -> WindowConfig {
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
        let Some(&idx) = services.get(raw.service.as_str()) else {
            let mut known: Vec<&str> = services.keys().map(|k| &**k).collect();
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
    WindowConfig {
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

fn tokens(
    cx: &mut Ctx,
    raw: &[RawToken],
    halls: &HashMap<Arc<str>, usize>,
    demo: bool,
) -> Vec<TokenConfig> {
    let demo_hashes: Vec<[u8; 32]> = DEMO_TOKENS.iter().map(|t| token_hash(t)).collect();
    let mut names = HashSet::new();
    let mut hashes = HashSet::new();
    raw.iter()
        .enumerate()
        .map(|(i, t)| {
            let path = format!("token[{i}]");
            let name = non_empty(cx, &t.name, &format!("{path}.name"));
            if !names.insert(t.name.get_ref().as_str()) {
                cx.at(&t.name, format!("{path}.name"), format!("duplicate token name `{}`", t.name.get_ref()));
            }
            let role = Role::ALL.into_iter().find(|r| r.as_str() == t.role.get_ref().as_str());
            if role.is_none() {
                cx.at(&t.role, format!("{path}.role"), format!("unknown role `{}`; expected one of kiosk, counter, display, case-officer, supervisor, admin", t.role.get_ref()));
            }
            let list = t.halls.get_ref();
            let scope = if list.len() == 1 && list[0].get_ref() == "*" {
                None
            } else {
                if list.is_empty() {
                    cx.at(&t.halls, format!("{path}.halls"), "list the halls (subtree roots) this token covers, or [\"*\"] for all");
                }
                Some(list.iter().enumerate().filter_map(|(k, h)| {
                    let found = halls.get(h.get_ref().as_str()).copied();
                    if found.is_none() {
                        cx.at(h, format!("{path}.halls[{k}]"), format!("unknown hall `{}`", h.get_ref()));
                    }
                    found
                }).collect())
            };
            let sha256 = parse_hash(t.sha256.get_ref()).unwrap_or_else(|| {
                cx.at(&t.sha256, format!("{path}.sha256"), "must be 64 hex digits: the SHA-256 of the token (`hallq token` prints one)");
                [0; 32]
            });
            if !demo && demo_hashes.contains(&sha256) {
                cx.at(&t.sha256, format!("{path}.sha256"), "this is the hash of a public demo token; demo tokens are accepted only by the embedded demo config");
            }
            if !hashes.insert(sha256) {
                cx.at(&t.sha256, format!("{path}.sha256"), "two tokens have the same hash");
            }
            TokenConfig { name, role: role.unwrap_or(Role::Display), halls: scope, sha256 }
        })
        .collect()
}

fn parse_hash(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (k, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(s.get(2 * k..2 * k + 2)?, 16).ok()?;
    }
    Some(out)
}
