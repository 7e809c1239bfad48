//! Talking to a daemon over HTTP: one client, one request helper that returns the status and
//! the parsed body, and the reads and test hooks several tests use.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use super::ADMIN;

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A request's status, body (parsed when JSON) and content type.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub body: Value,
    pub content_type: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Resp {
    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Option<String>,
    headers: &[(&str, &str)],
) -> Resp {
    let mut rb = http.request(method, url);
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    if let Some(b) = body {
        rb = rb.header("content-type", "application/json").body(b);
    }
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    let r = rb.send().await.expect("request reaches the server");
    let status = r.status();
    let headers = r.headers().clone();
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = r.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Resp {
        status,
        body,
        content_type,
        headers,
    }
}

/// `GET /v1/alarms?...`: the alarm stream's events as (seq, id, kind).
pub async fn pull_alarms(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    query: &str,
) -> Vec<(u64, String, String)> {
    let r = call(
        http,
        reqwest::Method::GET,
        format!("{base}/v1/alarms?{query}"),
        Some(token),
        None,
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["alarms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["seq"].as_u64().unwrap(),
                a["id"].as_str().unwrap().to_owned(),
                a["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// `POST /v1/_test/halls/{hall}/timers` (the daemon runs with its test hooks): the shard that
/// owns `hall` runs what is due at the daemon's `now`, and answers once that is durable and
/// published. What a tick would have done by now is done when this returns.
pub async fn run_hall_timers(http: &reqwest::Client, base: &str, hall: &str) {
    let r = call(
        http,
        reqwest::Method::POST,
        format!("{base}/v1/_test/halls/{hall}/timers"),
        Some(ADMIN),
        None,
        &[],
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::NO_CONTENT,
        "hall timers: {:?}",
        r.body
    );
}

/// `POST /v1/_test/cases/timers`: the case thread raises what is due now, and answers once
/// that is durable and published (and after every case request queued before it).
pub async fn run_case_timers(http: &reqwest::Client, base: &str) {
    let r = call(
        http,
        reqwest::Method::POST,
        format!("{base}/v1/_test/cases/timers"),
        Some(ADMIN),
        None,
        &[],
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::NO_CONTENT,
        "case timers: {:?}",
        r.body
    );
}

/// A refusal as problem+json: its status, problem type (`urn:hallq:problem:{kind}`) and the
/// field it names.
#[track_caller]
pub fn assert_problem(r: &Resp, status: u16, kind: &str, field: Option<&str>) {
    assert_eq!(r.status.as_u16(), status, "{:?}", r.body);
    assert_eq!(r.content_type, "application/problem+json", "{:?}", r.body);
    assert_eq!(
        r.body["type"],
        format!("urn:hallq:problem:{kind}"),
        "{:?}",
        r.body
    );
    assert_eq!(r.body["field"].as_str(), field, "{:?}", r.body);
}

/// The value of the first unlabelled-or-labelled sample of `name` on `base`'s `/metrics`
/// (0 when absent: a counter not yet incremented is not exported).
pub async fn metric(http: &reqwest::Client, base: &str, name: &str) -> f64 {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("/metrics answers")
        .text()
        .await
        .expect("/metrics has a body");
    text.lines()
        .find(|l| {
            l.strip_prefix(name)
                .is_some_and(|r| r.starts_with(' ') || r.starts_with('{'))
        })
        .and_then(|l| l.rsplit(' ').next())
        .map_or(0.0, |v| v.parse().expect("a sample's value is a number"))
}
