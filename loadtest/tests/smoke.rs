//! The load generator against its in-process daemon, briefly: a small province must run
//! both loops without a single failed request, and the displays must see every event in
//! order; the fan-out must bring every call to every display. (How fast is for
//! `scripts/bench`; these only check that the figures are real.)

use std::time::Duration;

use hallq_loadtest::mixed::run;
use hallq_loadtest::plan::{Daemon, Plan, Scenario};

fn plan(rate: Option<f64>) -> Plan {
    Plan {
        scenario: Scenario::Mixed,
        daemon: Daemon::Local {
            halls: 7,
            group_commit: true,
            data_parent: std::env::temp_dir(),
        },
        duration: Duration::from_millis(1500),
        warmup: Duration::from_millis(200),
        connections: 6,
        rate,
        subscribers: None,
        prefill: 2,
        case_share: 0.2,
        seed: 7,
        size: hallq_loadtest::plan::Size {
            cases: 0,
            tickets: 0,
            probes: 0,
            keep: false,
            stop_after_kill: false,
            requests: 0,
            days: 0,
            background: 4,
            timeline: false,
        },
        attack: hallq_loadtest::plan::Attack::HalfBody,
        store: Vec::new(),
        server: Vec::new(),
    }
}

fn check(rate: Option<f64>) {
    let report = run(&plan(rate)).expect("the run sets up and finishes");
    let json = report.json();
    assert_eq!(json["errors"], 0, "{}", report.table());
    assert!(json["ops"].as_u64().unwrap() > 20, "{}", report.table());
    for op in [
        "issue",
        "call",
        "start",
        "complete",
        "case_accept",
        "case_suspend",
        "case_resume",
        "case_complete",
    ] {
        assert!(
            json["operations"][op]["ops"].as_u64().unwrap() > 0,
            "no {op}: {}",
            report.table()
        );
    }
    assert_eq!(json["sse"]["subscribers"], 7);
    assert!(
        json["sse"]["events"].as_u64().unwrap() > 0,
        "{}",
        report.table()
    );
    assert_eq!(json["sse"]["gaps"], 0, "{}", report.table());
    assert_eq!(json["cases"]["run"], true, "{}", json["cases"]);
    assert_eq!(json["cases"]["matters"].as_array().unwrap().len(), 6);
}

#[test]
fn closed_loop_runs_clean() {
    check(None);
}

#[test]
fn open_loop_runs_clean() {
    check(Some(200.0));
}

/// The recovery scenario through the real binary (it re-executes itself as the daemon, which
/// a test harness cannot): a small load survives SIGKILL in full and every probe alarm
/// arrives once.
#[test]
fn recovery_scenario_recovers_everything_it_loaded() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hallq-loadtest"))
        .args([
            "--scenario",
            "recovery",
            "--halls",
            "5",
            "--cases",
            "400",
            "--tickets",
            "150",
            "--probes",
            "3",
            "--json",
        ])
        .output()
        .expect("the load generator runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    assert_eq!(json["errors"], 0, "{json}");
    assert_eq!(json["recovered"]["cases"], 400, "{json}");
    assert_eq!(json["recovered"]["tickets"], 150, "{json}");
    assert_eq!(json["alarms"]["expected"], 6, "{json}");
    assert_eq!(json["alarms"]["received"], 6, "{json}");
    assert_eq!(json["alarms"]["duplicates"], 0, "{json}");
    assert!(
        json["alarms"]["pending_deadlines"].as_u64().unwrap() >= 400,
        "{json}"
    );
    assert!(json["ready_s"].as_f64().unwrap() > 0.0, "{json}");
    assert!(json["rss_bytes"].as_u64().unwrap() > 0, "{json}");
}

/// Scenario (b), small: every call reaches every display, none is dropped.
#[test]
fn fanout_delivers_every_call_to_every_display() {
    let plan = Plan {
        scenario: Scenario::Fanout,
        daemon: Daemon::Local {
            halls: 1,
            group_commit: true,
            data_parent: std::env::temp_dir(),
        },
        duration: Duration::from_millis(1500),
        warmup: Duration::from_millis(200),
        connections: 1,
        rate: Some(20.0),
        subscribers: Some(50),
        prefill: 0,
        ..plan(None)
    };
    let outcome = hallq_loadtest::fanout::run(&plan).expect("the run sets up and finishes");
    let json = &outcome.json;
    let table = &outcome.table;
    assert_eq!(json["scenario"], "fanout");
    assert_eq!(json["subscribers"], 50);
    let calls = json["calls"].as_u64().unwrap();
    assert!(calls >= 10, "{table}");
    assert_eq!(json["deliveries"].as_u64().unwrap(), calls * 50, "{table}");
    assert_eq!(json["missed"], 0, "{table}");
    assert_eq!(json["dropped"], 0, "{table}");
    assert_eq!(json["errors"], 0, "{table}");
    assert_eq!(outcome.errors, 0);
}

/// The booking rush, small: every request is answered, exactly the slot's seats are booked,
/// the rest are refused as full, and the daemon agrees afterwards.
#[test]
fn the_booking_rush_never_oversells() {
    let mut p = plan(None);
    p.scenario = Scenario::Booking;
    p.daemon = Daemon::Local {
        halls: 3,
        group_commit: true,
        data_parent: std::env::temp_dir(),
    };
    p.connections = 16;
    p.size.requests = 400;
    let out = hallq_loadtest::booking::run(&p).expect("the rush sets up and finishes");
    assert_eq!(out.json["booked"], 50, "{}", out.table);
    assert_eq!(out.json["slot_full"], 350, "{}", out.table);
    assert_eq!(out.json["held_after"], 50, "{}", out.table);
    assert_eq!(out.json["left_after"], 0, "{}", out.table);
    assert_eq!(out.json["oversold"], false);
    assert_eq!(out.errors, 0, "{}", out.table);
    assert!(
        out.json["background"]["requests"].as_u64().unwrap() > 0,
        "{}",
        out.table
    );
}

/// The reports scenario, small: the seeded days are read back into a monthly and a quarterly
/// report over the province with a row per hall and the seeded tickets in the total.
#[test]
fn the_reports_scenario_reads_every_seeded_hall() {
    let mut p = plan(None);
    p.scenario = Scenario::Reports;
    p.size.days = 3;
    let out = hallq_loadtest::reports::run(&p).expect("the run seeds and finishes");
    assert_eq!(out.errors, 0, "{}", out.table);
    let rows = out.json["reports"].as_array().unwrap();
    assert_eq!(rows.len(), 6, "{}", out.table);
    for r in rows.iter().filter(|r| r["format"] == "json") {
        assert_eq!(r["halls"], 7, "{}", out.table);
    }
    assert!(out.json["served_seeded"].as_u64().unwrap() > 0);
}
