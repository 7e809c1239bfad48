//! The HTTP API (axum): authentication, request parsing, and the one mapping from outcomes to
//! statuses (`problem`). Handlers hold no hall state; they turn a request into a `HallOp`
//! for the hall's shard and write out the `Answer` it sends back after the commit.

pub mod auth;
mod backup;
pub(crate) mod cases;
pub(crate) mod events;
#[doc(hidden)]
pub mod fuzzing;
mod halls;
mod json;
pub mod problem;
mod stats;
mod test_hooks;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::Config;
use crate::hub::Hub;
use crate::shard::{HallOp, Idem, Request, Shards};
use crate::store::Store;
use auth::Tokens;
use problem::{Answer, Problem};

/// Everything a handler can reach.
pub struct App {
    pub config: Arc<Config>,
    pub tokens: Tokens,
    pub shards: Shards,
    pub cases: Arc<crate::cases::CaseShard>,
    /// The calendars in force (the case shard holds the same `Arc`s), for reading.
    pub calendars: std::sync::RwLock<Vec<Arc<crate::calendar::Calendar>>>,
    pub store: Arc<Store>,
    pub hub: Arc<Hub>,
    pub clock: Arc<dyn Clock>,
    /// Cancelled on SIGTERM/SIGINT: streams end, the server drains.
    pub shutdown: CancellationToken,
    /// Recovery finished (whether the store accepts writes is `store.health`).
    pub ready: AtomicBool,
    /// Mount `test_hooks`' routes (`Daemon::enable_test_hooks`); read when serving starts.
    pub test_hooks: AtomicBool,
}

pub type AppState = Arc<App>;

impl App {
    /// Send one operation to its hall's shard and wait for the answer, which arrives only
    /// after the operation's effects are durable.
    ///
    /// While the store refuses writes, a command is refused here, without queueing; reads go
    /// on. (A command with an `Idempotency-Key` goes through: its first answer may be stored.)
    pub async fn ask(&self, hall: usize, op: HallOp, idem: Option<Idem>) -> Answer {
        if matches!(op, HallOp::Apply(_))
            && idem.is_none()
            && let Some(r) = self.store.health.refusal()
        {
            return Problem::store_refused(&r.cause, r.retry_after_s).into();
        }
        let (reply, rx) = oneshot::channel();
        let req = Request {
            hall,
            op,
            idem,
            reply,
        };
        if self.shards.try_send(req).is_err() {
            metrics::counter!(crate::metrics::OVERLOAD, "queue" => "hall").increment(1);
            return Problem::overloaded(format!(
                "hall `{}` has too many requests waiting; retry shortly",
                self.config.halls[hall].id
            ))
            .into();
        }
        rx.await
            .unwrap_or_else(|_| Problem::unavailable("the daemon is shutting down").into())
    }
}

impl App {
    /// The first and last sequence numbers a stream's log holds.
    pub async fn store_bounds(&self, stream: &str) -> Result<(Option<u64>, Option<u64>), Problem> {
        let store = self.store.clone();
        let stream = stream.to_owned();
        let page = tokio::task::spawn_blocking(move || store.read_events(&stream, u64::MAX, 0))
            .await
            .map_err(|e| Problem::unavailable(e.to_string()))?
            .map_err(|e| Problem::unavailable(e.to_string()))?;
        Ok((page.first_retained, page.last_retained))
    }

    /// The last sequence number of a stream (0 when empty).
    pub async fn store_head(&self, stream: &str) -> Result<u64, Problem> {
        Ok(self.store_bounds(stream).await?.1.unwrap_or(0))
    }
}

pub fn router(app: AppState) -> Router {
    let limit = app.config.server.body_limit;
    let hooks = if app.test_hooks.load(Ordering::Acquire) {
        test_hooks::routes()
    } else {
        Router::new()
    };
    Router::new()
        .merge(hooks)
        .merge(halls::routes())
        .merge(cases::routes())
        .merge(stats::routes())
        .merge(backup::routes())
        .merge(crate::web::routes(&app))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::map_response(problem_bodies))
        .layer(axum::middleware::from_fn(track))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(app)
}

/// Request latency by route template, method and status.
async fn track(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let method = req.method().as_str().to_owned();
    // The path names the hall, window, ticket or case; the query (which may carry an
    // access_token) and the headers (Authorization) are never logged.
    let path = req.uri().path().to_owned();
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if status >= 500 {
        tracing::warn!(%method, %path, status, ms, "request failed");
    } else {
        tracing::debug!(%method, %path, status, ms, "request");
    }
    metrics::histogram!(
        crate::metrics::HTTP_SECONDS,
        "route" => route,
        "method" => method,
        "status" => resp.status().as_str().to_owned()
    )
    .record(started.elapsed().as_secs_f64());
    resp
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

/// Error answers made outside the handlers (axum's extractors refusing a query string or a
/// path that is not UTF-8, say) come as plain text; they leave as problems like every
/// other refusal, with the text as the detail.
async fn problem_bodies(resp: axum::response::Response) -> axum::response::Response {
    let status = resp.status();
    let plain = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_none_or(|v| v.as_bytes().starts_with(b"text/plain"));
    if !(status.is_client_error() || status.is_server_error()) || !plain {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let (code, title) = match status.as_u16() {
        400 => ("bad-request", "Bad request"),
        408 => ("request-timeout", "Request timeout"),
        413 => ("body-too-large", "Payload too large"),
        414 => ("uri-too-long", "URI too long"),
        415 => ("unsupported-media-type", "Unsupported media type"),
        422 => ("unprocessable", "Unprocessable request"),
        431 => ("headers-too-large", "Request header fields too large"),
        503 => ("unavailable", "Service unavailable"),
        _ => ("error", "Error"),
    };
    let detail = if text.trim().is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        text
    };
    let mut fixed = Problem::new(status.as_u16(), code, title, detail).into_response();
    // Keep what the original said about the connection or retrying.
    for name in [
        axum::http::header::CONNECTION,
        axum::http::header::RETRY_AFTER,
    ] {
        if let Some(v) = parts.headers.get(&name) {
            fixed.headers_mut().insert(name, v.clone());
        }
    }
    fixed
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

async fn not_found(uri: axum::http::Uri) -> Problem {
    Problem::not_found("no-such-path", format!("no resource at `{}`", uri.path()))
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> Problem {
    Problem::new(
        405,
        "method-not-allowed",
        "Method not allowed",
        format!("`{method}` is not allowed on `{}`", uri.path()),
    )
}
