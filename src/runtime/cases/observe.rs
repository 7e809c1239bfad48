//! What the case thread shows of itself: case events logged and counted, open cases by level
//! and pending deadlines as gauges, and the counters alert rules watch, at zero from the start.
//!
//! It only reads the engine; it must never change a case.

use std::sync::Arc;

use super::Worker;
use crate::deadline::CaseEvent;
use crate::hash::{FastMap, FastState};
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
                // Closed by the outcome itself (see `counts`).
                B::Outcome { outcome, .. }
                    if matches!(
                        outcome.result,
                        crate::deadline::OutcomeKind::NotAccepted
                            | crate::deadline::OutcomeKind::Revoked
                    ) =>
                {
                    let label = outcome.result.as_str();
                    metrics::counter!(CASES_CLOSED, with(e.hall, "outcome", label)).increment(1)
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
        let none: Arc<str> = Arc::from("none");
        let group = &self.gauges.group;
        let mut now_values: FastMap<Series, f64> =
            FastMap::with_capacity_and_hasher(self.gauges.last.len(), FastState::default());
        // Every hall has its "no level yet" series from the start, so dashboards and alert
        // rules see 0 open cases rather than no data.
        for &g in group {
            now_values.insert((CASES_OPEN, g, Some(none.clone())), 0.0);
        }
        for (hall, level, n) in self.engine.open_by_level() {
            *now_values
                .entry((CASES_OPEN, group[hall], Some(level)))
                .or_default() += n as f64;
        }
        let stale = self
            .rating_cases
            .1
            .is_none_or(|at| now.as_second() - at.as_second() >= 60);
        if rating_cases || stale {
            self.rating_cases = (self.engine.open_rating_cases(now), Some(now));
        }
        // Open and overdue rectifications and complaints per hall, at zero for every hall.
        for &g in group {
            for name in [
                RECTIFICATIONS_OPEN,
                RECTIFICATIONS_OVERDUE,
                COMPLAINTS_OPEN,
                COMPLAINTS_OVERDUE,
            ] {
                now_values.insert((name, g, None), 0.0);
            }
        }
        for &(hall, complaint, open, overdue) in &self.rating_cases.0 {
            let (o, late) = if complaint {
                (COMPLAINTS_OPEN, COMPLAINTS_OVERDUE)
            } else {
                (RECTIFICATIONS_OPEN, RECTIFICATIONS_OVERDUE)
            };
            *now_values.entry((o, group[hall], None)).or_default() += open as f64;
            *now_values.entry((late, group[hall], None)).or_default() += overdue as f64;
        }
        now_values.insert(
            (DEADLINES_PENDING, NO_HALL, None),
            self.engine.pending() as f64,
        );
        self.gauges.publish(&self.config, now_values);
    }
}

/// One series of the case thread's gauges, without its label strings: the metric, the hall
/// whose labels it carries (under tier labels, the first hall of the tier, so the tier's
/// halls sum into one series; `NO_HALL` for pending deadlines), and the level of
/// `hallq_cases_open`.
type Series = (&'static str, usize, Option<Arc<str>>);

const NO_HALL: usize = usize::MAX;

/// What the case thread last published of its gauges. A pass publishes only the series whose
/// value changed: publishing all of them (a few per hall for each of six metrics, through
/// `Gauges::replace`, which walks every producer's series) on every pass was over half of
/// the case thread's time while cases were being accepted (perf, 400,000 accepted cases).
pub(super) struct CaseGauges {
    last: FastMap<Series, f64>,
    /// Per hall, the hall whose labels its series carry.
    group: Vec<usize>,
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
        CaseGauges {
            last: FastMap::default(),
            group,
        }
    }

    fn publish(&mut self, config: &crate::config::Config, now_values: FastMap<Series, f64>) {
        let labels = |(_, hall, level): &Series| -> crate::metrics::LabelSet {
            if *hall == NO_HALL {
                return vec![("kind", "case".to_owned())];
            }
            let mut l = hall_labels(config.metric_labels, &config.halls[*hall]);
            if let Some(level) = level {
                l.push(("level", level.to_string()));
            }
            l
        };
        let gauges = Gauges::shared();
        for (series, &v) in &now_values {
            if self.last.get(series) != Some(&v) {
                gauges.set_part(CASE_GAUGES, series.0, Combine::Sum, labels(series), Some(v));
            }
        }
        for series in self.last.keys() {
            if !now_values.contains_key(series) {
                gauges.set_part(CASE_GAUGES, series.0, Combine::Sum, labels(series), None);
            }
        }
        self.last = now_values;
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
