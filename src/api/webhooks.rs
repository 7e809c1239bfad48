//! The outbox's dead letters (`notify`): `GET /v1/webhooks/dead` lists them, `POST
//! /v1/webhooks/dead/{id}/replay` sends one again with its attempts reset. Admin only: a dead
//! letter names cases and carries masked applicants. Times in the case's hall's offset.
//! Cluster mode: every node lists every dead letter (they are in the log of record); a replay
//! is forwarded to the node holding the letter's share (`api::cluster`), which writes it.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use serde::Serialize;

use super::AppState;
use super::auth::{Perm, Principal};
use super::problem::{Answer, Problem};
use crate::localtime::LocalTime;
use crate::notify::{Notification, OutboxError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/webhooks/dead", get(dead))
        .route("/v1/webhooks/dead/{id}/replay", post(replay))
}

/// A notification as an operator sees it: what, for whom, how often it failed and why. The
/// body stays in the store.
#[derive(Serialize)]
struct LetterView<'a> {
    id: &'a str,
    webhook: &'a str,
    event: &'a str,
    hall: &'a str,
    case: &'a str,
    created_at: LocalTime,
    attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_at: Option<LocalTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dead_at: Option<LocalTime>,
}

fn view<'a>(app: &AppState, n: &'a Notification) -> LetterView<'a> {
    let zone = app
        .config
        .hall_index(&n.hall)
        .map_or(jiff::tz::TimeZone::UTC, |h| {
            app.config.halls[h].time_zone.clone()
        });
    let local = |t| LocalTime::new(t, &zone);
    LetterView {
        id: &n.id,
        webhook: &n.webhook,
        event: &n.event,
        hall: &n.hall,
        case: &n.case,
        created_at: local(n.created_at),
        attempts: n.attempts,
        next_at: (!n.is_dead()).then(|| local(n.next_at)),
        last_error: n.last_error.as_deref(),
        dead_at: n.dead_at.map(local),
    }
}

async fn dead(State(app): State<AppState>, who: Principal) -> Result<Answer, Problem> {
    who.require_global(Perm::Admin)?;
    let dead = app
        .outbox
        .dead()
        .await
        .map_err(|e| Problem::from_store(&e))?;
    let views: Vec<_> = dead.iter().map(|n| view(&app, n)).collect();
    Ok(Answer::json(
        200,
        &serde_json::json!({ "dead": views, "count": views.len() }),
    ))
}

async fn replay(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Answer, Problem> {
    who.require_global(Perm::Admin)?;
    match app.outbox.replay(&id).await {
        Ok(n) => Ok(Answer::json(200, &view(&app, &n))),
        Err(OutboxError::UnknownDeadLetter { id }) => Err(Problem::not_found(
            "unknown-dead-letter",
            format!("there is no dead letter `{id}` (GET /v1/webhooks/dead lists them)"),
        )
        .field("id")),
        Err(OutboxError::Read(e)) => Err(Problem::from_store(&e)),
        Err(e @ OutboxError::NotDurable(_)) => Err(Problem::unavailable(e.to_string())),
        // Cluster mode: the share moved after `api::cluster` let the request through.
        Err(e @ OutboxError::NotHeld { .. }) => {
            let mut p = Problem::unavailable(e.to_string());
            p.retry_after = Some(1);
            Err(p)
        }
    }
}
