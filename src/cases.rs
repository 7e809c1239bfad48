//! The case shard: one thread that owns the deadline engine.
//!
//! Commands arrive through a bounded crossbeam channel, like the hall shards'. Between
//! commands the thread sleeps until the wheel's next expiry, so an alarm is raised within the
//! second it comes due. Every pass hands the store writer one batch: the changed case records,
//! the events of the `@cases` and `@alarms` streams (numbered by the writer), and a completion
//! per request, which answers only once the batch is durable. So an alarm is published only
//! when its "fired" mark is on disk: after a crash it is neither lost (it fires again, with
//! the same id) nor raised twice (the mark was stored with the event).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam::channel::{self, Receiver, RecvTimeoutError, Sender, TrySendError};
use jiff::Timestamp;
use tokio::sync::oneshot;

use crate::calendar::Calendar;
use crate::clock::Clock;
use crate::deadline::{
    CaseCommand, CaseError, CaseEvent, CaseView, DeadlineEngine, Recomputed, Stream,
};
use crate::store::{ALARMS, Batch, CASES_STREAM, Op, Published, Store, StoreError};

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
    Ack {
        consumer: String,
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
    Acked,
    /// The store could not make the change durable, or cannot be read.
    Unavailable(String),
}

pub struct CaseRequest {
    pub op: CaseOp,
    /// `None` for fire-and-forget commands (rectification cases opened by a hall shard).
    pub reply: Option<oneshot::Sender<CaseAnswer>>,
}

enum Msg {
    Req(CaseRequest),
    Stop,
}

pub struct CaseShard {
    tx: Sender<Msg>,
    thread: std::sync::Mutex<Option<JoinHandle<()>>>,
    pub alive: Arc<AtomicI64>,
}

impl CaseShard {
    pub fn start(
        engine: DeadlineEngine,
        store: Arc<Store>,
        writer: Sender<Batch>,
        clock: Arc<dyn Clock>,
        queue_depth: usize,
        max_batch: usize,
    ) -> CaseShard {
        let (tx, rx) = channel::bounded(queue_depth);
        let alive = Arc::new(AtomicI64::new(clock.now().as_second()));
        let mut worker = Worker {
            rx,
            engine,
            store,
            writer,
            clock,
            max_batch,
            alive: alive.clone(),
        };
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
        self.tx.try_send(Msg::Req(req)).map_err(|e| match e {
            TrySendError::Full(Msg::Req(r)) | TrySendError::Disconnected(Msg::Req(r)) => r,
            _ => unreachable!("only requests are sent through try_send"),
        })
    }

    /// Finish what is queued, then stop.
    pub fn stop(&self) {
        let _ = self.tx.send(Msg::Stop);
        if let Some(t) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = t.join();
        }
    }
}

struct Worker {
    rx: Receiver<Msg>,
    engine: DeadlineEngine,
    store: Arc<Store>,
    writer: Sender<Batch>,
    clock: Arc<dyn Clock>,
    max_batch: usize,
    alive: Arc<AtomicI64>,
}

impl Worker {
    fn run(&mut self) {
        let mut pending = Vec::new();
        loop {
            let now = self.clock.now();
            self.alive.store(now.as_second(), Ordering::Relaxed);
            let wait = self
                .engine
                .next_wakeup()
                .map_or(Duration::from_secs(1), |t| {
                    let ms = (t.as_millisecond() - now.as_millisecond()).clamp(0, 1000);
                    Duration::from_millis(ms as u64)
                });
            let stop = match self.rx.recv_timeout(wait) {
                Ok(Msg::Req(r)) => {
                    pending.push(r);
                    let mut stop = false;
                    while pending.len() < self.max_batch {
                        match self.rx.try_recv() {
                            Ok(Msg::Req(r)) => pending.push(r),
                            Ok(Msg::Stop) => {
                                stop = true;
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    stop
                }
                Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => true,
                Err(RecvTimeoutError::Timeout) => false,
            };
            if stop {
                while let Ok(Msg::Req(r)) = self.rx.try_recv() {
                    pending.push(r);
                }
            }
            self.pass(&mut pending);
            if stop {
                return;
            }
        }
    }

    /// Apply what is pending, raise what is due, hand the writer one batch.
    fn pass(&mut self, pending: &mut Vec<CaseRequest>) {
        let now = self.clock.now();
        let mut events = Vec::new();
        let mut batch = Batch::default();
        for req in pending.drain(..) {
            let answer = self.execute(req.op, now, &mut events, &mut batch);
            if let Some(reply) = req.reply {
                batch.done.push(Box::new(move |r: Result<(), &StoreError>| {
                    let _ = reply.send(match r {
                        Ok(()) => answer,
                        Err(e) => CaseAnswer::Unavailable(format!(
                            "the change could not be made durable: {e}"
                        )),
                    });
                }));
            } else if let CaseAnswer::Refused(e) = &answer {
                tracing::warn!(error = %e, "an internal case command was refused");
            }
        }
        self.engine.advance(now, &mut events);
        for change in self.engine.take_changes() {
            let json = serde_json::to_vec(&change.record).expect("records serialize");
            let id = change.record.id;
            batch.ops.push(if change.closed {
                Op::CloseCase { id, json }
            } else {
                Op::PutCase { id, json }
            });
        }
        batch.events.extend(events.iter().map(published));
        if !batch.is_empty() && self.writer.send(batch).is_err() {
            tracing::error!("the store writer is gone; case changes are not durable");
        }
    }

    fn execute(
        &mut self,
        op: CaseOp,
        now: Timestamp,
        events: &mut Vec<CaseEvent>,
        batch: &mut Batch,
    ) -> CaseAnswer {
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
                // A case outside the caller's halls does not exist for the caller.
                if let Some(id) = target
                    && self.engine.get(&id, now).is_some_and(|v| {
                        self.engine
                            .config
                            .hall_index(&v.hall)
                            .is_none_or(|h| !scope(h))
                    })
                {
                    return CaseAnswer::Refused(CaseError::UnknownCase { id });
                }
                match self.engine.apply(now, cmd, events) {
                    Ok((view, created)) => CaseAnswer::View {
                        view: Box::new(view),
                        created,
                    },
                    Err(e) => CaseAnswer::Refused(e),
                }
            }
            CaseOp::Get { id, scope } => {
                let view = match self.engine.get(&id, now) {
                    Some(v) => Some(v),
                    None => match self.store.closed_case(&id) {
                        Ok(Some(r)) => self.engine.closed_view(r, now).ok(),
                        Ok(None) => None,
                        Err(e) => {
                            return CaseAnswer::Unavailable(format!(
                                "the store cannot be read: {e}"
                            ));
                        }
                    },
                };
                match view {
                    Some(v) if self.engine.config.hall_index(&v.hall).is_some_and(&scope) => {
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
                        batch.ops.push(Op::PutCalendar { id, toml });
                        CaseAnswer::Recomputed(r)
                    }
                    Err(e) => CaseAnswer::Refused(e),
                }
            }
            CaseOp::Ack { consumer, seq } => {
                batch.ops.push(Op::PutConsumer {
                    name: consumer,
                    seq,
                });
                CaseAnswer::Acked
            }
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
