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
/// carries it.
pub fn frame(seq: u64, kind: &str, json: &str) -> Bytes {
    Bytes::from(format!("id: {seq}\nevent: {kind}\ndata: {json}\n\n"))
}

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
