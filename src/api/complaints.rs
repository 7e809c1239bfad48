//! Complaints (投诉举报): `POST /v1/complaints` opens a case of the built-in complaint matter,
//! due within `[rating] complaint_limit`, closed like a rectification (核实, 整改, 反馈 through
//! `POST /v1/cases/{id}/complete`).
//!
//! The complainant's contact is masked and hashed here, before anything reaches the case
//! thread: it must never be stored, logged or answered in clear.

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use jiff::Timestamp;
use serde::Deserialize;

use super::applicant::{contact_hash, mask, required};
use super::auth::Perm;
use super::problem::{Answer, Problem};
use super::scope::{CaseChange, need};
use super::{AppState, render};
use crate::deadline::{CaseCommand, CaseOrigin};
use crate::runtime::cases::CaseOp;

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/complaints", post(complain))
}

/// Longest channel name, subject and contact accepted.
const MAX_CHANNEL: usize = 32;
const MAX_SUBJECT: usize = 2000;
const MAX_CONTACT: usize = 64;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ComplaintBody {
    /// The case id, when the recording system has one (then a retry is a replay); else one is
    /// made (`CMP-{hall}-{time}-{random}`), and `Idempotency-Key` makes retries safe.
    id: Option<String>,
    hall: String,
    /// Where it came in: hotline, web, letter, in person …
    channel: String,
    subject: String,
    ticket: Option<String>,
    /// The officer complained about, by name or staff number.
    officer: Option<String>,
    /// A phone number or address to give the feedback to; stored masked and hashed.
    contact: Option<String>,
    /// When it was received (default: now).
    received_at: Option<Timestamp>,
}

async fn complain(
    State(app): State<AppState>,
    change: CaseChange<need::CaseWrite>,
) -> Result<Answer, Problem> {
    let who = &change.who;
    let idem = change.idem()?;
    let b: ComplaintBody = change.json()?;
    let hall = app.config.hall_index(&b.hall).ok_or_else(|| {
        Problem::not_found("unknown-hall", format!("there is no hall `{}`", b.hall)).field("hall")
    })?;
    who.require(Perm::CaseWrite, hall, &b.hall)?;
    required(&b.channel, "channel")?;
    required(&b.subject, "subject")?;
    for (value, field, max) in [
        (Some(&b.channel), "channel", MAX_CHANNEL),
        (Some(&b.subject), "subject", MAX_SUBJECT),
        (b.contact.as_ref(), "contact", MAX_CONTACT),
    ] {
        if value.is_some_and(|v| v.chars().count() > max) {
            return Err(Problem::bad_request(
                "invalid-field",
                format!("`{field}` is longer than {max} characters"),
            )
            .field(field));
        }
    }
    let officer = match b.officer.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(o) => Some(
            app.config
                .officers
                .iter()
                .find(|x| &*x.name == o || &*x.staff_no == o)
                .map(|x| x.name.to_string())
                .ok_or_else(|| {
                    Problem::not_found(
                        "unknown-officer",
                        format!("there is no officer `{o}` on the roster"),
                    )
                    .field("officer")
                })?,
        ),
    };
    let contact = b
        .contact
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    let now = app.clock.now();
    let id = match b.id {
        Some(id) => id,
        None => generated_id(&app.config.halls[hall].id, now)?,
    };
    let cmd = CaseCommand::Accept {
        id,
        hall,
        matter: app.config.complaint_matter(),
        accepted_at: b.received_at.unwrap_or(now),
        origin: Some(Box::new(CaseOrigin::Complaint {
            channel: b.channel.trim().to_owned(),
            subject: b.subject.trim().to_owned(),
            ticket: b.ticket.filter(|t| !t.trim().is_empty()),
            officer,
            contact_masked: contact.map(mask),
            contact_hash: contact.and_then(|c| contact_hash(&app.config, c)),
        })),
        applicant: None,
        bundle: None,
    };
    let op = CaseOp::Apply {
        cmd,
        scope: who.scope(),
    };
    Ok(render::case(&app.cases.ask(op, idem).await))
}

/// `CMP-{hall}-{yyyymmddHHMMSS}-{8 random hex digits}`: readable on a phone, never the same
/// twice in practice, within the 64 characters of a case id for any hall id of up to 30.
fn generated_id(hall: &str, now: Timestamp) -> Result<String, Problem> {
    let mut r = [0u8; 4];
    getrandom::fill(&mut r).map_err(|e| Problem::unavailable(format!("no random bytes: {e}")))?;
    Ok(format!(
        "CMP-{hall}-{}-{}",
        now.strftime("%Y%m%d%H%M%S"),
        crate::config::hex(&r)
    ))
}
