//! `DeadlineEngine`: open cases, their deadlines and alarm timers.

use std::hash::BuildHasher;

use hashbrown::HashTable;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};

use super::*;
use crate::calendar::{Calendar, CalendarError, Deadline, Due, Suspension, SuspensionMode};
use crate::config::{Config, Threshold};
use crate::localtime::LocalTime;
use crate::wheel::{TimerKey, TimingWheel};

/// How far in the future a client's clock may be when it reports `accepted_at` or `at`.
const CLOCK_SKEW: SignedDuration = SignedDuration::from_mins(5);

#[derive(Debug, Clone)]
pub(crate) struct SuspensionRec {
    pub reason: u16,
    pub from: Timestamp,
    pub until: Option<Timestamp>,
}

#[derive(Debug, Clone)]
pub(crate) struct ExtensionRec {
    pub amount: Limit,
    pub reason: String,
    pub approver: String,
    pub at: Timestamp,
}

/// What few cases have; boxed so the common case stays small.
#[derive(Debug, Clone, Default)]
pub(crate) struct Extra {
    /// Suspensions and extensions of the current stage.
    pub suspensions: Vec<SuspensionRec>,
    pub extensions: Vec<ExtensionRec>,
    /// A joint child's lead.
    pub lead: Option<Box<str>>,
    /// A joint lead's children, and how many are still open.
    pub children: Vec<Box<str>>,
    pub open_children: u16,
}

#[derive(Debug, Clone)]
pub(crate) struct Case {
    pub id: Box<str>,
    pub hall: u32,
    pub matter: u32,
    /// A joint child's department (position in the matter's departments).
    pub dept: Option<u16>,
    pub state: CaseState,
    pub stage: Stage,
    pub accepted_at: Timestamp,
    /// When the current stage started: acceptance, or forwarding to the upper hall.
    pub stage_start: Timestamp,
    /// The running deadline; `None` while the clock is stopped.
    pub due: Option<Due>,
    /// Bit `l`: level `l` of the matter's ladder has fired in the current arming.
    pub fired: u8,
    /// Times each level has fired for this case: the `n` of alarm ids.
    pub counts: [u8; 8],
    pub timer: Option<TimerKey>,
    pub closed_at: Option<Timestamp>,
    pub extra: Option<Box<Extra>>,
    /// The (hall, level) this case is counted under in `open_levels`, if it is counted.
    pub counted: Option<(u32, u8)>,
}

/// "No level fired yet" in level counts.
pub(super) const NO_LEVEL: u8 = u8::MAX;

impl Case {
    pub(super) fn extra(&self) -> &Extra {
        static EMPTY: std::sync::OnceLock<Extra> = std::sync::OnceLock::new();
        self.extra
            .as_deref()
            .unwrap_or_else(|| EMPTY.get_or_init(Extra::default))
    }

    pub(super) fn extra_mut(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Default::default)
    }
}

/// Open cases by id, without storing the id twice: the table holds slab positions and
/// compares against the id in the slab. At ten million cases a `HashMap<Box<str>, u32>`'s
/// second copy of every id was a sixth of the memory.
#[derive(Default)]
pub(crate) struct CaseIndex {
    table: HashTable<u32>,
    /// foldhash with a per-process seed (hashbrown's default): several times faster than
    /// SipHash on short ids, which recovery hashes ten million of.
    hasher: hashbrown::DefaultHashBuilder,
}

impl CaseIndex {
    fn hash(&self, id: &str) -> u64 {
        self.hasher.hash_one(id)
    }

    fn get(&self, cases: &[Option<Case>], id: &str) -> Option<u32> {
        let id_of = |i: &u32| cases[*i as usize].as_ref().is_some_and(|c| &*c.id == id);
        self.table.find(self.hash(id), id_of).copied()
    }

    /// Index the case at `idx` (already in the slab, not yet indexed).
    fn insert(&mut self, cases: &[Option<Case>], idx: u32) {
        let id = &cases[idx as usize].as_ref().expect("inserted case").id;
        let hasher = &self.hasher;
        let rehash =
            |i: &u32| hasher.hash_one(&*cases[*i as usize].as_ref().expect("indexed case").id);
        self.table.insert_unique(self.hash(id), idx, rehash);
    }

    fn remove(&mut self, id: &str, idx: u32) {
        if let Ok(entry) = self.table.find_entry(self.hash(id), |i| *i == idx) {
            entry.remove();
        }
    }

    fn len(&self) -> usize {
        self.table.len()
    }

    fn reserve(&mut self, cases: &[Option<Case>], more: usize) {
        let hasher = &self.hasher;
        self.table.reserve(more, |i: &u32| {
            hasher.hash_one(&*cases[*i as usize].as_ref().expect("indexed case").id)
        });
    }
}

/// What a command acted on: a case the engine holds (and whether it was just created), or a
/// closed case an acceptance replayed, as stored.
enum Target {
    Held(u32, bool),
    Closed(Box<CaseView>),
}

/// How a case closes.
enum Closing {
    Completed,
    Withdrawn(String),
}

/// What a calendar replacement did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Recomputed {
    /// Open cases counted on the calendar.
    pub cases: usize,
    /// Of those, cases whose deadline moved.
    pub changed: usize,
    /// Of those, cases whose deadline is still provisional (counted past the new calendar's
    /// years).
    pub provisional: usize,
}

/// A stored change the caller persists: the case's current record, and whether it closed
/// (then it leaves the engine and goes to the closed-case table).
#[derive(Debug)]
pub struct CaseChange {
    pub record: CaseRecord,
    pub closed: bool,
}

pub struct DeadlineEngine {
    pub(crate) config: Arc<Config>,
    /// Current calendars, by position in `Config::calendars`; replaceable at run time.
    pub calendars: Vec<Arc<Calendar>>,
    /// Open cases; `None` slots are free and listed in `free`.
    pub(crate) cases: Vec<Option<Case>>,
    pub(super) free: Vec<u32>,
    pub(crate) index: CaseIndex,
    pub(super) wheel: TimingWheel<u32>,
    pub(super) dirty: Vec<u32>,
    /// Open cases per (hall, alarm policy, current level): the `hallq_cases_open` gauge.
    pub(super) open_levels: hashbrown::HashMap<(u32, u16, u8), i64>,
}

pub(super) fn secs(t: Timestamp) -> u64 {
    t.as_second().max(0) as u64
}

/// The wheel has one-second resolution: an instant fires in the second that contains it, and
/// never before it, so round up.
pub(super) fn timer_second(t: Timestamp) -> u64 {
    let s = secs(t);
    if t.subsec_nanosecond() > 0 { s + 1 } else { s }
}

impl DeadlineEngine {
    pub fn new(config: Arc<Config>, now: Timestamp) -> Self {
        DeadlineEngine {
            calendars: config
                .calendars
                .iter()
                .map(|c| c.calendar.clone())
                .collect(),
            config,
            cases: Vec::new(),
            free: Vec::new(),
            index: CaseIndex::default(),
            wheel: TimingWheel::new(secs(now)),
            dirty: Vec::new(),
            open_levels: hashbrown::HashMap::new(),
        }
    }

    /// Keep `open_levels` in step with case `idx`: counted under its hall and current level
    /// while open, not at all once closed.
    pub(super) fn account(&mut self, idx: u32) {
        let c = self.case(idx);
        let policy = self.config.matters[c.matter as usize].policy as u16;
        let level = (0..8u8)
            .rev()
            .find(|l| c.fired & (1 << l) != 0)
            .unwrap_or(NO_LEVEL);
        let now = (!c.state.is_closed()).then_some((c.hall, level));
        if now == c.counted {
            return;
        }
        if let Some((h, l)) = c.counted {
            *self.open_levels.entry((h, policy, l)).or_default() -= 1;
        }
        if let Some((h, l)) = now {
            *self.open_levels.entry((h, policy, l)).or_default() += 1;
        }
        self.case_mut(idx).counted = now;
    }

    /// Open cases per hall and level name (`none` before any level fired).
    pub fn open_by_level(&self) -> Vec<(usize, Arc<str>, i64)> {
        self.open_levels
            .iter()
            .map(|(&(hall, policy, level), &n)| {
                let name = if level == NO_LEVEL {
                    Arc::from("none")
                } else {
                    self.config.alarm_policies[policy as usize].levels[level as usize]
                        .name
                        .clone()
                };
                (hall as usize, name, n)
            })
            .collect()
    }

    /// Make room for `more` cases (recovery knows how many it will restore), so neither the
    /// slab nor the index grows and rehashes while ten million are loaded.
    pub fn reserve(&mut self, more: usize) {
        self.cases.reserve(more);
        self.index.reserve(&self.cases, more);
        self.wheel.reserve(more);
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.len() == 0
    }

    /// Pending timers (one per running case).
    pub fn pending(&self) -> usize {
        self.wheel.len()
    }

    /// When `advance` must next run.
    pub fn next_wakeup(&self) -> Option<Timestamp> {
        self.wheel
            .next_expiry()
            .and_then(|s| Timestamp::from_second(s as i64).ok())
    }

    pub fn calendar(&self, id: &str) -> Option<&Arc<Calendar>> {
        self.config.calendar_index(id).map(|i| &self.calendars[i])
    }

    /// Use `calendar` instead of the config's before any case is restored (a calendar
    /// replaced through the API before the last restart). False if the config has no such id.
    pub fn use_calendar(&mut self, calendar: Arc<Calendar>) -> bool {
        match self.config.calendar_index(calendar.id()) {
            Some(pos) => {
                self.calendars[pos] = calendar;
                true
            }
            None => false,
        }
    }

    /// `at` as the API shows it: in the time zone of hall `hall` (a position in the config).
    pub(super) fn local(&self, hall: u32, at: Timestamp) -> LocalTime {
        LocalTime::new(at, &self.config.halls[hall as usize].time_zone)
    }

    pub(super) fn case(&self, idx: u32) -> &Case {
        self.cases[idx as usize]
            .as_ref()
            .expect("index points at a live case")
    }

    pub(super) fn case_mut(&mut self, idx: u32) -> &mut Case {
        self.cases[idx as usize]
            .as_mut()
            .expect("index points at a live case")
    }

    /// The slab position of the open case `id`.
    pub(super) fn lookup(&self, id: &str) -> Option<u32> {
        self.index.get(&self.cases, id)
    }

    /// Position of the calendar a case of `matter` at `hall` counts on.
    pub(super) fn calendar_of(&self, hall: u32, matter: u32) -> Result<usize, CaseError> {
        let m = &self.config.matters[matter as usize];
        let h = &self.config.halls[hall as usize];
        m.calendar
            .or(h.calendar)
            .ok_or_else(|| CaseError::NoCalendar {
                hall: h.id.to_string(),
            })
    }

    /// The limit of the case's current stage, before extensions.
    pub(super) fn base_limit(&self, c: &Case) -> Limit {
        let m = &self.config.matters[c.matter as usize];
        match (c.dept, c.stage) {
            (Some(d), _) => m.departments[d as usize].limit,
            (None, Stage::Forwarding) => m.stage_limit.unwrap_or(m.limit),
            _ => m.limit,
        }
    }

    /// The deadline of `c` as it stands (or would stand, for tentative changes).
    pub(super) fn compute(&self, c: &Case) -> Result<Deadline, CaseError> {
        let cal = &self.calendars[self.calendar_of(c.hall, c.matter)?];
        let extra = c.extra();
        let suspensions: Vec<Suspension> = extra
            .suspensions
            .iter()
            .map(|s| Suspension {
                from: s.from,
                until: s.until,
                mode: self.config.suspension_reasons[s.reason as usize].mode,
            })
            .collect();
        let base = self.base_limit(c);
        // Extensions add up in the limit's unit; one in another unit is refused, not dropped.
        let mut extension: Option<Limit> = None;
        for e in &extra.extensions {
            let sum = extension.map_or(Some(e.amount), |a| a.checked_add(e.amount));
            extension = Some(sum.ok_or_else(|| {
                let calendar = cal.id().to_owned();
                if std::mem::discriminant(&base) == std::mem::discriminant(&e.amount) {
                    CalendarError::ExtensionTooLong {
                        calendar,
                        limit: base,
                        extension: e.amount,
                    }
                } else {
                    CalendarError::ExtensionUnit {
                        calendar,
                        limit: base,
                        extension: e.amount,
                    }
                }
            })?);
        }
        Ok(cal.deadline(c.stage_start, base, &suspensions, extension)?)
    }

    fn level_instant(&self, c: &Case, due: &Due, level: usize) -> Option<Timestamp> {
        let cal = &self.calendars[self.calendar_of(c.hall, c.matter).ok()?];
        let policy = &self.config.alarm_policies[self.config.matters[c.matter as usize].policy];
        let r = match policy.levels[level].threshold {
            Threshold::Remaining(Limit::WorkingDays(n)) => {
                cal.when_working_days_remaining(due, i64::from(n))
            }
            Threshold::Remaining(l) => cal.when_remaining(due, i64::from(l.amount())),
            Threshold::Overdue(Limit::WorkingDays(n)) => {
                cal.when_working_days_remaining(due, -i64::from(n))
            }
            Threshold::Overdue(l) => cal.when_remaining(due, -i64::from(l.amount())),
            Threshold::ElapsedPercent(p) => {
                cal.when_remaining(due, due.remaining_at_elapsed_percent(p))
            }
        };
        r.ok()
    }

    fn levels(&self, c: &Case) -> usize {
        self.config.alarm_policies[self.config.matters[c.matter as usize].policy]
            .levels
            .len()
    }

    pub(super) fn alarm_id(&self, c: &Case, level: usize) -> String {
        let name = &self.config.alarm_policies[self.config.matters[c.matter as usize].policy]
            .levels[level]
            .name;
        format!("{}/{}/{}", c.id, name, c.counts[level])
    }

    /// Set the case's timer to its earliest unfired level, if the clock runs.
    pub(super) fn arm(&mut self, idx: u32) {
        if let Some(key) = self.case_mut(idx).timer.take() {
            self.wheel.cancel(key);
        }
        let c = self.case(idx);
        if c.state.is_closed() {
            return;
        }
        let Some(due) = c.due else { return };
        let next = (0..self.levels(c))
            .filter(|l| c.fired & (1 << l) == 0)
            .filter_map(|l| self.level_instant(c, &due, l))
            .min();
        if let Some(at) = next {
            let key = self.wheel.insert(timer_second(at), idx);
            self.case_mut(idx).timer = Some(key);
        }
    }

    /// Raise the levels already due, then set the timer for the next one. A case accepted or
    /// moved past a threshold (accepted late, resumed after its deadline, shortened by a new
    /// calendar) shows those alarms in the answer of the request that did it, and they are
    /// stored in the same batch, rather than one pass later.
    pub(super) fn arm_now(&mut self, idx: u32, now: Timestamp, out: &mut Vec<CaseEvent>) {
        self.fire_due(idx, now, out);
        self.arm(idx);
    }

    /// Fire every unfired level of the case due by `now`, in ladder order.
    fn fire_due(&mut self, idx: u32, now: Timestamp, out: &mut Vec<CaseEvent>) {
        let c = self.case(idx);
        let Some(due) = c.due else { return };
        if c.state.is_closed() {
            return;
        }
        let due_levels: Vec<(usize, Timestamp)> = (0..self.levels(c))
            .filter(|l| c.fired & (1 << l) == 0)
            .filter_map(|l| self.level_instant(c, &due, l).map(|at| (l, at)))
            .filter(|(_, at)| *at <= now)
            .collect();
        for (level, at) in due_levels {
            let c = self.case_mut(idx);
            c.fired |= 1 << level;
            c.counts[level] = c.counts[level].saturating_add(1);
            let c = self.case(idx);
            let policy = &self.config.alarm_policies[self.config.matters[c.matter as usize].policy];
            let alarm = Alarm {
                id: self.alarm_id(c, level),
                case: c.id.to_string(),
                hall: self.config.halls[c.hall as usize].id.clone(),
                matter: self.config.matters[c.matter as usize].id.clone(),
                level: policy.levels[level].name.clone(),
                due_at: self.local(c.hall, at),
                deadline: self.local(c.hall, due.at),
                raised_at: self.local(c.hall, now),
            };
            out.push(CaseEvent {
                stream: Stream::Alarms,
                hall: c.hall as usize,
                at: self.local(c.hall, now),
                body: CaseEventBody::Alarm(alarm),
            });
            self.dirty.push(idx);
        }
    }

    /// Raise every alarm level due by `now`.
    pub fn advance(&mut self, now: Timestamp, out: &mut Vec<CaseEvent>) {
        while let Some(expired) = self.wheel.poll(secs(now)) {
            let idx = expired.value;
            if self
                .cases
                .get(idx as usize)
                .and_then(Option::as_ref)
                .is_none()
            {
                continue;
            }
            self.case_mut(idx).timer = None;
            self.fire_due(idx, now, out);
            self.arm(idx);
        }
    }

    /// After a change to the case's clock: recompute the deadline, clear fired levels that
    /// no longer hold, report a moved deadline, and set the next timer.
    pub(super) fn rearm(
        &mut self,
        idx: u32,
        deadline: Deadline,
        now: Timestamp,
        out: &mut Vec<CaseEvent>,
    ) {
        let before = self.case(idx).due.map(|d| (d.at, d.provisional));
        let due = deadline.due().copied();
        self.case_mut(idx).due = due;
        if let Some(due) = due {
            let c = self.case(idx);
            let clear: Vec<usize> = (0..self.levels(c))
                .filter(|l| c.fired & (1 << l) != 0)
                .filter(|&l| self.level_instant(c, &due, l).is_none_or(|at| at > now))
                .collect();
            for level in clear {
                let c = self.case(idx);
                let policy =
                    &self.config.alarm_policies[self.config.matters[c.matter as usize].policy];
                out.push(CaseEvent {
                    stream: Stream::Alarms,
                    hall: c.hall as usize,
                    at: self.local(c.hall, now),
                    body: CaseEventBody::Cleared {
                        id: self.alarm_id(c, level),
                        case: c.id.to_string(),
                        hall: self.config.halls[c.hall as usize].id.clone(),
                        level: policy.levels[level].name.clone(),
                    },
                });
                self.case_mut(idx).fired &= !(1 << level);
            }
        }
        let after = due.map(|d| (d.at, d.provisional));
        if before != after {
            let c = self.case(idx);
            out.push(self.case_event(
                c,
                now,
                CaseEventBody::DeadlineChanged {
                    case: c.id.to_string(),
                    previous: before.map(|b| self.local(c.hall, b.0)),
                    deadline: after.map(|a| self.local(c.hall, a.0)),
                    provisional: after.is_some_and(|a| a.1),
                    provisional_reason: self.provisional_reason(c),
                },
            ));
        }
        self.dirty.push(idx);
        self.arm_now(idx, now, out);
    }

    pub(super) fn case_event(&self, c: &Case, at: Timestamp, body: CaseEventBody) -> CaseEvent {
        CaseEvent {
            stream: Stream::Cases,
            hall: c.hall as usize,
            at: self.local(c.hall, at),
            body,
        }
    }

    // ------------------------------------------------------------------ commands

    /// Apply one command; `closed` holds the cases that closed and left the engine. Returns
    /// the case and whether this command created it (an acceptance replayed, of an open or a
    /// closed case, is `false` and changes nothing). On error nothing changed and nothing was
    /// emitted. Levels already due once it is applied are raised by it (see `arm_now`).
    pub fn apply(
        &mut self,
        now: Timestamp,
        cmd: CaseCommand,
        closed: &dyn ClosedCases,
        out: &mut Vec<CaseEvent>,
    ) -> Result<(CaseView, bool), CaseError> {
        let held = |r: Result<u32, CaseError>| r.map(|idx| Target::Held(idx, false));
        let target = match cmd {
            CaseCommand::Accept {
                id,
                hall,
                matter,
                accepted_at,
            } => self.accept(
                now,
                id,
                hall as u32,
                matter as u32,
                accepted_at,
                closed,
                out,
            ),
            CaseCommand::Suspend { id, reason, at } => {
                held(self.suspend(now, &id, reason, at, closed, out))
            }
            CaseCommand::Resume { id, at } => held(self.resume(now, &id, at, closed, out)),
            CaseCommand::Extend {
                id,
                amount,
                reason,
                approver,
            } => {
                let extension = ExtensionRec {
                    amount,
                    reason,
                    approver,
                    at: now,
                };
                held(self.extend(now, &id, extension, closed, out))
            }
            CaseCommand::Complete { id, at } => held(self.complete(now, &id, at, closed, out)),
            CaseCommand::Withdraw { id, reason, at } => {
                held(self.withdraw(now, &id, reason, at, closed, out))
            }
            CaseCommand::Forward { id, at } => held(self.forward(now, &id, at, closed, out)),
        }?;
        Ok(match target {
            Target::Held(idx, created) => (self.view(idx, now), created),
            Target::Closed(view) => (*view, false),
        })
    }

    /// The case `id`, open or closed, as the API shows it.
    pub fn find_view(
        &self,
        id: &str,
        now: Timestamp,
        closed: &dyn ClosedCases,
    ) -> Result<Option<CaseView>, CaseError> {
        if let Some(view) = self.get(id, now) {
            return Ok(Some(view));
        }
        match closed.closed(id) {
            // A record that no longer fits the config (its hall or matter was removed) is
            // not shown; the store keeps it.
            Ok(Some(r)) => Ok(self.closed_view(r, now).ok()),
            Ok(None) => Ok(None),
            Err(reason) => Err(CaseError::Unavailable {
                id: id.to_owned(),
                reason,
            }),
        }
    }

    /// `at` (of a command on a case of `hall`) is not later than `now`, give or take a
    /// client's clock skew.
    fn not_future(
        &self,
        hall: u32,
        now: Timestamp,
        at: Timestamp,
        field: &'static str,
    ) -> Result<(), CaseError> {
        if at > now + CLOCK_SKEW {
            return Err(CaseError::InTheFuture {
                field,
                at: self.local(hall, at).to_string(),
            });
        }
        Ok(())
    }

    /// The open case `id`; a closed one, held or not, is refused as closed.
    fn open(&self, id: &str, closed: &dyn ClosedCases) -> Result<u32, CaseError> {
        let Some(idx) = self.lookup(id) else {
            return Err(match closed.closed(id) {
                Ok(Some(r)) => CaseError::Closed {
                    id: id.to_owned(),
                    state: r.state.as_str(),
                },
                Ok(None) => CaseError::UnknownCase { id: id.to_owned() },
                Err(reason) => CaseError::Unavailable {
                    id: id.to_owned(),
                    reason,
                },
            });
        };
        let c = self.case(idx);
        if c.state.is_closed() {
            return Err(CaseError::Closed {
                id: id.to_owned(),
                state: c.state.as_str(),
            });
        }
        Ok(idx)
    }

    pub(super) fn insert(&mut self, c: Case) -> u32 {
        let idx = match self.free.pop() {
            Some(i) => {
                self.cases[i as usize] = Some(c);
                i
            }
            None => {
                self.cases.push(Some(c));
                (self.cases.len() - 1) as u32
            }
        };
        self.index.insert(&self.cases, idx);
        self.dirty.push(idx);
        idx
    }

    fn new_case(id: &str, hall: u32, matter: u32, accepted_at: Timestamp) -> Case {
        Case {
            id: id.into(),
            hall,
            matter,
            dept: None,
            state: CaseState::Open,
            stage: Stage::Single,
            accepted_at,
            stage_start: accepted_at,
            due: None,
            fired: 0,
            counts: [0; 8],
            timer: None,
            closed_at: None,
            extra: None,
            counted: None,
        }
    }

    /// Which field of an acceptance differs from the stored case (hall, matter and acceptance
    /// time, by id), if any. A forwarded case (上报件) now belongs to the upper hall: the
    /// acceptance names the hall below it.
    fn replay_conflict(
        &self,
        stored: (&str, Stage, &str, Timestamp),
        hall: u32,
        matter: u32,
        accepted_at: Timestamp,
    ) -> Option<&'static str> {
        let (stored_hall, stage, stored_matter, stored_at) = stored;
        let h = &self.config.halls[hall as usize];
        let expected_hall = match stage {
            Stage::Upper => h.parent.map(|p| &*self.config.halls[p].id),
            Stage::Single | Stage::Forwarding => Some(&*h.id),
        };
        if expected_hall != Some(stored_hall) {
            Some("hall")
        } else if stored_matter != &*self.config.matters[matter as usize].id {
            Some("matter")
        } else if stored_at != accepted_at {
            Some("accepted_at")
        } else {
            None
        }
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "the command's fields, the lookup and the output"
    )]
    fn accept(
        &mut self,
        now: Timestamp,
        id: String,
        hall: u32,
        matter: u32,
        accepted_at: Timestamp,
        closed: &dyn ClosedCases,
        out: &mut Vec<CaseEvent>,
    ) -> Result<Target, CaseError> {
        if !valid_case_id(&id) {
            return Err(CaseError::BadId { id });
        }
        // Idempotent on the client's id, whatever the case's state: the same acceptance
        // answers the case as it stands and changes nothing; a different one is a conflict.
        if let Some(idx) = self.lookup(&id) {
            let c = self.case(idx);
            let stored = (
                &*self.config.halls[c.hall as usize].id,
                c.stage,
                &*self.config.matters[c.matter as usize].id,
                c.accepted_at,
            );
            return match self.replay_conflict(stored, hall, matter, accepted_at) {
                Some(field) => Err(CaseError::Conflict { id, field }),
                None => Ok(Target::Held(idx, false)),
            };
        }
        let record = closed
            .closed(&id)
            .map_err(|reason| CaseError::Unavailable {
                id: id.clone(),
                reason,
            })?;
        if let Some(r) = record {
            let stored = (&*r.hall, r.stage, &*r.matter, r.accepted_at);
            if let Some(field) = self.replay_conflict(stored, hall, matter, accepted_at) {
                return Err(CaseError::Conflict { id, field });
            }
            let state = r.state.as_str();
            // A record the config can no longer show (a department or suspension reason was
            // removed) is still closed: say so rather than show it.
            return match self.closed_view(r, now) {
                Ok(view) => Ok(Target::Closed(Box::new(view))),
                Err(_) => Err(CaseError::Closed { id, state }),
            };
        }
        self.not_future(hall, now, accepted_at, "accepted_at")?;
        // The config, not the matter (departments and all), is what gets cloned.
        let config = self.config.clone();
        let m = &config.matters[matter as usize];
        let mut lead = Self::new_case(&id, hall, matter, accepted_at);
        if m.kind == CaseKind::Escalated {
            lead.stage = Stage::Forwarding;
        }
        let mut children = Vec::new();
        for (d, dept) in m.departments.iter().enumerate() {
            let mut child = Self::new_case(&format!("{id}:{}", dept.id), hall, matter, accepted_at);
            child.dept = Some(d as u16);
            child.extra_mut().lead = Some(id.as_str().into());
            children.push(child);
        }
        // Every deadline is computed before anything is stored.
        let deadline = self.compute(&lead)?;
        let child_deadlines = children
            .iter()
            .map(|c| self.compute(c))
            .collect::<Result<Vec<_>, _>>()?;
        if !children.is_empty() {
            let extra = lead.extra_mut();
            extra.children = children.iter().map(|c| c.id.clone()).collect();
            extra.open_children = children.len() as u16;
        }
        lead.due = deadline.due().copied();
        let idx = self.insert(lead);
        self.arm_now(idx, now, out);
        let view = self.view(idx, now);
        out.push(self.case_event(
            self.case(idx),
            now,
            CaseEventBody::Accepted {
                case: Box::new(view),
            },
        ));
        for (mut child, d) in children.into_iter().zip(child_deadlines) {
            child.due = d.due().copied();
            let c = self.insert(child);
            self.arm_now(c, now, out);
            let view = self.view(c, now);
            out.push(self.case_event(
                self.case(c),
                now,
                CaseEventBody::Accepted {
                    case: Box::new(view),
                },
            ));
        }
        Ok(Target::Held(idx, true))
    }

    /// The instant a stage event happened: not in the future, not before the stage started or
    /// the last suspension boundary (the calendar checks the order precisely).
    fn check_at(&self, now: Timestamp, c: &Case, at: Timestamp) -> Result<(), CaseError> {
        self.not_future(c.hall, now, at, "at")?;
        let last = c
            .extra()
            .suspensions
            .last()
            .map(|s| s.until.unwrap_or(s.from))
            .unwrap_or(c.stage_start);
        if at < last {
            return Err(CaseError::OutOfOrder {
                at: self.local(c.hall, at).to_string(),
                last: self.local(c.hall, last).to_string(),
            });
        }
        Ok(())
    }

    /// Add a case read from the store: no change to persist, but its timer is set.
    pub(super) fn insert_restored(&mut self, c: Case) {
        let idx = self.insert(c);
        self.dirty.pop();
        self.account(idx);
        self.arm(idx);
    }

    fn suspend(
        &mut self,
        now: Timestamp,
        id: &str,
        reason: usize,
        at: Timestamp,
        closed: &dyn ClosedCases,
        out: &mut Vec<CaseEvent>,
    ) -> Result<u32, CaseError> {
        let idx = self.open(id, closed)?;
        let c = self.case(idx);
        if c.state == CaseState::Suspended {
            return Err(CaseError::AlreadySuspended { id: id.to_owned() });
        }
        self.check_at(now, c, at)?;
        let mut tentative = c.clone();
        tentative.extra_mut().suspensions.push(SuspensionRec {
            reason: reason as u16,
            from: at,
            until: None,
        });
        tentative.state = CaseState::Suspended;
        let event = CaseEventBody::Suspended {
            case: id.to_owned(),
            reason: self.config.suspension_reasons[reason].id.clone(),
        };
        self.change(idx, tentative, event, now, out)
    }

    /// Put in place a changed copy of case `idx` once the calendar has counted its deadline
    /// (an error leaves the case as it was), report `event`, and re-arm its alarms.
    fn change(
        &mut self,
        idx: u32,
        tentative: Case,
        event: CaseEventBody,
        now: Timestamp,
        out: &mut Vec<CaseEvent>,
    ) -> Result<u32, CaseError> {
        let deadline = self.compute(&tentative)?;
        *self.case_mut(idx) = tentative;
        out.push(self.case_event(self.case(idx), now, event));
        self.rearm(idx, deadline, now, out);
        Ok(idx)
    }

    fn resume(
        &mut self,
        now: Timestamp,
        id: &str,
        at: Timestamp,
        closed: &dyn ClosedCases,
        out: &mut Vec<CaseEvent>,
    ) -> Result<u32, CaseError> {
        let idx = self.open(id, closed)?;
        let c = self.case(idx);
        if c.state != CaseState::Suspended {
            return Err(CaseError::NotSuspended { id: id.to_owned() });
        }
        self.check_at(now, c, at)?;
        let mut tentative = c.clone();
        if let Some(s) = tentative.extra_mut().suspensions.last_mut() {
            s.until = Some(at);
        }
        tentative.state = CaseState::Open;
        let event = CaseEventBody::Resumed {
            case: id.to_owned(),
        };
        self.change(idx, tentative, event, now, out)
    }

    fn extend(
        &mut self,
        now: Timestamp,
        id: &str,
        extension: ExtensionRec,
        closed: &dyn ClosedCases,
        out: &mut Vec<CaseEvent>,
    ) -> Result<u32, CaseError> {
        let idx = self.open(id, closed)?;
        self.check_extension(idx, extension.amount)?;
        let mut tentative = self.case(idx).clone();
        let event = CaseEventBody::Extended {
            case: id.to_owned(),
            amount: extension.amount.to_string(),
            reason: extension.reason.clone(),
            approver: extension.approver.clone(),
        };
        tentative.extra_mut().extensions.push(extension);
        self.change(idx, tentative, event, now, out)
    }

    /// An extension adds time, in the limit's unit, and the stage's extensions stay within
    /// the matter's `max_extension` (by default the stage's own limit: at most doubled), so a
    /// mistyped `5000wd` cannot push a deadline out by decades.
    fn check_extension(&self, idx: u32, amount: Limit) -> Result<(), CaseError> {
        let c = self.case(idx);
        let id = || c.id.to_string();
        if amount.amount() == 0 {
            return Err(CaseError::EmptyExtension { id: id(), amount });
        }
        let base = self.base_limit(c);
        if std::mem::discriminant(&base) != std::mem::discriminant(&amount) {
            // The calendar names this refusal when the deadline is counted.
            return Ok(());
        }
        let max = self.config.matters[c.matter as usize]
            .max_extension
            .unwrap_or(base);
        let total = c
            .extra()
            .extensions
            .iter()
            .try_fold(amount, |sum, e| sum.checked_add(e.amount));
        match total {
            Some(total) if total.amount() <= max.amount() => Ok(()),
            _ => Err(CaseError::ExtensionOverLimit {
                id: id(),
                amount,
                total: total.unwrap_or(amount.with_amount(u32::MAX)),
                max,
            }),
        }
    }

    fn forward(
        &mut self,
        now: Timestamp,
        id: &str,
        at: Timestamp,
        closed: &dyn ClosedCases,
        out: &mut Vec<CaseEvent>,
    ) -> Result<u32, CaseError> {
        let idx = self.open(id, closed)?;
        let c = self.case(idx);
        if c.stage != Stage::Forwarding || c.state != CaseState::Open {
            return Err(CaseError::NotForwardable { id: id.to_owned() });
        }
        self.check_at(now, c, at)?;
        let hall = &self.config.halls[c.hall as usize];
        let Some(upper) = hall.parent else {
            return Err(CaseError::NoUpperHall {
                id: id.to_owned(),
                hall: hall.id.to_string(),
            });
        };
        let mut tentative = c.clone();
        tentative.stage = Stage::Upper;
        tentative.hall = upper as u32;
        tentative.stage_start = at;
        if let Some(e) = tentative.extra.as_deref_mut() {
            e.suspensions.clear();
            e.extensions.clear();
        }
        let event = CaseEventBody::Forwarded {
            case: id.to_owned(),
            hall: self.config.halls[upper].id.clone(),
        };
        self.change(idx, tentative, event, now, out)
    }

    fn complete(
        &mut self,
        now: Timestamp,
        id: &str,
        at: Timestamp,
        closed: &dyn ClosedCases,
        out: &mut Vec<CaseEvent>,
    ) -> Result<u32, CaseError> {
        let idx = self.open(id, closed)?;
        let c = self.case(idx);
        let open = c.extra().open_children as usize;
        if open > 0 {
            return Err(CaseError::ChildrenOpen {
                id: id.to_owned(),
                open,
            });
        }
        self.not_future(c.hall, now, at, "at")?;
        self.close(idx, Closing::Completed, at, now, out);
        Ok(idx)
    }

    fn withdraw(
        &mut self,
        now: Timestamp,
        id: &str,
        reason: String,
        at: Timestamp,
        closed: &dyn ClosedCases,
        out: &mut Vec<CaseEvent>,
    ) -> Result<u32, CaseError> {
        let idx = self.open(id, closed)?;
        self.not_future(self.case(idx).hall, now, at, "at")?;
        // A lead withdrawn takes its open department cases with it.
        let children: Vec<u32> = self
            .case(idx)
            .extra()
            .children
            .iter()
            .filter_map(|c| self.lookup(c))
            .filter(|&c| !self.case(c).state.is_closed())
            .collect();
        for child in children {
            self.close(child, Closing::Withdrawn(reason.clone()), at, now, out);
        }
        self.close(idx, Closing::Withdrawn(reason), at, now, out);
        Ok(idx)
    }

    /// Close a case; a joint child closing may complete its lead.
    fn close(
        &mut self,
        idx: u32,
        how: Closing,
        at: Timestamp,
        now: Timestamp,
        out: &mut Vec<CaseEvent>,
    ) {
        if let Some(key) = self.case_mut(idx).timer.take() {
            self.wheel.cancel(key);
        }
        let closed_at = self.local(self.case(idx).hall, at);
        let c = self.case_mut(idx);
        if let Some(s) = c
            .extra
            .as_deref_mut()
            .and_then(|e| e.suspensions.last_mut())
            && s.until.is_none()
        {
            s.until = Some(at.max(s.from));
        }
        c.closed_at = Some(at);
        let on_time = c.due.is_none_or(|d| at <= d.at);
        let case = c.id.to_string();
        let body = match how {
            Closing::Completed => {
                c.state = CaseState::Completed;
                CaseEventBody::Completed {
                    case,
                    on_time,
                    closed_at,
                }
            }
            Closing::Withdrawn(reason) => {
                c.state = CaseState::Withdrawn;
                CaseEventBody::Withdrawn { case, reason }
            }
        };
        let lead = c.extra().lead.clone();
        out.push(self.case_event(self.case(idx), now, body));
        self.dirty.push(idx);

        let Some(lead) = lead.and_then(|l| self.lookup(&l)) else {
            return;
        };
        let e = self.case_mut(lead).extra_mut();
        e.open_children = e.open_children.saturating_sub(1);
        let remaining = e.open_children;
        self.dirty.push(lead);
        if remaining == 0 && !self.case(lead).state.is_closed() {
            self.close(lead, Closing::Completed, at, now, out);
        }
    }

    /// Replace a calendar and recount every open case on it. The new calendar is checked
    /// against every case first, so a calendar that cannot count one of them (an acceptance
    /// outside its years) is refused and nothing changes.
    pub fn replace_calendar(
        &mut self,
        now: Timestamp,
        id: &str,
        calendar: Arc<Calendar>,
        out: &mut Vec<CaseEvent>,
    ) -> Result<Recomputed, CaseError> {
        let Some(pos) = self.config.calendar_index(id) else {
            return Err(CaseError::NoCalendar {
                hall: id.to_owned(),
            });
        };
        let uses = |e: &Self, c: &Case| e.calendar_of(c.hall, c.matter).ok() == Some(pos);
        let affected: Vec<u32> = (0..self.cases.len() as u32)
            .filter(|&i| {
                self.cases[i as usize]
                    .as_ref()
                    .is_some_and(|c| !c.state.is_closed() && uses(self, c))
            })
            .collect();
        let old = std::mem::replace(&mut self.calendars[pos], calendar);
        if let Some(err) = affected
            .iter()
            .find_map(|&i| self.compute(self.case(i)).err())
        {
            self.calendars[pos] = old;
            return Err(err);
        }
        let (mut changed, mut provisional) = (0, 0);
        for &i in &affected {
            let deadline = self.compute(self.case(i)).expect("checked above");
            if deadline.due().map(|d| d.at) != self.case(i).due.map(|d| d.at) {
                changed += 1;
            }
            if deadline.due().is_some_and(|d| d.provisional) {
                provisional += 1;
            }
            self.rearm(i, deadline, now, out);
        }
        Ok(Recomputed {
            cases: affected.len(),
            changed,
            provisional,
        })
    }

    // ------------------------------------------------------------------ views and records

    pub fn get(&self, id: &str, now: Timestamp) -> Option<CaseView> {
        self.lookup(id).map(|i| self.view(i, now))
    }

    pub(crate) fn view(&self, idx: u32, now: Timestamp) -> CaseView {
        self.view_case(self.case(idx), now)
    }

    /// Which calendar lacks which days, when the case's deadline is provisional.
    pub(super) fn provisional_reason(&self, c: &Case) -> Option<ProvisionalReason> {
        let day = c.due?.first_uncovered?;
        let pos = self.calendar_of(c.hall, c.matter).ok()?;
        Some(ProvisionalReason::new(
            self.config.calendars[pos].id.clone(),
            self.calendars[pos].range(),
            day,
        ))
    }

    pub(crate) fn view_case(&self, c: &Case, now: Timestamp) -> CaseView {
        let m = &self.config.matters[c.matter as usize];
        let policy = &self.config.alarm_policies[m.policy];
        let cal_pos = self.calendar_of(c.hall, c.matter).ok();
        let cal = cal_pos.map(|p| &self.calendars[p]);
        let remaining = match (c.due, cal, c.state.is_closed()) {
            (Some(due), Some(cal), false) => Some(cal.remaining(&due, now)),
            _ => None,
        };
        let extra = c.extra();
        let extension = extra.extensions.iter().fold(self.base_limit(c), |l, e| {
            l.checked_add(e.amount).unwrap_or(l)
        });
        CaseView {
            id: c.id.to_string(),
            hall: self.config.halls[c.hall as usize].id.clone(),
            matter: m.id.clone(),
            matter_name: m.name.clone(),
            kind: m.kind,
            state: c.state,
            stage: c.stage,
            accepted_at: self.local(c.hall, c.accepted_at),
            limit: extension.to_string(),
            deadline: c.due.map(|d| self.local(c.hall, d.at)),
            provisional: c.due.is_some_and(|d| d.provisional),
            provisional_reason: self.provisional_reason(c),
            remaining_working_s: remaining.map(|r| r.working_seconds),
            remaining_working_days: remaining.map(|r| r.working_days),
            overdue: match c.closed_at {
                Some(at) => c.due.is_some_and(|d| at > d.at),
                None => remaining.is_some_and(|r| r.overdue),
            },
            level: (0..policy.levels.len())
                .rev()
                .find(|l| c.fired & (1 << l) != 0)
                .map(|l| policy.levels[l].name.clone()),
            alarms: (0..policy.levels.len())
                .filter(|l| c.fired & (1 << l) != 0)
                .map(|l| self.alarm_id(c, l))
                .collect(),
            calendar: cal_pos
                .map_or_else(|| Arc::from(""), |p| self.config.calendars[p].id.clone()),
            suspensions: extra
                .suspensions
                .iter()
                .map(|s| {
                    let r = &self.config.suspension_reasons[s.reason as usize];
                    SuspensionView {
                        reason: r.id.clone(),
                        mode: match r.mode {
                            SuspensionMode::Pause => "pause",
                            SuspensionMode::Restart => "restart",
                        },
                        from: self.local(c.hall, s.from),
                        until: s.until.map(|u| self.local(c.hall, u)),
                    }
                })
                .collect(),
            extensions: extra
                .extensions
                .iter()
                .map(|e| ExtensionView {
                    amount: e.amount.to_string(),
                    reason: e.reason.clone(),
                    approver: e.approver.clone(),
                    at: self.local(c.hall, e.at),
                })
                .collect(),
            children: extra.children.iter().map(|c| c.to_string()).collect(),
            lead: extra.lead.as_ref().map(|l| l.to_string()),
            department: c.dept.map(|d| m.departments[d as usize].id.clone()),
            closed_at: c.closed_at.map(|at| self.local(c.hall, at)),
            on_time: c.closed_at.map(|at| c.due.is_none_or(|d| at <= d.at)),
        }
    }

    /// The records of every case changed since the last call. Closed cases leave the engine
    /// here (their record goes to the closed-case table), except a joint lead's children,
    /// which leave with their lead so the lead's view can still name them.
    pub fn take_changes(&mut self) -> Vec<CaseChange> {
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.sort_unstable();
        dirty.dedup();
        let mut out = Vec::with_capacity(dirty.len());
        for idx in dirty {
            if self.cases[idx as usize].is_none() {
                continue;
            }
            self.account(idx);
            let Some(c) = self.cases[idx as usize].as_ref() else {
                continue;
            };
            let closed = c.state.is_closed()
                && c.extra()
                    .lead
                    .as_ref()
                    .is_none_or(|l| self.lookup(l).is_none());
            out.push(CaseChange {
                record: self.record(idx),
                closed,
            });
            if closed {
                for child in self.case(idx).extra().children.clone() {
                    if let Some(ci) = self.lookup(&child)
                        && self.case(ci).state.is_closed()
                    {
                        self.account(ci);
                        out.push(CaseChange {
                            record: self.record(ci),
                            closed: true,
                        });
                        self.remove(ci);
                    }
                }
                self.remove(idx);
            }
        }
        out
    }

    /// Drop case `id` from the engine, with its timer and its count in the gauges, and write
    /// no record of it: its last durable record is put back by `reload`.
    pub(crate) fn forget(&mut self, id: &str) {
        let Some(idx) = self.lookup(id) else { return };
        let c = self.case(idx);
        if let Some((hall, level)) = c.counted {
            let policy = self.config.matters[c.matter as usize].policy as u16;
            *self.open_levels.entry((hall, policy, level)).or_default() -= 1;
        }
        self.remove(idx);
    }

    pub(super) fn remove(&mut self, idx: u32) {
        if let Some(c) = self.cases[idx as usize].as_ref() {
            self.index.remove(&c.id, idx);
        }
        if let Some(c) = self.cases[idx as usize].take() {
            if let Some(key) = c.timer {
                self.wheel.cancel(key);
            }
            self.free.push(idx);
        }
    }
}
