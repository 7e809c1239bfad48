//! Applicant notifications delivered as signed webhooks, by the real binary to a real HTTP
//! receiver in this test: signatures verify; a receiver that is down for a while gets every
//! notification once it is up, none twice per delivery id; what was undelivered when the
//! daemon was SIGKILLed is delivered after the restart, with the same delivery ids; a receiver
//! that always fails leaves dead letters an admin lists and replays. Waits are for what the
//! receiver saw, never for a fixed time.

mod support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use support::WEBHOOK_SECRET as SECRET;
use support::*;

const PHONE: &str = "13800138000";

fn config(dir: &std::path::Path, receiver: SocketAddr, extra: &str) -> String {
    let mut s = case_config(dir, 1);
    s += &format!(
        r#"
[booking]
keys = ["test-booking-key-0123456789"]

[[webhook]]
name = "sms"
url = "http://{receiver}/hook"
secret = "{SECRET}"
backoff_s = 1
backoff_max_s = 2
{extra}
"#
    );
    s
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn call(&self, token: &str, method: Method, path: &str, body: Option<Value>) -> Resp {
        call(
            &self.http,
            method,
            format!("{}{path}", self.base),
            Some(token),
            body.map(|b| b.to_string()),
            &[],
        )
        .await
    }

    #[allow(
        clippy::disallowed_methods,
        reason = "the real binary runs on the real clock; cases are accepted now"
    )]
    async fn accept(&self, id: &str, contact: Option<&str>) {
        let mut body = json!({
            "id": id, "hall": "h1", "matter": "DAYS-2",
            "accepted_at": jiff::Timestamp::now().to_string(),
        });
        if let Some(c) = contact {
            body["applicant"] = json!({"name": "张三", "contact": c});
        }
        let r = self
            .call(OFFICER, Method::POST, "/v1/cases", Some(body))
            .await;
        assert_eq!(r.status.as_u16(), 201, "{:?}", r.body);
    }

    async fn act(&self, id: &str, action: &str, body: Value) {
        let r = self
            .call(
                OFFICER,
                Method::POST,
                &format!("/v1/cases/{id}/{action}"),
                Some(body),
            )
            .await;
        assert_eq!(r.status.as_u16(), 200, "{action}: {:?}", r.body);
    }

    /// The sum of `name`'s series whose labels contain `label`.
    async fn metric(&self, name: &str, label: &str) -> f64 {
        let r = self.call(ADMIN, Method::GET, "/metrics", None).await;
        let text = r.body.as_str().unwrap_or_default().to_owned();
        text.lines()
            .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(label))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

fn client(daemon: &Daemon) -> Client {
    Client {
        http: support::client(),
        base: daemon.base.clone(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_down_for_a_while_gets_every_notification_signed_and_once() {
    let dir = tempfile::tempdir().unwrap();
    let addr = reserve_port();
    let daemon = Hallq::config(dir.path(), &config(dir.path(), addr, "")).spawn();
    let c = client(&daemon);

    // The receiver is not listening: every milestone waits in the outbox.
    c.accept("WH-1", Some(PHONE)).await;
    c.accept("WH-2", Some("138-0013 8000")).await;
    c.accept("WH-QUIET", None).await;
    c.act(
        "WH-1",
        "suspend",
        json!({"reason": "supplement", "missing": ["身份证复印件", "租赁合同"]}),
    )
    .await;
    c.act("WH-1", "resume", json!({})).await;
    c.act(
        "WH-2",
        "outcome",
        json!({"result": "approved", "delivery": "window"}),
    )
    .await;
    let started = Instant::now();
    while c
        .metric("hallq_webhook_deliveries_total", "result=\"failed\"")
        .await
        < 1.0
    {
        assert!(started.elapsed() < PATIENCE, "no attempt failed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let receiver = Receiver::new(200);
    receiver.listen(addr).await;
    // Accepted ×2, suspended, resumed, outcome, ready for pickup; the case without a contact
    // notifies nobody.
    let got = receiver.wait_delivered(6).await;
    // One more, written after all of them: delivery goes in id order, so once it is in, any
    // second delivery of the first six would have come before it.
    c.accept("WH-3", Some(PHONE)).await;
    let got_all = receiver.wait_delivered(7).await;
    assert!(got.keys().all(|k| got_all.contains_key(k)));
    for (id, (hit, times)) in &got_all {
        assert_eq!(*times, 1, "{id} delivered {times} times");
        assert!(hit.signed, "{id}: the signature verifies");
        assert_eq!(hit.body["id"], json!(id), "the body names its delivery id");
        assert!(
            !hit.raw.contains(PHONE) && !hit.raw.contains("0013 8000"),
            "no clear contact in a body: {}",
            hit.raw
        );
        assert_eq!(hit.body["applicant"]["contact_masked"], "138****8000");
        assert_eq!(hit.body["applicant"]["name_masked"], "张*");
        assert!(
            hit.body["applicant"]["contact_hash"]
                .as_str()
                .unwrap()
                .len()
                == 64
        );
    }
    let events: BTreeSet<(String, String)> = got_all
        .values()
        .map(|(h, _)| (h.body["case"].as_str().unwrap().to_owned(), h.event.clone()))
        .collect();
    let want: BTreeSet<(String, String)> = [
        ("WH-1", "case.accepted"),
        ("WH-1", "case.suspended"),
        ("WH-1", "case.resumed"),
        ("WH-2", "case.accepted"),
        ("WH-2", "case.outcome"),
        ("WH-2", "case.ready_for_pickup"),
        ("WH-3", "case.accepted"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_owned(), b.to_owned()))
    .collect();
    assert_eq!(events, want);
    // Both contacts are one number: one hash.
    let hashes: BTreeSet<_> = got_all
        .values()
        .map(|(h, _)| h.body["applicant"]["contact_hash"].to_string())
        .collect();
    assert_eq!(hashes.len(), 1);
    let suspended = got_all
        .values()
        .find(|(h, _)| h.event == "case.suspended")
        .unwrap();
    assert_eq!(
        suspended.0.body["detail"]["missing"],
        json!(["身份证复印件", "租赁合同"]),
        "the 补正 notice lists everything missing"
    );
    let dead = c.call(ADMIN, Method::GET, "/v1/webhooks/dead", None).await;
    assert_eq!(dead.status.as_u16(), 200, "{:?}", dead.body);
    assert_eq!(dead.body["dead"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_undelivered_at_a_sigkill_are_delivered_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let addr = reserve_port();
    let receiver = Receiver::new(503);
    receiver.listen(addr).await;
    let daemon = Hallq::config(dir.path(), &config(dir.path(), addr, "")).spawn();
    let c = client(&daemon);
    c.accept("K-1", Some(PHONE)).await;
    c.accept("K-2", Some(PHONE)).await;
    receiver.wait_hits(1).await;
    let refused: BTreeSet<String> = receiver.hits().into_iter().map(|h| h.delivery).collect();

    let how = daemon.hallq().clone();
    daemon.kill();
    receiver.status.store(200, Ordering::SeqCst);
    let daemon = how.spawn();
    let got = receiver.wait_delivered(2).await;
    let cases: BTreeSet<&str> = got
        .values()
        .map(|(h, _)| h.body["case"].as_str().unwrap())
        .collect();
    assert_eq!(cases, BTreeSet::from(["K-1", "K-2"]));
    assert!(
        refused.iter().all(|id| got.contains_key(id)),
        "a retry carries the delivery id of the refused attempt: {refused:?} vs {:?}",
        got.keys()
    );
    assert!(got.values().all(|(h, n)| h.signed && *n == 1));
    drop(daemon);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_always_fails_leaves_dead_letters_an_admin_replays() {
    let dir = tempfile::tempdir().unwrap();
    let addr = reserve_port();
    let receiver = Receiver::new(500);
    receiver.listen(addr).await;
    let extra = "max_attempts = 2\nevents = [\"case.accepted\"]";
    let daemon = Hallq::config(dir.path(), &config(dir.path(), addr, extra)).spawn();
    let c = client(&daemon);
    c.accept("D-1", Some(PHONE)).await;
    c.accept("D-2", Some(PHONE)).await;
    // Suspensions are not among this webhook's events.
    c.act(
        "D-1",
        "suspend",
        json!({"reason": "supplement", "missing": ["x"]}),
    )
    .await;

    let started = Instant::now();
    let dead = loop {
        let r = c.call(ADMIN, Method::GET, "/v1/webhooks/dead", None).await;
        assert_eq!(r.status.as_u16(), 200, "{:?}", r.body);
        let dead = r.body["dead"].as_array().unwrap().clone();
        if dead.len() == 2 {
            break dead;
        }
        assert!(started.elapsed() < PATIENCE, "dead letters: {dead:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for d in &dead {
        assert_eq!(d["webhook"], "sms");
        assert_eq!(d["event"], "case.accepted");
        assert_eq!(d["attempts"], 2);
        assert!(d["last_error"].as_str().unwrap().contains("500"), "{d:?}");
    }
    assert_eq!(receiver.hits().len(), 4, "two attempts each, then no more");
    assert_eq!(
        c.metric("hallq_webhook_dead_letters_total", "sms").await,
        2.0
    );

    // Only an admin replays, and only a dead letter that exists.
    let id = dead[0]["id"].as_str().unwrap();
    let path = format!("/v1/webhooks/dead/{id}/replay");
    let r = c.call(OFFICER, Method::POST, &path, None).await;
    assert_eq!(r.status.as_u16(), 403, "{:?}", r.body);
    let r = c
        .call(ADMIN, Method::POST, "/v1/webhooks/dead/nope/replay", None)
        .await;
    assert_problem(&r, 404, "unknown-dead-letter", Some("id"));
    let r = c
        .call(OFFICER, Method::GET, "/v1/webhooks/dead", None)
        .await;
    assert_eq!(r.status.as_u16(), 403, "{:?}", r.body);

    receiver.status.store(200, Ordering::SeqCst);
    for d in &dead {
        let path = format!("/v1/webhooks/dead/{}/replay", d["id"].as_str().unwrap());
        let r = c.call(ADMIN, Method::POST, &path, None).await;
        assert_eq!(r.status.as_u16(), 200, "{:?}", r.body);
        assert_eq!(r.body["attempts"], 0);
    }
    let got = receiver.wait_delivered(2).await;
    let ids: BTreeSet<&str> = dead.iter().map(|d| d["id"].as_str().unwrap()).collect();
    assert_eq!(got.keys().map(String::as_str).collect::<BTreeSet<_>>(), ids);
    assert!(got.values().all(|(h, _)| h.signed));
    let r = c.call(ADMIN, Method::GET, "/v1/webhooks/dead", None).await;
    assert_eq!(r.body["dead"], json!([]));
}

/// Every file under `dir`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_with_a_contact_is_told_once_when_its_turn_is_near_and_its_phone_is_never_kept() {
    const TICKET_PHONE: &str = "139-8765 4321";
    let dir = tempfile::tempdir().unwrap();
    let addr = reserve_port();
    let receiver = Receiver::new(200);
    receiver.listen(addr).await;
    let extra = "events = [\"ticket.turn_near\"]\n\n[policy]\nturn_near = 2\n";
    let how = Hallq::config(dir.path(), &config(dir.path(), addr, extra))
        .env("RUST_LOG", "debug")
        .capture_log();
    let daemon = how.spawn();
    let c = client(&daemon);
    let issue = |contact: Option<&'static str>| {
        let c = &c;
        async move {
            let mut body = json!({"service": "s"});
            if let Some(p) = contact {
                body["contact"] = json!(p);
            }
            c.call(KIOSK, Method::POST, "/v1/halls/h1/tickets", Some(body))
                .await
        }
    };
    let call_next = || async {
        let r = c
            .call(
                COUNTER,
                Method::POST,
                "/v1/halls/h1/windows/w1/call",
                Some(json!({})),
            )
            .await;
        assert_eq!(r.status.as_u16(), 200, "{:?}", r.body);
    };

    assert_problem(
        &issue(Some("call me")).await,
        400,
        "invalid-field",
        Some("contact"),
    );
    let first = issue(None).await;
    assert_eq!(first.status.as_u16(), 201, "{:?}", first.body);
    // Second in line at once: told at issue.
    let second = issue(Some(TICKET_PHONE)).await;
    assert_eq!(second.status.as_u16(), 201, "{:?}", second.body);
    assert_eq!(second.body["contact_masked"], "139****4321");
    // Third: told once a call moves it up to second.
    let third = issue(Some(TICKET_PHONE)).await;
    let id = |r: &Resp| r.body["id"].as_str().unwrap().to_owned();
    let got = receiver.wait_delivered(1).await;
    assert_eq!(
        got.values().next().unwrap().0.body["ticket"],
        json!(id(&second))
    );
    let r = c
        .call(
            COUNTER,
            Method::POST,
            "/v1/halls/h1/windows/w1/open",
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status.as_u16(), 200, "{:?}", r.body);
    call_next().await;
    let got = receiver.wait_delivered(2).await;

    for (delivery, (hit, times)) in &got {
        assert_eq!((*times, hit.signed), (1, true), "{delivery}");
        assert_eq!(hit.event, "ticket.turn_near");
        assert_eq!(hit.body["position"], 2, "{}", hit.raw);
        assert_eq!(hit.body["contact"]["contact_masked"], "139****4321");
        let hash = hit.body["contact"]["contact_hash"].as_str().unwrap();
        assert_eq!(
            hash.len(),
            64,
            "a keyed hash the gateway looks the number up by"
        );
        assert!(
            !hit.raw.contains("9876543") && !hit.raw.contains("8765 4321"),
            "{}",
            hit.raw
        );
    }
    let told: BTreeSet<String> = got
        .values()
        .map(|(h, _)| h.body["ticket"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(told, BTreeSet::from([id(&second), id(&third)]));

    // Moving up further tells nobody twice, also after a restart: a later ticket's
    // notice arrives after anything written before it.
    call_next().await;
    let log = daemon.log();
    let daemon = daemon.restart();
    let c = client(&daemon);
    let r = c
        .call(
            COUNTER,
            Method::POST,
            "/v1/halls/h1/windows/w1/call",
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status.as_u16(), 200, "{:?}", r.body);
    let fourth = c
        .call(
            KIOSK,
            Method::POST,
            "/v1/halls/h1/tickets",
            Some(json!({"service": "s", "contact": "13987654321"})),
        )
        .await;
    assert_eq!(fourth.status.as_u16(), 201, "{:?}", fourth.body);
    let got = receiver.wait_delivered(3).await;
    assert!(got.values().all(|(_, n)| *n == 1));
    let told: Vec<String> = got
        .values()
        .map(|(h, _)| h.body["ticket"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(told.len(), 3, "{told:?}");
    assert!(told.contains(&id(&fourth)));
    // Both spellings of one phone: one hash.
    let hashes: BTreeSet<String> = got
        .values()
        .map(|(h, _)| h.body["contact"]["contact_hash"].to_string())
        .collect();
    assert_eq!(hashes.len(), 1);

    let mut lines = log;
    lines.extend(daemon.terminate());
    assert!(!lines.is_empty(), "the debug log was captured");
    let needles = ["13987654321", "9876543", "8765 4321"];
    assert_no_clear_text(&lines, how.data_dir(), &needles);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_tells_its_applicant_once_when_every_matter_is_decided() {
    let dir = tempfile::tempdir().unwrap();
    let addr = reserve_port();
    let receiver = Receiver::new(200);
    receiver.listen(addr).await;
    let extra = "events = [\"bundle.ready\"]\n";
    let daemon = Hallq::config(dir.path(), &config(dir.path(), addr, extra)).spawn();
    let c = client(&daemon);
    #[allow(
        clippy::disallowed_methods,
        reason = "the real binary runs on the real clock; bundles are accepted now"
    )]
    let now = jiff::Timestamp::now().to_string();
    let accept = |id: &'static str, matters: Value| {
        let (c, now) = (&c, now.clone());
        async move {
            let body = json!({"id": id, "hall": "h1", "matters": matters, "accepted_at": now,
                              "applicant": {"name": "张三", "contact": PHONE}});
            let r = c
                .call(OFFICER, Method::POST, "/v1/bundles", Some(body))
                .await;
            assert_eq!(r.status.as_u16(), 201, "{:?}", r.body);
        }
    };
    let approve = json!({"result": "approved", "delivery": "window"});
    accept("YJS-A", json!(["DAYS-2", "OFFICIAL-3WD", "FAST"])).await;
    c.act("YJS-A-1", "outcome", approve.clone()).await;
    c.act("YJS-A-3", "withdraw", json!({"reason": "no longer needed"}))
        .await;
    // The last undecided matter decides the bundle: ready.
    c.act("YJS-A-2", "outcome", approve.clone()).await;
    let r = c
        .call(
            OFFICER,
            Method::POST,
            "/v1/bundles/YJS-A/deliver",
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status.as_u16(), 200, "{:?}", r.body);
    // A later bundle's notice comes after anything written before it.
    accept("YJS-B", json!(["DAYS-2"])).await;
    c.act("YJS-B-1", "outcome", approve).await;
    let got = receiver.wait_delivered(2).await;
    let bundles: Vec<&str> = got
        .values()
        .map(|(h, _)| h.body["bundle"].as_str().unwrap())
        .collect();
    assert_eq!(bundles, ["YJS-A", "YJS-B"], "each bundle once");
    for (hit, times) in got.values() {
        assert_eq!((*times, hit.signed), (1, true));
        assert_eq!(hit.event, "bundle.ready");
        assert_eq!(hit.body["detail"]["state"], "ready", "{}", hit.raw);
        assert_eq!(hit.body["applicant"]["contact_masked"], "138****8000");
        assert!(!hit.raw.contains(PHONE), "{}", hit.raw);
    }
    let a = &got.values().next().unwrap().0.body["detail"]["members"];
    assert_eq!(a[2]["state"], "withdrawn");
    drop(daemon);
}
