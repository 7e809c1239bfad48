//! The store's single writer thread: group commit, then publish, then answer.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam::channel::{self, Receiver, RecvTimeoutError, Sender};
use redb::{Database, ReadableTable};

use super::{
    CALENDARS, CASE_STATS, CASES, CLOSED_CASES, CONSUMERS, EVENTS, HALLS, Health, IDEMPOTENCY,
    STATS, Store, StoreError, TICKETS, decode_pair,
};
use crate::clock::Clock;
use crate::config::StoreConfig;

/// One write to a current-state table.
#[derive(Debug)]
pub enum Op {
    PutHall {
        hall: Arc<str>,
        json: Vec<u8>,
    },
    PutTicket {
        hall: Arc<str>,
        id: String,
        json: Vec<u8>,
    },
    /// Delete the hall's ticket records whose id sorts before `before` (earlier days).
    PurgeTickets {
        hall: Arc<str>,
        before: String,
    },
    PutIdempotent {
        scope: String,
        key: String,
        expires_s: i64,
        json: Vec<u8>,
    },
    /// An open case's record.
    PutCase {
        id: String,
        json: Vec<u8>,
    },
    /// A case closed: its record moves to the closed-case table.
    CloseCase {
        id: String,
        json: Vec<u8>,
    },
    /// An alarm consumer's acknowledged position.
    PutConsumer {
        name: String,
        seq: u64,
    },
    /// A calendar replaced through the API.
    PutCalendar {
        id: String,
        toml: String,
    },
    /// A finished business day's statistics.
    PutStats {
        hall: Arc<str>,
        day: String,
        json: Vec<u8>,
    },
    /// One more case finished by a hall on a day, on time or not.
    CountCase {
        hall: Arc<str>,
        day: String,
        on_time: bool,
    },
}

/// An event to append to a stream's log and publish once durable.
#[derive(Debug, Clone)]
pub struct Published {
    pub stream: Arc<str>,
    /// 0 for streams fed by several producers (`@alarms`, `@cases`): the writer assigns the
    /// next number at commit and writes it into the JSON as `"seq"`.
    pub seq: u64,
    pub kind: &'static str,
    pub json: String,
    /// The hall the event concerns, so subscribers scoped to some halls see only theirs.
    pub hall: Option<usize>,
}

/// Called once the batch is durable (`Ok`) or can never be (`Err`).
pub type Done = Box<dyn for<'a> FnOnce(Result<(), &'a StoreError>) + Send>;

/// What a producer hands the writer. Everything in one batch commits atomically, and batches
/// commit in the order they were sent.
#[derive(Default)]
pub struct Batch {
    pub ops: Vec<Op>,
    pub events: Vec<Published>,
    pub done: Vec<Done>,
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("ops", &self.ops.len())
            .field("events", &self.events.len())
            .field("done", &self.done.len())
            .finish()
    }
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty() && self.events.is_empty() && self.done.is_empty()
    }

    fn writes(&self) -> bool {
        !self.ops.is_empty() || !self.events.is_empty()
    }
}

/// Receives durable events; implemented by the subscriber hub.
pub trait Publish: Send + Sync + 'static {
    fn publish(&self, events: &[Published]);
}

/// The running writer: where to send batches and how to stop it.
pub struct WriterHandle {
    tx: Sender<Batch>,
    thread: Option<JoinHandle<()>>,
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
    }
}

/// Per-stream log bounds, so retention can prune without scanning.
#[derive(Debug, Clone, Copy)]
struct Bounds {
    first: u64,
    last: u64,
}

type EventTable<'t> = redb::Table<'t, (&'static str, u64), &'static [u8]>;

/// The current-state tables and the event log, open in one write transaction.
struct Tables<'t> {
    halls: redb::Table<'t, &'static str, &'static [u8]>,
    tickets: redb::Table<'t, (&'static str, &'static str), &'static [u8]>,
    idem: redb::Table<'t, (&'static str, &'static str), &'static [u8]>,
    cases: redb::Table<'t, &'static str, &'static [u8]>,
    closed: redb::Table<'t, &'static str, &'static [u8]>,
    consumers: redb::Table<'t, &'static str, u64>,
    calendars: redb::Table<'t, &'static str, &'static str>,
    stats: redb::Table<'t, (&'static str, &'static str), &'static [u8]>,
    case_stats: redb::Table<'t, (&'static str, &'static str), &'static [u8]>,
    events: EventTable<'t>,
}

struct Writer {
    db: Arc<Database>,
    rx: Receiver<Batch>,
    publish: Arc<dyn Publish>,
    clock: Arc<dyn Clock>,
    health: Arc<Health>,
    max_batch: usize,
    quick_repair: bool,
    retention: u64,
    bounds: HashMap<Arc<str>, Bounds>,
    last_expiry_sweep: i64,
}

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
        let (tx, rx) = channel::bounded(1024);
        let mut w = Writer {
            db: self.db.clone(),
            rx,
            publish,
            clock,
            health: self.health.clone(),
            max_batch: cfg.max_batch,
            quick_repair: cfg.quick_repair,
            retention: cfg.event_retention,
            bounds: HashMap::new(),
            last_expiry_sweep: 0,
        };
        let thread = std::thread::Builder::new()
            .name("hallq-store".into())
            .spawn(move || w.run())
            .expect("spawning the store writer thread");
        WriterHandle {
            tx,
            thread: Some(thread),
        }
    }
}

impl Writer {
    fn run(&mut self) {
        let mut pending: Vec<Batch> = Vec::new();
        loop {
            self.health
                .writer_alive
                .store(self.clock.now().as_second(), Ordering::Relaxed);
            match self.rx.recv_timeout(Duration::from_secs(1)) {
                Ok(b) => pending.push(b),
                Err(RecvTimeoutError::Timeout) => {
                    self.housekeeping();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
            while pending.len() < self.max_batch {
                match self.rx.try_recv() {
                    Ok(b) => pending.push(b),
                    Err(_) => break,
                }
            }
            self.commit(&mut pending);
        }
    }

    fn commit(&mut self, batches: &mut Vec<Batch>) {
        let result = if self.health.is_failed() {
            Err(StoreError::Failed)
        } else if batches.iter().any(Batch::writes) {
            let started = std::time::Instant::now();
            let r = self.write(batches);
            metrics::histogram!(crate::metrics::STORE_COMMIT_SECONDS)
                .record(started.elapsed().as_secs_f64());
            let requests: usize = batches.iter().map(|b| b.done.len().max(1)).sum();
            metrics::histogram!(crate::metrics::STORE_BATCH_SIZE).record(requests as f64);
            // A failed commit leaves `bounds` ahead of the store, which is harmless: the
            // store is marked failed below and never written again by this process.
            r
        } else {
            Ok(())
        };
        if let Err(e) = &result {
            if !matches!(e, StoreError::Failed) {
                tracing::error!(error = %e, "store commit failed; refusing further writes");
                metrics::counter!(crate::metrics::STORE_FAILURES).increment(1);
            }
            self.health.failed.store(true, Ordering::Release);
        }
        for b in batches.drain(..) {
            if result.is_ok() && !b.events.is_empty() {
                self.publish.publish(&b.events);
            }
            for done in b.done {
                done(result.as_ref().map(|_| ()));
            }
        }
    }

    fn write(&mut self, batches: &mut [Batch]) -> Result<(), StoreError> {
        let tx = super::begin_write(&self.db, self.quick_repair)?;
        {
            // Opened once per commit, not once per request in it.
            let mut t = Tables {
                halls: tx.open_table(HALLS)?,
                tickets: tx.open_table(TICKETS)?,
                idem: tx.open_table(IDEMPOTENCY)?,
                cases: tx.open_table(CASES)?,
                closed: tx.open_table(CLOSED_CASES)?,
                consumers: tx.open_table(CONSUMERS)?,
                calendars: tx.open_table(CALENDARS)?,
                stats: tx.open_table(STATS)?,
                case_stats: tx.open_table(CASE_STATS)?,
                events: tx.open_table(EVENTS)?,
            };
            for b in batches.iter_mut() {
                self.apply(&mut t, b)?;
            }
            self.prune(&mut t.events)?;
        }
        tx.commit()?;
        Ok(())
    }

    fn apply(&mut self, t: &mut Tables<'_>, b: &mut Batch) -> Result<(), StoreError> {
        let Tables {
            halls,
            tickets,
            idem,
            cases,
            closed,
            consumers,
            calendars,
            stats,
            case_stats,
            events,
        } = t;
        for op in &b.ops {
            match op {
                Op::PutHall { hall, json } => {
                    halls.insert(&**hall, json.as_slice())?;
                }
                Op::PutTicket { hall, id, json } => {
                    tickets.insert((&**hall, id.as_str()), json.as_slice())?;
                }
                Op::PurgeTickets { hall, before } => {
                    tickets.retain_in((&**hall, "")..(&**hall, before.as_str()), |_, _| false)?;
                }
                Op::PutIdempotent {
                    scope,
                    key,
                    expires_s,
                    json,
                } => {
                    let mut v = Vec::with_capacity(8 + json.len());
                    v.extend_from_slice(&expires_s.to_be_bytes());
                    v.extend_from_slice(json);
                    idem.insert((scope.as_str(), key.as_str()), v.as_slice())?;
                }
                Op::PutCase { id, json } => {
                    cases.insert(id.as_str(), json.as_slice())?;
                }
                Op::CloseCase { id, json } => {
                    cases.remove(id.as_str())?;
                    closed.insert(id.as_str(), json.as_slice())?;
                }
                Op::PutConsumer { name, seq } => {
                    consumers.insert(name.as_str(), *seq)?;
                }
                Op::PutCalendar { id, toml } => {
                    calendars.insert(id.as_str(), toml.as_str())?;
                }
                Op::PutStats { hall, day, json } => {
                    stats.insert((&**hall, day.as_str()), json.as_slice())?;
                }
                Op::CountCase { hall, day, on_time } => {
                    let key = (&**hall, day.as_str());
                    let (mut good, mut late) = case_stats
                        .get(key)?
                        .map_or((0, 0), |v| decode_pair(v.value()));
                    if *on_time {
                        good += 1;
                    } else {
                        late += 1;
                    }
                    let mut v = [0u8; 16];
                    v[..8].copy_from_slice(&good.to_be_bytes());
                    v[8..].copy_from_slice(&late.to_be_bytes());
                    case_stats.insert(key, v.as_slice())?;
                }
            }
        }
        if !b.events.is_empty() {
            let mut value = Vec::new();
            for e in &mut b.events {
                if e.seq == 0 {
                    let next = match self.bounds.get(&e.stream) {
                        Some(b) => b.last + 1,
                        None => {
                            events
                                .range((&*e.stream, 0)..=(&*e.stream, u64::MAX))?
                                .next_back()
                                .transpose()?
                                .map_or(0, |(k, _)| k.value().1)
                                + 1
                        }
                    };
                    e.seq = next;
                    e.json = format!(
                        "{{\"seq\":{next},{}",
                        e.json.strip_prefix('{').unwrap_or(&e.json)
                    );
                }
                value.clear();
                value.extend_from_slice(e.kind.as_bytes());
                value.push(b'\n');
                value.extend_from_slice(e.json.as_bytes());
                events.insert((&*e.stream, e.seq), value.as_slice())?;
                let bounds = match self.bounds.get_mut(&e.stream) {
                    Some(b) => b,
                    None => {
                        let first = events
                            .range((&*e.stream, 0)..=(&*e.stream, u64::MAX))?
                            .next()
                            .transpose()?
                            .map_or(e.seq, |(k, _)| k.value().1);
                        self.bounds
                            .entry(e.stream.clone())
                            .or_insert(Bounds { first, last: e.seq })
                    }
                };
                bounds.last = bounds.last.max(e.seq);
            }
        }
        Ok(())
    }

    /// Drop log entries beyond the retention, in chunks of a tenth of it so each commit stays
    /// short.
    fn prune(&mut self, events: &mut EventTable<'_>) -> Result<(), StoreError> {
        let slack = (self.retention / 10).max(1);
        for (stream, b) in &mut self.bounds {
            if b.last - b.first < self.retention + slack {
                continue;
            }
            let keep_from = b.last + 1 - self.retention;
            events.retain_in((&**stream, b.first)..(&**stream, keep_from), |_, _| false)?;
            b.first = keep_from;
        }
        Ok(())
    }

    /// Idle-time work: drop expired idempotency answers once an hour.
    fn housekeeping(&mut self) {
        let now = self.clock.now().as_second();
        if now - self.last_expiry_sweep < 3600 || self.health.is_failed() {
            return;
        }
        self.last_expiry_sweep = now;
        let sweep = || -> Result<(), StoreError> {
            let tx = super::begin_write(&self.db, self.quick_repair)?;
            tx.open_table(IDEMPOTENCY)?.retain(|_, v| {
                v.get(..8)
                    .and_then(|b| b.try_into().ok())
                    .is_some_and(|b| i64::from_be_bytes(b) > now)
            })?;
            tx.commit()?;
            Ok(())
        };
        if let Err(e) = sweep() {
            tracing::warn!(error = %e, "sweeping expired idempotency keys failed");
        }
    }
}
