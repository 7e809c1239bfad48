//! Issue 10, item 8: every time the API and the streams show is in the hall's own offset, so
//! hall staff read their own clock (`2026-11-25T17:00:00+08:00`, not `2026-11-25T09:00:00Z`).
//! The real server on a clock the test moves, with hall `sh` in Asia/Shanghai.

mod support;

use std::sync::Arc;
use std::time::Duration;

use hallq::clock::ManualClock;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::*;

/// Monday 2026-11-23, 10:00 in Shanghai.
const START: &str = "2026-11-23T02:00:00Z";

/// The alarm stream's events, once it holds at least `n`.
async fn alarms(srv: &Server, n: usize) -> Vec<Value> {
    for _ in 0..200 {
        let r = srv.get(ADMIN, "/v1/alarms?after=0").await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let got = r.body["alarms"].as_array().unwrap().clone();
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("fewer than {n} alarms arrived");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shanghai_hall_shows_every_time_at_plus_eight() {
    let dir = tempfile::tempdir().unwrap();
    let text = shanghai_config(dir.path());
    let clock = Arc::new(ManualClock::new(START.parse().unwrap()));
    let srv = start_with_clock(&text, dir, clock.clone()).await;

    // The stream starts with the snapshot.
    let mut stream = subscribe(&srv.base, "sh", DISPLAY, None).await;
    let first = next(&mut stream, "the snapshot").await;
    assert_eq!(first.event, "snapshot");
    assert_eq!(first.data["at"], "2026-11-23T10:00:00+08:00");
    assert_eq!(
        first.data["schedule"]["closes_at"], "2026-11-23T12:00:00+08:00",
        "the morning ends at noon, Shanghai time"
    );

    // A ticket.
    let t = srv
        .post(KIOSK, "/v1/halls/sh/tickets", json!({"service": "s"}))
        .await;
    assert_eq!(t.status, StatusCode::CREATED, "{:?}", t.body);
    assert_eq!(t.body["issued_at"], "2026-11-23T10:00:00+08:00");
    let ticket = t.body["id"].as_str().unwrap().to_owned();
    let got = srv
        .get(DISPLAY, &format!("/v1/halls/sh/tickets/{ticket}"))
        .await;
    assert_eq!(got.body["issued_at"], "2026-11-23T10:00:00+08:00");

    // Past the one-minute target: a ticket alarm, on the hall's stream.
    srv.post(COUNTER, "/v1/halls/sh/windows/w1/open", json!({}))
        .await;
    clock.advance(61);
    let alarm = loop {
        let e = next(&mut stream, "the wait alarm").await;
        if e.event == "wait_over_target" {
            break e.data;
        }
    };
    assert_eq!(
        (
            &alarm["at"],
            &alarm["alarm"]["due_at"],
            &alarm["alarm"]["raised_at"]
        ),
        (
            &json!("2026-11-23T10:01:01+08:00"),
            &json!("2026-11-23T10:01:00+08:00"),
            &json!("2026-11-23T10:01:01+08:00")
        ),
        "{alarm}"
    );

    // The call: its answer, its event on the hall's stream, the snapshot's recent calls.
    let called = srv
        .post(COUNTER, "/v1/halls/sh/windows/w1/call", json!({}))
        .await;
    assert_eq!(called.status, StatusCode::OK, "{:?}", called.body);
    assert_eq!(called.body["called_at"], "2026-11-23T10:01:01+08:00");
    let call = loop {
        let e = next(&mut stream, "the call").await;
        if e.event == "called" {
            break e.data;
        }
    };
    assert_eq!(
        (&call["at"], &call["called_at"], &call["issued_at"]),
        (
            &json!("2026-11-23T10:01:01+08:00"),
            &json!("2026-11-23T10:01:01+08:00"),
            &json!("2026-11-23T10:00:00+08:00")
        ),
        "{call}"
    );
    let snap = srv.get(DISPLAY, "/v1/halls/sh").await.body;
    assert_eq!(snap["at"], "2026-11-23T10:01:01+08:00");
    assert_eq!(
        snap["recent_calls"][0]["called_at"],
        "2026-11-23T10:01:01+08:00"
    );

    // The citizen's ticket page reads the same times.
    let link = srv
        .get(
            KIOSK,
            &format!("/v1/halls/sh/tickets/{ticket}/link?base=https://queue.example.gov.cn"),
        )
        .await;
    let k = link.body["k"].as_str().unwrap();
    let public = srv
        .get(
            DISPLAY,
            &format!("/v1/halls/sh/tickets/{ticket}/public?k={k}"),
        )
        .await;
    assert_eq!(public.status, StatusCode::OK, "{:?}", public.body);
    assert_eq!(
        (
            &public.body["issued_at"],
            &public.body["called_at"],
            &public.body["recent_calls"][0]["called_at"]
        ),
        (
            &json!("2026-11-23T10:00:00+08:00"),
            &json!("2026-11-23T10:01:01+08:00"),
            &json!("2026-11-23T10:01:01+08:00")
        )
    );

    // A case accepted on Friday at 10:00: three working days, due Wednesday at the close of
    // office hours, 17:00 in Shanghai. The request may give any offset.
    let case = srv
        .post(
            OFFICER,
            "/v1/cases",
            json!({"id": "SH-1", "hall": "sh", "matter": "OFFICIAL-3WD", "accepted_at": "2026-11-20T02:00:00Z"}),
        )
        .await;
    assert_eq!(case.status, StatusCode::CREATED, "{:?}", case.body);
    assert_eq!(
        (&case.body["accepted_at"], &case.body["deadline"]),
        (
            &json!("2026-11-20T10:00:00+08:00"),
            &json!("2026-11-25T17:00:00+08:00")
        )
    );
    let got = srv.get(OFFICER, "/v1/cases/SH-1").await;
    assert_eq!(got.body["deadline"], "2026-11-25T17:00:00+08:00");
    let suspended = srv
        .post(
            OFFICER,
            "/v1/cases/SH-1/suspend",
            json!({"reason": "hearing", "at": "2026-11-23T10:00:00+08:00"}),
        )
        .await;
    assert_eq!(suspended.status, StatusCode::OK, "{:?}", suspended.body);
    assert_eq!(
        suspended.body["suspensions"][0]["from"],
        "2026-11-23T10:00:00+08:00"
    );

    // A case accepted a week ago is overdue: its alarms, pulled as the supervision system
    // does, say when in Shanghai time.
    let late = srv
        .post(
            OFFICER,
            "/v1/cases",
            json!({"id": "SH-LATE", "hall": "sh", "matter": "OFFICIAL-3WD", "accepted_at": "2026-11-16T10:00:00+08:00"}),
        )
        .await;
    assert_eq!(late.status, StatusCode::CREATED, "{:?}", late.body);
    assert_eq!(late.body["deadline"], "2026-11-19T17:00:00+08:00");
    let pulled = alarms(&srv, 3).await;
    let red = pulled
        .iter()
        .find(|a| a["id"] == "SH-LATE/red/1")
        .unwrap_or_else(|| panic!("no red alarm in {pulled:?}"));
    assert_eq!(
        (
            &red["at"],
            &red["due_at"],
            &red["deadline"],
            &red["raised_at"]
        ),
        (
            &json!("2026-11-23T10:01:01+08:00"),
            &json!("2026-11-19T17:00:00+08:00"),
            &json!("2026-11-19T17:00:00+08:00"),
            &json!("2026-11-23T10:01:01+08:00")
        ),
        "{red}"
    );
    let wait = pulled
        .iter()
        .find(|a| a["id"] == format!("sh/{ticket}/wait_over_target"))
        .unwrap_or_else(|| panic!("no ticket alarm in {pulled:?}"));
    assert_eq!(wait["due_at"], "2026-11-23T10:01:00+08:00", "{wait}");

    // At 12:30 the hall is at lunch: the kiosk is told when it opens again.
    clock.set("2026-11-23T04:30:00Z".parse().unwrap());
    let closed = srv
        .post(KIOSK, "/v1/halls/sh/tickets", json!({"service": "s"}))
        .await;
    assert_eq!(closed.status, StatusCode::CONFLICT, "{:?}", closed.body);
    assert_eq!(closed.body["type"], "urn:hallq:problem:hall-closed");
    assert_eq!(closed.body["next_opening"], "2026-11-23T13:30:00+08:00");

    // A consumer's cursor moved back is recorded with the time, in the first hall's zone.
    let head = pulled.last().unwrap()["seq"].as_u64().unwrap();
    for (seq, rewind) in [(head, false), (1, true)] {
        let r = srv
            .post(
                ADMIN,
                "/v1/alarms/ack",
                json!({"consumer": "jc", "seq": seq, "rewind": rewind}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    }
    let consumer = srv.get(ADMIN, "/v1/alarms/consumers/jc").await;
    assert_eq!(
        consumer.body["rewinds"][0]["at"], "2026-11-23T12:30:00+08:00",
        "{:?}",
        consumer.body
    );
    srv.stop().await;
}
