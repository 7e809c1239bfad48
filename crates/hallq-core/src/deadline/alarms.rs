//! The alarm ladder (电子监察): when each level of a case's ladder comes due, the one timer a
//! running case keeps in the wheel (at its earliest unfired level), firing every level due by
//! `now` in ladder order with ids stable across restarts, and re-arming after the deadline
//! moves. Also the gauge of open cases per hall and level.
//!
//! Never changes a case's clock (suspensions, extensions and stages are `commands`), never
//! reads the clock, never does I/O.

use jiff::Timestamp;

use super::engine::*;
use super::*;
use crate::calendar::{Deadline, Due};
use crate::model::Threshold;

impl DeadlineEngine {
    /// Keep `open_levels` in step with case `idx`: counted under its hall and current level
    /// while open, not at all once closed.
    pub(super) fn account(&mut self, idx: u32) {
        let c = self.case(idx);
        let policy = self.catalogue.matters[c.matter as usize].policy as u16;
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

    /// Open cases per hall, alarm policy (positions in the catalogue) and level of that
    /// policy's ladder (`None` before any level fired). A count once made stays listed, at 0
    /// when no case is left under it.
    pub fn open_by_level(&self) -> impl Iterator<Item = (usize, usize, Option<usize>, i64)> + '_ {
        self.open_levels.iter().map(|(&(hall, policy, level), &n)| {
            let level = (level != NO_LEVEL).then_some(level as usize);
            (hall as usize, policy as usize, level, n)
        })
    }

    /// Open rectifications and complaints per hall: (hall, is a complaint, open, of which
    /// past their deadline at `now`). Walks the cases with an origin (`rating`), in slab
    /// order, so the result does not depend on the set's hashing.
    pub fn open_rating_cases(&self, now: Timestamp) -> Vec<super::OpenRatingCases> {
        let mut out: Vec<super::OpenRatingCases> = Vec::new();
        let mut slots: Vec<u32> = self.rating.iter().copied().collect();
        slots.sort_unstable();
        for c in slots
            .iter()
            .filter_map(|&i| self.cases[i as usize].as_ref())
        {
            let Some(origin) = c.extra.as_ref().and_then(|x| x.origin.as_deref()) else {
                continue;
            };
            if c.state.is_closed() {
                continue;
            }
            let complaint = matches!(origin, super::CaseOrigin::Complaint { .. });
            let overdue = c.due.as_ref().is_some_and(|d| d.at <= now);
            let i = match out
                .iter()
                .position(|r| r.0 == c.hall as usize && r.1 == complaint)
            {
                Some(i) => i,
                None => {
                    out.push((c.hall as usize, complaint, 0, 0));
                    out.len() - 1
                }
            };
            out[i].2 += 1;
            out[i].3 += u64::from(overdue);
        }
        out
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

    fn level_instant(&self, c: &Case, due: &Due, level: usize) -> Option<Timestamp> {
        let cal = &self.calendars[self.calendar_of(c.hall, c.matter).ok()?];
        let policy =
            &self.catalogue.alarm_policies[self.catalogue.matters[c.matter as usize].policy];
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
        self.catalogue.alarm_policies[self.catalogue.matters[c.matter as usize].policy]
            .levels
            .len()
    }

    pub(super) fn alarm_id(&self, c: &Case, level: usize) -> String {
        let name = &self.catalogue.alarm_policies[self.catalogue.matters[c.matter as usize].policy]
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
        // A delivered case (承诺审批 materials still due) has nothing left to warn about.
        let due = c.due.filter(|_| !Self::delivered(c));
        let next = due
            .and_then(|due| {
                (0..self.levels(c))
                    .filter(|l| c.fired & (1 << l) == 0)
                    .filter_map(|l| self.level_instant(c, &due, l))
                    .min()
            })
            .into_iter()
            .chain(self.obligation_timer(c))
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
        self.fire_obligations(idx, now, out);
        let c = self.case(idx);
        let Some(due) = c.due.filter(|_| !Self::delivered(c)) else {
            return;
        };
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
            let policy =
                &self.catalogue.alarm_policies[self.catalogue.matters[c.matter as usize].policy];
            let alarm = Alarm {
                id: self.alarm_id(c, level),
                case: c.id.to_string(),
                hall: self.catalogue.halls[c.hall as usize].id.clone(),
                matter: self.catalogue.matters[c.matter as usize].id.clone(),
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
                let policy = &self.catalogue.alarm_policies
                    [self.catalogue.matters[c.matter as usize].policy];
                out.push(CaseEvent {
                    stream: Stream::Alarms,
                    hall: c.hall as usize,
                    at: self.local(c.hall, now),
                    body: CaseEventBody::Cleared {
                        id: self.alarm_id(c, level),
                        case: c.id.to_string(),
                        hall: self.catalogue.halls[c.hall as usize].id.clone(),
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
}
