//! The operator's endpoints: `/healthz` (the process answers), `/readyz` (requests of every
//! kind are served, or why not) and `/metrics` (Prometheus). They read the daemon's health;
//! they must never change anything, nor need a hall's shard to answer.

use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;

use super::problem::{self, Answer, Problem};
use super::{AppState, auth};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
}

/// `GET /metrics`: the Prometheus text format. Open by default (the shipped Prometheus
/// config scrapes without credentials); with `[server] metrics_token_sha256` set, only a
/// bearer token with that hash may scrape. A separate scrape token, not a role: Prometheus
/// keeps its credential in a file, which should open the metrics and nothing else.
async fn metrics_text(
    State(app): State<AppState>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    if let Some(want) = app.config.server.metrics_token_sha256 {
        let ok = auth::bearer(&headers).is_some_and(|t| crate::config::token_hash(t) == want);
        if !ok {
            return Problem::unauthorized(
                "/metrics needs the scrape token (`Authorization: Bearer <token>`)",
            )
            .into_response();
        }
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::install().render(),
    )
        .into_response()
}

async fn healthz() -> impl IntoResponse {
    Answer::json(200, &serde_json::json!({ "status": "ok" }))
}

/// 200 when requests of every kind are served; 503 while recovering, or while the store
/// refuses writes (the body says reads are still served, and why writes are not).
async fn readyz(State(app): State<AppState>) -> Answer {
    if let Some(r) = app.store.health.refusal() {
        let reads = if app.store.readable() {
            "served"
        } else {
            "unavailable"
        };
        let body = serde_json::json!({
            "type": format!("{}store-unwritable", problem::TYPE_PREFIX),
            "title": "Service unavailable",
            "status": 503,
            "detail": format!(
                "not ready for writes: {}. Reads are {reads} from the last durable state; writes resume by themselves when the store can commit again",
                r.cause
            ),
            "writes": "refused",
            "reads": reads,
            "cause": r.cause,
        });
        let mut a = Answer::json(503, &body);
        a.problem = true;
        a.retry_after = Some(r.retry_after_s);
        a
    } else if !app.ready.load(Ordering::Acquire) {
        Problem::unavailable("recovering").into()
    } else {
        Answer::json(200, &serde_json::json!({ "status": "ready" }))
    }
}
