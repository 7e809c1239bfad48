//! Cluster mode at the edge: a hall request that reaches a node not holding the hall is
//! answered 307 with the owner's address (clients and load balancers follow it; the method
//! and body are kept), or 503 with `Retry-After` while the hall has no owner (its lease is
//! moving). `GET /v1/cluster` shows the nodes, the leases and their epochs. This module never
//! decides ownership; it reads what the lease loop last saw (`cluster::Cluster::view`).

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

use super::AppState;
use super::auth::Principal;
use super::problem::Problem;
use crate::store::Holding;

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/cluster", get(cluster))
}

/// Middleware: a request under `/v1/halls/{hall}/` for a hall this node does not hold is
/// answered here (307 to the owner, or 503), before any handler asks a shard. One place for
/// every hall route, streams included.
pub async fn follow_owner(
    State(app): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if app.cluster.is_some()
        && let Some(rest) = req.uri().path().strip_prefix("/v1/halls/")
        && let Some(index) = app
            .config
            .hall_index(rest.split('/').next().unwrap_or_default())
        && let Some(elsewhere) = elsewhere(&app, index, req.uri())
    {
        return elsewhere;
    }
    next.run(req).await
}

/// `None` when this node serves hall `index` (always in single-node mode); otherwise the
/// redirect to its owner, or 503 while it has none.
fn elsewhere(app: &AppState, index: usize, uri: &Uri) -> Option<Response> {
    if !matches!(app.store.holdings.get(index), Holding::NotHeld) {
        return None;
    }
    let hall = &app.config.halls[index].id;
    let moving = || {
        let mut p = Problem::unavailable(format!(
            "hall `{hall}` has no cluster node serving it at the moment (its lease is moving); retry shortly"
        ));
        p.retry_after = Some(1);
        p.field("hall").into_response()
    };
    let Some(cluster) = &app.cluster else {
        return Some(moving());
    };
    match cluster.owner(index) {
        Some((node, advertise)) if node != cluster.node() => {
            let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
            let location = format!("{advertise}{path}");
            let mut r = StatusCode::TEMPORARY_REDIRECT.into_response();
            if let Ok(v) = HeaderValue::from_str(&location) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            if let Ok(v) = HeaderValue::from_str(&node) {
                r.headers_mut().insert("x-hallq-owner", v);
            }
            Some(r)
        }
        _ => Some(moving()),
    }
}

#[derive(Serialize)]
struct ClusterView {
    node: String,
    advertise: String,
    lease_s: u64,
    /// The halls this node serves now, with their epochs.
    serving: Vec<Serving>,
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
            nodes: view.nodes,
            leases: view.leases,
        },
    )
    .into_response())
}
