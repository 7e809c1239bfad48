//! The checkpointer thread: materialises the log's tail into redb's state tables off the
//! request path, then recycles the log segments the checkpoint covers, and keeps spare
//! segments ready for the writer.
//!
//! It is the only thread that writes redb's state tables while the writer runs (besides the
//! writer's trial commit while writes are refused, when this thread pauses). It owns what
//! only checkpoints need: the hall rows it wrote (`StoredRows`), when it
//! last swept expired idempotency answers. A checkpoint commits durably (redb's
//! `Durability::Immediate`, with quick repair if configured) before the tail drops its
//! entries and before any segment holding them is reused: until then the log still has them.
//!
//! A failed checkpoint is a failure of the store: nothing acknowledged is lost (the log has
//! it), but redb needs reopening and the disk is likely full, so writes are refused until the
//! writer's trial succeeds (`writer`); this thread waits for that.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, RecvTimeoutError};

use super::hall_delta::StoredRows;
use super::wal::Segments;
use super::{Health, IDEMPOTENCY, Slot, StoreError, checkpoint};
use crate::clock::Clock;

pub(super) struct Checkpointer {
    pub slot: Arc<Slot>,
    pub segments: Arc<Segments>,
    pub health: Arc<Health>,
    pub clock: Arc<dyn Clock>,
    /// The writer's nudges; disconnected when the writer has stopped.
    pub wake: Receiver<()>,
    pub quick_repair: bool,
    pub retention: u64,
    /// A checkpoint runs once the tail holds `[store] checkpoint_writes` writes and events
    /// (the writer wakes this thread then), or `[store] checkpoint_interval_ms` after the
    /// last while the tail holds anything.
    pub checkpoint_writes: usize,
    pub interval: Duration,
    /// The hall rows the checkpoints wrote (`hall_delta`); dropped after
    /// any failure, when the rows may be other than what it remembers.
    pub stored_rows: StoredRows,
    pub last_expiry_sweep: i64,
    /// The writer's refusals are over the last time this thread looked.
    pub was_writable: bool,
}

impl Checkpointer {
    pub fn start(mut self) -> JoinHandle<()> {
        std::thread::Builder::new()
            .name("hallq-checkpoint".into())
            .spawn(move || self.run())
            .expect("spawning the checkpointer thread")
    }

    fn run(&mut self) {
        self.prepare();
        let mut last = Instant::now();
        loop {
            let wait = self.interval.saturating_sub(last.elapsed());
            let stopping = match self.wake.recv_timeout(wait) {
                Ok(()) | Err(RecvTimeoutError::Timeout) => false,
                Err(RecvTimeoutError::Disconnected) => true,
            };
            let writable = self.health.is_writable();
            if writable && !self.was_writable {
                // Whatever the failed checkpoint left in memory may be other than the rows.
                self.stored_rows.clear();
            }
            self.was_writable = writable;
            if !writable {
                if stopping {
                    return;
                }
                last = Instant::now();
                continue;
            }
            let (due, empty) = {
                let tail = self.slot.tail();
                let due = tail.writes() >= self.checkpoint_writes
                    || (!tail.is_empty() && last.elapsed() >= self.interval);
                (due, tail.is_empty())
            };
            // `last` starts the next period whenever this thread has looked, so the wait
            // above is never zero twice in a row unless checkpoints run back to back.
            if due || stopping {
                last = Instant::now();
                self.checkpoint();
            } else if empty {
                last = Instant::now();
                self.housekeeping();
            }
            if stopping {
                return;
            }
            self.prepare();
        }
    }

    fn prepare(&self) {
        if let Err(e) = self.segments.prepare() {
            // The writer makes one itself when it needs it, and fails its commit then.
            tracing::debug!(error = %e, "cannot prepare a spare log segment");
        }
    }

    /// Materialise the log's tail into the state tables, durably, then drop it from the tail
    /// and recycle the segments it filled.
    fn checkpoint(&mut self) {
        let entries = self.slot.tail().after(0);
        if entries.is_empty() {
            return;
        }
        let started = Instant::now();
        let mut rows = std::mem::take(&mut self.stored_rows);
        let mut run = || -> Result<Option<u64>, StoreError> {
            let db = self.slot.get()?;
            let tx = super::begin_write(&db, self.quick_repair)?;
            let lsn = checkpoint::materialise(&tx, &entries, self.retention, &mut rows)?;
            tx.commit()?;
            Ok(lsn)
        };
        match run() {
            Ok(lsn) => {
                self.stored_rows = rows;
                if let Some(lsn) = lsn {
                    self.slot.tail_mut().trim(lsn);
                    self.segments.recycle(lsn);
                }
                let took = started.elapsed();
                metrics::histogram!(crate::metrics::STORE_CHECKPOINT_SECONDS)
                    .record(took.as_secs_f64());
                tracing::debug!(
                    records = entries.len(),
                    writes = entries
                        .iter()
                        .map(|e| e.ops.len() + e.events.len())
                        .sum::<usize>(),
                    ms = took.as_secs_f64() * 1000.0,
                    "checkpoint"
                );
            }
            Err(e) => self.failed("checkpointing the log failed", &e),
        }
    }

    /// Idle-time work: drop expired idempotency answers once an hour.
    fn housekeeping(&mut self) {
        let now = self.clock.now().as_second();
        if now - self.last_expiry_sweep < 3600 {
            return;
        }
        self.last_expiry_sweep = now;
        let sweep = || -> Result<(), StoreError> {
            let db = self.slot.get()?;
            let tx = super::begin_write(&db, self.quick_repair)?;
            tx.open_table(IDEMPOTENCY)?.retain(|_, v| {
                v.get(..8)
                    .and_then(|b| b.try_into().ok())
                    .is_some_and(|b| i64::from_be_bytes(b) > now)
            })?;
            tx.commit()?;
            Ok(())
        };
        if let Err(e) = sweep() {
            self.failed("sweeping expired idempotency keys failed", &e);
        }
    }

    /// redb failed: refuse writes (the writer retries with backoff and lets them in again)
    /// and reopen the database, which redb requires after an I/O error.
    fn failed(&mut self, what: &str, e: &StoreError) {
        let cause = e.cause();
        tracing::error!(error = %e, "{what}; refusing writes and retrying with backoff");
        metrics::counter!(crate::metrics::STORE_FAILURES).increment(1);
        metrics::gauge!(crate::metrics::STORE_WRITABLE).set(0.0);
        self.stored_rows.clear();
        self.was_writable = false;
        self.health.refuse(&cause, 1);
        if let Err(e) = self.slot.reopen(&cause) {
            tracing::error!(error = %e, "cannot reopen the store; reads fail until it opens");
        }
    }
}
