//! Server-sent event streams: a hall's display stream, the alarm stream, the case stream.
//!
//! A subscriber first gets what it missed, then live events, with `id:` = the stream's
//! gap-free sequence. With `Last-Event-ID` inside the retained log it gets exactly the events
//! after that id, read from the durable log. A hall stream sends a `snapshot` event first when
//! there is no id or the log no longer holds the point; the alarm and case streams, which have
//! no snapshot, send a `gap` event naming what the log lost, so a consumer knows to reconcile.
//! Live events come from the hub, and events already sent are skipped by sequence, so the
//! hand-over from catch-up to live has neither gap nor repeat. A subscriber that cannot keep up
//! (more than `sse_max_lag_events` frames waiting for it, or one waiting `sse_max_lag_s`; see
//! `live`) is cut off, never allowed to hold up the writer or keep its slot, and resumes with
//! `Last-Event-ID`; keep-alive comments keep idle proxies open.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::BytesMut;
use futures::stream::{self, Stream, StreamExt};
use serde::Deserialize;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::auth::{Perm, Principal};
use super::problem::Problem;
use super::scope::hall;
use super::{AppState, render};
use crate::runtime::hub::{Frame, frame};
use crate::runtime::shard::{HallOp, HallReply};
use crate::store::{ALARMS, CASES_STREAM};

/// The three streams: a hall's, the alarms', the cases'.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/halls/{hall}/events", get(hall_events))
        .route("/v1/alarms/events", get(alarm_events))
        .route("/v1/case-events", get(case_events))
}

/// Log events read per round trip while catching up.
const PAGE: usize = 1000;

#[derive(Deserialize)]
pub struct StreamQuery {
    /// For clients that cannot send headers on the first connect (EventSource).
    last_event_id: Option<String>,
    /// The case stream: only this hall's events (the progress board of one hall).
    hall: Option<String>,
}

/// Where a subscriber starts.
fn last_event_id(headers: &HeaderMap, q: StreamQuery) -> Result<Option<u64>, Problem> {
    headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or(q.last_event_id)
        .map(|v| {
            v.trim().parse::<u64>().map_err(|_| {
                Problem::bad_request(
                    "invalid-field",
                    format!("Last-Event-ID `{v}` is not an event sequence number"),
                )
                .field("Last-Event-ID")
            })
        })
        .transpose()
}

async fn hall_events(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<StreamQuery>,
) -> Result<Response, Problem> {
    let h = hall(&app, &who, &id, Perm::Read)?;
    let last = last_event_id(&headers, q)?;
    let stream = h.cfg.id.clone();
    let rx = subscribe(&app, &stream)?;
    let mut head = vec![Bytes::from_static(b"retry: 2000\n\n")];
    let mut sent = match last {
        Some(after) => catch_up(&app, &stream, after, &mut head, None).await?,
        None => None,
    };
    if sent.is_none() {
        let snapshot = match app.shards.ask(h.index, HallOp::Snapshot, None).await {
            Ok(HallReply::Snapshot(s)) => s,
            other => return Ok(render::hall(&h.cfg.id, &other).into_response()),
        };
        let json = serde_json::to_string(&snapshot).expect("views serialize");
        head.push(frame(snapshot.seq, "snapshot", &json));
        sent = Some(snapshot.seq);
    }
    Ok(respond(
        &app,
        head,
        rx,
        sent.unwrap_or(0),
        None,
        Some(h.index),
        "hall",
    ))
}

async fn alarm_events(
    State(app): State<AppState>,
    who: Principal,
    headers: HeaderMap,
    Query(q): Query<StreamQuery>,
) -> Result<Response, Problem> {
    who.require_global(Perm::Alarms)?;
    global_stream(app, who, headers, q, ALARMS, "alarms", None).await
}

async fn case_events(
    State(app): State<AppState>,
    who: Principal,
    headers: HeaderMap,
    Query(mut q): Query<StreamQuery>,
) -> Result<Response, Problem> {
    // The display role follows it too (the progress board), for the halls it covers.
    who.require_global(Perm::Progress)?;
    let only = match q.hall.take() {
        Some(id) => Some(hall(&app, &who, &id, Perm::Progress)?.index),
        None => None,
    };
    global_stream(app, who, headers, q, CASES_STREAM, "cases", only).await
}

/// A stream that mixes halls: each subscriber sees the events of the halls it covers, or of
/// hall `only` (a position) when it asked for one.
async fn global_stream(
    app: AppState,
    who: Principal,
    headers: HeaderMap,
    q: StreamQuery,
    name: &'static str,
    kind: &'static str,
    only: Option<usize>,
) -> Result<Response, Problem> {
    let last = last_event_id(&headers, q)?;
    let stream: Arc<str> = Arc::from(name);
    let rx = subscribe(&app, &stream)?;
    let mut head = vec![Bytes::from_static(b"retry: 2000\n\n")];
    // An event read back from the log whose JSON names no hall (`hall_of`) passes, as it
    // does the coverage check: live frames always carry theirs.
    let filter: Filter = Arc::new(move |hall: Option<usize>| {
        hall.is_none_or(|h| who.covers(h) && only.is_none_or(|o| h == o))
    });
    let sent = match last {
        None => app.store_head(&stream).await?,
        Some(after) => match catch_up(&app, &stream, after, &mut head, Some(&filter)).await? {
            Some(s) => s,
            None => {
                // The log lost events after `after` (or never had them): say so, then go on
                // from what it still holds.
                let (first, last) = app.store_bounds(&stream).await?;
                let gap =
                    serde_json::json!({ "after": after, "first_retained": first, "last": last });
                head.push(frame(after, "gap", &gap.to_string()));
                let from = first.map_or(last.unwrap_or(0), |f| f.saturating_sub(1));
                catch_up(&app, &stream, from, &mut head, Some(&filter))
                    .await?
                    .unwrap_or(from)
            }
        },
    };
    Ok(respond(&app, head, rx, sent, Some(filter), None, kind))
}

pub type Filter = Arc<dyn Fn(Option<usize>) -> bool + Send + Sync>;

fn subscribe(app: &AppState, stream: &str) -> Result<broadcast::Receiver<Arc<Frame>>, Problem> {
    if app.hub.subscribers(stream) >= app.config.server.max_subscribers {
        return Err(Problem::overloaded(format!(
            "stream `{stream}` has the most subscribers it accepts"
        )));
    }
    // Subscribe before reading anything, so every event committed after the read is also
    // in the channel (see the module doc).
    Ok(app.hub.subscribe(stream))
}

fn respond(
    app: &AppState,
    head: Vec<Bytes>,
    rx: broadcast::Receiver<Arc<Frame>>,
    sent: u64,
    filter: Option<Filter>,
    hall: Option<usize>,
    kind: &'static str,
) -> Response {
    let cfg = &app.config.server;
    let live = live(
        LiveState {
            rx,
            sent,
            shutdown: app.shutdown.clone(),
            filter,
            subscribed: Subscribed::new(kind),
            hall: hall
                .filter(|_| app.cluster.is_some())
                .map(|h| (app.store.holdings.clone(), h)),
        },
        Lag {
            keepalive: Duration::from_secs(cfg.sse_keepalive_s),
            events: cfg.sse_max_lag_events,
            time: Duration::from_secs(cfg.sse_max_lag_s),
        },
        Duration::from_millis(cfg.sse_coalesce_ms),
    );
    let body = stream::iter(head.into_iter().map(Ok::<_, CutOff>)).chain(live);
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::HeaderName::from_static("x-accel-buffering"), "no"),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

/// Frames for the logged events after `after`. `None` when the log cannot serve that point
/// (pruned past it, or it is ahead of the log).
async fn catch_up(
    app: &AppState,
    stream: &Arc<str>,
    after: u64,
    out: &mut Vec<Bytes>,
    filter: Option<&Filter>,
) -> Result<Option<u64>, Problem> {
    let mut cursor = after;
    loop {
        let store = app.store.clone();
        let s = stream.clone();
        let page = tokio::task::spawn_blocking(move || store.read_events(&s, cursor, PAGE))
            .await
            .map_err(|e| Problem::unavailable(format!("reading the event log failed: {e}")))?
            .map_err(|e| Problem::unavailable(format!("reading the event log failed: {e}")))?;
        if cursor == after {
            let pruned = page.first_retained.is_some_and(|first| first > after + 1);
            let ahead = after > page.last_retained.unwrap_or(0);
            if pruned || ahead {
                return Ok(None);
            }
        }
        let n = page.events.len();
        for (seq, kind, json) in page.events {
            cursor = seq;
            if filter.is_none_or(|f| f(hall_of(app, &json))) {
                out.push(frame(seq, &kind, &json));
            }
        }
        if n < PAGE {
            return Ok(Some(cursor));
        }
    }
}

/// The hall an event of a global stream concerns, from its JSON.
pub(super) fn hall_of(app: &AppState, json: &str) -> Option<usize> {
    #[derive(Deserialize)]
    struct HallField {
        hall: Option<String>,
        case: Option<serde_json::Value>,
    }
    let parsed: HallField = serde_json::from_str(json).ok()?;
    let id = parsed.hall.or_else(|| {
        parsed
            .case
            .and_then(|c| c.get("hall").and_then(|h| h.as_str()).map(str::to_owned))
    })?;
    app.config.hall_index(&id)
}

/// Counts a subscriber in `hallq_sse_subscribers` for as long as its stream lives.
pub struct Subscribed(&'static str);

impl Subscribed {
    pub fn new(kind: &'static str) -> Subscribed {
        metrics::gauge!(crate::metrics::SSE_SUBSCRIBERS, "stream" => kind).increment(1.0);
        Subscribed(kind)
    }

    /// The subscriber fell behind and is cut off.
    pub fn dropped(&self) {
        metrics::counter!(crate::metrics::SSE_DROPPED, "stream" => self.0).increment(1);
    }
}

impl Drop for Subscribed {
    fn drop(&mut self) {
        metrics::gauge!(crate::metrics::SSE_SUBSCRIBERS, "stream" => self.0).decrement(1.0);
    }
}

/// How far a subscriber may fall behind.
#[derive(Debug, Clone, Copy)]
pub struct Lag {
    /// Between keep-alive comments when nothing else is sent.
    pub keepalive: Duration,
    /// Frames waiting for the subscriber at most (`[server] sse_max_lag_events`).
    pub events: usize,
    /// How long a waiting frame may stay untaken (`[server] sse_max_lag_s`).
    pub time: Duration,
}

/// What a live stream's pump holds.
pub struct LiveState {
    pub rx: broadcast::Receiver<Arc<Frame>>,
    /// The last sequence number sent (or skipped by the filter).
    pub sent: u64,
    pub shutdown: CancellationToken,
    pub filter: Option<Filter>,
    pub subscribed: Subscribed,
    /// Cluster mode: the hall a hall stream shows. The stream ends once this node no longer
    /// serves it (its events are committed elsewhere now): the display reconnects with
    /// `Last-Event-ID` and is sent to the hall's new owner.
    pub hall: Option<(Arc<crate::store::Holdings>, usize)>,
}

/// Ends a stream that was cut off, so hyper closes the connection instead of ending the
/// response cleanly: the client sees a broken stream and resumes with `Last-Event-ID`.
#[derive(Debug, thiserror::Error)]
#[error("the subscriber fell too far behind and was cut off")]
pub struct CutOff;

/// When the subscriber's side of the buffer last took a frame.
struct Taken {
    base: Instant,
    /// Milliseconds after `base`.
    at: AtomicU64,
    /// Set by the pump when it cut the subscriber off.
    cut: AtomicBool,
    /// Frames in the buffer: the pump adds a burst's, the body takes them off.
    waiting: AtomicUsize,
}

impl Taken {
    fn mark(&self) {
        let ms = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.at.store(ms, Ordering::Release);
    }

    fn last(&self) -> Instant {
        self.base + Duration::from_millis(self.at.load(Ordering::Acquire))
    }
}

/// Live frames after `st.sent`, with keep-alives, until shutdown or the subscriber falls
/// behind.
///
/// A task of its own (the pump) takes every frame from the hub as it is published and puts
/// it in this subscriber's buffer of `lag.events` frames; the response body takes from the
/// buffer as fast as the socket accepts. So a subscriber is watched even while its socket
/// is full and hyper has stopped polling its body: when its buffer is full, or a frame has
/// waited `lag.time` with nothing taken, the pump ends, which drops the hub receiver (the
/// subscriber count falls at once), counts the drop in `hallq_sse_dropped_total`, and ends
/// the body with `CutOff`, which closes the connection.
///
/// The pump moves in steps of `step` (`[server] sse_coalesce_ms`): it forwards a frame at
/// once when it was waiting for one, with every frame already in the hub's channel, then
/// pauses a step, so what is published meanwhile goes over in one burst; the body writes
/// what waits in its buffer as one chunk (one write, one wake of the subscriber). A quiet
/// stream's frame goes out at once, a busy one's at most a step later, and a busy stream
/// (a hall calling several numbers a second) costs a write per step instead of one per
/// event (BENCHMARKS.md, "Streams written in steps"). During a step the frames wait in the
/// hub's channel (`sse_buffer`), not in the buffer, so the lag limits above count them from
/// the step's end; a hub channel too small for a step's frames cuts the subscriber off.
pub fn live(st: LiveState, lag: Lag, step: Duration) -> impl Stream<Item = Result<Bytes, CutOff>> {
    // Bursts, each with its number of frames.
    let (tx, rx) = mpsc::channel::<(Bytes, usize)>(lag.events);
    let taken = Arc::new(Taken {
        base: Instant::now(),
        at: AtomicU64::new(0),
        cut: AtomicBool::new(false),
        waiting: AtomicUsize::new(0),
    });
    tokio::spawn(pump(st, lag, step, tx, taken.clone()));
    stream::unfold((rx, taken, false), |(mut rx, taken, done)| async move {
        if done {
            return None;
        }
        match rx.recv().await {
            Some((first, mut frames)) => {
                // Every burst waiting behind it goes in the same write.
                let rest = std::iter::from_fn(|| rx.try_recv().ok()).map(|(bytes, n)| {
                    frames += n;
                    bytes
                });
                let chunk = join(first, rest);
                taken.waiting.fetch_sub(frames, Ordering::AcqRel);
                taken.mark();
                Some((Ok(chunk), (rx, taken, false)))
            }
            None if taken.cut.load(Ordering::Acquire) => Some((Err(CutOff), (rx, taken, true))),
            None => None,
        }
    })
}

/// `first` and the `rest`, as one chunk (`first` itself when there is no rest).
fn join(first: Bytes, mut rest: impl Iterator<Item = Bytes>) -> Bytes {
    let Some(second) = rest.next() else {
        return first;
    };
    let mut chunk = BytesMut::with_capacity(4 * (first.len() + second.len()));
    chunk.extend_from_slice(&first);
    chunk.extend_from_slice(&second);
    for more in rest {
        chunk.extend_from_slice(&more);
    }
    chunk.freeze()
}

async fn pump(
    mut st: LiveState,
    lag: Lag,
    step: Duration,
    tx: mpsc::Sender<(Bytes, usize)>,
    taken: Arc<Taken>,
) {
    let mut tick = tokio::time::interval(lag.keepalive);
    tick.reset();
    // When the buffer last went from empty to holding a frame.
    let mut waiting_since = Instant::now();
    let cut = loop {
        let waiting = taken.waiting.load(Ordering::Acquire) > 0;
        let stall = waiting.then(|| waiting_since.max(taken.last()) + lag.time);
        let first = tokio::select! {
            r = st.rx.recv() => match next(&mut st, r) {
                Ok(Some(bytes)) => bytes,
                Ok(None) => continue,
                Err(cut) => break cut,
            },
            _ = tick.tick() => {
                if waiting {
                    continue;
                }
                Bytes::from_static(b": keep-alive\n\n")
            }
            () = sleep_until_some(stall) => {
                // Nothing taken for `lag.time` while a frame waited.
                let waiting = taken.waiting.load(Ordering::Acquire) > 0;
                if waiting && waiting_since.max(taken.last()) + lag.time <= Instant::now() {
                    break true;
                }
                continue;
            }
            () = tx.closed() => break false,
            () = st.shutdown.cancelled() => break false,
            () = moved_away(&st.hall) => break false,
        };
        // The frames published meanwhile go with it, as one burst.
        let mut rest = Vec::new();
        let ended = loop {
            let r = match st.rx.try_recv() {
                Ok(f) => Ok(f),
                Err(broadcast::error::TryRecvError::Empty) => break None,
                Err(broadcast::error::TryRecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
                Err(broadcast::error::TryRecvError::Closed) => Err(RecvError::Closed),
            };
            match next(&mut st, r) {
                Ok(Some(bytes)) => rest.push(bytes),
                Ok(None) => {}
                Err(cut) => break Some(cut),
            }
        };
        let frames = 1 + rest.len();
        let burst = (join(first, rest.into_iter()), frames);
        // What was taken goes out also when the stream ends with it.
        let put = put(&tx, &taken, lag, burst, &mut waiting_since);
        if let Some(cut) = ended {
            break cut;
        }
        if let Err(cut) = put {
            break cut;
        }
        // A step before the next burst: what comes meanwhile waits in the hub's channel and
        // goes over in one burst (see `live`).
        if !step.is_zero() {
            tokio::select! {
                () = tokio::time::sleep(step) => {}
                () = tx.closed() => break false,
                () = st.shutdown.cancelled() => break false,
            }
        }
    };
    if cut {
        st.subscribed.dropped();
        taken.cut.store(true, Ordering::Release);
    }
    // Dropping `st` here ends the hub subscription and the subscriber's count; dropping
    // `tx` ends the body.
}

/// What the pump does with what the hub gave it: `Some` frame to forward, `None` to skip
/// (sent already, or not for this subscriber), or `Err` to end the stream, `true` when the
/// subscriber fell behind.
fn next(st: &mut LiveState, r: Result<Arc<Frame>, RecvError>) -> Result<Option<Bytes>, bool> {
    match r {
        Ok(f) if f.seq <= st.sent => Ok(None),
        // A gap can only mean something was missed: end the stream so the client resumes
        // from the durable log.
        Ok(f) if f.seq > st.sent + 1 => Err(false),
        Ok(f) => {
            st.sent = f.seq;
            if st.filter.as_ref().is_some_and(|keep| !keep(f.hall)) {
                return Ok(None);
            }
            Ok(Some(f.bytes.clone()))
        }
        Err(RecvError::Lagged(_)) => Err(true),
        Err(RecvError::Closed) => Err(false),
    }
}

/// Put a burst of frames in the subscriber's buffer; `Err(true)` when more than
/// `lag.events` frames would wait there.
fn put(
    tx: &mpsc::Sender<(Bytes, usize)>,
    taken: &Taken,
    lag: Lag,
    burst: (Bytes, usize),
    waiting_since: &mut Instant,
) -> Result<(), bool> {
    let frames = burst.1;
    let waiting = taken.waiting.load(Ordering::Acquire);
    if waiting + frames > lag.events {
        return Err(true);
    }
    if waiting == 0 {
        *waiting_since = Instant::now();
    }
    // Counted before the body can take it off.
    taken.waiting.fetch_add(frames, Ordering::AcqRel);
    match tx.try_send(burst) {
        Ok(()) => Ok(()),
        Err(e) => {
            taken.waiting.fetch_sub(frames, Ordering::AcqRel);
            Err(matches!(e, mpsc::error::TrySendError::Full(_)))
        }
    }
}

/// Resolves once this node no longer serves the stream's hall (never for other streams),
/// checked every half second while no frame comes.
async fn moved_away(hall: &Option<(Arc<crate::store::Holdings>, usize)>) {
    let Some((holdings, h)) = hall else {
        return std::future::pending().await;
    };
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if matches!(holdings.get(*h), crate::store::Holding::NotHeld) {
            return;
        }
    }
}

async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(
        lag_s: u64,
    ) -> (
        broadcast::Sender<Arc<Frame>>,
        impl Stream<Item = Result<Bytes, CutOff>>,
    ) {
        setup_stepped(lag_s, Duration::ZERO)
    }

    fn setup_stepped(
        lag_s: u64,
        step: Duration,
    ) -> (
        broadcast::Sender<Arc<Frame>>,
        impl Stream<Item = Result<Bytes, CutOff>>,
    ) {
        let (tx, rx) = broadcast::channel(64);
        let st = LiveState {
            rx,
            sent: 0,
            shutdown: CancellationToken::new(),
            filter: None,
            subscribed: Subscribed::new("hall"),
            hall: None,
        };
        let lag = Lag {
            keepalive: Duration::from_secs(3600),
            events: 4,
            time: Duration::from_secs(lag_s),
        };
        (tx, live(st, lag, step))
    }

    fn publish(tx: &broadcast::Sender<Arc<Frame>>, seq: u64) {
        let bytes = frame(seq, "issued", "{}");
        tx.send(Arc::new(Frame {
            seq,
            bytes,
            hall: None,
        }))
        .unwrap();
    }

    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_subscriber_that_takes_nothing_for_the_lag_time_is_cut_off() {
        let (tx, body) = setup(5);
        let mut body = std::pin::pin!(body);
        publish(&tx, 1);
        settle().await;
        tokio::time::sleep(Duration::from_secs(4)).await;
        settle().await;
        assert_eq!(tx.receiver_count(), 1, "still within the lag time");
        tokio::time::sleep(Duration::from_secs(2)).await;
        settle().await;
        assert_eq!(tx.receiver_count(), 0, "cut off: its hub slot is free");
        // What was buffered still goes out, then the stream breaks.
        assert_eq!(
            body.next().await.unwrap().unwrap(),
            frame(1, "issued", "{}")
        );
        assert!(matches!(body.next().await, Some(Err(CutOff))));
        assert!(body.next().await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn more_frames_waiting_than_the_buffer_holds_cut_off_at_once() {
        let (tx, _body) = setup(3600);
        for seq in 1..=4 {
            publish(&tx, seq);
        }
        settle().await;
        assert_eq!(tx.receiver_count(), 1, "four waiting fit the buffer");
        publish(&tx, 5);
        settle().await;
        assert_eq!(tx.receiver_count(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_subscriber_that_keeps_taking_is_never_cut_off() {
        let (tx, body) = setup(5);
        let mut body = std::pin::pin!(body);
        for seq in 1..=20 {
            publish(&tx, seq);
            tokio::time::sleep(Duration::from_secs(4)).await;
            let got = body.next().await.unwrap().unwrap();
            assert_eq!(got, frame(seq, "issued", "{}"));
        }
        assert_eq!(tx.receiver_count(), 1);
    }

    fn frames(seqs: std::ops::RangeInclusive<u64>) -> Bytes {
        let mut all = Vec::new();
        for seq in seqs {
            all.extend_from_slice(&frame(seq, "issued", "{}"));
        }
        Bytes::from(all)
    }

    #[tokio::test(start_paused = true)]
    async fn frames_within_a_step_of_the_last_burst_wait_and_go_out_together() {
        let step = Duration::from_millis(20);
        let (tx, body) = setup_stepped(5, step);
        let mut body = std::pin::pin!(body);
        let start = Instant::now();
        publish(&tx, 1);
        assert_eq!(body.next().await.unwrap().unwrap(), frames(1..=1));
        assert_eq!(
            start.elapsed(),
            Duration::ZERO,
            "the first frame goes at once"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
        publish(&tx, 2);
        publish(&tx, 3);
        settle().await;
        publish(&tx, 4);
        // One chunk, written a step after the first.
        assert_eq!(body.next().await.unwrap().unwrap(), frames(2..=4));
        assert_eq!(start.elapsed(), step);
        assert_eq!(
            tx.receiver_count(),
            1,
            "waiting for a step is not falling behind"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_frame_after_a_quiet_step_goes_out_at_once() {
        let (tx, body) = setup_stepped(5, Duration::from_millis(20));
        let mut body = std::pin::pin!(body);
        publish(&tx, 1);
        assert_eq!(body.next().await.unwrap().unwrap(), frames(1..=1));
        tokio::time::sleep(Duration::from_secs(1)).await;
        let quiet = Instant::now();
        publish(&tx, 2);
        assert_eq!(body.next().await.unwrap().unwrap(), frames(2..=2));
        assert_eq!(quiet.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_step_frames_already_waiting_still_go_as_one_chunk() {
        let (tx, body) = setup(5);
        let mut body = std::pin::pin!(body);
        let start = Instant::now();
        for seq in 1..=3 {
            publish(&tx, seq);
        }
        settle().await;
        assert_eq!(body.next().await.unwrap().unwrap(), frames(1..=3));
        publish(&tx, 4);
        assert_eq!(body.next().await.unwrap().unwrap(), frames(4..=4));
        assert_eq!(start.elapsed(), Duration::ZERO);
    }
}
