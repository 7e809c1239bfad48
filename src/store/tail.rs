//! The log's tail in memory: every record committed since the last checkpoint, decoded.
//!
//! The current-state tables lag the log by up to one checkpoint; every read of the store
//! (`read`) lays the tail's records over the tables it reads, so a read sees everything that
//! is durable. The writer appends an entry after each commit (before anyone hears of it); the
//! checkpointer drops the entries a checkpoint has materialised, once it has committed. Every
//! entry is durable in the log's segments, so a reopened database keeps the tail as it is.
//!
//! A reader must hold the tail's lock while it begins its read transaction, and then take only
//! the entries after the checkpoint that transaction sees: the entries it needs are then
//! still here (they are dropped only after the checkpoint that holds them committed), and none
//! is applied twice (an increment or an appended rewind would be). The reads on the request
//! path take what they need from the tail's indexes (`Tail`'s fields), under the same rule,
//! instead of copying and walking up to a second of entries.

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::sync::Arc;

use redb::{Database, ReadableDatabase};

use super::batch::{Op, Published};
use super::log::{self, LOG};
use super::{META, StoreError};
use crate::hash::FastMap;

/// The META key of the last log sequence number materialised into the state tables.
pub(crate) const CHECKPOINT: &str = "checkpoint";

/// One committed record.
#[derive(Debug)]
pub(crate) struct Entry {
    pub lsn: u64,
    pub ops: Vec<Op>,
    pub events: Vec<Published>,
}

#[derive(Debug, Default)]
pub(crate) struct Tail {
    entries: VecDeque<Arc<Entry>>,
    /// The indexes below answer the reads on the request path from the entries that concern
    /// them, whatever the tail's length (up to a second of writes). Each holds the newest
    /// write of a key (a stream's index, all its events) whatever its lsn: a reader ignores
    /// what is at or before the checkpoint its transaction sees (the table has it then), and
    /// `trim` drops only what is at or before the checkpoint just committed. A reader sees
    /// that checkpoint or a later one, so the newest write of a key after the checkpoint it
    /// sees is always here while it holds the lock.
    ///
    /// (scope, key) → its newest answer: an `Idempotency-Key` an owner no longer caches.
    idem: FastMap<(String, String), OpAt>,
    /// Case id → its newest writes: `open_case`, and `closed_case` for every case command
    /// whose id is not open (every accept of a new case among them).
    cases: FastMap<String, CaseAt>,
    /// Consumer → its newest position: an acknowledgement the case engine does not cache.
    consumers: FastMap<String, OpAt>,
    /// Cluster mode: hall → its newest log-of-record mark, read by the writer on replays.
    applied: FastMap<Arc<str>, OpAt>,
    /// Stream → its events: `Last-Event-ID` resumes, the case engine's relay of every
    /// hall's stream every 250 ms, the heads of streams.
    streams: FastMap<Arc<str>, StreamAt>,
    /// The last lsn committed (the checkpoint's when the tail is empty).
    last: u64,
    /// Ops and events held, to decide when to checkpoint.
    writes: usize,
}

/// Where an op (`OpAt`) or an event (`EventAt`) is: its entry, and its index in the entry's
/// ops or events, which of the two in the type, so that no lookup takes one for the other. It
/// keeps the entry alive, so a reader may use it after it let go of the tail's lock.
#[derive(Debug)]
pub(crate) struct At<T> {
    entry: Arc<Entry>,
    i: usize,
    of: PhantomData<fn() -> T>,
}

pub(crate) type OpAt = At<Op>;
pub(crate) type EventAt = At<Published>;

// Not derived: that would ask `T: Clone`, and ops are not.
impl<T> Clone for At<T> {
    fn clone(&self) -> Self {
        At::new(&self.entry, self.i)
    }
}

impl<T> At<T> {
    fn new(entry: &Arc<Entry>, i: usize) -> Self {
        At {
            entry: entry.clone(),
            i,
            of: PhantomData,
        }
    }

    /// In an entry after `lsn` (a checkpoint), so not in the tables a reader sees.
    fn after(&self, lsn: u64) -> bool {
        self.entry.lsn > lsn
    }
}

impl OpAt {
    pub fn op(&self) -> &Op {
        &self.entry.ops[self.i]
    }
}

impl EventAt {
    pub fn event(&self) -> &Published {
        &self.entry.events[self.i]
    }
}

/// A case's newest writes in the tail.
#[derive(Debug)]
struct CaseAt {
    /// Its newest `PutCase` or `CloseCase`: the open-case table's last word on it.
    last: OpAt,
    /// Its newest `CloseCase`, the closed-case table's; at or before `last`.
    closed: Option<OpAt>,
}

/// One stream's events in the tail, oldest first, with their numbers.
#[derive(Debug)]
struct StreamAt {
    events: VecDeque<(u64, EventAt)>,
    /// The lsn of the newest event numbered at or below the one before it (0: none). The
    /// writer and the shards number a stream's events rising, but a cluster node replaying
    /// another's numbering may not. The events after a checkpoint at or past `descent` rise
    /// among themselves, so a reader that sees such a checkpoint finds its resume point by
    /// bisection; one that does not filters them one by one, as a read of the whole tail
    /// would. A flag would leave a busy stream filtered for good after one descent.
    descent: u64,
}

/// A stream's events in the tail after a checkpoint.
#[derive(Debug)]
pub(crate) struct Events {
    pub first: u64,
    pub last: u64,
    /// Those numbered after the resume point, oldest first, up to the limit asked.
    pub page: Vec<EventAt>,
}

impl Tail {
    /// A tail that starts after `checkpoint`.
    pub fn empty(checkpoint: u64) -> Tail {
        Tail {
            last: checkpoint,
            ..Tail::default()
        }
    }

    /// The records a checkpoint has not materialised yet in the `log` table of a store of
    /// schema 3.
    pub fn load(db: &Database) -> Result<Tail, StoreError> {
        let tx = db.begin_read()?;
        let checkpoint = tx
            .open_table(META)?
            .get(CHECKPOINT)?
            .map_or(0, |v| v.value());
        let mut tail = Tail::empty(checkpoint);
        for row in tx.open_table(LOG)?.range(checkpoint + 1..)? {
            let (k, v) = row?;
            let record = log::decode(v.value()).map_err(|source| StoreError::Log {
                lsn: k.value(),
                source,
            })?;
            tail.push(Arc::new(Entry {
                lsn: k.value(),
                ops: record.ops,
                events: record.events,
            }));
        }
        Ok(tail)
    }

    pub fn push(&mut self, entry: Arc<Entry>) {
        // Only the indexed ops get an `At`: it clones the entry's `Arc`.
        let at = |i| OpAt::new(&entry, i);
        for (i, op) in entry.ops.iter().enumerate() {
            match op {
                Op::PutIdempotent { scope, key, .. } => {
                    self.idem.insert((scope.clone(), key.clone()), at(i));
                }
                Op::PutCase { id, .. } | Op::CloseCase { id, .. } => {
                    let closed = matches!(op, Op::CloseCase { .. }).then(|| at(i));
                    match self.cases.get_mut(id.as_str()) {
                        Some(case) => {
                            case.last = at(i);
                            case.closed = closed.or(case.closed.take());
                        }
                        None => {
                            let last = at(i);
                            self.cases.insert(id.clone(), CaseAt { last, closed });
                        }
                    }
                }
                Op::PutConsumer { name, .. } => match self.consumers.get_mut(name.as_str()) {
                    Some(newest) => *newest = at(i),
                    None => {
                        self.consumers.insert(name.clone(), at(i));
                    }
                },
                Op::PutApplied { hall, .. } => {
                    self.applied.insert(hall.clone(), at(i));
                }
                _ => {}
            }
        }
        for (i, e) in entry.events.iter().enumerate() {
            let stream = match self.streams.get_mut(&*e.stream) {
                Some(stream) => stream,
                None => self
                    .streams
                    .entry(e.stream.clone())
                    .or_insert_with(|| StreamAt {
                        events: VecDeque::new(),
                        descent: 0,
                    }),
            };
            if stream.events.back().is_some_and(|(seq, _)| *seq >= e.seq) {
                stream.descent = entry.lsn;
            }
            stream.events.push_back((e.seq, EventAt::new(&entry, i)));
        }
        self.writes += entry.ops.len() + entry.events.len();
        self.last = self.last.max(entry.lsn);
        self.entries.push_back(entry);
    }

    /// Forget the entries up to `lsn`, now in the state tables.
    pub fn trim(&mut self, lsn: u64) {
        while let Some(e) = self.entries.front().filter(|e| e.lsn <= lsn) {
            self.writes -= e.ops.len() + e.events.len();
            self.entries.pop_front();
        }
        self.idem.retain(|_, at| at.after(lsn));
        self.cases.retain(|_, case| {
            if case.closed.as_ref().is_some_and(|at| !at.after(lsn)) {
                case.closed = None;
            }
            case.last.after(lsn)
        });
        self.consumers.retain(|_, at| at.after(lsn));
        self.applied.retain(|_, at| at.after(lsn));
        self.streams.retain(|_, stream| {
            let kept = stream.events.partition_point(|(_, at)| !at.after(lsn));
            stream.events.drain(..kept);
            if spare(stream.events.len(), stream.events.capacity()) {
                stream.events.shrink_to(stream.events.len() * 2);
            }
            !stream.events.is_empty()
        });
        // A backlog (a slow disk, a long checkpoint) grows these far past what a steady
        // load keeps; give the memory back once it has drained.
        macro_rules! shrink {
            ($($held:expr),*) => {$(
                if spare($held.len(), $held.capacity()) {
                    $held.shrink_to($held.len() * 2);
                }
            )*};
        }
        shrink!(
            self.entries,
            self.idem,
            self.cases,
            self.consumers,
            self.applied,
            self.streams
        );
    }

    /// Entries after `lsn`, oldest first.
    pub fn after(&self, lsn: u64) -> Vec<Arc<Entry>> {
        let start = self.entries.partition_point(|e| e.lsn <= lsn);
        self.entries.range(start..).cloned().collect()
    }

    pub fn last(&self) -> u64 {
        self.last
    }

    pub fn writes(&self) -> usize {
        self.writes
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The newest idempotency answer in an entry after `lsn`: (expiry, answer).
    pub fn idempotent(&self, scope: &str, key: &str, lsn: u64) -> Option<(i64, Vec<u8>)> {
        let at = self.idem.get(&(scope.to_owned(), key.to_owned()))?;
        match at.op() {
            Op::PutIdempotent {
                expires_s, json, ..
            } if at.after(lsn) => Some((*expires_s, json.clone())),
            _ => None,
        }
    }

    /// The newest `PutCase` or `CloseCase` of case `id` in an entry after `lsn`.
    pub fn case(&self, id: &str, lsn: u64) -> Option<OpAt> {
        let case = self.cases.get(id)?;
        case.last.after(lsn).then(|| case.last.clone())
    }

    /// The newest `CloseCase` of case `id` in an entry after `lsn`.
    pub fn closed_case(&self, id: &str, lsn: u64) -> Option<OpAt> {
        let closed = self.cases.get(id)?.closed.as_ref()?;
        closed.after(lsn).then(|| closed.clone())
    }

    /// The newest `PutConsumer` of consumer `name` in an entry after `lsn`.
    pub fn consumer(&self, name: &str, lsn: u64) -> Option<OpAt> {
        self.consumers.get(name).filter(|at| at.after(lsn)).cloned()
    }

    /// The newest `PutApplied` of `hall` in an entry after `lsn`.
    pub fn applied(&self, hall: &str, lsn: u64) -> Option<OpAt> {
        self.applied.get(hall).filter(|at| at.after(lsn)).cloned()
    }

    /// The events of `stream` in entries after `lsn`, with at most `limit` of those
    /// numbered after `after`: `None` when no event of `stream` is after `lsn`, an empty
    /// page when some are but none is numbered after `after`.
    pub fn events(&self, stream: &str, lsn: u64, after: u64, limit: usize) -> Option<Events> {
        let stream = self.streams.get(stream)?;
        let events = &stream.events;
        let start = events.partition_point(|(_, at)| !at.after(lsn));
        let first = events.get(start)?.0;
        let last = events.back()?.0;
        let page = if stream.descent <= lsn {
            let from = events.partition_point(|(seq, at)| !at.after(lsn) || *seq <= after);
            events
                .range(from..)
                .take(limit)
                .map(|(_, at)| at.clone())
                .collect()
        } else {
            events
                .range(start..)
                .filter(|(seq, _)| *seq > after)
                .take(limit)
                .map(|(_, at)| at.clone())
                .collect()
        };
        Some(Events { first, last, page })
    }
}

/// Whether a collection holding `len` of `capacity` should give memory back: it holds under
/// a quarter of what it has room for, and more room than a steady load needs (shrinking a
/// small one at every checkpoint would only make the next pushes grow it again).
fn spare(len: usize, capacity: usize) -> bool {
    capacity > SPARE_FLOOR && len < capacity / 4
}

/// The capacity under which a collection of the tail is never shrunk.
const SPARE_FLOOR: usize = 1024;

#[cfg(test)]
mod tests {
    use super::*;

    /// A backlog of many keys and events, then checkpoints that drain it: the tail gives the
    /// room back, down to about what it still holds.
    #[test]
    fn a_drained_backlog_gives_its_memory_back() {
        let mut tail = Tail::empty(0);
        let backlog = 20_000;
        for lsn in 1..=backlog {
            let id = format!("c{lsn}");
            let json = Vec::new();
            tail.push(Arc::new(Entry {
                lsn,
                ops: vec![
                    Op::PutCase { id, json },
                    Op::PutConsumer {
                        name: format!("x{lsn}"),
                        seq: lsn,
                        owner: "t".into(),
                    },
                ],
                events: vec![Published {
                    stream: Arc::from("s"),
                    seq: lsn,
                    kind: "e",
                    json: String::new(),
                    hall: None,
                }],
            }));
        }
        tail.trim(backlog - 10);
        let stream = &tail.streams["s"].events;
        let held = [
            tail.entries.capacity(),
            tail.cases.capacity(),
            tail.consumers.capacity(),
            stream.capacity(),
        ];
        assert!(held.iter().all(|c| *c <= SPARE_FLOOR), "{held:?}");
    }
}
