//! Hall displays: SSE subscribers that stay connected for the whole run, as the displays and
//! LED/voice controllers of a real hall do. They put the daemon's fan-out path under load
//! and check what it promises: every event in order with gap-free `id`s, and a reconnect
//! with `Last-Event-ID` resumes where the stream broke off.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hallq::clock::{Clock, SystemClock};
use http::{HeaderValue, Method};
use http_body_util::BodyExt;

use crate::http::{Conn, Target, path};
use crate::report::SseSummary;
use crate::workload::Period;

#[derive(Debug, Default)]
pub struct SseCounters {
    /// Events received during the measured period (not the snapshot).
    events: AtomicU64,
    /// An event whose id is not one more than the previous one, without a snapshot between.
    gaps: AtomicU64,
    reconnects: AtomicU64,
    /// Subscriptions refused (503: too many subscribers) or failing otherwise.
    refused: AtomicU64,
    /// Displays that have their first snapshot, so the run can wait for all of them.
    pub connected: AtomicU64,
}

impl SseCounters {
    pub fn summary(&self) -> SseSummary {
        SseSummary {
            events: self.events.load(Ordering::Relaxed),
            gaps: self.gaps.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
        }
    }
}

/// One display of `hall`, until `period.until`.
pub async fn display(
    target: Target,
    hall: String,
    token: HeaderValue,
    period: Period,
    counters: Arc<SseCounters>,
) {
    let uri = format!("/v1/halls/{hall}/events");
    let mut reader = Reader::default();
    let mut first = true;
    while Instant::now() < period.until {
        if !first {
            counters.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        let mut conn = match Conn::open(&target).await {
            Ok(c) => c,
            Err(_) => {
                counters.refused.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let mut req = target.request(Method::GET, path(&uri), &token, Bytes::new());
        if let Some(last) = reader.last {
            req.headers_mut().insert(
                "last-event-id",
                HeaderValue::from_str(&last.to_string()).expect("digits"),
            );
        }
        let resp = match conn.stream(req).await {
            Ok(r) if r.status().is_success() => r,
            _ => {
                counters.refused.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let mut body = resp.into_body();
        loop {
            let frame = match tokio::time::timeout_at(period.until.into(), body.frame()).await {
                Err(_) => return,
                Ok(Some(Ok(f))) => f,
                Ok(_) => break,
            };
            if let Ok(data) = frame.into_data() {
                reader.feed(&data, &mut |event| {
                    if event.kind != "snapshot" {
                        if event.follows.is_some_and(|l| event.id != l + 1) {
                            counters.gaps.fetch_add(1, Ordering::Relaxed);
                        }
                        if Instant::now() >= period.from {
                            counters.events.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
                if first && reader.last.is_some() {
                    first = false;
                    counters.connected.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

/// One complete SSE event, as it arrived.
pub struct Event<'a> {
    pub id: u64,
    pub kind: &'a str,
    /// The `data:` lines, joined by newlines.
    pub data: &'a [u8],
    /// Id of the event before it on this stream, if any.
    pub follows: Option<u64>,
    /// When it was parsed.
    pub at: jiff::Timestamp,
}

/// Splits the byte stream into SSE events (those with an `id:`; comments and keep-alives
/// are skipped) and remembers the last id for `Last-Event-ID`.
#[derive(Default)]
struct Reader {
    buf: Vec<u8>,
    id: Option<u64>,
    kind: String,
    data: Vec<u8>,
    /// Id of the last complete event.
    last: Option<u64>,
}

impl Reader {
    fn feed(&mut self, bytes: &[u8], on_event: &mut dyn FnMut(&Event)) {
        self.buf.extend_from_slice(bytes);
        let mut start = 0;
        while let Some(n) = self.buf[start..].iter().position(|&b| b == b'\n') {
            let line = &self.buf[start..start + n];
            if line.is_empty() {
                // End of an event.
                if let Some(id) = self.id.take() {
                    on_event(&Event {
                        id,
                        kind: &self.kind,
                        data: &self.data,
                        follows: self.last,
                        at: SystemClock.now(),
                    });
                    self.last = Some(id);
                }
                self.kind.clear();
                self.data.clear();
            } else if let Some(v) = line.strip_prefix(b"id: ") {
                self.id = std::str::from_utf8(v).ok().and_then(|s| s.parse().ok());
            } else if let Some(v) = line.strip_prefix(b"event: ") {
                self.kind = String::from_utf8_lossy(v).into_owned();
            } else if let Some(v) = line.strip_prefix(b"data: ") {
                if !self.data.is_empty() {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(v);
            }
            start += n + 1;
        }
        self.buf.drain(..start);
    }
}

/// Follow `uri` until the task is dropped, resuming with `Last-Event-ID` after a break, and
/// hand every event to `on_event`.
pub async fn follow(
    target: Target,
    uri: String,
    token: HeaderValue,
    on_event: std::sync::Arc<dyn Fn(&Event) + Send + Sync>,
) {
    let mut reader = Reader::default();
    loop {
        let Ok(mut conn) = Conn::open(&target).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let mut req = target.request(Method::GET, path(&uri), &token, Bytes::new());
        if let Some(last) = reader.last {
            req.headers_mut().insert(
                "last-event-id",
                HeaderValue::from_str(&last.to_string()).expect("digits"),
            );
        }
        let Ok(resp) = conn.stream(req).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let mut body = resp.into_body();
        while let Some(Ok(frame)) = body.frame().await {
            if let Ok(data) = frame.into_data() {
                reader.feed(&data, &mut |e| on_event(e));
            }
        }
    }
}
