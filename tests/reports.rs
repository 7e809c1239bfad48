//! The assessment reports over the real server on a clock the test moves: two business days
//! of tickets, ratings, sign-ins, a rectification and a complaint at a county hall and the
//! township under it. The monthly report's rows per hall, window and officer must match what
//! the test did, the first day read back from its stored day record (its tickets are purged
//! when the day turns), the second from the running hall.

mod support;

use std::sync::Arc;

use hallq::clock::ManualClock;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::*;

/// `config(1)` with a roster: h1's w1 held by 王芳 (A) and 李明 (B), h2's w1 by 张伟, a
/// rating window and a case officer.
fn report_config(dir: &std::path::Path) -> String {
    std::fs::write(dir.join("always.toml"), always_calendar(&[])).unwrap();
    let base = config(1)
        .replacen(
            "services = [\"s\", \"t\"]\n",
            "services = [\"s\", \"t\"]\nposts = { a = \"1001\", b = \"1002\" }\n",
            1,
        )
        .replacen(
            "name = \"1号窗口\"\nservices = [\"s\"]\n",
            "name = \"1号窗口\"\nservices = [\"s\"]\nposts = { a = \"1003\" }\n",
            1,
        );
    format!(
        r#"{base}
[[calendar]]
id = "always"
file = "{}"

[rating]
window_min = 30
complaint_limit = "2wh"

[[officer]]
staff_no = "1001"
name = "王芳"

[[officer]]
staff_no = "1002"
name = "李明"

[[officer]]
staff_no = "1003"
name = "张伟"
{}"#,
        dir.join("always.toml").display(),
        token(OFFICER, "case-officer", &["*"]) + &token(H2_SUPERVISOR, "supervisor", &["h2"]),
    )
}

struct Run {
    srv: Server,
    clock: Arc<ManualClock>,
}

impl Run {
    async fn post(&self, token: &str, path: &str, body: Value) -> Value {
        let r = self.srv.post(token, path, body).await;
        assert!(r.status.is_success(), "{path}: {:?}", r.body);
        r.body
    }

    async fn window(&self, hall: &str, action: &str, body: Value) -> Value {
        self.post(
            COUNTER,
            &format!("/v1/halls/{hall}/windows/w1/{action}"),
            body,
        )
        .await
    }

    async fn issue(&self, hall: &str) -> String {
        let t = self
            .post(
                KIOSK,
                &format!("/v1/halls/{hall}/tickets"),
                json!({"service": "s"}),
            )
            .await;
        t["id"].as_str().unwrap().to_owned()
    }

    /// Call after `wait` more seconds, serve for `secs` and have the citizen rate `rating`
    /// at the counter's 评价器; a no-show when `secs` is None.
    async fn serve(&self, hall: &str, wait: i64, secs: Option<i64>, rating: Option<u8>) {
        self.clock.advance(wait);
        let called = self.window(hall, "call", json!({})).await;
        let ticket = called["id"].as_str().unwrap().to_owned();
        let Some(secs) = secs else {
            self.window(hall, "no-show", json!({})).await;
            return;
        };
        self.window(hall, "start", json!({})).await;
        self.clock.advance(secs);
        self.window(hall, "complete", json!({})).await;
        if let Some(r) = rating {
            self.post(
                COUNTER,
                &format!("/v1/halls/{hall}/tickets/{ticket}/rating"),
                json!({"rating": r}),
            )
            .await;
        }
    }

    async fn report(&self, query: &str) -> Value {
        let r = self.srv.get(ADMIN, &format!("/v1/reports/{query}")).await;
        assert_eq!(r.status, StatusCode::OK, "{query}: {:?}", r.body);
        r.body
    }
}

fn row<'a>(rows: &'a Value, keys: &[(&str, &str)]) -> &'a Value {
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| keys.iter().all(|(k, v)| r[*k] == *v))
        .unwrap_or_else(|| panic!("no row {keys:?} in {rows}"))
}

/// (served, [ratings 1..5], waits, service times, signed-in seconds, absences, covered).
type Expect = (u64, [u64; 5], Vec<u64>, Vec<u64>, u64, u64, u64);

fn check(got: &Value, want: &Expect, what: &str) {
    let (served, ratings, waits, services, signed, absences, covered) = want;
    assert_eq!(got["served"], *served, "{what} served: {got}");
    assert_eq!(got["ratings"], json!(ratings), "{what} ratings: {got}");
    assert_eq!(got["bad_ratings"], ratings[0] + ratings[1], "{what}: {got}");
    let rated: u64 = ratings.iter().sum();
    if rated > 0 {
        let sat = (ratings[3] + ratings[4]) as f64 / rated as f64;
        assert!(
            (got["satisfaction_rate"].as_f64().unwrap() - sat).abs() < 1e-9,
            "{what} satisfaction: {got}"
        );
    }
    // Percentiles as HDR histograms define them; the samples are exact at this size.
    let q = |s: &[u64], q: f64| {
        let mut s = s.to_vec();
        s.sort_unstable();
        let rank = (q * s.len() as f64).ceil() as usize;
        s.get(rank.max(1) - 1).map_or(Value::Null, |v| json!(v))
    };
    assert_eq!(got["wait_s"]["count"], waits.len(), "{what} waits: {got}");
    assert_eq!(got["wait_s"]["p50"], q(waits, 0.5), "{what} wait p50");
    assert_eq!(got["wait_s"]["p90"], q(waits, 0.9), "{what} wait p90");
    assert_eq!(
        got["service_s"]["p50"],
        q(services, 0.5),
        "{what} service p50"
    );
    assert_eq!(
        got["service_s"]["max"],
        q(services, 1.0),
        "{what} service max"
    );
    // Every row has its attendance: halls, windows (either post) and officers.
    let a = &got["attendance"];
    assert_eq!(a["signed_in_s"], *signed, "{what} signed in: {got}");
    assert_eq!(a["absences"], *absences, "{what} absences: {got}");
    assert_eq!(a["covered_absences"], *covered, "{what} covered: {got}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(
    clippy::disallowed_methods,
    reason = "the manual clock starts at the real now, which the calendars cover"
)]
async fn the_monthly_report_counts_what_the_halls_did_per_hall_window_and_officer() {
    let dir = tempfile::tempdir().unwrap();
    let text = report_config(dir.path());
    let clock = Arc::new(ManualClock::new(jiff::Timestamp::now()));
    let srv = start_with_clock(&text, dir, clock.clone()).await;
    let run = Run {
        srv,
        clock: clock.clone(),
    };
    let day1 = run.report("daily?hall=h1").await["period"]["name"]
        .as_str()
        .unwrap()
        .to_owned();

    // Day 1. 王芳 (A) opens h1's window, 张伟 h2's; three tickets at h1, one at h2.
    run.window("h1", "open", json!({"post": "A", "officer": "王芳"}))
        .await;
    run.window("h2", "open", json!({"post": "A", "officer": "1003"}))
        .await;
    for _ in 0..3 {
        run.issue("h1").await;
    }
    run.issue("h2").await;
    run.serve("h1", 100, Some(200), Some(5)).await; // wait 100, service 200
    run.serve("h1", 0, Some(100), Some(1)).await; // wait 300, service 100: 差评
    run.serve("h1", 0, None, None).await; // wait 400, no-show
    run.serve("h2", 0, Some(150), Some(4)).await; // wait 400, service 150
    // At +550 李明 (B) arrives; at +600 王芳 leaves on covered leave; both sign off at +700.
    run.window("h1", "sign-in", json!({"post": "B", "officer": "李明"}))
        .await;
    clock.advance(50);
    let back = (clock_now(&clock) + jiff::SignedDuration::from_hours(6)).to_string();
    run.window(
        "h1",
        "sign-out",
        json!({"post": "A", "reason": "病假", "back_at": back}),
    )
    .await;
    clock.advance(100);
    run.window("h1", "sign-out", json!({"post": "B"})).await;
    run.window("h2", "sign-out", json!({"post": "A"})).await;

    // The bad rating's rectification, closed at once (on time); a complaint comes in.
    let tickets = run.srv.get(ADMIN, "/v1/halls/h1/tickets").await;
    let bad = tickets.body.as_array().unwrap()[1]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let rect = format!("RECT-h1-{bad}");
    let mut open = false;
    for _ in 0..200 {
        if run
            .srv
            .get(OFFICER, &format!("/v1/cases/{rect}"))
            .await
            .status
            == StatusCode::OK
        {
            open = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(open, "the rectification {rect} opened");
    run.post(
        OFFICER,
        &format!("/v1/cases/{rect}/complete"),
        json!({"verification": "checked", "action": "retrained", "feedback": "phoned back"}),
    )
    .await;
    // Complaints: one about 王芳 (by staff number), closed on day 2, long after its two
    // working hours; one about 张伟, closed at once.
    let about_wang = run
        .post(
            OFFICER,
            "/v1/complaints",
            json!({"hall": "h1", "channel": "hotline", "subject": "rude", "officer": "1001"}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let about_zhang = run
        .post(
            OFFICER,
            "/v1/complaints",
            json!({"hall": "h2", "channel": "web", "subject": "slow", "officer": "张伟"}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let closing =
        json!({"verification": "checked", "action": "talked to", "feedback": "phoned back"});
    run.post(
        OFFICER,
        &format!("/v1/cases/{about_zhang}/complete"),
        closing.clone(),
    )
    .await;

    // Day 2, thirteen hours on (the test day turns twelve hours after the start).
    clock.advance(13 * 3600);
    run.window("h1", "open", json!({"post": "A", "officer": "王芳"}))
        .await;
    run.window("h2", "open", json!({"post": "A", "officer": "张伟"}))
        .await;
    run.issue("h1").await;
    run.serve("h1", 30, Some(90), Some(2)).await; // wait 30, service 90: 差评
    run.post(
        OFFICER,
        &format!("/v1/cases/{about_wang}/complete"),
        closing.clone(),
    )
    .await;
    // A complaint naming no one, left open.
    run.post(
        OFFICER,
        "/v1/complaints",
        json!({"hall": "h1", "channel": "letter", "subject": "queue too long"}),
    )
    .await;
    let day2 = run.report("daily?hall=h1").await["period"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(day1, day2, "the business day turned");

    // What each day should add, by hall, window and officer.
    let h1 = |d: usize| -> Expect {
        if d == 1 {
            (
                2,
                [1, 0, 0, 0, 1],
                vec![100, 300, 400],
                vec![200, 100],
                750,
                1,
                1,
            )
        } else {
            (1, [0, 1, 0, 0, 0], vec![30], vec![90], 120, 0, 0)
        }
    };
    let h2 = |d: usize| -> Expect {
        if d == 1 {
            (1, [0, 0, 0, 1, 0], vec![400], vec![150], 700, 0, 0)
        } else {
            (0, [0; 5], vec![], vec![], 120, 0, 0)
        }
    };
    let wang = |d: usize| -> Expect {
        let mut e = h1(d);
        e.4 = if d == 1 { 600 } else { 120 };
        e
    };
    let li = |d: usize| -> Expect {
        if d == 1 {
            (0, [0; 5], vec![], vec![], 150, 0, 0)
        } else {
            (0, [0; 5], vec![], vec![], 0, 0, 0)
        }
    };
    let sum = |f: &dyn Fn(usize) -> Expect, days: &[usize]| -> Expect {
        let mut out: Expect = (0, [0; 5], vec![], vec![], 0, 0, 0);
        for &d in days {
            let e = f(d);
            out.0 += e.0;
            for (o, n) in out.1.iter_mut().zip(e.1) {
                *o += n;
            }
            out.2.extend(e.2);
            out.3.extend(e.3);
            out.4 += e.4;
            out.5 += e.5;
            out.6 += e.6;
        }
        out
    };

    // One monthly report per month the two days fall in (usually one).
    let month = |d: &str| d[..7].to_owned();
    let mut months = vec![(month(&day1), vec![1])];
    if month(&day2) == months[0].0 {
        months[0].1.push(2);
    } else {
        months.push((month(&day2), vec![2]));
    }
    for (m, days) in &months {
        let r = run
            .report(&format!("monthly?hall=h1&subtree=true&period={m}"))
            .await;
        assert_eq!(r["title"], "月通报");
        assert_eq!(r["period"]["name"], *m);
        let halls = &r["halls"];
        let ids: Vec<&str> = halls
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["hall"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["h1", "h2"], "a row per hall of the subtree");
        let h1_row = row(halls, &[("hall", "h1")]);
        check(h1_row, &sum(&h1, days), &format!("h1 {m}"));
        check(
            row(halls, &[("hall", "h2")]),
            &sum(&h2, days),
            &format!("h2 {m}"),
        );
        let (first, second) = (days.contains(&1), days.contains(&2));
        let n = u64::from;
        // The rating loop by hall: day 1's 差评 at h1 rectified on time (day 2's is still
        // open); complaints counted on the day received and on the day closed.
        rating_loop(
            h1_row,
            (n(first), 0),
            n(first) + n(second),
            (0, n(second)),
            "h1",
        );
        rating_loop(
            row(halls, &[("hall", "h2")]),
            (0, 0),
            n(first),
            (n(first), 0),
            "h2",
        );
        // Every finished case: h1's rectification on day 1 and its late complaint on day 2,
        // h2's complaint on day 1.
        assert_eq!(
            h1_row["cases"],
            json!({"on_time": n(first), "late": n(second)})
        );
        assert_eq!(
            row(halls, &[("hall", "h2")])["cases"],
            json!({"on_time": n(first), "late": 0})
        );
        rating_loop(
            &r["total"],
            (n(first), 0),
            2 * n(first) + n(second),
            (n(first), n(second)),
            "total",
        );
        assert_eq!(
            h1_row["issued"],
            if first { 3 } else { 0 } + u64::from(days.contains(&2))
        );
        assert_eq!(h1_row["no_show"], u64::from(first));
        // Windows: h1's w1 served what h1 served, h2's what h2 did.
        let windows = &r["windows"];
        // Attendance too: h1's w1 had 王芳 and 李明 (A and B), h2's 张伟.
        let h1_w1 = row(windows, &[("hall", "h1"), ("window", "w1")]);
        check(h1_w1, &sum(&h1, days), "h1 w1");
        check(
            row(windows, &[("hall", "h2"), ("window", "w1")]),
            &sum(&h2, days),
            "h2 w1",
        );
        // Rectified on time per window and officer: the 差评 was served at h1's w1 by 王芳.
        rating_loop(h1_w1, (n(first), 0), 0, (0, 0), "h1 w1");
        rating_loop(
            row(windows, &[("hall", "h2"), ("window", "w1")]),
            (0, 0),
            0,
            (0, 0),
            "h2 w1",
        );
        // Officers: 王芳 served every h1 ticket; 李明 only stood in.
        let officers = &r["officers"];
        let w = row(officers, &[("hall", "h1"), ("officer", "王芳")]);
        assert_eq!(w["staff_no"], "1001");
        check(w, &sum(&wang, days), &format!("王芳 {m}"));
        rating_loop(w, (n(first), 0), n(first), (0, n(second)), "王芳");
        if first {
            check(
                row(officers, &[("hall", "h1"), ("officer", "李明")]),
                &li(1),
                "李明",
            );
        }
        let zhang = row(officers, &[("hall", "h2"), ("officer", "张伟")]);
        check(zhang, &sum(&h2, days), &format!("张伟 {m}"));
        rating_loop(zhang, (0, 0), n(first), (n(first), 0), "张伟");
        // The total adds both halls.
        assert_eq!(r["total"]["served"], sum(&h1, days).0 + sum(&h2, days).0);
    }

    // The same report as CSV (a row per hall, window and officer) and as a printable page.
    let m = &months[0].0;
    let csv = call(
        &run.srv.http,
        Method::GET,
        format!(
            "{}/v1/reports/monthly?hall=h1&subtree=true&period={m}",
            run.srv.base
        ),
        Some(ADMIN),
        None,
        &[("accept", "text/csv")],
    )
    .await;
    assert!(
        csv.content_type.starts_with("text/csv"),
        "{}",
        csv.content_type
    );
    let text = csv.body.as_str().unwrap().to_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("level,period,hall,window,officer,staff_no,served"));
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("hall,{m},h2,"))),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("officer,{m},h1,,王芳,1001,"))),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("total,{m},*,"))),
        "{text}"
    );
    // The CSV's rating-loop columns agree with the JSON for the window and officer rows.
    let json_report = run
        .report(&format!("monthly?hall=h1&subtree=true&period={m}"))
        .await;
    let header: Vec<&str> = lines[0].split(',').collect();
    let csv_row = |level: &str, window: &str, officer: &str| -> Vec<&str> {
        lines
            .iter()
            .map(|l| l.split(',').collect::<Vec<_>>())
            .find(|f| f[0] == level && f[3] == window && f[4] == officer)
            .unwrap_or_else(|| panic!("no {level} row {window}{officer} in {text}"))
    };
    for (level, window, officer, rows, key) in [
        ("window", "w1", "", "windows", ("window", "w1")),
        ("officer", "", "王芳", "officers", ("officer", "王芳")),
    ] {
        let f = csv_row(level, window, officer);
        let j = row(&json_report[rows], &[("hall", "h1"), key]);
        for (column, value) in [
            ("rectified_on_time", &j["rectified"]["on_time"]),
            ("rectified_late", &j["rectified"]["late"]),
            ("complaints_received", &j["complaints_received"]),
            ("complaints_closed_late", &j["complaints_closed"]["late"]),
            ("absences", &j["attendance"]["absences"]),
            ("covered_absences", &j["attendance"]["covered_absences"]),
        ] {
            let i = header.iter().position(|h| *h == column).unwrap();
            assert_eq!(f[i], value.to_string(), "{level} {column}: {text}");
        }
    }
    let page = run
        .srv
        .get(
            ADMIN,
            &format!("/v1/reports/monthly?hall=h1&subtree=true&period={m}&format=html"),
        )
        .await;
    assert!(page.content_type.starts_with("text/html"));
    let html = page.body.as_str().unwrap();
    assert!(
        html.contains("月通报") && html.matches("<svg").count() >= 3,
        "{html}"
    );
    assert!(html.contains("测试镇便民服务中心（h2）"), "{html}");
    assert_eq!(
        html.matches("<th>差评按时整改</th>").count(),
        3,
        "the rating loop in the hall, window and officer tables: {html}"
    );

    // The metrics: day 2's bad rating is an open rectification; the complaint is open.
    for (line, what) in [
        (
            r#"hallq_rectifications_open{hall="h1",tier="county"} 1"#,
            "open rectification",
        ),
        (
            r#"hallq_rectifications_overdue{hall="h1",tier="county"} 0"#,
            "none overdue",
        ),
        (
            r#"hallq_complaints_open{hall="h1",tier="county"} 1"#,
            "open complaint",
        ),
        (
            r#"hallq_complaints_total{hall="h1",tier="county"} 2"#,
            "complaint received",
        ),
        (
            r#"hallq_ratings_total{hall="h1",tier="county",rating="2"} 1"#,
            "ratings by level",
        ),
    ] {
        let mut seen = String::new();
        for _ in 0..200 {
            seen = run
                .srv
                .get(ADMIN, "/metrics")
                .await
                .body
                .as_str()
                .unwrap_or("")
                .to_owned();
            if seen.lines().any(|l| l == line) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(
            seen.lines().any(|l| l == line),
            "{what}: no `{line}` in\n{seen}"
        );
    }

    // Bad requests name their field; a supervisor of h2 cannot read h1's report.
    let bad = run
        .srv
        .get(ADMIN, "/v1/reports/monthly?hall=h1&period=2026-13")
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.body["field"], "period");
    let unknown = run.srv.get(ADMIN, "/v1/reports/yearly?hall=h1").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let scoped = run
        .srv
        .get(H2_SUPERVISOR, "/v1/reports/monthly?hall=h1")
        .await;
    assert_eq!(scoped.status, StatusCode::FORBIDDEN, "{:?}", scoped.body);
}

/// A row's rating loop: rectified (on time, late), complaints received, complaints closed
/// (on time, late).
fn rating_loop(got: &Value, rectified: (u64, u64), received: u64, closed: (u64, u64), what: &str) {
    assert_eq!(
        got["rectified"],
        json!({"on_time": rectified.0, "late": rectified.1}),
        "{what} rectified: {got}"
    );
    let rate = got["rectified_on_time_rate"].as_f64();
    let want = (rectified.0 + rectified.1 > 0)
        .then(|| rectified.0 as f64 / (rectified.0 + rectified.1) as f64);
    assert_eq!(rate, want, "{what} rectified on time rate: {got}");
    assert_eq!(
        got["complaints_received"], received,
        "{what} complaints: {got}"
    );
    assert_eq!(
        got["complaints_closed"],
        json!({"on_time": closed.0, "late": closed.1}),
        "{what} complaints closed: {got}"
    );
}

fn clock_now(clock: &ManualClock) -> jiff::Timestamp {
    use hallq::clock::Clock;
    clock.now()
}
