//! A case's life beyond its clock, through the HTTP API of the real server on port 0 on a
//! clock the test moves: 容缺 and 承诺审批 obligations (overdue → an alarm and an officer's
//! decision, durable across restarts), outcomes (不予受理 within the acceptance clock, 准予,
//! 不予批准), the delivery stage, and the 补正 notice.

mod support;

use std::sync::Arc;

use hallq::clock::ManualClock;
use serde_json::{Value, json};
use support::*;

/// Friday 2026-11-20 10:00 in Shanghai: cases on `OFFICIAL-3WD` count on the official
/// calendar (office hours close 17:00 +08:00 = 09:00 UTC).
const FRIDAY: &str = "2026-11-20T02:00:00Z";

async fn server(clock: &Arc<ManualClock>) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let text = case_config(dir.path(), 1);
    start_with_clock(&text, dir, clock.clone()).await
}

async fn restart(srv: Server, clock: &Arc<ManualClock>) -> Server {
    let dir = srv.stop().await;
    let text = case_config(dir.path(), 1);
    start_with_clock(&text, dir, clock.clone()).await
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(FRIDAY.parse().unwrap()))
}

async fn accept(srv: &Server, id: &str) -> Resp {
    let r = srv
        .post(
            OFFICER,
            "/v1/cases",
            json!({"id": id, "hall": "h1", "matter": "OFFICIAL-3WD", "accepted_at": FRIDAY}),
        )
        .await;
    assert_eq!(r.status.as_u16(), 201, "{:?}", r.body);
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overdue_deficiency_alarms_waits_for_the_officer_and_survives_restarts() {
    let clock = clock();
    let srv = server(&clock).await;
    accept(&srv, "RQ-1").await;

    // Bad promises name their field and change nothing.
    let promise = |materials: Value, limit: &str| json!({"kind": "deficiency", "materials": materials, "limit": limit});
    assert_problem(
        &srv.case_action("RQ-1", "promise", promise(json!([" "]), "1wd"))
            .await,
        400,
        "missing-field",
        Some("materials"),
    );
    assert_problem(
        &srv.case_action("RQ-1", "promise", promise(json!(["副本"]), "8ws"))
            .await,
        422,
        "obligation-unit",
        Some("limit"),
    );
    assert_problem(
        &srv.case_action(
            "RQ-1",
            "promise",
            json!({"kind": "maybe", "materials": ["副本"], "limit": "1wd"}),
        )
        .await,
        400,
        "invalid-field",
        Some("kind"),
    );

    let r = srv
        .case_action(
            "RQ-1",
            "promise",
            promise(json!(["营业执照副本", "法人身份证明"]), "1wd"),
        )
        .await;
    assert_eq!(r.status.as_u16(), 200, "{:?}", r.body);
    let o = &r.body["obligations"][0];
    assert_eq!(
        (o["n"].as_u64(), o["state"].as_str(), o["kind"].as_str()),
        (Some(1), Some("open"), Some("deficiency"))
    );
    // Friday + 1 working day: Monday at the close of office hours, in the hall's offset.
    assert_eq!(o["due"], "2026-11-23T09:00:00+00:00");
    assert_problem(
        &srv.case_action("RQ-1", "fulfil", json!({"obligation": 7}))
            .await,
        404,
        "unknown-obligation",
        Some("obligation"),
    );

    // The promise survives a restart; nothing is due before Monday's close.
    let srv = restart(srv, &clock).await;
    clock.set("2026-11-23T08:59:00Z".parse().unwrap());
    srv.run_case_timers().await;
    let got = srv.get(OFFICER, "/v1/cases/RQ-1").await;
    assert_eq!(got.body["state"], "open", "{:?}", got.body);
    assert_eq!(got.body["obligations"][0]["state"], "open");

    // Past it: an alarm, and the case waits for a decision.
    clock.set("2026-11-23T09:01:00Z".parse().unwrap());
    srv.run_case_timers().await;
    let got = srv.get(OFFICER, "/v1/cases/RQ-1").await;
    assert_eq!(got.body["state"], "refusal_pending", "{:?}", got.body);
    assert_eq!(got.body["obligations"][0]["state"], "overdue");
    let alarms = pull_alarms(&srv.http, &srv.base, ADMIN, "after=0").await;
    let ids: Vec<&str> = alarms.iter().map(|a| a.1.as_str()).collect();
    assert!(ids.contains(&"RQ-1/obligation-1/1"), "{ids:?}");

    // The pending state is durable; other commands wait for the decision.
    let srv = restart(srv, &clock).await;
    srv.run_case_timers().await;
    let got = srv.get(OFFICER, "/v1/cases/RQ-1").await;
    assert_eq!(got.body["state"], "refusal_pending", "{:?}", got.body);
    let again = pull_alarms(&srv.http, &srv.base, ADMIN, "after=0").await;
    assert_eq!(
        again
            .iter()
            .filter(|a| a.1 == "RQ-1/obligation-1/1")
            .count(),
        1,
        "the obligation's alarm is raised once, whatever restarts follow"
    );
    assert_problem(
        &srv.case_action("RQ-1", "suspend", json!({"reason": "hearing"}))
            .await,
        409,
        "decision-pending",
        None,
    );
    assert_problem(
        &srv.case_action("RQ-1", "fulfil", json!({"obligation": 1}))
            .await,
        409,
        "decision-pending",
        None,
    );
    assert_problem(
        &srv.case_action(
            "RQ-1",
            "resolve",
            json!({"decision": "revoke", "reason": "x"}),
        )
        .await,
        409,
        "wrong-decision",
        Some("decision"),
    );
    assert_problem(
        &srv.case_action(
            "RQ-1",
            "resolve",
            json!({"decision": "refuse", "reason": "逾期未补齐"}),
        )
        .await,
        400,
        "missing-field",
        Some("delivery"),
    );
    assert_problem(
        &srv.case_action(
            "RQ-1",
            "resolve",
            json!({"decision": "refuse", "reason": " ", "delivery": "mail"}),
        )
        .await,
        400,
        "missing-field",
        Some("reason"),
    );

    // The officer refuses: the refusal is delivered, then the case completes, for good.
    let r = srv
        .case_action(
            "RQ-1",
            "resolve",
            json!({"decision": "refuse", "reason": "逾期未补齐材料", "delivery": "mail"}),
        )
        .await;
    assert_eq!(r.status.as_u16(), 200, "{:?}", r.body);
    assert_eq!(
        (
            r.body["state"].as_str(),
            r.body["stage"].as_str(),
            r.body["outcome"]["result"].as_str(),
            r.body["delivery"]["method"].as_str()
        ),
        (
            Some("open"),
            Some("delivery"),
            Some("refused"),
            Some("mail")
        )
    );
    // Decided Monday 17:01 (after office hours): day 1 of the 2wd delivery is Tuesday.
    assert_eq!(r.body["deadline"], "2026-11-25T09:00:00+00:00");
    let r = srv.case_action("RQ-1", "deliver", json!({})).await;
    assert_eq!(r.body["state"], "completed", "{:?}", r.body);
    let srv = restart(srv, &clock).await;
    let got = srv.get(OFFICER, "/v1/cases/RQ-1").await;
    assert_eq!(
        (
            got.body["state"].as_str(),
            got.body["outcome"]["reason"].as_str()
        ),
        (Some("completed"), Some("逾期未补齐材料"))
    );
    for (action, body) in [
        (
            "outcome",
            json!({"result": "approved", "delivery": "window"}),
        ),
        ("resolve", json!({"decision": "excuse", "reason": "x"})),
        ("promise", promise(json!(["a"]), "1wd")),
    ] {
        assert_problem(
            &srv.case_action("RQ-1", action, body).await,
            409,
            "case-closed",
            None,
        );
    }
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn materials_in_time_or_excused_late_let_the_case_go_on() {
    let clock = clock();
    let srv = server(&clock).await;
    accept(&srv, "OK-1").await;
    accept(&srv, "OK-2").await;
    for id in ["OK-1", "OK-2"] {
        let r = srv
            .case_action(
                id,
                "promise",
                json!({"kind": "deficiency", "materials": ["副本"], "limit": "1wd"}),
            )
            .await;
        assert_eq!(r.status.as_u16(), 200, "{:?}", r.body);
    }
    let r = srv
        .case_action("OK-1", "fulfil", json!({"obligation": 1}))
        .await;
    assert_eq!(
        r.body["obligations"][0]["state"], "fulfilled",
        "{:?}",
        r.body
    );
    assert_problem(
        &srv.case_action("OK-1", "fulfil", json!({"obligation": 1}))
            .await,
        409,
        "obligation-settled",
        Some("obligation"),
    );
    clock.set("2026-11-24T02:00:00Z".parse().unwrap());
    srv.run_case_timers().await;
    assert_eq!(
        srv.get(OFFICER, "/v1/cases/OK-1").await.body["state"],
        "open"
    );
    assert_eq!(
        srv.get(OFFICER, "/v1/cases/OK-2").await.body["state"],
        "refusal_pending"
    );
    assert_problem(
        &srv.case_action(
            "OK-1",
            "resolve",
            json!({"decision": "excuse", "reason": "x"}),
        )
        .await,
        409,
        "nothing-to-resolve",
        None,
    );
    let r = srv
        .case_action(
            "OK-2",
            "resolve",
            json!({"decision": "excuse", "reason": "材料当日补交"}),
        )
        .await;
    assert_eq!(
        (
            r.body["state"].as_str(),
            r.body["obligations"][0]["state"].as_str(),
            r.body["obligations"][0]["excused"].as_str()
        ),
        (Some("open"), Some("excused"), Some("材料当日补交"))
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commitment_outlives_delivery_and_an_overdue_one_is_revoked() {
    let clock = clock();
    let srv = server(&clock).await;
    accept(&srv, "CM-1").await;
    accept(&srv, "CM-2").await;
    for id in ["CM-1", "CM-2"] {
        let r = srv
            .case_action(
                id,
                "outcome",
                json!({"result": "approved", "delivery": "window"}),
            )
            .await;
        assert_eq!(r.status.as_u16(), 200, "{:?}", r.body);
        let r = srv
            .case_action(
                id,
                "promise",
                json!({"kind": "commitment", "materials": ["场地证明"], "limit": "2wd"}),
            )
            .await;
        assert_eq!(r.status.as_u16(), 200, "{:?}", r.body);
        // 容缺 promises belong before the decision.
        assert_problem(
            &srv.case_action(
                id,
                "promise",
                json!({"kind": "deficiency", "materials": ["x"], "limit": "1wd"}),
            )
            .await,
            409,
            "already-decided",
            Some("result"),
        );
        let r = srv.case_action(id, "deliver", json!({})).await;
        assert_eq!(
            (
                r.body["state"].as_str(),
                r.body["delivery"]["delivered_at"].is_string()
            ),
            (Some("open"), true),
            "delivered, still owing the promised materials: {:?}",
            r.body
        );
    }
    let r = srv
        .case_action("CM-1", "fulfil", json!({"obligation": 1}))
        .await;
    assert_eq!(
        r.body["state"], "completed",
        "the last material completes it: {:?}",
        r.body
    );

    let srv = restart(srv, &clock).await;
    clock.set("2026-11-25T09:01:00Z".parse().unwrap());
    srv.run_case_timers().await;
    let got = srv.get(OFFICER, "/v1/cases/CM-2").await;
    assert_eq!(got.body["state"], "revocation_pending", "{:?}", got.body);
    assert_problem(
        &srv.case_action(
            "CM-2",
            "resolve",
            json!({"decision": "refuse", "reason": "x", "delivery": "mail"}),
        )
        .await,
        409,
        "wrong-decision",
        Some("decision"),
    );
    let r = srv
        .case_action(
            "CM-2",
            "resolve",
            json!({"decision": "revoke", "reason": "承诺材料逾期未交"}),
        )
        .await;
    assert_eq!(
        (
            r.body["state"].as_str(),
            r.body["outcome"]["result"].as_str()
        ),
        (Some("revoked"), Some("revoked")),
        "{:?}",
        r.body
    );
    assert_problem(
        &srv.case_action(
            "CM-2",
            "resolve",
            json!({"decision": "excuse", "reason": "x"}),
        )
        .await,
        409,
        "case-closed",
        None,
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outcomes_are_decided_once_with_reasons_and_not_accepted_only_in_the_acceptance_clock() {
    let clock = clock();
    let srv = server(&clock).await;
    for id in ["NA-1", "NA-2", "AP-1", "RF-1"] {
        accept(&srv, id).await;
    }
    assert_problem(
        &srv.case_action("NA-1", "outcome", json!({"result": "maybe"}))
            .await,
        400,
        "invalid-field",
        Some("result"),
    );
    assert_problem(
        &srv.case_action("NA-1", "outcome", json!({"result": "not_accepted"}))
            .await,
        400,
        "missing-field",
        Some("reason"),
    );
    assert_problem(
        &srv.case_action(
            "RF-1",
            "outcome",
            json!({"result": "refused", "reason": "不符合条件"}),
        )
        .await,
        400,
        "missing-field",
        Some("delivery"),
    );
    let r = srv
        .case_action(
            "NA-1",
            "outcome",
            json!({"result": "not_accepted", "reason": "不属于本机关职权范围"}),
        )
        .await;
    assert_eq!(
        (
            r.status.as_u16(),
            r.body["state"].as_str(),
            r.body["outcome"]["reason"].as_str()
        ),
        (200, Some("not_accepted"), Some("不属于本机关职权范围")),
        "{:?}",
        r.body
    );
    assert_problem(
        &srv.case_action(
            "NA-1",
            "outcome",
            json!({"result": "approved", "delivery": "window"}),
        )
        .await,
        409,
        "case-closed",
        None,
    );

    // The 补正 notice lists everything missing in one record, each once.
    let r = srv.case_action("AP-1", "suspend", json!({"reason": "supplement", "missing": ["身份证复印件", "租赁合同", "身份证复印件", " "]})).await;
    assert_eq!(r.status.as_u16(), 200, "{:?}", r.body);
    assert_eq!(
        r.body["notices"][0]["missing"],
        json!(["身份证复印件", "租赁合同"])
    );
    clock.advance(3600);
    assert_eq!(
        srv.case_action("AP-1", "resume", json!({}))
            .await
            .status
            .as_u16(),
        200
    );

    let r = srv
        .case_action(
            "AP-1",
            "outcome",
            json!({"result": "approved", "delivery": "electronic"}),
        )
        .await;
    assert_eq!(
        (
            r.body["stage"].as_str(),
            r.body["outcome"]["on_time"].as_bool(),
            r.body["delivery"]["limit"].as_str()
        ),
        (Some("delivery"), Some(true), Some("2wd")),
        "{:?}",
        r.body
    );
    assert_problem(
        &srv.case_action(
            "AP-1",
            "outcome",
            json!({"result": "refused", "reason": "x", "delivery": "mail"}),
        )
        .await,
        409,
        "already-decided",
        Some("result"),
    );
    assert_problem(
        &srv.case_action("RF-1", "deliver", json!({})).await,
        409,
        "not-decided",
        None,
    );
    let r = srv
        .case_action(
            "RF-1",
            "outcome",
            json!({"result": "refused", "reason": "不符合法定条件", "delivery": "window"}),
        )
        .await;
    assert_eq!(r.body["outcome"]["result"], "refused", "{:?}", r.body);

    // Three working days on: too late to refuse acceptance of NA-2; refuse it instead.
    clock.set("2026-11-26T02:00:00Z".parse().unwrap());
    assert_problem(
        &srv.case_action(
            "NA-2",
            "outcome",
            json!({"result": "not_accepted", "reason": "x"}),
        )
        .await,
        409,
        "acceptance-clock-over",
        Some("result"),
    );

    // The delivery stage has its own deadline and ladder: AP-1's ran out (Tue 11-24 at
    // close), so its alarms are raised.
    srv.run_case_timers().await;
    let alarms = pull_alarms(&srv.http, &srv.base, ADMIN, "after=0").await;
    assert!(
        alarms.iter().any(|a| a.1.starts_with("AP-1/red/")),
        "{alarms:?}"
    );
    let r = srv.case_action("AP-1", "deliver", json!({})).await;
    assert_eq!(
        (r.body["state"].as_str(), r.body["on_time"].as_bool()),
        (Some("completed"), Some(false)),
        "{:?}",
        r.body
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cases_closed_by_not_accepted_refused_or_approved_all_count_in_the_days_statistics() {
    let clock = clock();
    let srv = server(&clock).await;
    for id in ["ST-NA", "ST-RF", "ST-AP", "ST-OPEN"] {
        accept(&srv, id).await;
    }
    let decide = |result: &str| match result {
        "not_accepted" => json!({"result": result, "reason": "不属于本机关职权范围"}),
        "refused" => json!({"result": result, "reason": "不符合条件", "delivery": "window"}),
        _ => json!({"result": result, "delivery": "window"}),
    };
    for (id, result) in [
        ("ST-NA", "not_accepted"),
        ("ST-RF", "refused"),
        ("ST-AP", "approved"),
    ] {
        let r = srv.case_action(id, "outcome", decide(result)).await;
        assert_eq!(r.status.as_u16(), 200, "{:?}", r.body);
    }
    for id in ["ST-RF", "ST-AP"] {
        let r = srv.case_action(id, "deliver", json!({})).await;
        assert_eq!(r.status.as_u16(), 200, "{:?}", r.body);
    }
    // Not accepted closes at once; refused and approved close when delivered; the open one
    // is not finished.
    let r = srv.get(ADMIN, "/v1/stats?hall=h1").await;
    assert_eq!(r.status.as_u16(), 200, "{:?}", r.body);
    assert_eq!(
        (
            r.body["cases"]["finished_on_time"].as_u64(),
            r.body["cases"]["finished_overdue"].as_u64()
        ),
        (Some(3), Some(0)),
        "{:?}",
        r.body["cases"]
    );
    srv.stop().await;
}
