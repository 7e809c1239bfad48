//! Raw config → validated `Config`. Every problem is collected (not just the first) with its
//! position, so an operator fixes a file in one pass.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use jiff::civil::Time;
use jiff::tz::TimeZone;
use toml::Spanned;

use super::raw::{RawConfig, RawHall, RawPolicy, RawService, RawToken, RawWindow};
use super::*;
use crate::diag;

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

pub(super) fn load(file: &str, src: &str, demo: bool) -> Result<Config, SourceErrors> {
    let raw: RawConfig =
        toml::from_str(src).map_err(|e| SourceErrors::from(diag::from_toml(file, src, &e)))?;
    let mut cx = Ctx {
        file,
        src,
        errors: Vec::new(),
    };
    let server = server(&mut cx, &raw);
    let store = store(&mut cx, &raw);
    let defaults = policy(&mut cx, &Policy::default(), &raw.policy, "policy");
    let halls = halls(&mut cx, &raw, &defaults);
    let hall_index: HashMap<Arc<str>, usize> = halls
        .iter()
        .enumerate()
        .map(|(i, h)| (h.id.clone(), i))
        .collect();
    let tokens = tokens(&mut cx, &raw.tokens, &hall_index, demo);
    if !cx.errors.is_empty() {
        return Err(SourceErrors(cx.errors));
    }
    Ok(Config {
        source: file.to_owned(),
        demo,
        server,
        store,
        halls: halls.into_iter().map(Arc::new).collect(),
        tokens,
        hall_index,
    })
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
    }
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

fn halls(cx: &mut Ctx, raw: &RawConfig, defaults: &Policy) -> Vec<HallConfig> {
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
        .map(|(i, h)| hall(cx, i, h, &seen, &tiers, defaults))
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

    let day_starts = h.day_starts.as_ref().map_or(Time::midnight(), |d| {
        clock_time(cx, d, d.get_ref(), &format!("{path}.day_starts"), false)
    });

    let hours = match &h.hours {
        None => OpeningHours::always(),
        Some(raw) => {
            let mut days: [Vec<(Time, Time)>; 7] = Default::default();
            for (d, (key, list)) in raw.days().into_iter().enumerate() {
                for (k, iv) in list.into_iter().flatten().enumerate() {
                    let field = format!("{path}.hours.{key}[{k}]");
                    if let Some(pair) = interval(cx, iv, &field) {
                        if days[d].last().is_some_and(|&(_, end)| end > pair.0) {
                            cx.at(iv, field, "intervals must be in order and not overlap");
                        }
                        days[d].push(pair);
                    }
                }
            }
            OpeningHours {
                always: raw.always,
                days,
            }
        }
    };

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
        day_starts,
        hours,
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
    let parsed = s.split_once(':').and_then(|(h, m)| {
        let (h, m): (i8, i8) = (h.trim().parse().ok()?, m.trim().parse().ok()?);
        match (h, m) {
            (24, 0) if is_end => Some(Time::MAX),
            (0..=23, 0..=59) => Time::new(h, m, 0, 0).ok(),
            _ => None,
        }
    });
    parsed.unwrap_or_else(|| {
        cx.at(at, field, format!("`{s}` is not a time of day HH:MM"));
        Time::midnight()
    })
}

fn interval(cx: &mut Ctx, v: &Spanned<String>, field: &str) -> Option<(Time, Time)> {
    let Some((a, b)) = v.get_ref().split_once('-') else {
        cx.at(
            v,
            field,
            format!("`{}` is not an interval HH:MM-HH:MM", v.get_ref()),
        );
        return None;
    };
    let before = cx.errors.len();
    let (from, to) = (
        clock_time(cx, v, a, field, false),
        clock_time(cx, v, b, field, true),
    );
    if cx.errors.len() > before {
        return None;
    }
    if from >= to {
        cx.at(v, field, "the interval ends before it starts");
        return None;
    }
    Some((from, to))
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
