//! 一件事一次办 bundles: `POST /v1/bundles` (one application, several matters, one front
//! desk), `GET /v1/bundles/{id}`, `POST /v1/bundles/{id}/deliver`. The case thread accepts
//! and delivers a bundle all or nothing (`deadline::bundle`); this layer checks the body,
//! naming the field (`matters[2]`), and the caller's right on the front desk.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use jiff::Timestamp;
use serde::Deserialize;

use super::auth::{Perm, Principal};
use super::cases::{ApplicantBody, acceptable_matter};
use super::problem::{Answer, Problem};
use super::scope::{CaseChange, known_hall, need};
use super::{AppState, render};
use crate::deadline::{BundleAcceptance, MAX_MEMBERS};
use crate::runtime::cases::CaseOp;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/bundles", post(accept))
        .route("/v1/bundles/{id}", get(bundle))
        .route("/v1/bundles/{id}/deliver", post(deliver))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BundleBody {
    /// The application's number (申请编号); its members are `{id}-1` … in `matters` order.
    id: String,
    /// The front desk: the hall whose window accepts every matter and gives out the results.
    hall: String,
    matters: Vec<String>,
    accepted_at: Timestamp,
    applicant: Option<ApplicantBody>,
}

async fn accept(
    State(app): State<AppState>,
    change: CaseChange<need::CaseWrite>,
) -> Result<Answer, Problem> {
    let who = &change.who;
    let idem = change.idem()?;
    let b: BundleBody = change.json()?;
    let hall = known_hall(&app, &b.hall)?;
    who.require(Perm::CaseWrite, hall, &b.hall)?;
    if b.matters.is_empty() || b.matters.len() > MAX_MEMBERS {
        return Err(Problem::bad_request(
            "invalid-field",
            format!("`matters` lists 1 to {MAX_MEMBERS} matters of the application"),
        )
        .field("matters"));
    }
    let mut matters = Vec::with_capacity(b.matters.len());
    for (i, id) in b.matters.iter().enumerate() {
        let field = format!("matters[{i}]");
        let m = acceptable_matter(&app, id, &field)?;
        if matters.contains(&m) {
            return Err(Problem::bad_request(
                "invalid-field",
                format!("matter `{id}` is listed twice: one application asks for it once"),
            )
            .field(field));
        }
        matters.push(m);
    }
    let applicant = match b.applicant {
        Some(a) => Some(Box::new(a.resolve(&app)?)),
        None => None,
    };
    let op = CaseOp::AcceptBundle(BundleAcceptance {
        id: b.id,
        hall,
        matters,
        accepted_at: b.accepted_at,
        applicant,
    });
    Ok(render::case(&app.cases.ask(op, idem).await))
}

async fn bundle(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Answer, Problem> {
    who.require_global(Perm::CaseRead)?;
    let op = CaseOp::GetBundle {
        id,
        scope: who.scope(),
    };
    Ok(render::case(&app.cases.ask(op, None).await))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DeliverBody {
    at: Option<Timestamp>,
}

/// Every decided result handed over at the front desk in one step (统一窗口出件).
async fn deliver(
    State(app): State<AppState>,
    change: CaseChange<need::CaseWrite>,
) -> Result<Answer, Problem> {
    let idem = change.idem()?;
    let id = change.path.get("id").to_owned();
    let b: DeliverBody = change.json()?;
    let op = CaseOp::DeliverBundle {
        id,
        at: b.at.unwrap_or_else(|| app.clock.now()),
        scope: change.who.scope(),
    };
    Ok(render::case(&app.cases.ask(op, idem).await))
}
