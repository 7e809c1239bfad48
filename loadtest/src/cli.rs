//! Flags, checked once into a `Plan`, and the run: start (or find) the daemon, set up the
//! province, load it, report.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use http::Method;

use crate::cases;
use crate::daemon::LocalDaemon;
use crate::fanout;
use crate::http::{Pool, Target, path};
use crate::province::{self, Hall, Province, Tokens, Window};
use crate::report::{Outcome, Recorder, Report, Setup};
use crate::sse::{self, SseCounters};
use crate::workload::{self, Period, Workload};

#[derive(Debug, Parser)]
#[command(
    name = "hallq-loadtest",
    about = "Simulate a province of service halls against a hallq daemon and measure it",
    long_about = "Simulate a province of service halls against a hallq daemon: kiosks issue \
tickets, windows call, start and complete them, displays follow over SSE, case officers \
accept, suspend, resume and complete cases. Every request is durable before its answer. \
Without --target a daemon is started in this process on a temporary data directory with a \
generated config."
)]
struct Args {
    /// What to measure: the durable mixed hall workload, the display fan-out of one hall,
    /// or recovery (time to ready, memory per case) followed by alarm latency.
    #[arg(long, value_enum, default_value = "mixed")]
    scenario: Scenario,
    /// How long to measure, after the warm-up (e.g. 20s, 1m, 500ms).
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    duration: Duration,
    /// Load before measuring, not recorded.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    warmup: Duration,
    /// Mixed: closed loop, concurrent workers, one connection each; open loop, most
    /// connections. (Fan-out calls at one window, over one connection.)
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Mixed: requests per second for the whole province (open loop, latency corrected for
    /// coordinated omission); without it, the closed loop runs as fast as it can.
    /// Fan-out: calls per second at one window [default: 10].
    #[arg(long)]
    rate: Option<f64>,
    /// Halls to generate [default: 100; fan-out: 1], or with --target the first N halls the
    /// token sees [default: all; fan-out: 1]. Fan-out loads the first hall only.
    #[arg(long)]
    halls: Option<usize>,
    /// SSE display subscribers, spread over the halls [default: one per hall; fan-out: 5000,
    /// all on the first hall].
    #[arg(long)]
    subscribers: Option<usize>,
    /// A running daemon (http://host:port) instead of one started here.
    #[arg(long)]
    target: Option<String>,
    /// Bearer token for --target: a counter or admin token covering the halls to load (only
    /// an admin token may also change cases).
    #[arg(long)]
    token: Option<String>,
    /// One fsync per request (`[store] max_batch = 1`), to measure what group commit buys.
    #[arg(long)]
    no_group_commit: bool,
    /// Mixed: tickets waiting per window before the load starts.
    #[arg(long, default_value_t = 4)]
    prefill: usize,
    /// Fraction of operations that are case operations (accept, suspend, resume, complete
    /// under /v1/cases); 0 runs the hall workload alone.
    #[arg(long, default_value_t = 0.2)]
    case_share: f64,
    /// Seed of the random choices (services, classes, arrival and service times).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where the temporary data directory is created [default: the system temp dir].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Recovery scenario: open cases to load before the kill.
    #[arg(long, default_value_t = 10_000_000)]
    cases: u64,
    /// Recovery scenario: waiting tickets to load before the kill.
    #[arg(long, default_value_t = 1_000_000)]
    tickets: u64,
    /// Recovery scenario: cases whose alarms are timed after the restart (two alarms each).
    #[arg(long, default_value_t = 100)]
    probes: u64,
    /// Recovery scenario: keep the data directory afterwards (its path is printed), to
    /// profile a restart on it.
    #[arg(long)]
    keep: bool,
    /// Hold scenario: what each attacking connection sends before it waits.
    #[arg(long, value_enum, default_value = "half-body")]
    attack: crate::hold::Attack,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: f64 = n
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 20s, 1m or 500ms"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" | "min" => n * 60.0,
        _ => return Err(format!("unknown unit `{unit}` in `{s}`; use ms, s or m")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("`{s}`: {e}"))
}

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
    pub size: crate::recovery::Size,
    /// What the hold scenario's connections send.
    pub attack: crate::hold::Attack,
}

impl Plan {
    fn from_args(a: Args) -> Result<(Plan, bool), String> {
        if a.duration.is_zero() {
            return Err("--duration must be more than 0".into());
        }
        if a.connections == 0 {
            return Err("--connections must be at least 1".into());
        }
        if let Some(r) = a.rate
            && !(r.is_finite() && r > 0.0)
        {
            return Err(format!(
                "--rate must be a positive number of requests per second, not {r}"
            ));
        }
        if !(0.0..1.0).contains(&a.case_share) {
            return Err(format!(
                "--case-share must be at least 0 and less than 1 (a fraction of all operations), not {}",
                a.case_share
            ));
        }
        if a.halls == Some(0) {
            return Err("--halls must be at least 1".into());
        }
        if a.subscribers == Some(0) && a.scenario == Scenario::Fanout {
            return Err("--subscribers must be at least 1 for the fan-out".into());
        }
        // The fan-out loads one hall; more would only take longer to set up.
        let halls = match a.scenario {
            Scenario::Fanout => a.halls.or(Some(1)),
            _ => a.halls,
        };
        let daemon = match (a.target, a.token) {
            (Some(url), Some(token)) => {
                if a.no_group_commit {
                    return Err(
                        "--no-group-commit configures the daemon this program starts; \
                                with --target, set `[store] max_batch = 1` in that daemon's config"
                            .into(),
                    );
                }
                Daemon::Remote { url, token, halls }
            }
            (Some(_), None) => {
                return Err(
                    "--target needs --token: a counter or admin token covering the halls to load"
                        .into(),
                );
            }
            (None, Some(_)) => {
                return Err(
                    "--token is for --target; the daemon started here gets generated tokens".into(),
                );
            }
            (None, None) => Daemon::Local {
                halls: halls.unwrap_or(100),
                group_commit: !a.no_group_commit,
                data_parent: a.data_dir.unwrap_or_else(std::env::temp_dir),
            },
        };
        Ok((
            Plan {
                scenario: a.scenario,
                daemon,
                duration: a.duration,
                warmup: a.warmup,
                connections: a.connections,
                rate: a.rate,
                subscribers: a.subscribers,
                prefill: a.prefill,
                case_share: a.case_share,
                seed: a.seed,
                size: crate::recovery::Size {
                    cases: a.cases,
                    tickets: a.tickets,
                    probes: a.probes,
                    keep: a.keep,
                },
                attack: a.attack,
            },
            a.json,
        ))
    }
}

/// Entry point of the binary. Exit codes: 0 when every request succeeded, 1 when some
/// failed or the run could not be set up, 64 for bad flags.
pub fn main() -> ExitCode {
    let (plan, json) = match Plan::from_args(Args::parse()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("hallq-loadtest: {e}");
            return ExitCode::from(64);
        }
    };
    init_logging();
    let outcome = match plan.scenario {
        Scenario::Mixed => run(&plan).map(Outcome::from),
        Scenario::Recovery => crate::recovery::run(&plan),
        Scenario::Fanout => fanout::run(&plan),
        Scenario::Hold | Scenario::Flood => crate::hold::run(&plan),
    };
    match outcome {
        Ok(report) => {
            if json {
                println!("{}", report.json);
            } else {
                print!("{}", report.table);
            }
            let errors = report.errors;
            if errors > 0 {
                eprintln!(
                    "hallq-loadtest: {errors} errors (failed requests, or for the fan-out also missed deliveries and dropped displays)"
                );
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("hallq-loadtest: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The in-process daemon logs warnings and errors (a failing store, say) to stderr.
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
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
            let config = province::config_toml(&province, &tokens, *group_commit);
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

/// Run the durable mixed hall workload: start or find the daemon, set up, load, report.
pub fn run(plan: &Plan) -> Result<Report, String> {
    with_daemon(plan, async |env| drive(plan, env).await)
}

async fn drive(plan: &Plan, env: Env) -> Result<Report, String> {
    let Env {
        target,
        province,
        tokens,
        daemon,
    } = env;
    let windows = province.windows();
    if plan.rate.is_none() && plan.connections > windows {
        return Err(format!(
            "--connections {} needs at least as many windows (a window has one request in flight at a time); \
             the province has {windows}: use more --halls or fewer --connections",
            plan.connections
        ));
    }
    let setup_pool = Pool::new(target.clone(), 64);
    let (mix, cases) = cases::prepare(&setup_pool, &tokens.case_officer, plan.case_share).await;
    let work = Arc::new(Workload::new(
        target.clone(),
        province,
        &tokens.kiosk,
        &tokens.counter,
        mix,
    ));
    work.prepare(&setup_pool, plan.prefill, plan.seed).await?;
    drop(setup_pool);

    let halls = &work.province.halls;
    let subscribers = plan.subscribers.unwrap_or(halls.len());
    let start = Instant::now() + Duration::from_secs(1);
    let from = start + plan.warmup;
    let period = Period {
        start,
        from,
        until: from + plan.duration,
    };
    let counters = Arc::new(SseCounters::default());
    let display_token = Target::bearer(&tokens.display);
    let displays: Vec<_> = (0..subscribers)
        .map(|i| {
            tokio::spawn(sse::display(
                target.clone(),
                halls[i % halls.len()].id.clone(),
                display_token.clone(),
                period,
                counters.clone(),
            ))
        })
        .collect();
    while counters
        .connected
        .load(std::sync::atomic::Ordering::Relaxed)
        < subscribers as u64
        && Instant::now() < start
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep_until(start.into()).await;

    let rec = Arc::new(Mutex::new(Recorder::new(period.from)));
    match plan.rate {
        None => {
            workload::closed_loop(
                work.clone(),
                plan.connections,
                period,
                plan.seed,
                rec.clone(),
            )
            .await
        }
        Some(rate) => {
            let pool = Arc::new(Pool::new(target.clone(), plan.connections));
            workload::open_loop(work.clone(), pool, rate, period, plan.seed, rec.clone()).await;
        }
    }
    for d in displays {
        let _ = tokio::time::timeout(Duration::from_secs(2), d).await;
    }
    // A finished request task may still hold its clone for a moment; take the contents.
    let recorder = std::mem::replace(
        &mut *rec.lock().unwrap_or_else(|e| e.into_inner()),
        Recorder::new(period.from),
    );
    Ok(Report {
        setup: Setup {
            mode: if plan.rate.is_some() {
                "open"
            } else {
                "closed"
            },
            target: target.url.clone(),
            daemon,
            connections: plan.connections,
            rate: plan.rate,
            duration: plan.duration,
            warmup: plan.warmup,
            group_commit: match &plan.daemon {
                Daemon::Local { group_commit, .. } => Some(*group_commit),
                Daemon::Remote { .. } => None,
            },
            halls: work.province.halls.len(),
            tiers: work.province.tiers(),
            windows,
            subscribers,
            prefill: plan.prefill,
        },
        recorder,
        sse: counters.summary(),
        cases,
    })
}

/// The load generator's own runtime (the in-process daemon has another).
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("loadtest")
        .build()
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
