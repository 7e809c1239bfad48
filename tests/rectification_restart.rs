//! Issue 10, reproduction 2, on the real binary: a completed rectification case stays
//! completed across a restart (SIGTERM), although the start-up re-offers every bad rating of
//! the day, and none of its alarms is raised again.

mod support;

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::*;

/// `config(1)` on an all-day calendar covering the real today, with a `standard` ladder whose
/// first level holds from acceptance on (≤ 5 working days left, for a one-day rectification),
/// so a rectification raises an alarm the moment it opens.
fn restart_config(dir: &std::path::Path) -> String {
    std::fs::write(dir.join("always.toml"), always_calendar(&[])).unwrap();
    let mut s = config(1);
    s += &format!(
        r#"
[[calendar]]
id = "always"
file = "{}"

[[alarm_policy]]
id = "standard"
levels = [
  {{ level = "yellow", remaining = "5wd" }},
  {{ level = "red", remaining = "0wd" }},
]
"#,
        dir.join("always.toml").display(),
    );
    s + &token(OFFICER, "case-officer", &["*"])
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completed_rectification_stays_completed_after_a_restart_and_raises_nothing_again() {
    let dir = tempfile::tempdir().unwrap();
    let hallq = Hallq::config(dir.path(), &restart_config(dir.path()))
        .capture_log()
        .test_hooks();
    let d = hallq.spawn();

    // A ticket served and rated 1 (非常不满意).
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
        ("open", json!({})),
        ("call", json!({})),
        ("complete", json!({"evaluation": 1})),
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

    // Its rectification opens once the rating is durable, and raises its first level at once.
    let path = format!("/v1/cases/RECT-h1-{ticket}");
    let mut opened = None;
    for _ in 0..200 {
        let r = req(&d, Method::GET, OFFICER, &path, None).await;
        if r.status == StatusCode::OK {
            opened = Some(r.body);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let opened = opened.expect("the rectification case opens");
    assert_eq!(opened["state"], "open");
    let yellow = format!("RECT-h1-{ticket}/yellow/1");
    let http = client();
    let before = pull_alarms(&http, &d.base, ADMIN, "after=0").await;
    assert_eq!(
        before.iter().map(|a| a.1.as_str()).collect::<Vec<_>>(),
        [yellow.as_str()]
    );

    let done = req(
        &d,
        Method::POST,
        OFFICER,
        &format!("{path}/complete"),
        Some(json!({
            "verification": "the wait was miscounted",
            "action": "recounted",
            "feedback": "phoned the citizen",
        })),
    )
    .await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);
    assert_eq!(done.body["state"], "completed");
    d.terminate();

    // The restart re-offers the day's bad ratings before it serves; requests are taken in
    // order, so once this GET is answered the re-offer has been applied and committed.
    let d = hallq.spawn();
    let after = req(&d, Method::GET, OFFICER, &path, None).await;
    assert_eq!(after.status, StatusCode::OK, "{:?}", after.body);
    assert_eq!(
        (
            after.body["state"].as_str(),
            &after.body["accepted_at"],
            &after.body["closed_at"]
        ),
        (
            Some("completed"),
            &opened["accepted_at"],
            &done.body["closed_at"]
        ),
        "the rectification stays as it was completed"
    );
    // Nor later: the case thread runs what is due now, then the alarm log is read.
    run_case_timers(&http, &d.base).await;
    let alarms = pull_alarms(&http, &d.base, ADMIN, "after=0").await;
    assert_eq!(alarms, before, "no alarm raised again after the restart");
    let log = d.terminate();
    assert!(
        !log.iter().any(|l| l.contains("refused")),
        "the re-offer replays the first acceptance exactly (no conflict): {log:#?}"
    );
}
