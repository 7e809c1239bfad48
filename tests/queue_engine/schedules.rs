//! Schedules: holidays, make-up days, lunch breaks, overrides (the API's over the config's),
//! a replaced calendar and an always-open hall.

use super::*;
use jiff::civil::date;

/// A county hall on the mainland calendar: weekday hours with a lunch break, lunch-time
/// service on Wednesdays, Saturday mornings.
const SCHEDULED: &str = r#"
[[calendar]]
id = "cn-mainland"
file = "config/calendars/cn-mainland.toml"

[[hall]]
id = "h"
name = "Hall"
tier = "county"

[hall.hours]
mon = ["08:30-12:00", "13:30-17:30"]
tue = ["08:30-12:00", "13:30-17:30"]
wed = ["08:30-12:00", "12:00-13:30", "13:30-17:30"]
thu = ["08:30-12:00", "13:30-17:30"]
fri = ["08:30-12:00", "13:30-17:30"]
sat = ["09:00-12:00"]

[[hall.hours_override]]
date = 2026-11-24
closed = true
reason = "系统升级"

[[hall.service]]
id = "a"
name = "Service A"
prefix = "A"

[[hall.window]]
id = "w1"
name = "1号窗口"
services = ["a"]
"#;

/// Local time in Shanghai as an instant.
fn sh(local: &str) -> Timestamp {
    let dt = jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M", local).unwrap();
    jiff::tz::TimeZone::get("Asia/Shanghai")
        .unwrap()
        .to_timestamp(dt)
        .unwrap()
}

/// A Shanghai local time as the API shows it: `2026-10-08 08:30` → `2026-10-08T08:30:00+08:00`.
fn shown(local: &str) -> LocalTime {
    format!("{}:00+08:00", local.replace(' ', "T"))
        .parse()
        .unwrap()
}

fn at(src: &str, local: &str) -> H {
    let now = sh(local);
    H {
        e: HallEngine::new(hall(src), now),
        now,
        events: Vec::new(),
    }
}

fn try_issue(h: &mut H) -> Result<Reply, QueueError> {
    h.run(Command::Issue {
        service: 0,
        class: TicketClass::Normal,
        slot: None,
        checked_in: true,
    })
}

fn schedule_events(h: &H) -> Vec<(schedule::ScheduleCause, bool)> {
    h.events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::ScheduleChanged {
                cause, schedule, ..
            } => Some((*cause, schedule.open_now)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_holiday_closes_the_hall_and_names_the_next_opening_after_the_break() {
    // Thursday 2026-10-01, 国庆节: a weekday with hours, but the calendar has it off, and the
    // break runs to Wednesday 10-07 (the Saturday in it is off too, Saturday hours or not).
    let mut h = at(SCHEDULED, "2026-10-01 10:00");
    let s = h.e.schedule(h.now);
    assert!(!s.open_now);
    assert_eq!(s.today.source, schedule::DaySource::Holiday);
    assert_eq!(s.today.name.as_deref(), Some("国庆节"));
    assert!(s.today.closed);
    assert_eq!(s.closed_reason.as_ref().unwrap().code, ClosedCode::Holiday);
    assert_eq!(s.next_opening, Some(shown("2026-10-08 08:30")));
    assert!(!h.e.snapshot(h.now).open_now);
    match try_issue(&mut h) {
        Err(QueueError::HallClosed {
            next_opening,
            reason,
            opens,
            ..
        }) => {
            let why = reason.describe();
            assert_eq!(next_opening, Some(shown("2026-10-08 08:30")));
            assert_eq!(reason.name.as_deref(), Some("国庆节"));
            assert!(why.contains("国庆节"), "{why}");
            assert!(opens.contains("2026-10-08 08:30"), "{opens}");
        }
        r => panic!("a holiday issued a ticket: {r:?}"),
    }
    assert_eq!(
        h.e.day_hours(date(2026, 10, 3)).source,
        schedule::DaySource::Holiday
    );
    // The first day after the break is an ordinary Thursday.
    h.now = sh("2026-10-08 08:30");
    assert!(matches!(try_issue(&mut h), Ok(Reply::Issued(_))));
    assert_eq!(
        schedule_events(&h),
        [(schedule::ScheduleCause::Opened, true)]
    );
}

#[test]
fn a_makeup_saturday_opens_with_the_ordinary_weekday_hours() {
    // Saturday 2026-10-10 is a 调休 working day: the hall works Monday's hours, not its
    // Saturday morning.
    let mut h = at(SCHEDULED, "2026-10-10 15:00");
    let day = h.e.day_hours(date(2026, 10, 10));
    assert_eq!(day.source, schedule::DaySource::Makeup);
    assert_eq!(day.hours, ["08:30-12:00", "13:30-17:30"]);
    assert_eq!(day.name.as_deref(), Some("国庆节"));
    assert!(matches!(try_issue(&mut h), Ok(Reply::Issued(_))));

    // A hall without Saturday hours opens too; `makeup_day` gives make-up days their own.
    let weekdays = SCHEDULED.replace("sat = [\"09:00-12:00\"]", "");
    let mut h = at(&weekdays, "2026-10-10 09:00");
    assert!(matches!(try_issue(&mut h), Ok(Reply::Issued(_))));
    let own = weekdays.replace(
        "[hall.hours]",
        "[hall.hours]\nmakeup_day = [\"09:00-12:00\"]",
    );
    let mut h = at(&own, "2026-10-10 14:00");
    assert_eq!(h.e.day_hours(date(2026, 10, 10)).hours, ["09:00-12:00"]);
    assert!(matches!(
        try_issue(&mut h),
        Err(QueueError::HallClosed {
            reason: ClosedReason {
                code: ClosedCode::AfterHours,
                ..
            },
            ..
        })
    ));
    // An ordinary Saturday keeps the Saturday hours.
    let h = at(SCHEDULED, "2026-10-17 10:00");
    assert_eq!(
        h.e.day_hours(date(2026, 10, 17)).source,
        schedule::DaySource::Week
    );
    assert!(h.e.schedule(h.now).open_now);
}

#[test]
fn lunch_break_closes_and_contiguous_intervals_stay_open() {
    let mut h = at(SCHEDULED, "2026-11-23 11:59"); // Monday
    let s = h.e.schedule(h.now);
    assert!(s.open_now);
    assert_eq!(s.closes_at, Some(shown("2026-11-23 12:00")));
    h.now = sh("2026-11-23 12:30");
    let Err(QueueError::HallClosed {
        reason,
        next_opening,
        ..
    }) = try_issue(&mut h)
    else {
        panic!("issued during the lunch break")
    };
    assert_eq!(reason.code, ClosedCode::Break);
    assert_eq!(next_opening, Some(shown("2026-11-23 13:30")));
    h.e.tick(sh("2026-11-23 13:30"), &mut h.events);
    assert_eq!(
        schedule_events(&h),
        [
            (schedule::ScheduleCause::Closed, false),
            (schedule::ScheduleCause::Opened, true)
        ],
        "the hall says when it closes and opens"
    );
    // Wednesday's lunch-time service joins the morning and afternoon: open 08:30 to 17:30.
    let h = at(SCHEDULED, "2026-11-25 09:00");
    assert_eq!(
        h.e.schedule(h.now).closes_at,
        Some(shown("2026-11-25 17:30"))
    );
    // After hours on Friday: Saturday morning is next.
    let h = at(SCHEDULED, "2026-11-27 18:00");
    let s = h.e.schedule(h.now);
    assert_eq!(s.closed_reason.unwrap().code, ClosedCode::AfterHours);
    assert_eq!(s.next_opening, Some(shown("2026-11-28 09:00")));
}

#[test]
fn overrides_win_over_calendar_and_week_and_the_api_over_the_config() {
    // The config closes Tuesday 2026-11-24.
    let mut h = at(SCHEDULED, "2026-11-24 10:00");
    let s = h.e.schedule(h.now);
    assert!(!s.open_now);
    assert_eq!(s.closed_reason.as_ref().unwrap().code, ClosedCode::Override);
    assert_eq!(
        s.closed_reason.as_ref().unwrap().name.as_deref(),
        Some("系统升级")
    );
    assert_eq!(s.next_opening, Some(shown("2026-11-25 08:30")));
    assert_eq!(s.overrides.len(), 1);
    assert!(try_issue(&mut h).is_err());

    // The API opens it after all, for the morning only: it wins over the config.
    let set = |hours: Vec<(&str, &str)>, day: jiff::civil::Date| Command::SetHours {
        date: day,
        hours: hours
            .into_iter()
            .map(|(a, b)| (a.parse().unwrap(), b.parse().unwrap()))
            .collect::<Vec<_>>()
            .into_boxed_slice(),
        reason: Some("恢复办理".into()),
    };
    match h.ok(set(vec![("09:00", "12:00")], date(2026, 11, 24))) {
        Reply::Hours(d) => {
            assert_eq!(d.hours, ["09:00-12:00"]);
            assert_eq!(d.set_by, Some(schedule::SetBy::Api));
        }
        r => panic!("{r:?}"),
    }
    assert!(matches!(try_issue(&mut h), Ok(Reply::Issued(_))));
    assert_eq!(
        schedule_events(&h),
        [(schedule::ScheduleCause::Override, true)]
    );

    // A holiday opened by an override (a special service day), and a normal day closed.
    h.ok(set(vec![("09:00", "11:00")], date(2026, 12, 31)));
    h.ok(set(vec![], date(2026, 12, 30)));
    assert!(h.e.day_hours(date(2026, 12, 30)).closed);
    let upcoming: Vec<_> =
        h.e.schedule(h.now)
            .overrides
            .iter()
            .map(|d| d.date)
            .collect();
    assert_eq!(
        upcoming,
        [date(2026, 11, 24), date(2026, 12, 30), date(2026, 12, 31)]
    );

    // Removing the API's override gives the config's back; there is nothing more to remove.
    match h.ok(Command::ClearHours {
        date: date(2026, 11, 24),
    }) {
        Reply::Hours(d) => assert_eq!(d.set_by, Some(schedule::SetBy::Config)),
        r => panic!("{r:?}"),
    }
    assert!(try_issue(&mut h).is_err());
    assert!(matches!(
        h.run(Command::ClearHours {
            date: date(2026, 11, 24)
        }),
        Err(QueueError::NoOverride {
            in_config: true,
            ..
        })
    ));
    // Yesterday cannot be overridden.
    assert!(matches!(
        h.run(set(vec![], date(2026, 11, 23))),
        Err(QueueError::OverrideInPast { .. })
    ));

    // API overrides are stored with the hall and come back; past ones are dropped as the
    // day turns.
    let record = h.e.hall_record();
    assert_eq!(record.hours_overrides.len(), 2);
    let (back, _) = HallEngine::restore(h.e.config().clone(), h.now, record, Vec::new());
    assert_eq!(back.schedule(h.now), h.e.schedule(h.now));
    h.now = sh("2026-12-31 09:30");
    assert!(matches!(try_issue(&mut h), Ok(Reply::Issued(_))));
    assert_eq!(h.e.hall_record().hours_overrides.len(), 1, "12-30 is past");
}

#[test]
fn a_hall_follows_a_replaced_calendar_and_the_week_past_its_years() {
    // Past the calendar's last year there are no dated days: 2027-10-01 is a Friday.
    let mut h = at(SCHEDULED, "2027-10-01 10:00");
    assert!(h.e.schedule(h.now).open_now);
    let text = std::fs::read_to_string("config/calendars/cn-mainland.toml").unwrap()
        + "\n[[year]]\nyear = 2027\nnotice = \"test\"\ndays = [{ date = 2027-10-01, kind = \"off\", name = \"国庆节\" }]\n";
    let cal = hallq::calendar::Calendar::from_toml("test", &text).unwrap();
    h.e.replace_calendar(h.now, Arc::new(cal), &mut h.events);
    assert!(!h.e.schedule(h.now).open_now);
    assert!(try_issue(&mut h).is_err());
    assert_eq!(
        schedule_events(&h),
        [(schedule::ScheduleCause::Calendar, false)]
    );

    // Without a calendar, only the week counts: the holiday is an ordinary Thursday.
    let bare = SCHEDULED.replace(
        "[[calendar]]\nid = \"cn-mainland\"\nfile = \"config/calendars/cn-mainland.toml\"\n",
        "",
    );
    let h = at(&bare, "2026-10-01 10:00");
    assert!(h.e.schedule(h.now).open_now);
}

#[test]
fn an_always_open_hall_keeps_no_holidays_but_obeys_overrides() {
    let src = SCHEDULED.replace("[hall.hours]\n", "[hall.hours]\nalways = true\n");
    let mut h = at(&src, "2026-11-01 03:00");
    let s = h.e.schedule(h.now);
    assert!(s.open_now);
    assert_eq!(s.today.source, schedule::DaySource::Always);
    assert_eq!(
        s.closes_at,
        Some(shown("2026-11-24 00:00")),
        "the override's day"
    );
    assert!(matches!(try_issue(&mut h), Ok(Reply::Issued(_))));
    // The override's day: closed, by the override.
    h.now = sh("2026-11-24 10:00");
    assert!(matches!(
        try_issue(&mut h),
        Err(QueueError::HallClosed {
            reason: ClosedReason {
                code: ClosedCode::Override,
                ..
            },
            ..
        })
    ));
    // A holiday: open all the same, for more than a month ahead.
    let mut h = at(&src, "2026-10-01 03:00");
    assert!(matches!(try_issue(&mut h), Ok(Reply::Issued(_))));
    assert_eq!(h.e.schedule(h.now).closes_at, None);
}
