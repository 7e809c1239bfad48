//! Hall shards: one thread per core, each the single owner of a set of halls.
//!
//! A command for a hall goes to the one shard that owns it through a bounded crossbeam
//! channel, and that shard applies its halls' commands strictly in order. This is what makes
//! "call next" atomic without locks: two windows' calls for the same hall are two messages
//! in one queue, applied one after the other.
//!
//! A shard drains whatever is waiting (up to the store's batch size), applies it, and hands
//! the writer one `Batch` with the events, the changed records and a completion per request.
//! The replies go out only from those completions, after the commit. They are types
//! (`HallReply`, `HallFailure`); the HTTP layer renders them.
//!
//! `Idempotency-Key`s are checked here, by the hall's owner (`runtime::idem`), so two
//! concurrent retries with one key cannot both execute. The answer a key keeps is rendered
//! here, with the rendering the daemon gave the shard (`Render`).
//!
//! If the store loses a batch (a failed commit), the shard reloads the halls that batch
//! changed from their last durable records before it applies anything else (`Ledger`), and
//! while the store refuses writes it refuses commands and time-driven changes but keeps
//! answering reads from that durable state.

use crate::hash::FastMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam::channel::{self, Receiver, Sender, TrySendError};
use serde::Serialize;
use tokio::sync::oneshot;

use crate::clock::Clock;
use crate::config::Config;
use crate::queue::{CallEvent, Event, HallEngine, TimerKind};
use crate::runtime::cases::CaseShard;
pub use crate::runtime::idem::Idem;
use crate::runtime::idem::IdemCache;
use crate::runtime::mailbox::{Mail, receive};
use crate::runtime::{Context, OwnerError, Render};
use crate::store::{ALARMS, Batch, Done, Health, Ledger, Op, Published, Store};
use crate::wheel::{TimerKey, TimingWheel};

mod board;
mod booking;
mod elsewhere;
mod event_json;
mod gauges;
mod hall_json;
mod json;
mod rectify;
mod request;
mod ticket_json;
mod timers;
mod turn_near;

pub use board::{Board, Boards};
pub use booking::{BookingOp, BookingReply, recover as recover_books};
use hall_json::{HallJson, Written};
pub use rectify::{open_case, rectification};
use request::Request;
pub use request::{HallFailure, HallOp, HallReply, HallResult};
use timers::unpack;

pub struct Shards {
    senders: Vec<Sender<Mail<Request>>>,
    /// For the hall a refusal names.
    config: Arc<Config>,
    health: Arc<Health>,
    threads: std::sync::Mutex<Vec<JoinHandle<()>>>,
    /// Unix seconds each shard last went round its loop, for the watchdog.
    pub alive: Vec<Arc<AtomicI64>>,
    /// What the halls' owners publish for the HTTP side to refuse a full slot without
    /// asking them (`board`).
    pub boards: Arc<Boards>,
}

impl Shards {
    /// Start `n` shard threads over `halls` (position = hall index), dealt round-robin.
    /// Bad ratings open rectification cases through `cases`.
    pub fn start(
        config: &Arc<Config>,
        halls: Vec<HallEngine>,
        books: Vec<crate::booking::Book>,
        ctx: &Context,
        cases: &Arc<CaseShard>,
        n: usize,
    ) -> Shards {
        let Context {
            store,
            writer,
            clock,
            render,
        } = ctx;
        let n = n.clamp(1, halls.len().max(1));
        let boards = Arc::new(Boards::new(halls.len()));
        for (i, book) in books.iter().enumerate().take(halls.len()) {
            boards.hall(i).reset(0, book.citizens());
        }
        let mut owned: Vec<Vec<(usize, HallEngine)>> = (0..n).map(|_| Vec::new()).collect();
        let mut owned_books: Vec<Vec<crate::booking::Book>> = (0..n).map(|_| Vec::new()).collect();
        let mut books = books.into_iter();
        for (i, h) in halls.into_iter().enumerate() {
            owned[i % n].push((i, h));
            owned_books[i % n].push(books.next().unwrap_or_default());
        }
        let mut owned_books = owned_books.into_iter();
        let mut senders = Vec::new();
        let mut threads = Vec::new();
        let mut alive = Vec::new();
        for (k, halls) in owned.into_iter().enumerate() {
            let (tx, rx) = channel::bounded(config.server.queue_depth);
            let beat = Arc::new(AtomicI64::new(clock.now().as_second()));
            let now = clock.now();
            let metrics = halls
                .iter()
                .map(|(_, h)| crate::metrics::HallMetrics::new(config.metric_labels, h.config()))
                .collect();
            let halls_len = halls.len();
            let mut shard = Shard {
                id: k,
                metrics,
                next_gauges: 0,
                rx,
                timers: TimingWheel::new(now.as_second().max(0) as u64),
                timer_keys: FastMap::default(),
                config: config.clone(),
                cases: cases.clone(),
                halls,
                books: owned_books.next().expect("one list per shard"),
                n,
                store: store.clone(),
                writer: writer.clone(),
                clock: clock.clone(),
                render: render.clone(),
                max_batch: config.store.max_batch,
                idem: IdemCache::new(config.store.idempotency_ttl_s as i64),
                ledger: Ledger::new(store.health.clone()),
                epochs: vec![0; halls_len],
                sent_calls: vec![None; halls_len],
                hall_json: (0..halls_len).map(|_| HallJson::default()).collect(),
                unloaded: Vec::new(),
                alive: beat.clone(),
                boards: boards.clone(),
                seen_full: Vec::new(),
                events: Vec::new(),
            };
            for local in 0..shard.halls.len() {
                let ops = shard.halls[local].1.timers();
                shard.apply_timers(local, &ops);
            }
            // The gauges exist before the first scrape, not from the first refresh.
            shard.gauges(now);
            threads.push(
                std::thread::Builder::new()
                    .name(format!("hallq-shard-{k}"))
                    .spawn(move || shard.run())
                    .expect("spawning a shard thread"),
            );
            senders.push(tx);
            alive.push(beat);
        }
        Shards {
            senders,
            config: config.clone(),
            health: store.health.clone(),
            threads: std::sync::Mutex::new(threads),
            alive,
            boards,
        }
    }

    /// Ask hall `hall` to do `op` and wait for its reply, which comes once the change is
    /// durable (see `runtime::ask`: refused at once while the store refuses writes, or when
    /// the hall's queue is full).
    pub async fn ask(&self, hall: usize, op: HallOp, idem: Option<Idem>) -> HallResult {
        let writes = match &op {
            HallOp::Apply(_) | HallOp::IssueWithContact(_) => true,
            HallOp::Booking(b) => b.writes(),
            _ => false,
        } && idem.is_none();
        let busy = || OwnerError::HallBusy(self.config.halls[hall].id.clone());
        super::ask(&self.health, writes, "hall", busy, |reply| {
            self.try_send(Request {
                hall,
                op,
                idem,
                reply,
            })
            .is_ok()
        })
        .await
    }

    /// Queue a request for its hall's shard; a full queue gives the request back (the caller
    /// refuses it rather than waiting without bound).
    fn try_send(&self, req: Request) -> Result<(), Request> {
        let shard = req.hall % self.senders.len();
        self.senders[shard]
            .try_send(Mail::Req(req))
            .map_err(|e| match e {
                TrySendError::Full(Mail::Req(r)) | TrySendError::Disconnected(Mail::Req(r)) => r,
                _ => unreachable!("only requests are sent through try_send"),
            })
    }

    /// Finish everything queued, then stop the threads. Requests sent afterwards are
    /// refused as if the queue were full.
    pub fn stop(&self) {
        for s in &self.senders {
            let _ = s.send(Mail::Stop);
        }
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        for t in threads {
            let _ = t.join();
        }
    }
}

struct Shard {
    /// Which shard this is, for the gauges several shards feed.
    id: usize,
    /// Metric handles of each hall, by local position.
    metrics: Vec<crate::metrics::HallMetrics>,
    /// Unix second of the next gauge update.
    next_gauges: i64,
    rx: Receiver<Mail<Request>>,
    /// Ticket timers of every hall of this shard (one wheel per shard, not per hall: a wheel
    /// is ~700 KiB of slot headers). Values pack (hall position, ticket, kind).
    timers: TimingWheel<u64>,
    timer_keys: FastMap<(u32, u32, TimerKind), TimerKey>,
    config: Arc<Config>,
    cases: Arc<CaseShard>,
    /// (hall index, engine); hall `i` is at position `i / n`.
    halls: Vec<(usize, HallEngine)>,
    /// Each hall's bookings, by the same local position.
    books: Vec<crate::booking::Book>,
    n: usize,
    store: Arc<Store>,
    writer: Sender<Batch>,
    clock: Arc<dyn Clock>,
    /// The HTTP layer's rendering, for the answers `idem` keeps.
    render: Arc<dyn Render>,
    max_batch: usize,
    idem: IdemCache,
    /// Local positions of the halls each batch in flight changes.
    ledger: Ledger<usize>,
    /// Halls whose memory may hold lost changes but could not be reloaded yet (the store
    /// could not be read): every request for them is refused until they are.
    unloaded: Vec<usize>,
    /// Cluster mode: the lease epoch each hall's memory was loaded under, by local position;
    /// 0 while this node does not hold it (its requests are refused, its timers wait). A
    /// new epoch means the hall was adopted: it is reloaded from the store, which the
    /// adoption brought up to the log of record, before it serves.
    epochs: Vec<u64>,
    alive: Arc<AtomicI64>,
    /// The recent calls of each hall's last record sent to the writer, by local position, so
    /// the next record carries only the calls made since (`Op::PatchHall`,
    /// `Op::PutHallDelta`). `None` until
    /// the hall's first record and after a reload: then the record carries all of them. The
    /// `Arc`s are held, so one that is still here is the same call (`Arc::ptr_eq`).
    sent_calls: Vec<Option<Vec<Arc<CallEvent>>>>,
    /// Each hall's windows as last encoded and its services as last written (`hall_json`),
    /// by local position: the next record is a patch on the last.
    hall_json: Vec<HallJson>,
    boards: Arc<Boards>,
    /// Slots seen full in the pass being built, by hall index: published on the board once
    /// its batch is durable.
    seen_full: Vec<(usize, board::Pending)>,
    /// The events of the pass being built, empty between passes. Kept for its capacity: an
    /// `Event` is large, so a fresh vector's first push asked glibc for a chunk big enough to
    /// make it consolidate its fast bins, on every pass (BENCHMARKS.md, "The allocator").
    events: Vec<Event>,
}

impl Shard {
    fn run(&mut self) {
        let mut next_tick = self.clock.now().as_second() + 1;
        let mut pending = Vec::new();
        loop {
            let now = self.clock.now().as_second();
            self.alive.store(now, Ordering::Relaxed);
            let wait = Duration::from_millis(((next_tick - now).max(0) * 1000).min(1000) as u64);
            let stop = receive(&self.rx, wait, self.max_batch, &mut pending);
            self.process(&mut pending);
            if stop {
                return;
            }
            if self.clock.now().as_second() >= next_tick {
                self.tick();
                next_tick = self.clock.now().as_second() + 1;
            }
        }
    }

    fn local(&self, hall: usize) -> usize {
        hall / self.n
    }

    fn process(&mut self, pending: &mut Vec<Request>) {
        if pending.is_empty() {
            return;
        }
        let now = self.clock.now();
        self.resync(now);
        let refusal = self.store.health.refusal();
        let mut batch = Batch::default();
        let mut touched = Vec::new();
        let mut events = std::mem::take(&mut self.events);
        let mut run_timers = false;
        for req in pending.drain(..) {
            let local = self.local(req.hall);
            touched.push(local);
            run_timers |= matches!(req.op, HallOp::RunTimers);
            let elsewhere = (!self.serving(local))
                .then(|| self.elsewhere(local, &req.op, now))
                .flatten();
            let reply = if let Some(reply) = elsewhere {
                reply
            } else if !self.serving(local) {
                let id = self.halls[local].1.config().id.clone();
                Err(OwnerError::HallNotHeld(id).into())
            } else if self.unloaded.contains(&local) {
                let id = self.halls[local].1.config().id.clone();
                Err(OwnerError::HallReloading(id).into())
            } else {
                match &req.idem {
                    Some(idem) => match self.idem.recall(&self.store, idem, now.as_second()) {
                        Some(first) => first.map(HallReply::Replayed).map_err(Into::into),
                        None => {
                            let r = self.execute(local, req.op, now, &mut events, &refusal);
                            if r.as_ref().err().is_none_or(HallFailure::kept) {
                                let id = &self.halls[local].1.config().id;
                                let answer = self.render.hall(id, &r);
                                self.idem
                                    .remember(idem, &answer, now.as_second(), &mut batch);
                            }
                            r
                        }
                    },
                    None => self.execute(local, req.op, now, &mut events, &refusal),
                }
            };
            batch.done.push(reply_when_durable(req.reply, reply));
        }
        let mut changed = Vec::new();
        if run_timers && refusal.is_none() {
            self.run_due(now, &mut events, &mut batch, &mut changed);
        }
        touched.sort_unstable();
        touched.dedup();
        // A hall this node does not hold changed nothing; its memory waits for an adoption.
        touched.retain(|&local| self.serving(local));
        for local in touched {
            if self.collect(local, &mut batch) {
                changed.push(local);
            }
        }
        changed.sort_unstable();
        changed.dedup();
        self.rectify(&events, &mut batch);
        self.observe(&events);
        publish(
            &mut batch,
            &events,
            &self.config,
            self.store.holdings.clustered(),
        );
        self.fence(&mut batch);
        self.publish_full(&mut batch);
        self.ledger.stamp(&mut batch, changed);
        self.send(batch);
        events.clear();
        self.events = events;
    }

    /// The slots seen full in this pass go on the board once the batch is durable, before
    /// any of its replies is sent (the completions run in order), so the request that took
    /// the last seat, or was refused, is answered after the board shows the slot full.
    fn publish_full(&mut self, batch: &mut Batch) {
        if self.seen_full.is_empty() {
            return;
        }
        let seen = std::mem::take(&mut self.seen_full);
        let (boards, clock) = (self.boards.clone(), self.clock.clone());
        batch.done.insert(
            0,
            Box::new(move |commit| {
                if commit.is_err() {
                    return;
                }
                let now = clock.now();
                let mut by_hall: FastMap<usize, Vec<board::Pending>> = FastMap::default();
                for (hall, p) in seen {
                    by_hall.entry(hall).or_default().push(p);
                }
                for (hall, seen) in by_hall {
                    boards.hall(hall).publish(seen, now);
                }
            }),
        );
    }

    /// Cluster mode: follow the leases. A hall adopted under a new epoch is reloaded from the
    /// store before it serves; a hall no longer held stops serving at once.
    fn follow_leases(&mut self) {
        for local in 0..self.halls.len() {
            let hall = self.halls[local].0;
            match self.store.holdings.get(hall) {
                crate::store::Holding::Alone => return,
                crate::store::Holding::Held(epoch) if epoch != self.epochs[local] => {
                    self.epochs[local] = epoch;
                    self.unloaded.push(local);
                }
                crate::store::Holding::Held(_) => {}
                crate::store::Holding::NotHeld => {
                    if self.epochs[local] != 0 {
                        tracing::info!(hall = %self.halls[local].1.config().id, epoch = self.epochs[local], "the hall's lease is no longer held here; not serving it");
                        self.boards
                            .hall(hall)
                            .reset(0, self.books[local].citizens());
                    }
                    self.epochs[local] = 0;
                }
            }
        }
        self.unloaded.sort_unstable();
        self.unloaded.dedup();
    }

    /// Whether this node may serve hall `local` (always, in single-node mode).
    fn serving(&self, local: usize) -> bool {
        !self.store.holdings.clustered() || self.epochs[local] != 0
    }

    /// Cluster mode: the batch carries the epoch of every hall this shard serves, which the
    /// log of record checks against the hall's lease (fencing).
    fn fence(&self, batch: &mut Batch) {
        if self.store.holdings.clustered() {
            batch.fences = (0..self.halls.len())
                .filter(|&l| self.epochs[l] != 0)
                .map(|l| (self.halls[l].0, self.epochs[l]))
                .collect();
        }
    }

    /// After the store lost batches of this shard: put back every hall they changed from its
    /// last durable records, so memory agrees with the disk again (see `store::Ledger`).
    fn resync(&mut self, now: jiff::Timestamp) {
        self.follow_leases();
        if let Some(lost) = self.ledger.lost() {
            // Some cached answers belong to requests whose change was lost.
            self.idem.clear();
            self.unloaded.extend(lost);
            self.unloaded.sort_unstable();
            self.unloaded.dedup();
        }
        let mut still = Vec::new();
        for local in std::mem::take(&mut self.unloaded) {
            let cfg = self.halls[local].1.config().clone();
            // The calendar in force is not in the hall's records (a replaced one is stored
            // by the case thread): the reloaded hall keeps following it.
            let calendar = self.halls[local].1.calendar().cloned();
            match self.store.load_hall(&cfg.id) {
                Ok(stored) => {
                    let mut engine = elsewhere::restore_hall(&cfg, stored, now);
                    engine.set_calendar(calendar, now);
                    let records = match self.store.load_bookings(&cfg.id) {
                        Ok(records) => records,
                        Err(e) => {
                            tracing::error!(hall = %cfg.id, error = %e, "cannot reload the hall's bookings; refusing its requests");
                            still.push(local);
                            continue;
                        }
                    };
                    self.books[local] = crate::booking::Book::restore(records);
                    self.boards
                        .hall(self.halls[local].0)
                        .reset(self.epochs[local], self.books[local].citizens());
                    self.halls[local].1 = engine;
                    self.sent_calls[local] = None;
                    self.hall_json[local].forget();
                    self.drop_timers(local);
                    let ops = self.halls[local].1.timers();
                    self.apply_timers(local, &ops);
                    tracing::warn!(hall = %cfg.id, epoch = self.epochs[local], "reloaded the hall's durable state");
                }
                Err(e) => {
                    tracing::error!(hall = %cfg.id, error = %e, "cannot reload the hall from the store; refusing its requests");
                    still.push(local);
                }
            }
        }
        self.unloaded = still;
    }

    /// Run one request. While the store refuses writes (`refusal`), commands are refused and
    /// reads show the durable state as it is, without the time-driven changes a tick makes.
    fn execute(
        &mut self,
        local: usize,
        op: HallOp,
        now: jiff::Timestamp,
        events: &mut Vec<Event>,
        refusal: &Option<crate::store::Refusal>,
    ) -> HallResult {
        let hall = &mut self.halls[local].1;
        Ok(match op {
            HallOp::Apply(cmd) => match refusal {
                Some(r) => return Err(OwnerError::Unwritable(r.clone()).into()),
                None => {
                    let hours = matches!(
                        cmd,
                        crate::queue::Command::SetHours { .. }
                            | crate::queue::Command::ClearHours { .. }
                    );
                    let reply = HallReply::Applied(Box::new(hall.apply(now, cmd, events)?));
                    if hours {
                        self.flag_closed_bookings(local, now, events);
                    }
                    reply
                }
            },
            HallOp::IssueWithContact(issue) => {
                let (cmd, contact) = *issue;
                if let Some(r) = refusal {
                    return Err(OwnerError::Unwritable(r.clone()).into());
                }
                let mut reply = hall.apply(now, cmd, events)?;
                if let crate::queue::Reply::Issued(t) = &mut reply {
                    t.contact_masked = Some(contact.contact_masked.clone());
                    hall.set_contact(&t.id, contact)?;
                }
                HallReply::Applied(Box::new(reply))
            }
            HallOp::Snapshot => {
                if refusal.is_none() {
                    hall.tick(now, events);
                }
                HallReply::Snapshot(Box::new(hall.snapshot(now)))
            }
            HallOp::Ticket(id) => HallReply::Ticket(Box::new(hall.ticket_view(&id, now)?)),
            HallOp::Tickets { status, service } => {
                let service = service.map(|s| hall.config().services[s].id.clone());
                HallReply::Tickets(hall.list(now, |t| {
                    status.is_none_or(|s| t.status == s)
                        && service.as_ref().is_none_or(|s| &t.service == s)
                }))
            }
            HallOp::Window(w) => HallReply::Window(Box::new(hall.window_view(w, now))),
            HallOp::WindowQueue(w) => HallReply::WindowQueue(hall.waiting_for_window(w, now)),
            HallOp::DayStats => {
                if refusal.is_none() {
                    hall.tick(now, events);
                }
                HallReply::DayStats(Box::new(hall.day_stats(now)))
            }
            HallOp::Hours(date) => HallReply::Hours(hall.day_hours(date)),
            HallOp::UseCalendar(calendar) => {
                hall.replace_calendar(now, calendar, events);
                let reply = HallReply::Schedule(Box::new(hall.schedule(now)));
                self.flag_closed_bookings(local, now, events);
                reply
            }
            HallOp::Booking(op) => return self.booking(local, *op, now, events, refusal),
            // `process` runs them once for the whole pass, after the other requests.
            HallOp::RunTimers => match refusal {
                Some(r) => return Err(OwnerError::Unwritable(r.clone()).into()),
                None => HallReply::TimersRun,
            },
        })
    }

    /// Time-driven work for every hall: the business day turning, appointment grace ending.
    ///
    /// Skipped while the store refuses writes (the changes could not be stored); what came due
    /// meanwhile happens at the first tick after, as after a restart.
    fn tick(&mut self) {
        let now = self.clock.now();
        self.resync(now);
        if !self.store.health.is_writable() {
            self.gauges(now);
            return;
        }
        let mut events = std::mem::take(&mut self.events);
        let mut batch = Batch::default();
        let mut changed = Vec::new();
        self.run_due(now, &mut events, &mut batch, &mut changed);
        self.observe(&events);
        self.gauges(now);
        publish(
            &mut batch,
            &events,
            &self.config,
            self.store.holdings.clustered(),
        );
        self.fence(&mut batch);
        if !batch.is_empty() {
            changed.sort_unstable();
            changed.dedup();
            self.ledger.stamp(&mut batch, changed);
            self.send(batch);
        }
        events.clear();
        self.events = events;
    }

    /// What is due at `now` in every hall: the business day turning, then the ticket timers
    /// (after the turn, which drops the timers of the day it ends). Their records go into
    /// `batch`, the halls they changed into `changed`.
    fn run_due(
        &mut self,
        now: jiff::Timestamp,
        events: &mut Vec<Event>,
        batch: &mut Batch,
        changed: &mut Vec<usize>,
    ) {
        for local in 0..self.halls.len() {
            if self.unloaded.contains(&local) || !self.serving(local) {
                continue;
            }
            self.halls[local].1.tick(now, events);
            if self.collect(local, batch) {
                changed.push(local);
            }
        }
        let mut fired = Vec::new();
        while let Some(e) = self.timers.poll(now.as_second().max(0) as u64) {
            let (local, ticket, kind) = unpack(e.value);
            self.timer_keys.remove(&(local as u32, ticket, kind));
            fired.push((local, ticket, kind));
        }
        for (local, ticket, kind) in fired {
            // A hall waiting for its reload gets its timers back from the reloaded engine.
            if self.unloaded.contains(&local) || !self.serving(local) {
                continue;
            }
            self.halls[local].1.timer_fired(now, ticket, kind, events);
            if self.collect(local, batch) {
                changed.push(local);
            }
        }
    }

    /// The records of what changed in hall `local`; true when there were any.
    fn collect(&mut self, local: usize, batch: &mut Batch) -> bool {
        let ops_before = batch.ops.len();
        let now = self.clock.now();
        let clustered = self.store.holdings.clustered();
        turn_near::outbox(
            &self.config,
            &mut self.halls[local].1,
            now,
            clustered,
            batch,
        );
        let changes = self.halls[local].1.take_changes();
        if let Some(day) = changes.purge_before {
            self.drop_timers(local);
            self.prune_bookings(local, day);
        }
        self.collect_bookings(local, batch);
        self.apply_timers(local, &changes.timers);
        let hall = &mut self.halls[local].1;
        let id = hall.config().id.clone();
        if let Some(stats) = changes.closed_day {
            batch.ops.push(Op::PutStats {
                hall: id.clone(),
                day: stats.day.to_string(),
                json: serde_json::to_vec(&stats).expect("stats serialize"),
            });
        }
        if let Some(day) = changes.purge_before {
            batch.ops.push(Op::PurgeTickets {
                hall: id.clone(),
                before: day.strftime("%Y%m%d").to_string(),
            });
        }
        for t in changes.tickets {
            let record = hall.ticket_record(t);
            batch.ops.push(Op::PutTicket {
                hall: id.clone(),
                id: record.id.clone(),
                json: ticket_json::encode(&record),
            });
        }
        if changes.hall {
            let mut record = hall.hall_record();
            let calls = std::mem::take(&mut record.recent_calls);
            let new = new_calls(self.sent_calls[local].as_deref(), &calls);
            let pushed = calls[calls.len() - new..]
                .iter()
                .map(|c| event_json::encode_call(c))
                .collect();
            let keep = u8::try_from(calls.len()).expect("a hall keeps ten recent calls");
            batch.ops.push(match self.hall_json[local].write(record) {
                Written::Whole(json) => Op::PutHallDelta {
                    hall: id,
                    json,
                    calls: pushed,
                    keep,
                },
                Written::Patch(patch) => Op::PatchHall {
                    hall: id,
                    patch,
                    calls: pushed,
                    keep,
                },
            });
            self.sent_calls[local] = Some(calls);
        }
        batch.ops.len() > ops_before
    }

    fn send(&self, batch: Batch) {
        if let Err(e) = self.writer.send(batch) {
            // The writer is gone (shutdown after a failure): answer everyone now.
            for done in e.0.done {
                done(Err(&crate::store::StoreError::Stopped));
            }
        }
    }
}

/// `clustered`: ticket alarms stay on their hall's stream only; the supervision stream is the
/// case engine's, which another node may hold (docs/CLUSTER.md).
fn publish(batch: &mut Batch, events: &[Event], config: &Config, clustered: bool) {
    for e in events {
        batch.events.push(Published {
            stream: e.hall.clone(),
            seq: e.seq,
            kind: e.kind(),
            json: event_json::encode(e),
            // A hall stream is scoped by its URL already.
            hall: None,
        });
        // Ticket alarms also go to the supervision stream, numbered by the writer.
        if let Some(alarm) = e.body.alarm().filter(|_| !clustered) {
            #[derive(Serialize)]
            struct OnAlarmStream<'a> {
                at: crate::localtime::LocalTime,
                kind: &'static str,
                #[serde(flatten)]
                alarm: &'a crate::queue::TicketAlarm,
            }
            let json = serde_json::to_string(&OnAlarmStream {
                at: e.at,
                kind: "alarm",
                alarm,
            })
            .expect("alarms serialize");
            batch.events.push(Published {
                stream: Arc::from(ALARMS),
                seq: 0,
                kind: "alarm",
                json,
                hall: config.hall_index(&e.hall),
            });
        }
    }
}

/// How many of `now` (a hall's recent calls, oldest first) are not in `sent` (those of its
/// last record): the fewest such that the ones before them are the last of `sent`. All of
/// them when `sent` is unknown or shares nothing (a new business day).
fn new_calls(sent: Option<&[Arc<CallEvent>]>, now: &[Arc<CallEvent>]) -> usize {
    let Some(sent) = sent else {
        return now.len();
    };
    (0..now.len())
        .find(|&new| {
            let old = &now[..now.len() - new];
            old.len() <= sent.len()
                && sent[sent.len() - old.len()..]
                    .iter()
                    .zip(old)
                    .all(|(a, b)| Arc::ptr_eq(a, b))
        })
        .unwrap_or(now.len())
}

/// Reply once the batch is durable; a lost batch turns every reply in it into a refusal.
fn reply_when_durable(reply: oneshot::Sender<HallResult>, result: HallResult) -> Done {
    Box::new(move |commit| {
        let result = match commit {
            Ok(()) => result,
            Err(e) => Err(OwnerError::from_commit(e, OwnerError::HallNotDurable).into()),
        };
        let _ = reply.send(result);
    })
}
