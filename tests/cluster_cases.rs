//! Cases and alarms in cluster mode, on a real PostgreSQL with three real `hallq` processes:
//! cases accepted and suspended through any node (forwarded to the node holding the case
//! engine), that node killed with SIGKILL, and the cases, their alarms and the alarm
//! consumers' cursors served by the new holder: every acknowledged case operation there, every
//! alarm id once with the sequence number it first had, no alarm level twice, though the log
//! of record was trimmed behind every node's store before the kill. A hall's display resumes
//! on another node with `Last-Event-ID`.

mod support;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use support::{
    ADMIN, DISPLAY, Daemon, Hallq, KIOSK, OFFICER, Postgres, ask, free_port, loopback_bases, next,
    wait_holder,
};

const LEASE_S: u64 = 3;
/// Every level of the `fast` ladder (`support::case_config`).
const LEVELS: [&str; 3] = ["warn", "red", "escalate"];

#[allow(
    clippy::disallowed_methods,
    reason = "cases are accepted relative to the real now"
)]
fn rfc3339_ago(seconds: i64) -> String {
    (jiff::Timestamp::now() - jiff::SignedDuration::from_secs(seconds)).to_string()
}

/// The supervision stream through `base`: (seq, alarm id, case, level).
async fn alarms(base: &str, query: &str) -> Vec<(u64, String, String, String)> {
    let body = ask(
        base,
        Method::GET,
        &format!("/v1/alarms?{query}"),
        ADMIN,
        None,
    )
    .await;
    body["alarms"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "alarm")
        .map(|a| {
            (
                a["seq"].as_u64().unwrap(),
                a["id"].as_str().unwrap().to_owned(),
                a["case"].as_str().unwrap().to_owned(),
                a["level"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Pull through `base` until every id of `want` is there, for up to a minute.
async fn wait_alarms(base: &str, want: &HashSet<String>) -> Vec<(u64, String, String, String)> {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let got = alarms(base, "after=0").await;
        let ids: HashSet<&String> = got.iter().map(|a| &a.1).collect();
        if want.iter().all(|w| ids.contains(w)) {
            return got;
        }
        assert!(
            Instant::now() < until,
            "alarms missing through {base}: {:?}",
            want.iter().filter(|w| !ids.contains(w)).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn ids(cases: &[&str]) -> HashSet<String> {
    cases
        .iter()
        .flat_map(|c| LEVELS.iter().map(move |l| format!("{c}/{l}/1")))
        .collect()
}

fn start(url: &str, dirs: &[tempfile::TempDir], ports: &[u16], i: usize) -> Daemon {
    let text = format!(
        "{}\n[cluster]\npostgres = \"{url}\"\nnode = \"n{}\"\nadvertise = \"http://127.0.0.1:{}\"\nlease_s = {LEASE_S}\n",
        support::case_config(dirs[i].path(), 1),
        i + 1,
        ports[i]
    );
    Hallq::config(dirs[i].path(), &text)
        .listen(&format!("127.0.0.1:{}", ports[i]))
        .env("RUST_LOG", "warn,hallq::cluster=info")
        .capture_log()
        .spawn()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cases_and_alarms_survive_their_holder_killed_once_each() {
    let pg = Postgres::start();
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let mut nodes: Vec<Option<Daemon>> = (0..3)
        .map(|i| Some(start(&pg.url(), &dirs, &ports, i)))
        .collect();
    let bases = loopback_bases(&ports);
    let holder = wait_holder(&bases).await;
    // Every request goes through a node that does not hold the case engine: it forwards
    // them, with the token.
    let entry = bases[(holder + 1) % 3].1.clone();

    // Three cases whose every level is already past, one due in seconds (its levels come due
    // around the kill), one suspended.
    for id in ["PAST-1", "PAST-2", "PAST-3"] {
        let body =
            json!({"id": id, "hall": "h1", "matter": "FAST", "accepted_at": rfc3339_ago(3600)});
        ask(&entry, Method::POST, "/v1/cases", OFFICER, Some(body)).await;
    }
    let body =
        json!({"id": "LONG-1", "hall": "h1", "matter": "DAYS-2", "accepted_at": rfc3339_ago(0)});
    ask(&entry, Method::POST, "/v1/cases", OFFICER, Some(body)).await;
    let suspended = ask(
        &entry,
        Method::POST,
        "/v1/cases/LONG-1/suspend",
        OFFICER,
        Some(json!({"reason": "hearing"})),
    )
    .await;
    assert_eq!(suspended["state"], "suspended", "{suspended}");
    let before = wait_alarms(&entry, &ids(&["PAST-1", "PAST-2", "PAST-3"])).await;
    let seen_before: HashMap<String, u64> = before.iter().map(|a| (a.1.clone(), a.0)).collect();
    // The province's supervision acknowledged the first four, through another node.
    ask(
        &bases[(holder + 2) % 3].1,
        Method::POST,
        "/v1/alarms/ack",
        ADMIN,
        Some(json!({"consumer": "sv", "seq": 4})),
    )
    .await;

    // A display of h1 through the entry node sees tickets issued there.
    let mut display = support::subscribe(&entry, "h1", DISPLAY, None).await;
    let snapshot = next(&mut display, "the snapshot").await;
    for _ in 0..3 {
        ask(
            &entry,
            Method::POST,
            "/v1/halls/h1/tickets",
            KIOSK,
            Some(json!({"service": "s"})),
        )
        .await;
    }
    let mut seen = vec![snapshot.id];
    while seen.len() < 4 {
        seen.push(next(&mut display, "an issued ticket's event").await.id);
    }
    let resume_from = seen[1];

    // The log of record is trimmed behind every node's store: the rows of h1 and of the case
    // engine written so far go (each node follows the shares it does not hold).
    let until = Instant::now() + Duration::from_secs(60);
    let written: u64 = pg
        .sql("SELECT coalesce(max(id), 0) FROM hallq_log WHERE hall IN ('h1', '@cases')")
        .parse()
        .unwrap();
    loop {
        let left: u64 = pg
            .sql(&format!(
                "SELECT count(*) FROM hallq_log WHERE hall IN ('h1', '@cases') AND id <= {written}"
            ))
            .parse()
            .unwrap();
        if left == 0 {
            break;
        }
        assert!(
            Instant::now() < until,
            "{left} rows up to {written} are still in the log of record"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let body =
        json!({"id": "SOON-1", "hall": "h1", "matter": "FAST", "accepted_at": rfc3339_ago(0)});
    ask(&entry, Method::POST, "/v1/cases", OFFICER, Some(body)).await;
    // The holder dies while SOON-1's levels come due (4, 8 and 10 s after acceptance).
    tokio::time::sleep(Duration::from_secs(3)).await;
    nodes[holder].take().unwrap().kill();
    let survivors: Vec<(usize, String)> = bases
        .iter()
        .filter(|(i, _)| *i != holder)
        .cloned()
        .collect();
    let new_holder = wait_holder(&survivors).await;
    assert_ne!(new_holder, holder);

    // Every case operation acknowledged before the kill is served, through every survivor.
    for (_, base) in &survivors {
        for id in ["PAST-1", "PAST-2", "PAST-3", "SOON-1"] {
            let case = ask(base, Method::GET, &format!("/v1/cases/{id}"), OFFICER, None).await;
            assert_eq!(case["id"], id, "{case}");
        }
        let long = ask(base, Method::GET, "/v1/cases/LONG-1", OFFICER, None).await;
        assert_eq!(long["state"], "suspended", "{long}");
    }
    // The case engine goes on: a new case is accepted and resumed.
    let body =
        json!({"id": "AFTER-1", "hall": "h1", "matter": "DAYS-2", "accepted_at": rfc3339_ago(0)});
    ask(
        &survivors[0].1,
        Method::POST,
        "/v1/cases",
        OFFICER,
        Some(body),
    )
    .await;
    let resumed = ask(
        &survivors[1].1,
        Method::POST,
        "/v1/cases/LONG-1/resume",
        OFFICER,
        Some(json!({})),
    )
    .await;
    assert_ne!(resumed["state"], "suspended", "{resumed}");

    // Every level of every FAST case once, through each survivor: same ids, the sequence
    // numbers the alarms had before the kill, no gap, nothing twice.
    let all = ids(&["PAST-1", "PAST-2", "PAST-3", "SOON-1"]);
    for (_, base) in &survivors {
        let log = wait_alarms(base, &all).await;
        let mut levels = HashSet::new();
        for a in &log {
            assert!(
                levels.insert((a.2.clone(), a.3.clone())),
                "{} level {} fired twice: {log:?}",
                a.2,
                a.3
            );
        }
        assert_eq!(log.len(), all.len(), "{log:?}");
        assert_eq!(
            log.iter().map(|a| a.0).collect::<Vec<_>>(),
            (1..=log.len() as u64).collect::<Vec<_>>(),
            "gap-free"
        );
        for (id, seq) in &seen_before {
            assert!(
                log.iter().any(|a| &a.1 == id && a.0 == *seq),
                "{id} kept seq {seq}: {log:?}"
            );
        }
        // The consumer's cursor survived: it resumes after 4.
        let rest = alarms(base, "consumer=sv").await;
        assert_eq!(
            rest.first().map(|a| a.0),
            Some(5),
            "the consumer resumes after its acknowledged 4: {rest:?}"
        );
    }

    // A display resumes on another node with Last-Event-ID: exactly the events after it.
    ask(
        &survivors[0].1,
        Method::POST,
        "/v1/halls/h1/tickets",
        KIOSK,
        Some(json!({"service": "s"})),
    )
    .await;
    for (_, base) in &survivors {
        let mut rx = support::subscribe(base, "h1", DISPLAY, Some(resume_from)).await;
        let mut ids = Vec::new();
        for k in 0..3 {
            ids.push(
                next(&mut rx, &format!("event {k} after {resume_from}"))
                    .await
                    .id,
            );
        }
        assert_eq!(
            ids,
            vec![resume_from + 1, resume_from + 2, resume_from + 3],
            "through {base}"
        );
    }
    drop(display);
    drop(nodes);
    drop(pg);
}
