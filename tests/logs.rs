//! Logs: JSON lines that let an operator follow a ticket or a case through requests and state
//! changes, and that never contain a bearer token.

mod support;

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_trace_tickets_and_cases_and_hold_no_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let d = Hallq::config(dir.path(), &case_config(dir.path(), 1))
        .args(&["--log-format", "json"])
        .env("RUST_LOG", "hallq=debug")
        .capture_log()
        .spawn();
    let base = d.base.clone();
    let http = client();
    let t = call(
        &http,
        Method::POST,
        format!("{base}/v1/halls/h1/tickets"),
        Some(KIOSK),
        Some(json!({"service": "s"}).to_string()),
        &[],
    )
    .await;
    let ticket = t.body["id"].as_str().unwrap().to_owned();
    call(
        &http,
        Method::POST,
        format!("{base}/v1/halls/h1/windows/w1/open"),
        Some(COUNTER),
        None,
        &[],
    )
    .await;
    call(
        &http,
        Method::POST,
        format!("{base}/v1/halls/h1/windows/w1/call"),
        Some(COUNTER),
        None,
        &[],
    )
    .await;
    // A stream opened with the token in the query, as browsers do.
    let stream = http
        .get(format!("{base}/v1/halls/h1/events?access_token={DISPLAY}"))
        .timeout(Duration::from_millis(500))
        .send()
        .await
        .unwrap();
    drop(stream);
    #[allow(clippy::disallowed_methods, reason = "the case is accepted now")]
    let now = jiff::Timestamp::now().to_string();
    call(
        &http,
        Method::POST,
        format!("{base}/v1/cases"),
        Some(OFFICER),
        Some(
            json!({"id": "LOG-1", "hall": "h1", "matter": "DAYS-2", "accepted_at": now})
                .to_string(),
        ),
        &[],
    )
    .await;
    // A clean stop: every line the daemon wrote is in.
    let text = d.terminate().join("\n");
    let records: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(records.len() > 5, "JSON log lines:\n{text}");
    let has = |pred: &dyn Fn(&Value) -> bool| records.iter().any(pred);
    let fields = |r: &Value| r["fields"].clone();
    assert!(
        has(&|r| fields(r)["message"] == "request"
            && fields(r)["path"] == "/v1/halls/h1/tickets"
            && fields(r)["status"] == 201),
        "a request line for the issue"
    );
    assert!(
        has(&|r| fields(r)["message"] == "event"
            && fields(r)["hall"] == "h1"
            && fields(r)["ticket"] == ticket.as_str()
            && fields(r)["kind"] == "called"),
        "the call, traceable by hall and ticket"
    );
    assert!(
        has(&|r| fields(r)["message"] == "case event" && fields(r)["case"] == "LOG-1"),
        "the case, traceable by id"
    );
    for token in [KIOSK, COUNTER, DISPLAY, OFFICER] {
        assert!(
            !text.contains(token),
            "a log line contains the token {token}"
        );
    }
    assert!(
        !text.contains("access_token"),
        "the query string is not logged"
    );
}
