//! Daemon settings: `[server]` (listener, limits, timeouts), `[store]` (retention, batching,
//! retries), `[metrics]` (label mode) and `[[token]]` (roles, hall scopes, hashes). None of
//! it reaches the model; it never validates halls or the catalogue.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;

use toml::Spanned;

use super::{Ctx, non_empty};
use crate::config::raw::{RawConfig, RawServer, RawToken};
use crate::config::{
    DEMO_TOKENS, LabelMode, Role, ServerConfig, StoreConfig, TokenConfig, token_hash,
};
use crate::model::CaseCatalogue;

pub(super) fn server(cx: &mut Ctx, raw: &RawConfig) -> ServerConfig {
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
        shards: bounded(cx, &r.shards, "server.shards", 0, 1024, 0) as usize,
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
        sse_coalesce_ms: u64::from(bounded(
            cx,
            &r.sse_coalesce_ms,
            "server.sse_coalesce_ms",
            0,
            500,
            SSE_COALESCE_MS,
        )),
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
fn reserved(cx: &mut Ctx, r: &RawServer) -> usize {
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

/// `[metrics] labels`: whether series carry the hall or only its tier.
pub(super) fn metric_labels(cx: &mut Ctx, raw: &RawConfig) -> LabelMode {
    match &raw.metrics.labels {
        None => LabelMode::Hall,
        Some(l) => match l.get_ref().as_str() {
            "hall" => LabelMode::Hall,
            "tier" => LabelMode::Tier,
            other => {
                cx.at(
                    l,
                    "metrics.labels",
                    format!("unknown label mode `{other}`; expected hall or tier"),
                );
                LabelMode::Hall
            }
        },
    }
}

pub(super) fn store(cx: &mut Ctx, raw: &RawConfig) -> StoreConfig {
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
        checkpoint_writes: bounded(
            cx,
            &r.checkpoint_writes,
            "store.checkpoint_writes",
            1,
            1 << 22,
            65_536,
        ) as usize,
        checkpoint_interval_ms: u64::from(bounded(
            cx,
            &r.checkpoint_interval_ms,
            "store.checkpoint_interval_ms",
            1,
            60_000,
            1_000,
        )),
        segment_bytes: u64::from(bounded(
            cx,
            &r.log_segment_mb,
            "store.log_segment_mb",
            1,
            1024,
            16,
        )) << 20,
        checkpoint_flush_bytes: u64::from(bounded(
            cx,
            &r.checkpoint_flush_kb,
            "store.checkpoint_flush_kb",
            0,
            1 << 20,
            FLUSH_KB,
        )) << 10,
        writer_priority: bounded(
            cx,
            &r.writer_priority,
            "store.writer_priority",
            0,
            20,
            WRITER_PRIORITY,
        ),
    }
}

/// `[store] checkpoint_flush_kb`'s default (BENCHMARKS.md, "Checkpoint writeback in steps").
const FLUSH_KB: u32 = 256;
/// `[store] writer_priority`'s default (BENCHMARKS.md, "The writer's priority").
const WRITER_PRIORITY: u32 = 10;
/// `[server] sse_coalesce_ms`'s default (BENCHMARKS.md, "Streams written in steps"): a
/// display sees an event at most this much later, and a busy stream costs one write per
/// step instead of one per event.
const SSE_COALESCE_MS: u32 = 50;

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

pub(super) fn tokens(
    cx: &mut Ctx,
    raw: &[RawToken],
    catalogue: &CaseCatalogue,
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
                cx.at(&t.role, format!("{path}.role"), format!("unknown role `{}`; expected one of kiosk, counter, display, case-officer, supervisor, admin, booking", t.role.get_ref()));
            }
            let list = t.halls.get_ref();
            let scope = if list.len() == 1 && list[0].get_ref() == "*" {
                None
            } else {
                if list.is_empty() {
                    cx.at(&t.halls, format!("{path}.halls"), "list the halls (subtree roots) this token covers, or [\"*\"] for all");
                }
                Some(list.iter().enumerate().filter_map(|(k, h)| {
                    let found = catalogue.hall_index(h.get_ref());
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
