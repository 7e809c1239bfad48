//! Day numbers, the default week and the per-day table that makes working-day counting O(1).
//!
//! Days are plain integers (days since 1970-01-01, proleptic Gregorian) so that counting is
//! integer arithmetic, never a walk over `jiff` dates. The table holds, for every day it
//! covers, whether it is a working day, how many working days precede it (`rank`) and, for
//! every working day, its position (`select`). Outside the table the default week repeats
//! every 7 days, so `rank` and `select` stay O(1) there too, with closed formulas.
//!
//! Invariants: `rank` is non-decreasing and grows by exactly 1 across each working day;
//! `select(rank(d)) == d` for every working day `d`, on and off the table. The week has at
//! least one working day (the loader rejects an empty week), otherwise nothing past the
//! table could ever fall due.

use jiff::civil::{Date, Weekday};

/// Day number of 1970-01-05, a Monday: the origin of the weekly formulas.
const MONDAY_ZERO: i64 = 4;

/// Days since 1970-01-01 of a civil date (Howard Hinnant's `days_from_civil`).
pub(crate) fn day_number(date: Date) -> i64 {
    let (y, m, d) = (
        i64::from(date.year()),
        i64::from(date.month()),
        i64::from(date.day()),
    );
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day number, or `None` outside what `jiff` represents (±9999 years).
pub(crate) fn date_of(day: i64) -> Option<Date> {
    day.checked_add(719_468)?;
    let (y, m, d) = crate::localtime::civil_from_days(day);
    Date::new(i16::try_from(y).ok()?, m as i8, d as i8).ok()
}

/// Monday = 0 … Sunday = 6 for a day number.
fn weekday_index(day: i64) -> usize {
    (day - MONDAY_ZERO).rem_euclid(7) as usize
}

/// Which weekdays are working days when no dated override says otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Week {
    /// Indexed Monday = 0 … Sunday = 6.
    working: [bool; 7],
    /// `before[i]` = working weekdays among Monday..i (exclusive); `before[7]` = per week.
    before: [i64; 8],
    /// `nth[k]` = weekday index of the k-th working weekday (0-based), for `k < per week`.
    nth: [usize; 7],
}

impl Week {
    /// Monday to Friday working, Saturday and Sunday off.
    pub fn mon_to_fri() -> Week {
        Week::from_days([true, true, true, true, true, false, false])
    }

    /// A week from working flags indexed Monday = 0 … Sunday = 6. At least one must be set;
    /// the loader guarantees it.
    pub(crate) fn from_days(working: [bool; 7]) -> Week {
        debug_assert!(working.iter().any(|w| *w), "a week needs a working day");
        let mut before = [0; 8];
        let mut nth = [0; 7];
        for (i, &w) in working.iter().enumerate() {
            if w {
                nth[before[i] as usize] = i;
            }
            before[i + 1] = before[i] + i64::from(w);
        }
        Week {
            working,
            before,
            nth,
        }
    }

    /// Whether `weekday` is a working day by default.
    pub fn is_working(&self, weekday: Weekday) -> bool {
        self.working[weekday.to_monday_zero_offset() as usize]
    }

    fn is_working_day(&self, day: i64) -> bool {
        self.working[weekday_index(day)]
    }

    fn per_week(&self) -> i64 {
        self.before[7]
    }

    /// Working days in `[MONDAY_ZERO, day)` (negative for earlier days).
    fn count_to(&self, day: i64) -> i64 {
        let offset = day - MONDAY_ZERO;
        offset.div_euclid(7) * self.per_week() + self.before[offset.rem_euclid(7) as usize]
    }

    /// The working day `d` with `count_to(d) == k`: the inverse of `count_to` on working days.
    fn working_day_at(&self, k: i64) -> i64 {
        let weeks = k.div_euclid(self.per_week());
        let within = k.rem_euclid(self.per_week()) as usize;
        MONDAY_ZERO + 7 * weeks + self.nth[within] as i64
    }
}

/// Working-day flags, ranks and positions over a span of days, plus the week beyond it.
#[derive(Debug, Clone)]
pub(crate) struct DayTable {
    /// Day number of index 0.
    origin: i64,
    /// One flag per tabled day.
    working: Vec<bool>,
    /// `rank[i]` = working days in `[origin, origin + i)`; one entry longer than `working`.
    rank: Vec<u32>,
    /// `select[k]` = index of the k-th working day in the table.
    select: Vec<u32>,
    /// Rules every day outside the table.
    week: Week,
}

impl DayTable {
    /// Tabulates `first..=last` with `is_working` (called once per day, at load time only).
    pub(crate) fn new(
        first: i64,
        last: i64,
        week: Week,
        is_working: impl Fn(i64) -> bool,
    ) -> DayTable {
        let len = usize::try_from(last - first + 1).unwrap_or(0);
        let mut working = Vec::with_capacity(len);
        let mut rank = Vec::with_capacity(len + 1);
        let mut select = Vec::new();
        rank.push(0);
        for i in 0..len {
            let w = is_working(first + i as i64);
            working.push(w);
            if w {
                select.push(i as u32);
            }
            rank.push(select.len() as u32);
        }
        DayTable {
            origin: first,
            working,
            rank,
            select,
            week,
        }
    }

    pub(crate) fn week(&self) -> &Week {
        &self.week
    }

    fn end(&self) -> i64 {
        self.origin + self.working.len() as i64
    }

    fn index(&self, day: i64) -> Option<usize> {
        usize::try_from(day - self.origin)
            .ok()
            .filter(|&i| i < self.working.len())
    }

    /// Whether `day` is a working day, on the table or by the default week outside it.
    pub(crate) fn is_working(&self, day: i64) -> bool {
        match self.index(day) {
            Some(i) => self.working[i],
            None => self.week.is_working_day(day),
        }
    }

    /// Working days in `[origin, day)`; negative (minus the working days in `[day, origin)`)
    /// before the table. `rank(b) - rank(a)` counts the working days in `[a, b)` for any
    /// `a <= b`.
    pub(crate) fn rank(&self, day: i64) -> i64 {
        let offset = day - self.origin;
        if offset < 0 {
            self.week.count_to(day) - self.week.count_to(self.origin)
        } else if let Some(&r) = self.rank.get(offset as usize) {
            i64::from(r)
        } else {
            self.tabled() + self.week.count_to(day) - self.week.count_to(self.end())
        }
    }

    /// The working day whose rank is `k`.
    pub(crate) fn select(&self, k: i64) -> i64 {
        if k < 0 {
            self.week
                .working_day_at(self.week.count_to(self.origin) + k)
        } else if let Some(&i) = self.select.get(k as usize) {
            self.origin + i64::from(i)
        } else {
            let beyond = k - self.tabled();
            self.week
                .working_day_at(self.week.count_to(self.end()) + beyond)
        }
    }

    fn tabled(&self) -> i64 {
        self.select.len() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_numbers_round_trip_and_match_known_days() {
        assert_eq!(day_number(Date::constant(1970, 1, 1)), 0);
        assert_eq!(day_number(Date::constant(2000, 3, 1)), 11_017);
        assert_eq!(weekday_index(day_number(Date::constant(2026, 2, 14))), 5);
        for day in [-800_000, -1, 0, 59, 60, 11_016, 20_000, 2_000_000] {
            let date = date_of(day).unwrap();
            assert_eq!(day_number(date), day, "{date}");
            assert_eq!(
                weekday_index(day),
                date.weekday().to_monday_zero_offset() as usize
            );
        }
        assert_eq!(date_of(10_000_000), None);
    }

    #[test]
    fn rank_and_select_agree_on_and_off_the_table() {
        // A table where every day is a working day, inside a Mon–Fri week, so the seams show.
        let (first, last) = (100, 130);
        let table = DayTable::new(first, last, Week::mon_to_fri(), |_| true);
        let mut expected_rank = table.rank(first - 60);
        for day in first - 60..last + 60 {
            assert_eq!(table.rank(day), expected_rank, "rank of day {day}");
            if table.is_working(day) {
                assert_eq!(
                    table.select(expected_rank),
                    day,
                    "select of rank {expected_rank}"
                );
                expected_rank += 1;
            }
        }
        assert!(table.is_working(first + 2));
        assert_eq!(table.rank(first), 0);
    }

    #[test]
    fn weeks_with_few_working_days_count_correctly() {
        // Only Wednesday and Saturday work.
        let week = Week::from_days([false, false, true, false, false, true, false]);
        let table = DayTable::new(1000, 999, week, |_| unreachable!());
        let working: Vec<i64> = (0..30).filter(|&d| table.is_working(d)).collect();
        for (k, &day) in working.iter().enumerate() {
            let k = k as i64 + table.rank(0);
            assert_eq!(table.select(k), day);
            assert_eq!(table.rank(day), k);
        }
        assert_eq!(working.len(), 8);
    }
}
