//! A full slot refused by the HTTP side (the hall owner's board of full slots), over the real
//! server on a clock the test moves: the refusal is the owner's own answer, and the board
//! never says `slot-full` where the owner would say something else: a citizen over a limit,
//! a retried `Idempotency-Key` that booked, a seat freed by a cancellation, the latest
//! booking time, a day closed by an override, a restart.
//!
//! `hallq_bookings_full_early_total` counts the refusals that did not cross to the owner.
//! One test: the metrics recorder is the process's, so the counts are this test's only.

mod support;

use std::sync::Arc;

use hallq::clock::ManualClock;
use jiff::Timestamp;
use serde_json::{Value, json};
use support::*;

/// Tuesday's slots (capacity 2): A fills first, B takes other bookings of the day, C is
/// for the keys and the cancellation.
const A: &str = "2026-03-03T10:00:00Z";
const B: &str = "2026-03-03T11:00:00Z";
const C: &str = "2026-03-03T12:00:00Z";
/// Wednesday: a booking that puts its citizen on the board without a Tuesday limit.
const WED: &str = "2026-03-04T10:00:00Z";

fn body(start: &str, n: u32) -> Value {
    json!({"service": "s", "start": start, "channel": "web", "citizen": citizen(n)})
}

async fn book(s: &Server, start: &str, n: u32, key: Option<&str>) -> Resp {
    let headers: Vec<(&str, &str)> = key.map(|k| ("Idempotency-Key", k)).into_iter().collect();
    call(
        &s.http,
        reqwest::Method::POST,
        format!("{}/v1/halls/h1/bookings", s.base),
        Some(PORTAL),
        Some(body(start, n).to_string()),
        &headers,
    )
    .await
}

/// How many bookings were refused without the owner so far.
async fn early(s: &Server) -> u64 {
    metric(&s.http, &s.base, "hallq_bookings_full_early_total").await as u64
}

fn assert_full(r: &Resp) {
    assert_eq!(r.status, 409, "{:?}", r.body);
    assert_eq!(
        r.body["type"], "urn:hallq:problem:slot-full",
        "{:?}",
        r.body
    );
}

#[tokio::test]
async fn a_full_slot_is_refused_without_the_owner_as_the_owner_would() {
    let monday = "2026-03-02T08:00:00Z".parse::<Timestamp>().unwrap();
    let clock = Arc::new(ManualClock::new(monday));
    let config = booking_config(2, "per_week = 10");
    let s = start_with_clock(&config, tempfile::tempdir().unwrap(), clock.clone()).await;

    // Slot A fills; the request that took the last seat was answered after the board showed
    // the slot full, so the next one is refused without the owner.
    assert_eq!(book(&s, A, 1, None).await.status, 201);
    assert_eq!(book(&s, A, 2, None).await.status, 201);
    assert_eq!(early(&s).await, 0);
    let fast = book(&s, A, 3, None).await;
    assert_full(&fast);
    assert_eq!(early(&s).await, 1);
    assert_eq!(fast.body["capacity"], 2);

    // A citizen with a booking (on Wednesday) is under no Tuesday limit: the owner answers,
    // and its answer is the very one the board gave.
    assert_eq!(book(&s, WED, 4, None).await.status, 201);
    let owner = book(&s, A, 4, None).await;
    assert_eq!(early(&s).await, 1, "a citizen with bookings asks the owner");
    assert_eq!(owner.status, fast.status);
    assert_eq!(owner.body, fast.body);
    assert_eq!(owner.content_type, fast.content_type);

    // A citizen over a limit learns the limit, not that the slot is full: limits come first.
    assert_eq!(book(&s, B, 5, None).await.status, 201);
    let limited = book(&s, A, 5, None).await;
    assert_eq!(limited.status, 409);
    assert_eq!(
        limited.body["type"], "urn:hallq:problem:booking-limit",
        "{:?}",
        limited.body
    );
    assert_eq!(limited.body["rule"], "per-service-day");

    // After a restart the board starts empty and the citizens on it come from the store: the
    // first refusal is the owner's, which puts the slot back; citizen 5 is still limited.
    let dir = s.stop().await;
    let s = start_with_clock(&config, dir, clock.clone()).await;
    let base = early(&s).await;
    assert_full(&book(&s, A, 6, None).await);
    assert_full(&book(&s, A, 7, None).await);
    assert_eq!(early(&s).await, base + 1);
    let limited = book(&s, A, 5, None).await;
    assert_eq!(limited.body["type"], "urn:hallq:problem:booking-limit");
    assert_eq!(early(&s).await, base + 1);

    // Idempotency-Key: the retry of a booking that took the last seat gets its 201 again.
    let first = book(&s, C, 10, Some("k-10")).await;
    let last = book(&s, C, 11, Some("k-11")).await;
    assert_eq!((first.status.as_u16(), last.status.as_u16()), (201, 201));
    let again = book(&s, C, 11, Some("k-11")).await;
    assert_eq!(again.status, 201, "{:?}", again.body);
    assert_eq!(again.body["code"], last.body["code"]);
    assert_eq!(early(&s).await, base + 1, "a kept answer is the owner's");
    // A new key on the full slot is refused at once, and its refusal is not kept ...
    assert_full(&book(&s, C, 12, Some("k-12")).await);
    assert_eq!(early(&s).await, base + 2);

    // ... so once a cancellation frees a seat, which takes the slot off the board before it
    // is acknowledged, the retry with that key books it.
    let code = first.body["code"].as_str().unwrap();
    let cancel = s
        .post(
            PORTAL,
            &format!("/v1/halls/h1/bookings/{code}/cancel"),
            json!({}),
        )
        .await;
    assert_eq!(cancel.status, 200, "{:?}", cancel.body);
    let retried = book(&s, C, 12, Some("k-12")).await;
    assert_eq!(retried.status, 201, "{:?}", retried.body);
    let replayed = book(&s, C, 12, Some("k-12")).await;
    assert_eq!(replayed.body["code"], retried.body["code"]);
    assert_eq!(early(&s).await, base + 2);
    // Full again: on the board again.
    assert_full(&book(&s, C, 13, None).await);
    assert_eq!(early(&s).await, base + 3);

    // Past the slot's latest booking time the owner says so, not the board.
    clock.set("2026-03-03T10:00:01Z".parse().unwrap());
    let closed = book(&s, A, 14, None).await;
    assert_eq!(
        closed.body["type"], "urn:hallq:problem:booking-closed",
        "{:?}",
        closed.body
    );
    assert_eq!(early(&s).await, base + 3);
    assert_full(&book(&s, C, 14, None).await);
    assert_eq!(early(&s).await, base + 4);

    // A day closed by an override takes its slots off the board: no such slot any more.
    let close = call(
        &s.http,
        reqwest::Method::PUT,
        format!("{}/v1/halls/h1/hours/2026-03-03", s.base),
        Some(ADMIN),
        Some(r#"{"closed": true, "reason": "设备检修"}"#.into()),
        &[],
    )
    .await;
    assert_eq!(close.status, 200, "{:?}", close.body);
    let gone = book(&s, C, 15, None).await;
    assert_eq!(gone.status, 422, "{:?}", gone.body);
    assert_eq!(gone.body["type"], "urn:hallq:problem:no-such-slot");
    assert_eq!(early(&s).await, base + 4);
    s.stop().await;
}
