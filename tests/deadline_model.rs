//! The deadline engine against a plain model, over random sequences of case commands,
//! calendar replacements, clock advances and restarts.
//!
//! Each step is one pass of the case thread: one or more commands at one `now`, then
//! `advance(now)` and `take_changes()`, whose records go to an in-memory store with an open
//! and a closed table (a close moves the record, as the store writer does). A restart builds
//! a new engine from that store exactly as `server.rs` recovers: the stored calendar, then
//! every open record, in id order. After every command and every pass the engine must agree
//! with the model: the command's success or refusal, each case's state, deadline (counted by
//! the calendar for the model's inputs), provisional flag and first uncovered day, the fired
//! alarm levels, the alarms raised and cleared. And, whatever the model says:
//! - no alarm id is ever raised twice (each level fires at most once per arming);
//! - a closed case never comes back: replays answer it as stored, commands are refused.
//!
//! `CASES` (256 sequences of up to 80 steps, about 40 on average: some 500 replays of closed
//! ids and 850 restarts in all) finds the defects of issue 10 in its first or second sequence
//! when their fix is reverted: a closed case accepted again reopens (no closed lookup), or
//! does so only in an engine built by recovery (the start-up re-offer of a completed
//! rectification).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use hallq::calendar::{Calendar, Deadline, Limit, Suspension, SuspensionMode};
use hallq::config::Config;
use hallq::deadline::{
    CaseCommand, CaseError, CaseEvent, CaseEventBody, CaseRecord, CaseState, DeadlineEngine,
};
use hallq::localtime::LocalTime;
use hallq::model::Threshold;
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

const CASES: u32 = 256;

/// Three versions of calendar `c` an operator might load: 2026 only (the start), 2026 with a
/// different holiday, and 2026–2027 with 2027 holidays. Every one in Shanghai, 09–12, 13–17.
const CALENDARS: [&str; 3] = [
    r#"id = "c"
time_zone = "Asia/Shanghai"

[[year]]
year = 2026
notice = "model"
days = [
  { date = 2026-12-24, kind = "off", name = "x" },
  { date = 2026-12-26, kind = "work", name = "x" },
]
"#,
    r#"id = "c"
time_zone = "Asia/Shanghai"

[[year]]
year = 2026
notice = "model"
days = [
  { date = 2026-12-28, kind = "off", name = "x" },
  { date = 2026-12-29, kind = "off", name = "x" },
]
"#,
    r#"id = "c"
time_zone = "Asia/Shanghai"

[[year]]
year = 2026
notice = "model"
days = [
  { date = 2026-12-24, kind = "off", name = "x" },
  { date = 2026-12-26, kind = "work", name = "x" },
]

[[year]]
year = 2027
notice = "model"
days = [
  { date = 2027-01-01, kind = "off", name = "x" },
  { date = 2027-01-04, kind = "off", name = "x" },
  { date = 2027-01-09, kind = "work", name = "x" },
  { date = 2027-02-01, kind = "off", name = "x" },
]
"#,
];

const CONFIG: &str = r#"
[[hall]]
id = "h"
name = "H"
tier = "county"
time_zone = "Asia/Shanghai"

[[hall.service]]
id = "s"
name = "S"
prefix = "A"

[[hall.window]]
id = "w1"
name = "1"
services = ["s"]

[[hall]]
id = "g"
name = "G"
tier = "township"
parent = "h"
time_zone = "Asia/Shanghai"

[[hall.service]]
id = "s"
name = "S"
prefix = "A"

[[hall.window]]
id = "w1"
name = "1"
services = ["s"]

[[calendar]]
id = "c"
file = "CALENDAR_FILE"

[[alarm_policy]]
id = "standard"
levels = [
  { level = "yellow", remaining = "1wd" },
  { level = "red", remaining = "0wd" },
  { level = "escalate", overdue = "2wd" },
]

[[alarm_policy]]
id = "fast"
levels = [
  { level = "half", elapsed_percent = 50 },
  { level = "warn", remaining = "2wh" },
  { level = "red", remaining = "0ws" },
  { level = "late", overdue = "4wh" },
]

[[matter]]
id = "M3"
name = "3 working days"
kind = "promised"
limit = "3wd"
calendar = "c"

[[matter]]
id = "M10"
name = "10 days"
kind = "promised"
limit = "10d"
calendar = "c"

[[matter]]
id = "MH"
name = "12 working hours"
kind = "promised"
limit = "12wh"
calendar = "c"
alarm_policy = "fast"
"#;

const IDS: [&str; 4] = ["c0", "c1", "c2", "c3"];
const HALLS: [&str; 2] = ["h", "g"];
const MATTERS: [&str; 3] = ["M3", "M10", "MH"];
const SKEW_S: i64 = 300;

#[derive(Debug, Clone)]
enum Op {
    /// `back` seconds before now (negative: in the future).
    Accept {
        id: usize,
        hall: usize,
        matter: usize,
        back: i64,
    },
    Suspend {
        id: usize,
        restart: bool,
        back: i64,
    },
    Resume {
        id: usize,
        back: i64,
    },
    /// `unit`: 0 working days, 1 natural days, 2 working hours.
    Extend {
        id: usize,
        amount: u32,
        unit: u8,
    },
    Complete {
        id: usize,
        back: i64,
    },
    Withdraw {
        id: usize,
        back: i64,
    },
    Replace(usize),
    /// End the pass; the next starts `seconds` later.
    Advance(i64),
    /// End the pass, then restart from the store.
    Restart,
    /// End the pass.
    Commit,
}

fn op() -> impl Strategy<Value = Op> {
    let id = 0..IDS.len();
    let back = prop_oneof![
        6 => 0i64..3600,
        3 => 0i64..40 * 86_400,
        1 => 300i64..400 * 86_400,
        1 => -3600i64..0,
    ];
    let at = prop_oneof![8 => 0i64..120, 2 => 0i64..5 * 86_400, 1 => -900i64..0];
    prop_oneof![
        5 => (id.clone(), 0..HALLS.len(), 0..MATTERS.len(), back)
            .prop_map(|(id, hall, matter, back)| Op::Accept { id, hall, matter, back }),
        3 => (id.clone(), any::<bool>(), at.clone())
            .prop_map(|(id, restart, back)| Op::Suspend { id, restart, back }),
        3 => (id.clone(), at.clone()).prop_map(|(id, back)| Op::Resume { id, back }),
        2 => (id.clone(), 1u32..4, 0u8..3).prop_map(|(id, amount, unit)| Op::Extend { id, amount, unit }),
        2 => (id.clone(), at.clone()).prop_map(|(id, back)| Op::Complete { id, back }),
        1 => (id, at).prop_map(|(id, back)| Op::Withdraw { id, back }),
        1 => (0..CALENDARS.len()).prop_map(Op::Replace),
        4 => prop_oneof![1i64..3600, 3600i64..3 * 86_400, 5 * 86_400i64..30 * 86_400]
            .prop_map(Op::Advance),
        2 => Just(Op::Restart),
        3 => Just(Op::Commit),
    ]
}

/// The store: what the writer would have committed.
#[derive(Default)]
struct Store {
    open: BTreeMap<String, Vec<u8>>,
    closed: HashMap<String, CaseRecord>,
    /// The calendar replaced through the API, as TOML.
    calendar: Option<String>,
}

#[derive(Debug, Clone)]
struct MCase {
    hall: usize,
    matter: usize,
    accepted_at: Timestamp,
    state: CaseState,
    suspensions: Vec<Suspension>,
    extension: Option<Limit>,
    closed_at: Option<Timestamp>,
    /// Levels fired in the current arming, and how often each has fired.
    fired: [bool; 4],
    counts: [u8; 4],
}

struct Model {
    config: Arc<Config>,
    cal: Arc<Calendar>,
    cases: BTreeMap<String, MCase>,
    /// Alarm ids the commands of the current pass raised: a command that leaves a level due
    /// raises it at once (the engine's `arm_now`), the rest fire at the end of the pass.
    raised: Vec<String>,
}

/// What the model expects of a command: success (and whether it creates the case), or the
/// refusal's code and field.
#[derive(Debug, PartialEq)]
enum Expect {
    Ok { created: bool, state: CaseState },
    Err(&'static str, Option<&'static str>),
}

impl Model {
    fn limit(&self, c: &MCase) -> Limit {
        self.config.matters[c.matter].limit
    }

    fn deadline(&self, c: &MCase) -> Deadline {
        self.cal
            .deadline(c.accepted_at, self.limit(c), &c.suspensions, c.extension)
            .expect("the model's inputs are valid")
    }

    fn policy(&self, c: &MCase) -> &hallq::model::AlarmPolicy {
        &self.config.alarm_policies[self.config.matters[c.matter].policy]
    }

    /// The instant level `l` comes due, on the calendar's own arithmetic.
    fn level_at(&self, c: &MCase, due: &hallq::calendar::Due, l: usize) -> Option<Timestamp> {
        let cal = &self.cal;
        let r = match self.policy(c).levels[l].threshold {
            Threshold::Remaining(Limit::WorkingDays(n)) => {
                cal.when_working_days_remaining(due, i64::from(n))
            }
            Threshold::Remaining(x) => cal.when_remaining(due, i64::from(x.amount())),
            Threshold::Overdue(Limit::WorkingDays(n)) => {
                cal.when_working_days_remaining(due, -i64::from(n))
            }
            Threshold::Overdue(x) => cal.when_remaining(due, -i64::from(x.amount())),
            Threshold::ElapsedPercent(p) => {
                cal.when_remaining(due, due.remaining_at_elapsed_percent(p))
            }
        };
        r.ok()
    }

    fn alarm_id(&self, id: &str, c: &MCase, l: usize) -> String {
        format!("{id}/{}/{}", self.policy(c).levels[l].name, c.counts[l])
    }

    /// The ids of the levels fired in the current arming.
    fn fired_ids(&self, id: &str) -> Vec<String> {
        let c = &self.cases[id];
        let mut ids: Vec<String> = (0..self.policy(c).levels.len())
            .filter(|&l| c.fired[l])
            .map(|l| self.alarm_id(id, c, l))
            .collect();
        ids.sort();
        ids
    }

    /// After a change to the case's clock: clear the fired levels that no longer hold (while
    /// the clock runs); the ids cleared.
    fn rearm(&mut self, id: &str, now: Timestamp) -> Vec<String> {
        let c = self.cases[id].clone();
        let mut cleared = Vec::new();
        if let Deadline::Running(due) = self.deadline(&c) {
            for l in 0..self.policy(&c).levels.len() {
                if c.fired[l] && self.level_at(&c, &due, l).is_none_or(|at| at > now) {
                    cleared.push(self.alarm_id(id, &c, l));
                    self.cases.get_mut(id).unwrap().fired[l] = false;
                }
            }
        }
        cleared
    }

    /// What a `deadline_changed` reports: the running deadline and whether it is provisional.
    fn due_key(&self, id: &str) -> Option<(Timestamp, bool)> {
        let c = &self.cases[id];
        if c.state.is_closed() {
            return None;
        }
        match self.deadline(c) {
            Deadline::Running(d) => Some((d.at, d.provisional)),
            Deadline::Stopped(_) => None,
        }
    }

    /// Every level due by `now` fires, in ladder order; the ids raised.
    fn fire(&mut self, now: Timestamp) -> Vec<String> {
        let ids: Vec<String> = self.cases.keys().cloned().collect();
        ids.iter().flat_map(|id| self.fire_case(id, now)).collect()
    }

    /// The levels of one case due by `now` fire, in ladder order; the ids raised.
    fn fire_case(&mut self, id: &str, now: Timestamp) -> Vec<String> {
        let mut raised = Vec::new();
        let c = self.cases[id].clone();
        if c.state.is_closed() {
            return raised;
        }
        let Deadline::Running(due) = self.deadline(&c) else {
            return raised;
        };
        for l in 0..self.policy(&c).levels.len() {
            if !c.fired[l] && self.level_at(&c, &due, l).is_some_and(|at| at <= now) {
                let m = self.cases.get_mut(id).unwrap();
                m.fired[l] = true;
                m.counts[l] += 1;
                let m = self.cases[id].clone();
                raised.push(self.alarm_id(id, &m, l));
            }
        }
        raised
    }

    /// The last instant a stage event may not precede.
    fn last_boundary(c: &MCase) -> Timestamp {
        c.suspensions
            .last()
            .map(|s| s.until.unwrap_or(s.from))
            .unwrap_or(c.accepted_at)
    }

    /// Apply `op` to the model at `now`: what the engine must answer, the alarm ids it must
    /// clear, and the cases whose deadline it must report changed.
    fn apply(&mut self, op: &Op, now: Timestamp) -> (Expect, Vec<String>, Vec<String>) {
        let future = |at: Timestamp| at > now + SignedDuration::from_secs(SKEW_S);
        let at_of = |back: i64| now - SignedDuration::from_secs(back);
        let open = |m: &Model, id: &str| -> Result<MCase, Expect> {
            match m.cases.get(id) {
                None => Err(Expect::Err("unknown-case", Some("id"))),
                Some(c) if c.state.is_closed() => Err(Expect::Err("case-closed", None)),
                Some(c) => Ok(c.clone()),
            }
        };
        let ok = |m: &Model, id: &str, created| Expect::Ok {
            created,
            state: m.cases[id].state,
        };
        let changed = |m: &mut Model, id: &str, before, after_edit: MCase| {
            m.cases.insert(id.to_owned(), after_edit);
            let cleared = m.rearm(id, now);
            let raised = m.fire_case(id, now);
            m.raised.extend(raised);
            let moved = if m.due_key(id) != before {
                vec![id.to_owned()]
            } else {
                vec![]
            };
            (ok(m, id, false), cleared, moved)
        };
        match *op {
            Op::Accept {
                id,
                hall,
                matter,
                back,
            } => {
                let id = IDS[id];
                let accepted_at = at_of(back);
                if let Some(c) = self.cases.get(id) {
                    let field = if c.hall != hall {
                        Some("hall")
                    } else if c.matter != matter {
                        Some("matter")
                    } else if c.accepted_at != accepted_at {
                        Some("accepted_at")
                    } else {
                        None
                    };
                    return match field {
                        Some(f) => (Expect::Err("case-exists", Some(f)), vec![], vec![]),
                        None => (ok(self, id, false), vec![], vec![]),
                    };
                }
                if future(accepted_at) {
                    return (
                        Expect::Err("in-the-future", Some("accepted_at")),
                        vec![],
                        vec![],
                    );
                }
                self.cases.insert(
                    id.to_owned(),
                    MCase {
                        hall,
                        matter,
                        accepted_at,
                        state: CaseState::Open,
                        suspensions: Vec::new(),
                        extension: None,
                        closed_at: None,
                        fired: [false; 4],
                        counts: [0; 4],
                    },
                );
                let raised = self.fire_case(id, now);
                self.raised.extend(raised);
                (ok(self, id, true), vec![], vec![])
            }
            Op::Suspend { id, restart, back } => {
                let id = IDS[id];
                let mut c = match open(self, id) {
                    Ok(c) => c,
                    Err(e) => return (e, vec![], vec![]),
                };
                let at = at_of(back);
                if c.state == CaseState::Suspended {
                    return (Expect::Err("already-suspended", None), vec![], vec![]);
                }
                if future(at) {
                    return (Expect::Err("in-the-future", Some("at")), vec![], vec![]);
                }
                if at < Self::last_boundary(&c) {
                    return (Expect::Err("out-of-order", Some("at")), vec![], vec![]);
                }
                let before = self.due_key(id);
                c.suspensions.push(Suspension {
                    from: at,
                    until: None,
                    mode: if restart {
                        SuspensionMode::Restart
                    } else {
                        SuspensionMode::Pause
                    },
                });
                c.state = CaseState::Suspended;
                changed(self, id, before, c)
            }
            Op::Resume { id, back } => {
                let id = IDS[id];
                let mut c = match open(self, id) {
                    Ok(c) => c,
                    Err(e) => return (e, vec![], vec![]),
                };
                let at = at_of(back);
                if c.state != CaseState::Suspended {
                    return (Expect::Err("not-suspended", None), vec![], vec![]);
                }
                if future(at) {
                    return (Expect::Err("in-the-future", Some("at")), vec![], vec![]);
                }
                if at < Self::last_boundary(&c) {
                    return (Expect::Err("out-of-order", Some("at")), vec![], vec![]);
                }
                let before = self.due_key(id);
                c.suspensions.last_mut().unwrap().until = Some(at);
                c.state = CaseState::Open;
                changed(self, id, before, c)
            }
            Op::Extend { id, amount, unit } => {
                let id = IDS[id];
                let mut c = match open(self, id) {
                    Ok(c) => c,
                    Err(e) => return (e, vec![], vec![]),
                };
                let extra = extension(amount, unit);
                let base = self.limit(&c);
                if std::mem::discriminant(&base) != std::mem::discriminant(&extra) {
                    return (
                        Expect::Err("extension-unit", Some("amount")),
                        vec![],
                        vec![],
                    );
                }
                // At most the stage's limit in all (no matter here sets `max_extension`).
                let total = match c.extension {
                    None => extra,
                    Some(e) => e.checked_add(extra).unwrap(),
                };
                if total.amount() > base.amount() {
                    return (
                        Expect::Err("extension-over-limit", Some("amount")),
                        vec![],
                        vec![],
                    );
                }
                let before = self.due_key(id);
                c.extension = Some(total);
                changed(self, id, before, c)
            }
            Op::Complete { id, back } | Op::Withdraw { id, back } => {
                let id = IDS[id];
                let c = match open(self, id) {
                    Ok(c) => c,
                    Err(e) => return (e, vec![], vec![]),
                };
                let at = at_of(back);
                if future(at) {
                    return (Expect::Err("in-the-future", Some("at")), vec![], vec![]);
                }
                let mut c = c;
                c.state = match op {
                    Op::Complete { .. } => CaseState::Completed,
                    _ => CaseState::Withdrawn,
                };
                c.closed_at = Some(at);
                self.cases.insert(id.to_owned(), c);
                (ok(self, id, false), vec![], vec![])
            }
            Op::Replace(_) | Op::Advance(_) | Op::Restart | Op::Commit => {
                unreachable!("not a case command")
            }
        }
    }

    /// A new calendar: every open case is recounted and re-armed.
    fn replace(&mut self, cal: Arc<Calendar>, now: Timestamp) -> (Vec<String>, Vec<String>) {
        let open: Vec<String> = self
            .cases
            .iter()
            .filter(|(_, c)| !c.state.is_closed())
            .map(|(id, _)| id.clone())
            .collect();
        let before: HashMap<String, Option<(Timestamp, bool)>> = open
            .iter()
            .map(|id| (id.clone(), self.due_key(id)))
            .collect();
        self.cal = cal;
        let (mut cleared, mut moved) = (Vec::new(), Vec::new());
        for id in open {
            cleared.extend(self.rearm(&id, now));
            let raised = self.fire_case(&id, now);
            self.raised.extend(raised);
            if self.due_key(&id) != before[&id] {
                moved.push(id);
            }
        }
        (cleared, moved)
    }
}

fn extension(amount: u32, unit: u8) -> Limit {
    match unit {
        0 => Limit::WorkingDays(amount),
        1 => Limit::NaturalDays(amount),
        _ => Limit::WorkingSeconds(amount * 3600),
    }
}

fn command(config: &Config, op: &Op, now: Timestamp) -> CaseCommand {
    let at = |back: i64| now - SignedDuration::from_secs(back);
    match *op {
        Op::Accept {
            id,
            hall,
            matter,
            back,
        } => CaseCommand::Accept {
            id: IDS[id].into(),
            hall: config.hall_index(HALLS[hall]).unwrap(),
            matter: config.matter_index(MATTERS[matter]).unwrap(),
            accepted_at: at(back),
            origin: None,
            applicant: None,
            bundle: None,
        },
        Op::Suspend { id, restart, back } => CaseCommand::Suspend {
            id: IDS[id].into(),
            reason: config
                .suspension_index(if restart { "supplement" } else { "hearing" })
                .unwrap(),
            at: at(back),
            missing: Vec::new(),
        },
        Op::Resume { id, back } => CaseCommand::Resume {
            id: IDS[id].into(),
            at: at(back),
        },
        Op::Extend { id, amount, unit } => CaseCommand::Extend {
            id: IDS[id].into(),
            amount: extension(amount, unit),
            reason: "model".into(),
            approver: "model".into(),
        },
        Op::Complete { id, back } => CaseCommand::Complete {
            id: IDS[id].into(),
            at: at(back),
            closing: None,
        },
        Op::Withdraw { id, back } => CaseCommand::Withdraw {
            id: IDS[id].into(),
            reason: "model".into(),
            at: at(back),
        },
        _ => unreachable!("not a case command"),
    }
}

fn alarm_ids(events: &[CaseEvent]) -> (Vec<String>, Vec<String>) {
    let (mut raised, mut cleared) = (Vec::new(), Vec::new());
    for e in events {
        match &e.body {
            CaseEventBody::Alarm(a) => raised.push(a.id.clone()),
            CaseEventBody::Cleared { id, .. } => cleared.push(id.clone()),
            _ => {}
        }
    }
    raised.sort();
    cleared.sort();
    (raised, cleared)
}

fn moved_cases(events: &[CaseEvent]) -> Vec<String> {
    let mut moved: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.body {
            CaseEventBody::DeadlineChanged { case, .. } => Some(case.clone()),
            _ => None,
        })
        .collect();
    moved.sort();
    moved
}

/// What the engine answered, in the model's terms.
fn got(r: &Result<(hallq::deadline::CaseView, bool), CaseError>) -> Expect {
    match r {
        Ok((v, created)) => Expect::Ok {
            created: *created,
            state: v.state,
        },
        Err(e) => Expect::Err(e.code(), e.field()),
    }
}

struct Run {
    config: Arc<Config>,
    calendars: Vec<Arc<Calendar>>,
    engine: DeadlineEngine,
    model: Model,
    store: Store,
    now: Timestamp,
    /// Every alarm id ever raised.
    raised: HashSet<String>,
    /// Events of the current pass.
    events: Vec<CaseEvent>,
    /// What the model expects the pass to clear.
    cleared: Vec<String>,
}

impl Run {
    fn new(start: Timestamp, dir: &std::path::Path) -> Run {
        let file = dir.join("c.toml");
        std::fs::write(&file, CALENDARS[0]).unwrap();
        let text = CONFIG.replace("CALENDAR_FILE", file.to_str().unwrap());
        let config = Arc::new(Config::from_toml("model.toml", &text).unwrap());
        let calendars: Vec<Arc<Calendar>> = CALENDARS
            .iter()
            .map(|t| Arc::new(Calendar::from_toml("c.toml", t).unwrap()))
            .collect();
        Run {
            engine: DeadlineEngine::new(config.catalogue.clone(), start),
            model: Model {
                config: config.clone(),
                cal: calendars[0].clone(),
                cases: BTreeMap::new(),
                raised: Vec::new(),
            },
            config,
            calendars,
            store: Store::default(),
            now: start,
            raised: HashSet::new(),
            events: Vec::new(),
            cleared: Vec::new(),
        }
    }

    /// End the pass: raise what is due, hand the changes to the store, check everything.
    fn commit(&mut self) -> Result<(), TestCaseError> {
        let mut fired = Vec::new();
        self.engine.advance(self.now, &mut fired);
        self.events.extend(fired);
        let expected_raised = {
            let mut r = std::mem::take(&mut self.model.raised);
            r.extend(self.model.fire(self.now));
            r.sort();
            r
        };
        let (raised, cleared) = alarm_ids(&self.events);
        prop_assert_eq!(&raised, &expected_raised, "alarms raised at {}", self.now);
        let mut expected_cleared = std::mem::take(&mut self.cleared);
        expected_cleared.sort();
        prop_assert_eq!(
            &cleared,
            &expected_cleared,
            "alarms cleared at {}",
            self.now
        );
        for id in raised {
            prop_assert!(self.raised.insert(id.clone()), "alarm {} raised twice", id);
        }
        self.events.clear();

        for change in self.engine.take_changes() {
            let id = change.record.id.clone();
            let json = serde_json::to_vec(&change.record).unwrap();
            if change.closed {
                self.store.open.remove(&id);
                self.store
                    .closed
                    .insert(id, serde_json::from_slice(&json).unwrap());
            } else {
                self.store.open.insert(id, json);
            }
        }
        self.check()
    }

    /// Every case of the model, as the engine and the store have it.
    fn check(&self) -> Result<(), TestCaseError> {
        prop_assert_eq!(
            self.engine.len(),
            self.model
                .cases
                .values()
                .filter(|c| !c.state.is_closed())
                .count(),
            "open cases held"
        );
        for (id, c) in &self.model.cases {
            let view = self.engine.get(id, self.now);
            if c.state.is_closed() {
                prop_assert!(view.is_none(), "closed case {} left the engine", id);
                prop_assert!(!self.store.open.contains_key(id));
                let r = self.store.closed.get(id);
                prop_assert!(r.is_some(), "closed case {} is in the closed table", id);
                let r = r.unwrap();
                prop_assert_eq!(r.state, c.state);
                prop_assert_eq!(r.closed_at, c.closed_at);
                prop_assert_eq!(r.accepted_at, c.accepted_at);
                continue;
            }
            prop_assert!(view.is_some(), "open case {} is held", id);
            let v = view.unwrap();
            prop_assert!(self.store.open.contains_key(id));
            prop_assert_eq!(v.state, c.state, "state of {}", id);
            let (deadline, first_uncovered) = match self.model.deadline(c) {
                // Shown in the hall's offset: every hall of the model is in Shanghai.
                Deadline::Running(d) => (
                    Some(LocalTime::with_offset(d.at, jiff::tz::offset(8))),
                    d.first_uncovered,
                ),
                Deadline::Stopped(_) => (None, None),
            };
            prop_assert_eq!(v.deadline, deadline, "deadline of {}", id);
            prop_assert_eq!(v.provisional, first_uncovered.is_some(), "{}", id);
            prop_assert_eq!(
                v.provisional_reason.map(|r| r.first_uncovered_day),
                first_uncovered,
                "first uncovered day of {}",
                id
            );
            let mut alarms = v.alarms.clone();
            alarms.sort();
            prop_assert_eq!(alarms, self.model.fired_ids(id), "fired levels of {}", id);
        }
        Ok(())
    }

    /// The daemon restarts: a new engine from the store, as `server.rs` recovers.
    fn restart(&mut self) {
        let mut engine = DeadlineEngine::new(self.config.catalogue.clone(), self.now);
        if let Some(toml) = &self.store.calendar {
            let cal = Calendar::from_toml("stored calendar c", toml).unwrap();
            assert!(engine.use_calendar(Arc::new(cal)));
        }
        engine.reserve(self.store.open.len());
        for json in self.store.open.values() {
            let record: CaseRecord = serde_json::from_slice(json).unwrap();
            engine.restore(record).unwrap();
        }
        self.engine = engine;
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match op {
            Op::Commit => self.commit(),
            Op::Advance(s) => {
                self.commit()?;
                self.now += SignedDuration::from_secs(*s);
                Ok(())
            }
            Op::Restart => {
                self.commit()?;
                self.restart();
                self.check()
            }
            Op::Replace(v) => {
                let mut out = Vec::new();
                let r = self.engine.replace_calendar(
                    self.now,
                    "c",
                    self.calendars[*v].clone(),
                    &mut out,
                );
                prop_assert!(r.is_ok(), "a calendar is never refused: {:?}", r);
                self.store.calendar = Some(CALENDARS[*v].to_owned());
                let (cleared, mut moved) = self.model.replace(self.calendars[*v].clone(), self.now);
                moved.sort();
                prop_assert_eq!(moved_cases(&out), moved, "deadline_changed on {:?}", op);
                self.cleared.extend(cleared);
                self.events.extend(out);
                Ok(())
            }
            _ => {
                let cmd = command(&self.config, op, self.now);
                let mut out = Vec::new();
                let r = self
                    .engine
                    .apply(self.now, cmd, &self.store.closed, &mut out);
                let (expect, cleared, mut moved) = self.model.apply(op, self.now);
                prop_assert_eq!(got(&r), expect, "{:?} at {} gave {:?}", op, self.now, r);
                if let Ok((v, false)) = &r
                    && matches!(op, Op::Accept { .. })
                {
                    prop_assert!(out.is_empty(), "a replay of {} emits nothing", v.id);
                }
                moved.sort();
                prop_assert_eq!(moved_cases(&out), moved, "deadline_changed on {:?}", op);
                self.cleared.extend(cleared);
                self.events.extend(out);
                Ok(())
            }
        }
    }
}

fn run(start: &str, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let mut r = Run::new(start.parse().unwrap(), dir.path());
    for op in &ops {
        r.step(op)?;
    }
    r.commit()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    /// Starting on a Friday morning five weeks before calendar `c` runs out.
    #[test]
    fn the_engine_agrees_with_the_model_across_restarts_and_the_horizon(
        ops in prop::collection::vec(op(), 1..80)
    ) {
        run("2026-11-20T01:00:00Z", ops)?;
    }
}
