//! Kill the real daemon with SIGKILL at random moments of the log's appends and checkpoints
//! (a checkpoint after every few writes, so a kill lands in one as often as in an append; the
//! smallest log segments, so kills also land in segment switches and in reused segments whose
//! old records are still inside),
//! many times on one data directory, and check after every restart that recovery succeeded,
//! every acknowledged issue and call is there exactly once with its number, and no number
//! was given twice.
//!
//! Sized for CI (six kills, a few seconds); `HALLQ_CRASH_CYCLES=200` soaks longer (past about
//! 900 issues, the day's numbers of the service, it goes on with calls and retries only).
//! `HALLQ_CRASH_SEED` replays a run (every run prints its seed).

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;
use support::*;

#[derive(Default, Clone)]
struct Acked {
    /// Idempotency-Key → (ticket id, number) of every issue answered 201.
    issued: HashMap<String, (String, String)>,
    /// Ticket ids of every call answered 200.
    called: HashSet<String>,
}

/// xorshift64*: enough to spread kills, and replayable from the printed seed.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.parse().ok()
}

async fn issue(http: &reqwest::Client, base: &str, key: &str) -> Option<(String, String)> {
    let r = http
        .post(format!("{base}/v1/halls/h1/tickets"))
        .bearer_auth(KIOSK)
        .header("Idempotency-Key", key)
        .json(&json!({"service": "s"}))
        .send()
        .await
        .ok()?;
    if r.status() != StatusCode::CREATED {
        return None;
    }
    let t: serde_json::Value = r.json().await.ok()?;
    Some((
        t["id"].as_str()?.to_owned(),
        t["number"].as_str()?.to_owned(),
    ))
}

/// Every acknowledged operation is there once; returns how many tickets are stored.
async fn check(http: &reqwest::Client, base: &str, acked: &Acked, rng: &mut Rng) -> usize {
    let all = call(
        http,
        Method::GET,
        format!("{base}/v1/halls/h1/tickets"),
        Some(ADMIN),
        None,
        &[],
    )
    .await;
    assert_eq!(all.status, StatusCode::OK, "{:?}", all.body);
    let stored: HashMap<String, (String, String)> = all
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let s = |k: &str| t[k].as_str().unwrap().to_owned();
            (s("id"), (s("number"), s("status")))
        })
        .collect();
    for (key, (id, number)) in &acked.issued {
        let (n, _) = stored
            .get(id)
            .unwrap_or_else(|| panic!("acknowledged ticket {id} (key {key}) was lost"));
        assert_eq!(n, number, "ticket {id} kept its number");
    }
    for id in &acked.called {
        let (_, status) = &stored[id];
        assert!(
            status == "called" || status == "done",
            "acknowledged call of {id} is now {status}"
        );
    }
    let numbers: HashSet<&String> = stored.values().map(|(n, _)| n).collect();
    assert_eq!(numbers.len(), stored.len(), "no number was issued twice");
    // A retry of an acknowledged issue answers the same ticket and adds none.
    let keys: Vec<&String> = acked.issued.keys().collect();
    for _ in 0..keys.len().min(50) {
        let key = keys[rng.below(keys.len() as u64) as usize];
        let again = issue(http, base, key).await.expect("a retry is answered");
        assert_eq!(
            &again, &acked.issued[key],
            "key {key} answers its first ticket"
        );
    }
    stored.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_kills_in_log_appends_and_checkpoints_lose_and_repeat_nothing_acknowledged() {
    let cycles = env_u64("HALLQ_CRASH_CYCLES").unwrap_or(6);
    let seed = env_u64("HALLQ_CRASH_SEED").unwrap_or_else(|| getrandom::u64().unwrap() | 1);
    println!("HALLQ_CRASH_SEED={seed} HALLQ_CRASH_CYCLES={cycles}");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let text = with_store_settings(&config(2), "checkpoint_writes = 8\nlog_segment_mb = 1");
    let hallq = Hallq::config(dir.path(), &text);
    let http = client();
    let acked: Arc<Mutex<Acked>> = Arc::default();

    for cycle in 0..cycles {
        // Recovery must succeed every time: `spawn` fails the test if the daemon does not
        // come up.
        let proc = hallq.spawn();
        let base = proc.base.clone();
        let so_far = acked.lock().unwrap().clone();
        let before = check(&http, &base, &so_far, &mut rng).await;
        let stored = check(&http, &base, &so_far, &mut rng).await;
        assert_eq!(before, stored, "retries issued nothing");
        for w in 1..=2 {
            call(
                &http,
                Method::POST,
                format!("{base}/v1/halls/h1/windows/w{w}/open"),
                Some(COUNTER),
                None,
                &[],
            )
            .await;
        }
        let mut workers = Vec::new();
        for k in 0..3 {
            let (acked, base, http) = (acked.clone(), base.clone(), http.clone());
            workers.push(tokio::spawn(async move {
                for i in 0.. {
                    // A service numbers at most 999 tickets a day; a soak goes on with calls.
                    if acked.lock().unwrap().issued.len() >= 900 {
                        return;
                    }
                    let key = format!("c{cycle}-k{k}-{i}");
                    let Some(ticket) = issue(&http, &base, &key).await else {
                        return;
                    };
                    acked.lock().unwrap().issued.insert(key, ticket);
                }
            }));
        }
        for w in 1..=2 {
            let (acked, base, http) = (acked.clone(), base.clone(), http.clone());
            workers.push(tokio::spawn(async move {
                loop {
                    let r = http
                        .post(format!("{base}/v1/halls/h1/windows/w{w}/call"))
                        .bearer_auth(COUNTER)
                        .send()
                        .await;
                    let Ok(r) = r else { return };
                    match r.status() {
                        StatusCode::OK => {
                            let Ok(t) = r.json::<serde_json::Value>().await else {
                                return;
                            };
                            let id = t["id"].as_str().unwrap().to_owned();
                            acked.lock().unwrap().called.insert(id);
                        }
                        StatusCode::NO_CONTENT => tokio::task::yield_now().await,
                        _ => return,
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(100 + rng.below(900))).await;
        proc.kill();
        for w in workers {
            w.await.unwrap();
        }
    }

    let proc = hallq.spawn();
    let base = proc.base.clone();
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(
        acked.issued.len() > cycles as usize,
        "the daemon acknowledged work between kills ({} issues)",
        acked.issued.len()
    );
    let stored = check(&http, &base, &acked, &mut rng).await;
    println!(
        "{} issues and {} calls acknowledged, {stored} tickets stored, over {cycles} kills",
        acked.issued.len(),
        acked.called.len()
    );
    // Numbering continues after the highest number ever stored.
    let highest = acked
        .issued
        .values()
        .filter_map(|(_, n)| n.strip_prefix('A')?.parse::<u32>().ok())
        .max()
        .unwrap();
    let (_, next) = issue(&http, &base, "after-all").await.unwrap();
    let next: u32 = next.strip_prefix('A').unwrap().parse().unwrap();
    assert!(next > highest, "A{next} comes after A{highest}");
    // The hall's durable event log is gap-free from its start.
    let head = call(
        &http,
        Method::GET,
        format!("{base}/v1/halls/h1"),
        Some(DISPLAY),
        None,
        &[],
    )
    .await
    .body["seq"]
        .as_u64()
        .unwrap();
    let mut full = subscribe(&base, "h1", DISPLAY, Some(0)).await;
    let mut ids = Vec::new();
    while ids.last() != Some(&head) {
        ids.push(next_event(&mut full).await);
    }
    assert_eq!(ids, (1..=head).collect::<Vec<_>>(), "the log is gap-free");
}

async fn next_event(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Sse>) -> u64 {
    next(rx, "the logged events").await.id
}
