//! Routes between halls (县事乡办) through the HTTP API of the real server on port 0: accepted
//! at the township front desk (`h2`), handled by the county back office (`h1`), given out at
//! the township window; each leg with its hall, limit and alarms, each hall's officers seeing
//! only what is at their hall, the county's supervisor the whole route.

mod support;

use std::sync::Arc;

use hallq::clock::ManualClock;
use serde_json::json;
use support::*;

/// Friday 2026-11-20 10:00 in Shanghai (the official calendar closes at 09:00 UTC).
const FRIDAY: &str = "2026-11-20T02:00:00Z";
const TOWN_OFFICER: &str = "t-town-officer";
const COUNTY_SUPERVISOR: &str = "t-county-supervisor";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_township_case_is_handled_by_the_county_and_given_out_at_the_township_window() {
    let clock = Arc::new(ManualClock::new(FRIDAY.parse().unwrap()));
    let dir = tempfile::tempdir().unwrap();
    let text = case_config(dir.path(), 1)
        + &token(TOWN_OFFICER, "case-officer", &["h2"])
        + &token(COUNTY_SUPERVISOR, "supervisor", &["h1"]);
    let srv = start_with_clock(&text, dir, clock.clone()).await;
    let town = |action: &'static str, body: serde_json::Value| {
        let srv = &srv;
        async move {
            srv.post(TOWN_OFFICER, &format!("/v1/cases/RT-1/{action}"), body)
                .await
        }
    };

    let r = srv
        .post(
            TOWN_OFFICER,
            "/v1/cases",
            json!({"id": "RT-1", "hall": "h2", "matter": "OFFICIAL-3WD", "accepted_at": FRIDAY}),
        )
        .await;
    assert_eq!(r.status.as_u16(), 201, "{:?}", r.body);

    // Only within the tree, never to itself, in the matter's unit.
    assert_problem(
        &town("hand", json!({"hall": "other"})).await,
        422,
        "not-in-route",
        Some("hall"),
    );
    assert_problem(
        &town("hand", json!({"hall": "h2"})).await,
        422,
        "not-in-route",
        Some("hall"),
    );
    assert_problem(
        &town("hand", json!({"hall": "nowhere"})).await,
        404,
        "unknown-hall",
        Some("hall"),
    );
    assert_problem(
        &town("hand", json!({"hall": "h1", "limit": "8ws"})).await,
        422,
        "route-unit",
        Some("limit"),
    );

    // The front desk hands it to the county back office: a leg of 5 working days there.
    let r = town("hand", json!({"hall": "h1", "limit": "5wd"})).await;
    assert_eq!(r.status.as_u16(), 200, "{:?}", r.body);
    assert_eq!(
        (
            r.body["hall"].as_str(),
            r.body["stage"].as_str(),
            r.body["limit"].as_str(),
            r.body["deadline"].as_str()
        ),
        (
            Some("h1"),
            Some("routed"),
            Some("5wd"),
            Some("2026-11-27T09:00:00+00:00")
        )
    );
    assert_eq!(
        (
            r.body["route"][0]["from_hall"].as_str(),
            r.body["route"][0]["to_hall"].as_str()
        ),
        (Some("h2"), Some("h1"))
    );

    // Now the township sees and acts on nothing of it; the county's supervisor sees it all.
    assert_eq!(
        srv.get(TOWN_OFFICER, "/v1/cases/RT-1")
            .await
            .status
            .as_u16(),
        404
    );
    assert_eq!(
        srv.get(H2_SUPERVISOR, "/v1/cases/RT-1")
            .await
            .status
            .as_u16(),
        404
    );
    assert_problem(
        &town("suspend", json!({"reason": "hearing"})).await,
        404,
        "unknown-case",
        Some("id"),
    );
    let seen = srv.get(COUNTY_SUPERVISOR, "/v1/cases/RT-1").await;
    assert_eq!(seen.body["route"].as_array().map(Vec::len), Some(1));

    // The county leg's alarms are the county's.
    clock.set("2026-11-27T09:01:00Z".parse().unwrap());
    srv.run_case_timers().await;
    let county = pull_alarms(&srv.http, &srv.base, COUNTY_SUPERVISOR, "after=0").await;
    assert!(county.iter().any(|a| a.1 == "RT-1/red/1"), "{county:?}");
    let township = pull_alarms(&srv.http, &srv.base, H2_SUPERVISOR, "after=0").await;
    assert!(
        township.iter().all(|a| !a.1.starts_with("RT-1/")),
        "{township:?}"
    );

    // Decided at the county, handed back to the township window for delivery: the delivery
    // clock goes with it.
    let r = srv
        .case_action(
            "RT-1",
            "outcome",
            json!({"result": "approved", "delivery": "window"}),
        )
        .await;
    assert_eq!(r.body["stage"], "delivery", "{:?}", r.body);
    let deadline = r.body["deadline"].clone();
    let r = srv.case_action("RT-1", "hand", json!({"hall": "h2"})).await;
    assert_eq!(
        (
            r.body["hall"].as_str(),
            r.body["stage"].as_str(),
            r.body["limit"].as_str(),
            &r.body["deadline"]
        ),
        (Some("h2"), Some("delivery"), Some("2wd"), &deadline),
        "{:?}",
        r.body
    );
    assert_eq!(r.body["route"][1]["to_hall"], "h2");

    // The route survives a restart, and the township window gives the result out.
    let dir = srv.stop().await;
    let text = case_config(dir.path(), 1)
        + &token(TOWN_OFFICER, "case-officer", &["h2"])
        + &token(COUNTY_SUPERVISOR, "supervisor", &["h1"]);
    let srv = start_with_clock(&text, dir, clock.clone()).await;
    let got = srv.get(TOWN_OFFICER, "/v1/cases/RT-1").await;
    assert_eq!(
        got.body["route"].as_array().map(Vec::len),
        Some(2),
        "{:?}",
        got.body
    );
    let r = srv
        .post(TOWN_OFFICER, "/v1/cases/RT-1/deliver", json!({}))
        .await;
    assert_eq!(r.body["state"], "completed", "{:?}", r.body);
    srv.stop().await;
}
