//! Kill the real daemon with SIGKILL while clients issue and call, restart it on the same
//! data directory, and check that nothing acknowledged was lost or repeated.

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use reqwest::{Method, StatusCode};
use serde_json::json;
use support::*;

#[derive(Default)]
struct Acked {
    /// Ticket id → number, for every issue answered 201.
    issued: HashMap<String, String>,
    /// Ticket ids of every call answered 200.
    called: HashSet<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_no_acknowledged_ticket_and_the_display_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let hallq = Hallq::config(dir.path(), &config(4));

    let proc = hallq.spawn();
    let base = proc.base.clone();
    let http = client();
    for w in 1..=4 {
        let r = call(
            &http,
            Method::POST,
            format!("{base}/v1/halls/h1/windows/w{w}/open"),
            Some(COUNTER),
            None,
            &[],
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    // An idempotent issue acknowledged before the crash.
    let idem_issue = || {
        call(
            &http,
            Method::POST,
            format!("{}/v1/halls/h1/tickets", base),
            Some(KIOSK),
            Some(json!({"service": "t"}).to_string()),
            &[("Idempotency-Key", "before-crash")],
        )
    };
    let first = idem_issue().await;
    assert_eq!(first.status, StatusCode::CREATED);

    // A display that records everything it is shown.
    let seen: Arc<Mutex<Vec<Sse>>> = Arc::default();
    let mut rx = subscribe(&base, "h1", DISPLAY, None).await;
    let display = {
        let seen = seen.clone();
        tokio::spawn(async move {
            while let Some(e) = rx.recv().await {
                seen.lock().unwrap().push(e);
            }
        })
    };

    let acked: Arc<Mutex<Acked>> = Arc::default();
    let mut workers = Vec::new();
    for k in 0..4 {
        let (acked, base, http) = (acked.clone(), base.clone(), http.clone());
        workers.push(tokio::spawn(async move {
            for i in 0.. {
                let service = if (i + k) % 4 == 0 { "t" } else { "s" };
                let r = http
                    .post(format!("{base}/v1/halls/h1/tickets"))
                    .bearer_auth(KIOSK)
                    .json(&json!({"service": service}))
                    .send()
                    .await;
                let Ok(r) = r else { return };
                if r.status() != StatusCode::CREATED {
                    return;
                }
                let Ok(t) = r.json::<serde_json::Value>().await else {
                    return;
                };
                acked.lock().unwrap().issued.insert(
                    t["id"].as_str().unwrap().to_owned(),
                    t["number"].as_str().unwrap().to_owned(),
                );
            }
        }));
    }
    for w in 1..=4 {
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
                        acked
                            .lock()
                            .unwrap()
                            .called
                            .insert(t["id"].as_str().unwrap().to_owned());
                    }
                    StatusCode::NO_CONTENT => tokio::task::yield_now().await,
                    _ => return,
                }
            }
        }));
    }
    // Let work pile up, then kill the daemon in the middle of it.
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let a = acked.lock().unwrap();
        if a.issued.len() >= 300 && a.called.len() >= 100 {
            break;
        }
    }
    proc.kill();
    for w in workers {
        w.await.unwrap();
    }
    display.await.unwrap();
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    let last_seen = seen.last().expect("the display saw events").id;

    // Restart on the same data directory.
    let proc = hallq.spawn();
    let base = proc.base.clone();

    // Every acknowledged ticket is there with its number; every acknowledged call stuck.
    let all = call(
        &http,
        Method::GET,
        format!("{base}/v1/halls/h1/tickets"),
        Some(ADMIN),
        None,
        &[],
    )
    .await;
    let stored: HashMap<String, (String, String)> = all
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap().to_owned(),
                (
                    t["number"].as_str().unwrap().to_owned(),
                    t["status"].as_str().unwrap().to_owned(),
                ),
            )
        })
        .collect();
    for (id, number) in &acked.issued {
        let (n, _) = stored
            .get(id)
            .unwrap_or_else(|| panic!("acknowledged ticket {id} was lost"));
        assert_eq!(n, number);
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

    // The day's sequence continues after the highest number ever stored.
    for (service, prefix) in [("s", "A"), ("t", "B")] {
        let highest = stored
            .values()
            .filter_map(|(n, _)| n.strip_prefix(prefix)?.parse::<u32>().ok())
            .max()
            .unwrap();
        let r = call(
            &http,
            Method::POST,
            format!("{base}/v1/halls/h1/tickets"),
            Some(KIOSK),
            Some(json!({"service": service}).to_string()),
            &[],
        )
        .await;
        let next: u32 = r.body["number"]
            .as_str()
            .unwrap()
            .strip_prefix(prefix)
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            next,
            highest + 1,
            "service {service} continues its sequence"
        );
    }

    // The idempotent issue answers as before the crash.
    let again = call(
        &http,
        Method::POST,
        format!("{base}/v1/halls/h1/tickets"),
        Some(KIOSK),
        Some(json!({"service": "t"}).to_string()),
        &[("Idempotency-Key", "before-crash")],
    )
    .await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.body, first.body);

    // The durable log, read from its start.
    let snapshot = call(
        &http,
        Method::GET,
        format!("{base}/v1/halls/h1"),
        Some(DISPLAY),
        None,
        &[],
    )
    .await;
    let head = snapshot.body["seq"].as_u64().unwrap();
    let mut full = subscribe(&base, "h1", DISPLAY, Some(0)).await;
    let mut log = Vec::new();
    while log.last().map(|e: &Sse| e.id) != Some(head) {
        log.push(next(&mut full, "the logged events").await);
    }
    assert_eq!(
        log.iter().map(|e| e.id).collect::<Vec<_>>(),
        (1..=head).collect::<Vec<_>>(),
        "the log is gap-free"
    );
    // The hall's recent calls (written as deltas: the calls since the hall's last record)
    // are the last ten calls of the log, newest first, as they were announced.
    let fields = |c: &serde_json::Value| {
        ["ticket", "window", "called_at", "announcement"].map(|f| c[f].clone())
    };
    let logged_calls: Vec<_> = log
        .iter()
        .rev()
        .filter(|e| e.event == "called")
        .take(10)
        .map(|e| fields(&e.data))
        .collect();
    let recent: Vec<_> = snapshot.body["recent_calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(fields)
        .collect();
    assert_eq!(recent.len(), 10, "more than ten calls were made");
    assert_eq!(recent, logged_calls);

    // Everything the display was shown before the crash is in the log as it was shown: a
    // display never sees an event the crash could undo.
    let shown: Vec<&Sse> = seen.iter().filter(|e| e.event != "snapshot").collect();
    for e in &shown {
        let logged = &log[(e.id - 1) as usize];
        assert_eq!(
            (&logged.event, &logged.data),
            (&e.event, &e.data),
            "event {} differs from the log",
            e.id
        );
    }

    // The display reconnects with its Last-Event-ID and gets exactly what it missed.
    let mut resumed = subscribe(&base, "h1", DISPLAY, Some(last_seen)).await;
    let mut missed = Vec::new();
    while missed.last().map(|e: &Sse| e.id) != Some(head) && last_seen < head {
        missed.push(next(&mut resumed, "a missed event").await);
    }
    let expected: Vec<(u64, &str)> = log
        .iter()
        .filter(|e| e.id > last_seen)
        .map(|e| (e.id, e.event.as_str()))
        .collect();
    let got: Vec<(u64, &str)> = missed.iter().map(|e| (e.id, e.event.as_str())).collect();
    assert_eq!(got, expected);
    assert!(
        !expected.is_empty(),
        "events happened after the last one the display saw"
    );
    proc.kill();
}
