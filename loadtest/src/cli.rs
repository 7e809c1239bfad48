//! Flags, checked once into a `Plan`; then the plan's scenario runs and its report is
//! printed. The scenarios and the daemon they load live in their own modules.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use crate::plan::{Attack, Daemon, Plan, Scenario, Size};
use crate::report::Outcome;
use crate::{booking, fanout, hold, mixed, recovery, reports};

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
    /// A `[store]` setting for the daemon started here, as `key=value` (repeatable), e.g.
    /// `--store checkpoint_interval_ms=500`, to compare settings under the same load.
    #[arg(long = "store", value_name = "KEY=VALUE")]
    store: Vec<String>,
    /// A `[server]` setting for the daemon started here, as `key=value` (repeatable), e.g.
    /// `--server shards=1`.
    #[arg(long = "server", value_name = "KEY=VALUE")]
    server: Vec<String>,
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
    /// Recovery scenario: stop right after the SIGKILL that follows the load, keeping the data
    /// directory as the kill left it, to profile first restarts on copies of it.
    #[arg(long)]
    stop_after_kill: bool,
    /// Booking scenario: booking requests for the one popular slot, all queued at once.
    #[arg(long, default_value_t = 10_000)]
    requests: usize,
    /// Booking scenario: connections of background traffic (kiosk tickets at other halls,
    /// citizens reading slots) during the rush.
    #[arg(long, default_value_t = 16)]
    background: usize,
    /// Booking scenario: also print the rush as a timeline, one line per 10 ms of answers
    /// (how many, their p50 and max latency, the background's), to show stalls.
    #[arg(long)]
    timeline: bool,
    /// Reports scenario: finished business days of day records stored per hall before the
    /// reports are asked for.
    #[arg(long, default_value_t = 92)]
    days: usize,
    /// Hold scenario: what each attacking connection sends before it waits.
    #[arg(long, value_enum, default_value = "half-body")]
    attack: Attack,
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

/// Check the flags once, into the plan every scenario runs from (and whether to print JSON).
fn plan_from_args(a: Args) -> Result<(Plan, bool), String> {
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
    // Only the mixed workload and the fan-out start their daemon from the plan's config;
    // the other scenarios write configs of their own, which a --store would silently miss.
    let settings = !a.store.is_empty() || !a.server.is_empty();
    if settings && !matches!(a.scenario, Scenario::Mixed | Scenario::Fanout) {
        return Err(format!(
            "--store and --server apply to the mixed and fan-out scenarios only, not to {:?}",
            a.scenario
        ));
    }
    if a.stop_after_kill && a.scenario != Scenario::Recovery {
        return Err("--stop-after-kill is for --scenario recovery".into());
    }
    // The fan-out loads one hall; more would only take longer to set up.
    let halls = match a.scenario {
        Scenario::Fanout => a.halls.or(Some(1)),
        _ => a.halls,
    };
    let daemon = match (a.target, a.token) {
        (Some(url), Some(token)) => {
            if a.no_group_commit || !a.store.is_empty() || !a.server.is_empty() {
                return Err(
                    "--no-group-commit, --store and --server configure the daemon this program \
                            starts; with --target, set them in that daemon's config"
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
            size: Size {
                cases: a.cases,
                tickets: a.tickets,
                probes: a.probes,
                keep: a.keep,
                stop_after_kill: a.stop_after_kill,
                requests: a.requests,
                days: a.days,
                background: a.background,
                timeline: a.timeline,
            },
            attack: a.attack,
            store: a.store,
            server: a.server,
        },
        a.json,
    ))
}

/// Entry point of the binary. Exit codes: 0 when every request succeeded, 1 when some
/// failed or the run could not be set up, 64 for bad flags.
pub fn main() -> ExitCode {
    let (plan, json) = match plan_from_args(Args::parse()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("hallq-loadtest: {e}");
            return ExitCode::from(64);
        }
    };
    init_logging();
    let outcome = match plan.scenario {
        Scenario::Mixed => mixed::run(&plan).map(Outcome::from),
        Scenario::Recovery => recovery::run(&plan),
        Scenario::Fanout => fanout::run(&plan),
        Scenario::Hold | Scenario::Flood => hold::run(&plan),
        Scenario::Booking => booking::run(&plan),
        Scenario::Reports => reports::run(&plan),
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
