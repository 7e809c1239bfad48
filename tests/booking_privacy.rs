//! Citizens' identifiers are never stored or logged in clear: after bookings, a refusal, a
//! cancellation and a check-in by ID number on the real binary (debug logging on), the ID
//! number's and the phone's digits appear nowhere in the data directory or the log.

mod support;

use serde_json::json;
use support::*;

#[tokio::test]
async fn id_numbers_and_phones_never_reach_the_disk_or_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let how = Hallq::config(dir.path(), &booking_config(3, ""))
        .env("RUST_LOG", "debug")
        .capture_log();
    let d = how.spawn();
    let http = client();
    let post = |path: &str, token: &'static str, body: serde_json::Value| {
        call(
            &http,
            reqwest::Method::POST,
            d.url(path),
            Some(token),
            Some(body.to_string()),
            &[("idempotency-key", "privacy-1")],
        )
    };
    // The first date with a bookable slot (today or the next working days).
    #[allow(
        clippy::disallowed_methods,
        reason = "the binary runs on the real clock"
    )]
    let today = jiff::tz::TimeZone::UTC
        .to_datetime(jiff::Timestamp::now())
        .date();
    let mut start = None;
    for i in 0..7 {
        let date = today + jiff::Span::new().days(i);
        let r = call(
            &http,
            reqwest::Method::GET,
            d.url(&format!("/v1/halls/h1/slots?service=s&date={date}")),
            Some(PORTAL),
            None,
            &[],
        )
        .await;
        if let Some(slot) = r
            .body
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["bookable"] == true)
        {
            start = Some(slot["start"].as_str().unwrap().to_owned());
            break;
        }
    }
    let start = start.expect("a bookable slot within a week");
    let citizen = json!({"id_number": ID_NUMBER, "phone": PHONE, "name": "王小明"});
    let booked = post(
        "/v1/halls/h1/bookings",
        PORTAL,
        json!({"service": "s", "start": start, "channel": "web", "citizen": citizen}),
    )
    .await;
    assert_eq!(booked.status, 201, "{:?}", booked.body);
    let text = booked.body.to_string();
    assert!(
        !text.contains("19900307") && !text.contains("12345678"),
        "{text}"
    );
    assert_eq!(booked.body["citizen"]["name"], "王**");
    // A refusal (the per-day limit) and a check-in by ID number also see the identifiers.
    let again = call(
        &http,
        reqwest::Method::POST,
        d.url("/v1/halls/h1/bookings"),
        Some(PORTAL),
        Some(
            json!({"service": "s", "start": start, "channel": "web", "citizen": citizen})
                .to_string(),
        ),
        &[],
    )
    .await;
    assert_eq!(again.body["rule"], "per-service-day");
    let _ = post(
        "/v1/halls/h1/bookings/check-in",
        KIOSK,
        json!({"id_number": ID_NUMBER}),
    )
    .await;
    let code = booked.body["code"].as_str().unwrap();
    let _ = call(
        &http,
        reqwest::Method::POST,
        d.url(&format!("/v1/halls/h1/bookings/{code}/cancel")),
        Some(PORTAL),
        Some("{}".into()),
        &[],
    )
    .await;
    let log = d.terminate();
    assert!(!log.is_empty(), "the debug log was captured");

    let needles = [
        "440106",
        "19900307",
        "0307123",
        "13912345678",
        "12345678",
        "王小明",
    ];
    assert_no_clear_text(&log, how.data_dir(), &needles);
}
