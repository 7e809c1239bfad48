//! Fan-out of durable events to stream subscribers (hall displays, alarm consumers).
//!
//! The store writer publishes here only after a commit, so subscribers never see an event a
//! crash could undo. Each stream is a bounded `tokio::sync::broadcast` channel: publishing
//! never blocks, and a subscriber that falls more than `capacity` events behind gets
//! `Lagged` and is cut off; it reconnects with `Last-Event-ID` and resumes from the log.
//! Each subscriber's receiver is drained by a task of its own into a smaller buffer
//! (`api::events::live`), so a subscriber that stops reading is cut off there, long before
//! it could lag here.
//!
//! Frames are formatted once per event as SSE bytes and shared by every subscriber, so a
//! call reaching thousands of displays costs one allocation, not thousands.

use std::sync::Arc;

use bytes::Bytes;
use dashmap::DashMap;

use crate::hash::FastState;
use tokio::sync::broadcast;

use crate::store::{Publish, Published};

/// One event ready to write to an SSE response.
#[derive(Debug)]
pub struct Frame {
    pub seq: u64,
    pub bytes: Bytes,
    /// The hall the event concerns, for streams that mix halls (alarms, cases).
    pub hall: Option<usize>,
}

/// The SSE encoding of one event. Event JSON is compact (no newlines), so one `data:` line
/// carries it. Written piece by piece into one allocation of the right size: the writer
/// builds these after each commit and before its answers, and `format!` (here and for
/// the writer's sequence numbers) was about a quarter of the writer's user-space CPU
/// (BENCHMARKS.md, "Frames written by hand").
pub fn frame(seq: u64, kind: &str, json: &str) -> Bytes {
    let mut seq_text = itoa::Buffer::new();
    let seq = seq_text.format(seq).as_bytes();
    let mut out = Vec::with_capacity(FRAME_FIXED + seq.len() + kind.len() + json.len());
    out.extend_from_slice(b"id: ");
    out.extend_from_slice(seq);
    out.extend_from_slice(b"\nevent: ");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    out.extend_from_slice(json.as_bytes());
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// The bytes of a frame around its id, kind and data.
const FRAME_FIXED: usize = "id: \nevent: \ndata: \n\n".len();

pub struct Hub {
    streams: DashMap<Arc<str>, broadcast::Sender<Arc<Frame>>, FastState>,
    capacity: usize,
}

impl Hub {
    pub fn new(capacity: usize) -> Self {
        Hub {
            streams: DashMap::with_hasher(FastState::default()),
            capacity,
        }
    }

    /// Subscribe to everything published to `stream` from now on.
    pub fn subscribe(&self, stream: &str) -> broadcast::Receiver<Arc<Frame>> {
        if let Some(tx) = self.streams.get(stream) {
            return tx.subscribe();
        }
        self.streams
            .entry(Arc::from(stream))
            .or_insert_with(|| broadcast::channel(self.capacity).0)
            .subscribe()
    }

    /// Current subscribers of `stream`.
    pub fn subscribers(&self, stream: &str) -> usize {
        self.streams.get(stream).map_or(0, |tx| tx.receiver_count())
    }

    /// Subscribers of every stream, for metrics.
    pub fn all_subscribers(&self) -> Vec<(Arc<str>, usize)> {
        self.streams
            .iter()
            .map(|e| (e.key().clone(), e.value().receiver_count()))
            .collect()
    }
}

impl Publish for Hub {
    fn publish(&self, events: &[Published]) {
        for e in events {
            if let Some(tx) = self.streams.get(&e.stream)
                && tx.receiver_count() > 0
            {
                let _ = tx.send(Arc::new(Frame {
                    seq: e.seq,
                    bytes: frame(e.seq, e.kind, &e.json),
                    hall: e.hall,
                }));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_is_the_sse_text_of_its_event_in_one_exact_allocation() {
        for (seq, kind, json) in [
            (0, "called", r#"{"a":1}"#),
            (u64::MAX, "snapshot", "{}"),
            (42, "ticket_issued", r#"{"hall":"杭州","n":"A001"}"#),
        ] {
            let f = frame(seq, kind, json);
            assert_eq!(
                f,
                format!("id: {seq}\nevent: {kind}\ndata: {json}\n\n").as_bytes()
            );
        }
    }
}
