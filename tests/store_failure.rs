//! The store-failure path (issue 11, item 6: degraded, not dead) on a disk that fails on
//! demand: the daemon in this process with its store over `support::FailingDisk`, a redb
//! storage backend that refuses writes while its switch is on. While it fails, every write is
//! refused with 503, `Retry-After` and a problem naming the cause; reads serve the last
//! durable state; `/readyz` says so. Once the disk heals, writes come back by themselves and
//! nothing acknowledged was lost, nothing refused was stored — also after a restart on the
//! plain file.
//!
//! `tests/full_disk.rs` does the same with a real loop-mounted disk filled up; this one needs
//! no root and fails at the first write, every time.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use hallq::clock::SystemClock;
use hallq::store::Store;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::*;

/// The acceptance time of a case accepted now.
#[allow(
    clippy::disallowed_methods,
    reason = "the daemon runs on the real clock and refuses acceptances in the future"
)]
fn now() -> String {
    jiff::Timestamp::now().to_string()
}

/// The ids of `h1`'s tickets, as the API lists them.
async fn tickets(srv: &Server) -> BTreeSet<String> {
    let r = srv.get(DISPLAY, "/v1/halls/h1/tickets").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

/// A refusal because the store cannot write: 503, `Retry-After`, the problem naming the cause.
fn assert_refused(r: &Resp, what: &str) {
    assert_eq!(
        r.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{what}: {:?}",
        r.body
    );
    assert_eq!(r.content_type, "application/problem+json", "{what}");
    assert_eq!(
        r.body["type"], "urn:hallq:problem:store-unwritable",
        "{what}"
    );
    let detail = r.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("the disk holding the store is full"),
        "{what}: {detail}"
    );
    let retry: u32 = r
        .header("retry-after")
        .unwrap_or_else(|| panic!("{what}: a refused write says when to retry"))
        .parse()
        .unwrap();
    assert!(retry >= 1, "{what}: Retry-After {retry}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_disk_refuses_writes_with_retry_after_serves_reads_and_heals() {
    let dir = tempfile::tempdir().unwrap();
    // Retries every 50 to 200 ms, so the heal is seen soon.
    let text = with_store_settings(
        &case_config(dir.path(), 1),
        "retry_min_ms = 50\nretry_max_ms = 200",
    );
    let disk = DiskSwitch::new();
    let backend = disk.backend();
    let srv = start_with_store(&text, dir, Arc::new(SystemClock), |data, config| {
        Store::open_with_backend(data, &config.store, backend).expect("the store opens")
    })
    .await;

    // Acknowledged before the disk fails: a window, three tickets and a case.
    let open = srv
        .post(COUNTER, "/v1/halls/h1/windows/w1/open", json!({}))
        .await;
    assert_eq!(open.status, StatusCode::OK, "{:?}", open.body);
    let mut acked = BTreeSet::new();
    for _ in 0..3 {
        let t = srv
            .post(KIOSK, "/v1/halls/h1/tickets", json!({"service": "s"}))
            .await;
        assert_eq!(t.status, StatusCode::CREATED, "{:?}", t.body);
        acked.insert(t.body["id"].as_str().unwrap().to_owned());
    }
    let case = srv
        .post(
            OFFICER,
            "/v1/cases",
            json!({"id": "DISK-1", "hall": "h1", "matter": "DAYS-2", "accepted_at": now()}),
        )
        .await;
    assert_eq!(case.status, StatusCode::CREATED, "{:?}", case.body);
    assert_eq!(disk.refused(), 0, "nothing failed yet");

    disk.fail();
    // The first write after it reaches the disk and fails there; every write after it is
    // refused before it is applied, the daemon still running.
    let first = srv
        .post(KIOSK, "/v1/halls/h1/tickets", json!({"service": "s"}))
        .await;
    assert_refused(&first, "the first ticket on the failing disk");
    assert!(disk.refused() > 0, "the refusal came from the disk");
    for (token, path, body) in [
        (KIOSK, "/v1/halls/h1/tickets", json!({"service": "t"})),
        (COUNTER, "/v1/halls/h1/windows/w1/call", json!({})),
        (
            OFFICER,
            "/v1/cases",
            json!({"id": "DISK-2", "hall": "h1", "matter": "DAYS-2", "accepted_at": now()}),
        ),
        (
            OFFICER,
            "/v1/cases/DISK-1/extend",
            json!({"amount": "1wd", "reason": "r", "approver": "a"}),
        ),
    ] {
        assert_refused(&srv.post(token, path, body).await, path);
    }

    // Reads serve the last durable state: every acknowledged ticket, nothing refused.
    assert_eq!(tickets(&srv).await, acked);
    let snapshot = srv.get(DISPLAY, "/v1/halls/h1").await;
    assert_eq!(snapshot.status, StatusCode::OK, "{:?}", snapshot.body);
    let got = srv.get(OFFICER, "/v1/cases/DISK-1").await;
    assert_eq!(
        (got.status, &got.body["state"]),
        (StatusCode::OK, &json!("open")),
        "{:?}",
        got.body
    );
    assert_eq!(
        srv.get(OFFICER, "/v1/cases/DISK-2").await.status,
        StatusCode::NOT_FOUND
    );
    let ready = srv.get(ADMIN, "/readyz").await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        (&ready.body["writes"], &ready.body["reads"]),
        (&json!("refused"), &json!("served")),
        "{:?}",
        ready.body
    );
    assert!(ready.header("retry-after").is_some(), "/readyz says when");

    // The writer retries, and while the disk still fails it keeps refusing: wait until it
    // has tried the disk again, then write once more.
    let tried = disk.refused();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while disk.refused() == tried {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the writer never tried the disk again"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let still = srv
        .post(KIOSK, "/v1/halls/h1/tickets", json!({"service": "s"}))
        .await;
    assert_refused(&still, "a ticket after a failed retry");

    // Healed: writes come back by themselves, without a restart.
    disk.heal();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let r = srv.get(ADMIN, "/readyz").await;
        if r.status == StatusCode::OK {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "writes did not resume after the disk healed: {:?}",
            r.body
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let after = srv
        .post(KIOSK, "/v1/halls/h1/tickets", json!({"service": "s"}))
        .await;
    assert_eq!(after.status, StatusCode::CREATED, "{:?}", after.body);
    // The refused tickets never happened: the next one takes the number after the last
    // acknowledged one.
    assert_eq!(after.body["number"], "A004", "{:?}", after.body);
    acked.insert(after.body["id"].as_str().unwrap().to_owned());
    let case = srv
        .post(
            OFFICER,
            "/v1/cases",
            json!({"id": "DISK-3", "hall": "h1", "matter": "DAYS-2", "accepted_at": now()}),
        )
        .await;
    assert_eq!(case.status, StatusCode::CREATED, "{:?}", case.body);
    assert_eq!(tickets(&srv).await, acked);

    // On the plain file after a restart: every acknowledged change once, nothing refused.
    let dir = srv.stop().await;
    let srv = start_in(&text, dir).await;
    assert_eq!(tickets(&srv).await, acked);
    for (id, status) in [
        ("DISK-1", StatusCode::OK),
        ("DISK-2", StatusCode::NOT_FOUND),
        ("DISK-3", StatusCode::OK),
    ] {
        let r = srv.get(OFFICER, &format!("/v1/cases/{id}")).await;
        assert_eq!(r.status, status, "{id}: {:?}", r.body);
    }
    let kept: Value = srv.get(OFFICER, "/v1/cases/DISK-1").await.body;
    assert_eq!(kept["limit"], "2wd", "the refused extension was not stored");
    srv.stop().await;
}
