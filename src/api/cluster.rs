//! Cluster mode at the edge: a request for a hall this node does not hold, or for the case
//! engine (cases, alarms, complaints, calendars) when another node holds it, is forwarded to
//! the node that holds it, with every header (the token included) and the body; the answer,
//! streams included, comes back through this node with `X-Hallq-Owner` naming that node.
//! A request already forwarded once is not forwarded again (no loops while two nodes' views
//! disagree): it is answered 307 to the owner, or 503 with `Retry-After` while nobody holds
//! it. `GET /v1/cluster` shows the nodes, the leases and their epochs. This module never
//! decides ownership; it reads what the lease loop last saw (`cluster::Cluster::view`).

use std::sync::OnceLock;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;

use super::AppState;
use super::auth::Principal;
use super::problem::Problem;
use crate::store::Holding;

/// Set on a forwarded request, naming the node that forwarded it.
const FORWARDED: HeaderName = HeaderName::from_static("x-hallq-forwarded-by");
/// Set on an answer (or a redirect) that another node gave, naming it.
const OWNER: HeaderName = HeaderName::from_static("x-hallq-owner");

/// Paths the case engine answers, wherever it runs.
const CASE_ENGINE_PATHS: [&str; 6] = [
    "/v1/cases",
    "/v1/bundles",
    "/v1/alarms",
    "/v1/case-events",
    "/v1/complaints",
    "/v1/calendars",
];

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/cluster", get(cluster))
}

/// Middleware: a request for a hall (`/v1/halls/{hall}/…`) or for the case engine that this
/// node does not hold is forwarded (or redirected, or refused) here, before any handler asks
/// an owner thread. One place for every such route, streams included.
pub async fn follow_owner(
    State(app): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if let Some(cluster) = &app.cluster {
        let path = req.uri().path();
        let index = match lease_of(&app, cluster, path) {
            Some(index) => Some(index),
            None => letter_lease(&app, cluster, path).await,
        };
        if let Some(index) = index
            && matches!(app.store.holdings.get(index), Holding::NotHeld)
        {
            return elsewhere(&app, cluster, index, req).await;
        }
    }
    next.run(req).await
}

/// The lease a dead letter's replay (`POST /v1/webhooks/dead/{id}/replay`) needs: its share's
/// (`Notification::share`), whose holder writes the letter's marks. `None` for another path,
/// or a letter this node does not know (the handler answers 404).
async fn letter_lease(
    app: &AppState,
    cluster: &crate::cluster::Cluster,
    path: &str,
) -> Option<usize> {
    let id = path
        .strip_prefix("/v1/webhooks/dead/")?
        .strip_suffix("/replay")?;
    let letters = app.outbox.load().await.ok()?;
    let share = letters.iter().find(|n| n.id == id)?.share().to_owned();
    Some(
        app.config
            .hall_index(&share)
            .unwrap_or_else(|| cluster.case_engine()),
    )
}

/// The lease a path needs: its hall's, or the case engine's.
fn lease_of(app: &AppState, cluster: &crate::cluster::Cluster, path: &str) -> Option<usize> {
    if let Some(rest) = path.strip_prefix("/v1/halls/") {
        return app
            .config
            .hall_index(rest.split('/').next().unwrap_or_default());
    }
    CASE_ENGINE_PATHS
        .iter()
        .any(|p| {
            path.strip_prefix(p)
                .is_some_and(|r| r.is_empty() || r.starts_with('/'))
        })
        .then(|| cluster.case_engine())
}

/// Forward to the owner of lease `index`; a request already forwarded is redirected instead,
/// and 503 while nobody holds the lease.
async fn elsewhere(
    app: &AppState,
    cluster: &crate::cluster::Cluster,
    index: usize,
    req: axum::extract::Request,
) -> Response {
    let what = match app.config.halls.get(index) {
        Some(h) => format!("hall `{}`", h.id),
        None => "the case engine".to_owned(),
    };
    let moving = || {
        let mut p = Problem::unavailable(format!(
            "{what} has no cluster node serving it at the moment (its lease is moving); retry shortly"
        ));
        p.retry_after = Some(1);
        if index < app.config.halls.len() {
            p = p.field("hall");
        }
        p.into_response()
    };
    let Some((node, advertise)) = cluster.owner(index).filter(|(n, _)| n != cluster.node()) else {
        return moving();
    };
    let path = req
        .uri()
        .path_and_query()
        .map_or(req.uri().path(), |p| p.as_str())
        .to_owned();
    let location = format!("{advertise}{path}");
    if req.headers().contains_key(&FORWARDED) {
        let mut r = StatusCode::TEMPORARY_REDIRECT.into_response();
        if let Ok(v) = HeaderValue::from_str(&location) {
            r.headers_mut().insert(header::LOCATION, v);
        }
        if let Ok(v) = HeaderValue::from_str(&node) {
            r.headers_mut().insert(OWNER, v);
        }
        return r;
    }
    match forward(cluster.node(), &location, req).await {
        Ok(mut r) => {
            if let Ok(v) = HeaderValue::from_str(&node) {
                r.headers_mut().insert(OWNER, v);
            }
            r
        }
        Err(e) => {
            tracing::debug!(owner = %node, error = %e, "could not forward a request to its owner");
            moving()
        }
    }
}

/// Send `req` to `url` (the owner's address and the request's path), headers and body as
/// they came, and stream the answer back.
async fn forward(
    me: &str,
    url: &str,
    req: axum::extract::Request,
) -> Result<Response, Box<dyn std::error::Error + Send + Sync>> {
    static CLIENT: OnceLock<Client<HttpConnector, Body>> = OnceLock::new();
    let client = CLIENT.get_or_init(|| Client::builder(TokioExecutor::new()).build_http());
    let (mut parts, body) = req.into_parts();
    parts.uri = url.parse::<Uri>()?;
    // The owner's own address, not this node's.
    parts.headers.remove(header::HOST);
    parts.headers.insert(FORWARDED, HeaderValue::from_str(me)?);
    let mut answer = client
        .request(axum::http::Request::from_parts(parts, body))
        .await?;
    // Hop-by-hop: they described the owner's connection to this node, not this node's to
    // the client, whose framing this node's server chooses.
    for h in [header::CONNECTION, header::TRANSFER_ENCODING] {
        answer.headers_mut().remove(h);
    }
    answer.headers_mut().remove("keep-alive");
    Ok(answer.map(Body::new))
}

#[derive(Serialize)]
struct ClusterView {
    node: String,
    advertise: String,
    lease_s: u64,
    /// The halls this node serves now, with their epochs.
    serving: Vec<Serving>,
    /// The epoch of the case engine's lease when this node holds it.
    case_engine: Option<u64>,
    nodes: Vec<crate::cluster::NodeRow>,
    leases: Vec<crate::cluster::LeaseRow>,
}

#[derive(Serialize)]
struct Serving {
    hall: String,
    epoch: u64,
}

/// Nodes, leases and epochs as this node last read them, and what it serves. Any valid token:
/// it names no citizen and no ticket. 404 in single-node mode.
async fn cluster(State(app): State<AppState>, _who: Principal) -> Result<Response, Problem> {
    let Some(cluster) = &app.cluster else {
        return Err(Problem::not_found(
            "not-clustered",
            "this daemon runs alone (no [cluster] in its config)",
        ));
    };
    let view = cluster.view();
    let serving = (0..app.config.halls.len())
        .filter_map(|h| match app.store.holdings.get(h) {
            Holding::Held(epoch) => Some(Serving {
                hall: app.config.halls[h].id.to_string(),
                epoch,
            }),
            _ => None,
        })
        .collect();
    Ok(crate::runtime::Answer::json(
        200,
        &ClusterView {
            node: cluster.node().to_owned(),
            advertise: cluster.advertise().to_owned(),
            lease_s: cluster.lease_s(),
            serving,
            case_engine: match app.store.holdings.get(cluster.case_engine()) {
                Holding::Held(epoch) => Some(epoch),
                _ => None,
            },
            nodes: view.nodes,
            leases: view.leases,
        },
    )
    .into_response())
}

/// Cluster mode: a calendar replaced through the API is stored by the case engine's holder;
/// the following brings it into every node's store, and from there this task hands it to
/// this node's halls (those it holds change their schedule; the others keep it for when they
/// are adopted) and its calendar views. Runs until the daemon stops.
pub async fn follow_calendars(app: AppState) {
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(500));
    loop {
        tick.tick().await;
        let store = app.store.clone();
        let stored = match tokio::task::spawn_blocking(move || store.calendars()).await {
            Ok(Ok(stored)) => stored,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot read the stored calendars; retrying");
                continue;
            }
            Err(_) => continue,
        };
        for (id, toml) in stored {
            let taken = app
                .calendar_texts
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&id)
                .is_some_and(|t| *t == toml);
            let Some(pos) = app.config.calendar_index(&id).filter(|_| !taken) else {
                continue;
            };
            match crate::calendar::Calendar::from_toml(&format!("stored calendar {id}"), &toml) {
                Ok(c) => {
                    tracing::info!(calendar = %id, "a calendar replaced on another node reached this node's halls");
                    super::halls::calendar_replaced(&app, pos, &std::sync::Arc::new(c), &toml)
                        .await;
                }
                Err(e) => {
                    tracing::error!(calendar = %id, error = %e, "a stored calendar does not parse; this node's halls keep the one they have");
                    app.calendar_texts
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(id, toml);
                }
            }
        }
    }
}

/// Cluster mode: before a roll-up (`/v1/stats`, `/v1/reports`) reads this node's store, bring
/// it up to the log of record, so the answer holds every operation acknowledged before the
/// request, on any node. 503 + `Retry-After` when PostgreSQL cannot be read in time.
pub(super) async fn caught_up(app: &AppState) -> Result<(), Problem> {
    let Some(cluster) = &app.cluster else {
        return Ok(());
    };
    cluster
        .catch_up(std::time::Duration::from_secs(10))
        .await
        .map_err(|e| {
            let mut p = Problem::unavailable(format!(
                "this node cannot read the log of record to answer from it ({e}); retry shortly"
            ));
            p.retry_after = Some(2);
            p
        })
}
