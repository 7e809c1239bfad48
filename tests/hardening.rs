//! The daemon under hostile or failing clients, against the real server: connections that
//! never finish a head or a body, a flood at the connection cap, displays that stop
//! reading, one ticket link opened many times, and input that is malformed in every way the
//! issue lists. No test asserts a duration: timeouts are set to a second in the config, and
//! the tests wait for what the server does (a closed socket, an admitted subscriber), each
//! wait bounded only so a failure cannot hang the suite.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `config(1)` with these lines added to `[server]`.
fn with_server(lines: &str) -> String {
    with_server_settings(
        &config(1).replacen("prefix = \"A\"\n", "prefix = \"A\"\nlast = 99999\n", 1),
        lines,
    )
}

fn addr(srv: &Server) -> SocketAddr {
    srv.base.trim_start_matches("http://").parse().unwrap()
}

/// A connection that has sent `bytes` and then nothing.
async fn raw(srv: &Server, bytes: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr(srv)).await.unwrap();
    s.write_all(bytes.as_bytes()).await.unwrap();
    s
}

/// Read until the server closes the connection; what it sent before closing.
async fn until_closed(s: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(60), async {
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server never closed the connection");
    String::from_utf8_lossy(&got).into_owned()
}

/// A client with no connection pool, so each request opens its own connection.
fn fresh() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn get(http: &reqwest::Client, url: String, token: Option<&str>) -> Resp {
    call(http, Method::GET, url, token, None, &[]).await
}

fn problem(r: &Resp, status: u16, kind: &str) {
    assert_eq!(r.status.as_u16(), status, "{:?}", r.body);
    assert_eq!(r.content_type, "application/problem+json", "{:?}", r.body);
    assert_eq!(
        r.body["type"],
        format!("urn:hallq:problem:{kind}"),
        "{:?}",
        r.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_connections_are_closed_while_normal_requests_answer() {
    let srv = start(&with_server(
        "header_timeout_s = 1\nidle_timeout_s = 1\nbody_timeout_s = 1",
    ))
    .await;
    // Half a head, a connection that sends nothing, and a body that stops halfway.
    let mut slow_head = raw(&srv, "GET /v1/halls HTTP/1.1\r\nHost: x\r\nAuthoriz").await;
    let mut silent = raw(&srv, "").await;
    let mut half_body = raw(
        &srv,
        &format!(
            "POST /v1/halls/h1/tickets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KIOSK}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"service\":"
        ),
    )
    .await;

    // Meanwhile normal requests answer.
    let r = get(&fresh(), format!("{}/healthz", srv.base), None).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = get(&fresh(), format!("{}/v1/halls", srv.base), Some(KIOSK)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    // The slow ones are closed by the server; the half body is told why first.
    assert_eq!(until_closed(&mut slow_head).await, "");
    assert_eq!(until_closed(&mut silent).await, "");
    let answer = until_closed(&mut half_body).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert!(
        answer.contains("urn:hallq:problem:body-timeout"),
        "{answer}"
    );
    // Nothing half-sent was stored.
    let tickets = srv.get(KIOSK, "/v1/halls/h1/tickets").await;
    assert_eq!(
        tickets.body.as_array().map(Vec::len),
        Some(0),
        "{:?}",
        tickets.body
    );

    // A keep-alive connection that goes quiet after an answer is closed too.
    let mut idle = raw(&srv, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let answer = until_closed(&mut idle).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(answer.matches("HTTP/1.1").count(), 1);

    let metrics = get(&fresh(), format!("{}/metrics", srv.base), None).await;
    let text = metrics.body.as_str().unwrap();
    for reason in ["header_timeout", "idle_timeout"] {
        assert!(
            text.contains(&format!(
                "hallq_connections_closed_total{{reason=\"{reason}\"}}"
            )),
            "{reason} counted"
        );
    }
    srv.stop().await;
}

/// A ticket in `h1` and the `k` of its link (on connections of their own, closed after).
async fn ticket_link(srv: &Server) -> (String, String) {
    let t = call(
        &fresh(),
        Method::POST,
        format!("{}/v1/halls/h1/tickets", srv.base),
        Some(KIOSK),
        Some(json!({"service": "s"}).to_string()),
        &[],
    )
    .await;
    assert_eq!(t.status, StatusCode::CREATED, "{:?}", t.body);
    let id = t.body["id"].as_str().unwrap().to_owned();
    let link = get(
        &fresh(),
        format!(
            "{}/v1/halls/h1/tickets/{id}/link?base=http://hall.example",
            srv.base
        ),
        Some(KIOSK),
    )
    .await;
    assert_eq!(link.status, StatusCode::OK, "{:?}", link.body);
    (id, link.body["k"].as_str().unwrap().to_owned())
}

/// Open a citizen's ticket-page stream; the response (kept open) or the refusal.
async fn ticket_page(
    http: &reqwest::Client,
    base: &str,
    id: &str,
    k: &str,
) -> Result<reqwest::Response, Resp> {
    let r = http
        .get(format!(
            "{base}/v1/halls/h1/tickets/{id}/public/events?k={k}"
        ))
        .timeout(Duration::from_secs(3600))
        .send()
        .await
        .unwrap();
    if r.status() == StatusCode::OK {
        return Ok(r);
    }
    let status = r.status();
    let headers = r.headers().clone();
    let content_type = headers
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let retry_after = headers.get("retry-after").is_some();
    let body: Value = r.json().await.unwrap();
    assert!(retry_after, "a refusal says when to retry");
    Err(Resp {
        status,
        body,
        content_type,
        headers,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_connection_cap_requests_with_a_token_and_probes_still_get_through() {
    let srv = start(&with_server(
        "max_connections = 6\nreserved_connections = 2\nmax_streams_per_link = 100\nheader_timeout_s = 600",
    ))
    .await;
    let (id, k) = ticket_link(&srv).await;
    // Citizens' pages take the ordinary slots and keep them (a stream is always busy),
    // until one lands on a reserved slot, which a request without a token may not use.
    let pages = fresh();
    let mut open = Vec::new();
    let refused = loop {
        match ticket_page(&pages, &srv.base, &id, &k).await {
            Ok(page) => open.push(page),
            Err(refused) => break refused,
        }
        assert!(open.len() <= 4, "only the four ordinary slots take pages");
    };
    problem(&refused, 503, "overloaded");
    assert!(!open.is_empty());
    // A kiosk with its token, and the health probes, are served.
    let r = get(&fresh(), format!("{}/v1/halls", srv.base), Some(KIOSK)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    for probe in ["/healthz", "/readyz", "/metrics"] {
        let r = get(&fresh(), format!("{}{probe}", srv.base), None).await;
        assert_eq!(r.status, StatusCode::OK, "{probe}: {:?}", r.body);
    }
    // Silent connections fill what is left: at the cap, the connection that has waited
    // longest for a head is closed to make room, so the kiosk still gets in.
    let mut silent = Vec::new();
    for _ in 0..6 {
        silent.push(raw(&srv, "").await);
    }
    let r = get(&fresh(), format!("{}/v1/halls", srv.base), Some(KIOSK)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        until_closed(&mut silent[0]).await,
        "",
        "the oldest silent connection made room"
    );
    let metrics = get(&fresh(), format!("{}/metrics", srv.base), None).await;
    let text = metrics.body.as_str().unwrap();
    assert!(text.contains("hallq_connections_closed_total{reason=\"evicted\"}"));
    assert!(text.contains("hallq_connections_refused_total{reason=\"reserve\"}"));
    // The citizens' pages were never touched: the first still hears the hall.
    let first = open.remove(0);
    let mut events = first.bytes_stream();
    use futures::StreamExt;
    let opened = call(
        &fresh(),
        Method::POST,
        format!("{}/v1/halls/h1/windows/w1/open", srv.base),
        Some(COUNTER),
        Some("{}".into()),
        &[],
    )
    .await;
    assert_eq!(opened.status, StatusCode::OK, "{:?}", opened.body);
    let called = call(
        &fresh(),
        Method::POST,
        format!("{}/v1/halls/h1/windows/w1/call", srv.base),
        Some(COUNTER),
        Some("{}".into()),
        &[],
    )
    .await;
    assert_eq!(called.status, StatusCode::OK, "{:?}", called.body);
    let mut seen = String::new();
    while !seen.contains("event: call") {
        let chunk = tokio::time::timeout(Duration::from_secs(30), events.next())
            .await
            .expect("the page hears the call")
            .expect("the page's stream is open")
            .unwrap();
        seen += &String::from_utf8_lossy(&chunk);
    }
    drop(silent);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_gets_at_most_its_share_of_connections() {
    let srv = start(&with_server(
        "max_connections_per_address = 3\nlimit_loopback = true\nheader_timeout_s = 600",
    ))
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(raw(&srv, "").await);
    }
    // A fourth connection from the same address is closed at once, unanswered.
    let mut fourth = raw(&srv, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(until_closed(&mut fourth).await, "");
    // When one of the three goes, there is room again.
    drop(held.pop());
    let mut served = false;
    for _ in 0..100 {
        if let Ok(r) = fresh().get(format!("{}/healthz", srv.base)).send().await
            && r.status() == StatusCode::OK
        {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(served, "a connection was admitted once one closed");
    drop(held);
    srv.stop().await;

    // Loopback clients are not counted unless asked for.
    let srv = start(&with_server("max_connections_per_address = 2")).await;
    let held: Vec<_> = futures::future::join_all((0..4).map(|_| raw(&srv, ""))).await;
    let r = get(&fresh(), format!("{}/healthz", srv.base), None).await;
    assert_eq!(r.status, StatusCode::OK);
    drop(held);
    srv.stop().await;
}

/// The ids of the complete events in a raw SSE response.
fn complete_ids(text: &str) -> Vec<u64> {
    let mut frames: Vec<&str> = text.split("\n\n").collect();
    frames.pop(); // whatever follows the last "\n\n" is not a complete event
    frames
        .iter()
        .filter(|f| f.contains("\ndata: "))
        .filter_map(|f| {
            f.lines()
                .find_map(|l| l.strip_prefix("id: "))
                .and_then(|v| v.trim().parse().ok())
        })
        .collect()
}

fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_displays_are_cut_off_and_new_displays_admitted() {
    let srv = start(&with_server(
        "max_subscribers = 2\nsse_max_lag_events = 8\nsse_max_lag_s = 3600",
    ))
    .await;
    let scrape = || async {
        let r = get(&fresh(), format!("{}/metrics", srv.base), None).await;
        r.body.as_str().unwrap().to_owned()
    };
    let dropped_before = metric(&scrape().await, "hallq_sse_dropped_total{stream=\"hall\"}");

    // Two displays subscribe and never read again, with small receive windows.
    let mut stalled = Vec::new();
    for _ in 0..2 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut s = socket.connect(addr(&srv)).await.unwrap();
        s.write_all(
            format!(
                "GET /v1/halls/h1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {DISPLAY}\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        stalled.push(s);
    }
    // Every slot is taken: a new display is refused.
    let mut refused = false;
    for _ in 0..100 {
        let http = fresh();
        let r = get(
            &http,
            format!("{}/v1/halls/h1/events", srv.base),
            Some(DISPLAY),
        );
        let r = tokio::time::timeout(Duration::from_secs(2), r).await;
        if let Ok(r) = r
            && r.status == StatusCode::SERVICE_UNAVAILABLE
        {
            problem(&r, 503, "overloaded");
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "both stalled displays hold a slot at first");

    // The hall keeps working; once the stalled displays fall more than 8 events behind
    // what their sockets take, they are cut off and a new display gets in.
    let mut admitted = None;
    for _ in 0..40 {
        issue_tickets(&srv, 50).await;
        let r = fresh()
            .get(format!("{}/v1/halls/h1/events", srv.base))
            .bearer_auth(DISPLAY)
            .timeout(Duration::from_secs(3600))
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::OK {
            admitted = Some(r);
            break;
        }
    }
    assert!(admitted.is_some(), "a new display was admitted");
    // The first cut frees the slot the new display takes; the second stalled display may
    // not have fallen 8 events behind yet (its socket may have taken more), and it is cut
    // only when further events find its buffer full: the hall keeps issuing until it is.
    let mut cuts = 0.0;
    for _ in 0..100 {
        cuts = metric(&scrape().await, "hallq_sse_dropped_total{stream=\"hall\"}") - dropped_before;
        if cuts >= 2.0 {
            break;
        }
        issue_tickets(&srv, 10).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(cuts >= 2.0, "both cuts counted ({cuts})");

    // Each stalled display's connection was closed; what it got ends at a complete event,
    // and resuming from there with Last-Event-ID gives exactly what it missed.
    let head = srv.get(DISPLAY, "/v1/halls/h1").await.body["seq"]
        .as_u64()
        .unwrap();
    drop(admitted);
    for mut s in stalled {
        let text = until_closed(&mut s).await;
        let ids = complete_ids(&text);
        let last = *ids.last().expect("some events arrived before the cut");
        assert!(last < head, "cut before the end ({last} of {head})");
        let got = resume(&srv, last, head).await;
        let want: Vec<u64> = (last + 1..=head).collect();
        assert_eq!(got, want, "exactly the missed events, in order");
    }
    srv.stop().await;
}

/// Issue `n` tickets in hall h1 at once, each answered 201.
async fn issue_tickets(srv: &Server, n: usize) {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (http, base) = (srv.http.clone(), srv.base.clone());
            tokio::spawn(async move {
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
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}

/// Resume a hall stream after `last` and read the ids of the events up to `head`, retrying
/// while the stream's slots are still held by subscribers that are going away.
async fn resume(srv: &Server, last: u64, head: u64) -> Vec<u64> {
    use futures::StreamExt;
    for _ in 0..200 {
        let r = fresh()
            .get(format!("{}/v1/halls/h1/events", srv.base))
            .bearer_auth(DISPLAY)
            .header("Last-Event-ID", last.to_string())
            .timeout(Duration::from_secs(3600))
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::SERVICE_UNAVAILABLE {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        assert_eq!(r.status(), StatusCode::OK);
        let mut events = eventsource_stream::EventStream::new(r.bytes_stream());
        let mut ids = Vec::new();
        while ids.last() != Some(&head) {
            let e = tokio::time::timeout(Duration::from_secs(30), events.next())
                .await
                .expect("the resumed stream goes on")
                .expect("the resumed stream is open")
                .unwrap();
            ids.push(e.id.parse::<u64>().unwrap());
        }
        return ids;
    }
    panic!("no stream slot came free to resume");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_ticket_link_opens_a_few_pages_and_never_starves_others() {
    let srv = start(&with_server("max_streams_per_link = 3")).await;
    let (id, k) = ticket_link(&srv).await;
    let (other, other_k) = ticket_link(&srv).await;
    let http = fresh();
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(
            ticket_page(&http, &srv.base, &id, &k)
                .await
                .expect("a page"),
        );
    }
    for _ in 0..5 {
        let r = ticket_page(&http, &srv.base, &id, &k).await.unwrap_err();
        problem(&r, 429, "too-many-pages");
    }
    // Another citizen's link is not affected.
    let theirs = ticket_page(&http, &srv.base, &other, &other_k)
        .await
        .expect("another link opens");
    // Closing a page frees its place for the same link.
    drop(open.pop());
    let mut reopened = false;
    for _ in 0..100 {
        if let Ok(r) = ticket_page(&http, &srv.base, &id, &k).await {
            open.push(r);
            reopened = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(reopened, "a closed page's place is given back");
    drop((open, theirs));
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_input_is_refused_with_problems_naming_the_field() {
    let srv = start(&with_server(&format!(
        "metrics_token_sha256 = \"{}\"",
        hallq::config::hex(&hallq::config::token_hash("scrape-me"))
    )))
    .await;
    let post = |body: &'static str| {
        call(
            &srv.http,
            Method::POST,
            format!("{}/v1/halls/h1/tickets", srv.base),
            Some(KIOSK),
            Some(body.to_owned()),
            &[],
        )
    };

    // Trailing bytes after the JSON value: refused, and nothing stored.
    problem(&post(r#"{"service":"s"} xx"#).await, 400, "malformed-json");
    let tickets = srv.get(KIOSK, "/v1/halls/h1/tickets").await;
    assert_eq!(tickets.body.as_array().map(Vec::len), Some(0));
    // A value of the wrong JSON kind, and a key given twice, name their field.
    let r = post(r#"{"service":"s","class":1}"#).await;
    problem(&r, 400, "invalid-field");
    assert_eq!(r.body["field"], "class");
    let r = post(r#"{"service":"s","service":"t"}"#).await;
    problem(&r, 400, "duplicate-field");
    assert_eq!(r.body["field"], "service");
    // A body that is not UTF-8.
    let r = srv
        .http
        .post(format!("{}/v1/halls/h1/tickets", srv.base))
        .bearer_auth(KIOSK)
        .header("content-type", "application/json")
        .body(b"{\"service\":\"\xff\xfe\"}".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["type"], "urn:hallq:problem:malformed-json");

    // Tokens in the query string: only on event streams.
    let r = get(
        &srv.http,
        format!("{}/v1/halls?access_token={KIOSK}", srv.base),
        None,
    )
    .await;
    problem(&r, 400, "token-in-query");
    assert_eq!(r.body["field"], "access_token");
    assert!(r.body["detail"].as_str().unwrap().contains("Authorization"));
    let r = srv
        .http
        .get(format!(
            "{}/v1/halls/h1/events?access_token={DISPLAY}",
            srv.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    drop(r);

    // What axum or hyper refuse before a handler runs is a problem too.
    let long = "x".repeat(9 * 1024);
    problem(
        &get(
            &srv.http,
            format!("{}/v1/halls/h1/tickets/{long}", srv.base),
            Some(KIOSK),
        )
        .await,
        414,
        "uri-too-long",
    );
    let r = call(
        &fresh(),
        Method::GET,
        format!("{}/healthz", srv.base),
        None,
        None,
        &[("x-padding", &"p".repeat(40 * 1024))],
    )
    .await;
    problem(&r, 431, "headers-too-large");
    problem(
        &get(
            &srv.http,
            format!("{}/v1/halls/%FF%FE/tickets", srv.base),
            Some(KIOSK),
        )
        .await,
        400,
        "bad-request",
    );
    problem(
        &get(
            &srv.http,
            format!("{}/v1/halls/h1/tickets/x/public?k=a&k=b", srv.base),
            None,
        )
        .await,
        400,
        "bad-request",
    );
    let mut garbage = raw(&srv, "HELLO THERE\r\n\r\n").await;
    let answer = until_closed(&mut garbage).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    let body = answer.split_once("\r\n\r\n").unwrap().1;
    let doc: Value = serde_json::from_str(body).unwrap();
    assert_eq!(doc["type"], "urn:hallq:problem:malformed-request");

    // An echoed id is cut short, wherever the problem comes from.
    let id = "y".repeat(6000);
    let r = get(
        &srv.http,
        format!("{}/v1/halls/h1/tickets/{id}", srv.base),
        Some(KIOSK),
    )
    .await;
    problem(&r, 404, "unknown-ticket");
    assert!(
        r.body["detail"].as_str().unwrap().len() < 300,
        "{:?}",
        r.body
    );
    let r = call(
        &srv.http,
        Method::POST,
        format!("{}/v1/halls/h1/tickets", srv.base),
        Some(KIOSK),
        Some(json!({ "service": "z".repeat(60_000) }).to_string()),
        &[],
    )
    .await;
    problem(&r, 404, "unknown-service");
    assert!(
        r.body["detail"].as_str().unwrap().len() < 300,
        "{:?}",
        r.body
    );

    // /metrics behind its scrape token when one is configured.
    let r = get(&srv.http, format!("{}/metrics", srv.base), None).await;
    problem(&r, 401, "unauthorized");
    let r = get(&srv.http, format!("{}/metrics", srv.base), Some(ADMIN)).await;
    problem(&r, 401, "unauthorized");
    let r = get(
        &srv.http,
        format!("{}/metrics", srv.base),
        Some("scrape-me"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.as_str().unwrap().contains("hallq_connections_open"));
    srv.stop().await;
}
