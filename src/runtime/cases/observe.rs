//! What the case thread shows of itself: case events logged and counted, open cases by level
//! and pending deadlines as gauges, and the counters alert rules watch, at zero from the start.
//!
//! It only reads the engine; it must never change a case.

use std::sync::Arc;

use super::Worker;
use crate::deadline::CaseEvent;
use crate::hash::FastMap;
use crate::metrics::{
    CASES_OPEN, COMPLAINTS_OPEN, COMPLAINTS_OVERDUE, Combine, DEADLINES_PENDING, Gauges,
    RECTIFICATIONS_OPEN, RECTIFICATIONS_OVERDUE, group_of, hall_labels,
};

impl Worker {
    /// Alarms, clearings and closings as counters; open cases by level and pending deadlines
    /// as gauges (when anything changed).
    pub(super) fn observe(
        &mut self,
        events: &[CaseEvent],
        changed: bool,
        now: jiff::Timestamp,
        rating_cases: bool,
    ) {
        use crate::deadline::CaseEventBody as B;
        use crate::metrics::{ALARMS_CLEARED, ALARMS_RAISED, CASES_CLOSED};
        let config = &self.config;
        let mode = config.metric_labels;
        let counters = &mut self.gauges.counters;
        let mut count = |name: &'static str, hall: usize, key: &'static str, value: &str| {
            counters.get(config, name, hall, key, value).increment(1)
        };
        for e in events {
            let hall = &config.halls[e.hall].id;
            match &e.body {
                B::Alarm(a) => tracing::info!(%hall, case = %a.case, alarm = %a.id, "case alarm"),
                B::Accepted { case } | B::Submitted { case } => {
                    tracing::debug!(%hall, case = %case.id, kind = "accepted", "case event")
                }
                B::Suspended { case, .. }
                | B::Resumed { case }
                | B::Extended { case, .. }
                | B::Forwarded { case, .. }
                | B::Completed { case, .. }
                | B::Withdrawn { case, .. }
                | B::DeadlineChanged { case, .. }
                | B::Cleared { case, .. }
                | B::Promised { case, .. }
                | B::Fulfilled { case, .. }
                | B::ObligationOverdue { case, .. }
                | B::Outcome { case, .. }
                | B::Delivered { case, .. }
                | B::Excused { case, .. }
                | B::AcceptedOnline { case, .. }
                | B::Handed { case, .. } => {
                    tracing::debug!(%hall, %case, kind = e.body.kind(), "case event")
                }
            }
            match &e.body {
                B::Alarm(a) => count(ALARMS_RAISED, e.hall, "level", &a.level),
                B::Cleared { level, .. } => count(ALARMS_CLEARED, e.hall, "level", level),
                B::Completed { on_time, .. } => {
                    let outcome = if *on_time { "on_time" } else { "overdue" };
                    count(CASES_CLOSED, e.hall, "outcome", outcome);
                }
                B::Withdrawn { .. } => count(CASES_CLOSED, e.hall, "outcome", "withdrawn"),
                // Closed by the outcome itself (see `counts`).
                B::Outcome { outcome, .. }
                    if matches!(
                        outcome.result,
                        crate::deadline::OutcomeKind::NotAccepted
                            | crate::deadline::OutcomeKind::Revoked
                    ) =>
                {
                    count(CASES_CLOSED, e.hall, "outcome", outcome.result.as_str())
                }
                B::Accepted { case }
                    if matches!(
                        case.origin,
                        Some(crate::deadline::CaseOrigin::Complaint { .. })
                    ) =>
                {
                    let l: Vec<metrics::Label> = hall_labels(mode, &config.halls[e.hall])
                        .into_iter()
                        .map(|(k, v)| metrics::Label::new(k, v))
                        .collect();
                    metrics::counter!(crate::metrics::COMPLAINTS, l).increment(1);
                }
                _ => {}
            }
        }
        if !changed {
            return;
        }
        let group = &self.gauges.group;
        // By (group, level name) in one flat table: no map, no label string per pass.
        let names = self.gauges.names.len();
        let mut open = std::mem::take(&mut self.gauges.scratch);
        open.reset(self.gauges.open.values.len());
        for (hall, policy, level, n) in self.engine.open_by_level() {
            let name = level.map_or(NONE, |l| self.gauges.name_of[policy][l]);
            open.add(group[hall] * names + name, n as f64);
        }
        let stale = self
            .rating_cases
            .1
            .is_none_or(|at| now.as_second() - at.as_second() >= 60);
        // The rating-case series follow `self.rating_cases` only: unchanged unless it is.
        let rating = (rating_cases || stale).then(|| {
            self.rating_cases = (self.engine.open_rating_cases(now), Some(now));
            // Open and overdue rectifications and complaints per hall, at zero for every hall.
            let mut values: FastMap<Series, f64> = FastMap::default();
            for &g in group {
                for name in [
                    RECTIFICATIONS_OPEN,
                    RECTIFICATIONS_OVERDUE,
                    COMPLAINTS_OPEN,
                    COMPLAINTS_OVERDUE,
                ] {
                    values.insert((name, g), 0.0);
                }
            }
            for &(hall, complaint, open, overdue) in &self.rating_cases.0 {
                let (o, late) = if complaint {
                    (COMPLAINTS_OPEN, COMPLAINTS_OVERDUE)
                } else {
                    (RECTIFICATIONS_OPEN, RECTIFICATIONS_OVERDUE)
                };
                *values.entry((o, group[hall])).or_default() += open as f64;
                *values.entry((late, group[hall])).or_default() += overdue as f64;
            }
            values
        });
        self.gauges
            .publish(&self.config, open, rating, self.engine.pending() as f64);
    }
}

/// One series of the case thread's rating-case and pending-deadline gauges, without its
/// label strings: the metric and the hall whose labels it carries (under tier labels, the
/// first hall of the tier, so the tier's halls sum into one series; `NO_HALL` for pending
/// deadlines).
type Series = (&'static str, usize);

const NO_HALL: usize = usize::MAX;

/// The position of the "no level yet" series among a group's `hallq_cases_open` series.
const NONE: usize = 0;

/// What the case thread last published of its gauges. A pass publishes only the series whose
/// value changed: publishing all of them (a few per hall for each of six metrics, through
/// `Gauges::replace`, which walks every producer's series) on every pass was over half of
/// the case thread's time while cases were being accepted (perf, 400,000 accepted cases).
/// Nor does a pass build every series to compare: the "no level yet" series of halls with
/// no open case sit at 0 without an entry here, and the rating-case series are compared only
/// when they were counted again (a map of five series per hall built on every pass was
/// still over half of the case thread's time under the mixed load). The open-case series are
/// counted into a flat table by position, not into a map keyed by name and level string:
/// hashing and comparing those keys twice per series and pass was a third of the thread.
pub(super) struct CaseGauges {
    /// `hallq_cases_open` as last published (see `Table`); a group's "none" series that does
    /// not exist there is at 0.
    open: Table,
    /// The next pass's table, kept to reuse its allocations.
    scratch: Table,
    /// The level names of every ladder, each once; `NONE` is "none".
    names: Vec<Arc<str>>,
    /// Per alarm policy, per level of its ladder, its position in `names`.
    name_of: Vec<Vec<usize>>,
    /// The rating-case series as last published (`None` before the first).
    rating: FastMap<Series, f64>,
    /// `hallq_deadlines_pending` as last published.
    pending: Option<f64>,
    /// Per hall, the hall whose labels its series carry.
    group: Vec<usize>,
    /// The case counters' handles, each made once.
    counters: Counters,
}

impl CaseGauges {
    pub(super) fn new(config: &crate::config::Config) -> CaseGauges {
        let mode = config.metric_labels;
        let mut first: FastMap<String, usize> = FastMap::default();
        let group = config
            .halls
            .iter()
            .enumerate()
            .map(|(i, h)| *first.entry(group_of(mode, h)).or_insert(i))
            .collect();
        let mut names: Vec<Arc<str>> = vec![Arc::from("none")];
        let name_of = config
            .alarm_policies
            .iter()
            .map(|p| {
                p.levels
                    .iter()
                    .map(|l| match names.iter().position(|n| *n == l.name) {
                        Some(at) => at,
                        None => {
                            names.push(l.name.clone());
                            names.len() - 1
                        }
                    })
                    .collect()
            })
            .collect();
        CaseGauges {
            open: Table::new(config.halls.len() * names.len()),
            scratch: Table::default(),
            names,
            name_of,
            rating: FastMap::default(),
            pending: None,
            group,
            counters: Counters::default(),
        }
    }

    /// Publish what changed: `open` (summed by group and level, laid out as `self.open`),
    /// `rating` when it was counted again, `pending`.
    fn publish(
        &mut self,
        config: &crate::config::Config,
        open: Table,
        rating: Option<FastMap<Series, f64>>,
        pending: f64,
    ) {
        let labels = |hall: usize, level: Option<&str>| -> crate::metrics::LabelSet {
            if hall == NO_HALL {
                return vec![("kind", "case".to_owned())];
            }
            let mut l = hall_labels(config.metric_labels, &config.halls[hall]);
            if let Some(level) = level {
                l.push(("level", level.to_owned()));
            }
            l
        };
        let gauges = Gauges::shared();
        let set = |name: &'static str, hall: usize, level: Option<&str>, v: Option<f64>| {
            gauges.set_part(CASE_GAUGES, name, Combine::Sum, labels(hall, level), v);
        };
        let names = self.names.len();
        if self.pending.is_none() {
            // The first pass: every hall has its "no level yet" series from the start, so
            // dashboards and alert rules see 0 open cases rather than no data.
            for (hall, &g) in self.group.iter().enumerate() {
                if g == hall && open.values[g * names + NONE].is_none() {
                    set(CASES_OPEN, g, Some("none"), Some(0.0));
                }
            }
        }
        let series = |at: usize| (at / names, at % names, Some(&*self.names[at % names]));
        for &at in &open.live {
            let v = open.values[at];
            if self.open.values[at] != v {
                let (g, _, level) = series(at);
                set(CASES_OPEN, g, level, v);
            }
        }
        for &at in &self.open.live {
            if open.values[at].is_some() {
                continue;
            }
            let (g, name, level) = series(at);
            match self.open.values[at] {
                Some(was) if name == NONE && was == 0.0 => {}
                Some(_) if name == NONE => set(CASES_OPEN, g, level, Some(0.0)),
                _ => set(CASES_OPEN, g, level, None),
            }
        }
        self.scratch = std::mem::replace(&mut self.open, open);
        if let Some(rating) = rating {
            for (&(name, hall), &v) in &rating {
                if self.rating.get(&(name, hall)) != Some(&v) {
                    set(name, hall, None, Some(v));
                }
            }
            for &(name, hall) in self.rating.keys() {
                if !rating.contains_key(&(name, hall)) {
                    set(name, hall, None, None);
                }
            }
            self.rating = rating;
        }
        if self.pending != Some(pending) {
            set(DEADLINES_PENDING, NO_HALL, None, Some(pending));
            self.pending = Some(pending);
        }
    }
}

/// `hallq_cases_open` by series, each at `group * names + name` (the position of the hall
/// whose labels it carries, of its level name): `None` where the series does not exist.
#[derive(Default)]
struct Table {
    values: Vec<Option<f64>>,
    /// The positions that are `Some`, so a pass walks the series that exist (a few), not
    /// every group and level.
    live: Vec<usize>,
}

impl Table {
    fn new(len: usize) -> Table {
        Table {
            values: vec![None; len],
            live: Vec::new(),
        }
    }

    /// Every series gone, `len` positions.
    fn reset(&mut self, len: usize) {
        for at in self.live.drain(..) {
            self.values[at] = None;
        }
        self.values.resize(len, None);
    }

    fn add(&mut self, at: usize, n: f64) {
        match &mut self.values[at] {
            Some(v) => *v += n,
            slot @ None => {
                *slot = Some(n);
                self.live.push(at);
            }
        }
    }
}

/// Handles of the case counters by (metric, hall), then the value of their last label,
/// each asked of the recorder once: asking it per event (the hall's labels as strings, a
/// key, a lookup) cost several allocations per closed case.
#[derive(Default)]
pub(super) struct Counters(FastMap<(&'static str, usize), Vec<ByValue>>);

/// A counter's handle for one value of its last label.
type ByValue = (Box<str>, metrics::Counter);

impl Counters {
    /// Counter `name` of hall `hall` with `key` = `value` besides the hall's labels.
    fn get(
        &mut self,
        config: &crate::config::Config,
        name: &'static str,
        hall: usize,
        key: &'static str,
        value: &str,
    ) -> &metrics::Counter {
        let list = self.0.entry((name, hall)).or_default();
        let at = match list.iter().position(|(v, _)| &**v == value) {
            Some(at) => at,
            None => {
                let mut l: Vec<metrics::Label> =
                    hall_labels(config.metric_labels, &config.halls[hall])
                        .into_iter()
                        .map(|(k, v)| metrics::Label::new(k, v))
                        .collect();
                l.push(metrics::Label::new(key, value.to_owned()));
                list.push((value.into(), metrics::counter!(name, l)));
                list.len() - 1
            }
        };
        &list[at].1
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
        metrics::counter!(crate::metrics::COMPLAINTS, base.clone()).increment(0);
        for outcome in ["on_time", "overdue", "withdrawn", "not_accepted", "revoked"] {
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
