//! The notification outbox across a failover, on a real PostgreSQL with three real `hallq`
//! processes and a real webhook receiver: a ticket's "your turn is near" (written by its
//! hall's shard) and a case's milestone (written by the case engine) are committed while the
//! receiver fails; only the node holding the hall, and only the one holding the case engine,
//! attempt them. Those holders are killed with SIGKILL and the receiver comes back: the nodes
//! that adopt the hall and the case engine deliver both, each once, with the delivery ids,
//! bodies and signatures of the first attempts, and no node ever attempts a notification of a
//! share it does not hold (`X-Hallq-Node` names the node of every attempt). Waits are for what
//! the receiver or the cluster shows, never for a fixed time.

mod support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use support::{
    ADMIN, Daemon, Hallq, Hit, KIOSK, OFFICER, PATIENCE, Postgres, Receiver, WEBHOOK_SECRET,
    admin_get, ask, call, client, free_port, loopback_bases, reserve_port,
};

const LEASE_S: u64 = 3;

/// A node whose webhooks are `sms` (tickets) and `mail` (cases), both the receiver at `hook`
/// (two webhooks, so one failing does not hold the other back), and `gone` (nothing listens
/// at `gone`: its `case.accepted` notifications become dead letters at the first attempt).
fn start(
    url: &str,
    dir: &tempfile::TempDir,
    port: u16,
    i: usize,
    (hook, gone): (SocketAddr, SocketAddr),
) -> Daemon {
    let text = format!(
        r#"{}
[booking]
keys = ["test-booking-key-0123456789"]

[[webhook]]
name = "sms"
url = "http://{hook}/hook"
secret = "{WEBHOOK_SECRET}"
events = ["ticket.turn_near"]
backoff_s = 1
backoff_max_s = 2
max_attempts = 100

[[webhook]]
name = "mail"
url = "http://{hook}/hook"
secret = "{WEBHOOK_SECRET}"
events = ["case.accepted"]
backoff_s = 1
backoff_max_s = 2
max_attempts = 100

[[webhook]]
name = "gone"
url = "http://{gone}/hook"
secret = "{WEBHOOK_SECRET}"
events = ["case.accepted"]
max_attempts = 1

[cluster]
postgres = "{url}"
node = "n{}"
advertise = "http://127.0.0.1:{port}"
lease_s = {LEASE_S}
"#,
        support::case_config(dir.path(), 1),
        i + 1,
    );
    Hallq::config(dir.path(), &text)
        .listen(&format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn,hallq::cluster=info,hallq::notify=info")
        .capture_log()
        .spawn()
}

/// What one node says it serves, and how many live nodes it sees.
#[derive(Debug, PartialEq)]
struct NodeView {
    halls: Vec<String>,
    case_engine: bool,
    live: usize,
}

/// What every node of `bases` says.
async fn views(bases: &[(usize, String)]) -> Vec<NodeView> {
    let mut out = Vec::new();
    for (_, b) in bases {
        let r = admin_get(b, "/v1/cluster").await;
        let serving = r.body["serving"].as_array().cloned().unwrap_or_default();
        let nodes = r.body["nodes"].as_array().cloned().unwrap_or_default();
        out.push(NodeView {
            halls: serving
                .iter()
                .map(|s| s["hall"].as_str().unwrap_or_default().to_owned())
                .collect(),
            case_engine: r.body["case_engine"].is_u64(),
            live: nodes.iter().filter(|n| n["live"] == true).count(),
        });
    }
    out
}

/// Once the spread over `bases` has settled (every node sees them all live, and what each
/// serves stayed the same for three lease rounds, long enough for any hand-over to show):
/// the node (by index) holding `h1`, and the one holding the case engine.
async fn settled(bases: &[(usize, String)]) -> (usize, usize) {
    let until = Instant::now() + Duration::from_secs(90);
    let round = Duration::from_millis(LEASE_S * 1000 / 3);
    let (mut last, mut same) = (Vec::new(), 0);
    loop {
        let now = views(bases).await;
        let all_live = now.iter().all(|v| v.live == bases.len());
        let holder = |f: &dyn Fn(&NodeView) -> bool| {
            let held: Vec<usize> = (0..now.len()).filter(|&k| f(&now[k])).collect();
            match held[..] {
                [one] => Some(bases[one].0),
                _ => None,
            }
        };
        let h1 = holder(&|v| v.halls.iter().any(|h| h == "h1"));
        let cases = holder(&|v| v.case_engine);
        same = if all_live && now == last { same + 1 } else { 0 };
        if same >= 3
            && let (Some(h1), Some(cases)) = (h1, cases)
        {
            return (h1, cases);
        }
        assert!(Instant::now() < until, "the spread did not settle: {now:?}");
        last = now;
        tokio::time::sleep(round).await;
    }
}

/// The node name `X-Hallq-Node` carries for node index `i`.
fn name(i: usize) -> String {
    format!("n{}", i + 1)
}

/// Wait until the receiver saw `n` attempts of an `event` notification; its delivery id.
async fn attempted(receiver: &Receiver, event: &str, n: usize) -> String {
    let started = Instant::now();
    loop {
        let hits: Vec<Hit> = receiver
            .hits()
            .into_iter()
            .filter(|h| h.event == event)
            .collect();
        if hits.len() >= n {
            return hits[0].delivery.clone();
        }
        assert!(
            started.elapsed() < PATIENCE,
            "{} attempts of {event}: {:#?}",
            hits.len(),
            receiver.hits()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A ticket with a contact issued in `h1` through `base` (told at once: nobody waits before it).
async fn issue_with_contact(base: &str) {
    let body = json!({"service": "s", "contact": "139-8765 4321"});
    ask(
        base,
        Method::POST,
        "/v1/halls/h1/tickets",
        KIOSK,
        Some(body),
    )
    .await;
}

#[allow(
    clippy::disallowed_methods,
    reason = "the real binaries run on the real clock; cases are accepted now"
)]
async fn accept(base: &str, id: &str) {
    let body = json!({
        "id": id, "hall": "h1", "matter": "DAYS-2",
        "accepted_at": jiff::Timestamp::now().to_string(),
        "applicant": {"name": "张三", "contact": "13800138000"},
    });
    ask(base, Method::POST, "/v1/cases", OFFICER, Some(body)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_is_delivered_once_by_the_node_that_adopts_its_share() {
    let pg = Postgres::start();
    let (hook, gone) = (reserve_port(), reserve_port());
    // The gateway is down: it answers every attempt 503.
    let receiver = Receiver::new(503);
    receiver.listen(hook).await;
    // Four nodes: two survive the kills whichever nodes hold the hall and the case engine.
    let dirs: Vec<tempfile::TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let ports: Vec<u16> = (0..4).map(|_| free_port()).collect();
    let mut nodes: Vec<Option<Daemon>> = (0..4)
        .map(|i| Some(start(&pg.url(), &dirs[i], ports[i], i, (hook, gone))))
        .collect();
    let bases = loopback_bases(&ports);

    // A notification of each share, each written on the node holding it.
    let (a, c) = settled(&bases).await;
    issue_with_contact(&bases[a].1).await;
    accept(&bases[c].1, "CW-1").await;
    // Three attempts of each, a backoff apart: long enough for every other node to have
    // followed both records into its own outbox and looked at it.
    let ticket = attempted(&receiver, "ticket.turn_near", 3).await;
    let case = attempted(&receiver, "case.accepted", 3).await;
    let before = receiver.hits();
    for h in &before {
        let holder = if h.event == "ticket.turn_near" { a } else { c };
        assert_eq!(
            h.node,
            name(holder),
            "only the share's holder attempts: {h:?}"
        );
        assert_eq!(h.status, 503);
    }

    // The holders die with the notifications undelivered; the gateway comes back.
    let dead: BTreeSet<usize> = [a, c].into();
    for &i in &dead {
        nodes[i].take().unwrap().kill();
    }
    let killed_at = receiver.hits().len();
    receiver.status.store(200, Ordering::SeqCst);
    let survivors: Vec<(usize, String)> = bases
        .iter()
        .filter(|(i, _)| !dead.contains(i))
        .cloned()
        .collect();
    let delivered = receiver.wait_delivered(2).await;
    let (a2, c2) = settled(&survivors).await;
    assert_eq!(
        delivered.keys().cloned().collect::<BTreeSet<_>>(),
        [ticket.clone(), case.clone()].into(),
        "the same delivery ids as the first attempts"
    );
    for (id, (hit, times)) in &delivered {
        assert_eq!(*times, 1, "{id} delivered once");
        assert!(hit.signed, "{hit:?}");
        let first = before.iter().find(|h| &h.delivery == id).unwrap();
        assert_eq!(hit.raw, first.raw, "the body the first holder attempted");
    }
    assert_eq!(
        delivered[&ticket].0.node,
        name(a2),
        "by the hall's new holder"
    );
    assert_eq!(
        delivered[&case].0.node,
        name(c2),
        "by the case engine's new holder"
    );

    // Later notifications, through any survivor, are delivered after those: by then the
    // marks of the first two are written, and nothing is attempted again.
    issue_with_contact(&survivors[0].1).await;
    accept(&survivors[survivors.len() - 1].1, "CW-2").await;
    let delivered = receiver.wait_delivered(4).await;
    for (id, (hit, times)) in &delivered {
        assert_eq!(*times, 1, "{id} delivered once: {:#?}", receiver.hits());
        assert!(hit.signed, "{hit:?}");
    }
    for h in &receiver.hits()[killed_at..] {
        let holder = if h.event == "ticket.turn_near" {
            a2
        } else {
            c2
        };
        assert_eq!(
            h.node,
            name(holder),
            "only the share's holder attempts: {h:?}"
        );
    }

    // The `gone` webhook's letters, each dead at its holder's first attempt (CW-1's before
    // the kill), are listed through every survivor, and only those.
    for (_, base) in &survivors {
        let letters = dead_letters(base, 2).await;
        let cases: BTreeSet<&str> = letters
            .iter()
            .map(|l| {
                assert_eq!(l["webhook"], "gone", "{l}");
                l["case"].as_str().unwrap()
            })
            .collect();
        assert_eq!(cases, ["CW-1", "CW-2"].into());
    }
    // A replay through a node that does not hold the case engine is forwarded to its holder,
    // which writes it and attempts it: it dies there again, and every node sees it so.
    let (_, other) = survivors.iter().find(|(i, _)| *i != c2).unwrap();
    let letter = dead_letters(other, 2).await[0].clone();
    let id = letter["id"].as_str().unwrap();
    let path = format!("{other}/v1/webhooks/dead/{id}/replay");
    let r = call(&client(), Method::POST, path, Some(ADMIN), None, &[]).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.header("x-hallq-owner"), Some(name(c2).as_str()));
    let started = Instant::now();
    loop {
        let again = dead_letters(other, 2).await;
        let l = again
            .iter()
            .find(|l| l["id"] == id)
            .expect("still a letter");
        if l["dead_at"] != letter["dead_at"] {
            break;
        }
        assert!(started.elapsed() < PATIENCE, "the replay was not attempted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(nodes);
}

/// The dead letters through `base`, once there are `n` (following takes up to a lease round).
async fn dead_letters(base: &str, n: usize) -> Vec<serde_json::Value> {
    let started = Instant::now();
    loop {
        let r = admin_get(base, "/v1/webhooks/dead").await;
        let dead = r.body["dead"].as_array().cloned().unwrap_or_default();
        if dead.len() >= n {
            assert_eq!(dead.len(), n, "{dead:?}");
            return dead;
        }
        assert!(started.elapsed() < PATIENCE, "dead letters: {dead:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
