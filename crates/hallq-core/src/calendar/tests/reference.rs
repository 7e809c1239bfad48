//! A day-by-day (and, for working seconds, interval-by-interval) reference model of the
//! deadline rules, written plainly on `jiff` dates, and property tests holding the fast
//! arithmetic to it on the official calendar over 2023–2026.
//!
//! The model reads the calendar only through its public facts (week, overrides, office
//! hours, time zone), never through the lookup table it checks.

use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Time};
use proptest::prelude::*;

use super::official;
use crate::calendar::{
    Calendar, CalendarError, DayKind, Deadline, Due, Limit, Stopped, Suspension, SuspensionMode,
};

fn is_working(cal: &Calendar, date: Date) -> bool {
    match cal.override_on(date) {
        Some(o) => o.kind == DayKind::Work,
        None => cal.week().is_working(date.weekday()),
    }
}

fn hours(cal: &Calendar) -> Vec<(Time, Time)> {
    cal.office_hours().collect()
}

fn close(cal: &Calendar) -> Time {
    hours(cal).last().unwrap().1
}

fn next_working(cal: &Calendar, mut date: Date) -> Date {
    while !is_working(cal, date) {
        date = date.tomorrow().unwrap();
    }
    date
}

fn local(cal: &Calendar, at: Timestamp) -> DateTime {
    let at = Timestamp::from_second(at.as_second()).unwrap();
    cal.time_zone().to_datetime(at)
}

fn instant(cal: &Calendar, at: DateTime) -> Timestamp {
    cal.time_zone()
        .to_ambiguous_timestamp(at)
        .compatible()
        .unwrap()
}

fn seconds(t: Time) -> i64 {
    i64::from(t.hour()) * 3600 + i64::from(t.minute()) * 60 + i64::from(t.second())
}

/// Office seconds from `a` to `b`, walking every interval of every day (negative if b < a).
fn office_seconds(cal: &Calendar, a: DateTime, b: DateTime) -> i64 {
    if b < a {
        return -office_seconds(cal, b, a);
    }
    let mut total = 0;
    let mut day = a.date();
    while day <= b.date() {
        if is_working(cal, day) {
            for (open, close) in hours(cal) {
                let start = day.to_datetime(open).max(a);
                let end = day.to_datetime(close).min(b);
                if start < end {
                    total += seconds(end.time()) - seconds(start.time());
                }
            }
        }
        day = day.tomorrow().unwrap();
    }
    total
}

/// The earliest instant at which `left` office seconds after `from` have passed.
fn after_office_seconds(cal: &Calendar, from: DateTime, mut left: i64) -> DateTime {
    if left == 0 {
        return from;
    }
    let mut day = from.date();
    loop {
        if is_working(cal, day) {
            for (open, close) in hours(cal) {
                let start = day.to_datetime(open).max(from);
                let end = day.to_datetime(close);
                if start >= end {
                    continue;
                }
                let available = seconds(end.time()) - seconds(start.time());
                if left <= available {
                    let at = seconds(start.time()) + left;
                    return day.to_datetime(
                        Time::new((at / 3600) as i8, (at / 60 % 60) as i8, (at % 60) as i8, 0)
                            .unwrap(),
                    );
                }
                left -= available;
            }
        }
        day = day.tomorrow().unwrap();
    }
}

/// Where `left` runs out when counting starts at `anchor`, by walking.
fn due_from(cal: &Calendar, limit: Limit, anchor: DateTime, left: i64) -> DateTime {
    let mut day = anchor.date();
    match limit {
        Limit::WorkingSeconds(_) => return after_office_seconds(cal, anchor, left),
        Limit::WorkingDays(_) if left > 0 => {
            let mut counted = 0;
            while counted < left {
                day = day.tomorrow().unwrap();
                if is_working(cal, day) {
                    counted += 1;
                }
            }
        }
        Limit::WorkingDays(_) => day = next_working(cal, day),
        Limit::NaturalDays(_) => {
            for _ in 0..left {
                day = day.tomorrow().unwrap();
            }
            day = next_working(cal, day);
        }
    }
    if day == anchor.date() && anchor.time() > close(cal) {
        day = next_working(cal, day.tomorrow().unwrap());
    }
    day.to_datetime(close(cal))
}

/// What counting from `anchor` has used by the pause at `from`.
fn used(cal: &Calendar, limit: Limit, anchor: DateTime, from: DateTime) -> i64 {
    let mut count = 0;
    let mut day = anchor.date();
    match limit {
        Limit::WorkingSeconds(_) => return office_seconds(cal, anchor, from),
        Limit::WorkingDays(_) => {
            while day < from.date() {
                day = day.tomorrow().unwrap();
                count += i64::from(is_working(cal, day));
            }
        }
        Limit::NaturalDays(_) => {
            while day < from.date() {
                day = day.tomorrow().unwrap();
                count += 1;
            }
        }
    }
    count
}

/// The rules of the module doc, applied step by step. Assumes valid, ordered suspensions.
fn deadline(
    cal: &Calendar,
    accepted: Timestamp,
    limit: Limit,
    suspensions: &[Suspension],
) -> Result<Deadline, CalendarError> {
    let range = cal.range();
    let total = i64::from(limit.amount());
    let mut anchor = local(cal, accepted);
    // Every day walked, from where counting last (re)started to the due day.
    let mut walked_from = anchor.date();
    let mut left = total;
    let mut counted = 0;
    let mut due = due_from(cal, limit, anchor, left);
    for s in suspensions {
        let from = local(cal, s.from);
        if from > due {
            break;
        }
        let left_on_resume = match s.mode {
            SuspensionMode::Pause => left - used(cal, limit, anchor, from).min(left),
            SuspensionMode::Restart => total,
        };
        let Some(until) = s.until else {
            return Ok(Deadline::Stopped(Stopped {
                since: s.from,
                remaining: limit.with_amount(left_on_resume as u32),
            }));
        };
        counted = match s.mode {
            SuspensionMode::Pause => counted + office_seconds(cal, anchor, from),
            SuspensionMode::Restart => 0,
        };
        left = left_on_resume;
        anchor = local(cal, until);
        if s.mode == SuspensionMode::Restart {
            walked_from = anchor.date();
        }
        due = due_from(cal, limit, anchor, left);
    }
    // The first uncovered day walked; past the range's end, the horizon itself is reported.
    let mut first_uncovered = None;
    let mut day = walked_from;
    while day <= due.date() {
        if day < range.first {
            first_uncovered = Some(day);
            break;
        }
        if day > range.last {
            first_uncovered = Some(range.last.tomorrow().unwrap());
            break;
        }
        day = day.tomorrow().unwrap();
    }
    Ok(Deadline::Running(Due {
        at: instant(cal, due),
        provisional: first_uncovered.is_some(),
        first_uncovered,
        budget_seconds: counted + office_seconds(cal, anchor, due),
    }))
}

/// Working-day closes strictly after `now` up to the deadline, or minus those after the
/// deadline up to `now`: the alarm ladder's day count, by walking.
fn working_days_left(cal: &Calendar, due: DateTime, now: DateTime) -> i64 {
    let (from, to, sign) = if now <= due {
        (now, due, 1)
    } else {
        (due, now, -1)
    };
    let mut count = 0;
    let mut day = from.date();
    while day <= to.date() {
        let close = day.to_datetime(close(cal));
        if is_working(cal, day) && from < close && close <= to {
            count += 1;
        }
        day = day.tomorrow().unwrap();
    }
    sign * count
}

// 2022-10-01T00:00+08:00, three months before the calendar's first covered day, and 1,644
// days on to three months past its last (2026-12-31): counts cross the horizon both ways.
const FIRST_SECOND: i64 = 1_664_553_600;
const DAYS: i64 = 1644;

/// Instants over 2022-10 to 2027-03 (the calendar covers 2023–2026), often on the edges of
/// office hours where off-by-ones live.
fn instants() -> impl Strategy<Value = Timestamp> {
    let edges = [
        0,
        9 * 3600 - 1,
        9 * 3600,
        12 * 3600,
        12 * 3600 + 1,
        13 * 3600,
        17 * 3600 - 1,
        17 * 3600,
        17 * 3600 + 1,
    ];
    (
        0..DAYS,
        prop_oneof![0..86_400i64, proptest::sample::select(edges.to_vec())],
    )
        .prop_map(|(day, second)| {
            Timestamp::from_second(FIRST_SECOND + day * 86_400 + second).unwrap()
        })
}

fn limits() -> impl Strategy<Value = Limit> {
    prop_oneof![
        (0..60u32).prop_map(Limit::WorkingDays),
        (0..90u32).prop_map(Limit::NaturalDays),
        (0..60 * 7 * 3600u32).prop_map(Limit::WorkingSeconds),
        (0..40u32).prop_map(|h| Limit::WorkingSeconds(h * 3600)),
    ]
}

/// Up to three ordered suspensions after `accepted`; the last may be open. Some run past
/// the covered range, which the count must flag as provisional.
fn suspensions(accepted: Timestamp) -> impl Strategy<Value = Vec<Suspension>> {
    proptest::collection::vec((0..25 * 86_400i64, 0..15 * 86_400i64, any::<bool>()), 0..4)
        .prop_flat_map(move |steps| {
            let n = steps.len();
            (Just(steps), any::<bool>()).prop_map(move |(steps, last_open)| {
                let mut start = accepted.as_second();
                let mut list = Vec::new();
                for (i, (gap, length, pause)) in steps.iter().enumerate() {
                    let from = start + gap;
                    let until = from + length;
                    let open = last_open && i + 1 == n;
                    list.push(Suspension {
                        from: Timestamp::from_second(from).unwrap(),
                        until: (!open).then(|| Timestamp::from_second(until).unwrap()),
                        mode: if *pause {
                            SuspensionMode::Pause
                        } else {
                            SuspensionMode::Restart
                        },
                    });
                    start = until;
                }
                list
            })
        })
}

fn cases() -> impl Strategy<Value = (Timestamp, Limit, Vec<Suspension>)> {
    (instants(), limits())
        .prop_flat_map(|(accepted, limit)| (Just(accepted), Just(limit), suspensions(accepted)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn deadlines_match_the_walk((accepted, limit, suspensions) in cases()) {
        let cal = official();
        let fast = cal.deadline(accepted, limit, &suspensions, None);
        let walked = deadline(cal, accepted, limit, &suspensions);
        prop_assert_eq!(fast, walked);
    }

    #[test]
    fn remaining_time_matches_the_walk(
        accepted in instants(),
        limit in limits(),
        now in instants(),
    ) {
        let cal = official();
        let due = *cal.deadline(accepted, limit, &[], None).unwrap().due().unwrap();
        let remaining = cal.remaining(&due, now);
        let (due_local, now_local) = (local(cal, due.at), local(cal, now));
        prop_assert_eq!(remaining.working_seconds, office_seconds(cal, now_local, due_local));
        prop_assert_eq!(remaining.overdue, now_local > due_local);
        if !matches!(limit, Limit::WorkingSeconds(_)) {
            // Day limits fall due at a close, where the day count is the count of closes.
            prop_assert_eq!(remaining.working_days, working_days_left(cal, due_local, now_local));
        }
    }

    #[test]
    fn alarm_instants_are_the_first_at_their_threshold(
        accepted in instants(),
        limit in limits(),
        threshold in prop_oneof![
            -20 * 25_200i64..40 * 25_200,
            (-5i64..10).prop_map(|days| days * 25_200),
        ],
    ) {
        let cal = official();
        let due = *cal.deadline(accepted, limit, &[], None).unwrap().due().unwrap();
        let at = cal.when_remaining(&due, threshold).unwrap();
        prop_assert!(cal.remaining(&due, at).working_seconds <= threshold);
        if threshold > 0 {
            prop_assert!(at <= due.at);
        } else {
            prop_assert!(at >= due.at);
        }
        if threshold > 0 || at > due.at {
            let before = at.checked_sub(jiff::SignedDuration::from_secs(1)).unwrap();
            prop_assert!(cal.remaining(&due, before).working_seconds > threshold);
        }
        // Whole days: the same instant as the walk's close of the right working day.
        if threshold % 25_200 == 0 && !matches!(limit, Limit::WorkingSeconds(_)) {
            let days = threshold / 25_200;
            prop_assert_eq!(cal.when_working_days_remaining(&due, days).unwrap(), at);
            prop_assert!(cal.remaining(&due, at).working_days <= days);
        }
    }
}
