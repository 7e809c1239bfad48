//! What the case thread shows of itself: case events logged and counted, open cases by level
//! and pending deadlines as gauges, and the counters alert rules watch, at zero from the start.
//!
//! It only reads the engine; it must never change a case.

use super::Worker;
use crate::deadline::CaseEvent;
use crate::metrics::{
    COMPLAINTS_OPEN, COMPLAINTS_OVERDUE, RECTIFICATIONS_OPEN, RECTIFICATIONS_OVERDUE,
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
        let stale = self
            .rating_cases
            .1
            .is_none_or(|at| now.as_second() - at.as_second() >= 60);
        if rating_cases || stale {
            self.rating_cases = (self.engine.open_rating_cases(now), Some(now));
        }
        self.rating_case_gauges(&mut parts);
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
                (RECTIFICATIONS_OPEN, Combine::Sum),
                (RECTIFICATIONS_OVERDUE, Combine::Sum),
                (COMPLAINTS_OPEN, Combine::Sum),
                (COMPLAINTS_OVERDUE, Combine::Sum),
            ],
        );
    }

    /// Open and overdue rectifications and complaints per hall, at zero for every hall.
    fn rating_case_gauges(&self, parts: &mut crate::metrics::GaugeParts) {
        use crate::metrics::{Combine, hall_labels};
        let mode = self.config.metric_labels;
        for hall in &self.config.halls {
            for name in [
                RECTIFICATIONS_OPEN,
                RECTIFICATIONS_OVERDUE,
                COMPLAINTS_OPEN,
                COMPLAINTS_OVERDUE,
            ] {
                parts.add(name, hall_labels(mode, hall), 0.0, Combine::Sum);
            }
        }
        for &(hall, complaint, open, overdue) in &self.rating_cases.0 {
            let (o, late) = if complaint {
                (COMPLAINTS_OPEN, COMPLAINTS_OVERDUE)
            } else {
                (RECTIFICATIONS_OPEN, RECTIFICATIONS_OVERDUE)
            };
            let l = hall_labels(mode, &self.config.halls[hall]);
            parts.add(o, l.clone(), open as f64, Combine::Sum);
            parts.add(late, l, overdue as f64, Combine::Sum);
        }
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
