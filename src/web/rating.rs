//! The citizen rates the service (好差评): `POST /v1/halls/{hall}/tickets/{ticket}/rating`
//! `{"rating": 1..5, "reasons": [...]}`, authorised by the ticket's link key `k` (the QR code
//! on the ticket) or by a kiosk or counter token (the counter-facing 评价器 page).
//!
//! Once per ticket, within the config's `[rating] window_min` after completion; the hall's
//! shard decides both. Only sends `Evaluate` to the hall's shard; a rating of 1 or 2 opens
//! its rectification case there, after the rating is durable.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;

use super::Web;
use super::public::check_link;
use crate::api::AppState;
use crate::api::auth::{Perm, Principal};
use crate::api::problem::Problem;
use crate::api::render;
use crate::queue::{Command, Rating};
use crate::runtime::shard::HallOp;

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/halls/{hall}/tickets/{ticket}/rating", post(rate))
}

#[derive(Deserialize)]
struct KeyQuery {
    k: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RatingBody {
    rating: u8,
    #[serde(default)]
    reasons: Vec<String>,
}

async fn rate(
    State(app): State<AppState>,
    axum::Extension(web): axum::Extension<Arc<Web>>,
    who: Result<Principal, Problem>,
    Path((hall, ticket)): Path<(String, String)>,
    Query(q): Query<KeyQuery>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let asked = Asked {
        who,
        hall: &hall,
        ticket: &ticket,
        k: q.k.as_deref(),
        headers: &headers,
        body: &body,
    };
    match rating(&app, &web, asked).await {
        Ok(r) | Err(r) => r,
    }
}

/// What the handler's extractors found: who asks, for which ticket, with which link key and
/// body.
struct Asked<'a> {
    who: Result<Principal, Problem>,
    hall: &'a str,
    ticket: &'a str,
    k: Option<&'a str>,
    headers: &'a HeaderMap,
    body: &'a Result<Bytes, BytesRejection>,
}

async fn rating(app: &AppState, web: &Web, asked: Asked<'_>) -> Result<Response, Response> {
    let Asked {
        who,
        hall,
        ticket,
        k,
        headers,
        body,
    } = asked;
    let h = app.config.hall_index(hall).ok_or_else(|| {
        Problem::not_found("unknown-hall", format!("there is no hall `{hall}`"))
            .field("hall")
            .into_response()
    })?;
    // The link key is the citizen's; without one, a kiosk or counter token of the hall.
    match (k, who) {
        (Some(_), _) => check_link(web, hall, ticket, k).map_err(IntoResponse::into_response)?,
        (None, Ok(p)) => p
            .require(Perm::TicketAction, h, hall)
            .map_err(IntoResponse::into_response)?,
        (None, Err(p)) => return Err(p.into_response()),
    }
    let b: RatingBody =
        crate::api::json::parse(headers, body).map_err(IntoResponse::into_response)?;
    if !(1..=5).contains(&b.rating) {
        return Err(Problem::new(
            422,
            "bad-evaluation",
            "Unprocessable request",
            format!("`rating` is 1 to 5, not {}", b.rating),
        )
        .field("rating")
        .into_response());
    }
    let offered = &app.config.rating.reasons;
    if b.reasons.len() > offered.len() {
        return Err(Problem::new(
            422,
            "invalid-field",
            "Unprocessable request",
            "too many `reasons`",
        )
        .field("reasons")
        .into_response());
    }
    if let Some(bad) = b
        .reasons
        .iter()
        .find(|r| !offered.iter().any(|o| &**o == r.as_str()))
    {
        let list: Vec<&str> = offered.iter().map(|o| &**o).collect();
        return Err(Problem::new(
            422,
            "invalid-field",
            "Unprocessable request",
            format!(
                "unknown reason `{bad}`; expected one of {}",
                list.join(", ")
            ),
        )
        .field("reasons")
        .into_response());
    }
    let cmd = Command::Evaluate {
        ticket: ticket.to_owned(),
        evaluation: b.rating,
        rating: Some(Box::new(Rating {
            reasons: b.reasons,
            within_s: Some(u32::try_from(app.config.rating.window_s).unwrap_or(u32::MAX)),
        })),
    };
    let reply = app.shards.ask(h, HallOp::Apply(cmd), None).await;
    Ok(render::hall(&app.config.halls[h].id, &reply).into_response())
}
