//! The test hooks (`POST /v1/_test/...`) are not there in production: the real binary mounts
//! them only under `HALLQ_TEST_HOOKS=1`, and then only an admin token may use them.

mod support;

use reqwest::{Method, StatusCode};
use support::*;

async fn post(d: &Daemon, token: &str, path: &str) -> Resp {
    call(&client(), Method::POST, d.url(path), Some(token), None, &[]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_hooks_exist_only_when_asked_for_and_only_for_an_admin() {
    let dir = tempfile::tempdir().unwrap();
    let hallq = Hallq::config(dir.path(), &config(1));
    let hooks = ["/v1/_test/halls/h1/timers", "/v1/_test/cases/timers"];

    let d = hallq.spawn();
    for path in hooks {
        let r = post(&d, ADMIN, path).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {:?}", r.body);
        assert_eq!(r.body["type"], "urn:hallq:problem:no-such-path", "{path}");
    }
    d.kill();

    let d = hallq.clone().test_hooks().capture_log().spawn();
    for path in hooks {
        assert_eq!(
            post(&d, COUNTER, path).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
        let r = post(&d, ADMIN, path).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{path}: {:?}", r.body);
    }
    assert_eq!(
        post(&d, ADMIN, "/v1/_test/halls/nowhere/timers")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let log = d.terminate();
    assert!(
        log.iter().any(|l| l.contains("HALLQ_TEST_HOOKS=1")),
        "the daemon says its hooks are mounted: {log:#?}"
    );
}
