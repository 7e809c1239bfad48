//! The case shard: one thread that owns the deadline engine.
//!
//! Commands arrive through a bounded crossbeam channel, like the hall shards'. Between
//! commands the thread sleeps until the wheel's next expiry, so an alarm is raised within the
//! second it comes due. Every pass hands the store writer one batch: the changed case records,
//! the events of the `@cases` and `@alarms` streams (numbered by the writer), and a completion
//! per request, which answers only once the batch is durable. So an alarm is published only
//! when its "fired" mark is on disk: after a crash it is neither lost (it fires again, with
//! the same id) nor raised twice (the mark was stored with the event).
//!
//! A case that closes leaves the engine when its pass hands the writer its record, and is in
//! the closed-case table only once that batch commits. In between, the thread keeps the
//! record itself (`Closing`), so the engine's closed lookup never misses it: the next pass
//! cannot take a replayed acceptance for a new case. The record is let go once the writer has
//! run the completion of the batch that committed it.
//!
//! The thread also keeps `hallq_calendar_horizon_days` current: from start-up, when a
//! calendar is replaced, and at each local midnight.
//!
//! It also owns the alarm consumers' cursors (checked here, one acknowledgement after the
//! other) and the `Idempotency-Key` answers of case, calendar and cursor requests (`idem`).
//! If the store loses a batch of this thread, the cases, calendars and cursors it changed are
//! put back from the store before anything else runs (`Ledger`); while the store refuses
//! writes, commands are refused, alarms wait, and reads are served from that durable state.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam::channel::{self, Receiver, Sender, TrySendError};
use jiff::Timestamp;
use tokio::sync::oneshot;

use crate::api::problem::Answer;
use crate::calendar::Calendar;
use crate::clock::Clock;
use crate::config::Config;
use crate::deadline::{
    CaseCommand, CaseError, CaseEvent, CaseRecord, CaseView, ClosedCases, DeadlineEngine,
    Recomputed, Stream,
};
use crate::idem::{Idem, IdemCache};
use crate::mailbox::{Mail, receive};
use crate::model::CaseCatalogue;
use crate::store::{
    ALARMS, Batch, CASES_STREAM, Cursor, Ledger, Op, Published, Refusal, Rewind, Store, StoreError,
};

/// Whether the caller may see a case of the given hall.
pub type Scope = Box<dyn Fn(usize) -> bool + Send>;

pub enum CaseOp {
    Apply {
        cmd: CaseCommand,
        scope: Scope,
    },
    Get {
        id: String,
        scope: Scope,
    },
    ReplaceCalendar {
        id: String,
        calendar: Arc<Calendar>,
        toml: String,
    },
    Ack(Ack),
    /// Test hook (`api::test_hooks`): raise what is due now. Every pass does; this one only
    /// asks for a pass and an answer once what it raised is durable and published.
    RunTimers,
}

impl CaseOp {
    /// Whether the operation changes anything (refused while the store refuses writes).
    pub fn writes(&self) -> bool {
        !matches!(self, CaseOp::Get { .. })
    }
}

/// An alarm consumer acknowledging the alarms up to `seq`.
#[derive(Debug)]
pub struct Ack {
    pub consumer: String,
    pub seq: u64,
    /// Moving the cursor backwards is refused unless asked for, and then recorded.
    pub rewind: bool,
    /// The token acknowledging (by name): the cursor's owner, or its first.
    pub by: Arc<str>,
}

/// What an acknowledgement did.
#[derive(Debug, serde::Serialize)]
pub struct Acked {
    pub consumer: String,
    pub seq: u64,
    pub previous: u64,
    pub owner: Arc<str>,
    pub rewound: bool,
}

/// Why an acknowledgement was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AckError {
    #[error(
        "consumer `{consumer}` belongs to token `{owner}`: a consumer's cursor is read and moved only by the token that first acknowledged it"
    )]
    NotOwner { consumer: String, owner: String },
    #[error(
        "seq {seq} is past the head of the alarm stream ({head}): acknowledge only alarms you have received"
    )]
    PastHead { seq: u64, head: u64 },
    #[error(
        "consumer `{consumer}` is at {cursor}; acknowledging {seq} would move it backwards. Send \"rewind\": true to do that on purpose (it is recorded)"
    )]
    Backwards {
        consumer: String,
        cursor: u64,
        seq: u64,
    },
}

#[derive(Debug)]
pub enum CaseAnswer {
    View {
        view: Box<CaseView>,
        created: bool,
    },
    Refused(CaseError),
    Recomputed(Recomputed),
    Acked(Acked),
    AckRefused(AckError),
    /// The first answer to the request's `Idempotency-Key`, as it was given then.
    Replayed(Answer),
    /// The store refuses writes, or the change could not be made durable.
    Unwritable(Refusal),
    /// The store cannot be read, or this thread is putting back lost state.
    Unavailable(String),
    /// The pass that ran the due timers (`CaseOp::RunTimers`) is durable.
    TimersRun,
}

impl CaseAnswer {
    fn from_store(e: &StoreError) -> CaseAnswer {
        match e {
            StoreError::Unwritable {
                cause,
                retry_after_s,
            } => CaseAnswer::Unwritable(Refusal {
                cause: cause.clone(),
                retry_after_s: *retry_after_s,
            }),
            other => {
                CaseAnswer::Unavailable(format!("the change could not be made durable: {other}"))
            }
        }
    }
}

pub struct CaseRequest {
    pub op: CaseOp,
    /// Boxed: most requests have none, and the request travels by value through a channel.
    pub idem: Option<Box<Idem>>,
    /// `None` for fire-and-forget commands (rectification cases opened by a hall shard).
    pub reply: Option<oneshot::Sender<CaseAnswer>>,
}

/// What a batch of this thread changes, to put back from the store if the batch is lost.
#[derive(Debug)]
enum Lost {
    Case(String),
    Calendar(String),
    /// A command the daemon gave itself (a rectification case): applied again once the store
    /// accepts writes, since nobody waits for an answer to retry it.
    Internal(CaseCommand),
}

pub struct CaseShard {
    tx: Sender<Mail<CaseRequest>>,
    thread: std::sync::Mutex<Option<JoinHandle<()>>>,
    pub alive: Arc<AtomicI64>,
}

impl CaseShard {
    /// The engine counts cases on the catalogue; `config` gives the thread its settings
    /// (queue depth, batch size, idempotency TTL, metric labels).
    pub fn start(
        engine: DeadlineEngine,
        config: Arc<Config>,
        store: Arc<Store>,
        writer: Sender<Batch>,
        clock: Arc<dyn Clock>,
    ) -> CaseShard {
        let (tx, rx) = channel::bounded(config.server.queue_depth);
        let mut worker = Worker::new(engine, config, store, writer, clock, rx);
        let alive = worker.alive.clone();
        // The recovered open cases show on the gauges before the first scrape can happen.
        worker.observe(&[], true);
        let thread = std::thread::Builder::new()
            .name("hallq-cases".into())
            .spawn(move || worker.run())
            .expect("spawning the case thread");
        CaseShard {
            tx,
            thread: std::sync::Mutex::new(Some(thread)),
            alive,
        }
    }

    /// Queue a request; a full queue gives it back so the caller can answer 503.
    pub fn try_send(&self, req: CaseRequest) -> Result<(), CaseRequest> {
        self.tx.try_send(Mail::Req(req)).map_err(|e| match e {
            TrySendError::Full(Mail::Req(r)) | TrySendError::Disconnected(Mail::Req(r)) => r,
            _ => unreachable!("only requests are sent through try_send"),
        })
    }

    /// Finish what is queued, then stop.
    pub fn stop(&self) {
        let _ = self.tx.send(Mail::Stop);
        if let Some(t) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = t.join();
        }
    }
}

struct Worker {
    rx: Receiver<Mail<CaseRequest>>,
    engine: DeadlineEngine,
    /// The settings and, through deref, the catalogue the engine counts on.
    config: Arc<Config>,
    store: Arc<Store>,
    writer: Sender<Batch>,
    clock: Arc<dyn Clock>,
    max_batch: usize,
    alive: Arc<AtomicI64>,
    closing: Closing,
    /// When `hallq_calendar_horizon_days` next changes (the earliest local midnight).
    horizon_next: Timestamp,
    idem: IdemCache,
    ledger: Ledger<Lost>,
    /// Alarm consumers' cursors as acknowledged (durable or in a batch on its way), read from
    /// the store on first use.
    cursors: HashMap<String, Cursor>,
    /// Lost state not yet put back (the store could not be read): every request is refused
    /// until it is.
    unloaded: Vec<Lost>,
    /// Internal commands refused while the store refused writes, applied once it accepts them.
    deferred: Vec<CaseCommand>,
}

/// Closed records on their way to the closed-case table (see the module doc).
#[derive(Default)]
struct Closing {
    /// Case id → (number of the batch that carries its close, its record).
    records: HashMap<String, (u64, CaseRecord)>,
    /// Number of the last batch sent with closes in it.
    sent: u64,
    /// Number of the last batch with closes whose commit succeeded, set by that batch's
    /// completion on the writer thread. Batches commit in the order they are sent, so every
    /// batch numbered up to it is in the table too. A failed commit loses every batch not
    /// yet durable; `resync` then drops their records and reloads those cases.
    durable: Arc<AtomicU64>,
}

impl Closing {
    /// Let go of the records the closed-case table now has.
    fn evict_durable(&mut self) {
        let durable = self.durable.load(Ordering::Acquire);
        if self.records.values().any(|(n, _)| *n <= durable) {
            self.records.retain(|_, (n, _)| *n > durable);
        }
    }
}

/// The engine's view of closed cases: those on their way to the store, then the store's.
struct ClosedLookup<'a> {
    pending: &'a HashMap<String, (u64, CaseRecord)>,
    store: &'a Store,
}

impl ClosedCases for ClosedLookup<'_> {
    fn closed(&self, id: &str) -> Result<Option<CaseRecord>, String> {
        if let Some((_, r)) = self.pending.get(id) {
            return Ok(Some(r.clone()));
        }
        self.store
            .closed_case(id)
            .map_err(|e| format!("the closed-case table cannot be read: {e}"))
    }
}

/// Days left at which the start-up log warns that a calendar is about to run out (the alert
/// rule `HallqCalendarHorizonNear` fires from the same day).
pub const HORIZON_WARN_DAYS: i64 = 60;

/// Set `hallq_calendar_horizon_days` for every calendar in force; returns when it next
/// changes (the earliest next local midnight among them).
pub fn publish_horizons(
    catalogue: &CaseCatalogue,
    calendars: &[Arc<Calendar>],
    now: Timestamp,
) -> Timestamp {
    let mut next = Timestamp::MAX;
    for (entry, cal) in catalogue.calendars.iter().zip(calendars) {
        metrics::gauge!(crate::metrics::CALENDAR_HORIZON, "calendar" => entry.id.to_string())
            .set(cal.horizon_days(now) as f64);
        next = next.min(cal.next_day_starts(now));
    }
    next
}

/// A WARN line for every calendar with [`HORIZON_WARN_DAYS`] or fewer left (or none).
pub fn warn_near_horizon(calendars: &[Arc<Calendar>], now: Timestamp) {
    for cal in calendars {
        let days = cal.horizon_days(now);
        if days <= HORIZON_WARN_DAYS {
            let last = cal.range().last;
            tracing::warn!(
                calendar = cal.id(),
                last_covered_day = %last,
                days_left = days,
                "the calendar's holiday notices end on {last}; later days are counted on the \
                 default week and their deadlines are provisional. Load the next year's notice \
                 with PUT /v1/calendars/{}",
                cal.id()
            );
        }
    }
}

impl Worker {
    fn new(
        engine: DeadlineEngine,
        config: Arc<Config>,
        store: Arc<Store>,
        writer: Sender<Batch>,
        clock: Arc<dyn Clock>,
        rx: Receiver<Mail<CaseRequest>>,
    ) -> Worker {
        let now = clock.now();
        Worker {
            // Set before the thread starts: the gauge exists from start-up.
            horizon_next: publish_horizons(&config, &engine.calendars, now),
            closing: Closing::default(),
            rx,
            engine,
            idem: IdemCache::new(config.store.idempotency_ttl_s as i64),
            ledger: Ledger::new(store.health.clone()),
            store,
            writer,
            clock,
            max_batch: config.store.max_batch,
            config,
            alive: Arc::new(AtomicI64::new(now.as_second())),
            cursors: HashMap::new(),
            unloaded: Vec::new(),
            deferred: Vec::new(),
        }
    }

    fn run(&mut self) {
        let mut pending = Vec::new();
        loop {
            let now = self.clock.now();
            self.alive.store(now.as_second(), Ordering::Relaxed);
            // Alarms wait while the store refuses writes: look again every second.
            let paused = !self.store.health.is_writable() || !self.unloaded.is_empty();
            let wait = match self.engine.next_wakeup() {
                Some(t) if !paused => {
                    let ms = (t.as_millisecond() - now.as_millisecond()).clamp(0, 1000);
                    Duration::from_millis(ms as u64)
                }
                _ => Duration::from_secs(1),
            };
            let stop = receive(&self.rx, wait, self.max_batch, &mut pending);
            self.pass(&mut pending);
            if stop {
                return;
            }
        }
    }

    /// Apply what is pending, raise what is due, hand the writer one batch.
    fn pass(&mut self, pending: &mut Vec<CaseRequest>) {
        let now = self.clock.now();
        self.closing.evict_durable();
        if now >= self.horizon_next {
            self.horizon_next = publish_horizons(&self.config, &self.engine.calendars, now);
        }
        self.resync();
        let refusal = self.store.health.refusal();
        let reloading = !self.unloaded.is_empty();
        let mut events = Vec::new();
        let mut batch = Batch::default();
        let mut lost_if_lost = Vec::new();
        if refusal.is_none() && !reloading {
            for cmd in self.deferred.drain(..) {
                pending.push(CaseRequest {
                    op: CaseOp::Apply {
                        cmd,
                        scope: Box::new(|_| true),
                    },
                    idem: None,
                    reply: None,
                });
            }
        }
        for req in pending.drain(..) {
            let internal = match (&req.reply, &req.op) {
                (None, CaseOp::Apply { cmd, .. }) => Some(cmd.clone()),
                _ => None,
            };
            let calendar = match &req.op {
                CaseOp::ReplaceCalendar { id, .. } => Some(id.clone()),
                _ => None,
            };
            let answer = if reloading {
                CaseAnswer::Unavailable(
                    "cases are being reloaded from the store after a failed write; retry shortly"
                        .to_owned(),
                )
            } else {
                match &req.idem {
                    Some(idem) => match self.idem.recall(&self.store, idem, now.as_second()) {
                        Some(first) => CaseAnswer::Replayed(first),
                        None => {
                            let a = self.execute(req.op, now, &mut events, &mut batch, &refusal);
                            let rendered = crate::api::cases::render(&a);
                            self.idem
                                .remember(idem, &rendered, now.as_second(), &mut batch);
                            a
                        }
                    },
                    None => self.execute(req.op, now, &mut events, &mut batch, &refusal),
                }
            };
            if let (Some(id), CaseAnswer::Recomputed(_)) = (calendar, &answer) {
                lost_if_lost.push(Lost::Calendar(id));
            }
            if let Some(cmd) = internal {
                match &answer {
                    CaseAnswer::Unwritable(_) | CaseAnswer::Unavailable(_) => {
                        self.deferred.push(cmd)
                    }
                    CaseAnswer::Refused(e) => {
                        tracing::warn!(error = %e, "an internal case command was refused")
                    }
                    _ => lost_if_lost.push(Lost::Internal(cmd)),
                }
            }
            if let Some(reply) = req.reply {
                batch.done.push(Box::new(move |r: Result<(), &StoreError>| {
                    let _ = reply.send(match r {
                        Ok(()) => answer,
                        Err(e) => CaseAnswer::from_store(e),
                    });
                }));
            }
        }
        if refusal.is_none() && !reloading {
            self.engine.advance(now, &mut events);
        }
        let changes = self.engine.take_changes();
        self.observe(&events, !changes.is_empty() || !events.is_empty());
        for e in &events {
            if let crate::deadline::CaseEventBody::Completed {
                on_time, closed_at, ..
            } = &e.body
            {
                let hall = &self.config.halls[e.hall];
                batch.ops.push(Op::CountCase {
                    hall: hall.id.clone(),
                    day: crate::queue::business_date(hall, closed_at.at()).to_string(),
                    on_time: *on_time,
                });
            }
        }
        let closes = changes.iter().any(|c| c.closed);
        let number = self.closing.sent + 1;
        for change in changes {
            let json = serde_json::to_vec(&change.record).expect("records serialize");
            let id = change.record.id.clone();
            lost_if_lost.push(Lost::Case(id.clone()));
            if change.closed {
                self.closing
                    .records
                    .insert(id.clone(), (number, change.record));
                batch.ops.push(Op::CloseCase { id, json });
            } else {
                batch.ops.push(Op::PutCase { id, json });
            }
        }
        if closes {
            self.closing.sent = number;
            let durable = self.closing.durable.clone();
            batch.done.push(Box::new(move |r: Result<(), &StoreError>| {
                if r.is_ok() {
                    durable.fetch_max(number, Ordering::Release);
                }
            }));
        }
        batch.events.extend(events.iter().map(published));
        self.ledger.stamp(&mut batch, lost_if_lost);
        if !batch.is_empty() && self.writer.send(batch).is_err() {
            tracing::error!("the store writer is gone; case changes are not durable");
        }
    }

    /// After the store lost batches of this thread: put back what they changed from the
    /// store (see `store::Ledger`). Cursors and idempotent answers are read again on use.
    fn resync(&mut self) {
        if let Some(lost) = self.ledger.lost() {
            self.idem.clear();
            self.cursors.clear();
            // Every batch of this thread not yet durable is lost with the failed one (the
            // writer refuses what was built on the older generation), so the closes they
            // carried did not happen: those cases come back from the open-case table below.
            self.closing.evict_durable();
            self.closing.records.clear();
            self.unloaded.extend(lost);
        }
        if self.unloaded.is_empty() {
            return;
        }
        let lost = std::mem::take(&mut self.unloaded);
        match self.reload(&lost) {
            Ok(n) => tracing::warn!(
                cases = n,
                "reloaded the cases a failed write changed from their durable records"
            ),
            Err(e) => {
                tracing::error!(error = %e, "cannot reload cases from the store; refusing case requests");
                self.unloaded = lost;
            }
        }
    }

    /// Put back the lost state; all of it is read before anything changes, so a failed read
    /// leaves the engine as it was. Returns how many cases were put back.
    fn reload(&mut self, lost: &[Lost]) -> Result<usize, StoreError> {
        let mut ids: Vec<&str> = lost
            .iter()
            .filter_map(|l| match l {
                Lost::Case(id) => Some(id.as_str()),
                _ => None,
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let calendars = if lost.iter().any(|l| matches!(l, Lost::Calendar(_))) {
            self.store.calendars()?
        } else {
            Vec::new()
        };
        let records = ids
            .iter()
            .map(|id| Ok((*id, self.store.open_case(id)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        // Calendars first: the cases are counted on the calendar in force on disk.
        for l in lost {
            let Lost::Calendar(id) = l else { continue };
            let config = self.config.clone();
            let Some(pos) = config.calendar_index(id) else {
                continue;
            };
            let stored = calendars
                .iter()
                .find(|(c, _)| c == id)
                .and_then(|(_, toml)| {
                    Calendar::from_toml(&format!("stored calendar {id}"), toml).ok()
                });
            let calendar = stored.map_or_else(|| config.calendars[pos].calendar.clone(), Arc::new);
            self.engine.use_calendar(calendar);
        }
        for (id, record) in records {
            if let Err(w) = self.engine.reload(id, record) {
                tracing::warn!("{w}");
            }
        }
        for l in lost {
            if let Lost::Internal(cmd) = l {
                self.deferred.push(cmd.clone());
            }
        }
        Ok(ids.len())
    }

    fn execute(
        &mut self,
        op: CaseOp,
        now: Timestamp,
        events: &mut Vec<CaseEvent>,
        batch: &mut Batch,
        refusal: &Option<Refusal>,
    ) -> CaseAnswer {
        if op.writes()
            && let Some(r) = refusal
        {
            return CaseAnswer::Unwritable(r.clone());
        }
        let closed = ClosedLookup {
            pending: &self.closing.records,
            store: &self.store,
        };
        match op {
            CaseOp::Apply { cmd, scope } => {
                let target = match &cmd {
                    CaseCommand::Accept { .. } => None,
                    CaseCommand::Suspend { id, .. }
                    | CaseCommand::Resume { id, .. }
                    | CaseCommand::Extend { id, .. }
                    | CaseCommand::Complete { id, .. }
                    | CaseCommand::Withdraw { id, .. }
                    | CaseCommand::Forward { id, .. } => Some(id.clone()),
                };
                // A case outside the caller's halls, open or closed, does not exist for the
                // caller.
                if let Some(id) = target {
                    match self.engine.find_view(&id, now, &closed) {
                        Ok(Some(v))
                            if self.config.hall_index(&v.hall).is_none_or(|h| !scope(h)) =>
                        {
                            return CaseAnswer::Refused(CaseError::UnknownCase { id });
                        }
                        Err(e) => return CaseAnswer::Unavailable(e.to_string()),
                        Ok(_) => {}
                    }
                }
                match self.engine.apply(now, cmd, &closed, events) {
                    Ok((view, created)) => CaseAnswer::View {
                        view: Box::new(view),
                        created,
                    },
                    Err(e @ CaseError::Unavailable { .. }) => {
                        CaseAnswer::Unavailable(e.to_string())
                    }
                    Err(e) => CaseAnswer::Refused(e),
                }
            }
            CaseOp::Get { id, scope } => {
                let view = match self.engine.find_view(&id, now, &closed) {
                    Ok(v) => v,
                    Err(e) => return CaseAnswer::Unavailable(e.to_string()),
                };
                match view {
                    Some(v) if self.config.hall_index(&v.hall).is_some_and(&scope) => {
                        CaseAnswer::View {
                            view: Box::new(v),
                            created: false,
                        }
                    }
                    _ => CaseAnswer::Refused(CaseError::UnknownCase { id }),
                }
            }
            CaseOp::ReplaceCalendar { id, calendar, toml } => {
                match self.engine.replace_calendar(now, &id, calendar, events) {
                    Ok(r) => {
                        self.horizon_next =
                            publish_horizons(&self.config, &self.engine.calendars, now);
                        batch.ops.push(Op::PutCalendar { id, toml });
                        CaseAnswer::Recomputed(r)
                    }
                    Err(e) => CaseAnswer::Refused(e),
                }
            }
            CaseOp::Ack(ack) => self.ack(ack, now, batch),
            // `pass` advances the engine after the requests.
            CaseOp::RunTimers => CaseAnswer::TimersRun,
        }
    }

    /// Move a consumer's cursor: only by its owner, never past the stream's head, backwards
    /// only when asked (and then recorded, with who and from where to where).
    fn ack(&mut self, ack: Ack, now: Timestamp, batch: &mut Batch) -> CaseAnswer {
        let cursor = match self.cursors.get(&ack.consumer) {
            Some(c) => Some(c.clone()),
            None => match self.store.cursor(&ack.consumer) {
                Ok(c) => c,
                Err(e) => return CaseAnswer::Unavailable(format!("the store cannot be read: {e}")),
            },
        };
        if let Some(owner) = cursor.as_ref().and_then(|c| c.owner.as_deref())
            && owner != &*ack.by
        {
            return CaseAnswer::AckRefused(AckError::NotOwner {
                consumer: ack.consumer,
                owner: owner.to_owned(),
            });
        }
        // Only committed alarms are ever published, so a consumer can know no later one.
        let head = match self.store.head(ALARMS) {
            Ok(h) => h,
            Err(e) => return CaseAnswer::Unavailable(format!("the store cannot be read: {e}")),
        };
        if ack.seq > head {
            return CaseAnswer::AckRefused(AckError::PastHead { seq: ack.seq, head });
        }
        let previous = cursor.as_ref().map_or(0, |c| c.seq);
        let rewound = ack.seq < previous;
        if rewound && !ack.rewind {
            return CaseAnswer::AckRefused(AckError::Backwards {
                consumer: ack.consumer,
                cursor: previous,
                seq: ack.seq,
            });
        }
        if rewound {
            tracing::warn!(
                consumer = %ack.consumer,
                by = %ack.by,
                from = previous,
                to = ack.seq,
                "an alarm consumer's cursor was rewound"
            );
            let record = Rewind {
                at: now,
                by: ack.by.to_string(),
                from: previous,
                to: ack.seq,
            };
            batch.ops.push(Op::LogRewind {
                name: ack.consumer.clone(),
                json: serde_json::to_vec(&record).expect("rewinds serialize"),
            });
        }
        batch.ops.push(Op::PutConsumer {
            name: ack.consumer.clone(),
            seq: ack.seq,
            owner: ack.by.to_string(),
        });
        self.cursors.insert(
            ack.consumer.clone(),
            Cursor {
                seq: ack.seq,
                owner: Some(ack.by.to_string()),
            },
        );
        CaseAnswer::Acked(Acked {
            consumer: ack.consumer,
            seq: ack.seq,
            previous,
            owner: ack.by,
            rewound,
        })
    }
}

impl Worker {
    /// Alarms, clearings and closings as counters; open cases by level and pending deadlines
    /// as gauges (when anything changed).
    fn observe(&self, events: &[CaseEvent], changed: bool) {
        use crate::deadline::CaseEventBody as B;
        use crate::metrics::{
            ALARMS_CLEARED, ALARMS_RAISED, CASES_CLOSED, CASES_OPEN, Combine, DEADLINES_PENDING,
            GaugeParts, hall_labels,
        };
        let config = &self.config;
        let mode = config.metric_labels;
        let with = |hall: usize, key: &'static str, value: &str| -> Vec<metrics::Label> {
            let mut l: Vec<metrics::Label> = hall_labels(mode, &config.halls[hall])
                .into_iter()
                .map(|(k, v)| metrics::Label::new(k, v))
                .collect();
            l.push(metrics::Label::new(key, value.to_owned()));
            l
        };
        for e in events {
            let hall = &config.halls[e.hall].id;
            match &e.body {
                B::Alarm(a) => tracing::info!(%hall, case = %a.case, alarm = %a.id, "case alarm"),
                B::Accepted { case } => {
                    tracing::debug!(%hall, case = %case.id, kind = "accepted", "case event")
                }
                B::Suspended { case, .. }
                | B::Resumed { case }
                | B::Extended { case, .. }
                | B::Forwarded { case, .. }
                | B::Completed { case, .. }
                | B::Withdrawn { case, .. }
                | B::DeadlineChanged { case, .. }
                | B::Cleared { case, .. } => {
                    tracing::debug!(%hall, %case, kind = e.body.kind(), "case event")
                }
            }
            match &e.body {
                B::Alarm(a) => {
                    metrics::counter!(ALARMS_RAISED, with(e.hall, "level", &a.level)).increment(1)
                }
                B::Cleared { level, .. } => {
                    metrics::counter!(ALARMS_CLEARED, with(e.hall, "level", level)).increment(1)
                }
                B::Completed { on_time, .. } => {
                    let outcome = if *on_time { "on_time" } else { "overdue" };
                    metrics::counter!(CASES_CLOSED, with(e.hall, "outcome", outcome)).increment(1);
                }
                B::Withdrawn { .. } => {
                    metrics::counter!(CASES_CLOSED, with(e.hall, "outcome", "withdrawn"))
                        .increment(1)
                }
                _ => {}
            }
        }
        if !changed {
            return;
        }
        let mut parts = GaugeParts::default();
        // Every hall has its "no level yet" series from the start, so dashboards and alert
        // rules see 0 open cases rather than no data.
        for hall in &config.halls {
            let mut l = hall_labels(mode, hall);
            l.push(("level", "none".to_owned()));
            parts.add(CASES_OPEN, l, 0.0, Combine::Sum);
        }
        for (hall, level, n) in self.engine.open_by_level() {
            let mut l = hall_labels(mode, &config.halls[hall]);
            l.push(("level", level.to_string()));
            parts.add(CASES_OPEN, l, n as f64, Combine::Sum);
        }
        parts.add(
            DEADLINES_PENDING,
            vec![("kind", "case".to_owned())],
            self.engine.pending() as f64,
            Combine::Sum,
        );
        parts.publish(
            CASE_GAUGES,
            &[
                (CASES_OPEN, Combine::Sum),
                (DEADLINES_PENDING, Combine::Sum),
            ],
        );
    }
}

/// The case thread's producer id for shared gauges (hall shards use 0..n).
const CASE_GAUGES: usize = usize::MAX;

/// Counters the alert rules watch exist at zero for every hall and level the config implies.
pub fn zero_case_counters(config: &crate::config::Config) {
    use crate::metrics::{ALARMS_CLEARED, ALARMS_RAISED, CASES_CLOSED, hall_labels};
    let mut levels: Vec<&str> = config
        .alarm_policies
        .iter()
        .flat_map(|p| p.levels.iter().map(|l| &*l.name))
        .collect();
    levels.sort_unstable();
    levels.dedup();
    for hall in &config.halls {
        let base: Vec<metrics::Label> = hall_labels(config.metric_labels, hall)
            .into_iter()
            .map(|(k, v)| metrics::Label::new(k, v))
            .collect();
        for outcome in ["on_time", "overdue", "withdrawn"] {
            let mut l = base.clone();
            l.push(metrics::Label::new("outcome", outcome));
            metrics::counter!(CASES_CLOSED, l).increment(0);
        }
        for level in &levels {
            let mut l = base.clone();
            l.push(metrics::Label::new("level", level.to_string()));
            metrics::counter!(ALARMS_RAISED, l.clone()).increment(0);
            metrics::counter!(ALARMS_CLEARED, l).increment(0);
        }
    }
}

fn published(e: &CaseEvent) -> Published {
    Published {
        stream: Arc::from(match e.stream {
            Stream::Alarms => ALARMS,
            Stream::Cases => CASES_STREAM,
        }),
        seq: 0,
        kind: e.body.kind(),
        json: serde_json::to_string(e).expect("events serialize"),
        hall: Some(e.hall),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;
    use crate::clock::ManualClock;
    use crate::deadline::CaseState;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    struct Setup {
        worker: Worker,
        batches: Receiver<Batch>,
        config: Arc<Config>,
        _dir: tempfile::TempDir,
    }

    fn setup() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::demo();
        config.store.max_batch = 64;
        config.store.idempotency_ttl_s = 3600;
        let config = Arc::new(config);
        let store = Arc::new(Store::open(dir.path(), &config.store).unwrap());
        let now = ts("2026-03-02T02:00:00Z");
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(now));
        // The test holds the batches: nothing is committed until it says so.
        let (writer, batches) = channel::unbounded();
        let (_mail, rx) = channel::bounded(16);
        let engine = DeadlineEngine::new(config.catalogue.clone(), now);
        Setup {
            worker: Worker::new(engine, config.clone(), store, writer, clock, rx),
            batches,
            config,
            _dir: dir,
        }
    }

    fn accept(config: &Config, id: &str) -> CaseCommand {
        CaseCommand::Accept {
            id: id.into(),
            hall: config.hall_index("city").unwrap(),
            matter: config.matter_index("330100-CN-0001").unwrap(),
            accepted_at: ts("2026-03-02T10:00:00+08:00"),
        }
    }

    /// One pass over `cmds`; returns the batch it sent and the answers, which arrive once the
    /// batch's completions run.
    fn pass(s: &mut Setup, cmds: Vec<CaseCommand>) -> (Batch, Vec<oneshot::Receiver<CaseAnswer>>) {
        let mut answers = Vec::new();
        let mut pending: Vec<CaseRequest> = cmds
            .into_iter()
            .map(|cmd| {
                let (reply, rx) = oneshot::channel();
                answers.push(rx);
                CaseRequest {
                    op: CaseOp::Apply {
                        cmd,
                        scope: Box::new(|_| true),
                    },
                    idem: None,
                    reply: Some(reply),
                }
            })
            .collect();
        s.worker.pass(&mut pending);
        (s.batches.try_recv().expect("a pass sends a batch"), answers)
    }

    fn answered(batch: Batch, answers: Vec<oneshot::Receiver<CaseAnswer>>) -> Vec<CaseAnswer> {
        for done in batch.done {
            done(Ok(()));
        }
        answers
            .into_iter()
            .map(|mut rx| rx.try_recv().expect("answered once durable"))
            .collect()
    }

    fn state(answer: &CaseAnswer) -> (CaseState, bool) {
        match answer {
            CaseAnswer::View { view, created } => (view.state, *created),
            other => panic!("expected a case, got {other:?}"),
        }
    }

    #[test]
    fn a_close_on_its_way_to_the_store_is_still_closed_for_the_next_passes() {
        let mut s = setup();
        let config = s.config.clone();
        let withdraw = CaseCommand::Withdraw {
            id: "Z-1".into(),
            reason: "申请人撤回".into(),
            at: ts("2026-03-02T02:00:00Z"),
        };
        let (first, answers) = pass(&mut s, vec![accept(&config, "Z-1"), withdraw]);
        assert!(
            first
                .ops
                .iter()
                .any(|op| matches!(op, Op::CloseCase { id, .. } if id == "Z-1"))
        );
        // The close is not committed (the test holds its batch) and the engine has let go of
        // the case: the replay must still find it closed, in this pass and the next.
        for _ in 0..2 {
            let (batch, replay) = pass(&mut s, vec![accept(&config, "Z-1")]);
            assert!(batch.ops.is_empty(), "a replay stores nothing");
            assert_eq!(
                state(&answered(batch, replay)[0]),
                (CaseState::Withdrawn, false)
            );
        }
        assert_eq!(s.worker.closing.records.len(), 1);

        // Now the writer commits the first batch for real and runs its completions.
        let hub = Arc::new(crate::hub::Hub::new(16));
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(ts("2026-03-02T02:00:00Z")));
        let writer = s.worker.store.start_writer(&config.store, hub, clock);
        let (committed, durable) = mpsc::channel();
        let mut first = first;
        first.done.push(Box::new(move |r| {
            let _ = committed.send(r.is_ok());
        }));
        writer.sender().send(first).unwrap();
        assert!(durable.recv().unwrap(), "the first batch commits");
        for (i, a) in answers.into_iter().enumerate() {
            let mut a = a;
            let got = a.try_recv().unwrap();
            let want = [(CaseState::Open, true), (CaseState::Withdrawn, false)][i];
            assert_eq!(state(&got), want);
        }

        // The next pass lets the record go: the closed-case table answers from now on.
        let (batch, replay) = pass(&mut s, vec![accept(&config, "Z-1")]);
        assert!(s.worker.closing.records.is_empty());
        assert_eq!(
            state(&answered(batch, replay)[0]),
            (CaseState::Withdrawn, false)
        );
        let (batch, late) = pass(
            &mut s,
            vec![CaseCommand::Complete {
                id: "Z-1".into(),
                at: ts("2026-03-02T02:00:00Z"),
            }],
        );
        match &answered(batch, late)[0] {
            CaseAnswer::Refused(e) => assert_eq!(e.code(), "case-closed"),
            other => panic!("{other:?}"),
        }
        drop(s.worker);
        writer.stop();
    }
}
