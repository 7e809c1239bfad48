//! The load generator against its in-process daemon, briefly: a small province must run
//! both loops without a single failed request, and the displays must see every event in
//! order; the fan-out must bring every call to every display. (How fast is for
//! `scripts/bench`; these only check that the figures are real.)

use std::time::Duration;

use hallq_loadtest::cli::{Daemon, Plan, Scenario, run};

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
        seed: 7,
    }
}

fn check(rate: Option<f64>) {
    let report = run(&plan(rate)).expect("the run sets up and finishes");
    let json = report.json();
    assert_eq!(json["errors"], 0, "{}", report.table());
    assert!(json["ops"].as_u64().unwrap() > 20, "{}", report.table());
    for op in ["issue", "call", "start", "complete"] {
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
    assert_eq!(json["cases"]["run"], false);
}

#[test]
fn closed_loop_runs_clean() {
    check(None);
}

#[test]
fn open_loop_runs_clean() {
    check(Some(200.0));
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
        seed: 7,
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
