//! The case shard: one thread that owns the deadline engine.
//!
//! Commands arrive through a bounded crossbeam channel, like the hall shards'. Between
//! commands the thread sleeps until the wheel's next expiry, so an alarm is raised within the
//! second it comes due. Every pass hands the store writer one batch: the changed case records,
//! the events of the `@cases` and `@alarms` streams (numbered by the writer), and a completion
//! per request, which replies (`CaseReply`, `CaseFailure`: types the HTTP layer renders) only
//! once the batch is durable. So an alarm is published only
//! when its "fired" mark is on disk: after a crash it is neither lost (it fires again, with
//! the same id) nor raised twice (the mark was stored with the event).
//!
//! A case that closes leaves the engine when its pass hands the writer its record, and is in
//! the closed-case table only once that batch commits. In between, the thread keeps the
//! record itself (`Closing`), so the engine's closed lookup never misses it: the next pass
//! cannot take a replayed acceptance for a new case. The record is let go once the writer has
//! run the completion of the batch that committed it.
//!
//! In cluster mode the thread serves only while this node holds the case engine's lease, under
//! its epoch (`follow_lease`): adopting it rebuilds the engine from the store, which the
//! adoption's replay brought up to the log of record; without it nothing is answered and no
//! alarm raised here.
//!
//! The thread also keeps `hallq_calendar_horizon_days` current: from start-up, when a
//! calendar is replaced, and at each local midnight.
//!
//! It also owns the alarm consumers' cursors (checked here, one acknowledgement after the
//! other) and the `Idempotency-Key` answers of case, calendar and cursor requests (`idem`).
//! If the store loses a batch of this thread, the cases, calendars and cursors it changed are
//! put back from the store before anything else runs (`Ledger`); while the store refuses
//! writes, commands are refused, alarms wait, and reads are served from that durable state.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam::channel::{self, Receiver, Sender, TrySendError};
use jiff::Timestamp;

use crate::calendar::Calendar;
use crate::clock::Clock;
use crate::config::Config;
use crate::deadline::{
    BundleError, BundleState, BundleView, CaseCommand, CaseError, CaseEvent, CaseEventBody,
    DeadlineEngine, Stream,
};
use crate::hash::FastMap;
use crate::runtime::doorbell::{Doorbell, receive};
use crate::runtime::idem::{Idem, IdemCache};
use crate::runtime::mailbox::Mail;
use crate::runtime::{Context, OwnerError, Render};
use crate::store::{
    ALARMS, Batch, CASES_STREAM, Cursor, Health, Holding, Ledger, Op, Published, Refusal, Store,
    StoreError, encode_case,
};

mod ack;
mod closing;
mod counts;
mod follow_up;
mod horizon;
mod observe;
mod outbox;
mod recover;
mod relay;
mod request;

pub use ack::{Ack, AckError, Acked};
use closing::{ClosedLookup, Closing};
use counts::count_cases;
pub use horizon::{HORIZON_WARN_DAYS, publish_horizons, warn_near_horizon};
pub use observe::zero_case_counters;
pub(crate) use outbox::{delivery_id, pending, salt};
pub use recover::recover;
pub use relay::rectification;
pub use request::{CaseFailure, CaseOp, CaseReply, CaseRequest, CaseResult, Scope};

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
    /// Rung after every send: the thread sleeps on it, not in the channel.
    bell: Arc<Doorbell>,
    health: Arc<Health>,
    thread: std::sync::Mutex<Option<JoinHandle<()>>>,
    pub alive: Arc<AtomicI64>,
}

impl CaseShard {
    /// The engine counts cases on the catalogue; `config` gives the thread its settings
    /// (queue depth, batch size, idempotency TTL, metric labels).
    pub fn start(engine: DeadlineEngine, config: &Arc<Config>, ctx: Context) -> CaseShard {
        let (tx, rx) = channel::bounded(config.server.queue_depth);
        let health = ctx.store.health.clone();
        let bell = Arc::new(Doorbell::default());
        let mut worker = Worker::new(engine, config.clone(), ctx, (rx, bell.clone()));
        let alive = worker.alive.clone();
        // The recovered open cases show on the gauges before the first scrape can happen.
        let now = worker.clock.now();
        worker.observe(&[], true, now, true);
        let thread = std::thread::Builder::new()
            .name("hallq-cases".into())
            .spawn(move || worker.run())
            .expect("spawning the case thread");
        CaseShard {
            tx,
            bell,
            health,
            thread: std::sync::Mutex::new(Some(thread)),
            alive,
        }
    }

    /// Ask the case thread to do `op` and wait for its reply, which comes once the change is
    /// durable (see `runtime::ask`: refused at once while the store refuses writes, or when
    /// the queue is full).
    pub async fn ask(&self, op: CaseOp, idem: Option<Idem>) -> CaseResult {
        let writes = op.writes() && idem.is_none();
        super::ask(
            &self.health,
            writes,
            "case",
            || OwnerError::CasesBusy,
            |reply| {
                self.try_send(CaseRequest {
                    op,
                    idem: idem.map(Box::new),
                    reply: Some(reply),
                })
                .is_ok()
            },
        )
        .await
    }

    /// Queue a request without waiting for its reply (a rectification case a hall shard
    /// opens); a full queue gives it back (boxed: the refusal is the rare path).
    pub(crate) fn try_send(&self, req: CaseRequest) -> Result<(), Box<CaseRequest>> {
        self.tx.try_send(Mail::Req(req)).map_err(|e| match e {
            TrySendError::Full(Mail::Req(r)) | TrySendError::Disconnected(Mail::Req(r)) => {
                Box::new(r)
            }
            _ => unreachable!("only requests are sent through try_send"),
        })?;
        self.bell.ring();
        Ok(())
    }

    /// Finish what is queued, then stop.
    pub fn stop(&self) {
        let _ = self.tx.send(Mail::Stop);
        self.bell.ring();
        if let Some(t) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = t.join();
        }
    }
}

struct Worker {
    rx: Receiver<Mail<CaseRequest>>,
    bell: Arc<Doorbell>,
    engine: DeadlineEngine,
    /// The settings and, through deref, the catalogue the engine counts on.
    config: Arc<Config>,
    store: Arc<Store>,
    writer: Sender<Batch>,
    clock: Arc<dyn Clock>,
    /// The HTTP layer's rendering, for the answers `idem` keeps.
    render: Arc<dyn Render>,
    max_batch: usize,
    alive: Arc<AtomicI64>,
    closing: Closing,
    /// When `hallq_calendar_horizon_days` next changes (the earliest local midnight).
    horizon_next: Timestamp,
    idem: IdemCache,
    ledger: Ledger<Lost>,
    /// Alarm consumers' cursors as acknowledged (durable or in a batch on its way), read from
    /// the store on first use.
    cursors: FastMap<String, Cursor>,
    /// Lost state not yet put back (the store could not be read): every request is refused
    /// until it is.
    unloaded: Vec<Lost>,
    /// Internal commands refused while the store refused writes, applied once it accepts them.
    deferred: Vec<CaseCommand>,
    /// Open and overdue rectifications and complaints per hall as last counted (`observe`),
    /// and when: the count walks every case with an origin, so it is redone only when one of
    /// those cases changed, an alarm fired, or a minute passed.
    rating_cases: (Vec<crate::deadline::OpenRatingCases>, Option<Timestamp>),
    /// The gauges as last published, so a pass publishes only what changed.
    gauges: observe::CaseGauges,
    /// Cluster mode: the epoch of the case engine's lease this thread serves under; 0 while
    /// this node does not hold it (then it answers no case request and raises no alarm).
    epoch: u64,
    /// Cluster mode: the halls' ticket alarms and bad ratings taken on by the case engine.
    relay: relay::Relay,
}

impl Worker {
    fn new(
        engine: DeadlineEngine,
        config: Arc<Config>,
        ctx: Context,
        (rx, bell): (Receiver<Mail<CaseRequest>>, Arc<Doorbell>),
    ) -> Worker {
        let Context {
            store,
            writer,
            clock,
            render,
        } = ctx;
        let now = clock.now();
        Worker {
            // Set before the thread starts: the gauge exists from start-up.
            horizon_next: publish_horizons(&config, &engine.calendars, now),
            closing: Closing::default(),
            rx,
            bell,
            engine,
            idem: IdemCache::new(config.store.idempotency_ttl_s as i64),
            ledger: Ledger::new(store.health.clone()),
            store,
            writer,
            clock,
            render,
            max_batch: config.store.max_batch,
            gauges: observe::CaseGauges::new(&config),
            config,
            alive: Arc::new(AtomicI64::new(now.as_second())),
            cursors: FastMap::default(),
            unloaded: Vec::new(),
            deferred: Vec::new(),
            rating_cases: (Vec::new(), None),
            epoch: 0,
            relay: relay::Relay::default(),
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
            let stop = receive(&self.rx, &self.bell, wait, self.max_batch, &mut pending);
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
        let serving = self.follow_lease(now);
        self.resync();
        let refusal = self.store.health.refusal();
        let reloading = !self.unloaded.is_empty();
        let mut events = Vec::new();
        let mut batch = Batch::default();
        let mut lost_if_lost = Vec::new();
        if refusal.is_none() && !reloading && serving && self.store.holdings.clustered() {
            self.relay
                .run(&self.config, &self.store, now, pending, &mut batch);
        }
        if refusal.is_none() && !reloading && serving {
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
            let answer = if !serving {
                Err(OwnerError::CasesNotHeld.into())
            } else if reloading {
                Err(OwnerError::CasesReloading.into())
            } else {
                match &req.idem {
                    Some(idem) => match self.idem.recall(&self.store, idem, now.as_second()) {
                        Some(first) => first.map(CaseReply::Replayed).map_err(Into::into),
                        None => {
                            let a = self.execute(req.op, now, &mut events, &mut batch, &refusal);
                            if !a.as_ref().is_err_and(CaseFailure::transient) {
                                let rendered = self.render.case(&a);
                                self.idem
                                    .remember(idem, &rendered, now.as_second(), &mut batch);
                            }
                            a
                        }
                    },
                    None => self.execute(req.op, now, &mut events, &mut batch, &refusal),
                }
            };
            if let (Some(id), Ok(CaseReply::Recomputed(_))) = (calendar, &answer) {
                lost_if_lost.push(Lost::Calendar(id));
            }
            if let Some(cmd) = internal {
                match &answer {
                    // Cluster mode, the case engine held elsewhere: its holder takes the
                    // rating from the hall's log (`relay`); kept here it would only pile up.
                    Err(_) if !serving => {
                        tracing::debug!("a rectification is left to the case engine's holder");
                    }
                    Err(e) if e.transient() => self.deferred.push(cmd),
                    Err(e) => tracing::warn!(error = %e, "an internal case command was refused"),
                    Ok(_) => lost_if_lost.push(Lost::Internal(cmd)),
                }
            }
            if let Some(reply) = req.reply {
                batch.done.push(Box::new(move |r: Result<(), &StoreError>| {
                    let _ = reply.send(match r {
                        Ok(()) => answer,
                        Err(e) => {
                            Err(OwnerError::from_commit(e, OwnerError::CaseNotDurable).into())
                        }
                    });
                }));
            }
        }
        if refusal.is_none() && !reloading && serving {
            self.engine.advance(now, &mut events);
        }
        let ready = self.ready_bundles(&events, now);
        let changes = self.engine.take_changes();
        let rating_cases = changes.iter().any(|c| c.record.origin.is_some())
            || events
                .iter()
                .any(|e| matches!(e.body, crate::deadline::CaseEventBody::Alarm(_)));
        self.observe(
            &events,
            !changes.is_empty() || !events.is_empty(),
            now,
            rating_cases,
        );
        count_cases(&self.config, &events, &changes, &mut batch);
        let clustered = self.store.holdings.clustered();
        outbox::outbox(
            &self.config,
            (&events, &changes, &ready),
            now,
            clustered,
            &mut batch,
        );
        let closes = changes.iter().any(|c| c.closed);
        let number = self.closing.sent + 1;
        for change in changes {
            let id = change.record.id.clone();
            lost_if_lost.push(Lost::Case(id.clone()));
            if change.closed {
                let json = encode_case(change.record.clone());
                self.closing
                    .records
                    .insert(id.clone(), (number, change.record));
                batch.ops.push(Op::CloseCase { id, json });
            } else {
                let json = encode_case(change.record);
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
        if self.epoch != 0 {
            batch.fences = vec![(self.config.halls.len(), self.epoch)];
        }
        self.ledger.stamp(&mut batch, lost_if_lost);
        if !batch.is_empty() && self.writer.send(batch).is_err() {
            tracing::error!("the store writer is gone; case changes are not durable");
        }
    }

    /// Cluster mode: follow the case engine's lease. Adopted under a new epoch, the engine is
    /// rebuilt from the store, which the adoption's replay brought up to the log of record;
    /// not held, nothing is served and no alarm raised here. Whether this thread serves now.
    fn follow_lease(&mut self, now: Timestamp) -> bool {
        let engine_lease = self.config.halls.len();
        match self.store.holdings.get(engine_lease) {
            Holding::Alone => true,
            Holding::Held(epoch) if epoch == self.epoch => true,
            Holding::Held(epoch) => match recover(&self.config, &self.store, now) {
                Ok(engine) => {
                    self.engine = engine;
                    // What this thread kept of its earlier tenure may be stale.
                    self.closing = Closing::default();
                    self.cursors.clear();
                    self.idem.clear();
                    self.unloaded.clear();
                    self.rating_cases = (Vec::new(), None);
                    self.relay.reset();
                    self.horizon_next = publish_horizons(&self.config, &self.engine.calendars, now);
                    self.epoch = epoch;
                    self.observe(&[], true, now, true);
                    tracing::info!(
                        epoch,
                        timers = self.engine.pending(),
                        "serving the case engine"
                    );
                    true
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot load the adopted case engine from the store");
                    false
                }
            },
            Holding::NotHeld => {
                if self.epoch != 0 {
                    tracing::info!(
                        epoch = self.epoch,
                        "the case engine's lease is no longer held here"
                    );
                    self.epoch = 0;
                }
                false
            }
        }
    }

    /// After the store lost batches of this thread: put back what they changed from the
    /// store (see `store::Ledger`). Cursors and idempotent answers are read again on use.
    fn resync(&mut self) {
        if let Some(lost) = self.ledger.lost() {
            self.idem.clear();
            self.cursors.clear();
            self.relay.reset();
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
    ) -> CaseResult {
        if op.writes()
            && let Some(r) = refusal
        {
            return Err(OwnerError::Unwritable(r.clone()).into());
        }
        let closed = ClosedLookup {
            pending: &self.closing.records,
            store: &self.store,
        };
        match op {
            CaseOp::Apply { cmd, scope } => {
                let target = cmd.case_id().map(str::to_owned);
                // A case outside the caller's halls, open or closed, does not exist for the
                // caller.
                if let Some(id) = target {
                    match self.engine.find_hall(&id, &closed) {
                        Ok(Some(hall))
                            if self.config.hall_index(&hall).is_none_or(|h| !scope(h)) =>
                        {
                            return Err(CaseError::UnknownCase { id }.into());
                        }
                        Err(e) => return Err(e.into()),
                        Ok(_) => {}
                    }
                }
                let (view, created) = self.engine.apply(now, cmd, &closed, events)?;
                Ok(CaseReply::View {
                    view: Box::new(view),
                    created,
                })
            }
            CaseOp::Get { id, scope } => match self.engine.find_view(&id, now, &closed)? {
                Some(v) if self.config.hall_index(&v.hall).is_some_and(&scope) => {
                    Ok(CaseReply::View {
                        view: Box::new(v),
                        created: false,
                    })
                }
                _ => Err(CaseError::UnknownCase { id }.into()),
            },
            CaseOp::ReplaceCalendar { id, calendar, toml } => {
                match self.engine.replace_calendar(now, &id, calendar, events) {
                    Ok(r) => {
                        self.horizon_next =
                            publish_horizons(&self.config, &self.engine.calendars, now);
                        batch.ops.push(Op::PutCalendar { id, toml });
                        Ok(CaseReply::Recomputed(r))
                    }
                    Err(e) => Err(e.into()),
                }
            }
            CaseOp::AcceptBundle(b) => {
                let (view, created) = self.engine.accept_bundle(now, b, &closed, events)?;
                Ok(CaseReply::Bundle {
                    view: Box::new(view),
                    created,
                })
            }
            CaseOp::GetBundle { id, scope } => {
                let view = self.engine.bundle_view(&id, now, &closed)?;
                self.in_scope(&view, &scope)?;
                Ok(CaseReply::Bundle {
                    view: Box::new(view),
                    created: false,
                })
            }
            CaseOp::DeliverBundle { id, at, scope } => {
                let view = self.engine.bundle_view(&id, now, &closed)?;
                self.in_scope(&view, &scope)?;
                let view = self.engine.deliver_bundle(now, &id, at, &closed, events)?;
                Ok(CaseReply::Bundle {
                    view: Box::new(view),
                    created: false,
                })
            }
            CaseOp::Ack(ack) => self.ack(ack, now, batch),
            CaseOp::FollowUp {
                id,
                follow_up,
                scope,
            } => self.follow_up(id, follow_up, &scope, now, batch),
            // `pass` advances the engine after the requests.
            CaseOp::RunTimers => Ok(CaseReply::TimersRun),
        }
    }
}

impl Worker {
    /// The bundles this pass's events made ready (`bundle.ready`): a member's outcome, or the
    /// withdrawal of one still undecided, left every member decided or closed. Before such
    /// an event the bundle was open, so each becomes ready once. Read before the pass's
    /// closed cases leave the engine.
    fn ready_bundles(&self, events: &[CaseEvent], now: Timestamp) -> Vec<BundleView> {
        let wanted = self
            .config
            .webhooks
            .iter()
            .any(|w| w.wants(crate::config::NotifyEvent::BundleReady));
        if !wanted {
            return Vec::new();
        }
        let closed = ClosedLookup {
            pending: &self.closing.records,
            store: &self.store,
        };
        let mut ready: Vec<BundleView> = Vec::new();
        for e in events {
            let case = match &e.body {
                CaseEventBody::Outcome { case, .. } | CaseEventBody::Withdrawn { case, .. } => case,
                _ => continue,
            };
            let Some(v) = self.engine.get(case, now) else {
                continue;
            };
            let withdrawn_decided =
                matches!(e.body, CaseEventBody::Withdrawn { .. }) && v.details.outcome.is_some();
            let Some(bundle) = v.details.bundle.filter(|_| !withdrawn_decided) else {
                continue;
            };
            if ready.iter().any(|b| b.id == bundle) {
                continue;
            }
            if let Ok(view) = self.engine.bundle_view(&bundle, now, &closed)
                && view.state == BundleState::Ready
            {
                ready.push(view);
            }
        }
        ready
    }

    /// A bundle whose front desk the caller may not see does not exist for the caller.
    fn in_scope(&self, view: &BundleView, scope: &Scope) -> Result<(), CaseFailure> {
        match self.config.hall_index(&view.hall) {
            Some(h) if scope(h) => Ok(()),
            _ => Err(BundleError::Unknown {
                id: view.id.clone(),
            }
            .into()),
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
mod tests;
