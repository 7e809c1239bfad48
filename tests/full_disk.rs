//! A full disk degrades the real daemon instead of stopping it: on a small loop-mounted ext4
//! holding its store, once the disk is full writes are refused with 503, `Retry-After` and
//! the cause, reads keep serving the last durable state, `/readyz` says so; when space
//! returns writes resume without a restart, and after a final kill -9 and restart every
//! acknowledged ticket is there exactly once.
//!
//! Mounting needs root and loop devices. Under `CI=true` a failure to mount fails the test;
//! elsewhere the test says why it skipped and passes.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::*;

/// A small ext4 image mounted on a temporary directory; unmounted when dropped.
struct SmallDisk {
    mountpoint: PathBuf,
    image: PathBuf,
    _dir: tempfile::TempDir,
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl SmallDisk {
    fn mount(mib: u64) -> Result<SmallDisk, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let image = dir.path().join("disk.img");
        let mountpoint = dir.path().join("mnt");
        std::fs::create_dir(&mountpoint).map_err(|e| e.to_string())?;
        std::fs::File::create(&image)
            .and_then(|f| f.set_len(mib << 20))
            .map_err(|e| e.to_string())?;
        // -m 0: no blocks reserved for root, so "full" means full for the daemon too.
        run(Command::new("mkfs.ext4")
            .args(["-q", "-F", "-m", "0"])
            .arg(&image))?;
        run(Command::new("mount")
            .args(["-o", "loop"])
            .arg(&image)
            .arg(&mountpoint))?;
        Ok(SmallDisk {
            mountpoint,
            image,
            _dir: dir,
        })
    }

    /// Write a file until the disk has no room left.
    fn fill(&self) -> PathBuf {
        let path = self.mountpoint.join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        for chunk in [1 << 20, 4096, 512] {
            let block = vec![0xA5u8; chunk];
            while f.write_all(&block).is_ok() {}
        }
        let _ = f.sync_all();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = run(Command::new("umount").arg("-l").arg(&self.mountpoint));
        let _ = std::fs::remove_file(&self.image);
    }
}

async fn request(base: &str, token: &str, method: Method, path: &str, body: Option<Value>) -> Resp {
    call(
        &client(),
        method,
        format!("{base}{path}"),
        Some(token),
        body.map(|b| b.to_string()),
        &[],
    )
    .await
}

async fn issue(base: &str, service: &str, key: Option<&str>) -> reqwest::Response {
    let mut rb = client()
        .post(format!("{base}/v1/halls/h1/tickets"))
        .bearer_auth(KIOSK)
        .json(&json!({"service": service}));
    if let Some(k) = key {
        rb = rb.header("Idempotency-Key", k);
    }
    rb.send().await.expect("the daemon answers")
}

/// Ticket id → number, for every ticket the hall lists.
async fn listed(base: &str) -> BTreeMap<String, String> {
    let r = request(base, COUNTER, Method::GET, "/v1/halls/h1/tickets", None).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap().to_owned(),
                t["number"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("/metrics has no `{name}`"))
}

async fn scrape(base: &str) -> String {
    client()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The acceptance time of a case accepted now.
#[allow(
    clippy::disallowed_methods,
    reason = "the daemon runs on the real clock and refuses acceptances in the future"
)]
fn now() -> String {
    jiff::Timestamp::now().to_string()
}

fn data_dir(disk: &SmallDisk) -> PathBuf {
    disk.mountpoint.join("data")
}

/// The daemon on the case config with its data on `disk`, retrying the store every 100 to
/// 500 ms so the test sees writes resume soon after space returns.
fn hallq_on(dir: &Path, disk: &SmallDisk) -> Hallq {
    let text = with_store_settings(
        &case_config(dir, 1),
        "retry_min_ms = 100\nretry_max_ms = 500\nlog_segment_mb = 1",
    );
    Hallq::config(dir, &text).data(&data_dir(disk))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_serves_reads_and_recovers_without_a_restart() {
    let disk = match SmallDisk::mount(32) {
        Ok(d) => d,
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("cannot mount a small filesystem for the full-disk test: {e}")
        }
        Err(e) => {
            eprintln!(
                "SKIPPED a_full_disk_…: cannot mount a small filesystem ({e}); run as root with loop devices (CI=true makes this a failure)"
            );
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let proc = hallq_on(dir.path(), &disk).spawn();
    let base = proc.base.clone();

    // Acknowledged before the disk fills: a case and some tickets.
    let case = request(
        &base,
        OFFICER,
        Method::POST,
        "/v1/cases",
        Some(json!({"id": "DISK-1", "hall": "h1", "matter": "OFFICIAL-3WD", "accepted_at": "2026-11-20T10:00:00+08:00"})),
    )
    .await;
    assert_eq!(case.status, StatusCode::CREATED, "{:?}", case.body);
    let mut acked: BTreeMap<String, String> = BTreeMap::new();
    let mut refused = None;
    for _ in 0..5 {
        let r = issue(&base, "s", None).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let t: Value = r.json().await.unwrap();
        acked.insert(
            t["id"].as_str().unwrap().into(),
            t["number"].as_str().unwrap().into(),
        );
    }

    let filler = disk.fill();
    // Commits go on inside pages the store already owns until one must grow the file.
    for i in 0..1500 {
        let r = issue(&base, if i % 2 == 0 { "s" } else { "t" }, None).await;
        match r.status() {
            StatusCode::CREATED => {
                let t: Value = r.json().await.unwrap();
                acked.insert(
                    t["id"].as_str().unwrap().into(),
                    t["number"].as_str().unwrap().into(),
                );
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                refused = Some(r);
                break;
            }
            other => panic!("issuing on a full disk answered {other}"),
        }
    }
    let refused = refused.expect("a write fails once the disk is full");
    let retry_after: u32 = refused
        .headers()
        .get("retry-after")
        .expect("a refused write says when to retry")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["type"], "urn:hallq:problem:store-unwritable");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("the disk holding the store is full"),
        "{detail}"
    );

    // Not ready for writes, and says reads are served.
    let ready = request(&base, ADMIN, Method::GET, "/readyz", None).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        (&ready.body["writes"], &ready.body["reads"]),
        (&json!("refused"), &json!("served")),
        "{:?}",
        ready.body
    );
    assert!(ready.body["detail"].as_str().unwrap().contains("full"));

    // Reads serve exactly what is durable: every acknowledged ticket, nothing refused.
    assert_eq!(listed(&base).await, acked);
    let snapshot = request(&base, DISPLAY, Method::GET, "/v1/halls/h1", None).await;
    assert_eq!(snapshot.status, StatusCode::OK, "{:?}", snapshot.body);
    let some = acked.keys().next().unwrap();
    let ticket = request(
        &base,
        KIOSK,
        Method::GET,
        &format!("/v1/halls/h1/tickets/{some}"),
        None,
    )
    .await;
    assert_eq!(
        (ticket.status, &ticket.body["status"]),
        (StatusCode::OK, &json!("waiting"))
    );
    let case = request(&base, OFFICER, Method::GET, "/v1/cases/DISK-1", None).await;
    assert_eq!(case.status, StatusCode::OK, "{:?}", case.body);
    let alarms = request(&base, ADMIN, Method::GET, "/v1/alarms?after=0", None).await;
    assert_eq!(alarms.status, StatusCode::OK);

    // Every kind of write is refused the same way meanwhile, the daemon still running.
    for (token, path, body) in [
        (KIOSK, "/v1/halls/h1/tickets", json!({"service": "s"})),
        (COUNTER, "/v1/halls/h1/windows/w1/open", json!({})),
        (
            OFFICER,
            "/v1/cases",
            json!({"id": "DISK-2", "hall": "h1", "matter": "OFFICIAL-3WD", "accepted_at": "2026-11-20T10:00:00+08:00"}),
        ),
        (
            OFFICER,
            "/v1/cases/DISK-1/extend",
            json!({"amount": "1wd", "reason": "r", "approver": "a"}),
        ),
    ] {
        let r = request(&base, token, Method::POST, path, Some(body)).await;
        assert_eq!(
            r.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{path}: {:?}",
            r.body
        );
        assert_eq!(
            r.body["type"], "urn:hallq:problem:store-unwritable",
            "{path}"
        );
    }
    // A keyed retry is refused too, and runs once when space is back (below).
    let keyed = issue(&base, "t", Some("kiosk-7-0001")).await;
    assert_eq!(keyed.status(), StatusCode::SERVICE_UNAVAILABLE);
    let metrics = scrape(&base).await;
    assert_eq!(metric(&metrics, "hallq_store_writable"), 0.0);
    assert!(metric(&metrics, "hallq_store_failures_total") >= 1.0);

    // Space returns: writes resume by themselves.
    std::fs::remove_file(&filler).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let r = request(&base, ADMIN, Method::GET, "/readyz", None).await;
        if r.status == StatusCode::OK {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "writes did not resume a minute after space returned: {:?}",
            r.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let first = issue(&base, "t", Some("kiosk-7-0001")).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let again: Value = issue(&base, "t", Some("kiosk-7-0001"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first, again, "the keyed retry ran once");
    acked.insert(
        first["id"].as_str().unwrap().into(),
        first["number"].as_str().unwrap().into(),
    );
    for _ in 0..3 {
        let r = issue(&base, "s", None).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let t: Value = r.json().await.unwrap();
        acked.insert(
            t["id"].as_str().unwrap().into(),
            t["number"].as_str().unwrap().into(),
        );
    }
    let open = request(
        &base,
        COUNTER,
        Method::POST,
        "/v1/halls/h1/windows/w1/open",
        None,
    )
    .await;
    assert_eq!(open.status, StatusCode::OK, "{:?}", open.body);
    let called = request(
        &base,
        COUNTER,
        Method::POST,
        "/v1/halls/h1/windows/w1/call",
        None,
    )
    .await;
    assert_eq!(called.status, StatusCode::OK, "{:?}", called.body);
    let ext = request(
        &base,
        OFFICER,
        Method::POST,
        "/v1/cases/DISK-1/extend",
        Some(json!({"amount": "1wd", "reason": "专家评审", "approver": "王科长"})),
    )
    .await;
    assert_eq!(
        (ext.status, &ext.body["limit"]),
        (StatusCode::OK, &json!("4wd"))
    );
    let metrics = scrape(&base).await;
    assert_eq!(metric(&metrics, "hallq_store_writable"), 1.0);
    assert!(metric(&metrics, "hallq_store_recoveries_total") >= 1.0);
    assert_eq!(listed(&base).await, acked);

    // The disk fills again while only cases are accepted (accepted now, on a two-day limit,
    // so no alarm is due): the failing commit is the case thread's. The refused case was in
    // its engine before the commit; it is gone after, because the lost cases are reloaded.
    let filler = disk.fill();
    let mut cases = Vec::new();
    let mut refused_case = None;
    for i in 0..1500 {
        let id = format!("FULL-{i}");
        let r = request(
            &base,
            OFFICER,
            Method::POST,
            "/v1/cases",
            Some(json!({"id": id, "hall": "h1", "matter": "DAYS-2", "accepted_at": now()})),
        )
        .await;
        match r.status {
            StatusCode::CREATED => cases.push(id),
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(r.body["type"], "urn:hallq:problem:store-unwritable");
                refused_case = Some(id);
                break;
            }
            other => panic!("accepting on a full disk answered {other}: {:?}", r.body),
        }
    }
    let refused_case = refused_case.expect("a case commit fails once the disk is full");
    let r = request(
        &base,
        OFFICER,
        Method::GET,
        &format!("/v1/cases/{refused_case}"),
        None,
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "the refused case is not shown: {:?}",
        r.body
    );
    for id in &cases {
        let r = request(
            &base,
            OFFICER,
            Method::GET,
            &format!("/v1/cases/{id}"),
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{id}");
    }
    std::fs::remove_file(&filler).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let r = request(
            &base,
            OFFICER,
            Method::POST,
            "/v1/cases",
            Some(
                json!({"id": refused_case, "hall": "h1", "matter": "DAYS-2", "accepted_at": now()}),
            ),
        )
        .await;
        if r.status == StatusCode::CREATED {
            cases.push(refused_case.clone());
            break;
        }
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", r.body);
        assert!(
            tokio::time::Instant::now() < deadline,
            "writes did not resume a minute after space returned"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A final restart finds every acknowledged change once, and no number twice.
    let proc = proc.restart();
    let base = proc.base.clone();
    let after = listed(&base).await;
    assert_eq!(
        after, acked,
        "nothing acknowledged lost, nothing refused stored"
    );
    let numbers: BTreeSet<&String> = after.values().collect();
    assert_eq!(numbers.len(), after.len(), "no number issued twice");
    let ticket = request(
        &base,
        KIOSK,
        Method::GET,
        &format!(
            "/v1/halls/h1/tickets/{}",
            called.body["id"].as_str().unwrap()
        ),
        None,
    )
    .await;
    assert_eq!(ticket.body["status"], "called");
    let case = request(&base, OFFICER, Method::GET, "/v1/cases/DISK-1", None).await;
    assert_eq!(
        (
            &case.body["limit"],
            case.body["extensions"].as_array().map(Vec::len)
        ),
        (&json!("4wd"), Some(1)),
        "the extension refused on the full disk was not stored; the one after it was"
    );
    assert_eq!(
        request(&base, OFFICER, Method::GET, "/v1/cases/DISK-2", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    for id in &cases {
        let r = request(
            &base,
            OFFICER,
            Method::GET,
            &format!("/v1/cases/{id}"),
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{id}");
    }
    let next = format!("FULL-{}", cases.len());
    let r = request(
        &base,
        OFFICER,
        Method::GET,
        &format!("/v1/cases/{next}"),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    proc.kill();
}
