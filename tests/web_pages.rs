//! The hall's pages, end to end: the real daemon binary, and Debian's chromium driven
//! through chromedriver (WebDriver).
//!
//! Browser tests need `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian packages
//! `chromium` and `chromium-driver`; override the paths with HALLQ_CHROMIUM and
//! HALLQ_CHROMEDRIVER). Without them a test prints why and passes, unless CI=true, where it
//! fails: CI must never go green on tests it did not run.
//!
//! Speech is observed by replacing `speechSynthesis.speak` in the page with a recorder that
//! ends each utterance after a short timeout (headless Chromium may have no voices), so what
//! is tested is what the page asks for and in which order, and that it never starts one
//! announcement before the previous one ended. Nothing here asserts a duration: every wait
//! is for a condition, with a generous time limit.
//!
//! Screenshots of each page at its intended size are written to HALLQ_SCREENSHOT_DIR (the
//! committed ones: `HALLQ_SCREENSHOT_DIR=docs/screenshots cargo test --test web_pages`), or
//! to a scratch directory under target/.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use futures::FutureExt;
use serde_json::{Value, json};
use support::{Daemon, Hallq};

/// How long any one condition may take to come true before the test fails.
const WAIT: Duration = Duration::from_secs(30);

const ADMIN: &str = "demo-admin";
const COUNTER: &str = "demo-counter";
const KIOSK: &str = "demo-kiosk";
const DISPLAY: &str = "demo-display";

// ------------------------------------------------------------------ scratch directories

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("web-tests")
            .join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a scratch directory");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ------------------------------------------------------------------ the daemon's API

// The daemon is the real `hallq` binary on the demo config (`support::Hallq::demo`).

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A plain HTTP/1.1 request (the API is the test's other hand; no client library needed).
fn http(addr: &str, method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> Reply {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(WAIT)).unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    if !body.is_empty() {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(&body);
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8(raw).expect("UTF-8 answer");
    let (head, rest) = text.split_once("\r\n\r\n").expect("HTTP head");
    let mut lines = head.lines();
    let status = lines.next().unwrap()[9..12].parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    Reply {
        status,
        headers,
        body,
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

fn post(d: &Daemon, token: &str, path: &str, body: Value) -> Value {
    let r = http(&d.addr, "POST", path, Some(token), Some(&body));
    assert!(
        (200..300).contains(&r.status),
        "POST {path} answered {}: {}",
        r.status,
        r.body
    );
    if r.body.is_empty() {
        Value::Null
    } else {
        r.json()
    }
}

fn get(d: &Daemon, token: &str, path: &str) -> Value {
    let r = http(&d.addr, "GET", path, Some(token), None);
    assert_eq!(r.status, 200, "GET {path}: {}", r.body);
    r.json()
}

fn issue(d: &Daemon, service: &str) -> Value {
    post(
        d,
        KIOSK,
        "/v1/halls/city/tickets",
        json!({ "service": service }),
    )
}

fn open_window(d: &Daemon, window: &str) {
    post(
        d,
        ADMIN,
        &format!("/v1/halls/city/windows/{window}/open"),
        json!({}),
    );
}

fn call(d: &Daemon, window: &str) -> Value {
    post(
        d,
        COUNTER,
        &format!("/v1/halls/city/windows/{window}/call"),
        json!({}),
    )
}

// ------------------------------------------------------------------ the browser

struct Tools {
    chromium: PathBuf,
    chromedriver: PathBuf,
}

/// The browser and its driver, or `None` (skip) when they are missing outside CI.
fn tools() -> Option<Tools> {
    let pick = |var: &str, default: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(default))
    };
    let t = Tools {
        chromium: pick("HALLQ_CHROMIUM", "/usr/bin/chromium"),
        chromedriver: pick("HALLQ_CHROMEDRIVER", "/usr/bin/chromedriver"),
    };
    let missing: Vec<String> = [&t.chromium, &t.chromedriver]
        .into_iter()
        .filter(|p| !p.exists())
        .map(|p| p.display().to_string())
        .collect();
    if missing.is_empty() {
        return Some(t);
    }
    let why = format!(
        "{} not found; install Debian's `chromium` and `chromium-driver` \
         (apt-get install -y chromium chromium-driver)",
        missing.join(" and ")
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true and the browser tests cannot run: {why}");
    }
    eprintln!("SKIPPED browser test: {why}");
    None
}

/// One chromedriver and the browser sessions a test opened on it.
struct Browser {
    driver: Child,
    port: u16,
    chromium: PathBuf,
    scratch: PathBuf,
    sessions: Mutex<Vec<Client>>,
}

impl Browser {
    fn start(tools: &Tools, scratch: &Path) -> Browser {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new(&tools.chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let deadline = Instant::now() + WAIT;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Browser {
            driver,
            port,
            chromium: tools.chromium.clone(),
            scratch: scratch.to_owned(),
            sessions: Mutex::new(Vec::new()),
        }
    }

    /// A new browser window of `width`×`height` CSS pixels with a fresh profile.
    async fn session(&self, width: u32, height: u32) -> Client {
        let n = self.sessions.lock().unwrap().len();
        let profile = self.scratch.join(format!("profile-{n}"));
        let args = vec![
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--hide-scrollbars".to_owned(),
            // As a hall's display runs: sound without a click.
            "--autoplay-policy=no-user-gesture-required".to_owned(),
            format!("--user-data-dir={}", profile.display()),
            format!("--window-size={width},{height}"),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": self.chromium, "args": args }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a chromedriver session");
        self.sessions.lock().unwrap().push(client.clone());
        // The window size includes the (invisible) browser frame; grow the window until the
        // page itself has the size asked for.
        for _ in 0..3 {
            let inner = js(&client, "return [window.innerWidth, window.innerHeight]").await;
            let (w, h) = (inner[0].as_u64().unwrap(), inner[1].as_u64().unwrap());
            if (w, h) == (u64::from(width), u64::from(height)) {
                return client;
            }
            let (ow, oh) = client.get_window_size().await.expect("window size");
            client
                .set_window_size(
                    (ow + u64::from(width) - w) as u32,
                    (oh + u64::from(height) - h) as u32,
                )
                .await
                .expect("resize the window");
        }
        let inner = js(&client, "return [window.innerWidth, window.innerHeight]").await;
        panic!("cannot make a {width}×{height} page; it is {inner}");
    }

    async fn stop(mut self) {
        let sessions = std::mem::take(&mut *self.sessions.lock().unwrap());
        for s in sessions {
            let _ = s.close().await;
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// One browser test at a time: each starts chromium, and the machine has two cores.
static SERIAL: Mutex<()> = Mutex::new(());

/// Run `test` with a browser; the browser is shut down whatever happens, then a panic in
/// the test is passed on.
fn with_browser(name: &str, test: impl AsyncFnOnce(&Browser, PathBuf)) {
    let Some(tools) = tools() else { return };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let scratch = Scratch::new(name);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let browser = Browser::start(&tools, &scratch.0);
        let data = scratch.0.join("data");
        let result = AssertUnwindSafe(test(&browser, data)).catch_unwind().await;
        browser.stop().await;
        if let Err(panic) = result {
            std::panic::resume_unwind(panic);
        }
    });
}

async fn js(c: &Client, script: &str) -> Value {
    c.execute(script, vec![])
        .await
        .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
}

/// Wait until `expr` (a JavaScript expression) is truthy; returns its value.
async fn until(c: &Client, what: &str, expr: &str) -> Value {
    let deadline = Instant::now() + WAIT;
    let script = format!("try {{ return ({expr}) || null; }} catch (e) {{ return null; }}");
    loop {
        let v = js(c, &script).await;
        if !v.is_null() && v != json!(false) {
            return v;
        }
        if Instant::now() > deadline {
            let body = js(c, "return document.body ? document.body.innerText : ''").await;
            panic!("timed out waiting for {what} (`{expr}`); the page shows:\n{body}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn text(c: &Client, selector: &str) -> String {
    let v = js(
        c,
        &format!(
            "const e = document.querySelector({selector:?}); return e ? e.textContent : null;"
        ),
    )
    .await;
    v.as_str().unwrap_or_default().to_owned()
}

async fn wait_text(c: &Client, selector: &str, want: &str) {
    until(
        c,
        &format!("{selector} to read {want:?}"),
        &format!("document.querySelector({selector:?})?.textContent.trim() === {want:?}"),
    )
    .await;
}

async fn wait_contains(c: &Client, selector: &str, want: &str) {
    until(
        c,
        &format!("{selector} to contain {want:?}"),
        &format!("document.querySelector({selector:?})?.textContent.includes({want:?})"),
    )
    .await;
}

async fn press(c: &Client, keys: &[Key]) {
    let mut actions = KeyActions::new("keyboard".into());
    for &k in keys {
        actions = actions
            .then(KeyAction::Down { value: k.into() })
            .then(KeyAction::Up { value: k.into() });
    }
    c.perform_actions(actions).await.expect("key presses");
}

async fn type_char(c: &Client, ch: char) {
    let actions = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value: ch })
        .then(KeyAction::Up { value: ch });
    c.perform_actions(actions).await.expect("key press");
}

/// Press a console shortcut once its button is enabled (the console disables its buttons
/// while a request is in flight, and ignores their keys meanwhile, as it should).
async fn shortcut(c: &Client, action: &str, key: char) {
    until(
        c,
        &format!("the {action} button to be enabled"),
        &format!("!document.querySelector('#actions button[data-action=\"{action}\"]').disabled"),
    )
    .await;
    let actions = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value: key })
        .then(KeyAction::Up { value: key });
    c.perform_actions(actions).await.expect("key press");
}

/// Click `selector` once it is there and enabled. Lists re-render as events arrive, so an
/// element found a moment ago may be gone by the click; then it is found again.
async fn click(c: &Client, selector: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        until(
            c,
            &format!("{selector} to be enabled"),
            &format!("document.querySelector({selector:?}) && !document.querySelector({selector:?}).disabled"),
        )
        .await;
        let clicked = match c.find(Locator::Css(selector)).await {
            Ok(e) => e.click().await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match clicked {
            Ok(()) => return,
            Err(e) if Instant::now() > deadline => panic!("cannot click {selector}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Replace the page's speech with a recorder: each utterance "speaks" for 200 ms, then
/// fires `end`. Chimes are recorded from the page's `hallq:announce` events. An utterance
/// or chime that starts while another utterance is still speaking counts as an overlap.
const RECORDER: &str = r#"
    window.__log = []; window.__overlaps = 0; window.__cancels = 0;
    let speaking = 0;
    const synth = window.speechSynthesis;
    synth.speak = (u) => {
        if (speaking > 0) window.__overlaps++;
        speaking++;
        window.__log.push('say:' + u.text);
        setTimeout(() => { speaking--; if (u.onend) u.onend(new Event('end')); }, 200);
    };
    synth.cancel = () => { window.__cancels++; };
    window.addEventListener('hallq:announce', (e) => {
        if (e.detail.kind !== 'chime') return;
        if (speaking > 0) window.__overlaps++;
        window.__log.push('chime:' + e.detail.number);
    });
    return 'speechSynthesis' in window;
"#;

async fn spoken(c: &Client, n: usize) -> Vec<String> {
    until(
        c,
        &format!("{n} announcement items"),
        &format!("window.__log.length >= {n} && window.hallqDisplay.announcer.pending === 0"),
    )
    .await;
    let log = js(c, "return window.__log").await;
    serde_json::from_value(log).unwrap()
}

fn announced(number: &str, sentence: &str, repeat: usize) -> Vec<String> {
    let mut v = vec![format!("chime:{number}")];
    v.extend(std::iter::repeat_n(format!("say:{sentence}"), repeat));
    v
}

/// The sentence the hall's template makes for the latest call.
fn last_announcement(d: &Daemon) -> String {
    let snap = get(d, DISPLAY, "/v1/halls/city");
    snap["recent_calls"][0]["announcement"]
        .as_str()
        .expect("an announcement")
        .to_owned()
}

async fn open_display(d: &Daemon, c: &Client, query: &str) {
    c.goto(&d.url(&format!("/display/city{query}#token={DISPLAY}")))
        .await
        .expect("open the display");
    until(
        c,
        "the display to be live",
        "document.querySelector('#conn').dataset.state === 'live'",
    )
    .await;
    assert_eq!(
        js(c, RECORDER).await,
        json!(true),
        "the browser has speechSynthesis"
    );
}

// ------------------------------------------------------------------ screenshots

fn screenshot_dir() -> PathBuf {
    match std::env::var_os("HALLQ_SCREENSHOT_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots"),
    }
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    let w = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(png[20..24].try_into().unwrap());
    (w, h)
}

async fn screenshot(c: &Client, name: &str, width: u32, height: u32) {
    // Let fonts and the last frame settle: wait for two animation frames.
    c.execute_async(
        "const done = arguments[0]; document.fonts.ready.then(() => \
         requestAnimationFrame(() => requestAnimationFrame(() => done(true))));",
        vec![],
    )
    .await
    .expect("frames");
    let png = c.screenshot().await.expect("a screenshot");
    assert_eq!(
        png_size(&png),
        (width, height),
        "{name} is captured at its intended size"
    );
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

// ------------------------------------------------------------------ tests without a browser

#[test]
fn pages_are_served_self_contained_and_guarded() {
    let scratch = Scratch::new("pages");
    let d = Hallq::demo(&scratch.0.join("data")).spawn();

    for page in [
        "/display/city",
        "/counter/city/w1",
        "/kiosk/city",
        "/web/display.js",
        "/web/common.js",
        "/web/hallq.css",
    ] {
        let r = http(&d.addr, "GET", page, None, None);
        assert_eq!(r.status, 200, "{page}");
        let csp = r.header("content-security-policy").unwrap_or_default();
        assert!(
            csp.starts_with("default-src 'self'"),
            "{page} may load only from the daemon: {csp}"
        );
        // No fonts, scripts or styles from anywhere else: a hall may have no internet.
        for absolute in ["http://", "https://", "//fonts.", "cdn"] {
            assert!(!r.body.contains(absolute), "{page} refers to `{absolute}`");
        }
        let etag = r.header("etag").expect("an ETag").to_owned();
        let again = http_with(&d.addr, page, &[("If-None-Match", &etag)]);
        assert_eq!(again, 304, "{page} revalidates with its ETag");
    }
    assert_eq!(
        http(&d.addr, "GET", "/display/nowhere", None, None).status,
        404
    );
    assert_eq!(
        http(&d.addr, "GET", "/counter/city/w99", None, None).status,
        404
    );
    assert_eq!(
        http(&d.addr, "GET", "/web/nothing.js", None, None).status,
        404
    );

    // A ticket link opens that ticket only, and only with its key.
    let a = issue(&d, "social");
    let b = issue(&d, "social");
    let (a_id, b_id) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    let link = get(
        &d,
        KIOSK,
        &format!("/v1/halls/city/tickets/{a_id}/link?base=https://queue.example.gov.cn"),
    );
    let k = link["k"].as_str().unwrap();
    assert_eq!(
        link["url"],
        json!(format!("https://queue.example.gov.cn/t/city/{a_id}?k={k}"))
    );
    assert!(link["qr_svg"].as_str().unwrap().contains("<svg"));
    let page = |ticket: &str, k: &str| {
        http(
            &d.addr,
            "GET",
            &format!("/t/city/{ticket}?k={k}"),
            None,
            None,
        )
        .status
    };
    assert_eq!(page(a_id, k), 200);
    assert_eq!(page(b_id, k), 403, "a key opens only its own ticket");
    assert_eq!(
        http(&d.addr, "GET", &format!("/t/city/{a_id}"), None, None).status,
        403
    );
    let public = http(
        &d.addr,
        "GET",
        &format!("/v1/halls/city/tickets/{a_id}/public?k={k}"),
        None,
        None,
    );
    assert_eq!(public.status, 200);
    let v = public.json();
    assert_eq!(v["number"], a["number"]);
    assert_eq!(v["status"], json!("waiting"));
    assert_eq!(v["position"], json!(1));
    assert!(v.get("reason").is_none() && v.get("window").is_none());
    let other = format!("/v1/halls/city/tickets/{b_id}/public?k={k}");
    assert_eq!(http(&d.addr, "GET", &other, None, None).status, 403);
    // Only roles that hand out tickets get links.
    let denied = http(
        &d.addr,
        "GET",
        &format!("/v1/halls/city/tickets/{a_id}/link"),
        Some(DISPLAY),
        None,
    );
    assert_eq!(denied.status, 403);
    let anonymous = http(
        &d.addr,
        "GET",
        &format!("/v1/halls/city/tickets/{a_id}/link"),
        None,
        None,
    );
    assert_eq!(anonymous.status, 401);

    // Links survive a restart: the secret lives in the data directory.
    d.kill();
    let d = Hallq::demo(&scratch.0.join("data")).spawn();
    assert_eq!(
        http(&d.addr, "GET", &format!("/t/city/{a_id}?k={k}"), None, None).status,
        200
    );
}

fn http_with(addr: &str, path: &str, headers: &[(&str, &str)]) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    raw[9..12].parse().unwrap()
}

// ------------------------------------------------------------------ browser tests

#[test]
fn a_call_appears_on_the_board_and_is_queued_for_speech() {
    with_browser("board-call", async |b: &Browser, data: PathBuf| {
        let d = Hallq::demo(&data).spawn();
        open_window(&d, "w1");
        open_window(&d, "w2");
        issue(&d, "social");
        issue(&d, "tax");
        let c = b.session(1920, 1080).await;
        open_display(&d, &c, "?repeat=2").await;
        assert_eq!(text(&c, "#latest-idle").await.trim(), "欢迎光临");

        let ticket = call(&d, "w1");
        let number = ticket["number"].as_str().unwrap();
        wait_text(&c, "#latest-number", number).await;
        wait_text(&c, "#latest-window", "1号窗口").await;
        wait_text(&c, "[data-window='w1'] .win-number", number).await;
        // The waiting count of the called ticket's service went down with the call.
        wait_text(&c, "[data-service='social'] .svc-waiting", "0 人").await;
        wait_text(&c, "[data-service='tax'] .svc-waiting", "1 人").await;

        let sentence = last_announcement(&d);
        assert_eq!(sentence, format!("请{number}号到1号窗口办理"));
        assert_eq!(spoken(&c, 3).await, announced(number, &sentence, 2));
        assert_eq!(js(&c, "return window.__cancels").await, json!(0));

        // The board's language switch changes its texts, and stays switched.
        click(&c, "#lang").await;
        wait_text(&c, "#recent-h", "Recent calls").await;
        c.refresh().await.unwrap();
        wait_text(&c, "#recent-h", "Recent calls").await;
        wait_text(&c, "#latest-number", number).await;
    })
}

#[test]
fn quick_calls_are_all_announced_in_order_and_none_is_cut_off() {
    with_browser("board-speech", async |b: &Browser, data: PathBuf| {
        let d = Hallq::demo(&data).spawn();
        open_window(&d, "w1");
        open_window(&d, "w3");
        let first = issue(&d, "social");
        let second = issue(&d, "social");
        let c = b.session(1920, 1080).await;
        open_display(&d, &c, "?repeat=2").await;

        // Two calls back to back: the second arrives while the first is being spoken.
        call(&d, "w1");
        let s1 = last_announcement(&d);
        call(&d, "w3");
        let s2 = last_announcement(&d);
        let (n1, n2) = (
            first["number"].as_str().unwrap(),
            second["number"].as_str().unwrap(),
        );
        let mut want = announced(n1, &s1, 2);
        want.extend(announced(n2, &s2, 2));
        assert_eq!(spoken(&c, 6).await, want);

        // A recall is announced again, and moves to the top of the board.
        post(&d, COUNTER, "/v1/halls/city/windows/w1/recall", json!({}));
        want.extend(announced(n1, &s1, 2));
        assert_eq!(spoken(&c, 9).await, want);
        wait_text(&c, "#latest-number", n1).await;
        wait_text(&c, "#recent li:first-child .num", n2).await;

        assert_eq!(
            js(&c, "return window.__overlaps").await,
            json!(0),
            "no announcement started before the previous one ended"
        );
        assert_eq!(
            js(&c, "return window.__cancels").await,
            json!(0),
            "nothing was cut off"
        );
    })
}

#[test]
fn the_board_recovers_every_call_after_the_daemon_is_killed() {
    with_browser("board-restart", async |b: &Browser, data: PathBuf| {
        let d = Hallq::demo(&data).spawn();
        let addr = d.addr.clone();
        for w in ["w1", "w2", "w3"] {
            open_window(&d, w);
        }
        let numbers: Vec<String> = (0..4)
            .map(|_| issue(&d, "social")["number"].as_str().unwrap().to_owned())
            .collect();
        let c = b.session(1920, 1080).await;
        open_display(&d, &c, "?repeat=1").await;

        call(&d, "w1");
        let s1 = last_announcement(&d);
        wait_text(&c, "#latest-number", &numbers[0]).await;

        d.kill();
        until(
            &c,
            "the board to show it lost the daemon",
            "['offline', 'connecting'].includes(document.querySelector('#conn').dataset.state) \
             && document.querySelector('#conn').dataset.state !== 'live'",
        )
        .await;

        // Same port, same data: the board reconnects by itself and resumes from its last
        // event; calls made meanwhile reach it from the durable log.
        let d = Hallq::demo(&data).listen(&addr).spawn();
        call(&d, "w2");
        let s2 = last_announcement(&d);
        call(&d, "w3");
        let s3 = last_announcement(&d);
        until(
            &c,
            "the board to be live again",
            "document.querySelector('#conn').dataset.state === 'live'",
        )
        .await;
        wait_text(&c, "#latest-number", &numbers[2]).await;
        wait_text(&c, "#recent li:nth-child(1) .num", &numbers[1]).await;
        wait_text(&c, "#recent li:nth-child(2) .num", &numbers[0]).await;
        for (w, n) in [
            ("w1", &numbers[0]),
            ("w2", &numbers[1]),
            ("w3", &numbers[2]),
        ] {
            wait_text(&c, &format!("[data-window='{w}'] .win-number"), n).await;
        }

        // Every call announced exactly once: nothing lost, nothing replayed twice.
        let mut want = announced(&numbers[0], &s1, 1);
        want.extend(announced(&numbers[1], &s2, 1));
        want.extend(announced(&numbers[2], &s3, 1));
        assert_eq!(spoken(&c, 6).await, want);
        assert_eq!(js(&c, "return window.__overlaps").await, json!(0));

        // And the other side restarting: a reloaded board keeps its token and shows the
        // same calls from the snapshot, without announcing them again.
        c.refresh().await.unwrap();
        until(
            &c,
            "the reloaded board to be live",
            "document.querySelector('#conn').dataset.state === 'live'",
        )
        .await;
        wait_text(&c, "#latest-number", &numbers[2]).await;
        wait_text(&c, "#recent li:nth-child(2) .num", &numbers[0]).await;
        assert_eq!(
            js(
                &c,
                "return document.querySelector('.token-dialog') === null"
            )
            .await,
            json!(true),
            "no token prompt after a reload"
        );
    })
}

#[test]
fn counter_console_and_kiosk_take_a_ticket_through_its_whole_life() {
    with_browser("life", async |b: &Browser, data: PathBuf| {
        let d = Hallq::demo(&data).spawn();

        // Kiosk: a priority ticket for 社保医保.
        let kiosk = b.session(1080, 1920).await;
        kiosk
            .goto(&d.url(&format!("/kiosk/city?print=0#token={KIOSK}")))
            .await
            .unwrap();
        until(
            &kiosk,
            "the service buttons",
            "document.querySelector(\"[data-service='social']\")",
        )
        .await;
        click(&kiosk, "#priority").await;
        click(&kiosk, "[data-service='social']").await;
        until(
            &kiosk,
            "the printed ticket",
            "!document.querySelector('#ticket-view').hidden && document.querySelector('#slip').dataset.url",
        )
        .await;
        let number = text(&kiosk, "#slip-number").await;
        assert_eq!(number, "A001");
        assert_eq!(text(&kiosk, "#slip-class").await, "绿色通道");
        assert_eq!(text(&kiosk, "#slip-position").await, "您是下一位");
        let url = js(&kiosk, "return document.querySelector('#slip').dataset.url").await;
        let url = url.as_str().unwrap().to_owned();
        let ticket_id = js(
            &kiosk,
            "return document.querySelector('#slip').dataset.ticket",
        )
        .await;
        let ticket_id = ticket_id.as_str().unwrap().to_owned();
        assert!(
            url.starts_with(&d.url(&format!("/t/city/{ticket_id}?k="))),
            "{url}"
        );
        assert!(
            js(
                &kiosk,
                "return document.querySelector('#slip-qr').naturalWidth > 0"
            )
            .await
                == json!(true),
            "the QR code renders"
        );
        click(&kiosk, "#done").await;
        until(
            &kiosk,
            "the kiosk to return",
            "document.querySelector('#ticket-view').hidden",
        )
        .await;
        until(
            &kiosk,
            "the waiting count to include the new ticket",
            "document.querySelector(\"[data-service='social'] .load\").textContent.startsWith('等候 1 人')",
        )
        .await;

        // The citizen's phone follows the ticket from its QR code.
        let phone = b.session(390, 844).await;
        phone.goto(&url).await.unwrap();
        wait_text(&phone, "#number", "A001").await;
        wait_text(&phone, "#status", "等候中").await;

        // Counter console on window 1: sign in, open, call, start, complete with a rating.
        let counter = b.session(1366, 768).await;
        counter
            .goto(&d.url(&format!("/counter/city/w1#token={COUNTER}")))
            .await
            .unwrap();
        until(
            &counter,
            "the console",
            "document.querySelector('#wstate').dataset.state === 'closed'",
        )
        .await;
        click(&counter, "#officer").await;
        for ch in "0101".chars() {
            type_char(&counter, ch).await;
        }
        press(&counter, &[Key::Enter]).await;
        until(
            &counter,
            "the officer signed in under the roster's name, the staff number on the plate",
            "document.querySelector('#who').textContent.includes('王芳') \
             && document.querySelector('#plate .staff').textContent.includes('0101')",
        )
        .await;
        press(&counter, &[Key::Escape]).await;
        shortcut(&counter, "open", 'o').await;
        until(
            &counter,
            "the window open",
            "document.querySelector('#wstate').dataset.state === 'open'",
        )
        .await;
        wait_text(&counter, "#queue tr:first-child .num", "A001").await;

        shortcut(&counter, "call", Key::F1.into()).await;
        wait_text(&counter, "#current .number", "A001").await;
        until(
            &phone,
            "the call on the phone",
            "document.querySelector('#callout.called')",
        )
        .await;
        wait_text(&phone, "#callout", "请到 1号窗口 办理").await;

        shortcut(&counter, "start", 's').await;
        until(
            &counter,
            "serving",
            "document.querySelector('#wstate').dataset.state === 'serving'",
        )
        .await;
        wait_text(&phone, "#callout", "正在 1号窗口 办理").await;

        // A second citizen arrives; calling next while serving asks first.
        let second = issue(&d, "social");
        wait_text(
            &counter,
            "#queue tr:first-child .num",
            second["number"].as_str().unwrap(),
        )
        .await;
        shortcut(&counter, "call", Key::F1.into()).await;
        until(
            &counter,
            "the confirmation",
            "document.querySelector('#dlg-next').open",
        )
        .await;
        assert!(text(&counter, "#dlg-next-body").await.contains("A001"));
        press(&counter, &[Key::Escape]).await;
        until(
            &counter,
            "the confirmation to close",
            "!document.querySelector('#dlg-next').open",
        )
        .await;
        assert_eq!(
            get(&d, COUNTER, &format!("/v1/halls/city/tickets/{ticket_id}"))["status"],
            json!("serving"),
            "cancelling the confirmation called nobody"
        );

        shortcut(&counter, "complete", 'c').await;
        until(
            &counter,
            "the rating dialog",
            "document.querySelector('#dlg-complete').open",
        )
        .await;
        type_char(&counter, '5').await;
        wait_text(&counter, "#current .none", "暂无").await;
        let done = get(&d, COUNTER, &format!("/v1/halls/city/tickets/{ticket_id}"));
        assert_eq!(done["status"], json!("done"));
        assert_eq!(done["evaluation"], json!(5));
        wait_text(&phone, "#callout", "已办结，感谢您的耐心等候").await;

        // The second ticket: called by number, no-show, reactivated, then called with the
        // confirmation accepted, which completes it.
        let second_id = second["id"].as_str().unwrap();
        type_char(&counter, 'g').await;
        for ch in "a2".chars() {
            type_char(&counter, ch).await;
        }
        press(&counter, &[Key::Enter]).await;
        wait_text(&counter, "#current .number", "A002").await;
        shortcut(&counter, "no-show", 'n').await;
        until(
            &counter,
            "the no-show listed",
            "document.querySelector('#held [data-ticket] button')",
        )
        .await;
        click(&counter, "#held [data-ticket] button").await;
        wait_text(&counter, "#queue tr:first-child .num", "A002").await;
        shortcut(&counter, "call", Key::F1.into()).await;
        wait_text(&counter, "#current .number", "A002").await;
        shortcut(&counter, "call", Key::F1.into()).await;
        until(
            &counter,
            "the confirmation",
            "document.querySelector('#dlg-next').open",
        )
        .await;
        press(&counter, &[Key::Enter]).await;
        until(
            &counter,
            "the call-next answer",
            "document.querySelector('#current .none')",
        )
        .await;
        assert_eq!(
            get(&d, COUNTER, &format!("/v1/halls/city/tickets/{second_id}"))["status"],
            json!("done"),
            "calling next completed the ticket being served"
        );
    })
}

/// `PUT` or `DELETE` a dated override of the city hall's hours.
fn hours(d: &Daemon, method: &str, date: &str, body: Option<&Value>) {
    let path = format!("/v1/halls/city/hours/{date}");
    let r = http(&d.addr, method, &path, Some(ADMIN), body);
    assert_eq!(r.status, 200, "{method} {path}: {}", r.body);
}

#[test]
fn a_closed_hall_says_why_and_when_it_opens_on_kiosk_and_display() {
    with_browser("closed", async |b: &Browser, data: PathBuf| {
        let d = Hallq::demo(&data).spawn();
        // Today and tomorrow (in the hall's zone, as the daemon sees it) closed by an
        // override: the notice holds even if the test runs across midnight.
        let snap = get(&d, DISPLAY, "/v1/halls/city");
        let today: jiff::civil::Date = snap["schedule"]["today"]["date"]
            .as_str()
            .expect("the snapshot carries the schedule")
            .parse()
            .unwrap();
        let days = [today.to_string(), today.tomorrow().unwrap().to_string()];
        let closed = json!({ "closed": true, "reason": "设备检修" });
        for day in &days {
            hours(&d, "PUT", day, Some(&closed));
        }

        let kiosk = b.session(1080, 1920).await;
        kiosk
            .goto(&d.url(&format!("/kiosk/city?print=0#token={KIOSK}")))
            .await
            .unwrap();
        let note = until(
            &kiosk,
            "the kiosk's closed notice",
            "document.querySelector('#note.closed')?.textContent",
        )
        .await;
        let note = note.as_str().unwrap();
        assert!(
            note.starts_with("本厅暂停办理（设备检修），") && note.ends_with("00:00 开始办理"),
            "{note}"
        );
        assert_eq!(
            js(
                &kiosk,
                "return document.querySelector(\"[data-service='social']\").disabled"
            )
            .await,
            json!(true),
            "a closed hall takes no numbers"
        );
        screenshot(&kiosk, "kiosk-closed", 1080, 1920).await;

        let board = b.session(1920, 1080).await;
        open_display(&d, &board, "?lang=en").await;
        until(
            &board,
            "the display's closed banner",
            "!document.querySelector('#closed').hidden",
        )
        .await;
        assert_eq!(text(&board, "#closed-title").await, "The hall is closed");
        assert_eq!(text(&board, "#closed-why").await, "Closed: 设备检修");
        let opens = text(&board, "#closed-opens").await;
        assert!(
            opens.starts_with("Opens ") && opens.ends_with(" 00:00"),
            "{opens}"
        );
        screenshot(&board, "display-closed", 1920, 1080).await;

        // Lifted through the API: both pages follow the hall's stream at once.
        for day in &days {
            hours(&d, "DELETE", day, None);
        }
        until(
            &board,
            "the banner to go",
            "document.querySelector('#closed').hidden",
        )
        .await;
        until(
            &kiosk,
            "the kiosk to take numbers again",
            "!document.querySelector('#note').classList.contains('closed') \
             && !document.querySelector(\"[data-service='social']\").disabled",
        )
        .await;
    });
}

#[test]
fn screenshots_of_every_page_at_its_size() {
    with_browser("screenshots", async |b: &Browser, data: PathBuf| {
        let d = Hallq::demo(&data).spawn();
        for w in ["w1", "w2", "w3", "w4", "w5"] {
            open_window(&d, w);
        }
        post(
            &d,
            COUNTER,
            "/v1/halls/city/windows/w1/sign-in",
            json!({ "post": "A", "officer": "0101" }),
        );
        for s in [
            "social",
            "tax",
            "social",
            "business",
            "residence",
            "social",
            "tax",
            "social",
            "residence",
            "social",
            "business",
            "social",
            "tax",
            "social",
        ] {
            issue(&d, s);
        }
        post(
            &d,
            KIOSK,
            "/v1/halls/city/tickets",
            json!({ "service": "social", "class": "priority" }),
        );
        let mut at_w1 = Value::Null;
        for w in ["w2", "w3", "w4", "w5", "w1"] {
            at_w1 = call(&d, w);
        }
        let at_w1 = at_w1["number"].as_str().unwrap().to_owned();
        post(&d, COUNTER, "/v1/halls/city/windows/w3/start", json!({}));
        post(&d, COUNTER, "/v1/halls/city/windows/w1/start", json!({}));
        post(&d, COUNTER, "/v1/halls/city/windows/w5/complete", json!({}));
        post(
            &d,
            ADMIN,
            "/v1/halls/city/windows/w5/pause",
            json!({ "reason": "临时休息" }),
        );

        let display = b.session(1920, 1080).await;
        open_display(&d, &display, "?chime=0").await;
        wait_text(&display, "[data-window='w1'] .win-number", &at_w1).await;
        screenshot(&display, "display", 1920, 1080).await;

        let counter = b.session(1366, 768).await;
        counter
            .goto(&d.url(&format!("/counter/city/w1#token={COUNTER}")))
            .await
            .unwrap();
        wait_text(&counter, "#current .number", &at_w1).await;
        until(
            &counter,
            "the queue",
            "document.querySelectorAll('#queue tr[data-ticket]').length > 3",
        )
        .await;
        screenshot(&counter, "counter", 1366, 768).await;

        let kiosk = b.session(1080, 1920).await;
        kiosk
            .goto(&d.url(&format!("/kiosk/city?print=0#token={KIOSK}")))
            .await
            .unwrap();
        until(
            &kiosk,
            "the service buttons",
            "document.querySelectorAll('.service-button').length === 4",
        )
        .await;
        screenshot(&kiosk, "kiosk", 1080, 1920).await;
        click(&kiosk, "[data-service='social']").await;
        until(
            &kiosk,
            "the printed ticket",
            "document.querySelector('#slip-qr').naturalWidth > 0",
        )
        .await;
        screenshot(&kiosk, "kiosk-ticket", 1080, 1920).await;
        let url = js(&kiosk, "return document.querySelector('#slip').dataset.url").await;

        let phone = b.session(390, 844).await;
        phone.goto(url.as_str().unwrap()).await.unwrap();
        until(
            &phone,
            "the ticket's position",
            "!document.querySelector('#ahead').hidden",
        )
        .await;
        screenshot(&phone, "ticket", 390, 844).await;
        let id = js(
            &kiosk,
            "return document.querySelector('#slip').dataset.ticket",
        )
        .await;
        post(
            &d,
            COUNTER,
            &format!("/v1/halls/city/windows/w2/call/{}", id.as_str().unwrap()),
            json!({}),
        );
        until(
            &phone,
            "the call",
            "document.querySelector('#callout.called')",
        )
        .await;
        screenshot(&phone, "ticket-called", 390, 844).await;
    })
}

#[test]
fn officer_plates_the_rating_tablet_the_ticket_page_rating_and_the_monthly_report() {
    with_browser("rating", async |b: &Browser, data: PathBuf| {
        let d = Hallq::demo(&data).spawn();
        open_window(&d, "w1");
        post(
            &d,
            COUNTER,
            "/v1/halls/city/windows/w1/sign-in",
            json!({ "post": "A", "officer": "0101" }),
        );

        // 公示牌 on the display and the counter: name and staff number of the serving officer.
        let display = b.session(1920, 1080).await;
        open_display(&d, &display, "?chime=0").await;
        wait_text(&display, "[data-window='w1'] .plate .name", "王芳").await;
        wait_contains(&display, "[data-window='w1'] .plate .staff", "0101").await;
        let counter = b.session(1366, 768).await;
        counter
            .goto(&d.url(&format!("/counter/city/w1#token={COUNTER}")))
            .await
            .unwrap();
        wait_text(&counter, "#plate .plate .name", "王芳").await;
        wait_contains(&counter, "#plate .plate .staff", "0101").await;

        // B signs in, A leaves for a meeting: the display says where A is (去向公开).
        post(
            &d,
            COUNTER,
            "/v1/halls/city/windows/w1/sign-in",
            json!({ "post": "B", "officer": "0102" }),
        );
        post(
            &d,
            COUNTER,
            "/v1/halls/city/windows/w1/sign-out",
            json!({ "post": "A", "reason": "会议" }),
        );
        wait_text(&display, "[data-window='w1'] .plate .name", "李明").await;
        wait_contains(&display, "[data-window='w1'] .plate .away", "会议").await;
        wait_contains(&counter, "#plate .plate .away", "会议").await;
        screenshot(&display, "display-plate", 1920, 1080).await;
        screenshot(&counter, "counter-plate", 1366, 768).await;

        // The 评价器 offers the rating of the ticket the window just completed.
        let tablet = b.session(1280, 800).await;
        tablet
            .goto(&d.url(&format!("/rate/city/w1#token={COUNTER}")))
            .await
            .unwrap();
        wait_text(&tablet, "#plate .plate .name", "李明").await;
        let t = issue(&d, "social");
        let id = t["id"].as_str().unwrap().to_owned();
        call(&d, "w1");
        post(&d, COUNTER, "/v1/halls/city/windows/w1/complete", json!({}));
        wait_contains(&tablet, "#rater-ticket", t["number"].as_str().unwrap()).await;
        screenshot(&tablet, "rater", 1280, 800).await;
        click(&tablet, "#rate-buttons [data-rating='4']").await;
        wait_contains(&tablet, "#rate-note", "满意").await;
        let rated = get(&d, COUNTER, &format!("/v1/halls/city/tickets/{id}"));
        assert_eq!(rated["evaluation"], 4, "{rated}");

        // The citizen's ticket page offers the rating once the service is done.
        let t = issue(&d, "social");
        let id = t["id"].as_str().unwrap().to_owned();
        let link = get(
            &d,
            KIOSK,
            &format!("/v1/halls/city/tickets/{id}/link?base=http://q.example"),
        );
        let k = link["k"].as_str().unwrap();
        let phone = b.session(390, 844).await;
        phone
            .goto(&d.url(&format!("/t/city/{id}?k={k}")))
            .await
            .unwrap();
        until(
            &phone,
            "the ticket",
            "document.querySelector('#number').textContent.trim().length > 1",
        )
        .await;
        assert_eq!(
            js(&phone, "return document.querySelector('#rate').hidden").await,
            json!(true),
            "no rating before the service"
        );
        call(&d, "w1");
        post(&d, COUNTER, "/v1/halls/city/windows/w1/complete", json!({}));
        until(
            &phone,
            "the rating offer",
            "!document.querySelector('#rate').hidden",
        )
        .await;
        screenshot(&phone, "ticket-rate", 390, 844).await;
        click(&phone, "#rate-buttons [data-rating='2']").await;
        wait_contains(&phone, "#rate-note", "不满意").await;
        let rated = get(&d, COUNTER, &format!("/v1/halls/city/tickets/{id}"));
        assert_eq!(rated["evaluation"], 2, "{rated}");

        // The monthly report in a supervisor's browser: the viewer page takes the token from
        // the fragment, asks the API with it in the header and shows the server's page, its
        // SVG charts and tables, under the page's strict CSP (no inline style or script).
        let report = b.session(1240, 1754).await;
        report
            .goto(&d.url(&format!(
                "/report/city?kind=monthly&subtree=true#token={ADMIN}"
            )))
            .await
            .unwrap();
        until(
            &report,
            "the charts",
            "document.querySelectorAll('#report figure svg').length === 4",
        )
        .await;
        wait_contains(&report, "#officers", "王芳").await;
        wait_contains(&report, "#windows", "差评按时整改").await;
        assert_eq!(
            js(&report, "return location.hash").await,
            json!(""),
            "the token leaves the address bar"
        );
        assert_eq!(
            js(
                &report,
                "return getComputedStyle(document.querySelector('#report h2')).borderBottomStyle"
            )
            .await,
            json!("solid"),
            "the report's stylesheet applies"
        );
        // Saved as a file, the same report prints as it showed, with its own inline style.
        let r = http(
            &d.addr,
            "GET",
            "/v1/reports/monthly?hall=city&subtree=true&format=html",
            Some(ADMIN),
            None,
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.body.contains("<figure>"), "{}", r.body);
        screenshot(&report, "report-monthly", 1240, 1754).await;
    })
}

// ------------------------------------------------------------------ 预约

async fn fill(c: &Client, selector: &str, text: &str) {
    click(c, selector).await;
    c.find(Locator::Css(selector))
        .await
        .unwrap()
        .send_keys(text)
        .await
        .unwrap();
}

/// A citizen books on a phone (service, day, slot with seats left, ID and phone → code and
/// QR), checks in at the kiosk by code, a second citizen by ID number, and the counter
/// console lists today's booked arrivals. The server runs in-process on a clock the test
/// holds at Monday 08:00, so "today's slots" do not depend on when the test runs.
#[test]
fn a_citizen_books_on_a_phone_checks_in_at_the_kiosk_and_the_counter_sees_arrivals() {
    use std::sync::Arc;
    with_browser("booking", async |b: &Browser, _data: PathBuf| {
        let clock = Arc::new(hallq::clock::ManualClock::new(
            "2026-03-02T08:00:00Z".parse().unwrap(),
        ));
        let s = support::start_with_clock(
            &support::booking_config(3, ""),
            tempfile::tempdir().unwrap(),
            clock,
        )
        .await;

        let phone = b.session(390, 844).await;
        phone
            .goto(&format!("{}/book/h1#token={}", s.base, support::PORTAL))
            .await
            .unwrap();
        until(
            &phone,
            "the bookable service and days",
            "document.querySelector(\"[data-service='s'][aria-checked='true']\") && \
             document.querySelectorAll('[data-day]').length === 3",
        )
        .await;
        click(&phone, "[data-day='2026-03-02']").await;
        until(
            &phone,
            "today's slots with seats left",
            "document.querySelectorAll('[data-slot]:not([disabled])').length === 16",
        )
        .await;
        click(&phone, "[data-slot='2026-03-02T09:00:00+00:00']").await;
        assert_eq!(
            text(&phone, "[data-slot='2026-03-02T09:00:00+00:00'] small").await,
            "余 3 个"
        );
        fill(&phone, "#id-number", "44010619900307123X").await;
        fill(&phone, "#phone", "13912345678").await;
        fill(&phone, "#name", "王小明").await;
        screenshot(&phone, "booking", 390, 844).await;
        click(&phone, "#submit").await;
        until(
            &phone,
            "the booking code and its QR code",
            "!document.querySelector('#done-view').hidden && \
             document.querySelector('#qr').naturalWidth > 0",
        )
        .await;
        let code = text(&phone, "#code").await;
        assert_eq!(code.len(), 8, "{code}");
        let who = text(&phone, "#done-citizen").await;
        assert!(who.contains("4401**********123X"), "{who}");
        assert!(
            !who.contains("0307"),
            "the page shows the masked ID only: {who}"
        );
        assert_eq!(
            js(&phone, "return document.querySelector('#id-number').value").await,
            "",
            "nothing the citizen typed stays in the page"
        );
        screenshot(&phone, "booking-done", 390, 844).await;

        // A second citizen booked by phone at the counter, for 10:00.
        let second = s
            .post(
                support::COUNTER,
                "/v1/halls/h1/bookings",
                json!({"service": "s", "start": "2026-03-02T10:00:00Z", "channel": "phone",
                       "citizen": support::citizen(2)}),
            )
            .await;
        assert_eq!(second.status, 201, "{:?}", second.body);

        // The kiosk: check in by code, then by ID number.
        let kiosk = b.session(1080, 1920).await;
        kiosk
            .goto(&format!(
                "{}/kiosk/h1?print=0#token={}",
                s.base,
                support::KIOSK
            ))
            .await
            .unwrap();
        click(&kiosk, "#checkin").await;
        fill(&kiosk, "#checkin-input", &code.to_lowercase()).await;
        click(&kiosk, "#checkin-go").await;
        until(
            &kiosk,
            "the checked-in ticket",
            "!document.querySelector('#ticket-view').hidden && \
             document.querySelector('#slip-number').textContent",
        )
        .await;
        assert_eq!(text(&kiosk, "#slip-number").await, "A001");
        assert_eq!(text(&kiosk, "#slip-class").await, "预约");
        screenshot(&kiosk, "kiosk-checkin", 1080, 1920).await;
        click(&kiosk, "#done").await;
        click(&kiosk, "#checkin").await;
        fill(
            &kiosk,
            "#checkin-input",
            support::citizen(2)["id_number"].as_str().unwrap(),
        )
        .await;
        click(&kiosk, "#checkin-go").await;
        wait_text(&kiosk, "#slip-number", "A002").await;

        // The counter console lists today's arrivals, masked, with their status.
        let counter = b.session(1366, 768).await;
        counter
            .goto(&format!(
                "{}/counter/h1/w1#token={}",
                s.base,
                support::COUNTER
            ))
            .await
            .unwrap();
        until(
            &counter,
            "today's booked arrivals",
            "document.querySelectorAll('#arrivals li[data-status=\"checked_in\"]').length === 2",
        )
        .await;
        let list = text(&counter, "#arrivals").await;
        assert!(list.contains(&code), "{list}");
        assert!(list.contains("王**"), "{list}");
        assert!(list.contains("已签到"), "{list}");
        screenshot(&counter, "counter-arrivals", 1366, 768).await;
        s.stop().await;
    })
}

#[test]
fn the_progress_board_shows_a_halls_cases_and_follows_their_changes() {
    with_browser("progress-board", async |b: &Browser, data: PathBuf| {
        let d = Hallq::demo(&data).spawn();
        // The daemon's own clock, from the hall's snapshot.
        let now = get(&d, DISPLAY, "/v1/halls/city")["at"]
            .as_str()
            .expect("the snapshot's time")
            .to_owned();
        let accept = |id: &str, hall: &str, matter: &str, name: &str| {
            post(
                &d,
                ADMIN,
                "/v1/cases",
                json!({"id": id, "hall": hall, "matter": matter, "accepted_at": now,
                       "applicant": {"name": name, "contact": "13800138000"}}),
            )
        };
        accept("SP-0001", "city", "330100-CN-0001", "张三");
        accept("SP-0002", "city", "330100-CN-0002", "欧阳娜娜");
        // Another hall's case is not on this board.
        accept("SP-0900", "county", "330100-CN-0001", "李四");

        let c = b.session(1920, 1080).await;
        c.goto(&d.url(&format!("/progress/city#token={DISPLAY}")))
            .await
            .expect("open the progress board");
        until(
            &c,
            "the board to be live",
            "document.querySelector('#conn').dataset.state === 'live'",
        )
        .await;
        wait_text(
            &c,
            "[data-case='SP-0001'] .case-matter",
            "个体工商户设立登记",
        )
        .await;
        wait_text(&c, "[data-case='SP-0001'] .case-applicant", "张*").await;
        wait_text(&c, "[data-case='SP-0002'] .case-applicant", "欧***").await;
        wait_text(&c, "[data-case='SP-0001'] .case-state", "办理中").await;
        assert_eq!(
            js(
                &c,
                "return document.querySelectorAll('[data-case=\"SP-0900\"]').length"
            )
            .await,
            json!(0),
            "only the board's hall"
        );
        let page = js(&c, "return document.body.innerText").await;
        assert!(
            !page.as_str().unwrap().contains("13800138000"),
            "no clear contact on a public screen"
        );
        let due = text(&c, "[data-case='SP-0001'] .case-due").await;
        assert!(
            due.starts_with("20"),
            "a due date in the hall's time: {due}"
        );

        // A change to a case reaches the board through the case stream.
        post(
            &d,
            ADMIN,
            "/v1/cases/SP-0001/suspend",
            json!({"reason": "supplement", "missing": ["身份证复印件"]}),
        );
        wait_text(&c, "[data-case='SP-0001'] .case-state", "暂停（补正）").await;
        wait_text(&c, "[data-case='SP-0001'] .case-due", "—").await;
        post(
            &d,
            ADMIN,
            "/v1/cases/SP-0002/outcome",
            json!({"result": "not_accepted", "reason": "不属于本机关职权范围"}),
        );
        wait_text(&c, "[data-case='SP-0002'] .case-state", "不予受理").await;
        screenshot(&c, "progress-board", 1920, 1080).await;

        // A reload replays the retained log: the same board.
        c.refresh().await.unwrap();
        wait_text(&c, "[data-case='SP-0001'] .case-state", "暂停（补正）").await;
        wait_text(&c, "[data-case='SP-0002'] .case-state", "不予受理").await;
    })
}
