//! A run as the flags describe it (`Plan`, checked once by `cli`), and the daemon it loads:
//! started here in-process or found at `--target` (`with_daemon`). Every scenario takes a
//! `Plan` and runs inside `with_daemon`; this module knows none of them.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use http::Method;

use crate::daemon::LocalDaemon;
use crate::http::{Pool, Target, path};
use crate::province::{self, Hall, Province, Tokens, Window};

/// The scenarios of issue 5, one per performance target in DESIGN.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// (a) issue, call, start, complete (and cases) over HTTP, every request durable.
    Mixed,
    /// (b) one hall, thousands of SSE displays: time from a call's answer to each receipt.
    Fanout,
    /// (c) millions of open cases and waiting tickets, SIGKILL, time to ready and memory;
    /// then (d) alarm latency with all those deadlines pending.
    Recovery,
    /// Issue 11: --connections sockets that send a head and half a body (or half a head)
    /// and wait, with no token; a kiosk's and a citizen's requests meanwhile; memory.
    Hold,
    /// Issue 11: --connections keep-alive sockets sending requests with 16 KiB bodies and
    /// an unknown token as fast as answered; the same probes and memory.
    Flood,
    /// Issue 12: --requests bookings for one popular slot at once, with background traffic;
    /// never oversold, and the booking latency.
    Booking,
    /// Issue 13: the monthly and quarterly assessment reports over a province's subtree,
    /// from --days stored day records per hall.
    Reports,
}

/// Which daemon to load.
#[derive(Debug, Clone)]
pub enum Daemon {
    /// Started here on a temporary data directory under `data_parent`.
    Local {
        halls: usize,
        group_commit: bool,
        data_parent: PathBuf,
    },
    /// Already running.
    Remote {
        url: String,
        token: String,
        halls: Option<usize>,
    },
}

/// A validated run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub scenario: Scenario,
    pub daemon: Daemon,
    pub duration: Duration,
    pub warmup: Duration,
    pub connections: usize,
    pub rate: Option<f64>,
    pub subscribers: Option<usize>,
    pub prefill: usize,
    /// Fraction of operations that are case operations, in [0, 1).
    pub case_share: f64,
    pub seed: u64,
    /// What the recovery scenario loads.
    pub size: Size,
    /// What the hold scenario's connections send.
    pub attack: Attack,
    /// `[store]` settings (`key=value`) for the daemon started here (`--store`).
    pub store: Vec<String>,
    /// `[server]` settings (`key=value`) for the daemon started here (`--server`).
    pub server: Vec<String>,
}

/// How big a province to recover.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    pub cases: u64,
    pub tickets: u64,
    pub probes: u64,
    /// Keep the data directory.
    pub keep: bool,
    /// Recovery scenario: stop after the SIGKILL, keeping the data directory as it left it.
    pub stop_after_kill: bool,
    /// Booking scenario: requests for the popular slot.
    pub requests: usize,
    /// Reports scenario: finished business days stored per hall.
    pub days: usize,
    /// Booking scenario: connections of background traffic beside the rush.
    pub background: usize,
    /// Booking scenario: print the rush's timeline.
    pub timeline: bool,
}

/// What each attacking socket sends before it waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Attack {
    /// A complete head announcing a 1,000-byte body, and 500 bytes of it.
    HalfBody,
    /// Half of a request head.
    SlowHeader,
}

/// The daemon a run loads, and what the load generator knows of it.
pub(crate) struct Env {
    pub target: Target,
    pub province: Province,
    pub tokens: Tokens,
    /// For the report.
    pub daemon: &'static str,
}

/// Start the plan's daemon in this process (or find the one at `--target`), run `drive` on
/// a fresh multi-threaded runtime, then stop the daemon.
pub(crate) fn with_daemon<T>(
    plan: &Plan,
    drive: impl AsyncFnOnce(Env) -> Result<T, String>,
) -> Result<T, String> {
    let (local, target, province, tokens) = match &plan.daemon {
        Daemon::Local {
            halls,
            group_commit,
            data_parent,
        } => {
            let province = province::generate(*halls);
            let tokens = Tokens::generate()?;
            let config = with_settings(
                province::config_toml(&province, &tokens, *group_commit),
                "store",
                &plan.store,
                "--store",
            )?;
            let config = with_settings(config, "server", &plan.server, "--server")?;
            let calendar = (province::CALENDAR_FILE, province::calendar_file()?);
            let daemon = LocalDaemon::start(&config, &[calendar], data_parent)?;
            let target = Target::local(daemon.addr);
            (Some(daemon), Some(target), Some(province), tokens)
        }
        Daemon::Remote { token, .. } => (None, None, None, Tokens::single(token)),
    };
    let runtime = runtime()?;
    let result = runtime.block_on(async move {
        let env = match (&plan.daemon, target, province) {
            (Daemon::Remote { url, halls, .. }, _, _) => {
                let target = Target::parse(url).await?;
                let province = discover(&target, &tokens.counter, *halls).await?;
                Env {
                    target,
                    province,
                    tokens,
                    daemon: "remote",
                }
            }
            (Daemon::Local { .. }, Some(target), Some(province)) => Env {
                target,
                province,
                tokens,
                daemon: "in-process (hallq::server::Daemon)",
            },
            _ => unreachable!("a local daemon is started with a province"),
        };
        drive(env).await
    });
    drop(runtime);
    if let Some(daemon) = local {
        let dir = daemon.dir().display().to_string();
        daemon
            .stop()
            .map_err(|e| format!("the daemon in {dir} did not stop cleanly: {e}"))?;
    }
    result
}

/// The load generator's own runtime (the in-process daemon has another).
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, String> {
    let mut b = tokio::runtime::Builder::new_multi_thread();
    b.enable_all().thread_name("loadtest");
    // The generator holds 1,000 connections too, and its answers wait in its own queues
    // (`ss` during the rush shows at times every in-flight answer unread on the client's
    // side): with tokio's default event batches it would reorder them as the daemon did,
    // adding a spread of its own making to the latency it reports.
    hallq::server::fair_io(&mut b);
    b.build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

/// Halls, services and windows of a running daemon, as far as `token` sees them.
async fn discover(target: &Target, token: &str, limit: Option<usize>) -> Result<Province, String> {
    let pool = Pool::new(target.clone(), 16);
    let auth = Target::bearer(token);
    let get = |p: String| {
        let req = target.request(Method::GET, path(&p), &auth, Bytes::new());
        let pool = &pool;
        async move {
            let r = pool
                .send(req)
                .await
                .map_err(|e| format!("GET {p} on {}: {e}", target.url))?;
            if !r.ok() {
                return Err(format!(
                    "GET {p}: {} {}",
                    r.status,
                    String::from_utf8_lossy(&r.body)
                ));
            }
            serde_json::from_slice::<serde_json::Value>(&r.body)
                .map_err(|e| format!("GET {p}: not JSON: {e}"))
        }
    };
    let list = get("/v1/halls".into()).await?;
    let ids: Vec<(String, String)> = list
        .as_array()
        .ok_or("GET /v1/halls: not a list")?
        .iter()
        .filter_map(|h| Some((h["id"].as_str()?.to_owned(), h["tier"].as_str()?.to_owned())))
        .take(limit.unwrap_or(usize::MAX))
        .collect();
    if ids.is_empty() {
        return Err("the token sees no halls".into());
    }
    let mut halls = Vec::with_capacity(ids.len());
    for (id, tier) in ids {
        let snap = get(format!("/v1/halls/{id}")).await?;
        let services: Vec<String> = snap["services"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["id"].as_str().map(str::to_owned))
            .collect();
        let windows = snap["windows"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|w| {
                let served = w["services"]
                    .as_array()?
                    .iter()
                    .filter_map(|s| services.iter().position(|x| Some(x.as_str()) == s.as_str()))
                    .collect();
                Some(Window {
                    id: w["id"].as_str()?.to_owned(),
                    services: served,
                })
            })
            .collect();
        halls.push(Hall {
            id,
            tier,
            services,
            windows,
        });
    }
    Ok(Province { halls })
}

/// `config` with the settings `key=value` added to its `[table]` (made if it has none); the
/// daemon's config check then rejects a bad key or value, naming it. `flag` names the
/// command-line option in errors.
pub(crate) fn with_settings(
    config: String,
    table: &str,
    settings: &[String],
    flag: &str,
) -> Result<String, String> {
    if settings.is_empty() {
        return Ok(config);
    }
    let mut lines = String::new();
    for s in settings {
        let Some((key, value)) = s.split_once('=') else {
            return Err(format!("{flag} {s}: expected key=value"));
        };
        lines.push_str(&format!("{} = {}\n", key.trim(), value.trim()));
    }
    let head = format!("[{table}]\n");
    Ok(match config.find(&head) {
        Some(at) => {
            let at = at + head.len();
            format!("{}{lines}{}", &config[..at], &config[at..])
        }
        None => {
            let at = config.find("[server]\n").unwrap_or(config.len());
            format!("{}{head}{lines}\n{}", &config[..at], &config[at..])
        }
    })
}
