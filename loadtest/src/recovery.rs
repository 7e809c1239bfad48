//! Scenarios (c) and (d): recovery with millions of open cases and waiting tickets, then the
//! latency of alarms with all their deadlines pending.
//!
//! 1. A daemon process starts on an empty data directory: its resident memory is the
//!    baseline.
//! 2. It is loaded over HTTP like any client would: `--tickets` waiting tickets spread over
//!    the province's services, and `--cases` open cases of a 20-working-day matter on the
//!    official calendar (each with its alarm ladder armed in the wheel). Every answer means
//!    durable, so the load rates are the accept and issue throughput too.
//! 3. SIGKILL. A new process starts on the same directory: the time from spawning it to its
//!    "listening" line is the time to ready (recovery reads the current-state tables, not
//!    the log). Its resident memory then, less the baseline, per open case, is the memory
//!    figure; what it recovered is checked against what was acknowledged.
//! 4. With every deadline still pending, a supervision client follows `/v1/alarms/events`
//!    while `--probes` cases of a matter counted in working seconds are accepted; each of
//!    their alarms is timed from its `due_at` to its receipt.

use std::fmt::Write as _;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::stream::{self, StreamExt};
use hallq::clock::{Clock, SystemClock};
use hdrhistogram::Histogram;
use http::Method;
use serde_json::{Value, json};

use crate::daemon::{ChildDaemon, write_file};
use crate::http::{Pool, Target, path};
use crate::plan::{Daemon, Plan, Size};
use crate::province::{self, Province, Tokens};
use crate::report::{self, Outcome};

/// The generated config's 20-working-day matter on the official calendar.
const BULK_MATTER: &str = "330100-CN-0002";
/// Limit of the probe cases, in working seconds on an always-open calendar; their `warn`
/// level is due 4 s before it.
const PROBE_LIMIT_S: u64 = 12;
/// Requests in flight while loading.
const LOAD_CONCURRENCY: usize = 256;

struct Setup {
    province: Province,
    tokens: Tokens,
    /// Clear text of the admin token (cases and alarms).
    admin: String,
}

pub fn run(plan: &Plan) -> Result<Outcome, String> {
    let Daemon::Local {
        halls,
        group_commit,
        data_parent: parent,
    } = plan.daemon.clone()
    else {
        return Err(
            "--scenario recovery kills and restarts the daemon: it runs its own, not --target"
                .into(),
        );
    };
    let size = plan.size;
    let dir = tempfile::Builder::new()
        .prefix("hallq-recovery-")
        .tempdir_in(&parent)
        .map_err(|e| format!("cannot create a directory in {}: {e}", parent.display()))?;
    let setup = Setup {
        province: province::generate(halls),
        tokens: Tokens::generate()?,
        admin: province::token()?,
    };
    let config = write_config(dir.path(), &setup, group_commit)?;
    let data = dir.path().join("data");
    // One log per start, so a kept directory shows what each start did.
    let log = |start: &str| dir.path().join(format!("hallq-{start}.log"));
    let runtime = crate::plan::runtime()?;

    // 1. Baseline.
    let daemon = ChildDaemon::spawn(&config, &data, &log("cold"))?;
    std::thread::sleep(Duration::from_secs(1));
    let baseline_rss = daemon.rss()?;
    let cold_ready = daemon.ready_after;

    // 2. Load.
    let target = Target::local(daemon.addr);
    let loaded = runtime.block_on(load(&target, &setup, size))?;
    let loaded_rss = daemon.rss()?;

    // 3. Kill and recover.
    daemon.kill()?;
    let store_bytes = dir_size(&data);
    let load = json!({
        "cases_per_sec": rate(size.cases, loaded.cases_took),
        "tickets_per_sec": rate(size.tickets, loaded.tickets_took),
        "errors": loaded.errors,
        "rss_bytes": loaded_rss,
    });
    if size.stop_after_kill {
        let kept = dir.keep();
        eprintln!(
            "hallq-loadtest: stopped after the SIGKILL; kept {} (config hallq.toml, data in data/)",
            kept.display()
        );
        let json = json!({
            "scenario": "recovery",
            "halls": halls,
            "cases": size.cases,
            "tickets": size.tickets,
            "load": load,
            "store_bytes": store_bytes,
            "kept": kept,
            "errors": loaded.errors,
        });
        return Ok(Outcome {
            table: format!("{json:#}\n"),
            json,
            errors: loaded.errors,
        });
    }
    let daemon = ChildDaemon::spawn(&config, &data, &log("restart"))?;
    let ready = daemon.ready_after;
    let ready_rss = daemon.rss()?;
    let target = Target::local(daemon.addr);
    let found = runtime.block_on(count(&target, &setup))?;
    std::thread::sleep(Duration::from_secs(2));
    let settled_rss = daemon.rss()?;

    // 4. Alarm latency with everything pending.
    let alarms = runtime.block_on(alarm_latency(&target, &setup, size.probes))?;
    daemon.kill()?;
    // Once more, now that the load's I/O has settled and the store was read once: the first
    // restart finds much of the file out of the page cache (on this machine's host, pages
    // idle for a minute are paged out: DAMON, BENCHMARKS.md), this one finds it read a minute ago.
    let again = ChildDaemon::spawn(&config, &data, &log("again"))?;
    let ready_again = again.ready_after;
    again.kill()?;
    if size.keep {
        let kept = dir.keep();
        eprintln!(
            "hallq-loadtest: kept {} (config hallq.toml, data in data/)",
            kept.display()
        );
    }

    let missing =
        size.tickets.saturating_sub(found.tickets) + size.cases.saturating_sub(found.cases);
    let errors = loaded.errors + missing + alarms.missed + alarms.duplicates;
    let per_case = |rss: u64| {
        (size.cases > 0).then(|| rss.saturating_sub(baseline_rss) as f64 / size.cases as f64)
    };
    let json = json!({
        "scenario": "recovery",
        "halls": halls,
        "cases": size.cases,
        "tickets": size.tickets,
        "group_commit": group_commit,
        "load": load,
        "store_bytes": store_bytes,
        "cold_start_s": cold_ready.as_secs_f64(),
        "ready_s": ready.as_secs_f64(),
        "ready_again_s": ready_again.as_secs_f64(),
        "recovered": { "cases": found.cases, "tickets": found.tickets },
        "baseline_rss_bytes": baseline_rss,
        "rss_bytes": settled_rss,
        "rss_at_ready_bytes": ready_rss,
        "rss_per_case_bytes": per_case(settled_rss),
        "alarms": alarms.json(),
        "errors": errors,
    });
    let table = table(&json);
    Ok(Outcome {
        json,
        table,
        errors,
    })
}

fn rate(n: u64, took: Duration) -> f64 {
    if took.is_zero() {
        0.0
    } else {
        report::per_sec(n, took.as_secs_f64())
    }
}

/// The province's config (with its calendar and matters) plus an always-open calendar, the
/// probe matter and its ladder, and an admin token (cases and the alarm stream).
/// Returns the config file's path.
fn write_config(dir: &Path, s: &Setup, group_commit: bool) -> Result<PathBuf, String> {
    write_file(dir, province::CALENDAR_FILE, &province::calendar_file()?)?;
    let always = write_file(dir, "always.toml", &always_calendar())?;
    let mut text = province::config_toml(&s.province, &s.tokens, group_commit);
    let _ = write!(
        text,
        r#"
[[calendar]]
id = "always"
file = "{}"

[[alarm_policy]]
id = "probe"
levels = [
  {{ level = "warn", remaining = "4ws" }},
  {{ level = "red", remaining = "0ws" }},
]

[[matter]]
id = "PROBE"
name = "告警时延探针"
kind = "promised"
limit = "{PROBE_LIMIT_S}ws"
calendar = "always"
alarm_policy = "probe"

[[token]]
name = "loadtest-admin"
role = "admin"
halls = ["*"]
sha256 = "{}"
"#,
        always.display(),
        hallq::config::hex(&hallq::config::token_hash(&s.admin)),
    );
    write_file(dir, "hallq.toml", &text)
}

/// Every day a working day, office hours all day, around this year.
fn always_calendar() -> String {
    let mut s = String::from(
        "id = \"always\"\ntime_zone = \"UTC\"\n\
         week = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"]\n\
         office_hours = [\"00:00-23:59\"]\n",
    );
    let year = SystemClock
        .now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .year();
    for y in year - 1..=year + 1 {
        let _ = write!(
            s,
            "\n[[year]]\nyear = {y}\nnotice = \"loadtest\"\ndays = []\n"
        );
    }
    s
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

struct Loaded {
    tickets_took: Duration,
    cases_took: Duration,
    errors: u64,
}

/// Issue the tickets and accept the cases, `LOAD_CONCURRENCY` requests at a time.
async fn load(target: &Target, s: &Setup, size: Size) -> Result<Loaded, String> {
    let pool = Pool::new(target.clone(), LOAD_CONCURRENCY);
    let errors = AtomicU64::new(0);
    let first_error = std::sync::Mutex::new(None::<String>);
    let kiosk = Target::bearer(&s.tokens.kiosk);
    let admin = Target::bearer(&s.admin);
    // Every service of every hall, round robin.
    let services: Vec<(&str, &str)> = s
        .province
        .halls
        .iter()
        .flat_map(|h| h.services.iter().map(|svc| (h.id.as_str(), svc.as_str())))
        .collect();
    let halls: Vec<&str> = s.province.halls.iter().map(|h| h.id.as_str()).collect();
    let send = |req, what: &'static str| {
        let (pool, errors, first_error) = (&pool, &errors, &first_error);
        async move {
            let ok = match pool.send(req).await {
                Ok(r) if r.ok() => return,
                Ok(r) => format!("{what}: {} {}", r.status, String::from_utf8_lossy(&r.body)),
                Err(e) => format!("{what}: {e}"),
            };
            errors.fetch_add(1, Ordering::Relaxed);
            first_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_or_insert(ok);
        }
    };
    let tickets = stream::iter(0..size.tickets).map(|i| {
        let (hall, service) = services[i as usize % services.len()];
        let req = target.request(
            Method::POST,
            path(&format!("/v1/halls/{hall}/tickets")),
            &kiosk,
            Bytes::from(format!("{{\"service\":\"{service}\"}}")),
        );
        send(req, "issuing a ticket")
    });
    let tickets_took = drain(tickets, "tickets", size.tickets).await;

    let accepted_at = SystemClock.now().to_string();
    let cases = stream::iter(0..size.cases).map(|i| {
        let body = format!(
            "{{\"id\":\"BULK-{i:08}\",\"hall\":\"{}\",\"matter\":\"{BULK_MATTER}\",\"accepted_at\":\"{accepted_at}\"}}",
            halls[i as usize % halls.len()]
        );
        let req = target.request(Method::POST, path("/v1/cases"), &admin, Bytes::from(body));
        send(req, "accepting a case")
    });
    let cases_took = drain(cases, "cases", size.cases).await;
    if let Some(e) = first_error.into_inner().unwrap_or_else(|e| e.into_inner()) {
        eprintln!("hallq-loadtest: loading failed, first error: {e}");
    }
    Ok(Loaded {
        tickets_took,
        cases_took,
        errors: errors.into_inner(),
    })
}

/// Run `total` requests, `LOAD_CONCURRENCY` at a time, printing progress every 10 s; how
/// long they took.
async fn drain(
    requests: impl futures::Stream<Item = impl std::future::Future<Output = ()>>,
    what: &str,
    total: u64,
) -> Duration {
    let started = Instant::now();
    let mut tick = started;
    let mut done = 0u64;
    let mut running = std::pin::pin!(requests.buffer_unordered(LOAD_CONCURRENCY));
    while running.next().await.is_some() {
        done += 1;
        if tick.elapsed() > Duration::from_secs(10) {
            eprintln!(
                "hallq-loadtest: {what} {done}/{total} ({:.0}/s)",
                done as f64 / started.elapsed().as_secs_f64()
            );
            tick = Instant::now();
        }
    }
    started.elapsed()
}

struct Found {
    tickets: u64,
    cases: u64,
}

/// What the recovered daemon holds: waiting tickets from every hall's snapshot, open cases
/// from `hallq_cases_open` (its gauges are refreshed every few seconds after a start).
async fn count(target: &Target, s: &Setup) -> Result<Found, String> {
    let pool = Pool::new(target.clone(), 16);
    let admin = Target::bearer(&s.admin);
    let get = |p: String| {
        let req = target.request(Method::GET, path(&p), &admin, Bytes::new());
        let pool = &pool;
        async move {
            let r = pool.send(req).await.map_err(|e| format!("GET {p}: {e}"))?;
            if r.ok() {
                Ok(r.body)
            } else {
                Err(format!("GET {p}: {}", r.status))
            }
        }
    };
    let mut tickets = 0;
    for h in &s.province.halls {
        let snap: Value = serde_json::from_slice(&get(format!("/v1/halls/{}", h.id)).await?)
            .map_err(|e| format!("a hall snapshot is not JSON: {e}"))?;
        tickets += snap["services"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|svc| svc["waiting"].as_u64())
            .sum::<u64>();
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    let cases = loop {
        let open = metric_sum(&get("/metrics".into()).await?, "hallq_cases_open");
        if open > 0 || Instant::now() > deadline {
            break open;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    Ok(Found { tickets, cases })
}

/// What the supervision client saw of the probes' alarms.
struct Alarms {
    probes: u64,
    expected: u64,
    received: u64,
    missed: u64,
    duplicates: u64,
    /// From `due_at` to receipt, in microseconds.
    latency: Histogram<u64>,
    pending: Option<u64>,
}

impl Alarms {
    fn json(&self) -> Value {
        let ms = |q: f64| report::ms(self.latency.value_at_quantile(q));
        json!({
            "probes": self.probes,
            "expected": self.expected,
            "received": self.received,
            "missed": self.missed,
            "duplicates": self.duplicates,
            "pending_deadlines": self.pending,
            "p50_ms": ms(0.5),
            "p99_ms": ms(0.99),
            "max_ms": report::ms(self.latency.max()),
        })
    }
}

/// Follow the alarm stream, accept `probes` probe cases a few per second, and time every
/// alarm they raise from its `due_at` to its receipt.
async fn alarm_latency(target: &Target, s: &Setup, probes: u64) -> Result<Alarms, String> {
    let admin = Target::bearer(&s.admin);
    let pending = pending_deadlines(target, &admin).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, String, jiff::Timestamp)>();
    let follower = {
        let (target, admin) = (target.clone(), admin.clone());
        tokio::spawn(async move {
            let mut sink = Supervision(tx);
            let forever = std::future::pending::<()>();
            crate::sse::follow(&target, "/v1/alarms/events", &admin, forever, &mut sink).await;
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pool = Pool::new(target.clone(), 8);
    let halls = &s.province.halls;
    let run = SystemClock.now().as_second();
    for i in 0..probes {
        // Whole seconds, a few probes per second, so the due instants spread over the wheel's
        // ticks.
        let now = SystemClock.now();
        let at = jiff::Timestamp::from_second(now.as_second()).expect("in range");
        let body = json!({
            "id": format!("PROBE-{run}-{i:05}"),
            "hall": halls[i as usize % halls.len()].id,
            "matter": "PROBE",
            "accepted_at": at.to_string(),
        });
        let req = target.request(
            Method::POST,
            path("/v1/cases"),
            &admin,
            Bytes::from(body.to_string()),
        );
        let r = pool
            .send(req)
            .await
            .map_err(|e| format!("accepting a probe: {e}"))?;
        if !r.ok() {
            return Err(format!(
                "accepting a probe: {} {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            ));
        }
        tokio::time::sleep(Duration::from_millis(97)).await;
    }
    let expected = probes * 2;
    let mut latency = report::histogram();
    let mut seen = std::collections::HashSet::new();
    let (mut received, mut duplicates) = (0, 0);
    let give_up = Instant::now() + Duration::from_secs(PROBE_LIMIT_S + 30);
    while received < expected {
        let Ok(Some((id, due, at))) = tokio::time::timeout_at(give_up.into(), rx.recv()).await
        else {
            break;
        };
        let Ok(due) = due.parse::<jiff::Timestamp>() else {
            continue;
        };
        if !seen.insert(id) {
            duplicates += 1;
            continue;
        }
        received += 1;
        let late = at.duration_since(due).as_micros().max(1) as u64;
        latency.saturating_record(late);
    }
    follower.abort();
    Ok(Alarms {
        probes,
        expected,
        received,
        missed: expected.saturating_sub(received),
        duplicates,
        latency,
        pending,
    })
}

/// The supervision client: passes on each probe alarm's id, `due_at` and receipt time.
struct Supervision(tokio::sync::mpsc::UnboundedSender<(String, String, jiff::Timestamp)>);

impl crate::sse::Sink for Supervision {
    fn event(&mut self, event: crate::sse::Event<'_>, _at: Instant) -> ControlFlow<()> {
        let received = SystemClock.now();
        if let Ok(v) = serde_json::from_slice::<Value>(event.data) {
            let id = v["id"].as_str().unwrap_or_default();
            if id.starts_with("PROBE-") {
                let due = v["due_at"].as_str().unwrap_or_default().to_owned();
                let _ = self.0.send((id.to_owned(), due, received));
            }
        }
        ControlFlow::Continue(())
    }

    fn refused(&mut self) {}

    fn broke(&mut self) {}
}

/// `hallq_deadlines_pending` from a scrape.
async fn pending_deadlines(target: &Target, auth: &http::HeaderValue) -> Option<u64> {
    let pool = Pool::new(target.clone(), 1);
    let r = pool
        .send(target.request(Method::GET, path("/metrics"), auth, Bytes::new()))
        .await
        .ok()?;
    Some(metric_sum(&r.body, "hallq_deadlines_pending"))
}

/// The sum of every sample of the metric `name` in a Prometheus scrape.
fn metric_sum(scrape: &[u8], name: &str) -> u64 {
    String::from_utf8_lossy(scrape)
        .lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

fn table(j: &Value) -> String {
    let mut out = String::new();
    let gib = |v: &Value| v.as_f64().unwrap_or(0.0) / (1u64 << 30) as f64;
    let _ = writeln!(
        out,
        "recovery: {} halls, {} open cases, {} waiting tickets (group commit {})",
        j["halls"], j["cases"], j["tickets"], j["group_commit"]
    );
    let _ = writeln!(
        out,
        "  load      {} cases/s, {} tickets/s, {} errors; store {:.2} GiB",
        j["load"]["cases_per_sec"],
        j["load"]["tickets_per_sec"],
        j["load"]["errors"],
        gib(&j["store_bytes"])
    );
    let _ = writeln!(
        out,
        "  ready     {:.2} s after SIGKILL, {:.2} s after a second one (cold start on an empty store {:.2} s)",
        j["ready_s"].as_f64().unwrap_or(0.0),
        j["ready_again_s"].as_f64().unwrap_or(0.0),
        j["cold_start_s"].as_f64().unwrap_or(0.0)
    );
    let _ = writeln!(
        out,
        "  recovered {} cases, {} tickets",
        j["recovered"]["cases"], j["recovered"]["tickets"]
    );
    let _ = writeln!(
        out,
        "  memory    {:.2} GiB resident ({:.3} GiB baseline): {} bytes per open case",
        gib(&j["rss_bytes"]),
        gib(&j["baseline_rss_bytes"]),
        j["rss_per_case_bytes"]
            .as_f64()
            .map_or("-".into(), |b| format!("{b:.0}"))
    );
    let a = &j["alarms"];
    let _ = writeln!(
        out,
        "  alarms    {} of {} received ({} pending deadlines): p50 {} ms, p99 {} ms, max {} ms",
        a["received"], a["expected"], a["pending_deadlines"], a["p50_ms"], a["p99_ms"], a["max_ms"]
    );
    let _ = writeln!(out, "  errors    {}", j["errors"]);
    out
}
