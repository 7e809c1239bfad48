//! Hall displays: SSE subscribers that stay connected for the whole run, as the displays and
//! LED/voice controllers of a real hall do.
//!
//! One reader (`Reader`) splits a stream into events, and one loop (`follow`) keeps a display
//! subscribed, resuming with `Last-Event-ID` when the daemon cuts it off. What a display does
//! with each event is its `Sink`: the mixed workload's displays (`display`) check what the
//! daemon promises, every event in order with gap-free `id`s; the fan-out scenario's displays
//! (`fanout.rs`) note when each call arrived.

use std::future::Future;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Method, Uri};

use crate::http::{Conn, Stream, Target, path};
use crate::report::SseSummary;
use crate::workload::Period;

/// How long a display waits before subscribing again after a refusal.
const RETRY: Duration = Duration::from_millis(200);

/// One complete event.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    /// The stream's last `id:` (hallq numbers every event with its gap-free sequence).
    pub id: Option<u64>,
    /// The `event:` name, empty when the event has none.
    pub kind: &'a [u8],
    /// The `data:` lines, joined by newlines.
    pub data: &'a [u8],
}

/// Splits a byte stream into events, as the SSE specification's parser does: `field: value`
/// lines (one optional space after the colon), `:` comments (keep-alives), `data:` lines
/// joined, an event dispatched at a blank line when it has data.
#[derive(Debug, Default)]
pub struct Reader {
    /// The start of a line whose end has not arrived yet.
    line: Vec<u8>,
    kind: Vec<u8>,
    data: Vec<u8>,
    /// The latest `id:` line, which the next dispatched event takes.
    id: Option<u64>,
    /// The id of the last complete event; survives reconnects (it is what `Last-Event-ID`
    /// resumes from, so an event torn by a broken stream is fetched again whole).
    last: Option<u64>,
}

impl Reader {
    /// The id to resume from.
    pub fn last_id(&self) -> Option<u64> {
        self.last
    }

    /// A new stream resumes after the last complete event: drop what is left of the broken
    /// one's unfinished event.
    pub fn resume(&mut self) {
        self.id = self.last;
        self.line.clear();
        self.kind.clear();
        self.data.clear();
    }

    /// Feed bytes as they arrive; `on_event` gets every event they complete, until it says
    /// `Break`.
    pub fn feed(
        &mut self,
        bytes: &[u8],
        mut on_event: impl FnMut(Event<'_>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let mut rest = bytes;
        while let Some(n) = memchr::memchr(b'\n', rest) {
            let (head, tail) = rest.split_at(n);
            rest = &tail[1..];
            let flow = if self.line.is_empty() {
                self.line_done(head, &mut on_event)
            } else {
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(head);
                let flow = self.line_done(&line, &mut on_event);
                line.clear();
                self.line = line;
                flow
            };
            flow?;
        }
        self.line.extend_from_slice(rest);
        ControlFlow::Continue(())
    }

    fn line_done(
        &mut self,
        line: &[u8],
        on_event: &mut impl FnMut(Event<'_>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            self.last = self.id;
            let mut flow = ControlFlow::Continue(());
            if !self.data.is_empty() {
                self.data.pop(); // the newline after the last data line
                flow = on_event(Event {
                    id: self.last,
                    kind: &self.kind,
                    data: &self.data,
                });
            }
            self.kind.clear();
            self.data.clear();
            return flow;
        }
        if line[0] == b':' {
            return ControlFlow::Continue(());
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(c) => {
                let v = &line[c + 1..];
                (&line[..c], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"event" => {
                self.kind.clear();
                self.kind.extend_from_slice(value);
            }
            b"data" => {
                self.data.extend_from_slice(value);
                self.data.push(b'\n');
            }
            b"id" => {
                if let Some(id) = std::str::from_utf8(value).ok().and_then(|s| s.parse().ok()) {
                    self.id = Some(id);
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// What a display does with its stream.
pub trait Sink {
    /// A complete event whose last bytes arrived at `at`; `Break` ends the subscription.
    fn event(&mut self, event: Event<'_>, at: Instant) -> ControlFlow<()>;
    /// A subscription could not be opened (connect error, 503 for too many subscribers...);
    /// the display tries again shortly.
    fn refused(&mut self);
    /// An open stream ended: the daemon cut the display off (it fell behind) or went away.
    /// The display resubscribes with `Last-Event-ID` at once.
    fn broke(&mut self);
}

/// A hall's display stream.
pub fn hall_stream(hall: &str) -> String {
    format!("/v1/halls/{hall}/events")
}

/// Keep one subscription to `stream` (a hall's, or `/v1/alarms/events`) until `stop`
/// completes or the sink says `Break`. Each subscription is its own TCP connection, as each
/// real display's is.
pub async fn follow(
    target: &Target,
    stream: &str,
    token: &HeaderValue,
    stop: impl Future<Output = ()>,
    sink: &mut impl Sink,
) {
    let uri = path(stream);
    let mut reader = Reader::default();
    tokio::pin!(stop);
    loop {
        let opened = tokio::select! {
            () = &mut stop => return,
            o = subscribe(target, &uri, token, reader.last_id()) => o,
        };
        let Some(mut body) = opened else {
            sink.refused();
            tokio::select! {
                () = &mut stop => return,
                () = tokio::time::sleep(RETRY) => continue,
            }
        };
        loop {
            let data = tokio::select! {
                () = &mut stop => return,
                d = body.next() => d,
            };
            let Some(data) = data else { break };
            let at = Instant::now();
            if reader.feed(data, |e| sink.event(e, at)).is_break() {
                return;
            }
        }
        sink.broke();
        reader.resume();
    }
}

/// Open a connection and a subscription after `last`; the stream owns the connection.
async fn subscribe(
    target: &Target,
    uri: &Uri,
    token: &HeaderValue,
    last: Option<u64>,
) -> Option<Stream> {
    let conn = Conn::open(target).await.ok()?;
    let mut req = target.request(Method::GET, uri.clone(), token, Bytes::new());
    if let Some(last) = last {
        req = req.resume_after(last);
    }
    match conn.stream(req).await {
        Ok(s) if (200..300).contains(&s.status) => Some(s),
        _ => None,
    }
}

// ------------------------------------------------------------------ mixed workload displays

#[derive(Debug, Default)]
pub struct SseCounters {
    /// Events received during the measured period (not the snapshot).
    events: AtomicU64,
    /// An event whose id is not one more than the previous one, without a snapshot between.
    gaps: AtomicU64,
    /// Streams that ended early and were resumed.
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

/// A display of the mixed workload: counts events and checks their ids.
struct Watcher {
    counters: Arc<SseCounters>,
    from: Instant,
    previous: Option<u64>,
}

impl Sink for Watcher {
    fn event(&mut self, event: Event<'_>, at: Instant) -> ControlFlow<()> {
        let Some(id) = event.id else {
            return ControlFlow::Continue(());
        };
        if self.previous.is_none() {
            self.counters.connected.fetch_add(1, Ordering::Relaxed);
        }
        if event.kind != b"snapshot" {
            if self.previous.is_some_and(|p| id != p + 1) {
                self.counters.gaps.fetch_add(1, Ordering::Relaxed);
            }
            if at >= self.from {
                self.counters.events.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.previous = Some(id);
        ControlFlow::Continue(())
    }

    fn refused(&mut self) {
        self.counters.refused.fetch_add(1, Ordering::Relaxed);
    }

    fn broke(&mut self) {
        self.counters.reconnects.fetch_add(1, Ordering::Relaxed);
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
    let mut watcher = Watcher {
        counters,
        from: period.from,
        previous: None,
    };
    let stop = tokio::time::sleep_until(period.until.into());
    follow(&target, &hall_stream(&hall), &token, stop, &mut watcher).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (id, kind, data) of every event the chunks complete.
    fn events(chunks: &[&[u8]]) -> Vec<(Option<u64>, String, String)> {
        let mut reader = Reader::default();
        let mut out = Vec::new();
        for c in chunks {
            let _ = reader.feed(c, |e| {
                out.push((
                    e.id,
                    String::from_utf8_lossy(e.kind).into_owned(),
                    String::from_utf8_lossy(e.data).into_owned(),
                ));
                ControlFlow::Continue(())
            });
        }
        out
    }

    #[test]
    fn events_split_across_chunks_come_out_whole() {
        let stream =
            b"retry: 2000\n\nid: 7\nevent: snapshot\ndata: {\"seq\":7}\n\n: keep-alive\n\n\
                       id: 8\nevent: called\ndata: {\"ticket\":\"a\"}\n\n";
        let whole = events(&[stream]);
        assert_eq!(
            whole,
            vec![
                (Some(7), "snapshot".into(), "{\"seq\":7}".into()),
                (Some(8), "called".into(), "{\"ticket\":\"a\"}".into()),
            ]
        );
        // Every split point, including inside a line and between \n\n.
        for cut in 0..stream.len() {
            let (a, b) = stream.split_at(cut);
            assert_eq!(events(&[a, b]), whole, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(events(&bytes), whole);
    }

    #[test]
    fn data_lines_join_and_fields_follow_the_specification() {
        let got =
            events(&[b"id:3\r\nevent:x\r\ndata:a\r\ndata: b\r\n\r\nid: 4\n\nid: 5\ndata\n\n"]);
        assert_eq!(
            got,
            vec![
                (Some(3), "x".into(), "a\nb".into()),
                // No data line: nothing is dispatched. An empty data line is an event.
                (Some(5), String::new(), String::new()),
            ]
        );
    }

    #[test]
    fn break_stops_at_that_event_and_resume_drops_a_torn_one() {
        let mut reader = Reader::default();
        let mut seen = Vec::new();
        let flow = reader.feed(
            b"id: 1\ndata: a\n\nid: 2\ndata: b\n\nid: 3\ndata: c\n\n",
            |e| {
                seen.push(e.id);
                if e.id == Some(2) {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            },
        );
        assert!(flow.is_break());
        assert_eq!(seen, vec![Some(1), Some(2)]);

        let mut reader = Reader::default();
        let _ = reader.feed(
            b"id: 5\ndata: a\n\nid: 6\nevent: called\ndata: {\"tic",
            |_| ControlFlow::Continue(()),
        );
        assert_eq!(reader.last_id(), Some(5), "event 6 is torn: resume after 5");
        reader.resume();
        let mut seen = Vec::new();
        let _ = reader.feed(b"id: 6\nevent: issued\ndata: x\n\n", |e| {
            seen.push((e.id, e.kind.to_vec(), e.data.to_vec()));
            ControlFlow::Continue(())
        });
        assert_eq!(seen, vec![(Some(6), b"issued".to_vec(), b"x".to_vec())]);
    }
}
