//! Ticket timers in the running daemon, on a clock the test moves: a wait over the service's
//! target and a call not started in time raise alarms on the hall and alarm streams, once; a
//! bad rating opens a one-working-day rectification case.

mod support;

use std::sync::Arc;
use std::time::Duration;

use hallq::clock::ManualClock;
use reqwest::StatusCode;
use serde_json::json;
use support::*;

/// The alarm log once the shard owning `h1` has run what is due at the clock's now.
async fn alarms_due(srv: &Server) -> Vec<(u64, String, String)> {
    srv.run_hall_timers("h1").await;
    pull_alarms(&srv.http, &srv.base, ADMIN, "after=0").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(
    clippy::disallowed_methods,
    reason = "the manual clock starts at the real now, which the calendars cover"
)]
async fn ticket_timers_and_rectification_cases() {
    let dir = tempfile::tempdir().unwrap();
    let text = case_config(dir.path(), 1);
    let clock = Arc::new(ManualClock::new(jiff::Timestamp::now()));
    let srv = start_with_clock(&text, dir, clock.clone()).await;
    let mut hall = subscribe(&srv.base, "h1", DISPLAY, None).await;
    assert_eq!(next(&mut hall, "the snapshot").await.event, "snapshot");

    let t = srv
        .post(KIOSK, "/v1/halls/h1/tickets", json!({"service": "s"}))
        .await;
    let ticket = t.body["id"].as_str().unwrap().to_owned();
    srv.post(COUNTER, "/v1/halls/h1/windows/w1/open", json!({}))
        .await;
    // A minute and a bit later the ticket has waited past the service's one-minute target.
    clock.advance(61);
    let a = alarms_due(&srv).await;
    assert_eq!(
        a.iter().map(|a| a.1.as_str()).collect::<Vec<_>>(),
        [format!("h1/{ticket}/wait_over_target")]
    );
    let mut kinds = Vec::new();
    while !kinds.contains(&"wait_over_target".to_owned()) {
        kinds.push(next(&mut hall, "the wait alarm").await.event);
    }

    // Called, and five minutes later still not started.
    assert_eq!(
        srv.post(COUNTER, "/v1/halls/h1/windows/w1/call", json!({}))
            .await
            .status,
        StatusCode::OK
    );
    clock.advance(301);
    let a = alarms_due(&srv).await;
    assert_eq!(a.len(), 2, "{a:?}");
    assert_eq!(a[1].1, format!("h1/{ticket}/not_started"));
    assert_eq!(a[1].2, "alarm");
    clock.advance(600);
    assert_eq!(alarms_due(&srv).await, a, "each alarm is raised once");

    // The citizen rates the service 1 (非常不满意): a rectification case opens.
    let done = srv
        .post(
            COUNTER,
            "/v1/halls/h1/windows/w1/complete",
            json!({"evaluation": 1}),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK);
    let case_id = format!("RECT-h1-{ticket}");
    let mut case = srv.get(OFFICER, &format!("/v1/cases/{case_id}")).await;
    for _ in 0..100 {
        if case.status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        case = srv.get(OFFICER, &format!("/v1/cases/{case_id}")).await;
    }
    assert_eq!(case.status, StatusCode::OK, "{:?}", case.body);
    assert_eq!(
        (case.body["matter"].as_str(), case.body["limit"].as_str()),
        (Some("rectification"), Some("1wd"))
    );
    assert_eq!(case.body["hall"], "h1");

    // After a restart nothing is raised or opened twice.
    let dir = srv.stop().await;
    let srv = start_with_clock(&text, dir, clock.clone()).await;
    clock.advance(5);
    srv.run_case_timers().await;
    let log = alarms_due(&srv).await;
    assert_eq!(
        log.iter().filter(|a| a.1.contains(&ticket)).count(),
        2,
        "{log:?}"
    );
    let case = srv.get(OFFICER, &format!("/v1/cases/{case_id}")).await;
    assert_eq!(case.status, StatusCode::OK);
    srv.stop().await;
}
