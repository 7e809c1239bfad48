//! Scenario (b), display fan-out: one hall, thousands of displays following its stream over
//! SSE, and calls at one window at a modest rate. DESIGN.md's target: one call event reaches
//! 5,000 SSE subscribers, p99 ≤ 100 ms.
//!
//! Before measuring, the hall's first window is opened, a ticket is issued for every call the
//! run will make, and every display subscribes (each on its own TCP connection, as real
//! displays) and gets its snapshot. Then a counter calls the next ticket `--rate` times a
//! second at that window; for each call the instants its request was sent and its answer
//! arrived are kept, and every display keeps the instant each `called` event arrived, with
//! the event's `id` (the hall's sequence). One display also reads the ticket id out of each
//! `called` event's data: the call's answer names the same ticket, which matches a call to
//! its sequence, so the thousands of others only keep `(id, instant)` pairs.
//!
//! Latency is receipt − answer: from the officer's terminal confirming the call to the hall
//! display showing it. The daemon publishes an event as soon as it is durable, which can be
//! before the answer is written, so a display may have it first: such deliveries count as 0
//! and are counted (`before_answer`). Receipt − request-sent is reported as well, and the
//! spread: receipt − the first display's receipt of the same call, which leaves out the
//! commit and shows what serving thousands of displays costs.
//!
//! The figures are not flattered: without `--target` the daemon runs in this process and
//! shares the machine's cores with the displays, and a receipt instant is when a display's
//! task read the event, so time a display waited for a core counts against the daemon. On a
//! small machine they are an upper bound of what displays on their own devices would see.

use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http::{HeaderValue, Method};
use serde_json::{Value, json};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use crate::http::{Conn, Failure, Reply, Target, path};
use crate::plan::{Daemon, Env, Plan, with_daemon};
use crate::report::{Outcome, histogram, ms};
use crate::sse::{self, Event, Sink};
use crate::workload::{run_all, send};

/// Displays of the hall when `--subscribers` is not given: DESIGN.md's target.
pub const DEFAULT_SUBSCRIBERS: usize = 5000;
/// Calls per second when `--rate` is not given: a busy hall, not a stress test of calling.
pub const DEFAULT_RATE: f64 = 10.0;
/// Displays connecting at once (connect, subscribe, snapshot). All of them at once would
/// overflow the daemon's listen backlog and stall in SYN retries, which measures nothing.
const CONNECTING: usize = 256;
/// How long the displays may take to subscribe before the run gives up.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long after the last call a display may still receive a call before it is missed.
const DRAIN: Duration = Duration::from_secs(10);
/// Open files besides the displays' sockets: the store, the listener, the caller's and the
/// set-up connections, standard streams.
const FD_MARGIN: u64 = 256;
/// Connections issuing the tickets before the run.
const SETUP_CONNECTIONS: usize = 16;

/// Run the fan-out scenario of `plan`.
pub fn run(plan: &Plan) -> Result<Outcome, String> {
    let subscribers = plan.subscribers.unwrap_or(DEFAULT_SUBSCRIBERS);
    let rate = plan.rate.unwrap_or(DEFAULT_RATE);
    let local = matches!(plan.daemon, Daemon::Local { .. });
    let open_files = raise_open_file_limit(subscribers, local)?;
    with_daemon(plan, async |env| {
        measure(plan, env, subscribers, rate)
            .await
            .map(|figures| figures.outcome(open_files))
    })
}

/// Raise the soft `RLIMIT_NOFILE` to the hard limit, and check it is enough: a display is
/// one socket, two when the daemon runs in this process and holds the other end.
fn raise_open_file_limit(subscribers: usize, local: bool) -> Result<u64, String> {
    let per_display: u64 = if local { 2 } else { 1 };
    let needed = subscribers as u64 * per_display + FD_MARGIN;
    let limit = rlimit::increase_nofile_limit(u64::MAX)
        .map_err(|e| format!("cannot raise the open-file limit (RLIMIT_NOFILE): {e}"))?;
    if limit < needed {
        let why = if local {
            "two sockets each, as the daemon runs in this process"
        } else {
            "one socket each"
        };
        return Err(format!(
            "{subscribers} displays need about {needed} open files ({why}, and {FD_MARGIN} more), \
             but this process may open at most {limit} (its hard RLIMIT_NOFILE); raise the hard \
             limit (`ulimit -Hn`, systemd `LimitNOFILE=`, `docker run --ulimit nofile=`) or use \
             fewer --subscribers"
        ));
    }
    Ok(limit)
}

/// What the displays share with the run.
#[derive(Default)]
struct Shared {
    /// Displays that have their snapshot.
    ready: AtomicUsize,
    /// Displays whose subscription has ended.
    finished: AtomicUsize,
    /// Subscription attempts that failed.
    refused: AtomicU64,
    /// The sequence of the run's last call, once known (0 before): an event after it tells
    /// a display it has everything it will be asked about.
    last_call: AtomicU64,
    /// Ticket id → sequence of its `called` event, read by the witness display.
    called: Mutex<HashMap<String, u64>>,
}

/// One hall display of the fan-out.
struct Display {
    shared: Arc<Shared>,
    /// Held until the snapshot arrives: bounds the displays connecting at once.
    connecting: Option<OwnedSemaphorePermit>,
    /// The one display that reads the ticket ids of `called` events.
    witness: bool,
    /// `(id, receipt)` of every `called` event, in stream order.
    calls: Vec<(u64, Instant)>,
    /// Times the daemon cut this display off (or its stream broke otherwise).
    breaks: u64,
}

impl Sink for Display {
    fn event(&mut self, event: Event<'_>, at: Instant) -> ControlFlow<()> {
        if self.connecting.take().is_some() {
            self.shared.ready.fetch_add(1, Ordering::Relaxed);
        }
        let Some(id) = event.id else {
            return ControlFlow::Continue(());
        };
        if event.kind == b"called" {
            self.calls.push((id, at));
            if self.witness
                && let Some(ticket) = serde_json::from_slice::<Value>(event.data)
                    .ok()
                    .and_then(|v| Some(v.get("ticket")?.as_str()?.to_owned()))
            {
                lock(&self.shared.called).insert(ticket, id);
            }
        }
        let last = self.shared.last_call.load(Ordering::SeqCst);
        if last != 0 && id > last {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    fn refused(&mut self) {
        self.shared.refused.fetch_add(1, Ordering::Relaxed);
    }

    fn broke(&mut self) {
        self.breaks += 1;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One measured call.
struct Call {
    ticket: String,
    sent: Instant,
    answered: Instant,
}

/// Everything measured, before it is printed.
struct Figures {
    target: String,
    daemon: &'static str,
    hall: String,
    window: String,
    rate: f64,
    duration: Duration,
    warmup: Duration,
    subscribers: usize,
    tickets: usize,
    /// From starting the first display to the last one having its snapshot.
    subscribe_time: Duration,
    calls: u64,
    failed_requests: u64,
    error_kinds: BTreeMap<String, u64>,
    /// Measured calls whose `called` event the witness display never saw.
    unmatched_calls: u64,
    deliveries: u64,
    before_answer: u64,
    dropped: u64,
    reconnects: u64,
    refused: u64,
    from_answer: Histogram<u64>,
    from_request: Histogram<u64>,
    /// Receipt − the earliest receipt of the same call at any display.
    spread: Histogram<u64>,
    call: Histogram<u64>,
}

async fn measure(plan: &Plan, env: Env, subscribers: usize, rate: f64) -> Result<Figures, String> {
    let target = env.target;
    let hall = env.province.halls.first().ok_or("the daemon has no hall")?;
    let window = hall
        .windows
        .first()
        .ok_or_else(|| format!("hall `{}` has no window to call at", hall.id))?;
    let service = window
        .services
        .first()
        .map(|&s| hall.services[s].as_str())
        .ok_or_else(|| format!("window `{}` of `{}` serves nothing", window.id, hall.id))?;
    let base = format!("/v1/halls/{}/windows/{}", hall.id, window.id);
    let counter = Target::bearer(&env.tokens.counter);

    // One ticket for every call the run makes, and some over: a call that finds nobody
    // waiting would measure nothing.
    let tickets = (rate * (plan.warmup + plan.duration).as_secs_f64() * 1.1).ceil() as usize + 10;
    prepare(&target, &hall.id, &base, service, &env.tokens, tickets).await?;

    let shared = Arc::new(Shared::default());
    let subscribe_start = Instant::now();
    let (stops, displays) = subscribe_all(
        &target,
        &hall.id,
        Target::bearer(&env.tokens.display),
        subscribers,
        tickets,
        &shared,
    )
    .await?;
    let subscribe_time = subscribe_start.elapsed();

    let start = Instant::now();
    let from = start + plan.warmup;
    let until = from + plan.duration;
    let mut conn: Option<Conn> = None;
    let call_uri = path(&format!("{base}/call"));
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut calls: Vec<Call> = Vec::with_capacity(tickets);
    let mut last_ticket = None;
    let mut call_latency = histogram();
    let mut failed_requests = 0;
    let mut error_kinds = BTreeMap::new();
    loop {
        tick.tick().await;
        let sent = Instant::now();
        if sent >= until {
            break;
        }
        let req = target.request(Method::POST, call_uri.clone(), &counter, Bytes::new());
        let result = send(&target, &mut conn, req).await;
        let answered = Instant::now();
        let ticket = result.as_ref().ok().and_then(called_ticket);
        if let Some(t) = &ticket {
            last_ticket = Some(t.clone());
        }
        if sent < from {
            continue;
        }
        call_latency.saturating_record(micros(answered - sent));
        match ticket {
            Some(ticket) => calls.push(Call {
                ticket,
                sent,
                answered,
            }),
            None => {
                failed_requests += 1;
                *error_kinds.entry(failure("call", &result)).or_default() += 1;
            }
        }
    }

    // Tell the displays where the run ends, then make one more event so that every one of
    // them sees it has all the calls (or runs out of time trying).
    let deadline = Instant::now() + DRAIN;
    if let Some(ticket) = last_ticket {
        let seq = loop {
            if let Some(&s) = lock(&shared.called).get(&ticket) {
                break Some(s);
            }
            if Instant::now() >= deadline {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        if let Some(seq) = seq {
            shared.last_call.store(seq, Ordering::SeqCst);
            let req = target.request(
                Method::POST,
                path(&format!("{base}/complete")),
                &counter,
                Bytes::new(),
            );
            let result = send(&target, &mut conn, req).await;
            if !result.as_ref().is_ok_and(Reply::ok) {
                failed_requests += 1;
                *error_kinds.entry(failure("complete", &result)).or_default() += 1;
            }
        }
        while shared.finished.load(Ordering::Relaxed) < subscribers && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    drop(stops);
    let mut done = Vec::with_capacity(displays.len());
    for d in displays {
        done.push(d.await.map_err(|e| format!("a display task failed: {e}"))?);
    }

    // Match calls to their events, then every display's receipts to the calls.
    let called = std::mem::take(&mut *lock(&shared.called));
    let mut by_seq = HashMap::with_capacity(calls.len());
    let mut unmatched_calls = 0;
    for (k, c) in calls.iter().enumerate() {
        match called.get(&c.ticket) {
            Some(&seq) => {
                by_seq.insert(seq, k);
            }
            None => unmatched_calls += 1,
        }
    }
    let mut first: Vec<Option<Instant>> = vec![None; calls.len()];
    for (k, at) in done.iter().flat_map(|d| receipts(d, &by_seq)) {
        first[k] = Some(first[k].map_or(at, |f| f.min(at)));
    }
    let (mut from_answer, mut from_request, mut spread) = (histogram(), histogram(), histogram());
    let (mut deliveries, mut before_answer, mut dropped, mut reconnects) = (0, 0, 0, 0);
    for d in &done {
        if d.breaks > 0 {
            dropped += 1;
            reconnects += d.breaks;
        }
        for (k, at) in receipts(d, &by_seq) {
            let call = &calls[k];
            deliveries += 1;
            if let Some(f) = first[k] {
                spread.saturating_record(micros(at - f));
            }
            match at.checked_duration_since(call.answered) {
                Some(d) => from_answer.saturating_record(micros(d)),
                None => {
                    before_answer += 1;
                    from_answer.saturating_record(0);
                }
            }
            from_request.saturating_record(micros(at.saturating_duration_since(call.sent)));
        }
    }
    Ok(Figures {
        target: target.url.clone(),
        daemon: env.daemon,
        hall: hall.id.clone(),
        window: window.id.clone(),
        rate,
        duration: plan.duration,
        warmup: plan.warmup,
        subscribers,
        tickets,
        subscribe_time,
        calls: calls.len() as u64,
        failed_requests,
        error_kinds,
        unmatched_calls,
        deliveries,
        before_answer,
        dropped,
        reconnects,
        refused: shared.refused.load(Ordering::Relaxed),
        from_answer,
        from_request,
        spread,
        call: call_latency,
    })
}

/// `(call, receipt)` of every measured call a display received. A resumed stream starts
/// after the last complete event, so a display never has a call twice; should it, only the
/// first receipt counts.
fn receipts<'a>(
    d: &'a Display,
    by_seq: &'a HashMap<u64, usize>,
) -> impl Iterator<Item = (usize, Instant)> + 'a {
    let mut previous = 0;
    d.calls
        .iter()
        .filter(move |&&(seq, _)| {
            let new = seq > previous;
            previous = previous.max(seq);
            new
        })
        .filter_map(|&(seq, at)| Some((*by_seq.get(&seq)?, at)))
}

/// Open the window (finishing whatever a running daemon's window still holds) and issue
/// `tickets` tickets for `service`. None of this is measured, and it happens before the
/// displays subscribe, so their snapshots start from a full queue.
async fn prepare(
    target: &Target,
    hall: &str,
    base: &str,
    service: &str,
    tokens: &crate::province::Tokens,
    tickets: usize,
) -> Result<(), String> {
    let pool = crate::http::Pool::new(target.clone(), SETUP_CONNECTIONS);
    let counter = Target::bearer(&tokens.counter);
    let kiosk = Target::bearer(&tokens.kiosk);
    let open = target.request(
        Method::POST,
        path(&format!("{base}/open")),
        &counter,
        Bytes::new(),
    );
    let r = pool
        .send(open)
        .await
        .map_err(|e| format!("opening {base}: {e}"))?;
    if !r.ok() {
        return Err(format!(
            "opening {base}: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        ));
    }
    // 409 when the window holds nothing, as it does on a fresh daemon.
    let complete = target.request(
        Method::POST,
        path(&format!("{base}/complete")),
        &counter,
        Bytes::new(),
    );
    let _ = pool.send(complete).await;
    let issue = path(&format!("/v1/halls/{hall}/tickets"));
    let body = Bytes::from(json!({ "service": service }).to_string());
    let all: Vec<usize> = (0..tickets).collect();
    run_all(&all, SETUP_CONNECTIONS, |_| {
        let req = target.request(Method::POST, issue.clone(), &kiosk, body.clone());
        let pool = &pool;
        async move {
            let r = pool
                .send(req)
                .await
                .map_err(|e| format!("issuing a ticket at `{hall}`: {e}"))?;
            if r.ok() {
                Ok(())
            } else {
                Err(format!(
                    "issuing a ticket at `{hall}`: {} {}",
                    r.status,
                    String::from_utf8_lossy(&r.body)
                ))
            }
        }
    })
    .await
}

type Subscribed = (
    Vec<oneshot::Sender<()>>,
    Vec<tokio::task::JoinHandle<Display>>,
);

/// Start `n` displays of `hall` and wait until every one has its snapshot. Dropping the
/// returned senders stops the displays; each task returns its display.
async fn subscribe_all(
    target: &Target,
    hall: &str,
    token: HeaderValue,
    n: usize,
    calls: usize,
    shared: &Arc<Shared>,
) -> Result<Subscribed, String> {
    let deadline = Instant::now() + SUBSCRIBE_TIMEOUT;
    let gate = Arc::new(Semaphore::new(CONNECTING));
    let mut stops = Vec::with_capacity(n);
    let mut displays = Vec::with_capacity(n);
    let mut all_started = true;
    for i in 0..n {
        let Ok(permit) = tokio::time::timeout_at(deadline.into(), gate.clone().acquire_owned())
            .await
            .map(|p| p.expect("the gate is never closed"))
        else {
            all_started = false;
            break;
        };
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        stops.push(stop_tx);
        let mut display = Display {
            shared: shared.clone(),
            connecting: Some(permit),
            witness: i == 0,
            calls: Vec::with_capacity(calls),
            breaks: 0,
        };
        let (target, hall, token) = (target.clone(), hall.to_owned(), token.clone());
        displays.push(tokio::spawn(async move {
            let stop = async {
                let _ = stop_rx.await;
            };
            sse::follow(
                &target,
                &sse::hall_stream(&hall),
                &token,
                stop,
                &mut display,
            )
            .await;
            display.shared.finished.fetch_add(1, Ordering::Relaxed);
            display
        }));
    }
    while all_started && shared.ready.load(Ordering::Relaxed) < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let ready = shared.ready.load(Ordering::Relaxed);
    if ready < n {
        drop(stops);
        for d in displays {
            let _ = d.await;
        }
        return Err(format!(
            "only {ready} of {n} displays of `{hall}` had their snapshot after {}s \
             ({} subscription attempts failed); is the daemon's `server.max_subscribers` \
             below {n}?",
            SUBSCRIBE_TIMEOUT.as_secs(),
            shared.refused.load(Ordering::Relaxed)
        ));
    }
    Ok((stops, displays))
}

/// The ticket a successful call-next answer names.
fn called_ticket(r: &Reply) -> Option<String> {
    if r.status != 200 {
        return None;
    }
    let v: Value = serde_json::from_slice(&r.body).ok()?;
    Some(v.get("id")?.as_str()?.to_owned())
}

/// A short label for a failed request, for the error table.
fn failure(op: &str, result: &Result<Reply, Failure>) -> String {
    match result {
        Ok(r) if r.status == 204 => format!("{op} 204 nobody-waiting"),
        Ok(r) if r.ok() => format!("{op} {} no-ticket-in-answer", r.status),
        Ok(r) => format!("{op} {} {}", r.status, r.problem_type()),
        Err(f) => format!("{op} {}", f.kind()),
    }
}

fn micros(d: Duration) -> u64 {
    d.as_micros().min(60_000_000) as u64
}

/// p50, p90, p99, p99.9 and max, in milliseconds.
fn quantiles(h: &Histogram<u64>) -> [f64; 5] {
    [
        ms(h.value_at_quantile(0.50)),
        ms(h.value_at_quantile(0.90)),
        ms(h.value_at_quantile(0.99)),
        ms(h.value_at_quantile(0.999)),
        ms(h.max()),
    ]
}

fn quantiles_json(h: &Histogram<u64>) -> Value {
    let [p50, p90, p99, p999, max] = quantiles(h);
    json!({ "p50_ms": p50, "p90_ms": p90, "p99_ms": p99, "p999_ms": p999, "max_ms": max })
}

impl Figures {
    fn expected(&self) -> u64 {
        self.calls * self.subscribers as u64
    }

    fn missed(&self) -> u64 {
        self.expected().saturating_sub(self.deliveries)
    }

    fn errors(&self) -> u64 {
        self.failed_requests + self.missed() + self.dropped
    }

    fn outcome(self, open_files: u64) -> Outcome {
        Outcome {
            json: self.json(open_files),
            table: self.table(open_files),
            errors: self.errors(),
        }
    }

    fn json(&self, open_files: u64) -> Value {
        let [p50, p90, p99, p999, max] = quantiles(&self.from_answer);
        json!({
            "scenario": "fanout",
            "target": self.target,
            "daemon": self.daemon,
            "hall": self.hall,
            "window": self.window,
            "rate": self.rate,
            "duration_s": self.duration.as_secs_f64(),
            "warmup_s": self.warmup.as_secs_f64(),
            "subscribers": self.subscribers,
            "subscribe_s": (self.subscribe_time.as_secs_f64() * 1000.0).round() / 1000.0,
            "open_file_limit": open_files,
            "tickets_issued": self.tickets,
            "calls": self.calls,
            "failed_requests": self.failed_requests,
            "deliveries_expected": self.expected(),
            "deliveries": self.deliveries,
            "missed": self.missed(),
            "unmatched_calls": self.unmatched_calls,
            "before_answer": self.before_answer,
            "p50_ms": p50,
            "p90_ms": p90,
            "p99_ms": p99,
            "p999_ms": p999,
            "max_ms": max,
            "from_request": quantiles_json(&self.from_request),
            "spread": quantiles_json(&self.spread),
            "call_request": quantiles_json(&self.call),
            "dropped": self.dropped,
            "reconnects": self.reconnects,
            "refused": self.refused,
            "errors": self.errors(),
            "error_kinds": self.error_kinds,
        })
    }

    fn table(&self, open_files: u64) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "hallq-loadtest: display fan-out, {} SSE displays of hall `{}`, calls at window `{}` \
             at {}/s, {:.0}s after {:.0}s warm-up",
            self.subscribers,
            self.hall,
            self.window,
            self.rate,
            self.duration.as_secs_f64(),
            self.warmup.as_secs_f64()
        );
        let _ = writeln!(out, "daemon: {} at {}", self.daemon, self.target);
        if self.daemon.starts_with("in-process") {
            let _ = writeln!(
                out,
                "(the daemon and the displays share this machine's cores: the latencies \
                 include displays waiting for a core)"
            );
        }
        let _ = writeln!(
            out,
            "{} tickets issued; all displays subscribed and had their snapshot within {:.1}s; \
             open-file limit {open_files}\n",
            self.tickets,
            self.subscribe_time.as_secs_f64()
        );
        let _ = writeln!(
            out,
            "{:<34} {:>8} {:>8} {:>8} {:>9} {:>8}",
            "latency", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms"
        );
        for (name, h) in [
            ("call answer → display receipt", &self.from_answer),
            ("call request → display receipt", &self.from_request),
            ("first display → each display", &self.spread),
            ("call request → answer", &self.call),
        ] {
            let [p50, p90, p99, p999, max] = quantiles(h);
            let _ = writeln!(
                out,
                "{name:<34} {p50:>8.2} {p90:>8.2} {p99:>8.2} {p999:>9.2} {max:>8.2}"
            );
        }
        let _ = writeln!(
            out,
            "\ncalls: {} measured, {} failed requests; deliveries: {} of {} expected, {} missed",
            self.calls,
            self.failed_requests,
            self.deliveries,
            self.expected(),
            self.missed()
        );
        if self.unmatched_calls > 0 {
            let _ = writeln!(
                out,
                "{} calls never showed up on the stream (all their deliveries are missed)",
                self.unmatched_calls
            );
        }
        let _ = writeln!(
            out,
            "{} deliveries arrived before the call's answer (counted as 0 ms)",
            self.before_answer
        );
        let _ = writeln!(
            out,
            "displays: {} dropped, {} reconnects, {} refused subscription attempts",
            self.dropped, self.reconnects, self.refused
        );
        if !self.error_kinds.is_empty() {
            let _ = writeln!(out, "\nerrors:");
            for (k, v) in &self.error_kinds {
                let _ = writeln!(out, "  {v:>8}  {k}");
            }
        }
        let _ = writeln!(
            out,
            "\nerrors: {} (failed requests + missed deliveries + dropped displays)",
            self.errors()
        );
        out
    }
}
