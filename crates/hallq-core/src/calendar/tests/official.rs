//! Deadlines on the State Council calendar (config/calendars/cn-mainland.toml), with dates
//! checked by hand against the notices.

use jiff::civil::date;

use super::{local, official};
use crate::calendar::{
    CalendarError, DayKind, Deadline, Due, Limit, Stopped, Suspension, SuspensionMode,
};

/// The deadline of a case with no suspension, as RFC 3339.
fn due(accepted: &str, limit: &str) -> String {
    due_with(accepted, limit, &[])
}

fn due_with(accepted: &str, limit: &str, suspensions: &[Suspension]) -> String {
    let cal = official();
    match cal
        .deadline(local(accepted), limit.parse().unwrap(), suspensions, None)
        .unwrap()
    {
        Deadline::Running(due) => cal.format_rfc3339(due.at),
        stopped => panic!("expected a running clock, got {stopped:?}"),
    }
}

fn running(accepted: &str, limit: &str) -> Due {
    *official()
        .deadline(local(accepted), limit.parse().unwrap(), &[], None)
        .unwrap()
        .due()
        .unwrap()
}

fn pause(from: &str, until: &str) -> Suspension {
    Suspension {
        from: local(from),
        until: Some(local(until)),
        mode: SuspensionMode::Pause,
    }
}

fn restart(from: &str, until: &str) -> Suspension {
    Suspension {
        mode: SuspensionMode::Restart,
        ..pause(from, until)
    }
}

#[test]
fn contract_example_twenty_working_days_over_national_day() {
    // Oct 1–8 off, Sep 28 (Sun) and Oct 11 (Sat) make-up days fall inside.
    assert_eq!(due("2025-09-26T10:00", "20wd"), "2025-10-30T17:00:00+08:00");
}

#[test]
fn contract_example_pause_over_mid_autumn_and_national_day() {
    let s = [pause("2026-09-16T10:00", "2026-09-24T15:00")];
    assert_eq!(
        due_with("2026-09-14T09:30", "10wd", &s),
        "2026-10-13T17:00:00+08:00"
    );
}

#[test]
fn the_table_follows_the_notices() {
    let cal = official();
    // 2022-12-31 is listed under 2023 and honoured although it lies before the range.
    assert_eq!(
        cal.override_on(date(2022, 12, 31)).unwrap().kind,
        DayKind::Off
    );
    assert!(!cal.is_working_day(date(2023, 1, 2)));
    assert!(cal.is_working_day(date(2023, 1, 29)), "Sunday make-up day");
    assert!(cal.is_working_day(date(2026, 1, 4)), "Sunday make-up day");
    assert!(
        cal.is_working_day(date(2026, 2, 28)),
        "Saturday make-up day"
    );
    assert!(
        !cal.is_working_day(date(2026, 2, 23)),
        "Monday inside the break"
    );
    assert!(
        !cal.is_working_day(date(2027, 1, 2)),
        "default week after the range"
    );
    assert!(cal.is_working_day(date(2027, 1, 1)), "no 2027 notice yet");
    assert_eq!(cal.range().to_string(), "2023-01-01..=2026-12-31");
}

#[test]
fn new_year_2023_starts_before_the_range() {
    // Jan 1–2 off: the first working day after Sunday Jan 1 is Tuesday Jan 3.
    assert_eq!(due("2023-01-01T10:00", "1wd"), "2023-01-03T17:00:00+08:00");
    assert!(!running("2023-01-01T10:00", "1wd").provisional);
    // Accepted before the first covered day: counted all the same (Dec 31 and Jan 1–2 are in
    // the 2023 notice, so day 1 is Jan 3), and flagged from the acceptance day.
    let early = running("2022-12-30T10:00", "1wd");
    assert_eq!(
        official().format_rfc3339(early.at),
        "2023-01-03T17:00:00+08:00"
    );
    assert_eq!(
        (early.provisional, early.first_uncovered),
        (true, Some(date(2022, 12, 30)))
    );
}

#[test]
fn december_to_january_crossings() {
    // Dec 30, Dec 31, (Jan 1 off), Jan 2, Jan 3, (weekend), Jan 6.
    assert_eq!(due("2024-12-27T10:00", "5wd"), "2025-01-06T17:00:00+08:00");
    // Dec 31, (Jan 1–3 off), Sun Jan 4 make-up, Mon Jan 5.
    assert_eq!(due("2025-12-30T10:00", "3wd"), "2026-01-05T17:00:00+08:00");
    assert_eq!(due("2025-12-30T10:00", "2wd"), "2026-01-04T17:00:00+08:00");
}

#[test]
fn make_up_days_on_sundays_and_saturdays_count() {
    // Spring Festival 2023: Jan 21–27 off, Sat Jan 28 and Sun Jan 29 worked.
    assert_eq!(due("2023-01-20T10:00", "1wd"), "2023-01-28T17:00:00+08:00");
    assert_eq!(due("2023-01-20T10:00", "2wd"), "2023-01-29T17:00:00+08:00");
    assert_eq!(due("2026-09-18T10:00", "1wd"), "2026-09-20T17:00:00+08:00");
    assert_eq!(due("2026-02-27T10:00", "1wd"), "2026-02-28T17:00:00+08:00");
    assert_eq!(due("2026-10-09T10:00", "1wd"), "2026-10-10T17:00:00+08:00");
    // Accepted on a make-up Saturday: that day is the acceptance day, not day 1.
    assert_eq!(due("2026-10-10T10:00", "1wd"), "2026-10-12T17:00:00+08:00");
}

#[test]
fn nine_day_spring_festival_2026() {
    // Sat Feb 14 worked, Feb 15–23 off, then Feb 24.
    assert_eq!(due("2026-02-13T10:00", "1wd"), "2026-02-14T17:00:00+08:00");
    assert_eq!(due("2026-02-13T10:00", "2wd"), "2026-02-24T17:00:00+08:00");
    assert_eq!(due("2026-02-13T10:00", "5wd"), "2026-02-27T17:00:00+08:00");
    assert_eq!(due("2026-02-13T10:00", "6wd"), "2026-02-28T17:00:00+08:00");
}

#[test]
fn instant_cases_fall_due_the_same_working_day() {
    assert_eq!(due("2026-02-17T10:00", "0wd"), "2026-02-24T17:00:00+08:00");
    assert_eq!(due("2026-02-13T10:00", "0wd"), "2026-02-13T17:00:00+08:00");
    assert_eq!(due("2026-02-13T17:00", "0wd"), "2026-02-13T17:00:00+08:00");
    // After the close: never due before acceptance, so the next working day (Sat Feb 14).
    assert_eq!(due("2026-02-13T17:30", "0wd"), "2026-02-14T17:00:00+08:00");
}

#[test]
fn working_hours_skip_lunch_nights_and_holidays() {
    assert_eq!(due("2025-09-26T11:00", "2wh"), "2025-09-26T14:00:00+08:00");
    assert_eq!(due("2025-09-26T11:00", "90wm"), "2025-09-26T13:30:00+08:00");
    assert_eq!(
        due("2025-09-26T11:59:30", "0.5wm"),
        "2025-09-26T12:00:00+08:00"
    );
    // Used up exactly at noon: due at 12:00, not at the 13:00 reopening.
    assert_eq!(due("2025-09-26T09:00", "3wh"), "2025-09-26T12:00:00+08:00");
    // Accepted at lunch: counting starts at 13:00.
    assert_eq!(due("2025-09-26T12:20", "1wh"), "2025-09-26T14:00:00+08:00");
    // Accepted on Saturday: counting starts Sunday Sep 28 (make-up day) at 09:00.
    assert_eq!(due("2025-09-27T10:00", "4wh"), "2025-09-28T14:00:00+08:00");
    // 1h on Feb 13, the whole make-up Saturday (7h), then the break, then Feb 24.
    assert_eq!(due("2026-02-13T16:00", "8wh"), "2026-02-14T17:00:00+08:00");
    assert_eq!(due("2026-02-13T16:00", "9wh"), "2026-02-24T10:00:00+08:00");
    // Half an hour before National Day 2025, the rest after the eight days off.
    assert_eq!(due("2025-09-30T16:30", "1wh"), "2025-10-09T09:30:00+08:00");
    // Zero hours: due at acceptance, whenever that is.
    assert_eq!(due("2025-09-27T10:00", "0wh"), "2025-09-27T10:00:00+08:00");
}

#[test]
fn natural_days_ending_on_a_holiday_move_to_the_next_working_day() {
    assert_eq!(due("2025-09-26T10:00", "3d"), "2025-09-29T17:00:00+08:00");
    // Feb 15 is inside the Spring Festival break: the period ends on Feb 24.
    assert_eq!(due("2026-02-10T10:00", "5d"), "2026-02-24T17:00:00+08:00");
    // Ends on the make-up Saturday: that is a working day.
    assert_eq!(due("2026-02-21T10:00", "7d"), "2026-02-28T17:00:00+08:00");
    // Ends on an ordinary Sunday: Monday.
    assert_eq!(due("2026-03-02T10:00", "6d"), "2026-03-09T17:00:00+08:00");
}

#[test]
fn restart_counts_the_full_limit_from_the_resume_day() {
    let s = [restart("2026-03-04T10:00", "2026-03-10T15:00")];
    assert_eq!(
        due_with("2026-03-02T10:00", "10wd", &s),
        "2026-03-24T17:00:00+08:00"
    );
}

#[test]
fn pauses_in_sequence_keep_what_remains() {
    // Mar 3, 4 used (8 left); Mar 9–12 used (4 left); then Mar 17–20.
    let s = [
        pause("2026-03-04T10:00", "2026-03-06T10:00"),
        pause("2026-03-12T10:00", "2026-03-16T10:00"),
    ];
    assert_eq!(
        due_with("2026-03-02T10:00", "10wd", &s),
        "2026-03-20T17:00:00+08:00"
    );
    // A pause then a restart: the full 10 days again from Mar 16, through Mar 30.
    let s = [
        pause("2026-03-04T10:00", "2026-03-06T10:00"),
        restart("2026-03-12T10:00", "2026-03-16T10:00"),
    ];
    assert_eq!(
        due_with("2026-03-02T10:00", "10wd", &s),
        "2026-03-30T17:00:00+08:00"
    );
}

#[test]
fn pauses_in_working_hours_stop_to_the_second() {
    // 1h before the pause at 10:00, 1h from the resume at 15:00.
    let s = [pause("2026-03-02T10:00", "2026-03-03T15:00")];
    assert_eq!(
        due_with("2026-03-02T09:00", "2wh", &s),
        "2026-03-03T16:00:00+08:00"
    );
}

#[test]
fn pauses_in_natural_days_skip_the_calendar_days_between() {
    // Accepted Mar 2, 10d: Mar 3, 4 used; resumed Mar 10; 8 more days → Mar 18 (Wed).
    let s = [pause("2026-03-04T10:00", "2026-03-10T10:00")];
    assert_eq!(
        due_with("2026-03-02T10:00", "10d", &s),
        "2026-03-18T17:00:00+08:00"
    );
}

#[test]
fn a_pause_on_the_last_day_leaves_the_resume_day() {
    // 1wd from Mar 2 is due Mar 3; paused on Mar 3, nothing is left: due at the close of
    // the resume day, like a 即办件.
    let s = [pause("2026-03-03T10:00", "2026-03-05T10:00")];
    assert_eq!(
        due_with("2026-03-02T10:00", "1wd", &s),
        "2026-03-05T17:00:00+08:00"
    );
}

#[test]
fn a_suspension_after_the_deadline_does_not_move_it() {
    let s = [pause("2026-03-04T10:00", "2026-03-10T10:00")];
    assert_eq!(
        due_with("2026-03-02T10:00", "1wd", &s),
        "2026-03-03T17:00:00+08:00"
    );
}

#[test]
fn an_open_suspension_stops_the_clock_with_what_remains() {
    let cal = official();
    let open = |mode| Suspension {
        from: local("2026-03-04T10:00"),
        until: None,
        mode,
    };
    let deadline = |mode| {
        cal.deadline(
            local("2026-03-02T10:00"),
            Limit::WorkingDays(10),
            &[open(mode)],
            None,
        )
        .unwrap()
    };
    assert_eq!(
        deadline(SuspensionMode::Pause),
        Deadline::Stopped(Stopped {
            since: local("2026-03-04T10:00"),
            remaining: Limit::WorkingDays(8),
        })
    );
    assert_eq!(
        deadline(SuspensionMode::Restart),
        Deadline::Stopped(Stopped {
            since: local("2026-03-04T10:00"),
            remaining: Limit::WorkingDays(10),
        })
    );
}

#[test]
fn extensions_add_in_the_limits_unit() {
    let cal = official();
    let accepted = local("2025-09-26T10:00");
    let extended = cal
        .deadline(
            accepted,
            Limit::WorkingDays(15),
            &[],
            Some(Limit::WorkingDays(5)),
        )
        .unwrap();
    assert_eq!(
        cal.format_rfc3339(extended.due().unwrap().at),
        "2025-10-30T17:00:00+08:00"
    );
    let err = cal
        .deadline(
            accepted,
            Limit::WorkingDays(15),
            &[],
            Some(Limit::NaturalDays(5)),
        )
        .unwrap_err();
    assert!(matches!(err, CalendarError::ExtensionUnit { .. }), "{err}");
}

#[test]
fn suspensions_out_of_order_are_refused_and_past_the_range_are_provisional() {
    let cal = official();
    let accepted = local("2026-03-02T10:00");
    let ten = Limit::WorkingDays(10);
    let before_acceptance = [pause("2026-03-01T10:00", "2026-03-03T10:00")];
    let err = cal
        .deadline(accepted, ten, &before_acceptance, None)
        .unwrap_err();
    assert!(
        matches!(err, CalendarError::Suspension { index: 1, .. }),
        "{err}"
    );
    let backwards = [pause("2026-03-04T10:00", "2026-03-03T10:00")];
    let err = cal.deadline(accepted, ten, &backwards, None).unwrap_err();
    assert!(err.to_string().contains("ends before it starts"), "{err}");
    let open_then_more = [
        Suspension {
            until: None,
            ..pause("2026-03-04T10:00", "2026-03-05T10:00")
        },
        pause("2026-03-06T10:00", "2026-03-09T10:00"),
    ];
    let err = cal
        .deadline(accepted, ten, &open_then_more, None)
        .unwrap_err();
    assert!(
        matches!(err, CalendarError::Suspension { index: 2, .. }),
        "{err}"
    );
    // Resumed in 2027, which no notice covers yet: Dec 29 and 30 are used (2 days), the
    // resume day is not counted, and the other 8 run on the default week from Wed Jan 6.
    let resumed_next_year = [pause("2026-12-30T10:00", "2027-01-05T10:00")];
    let Deadline::Running(due) = cal
        .deadline(local("2026-12-28T10:00"), ten, &resumed_next_year, None)
        .unwrap()
    else {
        panic!("the clock runs after the resume")
    };
    assert_eq!(cal.format_rfc3339(due.at), "2027-01-15T17:00:00+08:00");
    assert_eq!(due.first_uncovered, Some(date(2027, 1, 1)));
    // Accepted past the range: Mon Jan 4 + 10 working days on the default week.
    let late = running("2027-01-04T10:00", "10wd");
    assert_eq!(cal.format_rfc3339(late.at), "2027-01-18T17:00:00+08:00");
    assert_eq!(
        (late.provisional, late.first_uncovered),
        (true, Some(date(2027, 1, 1)))
    );
}

#[test]
fn deadlines_past_the_range_are_provisional() {
    // Dec 22–25, 28–31 (8), then 2027 on the default week: Fri Jan 1 (no notice yet), Jan 4.
    let late = running("2026-12-21T10:00", "10wd");
    assert_eq!(
        official().format_rfc3339(late.at),
        "2027-01-04T17:00:00+08:00"
    );
    assert!(late.provisional);
    assert_eq!(late.first_uncovered, Some(date(2027, 1, 1)));
    let inside = running("2026-12-21T10:00", "8wd");
    assert_eq!(
        official().format_rfc3339(inside.at),
        "2026-12-31T17:00:00+08:00"
    );
    assert!(!inside.provisional);
    assert_eq!(inside.first_uncovered, None);
}

#[test]
fn the_horizon_counts_days_to_the_last_covered_day_in_the_calendars_zone() {
    let cal = official();
    // Dec 31 in Shanghai is the last covered day, 0 left; it starts at 16:00 UTC the day before.
    assert_eq!(cal.horizon_days(local("2026-12-31T04:00")), 0);
    assert_eq!(cal.horizon_days("2026-12-30T15:59:59Z".parse().unwrap()), 1);
    assert_eq!(cal.horizon_days("2026-12-30T16:00:00Z".parse().unwrap()), 0);
    assert_eq!(cal.horizon_days(local("2027-01-04T10:00")), -4);
    assert_eq!(cal.horizon_days(local("2026-11-01T10:00")), 60);
    assert_eq!(
        cal.next_day_starts(local("2027-01-04T10:00")),
        local("2027-01-05T00:00")
    );
}

#[test]
fn remaining_working_days_follow_the_alarm_ladder() {
    let cal = official();
    let due = running("2025-09-26T10:00", "20wd");
    let when = |days| cal.format_rfc3339(cal.when_working_days_remaining(&due, days).unwrap());
    // Yellow: ≤ 1 working day left from the close of the day before the due day.
    assert_eq!(when(1), "2025-10-29T17:00:00+08:00");
    assert_eq!(when(0), "2025-10-30T17:00:00+08:00");
    // Escalate: 2 working days overdue at the close of the 2nd working day after (Mon).
    assert_eq!(when(-2), "2025-11-03T17:00:00+08:00");
    // 15 left from the close of Oct 10: Sat Oct 11 (make-up) is among them.
    assert_eq!(when(15), "2025-10-10T17:00:00+08:00");

    let at = |now| cal.remaining(&due, local(now));
    assert_eq!(at("2025-10-29T16:59").working_days, 2);
    assert_eq!(at("2025-10-29T17:00").working_days, 1);
    assert_eq!(at("2025-10-30T09:00").working_days, 1);
    let at_deadline = at("2025-10-30T17:00");
    assert_eq!((at_deadline.working_days, at_deadline.overdue), (0, false));
    let evening = at("2025-10-30T19:00");
    assert_eq!((evening.working_seconds, evening.overdue), (0, true));
    assert_eq!(at("2025-10-31T16:00").working_days, 0);
    assert_eq!(at("2025-10-31T17:00").working_days, -1);
    assert_eq!(at("2025-11-03T17:00").working_days, -2);
    // Office days are 7h (09–12, 13–17): 4h left on Oct 29 and the 7h of Oct 30.
    assert_eq!(at("2025-10-29T13:00").working_seconds, 11 * 3600);
}

#[test]
fn overdue_days_skip_holidays_after_the_deadline() {
    let cal = official();
    // Due Tue Sep 30 2025, right before eight days off: 2 days overdue on Fri Oct 10.
    let due = running("2025-09-29T10:00", "1wd");
    let two_over = cal.when_working_days_remaining(&due, -2).unwrap();
    assert_eq!(cal.format_rfc3339(two_over), "2025-10-10T17:00:00+08:00");
    assert_eq!(
        cal.remaining(&due, local("2025-10-08T17:00")).working_days,
        0
    );
}

#[test]
fn percent_elapsed_runs_from_acceptance_to_the_deadline() {
    let cal = official();
    let due = running("2025-09-26T10:00", "20wd");
    // 6h left on the acceptance day plus 20 days of 7h.
    assert_eq!(due.budget_seconds, (6 + 20 * 7) * 3600);
    assert_eq!(
        cal.remaining(&due, local("2025-09-26T10:00"))
            .elapsed_percent,
        0.0
    );
    assert_eq!(
        cal.remaining(&due, local("2025-10-30T17:00"))
            .elapsed_percent,
        100.0
    );
    let eighty = cal
        .when_remaining(&due, due.remaining_at_elapsed_percent(80))
        .unwrap();
    let r = cal.remaining(&due, eighty);
    assert!((80.0..80.01).contains(&r.elapsed_percent), "{r:?}");
    // A zero budget: nothing before the deadline, all of it at the deadline.
    let instant = running("2025-09-26T17:00", "0wd");
    assert_eq!(instant.budget_seconds, 0);
    assert_eq!(
        cal.remaining(&instant, local("2025-09-26T17:00"))
            .elapsed_percent,
        100.0
    );
}

#[test]
fn parse_instant_reads_dates_local_times_and_rfc3339() {
    let cal = official();
    let expected = "2025-09-26T00:00:00+08:00";
    assert_eq!(
        cal.format_rfc3339(cal.parse_instant("2025-09-26").unwrap()),
        expected
    );
    assert_eq!(
        cal.format_rfc3339(cal.parse_instant("2025-09-25T16:00:00Z").unwrap()),
        expected
    );
    let err = cal.parse_instant("26/09/2025").unwrap_err();
    assert!(err.to_string().contains("YYYY-MM-DD"), "{err}");
}
