//! Officers (公示牌, 去向公开, 周考勤): the roster and photos the pages show, a sign-out's
//! stated absence, and the attendance record read back from the hall's durable event log.
//!
//! Holds no state: the roster is the config's, who is signed in where is the hall shard's,
//! and attendance is what the store logged (`officer_signed_in`/`officer_signed_out`).

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::{Perm, Principal};
use super::problem::{Answer, Problem};
use super::scope::hall;
use crate::config::Config;
use crate::queue::Absence;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/officers", get(roster))
        .route("/v1/officers/{officer}/photo", get(photo))
        .route("/v1/halls/{hall}/attendance", get(attendance))
}

/// The name an officer signs in under: a staff number is resolved through the roster, so
/// posts, events and reports always name the officer the same way.
pub fn canonical(config: &Config, who: String) -> String {
    match config.officer(who.trim()) {
        Some(o) => o.name.to_string(),
        None => who,
    }
}

/// The absence a sign-out states: none without a reason (off for the day); leave when no
/// return is given or it is `short_absence_min` or more away.
pub fn absence(
    config: &Config,
    now: jiff::Timestamp,
    reason: Option<String>,
    back_at: Option<jiff::Timestamp>,
) -> Result<Option<Box<Absence>>, Problem> {
    let Some(note) = reason.map(|r| r.trim().to_owned()) else {
        if back_at.is_some() {
            return Err(Problem::bad_request(
                "missing-field",
                "`reason`: say where the officer goes (会议, 外出办件, 病假) when giving `back_at`",
            )
            .field("reason"));
        }
        return Ok(None);
    };
    if note.is_empty() || note.chars().count() > 100 {
        return Err(Problem::bad_request(
            "invalid-field",
            "`reason` is 1 to 100 characters: where the officer goes",
        )
        .field("reason"));
    }
    if back_at.is_some_and(|b| b <= now) {
        return Err(
            Problem::bad_request("invalid-field", "`back_at` is in the past").field("back_at"),
        );
    }
    let leave =
        back_at.is_none_or(|b| b.as_second() - now.as_second() >= config.rating.short_absence_s);
    Ok(Some(Box::new(Absence {
        note,
        back_at,
        leave,
    })))
}

#[derive(Serialize)]
struct RosterEntry<'a> {
    staff_no: &'a str,
    name: &'a str,
    /// Where the photo is served, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    photo: Option<String>,
}

/// The roster: public, as the 公示牌 on every counter is.
async fn roster(State(app): State<AppState>) -> Answer {
    let list: Vec<_> = app
        .config
        .officers
        .iter()
        .map(|o| RosterEntry {
            staff_no: &o.staff_no,
            name: &o.name,
            photo: o
                .photo
                .as_ref()
                .map(|_| format!("/v1/officers/{}/photo", o.staff_no)),
        })
        .collect();
    Answer::json(200, &serde_json::json!({ "officers": list }))
}

async fn photo(State(app): State<AppState>, Path(who): Path<String>) -> Response {
    match app.config.officer(&who) {
        Some(o) => match &o.photo {
            Some(p) => (
                [
                    (header::CONTENT_TYPE, p.content_type),
                    (header::CACHE_CONTROL, "public, max-age=3600"),
                ],
                p.bytes.to_vec(),
            )
                .into_response(),
            None => Problem::not_found("no-photo", format!("officer `{who}` has no photo"))
                .into_response(),
        },
        None => Problem::not_found("unknown-officer", format!("there is no officer `{who}`"))
            .field("officer")
            .into_response(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AttendanceQuery {
    /// A local date (YYYY-MM-DD) in the hall's time zone; all retained days when absent.
    date: Option<jiff::civil::Date>,
    officer: Option<String>,
    access_token: Option<String>,
}

/// One sign-in or sign-out, as logged.
#[derive(Serialize, Deserialize)]
struct Mark {
    at: String,
    kind: String,
    window: String,
    post: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    officer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    absence: Option<Absence>,
}

/// `GET /v1/halls/{hall}/attendance?date=&officer=`: the sign-ins and sign-outs the hall
/// logged (the attendance record behind 周考勤), oldest first. A sign-out names the officer
/// who was on the post.
async fn attendance(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    Query(q): Query<AttendanceQuery>,
) -> Result<Answer, Problem> {
    let _ = q.access_token;
    let h = hall(&app, &who, &id, Perm::Read)?;
    let store = app.store.clone();
    let stream = h.cfg.id.to_string();
    let zone = h.cfg.time_zone.clone();
    let page = tokio::task::spawn_blocking(move || store.read_events(&stream, 0, usize::MAX))
        .await
        .map_err(|e| Problem::unavailable(format!("reading the event log failed: {e}")))?
        .map_err(|e| Problem::unavailable(format!("reading the event log failed: {e}")))?;
    let mut on_post: std::collections::HashMap<(String, String), String> = Default::default();
    let mut marks = Vec::new();
    for (_, kind, json) in page.events {
        if kind != "officer_signed_in" && kind != "officer_signed_out" {
            continue;
        }
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&json) else {
            continue;
        };
        let s = |k: &str| {
            v.get(k)
                .and_then(|x| x.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        let (window, post) = (s("window"), s("post"));
        let officer = if kind == "officer_signed_in" {
            on_post.insert((window.clone(), post.clone()), s("officer"));
            Some(s("officer"))
        } else {
            on_post.remove(&(window.clone(), post.clone()))
        };
        let at = s("at");
        if let Some(d) = q.date {
            let day = at
                .parse::<jiff::Timestamp>()
                .map(|t| zone.to_datetime(t).date());
            if day.ok() != Some(d) {
                continue;
            }
        }
        if q.officer
            .as_ref()
            .is_some_and(|o| officer.as_deref() != Some(&canonical(&app.config, o.clone())[..]))
        {
            continue;
        }
        marks.push(Mark {
            at,
            kind: kind.trim_start_matches("officer_").to_owned(),
            window,
            post,
            officer,
            absence: v
                .get("absence")
                .and_then(|a| serde_json::from_value(a.clone()).ok()),
        });
    }
    Ok(Answer::json(
        200,
        &serde_json::json!({ "hall": h.cfg.id, "marks": marks }),
    ))
}
