//! `GET /v1/halls/{hall}/events`: the hall's display stream (SSE).
//!
//! A subscriber first gets what it missed, then live events, with `id:` = the hall's
//! gap-free sequence. With `Last-Event-ID` inside the retained log it gets exactly the events
//! after that id, read from the durable log; without one, or from a point the log no longer
//! holds, it gets a `snapshot` event first. Live events come from the hub, and events already
//! sent are skipped by sequence, so the hand-over from catch-up to live has neither gap nor
//! repeat. A subscriber that cannot keep up is cut off (never allowed to hold up the writer)
//! and simply resumes with `Last-Event-ID`; keep-alive comments keep idle proxies open.

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

/// Log events read per round trip while catching up.
const PAGE: usize = 1000;

#[derive(Deserialize)]
pub struct StreamQuery {
    /// For clients that cannot send headers on the first connect (EventSource).
    last_event_id: Option<String>,
}

pub async fn hall_events(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<StreamQuery>,
) -> Result<Response, Problem> {
    let h = hall(&app, &who, &id, Perm::Read)?;
    let last = headers
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
        .transpose()?;
    if app.hub.subscribers(&h.cfg.id) >= app.config.server.max_subscribers {
        return Err(Problem::overloaded(format!(
            "hall `{id}` has the most subscribers it accepts"
        )));
    }

    // Subscribe before reading anything, so every event committed after the read is also
    // in the channel (see the module doc).
    let rx = app.hub.subscribe(&h.cfg.id);
    let mut head: Vec<Bytes> = vec![Bytes::from_static(b"retry: 2000\n\n")];
    let mut sent = None;
    if let Some(after) = last {
        sent = catch_up(&app, &h.cfg.id, after, &mut head).await?;
    }
    let sent = match sent {
        Some(s) => s,
        None => {
            let answer = app.ask(h.index, HallOp::Snapshot, None).await;
            if !answer.is_success() {
                return Ok(answer.into_response());
            }
            let seq = serde_json::from_str::<SnapshotSeq>(&answer.body)
                .map(|s| s.seq)
                .unwrap_or(0);
            head.push(frame(seq, "snapshot", &answer.body));
            seq
        }
    };
    let live = live(
        rx,
        sent,
        Duration::from_secs(app.config.server.sse_keepalive_s),
        app.shutdown.clone(),
    );
    let body =
        stream::iter(head.into_iter().map(Ok::<_, std::convert::Infallible>)).chain(live.map(Ok));
    Ok((
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::HeaderName::from_static("x-accel-buffering"), "no"),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

#[derive(Deserialize)]
struct SnapshotSeq {
    seq: u64,
}

/// Frames for the logged events after `after`. `None` when the log cannot serve that point
/// (pruned past it, or it is ahead of the log), so a snapshot must come first.
async fn catch_up(
    app: &AppState,
    stream: &Arc<str>,
    after: u64,
    out: &mut Vec<Bytes>,
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
            out.push(frame(seq, &kind, &json));
            cursor = seq;
        }
        if n < PAGE {
            return Ok(Some(cursor));
        }
    }
}

/// Live frames after `sent`, with keep-alives, until shutdown or the subscriber falls behind.
fn live(
    rx: broadcast::Receiver<Arc<Frame>>,
    sent: u64,
    keepalive: Duration,
    shutdown: CancellationToken,
) -> impl Stream<Item = Bytes> {
    let mut tick = tokio::time::interval(keepalive);
    tick.reset();
    stream::unfold(
        (rx, sent, tick, shutdown),
        |(mut rx, mut sent, mut tick, shutdown)| async move {
            loop {
                tokio::select! {
                    r = rx.recv() => match r {
                        Ok(f) if f.seq <= sent => continue,
                        // A gap can only mean something was missed: end the stream so the client
                        // resumes from the durable log.
                        Ok(f) if f.seq > sent + 1 => return None,
                        Ok(f) => {
                            sent = f.seq;
                            return Some((f.bytes.clone(), (rx, sent, tick, shutdown)));
                        }
                        Err(RecvError::Lagged(_) | RecvError::Closed) => return None,
                    },
                    _ = tick.tick() => {
                        return Some((Bytes::from_static(b": keep-alive\n\n"), (rx, sent, tick, shutdown)));
                    }
                    () = shutdown.cancelled() => return None,
                }
            }
        },
    )
}
