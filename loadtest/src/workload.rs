//! The durable mixed hall workload: kiosks issue tickets, windows call, start and complete,
//! and `--case-share` of the operations are cases accepted, suspended, resumed and completed
//! (`cases.rs`).
//!
//! Every operation is one HTTP request and a mutating one: the daemon answers it only after
//! its events are fsync-durable, so the measured latency includes the commit.
//!
//! Two ways to drive it:
//! - **closed loop** (maximum throughput): N workers, each with its own keep-alive
//!   connection and its own share of the windows, run issue → call → start → complete as
//!   fast as the answers come back, with a case operation (at a hall of one of its windows)
//!   whenever case operations fall below their share of what the worker sent. A window
//!   belongs to one worker, so a window never has two requests in flight, as at a real
//!   counter.
//! - **open loop** (fixed rate): operations are due on a schedule that does not wait for
//!   answers — kiosk arrivals are a Poisson process, and every window runs call → walk to
//!   the counter → start → service → complete → pause with exponentially distributed times,
//!   scaled so the whole province makes `--rate` requests per second. Latency is measured
//!   from when an operation was *due*, not from when it could be sent, so a stalled daemon
//!   shows up in the percentiles instead of silently lowering the rate (coordinated
//!   omission). Case officers' operations are a Poisson process each, over as many officers
//!   as keep each one at `DESK_RATE`, one request at a time per officer. Requests share at
//!   most `--connections` connections.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Method, Uri};

use crate::cases::{CaseMix, Desk};
use crate::http::{Conn, Failure, Pool, Reply, Target, path};
use crate::province::Province;
use crate::report::{Op, Recorder};
use crate::rng::Rng;

/// Share of issued tickets that are green channel (老弱病残孕, military).
const PRIORITY_SHARE: f64 = 0.1;
/// How a window's cycle time splits: citizen walks to the counter, service, officer pause.
const WALK: f64 = 0.2;
const SERVICE: f64 = 0.65;
const PAUSE: f64 = 0.15;
/// How long the open loop waits for late answers after the run before giving up on them.
const DRAIN: Duration = Duration::from_secs(15);
/// Case operations per second one simulated case officer makes in the open loop (a real one
/// makes a few an hour; the load is the province's, compressed onto fewer officers).
const DESK_RATE: f64 = 25.0;

/// Requests of one window, built once.
pub struct WindowReqs {
    /// Position of the window's hall in the province.
    hall: usize,
    /// `/v1/halls/{hall}/windows/{window}`.
    base: String,
    call: Uri,
    start: Uri,
    complete: Uri,
    issue: Uri,
    /// Issue bodies for each service the window serves: (normal, priority).
    bodies: Vec<(Bytes, Bytes)>,
}

/// Everything the workers share.
pub struct Workload {
    pub target: Target,
    pub province: Province,
    pub windows: Vec<WindowReqs>,
    kiosk: HeaderValue,
    counter: HeaderValue,
    /// The case operations, unless they do not run.
    pub cases: Option<CaseMix>,
}

impl Workload {
    pub fn new(
        target: Target,
        province: Province,
        kiosk: &str,
        counter: &str,
        cases: Option<CaseMix>,
    ) -> Workload {
        let windows = province
            .interleaved_windows()
            .into_iter()
            .map(|(h, w)| {
                let hall = &province.halls[h];
                let window = &hall.windows[w];
                let base = format!("/v1/halls/{}/windows/{}", hall.id, window.id);
                WindowReqs {
                    hall: h,
                    base: base.clone(),
                    call: path(&format!("{base}/call")),
                    start: path(&format!("{base}/start")),
                    complete: path(&format!("{base}/complete")),
                    issue: path(&format!("/v1/halls/{}/tickets", hall.id)),
                    bodies: window
                        .services
                        .iter()
                        .map(|&s| {
                            let id = &hall.services[s];
                            (
                                Bytes::from(format!("{{\"service\":\"{id}\"}}")),
                                Bytes::from(format!(
                                    "{{\"service\":\"{id}\",\"class\":\"priority\"}}"
                                )),
                            )
                        })
                        .collect(),
                }
            })
            .collect();
        Workload {
            target,
            province,
            windows,
            kiosk: Target::bearer(kiosk),
            counter: Target::bearer(counter),
            cases,
        }
    }

    /// The id of window `w`'s hall.
    fn hall_of(&self, w: usize) -> &str {
        &self.province.halls[self.windows[w].hall].id
    }

    /// A citizen takes a number for one of the services window `w` serves.
    fn issue(&self, w: usize, rng: &mut Rng) -> crate::http::Req {
        let win = &self.windows[w];
        let (normal, priority) = &win.bodies[rng.below(win.bodies.len())];
        let body = if rng.unit() < PRIORITY_SHARE {
            priority.clone()
        } else {
            normal.clone()
        };
        self.target
            .request(Method::POST, win.issue.clone(), &self.kiosk, body)
    }

    fn window_op(&self, w: usize, op: Op) -> crate::http::Req {
        let win = &self.windows[w];
        let uri = match op {
            Op::Call => &win.call,
            Op::Start => &win.start,
            Op::Complete => &win.complete,
            other => unreachable!("{other:?} is not a window operation"),
        };
        self.target
            .request(Method::POST, uri.clone(), &self.counter, Bytes::new())
    }

    fn request(&self, w: usize, op: Op, rng: &mut Rng) -> crate::http::Req {
        match op {
            Op::Issue => self.issue(w, rng),
            _ => self.window_op(w, op),
        }
    }

    /// Open every window (and, on a daemon that was already running, complete whatever a
    /// window still holds), then put `per_window` citizens in the queue for each window,
    /// so calls find someone from the first second. None of this is measured.
    pub async fn prepare(&self, pool: &Pool, per_window: usize, seed: u64) -> Result<(), String> {
        let window_req = |w: usize, action: &str| {
            self.target.request(
                Method::POST,
                path(&format!("{}/{action}", self.windows[w].base)),
                &self.counter,
                Bytes::new(),
            )
        };
        let n = self.windows.len();
        let jobs: Vec<usize> = (0..n).collect();
        run_all(&jobs, 64, |w| {
            let req = window_req(w, "open");
            async move {
                let r = pool.send(req).await.map_err(|e| e.to_string())?;
                if !r.ok() {
                    return Err(format!(
                        "opening window {} failed: {} {}",
                        self.windows[w].base,
                        r.status,
                        String::from_utf8_lossy(&r.body)
                    ));
                }
                // A window of a running daemon may hold a ticket; 409 when it holds none.
                let _ = pool.send(window_req(w, "complete")).await;
                Ok(())
            }
        })
        .await?;
        let fills: Vec<usize> = (0..n * per_window).map(|i| i % n).collect();
        let rng = Mutex::new(Rng::new(seed ^ 0xF111));
        run_all(&fills, 64, |w| {
            let req = self.issue(w, &mut rng.lock().unwrap_or_else(|e| e.into_inner()));
            async move {
                let r = pool.send(req).await.map_err(|e| e.to_string())?;
                if r.ok() {
                    Ok(())
                } else {
                    Err(format!(
                        "issuing the first tickets failed: {} {}",
                        r.status,
                        String::from_utf8_lossy(&r.body)
                    ))
                }
            }
        })
        .await
    }
}

/// Run `job` for every item with at most `concurrency` at a time; the first error wins.
pub(crate) async fn run_all<'a, F, Fut>(
    items: &[usize],
    concurrency: usize,
    job: F,
) -> Result<(), String>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>> + 'a,
{
    use futures::stream::{self, StreamExt, TryStreamExt};
    stream::iter(items.iter().map(|&i| job(i)))
        .buffer_unordered(concurrency)
        .try_collect::<Vec<()>>()
        .await
        .map(|_| ())
}

/// When the measured period starts and ends.
#[derive(Debug, Clone, Copy)]
pub struct Period {
    pub start: Instant,
    /// End of warm-up: operations due before this are not recorded.
    pub from: Instant,
    pub until: Instant,
}

/// One recorder for every task: an HDR histogram is too big to keep one per request or per
/// window, and an uncontended lock costs nanoseconds next to a request.
pub type Shared = Arc<Mutex<Recorder>>;

fn note(rec: &Shared, op: Op, due: Instant, result: &Result<Reply, Failure>) {
    rec.lock()
        .unwrap_or_else(|e| e.into_inner())
        .record(op, due, result);
}

// ------------------------------------------------------------------ closed loop

/// Maximum throughput: `connections` workers, each owning every `connections`-th window.
pub async fn closed_loop(
    work: Arc<Workload>,
    connections: usize,
    period: Period,
    seed: u64,
    rec: Shared,
) {
    let mut tasks = Vec::with_capacity(connections);
    for k in 0..connections {
        let mine: Vec<usize> = (k..work.windows.len()).step_by(connections).collect();
        let rng = Rng::new(seed.wrapping_add(k as u64 * 0x1_0000_0001));
        tasks.push(tokio::spawn(worker(
            work.clone(),
            mine,
            Desk::new(k),
            period,
            rng,
            rec.clone(),
        )));
    }
    for t in tasks {
        let _ = t.await;
    }
}

async fn worker(
    work: Arc<Workload>,
    mine: Vec<usize>,
    mut desk: Desk,
    period: Period,
    mut rng: Rng,
    rec: Shared,
) {
    let mut conn: Option<Conn> = None;
    let mut next = 0;
    // Requests this worker sent, and how many of them were case operations.
    let (mut sent, mut case_ops) = (0u64, 0u64);
    while Instant::now() < period.until {
        if let Some(mix) = &work.cases
            && (case_ops as f64) < mix.share * (sent + 1) as f64
        {
            let hall = work.hall_of(mine[rng.below(mine.len())]);
            let step = desk.step(mix, &work.target, hall, &mut rng);
            let due = Instant::now();
            let result = send(&work.target, &mut conn, step.req).await;
            note(&rec, step.op, due, &result);
            desk.settle(step.pending, result.as_ref().is_ok_and(Reply::ok));
            sent += 1;
            case_ops += 1;
            continue;
        }
        let w = mine[next % mine.len()];
        next += 1;
        for op in Op::TICKET {
            let req = work.request(w, op, &mut rng);
            let due = Instant::now();
            let result = send(&work.target, &mut conn, req).await;
            sent += 1;
            note(&rec, op, due, &result);
            match (op, &result) {
                // Nobody waiting (204), or the call failed: nothing to start or complete.
                (Op::Call, Ok(r)) if r.status != 200 => break,
                (Op::Call | Op::Start, Err(_)) => break,
                _ => {}
            }
        }
    }
}

/// Send on the worker's connection, opening a new one if it broke.
pub(crate) async fn send(
    target: &Target,
    conn: &mut Option<Conn>,
    req: crate::http::Req,
) -> Result<Reply, Failure> {
    let c = match conn {
        Some(c) if c.is_usable() => c,
        _ => conn.insert(Conn::open(target).await?),
    };
    let result = c.send(req).await;
    if result.is_err() {
        *conn = None;
    }
    result
}

// ------------------------------------------------------------------ open loop

/// Fixed rate: `rate` requests per second over the whole province on at most `connections`
/// connections: the case share of them case operations, of the rest a quarter kiosk
/// arrivals and three quarters window operations.
pub async fn open_loop(
    work: Arc<Workload>,
    pool: Arc<Pool>,
    rate: f64,
    period: Period,
    seed: u64,
    rec: Shared,
) {
    let windows = work.windows.len();
    let case_share = work.cases.as_ref().map_or(0.0, |m| m.share);
    // Each served citizen is four requests: one issue and three window operations.
    let citizens_per_s = rate * (1.0 - case_share) / 4.0;
    let cycle = Duration::from_secs_f64(windows as f64 / citizens_per_s);
    let give_up = period.until + DRAIN;

    let in_flight = Arc::new(AtomicUsize::new(0));
    let run = Run {
        work: work.clone(),
        pool: pool.clone(),
        period,
        give_up,
        rec: rec.clone(),
    };
    let kiosks = tokio::spawn(kiosks(
        run.clone(),
        Duration::from_secs_f64(1.0 / citizens_per_s),
        Rng::new(seed ^ 0x4B_105C),
        in_flight.clone(),
    ));
    let mut agents = Vec::with_capacity(windows);
    for w in 0..windows {
        let rng = Rng::new(seed.wrapping_add(w as u64 * 0x1_0000_0001));
        agents.push(tokio::spawn(window_agent(run.clone(), w, cycle, rng)));
    }
    if case_share > 0.0 {
        let case_rate = rate * case_share;
        let desks = (case_rate / DESK_RATE).ceil().max(1.0) as usize;
        let mean_gap = Duration::from_secs_f64(desks as f64 / case_rate);
        for k in 0..desks {
            let rng = Rng::new(seed ^ 0xCA5E_0000_0000 ^ k as u64);
            agents.push(tokio::spawn(case_officer(
                run.clone(),
                Desk::new(k),
                mean_gap,
                rng,
            )));
        }
    }
    for a in agents {
        let _ = a.await;
    }
    let _ = kiosks.await;
    while in_flight.load(Ordering::Acquire) > 0 && Instant::now() < give_up + Duration::from_secs(1)
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Send a request that was due at `due` and record it; a request still unanswered at
/// `give_up` is recorded as abandoned (an error).
async fn send_due(
    pool: &Pool,
    req: crate::http::Req,
    op: Op,
    due: Instant,
    give_up: Instant,
    rec: &Shared,
) -> Option<Reply> {
    match tokio::time::timeout_at(give_up.into(), pool.send(req)).await {
        Ok(result) => {
            note(rec, op, due, &result);
            result.ok()
        }
        Err(_) => {
            rec.lock()
                .unwrap_or_else(|e| e.into_inner())
                .abandoned(op, due);
            None
        }
    }
}

async fn sleep_until(at: Instant) {
    if at > Instant::now() {
        tokio::time::sleep_until(at.into()).await;
    }
}

/// What every agent and generator of one run shares: the workload, the connections, the
/// measured period, when to stop waiting, and where results are recorded.
#[derive(Clone)]
struct Run {
    work: Arc<Workload>,
    pool: Arc<Pool>,
    period: Period,
    give_up: Instant,
    rec: Shared,
}

/// A window's officer: call, wait for the citizen to walk up, start, serve, complete, pause.
/// The times are drawn in advance and never pushed back by slow answers.
async fn window_agent(run: Run, w: usize, cycle: Duration, mut rng: Rng) {
    let Run {
        work,
        pool,
        period,
        give_up,
        rec,
    } = run;
    let mut due = period.start + cycle.mul_f64(rng.unit());
    while due < period.until {
        let walk = rng.exp(cycle.mul_f64(WALK));
        let service = rng.exp(cycle.mul_f64(SERVICE));
        let pause = rng.exp(cycle.mul_f64(PAUSE));
        sleep_until(due).await;
        let call = work.window_op(w, Op::Call);
        let called = send_due(&pool, call, Op::Call, due, give_up, &rec).await;
        if called.is_some_and(|r| r.status == 200) {
            let start_due = due + walk;
            sleep_until(start_due).await;
            let start = work.window_op(w, Op::Start);
            if send_due(&pool, start, Op::Start, start_due, give_up, &rec)
                .await
                .is_some()
            {
                let complete_due = start_due + service;
                sleep_until(complete_due).await;
                let complete = work.window_op(w, Op::Complete);
                send_due(&pool, complete, Op::Complete, complete_due, give_up, &rec).await;
            }
        }
        if Instant::now() >= give_up {
            break;
        }
        due += walk + service + pause;
    }
}

/// A case officer: operations due as a Poisson process with `mean_gap` between them, at the
/// halls of the province weighted by their windows, one request at a time so each is valid
/// for the case it touches.
async fn case_officer(run: Run, mut desk: Desk, mean_gap: Duration, mut rng: Rng) {
    let Run {
        work,
        pool,
        period,
        give_up,
        rec,
    } = run;
    let Some(mix) = &work.cases else { return };
    let mut due = period.start + mean_gap.mul_f64(rng.unit());
    while due < period.until {
        sleep_until(due).await;
        let hall = work.hall_of(rng.below(work.windows.len()));
        let step = desk.step(mix, &work.target, hall, &mut rng);
        let reply = send_due(&pool, step.req, step.op, due, give_up, &rec).await;
        desk.settle(step.pending, reply.is_some_and(|r| r.ok()));
        if Instant::now() >= give_up {
            break;
        }
        due += rng.exp(mean_gap);
    }
}

/// Citizens arriving at kiosks: a Poisson process over the whole province. Each picks a
/// window's services (so demand matches what the windows serve) and is sent at once,
/// concurrently with the others.
async fn kiosks(run: Run, mean_gap: Duration, mut rng: Rng, in_flight: Arc<AtomicUsize>) {
    let Run {
        work,
        pool,
        period,
        give_up,
        rec,
    } = run;
    let mut due = period.start;
    loop {
        due += rng.exp(mean_gap);
        if due >= period.until {
            return;
        }
        sleep_until(due).await;
        let req = work.issue(rng.below(work.windows.len()), &mut rng);
        let (pool, rec, in_flight) = (pool.clone(), rec.clone(), in_flight.clone());
        in_flight.fetch_add(1, Ordering::AcqRel);
        tokio::spawn(async move {
            send_due(&pool, req, Op::Issue, due, give_up, &rec).await;
            in_flight.fetch_sub(1, Ordering::AcqRel);
        });
    }
}
