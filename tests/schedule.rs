//! Schedules that follow the calendar (issue 10, item 4) and appointments told straight
//! (item 6), against the real server: holidays close a hall, make-up days open it, dated
//! overrides set through the API win and survive a restart (of the real process, killed),
//! a replaced calendar reaches the halls, and a kiosk refused outside hours is told why and
//! when the hall opens. Early appointments say when they become callable instead of
//! claiming first place; late ones are moved to the normal lane out loud.

mod support;

use std::sync::Arc;

use hallq::clock::ManualClock;
use jiff::{SignedDuration, Timestamp};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::*;

const OFFICIAL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/config/calendars/cn-mainland.toml"
);

/// A county hall on the mainland calendar, open Monday to Friday with a lunch break (no
/// Saturday hours), and the support tokens. The reproductions of the issue use it as a
/// config of today's main would accept it.
fn county_config() -> String {
    let mut s = format!(
        r#"
[[calendar]]
id = "cn-mainland"
file = "{OFFICIAL}"

[[hall]]
id = "county"
name = "测试县政务服务中心"
tier = "county"
time_zone = "Asia/Shanghai"

[hall.hours]
mon = ["08:30-12:00", "13:30-17:30"]
tue = ["08:30-12:00", "13:30-17:30"]
wed = ["08:30-12:00", "13:30-17:30"]
thu = ["08:30-12:00", "13:30-17:30"]
fri = ["08:30-12:00", "13:30-17:30"]

[[hall.service]]
id = "s"
name = "综合受理"
prefix = "A"

[[hall.window]]
id = "w1"
name = "1号窗口"
services = ["s"]
"#
    );
    s += &role_tokens();
    s
}

/// `county_config()` with one override in the config: a late opening on Wednesday 2026-11-25.
fn county_config_with_override() -> String {
    county_config().replace(
        "[[hall.service]]",
        "[[hall.hours_override]]\ndate = 2026-11-25\nhours = [\"10:00-12:00\", \"13:30-17:30\"]\nreason = \"上午学习会\"\n\n[[hall.service]]",
    )
}

/// Local time in Shanghai (`2026-10-01 10:00`) as an instant.
fn sh(local: &str) -> Timestamp {
    let dt = jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M", local).unwrap();
    jiff::tz::TimeZone::get("Asia/Shanghai")
        .unwrap()
        .to_timestamp(dt)
        .unwrap()
}

/// An instant as the API writes it: in the hall's offset, `2026-10-10T12:00:00+08:00`.
fn json_ts(t: Timestamp) -> Value {
    Value::String(t.display_with_offset(jiff::tz::offset(8)).to_string())
}

async fn at(local: &str) -> (Server, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(sh(local)));
    let srv = start_with_clock(
        &county_config(),
        tempfile::tempdir().unwrap(),
        clock.clone(),
    )
    .await;
    (srv, clock)
}

async fn issue(srv: &Server, body: Value) -> Resp {
    srv.post(KIOSK, "/v1/halls/county/tickets", body).await
}

async fn put_hours(srv: &Server, token: &str, date: &str, body: &str) -> Resp {
    call(
        &srv.http,
        Method::PUT,
        format!("{}/v1/halls/county/hours/{date}", srv.base),
        Some(token),
        Some(body.to_owned()),
        &[],
    )
    .await
}

async fn delete_hours(srv: &Server, date: &str) -> Resp {
    call(
        &srv.http,
        Method::DELETE,
        format!("{}/v1/halls/county/hours/{date}", srv.base),
        Some(ADMIN),
        None,
        &[],
    )
    .await
}

fn problem(r: &Resp, status: u16, code: &str, field: Option<&str>) {
    assert_eq!(r.status.as_u16(), status, "{:?}", r.body);
    assert_eq!(
        r.body["type"],
        format!("urn:hallq:problem:{code}"),
        "{:?}",
        r.body
    );
    if let Some(f) = field {
        assert_eq!(r.body["field"], f, "{:?}", r.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holiday_closes_the_hall_and_the_kiosk_is_told_when_it_opens() {
    // Thursday 2026-10-01: 国庆节, a weekday with hours that the calendar has off.
    let (srv, clock) = at("2026-10-01 10:00").await;
    let snap = srv.get(DISPLAY, "/v1/halls/county").await.body;
    assert_eq!(snap["open_now"], false, "{snap}");
    let s = &snap["schedule"];
    assert_eq!(s["today"]["source"], "holiday");
    assert_eq!(s["today"]["name"], "国庆节");
    assert_eq!(
        s["closed_reason"],
        json!({"code": "holiday", "name": "国庆节"})
    );
    // The break runs to Wednesday 10-07; Thursday 10-08 is an ordinary working day.
    assert_eq!(s["next_opening"], json_ts(sh("2026-10-08 08:30")));

    let r = issue(&srv, json!({"service": "s"})).await;
    problem(&r, 409, "hall-closed", None);
    assert_eq!(r.body["next_opening"], json_ts(sh("2026-10-08 08:30")));
    assert_eq!(r.body["closed_reason"]["code"], "holiday");
    let detail = r.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("国庆节") && detail.contains("2026-10-08 08:30"),
        "{detail}"
    );
    let sat = srv.get(DISPLAY, "/v1/halls/county/hours/2026-10-03").await;
    assert_eq!(sat.body["source"], "holiday", "{:?}", sat.body);
    assert_eq!(sat.body["closed"], true);

    clock.set(sh("2026-10-08 08:30"));
    let r = issue(&srv, json!({"service": "s"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    srv.stop().await;
}

/// On a make-up Saturday a service's own hours are read as the weekday the day stands for
/// (DESIGN.md "Schedules": the hours of the weekday it replaces), the same as the hall's:
/// `social` keeps 08:30-10:00 on Mondays and 09:00-11:00 on Saturdays, so on the 调休
/// Saturday 2026-10-10 it has Monday's hours, for walk-ins and for slots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_makeup_saturday_reads_a_services_own_hours_as_the_weekday_it_stands_for() {
    let config = county_config()
        .replacen(
            "prefix = \"A\"\n",
            "prefix = \"A\"\n\n[[hall.service]]\nid = \"social\"\nname = \"社保\"\nprefix = \"S\"\n\
         hours = { mon = [\"08:30-10:00\"], sat = [\"09:00-11:00\"] }\n",
            1,
        )
        .replacen("services = [\"s\"]", "services = [\"s\", \"social\"]", 1)
        + &format!(
            "\n[booking]\nkeys = [\"test-booking-key-0123456789\"]\n\n[[booking.slots]]\n\
             hall = \"county\"\nservice = \"social\"\nslot_minutes = 30\ncapacity = 2\n\
             days_ahead = 5\n{}",
            token(PORTAL, "booking", &["*"])
        );
    let clock = Arc::new(ManualClock::new(sh("2026-10-10 09:10")));
    let srv = start_with_clock(&config, tempfile::tempdir().unwrap(), clock.clone()).await;
    let slots = srv
        .get(
            PORTAL,
            "/v1/halls/county/slots?service=social&date=2026-10-10",
        )
        .await;
    assert_eq!(slots.status, StatusCode::OK, "{:?}", slots.body);
    let starts: Vec<&str> = slots
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["start"].as_str().unwrap())
        .collect();
    assert_eq!(
        starts,
        [
            "2026-10-10T08:30:00+08:00",
            "2026-10-10T09:00:00+08:00",
            "2026-10-10T09:30:00+08:00"
        ],
        "Monday's 08:30-10:00, not Saturday's 09:00-11:00"
    );
    let r = issue(&srv, json!({"service": "social"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    clock.set(sh("2026-10-10 10:30"));
    let r = issue(&srv, json!({"service": "social"})).await;
    problem(&r, 409, "service-closed", Some("service"));
    // An ordinary Saturday reads the service's Saturday hours (and the hall is closed).
    let sat = srv
        .get(
            PORTAL,
            "/v1/halls/county/slots?service=social&date=2026-10-17",
        )
        .await;
    assert_eq!(sat.body, json!([]), "the hall keeps no Saturday hours");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_makeup_saturday_opens_with_weekday_hours() {
    // Saturday 2026-10-10 is a 调休 working day; the hall has no Saturday hours.
    let (srv, _clock) = at("2026-10-10 10:00").await;
    let snap = srv.get(DISPLAY, "/v1/halls/county").await.body;
    assert_eq!(snap["open_now"], true, "{snap}");
    assert_eq!(snap["schedule"]["today"]["source"], "makeup");
    assert_eq!(
        snap["schedule"]["today"]["hours"],
        json!(["08:30-12:00", "13:30-17:30"])
    );
    assert_eq!(
        snap["schedule"]["closes_at"],
        json_ts(sh("2026-10-10 12:00"))
    );
    let r = issue(&srv, json!({"service": "s"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    // An ordinary Saturday stays closed.
    let next = srv.get(DISPLAY, "/v1/halls/county/hours/2026-10-17").await;
    assert_eq!(next.body["source"], "week");
    assert_eq!(next.body["closed"], true);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overrides_set_through_the_api_win_are_announced_and_survive_a_restart() {
    // Monday 2026-11-23, 10:00: open by the week.
    let clock = Arc::new(ManualClock::new(sh("2026-11-23 10:00")));
    let text = county_config_with_override();
    let srv = start_with_clock(&text, tempfile::tempdir().unwrap(), clock.clone()).await;
    let mut stream = subscribe(&srv.base, "county", DISPLAY, None).await;
    let snap = next(&mut stream, "the snapshot").await;
    assert_eq!(snap.data["open_now"], true);
    assert_eq!(
        snap.data["schedule"]["overrides"][0]["reason"], "上午学习会",
        "the config's override is listed"
    );

    // Only an admin may; bad bodies name their field; a past date is refused.
    let closed = r#"{"closed": true, "reason": "设备检修"}"#;
    problem(
        &put_hours(&srv, COUNTER, "2026-11-23", closed).await,
        403,
        "forbidden",
        None,
    );
    for (date, body, status, code, field) in [
        ("2026-11-23", "{}", 422, "invalid-hours", "hours"),
        (
            "2026-11-23",
            r#"{"closed": true, "hours": ["09:00-10:00"]}"#,
            422,
            "invalid-hours",
            "closed",
        ),
        (
            "2026-11-23",
            r#"{"hours": ["09:00-12:00", "11:00-13:00"]}"#,
            422,
            "invalid-hours",
            "hours[1]",
        ),
        (
            "2026-11-23",
            r#"{"hours": ["9-12"]}"#,
            422,
            "invalid-hours",
            "hours[0]",
        ),
        (
            "2026-11-23",
            r#"{"hours": []}"#,
            422,
            "invalid-hours",
            "hours",
        ),
        (
            "2026-11-23",
            r#"{"closed": true, "when": 1}"#,
            400,
            "unknown-field",
            "when",
        ),
        ("2026-13-01", closed, 400, "invalid-field", "date"),
        ("2026-11-22", closed, 422, "override-in-past", "date"),
    ] {
        problem(
            &put_hours(&srv, ADMIN, date, body).await,
            status,
            code,
            Some(field),
        );
    }
    assert_eq!(
        issue(&srv, json!({"service": "s"})).await.status,
        StatusCode::CREATED,
        "nothing refused changed the hours"
    );

    // Closed for today by the API: answered, announced, and the kiosk is refused with why.
    let r = put_hours(&srv, ADMIN, "2026-11-23", closed).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        (
            &r.body["closed"],
            &r.body["source"],
            &r.body["set_by"],
            &r.body["reason"]
        ),
        (
            &json!(true),
            &json!("override"),
            &json!("api"),
            &json!("设备检修")
        )
    );
    let e = loop {
        let e = next(&mut stream, "schedule_changed").await;
        if e.event == "schedule_changed" {
            break e;
        }
    };
    assert_eq!(e.data["cause"], "override");
    assert_eq!(e.data["date"], "2026-11-23");
    assert_eq!(e.data["schedule"]["open_now"], false);
    let r = issue(&srv, json!({"service": "s"})).await;
    problem(&r, 409, "hall-closed", None);
    assert_eq!(
        r.body["closed_reason"],
        json!({"code": "override", "name": "设备检修"})
    );
    assert_eq!(r.body["next_opening"], json_ts(sh("2026-11-24 08:30")));
    // A Saturday opened by the API.
    let sat = put_hours(&srv, ADMIN, "2026-11-28", r#"{"hours": ["09:00-12:00"]}"#).await;
    assert_eq!(sat.body["hours"], json!(["09:00-12:00"]), "{:?}", sat.body);

    // A restart keeps both.
    let dir = srv.stop().await;
    let srv = start_with_clock(&text, dir, clock.clone()).await;
    problem(
        &issue(&srv, json!({"service": "s"})).await,
        409,
        "hall-closed",
        None,
    );
    let snap = srv.get(DISPLAY, "/v1/halls/county").await.body;
    let dates: Vec<&str> = snap["schedule"]["overrides"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["date"].as_str().unwrap())
        .collect();
    assert_eq!(dates, ["2026-11-23", "2026-11-25", "2026-11-28"]);

    // Removing it opens the hall again; there is nothing left to remove.
    let r = delete_hours(&srv, "2026-11-23").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["source"], "week");
    assert_eq!(
        issue(&srv, json!({"service": "s"})).await.status,
        StatusCode::CREATED
    );
    problem(
        &delete_hours(&srv, "2026-11-23").await,
        404,
        "no-override",
        Some("date"),
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(
    clippy::disallowed_methods,
    reason = "the real binary runs on the real clock; the override is a month ahead of it"
)]
async fn an_override_is_durable_when_its_answer_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let hallq = Hallq::config(dir.path(), &config(1));
    let ahead = (Timestamp::now() + SignedDuration::from_hours(24 * 30))
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date()
        .to_string();
    let p = hallq.spawn();
    let http = client();
    let r = call(
        &http,
        Method::PUT,
        format!("{}/v1/halls/h1/hours/{ahead}", p.base),
        Some(ADMIN),
        Some(r#"{"closed": true, "reason": "装修"}"#.to_owned()),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    p.kill();

    let p = hallq.spawn();
    let r = call(
        &http,
        Method::GET,
        format!("{}/v1/halls/h1/hours/{ahead}", p.base),
        Some(DISPLAY),
        None,
        &[],
    )
    .await;
    assert_eq!(
        (&r.body["closed"], &r.body["set_by"], &r.body["reason"]),
        (&json!(true), &json!("api"), &json!("装修")),
        "{:?}",
        r.body
    );
    p.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_calendar_reaches_the_hall_and_stays_after_a_restart() {
    // Friday 2027-10-01 is past the shipped calendar's years: the week says open.
    let clock = Arc::new(ManualClock::new(sh("2027-10-01 10:00")));
    let text = county_config();
    let srv = start_with_clock(&text, tempfile::tempdir().unwrap(), clock.clone()).await;
    let snap = srv.get(DISPLAY, "/v1/halls/county").await.body;
    assert_eq!(snap["open_now"], true, "{snap}");
    assert_eq!(snap["schedule"]["today"]["source"], "week");

    // The 2027 notice is published: National Day is off.
    let notice = std::fs::read_to_string(OFFICIAL).unwrap()
        + "\n[[year]]\nyear = 2027\nnotice = \"test\"\ndays = [\n  { date = 2027-10-01, kind = \"off\", name = \"国庆节\" },\n]\n";
    let r = call(
        &srv.http,
        Method::PUT,
        format!("{}/v1/calendars/cn-mainland", srv.base),
        Some(ADMIN),
        Some(notice),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let snap = srv.get(DISPLAY, "/v1/halls/county").await.body;
    assert_eq!(snap["open_now"], false, "{snap}");
    assert_eq!(
        snap["schedule"]["closed_reason"],
        json!({"code": "holiday", "name": "国庆节"})
    );
    problem(
        &issue(&srv, json!({"service": "s"})).await,
        409,
        "hall-closed",
        None,
    );

    let dir = srv.stop().await;
    let srv = start_with_clock(&text, dir, clock).await;
    let snap = srv.get(DISPLAY, "/v1/halls/county").await.body;
    assert_eq!(
        snap["schedule"]["today"]["source"], "holiday",
        "the stored calendar wins over the config's file after a restart"
    );
    srv.stop().await;
}

// ------------------------------------------------------------------ appointments

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_early_appointment_shows_when_it_becomes_callable() {
    let (srv, clock) = at("2026-11-23 09:00").await;
    srv.post(COUNTER, "/v1/halls/county/windows/w1/open", json!({}))
        .await;
    // Checked in two hours before its 11:00 slot; callable from 10:45 (early = 15 min).
    let slot = sh("2026-11-23 11:00");
    let callable = sh("2026-11-23 10:45");
    let t = issue(
        &srv,
        json!({"service": "s", "class": "appointment", "slot": slot}),
    )
    .await;
    assert_eq!(t.status, StatusCode::CREATED, "{:?}", t.body);
    assert_eq!(t.body["position"], 0, "not first in line: {:?}", t.body);
    assert_eq!(t.body["callable_at"], json_ts(callable));
    assert_eq!(t.body["estimated_wait_s"], 105 * 60);
    let id = t.body["id"].as_str().unwrap().to_owned();

    // The officer sees why the queue has nobody to call.
    let r = srv
        .post(COUNTER, "/v1/halls/county/windows/w1/call", json!({}))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let w = srv.get(COUNTER, "/v1/halls/county/windows/w1").await.body;
    assert_eq!(
        (&w["waiting"], &w["waiting_early"]),
        (&json!(0), &json!(1)),
        "{w}"
    );
    assert_eq!(w["next_callable_at"], json_ts(callable));
    let q = srv
        .get(COUNTER, "/v1/halls/county/windows/w1/queue")
        .await
        .body;
    assert_eq!(q[0]["id"], id.as_str());
    assert_eq!(
        (&q[0]["position"], &q[0]["callable_at"]),
        (&json!(0), &json_ts(callable))
    );
    let snap = srv.get(DISPLAY, "/v1/halls/county").await.body;
    assert_eq!(snap["services"][0]["waiting_early"], 1);

    clock.set(callable);
    let v = srv
        .get(DISPLAY, &format!("/v1/halls/county/tickets/{id}"))
        .await
        .body;
    assert_eq!(v["position"], 1, "{v}");
    let r = srv
        .post(COUNTER, "/v1/halls/county/windows/w1/call", json!({}))
        .await;
    assert_eq!(
        (&r.body["id"], &r.body["reason"]),
        (&json!(id), &json!("appointment"))
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_appointment_is_reclassified_out_loud() {
    let (srv, clock) = at("2026-11-23 09:00").await;
    let mut stream = subscribe(&srv.base, "county", DISPLAY, None).await;
    assert_eq!(next(&mut stream, "the snapshot").await.event, "snapshot");

    // Checked in on time; ten minutes of grace after the 09:05 slot pass.
    let t = issue(
        &srv,
        json!({"service": "s", "class": "appointment", "slot": sh("2026-11-23 09:05")}),
    )
    .await;
    assert_eq!(t.body["lane"], "appointment", "{:?}", t.body);
    let id = t.body["id"].as_str().unwrap().to_owned();
    clock.set(sh("2026-11-23 09:16"));
    let e = loop {
        let e = next(&mut stream, "reclassified").await;
        if e.event == "reclassified" {
            break e;
        }
    };
    assert_eq!(e.data["ticket"]["id"], id.as_str());
    assert_eq!(
        (&e.data["from"], &e.data["to"], &e.data["reason"]),
        (
            &json!("appointment"),
            &json!("normal"),
            &json!("appointment-late")
        )
    );
    let v = srv
        .get(DISPLAY, &format!("/v1/halls/county/tickets/{id}"))
        .await
        .body;
    assert_eq!(v["lane"], "normal");
    assert_eq!(v["reclassified"]["reason"], "appointment-late");

    // Checked in after the grace period: the answer says so itself.
    let late = issue(
        &srv,
        json!({"service": "s", "class": "appointment", "slot": sh("2026-11-23 08:40")}),
    )
    .await;
    assert_eq!(late.status, StatusCode::CREATED, "{:?}", late.body);
    assert_eq!(late.body["lane"], "normal");
    assert_eq!(late.body["reclassified"]["reason"], "appointment-late");
    assert_eq!(late.body["reclassified"]["to"], "normal");
    srv.stop().await;
}
