//! Alarms across a SIGKILL of the real daemon: levels that came due while it was down fire at
//! start-up once, with the ids they would have had; levels still ahead fire later; a consumer
//! resuming from its acknowledged cursor sees no gap and no duplicate.

mod support;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;
use support::*;

/// Every level of the `fast` ladder.
const LEVELS: [&str; 3] = ["warn", "red", "escalate"];

#[allow(
    clippy::disallowed_methods,
    reason = "cases are accepted relative to the real now"
)]
fn rfc3339_ago(seconds: i64) -> String {
    (jiff::Timestamp::now() - jiff::SignedDuration::from_secs(seconds)).to_string()
}

async fn accept(base: &str, id: &str, accepted_at: String) {
    let r = call(
        &client(),
        Method::POST,
        format!("{base}/v1/cases"),
        Some(OFFICER),
        Some(
            json!({"id": id, "hall": "h1", "matter": "FAST", "accepted_at": accepted_at})
                .to_string(),
        ),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{id}: {:?}", r.body);
}

/// Pull until `want` alarm ids are in the log after `after`, or give up after two minutes.
async fn wait_for(base: &str, query: &str, want: &HashSet<String>) -> Vec<(u64, String, String)> {
    let http = client();
    for _ in 0..1200 {
        let got = pull_alarms(&http, base, ADMIN, query).await;
        let ids: HashSet<String> = got.iter().map(|a| a.1.clone()).collect();
        if want.is_subset(&ids) {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("alarms {want:?} did not all arrive");
}

fn ids(cases: &[&str]) -> HashSet<String> {
    cases
        .iter()
        .flat_map(|c| LEVELS.iter().map(move |l| format!("{c}/{l}/1")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarms_survive_kill_9_once_each_with_stable_ids() {
    let dir = tempfile::tempdir().unwrap();
    let hallq = Hallq::config(dir.path(), &case_config(dir.path(), 1));

    let proc = hallq.spawn();
    let base = proc.base.clone();
    // Three cases whose every level is already past (8 working seconds, accepted an hour ago).
    for id in ["PAST-1", "PAST-2", "PAST-3"] {
        accept(&base, id, rfc3339_ago(3600)).await;
    }
    let before = wait_for(&base, "after=0", &ids(&["PAST-1", "PAST-2", "PAST-3"])).await;
    assert_eq!(before.len(), 9);
    let seen_before: HashMap<String, u64> = before.iter().map(|a| (a.1.clone(), a.0)).collect();
    // The supervision system has processed the first four.
    let ack = call(
        &client(),
        Method::POST,
        format!("{base}/v1/alarms/ack"),
        Some(ADMIN),
        Some(json!({"consumer": "sv", "seq": 4}).to_string()),
        &[],
    )
    .await;
    assert_eq!(ack.status, StatusCode::OK);

    // Two cases due in seconds, and two more already past, accepted just before the kill:
    // their alarms come due while the daemon is down (or just before it dies).
    for id in ["SOON-1", "SOON-2"] {
        accept(&base, id, rfc3339_ago(0)).await;
    }
    for id in ["PAST-4", "PAST-5"] {
        accept(&base, id, rfc3339_ago(3600)).await;
    }
    proc.kill();
    let killed_at: jiff::Timestamp = rfc3339_ago(0).parse().unwrap();
    // Stay down past the SOON cases' first level (4 working seconds before their deadline,
    // i.e. 4 s after acceptance), so it comes due while nothing runs.
    tokio::time::sleep(Duration::from_secs(5)).await;

    let proc = hallq.spawn();
    let base = proc.base.clone();
    let all_cases = [
        "PAST-1", "PAST-2", "PAST-3", "PAST-4", "PAST-5", "SOON-1", "SOON-2",
    ];
    let log = wait_for(&base, "after=0", &ids(&all_cases)).await;

    // Each level fired exactly once, in a gap-free sequence.
    assert_eq!(log.len(), 21, "{log:?}");
    assert_eq!(
        log.iter().map(|a| a.0).collect::<Vec<_>>(),
        (1..=21).collect::<Vec<_>>()
    );
    let unique: HashSet<&String> = log.iter().map(|a| &a.1).collect();
    assert_eq!(unique.len(), 21, "no alarm was raised twice");
    assert!(log.iter().all(|a| a.2 == "alarm"));
    // Alarms delivered before the kill kept their ids and positions.
    for (id, seq) in &seen_before {
        assert!(
            log.iter().any(|a| &a.1 == id && a.0 == *seq),
            "{id} kept seq {seq}"
        );
    }
    // No alarm was raised before its instant; the SOON cases' levels were raised after the
    // restart, the first of them late because it came due while the daemon was down.
    let full = call(
        &client(),
        Method::GET,
        format!("{base}/v1/alarms?after=0"),
        Some(ADMIN),
        None,
        &[],
    )
    .await;
    for a in full.body["alarms"].as_array().unwrap() {
        let raised: jiff::Timestamp = a["raised_at"].as_str().unwrap().parse().unwrap();
        let due: jiff::Timestamp = a["due_at"].as_str().unwrap().parse().unwrap();
        assert!(raised >= due, "{} raised before it was due", a["id"]);
        if a["case"].as_str().unwrap().starts_with("SOON") {
            assert!(
                raised > killed_at,
                "{} was raised after the restart",
                a["id"]
            );
            if a["level"] == "warn" {
                assert!(
                    due < killed_at + jiff::SignedDuration::from_secs(5),
                    "{} came due while the daemon was down",
                    a["id"]
                );
                assert!(
                    raised - due >= jiff::SignedDuration::from_secs(1),
                    "{} was raised at start-up, late",
                    a["id"]
                );
            }
        }
    }

    // The consumer resumes after its cursor: exactly 5..=21.
    let resumed = pull_alarms(&client(), &base, ADMIN, "consumer=sv").await;
    assert_eq!(
        resumed.iter().map(|a| a.0).collect::<Vec<_>>(),
        (5..=21).collect::<Vec<_>>()
    );
    proc.kill();
}
