//! Cases, matters, calendars and alarms: `/v1/cases`, `/v1/matters`, `/v1/calendars`,
//! `/v1/alarms`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post, put};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::applicant::required;
use super::auth::{Perm, Principal};
use super::problem::{Answer, Located, Problem};
use super::scope::{CaseChange, known_hall, need};
use super::{AppState, render};
use crate::booking::citizen;
use crate::calendar::{Calendar, Limit};
use crate::deadline::{Applicant, CaseCommand, ClosingRecord, FollowUp};
use crate::model::CaseKind;
use crate::runtime::cases::{Ack, AckError, CaseOp, CaseReply};
use crate::store::ALARMS;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/cases", post(accept))
        .route("/v1/cases/{id}", get(case))
        .route("/v1/cases/{id}/{action}", post(case_action))
        .route("/v1/matters", get(matters))
        .route("/v1/calendars/{id}", put(replace_calendar).get(calendar))
        .route("/v1/alarms", get(alarms))
        .route("/v1/alarms/ack", post(ack))
        .route("/v1/alarms/consumers/{name}", get(consumer))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AcceptBody {
    /// The business system's case id (办件编号); accepting it again is idempotent.
    id: String,
    hall: String,
    matter: String,
    /// At the counter: when it was accepted.
    accepted_at: Option<Timestamp>,
    /// `online`: the application waits for the acceptance decision (statutory clock).
    #[serde(default)]
    channel: Channel,
    /// Online: when it was submitted.
    submitted_at: Option<Timestamp>,
    /// Who applied; masked and hashed here, never kept in clear.
    applicant: Option<ApplicantBody>,
    /// Refused: a bundle's matters are accepted together (`POST /v1/bundles`).
    bundle: Option<serde_json::Value>,
}

/// The applicant as the business system sends it. Only the masked forms and keyed hashes
/// (`[booking] keys`) go on; the clear text ends with this request.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ApplicantBody {
    name: Option<String>,
    id_number: Option<String>,
    /// A phone number (or another address the hall's gateway knows) to notify.
    contact: Option<String>,
}

/// Longest name, ID number and contact accepted.
const MAX_APPLICANT_FIELD: usize = 64;

impl ApplicantBody {
    pub(super) fn resolve(self, app: &AppState) -> Result<Applicant, Problem> {
        let field = |v: Option<String>, name: &str| -> Result<Option<String>, Problem> {
            let v = v.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
            if v.as_ref()
                .is_some_and(|v| v.chars().count() > MAX_APPLICANT_FIELD)
            {
                return Err(Problem::bad_request(
                    "invalid-field",
                    format!("`applicant.{name}` is longer than {MAX_APPLICANT_FIELD} characters"),
                )
                .field(format!("applicant.{name}")));
            }
            Ok(v)
        };
        let name = field(self.name, "name")?;
        let id = field(self.id_number, "id_number")?;
        let contact = field(self.contact, "contact")?;
        if id.as_deref().is_some_and(|i| !citizen::plausible_id(i)) {
            return Err(Problem::bad_request(
                "invalid-field",
                "`applicant.id_number` is not an ID number (6 to 32 letters and digits)",
            )
            .field("applicant.id_number"));
        }
        let keys = app.config.booking.keys.as_ref();
        Ok(Applicant {
            name_masked: name.as_deref().map(citizen::mask_name),
            id_masked: id.as_deref().map(citizen::mask_id),
            id_hash: id
                .as_deref()
                .and_then(|i| keys.map(|k| k.current(&citizen::normalize(i)).0)),
            contact_masked: contact.as_deref().map(super::applicant::mask),
            contact_hash: contact
                .as_deref()
                .and_then(|c| super::applicant::contact_hash(&app.config, c)),
        })
    }
}

/// Where an application came in.
#[derive(Deserialize, Default, PartialEq, Eq, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub(super) enum Channel {
    /// At a window: accepted on the spot.
    #[default]
    Counter,
    /// 网上申报: decided for acceptance within the matter's acceptance limit.
    Online,
}

async fn accept(
    State(app): State<AppState>,
    change: CaseChange<need::CaseWrite>,
) -> Result<Answer, Problem> {
    let who = &change.who;
    let idem = change.idem()?;
    let b: AcceptBody = change.json()?;
    let hall = known_hall(&app, &b.hall)?;
    who.require(Perm::CaseWrite, hall, &b.hall)?;
    let matter = acceptable_matter(&app, &b.matter, "matter")?;
    let at = |value: Option<Timestamp>, field: &str| {
        value.ok_or_else(|| {
            Problem::bad_request(
                "missing-field",
                format!("`{field}` is required for a case from this channel"),
            )
            .field(field)
        })
    };
    if b.channel == Channel::Counter && b.submitted_at.is_some() {
        return Err(Problem::bad_request(
            "invalid-field",
            "`submitted_at` belongs to online applications (`channel: online`)",
        )
        .field("submitted_at"));
    }
    let applicant = match b.applicant {
        Some(a) => Some(Box::new(a.resolve(&app)?)),
        None => None,
    };
    if b.bundle.is_some() {
        return Err(Problem::new(
            422,
            "use-bundles",
            "Unprocessable request",
            "the matters of one application are accepted together at their front desk by \
             POST /v1/bundles (docs/cases.md)",
        )
        .field("bundle"));
    }
    let cmd = match b.channel {
        Channel::Counter => CaseCommand::Accept {
            id: b.id,
            hall,
            matter,
            accepted_at: at(b.accepted_at, "accepted_at")?,
            origin: None,
            applicant,
            bundle: None,
        },
        Channel::Online => CaseCommand::Submit {
            id: b.id,
            hall,
            matter,
            submitted_at: at(b.submitted_at, "submitted_at")?,
            applicant,
            bundle: None,
        },
    };
    let op = CaseOp::Apply {
        cmd,
        scope: who.scope(),
    };
    Ok(render::case(&app.cases.ask(op, idem).await))
}

/// A matter a counter may accept (`field` names it in the body): known, and not one of the
/// built-in matters the daemon opens itself.
pub(super) fn acceptable_matter(app: &AppState, id: &str, field: &str) -> Result<usize, Problem> {
    let matter = matter_index(app, id).map_err(|p| p.field(field))?;
    if app.config.is_builtin_matter(matter) {
        return Err(Problem::new(
            422,
            "reserved-matter",
            "Unprocessable request",
            "rectification cases are opened by bad ratings and complaints by POST \
             /v1/complaints, not accepted",
        )
        .field(field));
    }
    Ok(matter)
}

fn matter_index(app: &AppState, id: &str) -> Result<usize, Problem> {
    app.config.matter_index(id).ok_or_else(|| {
        Problem::not_found(
            "unknown-matter",
            format!("there is no matter `{id}` in the catalogue (GET /v1/matters)"),
        )
        .field("matter")
    })
}

async fn case(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Answer, Problem> {
    who.require_global(Perm::CaseRead)?;
    let op = CaseOp::Get {
        id,
        scope: who.scope(),
    };
    Ok(render::case(&app.cases.ask(op, None).await))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SuspendBody {
    reason: String,
    at: Option<Timestamp>,
    /// The 补正 notice: every missing material, at once.
    #[serde(default)]
    missing: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AtBody {
    at: Option<Timestamp>,
}

/// Completing a case; a rectification or complaint also records how it was closed (核实,
/// 整改, 反馈) and may carry the citizen's follow-up rating.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CompleteBody {
    at: Option<Timestamp>,
    verification: Option<String>,
    action: Option<String>,
    feedback: Option<String>,
    follow_up: Option<FollowUpBody>,
}

/// The citizen's follow-up (回访): with the closing record, or after it
/// (`POST /v1/cases/{id}/follow-up`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FollowUpBody {
    rating: u8,
    note: Option<String>,
}

impl FollowUpBody {
    /// The follow-up, or 400 naming `field` (where the rating was given).
    fn checked(self, field: &str) -> Result<FollowUp, Problem> {
        if !(1..=5).contains(&self.rating) {
            return Err(Problem::bad_request(
                "invalid-field",
                format!("a follow-up rating is 1..5, not {}", self.rating),
            )
            .field(field));
        }
        let note = self
            .note
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty());
        if note.as_ref().is_some_and(|n| n.chars().count() > 2000) {
            return Err(Problem::bad_request(
                "invalid-field",
                "a follow-up note is at most 2000 characters",
            )
            .field("note"));
        }
        Ok(FollowUp {
            rating: self.rating,
            note,
        })
    }
}

impl CompleteBody {
    /// The closing record, when any part of it was given: then all three parts are required.
    fn closing(self) -> Result<Option<Box<ClosingRecord>>, Problem> {
        let CompleteBody {
            verification,
            action,
            feedback,
            follow_up,
            ..
        } = self;
        if verification.is_none() && action.is_none() && feedback.is_none() && follow_up.is_none() {
            return Ok(None);
        }
        let part = |v: Option<String>, field: &str| {
            let v = v.unwrap_or_default();
            required(&v, field)?;
            Ok::<_, Problem>(v)
        };
        let verification = part(verification, "verification")?;
        let action = part(action, "action")?;
        let feedback = part(feedback, "feedback")?;
        let follow_up = follow_up
            .map(|f| f.checked("follow_up.rating"))
            .transpose()?;
        Ok(Some(Box::new(ClosingRecord {
            verification,
            action,
            feedback,
            follow_up,
        })))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ExtendBody {
    /// In the limit's unit, e.g. `5wd`.
    amount: String,
    reason: String,
    approver: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WithdrawBody {
    reason: String,
    at: Option<Timestamp>,
}

async fn case_action(
    State(app): State<AppState>,
    change: CaseChange<need::CaseWrite>,
) -> Result<Answer, Problem> {
    let idem = change.idem()?;
    let now = app.clock.now();
    let id = change.path.get("id").to_owned();
    if change.path.get("action") == "follow-up" {
        let follow_up = change.json::<FollowUpBody>()?.checked("rating")?;
        let op = CaseOp::FollowUp {
            id,
            follow_up,
            scope: change.who.scope(),
        };
        return Ok(render::case(&app.cases.ask(op, idem).await));
    }
    let cmd = match change.path.get("action") {
        "suspend" => {
            let b: SuspendBody = change.json()?;
            let reason = app.config.suspension_index(&b.reason).ok_or_else(|| {
                let known: Vec<&str> = app
                    .config
                    .suspension_reasons
                    .iter()
                    .map(|r| &*r.id)
                    .collect();
                Problem::not_found(
                    "unknown-reason",
                    format!(
                        "unknown suspension reason `{}` (reasons: {})",
                        b.reason,
                        known.join(", ")
                    ),
                )
                .field("reason")
            })?;
            CaseCommand::Suspend {
                id,
                reason,
                at: b.at.unwrap_or(now),
                missing: b.missing,
            }
        }
        "resume" => CaseCommand::Resume {
            id,
            at: change.json::<AtBody>()?.at.unwrap_or(now),
        },
        "complete" => {
            let b: CompleteBody = change.json()?;
            CaseCommand::Complete {
                id,
                at: b.at.unwrap_or(now),
                closing: b.closing()?,
            }
        }
        "accept" => CaseCommand::AcceptSubmitted {
            id,
            at: change.json::<AtBody>()?.at.unwrap_or(now),
        },
        "forward" => CaseCommand::Forward {
            id,
            at: change.json::<AtBody>()?.at.unwrap_or(now),
        },
        "extend" => {
            let b: ExtendBody = change.json()?;
            let amount: Limit = b.amount.parse().map_err(|e: crate::calendar::LimitError| {
                Problem::bad_request("invalid-field", e.to_string()).field("amount")
            })?;
            required(&b.reason, "reason")?;
            required(&b.approver, "approver")?;
            CaseCommand::Extend {
                id,
                amount,
                reason: b.reason,
                approver: b.approver,
            }
        }
        "withdraw" => {
            let b: WithdrawBody = change.json()?;
            required(&b.reason, "reason")?;
            CaseCommand::Withdraw {
                id,
                reason: b.reason,
                at: b.at.unwrap_or(now),
            }
        }
        other => match super::case_life::command(&app, other, id, &change, now)? {
            Some(cmd) => cmd,
            None => {
                return Err(Problem::not_found(
                    "unknown-action",
                    format!(
                        "unknown case action `{other}`; use accept, suspend, resume, extend, \
                         complete, withdraw, forward, follow-up, {}",
                        super::case_life::ACTIONS
                    ),
                )
                .field("action"));
            }
        },
    };
    let op = CaseOp::Apply {
        cmd,
        scope: change.who.scope(),
    };
    Ok(render::case(&app.cases.ask(op, idem).await))
}

#[derive(Serialize)]
struct MatterView {
    id: Arc<str>,
    name: Arc<str>,
    kind: CaseKind,
    limit: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    stage_limit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    calendar: Option<Arc<str>>,
    alarm_policy: Arc<str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    departments: Vec<DepartmentView>,
}

#[derive(Serialize)]
struct DepartmentView {
    id: Arc<str>,
    name: Arc<str>,
    limit: String,
}

async fn matters(State(app): State<AppState>, _who: Principal) -> Answer {
    let list: Vec<MatterView> = app
        .config
        .matters
        .iter()
        .map(|m| MatterView {
            id: m.id.clone(),
            name: m.name.clone(),
            kind: m.kind,
            limit: m.limit.to_string(),
            stage_limit: m.stage_limit.map(|l| l.to_string()),
            calendar: m.calendar.map(|c| app.config.calendars[c].id.clone()),
            alarm_policy: app.config.alarm_policies[m.policy].id.clone(),
            departments: m
                .departments
                .iter()
                .map(|d| DepartmentView {
                    id: d.id.clone(),
                    name: d.name.clone(),
                    limit: d.limit.to_string(),
                })
                .collect(),
        })
        .collect();
    Answer::json(200, &list)
}

fn calendar_index(app: &AppState, id: &str) -> Result<usize, Problem> {
    app.config.calendar_index(id).ok_or_else(|| {
        let known: Vec<&str> = app.config.calendars.iter().map(|c| &*c.id).collect();
        Problem::not_found(
            "unknown-calendar",
            format!(
                "there is no calendar `{id}` (calendars: {})",
                known.join(", ")
            ),
        )
        .field("calendar")
    })
}

/// `PUT /v1/calendars/{id}` with the calendar file (TOML, the official notice format) as body.
async fn replace_calendar(
    State(app): State<AppState>,
    change: CaseChange<need::Admin>,
) -> Result<Answer, Problem> {
    let id = change.path.get("id").to_owned();
    calendar_index(&app, &id)?;
    let idem = change.idem()?;
    let body = change.body().as_ref().map_err(|e| {
        Problem::new(
            e.status().as_u16(),
            "unreadable-body",
            "Bad request",
            e.body_text(),
        )
    })?;
    let text = String::from_utf8(body.to_vec()).map_err(|_| {
        Problem::bad_request("malformed-body", "the calendar must be UTF-8 TOML text")
    })?;
    let label = format!("PUT /v1/calendars/{id}");
    let calendar = Calendar::from_toml(&label, &text).map_err(|errors| {
        let first = errors
            .0
            .first()
            .map(|e| e.field.clone())
            .unwrap_or_default();
        let mut p = Problem::new(
            422,
            "invalid-calendar",
            "Unprocessable request",
            errors.to_string(),
        );
        if !first.is_empty() {
            p = p.field(first);
        }
        p.errors = Some(
            errors
                .0
                .iter()
                .map(|e| Located {
                    line: e.line,
                    column: e.column,
                    field: e.field.clone(),
                    message: e.message.clone(),
                })
                .collect(),
        );
        p
    })?;
    if calendar.id() != id {
        return Err(Problem::new(
            422,
            "invalid-calendar",
            "Unprocessable request",
            format!("the body is calendar `{}`, not `{id}`", calendar.id()),
        )
        .field("id"));
    }
    let calendar = Arc::new(calendar);
    let pos = calendar_index(&app, &id)?;
    let op = CaseOp::ReplaceCalendar {
        id,
        calendar: calendar.clone(),
        toml: text.clone(),
    };
    let answer = app.cases.ask(op, idem).await;
    // Only a replacement made now (a replayed answer may be older than the calendar in force).
    if matches!(answer, Ok(CaseReply::Recomputed(_))) {
        super::halls::calendar_replaced(&app, pos, &calendar, &text).await;
    }
    Ok(render::case(&answer))
}

#[derive(Serialize)]
struct CalendarView {
    id: String,
    time_zone: String,
    first: jiff::civil::Date,
    last: jiff::civil::Date,
    office_hours: Vec<String>,
    working_day_seconds: i64,
}

async fn calendar(
    State(app): State<AppState>,
    _who: Principal,
    Path(id): Path<String>,
) -> Result<Answer, Problem> {
    let pos = calendar_index(&app, &id)?;
    let cal = app.calendars.read().unwrap_or_else(|e| e.into_inner())[pos].clone();
    let range = cal.range();
    Ok(Answer::json(
        200,
        &CalendarView {
            id: cal.id().to_owned(),
            time_zone: cal.time_zone().iana_name().unwrap_or("").to_owned(),
            first: range.first,
            last: range.last,
            office_hours: cal
                .office_hours()
                .map(|(a, b)| format!("{}-{}", a.strftime("%H:%M"), b.strftime("%H:%M")))
                .collect(),
            working_day_seconds: cal.working_day_seconds(),
        },
    ))
}

/// `GET /v1/alarms?after=SEQ&limit=N` or `?consumer=NAME` (from the consumer's cursor, for
/// the token that owns it).
async fn alarms(
    State(app): State<AppState>,
    who: Principal,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Answer, Problem> {
    who.require_global(Perm::Alarms)?;
    if let Some(unknown) = q
        .keys()
        .find(|k| !matches!(k.as_str(), "after" | "limit" | "consumer" | "access_token"))
    {
        return Err(Problem::bad_request(
            "unknown-field",
            format!("unknown query parameter `{unknown}`; use after, limit or consumer"),
        )
        .field(unknown.clone()));
    }
    let number = |key: &str| -> Result<Option<u64>, Problem> {
        q.get(key)
            .map(|v| {
                v.parse::<u64>().map_err(|_| {
                    Problem::bad_request(
                        "invalid-field",
                        format!("`{key}` must be a non-negative integer, not `{v}`"),
                    )
                    .field(key)
                })
            })
            .transpose()
    };
    let limit = number("limit")?.unwrap_or(1000).clamp(1, 10_000) as usize;
    let after = match (number("after")?, q.get("consumer")) {
        (Some(a), None) => a,
        (None, Some(c)) => owned_cursor(&app, &who, c).await?.map_or(0, |c| c.seq),
        (None, None) => 0,
        (Some(_), Some(_)) => {
            return Err(Problem::bad_request(
                "invalid-field",
                "give `after` or `consumer`, not both",
            )
            .field("after"));
        }
    };
    let store = app.store.clone();
    let page = tokio::task::spawn_blocking(move || store.read_events(ALARMS, after, limit))
        .await
        .map_err(|e| Problem::unavailable(e.to_string()))?
        .map_err(|e| Problem::unavailable(e.to_string()))?;
    let next = page.events.last().map_or(after, |(seq, _, _)| *seq);
    let events: Vec<serde_json::Value> = page
        .events
        .iter()
        .filter(|(_, _, json)| super::events::hall_of(&app, json).is_none_or(|h| who.covers(h)))
        .filter_map(|(_, _, json)| serde_json::from_str(json).ok())
        .collect();
    Ok(Answer::json(
        200,
        &serde_json::json!({
            "after": after,
            "next": next,
            "first_retained": page.first_retained,
            "gap": page.first_retained.is_some_and(|f| f > after + 1),
            "alarms": events,
        }),
    ))
}

/// A consumer's stored cursor, if it has one; 403 when another token owns it.
async fn owned_cursor(
    app: &AppState,
    who: &Principal,
    name: &str,
) -> Result<Option<crate::store::Cursor>, Problem> {
    let store = app.store.clone();
    let owned = name.to_owned();
    let cursor = tokio::task::spawn_blocking(move || store.cursor(&owned))
        .await
        .map_err(|e| Problem::unavailable(e.to_string()))?
        .map_err(|e| Problem::from_store(&e))?;
    if let Some(owner) = cursor.as_ref().and_then(|c| c.owner.as_deref())
        && owner != who.name()
    {
        return Err(Problem::from_ack(&AckError::NotOwner {
            consumer: name.to_owned(),
            owner: owner.to_owned(),
        }));
    }
    Ok(cursor)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AckBody {
    consumer: String,
    seq: u64,
    /// Move the cursor backwards on purpose (recorded).
    #[serde(default)]
    rewind: bool,
}

fn valid_consumer(name: &str) -> Result<(), Problem> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"._-".contains(&c));
    if ok {
        Ok(())
    } else {
        Err(Problem::bad_request(
            "invalid-field",
            "`consumer` is 1-64 letters, digits, '.', '-' or '_'",
        )
        .field("consumer"))
    }
}

/// `POST /v1/alarms/ack`: a consumer's position, stored durably. The first token to
/// acknowledge a consumer owns it; the cursor never passes the stream's head and moves back
/// only with `"rewind": true`, which is recorded.
async fn ack(
    State(app): State<AppState>,
    change: CaseChange<need::Alarms>,
) -> Result<Answer, Problem> {
    let idem = change.idem()?;
    let b: AckBody = change.json()?;
    valid_consumer(&b.consumer)?;
    let op = CaseOp::Ack(Ack {
        consumer: b.consumer,
        seq: b.seq,
        rewind: b.rewind,
        by: change.who.0.name.clone(),
    });
    Ok(render::case(&app.cases.ask(op, idem).await))
}

/// `GET /v1/alarms/consumers/{name}`: a consumer's cursor, owner, how far behind the head it
/// is, and every rewind (for its owner).
async fn consumer(
    State(app): State<AppState>,
    who: Principal,
    Path(name): Path<String>,
) -> Result<Answer, Problem> {
    who.require_global(Perm::Alarms)?;
    valid_consumer(&name)?;
    let Some(cursor) = owned_cursor(&app, &who, &name).await? else {
        return Err(Problem::not_found(
            "unknown-consumer",
            format!("consumer `{name}` has acknowledged nothing yet"),
        )
        .field("consumer"));
    };
    let store = app.store.clone();
    let key = name.clone();
    let (head, rewinds) = tokio::task::spawn_blocking(move || {
        Ok::<_, crate::store::StoreError>((store.head(ALARMS)?, store.rewinds(&key)?))
    })
    .await
    .map_err(|e| Problem::unavailable(e.to_string()))?
    .map_err(|e| Problem::from_store(&e))?;
    Ok(Answer::json(
        200,
        &serde_json::json!({
            "consumer": name,
            "owner": cursor.owner,
            "seq": cursor.seq,
            "head": head,
            "behind": head.saturating_sub(cursor.seq),
            "rewinds": rewinds
                .into_iter()
                .map(|r| r.local(app.config.home_zone()))
                .collect::<Vec<_>>(),
        }),
    ))
}
