//! Alarm consumer cursors through the HTTP API of the real server: a cursor belongs to the
//! token that first acknowledged it, never passes the head of the alarm stream, and moves
//! back only on purpose, which is recorded durably.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::*;

/// A supervisor covering every hall (the province's 电子监察).
const SUPERVISION: &str = "t-supervision";
/// A supervisor covering only hall `other`, another county's tree.
const OTHER_SUPERVISOR: &str = "t-other-supervisor";

fn cursor_config(dir: &std::path::Path) -> String {
    case_config(dir, 1)
        + &token(SUPERVISION, "supervisor", &["*"])
        + &token(OTHER_SUPERVISOR, "supervisor", &["other"])
}

async fn server() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let text = cursor_config(dir.path());
    start_in(&text, dir).await
}

/// Accept a case in January 2026 at `hall`: its three standard levels are long past, so they
/// fire at once.
async fn overdue_case(srv: &Server, id: &str, hall: &str) {
    let r = srv
        .post(
            OFFICER,
            "/v1/cases",
            json!({"id": id, "hall": hall, "matter": "OFFICIAL-3WD", "accepted_at": "2026-01-05T10:00:00+08:00"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
}

/// Wait until the alarm stream holds `n` alarms (they are raised by the case thread just
/// after the acceptance commits).
async fn wait_for_alarms(srv: &Server, n: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let all = pull_alarms(&srv.http, &srv.base, ADMIN, "after=0").await;
        if all.len() >= n {
            assert_eq!(all.len(), n, "{all:?}");
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {n} alarms were raised",
            all.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn ack(srv: &Server, token: &str, body: Value) -> Resp {
    srv.post(token, "/v1/alarms/ack", body).await
}

fn assert_problem(r: &Resp, status: u16, kind: &str, field: &str) {
    assert_eq!(r.status.as_u16(), status, "{:?}", r.body);
    assert_eq!(r.content_type, "application/problem+json");
    assert_eq!(
        r.body["type"],
        format!("urn:hallq:problem:{kind}"),
        "{:?}",
        r.body
    );
    assert_eq!(r.body["field"], field, "{:?}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_belongs_to_the_token_that_first_acknowledged_it() {
    let srv = server().await;
    overdue_case(&srv, "JC-H1", "h1").await;
    wait_for_alarms(&srv, 3).await;
    overdue_case(&srv, "JC-H2", "h2").await;
    wait_for_alarms(&srv, 6).await;

    let first = ack(&srv, SUPERVISION, json!({"consumer": "jc", "seq": 2})).await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    assert_eq!(
        (first.body["seq"].as_u64(), first.body["owner"].as_str()),
        (Some(2), Some(SUPERVISION))
    );

    // Another token, in another hall tree or in the same one, may neither move it nor read
    // from it; the refusal names the owner and the rule.
    for foreign in [OTHER_SUPERVISOR, H2_SUPERVISOR, ADMIN] {
        let r = ack(&srv, foreign, json!({"consumer": "jc", "seq": 6})).await;
        assert_problem(&r, 403, "consumer-owned", "consumer");
        let detail = r.body["detail"].as_str().unwrap();
        assert!(
            detail.contains(SUPERVISION) && detail.contains("first acknowledged"),
            "{detail}"
        );
        let pull = srv.get(foreign, "/v1/alarms?consumer=jc").await;
        assert_problem(&pull, 403, "consumer-owned", "consumer");
        let view = srv.get(foreign, "/v1/alarms/consumers/jc").await;
        assert_eq!(view.status, StatusCode::FORBIDDEN);
    }
    // The owner still reads from its cursor, which nobody moved.
    let rest = pull_alarms(&srv.http, &srv.base, SUPERVISION, "consumer=jc").await;
    assert_eq!(rest.iter().map(|a| a.0).collect::<Vec<_>>(), [3, 4, 5, 6]);
    let view = srv.get(SUPERVISION, "/v1/alarms/consumers/jc").await;
    assert_eq!(view.status, StatusCode::OK);
    assert_eq!(
        (view.body["seq"].as_u64(), view.body["head"].as_u64()),
        (Some(2), Some(6))
    );

    // A consumer created by a township's supervisor sees that township's alarms only, and
    // stays that token's.
    let h2 = ack(&srv, H2_SUPERVISOR, json!({"consumer": "h2-jc", "seq": 0})).await;
    assert_eq!(h2.status, StatusCode::OK, "{:?}", h2.body);
    let seen = pull_alarms(&srv.http, &srv.base, H2_SUPERVISOR, "consumer=h2-jc").await;
    assert_eq!(seen.iter().map(|a| a.0).collect::<Vec<_>>(), [4, 5, 6]);
    assert!(seen.iter().all(|a| a.1.starts_with("JC-H2/")), "{seen:?}");
    let r = ack(&srv, SUPERVISION, json!({"consumer": "h2-jc", "seq": 6})).await;
    assert_problem(&r, 403, "consumer-owned", "consumer");

    // Ownership is durable.
    let dir = srv.stop().await;
    let text = cursor_config(dir.path());
    let srv = start_in(&text, dir).await;
    let r = ack(&srv, OTHER_SUPERVISOR, json!({"consumer": "jc", "seq": 6})).await;
    assert_problem(&r, 403, "consumer-owned", "consumer");
    let r = ack(&srv, SUPERVISION, json!({"consumer": "jc", "seq": 6})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ack_past_the_head_of_the_alarm_stream_is_refused() {
    let srv = server().await;
    // No alarm yet: the head is 0.
    let r = ack(&srv, SUPERVISION, json!({"consumer": "jc", "seq": 99})).await;
    assert_problem(&r, 422, "ack-past-head", "seq");
    assert!(r.body["detail"].as_str().unwrap().contains("head"));
    assert_eq!(
        srv.get(SUPERVISION, "/v1/alarms/consumers/jc").await.status,
        StatusCode::NOT_FOUND,
        "a refused acknowledgement creates no cursor"
    );

    overdue_case(&srv, "HEAD-1", "h1").await;
    wait_for_alarms(&srv, 3).await;
    let r = ack(&srv, SUPERVISION, json!({"consumer": "jc", "seq": 4})).await;
    assert_problem(&r, 422, "ack-past-head", "seq");
    let r = ack(&srv, SUPERVISION, json!({"consumer": "jc", "seq": 3})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = ack(&srv, SUPERVISION, json!({"consumer": "jc", "seq": 999_999})).await;
    assert_problem(&r, 422, "ack-past-head", "seq");
    // The consumer does not skip the next alarms: its cursor is still at the head.
    overdue_case(&srv, "HEAD-2", "h1").await;
    wait_for_alarms(&srv, 6).await;
    let rest = pull_alarms(&srv.http, &srv.base, SUPERVISION, "consumer=jc").await;
    assert_eq!(rest.iter().map(|a| a.0).collect::<Vec<_>>(), [4, 5, 6]);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_moves_back_only_on_purpose_and_the_rewind_is_recorded() {
    let srv = server().await;
    overdue_case(&srv, "BACK-1", "h1").await;
    wait_for_alarms(&srv, 3).await;
    let r = ack(&srv, SUPERVISION, json!({"consumer": "jc", "seq": 3})).await;
    assert_eq!(r.status, StatusCode::OK);

    let r = ack(&srv, SUPERVISION, json!({"consumer": "jc", "seq": 1})).await;
    assert_problem(&r, 409, "cursor-backwards", "seq");
    assert!(r.body["detail"].as_str().unwrap().contains("rewind"));
    let view = srv.get(SUPERVISION, "/v1/alarms/consumers/jc").await;
    assert_eq!(view.body["seq"], 3, "a refused rewind moves nothing");
    assert_eq!(view.body["rewinds"], json!([]));

    // Acknowledging the same position again is not a rewind.
    let r = ack(&srv, SUPERVISION, json!({"consumer": "jc", "seq": 3})).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["rewound"], false);

    let r = ack(
        &srv,
        SUPERVISION,
        json!({"consumer": "jc", "seq": 1, "rewind": true}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        (
            r.body["seq"].as_u64(),
            r.body["previous"].as_u64(),
            r.body["rewound"].as_bool()
        ),
        (Some(1), Some(3), Some(true))
    );
    let again = pull_alarms(&srv.http, &srv.base, SUPERVISION, "consumer=jc").await;
    assert_eq!(again.iter().map(|a| a.0).collect::<Vec<_>>(), [2, 3]);

    // The rewind is recorded with who and from where to where, and survives a restart.
    let dir = srv.stop().await;
    let text = cursor_config(dir.path());
    let srv = start_in(&text, dir).await;
    let view = srv.get(SUPERVISION, "/v1/alarms/consumers/jc").await;
    assert_eq!(view.status, StatusCode::OK, "{:?}", view.body);
    assert_eq!(view.body["seq"], 1);
    let rewinds = view.body["rewinds"].as_array().unwrap();
    assert_eq!(rewinds.len(), 1, "{rewinds:?}");
    assert_eq!(
        (&rewinds[0]["by"], &rewinds[0]["from"], &rewinds[0]["to"]),
        (&json!(SUPERVISION), &json!(3), &json!(1))
    );
    assert!(rewinds[0]["at"].is_string());
    srv.stop().await;
}
