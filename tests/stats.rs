//! `GET /v1/stats` against a workload whose every wait and service time is known: the daemon
//! runs on a clock the test moves, so counts must match exactly and percentiles within the
//! histogram's precision (three significant digits).

mod support;

use std::sync::Arc;

use hallq::clock::ManualClock;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::*;

/// The value at quantile `q` as HDR histograms define it: the smallest sample with at least
/// `q` of all samples at or below it.
fn quantile(sorted: &[u32], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    f64::from(sorted[rank - 1])
}

fn close(got: &Value, want: f64, what: &str) {
    let got = got.as_f64().unwrap_or_else(|| panic!("{what} is missing"));
    assert!(
        (got - want).abs() <= want * 0.001 + 1.0,
        "{what}: got {got}, want {want}"
    );
}

struct Run {
    srv: Server,
    clock: Arc<ManualClock>,
    /// Seconds since the tickets being served were issued.
    elapsed: i64,
}

impl Run {
    async fn post(&self, token: &str, path: &str, body: Value) -> Resp {
        let r = self.srv.post(token, path, body).await;
        assert!(r.status.is_success(), "{path}: {:?}", r.body);
        r
    }

    /// Issue `n` tickets of `service` at `hall`, all at the same instant.
    async fn issue(&self, hall: &str, service: &str, n: usize) {
        for _ in 0..n {
            self.post(
                KIOSK,
                &format!("/v1/halls/{hall}/tickets"),
                json!({"service": service}),
            )
            .await;
        }
    }

    /// Call at `window` once `wait` seconds have passed since the batch was issued, start, and
    /// after `service` seconds complete with `rating` (or mark a no-show when `service` is
    /// None). Waits must grow faster than the service times before them: time only moves on.
    async fn serve(
        &mut self,
        hall: &str,
        window: &str,
        wait: i64,
        service: Option<(i64, Option<u8>)>,
    ) {
        assert!(wait >= self.elapsed, "waits are served in order");
        self.clock.advance(wait - self.elapsed);
        self.elapsed = wait;
        let w = format!("/v1/halls/{hall}/windows/{window}");
        self.post(COUNTER, &format!("{w}/call"), json!({})).await;
        match service {
            Some((secs, rating)) => {
                self.post(COUNTER, &format!("{w}/start"), json!({})).await;
                self.clock.advance(secs);
                self.elapsed += secs;
                let body = rating.map_or(json!({}), |r| json!({"evaluation": r}));
                self.post(COUNTER, &format!("{w}/complete"), body).await;
            }
            None => {
                self.post(COUNTER, &format!("{w}/no-show"), json!({})).await;
            }
        }
    }

    /// Issue the next batch: waits count from here.
    async fn issue_batch(&mut self, hall: &str, service: &str, n: usize) {
        self.issue(hall, service, n).await;
        self.elapsed = 0;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(
    clippy::disallowed_methods,
    reason = "the manual clock starts at the real now, which the calendars cover"
)]
async fn statistics_match_the_workload_for_a_hall_and_its_subtree() {
    let dir = tempfile::tempdir().unwrap();
    let text = case_config(dir.path(), 2);
    let clock = Arc::new(ManualClock::new(jiff::Timestamp::now()));
    let srv = start_with_clock(&text, dir, clock.clone()).await;
    let mut run = Run {
        srv,
        clock: clock.clone(),
        elapsed: 0,
    };
    for (hall, w) in [("h1", "w1"), ("h2", "w1")] {
        run.post(
            COUNTER,
            &format!("/v1/halls/{hall}/windows/{w}/open"),
            json!({}),
        )
        .await;
    }

    // h1, service s: ten tickets issued together; each served after a known wait.
    run.issue_batch("h1", "s", 10).await;
    let h1_waits: Vec<u32> = (1..=10).map(|i| 37 * i * i).collect();
    let mut h1_service = Vec::new();
    let mut ratings = [0u64; 5];
    for (i, &wait) in h1_waits.iter().enumerate() {
        let outcome = match i {
            2 | 7 => None,
            _ => {
                let secs = 45 + 20 * i as i64;
                let rating = [5, 5, 4, 3, 1, 5, 2, 4, 5, 5][i];
                h1_service.push(secs as u32);
                ratings[rating as usize - 1] += 1;
                Some((secs, Some(rating)))
            }
        };
        run.serve("h1", "w1", i64::from(wait), outcome).await;
    }
    // Two more tickets still waiting, one cancelled.
    run.issue("h1", "s", 3).await;
    let waiting = run
        .srv
        .get(ADMIN, "/v1/halls/h1/tickets?status=waiting")
        .await;
    let last = waiting.body.as_array().unwrap().last().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    run.post(
        KIOSK,
        &format!("/v1/halls/h1/tickets/{last}/cancel"),
        json!({}),
    )
    .await;

    // h2 (a township under h1), service s: four tickets.
    run.issue_batch("h2", "s", 4).await;
    let h2_waits: Vec<u32> = vec![100, 450, 900, 1500];
    for &wait in &h2_waits {
        run.serve("h2", "w1", i64::from(wait), Some((300, None)))
            .await;
    }

    // Cases: one finished late, one on time.
    for (id, matter, ago) in [("LATE", "FAST", 3600), ("SOON", "DAYS-2", 0)] {
        let at = (clock_now(&clock) - jiff::SignedDuration::from_secs(ago)).to_string();
        run.post(
            OFFICER,
            "/v1/cases",
            json!({"id": id, "hall": "h1", "matter": matter, "accepted_at": at}),
        )
        .await;
        run.post(OFFICER, &format!("/v1/cases/{id}/complete"), json!({}))
            .await;
    }

    let one = run.srv.get(ADMIN, "/v1/stats?hall=h1").await;
    assert_eq!(one.status, StatusCode::OK, "{:?}", one.body);
    let s = one.body["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service"] == "s")
        .unwrap();
    assert_eq!(
        (
            s["issued"].as_u64(),
            s["served"].as_u64(),
            s["no_show"].as_u64(),
            s["cancelled"].as_u64(),
            s["open"].as_u64(),
            s["called"].as_u64()
        ),
        (Some(13), Some(8), Some(2), Some(1), Some(2), Some(10))
    );
    assert_eq!(s["ratings"], json!(ratings));
    close(&s["no_show_rate"], 2.0 / 10.0, "no-show rate");
    close(&s["satisfaction_rate"], 6.0 / 8.0, "satisfaction rate");
    let mut sorted = h1_waits.clone();
    sorted.sort_unstable();
    for (key, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99)] {
        close(
            &s["wait_s"][key],
            quantile(&sorted, q),
            &format!("h1 wait {key}"),
        );
    }
    h1_service.sort_unstable();
    close(
        &s["service_s"]["p50"],
        quantile(&h1_service, 0.5),
        "h1 service p50",
    );
    assert_eq!(one.body["cases"]["finished_on_time"], 1);
    assert_eq!(one.body["cases"]["finished_overdue"], 1);
    let win = &one.body["windows"];
    assert!(
        win["busy_s"].as_u64().unwrap() == h1_service.iter().map(|&s| u64::from(s)).sum::<u64>()
    );

    // The subtree keeps a row per hall for the service both halls have (it once merged them
    // into one row), a total per hall, and the total over both.
    let tree = run.srv.get(ADMIN, "/v1/stats?hall=h1&subtree=true").await;
    assert_eq!(tree.body["halls"], json!(["h1", "h2"]));
    let row = |hall: &str| {
        tree.body["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["service"] == "s" && s["hall"] == hall)
            .unwrap_or_else(|| panic!("no row for service s of {hall}: {:?}", tree.body))
            .clone()
    };
    let (h1_row, h2_row) = (row("h1"), row("h2"));
    assert_eq!(
        (h1_row["issued"].as_u64(), h1_row["served"].as_u64()),
        (Some(13), Some(8))
    );
    assert_eq!(
        (h2_row["issued"].as_u64(), h2_row["served"].as_u64()),
        (Some(4), Some(4))
    );
    let mut h2_sorted = h2_waits.clone();
    h2_sorted.sort_unstable();
    close(
        &h2_row["wait_s"]["p50"],
        quantile(&h2_sorted, 0.5),
        "h2 wait p50",
    );
    let per_hall: Vec<(String, u64)> = tree.body["hall_totals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["hall"].as_str().unwrap().to_owned(),
                h["issued"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(per_hall, vec![("h1".to_owned(), 13), ("h2".to_owned(), 4)]);
    let mut both: Vec<u32> = h1_waits.iter().chain(&h2_waits).copied().collect();
    both.sort_unstable();
    for (key, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99)] {
        close(
            &tree.body["total"]["wait_s"][key],
            quantile(&both, q),
            &format!("subtree wait {key}"),
        );
    }
    assert_eq!(tree.body["total"]["issued"], 17);

    // The CSV has a row per service and a total.
    let csv = call(
        &run.srv.http,
        Method::GET,
        format!("{}/v1/stats?hall=h1&subtree=true&format=csv", run.srv.base),
        Some(ADMIN),
        None,
        &[],
    )
    .await;
    assert!(csv.content_type.starts_with("text/csv"));
    let text = csv.body.as_str().unwrap().to_owned();
    let rows: Vec<&str> = text.lines().collect();
    assert!(rows[0].starts_with("day,hall,subtree,service,issued"));
    assert!(rows.iter().any(|r| r.contains(",h1,true,s,13,")), "{text}");
    assert!(rows.iter().any(|r| r.contains(",h2,true,s,4,")), "{text}");
    assert!(rows.iter().any(|r| r.contains(",h2,true,*,4,")), "{text}");
    assert!(rows.last().unwrap().contains(",*,"), "{text}");

    // A supervisor of h2 cannot read h1's statistics; a kiosk reads none.
    assert_eq!(
        run.srv
            .get(H2_SUPERVISOR, "/v1/stats?hall=h1")
            .await
            .status
            .as_u16(),
        403
    );
    assert_eq!(
        run.srv.get(H2_SUPERVISOR, "/v1/stats?hall=h2").await.status,
        StatusCode::OK
    );
    assert_eq!(
        run.srv
            .get(KIOSK, "/v1/stats?hall=h2")
            .await
            .status
            .as_u16(),
        403
    );
    assert_eq!(
        run.srv
            .get(ADMIN, "/v1/stats?hall=h1&day=yesterday")
            .await
            .body["field"],
        "day"
    );

    // After the business day turns, that day's statistics come from the store, the same.
    let day = one.body["day"].as_str().unwrap().to_owned();
    clock.advance(13 * 3600);
    run.issue("h1", "t", 1).await;
    let stored = run
        .srv
        .get(ADMIN, &format!("/v1/stats?hall=h1&day={day}"))
        .await;
    let s = stored.body["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service"] == "s")
        .unwrap();
    assert_eq!(
        (
            s["issued"].as_u64(),
            s["served"].as_u64(),
            s["expired"].as_u64()
        ),
        (Some(13), Some(8), Some(2))
    );
    close(
        &s["wait_s"]["p90"],
        quantile(&sorted, 0.9),
        "stored wait p90",
    );
    run.srv.stop().await;
}

fn clock_now(clock: &ManualClock) -> jiff::Timestamp {
    use hallq::clock::Clock;
    clock.now()
}
