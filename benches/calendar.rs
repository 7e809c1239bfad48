//! How long the deadline engine takes per case when a calendar is replaced and millions of
//! open deadlines are recomputed: one deadline, one remaining-time view, one alarm instant.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use hallq::calendar::{Calendar, Limit, Suspension, SuspensionMode};
use jiff::{SignedDuration, Timestamp};

const OFFICIAL: &str = include_str!("../config/calendars/cn-mainland.toml");

fn calendar(c: &mut Criterion) {
    let cal = Calendar::from_toml("cn-mainland.toml", OFFICIAL).expect("official calendar");
    let at = |text: &str| cal.parse_instant(text).expect("a local time");
    // Acceptances spread over 2025, so lookups do not sit in one cache line of the table.
    let base = at("2025-01-02T10:00");
    let accepted: Vec<Timestamp> = (0..360)
        .map(|i| base + SignedDuration::from_hours(i * 24 + i % 7))
        .collect();
    let mut i = 0;
    let mut next = || {
        i = (i + 1) % accepted.len();
        accepted[i]
    };

    c.bench_function("deadline 20wd", |b| {
        b.iter(|| cal.deadline(black_box(next()), Limit::WorkingDays(20), &[], None))
    });
    c.bench_function("deadline 8wh", |b| {
        b.iter(|| {
            cal.deadline(
                black_box(next()),
                Limit::WorkingSeconds(8 * 3600),
                &[],
                None,
            )
        })
    });
    c.bench_function("deadline 20wd, two pauses", |b| {
        b.iter(|| {
            let accepted = black_box(next());
            let pauses = [
                Suspension {
                    from: accepted + SignedDuration::from_hours(30),
                    until: Some(accepted + SignedDuration::from_hours(80)),
                    mode: SuspensionMode::Pause,
                },
                Suspension {
                    from: accepted + SignedDuration::from_hours(200),
                    until: Some(accepted + SignedDuration::from_hours(300)),
                    mode: SuspensionMode::Pause,
                },
            ];
            cal.deadline(accepted, Limit::WorkingDays(20), &pauses, None)
        })
    });

    let due = *cal
        .deadline(at("2025-09-26T10:00"), Limit::WorkingDays(20), &[], None)
        .expect("in range")
        .due()
        .expect("running");
    c.bench_function("remaining", |b| {
        b.iter(|| cal.remaining(&due, black_box(next())))
    });
    c.bench_function("when 1 working day remains", |b| {
        b.iter(|| cal.when_working_days_remaining(&due, black_box(1)))
    });
}

criterion_group!(benches, calendar);
criterion_main!(benches);
