//! The serving loop: accepts TCP connections and runs hyper's HTTP/1 on each, within bounds.
//!
//! Every connection ends; none is held by a client that stops talking:
//! - a request head must arrive whole `header_timeout` after the connection opened, or after
//!   the first byte of a later head arrived (slow headers);
//! - a request body must arrive whole `body_timeout` after its head (`TimedBody`: the handler
//!   answers 408, hyper closes the connection since the body was not read to its end);
//! - a keep-alive connection with no request in progress closes after `idle_timeout`;
//! - a response the client leaves unread (the socket stays full) for `write_timeout` closes
//!   the connection (`Guarded`).
//!
//! The number of connections is bounded below the descriptor limit (`Limits::new`), so the
//! daemon never fails on EMFILE with its store or its own sockets. The last `reserved` slots
//! under the cap take only requests with a valid bearer token and health probes (`/healthz`,
//! `/readyz`, `/metrics`); anything else on such a connection gets 503 with `Retry-After`
//! and the connection closes. At the cap, the connection that has waited longest for a
//! request head (a fresh one that sent nothing, a slow header, an idle keep-alive) is closed
//! to make room, as nginx does with idle keep-alive connections; only when every connection
//! is in the middle of a request is a new one refused. So a flood of silent or slow-header
//! connections cannot keep a kiosk or a probe out, and one of half-sent bodies holds its
//! slots for `body_timeout` at most. An optional limit per client address keeps one machine
//! from taking every slot (off for loopback unless `limit_loopback`).
//!
//! hyper answers requests it cannot parse (a bad request line, a head over `HEAD_LIMIT`)
//! itself, with an empty body; `Guarded` sends those as problem+json instead, like every
//! other refusal.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, Request, Response, header};
use axum::response::IntoResponse;
use bytes::Bytes;
use http_body::Frame;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;

use crate::api::AppState;
use crate::api::json::BodyTimeout;
use crate::api::problem::Problem;
use crate::metrics::{CONNECTIONS_CLOSED, CONNECTIONS_MAX, CONNECTIONS_OPEN, CONNECTIONS_REFUSED};

mod guard;
mod limits;

use guard::Guarded;
use limits::EVICTING_ROOM;
pub use limits::{HEAD_LIMIT, Limits, URI_LIMIT, raise_nofile};

/// Accept and serve until `shutdown`; then let requests in progress finish within `grace`
/// and close what is left.
pub async fn serve(
    listener: TcpListener,
    app: AppState,
    router: axum::Router,
    limits: Limits,
    shutdown: CancellationToken,
    grace: Duration,
) {
    metrics::gauge!(CONNECTIONS_MAX).set(limits.max_connections as f64);
    metrics::gauge!(CONNECTIONS_OPEN).set(0.0);
    // At 0 from the first scrape, so `increase()` works.
    for reason in ["header_timeout", "idle_timeout", "write_timeout", "evicted"] {
        metrics::counter!(CONNECTIONS_CLOSED, "reason" => reason).increment(0);
    }
    for reason in ["cap", "address", "reserve"] {
        metrics::counter!(CONNECTIONS_REFUSED, "reason" => reason).increment(0);
    }
    let reg = Arc::new(Registry {
        book: Mutex::new(Book::default()),
        drained: Notify::new(),
        limits,
    });
    let router = hyper_util::service::TowerToHyperService::new(router);
    let hard_stop = CancellationToken::new();
    let trimmer = tokio::spawn(give_back_memory(reg.clone()));
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors (or another transient failure): wait instead of
                    // spinning; connections closing will make room.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let conn = match reg.admit(peer.ip()) {
            Ok(conn) => conn,
            Err(reason) => {
                metrics::counter!(CONNECTIONS_REFUSED, "reason" => reason).increment(1);
                drop(stream);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let ctx = Arc::new(ConnCtx {
            app: app.clone(),
            router: router.clone(),
            conn,
            reg: reg.clone(),
        });
        tokio::spawn(run(ctx, stream, peer, shutdown.clone(), hard_stop.clone()));
    }
    drop(listener);
    trimmer.abort();
    if tokio::time::timeout(grace, reg.all_closed()).await.is_err() {
        tracing::warn!(
            grace_s = grace.as_secs(),
            "requests still running after the grace period; stopping anyway"
        );
        hard_stop.cancel();
        reg.all_closed().await;
    }
}

/// Connections that closed since the last trim before memory is handed back.
const TRIM_AFTER: usize = 256;

/// Hand freed memory back to the operating system after a flood of connections has gone.
///
/// glibc's malloc keeps what threads freed in their arenas: after 20,000 connections came
/// and went, the daemon stayed at 435 MiB resident with nothing open (mimalloc: 296 MiB;
/// BENCHMARKS.md, reliability). `malloc_trim(0)` returns every free page of every arena;
/// it runs when at least `TRIM_AFTER` connections closed since the last peak, every 10 s
/// at most, on a blocking thread (it walks the heap). The binaries that run the daemon
/// allocate with jemalloc, whose background thread gives pages back by itself
/// (`hallq::jemalloc!`); there glibc's heap is nearly empty and the trim finds little to do.
async fn give_back_memory(reg: Arc<Registry>) {
    let mut every = tokio::time::interval(Duration::from_secs(10));
    loop {
        every.tick().await;
        let shrunk = {
            let mut book = reg.book.lock().unwrap_or_else(|e| e.into_inner());
            let shrunk = book.peak >= book.open + TRIM_AFTER;
            if shrunk {
                book.peak = book.open;
            }
            shrunk
        };
        if shrunk {
            let _ = tokio::task::spawn_blocking(trim).await;
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    // SAFETY: malloc_trim only releases free pages of glibc's own heap; it takes no
    // pointers and is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}

/// What every connection shares.
struct Registry {
    book: Mutex<Book>,
    /// Woken when the last connection closes.
    drained: Notify,
    limits: Limits,
}

#[derive(Default)]
struct Book {
    open: usize,
    /// The most open at once since memory was last given back (`give_back_memory`).
    peak: usize,
    per_address: HashMap<IpAddr, usize>,
    /// Connections with no request in progress, in the order they became so, with the
    /// idle spell (`Phase::epoch`) each entry was made for; an entry whose connection has
    /// since taken a request or closed is stale and skipped. Compacted when stale entries
    /// outnumber open connections.
    waiting: VecDeque<(Weak<Conn>, u64)>,
}

impl Registry {
    /// Room for a connection from `ip`, or why not.
    fn admit(&self, ip: IpAddr) -> Result<Arc<Conn>, &'static str> {
        let l = &self.limits;
        let mut book = self.book.lock().unwrap_or_else(|e| e.into_inner());
        let counted = l.per_address > 0 && (l.limit_loopback || !ip.is_loopback());
        if counted && book.per_address.get(&ip).copied().unwrap_or(0) >= l.per_address {
            return Err("address");
        }
        if book.open >= l.max_connections
            && (book.open >= l.max_connections + EVICTING_ROOM || !evict_one(&mut book))
        {
            return Err("cap");
        }
        let reserve = book.open >= l.max_connections - l.reserved;
        book.open += 1;
        book.peak = book.peak.max(book.open);
        *book.per_address.entry(ip).or_default() += 1;
        metrics::gauge!(CONNECTIONS_OPEN).set(book.open as f64);
        let conn = Arc::new(Conn::new(reserve));
        book.waiting.push_back((Arc::downgrade(&conn), 0));
        Ok(conn)
    }

    fn closed(&self, ip: IpAddr) {
        let mut book = self.book.lock().unwrap_or_else(|e| e.into_inner());
        book.open -= 1;
        if let Some(n) = book.per_address.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                book.per_address.remove(&ip);
            }
        }
        metrics::gauge!(CONNECTIONS_OPEN).set(book.open as f64);
        compact(&mut book);
        if book.open == 0 {
            self.drained.notify_waiters();
        }
    }

    /// A connection became idle (spell `epoch`): it is a candidate to make room.
    fn idle(&self, conn: &Arc<Conn>, epoch: u64) {
        let mut book = self.book.lock().unwrap_or_else(|e| e.into_inner());
        book.waiting.push_back((Arc::downgrade(conn), epoch));
        compact(&mut book);
    }

    async fn all_closed(&self) {
        loop {
            let notified = self.drained.notified();
            if self.book.lock().unwrap_or_else(|e| e.into_inner()).open == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// Drop stale entries once they outnumber open connections, so the queue (and the closed
/// connections its `Weak`s keep allocated) stays proportional to what is open; amortized
/// O(1) per entry.
fn compact(book: &mut Book) {
    if book.waiting.len() > 2 * book.open + 64 {
        book.waiting
            .retain(|(w, e)| w.upgrade().is_some_and(|c| c.is_idle_in(*e)));
        book.waiting.shrink_to(2 * book.waiting.len() + 64);
    }
}

/// Close the connection that has waited longest for a request head; false if none waits.
fn evict_one(book: &mut Book) -> bool {
    while let Some((w, epoch)) = book.waiting.pop_front() {
        if let Some(c) = w.upgrade()
            && c.evict(epoch)
        {
            metrics::counter!(CONNECTIONS_CLOSED, "reason" => "evicted").increment(1);
            return true;
        }
    }
    false
}

/// One connection's state, shared by its task, its requests and the registry.
struct Conn {
    phase: Mutex<Phase>,
    /// `Phase::waiting` without the lock, for the read path: set while no request is in
    /// progress and no byte of the next head has arrived.
    waiting: AtomicBool,
    /// Wakes the connection's task to close it (evicted). What its own requests change
    /// (a head started, a request began or ended) needs no wake: they run inside the task,
    /// which looks at the deadline again after every poll of the connection (`Timer`).
    wake: Notify,
    /// Took one of the reserved slots: only requests with a token and probes are served.
    reserve: bool,
}

struct Phase {
    /// Requests whose answer has not been written out yet.
    busy: usize,
    /// Counts idle spells, so a registry entry names the spell it was made for.
    epoch: u64,
    /// When the connection opened or last finished a request.
    idle_since: Instant,
    /// When the first byte of the next request head arrived.
    head_since: Option<Instant>,
    /// Whether any request was read (a fresh connection gets `header_timeout`, an idle one
    /// `idle_timeout`).
    served: bool,
    evicted: bool,
}

/// Why a connection's task closed it.
#[derive(Clone, Copy)]
enum Expiry {
    Header,
    Idle,
    Evicted,
}

impl Conn {
    fn new(reserve: bool) -> Conn {
        Conn {
            phase: Mutex::new(Phase {
                busy: 0,
                epoch: 0,
                idle_since: Instant::now(),
                head_since: None,
                served: false,
                evicted: false,
            }),
            waiting: AtomicBool::new(true),
            wake: Notify::new(),
            reserve,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// When the connection must close if nothing changes, and why; `None` while a request
    /// is in progress (its body and its answer have their own timeouts).
    fn deadline(&self, l: &Limits) -> Option<(Instant, Expiry)> {
        let p = self.lock();
        if p.evicted {
            return Some((Instant::now(), Expiry::Evicted));
        }
        if p.busy > 0 {
            return None;
        }
        Some(match p.head_since {
            Some(t) => (t + l.header_timeout, Expiry::Header),
            None if !p.served => (p.idle_since + l.header_timeout, Expiry::Header),
            None => (p.idle_since + l.idle_timeout, Expiry::Idle),
        })
    }

    /// Bytes arrived: if nothing was in progress, a head has started.
    fn on_read(&self) {
        if self.waiting.swap(false, Ordering::AcqRel) {
            let mut p = self.lock();
            if p.busy == 0 && p.head_since.is_none() {
                p.head_since = Some(Instant::now());
            }
        }
    }

    fn begin(&self) {
        let mut p = self.lock();
        p.busy += 1;
        p.served = true;
        p.head_since = None;
        self.waiting.store(false, Ordering::Release);
    }

    /// A request's answer is written (or abandoned); returns the new idle spell, if idle.
    fn end(&self) -> Option<u64> {
        let mut p = self.lock();
        p.busy -= 1;
        (p.busy == 0).then(|| {
            p.epoch += 1;
            p.idle_since = Instant::now();
            self.waiting.store(true, Ordering::Release);
            p.epoch
        })
    }

    fn is_idle_in(&self, epoch: u64) -> bool {
        let p = self.lock();
        p.busy == 0 && p.epoch == epoch && !p.evicted
    }

    /// Close this connection to make room, if it is still in idle spell `epoch`.
    fn evict(&self, epoch: u64) -> bool {
        let mut p = self.lock();
        if p.busy > 0 || p.epoch != epoch || p.evicted {
            return false;
        }
        p.evicted = true;
        drop(p);
        self.wake.notify_one();
        true
    }
}

type Router = hyper_util::service::TowerToHyperService<axum::Router>;

/// What a connection's requests need.
struct ConnCtx {
    app: AppState,
    router: Router,
    conn: Arc<Conn>,
    reg: Arc<Registry>,
}

/// Serve one connection until the client closes it, a timeout or eviction closes it, or
/// the daemon stops.
async fn run(
    ctx: Arc<ConnCtx>,
    stream: TcpStream,
    peer: SocketAddr,
    shutdown: CancellationToken,
    hard_stop: CancellationToken,
) {
    let conn = ctx.conn.clone();
    let reg = ctx.reg.clone();
    let limits = reg.limits.clone();
    let io = Guarded {
        io: stream,
        conn: conn.clone(),
        write_timeout: limits.write_timeout,
        stall: None,
        swap: None,
    };
    let service = hyper::service::service_fn(move |req| {
        let ctx = ctx.clone();
        async move { Ok::<_, Infallible>(ctx.handle(req).await) }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.max_buf_size(HEAD_LIMIT)
        .max_header_size(HEAD_LIMIT)
        .header_read_timeout(None)
        .keep_alive(true);
    let served = http.serve_connection(hyper_util::rt::TokioIo::new(io), service);
    tokio::pin!(served);
    let stopping = shutdown.cancelled();
    tokio::pin!(stopping);
    let stopped = hard_stop.cancelled();
    tokio::pin!(stopped);
    let mut timer = Timer::new(&conn, &limits);
    let mut draining = false;
    loop {
        tokio::select! {
            // The connection first: what it just did (a head begun, a request begun or
            // answered) is what the timer then looks at, in the same poll.
            biased;
            r = served.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                break;
            }
            why = std::future::poll_fn(|cx| timer.poll_expired(cx, &conn, &limits)) => {
                let reason = match why {
                    Expiry::Header => "header_timeout",
                    Expiry::Idle => "idle_timeout",
                    // Counted when it was chosen.
                    Expiry::Evicted => break,
                };
                metrics::counter!(CONNECTIONS_CLOSED, "reason" => reason).increment(1);
                break;
            }
            () = conn.wake.notified() => {}
            () = stopping.as_mut(), if !draining => {
                // hyper finishes the request in progress and closes; an idle connection
                // closes at once.
                draining = true;
                served.as_mut().graceful_shutdown();
            }
            () = stopped.as_mut() => break,
        }
    }
    reg.closed(peer.ip());
}

/// A connection's one timer, armed lazily. It is never set further ahead than the shortest
/// timeout, so a deadline the connection's own requests bring (a head begun, a request
/// answered) is never earlier than the timer: nothing has to be re-armed per request, only
/// when the timer fires before the deadline it finds then. A wake and a timer reset per
/// request (on each head, begin and end) cost ~2.7 extra polls of the connection's task
/// per request before.
struct Timer {
    sleep: Pin<Box<Sleep>>,
    /// When `sleep` fires.
    armed: Instant,
    /// The shortest timeout: how far ahead the timer is ever set.
    step: Duration,
}

impl Timer {
    fn new(conn: &Conn, l: &Limits) -> Timer {
        let step = l
            .header_timeout
            .min(l.idle_timeout)
            .max(Duration::from_millis(1));
        let now = Instant::now();
        let armed = conn
            .deadline(l)
            .map_or(now + step, |(at, _)| at.min(now + step));
        Timer {
            sleep: Box::pin(tokio::time::sleep_until(armed)),
            armed,
            step,
        }
    }

    /// Ready with the reason once the connection's deadline has passed.
    fn poll_expired(&mut self, cx: &mut Context<'_>, conn: &Conn, l: &Limits) -> Poll<Expiry> {
        loop {
            // A request in progress has no deadline here; the timer may fire meanwhile and
            // is looked at again once the request is answered.
            let Some((at, why)) = conn.deadline(l) else {
                return Poll::Pending;
            };
            if matches!(why, Expiry::Evicted) {
                return Poll::Ready(why);
            }
            if at < self.armed {
                self.arm(at);
            }
            if self.sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if at <= self.armed {
                return Poll::Ready(why);
            }
            // Fired before the deadline, which moved later since it was armed.
            self.arm(at.min(Instant::now() + self.step));
        }
    }

    fn arm(&mut self, at: Instant) {
        self.armed = at;
        self.sleep.as_mut().reset(at);
    }
}

impl ConnCtx {
    async fn handle(self: Arc<Self>, req: Request<hyper::body::Incoming>) -> Response<Body> {
        self.conn.begin();
        let busy = Busy(self.clone());
        let resp = match self.refusal(&req) {
            Some(r) => r,
            None => {
                let limit = self.reg.limits.body_timeout;
                let req = req.map(|b| Body::new(TimedBody::new(b, limit)));
                let Ok(resp) = hyper::service::Service::call(&self.router, req).await;
                resp
            }
        };
        resp.map(|b| {
            Body::new(Tracked {
                inner: b,
                _busy: busy,
            })
        })
    }

    /// An answer given before routing: a target too long, or a request on a reserved slot
    /// that has neither a valid token nor a probe's path.
    fn refusal<B>(&self, req: &Request<B>) -> Option<Response<Body>> {
        let target = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
        if target > URI_LIMIT {
            return Some(
                Problem::new(
                    414,
                    "uri-too-long",
                    "URI too long",
                    format!("the request target is {target} bytes; at most {URI_LIMIT} are read"),
                )
                .into_response(),
            );
        }
        if !self.conn.reserve
            || matches!(req.uri().path(), "/healthz" | "/readyz" | "/metrics")
            || crate::api::auth::bearer(req.headers()).is_some_and(|t| self.app.tokens.knows(t))
        {
            return None;
        }
        metrics::counter!(CONNECTIONS_REFUSED, "reason" => "reserve").increment(1);
        let mut r = Problem::overloaded(
            "the daemon is at its connection limit; the last connections are kept for requests with a token. Retry shortly",
        )
        .into_response();
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        Some(r)
    }
}

/// A request in progress on a connection, until its answer's body is dropped (written out,
/// or abandoned when the connection closed).
struct Busy(Arc<ConnCtx>);

impl Drop for Busy {
    fn drop(&mut self) {
        if let Some(epoch) = self.0.conn.end() {
            self.0.reg.idle(&self.0.conn, epoch);
        }
    }
}

/// An answer's body, holding its request's `Busy`.
struct Tracked {
    inner: Body,
    _busy: Busy,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// A request body that fails with `BodyTimeout` once `limit` has passed since its head.
/// The timer is made only when the body is not all there at the first read, which for the
/// API's small bodies is rare.
struct TimedBody {
    inner: hyper::body::Incoming,
    due: Instant,
    timer: Option<Pin<Box<Sleep>>>,
}

impl TimedBody {
    fn new(inner: hyper::body::Incoming, limit: Duration) -> TimedBody {
        TimedBody {
            inner,
            due: Instant::now() + limit,
            timer: None,
        }
    }
}

impl http_body::Body for TimedBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|r| r.map_err(Into::into))),
            Poll::Pending => {
                let due = this.due;
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimeout)))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
