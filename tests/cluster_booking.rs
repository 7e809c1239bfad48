//! A full slot in cluster mode, on a real PostgreSQL with two real `hallq` processes: the
//! board of full slots is the hall owner's, node-local. A booking through the node that does
//! not hold the hall is forwarded and refused by the owner's board; a cancellation through it
//! frees the seat at once; and when the owner is killed, the node that adopts the hall starts
//! from an empty board (its owner answers first, then its own board), never from another
//! node's. And the day's booking figures roll up alike through either node: the node that
//! does not hold the hall counts them from its store, which it brings up to the log of record.

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

/// PostgreSQL and two nodes on it; which of them holds `h1`, and their addresses.
async fn two_nodes() -> (
    Postgres,
    Vec<tempfile::TempDir>,
    Vec<Option<Daemon>>,
    usize,
    Vec<String>,
) {
    let pg = Postgres::start();
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let ports: Vec<u16> = (0..2).map(|_| free_port()).collect();
    let nodes: Vec<Option<Daemon>> = (0..2)
        .map(|i| Some(start(&pg.url(), &dirs[i], ports[i], i + 1)))
        .collect();
    let bases: Vec<String> = ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect();
    let o = owner(&bases).await;
    (pg, dirs, nodes, o, bases)
}

/// The hall's next date with slots after today, and its slots of service `s`.
async fn next_date(base: &str) -> (String, Vec<Value>) {
    let offer = ask(base, Method::GET, "/v1/halls/h1/booking", None).await;
    let date = offer.body["services"][0]["dates"][1]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/halls/h1/slots?service=s&date={date}");
    let slots = ask(base, Method::GET, &path, None).await;
    (date, slots.body.as_array().unwrap().clone())
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
    let (_pg, _dirs, mut nodes, o, bases) = two_nodes().await;
    let (by_owner, by_other) = (bases[o].clone(), bases[1 - o].clone());

    // A slot tomorrow or later.
    let (date, slots) = next_date(&by_other).await;
    let start = slots[10]["start"].as_str().unwrap().to_owned();

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

/// `GET /v1/stats` through `base` (admin), asserted answered at once: never 503.
async fn stats(base: &str, query: &str) -> Value {
    let r = call(
        &client(),
        Method::GET,
        format!("{base}/v1/stats?hall=h1&subtree=true{query}"),
        Some(ADMIN),
        None,
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "stats through {base}: {:?}", r.body);
    r.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn booking_figures_roll_up_alike_through_any_node() {
    let (_pg, _dirs, nodes, o, bases) = two_nodes().await;
    let (by_owner, by_other) = (bases[o].clone(), bases[1 - o].clone());

    // Three bookings on the hall's next date with slots, made through the node holding it,
    // and one of them cancelled there.
    let (date, slots) = next_date(&by_owner).await;
    let mut codes = Vec::new();
    for (n, slot) in [(1, 3), (2, 3), (3, 5)] {
        let start = slots[slot]["start"].as_str().unwrap().to_owned();
        let r = book(&by_owner, &start, n).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        assert!(r.header("x-hallq-owner").is_none(), "made on the holder");
        codes.push(r.body["code"].as_str().unwrap().to_owned());
    }
    let path = format!("/v1/halls/h1/bookings/{}/cancel", codes[0]);
    let cancel = ask(&by_owner, Method::POST, &path, Some(&json!({}))).await;
    assert_eq!(cancel.status, 200, "{:?}", cancel.body);

    // The subtree's roll-up of that day through the node that does not hold h1 counts the
    // holder's bookings exactly as the holder does, the moment after they were acknowledged.
    let day = format!("&day={date}");
    let (held, other) = (stats(&by_owner, &day).await, stats(&by_other, &day).await);
    assert_eq!(held["halls"], json!(["h1", "h2"]));
    assert_eq!(
        other["bookings"], held["bookings"],
        "the same booking figures"
    );
    let total = &other["bookings"]["total"];
    assert_eq!(total["booked"], 2, "{total}");
    assert_eq!(total["cancelled"], 1, "{total}");
    assert_eq!(total["seats"], held["bookings"]["services"][0]["seats"]);
    assert!(total["seats"].as_u64().unwrap() > 0, "{total}");

    // Today's roll-up (the default day) through either node: answered, with the same
    // booking figures.
    let (held, other) = (stats(&by_owner, "").await, stats(&by_other, "").await);
    assert_eq!(other["bookings"], held["bookings"]);
    assert_eq!(other["bookings"]["services"][0]["service"], "s");
    drop(nodes);
}
