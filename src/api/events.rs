//! Server-sent event streams: a hall's display stream, the alarm stream, the case stream.
//!
//! A subscriber first gets what it missed, then live events, with `id:` = the stream's
//! gap-free sequence. With `Last-Event-ID` inside the retained log it gets exactly the events
//! after that id, read from the durable log. A hall stream sends a `snapshot` event first when
//! there is no id or the log no longer holds the point; the alarm and case streams, which have
//! no snapshot, send a `gap` event naming what the log lost, so a consumer knows to reconcile.
//! Live events come from the hub, and events already sent are skipped by sequence, so the
//! hand-over from catch-up to live has neither gap nor repeat. A subscriber that cannot keep up
//! is cut off (never allowed to hold up the writer) and resumes with `Last-Event-ID`;
//! keep-alive comments keep idle proxies open.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use futures::stream::{self, Stream, StreamExt};
use serde::Deserialize;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

use super::AppState;
use super::auth::{Perm, Principal};
use super::halls::hall;
use super::problem::Problem;
use crate::hub::{Frame, frame};
use crate::shard::HallOp;
use crate::store::{ALARMS, CASES_STREAM};

/// Log events read per round trip while catching up.
const PAGE: usize = 1000;

#[derive(Deserialize)]
pub struct StreamQuery {
    /// For clients that cannot send headers on the first connect (EventSource).
    last_event_id: Option<String>,
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

pub async fn hall_events(
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
        let answer = app.ask(h.index, HallOp::Snapshot, None).await;
        if !answer.is_success() {
            return Ok(answer.into_response());
        }
        let seq = serde_json::from_str::<SnapshotSeq>(&answer.body).map_or(0, |s| s.seq);
        head.push(frame(seq, "snapshot", &answer.body));
        sent = Some(seq);
    }
    Ok(respond(&app, head, rx, sent.unwrap_or(0), None, "hall"))
}

pub async fn alarm_events(
    State(app): State<AppState>,
    who: Principal,
    headers: HeaderMap,
    Query(q): Query<StreamQuery>,
) -> Result<Response, Problem> {
    who.require_global(Perm::Alarms)?;
    global_stream(app, who, headers, q, ALARMS, "alarms").await
}

pub async fn case_events(
    State(app): State<AppState>,
    who: Principal,
    headers: HeaderMap,
    Query(q): Query<StreamQuery>,
) -> Result<Response, Problem> {
    who.require_global(Perm::CaseRead)?;
    global_stream(app, who, headers, q, CASES_STREAM, "cases").await
}

/// A stream that mixes halls: each subscriber sees the events of the halls it covers.
async fn global_stream(
    app: AppState,
    who: Principal,
    headers: HeaderMap,
    q: StreamQuery,
    name: &'static str,
    kind: &'static str,
) -> Result<Response, Problem> {
    let last = last_event_id(&headers, q)?;
    let stream: Arc<str> = Arc::from(name);
    let rx = subscribe(&app, &stream)?;
    let mut head = vec![Bytes::from_static(b"retry: 2000\n\n")];
    let filter: Filter = Arc::new(move |hall: Option<usize>| hall.is_none_or(|h| who.covers(h)));
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
    Ok(respond(&app, head, rx, sent, Some(filter), kind))
}

#[derive(Deserialize)]
struct SnapshotSeq {
    seq: u64,
}

type Filter = Arc<dyn Fn(Option<usize>) -> bool + Send + Sync>;

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
    kind: &'static str,
) -> Response {
    let live = live(
        rx,
        sent,
        Duration::from_secs(app.config.server.sse_keepalive_s),
        app.shutdown.clone(),
        filter,
        Subscribed::new(kind),
    );
    let body =
        stream::iter(head.into_iter().map(Ok::<_, std::convert::Infallible>)).chain(live.map(Ok));
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

/// What a live stream carries between frames.
struct LiveState {
    rx: broadcast::Receiver<Arc<Frame>>,
    /// The last sequence number sent (or skipped by the filter).
    sent: u64,
    tick: tokio::time::Interval,
    shutdown: CancellationToken,
    filter: Option<Filter>,
    subscribed: Subscribed,
}

/// Live frames after `sent`, with keep-alives, until shutdown or the subscriber falls behind.
fn live(
    rx: broadcast::Receiver<Arc<Frame>>,
    sent: u64,
    keepalive: Duration,
    shutdown: CancellationToken,
    filter: Option<Filter>,
    subscribed: Subscribed,
) -> impl Stream<Item = Bytes> {
    let mut tick = tokio::time::interval(keepalive);
    tick.reset();
    let state = LiveState {
        rx,
        sent,
        tick,
        shutdown,
        filter,
        subscribed,
    };
    stream::unfold(state, |mut st| async move {
        loop {
            tokio::select! {
                r = st.rx.recv() => match r {
                    Ok(f) if f.seq <= st.sent => continue,
                    // A gap can only mean something was missed: end the stream so the client
                    // resumes from the durable log.
                    Ok(f) if f.seq > st.sent + 1 => return None,
                    Ok(f) => {
                        st.sent = f.seq;
                        if st.filter.as_ref().is_some_and(|keep| !keep(f.hall)) {
                            continue;
                        }
                        return Some((f.bytes.clone(), st));
                    }
                    Err(RecvError::Lagged(_)) => {
                        st.subscribed.dropped();
                        return None;
                    }
                    Err(RecvError::Closed) => return None,
                },
                _ = st.tick.tick() => return Some((Bytes::from_static(b": keep-alive\n\n"), st)),
                () = st.shutdown.cancelled() => return None,
            }
        }
    })
}
