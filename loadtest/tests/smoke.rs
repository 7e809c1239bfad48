//! The load generator against its in-process daemon, briefly: a small province must run
//! both loops without a single failed request, and the displays must see every event in
//! order. (How fast is for `scripts/bench`; these only check that the figures are real.)

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
        case_share: 0.2,
        seed: 7,
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
