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
//! is applied twice (an increment or an appended rewind would be).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use redb::{Database, ReadableDatabase};

use super::batch::{Op, Published};
use super::log::{self, LOG};
use super::{META, StoreError};

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
    /// (scope, key) → the entry holding the newest answer and the op's index in it: the one
    /// read that runs on the request path (an `Idempotency-Key` an owner no longer caches).
    idem: HashMap<(String, String), (Arc<Entry>, usize)>,
    /// The last lsn committed (the checkpoint's when the tail is empty).
    last: u64,
    /// Ops and events held, to decide when to checkpoint.
    writes: usize,
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
        for (i, op) in entry.ops.iter().enumerate() {
            if let Op::PutIdempotent { scope, key, .. } = op {
                self.idem
                    .insert((scope.clone(), key.clone()), (entry.clone(), i));
            }
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
        self.idem.retain(|_, (e, _)| e.lsn > lsn);
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
        let (entry, i) = self.idem.get(&(scope.to_owned(), key.to_owned()))?;
        if entry.lsn <= lsn {
            return None;
        }
        match &entry.ops[*i] {
            Op::PutIdempotent {
                expires_s, json, ..
            } => Some((*expires_s, json.clone())),
            _ => None,
        }
    }
}
