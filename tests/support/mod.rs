//! Shared by the integration tests: a test config, the real server in-process on port 0, the
//! real binary as a child process (for kill -9), and an SSE reader.
#![allow(dead_code, reason = "each test binary uses a different part")]

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use hallq::clock::SystemClock;
use hallq::config::{Config, hex, token_hash};
use hallq::server::Daemon;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::oneshot;

/// Tokens of the test config, by role.
pub const KIOSK: &str = "t-kiosk";
pub const COUNTER: &str = "t-counter";
pub const DISPLAY: &str = "t-display";
pub const ADMIN: &str = "t-admin";
/// A counter token that covers only hall `h2` (below `h1`).
pub const H2_COUNTER: &str = "t-h2-counter";
/// A kiosk token that covers `h1` and, through the tier tree, `h2`.
pub const H1_KIOSK: &str = "t-h1-kiosk";

/// A config with hall `h1` (county, `windows` windows serving services `s` and `t`), `h2`
/// (a township under it) and `other` (another county). The business day turns twelve hours
/// from now, so a test never straddles it.
#[allow(
    clippy::disallowed_methods,
    reason = "the test config puts the day boundary away from the real time the daemon will see"
)]
pub fn config(windows: usize) -> String {
    let turn = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(12))
        .strftime("%H:%M")
        .to_string();
    let mut s = format!(
        r#"
[store]
event_retention = 100000

[[hall]]
id = "h1"
name = "测试县政务服务中心"
tier = "county"
time_zone = "UTC"
day_starts = "{turn}"

[[hall.service]]
id = "s"
name = "社保"
prefix = "A"
target_wait_min = 1

[[hall.service]]
id = "t"
name = "税务"
prefix = "B"
"#
    );
    for w in 1..=windows {
        s += &format!(
            "\n[[hall.window]]\nid = \"w{w}\"\nname = \"{w}号窗口\"\nservices = [\"s\", \"t\"]\n"
        );
    }
    s += &format!(
        r#"
[[hall]]
id = "h2"
name = "测试镇便民服务中心"
tier = "township"
parent = "h1"
time_zone = "UTC"
day_starts = "{turn}"

[[hall.service]]
id = "s"
name = "综合"
prefix = "A"

[[hall.window]]
id = "w1"
name = "1号窗口"
services = ["s"]

[[hall]]
id = "other"
name = "另一县"
tier = "county"
time_zone = "UTC"
day_starts = "{turn}"

[[hall.service]]
id = "s"
name = "综合"
prefix = "A"

[[hall.window]]
id = "w1"
name = "1号窗口"
services = ["s"]
"#
    );
    for (name, role, halls) in [
        (KIOSK, "kiosk", "\"*\""),
        (COUNTER, "counter", "\"*\""),
        (DISPLAY, "display", "\"*\""),
        (ADMIN, "admin", "\"*\""),
        (H2_COUNTER, "counter", "\"h2\""),
        (H1_KIOSK, "kiosk", "\"h1\""),
    ] {
        s += &format!(
            "\n[[token]]\nname = \"{name}\"\nrole = \"{role}\"\nhalls = [{halls}]\nsha256 = \"{}\"\n",
            hex(&token_hash(name))
        );
    }
    s
}

pub struct Server {
    pub base: String,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    pub dir: tempfile::TempDir,
}

/// The real server, in this process, on an ephemeral port.
pub async fn start(config_text: &str) -> Server {
    start_in(config_text, tempfile::tempdir().expect("temp dir")).await
}

pub async fn start_in(config_text: &str, dir: tempfile::TempDir) -> Server {
    start_with_clock(config_text, dir, Arc::new(SystemClock)).await
}

/// The real server on a clock the test moves (`hallq::clock::ManualClock`).
pub async fn start_with_clock(
    config_text: &str,
    dir: tempfile::TempDir,
    clock: Arc<dyn hallq::clock::Clock>,
) -> Server {
    let config =
        Arc::new(Config::from_toml("test.toml", config_text).expect("test config is valid"));
    let daemon = Daemon::start(config, dir.path(), clock).expect("daemon starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        daemon
            .serve(listener, async {
                let _ = rx.await;
            })
            .await
            .expect("daemon serves and stops cleanly");
    });
    Server {
        base,
        http: client(),
        stop: Some(stop),
        task: Some(task),
        dir,
    }
}

impl Server {
    /// Stop gracefully and wait until the store is closed; returns the data directory.
    pub async fn stop(mut self) -> tempfile::TempDir {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap();
        self.dir
    }
}

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
    let content_type = r
        .headers()
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
    }
}

impl Server {
    pub async fn get(&self, token: &str, path: &str) -> Resp {
        call(
            &self.http,
            reqwest::Method::GET,
            format!("{}{path}", self.base),
            Some(token),
            None,
            &[],
        )
        .await
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> Resp {
        call(
            &self.http,
            reqwest::Method::POST,
            format!("{}{path}", self.base),
            Some(token),
            Some(body.to_string()),
            &[],
        )
        .await
    }
}

/// The real `hallq` binary as a child process.
pub struct Proc {
    pub child: tokio::process::Child,
    pub base: String,
}

/// Start `hallq serve --config FILE --listen 127.0.0.1:0 --data DIR` and wait for its
/// "listening" line.
pub async fn spawn(config_file: &std::path::Path, data: &std::path::Path) -> Proc {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_hallq"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(config_file)
        .arg("--data")
        .arg(data)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("the hallq binary starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let base = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(addr) = line.strip_prefix("hallq listening on ") {
                return addr.trim().to_owned();
            }
        }
        panic!("hallq exited before listening");
    })
    .await
    .expect("hallq listens within a minute");
    // Keep draining stdout so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Proc { child, base }
}

impl Proc {
    /// SIGKILL: no shutdown code runs.
    pub async fn kill9(mut self) {
        self.child.start_kill().unwrap();
        let status = self.child.wait().await.unwrap();
        assert!(!status.success(), "killed process reports failure");
    }
}

/// One SSE event as a subscriber received it.
#[derive(Debug, Clone)]
pub struct Sse {
    pub id: u64,
    pub event: String,
    pub data: Value,
}

/// Subscribe to a hall's stream; events arrive on the returned channel until the stream ends.
pub async fn subscribe(
    base: &str,
    hall: &str,
    token: &str,
    last_event_id: Option<u64>,
) -> tokio::sync::mpsc::UnboundedReceiver<Sse> {
    let mut rb = client()
        .get(format!("{base}/v1/halls/{hall}/events"))
        .bearer_auth(token)
        .timeout(Duration::from_secs(3600));
    if let Some(id) = last_event_id {
        rb = rb.header("Last-Event-ID", id.to_string());
    }
    let resp = rb.send().await.expect("stream request");
    assert_eq!(resp.status(), StatusCode::OK, "stream answers 200");
    assert_eq!(
        resp.headers().get("content-type").unwrap(),
        "text/event-stream"
    );
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut events = eventsource_stream::EventStream::new(resp.bytes_stream());
        while let Some(Ok(e)) = events.next().await {
            let parsed = Sse {
                id: e.id.parse().expect("numeric event id"),
                event: e.event,
                data: serde_json::from_str(&e.data).expect("JSON data"),
            };
            if tx.send(parsed).is_err() {
                return;
            }
        }
    });
    rx
}

/// The next event, or a panic naming what was awaited.
pub async fn next(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Sse>, what: &str) -> Sse {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
        .unwrap_or_else(|| panic!("stream ended while waiting for {what}"))
}

/// Token of a case officer covering every hall.
pub const OFFICER: &str = "t-officer";
/// A supervisor covering only `h2`.
pub const H2_SUPERVISOR: &str = "t-h2-supervisor";

/// A calendar open all day (00:00-23:59) every day, covering last year to next year, with
/// `extra_days` (`(date, "off"|"work")`) as overrides. Alarm tests count in working seconds on
/// it, so deadlines fall seconds after now.
#[allow(
    clippy::disallowed_methods,
    reason = "the calendar must cover the real today"
)]
pub fn always_calendar(extra_days: &[(jiff::civil::Date, &str)]) -> String {
    let year = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .year();
    let mut s = String::from(
        "id = \"always\"\ntime_zone = \"UTC\"\nweek = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"]\noffice_hours = [\"00:00-23:59\"]\n",
    );
    for y in year - 1..=year + 1 {
        let days: Vec<String> = extra_days
            .iter()
            .filter(|(d, _)| d.year() == y)
            .map(|(d, kind)| format!("{{ date = {d}, kind = \"{kind}\", name = \"test\" }}"))
            .collect();
        s += &format!(
            "\n[[year]]\nyear = {y}\nnotice = \"test\"\ndays = [{}]\n",
            days.join(", ")
        );
    }
    s
}

/// `config(windows)` plus deadlines: the official calendar, the `always` calendar (written
/// into `dir`), and matters `OFFICIAL-3WD` (3 working days, standard ladder), `FAST` (8
/// working seconds on `always`: warn 4 s before, red at, escalate 2 s after the deadline),
/// `DAYS-2` (2 working days on `always`, standard ladder) and `JOINT`.
pub fn case_config(dir: &std::path::Path, windows: usize) -> String {
    std::fs::write(dir.join("always.toml"), always_calendar(&[])).unwrap();
    let official = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/calendars/cn-mainland.toml"
    );
    let always = dir.join("always.toml");
    let mut s = config(windows);
    s += &format!(
        r#"
[[calendar]]
id = "always"
file = "{}"

[[calendar]]
id = "cn-mainland"
file = "{official}"

[[alarm_policy]]
id = "standard"
levels = [
  {{ level = "yellow", remaining = "1wd" }},
  {{ level = "red", remaining = "0wd" }},
  {{ level = "escalate", overdue = "2wd" }},
]

[[alarm_policy]]
id = "fast"
levels = [
  {{ level = "warn", remaining = "4ws" }},
  {{ level = "red", remaining = "0ws" }},
  {{ level = "escalate", overdue = "2ws" }},
]

[[matter]]
id = "OFFICIAL-3WD"
name = "三日办结事项"
kind = "promised"
limit = "3wd"
calendar = "cn-mainland"
max_extension = "60wd"

[[matter]]
id = "FAST"
name = "秒级测试事项"
kind = "promised"
limit = "8ws"
calendar = "always"
alarm_policy = "fast"

[[matter]]
id = "DAYS-2"
name = "两日事项"
kind = "promised"
limit = "2wd"
calendar = "always"
max_extension = "30wd"

[[matter]]
id = "JOINT"
name = "联办事项"
kind = "joint"
limit = "5wd"
calendar = "cn-mainland"
departments = [{{ id = "a", name = "甲局", limit = "2wd" }}, {{ id = "b", name = "乙局", limit = "3wd" }}]
"#,
        always.display()
    );
    for (name, role, halls) in [
        (OFFICER, "case-officer", "\"*\""),
        (H2_SUPERVISOR, "supervisor", "\"h2\""),
    ] {
        s += &format!(
            "\n[[token]]\nname = \"{name}\"\nrole = \"{role}\"\nhalls = [{halls}]\nsha256 = \"{}\"\n",
            hex(&token_hash(name))
        );
    }
    s
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

/// `case_config` with one more hall, `sh`, in Asia/Shanghai and listed first (so it is also
/// the zone of times that belong to no hall): open Monday to Friday 08:30-12:00 and
/// 13:30-17:30, service `s` (target wait one minute) and window `w1`. The other halls stay in
/// UTC.
pub fn shanghai_config(dir: &std::path::Path) -> String {
    let sh = r#"
[[hall]]
id = "sh"
name = "上海测试中心"
tier = "county"
time_zone = "Asia/Shanghai"

[hall.hours]
mon = ["08:30-12:00", "13:30-17:30"]
tue = ["08:30-12:00", "13:30-17:30"]
wed = ["08:30-12:00", "13:30-17:30"]
thu = ["08:30-12:00", "13:30-17:30"]
fri = ["08:30-12:00", "13:30-17:30"]

[[hall.service]]
id = "s"
name = "综合受理"
prefix = "A"
target_wait_min = 1

[[hall.window]]
id = "w1"
name = "1号窗口"
services = ["s"]

"#;
    case_config(dir, 1).replacen("[[hall]]", &format!("{}[[hall]]", &sh[1..]), 1)
}
