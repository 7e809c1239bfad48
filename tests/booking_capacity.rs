//! Never oversold: hundreds of concurrent bookings for the last seats of a slot, over the
//! real server. Exactly as many succeed as there were seats; every other one is `slot-full`.

mod support;

use std::sync::Arc;

use hallq::clock::ManualClock;
use serde_json::json;
use support::*;

const SLOT: &str = "2026-03-03T10:00:00Z";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_last_seats_go_to_exactly_as_many_requests() {
    let clock = Arc::new(ManualClock::new("2026-03-02T08:00:00Z".parse().unwrap()));
    let s = start_with_clock(
        &booking_config(50, "per_week = 10"),
        tempfile::tempdir().unwrap(),
        clock,
    )
    .await;
    let url = format!("{}/v1/halls/h1/bookings", s.base);
    let book = |n: u32| {
        let http = s.http.clone();
        let url = url.clone();
        async move {
            let body =
                json!({"service": "s", "start": SLOT, "channel": "web", "citizen": citizen(n)});
            call(
                &http,
                reqwest::Method::POST,
                url,
                Some(PORTAL),
                Some(body.to_string()),
                &[],
            )
            .await
        }
    };
    // 45 of 50 seats go first.
    for n in 0..45 {
        assert_eq!(book(n).await.status, 201);
    }
    // Then 400 citizens at once for the last five.
    let racers: Vec<_> = (1000..1400).map(|n| tokio::spawn(book(n))).collect();
    let mut won = 0;
    for r in racers {
        let r = r.await.unwrap();
        match r.status.as_u16() {
            201 => won += 1,
            409 => assert_eq!(
                r.body["type"], "urn:hallq:problem:slot-full",
                "{:?}",
                r.body
            ),
            other => panic!("unexpected {other}: {:?}", r.body),
        }
    }
    assert_eq!(won, 5, "exactly the last five seats were sold");
    let slots = s
        .get(PORTAL, "/v1/halls/h1/slots?service=s&date=2026-03-03")
        .await;
    assert_eq!(slots.body[10]["left"], 0);
    let seated = s
        .get(COUNTER, "/v1/halls/h1/bookings?date=2026-03-03")
        .await;
    assert_eq!(seated.body.as_array().unwrap().len(), 50);

    // The count is the stored one, not a memory artefact: after a restart it is the same.
    let dir = s.stop().await;
    let clock = Arc::new(ManualClock::new("2026-03-02T08:00:00Z".parse().unwrap()));
    let s = start_with_clock(&booking_config(50, "per_week = 10"), dir, clock).await;
    let seated = s
        .get(COUNTER, "/v1/halls/h1/bookings?date=2026-03-03")
        .await;
    assert_eq!(seated.body.as_array().unwrap().len(), 50);
    let late = s
        .post(
            PORTAL,
            "/v1/halls/h1/bookings",
            json!({"service": "s", "start": SLOT, "channel": "web", "citizen": citizen(2000)}),
        )
        .await;
    assert_eq!(late.body["type"], "urn:hallq:problem:slot-full");
    s.stop().await;
}
