//! `/v1/halls/...`: halls, tickets and windows.
//!
//! Each handler authenticates, resolves ids to positions (404 naming what is unknown),
//! checks role and scope (403), parses the body (400 naming the field) and hands one
//! `HallOp` to the hall's shard. Everything that can only be decided against the hall's
//! current state is decided there.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::auth::{Perm, Principal};
use super::problem::{Answer, Problem};
use super::{AppState, json};
use crate::config::{HallConfig, Placement, Tier};
use crate::queue::{Command, Post, TicketClass, TicketStatus, WindowAction};
use crate::runtime::idem::Idem;
use crate::runtime::shard::HallOp;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/halls", get(list_halls))
        .route("/v1/halls/{hall}", get(snapshot))
        .route("/v1/halls/{hall}/tickets", post(issue).get(list_tickets))
        .route("/v1/halls/{hall}/tickets/{ticket}", get(ticket))
        .route(
            "/v1/halls/{hall}/tickets/{ticket}/{action}",
            post(ticket_action),
        )
        .route("/v1/halls/{hall}/windows/{window}", get(window))
        .route("/v1/halls/{hall}/windows/{window}/queue", get(window_queue))
        .route("/v1/halls/{hall}/windows/{window}/call", post(call_next))
        .route(
            "/v1/halls/{hall}/windows/{window}/call/{ticket}",
            post(call_ticket),
        )
        .route(
            "/v1/halls/{hall}/windows/{window}/{action}",
            post(window_action),
        )
        .route("/v1/halls/{hall}/events", get(super::events::hall_events))
        .route(
            "/v1/halls/{hall}/hours/{date}",
            put(set_hours).get(day_hours).delete(clear_hours),
        )
}

type Body = Result<Bytes, BytesRejection>;

/// A hall the caller named, resolved and checked.
pub(super) struct HallRef {
    pub index: usize,
    pub cfg: Arc<HallConfig>,
}

pub(super) fn hall(
    app: &AppState,
    who: &Principal,
    id: &str,
    perm: Perm,
) -> Result<HallRef, Problem> {
    let index = app.config.hall_index(id).ok_or_else(|| {
        Problem::not_found("unknown-hall", format!("there is no hall `{id}`")).field("hall")
    })?;
    who.require(perm, index, id)?;
    Ok(HallRef {
        index,
        cfg: app.config.halls[index].clone(),
    })
}

fn window_index(h: &HallRef, id: &str) -> Result<usize, Problem> {
    h.cfg.window_index(id).ok_or_else(|| {
        Problem::not_found(
            "unknown-window",
            format!(
                "hall `{}` has no window `{id}` (windows: {})",
                h.cfg.id,
                h.cfg.window_ids()
            ),
        )
        .field("window")
    })
}

fn service_index(h: &HallRef, id: &str) -> Result<usize, Problem> {
    h.cfg.service_index(id).ok_or_else(|| {
        Problem::not_found(
            "unknown-service",
            format!(
                "hall `{}` has no service `{id}` (services: {})",
                h.cfg.id,
                h.cfg.service_ids()
            ),
        )
        .field("service")
    })
}

/// The request's `Idempotency-Key`, scoped to hall and token and fingerprinted with the
/// method, path and body so a reused key for another request is caught.
fn idempotency(
    headers: &HeaderMap,
    who: &Principal,
    h: &HallRef,
    method: &Method,
    uri: &Uri,
    body: &Body,
) -> Result<Option<Idem>, Problem> {
    super::idempotency_key(
        headers,
        format!("{}|{}", h.cfg.id, who.name()),
        method,
        uri,
        body,
    )
}

#[derive(Serialize)]
struct HallListItem {
    id: Arc<str>,
    name: Arc<str>,
    tier: Tier,
    parent: Option<Arc<str>>,
    time_zone: Arc<str>,
}

async fn list_halls(State(app): State<AppState>, who: Principal) -> Response {
    let halls: Vec<HallListItem> = app
        .config
        .halls
        .iter()
        .enumerate()
        .filter(|(i, _)| who.covers(*i))
        .map(|(_, h)| HallListItem {
            id: h.id.clone(),
            name: h.name.clone(),
            tier: h.tier,
            parent: h.parent_id.clone(),
            time_zone: h.time_zone_name.clone(),
        })
        .collect();
    Answer::json(200, &halls).into_response()
}

async fn snapshot(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Answer, Problem> {
    let h = hall(&app, &who, &id, Perm::Read)?;
    Ok(app.answer(h.index, HallOp::Snapshot, None).await)
}

fn default_true() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct IssueBody {
    service: String,
    #[serde(default = "normal")]
    class: TicketClass,
    /// RFC 3339 instant of an appointment's slot.
    slot: Option<Timestamp>,
    /// false for an appointment pushed by a booking system before the citizen arrives.
    #[serde(default = "default_true")]
    checked_in: bool,
}

fn normal() -> TicketClass {
    TicketClass::Normal
}

async fn issue(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Answer, Problem> {
    let h = hall(&app, &who, &id, Perm::Issue)?;
    let idem = idempotency(&headers, &who, &h, &method, &uri, &body)?;
    let req: IssueBody = json::parse(&headers, body)?;
    let cmd = Command::Issue {
        service: service_index(&h, &req.service)?,
        class: req.class,
        slot: req.slot,
        checked_in: req.checked_in,
    };
    Ok(app.answer(h.index, HallOp::Apply(cmd), idem).await)
}

async fn list_tickets(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Answer, Problem> {
    let h = hall(&app, &who, &id, Perm::Read)?;
    let status = match q.get("status") {
        None => None,
        Some(s) => Some(
            serde_json::from_value::<TicketStatus>(serde_json::Value::String(s.clone())).map_err(|_| {
                Problem::bad_request(
                    "invalid-field",
                    format!("unknown status `{s}`; expected booked, waiting, called, serving, done, no_show, parked, cancelled or expired"),
                )
                .field("status")
            })?,
        ),
    };
    let service = q.get("service").map(|s| service_index(&h, s)).transpose()?;
    if let Some(unknown) = q
        .keys()
        .find(|k| !matches!(k.as_str(), "status" | "service" | "access_token"))
    {
        return Err(Problem::bad_request(
            "unknown-field",
            format!("unknown query parameter `{unknown}`; use status or service"),
        )
        .field(unknown.clone()));
    }
    Ok(app
        .answer(h.index, HallOp::Tickets { status, service }, None)
        .await)
}

async fn ticket(
    State(app): State<AppState>,
    who: Principal,
    Path((id, ticket)): Path<(String, String)>,
) -> Result<Answer, Problem> {
    let h = hall(&app, &who, &id, Perm::Read)?;
    Ok(app.answer(h.index, HallOp::Ticket(ticket), None).await)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NoBody {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EvaluateBody {
    evaluation: u8,
}

#[allow(clippy::too_many_arguments, reason = "axum extractors")]
async fn ticket_action(
    State(app): State<AppState>,
    who: Principal,
    Path((id, ticket, action)): Path<(String, String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Answer, Problem> {
    let h = hall(&app, &who, &id, Perm::TicketAction)?;
    let idem = idempotency(&headers, &who, &h, &method, &uri, &body)?;
    let cmd = match action.as_str() {
        "cancel" | "check-in" | "reactivate" | "return" => {
            json::parse::<NoBody>(&headers, body)?;
            match action.as_str() {
                "cancel" => Command::Cancel { ticket },
                "check-in" => Command::CheckIn { ticket },
                "reactivate" => Command::Reactivate { ticket },
                _ => Command::Return { ticket },
            }
        }
        "evaluate" => {
            let b: EvaluateBody = json::parse(&headers, body)?;
            Command::Evaluate {
                ticket,
                evaluation: b.evaluation,
            }
        }
        other => {
            return Err(Problem::not_found(
                "unknown-action",
                format!("unknown ticket action `{other}`; use cancel, check-in, reactivate, return or evaluate"),
            )
            .field("action"));
        }
    };
    Ok(app.answer(h.index, HallOp::Apply(cmd), idem).await)
}

async fn window(
    State(app): State<AppState>,
    who: Principal,
    Path((id, window)): Path<(String, String)>,
) -> Result<Answer, Problem> {
    let h = hall(&app, &who, &id, Perm::Read)?;
    let w = window_index(&h, &window)?;
    Ok(app.answer(h.index, HallOp::Window(w), None).await)
}

async fn window_queue(
    State(app): State<AppState>,
    who: Principal,
    Path((id, window)): Path<(String, String)>,
) -> Result<Answer, Problem> {
    let h = hall(&app, &who, &id, Perm::Read)?;
    let w = window_index(&h, &window)?;
    Ok(app.answer(h.index, HallOp::WindowQueue(w), None).await)
}

#[allow(clippy::too_many_arguments, reason = "axum extractors")]
async fn call_next(
    State(app): State<AppState>,
    who: Principal,
    Path((id, window)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Answer, Problem> {
    operate(
        app,
        who,
        id,
        window,
        method,
        uri,
        headers,
        body,
        |_, (h, b)| {
            json::parse::<NoBody>(h, b)?;
            Ok(WindowAction::CallNext)
        },
    )
    .await
}

#[allow(clippy::too_many_arguments, reason = "axum extractors")]
async fn call_ticket(
    State(app): State<AppState>,
    who: Principal,
    Path((id, window, ticket)): Path<(String, String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Answer, Problem> {
    operate(
        app,
        who,
        id,
        window,
        method,
        uri,
        headers,
        body,
        |_, (h, b)| {
            json::parse::<NoBody>(h, b)?;
            Ok(WindowAction::Call { ticket })
        },
    )
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CompleteBody {
    evaluation: Option<u8>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TransferBody {
    service: String,
    placement: Option<Placement>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OpenBody {
    post: Option<Post>,
    officer: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PauseBody {
    reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SignInBody {
    post: Post,
    officer: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SignOutBody {
    post: Post,
}

const WINDOW_ACTIONS: &str = "recall, start, complete, no-show, transfer, park, release, open, pause, close, sign-in or sign-out";

#[allow(clippy::too_many_arguments, reason = "axum extractors")]
async fn window_action(
    State(app): State<AppState>,
    who: Principal,
    Path((id, window, action)): Path<(String, String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Answer, Problem> {
    operate(
        app,
        who,
        id,
        window,
        method,
        uri,
        headers,
        body,
        move |h, body| {
            let (headers, body) = body;
            Ok(match action.as_str() {
                "recall" | "start" | "no-show" | "park" | "release" | "close" => {
                    json::parse::<NoBody>(headers, body)?;
                    match action.as_str() {
                        "recall" => WindowAction::Recall,
                        "start" => WindowAction::Start,
                        "no-show" => WindowAction::NoShow,
                        "park" => WindowAction::Park,
                        "release" => WindowAction::Release,
                        _ => WindowAction::Close,
                    }
                }
                "complete" => WindowAction::Complete {
                    evaluation: json::parse::<CompleteBody>(headers, body)?.evaluation,
                },
                "transfer" => {
                    let b: TransferBody = json::parse(headers, body)?;
                    WindowAction::Transfer {
                        service: service_index(h, &b.service)?,
                        placement: b.placement,
                    }
                }
                "open" => {
                    let b: OpenBody = json::parse(headers, body)?;
                    let sign_in = match (b.post, b.officer) {
                        (Some(p), Some(o)) => Some((p, o)),
                        (None, None) => None,
                        (None, Some(_)) => {
                            return Err(Problem::bad_request(
                                "missing-field",
                                "`post`: name the post (A or B) the officer signs in on",
                            )
                            .field("post"));
                        }
                        (Some(_), None) => {
                            return Err(Problem::bad_request(
                                "missing-field",
                                "`officer`: name the officer signing in",
                            )
                            .field("officer"));
                        }
                    };
                    WindowAction::Open { sign_in }
                }
                "pause" => WindowAction::Pause {
                    reason: json::parse::<PauseBody>(headers, body)?.reason,
                },
                "sign-in" => {
                    let b: SignInBody = json::parse(headers, body)?;
                    WindowAction::SignIn {
                        post: b.post,
                        officer: b.officer,
                    }
                }
                "sign-out" => WindowAction::SignOut {
                    post: json::parse::<SignOutBody>(headers, body)?.post,
                },
                other => {
                    return Err(Problem::not_found(
                        "unknown-action",
                        format!("unknown window action `{other}`; use call, {WINDOW_ACTIONS}"),
                    )
                    .field("action"));
                }
            })
        },
    )
    .await
}

/// The common path of every window action: resolve, authorize, build the action, ask.
#[allow(clippy::too_many_arguments, reason = "the pieces of one request")]
async fn operate(
    app: AppState,
    who: Principal,
    id: String,
    window: String,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
    action: impl FnOnce(&HallRef, (&HeaderMap, Body)) -> Result<WindowAction, Problem>,
) -> Result<Answer, Problem> {
    let h = hall(&app, &who, &id, Perm::Operate)?;
    let w = window_index(&h, &window)?;
    let idem = idempotency(&headers, &who, &h, &method, &uri, &body)?;
    let action = action(&h, (&headers, body))?;
    let cmd = Command::Window { window: w, action };
    Ok(app.answer(h.index, HallOp::Apply(cmd), idem).await)
}

// ------------------------------------------------------------------ opening hours

/// A date in a path: `YYYY-MM-DD`.
fn path_date(text: &str) -> Result<jiff::civil::Date, Problem> {
    let date = (text.len() == 10)
        .then(|| text.parse::<jiff::civil::Date>().ok())
        .flatten();
    date.ok_or_else(|| {
        Problem::bad_request(
            "invalid-field",
            format!("`{text}` is not a date; expected YYYY-MM-DD, e.g. 2026-10-08"),
        )
        .field("date")
    })
}

/// `PUT /v1/halls/{hall}/hours/{date}`: `{"closed": true}` or `{"hours": ["09:00-12:00"]}`,
/// with an optional `reason` shown to citizens.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HoursBody {
    closed: Option<bool>,
    hours: Option<Vec<String>>,
    reason: Option<String>,
}

/// `GET /v1/halls/{hall}/hours/{date}`: that date's hours and the rule behind them.
async fn day_hours(
    State(app): State<AppState>,
    who: Principal,
    Path((id, date)): Path<(String, String)>,
) -> Result<Answer, Problem> {
    let h = hall(&app, &who, &id, Perm::Read)?;
    let date = path_date(&date)?;
    Ok(app.answer(h.index, HallOp::Hours(date), None).await)
}

#[allow(clippy::too_many_arguments, reason = "axum extractors")]
async fn set_hours(
    State(app): State<AppState>,
    who: Principal,
    Path((id, date)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Answer, Problem> {
    let h = hall(&app, &who, &id, Perm::Hours)?;
    let date = path_date(&date)?;
    let idem = idempotency(&headers, &who, &h, &method, &uri, &body)?;
    let b: HoursBody = json::parse(&headers, body)?;
    let unprocessable = |field: String, detail: String| {
        Problem::new(422, "invalid-hours", "Unprocessable request", detail).field(field)
    };
    let hours = match (b.closed, b.hours) {
        (Some(true), None) => Vec::new(),
        (Some(true), Some(_)) => {
            return Err(unprocessable(
                "closed".into(),
                "give either `closed: true` or `hours`, not both".into(),
            ));
        }
        (_, Some(list)) if list.is_empty() => {
            return Err(unprocessable(
                "hours".into(),
                "list the day's hours, e.g. [\"09:00-12:00\"], or send {\"closed\": true}".into(),
            ));
        }
        (_, Some(list)) => crate::config::parse_day_hours(list.iter().map(String::as_str))
            .map_err(|(k, e)| unprocessable(format!("hours[{k}]"), format!("`hours[{k}]`: {e}")))?,
        (_, None) => {
            return Err(unprocessable(
                "hours".into(),
                "send {\"closed\": true} or {\"hours\": [\"HH:MM-HH:MM\", ...]}".into(),
            ));
        }
    };
    if let Some(r) = &b.reason
        && r.chars().count() > crate::config::MAX_REASON_CHARS
    {
        return Err(unprocessable(
            "reason".into(),
            format!(
                "`reason` is at most {} characters",
                crate::config::MAX_REASON_CHARS
            ),
        ));
    }
    let cmd = Command::SetHours {
        date,
        hours: hours.into_boxed_slice(),
        reason: b.reason.map(String::into_boxed_str),
    };
    Ok(app.answer(h.index, HallOp::Apply(cmd), idem).await)
}

/// `DELETE /v1/halls/{hall}/hours/{date}`: remove the API's override of that date.
#[allow(clippy::too_many_arguments, reason = "axum extractors")]
async fn clear_hours(
    State(app): State<AppState>,
    who: Principal,
    Path((id, date)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Answer, Problem> {
    let h = hall(&app, &who, &id, Perm::Hours)?;
    let date = path_date(&date)?;
    let idem = idempotency(&headers, &who, &h, &method, &uri, &body)?;
    json::parse::<NoBody>(&headers, body)?;
    let cmd = Command::ClearHours { date };
    Ok(app.answer(h.index, HallOp::Apply(cmd), idem).await)
}

/// After `PUT /v1/calendars/{id}` replaced calendar `pos`: every hall that follows it gets
/// it too, through its shard. A full hall queue is retried (this is rare and must not be
/// lost: the hall would keep the old holidays until the next start).
pub(super) async fn calendar_replaced(
    app: &AppState,
    pos: usize,
    calendar: &Arc<crate::calendar::Calendar>,
) {
    for (index, h) in app.config.halls.iter().enumerate() {
        if h.calendar != Some(pos) {
            continue;
        }
        let mut tries = 0;
        loop {
            let answer = app
                .answer(index, HallOp::UseCalendar(calendar.clone()), None)
                .await;
            if answer.status != 503 || app.store.health.is_failed() || tries == 100 {
                if !answer.is_success() {
                    tracing::error!(hall = %h.id, calendar = %calendar.id(), status = answer.status,
                        "the hall did not take the replaced calendar; its schedule follows the old one until the next start");
                }
                break;
            }
            tries += 1;
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}
