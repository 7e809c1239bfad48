//! Backup and restore with the real binary: `hallq backup --target` copies a running daemon's
//! store without stopping it, `hallq restore` installs the copy in an empty data directory,
//! and a fresh daemon on it answers every ticket, case, alarm and cursor as the original did.
//! A damaged or cut-off copy and a restore over an existing store are refused.

mod support;

use std::path::Path;
use std::process::Command;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::*;

fn hallq(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hallq"))
        .args(args)
        .output()
        .expect("the hallq binary runs")
}

async fn get(http: &reqwest::Client, base: &str, path: &str) -> Value {
    let r = call(
        http,
        Method::GET,
        format!("{base}{path}"),
        Some(ADMIN),
        None,
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{path}: {:?}", r.body);
    r.body
}

async fn post(http: &reqwest::Client, base: &str, token: &str, path: &str, body: Value) -> Value {
    let r = call(
        http,
        Method::POST,
        format!("{base}{path}"),
        Some(token),
        Some(body.to_string()),
        &[],
    )
    .await;
    assert!(r.status.is_success(), "{path}: {} {:?}", r.status, r.body);
    r.body
}

/// Everything a client can see of the state the backup must carry.
async fn state(http: &reqwest::Client, base: &str) -> Value {
    let mut cases = Vec::new();
    for id in ["B-1", "B-2", "B-3"] {
        let mut case = get(http, base, &format!("/v1/cases/{id}")).await;
        // What is left of an open case's working time counts down with the clock between
        // the two reads; the deadline it is counted to is compared.
        let left = case.as_object_mut().unwrap();
        assert!(left.remove("remaining_working_s").is_some(), "{id}");
        assert!(left.remove("remaining_working_days").is_some(), "{id}");
        cases.push(case);
    }
    json!({
        "tickets": get(http, base, "/v1/halls/h1/tickets").await,
        "cases": cases,
        "alarms": get(http, base, "/v1/alarms?after=0").await["alarms"],
        "cursor": get(http, base, "/v1/alarms/consumers/jc").await,
    })
}

fn ok(out: &std::process::Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn refused(out: &std::process::Output, what: &str, says: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{what} was accepted");
    assert!(err.contains(says), "{what}: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_of_a_running_daemon_restores_every_ticket_case_alarm_and_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let original = Hallq::config(dir.path(), &case_config(dir.path(), 2));
    let proc = original.spawn();
    let base = proc.base.clone();
    let http = client();

    for w in ["w1", "w2"] {
        post(
            &http,
            &base,
            COUNTER,
            &format!("/v1/halls/h1/windows/{w}/open"),
            json!({}),
        )
        .await;
    }
    for _ in 0..6 {
        post(
            &http,
            &base,
            KIOSK,
            "/v1/halls/h1/tickets",
            json!({"service": "s"}),
        )
        .await;
    }
    post(
        &http,
        &base,
        COUNTER,
        "/v1/halls/h1/windows/w1/call",
        json!({}),
    )
    .await;
    post(
        &http,
        &base,
        COUNTER,
        "/v1/halls/h1/windows/w1/start",
        json!({}),
    )
    .await;
    post(
        &http,
        &base,
        COUNTER,
        "/v1/halls/h1/windows/w1/complete",
        json!({}),
    )
    .await;
    post(
        &http,
        &base,
        COUNTER,
        "/v1/halls/h1/windows/w2/call",
        json!({}),
    )
    .await;
    // Two cases long overdue (their alarms fire at once), one on time and then completed.
    for (id, accepted) in [
        ("B-1", "2026-01-05T10:00:00+08:00"),
        ("B-2", "2026-01-06T10:00:00+08:00"),
        ("B-3", "2026-01-07T10:00:00+08:00"),
    ] {
        post(
            &http,
            &base,
            OFFICER,
            "/v1/cases",
            json!({"id": id, "hall": "h1", "matter": "OFFICIAL-3WD", "accepted_at": accepted}),
        )
        .await;
    }
    post(&http, &base, OFFICER, "/v1/cases/B-3/complete", json!({})).await;
    // The alarms are raised just after the acceptances commit.
    let mut alarms = 0;
    for _ in 0..400 {
        alarms = pull_alarms(&http, &base, ADMIN, "after=0").await.len();
        if alarms >= 6 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(alarms >= 6, "only {alarms} alarms were raised");
    post(
        &http,
        &base,
        ADMIN,
        "/v1/alarms/ack",
        json!({"consumer": "jc", "seq": 2}),
    )
    .await;

    let before = state(&http, &base).await;
    let out = dir.path().join("copy");
    let printed = ok(
        &hallq(&[
            "backup",
            "--target",
            &base,
            "--token",
            ADMIN,
            "--out",
            out.to_str().unwrap(),
        ]),
        "hallq backup --target",
    );
    assert!(printed.contains("hallq.backup"), "{printed}");
    assert_eq!(
        state(&http, &base).await,
        before,
        "the daemon changed nothing meanwhile"
    );
    // It went on serving while copied, and still does.
    post(
        &http,
        &base,
        KIOSK,
        "/v1/halls/h1/tickets",
        json!({"service": "s"}),
    )
    .await;
    let backup = out.join("hallq.backup");

    let restored = dir.path().join("restored");
    ok(
        &hallq(&[
            "restore",
            "--from",
            backup.to_str().unwrap(),
            "--data",
            restored.to_str().unwrap(),
        ]),
        "hallq restore",
    );
    refused(
        &hallq(&[
            "restore",
            "--from",
            backup.to_str().unwrap(),
            "--data",
            restored.to_str().unwrap(),
        ]),
        "a restore over an existing store",
        "already exists",
    );
    damaged_copies_are_refused(&backup, dir.path());

    let copy = Hallq::config_file(&dir.path().join("hallq.toml"), &restored).spawn();
    assert_eq!(
        state(&http, &copy.base).await,
        before,
        "the restored daemon answers as the original did"
    );
    // Numbers go on after the copied ones: the seventh ticket of the day.
    let next = post(
        &http,
        &copy.base,
        KIOSK,
        "/v1/halls/h1/tickets",
        json!({"service": "s"}),
    )
    .await;
    assert_eq!(next["number"], "A007", "{next}");
    drop(copy);

    // A stopped daemon's data directory can be copied too.
    proc.kill();
    let offline = dir.path().join("offline");
    ok(
        &hallq(&[
            "backup",
            "--data",
            dir.path().join("data").to_str().unwrap(),
            "--out",
            offline.to_str().unwrap(),
        ]),
        "hallq backup --data",
    );
    let again = dir.path().join("again");
    ok(
        &hallq(&[
            "restore",
            "--from",
            offline.join("hallq.backup").to_str().unwrap(),
            "--data",
            again.to_str().unwrap(),
        ]),
        "restoring the offline copy",
    );
    let copy = Hallq::config_file(&dir.path().join("hallq.toml"), &again).spawn();
    let tickets = get(&http, &copy.base, "/v1/halls/h1/tickets").await;
    assert_eq!(
        tickets.as_array().unwrap().len(),
        7,
        "the ticket issued after the first copy too"
    );
}

fn damaged_copies_are_refused(backup: &Path, dir: &Path) {
    let bytes = std::fs::read(backup).unwrap();
    let cut = dir.join("cut.backup");
    std::fs::write(&cut, &bytes[..bytes.len() - 10]).unwrap();
    let target = dir.join("never");
    let restore = |from: &Path| {
        hallq(&[
            "restore",
            "--from",
            from.to_str().unwrap(),
            "--data",
            target.to_str().unwrap(),
        ])
    };
    refused(&restore(&cut), "a cut-off copy", "cut-off");
    let mut flipped = bytes.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x40;
    let bad = dir.join("flipped.backup");
    std::fs::write(&bad, &flipped).unwrap();
    refused(&restore(&bad), "a damaged copy", "hallq backup");
    assert!(!target.join("hallq.redb").exists(), "nothing was installed");
}
