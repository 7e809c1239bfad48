//! A full slot in cluster mode, on a real PostgreSQL with two real `hallq` processes: the
//! board of full slots is the hall owner's, node-local. A booking through the node that does
//! not hold the hall is forwarded and refused by the owner's board; a cancellation through it
//! frees the seat at once; and when the owner is killed, the node that adopts the hall starts
//! from an empty board (its owner answers first, then its own board), never from another
//! node's.

mod support;

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{
    ADMIN, Daemon, Hallq, PORTAL, Postgres, Resp, booking_config, call, citizen, client, metric,
};

const LEASE_S: u64 = 3;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(url: &str, dir: &tempfile::TempDir, port: u16, node: usize) -> Daemon {
    let text = format!(
        "{}\n[cluster]\npostgres = \"{url}\"\nnode = \"n{node}\"\nadvertise = \"http://127.0.0.1:{port}\"\nlease_s = {LEASE_S}\n",
        booking_config(2, "per_week = 10"),
    );
    Hallq::config(dir.path(), &text)
        .listen(&format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .capture_log()
        .spawn()
}

/// A request through `base`, retried while the cluster answers 503 (a lease moving) or the
/// node does not answer, for up to 30 s.
async fn ask(base: &str, method: Method, path: &str, body: Option<&Value>) -> Resp {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let r = call(
            &client(),
            method.clone(),
            format!("{base}{path}"),
            Some(PORTAL),
            body.map(Value::to_string),
            &[],
        )
        .await;
        if r.status != StatusCode::SERVICE_UNAVAILABLE {
            return r;
        }
        assert!(
            Instant::now() < until,
            "{path} refused for 30 s: {:?}",
            r.body
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The node holding `h1` (node `n{k}` is `bases[k - 1]`): the one the first node forwards
/// to (`X-Hallq-Owner`), else the first node.
async fn owner(bases: &[String]) -> usize {
    let r = ask(&bases[0], Method::GET, "/v1/halls/h1/booking", None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    match r.header("x-hallq-owner") {
        Some(node) => node.trim_start_matches('n').parse::<usize>().unwrap() - 1,
        None => 0,
    }
}

async fn early(base: &str) -> u64 {
    metric(&client(), base, "hallq_bookings_full_early_total").await as u64
}

async fn book(base: &str, start: &str, n: u32) -> Resp {
    let body = json!({"service": "s", "start": start, "channel": "web", "citizen": citizen(n)});
    ask(base, Method::POST, "/v1/halls/h1/bookings", Some(&body)).await
}

fn assert_full(r: &Resp) {
    assert_eq!(r.status, 409, "{:?}", r.body);
    assert_eq!(
        r.body["type"], "urn:hallq:problem:slot-full",
        "{:?}",
        r.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_board_is_the_owners_and_a_new_owner_starts_without_it() {
    let pg = Postgres::start();
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let ports: Vec<u16> = (0..2).map(|_| free_port()).collect();
    let mut nodes: Vec<Option<Daemon>> = (0..2)
        .map(|i| Some(start(&pg.url(), &dirs[i], ports[i], i + 1)))
        .collect();
    let bases: Vec<String> = ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect();
    let o = owner(&bases).await;
    let (by_owner, by_other) = (bases[o].clone(), bases[1 - o].clone());

    // A slot tomorrow or later (the hall's next date with slots after today).
    let offer = ask(&by_other, Method::GET, "/v1/halls/h1/booking", None).await;
    let date = offer.body["services"][0]["dates"][1]
        .as_str()
        .unwrap()
        .to_owned();
    let slots = ask(
        &by_other,
        Method::GET,
        &format!("/v1/halls/h1/slots?service=s&date={date}"),
        None,
    )
    .await;
    let start = slots.body[10]["start"].as_str().unwrap().to_owned();

    // Filled through the other node, refused through it: forwarded, and refused by the
    // owner's board, not by anything on the node that forwarded.
    assert_eq!(book(&by_other, &start, 1).await.status, 201);
    let second = book(&by_other, &start, 2).await;
    assert_eq!(second.status, 201, "{:?}", second.body);
    let refused = book(&by_other, &start, 3).await;
    assert_full(&refused);
    assert!(refused.header("x-hallq-owner").is_some(), "forwarded");
    assert_eq!(early(&by_owner).await, 1);
    assert_eq!(early(&by_other).await, 0);

    // A cancellation through the other node frees the seat for the next request at once.
    let code = second.body["code"].as_str().unwrap();
    let path = format!("/v1/halls/h1/bookings/{code}/cancel");
    let cancel = ask(&by_other, Method::POST, &path, Some(&json!({}))).await;
    assert_eq!(cancel.status, 200, "{:?}", cancel.body);
    assert_eq!(book(&by_other, &start, 4).await.status, 201);
    assert_full(&book(&by_other, &start, 5).await);
    assert_eq!(early(&by_owner).await, 2);

    // The owner dies; the other node adopts the hall with an empty board: its owner thread
    // answers the first refusal from the book it replayed, then its board the next.
    nodes[o].take().unwrap().kill();
    assert_full(&book(&by_other, &start, 6).await);
    assert_eq!(early(&by_other).await, 0);
    assert_full(&book(&by_other, &start, 7).await);
    assert_eq!(early(&by_other).await, 1);
    let seated = call(
        &client(),
        Method::GET,
        format!("{by_other}/v1/halls/h1/bookings?date={date}"),
        Some(ADMIN),
        None,
        &[],
    )
    .await;
    let held = seated.body.as_array().unwrap();
    assert_eq!(
        held.iter().filter(|b| b["status"] == "booked").count(),
        2,
        "never oversold: {held:?}"
    );
    drop(nodes);
}
