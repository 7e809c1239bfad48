//! Issue 13, step 4, on the real binary: a bad rating given through the ticket link opens a
//! rectification bound to ticket, service, window, officer, rating and reasons; closing it
//! records 核实, 整改, 反馈 and the citizen's follow-up; a complaint opens its own case with
//! the contact never in clear; and all of it reads the same after a SIGKILL and restart.

mod support;

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::*;

/// `config(1)` on an all-day calendar, w1's A post held by 王芳 (by staff number), a rating
/// window, a complaint limit of 3 working days, and a case officer.
fn loop_config(dir: &std::path::Path) -> String {
    std::fs::write(dir.join("always.toml"), always_calendar(&[])).unwrap();
    let base = config(1).replacen(
        "services = [\"s\", \"t\"]\n",
        "services = [\"s\", \"t\"]\nposts = { a = \"1001\", b = \"1002\" }\n",
        1,
    );
    format!(
        r#"{base}
[[calendar]]
id = "always"
file = "{}"

[rating]
window_min = 30
complaint_limit = "3wd"

# Complainants' contacts are hashed with the booking's citizen key.
[booking]
keys = ["test-booking-key-0123456789"]

[[officer]]
staff_no = "1001"
name = "王芳"

[[officer]]
staff_no = "1002"
name = "李明"
{}"#,
        dir.join("always.toml").display(),
        token(OFFICER, "case-officer", &["*"]),
    )
}

async fn req(d: &Daemon, method: Method, token: &str, path: &str, body: Option<Value>) -> Resp {
    call(
        &client(),
        method,
        d.url(path),
        Some(token),
        body.map(|b| b.to_string()),
        &[],
    )
    .await
}

/// The case, once the case thread has it (a rectification opens after the rating commits).
async fn case_when_open(d: &Daemon, id: &str) -> Value {
    for _ in 0..200 {
        let r = req(d, Method::GET, OFFICER, &format!("/v1/cases/{id}"), None).await;
        if r.status == StatusCode::OK {
            return r.body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("case {id} never opened");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_rating_and_a_complaint_close_with_their_record_and_keep_it_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let hallq = Hallq::config(dir.path(), &loop_config(dir.path()));
    let d = hallq.spawn();

    // 王芳 serves a ticket; the citizen rates it 2 through the ticket's link.
    let t = req(
        &d,
        Method::POST,
        KIOSK,
        "/v1/halls/h1/tickets",
        Some(json!({"service": "s"})),
    )
    .await;
    assert_eq!(t.status, StatusCode::CREATED, "{:?}", t.body);
    let ticket = t.body["id"].as_str().unwrap().to_owned();
    for (action, body) in [
        ("open", json!({"post": "A", "officer": "王芳"})),
        ("call", json!({})),
        ("complete", json!({})),
    ] {
        let r = req(
            &d,
            Method::POST,
            COUNTER,
            &format!("/v1/halls/h1/windows/w1/{action}"),
            Some(body),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{action}: {:?}", r.body);
    }
    let link = req(
        &d,
        Method::GET,
        KIOSK,
        &format!("/v1/halls/h1/tickets/{ticket}/link?base=http://q.example"),
        None,
    )
    .await;
    let k = link.body["k"].as_str().expect("a link key").to_owned();
    let rated = call(
        &client(),
        Method::POST,
        d.url(&format!("/v1/halls/h1/tickets/{ticket}/rating?k={k}")),
        None,
        Some(json!({"rating": 2, "reasons": ["等待太久"]}).to_string()),
        &[],
    )
    .await;
    assert_eq!(rated.status, StatusCode::OK, "{:?}", rated.body);

    // The rectification carries every binding.
    let rect = format!("RECT-h1-{ticket}");
    let opened = case_when_open(&d, &rect).await;
    assert_eq!(opened["matter"], "rectification");
    assert_eq!(
        opened["origin"],
        json!({
            "kind": "rating",
            "ticket": ticket,
            "service": "s",
            "window": "w1",
            "officer": "王芳",
            "rating": 2,
            "reasons": ["等待太久"],
        })
    );

    // It does not close without the record, nor with part of it; then it does.
    let path = format!("/v1/cases/{rect}/complete");
    let bare = req(&d, Method::POST, OFFICER, &path, Some(json!({}))).await;
    assert_eq!(
        bare.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        bare.body
    );
    assert!(
        bare.body["type"]
            .as_str()
            .unwrap()
            .ends_with("closing-record-required")
    );
    let partial = req(
        &d,
        Method::POST,
        OFFICER,
        &path,
        Some(json!({"verification": "the wait was 40 minutes"})),
    )
    .await;
    assert_eq!(
        partial.status,
        StatusCode::BAD_REQUEST,
        "{:?}",
        partial.body
    );
    assert_eq!(partial.body["field"], "action");
    let closing = json!({
        "verification": "the wait was 40 minutes: one window was closed at noon",
        "action": "a second window opens at noon from Monday",
        "feedback": "phoned the citizen and explained the change",
        "follow_up": {"rating": 4, "note": "satisfied with the answer"},
    });
    let done = req(&d, Method::POST, OFFICER, &path, Some(closing.clone())).await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);
    assert_eq!(done.body["state"], "completed");
    assert_eq!(done.body["closing"], closing);

    // A complaint from the hotline about the same officer, with a phone to call back.
    let complaint = req(
        &d,
        Method::POST,
        OFFICER,
        "/v1/complaints",
        Some(json!({
            "hall": "h1",
            "channel": "hotline",
            "subject": "told to come back three times for one stamp",
            "ticket": ticket,
            "officer": "1001",
            "contact": "138-0013-8000",
        })),
    )
    .await;
    assert_eq!(
        complaint.status,
        StatusCode::CREATED,
        "{:?}",
        complaint.body
    );
    let cmp = complaint.body["id"].as_str().unwrap().to_owned();
    assert!(cmp.starts_with("CMP-h1-"), "{cmp}");
    assert_eq!(complaint.body["matter"], "complaint");
    assert_eq!(complaint.body["limit"], "3wd");
    let origin = &complaint.body["origin"];
    assert_eq!(origin["kind"], "complaint");
    assert_eq!(origin["officer"], "王芳");
    assert_eq!(origin["contact_masked"], "138****8000");
    assert_eq!(origin["contact_hash"].as_str().unwrap().len(), 64);
    assert!(
        !complaint.body.to_string().contains("00138000")
            && !complaint.body.to_string().contains("0013-8000"),
        "the contact is never answered in clear: {}",
        complaint.body
    );
    // The same phone written another way hashes the same (to find a complainant's others).
    let again = req(
        &d,
        Method::POST,
        OFFICER,
        "/v1/complaints",
        Some(json!({
            "hall": "h1",
            "channel": "web",
            "subject": "the same again",
            "contact": "13800138000",
        })),
    )
    .await;
    assert_eq!(again.status, StatusCode::CREATED, "{:?}", again.body);
    assert_eq!(again.body["origin"]["contact_hash"], origin["contact_hash"]);
    // A complaint needs a channel and a subject, and names a rostered officer.
    let unknown = req(
        &d,
        Method::POST,
        OFFICER,
        "/v1/complaints",
        Some(json!({"hall": "h1", "channel": "web", "subject": "x", "officer": "nobody"})),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{:?}", unknown.body);
    assert_eq!(unknown.body["field"], "officer");
    let blank = req(
        &d,
        Method::POST,
        OFFICER,
        "/v1/complaints",
        Some(json!({"hall": "h1", "channel": "web", "subject": " "})),
    )
    .await;
    assert_eq!(blank.status, StatusCode::BAD_REQUEST, "{:?}", blank.body);
    assert_eq!(blank.body["field"], "subject");
    // Nor can the built-in matters be accepted as applications.
    let reserved = req(
        &d,
        Method::POST,
        OFFICER,
        "/v1/cases",
        Some(json!({"id": "X-1", "hall": "h1", "matter": "complaint",
                    "accepted_at": "2026-03-02T10:00:00+08:00"})),
    )
    .await;
    assert_eq!(reserved.status, StatusCode::UNPROCESSABLE_ENTITY);

    // The complaint closes with the same record.
    let cmp_closing = json!({
        "verification": "confirmed: the list of materials was given piecemeal",
        "action": "one-time notice (一次性告知) checked at every window",
        "feedback": "called back on the given number",
    });
    let closed = req(
        &d,
        Method::POST,
        OFFICER,
        &format!("/v1/cases/{cmp}/complete"),
        Some(cmp_closing.clone()),
    )
    .await;
    assert_eq!(closed.status, StatusCode::OK, "{:?}", closed.body);
    // SIGKILL right after the last answer: what was answered is in the log, checkpointed or
    // not.
    d.kill();

    // After the restart both read back as they were closed, bindings and records included,
    // and the ticket keeps its rating and officer, the window its signed-in officer.
    let d = hallq.spawn();
    let tk = req(
        &d,
        Method::GET,
        KIOSK,
        &format!("/v1/halls/h1/tickets/{ticket}"),
        None,
    )
    .await;
    assert_eq!(tk.body["evaluation"], 2, "{:?}", tk.body);
    assert_eq!(tk.body["officer"], "王芳", "{:?}", tk.body);
    let hall = req(&d, Method::GET, COUNTER, "/v1/halls/h1", None).await;
    assert_eq!(
        hall.body["windows"][0]["officers"][0], "王芳",
        "{:?}",
        hall.body
    );
    let rect_after = req(&d, Method::GET, OFFICER, &format!("/v1/cases/{rect}"), None).await;
    assert_eq!(rect_after.status, StatusCode::OK, "{:?}", rect_after.body);
    assert_eq!(rect_after.body["state"], "completed");
    assert_eq!(rect_after.body["origin"], opened["origin"]);
    assert_eq!(rect_after.body["closing"], closing);
    let cmp_after = req(&d, Method::GET, OFFICER, &format!("/v1/cases/{cmp}"), None).await;
    assert_eq!(cmp_after.status, StatusCode::OK, "{:?}", cmp_after.body);
    assert_eq!(cmp_after.body["state"], "completed");
    assert_eq!(&cmp_after.body["origin"], origin);
    assert_eq!(cmp_after.body["closing"], cmp_closing);
    // The open second complaint kept its origin too.
    let open_after = req(
        &d,
        Method::GET,
        OFFICER,
        &format!("/v1/cases/{}", again.body["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(open_after.body["state"], "open");
    assert_eq!(open_after.body["origin"]["channel"], "web");

    // The complainant's answer to the feedback (回访) comes after the close: it is attached
    // once, to a closed case with its record, and kept across a restart.
    let follow = |id: &str, body: Value| {
        let path = format!("/v1/cases/{id}/follow-up");
        let d = &d;
        async move { req(d, Method::POST, OFFICER, &path, Some(body)).await }
    };
    let answered = follow(&cmp, json!({"rating": 5, "note": "问题已解决"})).await;
    assert_eq!(answered.status, StatusCode::OK, "{:?}", answered.body);
    assert_eq!(
        answered.body["closing"]["follow_up"],
        json!({"rating": 5, "note": "问题已解决"})
    );
    assert_eq!(
        answered.body["closing"]["feedback"],
        cmp_closing["feedback"]
    );
    for (id, why) in [
        (cmp.as_str(), "a second follow-up"),
        (
            rect.as_str(),
            "the rectification's follow-up came with its record",
        ),
        (again.body["id"].as_str().unwrap(), "the open complaint"),
    ] {
        let refused = follow(id, json!({"rating": 3})).await;
        assert_eq!(
            refused.status,
            StatusCode::CONFLICT,
            "{why}: {:?}",
            refused.body
        );
        assert!(
            refused.body["type"]
                .as_str()
                .unwrap()
                .ends_with("follow-up-refused"),
            "{why}: {:?}",
            refused.body
        );
    }
    let bad = follow(&cmp, json!({"rating": 9})).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{:?}", bad.body);
    assert_eq!(bad.body["field"], "rating");
    d.kill();
    let d = hallq.spawn();
    let kept = req(&d, Method::GET, OFFICER, &format!("/v1/cases/{cmp}"), None).await;
    assert_eq!(
        kept.body["closing"]["follow_up"]["rating"], 5,
        "{:?}",
        kept.body
    );
    let stored = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| std::fs::read(e.path()).unwrap_or_default())
        .any(|bytes| {
            bytes
                .windows(b"13800138000".len())
                .any(|w| w == b"13800138000")
        });
    assert!(
        !stored,
        "no file in the data directory holds the phone in clear"
    );
    d.terminate();
}
