//! Cluster mode on a real PostgreSQL with three real `hallq` processes: the owner of busy
//! halls killed with SIGKILL, its halls served again by the others, every acknowledged ticket
//! there exactly once and no number reused; a node stopped with SIGSTOP past its lease and
//! continued commits nothing for the halls it lost (fencing); and at no sample do two nodes
//! claim one hall.

mod support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{ADMIN, Daemon, Hallq, KIOSK, Postgres, role_tokens};

const HALLS: [&str; 6] = ["c1", "c2", "c3", "c4", "c5", "c6"];
const LEASE_S: u64 = 3;

/// An acknowledged ticket: (id, number).
type Ticket = (String, String);
/// Each hall's answers in one round of load, `None` where none was acknowledged in time.
type Round = Vec<(&'static str, Vec<Option<Ticket>>)>;

fn config(url: &str, node: &str, port: u16) -> String {
    let mut s = format!(
        "[cluster]\npostgres = \"{}\"\nnode = \"{node}\"\nadvertise = \"http://127.0.0.1:{port}\"\nlease_s = {LEASE_S}\n",
        url
    );
    for h in HALLS {
        s += &format!(
            r#"
[[hall]]
id = "{h}"
name = "{h} 政务服务中心"
tier = "county"
time_zone = "UTC"

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
    }
    s + &role_tokens()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn client() -> reqwest::Client {
    // Redirects are followed by hand: a client drops the token on a redirect to another port.
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// A request through `entry`, following the cluster's 307s with the token.
async fn via(
    http: &reqwest::Client,
    entry: &str,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Result<(StatusCode, Value), String> {
    let mut url = format!("{entry}{path}");
    for _ in 0..5 {
        let mut rb = http.request(method.clone(), &url).bearer_auth(KIOSK);
        if let Some(b) = body {
            rb = rb.json(b);
        }
        let r = rb.send().await.map_err(|e| e.to_string())?;
        if r.status() == StatusCode::TEMPORARY_REDIRECT {
            url = r.headers()["location"].to_str().unwrap().to_owned();
            continue;
        }
        let status = r.status();
        return Ok((status, r.json().await.unwrap_or(Value::Null)));
    }
    Err(format!("redirected five times from {entry}{path}"))
}

/// Issue a ticket in `hall` through any of `entries`, retrying refusals and dead nodes for up
/// to 30 s; the acknowledged (id, number), or `None` if none was acknowledged.
async fn issue(http: &reqwest::Client, entries: &[String], hall: &str) -> Option<Ticket> {
    let until = Instant::now() + Duration::from_secs(30);
    let body = json!({"service": "s"});
    let path = format!("/v1/halls/{hall}/tickets");
    for k in 0.. {
        if Instant::now() > until {
            return None;
        }
        let entry = &entries[k % entries.len()];
        match via(http, entry, Method::POST, &path, Some(&body)).await {
            Ok((StatusCode::CREATED, t)) => {
                return Some((
                    t["id"].as_str().unwrap().to_owned(),
                    t["number"].as_str().unwrap().to_owned(),
                ));
            }
            Ok((status, _)) if status == StatusCode::SERVICE_UNAVAILABLE => {}
            Ok((status, body)) => panic!("issuing in {hall}: {status} {body}"),
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// What a node says it serves now, by hall → epoch; `None` when it does not answer at once.
async fn serving(http: &reqwest::Client, base: &str) -> Option<HashMap<String, u64>> {
    let r = http
        .get(format!("{base}/v1/cluster"))
        .bearer_auth(ADMIN)
        .timeout(Duration::from_millis(500))
        .send()
        .await
        .ok()?;
    let v: Value = r.json().await.ok()?;
    Some(
        v["serving"]
            .as_array()?
            .iter()
            .map(|s| {
                (
                    s["hall"].as_str().unwrap().to_owned(),
                    s["epoch"].as_u64().unwrap(),
                )
            })
            .collect(),
    )
}

/// Every hall served by exactly one of `bases`, polled for up to 60 s: hall → base.
async fn wait_all_served(http: &reqwest::Client, bases: &[String]) -> HashMap<String, String> {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let mut owners = HashMap::new();
        for b in bases {
            for hall in serving(http, b).await.unwrap_or_default().into_keys() {
                owners.insert(hall, b.clone());
            }
        }
        if owners.len() == HALLS.len() {
            return owners;
        }
        assert!(Instant::now() < until, "halls not all served: {owners:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn signal(d: &Daemon, sig: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_raw(d.pid() as i32).unwrap();
    rustix::process::kill_process(pid, sig).unwrap();
}

/// `n` nodes n1.. on `url`, each with its own data and a free port: (their dirs, the
/// processes, their base URLs).
fn start_nodes(url: &str, n: usize) -> (Vec<tempfile::TempDir>, Vec<Option<Daemon>>, Vec<String>) {
    let dirs: Vec<tempfile::TempDir> = (0..n).map(|_| tempfile::tempdir().unwrap()).collect();
    let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
    let nodes = (0..n)
        .map(|i| {
            let text = config(url, &format!("n{}", i + 1), ports[i]);
            Some(
                Hallq::config(dirs[i].path(), &text)
                    .listen(&format!("127.0.0.1:{}", ports[i]))
                    .env("RUST_LOG", "warn,hallq::cluster=info")
                    .capture_log()
                    .spawn(),
            )
        })
        .collect();
    let bases = ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect();
    (dirs, nodes, bases)
}

/// `rounds` tickets in every hall, the halls in parallel, through `entries`.
async fn load(http: reqwest::Client, entries: Vec<String>, rounds: usize) -> Round {
    let mut tasks = Vec::new();
    for hall in HALLS {
        let (http, entries) = (http.clone(), entries.clone());
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for _ in 0..rounds {
                got.push(issue(&http, &entries, hall).await);
            }
            (hall, got)
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// Keep a round's acknowledged tickets; every request of it must have been acknowledged.
fn record(acked: &mut BTreeMap<String, Vec<Ticket>>, out: Round) {
    for (hall, got) in out {
        for (n, t) in got.into_iter().enumerate() {
            let t = t.unwrap_or_else(|| panic!("hall {hall} not served within 30 s (request {n})"));
            acked.entry(hall.to_owned()).or_default().push(t);
        }
    }
}

/// Every acknowledged ticket listed exactly once by its hall's owner, and no number twice.
async fn every_ticket_once(
    http: &reqwest::Client,
    entry: &str,
    acked: &BTreeMap<String, Vec<Ticket>>,
) {
    for hall in HALLS {
        let path = format!("/v1/halls/{hall}/tickets");
        let until = Instant::now() + Duration::from_secs(30);
        let list = loop {
            match via(http, entry, Method::GET, &path, None).await {
                Ok((StatusCode::OK, list)) => break list,
                other => assert!(Instant::now() < until, "listing {hall}: {other:?}"),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let list = list.as_array().unwrap();
        let mut ids: HashMap<&str, usize> = HashMap::new();
        let mut numbers = HashSet::new();
        for t in list {
            *ids.entry(t["id"].as_str().unwrap()).or_default() += 1;
            assert!(
                numbers.insert(t["number"].as_str().unwrap()),
                "{hall}: number {} given twice",
                t["number"]
            );
        }
        for (id, number) in &acked[hall] {
            assert_eq!(
                ids.get(id.as_str()),
                Some(&1),
                "{hall}: acknowledged ticket {id} ({number}) present once"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_or_stopped_owner_loses_its_halls_and_nothing_acknowledged_is_lost() {
    let pg = Postgres::start();
    let (_dirs, mut nodes, bases) = start_nodes(&pg.url(), 3);
    let http = client();
    let owners = wait_all_served(&http, &bases).await;

    // A sampler: at no sample do two nodes claim one hall.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let doubles: Arc<Mutex<Vec<String>>> = Arc::default();
    let sampler = {
        let (stop, doubles, bases, http) =
            (stop.clone(), doubles.clone(), bases.clone(), http.clone());
        tokio::spawn(async move {
            let mut samples = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let mut claimed: HashMap<String, usize> = HashMap::new();
                for (i, b) in bases.iter().enumerate() {
                    for hall in serving(&http, b).await.unwrap_or_default().into_keys() {
                        if let Some(j) = claimed.insert(hall.clone(), i) {
                            doubles.lock().unwrap().push(format!(
                                "{hall}: n{} and n{}",
                                j + 1,
                                i + 1
                            ));
                        }
                    }
                }
                samples += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            samples
        })
    };

    // Load through every node, then kill the owner of the most halls.
    let mut acked: BTreeMap<String, Vec<Ticket>> = BTreeMap::new();
    record(&mut acked, load(http.clone(), bases.clone(), 10).await);

    let mut count: HashMap<&String, usize> = HashMap::new();
    for b in owners.values() {
        *count.entry(b).or_default() += 1;
    }
    let busiest = bases
        .iter()
        .position(|b| {
            count
                .get(b)
                .is_some_and(|&n| n == *count.values().max().unwrap())
        })
        .unwrap();
    let lost_halls: Vec<&String> = owners
        .iter()
        .filter(|(_, b)| **b == bases[busiest])
        .map(|(h, _)| h)
        .collect();
    assert!(!lost_halls.is_empty());
    // Kill it while requests are in flight.
    let inflight = tokio::spawn(load(http.clone(), bases.clone(), 10));
    tokio::time::sleep(Duration::from_millis(300)).await;
    nodes[busiest].take().unwrap().kill();
    let survivors: Vec<String> = bases
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != busiest)
        .map(|(_, b)| b.clone())
        .collect();
    record(&mut acked, inflight.await.unwrap());
    // Its halls are served again by the others, and take new tickets.
    let owners = wait_all_served(&http, &survivors).await;
    for h in &lost_halls {
        assert_ne!(owners[*h], bases[busiest]);
    }
    record(&mut acked, load(http.clone(), survivors.clone(), 5).await);

    // Fencing: stop a survivor past its lease; requests sent to it meanwhile wait in its socket.
    let paused = bases.iter().position(|b| *b == survivors[0]).unwrap();
    let other = survivors[1].clone();
    let before = serving(&http, &bases[paused]).await.unwrap();
    assert!(!before.is_empty(), "the node to stop serves some hall");
    let mark: u64 = pg
        .sql("SELECT coalesce(max(id), 0) FROM hallq_log")
        .parse()
        .unwrap();
    signal(
        nodes[paused].as_ref().unwrap(),
        rustix::process::Signal::STOP,
    );
    let stuck: Vec<_> = before
        .keys()
        .map(|hall| {
            let url = format!("{}/v1/halls/{hall}/tickets", bases[paused]);
            let http = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(120))
                .build()
                .unwrap();
            tokio::spawn(async move {
                http.post(url)
                    .bearer_auth(KIOSK)
                    .json(&json!({"service": "s"}))
                    .send()
                    .await
                    .map(|r| {
                        let owner = r
                            .headers()
                            .get("x-hallq-owner")
                            .map(|v| v.to_str().unwrap().to_owned());
                        (r.status(), owner)
                    })
            })
        })
        .collect();
    // The other survivor takes every hall, and serves them.
    let owners = wait_all_served(&http, std::slice::from_ref(&other)).await;
    assert_eq!(owners.len(), HALLS.len());
    // Displays on it, for every hall: those whose hall moves away later must see their
    // stream end (to reconnect to the new owner), not hang on a node that gets no events.
    let mut displays = HashMap::new();
    for hall in HALLS {
        displays.insert(
            hall,
            support::subscribe(&other, hall, support::DISPLAY, None).await,
        );
    }
    record(&mut acked, load(http.clone(), vec![other.clone()], 3).await);
    signal(
        nodes[paused].as_ref().unwrap(),
        rustix::process::Signal::CONT,
    );
    for s in stuck {
        let (status, owner) = s.await.unwrap().expect("the continued node answers");
        // A success is only the new owner's answer, forwarded.
        let me = format!("n{}", paused + 1);
        assert!(
            !status.is_success() || owner.as_ref().is_some_and(|o| *o != me),
            "a node that lost its halls while stopped acknowledged a change: {status} (owner {owner:?})"
        );
    }
    for (hall, epoch) in &before {
        let n: u64 = pg
            .sql(&format!(
                "SELECT count(*) FROM hallq_log WHERE hall = '{hall}' AND node = 'n{}' AND epoch <= {epoch} AND id > {mark}",
                paused + 1
            ))
            .parse()
            .unwrap();
        assert_eq!(
            n, 0,
            "the stopped node committed for {hall} under its lost epoch {epoch}"
        );
    }
    // It rejoins; the halls spread over both again, and still take tickets.
    let until = Instant::now() + Duration::from_secs(30);
    let back = loop {
        let back = wait_all_served(&http, &survivors).await;
        if back.values().any(|b| *b == bases[paused]) {
            break back;
        }
        assert!(
            Instant::now() < until,
            "no hall went back to the continued node: {back:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let moved: Vec<&str> = HALLS
        .into_iter()
        .filter(|h| back[*h] == bases[paused])
        .collect();
    assert!(
        !moved.is_empty(),
        "some halls went back to the continued node: {back:?}"
    );
    for hall in moved {
        let rx = displays.get_mut(hall).unwrap();
        let ended = tokio::time::timeout(Duration::from_secs(20), async {
            while rx.recv().await.is_some() {}
        })
        .await;
        assert!(
            ended.is_ok(),
            "{hall}'s stream on the node it left did not end"
        );
    }
    record(&mut acked, load(http.clone(), survivors.clone(), 3).await);

    // A node leaving on SIGTERM drains, then releases its leases: the other takes its halls
    // and serves them.
    let log = nodes[paused].take().unwrap().terminate();
    assert!(
        log.iter().any(|l| l.contains("leases released")),
        "the leaving node released its leases: {log:?}"
    );
    wait_all_served(&http, std::slice::from_ref(&other)).await;
    record(&mut acked, load(http.clone(), vec![other.clone()], 2).await);

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let samples = sampler.await.unwrap();
    assert!(samples > 10, "the sampler ran ({samples} samples)");
    assert_eq!(
        doubles.lock().unwrap().clone(),
        Vec::<String>::new(),
        "two nodes claimed one hall"
    );

    // Every acknowledged ticket exactly once, and no number given twice.
    // (Through the node left: the other one is gone.)
    every_ticket_once(&http, &other, &acked).await;
    for hall in HALLS {
        assert!(
            acked[hall].len() >= 33,
            "{hall}: {} tickets acknowledged",
            acked[hall].len()
        );
    }
    drop(nodes);
    drop(pg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postgresql_primary_killed_and_its_standby_promoted_loses_nothing_acknowledged() {
    let primary = Postgres::primary();
    let standby = Postgres::standby_of(&primary);
    let until = Instant::now() + Duration::from_secs(30);
    while primary.sql("SELECT sync_state FROM pg_stat_replication") != "sync" {
        assert!(
            Instant::now() < until,
            "the standby never became synchronous"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Both hosts, as a client of a Patroni-managed pair would name them: the driver takes the
    // one that accepts writes.
    let url = format!(
        "postgresql://postgres@127.0.0.1:{},127.0.0.1:{}/postgres?target_session_attrs=read-write&connect_timeout=2",
        primary.port, standby.port
    );
    let (_dirs, nodes, bases) = start_nodes(&url, 2);
    let http = client();
    wait_all_served(&http, &bases).await;
    let mut acked: BTreeMap<String, Vec<Ticket>> = BTreeMap::new();
    record(&mut acked, load(http.clone(), bases.clone(), 5).await);

    // The primary dies under load; the standby is promoted a moment later.
    let inflight = tokio::spawn(load(http.clone(), bases.clone(), 10));
    tokio::time::sleep(Duration::from_millis(300)).await;
    primary.kill();
    tokio::time::sleep(Duration::from_secs(1)).await;
    standby.promote();
    record(&mut acked, inflight.await.unwrap());
    wait_all_served(&http, &bases).await;
    record(&mut acked, load(http.clone(), bases.clone(), 3).await);

    // Every acknowledged ticket is in the promoted database's log of record (a record holds
    // the ticket's id as plain UTF-8), and served once.
    for hall in HALLS {
        let log = standby.sql(&format!(
            "SELECT string_agg(encode(record, 'escape'), '') FROM hallq_log WHERE hall = '{hall}'"
        ));
        for (id, number) in &acked[hall] {
            assert!(
                log.contains(id.as_str()),
                "{hall}: acknowledged {id} ({number}) is not in the promoted log of record"
            );
        }
    }
    every_ticket_once(&http, &bases[0], &acked).await;
    drop(nodes);
}
