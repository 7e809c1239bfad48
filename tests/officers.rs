//! Issue 13 over the real server: officers with their 公示牌 (roster, photo), the officer on
//! every call and ticket, attendance from the durable log, AB岗 enforced (leave only when the
//! other post is in, else 409 naming them), short absences pausing the window with the
//! whereabouts shown, and the citizen's own rating through the ticket link.

mod support;

use std::sync::Arc;

use hallq::clock::ManualClock;
use reqwest::StatusCode;
use serde_json::json;
use support::*;

/// `config(1)` with an officers roster (one with a photo) and w1's posts assigned (A by staff
/// number, B by name).
pub fn officers_config(dir: &std::path::Path) -> String {
    std::fs::write(dir.join("wang.png"), b"\x89PNG\r\n\x1a\nfake").unwrap();
    let base = config(1).replacen(
        "services = [\"s\", \"t\"]\n",
        "services = [\"s\", \"t\"]\nposts = { a = \"1001\", b = \"李明\" }\n",
        1,
    );
    format!(
        r#"{base}
[rating]
window_min = 30

[[officer]]
staff_no = "1001"
name = "王芳"
photo = "{}"

[[officer]]
staff_no = "1002"
name = "李明"
"#,
        dir.join("wang.png").display()
    )
}

#[allow(
    clippy::disallowed_methods,
    reason = "the in-process server runs on the real clock; a return time must lie ahead of it"
)]
fn wall_now() -> jiff::Timestamp {
    jiff::Timestamp::now()
}

async fn served_ticket(srv: &Server) -> String {
    let t = srv
        .post(KIOSK, "/v1/halls/h1/tickets", json!({"service": "s"}))
        .await;
    assert_eq!(t.status, StatusCode::CREATED, "{:?}", t.body);
    let called = srv
        .post(COUNTER, "/v1/halls/h1/windows/w1/call", json!({}))
        .await;
    assert_eq!(called.status, StatusCode::OK, "{:?}", called.body);
    let done = srv
        .post(COUNTER, "/v1/halls/h1/windows/w1/complete", json!({}))
        .await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);
    t.body["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn calls_and_tickets_name_the_serving_officer_and_attendance_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start_in(&officers_config(dir.path()), dir).await;

    // The roster and the photo the 公示牌 shows: public, as the counter's plate is.
    let roster = srv.get("", "/v1/officers").await;
    assert_eq!(roster.status, StatusCode::OK);
    assert_eq!(roster.body["officers"][0]["staff_no"], "1001");
    assert_eq!(
        roster.body["officers"][0]["photo"],
        "/v1/officers/1001/photo"
    );
    assert!(roster.body["officers"][1].get("photo").is_none());
    let photo = srv.get("", "/v1/officers/1001/photo").await;
    assert_eq!(photo.status, StatusCode::OK);
    assert_eq!(photo.content_type, "image/png");
    assert_eq!(
        srv.get("", "/v1/officers/1002/photo").await.status,
        StatusCode::NOT_FOUND
    );

    // Signing in by staff number names the officer as the roster does.
    let open = srv
        .post(
            COUNTER,
            "/v1/halls/h1/windows/w1/open",
            json!({"post": "A", "officer": "1001"}),
        )
        .await;
    assert_eq!(open.status, StatusCode::OK, "{:?}", open.body);
    assert_eq!(open.body["officers"][0], "王芳");

    srv.post(KIOSK, "/v1/halls/h1/tickets", json!({"service": "s"}))
        .await;
    let called = srv
        .post(COUNTER, "/v1/halls/h1/windows/w1/call", json!({}))
        .await;
    assert_eq!(called.body["officer"], "王芳", "{:?}", called.body);
    let id = called.body["id"].as_str().unwrap().to_owned();
    let snap = srv.get(DISPLAY, "/v1/halls/h1").await;
    assert_eq!(snap.body["recent_calls"][0]["officer"], "王芳");
    let ticket = srv
        .get(COUNTER, &format!("/v1/halls/h1/tickets/{id}"))
        .await;
    assert_eq!(ticket.body["officer"], "王芳");

    // Attendance: the sign-in, then a sign-out that names who left.
    srv.post(COUNTER, "/v1/halls/h1/windows/w1/complete", json!({}))
        .await;
    srv.post(COUNTER, "/v1/halls/h1/windows/w1/close", json!({}))
        .await;
    let out = srv
        .post(
            COUNTER,
            "/v1/halls/h1/windows/w1/sign-out",
            json!({"post": "A"}),
        )
        .await;
    assert_eq!(out.status, StatusCode::OK, "{:?}", out.body);
    let att = srv.get(ADMIN, "/v1/halls/h1/attendance?officer=1001").await;
    assert_eq!(att.status, StatusCode::OK, "{:?}", att.body);
    let marks = att.body["marks"].as_array().unwrap();
    assert_eq!(marks.len(), 2, "{marks:?}");
    assert_eq!(marks[0]["kind"], "signed_in");
    assert_eq!(marks[1]["kind"], "signed_out");
    assert_eq!(marks[1]["officer"], "王芳");
}

#[tokio::test]
async fn leave_needs_the_b_post_signed_in_and_a_short_absence_pauses_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start_in(&officers_config(dir.path()), dir).await;
    srv.post(
        COUNTER,
        "/v1/halls/h1/windows/w1/open",
        json!({"post": "A", "officer": "王芳"}),
    )
    .await;
    let back = (wall_now() + jiff::SignedDuration::from_hours(6)).to_string();

    // A asks for leave with B absent: refused, naming B.
    let refused = srv
        .post(
            COUNTER,
            "/v1/halls/h1/windows/w1/sign-out",
            json!({"post": "A", "reason": "病假", "back_at": back}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{:?}", refused.body);
    assert!(
        refused.body["type"]
            .as_str()
            .unwrap()
            .ends_with(":cover-absent")
    );
    assert!(
        refused.body["detail"].as_str().unwrap().contains("李明"),
        "{:?}",
        refused.body
    );
    let w = srv.get(COUNTER, "/v1/halls/h1").await;
    assert_eq!(
        w.body["windows"][0]["officers"][0], "王芳",
        "A is still on the post"
    );

    // B arrives; now A may go, and the window keeps calling under B.
    srv.post(
        COUNTER,
        "/v1/halls/h1/windows/w1/sign-in",
        json!({"post": "B", "officer": "1002"}),
    )
    .await;
    let ok = srv
        .post(
            COUNTER,
            "/v1/halls/h1/windows/w1/sign-out",
            json!({"post": "A", "reason": "病假", "back_at": back}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    assert_eq!(ok.body["state"], "open", "{:?}", ok.body);
    assert_eq!(ok.body["away"][0]["note"], "病假");
    assert_eq!(ok.body["away"][0]["leave"], true);
    srv.post(KIOSK, "/v1/halls/h1/tickets", json!({"service": "s"}))
        .await;
    let called = srv
        .post(COUNTER, "/v1/halls/h1/windows/w1/call", json!({}))
        .await;
    assert_eq!(called.body["officer"], "李明");
    srv.post(COUNTER, "/v1/halls/h1/windows/w1/complete", json!({}))
        .await;

    // B steps out for a meeting for an hour, nobody covers: the window pauses and says where.
    let soon = (wall_now() + jiff::SignedDuration::from_hours(1)).to_string();
    let away = srv
        .post(
            COUNTER,
            "/v1/halls/h1/windows/w1/sign-out",
            json!({"post": "B", "reason": "会议", "back_at": soon}),
        )
        .await;
    assert_eq!(away.status, StatusCode::OK, "{:?}", away.body);
    assert_eq!(away.body["state"], "paused");
    assert!(
        away.body["pause_reason"]
            .as_str()
            .unwrap()
            .starts_with("会议，"),
        "{:?}",
        away.body
    );
    assert_eq!(away.body["away"][1]["leave"], false);
    srv.post(KIOSK, "/v1/halls/h1/tickets", json!({"service": "s"}))
        .await;
    let no_call = srv
        .post(COUNTER, "/v1/halls/h1/windows/w1/call", json!({}))
        .await;
    assert_eq!(
        no_call.status,
        StatusCode::CONFLICT,
        "a window without an officer does not call"
    );

    // A sign-out without a reason is the end of the day: no absence, nothing refused.
    let bad = srv
        .post(
            COUNTER,
            "/v1/halls/h1/windows/w1/sign-out",
            json!({"post": "B", "back_at": soon}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_citizen_rates_once_through_the_ticket_link_within_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(wall_now()));
    let srv = start_with_clock(&officers_config(dir.path()), dir, clock.clone()).await;
    srv.post(
        COUNTER,
        "/v1/halls/h1/windows/w1/open",
        json!({"post": "A", "officer": "王芳"}),
    )
    .await;
    let id = served_ticket(&srv).await;
    let link = srv
        .get(
            KIOSK,
            &format!("/v1/halls/h1/tickets/{id}/link?base=http://q.example"),
        )
        .await;
    let k = link.body["k"].as_str().unwrap().to_owned();
    let path = format!("/v1/halls/h1/tickets/{id}/rating");

    // No key, no token: 401; a wrong key: 403; a display token may not rate: 403.
    assert_eq!(
        srv.post("", &path, json!({"rating": 5})).await.status,
        StatusCode::UNAUTHORIZED
    );
    let wrong = srv
        .post(
            "",
            &format!("{path}?k=AAAAAAAAAAAAAAAA"),
            json!({"rating": 5}),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert_eq!(
        srv.post(DISPLAY, &path, json!({"rating": 5})).await.status,
        StatusCode::FORBIDDEN
    );
    // Unknown reasons and out-of-range ratings name their field.
    let bad = srv
        .post(
            "",
            &format!("{path}?k={k}"),
            json!({"rating": 2, "reasons": ["nope"]}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.body["field"], "reasons");
    let bad = srv
        .post("", &format!("{path}?k={k}"), json!({"rating": 6}))
        .await;
    assert_eq!(bad.body["field"], "rating");

    let rated = srv
        .post(
            "",
            &format!("{path}?k={k}"),
            json!({"rating": 2, "reasons": ["等待太久"]}),
        )
        .await;
    assert_eq!(rated.status, StatusCode::OK, "{:?}", rated.body);
    assert_eq!(rated.body["evaluation"], 2);
    assert_eq!(rated.body["reasons"], json!(["等待太久"]));
    assert_eq!(rated.body["officer"], "王芳");
    let again = srv
        .post("", &format!("{path}?k={k}"), json!({"rating": 5}))
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "once per ticket");

    // The counter's 评价器 rates with its token, but not after the rating window closed.
    let late = served_ticket(&srv).await;
    clock.advance(31 * 60);
    let closed = srv
        .post(
            COUNTER,
            &format!("/v1/halls/h1/tickets/{late}/rating"),
            json!({"rating": 4}),
        )
        .await;
    assert_eq!(closed.status, StatusCode::CONFLICT, "{:?}", closed.body);
    assert!(
        closed.body["type"]
            .as_str()
            .unwrap()
            .ends_with("rating-closed")
    );
    let fresh = served_ticket(&srv).await;
    let ok = srv
        .post(
            COUNTER,
            &format!("/v1/halls/h1/tickets/{fresh}/rating"),
            json!({"rating": 4}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
}
