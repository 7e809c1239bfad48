//! `DeadlineEngine`: the open cases and what every part shares: the config and calendars,
//! counting a case's deadline, and the changes handed to the store.
//!
//! The rest lives beside it: `index` (the slab of cases and the id index), `alarms` (the
//! ladder and its one timer per running case), `commands`, `view`, `record`. Never reads the
//! clock, never does I/O.

use std::sync::Arc;

use jiff::Timestamp;

pub(crate) use super::case::*;
use super::index::CaseIndex;
use super::*;
use crate::calendar::{Calendar, CalendarError, Deadline, Suspension};
use crate::hash::{FastMap, FastSet};
use crate::localtime::LocalTime;
use crate::model::CaseCatalogue;
use crate::wheel::TimingWheel;

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
    pub(crate) catalogue: Arc<CaseCatalogue>,
    /// Current calendars, by position in `CaseCatalogue::calendars`; replaceable at run time.
    pub calendars: Vec<Arc<Calendar>>,
    /// Open cases; `None` slots are free and listed in `free`.
    pub(crate) cases: Vec<Option<Case>>,
    pub(super) free: Vec<u32>,
    pub(crate) index: CaseIndex,
    pub(super) wheel: TimingWheel<u32>,
    pub(super) dirty: Vec<u32>,
    /// Open cases per (hall, alarm policy, current level): the `hallq_cases_open` gauge.
    pub(super) open_levels: FastMap<(u32, u16, u8), i64>,
    /// Slab positions of the cases that answer a rating or complaint (an `origin`), so the
    /// gauges' count of open rectifications and complaints (`open_rating_cases`) walks these
    /// few instead of every open case: at ten million cases the full walk took ~0.3 s of the
    /// case thread on every pass that raised an alarm. A case's origin is set before it
    /// enters the slab and never changes, so `insert` and `remove` keep this in step.
    pub(super) rating: FastSet<u32>,
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
    pub fn new(catalogue: Arc<CaseCatalogue>, now: Timestamp) -> Self {
        DeadlineEngine {
            calendars: catalogue
                .calendars
                .iter()
                .map(|c| c.calendar.clone())
                .collect(),
            catalogue,
            cases: Vec::new(),
            free: Vec::new(),
            index: CaseIndex::default(),
            wheel: TimingWheel::new(secs(now)),
            dirty: Vec::new(),
            open_levels: FastMap::default(),
            rating: FastSet::default(),
        }
    }

    pub fn calendar(&self, id: &str) -> Option<&Arc<Calendar>> {
        self.catalogue
            .calendar_index(id)
            .map(|i| &self.calendars[i])
    }

    /// Use `calendar` instead of the config's before any case is restored (a calendar
    /// replaced through the API before the last restart). False if the config has no such id.
    pub fn use_calendar(&mut self, calendar: Arc<Calendar>) -> bool {
        match self.catalogue.calendar_index(calendar.id()) {
            Some(pos) => {
                self.calendars[pos] = calendar;
                true
            }
            None => false,
        }
    }

    /// `at` as the API shows it: in the time zone of hall `hall` (a position in the config).
    pub(super) fn local(&self, hall: u32, at: Timestamp) -> LocalTime {
        LocalTime::new(at, &self.catalogue.halls[hall as usize].time_zone)
    }

    /// Position of the calendar a case of `matter` at `hall` counts on.
    pub(super) fn calendar_of(&self, hall: u32, matter: u32) -> Result<usize, CaseError> {
        let m = &self.catalogue.matters[matter as usize];
        let h = &self.catalogue.halls[hall as usize];
        m.calendar
            .or(h.calendar)
            .ok_or_else(|| CaseError::NoCalendar {
                hall: h.id.to_string(),
            })
    }

    /// The limit of the case's current stage, before extensions.
    pub(super) fn base_limit(&self, c: &Case) -> Limit {
        let m = &self.catalogue.matters[c.matter as usize];
        match (c.dept, c.stage) {
            (Some(d), _) => m.departments[d as usize].limit,
            (None, Stage::Forwarding) => m.stage_limit.unwrap_or(m.limit),
            (_, Stage::Delivery) => self.delivery_limit(c),
            (_, Stage::Acceptance) => self.acceptance_limit(c.matter),
            (_, Stage::Routed) => self.leg_limit(c),
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
                mode: self.catalogue.suspension_reasons[s.reason as usize].mode,
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
}
