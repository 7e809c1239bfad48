//! 预约 over the real server on a clock the test moves: slots, booking on each channel with
//! its role, full slots, cancelling, check-in by code and by ID number, the booking window,
//! durability across a restart, `Idempotency-Key`, and each fairness limit naming its rule.

mod support;

use std::sync::Arc;

use hallq::clock::ManualClock;
use jiff::Timestamp;
use serde_json::{Value, json};
use support::*;

/// Monday 2026-03-02, 08:00 UTC.
fn monday() -> Timestamp {
    "2026-03-02T08:00:00Z".parse().unwrap()
}

async fn server(capacity: u32, limits: &str) -> (Server, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(monday()));
    let s = start_with_clock(
        &booking_config(capacity, limits),
        tempfile::tempdir().unwrap(),
        clock.clone(),
    )
    .await;
    (s, clock)
}

fn body(start: &str, channel: &str, n: u32) -> Value {
    json!({"service": "s", "start": start, "channel": channel, "citizen": citizen(n)})
}

#[tokio::test]
async fn slots_bookings_cancel_and_check_in() {
    let (s, clock) = server(2, "").await;
    let slots = s
        .get(PORTAL, "/v1/halls/h1/slots?service=s&date=2026-03-03")
        .await;
    assert_eq!(slots.status, 200, "{:?}", slots.body);
    let list = slots.body.as_array().unwrap();
    assert_eq!(list.len(), 24, "an always-open hall has 24 one-hour slots");
    assert_eq!(list[10]["start"], "2026-03-03T10:00:00+00:00");
    assert_eq!(list[10]["end"], "2026-03-03T11:00:00+00:00");
    assert_eq!(list[10]["capacity"], 2);
    assert_eq!(list[10]["left"], 2);

    // Each channel has its role.
    let slot = "2026-03-03T10:00:00Z";
    let wrong = s
        .post(KIOSK, "/v1/halls/h1/bookings", body(slot, "phone", 1))
        .await;
    assert_eq!(wrong.status, 403);
    assert_eq!(wrong.body["type"], "urn:hallq:problem:wrong-channel");
    let wrong = s
        .post(PORTAL, "/v1/halls/h1/bookings", body(slot, "onsite", 1))
        .await;
    assert_eq!(wrong.status, 403);
    let display = s
        .post(DISPLAY, "/v1/halls/h1/bookings", body(slot, "web", 1))
        .await;
    assert_eq!(display.status, 403);

    let web = s
        .post(PORTAL, "/v1/halls/h1/bookings", body(slot, "web", 1))
        .await;
    assert_eq!(web.status, 201, "{:?}", web.body);
    let code = web.body["code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 8);
    assert_eq!(web.body["start"], "2026-03-03T10:00:00+00:00");
    assert_eq!(web.body["service"], "s");
    assert_eq!(web.body["channel"], "web");
    assert_eq!(web.body["status"], "booked");
    assert_eq!(web.body["citizen"]["id_number"], "3301**********001X");
    assert_eq!(web.body["citizen"]["phone"], "138****0001");
    assert!(web.body["qr"].as_str().unwrap().contains(&code));
    assert_eq!(
        web.header("location"),
        Some(format!("/v1/halls/h1/bookings/{code}").as_str())
    );
    let phone = s
        .post(COUNTER, "/v1/halls/h1/bookings", body(slot, "phone", 2))
        .await;
    assert_eq!(phone.status, 201);
    let full = s
        .post(KIOSK, "/v1/halls/h1/bookings", body(slot, "onsite", 3))
        .await;
    assert_eq!(full.status, 409);
    assert_eq!(full.body["type"], "urn:hallq:problem:slot-full");
    let slots = s
        .get(PORTAL, "/v1/halls/h1/slots?service=s&date=2026-03-03")
        .await;
    assert_eq!(slots.body[10]["left"], 0);
    assert_eq!(slots.body[10]["bookable"], false);

    // Not a slot, outside the window (Thursday is the third working day), unknown service.
    let odd = s
        .post(
            PORTAL,
            "/v1/halls/h1/bookings",
            body("2026-03-03T10:30:00Z", "web", 4),
        )
        .await;
    assert_eq!(odd.body["type"], "urn:hallq:problem:no-such-slot");
    let far = s
        .post(
            PORTAL,
            "/v1/halls/h1/bookings",
            body("2026-03-05T10:00:00Z", "web", 4),
        )
        .await;
    assert_eq!(far.status, 422);
    assert_eq!(far.body["type"], "urn:hallq:problem:outside-booking-window");
    let not_bookable = s
        .post(
            PORTAL,
            "/v1/halls/h1/bookings",
            json!({"service": "t", "start": slot, "channel": "web", "citizen": citizen(4)}),
        )
        .await;
    assert_eq!(not_bookable.body["type"], "urn:hallq:problem:not-bookable");

    // Cancelling frees the seat.
    let phone_code = phone.body["code"].as_str().unwrap();
    let cancel = s
        .post(
            PORTAL,
            &format!("/v1/halls/h1/bookings/{phone_code}/cancel"),
            json!({}),
        )
        .await;
    assert_eq!(cancel.status, 200, "{:?}", cancel.body);
    assert_eq!(cancel.body["status"], "cancelled");
    let onsite = s
        .post(KIOSK, "/v1/halls/h1/bookings", body(slot, "onsite", 3))
        .await;
    assert_eq!(onsite.status, 201);
    let twice = s
        .post(
            PORTAL,
            &format!("/v1/halls/h1/bookings/{phone_code}/cancel"),
            json!({}),
        )
        .await;
    assert_eq!(twice.body["type"], "urn:hallq:problem:booking-not-active");

    // Too late to cancel two hours before; too early to check in the day before.
    clock.set("2026-03-03T08:30:00Z".parse().unwrap());
    let late = s
        .post(
            PORTAL,
            &format!("/v1/halls/h1/bookings/{code}/cancel"),
            json!({}),
        )
        .await;
    assert_eq!(late.status, 409);
    assert_eq!(late.body["type"], "urn:hallq:problem:cancel-closed");
    assert_eq!(late.body["until"], "2026-03-03T08:00:00+00:00");

    // The portal cannot check in; the kiosk can, by code and by ID number.
    let portal = s
        .post(
            PORTAL,
            &format!("/v1/halls/h1/bookings/{code}/check-in"),
            json!({}),
        )
        .await;
    assert_eq!(portal.status, 403);
    let checked = s
        .post(
            KIOSK,
            &format!("/v1/halls/h1/bookings/{code}/check-in"),
            json!({}),
        )
        .await;
    assert_eq!(checked.status, 201, "{:?}", checked.body);
    assert_eq!(checked.body["ticket"]["class"], "appointment");
    assert_eq!(checked.body["booking"]["status"], "checked_in");
    let ticket = checked.body["ticket"]["id"].as_str().unwrap();
    assert_eq!(checked.body["booking"]["ticket"], ticket);
    let again = s
        .post(
            KIOSK,
            &format!("/v1/halls/h1/bookings/{code}/check-in"),
            json!({}),
        )
        .await;
    assert_eq!(again.body["type"], "urn:hallq:problem:booking-not-active");
    let by_id = s
        .post(
            KIOSK,
            "/v1/halls/h1/bookings/check-in",
            json!({"id_number": citizen(3)["id_number"]}),
        )
        .await;
    assert_eq!(by_id.status, 201, "{:?}", by_id.body);
    assert_eq!(by_id.body["booking"]["code"], onsite.body["code"]);
    let nobody = s
        .post(
            KIOSK,
            "/v1/halls/h1/bookings/check-in",
            json!({"id_number": "110101199001011234"}),
        )
        .await;
    assert_eq!(nobody.status, 404);
    assert_eq!(nobody.body["type"], "urn:hallq:problem:unknown-booking");

    // The counter sees today's arrivals, masked.
    let today = s
        .get(COUNTER, "/v1/halls/h1/bookings?date=2026-03-03")
        .await;
    assert_eq!(today.status, 200);
    let arrivals = today.body.as_array().unwrap();
    assert_eq!(arrivals.len(), 3, "two seated and one cancelled");
    assert!(
        arrivals
            .iter()
            .all(|b| b["citizen"]["id_number"].as_str().unwrap().contains("**"))
    );
    let portal_list = s.get(PORTAL, "/v1/halls/h1/bookings?date=2026-03-03").await;
    assert_eq!(
        portal_list.status, 403,
        "the portal cannot list citizens' bookings"
    );
    s.stop().await;
}

#[tokio::test]
async fn bookings_survive_a_restart_and_keys_replay() {
    let clock = Arc::new(ManualClock::new(monday()));
    let text = booking_config(1, "");
    let s = start_with_clock(&text, tempfile::tempdir().unwrap(), clock.clone()).await;
    let url = format!("{}/v1/halls/h1/bookings", s.base);
    let b = body("2026-03-03T09:00:00Z", "web", 7).to_string();
    let first = call(
        &s.http,
        reqwest::Method::POST,
        url.clone(),
        Some(PORTAL),
        Some(b.clone()),
        &[("idempotency-key", "k1")],
    )
    .await;
    assert_eq!(first.status, 201);
    let replay = call(
        &s.http,
        reqwest::Method::POST,
        url,
        Some(PORTAL),
        Some(b),
        &[("idempotency-key", "k1")],
    )
    .await;
    assert_eq!(replay.status, 201);
    assert_eq!(
        replay.body["code"], first.body["code"],
        "a retry gets the first answer"
    );
    let dir = s.stop().await;

    let s = start_with_clock(&text, dir, clock.clone()).await;
    let code = first.body["code"].as_str().unwrap();
    let got = s
        .get(PORTAL, &format!("/v1/halls/h1/bookings/{code}"))
        .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["status"], "booked");
    let full = s
        .post(
            COUNTER,
            "/v1/halls/h1/bookings",
            body("2026-03-03T09:00:00Z", "phone", 8),
        )
        .await;
    assert_eq!(
        full.body["type"], "urn:hallq:problem:slot-full",
        "the seat is still taken"
    );
    s.stop().await;
}

#[tokio::test]
async fn limits_name_their_rule_and_when_they_lift() {
    let (s, _clock) = server(5, "per_service_day = 1\nper_week = 2").await;
    let ok = s
        .post(
            PORTAL,
            "/v1/halls/h1/bookings",
            body("2026-03-03T09:00:00Z", "web", 1),
        )
        .await;
    assert_eq!(ok.status, 201);
    let day = s
        .post(
            PORTAL,
            "/v1/halls/h1/bookings",
            body("2026-03-03T11:00:00Z", "web", 1),
        )
        .await;
    assert_eq!(day.status, 409);
    assert_eq!(day.body["type"], "urn:hallq:problem:booking-limit");
    assert_eq!(day.body["rule"], "per-service-day");
    assert_eq!(day.body["until"], "2026-03-04T00:00:00+00:00");
    let other_day = s
        .post(
            PORTAL,
            "/v1/halls/h1/bookings",
            body("2026-03-04T11:00:00Z", "web", 1),
        )
        .await;
    assert_eq!(other_day.status, 201);
    let week = s
        .post(
            PORTAL,
            "/v1/halls/h1/bookings",
            body("2026-03-02T15:00:00Z", "web", 1),
        )
        .await;
    assert_eq!(week.status, 409);
    assert_eq!(week.body["rule"], "per-week");
    assert_eq!(week.body["until"], "2026-03-09T00:00:00+00:00");
    // Another citizen is not limited.
    let other = s
        .post(
            PORTAL,
            "/v1/halls/h1/bookings",
            body("2026-03-03T11:00:00Z", "web", 2),
        )
        .await;
    assert_eq!(other.status, 201);
    s.stop().await;
}

#[tokio::test]
async fn repeated_no_shows_suspend_booking() {
    let (s, clock) = server(
        5,
        "per_week = 10\nno_show_limit = 2\nno_show_window_days = 90\nsuspension_days = 30",
    )
    .await;
    for slot in ["2026-03-02T10:00:00Z", "2026-03-02T12:00:00Z"] {
        // A no-show no longer counts as an active booking of its day.
        let r = s
            .post(PORTAL, "/v1/halls/h1/bookings", body(slot, "web", 9))
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        clock.set(slot.parse::<Timestamp>().unwrap() + jiff::SignedDuration::from_mins(11));
        let got = s
            .get(
                PORTAL,
                &format!("/v1/halls/h1/bookings/{}", r.body["code"].as_str().unwrap()),
            )
            .await;
        assert_eq!(got.body["status"], "no_show");
    }
    let refused = s
        .post(
            PORTAL,
            "/v1/halls/h1/bookings",
            body("2026-03-03T10:00:00Z", "web", 9),
        )
        .await;
    assert_eq!(refused.status, 409, "{:?}", refused.body);
    assert_eq!(refused.body["rule"], "no-show-suspension");
    assert_eq!(refused.body["until"], "2026-04-01T12:10:00+00:00");
    // The suspension lifts when it says.
    clock.set("2026-04-01T12:10:01Z".parse().unwrap());
    let ok = s
        .post(
            PORTAL,
            "/v1/halls/h1/bookings",
            body("2026-04-02T10:00:00Z", "web", 9),
        )
        .await;
    assert_eq!(ok.status, 201, "{:?}", ok.body);
    s.stop().await;
}

#[tokio::test]
async fn bookings_on_a_day_that_closes_are_flagged_not_dropped() {
    let (s, _clock) = server(2, "").await;
    let kept = s
        .post(
            PORTAL,
            "/v1/halls/h1/bookings",
            body("2026-03-03T10:00:00Z", "web", 1),
        )
        .await;
    let moved = s
        .post(
            PORTAL,
            "/v1/halls/h1/bookings",
            body("2026-03-04T15:00:00Z", "web", 2),
        )
        .await;
    let other = s
        .post(
            PORTAL,
            "/v1/halls/h1/bookings",
            body("2026-03-04T09:00:00Z", "web", 3),
        )
        .await;
    assert_eq!(kept.status, 201);
    // Tuesday closes (设备检修); Wednesday shortens to the morning.
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
    let shorten = call(
        &s.http,
        reqwest::Method::PUT,
        format!("{}/v1/halls/h1/hours/2026-03-04", s.base),
        Some(ADMIN),
        Some(r#"{"hours": ["08:00-12:00"], "reason": "半天"}"#.into()),
        &[],
    )
    .await;
    assert_eq!(shorten.status, 200, "{:?}", shorten.body);
    let flagged = s.get(COUNTER, "/v1/halls/h1/bookings?flagged=true").await;
    let list = flagged.body.as_array().unwrap();
    let codes: Vec<&Value> = list.iter().map(|b| &b["code"]).collect();
    assert_eq!(codes, [&kept.body["code"], &moved.body["code"]], "{list:?}");
    assert!(
        list[0]["flagged"]["reason"]
            .as_str()
            .unwrap()
            .contains("设备检修")
    );
    assert_eq!(
        list[0]["status"], "booked",
        "a flagged booking keeps its seat"
    );
    let fine = s
        .get(
            PORTAL,
            &format!(
                "/v1/halls/h1/bookings/{}",
                other.body["code"].as_str().unwrap()
            ),
        )
        .await;
    assert!(fine.body.get("flagged").is_none());
    // No new slots on the closed day; a flagged booking can be cancelled late.
    let slots = s
        .get(PORTAL, "/v1/halls/h1/slots?service=s&date=2026-03-03")
        .await;
    assert_eq!(slots.body.as_array().unwrap().len(), 0);
    s.stop().await;
}
