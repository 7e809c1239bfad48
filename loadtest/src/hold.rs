//! Scenarios `hold` and `flood` (issue 11): the daemon under a connection attack that needs
//! no token, and what a normal client sees meanwhile.
//!
//! The daemon runs as its own process (`ChildDaemon`), with the descriptor limit this
//! program started with, so its resident memory is its own and its connection cap is what
//! production would compute. The attacking sockets live in more processes of this program
//! (`AS_ATTACKER`), at most `PER_ATTACKER` each, so together they can hold more sockets
//! than one process's descriptor limit allows the daemon, and the probes here never run
//! out of descriptors themselves.
//!
//! - `hold`: `--connections` sockets (20,000 in BENCHMARKS.md) each send a request head and
//!   half of its body (`--attack half-body`) or half a head (`--attack slow-header`), then
//!   wait; whenever the daemon closes one, it is opened again, for `--duration`.
//! - `flood`: `--connections` keep-alive sockets send requests as fast as the daemon answers:
//!   ticket issues with a 16 KiB body and a token the daemon does not know.
//!
//! Meanwhile two probes make one request at a time, each on a new connection (what a kiosk
//! that just booted, or a phone, does): a kiosk with a valid token (`GET /v1/halls/{hall}`)
//! and a citizen without one (`GET /web/hallq.css`). The report gives each probe's success
//! rate and latency, the attack's counts, and the daemon's resident memory before, at its
//! peak during, and 5 s and 30 s after the attack stops.

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::daemon::{ChildDaemon, write_file};
use crate::plan::{Attack, Daemon, Plan, Scenario};
use crate::province::{self, Tokens};
use crate::report::Outcome;

/// Counts shared by the attacking tasks.
#[derive(Default)]
struct AttackCounts {
    /// Sockets connected and holding now.
    holding: AtomicU64,
    /// Connections made in all.
    opened: AtomicU64,
    /// Connections the daemon closed (or refused after accepting).
    closed_by_server: AtomicU64,
    /// Connection attempts that failed (refused, timed out, out of descriptors here).
    failed: AtomicU64,
    /// Flood: answers read.
    answers: AtomicU64,
}

/// One probe's results.
struct Probe {
    ok: u64,
    failed: u64,
    latency: Histogram<u64>,
}

pub fn run(plan: &Plan) -> Result<Outcome, String> {
    let attack = plan.attack;
    run_attack(plan, attack)
}

fn run_attack(plan: &Plan, attack: Attack) -> Result<Outcome, String> {
    let Daemon::Local {
        data_parent: parent,
        ..
    } = plan.daemon.clone()
    else {
        return Err(
            "--scenario hold/flood measure the daemon's own memory: they start it, not --target"
                .into(),
        );
    };
    let dir = tempfile::Builder::new()
        .prefix("hallq-hold-")
        .tempdir_in(&parent)
        .map_err(|e| format!("cannot create a directory in {}: {e}", parent.display()))?;
    let p = province::generate(1);
    let hall = p.halls[0].id.clone();
    let tokens = Tokens::generate()?;
    write_file(
        dir.path(),
        province::CALENDAR_FILE,
        &province::calendar_file()?,
    )?;
    let config = write_file(
        dir.path(),
        "hallq.toml",
        &province::config_toml(&p, &tokens, true),
    )?;
    let data = dir.path().join("data");
    let log = dir.path().join("hallq.log");
    let daemon = ChildDaemon::spawn(&config, &data, &log)?;
    let runtime = crate::plan::runtime()?;
    let addr = daemon.addr;
    std::thread::sleep(Duration::from_secs(1));
    let rss_before = daemon.rss()?;

    let flooding = plan.scenario == Scenario::Flood;
    let attackers = Attackers::spawn(addr, &hall, attack, flooding, plan.connections)?;
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let (kiosk, citizen, peak, ramp) = runtime.block_on(async {
        let kiosk_path = format!("/v1/halls/{hall}");
        let probes = (
            tokio::spawn(probe(addr, kiosk_path, Some(tokens.kiosk.clone()), stop.clone())),
            tokio::spawn(probe(addr, "/web/hallq.css".into(), None, stop.clone())),
        );
        let mut peak = 0u64;
        let mut ramp = None;
        let deadline = started + plan.duration;
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let rss = daemon.rss().unwrap_or(0);
            peak = peak.max(rss);
            let c = attackers.counts();
            if ramp.is_none() && c.holding as usize >= plan.connections * 9 / 10 {
                ramp = Some(started.elapsed());
            }
            eprintln!(
                "{:>4}s  holding {:>6}  opened {:>7}  closed by the daemon {:>7}  connect failures {:>6}  rss {} MiB",
                started.elapsed().as_secs(),
                c.holding,
                c.opened,
                c.closed_by_server,
                c.failed,
                rss >> 20,
            );
        }
        stop.store(true, Ordering::Relaxed);
        let kiosk = probes.0.await.expect("probe task");
        let citizen = probes.1.await.expect("probe task");
        (kiosk, citizen, peak, ramp)
    });
    let counts = attackers.stop();
    drop(runtime);
    std::thread::sleep(Duration::from_secs(5));
    let rss_5s = daemon.rss()?;
    std::thread::sleep(Duration::from_secs(25));
    let rss_30s = daemon.rss()?;
    daemon.kill()?;

    let mib = |b: u64| (b as f64 / (1 << 20) as f64 * 10.0).round() / 10.0;
    let probe_json = |p: &Probe| {
        let total = p.ok + p.failed;
        json!({
            "requests": total,
            "ok": p.ok,
            "success_rate": if total == 0 { 0.0 } else { p.ok as f64 / total as f64 },
            "p50_ms": p.latency.value_at_quantile(0.5) as f64 / 1000.0,
            "p99_ms": p.latency.value_at_quantile(0.99) as f64 / 1000.0,
            "max_ms": p.latency.max() as f64 / 1000.0,
        })
    };
    let report = json!({
        "scenario": if plan.scenario == Scenario::Flood { "flood" } else { "hold" },
        "attack": (plan.scenario == Scenario::Hold).then(|| format!("{attack:?}")),
        "connections": plan.connections,
        "duration_s": plan.duration.as_secs_f64(),
        "attack_opened": counts.opened,
        "attack_closed_by_daemon": counts.closed_by_server,
        "attack_connect_failures": counts.failed,
        "flood_answers": counts.answers,
        "seconds_to_90pct_held": ramp.map(|d| d.as_secs_f64()),
        "kiosk_with_token": probe_json(&kiosk),
        "citizen_without_token": probe_json(&citizen),
        "rss_mib": {
            "before": mib(rss_before),
            "peak_during": mib(peak),
            "after_5s": mib(rss_5s),
            "after_30s": mib(rss_30s),
        },
    });
    let mut table = Vec::new();
    let _ = writeln!(
        table,
        "{}",
        serde_json::to_string_pretty(&report).unwrap_or_default()
    );
    let errors = kiosk.failed;
    Ok(Outcome {
        json: report,
        table: String::from_utf8_lossy(&table).into_owned(),
        errors,
    })
}

async fn connect(addr: std::net::SocketAddr) -> Option<TcpStream> {
    tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr))
        .await
        .ok()?
        .ok()
}

/// One attacking socket, reopened whenever the daemon closes it.
async fn hold(
    addr: std::net::SocketAddr,
    hall: &str,
    attack: Attack,
    counts: Arc<AttackCounts>,
    stop: Arc<AtomicBool>,
) {
    let head = match attack {
        Attack::HalfBody => format!(
            "POST /v1/halls/{hall}/tickets HTTP/1.1\r\nHost: hall\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{}",
            "x".repeat(500)
        ),
        Attack::SlowHeader => {
            format!("POST /v1/halls/{hall}/tickets HTTP/1.1\r\nHost: hall\r\nUser-Ag")
        }
    };
    while !stop.load(Ordering::Relaxed) {
        let Some(mut s) = connect(addr).await else {
            counts.failed.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        counts.opened.fetch_add(1, Ordering::Relaxed);
        if s.write_all(head.as_bytes()).await.is_err() {
            counts.closed_by_server.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        counts.holding.fetch_add(1, Ordering::Relaxed);
        // Wait for the daemon to answer or close; read and drop whatever it says.
        let mut buf = [0u8; 1024];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        counts.holding.fetch_sub(1, Ordering::Relaxed);
        counts.closed_by_server.fetch_add(1, Ordering::Relaxed);
    }
}

/// One flooding socket: requests back to back, reconnecting when closed.
async fn flood(
    addr: std::net::SocketAddr,
    hall: &str,
    counts: Arc<AttackCounts>,
    stop: Arc<AtomicBool>,
) {
    let body = format!("{{\"service\":\"{}\"}}", "x".repeat(16 * 1024));
    let request = format!(
        "POST /v1/halls/{hall}/tickets HTTP/1.1\r\nHost: hall\r\nAuthorization: Bearer not-a-token\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    while !stop.load(Ordering::Relaxed) {
        let Some(mut s) = connect(addr).await else {
            counts.failed.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        counts.opened.fetch_add(1, Ordering::Relaxed);
        counts.holding.fetch_add(1, Ordering::Relaxed);
        let mut buf = vec![0u8; 4096];
        'conn: while !stop.load(Ordering::Relaxed) {
            if s.write_all(request.as_bytes()).await.is_err() {
                break;
            }
            // Read one answer: its head and the body its Content-Length announces.
            let mut got = Vec::new();
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break 'conn,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
                if let Some(end) = find(&got, b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
                    let len = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if got.len() >= end + 4 + len {
                        counts.answers.fetch_add(1, Ordering::Relaxed);
                        if head.contains("connection: close") {
                            break 'conn;
                        }
                        break;
                    }
                }
            }
        }
        counts.holding.fetch_sub(1, Ordering::Relaxed);
        counts.closed_by_server.fetch_add(1, Ordering::Relaxed);
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// One request at a time on a new connection each, until `stop`; a request that does not
/// answer 200 within 5 s counts as failed.
async fn probe(
    addr: std::net::SocketAddr,
    path: String,
    token: Option<String>,
    stop: Arc<AtomicBool>,
) -> Probe {
    let mut p = Probe {
        ok: 0,
        failed: 0,
        latency: Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds"),
    };
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request = format!("GET {path} HTTP/1.1\r\nHost: hall\r\n{auth}Connection: close\r\n\r\n");
    while !stop.load(Ordering::Relaxed) {
        let t0 = Instant::now();
        let answered = tokio::time::timeout(Duration::from_secs(5), async {
            let mut s = TcpStream::connect(addr).await.ok()?;
            s.write_all(request.as_bytes()).await.ok()?;
            let mut got = Vec::new();
            s.read_to_end(&mut got).await.ok()?;
            Some(got.starts_with(b"HTTP/1.1 200"))
        })
        .await;
        let us = u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX);
        let _ = p.latency.record(us.max(1));
        if answered == Ok(Some(true)) {
            p.ok += 1;
        } else {
            p.failed += 1;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    p
}

/// Set in an attacker's environment: `addr|hall|attack|flood|count`.
pub const AS_ATTACKER: &str = "HALLQ_LOADTEST_AS_ATTACKER";
/// Sockets per attacking process, well under a 20,000-descriptor limit.
const PER_ATTACKER: usize = 8_000;

/// Counts summed over the attacking processes.
#[derive(Debug, Default, Clone, Copy)]
struct Totals {
    holding: u64,
    opened: u64,
    closed_by_server: u64,
    failed: u64,
    answers: u64,
}

/// The attacking processes and their latest counts.
struct Attackers {
    children: Vec<std::process::Child>,
    latest: Arc<std::sync::Mutex<Vec<Totals>>>,
}

impl Attackers {
    fn spawn(
        addr: std::net::SocketAddr,
        hall: &str,
        attack: Attack,
        flood: bool,
        connections: usize,
    ) -> Result<Attackers, String> {
        use std::io::BufRead;
        let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
        let n = connections.div_ceil(PER_ATTACKER);
        let latest = Arc::new(std::sync::Mutex::new(vec![Totals::default(); n]));
        let mut children = Vec::new();
        for i in 0..n {
            let count = (connections - i * PER_ATTACKER).min(PER_ATTACKER);
            let spec = format!(
                "{addr}|{hall}|{}|{}|{count}",
                attack == Attack::SlowHeader,
                flood
            );
            let mut child = std::process::Command::new(&exe)
                .env(AS_ATTACKER, spec)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .map_err(|e| format!("cannot start an attacking process: {e}"))?;
            let out = child.stdout.take().expect("piped");
            let latest = latest.clone();
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                    let v: Vec<u64> = line.split(' ').filter_map(|x| x.parse().ok()).collect();
                    if let [holding, opened, closed_by_server, failed, answers] = v[..] {
                        latest.lock().expect("counts")[i] = Totals {
                            holding,
                            opened,
                            closed_by_server,
                            failed,
                            answers,
                        };
                    }
                }
            });
            children.push(child);
        }
        Ok(Attackers { children, latest })
    }

    fn counts(&self) -> Totals {
        self.latest
            .lock()
            .expect("counts")
            .iter()
            .fold(Totals::default(), |a, t| Totals {
                holding: a.holding + t.holding,
                opened: a.opened + t.opened,
                closed_by_server: a.closed_by_server + t.closed_by_server,
                failed: a.failed + t.failed,
                answers: a.answers + t.answers,
            })
    }

    /// Close every attacking socket (the processes end) and return the final counts.
    fn stop(mut self) -> Totals {
        let totals = self.counts();
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        totals
    }
}

/// An attacking process: holds or floods until killed, printing its counts every second.
pub fn attacker_main(spec: &str) -> std::process::ExitCode {
    let parts: Vec<&str> = spec.split('|').collect();
    let [addr, hall, slow, flooding, count] = parts[..] else {
        eprintln!("hallq-loadtest: bad {AS_ATTACKER} `{spec}`");
        return std::process::ExitCode::from(64);
    };
    let (Ok(addr), Ok(count)) = (addr.parse::<std::net::SocketAddr>(), count.parse::<usize>())
    else {
        eprintln!("hallq-loadtest: bad {AS_ATTACKER} `{spec}`");
        return std::process::ExitCode::from(64);
    };
    let attack = if slow == "true" {
        Attack::SlowHeader
    } else {
        Attack::HalfBody
    };
    let flooding = flooding == "true";
    let Ok(runtime) = crate::plan::runtime() else {
        return std::process::ExitCode::FAILURE;
    };
    let counts = Arc::new(AttackCounts::default());
    let stop = Arc::new(AtomicBool::new(false));
    runtime.block_on(async {
        for _ in 0..count {
            let (counts, stop, hall) = (counts.clone(), stop.clone(), hall.to_owned());
            tokio::spawn(async move {
                if flooding {
                    flood(addr, &hall, counts, stop).await;
                } else {
                    hold(addr, &hall, attack, counts, stop).await;
                }
            });
        }
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
            let line = format!(
                "{} {} {} {} {}\n",
                l(&counts.holding),
                l(&counts.opened),
                l(&counts.closed_by_server),
                l(&counts.failed),
                l(&counts.answers)
            );
            if std::io::stdout().write_all(line.as_bytes()).is_err() {
                return;
            }
        }
    });
    std::process::ExitCode::SUCCESS
}
