//! The store's single writer thread: group commit (one record appended to the log's
//! segment files, one `fdatasync`), then publish, then answer. Checkpoints run on their own
//! thread (`checkpointer`), which this one starts and wakes.
//!
//! When a commit (or a checkpoint) fails the writer refuses writes, reopens the database so reads go on, and
//! tries again after a backoff that doubles up to `[store] retry_max_ms`: 1 MiB written to a
//! scratch file beside the store, the log's next frame erased and synced, then a small trial
//! commit of the database. The first try that succeeds lets
//! writes in again. A batch is either committed or refused with
//! the store's generation moved past it, so its producer knows to put back what it changed
//! (`Ledger`): no change a client was refused ever becomes durable later, and no producer
//! goes on building on a change that never became durable.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam::channel::{self, Receiver, RecvTimeoutError, Sender};

use super::batch::{Batch, Op, Publish};
use super::checkpointer::Checkpointer;
use super::hall_delta::StoredRows;
use super::log;
use super::replica::{self, LogOfRecord};
use super::tail::Entry;
use super::wal::Appender;
use super::{Health, PROBE, Slot, Store, StoreError};
use crate::clock::Clock;
use crate::config::StoreConfig;
use crate::hash::{FastMap, FastSet};

/// The running writer: where to send batches and how to stop it.
pub struct WriterHandle {
    tx: Sender<Batch>,
    thread: Option<JoinHandle<()>>,
    checkpointer: Option<JoinHandle<()>>,
}

impl WriterHandle {
    pub fn sender(&self) -> Sender<Batch> {
        self.tx.clone()
    }

    /// Stop after every batch already sent has been committed. Producers must have dropped
    /// their senders first, or this waits for them.
    pub fn stop(mut self) {
        let (tx, _) = channel::bounded(1);
        drop(std::mem::replace(&mut self.tx, tx));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        // The writer's end of the wake channel is gone with it: a last checkpoint, then out.
        if let Some(t) = self.checkpointer.take() {
            let _ = t.join();
        }
    }
}

struct Writer {
    slot: Arc<Slot>,
    rx: Receiver<Batch>,
    publish: Arc<dyn Publish>,
    clock: Arc<dyn Clock>,
    health: Arc<Health>,
    max_batch: usize,
    quick_repair: bool,
    /// The last sequence number of each stream the writer numbers (`@alarms`, `@cases`);
    /// cleared after a failed commit, whose numbering never happened.
    heads: FastMap<Arc<str>, u64>,
    /// The record being encoded, kept to reuse its allocation.
    buf: Vec<u8>,
    /// Where the records go (`wal`).
    log: Appender,
    /// The tail size at which the checkpointer is woken before its interval is up.
    checkpoint_writes: usize,
    wake: Sender<()>,
    /// Set while writes are refused.
    retry: Option<Retry>,
    /// A write failed: reopen the database once the requests it refuses are answered.
    reopen_after: Option<String>,
    retry_min: Duration,
    retry_max: Duration,
    /// Cluster mode: where every commit's hall writes go first (`replica`).
    record: Option<Arc<dyn LogOfRecord>>,
    /// `hallq_store_commit_seconds` and `hallq_store_batch_size`, looked up once.
    commit_seconds: metrics::Histogram,
    batch_size: metrics::Histogram,
}

/// When the writer next tries the store, and how long it waited last.
#[derive(Debug, Clone, Copy)]
struct Retry {
    at: Instant,
    backoff: Duration,
    since: Instant,
}

/// Bytes the trial writes to a scratch file beside the store (and then deletes) before its
/// trial commit: room for a few ordinary batches. A file, because a small commit can succeed
/// on a full disk inside pages redb already owns, and writes would flap on and off.
const PROBE_BYTES: usize = 1 << 20;

impl Store {
    /// Start the writer thread. `queue` bounds the batches waiting for it: a producer that
    /// outpaces the disk blocks, which backs up into the shards' bounded queues and turns
    /// into 503s at the edge instead of unbounded memory.
    pub fn start_writer(
        &self,
        cfg: &StoreConfig,
        publish: Arc<dyn Publish>,
        clock: Arc<dyn Clock>,
    ) -> WriterHandle {
        // The open state is loaded: what is read from now on is read on demand.
        self.prefetch.stop();
        let (tx, rx) = channel::bounded(1024);
        let (wake, woken) = channel::bounded(1);
        let checkpointer = Checkpointer {
            slot: self.slot.clone(),
            segments: self.segments.clone(),
            health: self.health.clone(),
            clock: clock.clone(),
            wake: woken,
            quick_repair: cfg.quick_repair,
            retention: cfg.event_retention,
            checkpoint_writes: cfg.checkpoint_writes,
            interval: Duration::from_millis(cfg.checkpoint_interval_ms),
            stored_rows: StoredRows::new(),
            last_expiry_sweep: 0,
            was_writable: true,
        }
        .start();
        let mut w = Writer {
            slot: self.slot.clone(),
            rx,
            publish,
            clock,
            health: self.health.clone(),
            max_batch: cfg.max_batch,
            quick_repair: cfg.quick_repair,
            heads: FastMap::default(),
            buf: Vec::new(),
            log: Appender::new(self.segments.clone()),
            checkpoint_writes: cfg.checkpoint_writes,
            wake,
            retry: None,
            reopen_after: None,
            retry_min: Duration::from_millis(cfg.retry_min_ms),
            retry_max: Duration::from_millis(cfg.retry_max_ms),
            record: self.record.get().cloned(),
            commit_seconds: metrics::histogram!(crate::metrics::STORE_COMMIT_SECONDS),
            batch_size: metrics::histogram!(crate::metrics::STORE_BATCH_SIZE),
        };
        metrics::gauge!(crate::metrics::STORE_WRITABLE).set(1.0);
        let priority = cfg.writer_priority;
        let thread = std::thread::Builder::new()
            .name("hallq-store".into())
            .spawn(move || {
                raise_priority(priority);
                w.run()
            })
            .expect("spawning the store writer thread");
        WriterHandle {
            tx,
            thread: Some(thread),
            checkpointer: Some(checkpointer),
        }
    }
}

/// Raise the calling thread's scheduling priority by `by` (nice -`by`), once, at the
/// writer's start: every request waits for its commit, and with more busy threads than
/// cores a commit otherwise waits its turn behind work nothing waits for (BENCHMARKS.md,
/// "The writer's priority"). Not allowed (no CAP_SYS_NICE, RLIMIT_NICE too low): said once,
/// and the writer runs at the default priority.
fn raise_priority(by: u32) {
    if by == 0 {
        return;
    }
    // SAFETY: gettid has no preconditions; setpriority on this thread's own id changes only
    // its scheduling weight.
    let done = unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, -(by as i32))
    };
    if done != 0 {
        let e = std::io::Error::last_os_error();
        tracing::info!(
            nice = -(by as i64),
            error = %e,
            "the store writer keeps the default priority (raising it needs CAP_SYS_NICE or systemd's LimitNICE)"
        );
    }
}

/// `json` (an object) with `"seq":seq` as its first member, written piece by piece: on the
/// writer's thread every microsecond before the answers is one every request waits for
/// (BENCHMARKS.md, "Frames written by hand").
fn with_seq(seq: u64, json: &str) -> String {
    let mut seq_text = itoa::Buffer::new();
    let seq = seq_text.format(seq);
    let rest = json.strip_prefix('{').unwrap_or(json);
    let mut out = String::with_capacity(r#"{"seq":,"#.len() + seq.len() + rest.len());
    out.push_str(r#"{"seq":"#);
    out.push_str(seq);
    out.push(',');
    out.push_str(rest);
    out
}

/// Drop the hall and ticket records that a later record of the same key in the same commit
/// overwrites: the commit is atomic, so nobody could ever read them. Only whole hall records
/// (`PutHall`, which no producer writes any more) and tickets are dropped: a hall's deltas
/// and patches each build on the one before.
fn coalesce<'a>(batches: impl DoubleEndedIterator<Item = &'a mut Batch>) {
    let mut halls: FastSet<Arc<str>> = FastSet::default();
    let mut tickets: FastSet<(Arc<str>, String)> = FastSet::default();
    for b in batches.rev() {
        if !b
            .ops
            .iter()
            .any(|op| matches!(op, Op::PutHall { .. } | Op::PutTicket { .. }))
        {
            continue;
        }
        let mut keep: Vec<bool> = b
            .ops
            .iter()
            .rev()
            .map(|op| match op {
                Op::PutHall { hall, .. } => halls.insert(hall.clone()),
                Op::PutTicket { hall, id, .. } => tickets.insert((hall.clone(), id.clone())),
                _ => true,
            })
            .collect();
        keep.reverse();
        let mut keep = keep.into_iter();
        b.ops.retain(|_| keep.next().unwrap_or(true));
    }
}

impl Writer {
    fn run(&mut self) {
        let mut pending: Vec<Batch> = Vec::new();
        loop {
            self.health
                .writer_alive
                .store(self.clock.now().as_second(), Ordering::Relaxed);
            if self.retry.is_none() && self.health.is_failed() {
                // The checkpointer failed: retry as after a failed commit.
                let now = Instant::now();
                self.retry = Some(Retry {
                    at: now + self.retry_min,
                    backoff: self.retry_min,
                    since: now,
                });
            }
            if self.retry.is_some_and(|r| Instant::now() >= r.at) {
                self.try_again();
            }
            let wait = self.retry.map_or(Duration::from_secs(1), |r| {
                r.at.saturating_duration_since(Instant::now())
                    .min(Duration::from_secs(1))
            });
            match self.rx.recv_timeout(wait) {
                Ok(b) => pending.push(b),
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return,
            }
            while pending.len() < self.max_batch {
                match self.rx.try_recv() {
                    Ok(b) => pending.push(b),
                    Err(_) => break,
                }
            }
            self.commit(&mut pending);
            if self.slot.tail().writes() >= self.checkpoint_writes {
                let _ = self.wake.try_send(());
            }
        }
    }

    fn commit(&mut self, batches: &mut Vec<Batch>) {
        if let Some(record) = &self.record {
            replica::refuse_moved(batches, &**record);
        }
        let generation = self.health.generation();
        let current = |b: &Batch| b.generation >= generation;
        let writes = batches.iter().any(|b| current(b) && b.writes());
        let result = if !writes {
            Ok(None)
        } else if let Some(r) = self.health.refusal() {
            // Refused without touching the disk; their producers put back what they changed.
            self.health.lose();
            Err(StoreError::Unwritable {
                cause: r.cause,
                retry_after_s: r.retry_after_s,
            })
        } else {
            let started = Instant::now();
            let r = self.write(batches, generation);
            self.commit_seconds.record(started.elapsed().as_secs_f64());
            let requests: usize = batches.iter().map(|b| b.done.len().max(1)).sum();
            self.batch_size.record(requests as f64);
            r.map(Some).map_err(|e| match e {
                // The log of record refused or could not be reached: nothing was committed
                // here, and the halls concerned are adopted again before they serve. The
                // store itself is fine, so it is not reopened.
                StoreError::Record { cause } => {
                    tracing::warn!(%cause, "the log of record refused a commit");
                    metrics::counter!(crate::metrics::CLUSTER_APPEND_FAILURES).increment(1);
                    self.heads.clear();
                    self.health.lose();
                    StoreError::Unwritable {
                        cause,
                        retry_after_s: 1,
                    }
                }
                e => self.failed(&e),
            })
        };
        // Batches built on state a failed commit lost: refused, whatever they hold.
        let stale = || {
            let r = self.health.last_refusal();
            StoreError::Unwritable {
                cause: format!("an earlier write was not made durable ({}); retry", r.cause),
                retry_after_s: r.retry_after_s,
            }
        };
        let stale = batches.iter().any(|b| !current(b)).then(stale);
        for (i, b) in batches.drain(..).enumerate() {
            let outcome = match (&stale, current(&b)) {
                (Some(e), false) => Err(e),
                _ => result.as_ref().map(|_| ()),
            };
            if outcome.is_ok() {
                if let Some(m) = &b.mark {
                    m.durable.fetch_max(m.n, Ordering::AcqRel);
                }
                // The events moved into the log's tail with the commit.
                if let Ok(Some((entry, ranges))) = &result {
                    let events = &entry.events[ranges[i].clone()];
                    if !events.is_empty() {
                        self.publish.publish(events);
                    }
                }
            }
            for done in b.done {
                done(outcome);
            }
        }
        if let Some(cause) = self.reopen_after.take() {
            self.reopen(&cause);
        }
    }

    /// A write failed: refuse writes, make every producer resynchronise, and schedule the
    /// first retry; the database is reopened (so reads go on) once the refused requests are
    /// answered. Returns what they are told.
    fn failed(&mut self, e: &StoreError) -> StoreError {
        let cause = e.cause();
        tracing::error!(error = %e, "store commit failed; refusing writes and retrying with backoff");
        metrics::counter!(crate::metrics::STORE_FAILURES).increment(1);
        metrics::gauge!(crate::metrics::STORE_WRITABLE).set(0.0);
        // Sequence numbers handed out in the failed transaction were never stored.
        self.heads.clear();
        // Only a writable store commits, so this starts a new spell of refusals.
        let backoff = self.retry_min;
        let retry_after_s = backoff.as_secs_f64().ceil().max(1.0) as u32;
        self.health.refuse(&cause, retry_after_s);
        self.health.lose();
        let now = Instant::now();
        self.retry = Some(Retry {
            at: now + backoff,
            backoff,
            since: now,
        });
        // redb latches an I/O error until reopened; the log's files need no such thing.
        if !matches!(e, StoreError::Segment(_)) {
            self.reopen_after = Some(cause.clone());
        }
        StoreError::Unwritable {
            cause,
            retry_after_s,
        }
    }

    /// redb refuses everything after an I/O error until the handle is reopened.
    fn reopen(&self, cause: &str) {
        if let Err(e) = self.slot.reopen(cause) {
            tracing::error!(error = %e, "cannot reopen the store; reads fail until it opens");
        }
    }

    /// While writes are refused: room on the disk, then a trial commit. The first try that
    /// succeeds lets writes in again.
    fn try_again(&mut self) {
        let Some(retry) = self.retry else { return };
        let mut trial = || -> Result<(), StoreError> {
            self.slot.probe_space(PROBE_BYTES)?;
            self.log.trial()?;
            let db = match self.slot.get() {
                Ok(db) => db,
                Err(_) => {
                    self.slot.reopen(&self.health.last_refusal().cause)?;
                    self.slot.get()?
                }
            };
            let tx = super::begin_write(&db, self.quick_repair)?;
            tx.open_table(PROBE)?
                .insert("trial", [0u8; 64].as_slice())?;
            tx.commit()?;
            let tx = super::begin_write(&db, self.quick_repair)?;
            tx.open_table(PROBE)?.remove("trial")?;
            tx.commit()?;
            Ok(())
        };
        match trial() {
            Ok(()) => {
                self.retry = None;
                self.health.accept();
                metrics::counter!(crate::metrics::STORE_RECOVERIES).increment(1);
                metrics::gauge!(crate::metrics::STORE_WRITABLE).set(1.0);
                tracing::warn!(
                    refused_for_s = retry.since.elapsed().as_secs(),
                    "the store accepts writes again"
                );
            }
            Err(e) => {
                let backoff = (retry.backoff * 2).min(self.retry_max);
                metrics::counter!(crate::metrics::STORE_RETRIES).increment(1);
                let cause = e.cause();
                tracing::warn!(error = %e, next_in_ms = backoff.as_millis() as u64, "the store still refuses writes");
                self.health
                    .retry_in(backoff.as_secs_f64().ceil().max(1.0) as u32);
                self.retry = Some(Retry {
                    at: Instant::now() + backoff,
                    backoff,
                    since: retry.since,
                });
                // A handle that saw the failure is latched by redb; one that failed to open is
                // opened again at the next try; a failed space probe touched neither.
                if self.slot.get().is_ok()
                    && !matches!(e, StoreError::Space(_) | StoreError::Segment(_))
                {
                    self.reopen(&cause);
                }
            }
        }
    }

    /// Append the batches of the current `generation` to the log as one record, with one
    /// fsync. Their writes and events move into the log's tail (where reads find them until
    /// a checkpoint); returned with each batch's events in it.
    fn write(
        &mut self,
        batches: &mut [Batch],
        generation: u64,
    ) -> Result<(Arc<Entry>, Vec<Range<usize>>), StoreError> {
        let lsn = self.slot.tail().last() + 1;
        for b in batches.iter_mut().filter(|b| b.generation >= generation) {
            for e in b.events.iter_mut().filter(|e| e.seq == 0) {
                let next = self.head(&e.stream)? + 1;
                self.heads.insert(e.stream.clone(), next);
                e.seq = next;
                e.json = with_seq(next, &e.json);
            }
        }
        coalesce(batches.iter_mut().filter(|b| b.generation >= generation));
        // Cluster mode: the log of record first; its row ids go into this record.
        let (appended, marks) = match self.record.clone() {
            Some(record) => {
                let slot = self.slot.clone();
                replica::append(|hall| slot.applied(hall), batches, generation, &*record)?
            }
            None => (Vec::new(), Vec::new()),
        };
        self.buf.clear();
        let current = || batches.iter().filter(|b| b.generation >= generation);
        log::encode(
            current().flat_map(|b| &b.ops).chain(&marks),
            current().flat_map(|b| &b.events),
            &mut self.buf,
        );
        if let Err(e) = self.log.append(lsn, &self.buf) {
            // The log of record has what this store lost: those halls replay it.
            if let Some(record) = &self.record {
                record.in_doubt(&appended);
            }
            return Err(StoreError::Segment(e));
        }
        // Sized once: growing them batch by batch reallocated on the writer's thread.
        let (ops, events) = current().fold((marks.len(), 0), |(o, e), b| {
            (o + b.ops.len(), e + b.events.len())
        });
        let mut entry = Entry {
            lsn,
            ops: Vec::with_capacity(ops),
            events: Vec::with_capacity(events),
        };
        let mut ranges = Vec::with_capacity(batches.len());
        for b in batches.iter_mut() {
            let start = entry.events.len();
            if b.generation >= generation {
                entry.ops.append(&mut b.ops);
                entry.events.append(&mut b.events);
            }
            ranges.push(start..entry.events.len());
        }
        entry.ops.extend(marks);
        let entry = Arc::new(entry);
        self.slot.tail_mut().push(entry.clone());
        // Cluster mode: a replay brings the numbers another node gave `@alarms` and `@cases`;
        // the next number is read again from the tail.
        if batches.iter().any(|b| b.replayed.is_some()) {
            self.heads.clear();
        }
        Ok((entry, ranges))
    }

    /// The last sequence number of a stream the writer numbers.
    fn head(&mut self, stream: &Arc<str>) -> Result<u64, StoreError> {
        if let Some(&head) = self.heads.get(stream) {
            return Ok(head);
        }
        let head = self.slot.head(stream)?;
        self.heads.insert(stream.clone(), head);
        Ok(head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::config;

    struct Nobody;
    impl Publish for Nobody {
        fn publish(&self, _: &[crate::store::Published]) {}
    }

    /// Send one batch that acknowledges `seq` for consumer `c`; what the writer answered.
    fn ack(writer: &WriterHandle, generation: u64, seq: u64) -> Result<(), String> {
        let (tx, rx) = channel::bounded(1);
        let batch = Batch {
            ops: vec![Op::PutConsumer {
                name: "c".into(),
                seq,
                owner: "t".into(),
            }],
            done: vec![Box::new(move |r: Result<(), &StoreError>| {
                let _ = tx.send(r.map_err(ToString::to_string));
            })],
            generation,
            ..Batch::default()
        };
        writer.sender().send(batch).unwrap();
        rx.recv().unwrap()
    }

    /// The nice value of the calling thread.
    fn nice() -> i32 {
        // SAFETY: getpriority reads this thread's own value.
        unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) }
    }

    #[test]
    fn the_writer_raises_its_priority_where_it_may_and_runs_on_where_it_may_not() {
        // On a thread of its own: the priority stays with the thread.
        let (may, got) = std::thread::spawn(|| {
            // What this process may do: raise a scratch thread by 3 and see.
            let may = std::thread::spawn(|| {
                raise_priority(3);
                nice() == -3
            })
            .join()
            .unwrap();
            raise_priority(3);
            (may, nice())
        })
        .join()
        .unwrap();
        // A new thread starts at its parent's value.
        let before = nice();
        assert_eq!(got, if may { -3 } else { before }, "may raise: {may}");
        let untouched = std::thread::spawn(|| {
            raise_priority(0);
            nice()
        })
        .join()
        .unwrap();
        assert_eq!(untouched, before);
        // As root (CI's case) the raise is allowed: shown, not assumed.
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            assert!(may, "root may raise a thread's priority");
        }
    }

    #[test]
    fn a_numbered_event_gets_its_sequence_as_first_member() {
        for (seq, json) in [
            (1, r#"{"a":1}"#),
            (u64::MAX, r#"{"kind":"告警","n":[1,2]}"#),
        ] {
            assert_eq!(
                with_seq(seq, json),
                format!("{{\"seq\":{seq},{}", &json[1..])
            );
        }
    }

    #[test]
    fn a_record_overwritten_in_the_same_commit_is_logged_once() {
        let put = |hall: &str, id: Option<&str>, n: u8| match id {
            None => Op::PutHall {
                hall: Arc::from(hall),
                json: vec![n],
            },
            Some(id) => Op::PutTicket {
                hall: Arc::from(hall),
                id: id.into(),
                json: vec![n],
            },
        };
        let mut batches = [
            Batch {
                ops: vec![
                    put("a", None, 1),
                    put("a", Some("t1"), 1),
                    put("b", None, 1),
                ],
                ..Batch::default()
            },
            Batch {
                ops: vec![
                    put("a", Some("t2"), 2),
                    put("a", None, 2),
                    put("a", Some("t1"), 2),
                ],
                ..Batch::default()
            },
        ];
        coalesce(batches.iter_mut());
        let left: Vec<String> = batches
            .iter()
            .flat_map(|b| &b.ops)
            .map(|op| format!("{op:?}"))
            .collect();
        assert_eq!(
            left,
            [
                format!("{:?}", put("b", None, 1)),
                format!("{:?}", put("a", Some("t2"), 2)),
                format!("{:?}", put("a", None, 2)),
                format!("{:?}", put("a", Some("t1"), 2)),
            ]
        );
    }

    #[test]
    fn a_batch_built_before_the_store_lost_writes_is_refused_and_not_stored() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &config()).unwrap();
        let writer = store.start_writer(
            &config(),
            Arc::new(Nobody),
            Arc::new(crate::clock::SystemClock),
        );
        assert_eq!(ack(&writer, 0, 1), Ok(()));
        store.health.lose();
        let refused = ack(&writer, 0, 2).unwrap_err();
        assert!(refused.contains("not made durable"), "{refused}");
        assert_eq!(
            store.consumer("c").unwrap(),
            Some(1),
            "the stale batch wrote nothing"
        );
        assert_eq!(ack(&writer, store.health.generation(), 3), Ok(()));
        assert_eq!(store.consumer("c").unwrap(), Some(3));
        assert!(
            store.health.is_writable(),
            "a stale batch is no failure of the store"
        );
        writer.stop();
    }
}
