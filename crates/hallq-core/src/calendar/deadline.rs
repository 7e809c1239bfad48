//! Deadlines, suspensions and remaining working time.
//!
//! Every computation here reduces to O(1) arithmetic on two numbers: the rank of a day among
//! working days (`DayTable`) and the working-time coordinate of an instant (working seconds
//! since the table's origin). A deadline is found by moving an *anchor* (the acceptance, then
//! each resume) forward by what remains of the limit; suspensions only move the anchor and
//! shrink (pause) or reset (restart) the remainder. The rules are in the module doc of
//! `calendar`; the reference model they are tested against is `tests::reference`.

use jiff::Timestamp;
use jiff::civil::Date;

use super::days::date_of;
use super::{Calendar, CalendarError, Limit, Moment};

/// How a suspension treats the time already used when the case resumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SuspensionMode {
    /// The clock stops and later goes on with what remained (特别程序: hearings, tests…).
    Pause,
    /// The full limit starts again from the resume day (补正: acceptance happens when the
    /// materials are complete).
    Restart,
}

/// One stop of a case's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Suspension {
    /// When the clock stopped.
    pub from: Timestamp,
    /// When it resumed; `None` while the case is still suspended.
    pub until: Option<Timestamp>,
    pub mode: SuspensionMode,
}

/// When a case falls due, or why it has no deadline right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Deadline {
    /// The clock runs.
    Running(Due),
    /// An open suspension stopped the clock: there is no deadline until it resumes.
    Stopped(Stopped),
}

impl Deadline {
    /// The due instant, if the clock runs.
    pub fn due(&self) -> Option<&Due> {
        match self {
            Deadline::Running(due) => Some(due),
            Deadline::Stopped(_) => None,
        }
    }
}

/// A running deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Due {
    /// The instant the limit is used up: the close of office hours for day limits.
    pub at: Timestamp,
    /// Some day the count ran over lies outside the calendar's covered range and was counted
    /// on the default week; recompute it when that year's notice is loaded. Exactly when
    /// `first_uncovered` is set.
    pub provisional: bool,
    /// Where the count left the notices: for a count that runs past the range's end, the day
    /// after it (the horizon, wherever the count started); for one that starts before the
    /// range, the day counting started (acceptance, or the last restart).
    pub first_uncovered: Option<Date>,
    /// Working seconds the case has to work in, from acceptance (or the last restart) to
    /// `at`, without paused time: the 100% of [`Remaining::elapsed_percent`].
    pub budget_seconds: i64,
}

impl Due {
    /// Working seconds remaining when `percent` of the budget has elapsed (negative past
    /// 100%): give it to [`Calendar::when_remaining`] to arm a percent-of-limit alarm.
    /// Rounded down, so at that instant at least `percent` has elapsed.
    pub fn remaining_at_elapsed_percent(&self, percent: u32) -> i64 {
        (self.budget_seconds * (100 - i64::from(percent))).div_euclid(100)
    }
}

/// The clock is stopped by an open suspension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Stopped {
    /// When the open suspension started.
    pub since: Timestamp,
    /// What the case will have on resume: the unused remainder for a pause, the full
    /// (extended) limit for a restart. Counted from the resume day like a new acceptance.
    pub remaining: Limit,
}

/// Working time between `now` and a deadline, for alarm ladders and case views.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Remaining {
    /// Office seconds from `now` to the deadline; negative once office time past the deadline
    /// has run. Zero both at the deadline and outside office hours right after it.
    pub working_seconds: i64,
    /// Working days left, as the alarm ladder counts them: `ceil(working_seconds / day)` while
    /// not negative, `-floor(overdue seconds / day)` after. For a deadline at a close, "1"
    /// holds from the close of the working day before the due day, "0" from the deadline
    /// until the close of the next working day, "-N" from the close of the N-th working day
    /// after the due day. One day is [`Calendar::working_day_seconds`].
    pub working_days: i64,
    /// `now` is after the deadline (to the second).
    pub overdue: bool,
    /// Share of [`Due::budget_seconds`] used up, in percent; 0 before counting starts, above
    /// 100 when overdue. A zero budget is 0 before the deadline and 100 from it.
    pub elapsed_percent: f64,
}

impl Calendar {
    /// The deadline of a case accepted at `accepted` with `limit`, the (ordered) `suspensions`
    /// so far and an approved `extension` in the limit's unit.
    ///
    /// Any instant works: days outside the covered range are counted on the default week and
    /// the result is flagged `provisional` (nothing is refused at the calendar's horizon).
    /// Fails if the suspensions are out of order, or if the extension's unit differs from the
    /// limit's.
    pub fn deadline(
        &self,
        accepted: Timestamp,
        limit: Limit,
        suspensions: &[Suspension],
        extension: Option<Limit>,
    ) -> Result<Deadline, CalendarError> {
        let limit = match extension {
            None => limit,
            Some(extension) => self.extend(limit, extension)?,
        };
        let accepted = self.moment(accepted);
        self.check_suspensions(accepted.at, suspensions)?;

        let total = i64::from(limit.amount());
        let mut anchor = accepted;
        let mut left = total;
        // Working seconds counted in closed pause segments since the last (re)start.
        let mut counted = 0;
        // The day counting (re)started: days before a restart no longer matter.
        let mut start_day = anchor.day;
        let mut due = self.due_from(limit, &anchor, left)?;
        for s in suspensions {
            let from = self.moment(s.from);
            if from.at > due.at {
                break;
            }
            let left_on_resume = match s.mode {
                SuspensionMode::Pause => left - self.used(limit, &anchor, &from).clamp(0, left),
                SuspensionMode::Restart => total,
            };
            let Some(until) = s.until else {
                return Ok(Deadline::Stopped(Stopped {
                    since: s.from,
                    remaining: limit.with_amount(left_on_resume as u32),
                }));
            };
            counted = match s.mode {
                SuspensionMode::Pause => counted + self.between(&anchor, &from),
                SuspensionMode::Restart => 0,
            };
            left = left_on_resume;
            anchor = self.moment(until);
            if s.mode == SuspensionMode::Restart {
                start_day = anchor.day;
            }
            due = self.due_from(limit, &anchor, left)?;
        }
        // Every day the count ran over lies in `start_day..=due.day` (suspensions that matter
        // start before the deadline), so checking the two ends is enough.
        let first_uncovered = if start_day < self.first_day {
            date_of(start_day)
        } else if due.day > self.last_day {
            date_of(self.last_day + 1)
        } else {
            None
        };
        Ok(Deadline::Running(Due {
            at: due.at,
            provisional: first_uncovered.is_some(),
            first_uncovered,
            budget_seconds: counted + self.between(&anchor, &due),
        }))
    }

    /// Working time from `now` to `due`.
    pub fn remaining(&self, due: &Due, now: Timestamp) -> Remaining {
        let deadline = self.moment(due.at);
        let now = self.moment(now);
        let working_seconds = self.between(&now, &deadline);
        let day = self.office_hours.per_day;
        let working_days = if working_seconds >= 0 {
            (working_seconds + day - 1).div_euclid(day)
        } else {
            -(-working_seconds).div_euclid(day)
        };
        let elapsed_percent = match due.budget_seconds {
            0 if working_seconds <= 0 => 100.0,
            0 => 0.0,
            budget => ((budget - working_seconds) as f64 * 100.0 / budget as f64).max(0.0),
        };
        Remaining {
            working_seconds,
            working_days,
            overdue: now.at > deadline.at,
            elapsed_percent,
        }
    }

    /// The earliest instant at which at most `working_seconds` of office time remain before
    /// `due` (negative: the earliest instant at least that much office time past it, and
    /// never before `due`). This is where the alarm engine arms a timer: from this instant on,
    /// [`Calendar::remaining`] reports `working_seconds` or less. For a positive amount larger
    /// than the budget the instant precedes acceptance; the caller fires at once.
    pub fn when_remaining(
        &self,
        due: &Due,
        working_seconds: i64,
    ) -> Result<Timestamp, CalendarError> {
        let deadline = self.moment(due.at);
        let target = self.coordinate(deadline.day, deadline.second) - working_seconds;
        let (day, second) = self.position_of(target);
        let at = self.instant(day, second)?;
        Ok(if working_seconds > 0 {
            at
        } else {
            at.max(deadline.at)
        })
    }

    /// [`Calendar::when_remaining`] in whole working days: `1` is the close of the working day
    /// before the due day ("≤ 1 working day left"), `0` the deadline, `-2` the close of the
    /// second working day after the due day ("2 working days overdue").
    pub fn when_working_days_remaining(
        &self,
        due: &Due,
        working_days: i64,
    ) -> Result<Timestamp, CalendarError> {
        self.when_remaining(due, working_days * self.office_hours.per_day)
    }

    fn extend(&self, limit: Limit, extension: Limit) -> Result<Limit, CalendarError> {
        if std::mem::discriminant(&limit) != std::mem::discriminant(&extension) {
            return Err(CalendarError::ExtensionUnit {
                calendar: self.id.clone(),
                limit,
                extension,
            });
        }
        limit
            .checked_add(extension)
            .ok_or_else(|| CalendarError::ExtensionTooLong {
                calendar: self.id.clone(),
                limit,
                extension,
            })
    }

    fn check_suspensions(
        &self,
        accepted: Timestamp,
        suspensions: &[Suspension],
    ) -> Result<(), CalendarError> {
        let mut previous_end = Some(accepted);
        for (i, s) in suspensions.iter().enumerate() {
            let problem = |problem| CalendarError::Suspension {
                calendar: self.id.clone(),
                index: i + 1,
                from: crate::localtime::LocalTime::new(s.from, &self.time_zone),
                problem,
            };
            let Some(previous) = previous_end else {
                return Err(problem("follows a suspension that is still open"));
            };
            if s.from < previous {
                return Err(problem(
                    "starts before the acceptance or before the previous suspension ended",
                ));
            }
            if let Some(until) = s.until
                && until < s.from
            {
                return Err(problem("ends before it starts"));
            }
            previous_end = s.until;
        }
        Ok(())
    }

    /// Where `left` of `limit`'s unit runs out when counting starts at `anchor`.
    fn due_from(&self, limit: Limit, anchor: &Moment, left: i64) -> Result<Moment, CalendarError> {
        let day = match limit {
            Limit::WorkingSeconds(_) if left == 0 => return Ok(*anchor),
            Limit::WorkingSeconds(_) => {
                let start = self.coordinate(anchor.day, anchor.second);
                let (day, second) = self.position_of(start + left);
                return Ok(Moment {
                    at: self.instant(day, second)?,
                    day,
                    second,
                });
            }
            Limit::WorkingDays(_) if left > 0 => {
                // The acceptance day is not counted: day 1 is the first working day after it.
                self.table
                    .select(self.table.rank(anchor.day + 1) + left - 1)
            }
            Limit::WorkingDays(_) => self.working_day_from(anchor.day),
            Limit::NaturalDays(_) => self.working_day_from(anchor.day + left),
        };
        let close = self.office_hours.close();
        // Only a zero limit can land on the anchor's own day; never due before acceptance.
        let day = if day == anchor.day && anchor.second > close {
            self.working_day_from(day + 1)
        } else {
            day
        };
        Ok(Moment {
            at: self.instant(day, close)?,
            day,
            second: close,
        })
    }

    /// How much of `limit`'s unit counting from `anchor` has used by `from`, when a pause
    /// starts: whole days through the suspension day, or office seconds to the instant.
    fn used(&self, limit: Limit, anchor: &Moment, from: &Moment) -> i64 {
        match limit {
            Limit::WorkingDays(_) => {
                self.table.rank(from.day + 1) - self.table.rank(anchor.day + 1)
            }
            Limit::NaturalDays(_) => from.day - anchor.day,
            Limit::WorkingSeconds(_) => self.between(anchor, from),
        }
    }

    /// Office seconds from `a` to `b` (negative if `b` is earlier).
    fn between(&self, a: &Moment, b: &Moment) -> i64 {
        self.coordinate(b.day, b.second) - self.coordinate(a.day, a.second)
    }
}
