//! The case actions beyond the clock (DESIGN.md, "Beyond the clock"): `promise` (容缺 /
//! 承诺审批 obligations), `fulfil`, `outcome` (不予受理, 准予, 不予批准), `resolve` (an
//! officer's decision on overdue materials), `deliver` (送达) and `hand` (to another hall of
//! the tree: 县事乡办), under
//! `POST /v1/cases/{id}/{action}`.
//!
//! Parses and checks request bodies into `CaseCommand`s, naming the field at fault; never
//! decides anything about the case itself (the deadline engine does).

use jiff::Timestamp;
use serde::Deserialize;

use super::AppState;
use super::problem::Problem;
use super::scope::{CaseChange, known_hall, need};
use crate::calendar::Limit;
use crate::deadline::{CaseCommand, Decision, DeliveryMethod, ObligationKind, OutcomeKind};

/// The actions this module parses, for the unknown-action problem.
pub(super) const ACTIONS: &str = "promise, fulfil, outcome, resolve, deliver, hand";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PromiseBody {
    /// `deficiency` (容缺受理) or `commitment` (承诺审批).
    kind: ObligationKind,
    materials: Vec<String>,
    /// Working days, e.g. `5wd`.
    limit: String,
    at: Option<Timestamp>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FulfilBody {
    /// The obligation's number (`n` in the case's `obligations`).
    obligation: usize,
    at: Option<Timestamp>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutcomeBody {
    result: OutcomeKind,
    reason: Option<String>,
    delivery: Option<DeliveryMethod>,
    at: Option<Timestamp>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResolveBody {
    decision: Decision,
    reason: String,
    delivery: Option<DeliveryMethod>,
    at: Option<Timestamp>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HandBody {
    /// The hall it goes to, in the same tier tree.
    hall: String,
    /// The leg's limit, e.g. `5wd`; the matter's by default.
    limit: Option<String>,
    at: Option<Timestamp>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliverBody {
    at: Option<Timestamp>,
}

/// The command for `action` on case `id`, or `None` when this module has no such action.
pub(super) fn command(
    app: &AppState,
    action: &str,
    id: String,
    change: &CaseChange<need::CaseWrite>,
    now: Timestamp,
) -> Result<Option<CaseCommand>, Problem> {
    Ok(Some(match action {
        "promise" => {
            let b: PromiseBody = change.json()?;
            let limit: Limit = b.limit.parse().map_err(|e: crate::calendar::LimitError| {
                Problem::bad_request("invalid-field", e.to_string()).field("limit")
            })?;
            CaseCommand::Promise {
                id,
                kind: b.kind,
                materials: b.materials,
                limit,
                at: b.at.unwrap_or(now),
            }
        }
        "fulfil" => {
            let b: FulfilBody = change.json()?;
            CaseCommand::Fulfil {
                id,
                n: b.obligation,
                at: b.at.unwrap_or(now),
            }
        }
        "outcome" => {
            let b: OutcomeBody = change.json()?;
            if b.result == OutcomeKind::Revoked {
                return Err(Problem::bad_request(
                    "invalid-field",
                    "an approval is revoked by `resolve` with `decision: revoke`, once its \
                     promised materials are overdue; `result` is not_accepted, approved or refused",
                )
                .field("result"));
            }
            CaseCommand::Decide {
                id,
                result: b.result,
                reason: b.reason,
                delivery: b.delivery,
                at: b.at.unwrap_or(now),
            }
        }
        "resolve" => {
            let b: ResolveBody = change.json()?;
            CaseCommand::Resolve {
                id,
                decision: b.decision,
                reason: b.reason,
                delivery: b.delivery,
                at: b.at.unwrap_or(now),
            }
        }
        "hand" => {
            let b: HandBody = change.json()?;
            let limit = match b.limit {
                None => None,
                Some(l) => Some(l.parse::<Limit>().map_err(|e| {
                    Problem::bad_request("invalid-field", e.to_string()).field("limit")
                })?),
            };
            CaseCommand::Hand {
                id,
                hall: known_hall(app, &b.hall)?,
                limit,
                at: b.at.unwrap_or(now),
            }
        }
        "deliver" => CaseCommand::Deliver {
            id,
            at: change.json::<DeliverBody>()?.at.unwrap_or(now),
        },
        _ => return Ok(None),
    }))
}
