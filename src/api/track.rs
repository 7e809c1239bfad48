//! What every request passes through once the router has matched it: its latency, counted
//! by route template, method and status, and error answers made outside the handlers turned
//! into problems. One layer for both, since each layer costs every request a clone of the
//! route and a boxed future.

use std::sync::{Arc, PoisonError, RwLock};

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::problem::Problem;
use crate::hash::FastMap;

/// `hallq_http_request_duration_seconds` handles by route template, then method and status,
/// each made once: asking the recorder per request (three label strings, a key, a lookup)
/// cost about 2,500 instructions and five allocations.
#[derive(Default)]
pub(crate) struct RequestMetrics(RwLock<FastMap<Box<str>, Vec<ByAnswer>>>);

/// A route's handle for one method and status.
type ByAnswer = (Method, u16, metrics::Histogram);

impl RequestMetrics {
    fn histogram(&self, route: &str, method: &Method, status: u16) -> metrics::Histogram {
        let found = self
            .0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(route)
            .and_then(|l| l.iter().find(|(m, s, _)| m == method && *s == status))
            .map(|(_, _, h)| h.clone());
        if let Some(h) = found {
            return h;
        }
        let h = metrics::histogram!(
            crate::metrics::HTTP_SECONDS,
            "route" => route.to_owned(),
            "method" => method.as_str().to_owned(),
            "status" => status.to_string()
        );
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(route.into())
            .or_default()
            .push((method.clone(), status, h.clone()));
        h
    }
}

/// Request latency by route template, method and status; plain-text error answers made as
/// problems (`problem_bodies`).
pub(crate) async fn track(
    State(metrics): State<Arc<RequestMetrics>>,
    req: Request,
    next: Next,
) -> Response {
    let route = req.extensions().get::<MatchedPath>().cloned();
    let method = req.method().clone();
    // The path names the hall, window, ticket or case; the query (which may carry an
    // access_token) and the headers (Authorization) are never logged.
    let uri = req.uri().clone();
    let started = std::time::Instant::now();
    let resp = problem_bodies(next.run(req).await).await;
    let status = resp.status().as_u16();
    let elapsed = started.elapsed().as_secs_f64();
    let ms = elapsed * 1000.0;
    let path = uri.path();
    if status >= 500 {
        tracing::warn!(%method, %path, status, ms, "request failed");
    } else {
        tracing::debug!(%method, %path, status, ms, "request");
    }
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    metrics.histogram(route, &method, status).record(elapsed);
    resp
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
