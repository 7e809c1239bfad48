//! Schedules as townships keep them, through the real server's slots API: market days
//! (solar digits, every N days, lunar 农历 digits) opening the right days over a whole year,
//! a market-only service, a service's own hours, a dated override removing a market day's
//! slots, and the appointment-only hour before opening (早晚弹性办) in which a booked citizen
//! checks in while the hall is closed to everyone else.

mod support;

use std::sync::Arc;

use hallq::calendar::lunar_date;
use hallq::clock::ManualClock;
use jiff::civil::{Date, Weekday, date};
use serde_json::{Value, json};
use support::*;

fn config() -> String {
    let mut s = String::from(
        r#"
# 逢一、四、七 (solar): open Monday to Saturday mornings, from 07:00 on market days, which
# open Sundays too; 农技 on market days only; 社保 on Saturday mornings only.
[[hall]]
id = "digits"
name = "一四七镇"
tier = "township"
time_zone = "Asia/Shanghai"
day_starts = "00:00"

[hall.hours]
mon = ["08:30-12:00"]
tue = ["08:30-12:00"]
wed = ["08:30-12:00"]
thu = ["08:30-12:00"]
fri = ["08:30-12:00"]
sat = ["08:30-12:00"]

[hall.market]
day_ends_in = [1, 4, 7]
hours = ["07:00-12:00"]

[[hall.hours_override]]
date = 2027-03-14
closed = true
reason = "镇政府搬迁"

[[hall.service]]
id = "general"
name = "综合"
prefix = "A"

[[hall.service]]
id = "farming"
name = "农技"
prefix = "N"
market_only = true

[[hall.service]]
id = "social"
name = "社保"
prefix = "S"
hours = { sat = ["09:00-11:00"] }

[[hall.window]]
id = "w1"
name = "1号窗口"
services = ["general", "farming", "social"]

# Every five days from 2027-01-03, and no other day.
[[hall]]
id = "every"
name = "五日场镇"
tier = "township"
time_zone = "Asia/Shanghai"
day_starts = "00:00"
hours = { mon = [] }

[hall.market]
every_days = 5
anchor = 2027-01-03
hours = ["08:00-12:00"]

[[hall.service]]
id = "general"
name = "综合"
prefix = "A"

[[hall.window]]
id = "w1"
name = "1号窗口"
services = ["general"]

# 逢农历三、六、九, and no other day.
[[hall]]
id = "lunar"
name = "农历场镇"
tier = "township"
time_zone = "Asia/Shanghai"
day_starts = "00:00"
hours = { mon = [] }

[hall.market]
lunar_day_ends_in = [3, 6, 9]
hours = ["08:00-11:00"]

[[hall.service]]
id = "general"
name = "综合"
prefix = "A"

[[hall.window]]
id = "w1"
name = "1号窗口"
services = ["general"]

[booking]
keys = ["test-booking-key-0123456789"]
"#,
    );
    for (hall, service, extra) in [
        ("digits", "general", "before_opening_minutes = 30\n"),
        ("digits", "farming", ""),
        ("digits", "social", ""),
        ("every", "general", ""),
        ("lunar", "general", ""),
    ] {
        s += &format!(
            "\n[[booking.slots]]\nhall = \"{hall}\"\nservice = \"{service}\"\n\
             slot_minutes = 30\ncapacity = 2\ndays_ahead = 5\ncancel_until_minutes = 0\n{extra}"
        );
    }
    s += &role_tokens();
    s += &token(PORTAL, "booking", &["*"]);
    s
}

/// 2026-12-31 23:00 in the halls' zone: every day of 2027 is still to come.
async fn server() -> (Server, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new("2026-12-31T15:00:00Z".parse().unwrap()));
    let s = start_with_clock(&config(), tempfile::tempdir().unwrap(), clock.clone()).await;
    (s, clock)
}

fn year_2027() -> Vec<Date> {
    let mut d = date(2027, 1, 1);
    let mut out = Vec::new();
    while d.year() == 2027 {
        out.push(d);
        d = d.tomorrow().unwrap();
    }
    out
}

async fn slots(s: &Server, hall: &str, service: &str, d: Date) -> Vec<Value> {
    let r = s
        .get(
            PORTAL,
            &format!("/v1/halls/{hall}/slots?service={service}&date={d}"),
        )
        .await;
    assert_eq!(r.status, 200, "{hall}/{service} {d}: {:?}", r.body);
    r.body.as_array().unwrap().clone()
}

/// The days of 2027 on which `hall`'s `service` has any slot.
async fn open_days(s: &Server, hall: &str, service: &str) -> Vec<Date> {
    let mut out = Vec::new();
    for d in year_2027() {
        if !slots(s, hall, service, d).await.is_empty() {
            out.push(d);
        }
    }
    out
}

#[tokio::test]
async fn market_days_open_the_right_days_over_a_year() {
    let (s, _clock) = server().await;

    // Solar 1/4/7: every weekday but Sunday, and the Sundays that are market days, less the
    // market day closed by an override.
    let days = open_days(&s, "digits", "general").await;
    let expected: Vec<Date> = year_2027()
        .into_iter()
        .filter(|d| d.weekday() != Weekday::Sunday || [1, 4, 7].contains(&(d.day() % 10)))
        .filter(|&d| d != date(2027, 3, 14))
        .collect();
    assert_eq!(days, expected);
    // A market Sunday (2027-01-17) opens at 07:00: ten half-hour slots to 12:00, plus the
    // appointment-only half hour before opening.
    let sunday = slots(&s, "digits", "general", date(2027, 1, 17)).await;
    assert_eq!(sunday.len(), 11);
    assert_eq!(sunday[0]["start"], "2027-01-17T06:30:00+08:00");
    assert_eq!(sunday[0]["appointment_only"], true);
    assert_eq!(sunday[1]["start"], "2027-01-17T07:00:00+08:00");
    assert!(sunday[1].get("appointment_only").is_none());
    // An ordinary Monday: 08:30 to 12:00, and 08:00 for booked citizens only.
    let monday = slots(&s, "digits", "general", date(2027, 1, 18)).await;
    assert_eq!(monday.len(), 8);
    assert_eq!(monday[0]["start"], "2027-01-18T08:00:00+08:00");
    // The hours API says which days are market days.
    let hours = s.get(ADMIN, "/v1/halls/digits/hours/2027-01-17").await;
    assert_eq!(hours.body["market_day"], true, "{:?}", hours.body);
    assert_eq!(hours.body["source"], "market");
    let hours = s.get(ADMIN, "/v1/halls/digits/hours/2027-01-18").await;
    assert!(hours.body.get("market_day").is_none(), "{:?}", hours.body);

    // The market-only service: the 1/4/7 days (10 a month in 31-day months, 9 otherwise),
    // less the closed one.
    let farming = open_days(&s, "digits", "farming").await;
    let expected: Vec<Date> = year_2027()
        .into_iter()
        .filter(|d| [1, 4, 7].contains(&(d.day() % 10)) && *d != date(2027, 3, 14))
        .collect();
    assert_eq!(farming.len(), 12 * 9 + 7 - 1);
    assert_eq!(farming, expected);

    // 社保 on Saturday mornings only, whatever else the hall keeps.
    let social = open_days(&s, "digits", "social").await;
    assert!(social.iter().all(|d| d.weekday() == Weekday::Saturday));
    assert_eq!(social.len(), 52);
    assert_eq!(slots(&s, "digits", "social", social[0]).await.len(), 4);

    // Every five days from the anchor: 2027-01-03 + 5k, 73 days.
    let every = open_days(&s, "every", "general").await;
    assert_eq!(every.len(), 73);
    assert_eq!(every[0], date(2027, 1, 3));
    assert!(
        every
            .windows(2)
            .all(|w| w[0].until(w[1]).unwrap().get_days() == 5)
    );

    // Lunar 3/6/9: nine market days in every lunar month.
    let lunar = open_days(&s, "lunar", "general").await;
    let expected: Vec<Date> = year_2027()
        .into_iter()
        .filter(|&d| [3, 6, 9].contains(&(lunar_date(d).day % 10)))
        .collect();
    assert_eq!(lunar, expected);
    // Known dates: 2027-02-06 is Spring Festival (正月初一), 02-08 is 初三; 09-15 is 中秋
    // (八月十五), 09-16 十六.
    for (d, market) in [
        (date(2027, 2, 6), false),
        (date(2027, 2, 8), true),
        (date(2027, 9, 15), false),
        (date(2027, 9, 16), true),
    ] {
        assert_eq!(lunar.contains(&d), market, "{d}");
    }
    // 2 days left of the 11th lunar month of 2026, 9 in its 12th, 9 in each of the eleven
    // months of 2027 to late December, and 初三 of the 12th.
    assert_eq!(lunar.len(), 2 + 9 + 99 + 1);
    assert_eq!(slots(&s, "lunar", "general", lunar[0]).await.len(), 6);
}

#[tokio::test]
async fn a_booked_citizen_checks_in_before_opening() {
    let (s, clock) = server().await;
    // Monday 2027-01-18, 07:40 local: bookings for the appointment-only 08:00 slot.
    clock.set("2027-01-17T23:40:00Z".parse().unwrap());
    let slot = "2027-01-18T08:00:00+08:00";
    let booked = s
        .post(
            PORTAL,
            "/v1/halls/digits/bookings",
            json!({"service": "general", "start": slot, "channel": "web", "citizen": citizen(1)}),
        )
        .await;
    assert_eq!(booked.status, 201, "{:?}", booked.body);
    let code = booked.body["code"].as_str().unwrap().to_owned();

    // 08:05: the hall opens at 08:30, so a walk-in ticket is refused …
    clock.set("2027-01-18T00:05:00Z".parse().unwrap());
    let walk_in = s
        .post(
            KIOSK,
            "/v1/halls/digits/tickets",
            json!({"service": "general"}),
        )
        .await;
    assert_eq!(walk_in.status, 409, "{:?}", walk_in.body);
    assert_eq!(walk_in.body["type"], "urn:hallq:problem:hall-closed");
    // … and the booked citizen checks in.
    let checked = s
        .post(
            KIOSK,
            &format!("/v1/halls/digits/bookings/{code}/check-in"),
            json!({}),
        )
        .await;
    assert_eq!(checked.status, 201, "{:?}", checked.body);
    assert_eq!(checked.body["booking"]["status"], "checked_in");
    assert!(checked.body["ticket"]["number"].as_str().is_some());
}

#[tokio::test]
async fn walk_ins_follow_the_services_own_hours_and_market_days() {
    let (s, clock) = server().await;
    let ticket = |service: &str| json!({ "service": service });
    // Monday 2027-01-18 09:00 local, not a market day: the hall is open for `general`, but
    // `farming` is a market-day desk and `social` keeps Saturday mornings only.
    clock.set("2027-01-18T01:00:00Z".parse().unwrap());
    let general = s
        .post(KIOSK, "/v1/halls/digits/tickets", ticket("general"))
        .await;
    assert_eq!(general.status, 201, "{:?}", general.body);
    for service in ["farming", "social"] {
        let r = s
            .post(KIOSK, "/v1/halls/digits/tickets", ticket(service))
            .await;
        assert_eq!(r.status, 409, "{service}: {:?}", r.body);
        assert_eq!(r.body["type"], "urn:hallq:problem:service-closed");
        assert_eq!(r.body["field"], "service", "{:?}", r.body);
    }
    // Thursday 2027-01-21 is a market day (ends in 1): the farming desk takes tickets.
    clock.set("2027-01-21T01:00:00Z".parse().unwrap());
    let farming = s
        .post(KIOSK, "/v1/halls/digits/tickets", ticket("farming"))
        .await;
    assert_eq!(farming.status, 201, "{:?}", farming.body);
    // Saturday 2027-01-23 10:00: `social`'s own hours.
    clock.set("2027-01-23T02:00:00Z".parse().unwrap());
    let social = s
        .post(KIOSK, "/v1/halls/digits/tickets", ticket("social"))
        .await;
    assert_eq!(social.status, 201, "{:?}", social.body);
}
