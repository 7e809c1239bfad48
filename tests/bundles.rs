//! 一件事一次办 bundles through the HTTP API of the real server on port 0: several matters of
//! one application accepted at one front desk (`h2`) in one step, all or nothing; the
//! bundle's state derived from its members; one delivery at the front desk; the bundle seen
//! and acted on only by the front desk's officers (and the supervisors above it).

mod support;

use std::sync::Arc;

use hallq::clock::ManualClock;
use serde_json::json;
use support::*;

/// Friday 2026-11-20 10:00 in Shanghai.
const FRIDAY: &str = "2026-11-20T02:00:00Z";
const TOWN_OFFICER: &str = "t-town-officer";
const OTHER_OFFICER: &str = "t-other-officer";
const COUNTY_SUPERVISOR: &str = "t-county-supervisor";
const COUNTY_OFFICER: &str = "t-county-officer";

async fn server(clock: Arc<ManualClock>) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let text = case_config(dir.path(), 1)
        + &token(TOWN_OFFICER, "case-officer", &["h2"])
        + &token(OTHER_OFFICER, "case-officer", &["other"])
        + &token(COUNTY_SUPERVISOR, "supervisor", &["h1"])
        + &token(COUNTY_OFFICER, "case-officer", &["h1"]);
    start_with_clock(&text, dir, clock).await
}

fn bundle(id: &str, matters: &[&str]) -> serde_json::Value {
    json!({"id": id, "hall": "h2", "matters": matters, "accepted_at": FRIDAY,
           "applicant": {"name": "张三", "contact": "13800138000"}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_application_accepts_every_matter_at_one_front_desk_or_none() {
    let clock = Arc::new(ManualClock::new(FRIDAY.parse().unwrap()));
    let srv = server(clock).await;

    let r = srv
        .post(
            TOWN_OFFICER,
            "/v1/bundles",
            bundle("YJS-1", &["OFFICIAL-3WD", "DAYS-2", "JOINT"]),
        )
        .await;
    assert_eq!(r.status.as_u16(), 201, "{:?}", r.body);
    assert_eq!(r.header("location"), Some("/v1/bundles/YJS-1"));
    assert_eq!(r.body["hall"], "h2");
    assert_eq!(r.body["state"], "open");
    assert_eq!(r.body["applicant"]["contact_masked"], "138****8000");
    let members = r.body["members"].as_array().unwrap();
    let ids: Vec<&str> = members
        .iter()
        .map(|m| m["case"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["YJS-1-1", "YJS-1-2", "YJS-1-3"]);
    // Each matter keeps its own clock: 3 official working days, 2 on the always-open calendar.
    assert_eq!(members[0]["deadline"], "2026-11-25T09:00:00+00:00");
    assert_ne!(members[0]["deadline"], members[1]["deadline"]);
    // Each member is a case of its own, with the bundle and the applicant.
    let case = srv.get(TOWN_OFFICER, "/v1/cases/YJS-1-2").await;
    assert_eq!(case.body["bundle"], "YJS-1", "{:?}", case.body);
    assert_eq!(case.body["matter"], "DAYS-2");
    assert_eq!(case.body["applicant"]["contact_masked"], "138****8000");

    // The same application again answers it as it stands; another list under its id is a
    // conflict.
    let again = srv
        .post(
            TOWN_OFFICER,
            "/v1/bundles",
            bundle("YJS-1", &["OFFICIAL-3WD", "DAYS-2", "JOINT"]),
        )
        .await;
    assert_eq!(again.status.as_u16(), 200, "{:?}", again.body);
    assert_eq!(again.body["members"], r.body["members"]);
    assert_problem(
        &srv.post(
            TOWN_OFFICER,
            "/v1/bundles",
            bundle("YJS-1", &["OFFICIAL-3WD", "DAYS-2"]),
        )
        .await,
        409,
        "bundle-exists",
        Some("matters"),
    );
    assert_problem(
        &srv.post(
            TOWN_OFFICER,
            "/v1/bundles",
            bundle("YJS-1", &["OFFICIAL-3WD", "FAST", "JOINT"]),
        )
        .await,
        409,
        "case-exists",
        Some("matters[1]"),
    );

    // Bad input names the field and accepts nothing.
    let refused = [
        (bundle("YJS-2", &[]), 400, "invalid-field", "matters"),
        (
            bundle("YJS-2", &["DAYS-2", "NOPE"]),
            404,
            "unknown-matter",
            "matters[1]",
        ),
        (
            bundle("YJS-2", &["DAYS-2", "FAST", "DAYS-2"]),
            400,
            "invalid-field",
            "matters[2]",
        ),
        (
            bundle("YJS-2", &["DAYS-2", "rectification"]),
            422,
            "reserved-matter",
            "matters[1]",
        ),
        (bundle("bad id", &["DAYS-2"]), 422, "invalid-id", "id"),
        (
            json!({"id": "YJS-2", "hall": "h2", "matters": ["DAYS-2"],
                   "accepted_at": "2026-11-21T02:00:00Z"}),
            422,
            "in-the-future",
            "accepted_at",
        ),
    ];
    for (body, status, kind, field) in refused {
        let r = srv.post(TOWN_OFFICER, "/v1/bundles", body).await;
        assert_problem(&r, status, kind, Some(field));
    }
    assert_eq!(
        srv.get(TOWN_OFFICER, "/v1/cases/YJS-2-1")
            .await
            .status
            .as_u16(),
        404
    );

    // A member id already taken by another case: nothing of the bundle is accepted.
    let r = srv
        .post(
            TOWN_OFFICER,
            "/v1/cases",
            json!({"id": "YJS-3-2", "hall": "h2", "matter": "DAYS-2", "accepted_at": FRIDAY}),
        )
        .await;
    assert_eq!(r.status.as_u16(), 201, "{:?}", r.body);
    let r = srv
        .post(
            TOWN_OFFICER,
            "/v1/bundles",
            bundle("YJS-3", &["OFFICIAL-3WD", "DAYS-2"]),
        )
        .await;
    assert_problem(&r, 409, "case-exists", Some("matters[1]"));
    for id in ["YJS-3-1", "YJS-3"] {
        let path = if id == "YJS-3" {
            "/v1/bundles/YJS-3".to_owned()
        } else {
            format!("/v1/cases/{id}")
        };
        assert_eq!(srv.get(OFFICER, &path).await.status.as_u16(), 404, "{id}");
    }
    // The single-case label is gone: a bundle is accepted as one.
    assert_problem(
        &srv.post(
            TOWN_OFFICER,
            "/v1/cases",
            json!({"id": "X-1", "hall": "h2", "matter": "DAYS-2", "accepted_at": FRIDAY,
                   "bundle": "X"}),
        )
        .await,
        422,
        "use-bundles",
        Some("bundle"),
    );

    // Another hall's officer may neither accept at this front desk nor see the bundle; the
    // county's supervisor above it sees it.
    let r = srv
        .post(OTHER_OFFICER, "/v1/bundles", bundle("YJS-4", &["DAYS-2"]))
        .await;
    assert_eq!(r.status.as_u16(), 403, "{:?}", r.body);
    assert_problem(
        &srv.get(OTHER_OFFICER, "/v1/bundles/YJS-1").await,
        404,
        "unknown-bundle",
        Some("id"),
    );
    assert_problem(
        &srv.post(OTHER_OFFICER, "/v1/bundles/YJS-1/deliver", json!({}))
            .await,
        404,
        "unknown-bundle",
        Some("id"),
    );
    let seen = srv.get(COUNTY_SUPERVISOR, "/v1/bundles/YJS-1").await;
    assert_eq!(seen.status.as_u16(), 200, "{:?}", seen.body);
    assert_eq!(seen.body["members"].as_array().map(Vec::len), Some(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_is_ready_when_every_member_is_decided_and_delivered_once_at_the_front_desk() {
    let clock = Arc::new(ManualClock::new(FRIDAY.parse().unwrap()));
    let srv = server(clock.clone()).await;
    let r = srv
        .post(
            TOWN_OFFICER,
            "/v1/bundles",
            bundle("YJS-9", &["OFFICIAL-3WD", "DAYS-2", "FAST"]),
        )
        .await;
    assert_eq!(r.status.as_u16(), 201, "{:?}", r.body);
    clock.set("2026-11-20T03:00:00Z".parse().unwrap());
    let state = || async {
        let r = srv.get(TOWN_OFFICER, "/v1/bundles/YJS-9").await;
        assert_eq!(r.status.as_u16(), 200, "{:?}", r.body);
        r.body
    };

    // The first is approved at the front desk; the second goes to the county back office.
    let approve = json!({"result": "approved", "delivery": "window"});
    let r = srv
        .post(TOWN_OFFICER, "/v1/cases/YJS-9-1/outcome", approve.clone())
        .await;
    assert_eq!(r.status.as_u16(), 200, "{:?}", r.body);
    let r = srv
        .post(
            TOWN_OFFICER,
            "/v1/cases/YJS-9-2/hand",
            json!({"hall": "h1"}),
        )
        .await;
    assert_eq!(r.status.as_u16(), 200, "{:?}", r.body);
    // The applicant withdraws the third matter.
    let r = srv
        .post(
            TOWN_OFFICER,
            "/v1/cases/YJS-9-3/withdraw",
            json!({"reason": "no longer needed"}),
        )
        .await;
    assert_eq!(r.status.as_u16(), 200, "{:?}", r.body);

    // The front desk follows every member, the one at the county too.
    let b = state().await;
    assert_eq!(b["state"], "open");
    assert_eq!(
        (
            b["members"][1]["hall"].as_str(),
            b["members"][1]["stage"].as_str()
        ),
        (Some("h1"), Some("routed"))
    );
    assert_eq!(b["members"][2]["state"], "withdrawn");
    assert_problem(
        &srv.post(TOWN_OFFICER, "/v1/bundles/YJS-9/deliver", json!({}))
            .await,
        409,
        "bundle-not-ready",
        Some("members[1]"),
    );

    // Decided at the county: ready, but its result must come back to the front desk first.
    let r = srv
        .post(COUNTY_OFFICER, "/v1/cases/YJS-9-2/outcome", approve.clone())
        .await;
    assert_eq!(r.status.as_u16(), 200, "{:?}", r.body);
    assert_eq!(state().await["state"], "ready");
    let r = srv
        .post(TOWN_OFFICER, "/v1/bundles/YJS-9/deliver", json!({}))
        .await;
    assert_problem(&r, 409, "bundle-not-ready", Some("members[1]"));
    assert!(
        r.body["detail"].as_str().unwrap().contains("h1"),
        "{:?}",
        r.body
    );
    // Refused as a whole: the first member was not delivered either.
    assert_eq!(state().await["members"][0]["delivered"], false);

    let r = srv
        .post(
            COUNTY_OFFICER,
            "/v1/cases/YJS-9-2/hand",
            json!({"hall": "h2"}),
        )
        .await;
    assert_eq!(r.status.as_u16(), 200, "{:?}", r.body);

    // One delivery at the front desk hands over every result.
    let r = srv
        .post(TOWN_OFFICER, "/v1/bundles/YJS-9/deliver", json!({}))
        .await;
    assert_eq!(r.status.as_u16(), 200, "{:?}", r.body);
    assert_eq!(r.body["state"], "delivered");
    for n in [0, 1] {
        assert_eq!(r.body["members"][n]["delivered"], true, "{:?}", r.body);
        assert_eq!(r.body["members"][n]["state"], "completed", "{:?}", r.body);
    }
    assert_problem(
        &srv.post(TOWN_OFFICER, "/v1/bundles/YJS-9/deliver", json!({}))
            .await,
        409,
        "bundle-not-ready",
        Some("members[0]"),
    );
    // Closed members still make up the bundle.
    assert_eq!(state().await["members"].as_array().map(Vec::len), Some(3));
}
