//! Helpers the cluster tests share: free loopback ports, requests retried while a lease moves,
//! and which node holds the case engine.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::{ADMIN, Resp, call, client};

/// A loopback port free now (a node's `advertise` address is known before it starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A request through `base` with `token`, retried while the cluster answers 503 (a lease
/// moving) or a node does not answer, for up to 30 s.
pub async fn ask(
    base: &str,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Value {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let r = call(
            &client(),
            method.clone(),
            format!("{base}{path}"),
            Some(token),
            body.as_ref().map(Value::to_string),
            &[],
        )
        .await;
        if r.status.is_success() {
            return r.body;
        }
        assert!(
            r.status == StatusCode::SERVICE_UNAVAILABLE,
            "{method} {path} through {base}: {} {:?}",
            r.status,
            r.body
        );
        assert!(
            Instant::now() < until,
            "{method} {path} through {base} refused for 30 s: {:?}",
            r.body
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The nodes' addresses on loopback, each with its index.
pub fn loopback_bases(ports: &[u16]) -> Vec<(usize, String)> {
    ports
        .iter()
        .enumerate()
        .map(|(i, p)| (i, format!("http://127.0.0.1:{p}")))
        .collect()
}

/// `GET {base}{path}` with the admin token, answered as it comes.
pub async fn admin_get(base: &str, path: &str) -> Resp {
    call(
        &client(),
        Method::GET,
        format!("{base}{path}"),
        Some(ADMIN),
        None,
        &[],
    )
    .await
}

/// The node (by index) holding the case engine now, if exactly one of `bases` says so.
pub async fn case_engine_holder(bases: &[(usize, String)]) -> Option<usize> {
    let mut holders = Vec::new();
    for (i, b) in bases {
        let r = admin_get(b, "/v1/cluster").await;
        if r.status == StatusCode::OK && r.body["case_engine"].is_u64() {
            holders.push(*i);
        }
    }
    assert!(
        holders.len() <= 1,
        "two nodes hold the case engine: {holders:?}"
    );
    holders.first().copied()
}

pub async fn wait_holder(bases: &[(usize, String)]) -> usize {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(i) = case_engine_holder(bases).await {
            return i;
        }
        assert!(Instant::now() < until, "no node took the case engine");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
