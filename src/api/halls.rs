//! `/v1/halls/...`: halls, tickets and windows.
//!
//! The extractors of `scope` authenticate, resolve the hall (404 naming it) and check role
//! and scope (403); each handler resolves the rest of its ids, parses the body (400 naming
//! the field) and hands one `HallOp` to the hall's shard. Everything that can only be
//! decided against the hall's current state is decided there.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::{Perm, Principal};
use super::problem::{Answer, Problem};
use super::scope::{HallChange, InHall, hall, need};
use crate::model::{Placement, Tier};
use crate::queue::{Command, Post, TicketClass, TicketStatus, WindowAction};
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
        .route(
            "/v1/halls/{hall}/hours/{date}",
            put(set_hours).get(day_hours).delete(clear_hours),
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

async fn snapshot(State(app): State<AppState>, read: InHall<need::Read>) -> Answer {
    app.answer(read.hall.index, HallOp::Snapshot, None).await
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
    /// A phone to tell when the turn is near; kept masked and hashed only.
    contact: Option<String>,
}

fn normal() -> TicketClass {
    TicketClass::Normal
}

async fn issue(
    State(app): State<AppState>,
    change: HallChange<need::Issue>,
) -> Result<Answer, Problem> {
    let idem = change.idem()?;
    let req: IssueBody = change.json()?;
    let cmd = Command::Issue {
        service: change.hall.service(&req.service)?,
        class: req.class,
        slot: req.slot,
        checked_in: req.checked_in,
    };
    let op = match req.contact {
        Some(c) => {
            HallOp::IssueWithContact(Box::new((cmd, super::applicant::ticket_contact(&app, &c)?)))
        }
        None => HallOp::Apply(cmd),
    };
    Ok(app.answer(change.hall.index, op, idem).await)
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
    let service = q.get("service").map(|s| h.service(s)).transpose()?;
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

async fn ticket(State(app): State<AppState>, read: InHall<need::Read>) -> Answer {
    let ticket = read.path.get("ticket").to_owned();
    app.answer(read.hall.index, HallOp::Ticket(ticket), None)
        .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NoBody {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EvaluateBody {
    evaluation: u8,
}

async fn ticket_action(
    State(app): State<AppState>,
    change: HallChange<need::TicketAction>,
) -> Result<Answer, Problem> {
    let idem = change.idem()?;
    let ticket = change.path.get("ticket").to_owned();
    let action = change.path.get("action");
    let cmd = match action {
        "cancel" | "check-in" | "reactivate" | "return" => {
            change.json::<NoBody>()?;
            match action {
                "cancel" => Command::Cancel { ticket },
                "check-in" => Command::CheckIn { ticket },
                "reactivate" => Command::Reactivate { ticket },
                _ => Command::Return { ticket },
            }
        }
        "evaluate" => {
            let b: EvaluateBody = change.json()?;
            Command::Evaluate {
                ticket,
                evaluation: b.evaluation,
                rating: None,
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
    Ok(app
        .answer(change.hall.index, HallOp::Apply(cmd), idem)
        .await)
}

async fn window(State(app): State<AppState>, read: InHall<need::Read>) -> Result<Answer, Problem> {
    let w = read.hall.window(read.path.get("window"))?;
    Ok(app.answer(read.hall.index, HallOp::Window(w), None).await)
}

async fn window_queue(
    State(app): State<AppState>,
    read: InHall<need::Read>,
) -> Result<Answer, Problem> {
    let w = read.hall.window(read.path.get("window"))?;
    Ok(app
        .answer(read.hall.index, HallOp::WindowQueue(w), None)
        .await)
}

async fn call_next(
    State(app): State<AppState>,
    change: HallChange<need::Operate>,
) -> Result<Answer, Problem> {
    operate(&app, &change, || {
        change.json::<NoBody>()?;
        Ok(WindowAction::CallNext)
    })
    .await
}

async fn call_ticket(
    State(app): State<AppState>,
    change: HallChange<need::Operate>,
) -> Result<Answer, Problem> {
    operate(&app, &change, || {
        change.json::<NoBody>()?;
        let ticket = change.path.get("ticket").to_owned();
        Ok(WindowAction::Call { ticket })
    })
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
    /// Why the officer leaves (会议, 外出办件, 病假): shown as the whereabouts (去向公开).
    reason: Option<String>,
    /// When the officer expects to be back; none or half a day away or more is leave.
    back_at: Option<jiff::Timestamp>,
}

const WINDOW_ACTIONS: &str = "recall, start, complete, no-show, transfer, park, release, open, pause, close, sign-in or sign-out";

async fn window_action(
    State(app): State<AppState>,
    change: HallChange<need::Operate>,
) -> Result<Answer, Problem> {
    let action = change.path.get("action");
    operate(&app, &change, || {
        Ok(match action {
            "recall" | "start" | "no-show" | "park" | "release" | "close" => {
                change.json::<NoBody>()?;
                match action {
                    "recall" => WindowAction::Recall,
                    "start" => WindowAction::Start,
                    "no-show" => WindowAction::NoShow,
                    "park" => WindowAction::Park,
                    "release" => WindowAction::Release,
                    _ => WindowAction::Close,
                }
            }
            "complete" => WindowAction::Complete {
                evaluation: change.json::<CompleteBody>()?.evaluation,
            },
            "transfer" => {
                let b: TransferBody = change.json()?;
                WindowAction::Transfer {
                    service: change.hall.service(&b.service)?,
                    placement: b.placement,
                }
            }
            "open" => {
                let b: OpenBody = change.json()?;
                let sign_in = match (b.post, b.officer) {
                    (Some(p), Some(o)) => Some((p, super::officers::canonical(&app.config, o))),
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
                reason: change.json::<PauseBody>()?.reason,
            },
            "sign-in" => {
                let b: SignInBody = change.json()?;
                WindowAction::SignIn {
                    post: b.post,
                    officer: super::officers::canonical(&app.config, b.officer),
                }
            }
            "sign-out" => {
                let b: SignOutBody = change.json()?;
                let now = app.clock.now();
                WindowAction::SignOut {
                    post: b.post,
                    absence: super::officers::absence(&app.config, now, b.reason, b.back_at)?,
                }
            }
            other => {
                return Err(Problem::not_found(
                    "unknown-action",
                    format!("unknown window action `{other}`; use call, {WINDOW_ACTIONS}"),
                )
                .field("action"));
            }
        })
    })
    .await
}

/// The common path of every window action, after the extractor resolved and authorized the
/// hall: the window, the key, the action built from the body, the shard.
async fn operate<N>(
    app: &AppState,
    change: &HallChange<N>,
    action: impl FnOnce() -> Result<WindowAction, Problem>,
) -> Result<Answer, Problem> {
    let w = change.window()?;
    let idem = change.idem()?;
    let cmd = Command::Window {
        window: w,
        action: action()?,
    };
    Ok(app
        .answer(change.hall.index, HallOp::Apply(cmd), idem)
        .await)
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
    read: InHall<need::Read>,
) -> Result<Answer, Problem> {
    let date = path_date(read.path.get("date"))?;
    Ok(app.answer(read.hall.index, HallOp::Hours(date), None).await)
}

async fn set_hours(
    State(app): State<AppState>,
    change: HallChange<need::Hours>,
) -> Result<Answer, Problem> {
    let date = path_date(change.path.get("date"))?;
    let idem = change.idem()?;
    let b: HoursBody = change.json()?;
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
        (_, Some(list)) => crate::model::parse_day_hours(list.iter().map(String::as_str))
            .map_err(|(k, e)| unprocessable(format!("hours[{k}]"), format!("`hours[{k}]`: {e}")))?,
        (_, None) => {
            return Err(unprocessable(
                "hours".into(),
                "send {\"closed\": true} or {\"hours\": [\"HH:MM-HH:MM\", ...]}".into(),
            ));
        }
    };
    if let Some(r) = &b.reason
        && r.chars().count() > crate::model::MAX_REASON_CHARS
    {
        return Err(unprocessable(
            "reason".into(),
            format!(
                "`reason` is at most {} characters",
                crate::model::MAX_REASON_CHARS
            ),
        ));
    }
    let cmd = Command::SetHours {
        date,
        hours: hours.into_boxed_slice(),
        reason: b.reason.map(String::into_boxed_str),
    };
    Ok(app
        .answer(change.hall.index, HallOp::Apply(cmd), idem)
        .await)
}

/// `DELETE /v1/halls/{hall}/hours/{date}`: remove the API's override of that date.
async fn clear_hours(
    State(app): State<AppState>,
    change: HallChange<need::Hours>,
) -> Result<Answer, Problem> {
    let date = path_date(change.path.get("date"))?;
    let idem = change.idem()?;
    change.json::<NoBody>()?;
    let cmd = Command::ClearHours { date };
    Ok(app
        .answer(change.hall.index, HallOp::Apply(cmd), idem)
        .await)
}

/// After `PUT /v1/calendars/{id}` replaced calendar `pos` (stored as `toml`): every hall
/// that follows it gets it too, through its shard. A full hall queue is retried (this is rare
/// and must not be lost: the hall would keep the old holidays until the next start).
///
/// Cluster mode: the handler on the node that made the replacement and `follow_calendars` on
/// every node both come here; each replacement is taken once per node, by whichever comes
/// first (`App::calendar_texts`), so a hall gets one `schedule_changed`, not two.
pub(super) async fn calendar_replaced(
    app: &AppState,
    pos: usize,
    calendar: &Arc<crate::calendar::Calendar>,
    toml: &str,
) {
    if app.cluster.is_some() {
        let mut taken = app.calendar_texts.lock().unwrap_or_else(|e| e.into_inner());
        if taken.get(calendar.id()).is_some_and(|t| t == toml) {
            return;
        }
        taken.insert(calendar.id().to_owned(), toml.to_owned());
    }
    app.calendars.write().unwrap_or_else(|e| e.into_inner())[pos] = calendar.clone();
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
