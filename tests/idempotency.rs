//! `Idempotency-Key` on every mutating request to the case thread (case actions, acceptance,
//! calendar replacement, alarm acknowledgements): a retry gets the first answer and changes
//! nothing, also after the real process is killed and restarted; a key reused for another
//! request is refused.

mod support;

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::*;

/// `method path` with a JSON (or TOML, for calendars) body and an `Idempotency-Key`.
async fn keyed(base: &str, token: &str, method: Method, path: &str, body: &str, key: &str) -> Resp {
    call(
        &client(),
        method,
        format!("{base}{path}"),
        Some(token),
        Some(body.to_owned()),
        &[("Idempotency-Key", key)],
    )
    .await
}

async fn get(base: &str, token: &str, path: &str) -> Resp {
    call(
        &client(),
        Method::GET,
        format!("{base}{path}"),
        Some(token),
        None,
        &[],
    )
    .await
}

fn extension(amount: &str) -> String {
    json!({"amount": amount, "reason": "专家评审", "approver": "王科长"}).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_extension_is_applied_once_across_a_kill_9_of_the_real_process() {
    let dir = tempfile::tempdir().unwrap();
    let hallq = Hallq::config(dir.path(), &case_config(dir.path(), 1));

    let proc = hallq.spawn();
    let base = proc.base.clone();
    let accepted = keyed(
        &base,
        OFFICER,
        Method::POST,
        "/v1/cases",
        &json!({"id": "R1", "hall": "h1", "matter": "OFFICIAL-3WD", "accepted_at": "2026-11-20T10:00:00+08:00"}).to_string(),
        "accept-R1",
    )
    .await;
    assert_eq!(accepted.status, StatusCode::CREATED, "{:?}", accepted.body);
    assert_eq!(accepted.body["limit"], "3wd");

    let first = keyed(
        &base,
        OFFICER,
        Method::POST,
        "/v1/cases/R1/extend",
        &extension("1wd"),
        "ext-R1-1",
    )
    .await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    assert_eq!(first.body["limit"], "4wd");
    let retry = keyed(
        &base,
        OFFICER,
        Method::POST,
        "/v1/cases/R1/extend",
        &extension("1wd"),
        "ext-R1-1",
    )
    .await;
    assert_eq!((retry.status, &retry.body), (first.status, &first.body));
    proc.kill();

    let proc = hallq.spawn();
    let base = proc.base.clone();
    let after = keyed(
        &base,
        OFFICER,
        Method::POST,
        "/v1/cases/R1/extend",
        &extension("1wd"),
        "ext-R1-1",
    )
    .await;
    assert_eq!(
        (after.status, &after.body),
        (first.status, &first.body),
        "the retry after the restart gets the first answer"
    );
    let case = get(&base, OFFICER, "/v1/cases/R1").await;
    assert_eq!(case.body["limit"], "4wd", "the limit was extended once");
    assert_eq!(case.body["extensions"].as_array().map(Vec::len), Some(1));
    assert_eq!(case.body["deadline"], first.body["deadline"]);

    let reused = keyed(
        &base,
        OFFICER,
        Method::POST,
        "/v1/cases/R1/extend",
        &extension("2wd"),
        "ext-R1-1",
    )
    .await;
    assert_eq!(reused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        reused.body["type"],
        "urn:hallq:problem:idempotency-key-reused"
    );
    assert_eq!(reused.body["field"], "Idempotency-Key");
    // The key is what makes a request a retry: a new key is a new extension.
    let second = keyed(
        &base,
        OFFICER,
        Method::POST,
        "/v1/cases/R1/extend",
        &extension("1wd"),
        "ext-R1-2",
    )
    .await;
    assert_eq!(second.body["limit"], "5wd", "{:?}", second.body);
    proc.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acceptance_completion_withdrawal_calendars_and_acks_answer_a_retry_once() {
    let dir = tempfile::tempdir().unwrap();
    let text = case_config(dir.path(), 1);
    let srv = start_in(&text, dir).await;
    let base = srv.base.clone();
    let accept = |id: &str| {
        json!({"id": id, "hall": "h1", "matter": "DAYS-2", "accepted_at": "2026-11-20T10:00:00+08:00"}).to_string()
    };

    // The first answer exactly, 201 and all (a plain second acceptance answers 200).
    let first = keyed(
        &base,
        OFFICER,
        Method::POST,
        "/v1/cases",
        &accept("C1"),
        "k-accept",
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    let retry = keyed(
        &base,
        OFFICER,
        Method::POST,
        "/v1/cases",
        &accept("C1"),
        "k-accept",
    )
    .await;
    assert_eq!((retry.status, &retry.body), (first.status, &first.body));
    let reused = keyed(
        &base,
        OFFICER,
        Method::POST,
        "/v1/cases",
        &accept("C2"),
        "k-accept",
    )
    .await;
    assert_eq!(reused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        get(&base, OFFICER, "/v1/cases/C2").await.status,
        StatusCode::NOT_FOUND,
        "a refused reuse accepts nothing"
    );

    // Completion: the retry gets the 200 of the completion, not the 409 of a closed case.
    let done = keyed(
        &base,
        OFFICER,
        Method::POST,
        "/v1/cases/C1/complete",
        "",
        "k-complete",
    )
    .await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);
    assert_eq!(done.body["state"], "completed");
    let retry = keyed(
        &base,
        OFFICER,
        Method::POST,
        "/v1/cases/C1/complete",
        "",
        "k-complete",
    )
    .await;
    assert_eq!((retry.status, &retry.body), (done.status, &done.body));
    let unkeyed = srv.post(OFFICER, "/v1/cases/C1/complete", json!({})).await;
    assert!(
        unkeyed.status.is_client_error(),
        "without the key it is a new request, which the closed case refuses: {:?}",
        unkeyed.body
    );

    // Withdrawal.
    let r = srv
        .post(
            OFFICER,
            "/v1/cases",
            serde_json::from_str::<Value>(&accept("C3")).unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let body = json!({"reason": "申请人撤回"}).to_string();
    let gone = keyed(
        &base,
        OFFICER,
        Method::POST,
        "/v1/cases/C3/withdraw",
        &body,
        "k-withdraw",
    )
    .await;
    assert_eq!(gone.status, StatusCode::OK, "{:?}", gone.body);
    assert_eq!(gone.body["state"], "withdrawn");
    let retry = keyed(
        &base,
        OFFICER,
        Method::POST,
        "/v1/cases/C3/withdraw",
        &body,
        "k-withdraw",
    )
    .await;
    assert_eq!((retry.status, &retry.body), (gone.status, &gone.body));

    // Calendar replacement: a late retry of an older replacement answers as it did then and
    // does not bring that calendar back. C4's deadline shows which calendar is in force: a
    // holiday on its second working day moves it by a day.
    let r = srv
        .post(
            OFFICER,
            "/v1/cases",
            serde_json::from_str::<Value>(&accept("C4")).unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let plain_deadline = r.body["deadline"].clone();
    let with_holiday = always_calendar(&[(jiff::civil::date(2026, 11, 22), "off")]);
    let plain = always_calendar(&[]);
    let a = keyed(
        &base,
        ADMIN,
        Method::PUT,
        "/v1/calendars/always",
        &with_holiday,
        "k-cal-a",
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    let moved = get(&base, OFFICER, "/v1/cases/C4").await.body["deadline"].clone();
    assert_ne!(moved, plain_deadline, "the holiday moved C4's deadline");
    let b = keyed(
        &base,
        ADMIN,
        Method::PUT,
        "/v1/calendars/always",
        &plain,
        "k-cal-b",
    )
    .await;
    assert_eq!(b.status, StatusCode::OK, "{:?}", b.body);
    let retry = keyed(
        &base,
        ADMIN,
        Method::PUT,
        "/v1/calendars/always",
        &with_holiday,
        "k-cal-a",
    )
    .await;
    assert_eq!((retry.status, &retry.body), (a.status, &a.body));
    assert_eq!(
        get(&base, OFFICER, "/v1/cases/C4").await.body["deadline"],
        plain_deadline,
        "the replayed replacement did not bring the holiday back"
    );

    // An acknowledgement: the retry answers the first position even after the cursor moved.
    let r = srv
        .post(
            OFFICER,
            "/v1/cases",
            json!({"id": "LATE", "hall": "h1", "matter": "OFFICIAL-3WD", "accepted_at": "2026-01-05T10:00:00+08:00"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while pull_alarms(&srv.http, &base, ADMIN, "after=0").await.len() < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the overdue case raised its alarms"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ack = |seq: u64| json!({"consumer": "jc", "seq": seq}).to_string();
    let first = keyed(
        &base,
        ADMIN,
        Method::POST,
        "/v1/alarms/ack",
        &ack(2),
        "k-ack-2",
    )
    .await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    let moved = srv
        .post(ADMIN, "/v1/alarms/ack", json!({"consumer": "jc", "seq": 3}))
        .await;
    assert_eq!(moved.status, StatusCode::OK);
    let retry = keyed(
        &base,
        ADMIN,
        Method::POST,
        "/v1/alarms/ack",
        &ack(2),
        "k-ack-2",
    )
    .await;
    assert_eq!((retry.status, &retry.body), (first.status, &first.body));
    let view = get(&base, ADMIN, "/v1/alarms/consumers/jc").await;
    assert_eq!(
        view.body["seq"], 3,
        "the retried acknowledgement moved nothing back"
    );

    // All of it holds after a restart.
    let dir = srv.stop().await;
    let srv = start_in(&text, dir).await;
    let base = srv.base.clone();
    let retry = keyed(
        &base,
        OFFICER,
        Method::POST,
        "/v1/cases/C1/complete",
        "",
        "k-complete",
    )
    .await;
    assert_eq!((retry.status, &retry.body), (done.status, &done.body));
    let retry = keyed(
        &base,
        ADMIN,
        Method::PUT,
        "/v1/calendars/always",
        &with_holiday,
        "k-cal-a",
    )
    .await;
    assert_eq!((retry.status, &retry.body), (a.status, &a.body));
    assert_eq!(
        get(&base, OFFICER, "/v1/cases/C4").await.body["deadline"],
        plain_deadline
    );
    srv.stop().await;
}
