//! Statutory clocks through the HTTP API of the real server on port 0, on a clock the test
//! moves: the acceptance decision for an application submitted online (3 working days unless
//! the matter says otherwise) and the reply to a written enquiry (5), on the same wheel and
//! alarm ladder as the promised limit.

mod support;

use std::sync::Arc;

use hallq::clock::ManualClock;
use serde_json::json;
use support::*;

/// Friday 2026-11-20 10:00 in Shanghai (the official calendar's office hours close at 17:00
/// +08:00 = 09:00 UTC).
const FRIDAY: &str = "2026-11-20T02:00:00Z";

fn config(dir: &std::path::Path) -> String {
    case_config(dir, 1)
        + r#"
[[matter]]
id = "ONLINE-2"
name = "两日受理事项"
kind = "promised"
limit = "3wd"
calendar = "cn-mainland"
acceptance_limit = "2wd"
"#
}

async fn start(dir: tempfile::TempDir, clock: &Arc<ManualClock>) -> Server {
    let text = config(dir.path());
    start_with_clock(&text, dir, clock.clone()).await
}

async fn submit(srv: &Server, id: &str, matter: &str) -> Resp {
    srv.post(
        OFFICER,
        "/v1/cases",
        json!({"id": id, "hall": "h1", "matter": matter, "channel": "online", "submitted_at": FRIDAY}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_online_application_is_decided_for_acceptance_within_its_clock() {
    let clock = Arc::new(ManualClock::new(FRIDAY.parse().unwrap()));
    let srv = start(tempfile::tempdir().unwrap(), &clock).await;

    let r = submit(&srv, "ON-1", "OFFICIAL-3WD").await;
    assert_eq!(r.status.as_u16(), 201, "{:?}", r.body);
    // Friday + 3 working days for the acceptance decision: Wednesday at the close.
    assert_eq!(
        (
            r.body["stage"].as_str(),
            r.body["limit"].as_str(),
            r.body["deadline"].as_str(),
            r.body["submitted_at"].as_str()
        ),
        (
            Some("acceptance"),
            Some("3wd"),
            Some("2026-11-25T09:00:00+00:00"),
            Some("2026-11-20T02:00:00+00:00")
        )
    );
    assert_eq!(
        submit(&srv, "ON-1", "OFFICIAL-3WD").await.status.as_u16(),
        200,
        "idempotent"
    );
    assert_problem(
        &submit(&srv, "ON-1", "ONLINE-2").await,
        409,
        "case-exists",
        Some("matter"),
    );
    // The matter's own acceptance limit.
    let r = submit(&srv, "ON-2", "ONLINE-2").await;
    assert_eq!(
        (r.body["limit"].as_str(), r.body["deadline"].as_str()),
        (Some("2wd"), Some("2026-11-24T09:00:00+00:00"))
    );
    submit(&srv, "ON-3", "OFFICIAL-3WD").await;

    // Bad submissions name their field.
    assert_problem(
        &srv.post(
            OFFICER,
            "/v1/cases",
            json!({"id": "ON-9", "hall": "h1", "matter": "OFFICIAL-3WD", "channel": "online"}),
        )
        .await,
        400,
        "missing-field",
        Some("submitted_at"),
    );
    assert_problem(
        &srv.post(OFFICER, "/v1/cases", json!({"id": "ON-9", "hall": "h1", "matter": "OFFICIAL-3WD", "channel": "fax", "submitted_at": FRIDAY})).await,
        400,
        "invalid-field",
        Some("channel"),
    );
    assert_problem(
        &submit(&srv, "ON-9", "JOINT").await,
        422,
        "joint-online",
        Some("matter"),
    );
    assert_problem(
        &srv.case_action(
            "ON-1",
            "outcome",
            json!({"result": "approved", "delivery": "window"}),
        )
        .await,
        409,
        "not-yet-accepted",
        Some("result"),
    );

    // The clock survives a restart; past Wednesday's close its alarms are raised.
    let dir = srv.stop().await;
    let srv = start(dir, &clock).await;
    clock.set("2026-11-25T09:01:00Z".parse().unwrap());
    srv.run_case_timers().await;
    let alarms = pull_alarms(&srv.http, &srv.base, ADMIN, "after=0").await;
    let raised: Vec<&str> = alarms
        .iter()
        .filter(|a| a.2 == "alarm")
        .map(|a| a.1.as_str())
        .collect();
    assert!(raised.contains(&"ON-1/red/1"), "{raised:?}");
    assert!(raised.contains(&"ON-2/red/1"), "{raised:?}");

    // Accepting starts the promised limit; the acceptance stage's alarms clear.
    let r = srv.case_action("ON-1", "accept", json!({})).await;
    assert_eq!(r.status.as_u16(), 200, "{:?}", r.body);
    assert_eq!(
        (
            r.body["stage"].as_str(),
            r.body["limit"].as_str(),
            r.body["deadline"].as_str(),
            r.body["level"].as_str()
        ),
        (
            Some("single"),
            Some("3wd"),
            Some("2026-11-30T09:00:00+00:00"),
            None
        ),
        "{:?}",
        r.body
    );
    let alarms = pull_alarms(&srv.http, &srv.base, ADMIN, "after=0").await;
    assert!(
        alarms
            .iter()
            .any(|a| a.1 == "ON-1/red/1" && a.2 == "cleared"),
        "{alarms:?}"
    );
    assert_problem(
        &srv.case_action("ON-1", "accept", json!({})).await,
        409,
        "not-submitted",
        None,
    );
    assert_problem(
        &srv.case_action(
            "ON-1",
            "outcome",
            json!({"result": "not_accepted", "reason": "x"}),
        )
        .await,
        409,
        "already-decided",
        Some("result"),
    );

    // Or it is not accepted, with its reason: closed for good.
    let r = srv
        .case_action(
            "ON-3",
            "outcome",
            json!({"result": "not_accepted", "reason": "材料不属于本事项"}),
        )
        .await;
    assert_eq!(r.body["state"], "not_accepted", "{:?}", r.body);
    assert_problem(
        &srv.case_action("ON-3", "accept", json!({})).await,
        409,
        "case-closed",
        None,
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_written_enquiry_is_answered_within_five_working_days_or_alarms() {
    let clock = Arc::new(ManualClock::new(FRIDAY.parse().unwrap()));
    // Built in, at 5 working days on the hall's calendar.
    let srv = start(tempfile::tempdir().unwrap(), &clock).await;
    let matters = srv.get(DISPLAY, "/v1/matters").await;
    let enquiry = matters
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "enquiry")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (enquiry["name"].as_str(), enquiry["limit"].as_str()),
        (Some("书面咨询答复"), Some("5wd"))
    );
    srv.stop().await;

    // Configured: the hall's own calendar and ladder (here the official calendar).
    let dir = tempfile::tempdir().unwrap();
    let text = config(dir.path())
        + r#"
[[matter]]
id = "enquiry"
name = "书面咨询答复"
kind = "promised"
limit = "5wd"
calendar = "cn-mainland"
"#;
    let srv = start_with_clock(&text, dir, clock.clone()).await;
    let r = srv
        .post(
            OFFICER,
            "/v1/cases",
            json!({"id": "EQ-1", "hall": "h1", "matter": "enquiry", "accepted_at": FRIDAY}),
        )
        .await;
    assert_eq!(r.status.as_u16(), 201, "{:?}", r.body);
    // Friday + 5 working days: the next Friday at the close.
    assert_eq!(r.body["deadline"], "2026-11-27T09:00:00+00:00");
    clock.set("2026-11-26T09:01:00Z".parse().unwrap());
    srv.run_case_timers().await;
    let alarms = pull_alarms(&srv.http, &srv.base, ADMIN, "after=0").await;
    assert!(
        alarms.iter().any(|a| a.1 == "EQ-1/yellow/1"),
        "one working day left: {alarms:?}"
    );
    let r = srv.case_action("EQ-1", "complete", json!({})).await;
    assert_eq!(
        (r.body["state"].as_str(), r.body["on_time"].as_bool()),
        (Some("completed"), Some(true))
    );
    srv.stop().await;
}
