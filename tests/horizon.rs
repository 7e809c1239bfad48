//! The calendar's horizon (DESIGN.md, "The calendar's horizon") in the real server: past the
//! last day a calendar's notices cover, every case command still works, deadlines counted on
//! the default week say they are provisional and why, the horizon gauge goes negative, and
//! loading the next year's data recounts them.
//!
//! Its own test binary: `hallq_calendar_horizon_days` is a process-wide gauge, and the tests
//! here use calendars (and clocks) no other test binary shares.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use hallq::clock::ManualClock;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::*;

const OFFICIAL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/config/calendars/cn-mainland.toml"
);

/// `config(1)` with `calendar` first (so it is the halls' calendar, which rectifications count
/// on), the standard ladder, matters `P-3WD` (3 working days) and `N-10D` (10 natural days) on
/// it, and the case officer's token.
fn horizon_config(calendar_id: &str, calendar_file: &str) -> String {
    let mut s = config(1);
    s += &format!(
        r#"
[[calendar]]
id = "{calendar_id}"
file = "{calendar_file}"

[[alarm_policy]]
id = "standard"
levels = [
  {{ level = "yellow", remaining = "1wd" }},
  {{ level = "red", remaining = "0wd" }},
  {{ level = "escalate", overdue = "2wd" }},
]

[[matter]]
id = "P-3WD"
name = "三日办结事项"
kind = "promised"
limit = "3wd"
calendar = "{calendar_id}"

[[matter]]
id = "N-10D"
name = "十日事项"
kind = "promised"
limit = "10d"
calendar = "{calendar_id}"
"#
    );
    s + &token(OFFICER, "case-officer", &["*"])
}

/// `hallq_calendar_horizon_days{calendar="…"}` in a scrape of `/metrics`.
async fn horizon_gauge(srv: &Server, calendar: &str) -> f64 {
    let text = srv
        .http
        .get(format!("{}/metrics", srv.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let prefix = format!("hallq_calendar_horizon_days{{calendar=\"{calendar}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("the scrape has {prefix}:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

/// A counter serves ticket `s` at `w1` and the citizen rates it `rating`; the ticket's id.
async fn rated_ticket(srv: &Server, rating: u8) -> String {
    let t = srv
        .post(KIOSK, "/v1/halls/h1/tickets", json!({"service": "s"}))
        .await;
    assert_eq!(t.status, StatusCode::CREATED, "{:?}", t.body);
    let open = srv
        .post(COUNTER, "/v1/halls/h1/windows/w1/open", json!({}))
        .await;
    assert_eq!(open.status, StatusCode::OK, "{:?}", open.body);
    let called = srv
        .post(COUNTER, "/v1/halls/h1/windows/w1/call", json!({}))
        .await;
    assert_eq!(called.status, StatusCode::OK, "{:?}", called.body);
    let done = srv
        .post(
            COUNTER,
            "/v1/halls/h1/windows/w1/complete",
            json!({ "evaluation": rating }),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);
    t.body["id"].as_str().unwrap().to_owned()
}

/// The rectification case a bad rating of `ticket` opens, once it is there (it is opened
/// after the rating is durable, so the test waits for it to appear).
async fn rectification(srv: &Server, ticket: &str) -> Value {
    let path = format!("/v1/cases/RECT-h1-{ticket}");
    for _ in 0..200 {
        let r = srv.get(OFFICER, &path).await;
        if r.status == StatusCode::OK {
            return r.body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no rectification case {path} opened");
}

async fn put_calendar(srv: &Server, id: &str, text: String) -> Resp {
    call(
        &srv.http,
        Method::PUT,
        format!("{}/v1/calendars/{id}", srv.base),
        Some(ADMIN),
        Some(text),
        &[],
    )
    .await
}

/// Read `/v1/case-events` from the start of the log until an event satisfies `last`.
async fn case_events_until(srv: &Server, last: impl Fn(&Sse) -> bool) -> Vec<Sse> {
    use futures::StreamExt;
    let resp = srv
        .http
        .get(format!("{}/v1/case-events", srv.base))
        .bearer_auth(ADMIN)
        .header("Last-Event-ID", "0")
        .timeout(Duration::from_secs(3600))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut events = eventsource_stream::EventStream::new(resp.bytes_stream());
    let mut seen = Vec::new();
    loop {
        let e = tokio::time::timeout(Duration::from_secs(20), events.next())
            .await
            .expect("the awaited case event arrives")
            .expect("the stream stays open")
            .unwrap();
        let e = Sse {
            id: e.id.parse().unwrap(),
            event: e.event,
            data: serde_json::from_str(&e.data).unwrap(),
        };
        let done = last(&e);
        seen.push(e);
        if done {
            return seen;
        }
    }
}

/// The shipped calendar (it ends on 2026-12-31) with a made-up 2027 notice. TEST DATA: the
/// holiday on Tuesday 2027-01-05 is invented so that deadlines move; it is not the State
/// Council's 2027 notice, which is not published as this is written.
fn official_with_test_2027() -> String {
    let shipped = std::fs::read_to_string(OFFICIAL).unwrap();
    format!(
        "{shipped}\n[[year]]\nyear = 2027\nnotice = \"TEST DATA, not an official notice\"\ndays = [\n  {{ date = 2027-01-05, kind = \"off\", name = \"测试假日 (test data)\" }},\n]\n"
    )
}

/// Issue 10: the clock stands on Monday 2027-01-04 and the shipped calendar ends on
/// 2026-12-31. Acceptance, suspension and a bad rating all work, provisionally; the gauge is
/// negative; loading 2027 data recounts the deadlines and says where they moved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_2027_01_04_with_a_calendar_ending_2026_cases_work_and_the_2027_notice_recounts_them() {
    let dir = tempfile::tempdir().unwrap();
    let text = horizon_config("cn-mainland", OFFICIAL);
    // 10:00 in Shanghai.
    let clock = Arc::new(ManualClock::new("2027-01-04T02:00:00Z".parse().unwrap()));
    let srv = start_with_clock(&text, dir, clock.clone()).await;
    assert_eq!(
        horizon_gauge(&srv, "cn-mainland").await,
        -4.0,
        "four days past the last covered day, from start-up"
    );

    let accept = |id: &str, matter: &str, at: &str| json!({"id": id, "hall": "h1", "matter": matter, "accepted_at": at});
    let p1 = srv
        .post(
            OFFICER,
            "/v1/cases",
            accept("P-1", "P-3WD", "2027-01-04T10:00:00+08:00"),
        )
        .await;
    assert_eq!(p1.status, StatusCode::CREATED, "{:?}", p1.body);
    // Tue, Wed, Thu on the default week.
    assert_eq!(p1.body["deadline"], "2027-01-07T09:00:00+00:00");
    assert_eq!(p1.body["provisional"], true);
    let reason = &p1.body["provisional_reason"];
    assert_eq!(
        (
            reason["calendar"].as_str(),
            reason["first_uncovered_day"].as_str()
        ),
        (Some("cn-mainland"), Some("2027-01-01"))
    );
    assert!(
        reason["detail"]
            .as_str()
            .unwrap()
            .contains("PUT /v1/calendars/cn-mainland"),
        "{reason}"
    );
    let p2 = srv
        .post(
            OFFICER,
            "/v1/cases",
            accept("P-2", "P-3WD", "2027-01-04T09:00:00+08:00"),
        )
        .await;
    assert_eq!(p2.status, StatusCode::CREATED, "{:?}", p2.body);
    // Ten calendar days: Thursday 01-14, a working day with or without a 2027 notice.
    let n1 = srv
        .post(
            OFFICER,
            "/v1/cases",
            accept("N-1", "N-10D", "2027-01-04T09:00:00+08:00"),
        )
        .await;
    assert_eq!(
        (
            n1.status,
            n1.body["deadline"].as_str(),
            n1.body["provisional"].as_bool()
        ),
        (
            StatusCode::CREATED,
            Some("2027-01-14T09:00:00+00:00"),
            Some(true)
        )
    );
    let suspended = srv
        .post(
            OFFICER,
            "/v1/cases/P-1/suspend",
            json!({"reason": "hearing"}),
        )
        .await;
    assert_eq!(suspended.status, StatusCode::OK, "{:?}", suspended.body);
    assert_eq!(suspended.body["state"], "suspended");

    // A bad rating opens its rectification: one working day, Tuesday 01-05 at the close.
    let ticket = rated_ticket(&srv, 1).await;
    let rect = rectification(&srv, &ticket).await;
    assert_eq!(
        (
            rect["state"].as_str(),
            rect["deadline"].as_str(),
            rect["provisional"].as_bool()
        ),
        (Some("open"), Some("2027-01-05T09:00:00+00:00"), Some(true))
    );

    // The 2027 data arrives. Tuesday 01-05 is off: P-2 moves to Friday, the rectification to
    // Wednesday; N-1 keeps its day but is no longer provisional; P-1 has no deadline while
    // suspended.
    let r = put_calendar(&srv, "cn-mainland", official_with_test_2027()).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        r.body,
        json!({"cases": 4, "changed": 2, "provisional": 0}),
        "every open case on the calendar was recounted"
    );
    assert_eq!(
        horizon_gauge(&srv, "cn-mainland").await,
        361.0,
        "the replacement updates the gauge: to 2027-12-31"
    );
    let cal = srv.get(ADMIN, "/v1/calendars/cn-mainland").await;
    assert_eq!(cal.body["last"], "2027-12-31");
    let resumed = srv.post(OFFICER, "/v1/cases/P-1/resume", json!({})).await;
    assert_eq!(resumed.status, StatusCode::OK, "{:?}", resumed.body);
    // Resumed on Monday (not counted), Tuesday is off: Wed, Thu, Fri.
    assert_eq!(
        (
            resumed.body["deadline"].as_str(),
            resumed.body["provisional"].as_bool()
        ),
        (Some("2027-01-08T09:00:00+00:00"), Some(false))
    );
    for (id, deadline) in [
        ("P-2", "2027-01-08T09:00:00+00:00"),
        ("N-1", "2027-01-14T09:00:00+00:00"),
        (&format!("RECT-h1-{ticket}"), "2027-01-06T09:00:00+00:00"),
    ] {
        let v = srv.get(OFFICER, &format!("/v1/cases/{id}")).await;
        assert_eq!(
            (
                v.body["deadline"].as_str(),
                v.body["provisional"].as_bool(),
                v.body.get("provisional_reason")
            ),
            (Some(deadline), Some(false), None),
            "{id}"
        );
    }

    // The case stream told subscribers, up to P-1's resume: each `deadline_changed` of the
    // replacement names the new deadline, no longer provisional.
    let events = case_events_until(&srv, |e| e.event == "resumed").await;
    let mut changed: BTreeMap<String, Vec<(Value, Value, Value)>> = BTreeMap::new();
    for e in events.iter().filter(|e| e.event == "deadline_changed") {
        changed
            .entry(e.data["case"].as_str().unwrap().to_owned())
            .or_default()
            .push((
                e.data["previous"].clone(),
                e.data["deadline"].clone(),
                e.data["provisional"].clone(),
            ));
    }
    let rect_id = format!("RECT-h1-{ticket}");
    let expected: BTreeMap<String, Vec<(Value, Value, Value)>> = [
        // The suspension stopped the clock (before the replacement).
        (
            "P-1".to_owned(),
            vec![(
                json!("2027-01-07T09:00:00+00:00"),
                Value::Null,
                json!(false),
            )],
        ),
        (
            "P-2".to_owned(),
            vec![(
                json!("2027-01-07T09:00:00+00:00"),
                json!("2027-01-08T09:00:00+00:00"),
                json!(false),
            )],
        ),
        (
            "N-1".to_owned(),
            vec![(
                json!("2027-01-14T09:00:00+00:00"),
                json!("2027-01-14T09:00:00+00:00"),
                json!(false),
            )],
        ),
        (
            rect_id,
            vec![(
                json!("2027-01-05T09:00:00+00:00"),
                json!("2027-01-06T09:00:00+00:00"),
                json!(false),
            )],
        ),
    ]
    .into_iter()
    .collect();
    assert_eq!(changed, expected);
    let accepted_p1 = events
        .iter()
        .find(|e| e.event == "accepted" && e.data["case"]["id"] == "P-1")
        .unwrap();
    assert_eq!(
        accepted_p1.data["case"]["provisional_reason"]["first_uncovered_day"], "2027-01-01",
        "the accepted event carries the reason too"
    );
    srv.stop().await;
}

/// Issue 10, reproduction 3: a hall whose calendar does not cover today (it covers 2023 only)
/// accepts cases, before and after the covered year alike, and a bad rating opens its
/// rectification. Before the fix: 422 `outside-calendar`, and no rectification at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hall_whose_calendar_does_not_cover_today_accepts_cases_and_rectifies() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.toml");
    std::fs::write(
        &old,
        "id = \"old\"\ntime_zone = \"Asia/Shanghai\"\n\n[[year]]\nyear = 2023\nnotice = \"test\"\ndays = []\n",
    )
    .unwrap();
    let text = horizon_config("old", old.to_str().unwrap());
    let srv = start_in(&text, dir).await;

    #[allow(
        clippy::disallowed_methods,
        reason = "the case is accepted now, on the real clock the server uses"
    )]
    let now = jiff::Timestamp::now().to_string();
    let r = srv
        .post(
            OFFICER,
            "/v1/cases",
            json!({"id": "OLD-1", "hall": "h1", "matter": "P-3WD", "accepted_at": now}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["provisional"], true);
    assert_eq!(
        r.body["provisional_reason"]["first_uncovered_day"],
        "2024-01-01"
    );
    // Before the covered year: counted on the default week from the acceptance day.
    let r = srv
        .post(
            OFFICER,
            "/v1/cases",
            json!({"id": "OLD-2", "hall": "h1", "matter": "P-3WD", "accepted_at": "2022-06-01T10:00:00+08:00"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    // Wed 06-01 + Thu, Fri, Mon.
    assert_eq!(r.body["deadline"], "2022-06-06T09:00:00+00:00");
    assert_eq!(
        (
            r.body["provisional"].as_bool(),
            r.body["provisional_reason"]["first_uncovered_day"].as_str()
        ),
        (Some(true), Some("2022-06-01"))
    );

    let ticket = rated_ticket(&srv, 2).await;
    let rect = rectification(&srv, &ticket).await;
    assert_eq!(
        (
            rect["state"].as_str(),
            rect["matter"].as_str(),
            rect["calendar"].as_str(),
            rect["provisional"].as_bool()
        ),
        (Some("open"), Some("rectification"), Some("old"), Some(true))
    );
    assert!(
        horizon_gauge(&srv, "old").await < -365.0,
        "2023 is long gone"
    );
    srv.stop().await;
}
