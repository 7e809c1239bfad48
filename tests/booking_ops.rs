//! 预约 as operations see it, over the real server on a clock the test moves: bookings,
//! cancellations and check-ins on the hall's event stream (never the citizen), the day's
//! bookings, no-shows and slot utilisation in `/v1/stats` and `/metrics`, a late check-in
//! after the booking had become a no-show, and old bookings pruned when the day turns.
//!
//! One test: the metrics recorder is the process's, so the counts below are this test's only.

mod support;

use std::sync::Arc;

use hallq::clock::ManualClock;
use jiff::Timestamp;
use serde_json::{Value, json};
use support::*;

fn body(start: &str, channel: &str, n: u32) -> Value {
    json!({"service": "s", "start": start, "channel": channel, "citizen": citizen(n)})
}

/// The value of the first `/metrics` sample named `name` whose labels contain all of `with`.
fn sample(text: &str, name: &str, with: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .find(|l| with.iter().all(|w| l.contains(w)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn metrics(s: &Server) -> String {
    s.http
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn operations_see_bookings_no_shows_and_utilisation() {
    // Monday 2026-03-02 08:00 UTC; hall h1 is open around the clock, one-hour slots of 3.
    let clock = Arc::new(ManualClock::new(
        "2026-03-02T08:00:00Z".parse::<Timestamp>().unwrap(),
    ));
    let s = start_with_clock(
        &booking_config(3, ""),
        tempfile::tempdir().unwrap(),
        clock.clone(),
    )
    .await;
    let mut stream = subscribe(&s.base, "h1", ADMIN, None).await;

    let tuesday = "2026-03-03T10:00:00Z";
    let mut codes = Vec::new();
    for n in 1..=3 {
        let r = s
            .post(PORTAL, "/v1/halls/h1/bookings", body(tuesday, "web", n))
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        codes.push(r.body["code"].as_str().unwrap().to_owned());
    }
    let today = s
        .post(
            COUNTER,
            "/v1/halls/h1/bookings",
            body("2026-03-02T09:00:00Z", "phone", 4),
        )
        .await;
    assert_eq!(today.status, 201, "{:?}", today.body);
    let today_code = today.body["code"].as_str().unwrap().to_owned();
    let cancelled = s
        .post(
            PORTAL,
            &format!("/v1/halls/h1/bookings/{}/cancel", codes[1]),
            json!({}),
        )
        .await;
    assert_eq!(cancelled.status, 200, "{:?}", cancelled.body);

    // The stream says what happened, in order, with the code and slot and never the citizen.
    let mut seen = Vec::new();
    while seen.len() < 5 {
        let e = next(&mut stream, "a booking event").await;
        if e.event == "snapshot" {
            continue;
        }
        assert_eq!(e.event, "booking", "{e:?}");
        assert!(e.data["booking"].get("citizen").is_none(), "{e:?}");
        assert!(!e.data.to_string().contains("3301"), "{e:?}");
        seen.push((
            e.data["action"].as_str().unwrap().to_owned(),
            e.data["booking"]["code"].as_str().unwrap().to_owned(),
        ));
    }
    assert_eq!(
        seen,
        [
            ("booked".to_owned(), codes[0].clone()),
            ("booked".to_owned(), codes[1].clone()),
            ("booked".to_owned(), codes[2].clone()),
            ("booked".to_owned(), today_code.clone()),
            ("cancelled".to_owned(), codes[1].clone()),
        ]
    );

    // Tuesday in /v1/stats: two seats held of 24 slots × 3, one cancelled.
    let stats = s.get(ADMIN, "/v1/stats?hall=h1&day=2026-03-03").await;
    assert_eq!(stats.status, 200, "{:?}", stats.body);
    let b = &stats.body["bookings"]["services"][0];
    assert_eq!(b["service"], "s");
    assert_eq!(b["seats"], 72);
    assert_eq!(b["booked"], 2);
    assert_eq!(b["cancelled"], 1);
    assert_eq!(b["no_show"], 0);
    let util = b["utilisation"].as_f64().unwrap();
    assert!((util - 2.0 / 72.0).abs() < 1e-9, "{util}");
    assert_eq!(stats.body["bookings"]["total"]["booked"], 2);

    // 09:30: the 09:00 booking is past its 10-minute grace, a no-show.
    clock.set("2026-03-02T09:30:00Z".parse().unwrap());
    let late = s
        .get(ADMIN, &format!("/v1/halls/h1/bookings/{today_code}"))
        .await;
    assert_eq!(late.body["status"], "no_show", "{:?}", late.body);
    let stats = s.get(ADMIN, "/v1/stats?hall=h1").await;
    assert_eq!(stats.body["bookings"]["services"][0]["no_show"], 1);
    // The gauges follow within their five-second refresh; the counters at once.
    s.run_hall_timers("h1").await;
    let text = metrics(&s).await;
    assert_eq!(
        sample(
            &text,
            "hallq_bookings_total",
            &["hall=\"h1\"", "action=\"booked\""]
        ),
        Some(4.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "hallq_bookings_total",
            &["hall=\"h1\"", "action=\"cancelled\""]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "hallq_bookings_today",
            &["hall=\"h1\"", "status=\"no_show\""]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "hallq_booking_seats_today", &["hall=\"h1\""]),
        Some(72.0)
    );
    assert_eq!(
        sample(&text, "hallq_booking_seats_today", &["hall=\"h2\""]),
        Some(0.0),
        "a hall that books nothing reads 0"
    );

    // The citizen arrives late: checked in, marked late, no longer a no-show, and the ticket
    // no longer ranks as an appointment.
    let checked = s
        .post(
            KIOSK,
            &format!("/v1/halls/h1/bookings/{today_code}/check-in"),
            json!({}),
        )
        .await;
    assert_eq!(checked.status, 201, "{:?}", checked.body);
    assert_eq!(checked.body["booking"]["status"], "checked_in");
    assert_eq!(checked.body["booking"]["late"], true);
    assert!(
        checked.body["ticket"]["reclassified"].is_object(),
        "{:?}",
        checked.body
    );
    let e = loop {
        let e = next(&mut stream, "the check-in's booking event").await;
        if e.event == "booking" {
            break e;
        }
    };
    assert_eq!(e.data["action"], "checked_in");
    assert_eq!(e.data["booking"]["late"], true);
    let stats = s.get(ADMIN, "/v1/stats?hall=h1").await;
    let b = &stats.body["bookings"]["services"][0];
    assert_eq!(
        (b["checked_in"].as_u64(), b["no_show"].as_u64()),
        (Some(1), Some(0))
    );

    // 121 days later (past the 90-day no-show window and the 30-day suspension it could
    // cause) the day turns and March's bookings are forgotten; one made since stays.
    clock.set("2026-07-01T08:00:00Z".parse().unwrap());
    s.run_hall_timers("h1").await;
    let recent = s
        .post(
            PORTAL,
            "/v1/halls/h1/bookings",
            body("2026-07-02T10:00:00Z", "web", 9),
        )
        .await;
    assert_eq!(recent.status, 201, "{:?}", recent.body);
    clock.set("2026-07-02T08:00:00Z".parse().unwrap());
    s.run_hall_timers("h1").await;
    for code in codes.iter().chain([&today_code]) {
        let gone = s.get(ADMIN, &format!("/v1/halls/h1/bookings/{code}")).await;
        assert_eq!(gone.status, 404, "{code}: {:?}", gone.body);
    }
    let kept = s
        .get(
            ADMIN,
            &format!(
                "/v1/halls/h1/bookings/{}",
                recent.body["code"].as_str().unwrap()
            ),
        )
        .await;
    assert_eq!(kept.status, 200);
    // And stay forgotten across a restart: the prune reached the store.
    let dir = s.stop().await;
    let s = start_with_clock(&booking_config(3, ""), dir, clock.clone()).await;
    let gone = s
        .get(ADMIN, &format!("/v1/halls/h1/bookings/{}", codes[0]))
        .await;
    assert_eq!(gone.status, 404);
    s.stop().await;
}
