//! The queue engine against a plain model, over random operation sequences.
//!
//! The model keeps tickets in a `Vec` and decides every call by scanning all of them with the
//! calling policy written as plainly as possible. After every operation the engine must agree
//! with the model (same success or failure, same ticket called, same waiting counts), and the
//! engine's own output must show the invariants DESIGN.md promises:
//! - no ticket is ever called by two windows;
//! - numbers are unique per service and business day;
//! - FIFO holds within a class and a window's service rank;
//! - at most k priority calls in a row while normal tickets wait;
//! - a ticket that has waited past the aging cap goes first.
//!
//! The records each command changes (`take_changes`) go to an in-memory store, as the hall
//! shard hands them to the store writer; a restart step rebuilds the engine from that store
//! (`HallEngine::restore` from the hall and ticket records, JSON and back, as recovery reads
//! them), and the model goes on unchanged: a restart must lose and change nothing.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use hallq::config::Config;
use hallq::model::Hall;
use hallq::queue::{
    CallReason, Command, Event, EventBody, HallEngine, HallRecord, Reply, TicketClass,
    TicketRecord, WindowAction,
};
use jiff::civil::Date;
use jiff::{Timestamp, ToSpan};
use proptest::prelude::*;

const K: u32 = 2;
const MAX_WAIT_S: i64 = 30 * 60;
const RECALL_LIMIT: u8 = 1;
const REACTIVATE_S: i64 = 10 * 60;

const HALL: &str = r#"
[policy]
max_wait_min = 30
max_priority_run = 2
recall_limit = 1
reactivate_min = 10
transfer_placement = "original"
reactivate_placement = "back"

[[hall]]
id = "m"
name = "Model hall"
tier = "township"

[[hall.service]]
id = "a"
name = "A"
prefix = "A"

[[hall.service]]
id = "b"
name = "B"
prefix = "B"

[[hall.service]]
id = "c"
name = "C"
prefix = "C"

[[hall.window]]
id = "w1"
name = "1"
services = ["a", "b"]

[[hall.window]]
id = "w2"
name = "2"
services = ["b", "c", "a"]

[[hall.window]]
id = "w3"
name = "3"
services = [{ service = "c", rank = 1 }, { service = "a", rank = 1 }]
"#;

#[derive(Debug, Clone)]
enum Op {
    Issue(usize, bool),
    CallNext(usize),
    CallSpecific(usize, usize),
    Recall(usize),
    Start(usize),
    Complete(usize),
    NoShow(usize),
    Release(usize),
    Park(usize),
    Return(usize),
    Cancel(usize),
    Transfer(usize, usize),
    Reactivate(usize),
    Close(usize),
    Open(usize),
    Advance(i64),
    /// The daemon restarts from the store.
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    let w = 0..3usize;
    let pick = 0..64usize;
    prop_oneof![
        6 => (0..3usize, prop::bool::weighted(0.3)).prop_map(|(s, p)| Op::Issue(s, p)),
        6 => w.clone().prop_map(Op::CallNext),
        1 => (w.clone(), pick.clone()).prop_map(|(w, t)| Op::CallSpecific(w, t)),
        1 => w.clone().prop_map(Op::Recall),
        2 => w.clone().prop_map(Op::Start),
        2 => w.clone().prop_map(Op::Complete),
        1 => w.clone().prop_map(Op::NoShow),
        1 => w.clone().prop_map(Op::Release),
        1 => w.clone().prop_map(Op::Park),
        1 => pick.clone().prop_map(Op::Return),
        1 => pick.clone().prop_map(Op::Cancel),
        1 => (w.clone(), 0..3usize).prop_map(|(w, s)| Op::Transfer(w, s)),
        1 => pick.prop_map(Op::Reactivate),
        1 => w.clone().prop_map(Op::Close),
        1 => w.prop_map(Op::Open),
        3 => prop_oneof![1i64..120, 600i64..2400, 3600i64..30_000].prop_map(Op::Advance),
        1 => Just(Op::Restart),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    Waiting,
    Called,
    Serving,
    Done,
    NoShow,
    Parked,
    Cancelled,
}

#[derive(Debug, Clone)]
struct MTicket {
    id: String,
    service: usize,
    priority: bool,
    status: St,
    order: i64,
    first_order: i64,
    since: i64,
    issued: i64,
    no_show_at: i64,
    calls: u8,
}

#[derive(Debug, Clone, Default)]
struct MWindow {
    open: bool,
    current: Option<usize>,
    run: u32,
}

struct Model {
    cfg: Arc<Hall>,
    day: Date,
    tickets: Vec<MTicket>,
    windows: Vec<MWindow>,
    next_order: i64,
    next_head: i64,
    issued: Vec<u32>,
}

impl Model {
    fn new(cfg: Arc<Hall>, now: Timestamp) -> Self {
        let windows = vec![MWindow::default(); cfg.windows.len()];
        Model {
            day: local_day(&cfg, now),
            issued: vec![0; cfg.services.len()],
            cfg,
            tickets: Vec::new(),
            windows,
            next_order: 0,
            next_head: i64::MIN / 2,
        }
    }

    fn roll(&mut self, now: Timestamp) {
        let day = local_day(&self.cfg, now);
        if day > self.day {
            self.day = day;
            self.tickets.clear();
            self.windows = vec![MWindow::default(); self.cfg.windows.len()];
            self.issued = vec![0; self.cfg.services.len()];
        }
    }

    /// The window's rank for a service, if it serves it.
    fn rank(&self, w: usize, s: usize) -> Option<u8> {
        self.cfg.windows[w]
            .services
            .iter()
            .find(|x| x.service == s)
            .map(|x| x.rank)
    }

    fn candidates(&self, w: usize) -> Vec<usize> {
        (0..self.tickets.len())
            .filter(|&i| {
                let t = &self.tickets[i];
                t.status == St::Waiting && self.rank(w, t.service).is_some()
            })
            .collect()
    }

    /// The calling policy, by linear scans.
    fn choose(&self, w: usize, now: i64) -> Option<(usize, CallReason)> {
        let c = self.candidates(w);
        let key = |i: &usize| {
            let t = &self.tickets[*i];
            (self.rank(w, t.service).unwrap(), t.order)
        };
        if let Some(&oldest) = c
            .iter()
            .min_by_key(|&&i| (self.tickets[i].since, self.tickets[i].order))
            && now - self.tickets[oldest].since >= MAX_WAIT_S
        {
            return Some((oldest, CallReason::Aged));
        }
        let prio: Vec<usize> = c
            .iter()
            .copied()
            .filter(|&i| self.tickets[i].priority)
            .collect();
        let normal: Vec<usize> = c
            .iter()
            .copied()
            .filter(|&i| !self.tickets[i].priority)
            .collect();
        if !prio.is_empty() && (normal.is_empty() || self.windows[w].run < K) {
            return prio
                .iter()
                .min_by_key(|i| key(i))
                .map(|&i| (i, CallReason::Priority));
        }
        let reason = if prio.is_empty() {
            CallReason::Fifo
        } else {
            CallReason::Ratio
        };
        normal.iter().min_by_key(|i| key(i)).map(|&i| (i, reason))
    }

    fn find(&self, id: &str) -> usize {
        self.tickets
            .iter()
            .position(|t| t.id == id)
            .expect("engine named a ticket the model does not know")
    }

    fn finish_current(&mut self, w: usize) {
        if let Some(c) = self.windows[w].current.take() {
            self.tickets[c].status = St::Done;
        }
    }

    fn waiting(&self, s: usize) -> usize {
        self.tickets
            .iter()
            .filter(|t| t.service == s && t.status == St::Waiting)
            .count()
    }
}

fn local_day(cfg: &Hall, now: Timestamp) -> Date {
    now.to_zoned_datetime(cfg.time_zone.clone()).date()
}

/// What the engine's events show, checked independently of the model.
#[derive(Default)]
struct Witness {
    /// Ticket → window holding it (called or serving).
    held: HashMap<String, String>,
    numbers: HashSet<(Date, String)>,
}

impl Witness {
    fn observe(&mut self, day: Date, events: &[Event]) {
        for e in events {
            match &e.body {
                EventBody::DayOpened { .. } => self.held.clear(),
                EventBody::Issued { ticket, .. } => assert!(
                    self.numbers.insert((day, ticket.number.clone())),
                    "number {} issued twice on {day}",
                    ticket.number
                ),
                EventBody::Called { call, .. } if call.reason != CallReason::Recall => {
                    if let Some(other) = self.held.get(&call.ticket) {
                        panic!(
                            "ticket {} called by {} while held by {other}",
                            call.ticket, call.window
                        );
                    }
                    self.held
                        .insert(call.ticket.clone(), call.window.to_string());
                }
                EventBody::Completed { ticket, .. }
                | EventBody::NoShow { ticket, .. }
                | EventBody::Transferred { ticket, .. }
                | EventBody::Parked { ticket, .. }
                | EventBody::Released { ticket, .. } => {
                    self.held.remove(&ticket.id);
                }
                _ => {}
            }
        }
    }
}

/// What the store writer would hold for the hall: its record and its tickets by id.
#[derive(Default)]
struct Store {
    hall: Option<Vec<u8>>,
    tickets: BTreeMap<String, Vec<u8>>,
}

impl Store {
    /// The records the engine changed, as a hall shard collects them for one batch.
    fn persist(&mut self, engine: &mut HallEngine) {
        let changes = engine.take_changes();
        if let Some(day) = changes.purge_before {
            let before = day.strftime("%Y%m%d").to_string();
            self.tickets.retain(|id, _| id.as_str() >= before.as_str());
        }
        for t in changes.tickets {
            let record = engine.ticket_record(t);
            self.tickets
                .insert(record.id.clone(), serde_json::to_vec(&record).unwrap());
        }
        if changes.hall {
            self.hall = Some(serde_json::to_vec(&engine.hall_record()).unwrap());
        }
    }

    /// The engine recovery builds from what is stored.
    fn restore(&self, cfg: Arc<Hall>, now: Timestamp) -> HallEngine {
        let hall: HallRecord = serde_json::from_slice(self.hall.as_ref().unwrap()).unwrap();
        let tickets: Vec<TicketRecord> = self
            .tickets
            .values()
            .map(|t| serde_json::from_slice(t).unwrap())
            .collect();
        let (engine, warnings) = HallEngine::restore(cfg, now, hall, tickets);
        assert!(warnings.is_empty(), "{warnings:?}");
        engine
    }
}

fn run(start: Timestamp, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let cfg = Config::from_toml("model.toml", HALL).unwrap().halls[0].clone();
    let mut engine = HallEngine::new(cfg.clone(), start);
    let mut model = Model::new(cfg.clone(), start);
    let mut witness = Witness::default();
    let mut now = start;
    let mut events = Vec::new();
    for w in 0..3 {
        engine
            .apply(
                now,
                Command::Window {
                    window: w,
                    action: WindowAction::Open { sign_in: None },
                },
                &mut events,
            )
            .unwrap();
        model.windows[w].open = true;
    }
    let mut store = Store::default();
    store.persist(&mut engine);

    for op in ops {
        now += 1.second();
        if let Op::Advance(s) = op {
            now += s.seconds();
            continue;
        }
        if let Op::Restart = op {
            engine = store.restore(cfg.clone(), now);
            continue;
        }
        model.roll(now);
        let n = now.as_second();
        let id_of = |m: &Model, i: usize| {
            m.tickets
                .get(i % m.tickets.len().max(1))
                .map(|t| t.id.clone())
        };
        let win = |window: usize, action: WindowAction| Command::Window { window, action };
        let before_choice = match op {
            Op::CallNext(w) if model.windows[w].open => Some(model.candidates(w)),
            _ => None,
        };

        let (cmd, expect_ok): (Command, bool) = match op.clone() {
            Op::Issue(s, p) => (
                Command::Issue {
                    service: s,
                    class: if p {
                        TicketClass::Priority
                    } else {
                        TicketClass::Normal
                    },
                    slot: None,
                    checked_in: true,
                },
                true,
            ),
            Op::CallNext(w) => (win(w, WindowAction::CallNext), model.windows[w].open),
            Op::CallSpecific(w, i) => {
                let Some(id) = id_of(&model, i) else { continue };
                let t = &model.tickets[model.find(&id)];
                let ok = model.windows[w].open
                    && t.status == St::Waiting
                    && model.rank(w, t.service).is_some();
                (win(w, WindowAction::Call { ticket: id }), ok)
            }
            Op::Recall(w) => {
                let ok = model.windows[w]
                    .current
                    .is_some_and(|c| model.tickets[c].status == St::Called);
                (win(w, WindowAction::Recall), ok)
            }
            Op::Start(w) | Op::NoShow(w) | Op::Release(w) => {
                let ok = model.windows[w]
                    .current
                    .is_some_and(|c| model.tickets[c].status == St::Called);
                let action = match op {
                    Op::Start(_) => WindowAction::Start,
                    Op::NoShow(_) => WindowAction::NoShow,
                    _ => WindowAction::Release,
                };
                (win(w, action), ok)
            }
            Op::Complete(w) => (
                win(w, WindowAction::Complete { evaluation: None }),
                model.windows[w].current.is_some(),
            ),
            Op::Park(w) => (
                win(w, WindowAction::Park),
                model.windows[w].current.is_some(),
            ),
            Op::Transfer(w, s) => {
                let ok = model.windows[w]
                    .current
                    .is_some_and(|c| model.tickets[c].service != s);
                (
                    win(
                        w,
                        WindowAction::Transfer {
                            service: s,
                            placement: None,
                        },
                    ),
                    ok,
                )
            }
            Op::Return(i) | Op::Cancel(i) | Op::Reactivate(i) => {
                let Some(id) = id_of(&model, i) else { continue };
                let t = &model.tickets[model.find(&id)];
                match op {
                    Op::Return(_) => (Command::Return { ticket: id }, t.status == St::Parked),
                    Op::Cancel(_) => (
                        Command::Cancel { ticket: id },
                        matches!(t.status, St::Waiting | St::Parked | St::NoShow),
                    ),
                    _ => (
                        Command::Reactivate { ticket: id },
                        t.status == St::NoShow && n - t.no_show_at <= REACTIVATE_S,
                    ),
                }
            }
            Op::Close(w) => (
                win(w, WindowAction::Close),
                model.windows[w].current.is_none(),
            ),
            Op::Open(w) => (win(w, WindowAction::Open { sign_in: None }), true),
            Op::Advance(_) | Op::Restart => unreachable!(),
        };

        events.clear();
        let got = engine.apply(now, cmd, &mut events);
        store.persist(&mut engine);
        witness.observe(engine.business_day(), &events);
        prop_assert_eq!(got.is_ok(), expect_ok, "{:?} gave {:?}", op, got);
        let Ok(reply) = got else { continue };

        match op {
            Op::Issue(s, p) => {
                let Reply::Issued(t) = reply else {
                    panic!("{reply:?}")
                };
                model.issued[s] += 1;
                prop_assert_eq!(&t.number, &cfg.services[s].format_number(model.issued[s]));
                model.next_order += 1;
                model.tickets.push(MTicket {
                    id: t.id,
                    service: s,
                    priority: p,
                    status: St::Waiting,
                    order: model.next_order,
                    first_order: model.next_order,
                    since: n,
                    issued: n,
                    no_show_at: 0,
                    calls: 0,
                });
            }
            Op::CallNext(w) | Op::CallSpecific(w, _) => {
                model.finish_current(w);
                let expected = match op {
                    Op::CallNext(_) => model.choose(w, n),
                    Op::CallSpecific(_, i) => Some((i % model.tickets.len(), CallReason::Specific)),
                    _ => unreachable!(),
                };
                match (&reply, expected) {
                    (Reply::NobodyWaiting, None) => {}
                    (Reply::Ticket(t), Some((i, reason))) => {
                        prop_assert_eq!(
                            &t.id,
                            &model.tickets[i].id,
                            "engine and model called different tickets"
                        );
                        prop_assert_eq!(t.reason, Some(reason));
                        if let Some(cands) = &before_choice {
                            check_policy(&model, w, i, reason, cands, n)?;
                        }
                        let pri = model.tickets[i].priority;
                        let tk = &mut model.tickets[i];
                        tk.status = St::Called;
                        tk.calls = 1;
                        model.windows[w].current = Some(i);
                        model.windows[w].run = if pri { model.windows[w].run + 1 } else { 0 };
                    }
                    (r, e) => prop_assert!(false, "engine {:?}, model {:?}", r, e),
                }
            }
            Op::Recall(w) => {
                let c = model.windows[w].current.unwrap();
                if model.tickets[c].calls > RECALL_LIMIT {
                    model.tickets[c].status = St::NoShow;
                    model.tickets[c].no_show_at = n;
                    model.windows[w].current = None;
                } else {
                    model.tickets[c].calls += 1;
                }
            }
            Op::Start(w) => model.tickets[model.windows[w].current.unwrap()].status = St::Serving,
            Op::Complete(w) => model.finish_current(w),
            Op::NoShow(w) => {
                let c = model.windows[w].current.take().unwrap();
                model.tickets[c].status = St::NoShow;
                model.tickets[c].no_show_at = n;
            }
            Op::Release(w) => {
                let c = model.windows[w].current.take().unwrap();
                let t = &mut model.tickets[c];
                t.status = St::Waiting;
                t.order = t.first_order;
            }
            Op::Park(w) => {
                let c = model.windows[w].current.take().unwrap();
                model.tickets[c].status = St::Parked;
            }
            Op::Transfer(w, s) => {
                let c = model.windows[w].current.take().unwrap();
                let t = &mut model.tickets[c];
                t.status = St::Waiting;
                t.service = s;
                t.order = t.first_order;
                t.since = t.issued;
            }
            Op::Return(i) => {
                model.next_head += 1;
                let len = model.tickets.len();
                let t = &mut model.tickets[i % len];
                t.status = St::Waiting;
                t.order = model.next_head;
                t.since = t.issued;
            }
            Op::Cancel(i) => {
                let len = model.tickets.len();
                model.tickets[i % len].status = St::Cancelled;
            }
            Op::Reactivate(i) => {
                model.next_order += 1;
                let len = model.tickets.len();
                let t = &mut model.tickets[i % len];
                t.status = St::Waiting;
                t.order = model.next_order;
                t.since = n;
            }
            Op::Close(w) => model.windows[w].open = false,
            Op::Open(w) => model.windows[w].open = true,
            Op::Advance(_) | Op::Restart => unreachable!(),
        }

        let snap = engine.snapshot(now);
        for (s, v) in snap.services.iter().enumerate() {
            prop_assert_eq!(
                v.waiting as usize,
                model.waiting(s),
                "waiting count of {}",
                v.id
            );
        }
    }
    Ok(())
}

/// The properties of one call, stated directly rather than through the model's policy.
fn check_policy(
    m: &Model,
    w: usize,
    chosen: usize,
    reason: CallReason,
    candidates: &[usize],
    now: i64,
) -> Result<(), TestCaseError> {
    let t = &m.tickets[chosen];
    let oldest = candidates.iter().map(|&i| m.tickets[i].since).min();
    if oldest.is_some_and(|since| now - since >= MAX_WAIT_S) {
        prop_assert_eq!(reason, CallReason::Aged, "an aged ticket was waiting");
        prop_assert_eq!(
            Some(t.since),
            oldest,
            "aged: the longest-waiting ticket goes first"
        );
        return Ok(());
    }
    let rank = m.rank(w, t.service).unwrap();
    for &i in candidates {
        let u = &m.tickets[i];
        if i != chosen && u.priority == t.priority && m.rank(w, u.service) == Some(rank) {
            prop_assert!(
                u.order > t.order,
                "FIFO within class and rank: {} waited ahead of {}",
                u.id,
                t.id
            );
        }
    }
    let normal_waiting = candidates.iter().any(|&i| !m.tickets[i].priority);
    if t.priority && normal_waiting {
        prop_assert!(
            m.windows[w].run < K,
            "a priority call after {} in a row while normal tickets wait",
            m.windows[w].run
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn engine_agrees_with_the_model(ops in prop::collection::vec(op(), 1..250)) {
        run("2026-11-23T01:00:00Z".parse().unwrap(), ops)?;
    }

    /// Starting an hour before local midnight, so sequences cross business days.
    #[test]
    fn engine_agrees_with_the_model_across_midnight(ops in prop::collection::vec(op(), 1..250)) {
        run("2026-11-23T15:00:00Z".parse().unwrap(), ops)?;
    }
}
