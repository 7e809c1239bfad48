//! Cases, calendars and alarms through the HTTP API of the real server on port 0.

mod support;

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;
use support::*;

async fn server() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let text = case_config(dir.path(), 1);
    start_in(&text, dir).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_is_accepted_once_and_shows_its_deadline() {
    let srv = server().await;
    let body = json!({"id": "330100-2026-0001", "hall": "h1", "matter": "OFFICIAL-3WD", "accepted_at": "2026-11-20T10:00:00+08:00"});
    let first = srv.post(OFFICER, "/v1/cases", body.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    // Fri 11-20 + 3 working days (Mon, Tue, Wed) → Wed 11-25 at the close of office hours.
    assert_eq!(first.body["deadline"], "2026-11-25T09:00:00+00:00");
    for field in [
        "state",
        "remaining_working_s",
        "remaining_working_days",
        "level",
        "alarms",
        "limit",
    ] {
        assert!(first.body.get(field).is_some(), "a case shows `{field}`");
    }
    let again = srv.post(OFFICER, "/v1/cases", body.clone()).await;
    assert_eq!(
        again.status,
        StatusCode::OK,
        "accepting the same case again is idempotent"
    );
    assert_eq!(again.body["deadline"], first.body["deadline"]);
    let mut other = body.clone();
    other["matter"] = json!("JOINT");
    let conflict = srv.post(OFFICER, "/v1/cases", other).await;
    assert_eq!(conflict.status.as_u16(), 409);
    assert_eq!(conflict.body["field"], "matter");

    let got = srv.get(OFFICER, "/v1/cases/330100-2026-0001").await;
    assert_eq!(
        (got.body["id"].as_str(), got.body["deadline"].as_str()),
        (Some("330100-2026-0001"), Some("2026-11-25T09:00:00+00:00"))
    );

    let matters = srv.get(DISPLAY, "/v1/matters").await;
    let fast = matters
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "FAST")
        .unwrap();
    assert_eq!(
        (
            fast["name"].as_str(),
            fast["kind"].as_str(),
            fast["limit"].as_str()
        ),
        (Some("秒级测试事项"), Some("promised"), Some("8ws"))
    );

    // A joint case opens one department case each; the lead completes with the last of them.
    let lead = srv.post(OFFICER, "/v1/cases", json!({"id": "J-9", "hall": "h1", "matter": "JOINT", "accepted_at": "2026-11-20T10:00:00+08:00"})).await;
    assert_eq!(lead.body["children"], json!(["J-9:a", "J-9:b"]));
    assert_eq!(
        srv.post(OFFICER, "/v1/cases/J-9/complete", json!({}))
            .await
            .status
            .as_u16(),
        409
    );
    for child in ["J-9:a", "J-9:b"] {
        assert_eq!(
            srv.post(OFFICER, &format!("/v1/cases/{child}/complete"), json!({}))
                .await
                .status,
            StatusCode::OK
        );
    }
    let lead = srv.get(OFFICER, "/v1/cases/J-9").await;
    assert_eq!(lead.body["state"], "completed", "{:?}", lead.body);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_case_input_is_refused_clearly_and_nothing_is_stored() {
    let srv = server().await;
    let expect = |r: &Resp, status: u16, kind: &str, field: Option<&str>| {
        assert_eq!(r.status.as_u16(), status, "{:?}", r.body);
        assert_eq!(r.content_type, "application/problem+json");
        assert_eq!(
            r.body["type"],
            format!("urn:hallq:problem:{kind}"),
            "{:?}",
            r.body
        );
        assert_eq!(r.body["field"].as_str(), field, "{:?}", r.body);
    };
    let accept = |id: &str, hall: &str, matter: &str, at: &str| json!({"id": id, "hall": hall, "matter": matter, "accepted_at": at});
    expect(
        &srv.post(
            OFFICER,
            "/v1/cases",
            accept("X-1", "h1", "NO-SUCH", "2026-11-20T10:00:00+08:00"),
        )
        .await,
        404,
        "unknown-matter",
        Some("matter"),
    );
    expect(
        &srv.post(
            OFFICER,
            "/v1/cases",
            accept(
                "X-2",
                "nowhere",
                "OFFICIAL-3WD",
                "2026-11-20T10:00:00+08:00",
            ),
        )
        .await,
        404,
        "unknown-hall",
        Some("hall"),
    );
    expect(
        &srv.post(
            OFFICER,
            "/v1/cases",
            accept("X-3", "h1", "OFFICIAL-3WD", "yesterday"),
        )
        .await,
        400,
        "invalid-field",
        Some("accepted_at"),
    );
    expect(&srv.post(OFFICER, "/v1/cases", json!({"hall": "h1", "matter": "OFFICIAL-3WD", "accepted_at": "2026-11-20T10:00:00+08:00"})).await, 400, "missing-field", Some("id"));
    expect(
        &srv.post(
            OFFICER,
            "/v1/cases",
            accept("bad id", "h1", "OFFICIAL-3WD", "2026-11-20T10:00:00+08:00"),
        )
        .await,
        422,
        "invalid-case-id",
        Some("id"),
    );
    expect(
        &srv.post(
            KIOSK,
            "/v1/cases",
            accept("X-5", "h1", "OFFICIAL-3WD", "2026-11-20T10:00:00+08:00"),
        )
        .await,
        403,
        "forbidden",
        None,
    );

    let ok = srv
        .post(
            OFFICER,
            "/v1/cases",
            accept("OK-1", "h1", "OFFICIAL-3WD", "2026-11-20T10:00:00+08:00"),
        )
        .await;
    assert_eq!(ok.status, StatusCode::CREATED);
    expect(
        &srv.post(
            OFFICER,
            "/v1/cases/OK-1/extend",
            json!({"amount": "5 days", "reason": "论证", "approver": "局长"}),
        )
        .await,
        400,
        "invalid-field",
        Some("amount"),
    );
    expect(
        &srv.post(
            OFFICER,
            "/v1/cases/OK-1/extend",
            json!({"amount": "8wh", "reason": "论证", "approver": "局长"}),
        )
        .await,
        422,
        "extension-unit",
        Some("amount"),
    );
    expect(
        &srv.post(OFFICER, "/v1/cases/OK-1/resume", json!({})).await,
        409,
        "not-suspended",
        None,
    );
    expect(
        &srv.post(
            OFFICER,
            "/v1/cases/OK-1/suspend",
            json!({"reason": "holiday"}),
        )
        .await,
        404,
        "unknown-reason",
        Some("reason"),
    );
    expect(
        &srv.post(OFFICER, "/v1/cases/OK-1/archive", json!({})).await,
        404,
        "unknown-action",
        Some("action"),
    );
    expect(
        &srv.post(OFFICER, "/v1/cases/NOPE/complete", json!({}))
            .await,
        404,
        "unknown-case",
        Some("id"),
    );

    let put = |id: &str, text: String| {
        call(
            &srv.http,
            Method::PUT,
            format!("{}/v1/calendars/{id}", srv.base),
            Some(ADMIN),
            Some(text),
            &[],
        )
    };
    expect(
        &put("mars", always_calendar(&[])).await,
        404,
        "unknown-calendar",
        Some("calendar"),
    );
    let broken = always_calendar(&[]).replace(
        "notice = \"test\"\ndays = []",
        "notice = \"test\"\ndays = [{ date = 2026-12-01, kind = \"holiday\", name = \"x\" }]",
    );
    let r = put("always", broken).await;
    expect(
        &r,
        422,
        "invalid-calendar",
        Some(r.body["errors"][0]["field"].as_str().unwrap()),
    );
    let e = &r.body["errors"][0];
    assert!(
        e["line"].as_u64().unwrap() > 0 && e["field"].as_str().unwrap().starts_with("year["),
        "{e}"
    );
    assert!(e["message"].as_str().unwrap().contains("holiday"));
    let same = put("always", always_calendar(&[])).await;
    assert_eq!(
        same.status,
        StatusCode::OK,
        "a valid calendar is accepted: {:?}",
        same.body
    );

    // Nothing refused left a trace: the refused ids do not exist, OK-1 is as accepted.
    for id in ["X-1", "X-2", "X-3", "X-5"] {
        assert_eq!(
            srv.get(OFFICER, &format!("/v1/cases/{id}"))
                .await
                .status
                .as_u16(),
            404
        );
    }
    let case = srv.get(OFFICER, "/v1/cases/OK-1").await;
    assert_eq!(
        (
            case.body["limit"].as_str(),
            case.body["extensions"].as_array().map(Vec::len)
        ),
        (Some("3wd"), Some(0))
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarms_stream_pull_and_a_consumer_cursor_that_survives_a_restart() {
    let srv = server().await;
    let mut sse = {
        let resp = srv
            .http
            .get(format!("{}/v1/alarms/events", srv.base))
            .bearer_auth(ADMIN)
            .timeout(Duration::from_secs(3600))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            use futures::StreamExt;
            let mut events = eventsource_stream::EventStream::new(resp.bytes_stream());
            while let Some(Ok(e)) = events.next().await {
                let _ = tx.send(Sse {
                    id: e.id.parse().unwrap(),
                    event: e.event,
                    data: serde_json::from_str(&e.data).unwrap(),
                });
            }
        });
        rx
    };
    // Accepted in January 2026: every level of the standard ladder is long past.
    let r = srv.post(OFFICER, "/v1/cases", json!({"id": "LATE-1", "hall": "h1", "matter": "OFFICIAL-3WD", "accepted_at": "2026-01-05T10:00:00+08:00"})).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let mut ids = Vec::new();
    for seq in 1..=3 {
        let e = next(&mut sse, "an alarm").await;
        assert_eq!(
            (e.id, e.event.as_str(), e.data["seq"].as_u64()),
            (seq, "alarm", Some(seq))
        );
        assert_eq!(e.data["case"], "LATE-1");
        ids.push(e.data["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        ids,
        ["LATE-1/yellow/1", "LATE-1/red/1", "LATE-1/escalate/1"]
    );
    let view = srv.get(OFFICER, "/v1/cases/LATE-1").await;
    assert_eq!(
        (view.body["level"].as_str(), view.body["overdue"].as_bool()),
        (Some("escalate"), Some(true))
    );

    let all = pull_alarms(&srv.http, &srv.base, ADMIN, "after=0").await;
    assert_eq!(all.iter().map(|a| a.1.clone()).collect::<Vec<_>>(), ids);
    // The h2 supervisor sees no alarm of h1.
    assert!(
        pull_alarms(&srv.http, &srv.base, H2_SUPERVISOR, "after=0")
            .await
            .is_empty()
    );
    assert_eq!(
        srv.get(H2_SUPERVISOR, "/v1/cases/LATE-1")
            .await
            .status
            .as_u16(),
        404
    );

    let ack = srv
        .post(
            ADMIN,
            "/v1/alarms/ack",
            json!({"consumer": "dianzi-jiancha", "seq": 2}),
        )
        .await;
    assert_eq!(ack.status, StatusCode::OK);
    let rest = pull_alarms(&srv.http, &srv.base, ADMIN, "consumer=dianzi-jiancha").await;
    assert_eq!(rest.iter().map(|a| a.0).collect::<Vec<_>>(), [3]);

    // The cursor is durable.
    let config = std::fs::read_to_string(srv.dir.path().join("always.toml")).unwrap();
    assert!(config.contains("always"));
    let dir = srv.stop().await;
    let text = case_config(dir.path(), 1);
    let srv = start_in(&text, dir).await;
    let rest = pull_alarms(&srv.http, &srv.base, ADMIN, "consumer=dianzi-jiancha").await;
    assert_eq!(rest.iter().map(|a| a.0).collect::<Vec<_>>(), [3]);
    assert!(
        pull_alarms(&srv.http, &srv.base, ADMIN, "after=3")
            .await
            .is_empty(),
        "no level fired twice after the restart"
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(
    clippy::disallowed_methods,
    reason = "the test builds a calendar around the real today"
)]
async fn replacing_a_calendar_moves_open_deadlines_and_rearms_alarms() {
    let srv = server().await;
    let now = jiff::Timestamp::now();
    let today = now.to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
    let two_days_ago = (now - jiff::SignedDuration::from_hours(48))
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    // 2 working days on `always`: due at the close of today (23:59), yellow (1 working day
    // left) at the close of yesterday, which is past.
    let r = srv
        .post(
            OFFICER,
            "/v1/cases",
            json!({"id": "MOVE-1", "hall": "h1", "matter": "DAYS-2", "accepted_at": two_days_ago}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let due_today = format!("{today}T23:59:00+00:00");
    assert_eq!(r.body["deadline"], due_today);
    let mut fired = Vec::new();
    for _ in 0..100 {
        fired = pull_alarms(&srv.http, &srv.base, ADMIN, "after=0").await;
        if !fired.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        fired.iter().map(|a| a.1.as_str()).collect::<Vec<_>>(),
        ["MOVE-1/yellow/1"]
    );

    // Yesterday becomes a day off: day 1 is today, the deadline moves to tomorrow's close,
    // and "1 working day left" starts at today's close, so yellow no longer holds.
    let new = always_calendar(&[(today.yesterday().unwrap(), "off")]);
    let r = call(
        &srv.http,
        Method::PUT,
        format!("{}/v1/calendars/always", srv.base),
        Some(ADMIN),
        Some(new),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        (r.body["cases"].as_u64(), r.body["changed"].as_u64()),
        (Some(1), Some(1))
    );
    let case = srv.get(OFFICER, "/v1/cases/MOVE-1").await;
    let tomorrow = today.tomorrow().unwrap();
    assert_eq!(case.body["deadline"], format!("{tomorrow}T23:59:00+00:00"));
    assert_eq!(case.body["level"], serde_json::Value::Null);
    let log = pull_alarms(&srv.http, &srv.base, ADMIN, "after=1").await;
    assert_eq!(
        log.iter()
            .map(|a| (a.1.as_str(), a.2.as_str()))
            .collect::<Vec<_>>(),
        [("MOVE-1/yellow/1", "cleared")]
    );
    let cal = srv.get(ADMIN, "/v1/calendars/always").await;
    assert_eq!(cal.body["id"], "always");

    // The replacement is durable: after a restart the case still counts on it.
    let dir = srv.stop().await;
    let text = case_config(dir.path(), 1);
    let srv = start_in(&text, dir).await;
    let case = srv.get(OFFICER, "/v1/cases/MOVE-1").await;
    assert_eq!(case.body["deadline"], format!("{tomorrow}T23:59:00+00:00"));
    srv.stop().await;
}

/// Read `/v1/case-events` from the start of the log until an event satisfies `last`; every
/// event before it, and it, in order.
async fn case_events_until(srv: &Server, last: impl Fn(&Sse) -> bool) -> Vec<Sse> {
    use futures::StreamExt;
    let resp = srv
        .http
        .get(format!("{}/v1/case-events", srv.base))
        .bearer_auth(ADMIN)
        .header("Last-Event-ID", "0")
        .timeout(Duration::from_secs(3600))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut events = eventsource_stream::EventStream::new(resp.bytes_stream());
    let mut seen = Vec::new();
    loop {
        let e = tokio::time::timeout(Duration::from_secs(20), events.next())
            .await
            .expect("the awaited case event arrives")
            .expect("the stream stays open")
            .unwrap();
        let e = Sse {
            id: e.id.parse().unwrap(),
            event: e.event,
            data: serde_json::from_str(&e.data).unwrap(),
        };
        let done = last(&e);
        seen.push(e);
        if done {
            return seen;
        }
    }
}

/// Issue 10, reproduction 1: a withdrawn or completed case accepted again is answered as it
/// is stored (200), never reopened, and raises no alarm twice; a different acceptance under
/// its id is a conflict naming the field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_case_accepted_again_is_answered_as_stored_and_never_reopened() {
    let srv = server().await;
    // Accepted in January 2026: every level of the standard ladder fires at acceptance.
    let body = |id: &str| json!({"id": id, "hall": "h1", "matter": "OFFICIAL-3WD", "accepted_at": "2026-01-05T10:00:00+08:00"});
    for (id, close, close_body, state) in [
        (
            "z2",
            "withdraw",
            json!({"reason": "申请人撤回"}),
            "withdrawn",
        ),
        ("z3", "complete", json!({}), "completed"),
    ] {
        let first = srv.post(OFFICER, "/v1/cases", body(id)).await;
        assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
        let closed = srv
            .post(OFFICER, &format!("/v1/cases/{id}/{close}"), close_body)
            .await;
        assert_eq!(closed.status, StatusCode::OK, "{:?}", closed.body);
        assert_eq!(closed.body["state"], state);

        let again = srv.post(OFFICER, "/v1/cases", body(id)).await;
        assert_eq!(
            again.status,
            StatusCode::OK,
            "a replay is answered 200: {:?}",
            again.body
        );
        assert_eq!(again.body["state"], state, "{:?}", again.body);
        assert_eq!(again.body["closed_at"], closed.body["closed_at"]);
        assert_eq!(again.body["deadline"], first.body["deadline"]);
        let got = srv.get(OFFICER, &format!("/v1/cases/{id}")).await;
        assert_eq!(got.body["state"], state);

        for (field, value) in [
            ("hall", json!("other")),
            ("matter", json!("DAYS-2")),
            ("accepted_at", json!("2026-01-05T11:00:00+08:00")),
        ] {
            let mut other = body(id);
            other[field] = value;
            let r = srv.post(OFFICER, "/v1/cases", other).await;
            assert_eq!(r.status.as_u16(), 409, "{field}: {:?}", r.body);
            assert_eq!(
                (r.body["type"].as_str(), r.body["field"].as_str()),
                (Some("urn:hallq:problem:case-exists"), Some(field))
            );
        }
        let late = srv
            .post(
                OFFICER,
                &format!("/v1/cases/{id}/suspend"),
                json!({"reason": "hearing"}),
            )
            .await;
        assert_eq!(late.status.as_u16(), 409, "{:?}", late.body);
        assert_eq!(late.body["type"], "urn:hallq:problem:case-closed");
    }

    // Each level fired once per case: a replay raised nothing.
    let alarms = pull_alarms(&srv.http, &srv.base, ADMIN, "after=0").await;
    let ids: Vec<&str> = alarms.iter().map(|a| a.1.as_str()).collect();
    assert_eq!(
        ids,
        [
            "z2/yellow/1",
            "z2/red/1",
            "z2/escalate/1",
            "z3/yellow/1",
            "z3/red/1",
            "z3/escalate/1"
        ]
    );
    // And accepted each case once: read the case stream up to a marker accepted after it all.
    let marker = srv.post(OFFICER, "/v1/cases", json!({"id": "MARK", "hall": "h1", "matter": "DAYS-2", "accepted_at": "2026-01-05T10:00:00+08:00"})).await;
    assert_eq!(marker.status, StatusCode::CREATED);
    let events = case_events_until(&srv, |e| {
        e.event == "accepted" && e.data["case"]["id"] == "MARK"
    })
    .await;
    let kinds: Vec<(String, String)> = events
        .iter()
        .filter(|e| e.data["case"]["id"] != "MARK")
        .map(|e| {
            let case = e.data["case"]["id"]
                .as_str()
                .or(e.data["case"].as_str())
                .unwrap();
            (case.to_owned(), e.event.clone())
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("z2".to_owned(), "accepted".to_owned()),
            ("z2".to_owned(), "withdrawn".to_owned()),
            ("z3".to_owned(), "accepted".to_owned()),
            ("z3".to_owned(), "completed".to_owned()),
        ]
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_accepted_after_its_deadline_answers_with_the_alarms_it_raised() {
    let srv = server().await;
    // Accepted a month ago with three working days: overdue by far more than the two
    // working days of the escalation level.
    let body = json!({"id": "LATE-1", "hall": "h1", "matter": "OFFICIAL-3WD", "accepted_at": "2026-11-02T10:00:00+08:00"});
    let r = srv.post(OFFICER, "/v1/cases", body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(
        r.body["alarms"],
        json!(["LATE-1/yellow/1", "LATE-1/red/1", "LATE-1/escalate/1"]),
        "the 201 shows the alarms raised in its own commit"
    );
    assert_eq!(r.body["level"], "escalate");
    // The alarm stream has them, once each, whatever passes follow.
    let got = srv.get(OFFICER, "/v1/cases/LATE-1").await;
    assert_eq!(got.body["alarms"], r.body["alarms"]);
    let pulled = pull_alarms(&srv.http, &srv.base, ADMIN, "after=0").await;
    let ids: Vec<&str> = pulled
        .iter()
        .filter(|(_, _, kind)| kind == "alarm")
        .map(|(_, id, _)| id.as_str())
        .collect();
    assert_eq!(
        ids,
        ["LATE-1/yellow/1", "LATE-1/red/1", "LATE-1/escalate/1"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extensions_must_add_time_and_stay_within_the_matters_maximum() {
    let srv = server().await;
    let extend =
        |amount: &str| json!({"amount": amount, "reason": "需要现场核查", "approver": "王主任"});
    for (id, matter) in [("EXT-1", "OFFICIAL-3WD"), ("EXT-2", "FAST")] {
        let body = json!({"id": id, "hall": "h1", "matter": matter, "accepted_at": "2026-11-30T10:00:00+08:00"});
        let r = srv.post(OFFICER, "/v1/cases", body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    }
    // OFFICIAL-3WD allows 60wd in all (`max_extension`): a typo of 5000wd is refused, and an
    // extension that adds nothing is no extension.
    for (amount, code) in [
        ("0wd", "empty-extension"),
        ("5000wd", "extension-over-limit"),
    ] {
        let r = srv
            .post(OFFICER, "/v1/cases/EXT-1/extend", extend(amount))
            .await;
        assert_eq!(r.status.as_u16(), 422, "{amount}: {:?}", r.body);
        assert_eq!(r.body["type"], format!("urn:hallq:problem:{code}"));
        assert_eq!(r.body["field"], "amount");
    }
    let r = srv
        .post(OFFICER, "/v1/cases/EXT-1/extend", extend("10wd"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["limit"], "13wd");
    // FAST sets no maximum: its extensions add up to at most its own limit, 8ws.
    for amount in ["4ws", "4ws"] {
        let r = srv
            .post(OFFICER, "/v1/cases/EXT-2/extend", extend(amount))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{amount}: {:?}", r.body);
    }
    let r = srv
        .post(OFFICER, "/v1/cases/EXT-2/extend", extend("1ws"))
        .await;
    assert_eq!(r.status.as_u16(), 422, "{:?}", r.body);
    assert!(
        r.body["detail"].as_str().unwrap().contains("at most 8ws"),
        "{:?}",
        r.body
    );
    let got = srv.get(OFFICER, "/v1/cases/EXT-2").await;
    assert_eq!(got.body["limit"], "16ws", "nothing refused was stored");
    assert_eq!(got.body["extensions"].as_array().unwrap().len(), 2);
}
