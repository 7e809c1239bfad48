//! What the halls of one node owe the case engine held by another, in cluster mode, on a real
//! PostgreSQL with three real `hallq` processes: a bad rating given on a hall the case
//! engine's holder does not hold opens its rectification, and one given just before that
//! holder is killed with SIGKILL opens it on the next holder; every hall's ticket alarms reach
//! the supervision stream through any node, each once with one sequence number, across the
//! kill; `/v1/stats` through a node that does not hold a hall counts a ticket acknowledged
//! the moment before; a calendar replaced through the API reaches the halls of every node,
//! those it holds at once and those it takes over later, without a restart.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{
    ADMIN, COUNTER, Daemon, Hallq, KIOSK, OFFICER, Postgres, admin_get, ask, call, client,
    free_port, loopback_bases, wait_holder,
};

const LEASE_S: u64 = 3;
const HALLS: [&str; 3] = ["h1", "h2", "other"];

/// `case_config` with a one-minute target wait on every hall's service `s`, and every hall
/// open all day every day of the week (so it keeps its calendar's holidays).
fn start(url: &str, dirs: &[tempfile::TempDir], ports: &[u16], i: usize) -> Daemon {
    let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let hours: String = days
        .iter()
        .map(|d| format!("{d} = [\"00:00-23:59\"]\n"))
        .collect();
    let halls = support::case_config(dirs[i].path(), 1)
        .replace(
            "prefix = \"A\"\n\n[[hall.window]]",
            "prefix = \"A\"\ntarget_wait_min = 1\n\n[[hall.window]]",
        )
        .replace(
            "\n\n[[hall.service]]\nid = \"s\"",
            &format!("\n\n[hall.hours]\n{hours}\n[[hall.service]]\nid = \"s\""),
        );
    let text = format!(
        "{halls}\n[cluster]\npostgres = \"{url}\"\nnode = \"n{}\"\nadvertise = \"http://127.0.0.1:{}\"\nlease_s = {LEASE_S}\n",
        i + 1,
        ports[i]
    );
    Hallq::config(dirs[i].path(), &text)
        .listen(&format!("127.0.0.1:{}", ports[i]))
        .env("RUST_LOG", "warn,hallq::cluster=info")
        .capture_log()
        .spawn()
}

/// Which node serves each hall, once every hall is served by exactly one of `bases`.
async fn owners(bases: &[(usize, String)]) -> HashMap<String, usize> {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let mut seen: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, b) in bases {
            let r = admin_get(b, "/v1/cluster").await;
            for s in r.body["serving"].as_array().into_iter().flatten() {
                seen.entry(s["hall"].as_str().unwrap().to_owned())
                    .or_default()
                    .push(*i);
            }
        }
        if HALLS
            .iter()
            .all(|h| seen.get(*h).is_some_and(|n| n.len() == 1))
        {
            return seen.into_iter().map(|(h, n)| (h, n[0])).collect();
        }
        assert!(Instant::now() < until, "halls not settled: {seen:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A ticket of service `s` issued in `hall` through `base`: its id.
async fn issue(base: &str, hall: &str) -> String {
    let t = ask(
        base,
        Method::POST,
        &format!("/v1/halls/{hall}/tickets"),
        KIOSK,
        Some(json!({"service": "s"})),
    )
    .await;
    t["id"].as_str().unwrap().to_owned()
}

/// `w1` of `hall` calls its next ticket, which must be `ticket`.
async fn call_next(base: &str, hall: &str, ticket: &str) {
    let path = format!("/v1/halls/{hall}/windows/w1/call");
    let called = ask(base, Method::POST, &path, COUNTER, Some(json!({}))).await;
    assert_eq!(called["id"], ticket, "{called}");
}

/// `w1` of `hall` completes the ticket it serves, which the citizen rates `rating`.
async fn complete(base: &str, hall: &str, rating: u8) {
    let path = format!("/v1/halls/{hall}/windows/w1/complete");
    ask(
        base,
        Method::POST,
        &path,
        COUNTER,
        Some(json!({"evaluation": rating})),
    )
    .await;
}

/// The case `id` through `base`, once it is open (a rectification opens after the rating
/// reached the case engine), for up to a minute.
async fn case_when_open(base: &str, id: &str) -> Value {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let r = call(
            &client(),
            Method::GET,
            format!("{base}/v1/cases/{id}"),
            Some(OFFICER),
            None,
            &[],
        )
        .await;
        if r.status == StatusCode::OK {
            return r.body;
        }
        assert!(
            matches!(r.status.as_u16(), 404 | 503),
            "GET /v1/cases/{id} through {base}: {} {:?}",
            r.status,
            r.body
        );
        assert!(Instant::now() < until, "{id} never opened through {base}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The ticket alarms on the supervision stream through `base`: id → every seq it has.
async fn ticket_alarms(base: &str) -> BTreeMap<String, Vec<u64>> {
    let body = ask(
        base,
        Method::GET,
        "/v1/alarms?after=0&limit=1000",
        ADMIN,
        None,
    )
    .await;
    let mut out: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for a in body["alarms"].as_array().unwrap() {
        if a["kind"] == "alarm" && a["ticket"].is_string() {
            out.entry(a["id"].as_str().unwrap().to_owned())
                .or_default()
                .push(a["seq"].as_u64().unwrap());
        }
    }
    out
}

/// Hall `hall`'s schedule through `base` once it says closed for a holiday, for up to 30 s.
async fn closed_for_holiday(base: &str, hall: &str) -> Value {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let snap = ask(base, Method::GET, &format!("/v1/halls/{hall}"), ADMIN, None).await;
        if snap["open_now"] == false && snap["schedule"]["closed_reason"]["code"] == "holiday" {
            return snap;
        }
        assert!(
            Instant::now() < until,
            "{hall} through {base} still follows the old calendar: {snap}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_halls_owe_the_case_engine_reaches_it_from_every_node_once() {
    let pg = Postgres::start();
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let mut nodes: Vec<Option<Daemon>> = (0..3)
        .map(|i| Some(start(&pg.url(), &dirs, &ports, i)))
        .collect();
    let bases = loopback_bases(&ports);
    let holder = wait_holder(&bases).await;
    // Let the spread settle over all three nodes (each took its share as it joined).
    tokio::time::sleep(Duration::from_secs(2 * LEASE_S)).await;
    let owner = owners(&bases).await;
    // The hall whose ratings are given on a node that does not hold the case engine.
    let rated_hall = HALLS
        .iter()
        .find(|h| owner[**h] != holder)
        .expect("the spread gives some hall to a node without the case engine")
        .to_string();
    let hall_node = &bases[owner[&rated_hall]].1;

    // A bad rating there opens its rectification on the holder, seen through every node.
    // The next ticket is called, to be rated at the kill below.
    let first = issue(hall_node, &rated_hall).await;
    let second = issue(hall_node, &rated_hall).await;
    let open = format!("/v1/halls/{rated_hall}/windows/w1/open");
    ask(hall_node, Method::POST, &open, COUNTER, Some(json!({}))).await;
    call_next(hall_node, &rated_hall, &first).await;
    complete(hall_node, &rated_hall, 1).await;
    call_next(hall_node, &rated_hall, &second).await;
    let first_case = format!("RECT-{rated_hall}-{first}");
    for (_, b) in &bases {
        let case = case_when_open(b, &first_case).await;
        assert_eq!(case["origin"]["rating"], 1, "{case}");
        assert_eq!(case["origin"]["ticket"], first.as_str(), "{case}");
    }

    // Two waiting tickets in every hall, a few seconds apart: their alarms come due around
    // the kill below.
    let mut waiting = Vec::new();
    for round in 0..2 {
        for hall in HALLS {
            let through = &bases[(owner[hall] + 1 + round) % 3].1;
            waiting.push(format!(
                "{hall}/{}/wait_over_target",
                issue(through, hall).await
            ));
        }
        tokio::time::sleep(Duration::from_secs(4)).await;
    }
    // A roll-up through a node that does not hold the hall counts what was acknowledged just
    // before, on another node.
    for hall in HALLS {
        let elsewhere = &bases[(owner[hall] + 1) % 3].1;
        let before = ask(
            elsewhere,
            Method::GET,
            &format!("/v1/stats?hall={hall}"),
            ADMIN,
            None,
        )
        .await;
        issue(&bases[owner[hall]].1, hall).await;
        let after = ask(
            elsewhere,
            Method::GET,
            &format!("/v1/stats?hall={hall}"),
            ADMIN,
            None,
        )
        .await;
        assert_eq!(
            after["total"]["issued"].as_u64().unwrap(),
            before["total"]["issued"].as_u64().unwrap() + 1,
            "{hall} through a node that does not hold it: {before} then {after}"
        );
    }

    // The first alarm is on the supervision stream; a bad rating is acknowledged and the
    // case engine's holder killed at once.
    let until = Instant::now() + Duration::from_secs(120);
    while ticket_alarms(&bases[holder].1).await.is_empty() {
        assert!(
            Instant::now() < until,
            "no ticket alarm reached the supervision stream"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    complete(hall_node, &rated_hall, 2).await;
    nodes[holder].take().unwrap().kill();
    let survivors: Vec<(usize, String)> = bases
        .iter()
        .filter(|(i, _)| *i != holder)
        .cloned()
        .collect();
    let holder = wait_holder(&survivors).await;

    // Both rectifications, and every hall's alarms once each, with one sequence number, the
    // same through every survivor.
    let mut streams = Vec::new();
    for (_, b) in &survivors {
        assert_eq!(case_when_open(b, &first_case).await["origin"]["rating"], 1);
        let case = case_when_open(b, &format!("RECT-{rated_hall}-{second}")).await;
        assert_eq!(case["origin"]["rating"], 2, "{case}");
        let until = Instant::now() + Duration::from_secs(90);
        let alarms = loop {
            let got = ticket_alarms(b).await;
            if waiting.iter().all(|w| got.contains_key(w)) {
                break got;
            }
            assert!(
                Instant::now() < until,
                "ticket alarms missing through {b}: {got:?}, want {waiting:?}"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        };
        for (id, seqs) in &alarms {
            assert_eq!(
                seqs.len(),
                1,
                "{id} is on the supervision stream {} times through {b}",
                seqs.len()
            );
        }
        streams.push(alarms);
    }
    assert_eq!(
        streams[0], streams[1],
        "the survivors' supervision streams differ"
    );

    // A calendar replaced through the node without the case engine: the holidays reach every
    // hall, then the node that holds the case engine leaves and the other takes all the
    // halls, which follow the replaced calendar without a restart.
    let other = survivors
        .iter()
        .find(|(i, _)| *i != holder)
        .unwrap()
        .clone();
    #[allow(
        clippy::disallowed_methods,
        reason = "the calendar must cover the real today"
    )]
    let today = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date();
    let off: Vec<(jiff::civil::Date, &str)> = [-1, 0, 1]
        .iter()
        .map(|d| {
            (
                today.checked_add(jiff::Span::new().days(*d)).unwrap(),
                "off",
            )
        })
        .collect();
    let r = call(
        &client(),
        Method::PUT,
        format!("{}/v1/calendars/always", other.1),
        Some(ADMIN),
        Some(support::always_calendar(&off)),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    for hall in HALLS {
        closed_for_holiday(&other.1, hall).await;
    }
    let log = nodes[holder].take().unwrap().terminate();
    assert!(log.iter().any(|l| l.contains("released")), "{log:?}");
    let last = [other];
    owners(&last).await;
    for hall in HALLS {
        closed_for_holiday(&last[0].1, hall).await;
    }
    for n in nodes.iter_mut().filter_map(Option::take) {
        n.kill();
    }
}
