//! Issue 10, reproduction 2, on the real binary: a completed rectification case stays
//! completed across a restart (SIGTERM), although the start-up re-offers every bad rating of
//! the day, and none of its alarms is raised again.

mod support;

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::*;
use tokio::io::{AsyncBufReadExt, BufReader};

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

[[token]]
name = "{OFFICER}"
role = "case-officer"
halls = ["*"]
sha256 = "{}"
"#,
        dir.join("always.toml").display(),
        hallq::config::hex(&hallq::config::token_hash(OFFICER))
    );
    s
}

/// The daemon as a child process whose log lines (stderr, WARN and up) are kept.
struct Daemon {
    child: tokio::process::Child,
    base: String,
    log: Arc<Mutex<Vec<String>>>,
    log_done: tokio::task::JoinHandle<()>,
}

async fn spawn_logged(config_file: &std::path::Path, data: &std::path::Path) -> Daemon {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_hallq"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(config_file)
        .arg("--data")
        .arg(data)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the hallq binary starts");
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut err = BufReader::new(child.stderr.take().unwrap()).lines();
    let log_done = tokio::spawn({
        let log = log.clone();
        async move {
            while let Ok(Some(line)) = err.next_line().await {
                log.lock().unwrap().push(line);
            }
        }
    });
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = out.next_line().await.unwrap() {
            if let Some(addr) = line.strip_prefix("hallq listening on ") {
                return addr.trim().to_owned();
            }
        }
        panic!("hallq exited before listening");
    })
    .await
    .expect("hallq listens within a minute");
    tokio::spawn(async move { while let Ok(Some(_)) = out.next_line().await {} });
    Daemon {
        child,
        base,
        log,
        log_done,
    }
}

impl Daemon {
    /// SIGTERM, wait for a clean exit, and return every log line it wrote.
    async fn terminate(mut self) -> Vec<String> {
        let pid = self.child.id().expect("still running").to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(sent.success(), "SIGTERM sent");
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("hallq stops within 30 s of SIGTERM")
            .unwrap();
        assert!(status.success(), "hallq exits cleanly on SIGTERM: {status}");
        self.log_done.await.unwrap();
        std::mem::take(&mut *self.log.lock().unwrap())
    }

    async fn req(&self, method: Method, token: &str, path: &str, body: Option<Value>) -> Resp {
        call(
            &client(),
            method,
            format!("{}{path}", self.base),
            Some(token),
            body.map(|b| b.to_string()),
            &[],
        )
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completed_rectification_stays_completed_after_a_restart_and_raises_nothing_again() {
    let dir = tempfile::tempdir().unwrap();
    let config_file = dir.path().join("hallq.toml");
    std::fs::write(&config_file, restart_config(dir.path())).unwrap();
    let data = dir.path().join("data");
    let d = spawn_logged(&config_file, &data).await;

    // A ticket served and rated 1 (非常不满意).
    let t = d
        .req(
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
        let r = d
            .req(
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
        let r = d.req(Method::GET, OFFICER, &path, None).await;
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

    let done = d
        .req(
            Method::POST,
            OFFICER,
            &format!("{path}/complete"),
            Some(json!({})),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);
    assert_eq!(done.body["state"], "completed");
    d.terminate().await;

    // The restart re-offers the day's bad ratings before it serves; requests are taken in
    // order, so once this GET is answered the re-offer has been applied and committed.
    let d = spawn_logged(&config_file, &data).await;
    let after = d.req(Method::GET, OFFICER, &path, None).await;
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
    let alarms = pull_alarms(&http, &d.base, ADMIN, "after=0").await;
    assert_eq!(alarms, before, "no alarm raised again after the restart");
    let log = d.terminate().await;
    assert!(
        !log.iter().any(|l| l.contains("refused")),
        "the re-offer replays the first acceptance exactly (no conflict): {log:#?}"
    );
}
