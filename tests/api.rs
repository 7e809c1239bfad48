//! The HTTP API against the real server on port 0.

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::*;

const WINDOWS: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_windows_call_every_ticket_exactly_once() {
    let srv = start(&config(WINDOWS)).await;
    for w in 1..=WINDOWS {
        let r = srv
            .post(
                COUNTER,
                &format!("/v1/halls/h1/windows/w{w}/open"),
                json!({}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    }
    const KIOSKS: usize = 4;
    const PER_KIOSK: usize = 150;
    const CALLERS_PER_WINDOW: usize = 2;
    let issuing_done = Arc::new(AtomicBool::new(false));

    let kiosks: Vec<_> = (0..KIOSKS)
        .map(|k| {
            let (http, base) = (srv.http.clone(), srv.base.clone());
            tokio::spawn(async move {
                let mut issued = Vec::new();
                for i in 0..PER_KIOSK {
                    let service = if (i + k) % 3 == 0 { "t" } else { "s" };
                    let class = if i % 5 == 0 { "priority" } else { "normal" };
                    let r = call(
                        &http,
                        Method::POST,
                        format!("{base}/v1/halls/h1/tickets"),
                        Some(KIOSK),
                        Some(json!({ "service": service, "class": class }).to_string()),
                        &[],
                    )
                    .await;
                    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
                    issued.push(r.body["id"].as_str().unwrap().to_owned());
                }
                issued
            })
        })
        .collect();

    let callers: Vec<_> = (0..WINDOWS * CALLERS_PER_WINDOW)
        .map(|c| {
            let (http, base, done) = (srv.http.clone(), srv.base.clone(), issuing_done.clone());
            let window = c % WINDOWS + 1;
            tokio::spawn(async move {
                let mut called = Vec::new();
                loop {
                    // Read the flag before calling: a 204 after issuing finished means the
                    // queue is really empty.
                    let finished = done.load(Ordering::Acquire);
                    let r = call(
                        &http,
                        Method::POST,
                        format!("{base}/v1/halls/h1/windows/w{window}/call"),
                        Some(COUNTER),
                        None,
                        &[],
                    )
                    .await;
                    match r.status {
                        StatusCode::OK => {
                            assert_eq!(r.body["window"], format!("w{window}"));
                            assert_eq!(r.body["status"], "called");
                            called.push(r.body["id"].as_str().unwrap().to_owned());
                        }
                        StatusCode::NO_CONTENT if finished => return called,
                        StatusCode::NO_CONTENT => tokio::task::yield_now().await,
                        s => panic!("call answered {s}: {:?}", r.body),
                    }
                }
            })
        })
        .collect();

    let mut issued = Vec::new();
    for k in kiosks {
        issued.extend(k.await.unwrap());
    }
    issuing_done.store(true, Ordering::Release);
    let mut called = Vec::new();
    for c in callers {
        called.extend(c.await.unwrap());
    }

    assert_eq!(issued.len(), KIOSKS * PER_KIOSK);
    let unique_issued: HashSet<&String> = issued.iter().collect();
    assert_eq!(unique_issued.len(), issued.len(), "ticket ids are unique");
    let unique_called: HashSet<&String> = called.iter().collect();
    assert_eq!(
        unique_called.len(),
        called.len(),
        "no ticket was called twice"
    );
    assert_eq!(
        unique_called, unique_issued,
        "every issued ticket was called"
    );
    // Numbers are unique per service, and each service's numbers are 1..=n without gaps.
    for (service, prefix) in [("s", "A"), ("t", "B")] {
        let r = srv
            .get(ADMIN, &format!("/v1/halls/h1/tickets?service={service}"))
            .await;
        let mut numbers: Vec<u32> = r
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                t["number"]
                    .as_str()
                    .unwrap()
                    .strip_prefix(prefix)
                    .unwrap()
                    .parse()
                    .unwrap()
            })
            .collect();
        numbers.sort_unstable();
        assert_eq!(numbers, (1..=numbers.len() as u32).collect::<Vec<_>>());
    }
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_goes_through_its_life_and_the_display_sees_it() {
    let srv = start(&config(2)).await;
    let mut display = subscribe(&srv.base, "h1", DISPLAY, None).await;
    let snap = next(&mut display, "the first snapshot").await;
    assert_eq!(snap.event, "snapshot");
    let ids: Vec<&str> = snap.data["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["w1", "w2"]);
    let services: Vec<&str> = snap.data["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(services, ["s", "t"]);

    let t = srv
        .post(KIOSK, "/v1/halls/h1/tickets", json!({"service": "s"}))
        .await;
    assert_eq!(t.status, StatusCode::CREATED);
    for field in [
        "id",
        "number",
        "service",
        "status",
        "position",
        "estimated_wait_s",
    ] {
        assert!(
            t.body.get(field).is_some(),
            "ticket has `{field}`: {}",
            t.body
        );
    }
    assert_eq!(
        (
            t.body["number"].as_str(),
            t.body["status"].as_str(),
            t.body["position"].as_u64()
        ),
        (Some("A001"), Some("waiting"), Some(1))
    );
    let id = t.body["id"].as_str().unwrap().to_owned();

    srv.post(COUNTER, "/v1/halls/h1/windows/w2/open", json!({}))
        .await;
    let c = srv
        .post(COUNTER, "/v1/halls/h1/windows/w2/call", json!({}))
        .await;
    assert_eq!(c.status, StatusCode::OK);
    assert_eq!(
        (c.body["id"].as_str(), c.body["window"].as_str()),
        (Some(id.as_str()), Some("w2"))
    );
    assert_eq!(
        srv.post(COUNTER, "/v1/halls/h1/windows/w2/start", json!({}))
            .await
            .status,
        StatusCode::OK
    );
    let done = srv
        .post(
            COUNTER,
            "/v1/halls/h1/windows/w2/complete",
            json!({"evaluation": 5}),
        )
        .await;
    assert_eq!(
        (
            done.body["status"].as_str(),
            done.body["evaluation"].as_u64()
        ),
        (Some("done"), Some(5))
    );
    assert_eq!(
        srv.post(COUNTER, "/v1/halls/h1/windows/w2/call", json!({}))
            .await
            .status,
        StatusCode::NO_CONTENT
    );

    let kinds = ["issued", "window_opened", "called", "started", "completed"];
    let mut last = snap.id;
    for kind in kinds {
        let e = next(&mut display, kind).await;
        assert_eq!(e.event, kind);
        assert_eq!(e.id, last + 1, "ids are gap-free");
        last = e.id;
        if kind == "called" {
            assert_eq!(e.data["number"], "A001");
            assert_eq!(e.data["window"], "w2");
            assert_eq!(e.data["announcement"], "请A001号到2号窗口办理");
            assert_eq!(e.data["reason"], "fifo");
        }
    }
    let view = srv
        .get(DISPLAY, &format!("/v1/halls/h1/tickets/{id}"))
        .await;
    assert_eq!(view.body["status"], "done");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_display_resuming_with_last_event_id_gets_exactly_what_it_missed() {
    let srv = start(&config(2)).await;
    srv.post(COUNTER, "/v1/halls/h1/windows/w1/open", json!({}))
        .await;
    for _ in 0..3 {
        srv.post(KIOSK, "/v1/halls/h1/tickets", json!({"service": "s"}))
            .await;
    }
    // Seen so far: events 1..=4. Then the display goes away and more happens.
    for _ in 0..2 {
        srv.post(COUNTER, "/v1/halls/h1/windows/w1/call", json!({}))
            .await;
    }
    let snap = srv.get(DISPLAY, "/v1/halls/h1").await;
    let head = snap.body["seq"].as_u64().unwrap();
    let mut rx = subscribe(&srv.base, "h1", DISPLAY, Some(4)).await;
    let mut ids = Vec::new();
    while ids.last() != Some(&head) {
        let e = next(&mut rx, "a missed event").await;
        assert_ne!(
            e.event, "snapshot",
            "the log still holds the point, so no snapshot"
        );
        ids.push(e.id);
    }
    assert_eq!(ids, (5..=head).collect::<Vec<_>>());
    // And then live events continue the sequence.
    srv.post(KIOSK, "/v1/halls/h1/tickets", json!({"service": "t"}))
        .await;
    let e = next(&mut rx, "the live event").await;
    assert_eq!((e.id, e.event.as_str()), (head + 1, "issued"));

    // A point ahead of the log gets a snapshot first.
    let mut rx = subscribe(&srv.base, "h1", DISPLAY, Some(10_000)).await;
    assert_eq!(next(&mut rx, "a snapshot").await.event, "snapshot");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_point_older_than_the_retained_log_gets_a_snapshot_first() {
    let text = config(1).replace("event_retention = 100000", "event_retention = 100");
    let srv = start(&text).await;
    for _ in 0..150 {
        srv.post(KIOSK, "/v1/halls/h1/tickets", json!({"service": "s"}))
            .await;
    }
    // Retention is applied by the checkpointer, on its own thread every second: until it has
    // pruned, the log still holds event 4 and a resume is rightly served from it. So resume
    // until the prune is visible (bounded: it must happen within a few checkpoints).
    let mut attempts = 0;
    let (mut rx, first) = loop {
        let mut rx = subscribe(&srv.base, "h1", DISPLAY, Some(3)).await;
        let first = next(&mut rx, "the first event").await;
        if first.event == "snapshot" {
            break (rx, first);
        }
        assert_eq!(
            first.id, 4,
            "before the prune the log serves what was missed"
        );
        attempts += 1;
        assert!(
            attempts < 200,
            "retention never pruned event 4 from the log"
        );
        drop(rx);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(first.id, 150);
    assert_eq!(first.data["services"][0]["waiting"], 150);
    srv.post(KIOSK, "/v1/halls/h1/tickets", json!({"service": "s"}))
        .await;
    assert_eq!(next(&mut rx, "the next event").await.id, 151);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_problem_naming_what_is_wrong() {
    let srv = start(&config(1)).await;
    let expect = |r: &Resp, status: u16, kind: &str, field: Option<&str>| {
        assert_eq!(r.status.as_u16(), status, "{:?}", r.body);
        assert_eq!(r.content_type, "application/problem+json", "{:?}", r.body);
        assert_eq!(
            r.body["type"],
            format!("urn:hallq:problem:{kind}"),
            "{:?}",
            r.body
        );
        assert_eq!(r.body["status"], status);
        assert!(r.body["detail"].as_str().is_some_and(|d| !d.is_empty()));
        assert_eq!(r.body["field"].as_str(), field, "{:?}", r.body);
    };
    let post_raw = |token: Option<&'static str>, path: &'static str, body: &'static str| {
        call(
            &srv.http,
            Method::POST,
            format!("{}{path}", srv.base),
            token,
            Some(body.to_owned()),
            &[],
        )
    };

    // Unknown hall, window, service, ticket: 404.
    expect(
        &srv.post(KIOSK, "/v1/halls/nowhere/tickets", json!({"service": "s"}))
            .await,
        404,
        "unknown-hall",
        Some("hall"),
    );
    expect(
        &srv.post(COUNTER, "/v1/halls/h1/windows/w9/call", json!({}))
            .await,
        404,
        "unknown-window",
        Some("window"),
    );
    let r = srv
        .post(KIOSK, "/v1/halls/h1/tickets", json!({"service": "nope"}))
        .await;
    expect(&r, 404, "unknown-service", Some("service"));
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .contains("services: s, t")
    );
    expect(
        &srv.get(KIOSK, "/v1/halls/h1/tickets/20200101-A001").await,
        404,
        "unknown-ticket",
        Some("ticket"),
    );
    expect(
        &srv.post(COUNTER, "/v1/halls/h1/windows/w1/dance", json!({}))
            .await,
        404,
        "unknown-action",
        Some("action"),
    );
    expect(
        &srv.get(KIOSK, "/v1/nothing/here").await,
        404,
        "no-such-path",
        None,
    );

    // Malformed and mistyped JSON: 400 naming the field.
    expect(
        &post_raw(Some(KIOSK), "/v1/halls/h1/tickets", "{\"service\": ").await,
        400,
        "malformed-json",
        None,
    );
    expect(
        &srv.post(KIOSK, "/v1/halls/h1/tickets", json!({"service": 7}))
            .await,
        400,
        "invalid-field",
        Some("service"),
    );
    expect(
        &srv.post(
            KIOSK,
            "/v1/halls/h1/tickets",
            json!({"service": "s", "class": "vip"}),
        )
        .await,
        400,
        "invalid-field",
        Some("class"),
    );
    expect(
        &srv.post(KIOSK, "/v1/halls/h1/tickets", json!({"class": "normal"}))
            .await,
        400,
        "missing-field",
        Some("service"),
    );
    expect(
        &srv.post(
            KIOSK,
            "/v1/halls/h1/tickets",
            json!({"service": "s", "colour": 1}),
        )
        .await,
        400,
        "unknown-field",
        Some("colour"),
    );
    expect(
        &srv.post(
            KIOSK,
            "/v1/halls/h1/tickets",
            json!({"service": "s", "slot": "tomorrow"}),
        )
        .await,
        400,
        "invalid-field",
        Some("slot"),
    );
    expect(
        &srv.post(
            COUNTER,
            "/v1/halls/h1/windows/w1/complete",
            json!({"evaluation": "good"}),
        )
        .await,
        400,
        "invalid-field",
        Some("evaluation"),
    );
    expect(
        &srv.post(COUNTER, "/v1/halls/h1/windows/w1/pause", json!({}))
            .await,
        400,
        "missing-field",
        Some("reason"),
    );
    let big = format!("{{\"service\": \"{}\"}}", "x".repeat(100_000));
    let r = call(
        &srv.http,
        Method::POST,
        format!("{}/v1/halls/h1/tickets", srv.base),
        Some(KIOSK),
        Some(big),
        &[],
    )
    .await;
    expect(&r, 413, "body-too-large", None);

    // Values that can never be right: 422 naming the field; state conflicts: 409.
    expect(
        &srv.post(
            KIOSK,
            "/v1/halls/h1/tickets",
            json!({"service": "s", "class": "appointment"}),
        )
        .await,
        422,
        "slot-required",
        Some("slot"),
    );
    expect(
        &srv.post(COUNTER, "/v1/halls/h1/windows/w1/call", json!({}))
            .await,
        409,
        "window-closed",
        None,
    );

    // Missing or unknown token: 401 with a challenge.
    let r = call(
        &srv.http,
        Method::POST,
        format!("{}/v1/halls/h1/tickets", srv.base),
        None,
        Some("{}".into()),
        &[],
    )
    .await;
    expect(&r, 401, "unauthorized", None);
    expect(
        &srv.post(
            "not-a-token",
            "/v1/halls/h1/tickets",
            json!({"service": "s"}),
        )
        .await,
        401,
        "unauthorized",
        None,
    );

    // Wrong role or hall: 403.
    expect(
        &srv.post(DISPLAY, "/v1/halls/h1/tickets", json!({"service": "s"}))
            .await,
        403,
        "forbidden",
        None,
    );
    expect(
        &srv.post(KIOSK, "/v1/halls/h1/windows/w1/open", json!({}))
            .await,
        403,
        "forbidden",
        None,
    );
    expect(
        &srv.post(H2_COUNTER, "/v1/halls/h1/windows/w1/open", json!({}))
            .await,
        403,
        "forbidden",
        None,
    );
    expect(
        &srv.post(H1_KIOSK, "/v1/halls/other/tickets", json!({"service": "s"}))
            .await,
        403,
        "forbidden",
        None,
    );

    // Nothing of the above left a trace: no ticket was issued, no window opened.
    let snap = srv.get(ADMIN, "/v1/halls/h1").await;
    assert_eq!(snap.body["seq"], 0, "no event was recorded: {}", snap.body);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_city_token_covers_its_subtree_only() {
    let srv = start(&config(1)).await;
    // The h1 kiosk reaches h2 (a township under h1) but not `other`.
    let r = srv
        .post(H1_KIOSK, "/v1/halls/h2/tickets", json!({"service": "s"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let halls = srv.get(H1_KIOSK, "/v1/halls").await;
    let ids: Vec<&str> = halls
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["h1", "h2"]);
    let all = srv.get(ADMIN, "/v1/halls").await;
    assert_eq!(all.body.as_array().unwrap().len(), 3);
    assert_eq!(all.body[1]["parent"], "h1");
    assert_eq!(all.body[1]["tier"], "township");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_idempotency_key_calls_one_ticket_only() {
    let srv = start(&config(1)).await;
    srv.post(COUNTER, "/v1/halls/h1/windows/w1/open", json!({}))
        .await;
    for _ in 0..2 {
        srv.post(KIOSK, "/v1/halls/h1/tickets", json!({"service": "s"}))
            .await;
    }
    let url = format!("{}/v1/halls/h1/windows/w1/call", srv.base);
    let key = [("Idempotency-Key", "call-7f3a")];
    // The same call sent twice at once and once more later.
    let (a, b) = tokio::join!(
        call(
            &srv.http,
            Method::POST,
            url.clone(),
            Some(COUNTER),
            None,
            &key
        ),
        call(
            &srv.http,
            Method::POST,
            url.clone(),
            Some(COUNTER),
            None,
            &key
        ),
    );
    let c = call(
        &srv.http,
        Method::POST,
        url.clone(),
        Some(COUNTER),
        None,
        &key,
    )
    .await;
    for r in [&a, &b, &c] {
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(
            r.body["number"], "A001",
            "every retry answers the first call"
        );
    }
    let waiting = srv.get(ADMIN, "/v1/halls/h1/tickets?status=waiting").await;
    assert_eq!(
        waiting.body.as_array().unwrap().len(),
        1,
        "A002 was not called by a retry"
    );
    assert_eq!(waiting.body[0]["number"], "A002");

    // A key reused for another request is refused.
    let other = call(
        &srv.http,
        Method::POST,
        format!("{}/v1/halls/h1/tickets", srv.base),
        Some(COUNTER),
        Some(json!({"service": "s"}).to_string()),
        &key,
    )
    .await;
    assert_eq!(other.status.as_u16(), 422);
    assert_eq!(
        other.body["type"],
        "urn:hallq:problem:idempotency-key-reused"
    );

    // Issuing with a key twice gives one ticket.
    let issue = |body: Value| {
        call(
            &srv.http,
            Method::POST,
            format!("{}/v1/halls/h1/tickets", srv.base),
            Some(KIOSK),
            Some(body.to_string()),
            &[("Idempotency-Key", "kiosk-1-0042")],
        )
    };
    let first = issue(json!({"service": "t"})).await;
    let again = issue(json!({"service": "t"})).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(first.body, again.body);
    let t = srv.get(ADMIN, "/v1/halls/h1/tickets?service=t").await;
    assert_eq!(t.body.as_array().unwrap().len(), 1);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness() {
    let srv = start(&config(1)).await;
    let h = call(
        &srv.http,
        Method::GET,
        format!("{}/healthz", srv.base),
        None,
        None,
        &[],
    )
    .await;
    assert_eq!(h.status, StatusCode::OK);
    let r = call(
        &srv.http,
        Method::GET,
        format!("{}/readyz", srv.base),
        None,
        None,
        &[],
    )
    .await;
    assert_eq!(r.body["status"], "ready");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_does_not_read_is_cut_off_and_never_holds_up_the_writer() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let text = config(1)
        .replacen("prefix = \"A\"\n", "prefix = \"A\"\nlast = 99999\n", 1)
        .replace("[store]", "[server]\nsse_buffer = 16\n\n[store]");
    let srv = start(&text).await;

    // A display that connects and then stops reading, with a tiny receive window.
    let addr: std::net::SocketAddr = srv.base.trim_start_matches("http://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut slow = socket.connect(addr).await.unwrap();
    let request = format!(
        "GET /v1/halls/h1/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {DISPLAY}\r\nConnection: close\r\n\r\n"
    );
    slow.write_all(request.as_bytes()).await.unwrap();

    // Meanwhile the hall keeps working: every issue is answered.
    const N: usize = 20_000;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (http, base) = (srv.http.clone(), srv.base.clone());
            tokio::spawn(async move {
                for _ in 0..N / 8 {
                    let r = call(
                        &http,
                        Method::POST,
                        format!("{base}/v1/halls/h1/tickets"),
                        Some(KIOSK),
                        Some(json!({"service": "s"}).to_string()),
                        &[],
                    )
                    .await;
                    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }

    // Now the display reads: it gets what was buffered, then the server ends the stream.
    let mut received = Vec::new();
    let read_all = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        slow.read_to_end(&mut received),
    )
    .await;
    assert!(read_all.is_ok(), "the server ended the lagging stream");
    let text = String::from_utf8_lossy(&received);
    let ids: Vec<u64> = text
        .lines()
        .filter_map(|l| l.strip_prefix("id: "))
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    let last = *ids.last().expect("some events arrived before the cut");
    eprintln!(
        "the slow display got {} events, the last {last}, of {N}",
        ids.len()
    );
    assert!(
        last < N as u64,
        "the stream was cut before the end ({last} of {N})"
    );

    // It resumes from its last id without a gap.
    let mut resumed = subscribe(&srv.base, "h1", DISPLAY, Some(last)).await;
    assert_eq!(next(&mut resumed, "the next event").await.id, last + 1);
    let metrics = call(
        &srv.http,
        Method::GET,
        format!("{}/metrics", srv.base),
        None,
        None,
        &[],
    )
    .await;
    let dropped = metrics
        .body
        .as_str()
        .unwrap()
        .lines()
        .find(|l| l.starts_with("hallq_sse_dropped_total{stream=\"hall\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .unwrap();
    assert!(dropped >= 1.0, "the cut is counted");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_are_read_in_either_case_as_the_config_writes_them() {
    let srv = start(&config(2)).await;
    for (window, post) in [("w1", "a"), ("w2", "B")] {
        let r = srv
            .post(
                COUNTER,
                &format!("/v1/halls/h1/windows/{window}/sign-in"),
                json!({ "post": post, "officer": "o1" }),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{post}: {:?}", r.body);
    }
    let r = srv
        .post(
            COUNTER,
            "/v1/halls/h1/windows/w1/sign-in",
            json!({ "post": "c", "officer": "o1" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    assert_eq!(r.body["field"], "post", "{:?}", r.body);
}
