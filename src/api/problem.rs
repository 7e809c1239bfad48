//! Problems: the one place where outcomes become HTTP statuses and bodies.
//!
//! Errors are RFC 9457 problem documents with a stable `type`, a human `detail`, and the
//! offending request `field` when there is one. Every error an engine or an owner thread can
//! give is mapped here, by an exhaustive `match`, so a new variant gets a status somebody
//! chose. An `Answer` (`runtime::Answer`) is a rendered reply; `render` makes them from the
//! owner threads' typed replies, and this module writes them out.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::queue::QueueError;
pub use crate::runtime::Answer;
use crate::runtime::OwnerError;
use crate::runtime::cases::AckError;

/// Prefix of every problem `type`.
pub const TYPE_PREFIX: &str = "urn:hallq:problem:";

impl From<Problem> for Answer {
    fn from(p: Problem) -> Answer {
        Answer {
            status: p.status,
            body: serde_json::to_string(&p).expect("problems serialize to JSON"),
            problem: true,
            location: None,
            retry_after: p.retry_after,
        }
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if self.status == 204 {
            return status.into_response();
        }
        let ctype = if self.problem {
            "application/problem+json"
        } else {
            "application/json"
        };
        let mut r = (status, [(header::CONTENT_TYPE, ctype)], self.body).into_response();
        if let Some(loc) = self.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            r.headers_mut().insert(header::LOCATION, loc);
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(self.retry_after.unwrap_or(1)),
            );
        }
        if status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"hallq\""),
            );
        }
        r
    }
}

/// An RFC 9457 problem document. Kept small: it is the error type of most handlers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Boxed rather than a `String`: `Problem` is the error type of most handlers, and clippy
    /// holds error types under 128 bytes.
    pub field: Option<Box<str>>,
    /// Every problem of an uploaded file, with its position.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Box<[Located]>>,
    /// `Retry-After` seconds of a 503 (1 when unset).
    #[serde(skip)]
    pub retry_after: Option<u32>,
    /// RFC 9457 extension members a problem type adds (`hall-closed`: `next_opening`,
    /// `closed_reason`).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Box<serde_json::Map<String, serde_json::Value>>>,
}

/// One problem in an uploaded file (a calendar).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Located {
    pub line: usize,
    pub column: usize,
    pub field: String,
    pub message: String,
}

impl Problem {
    pub fn new(status: u16, code: &str, title: &'static str, detail: impl Into<String>) -> Problem {
        Problem {
            kind: format!("{TYPE_PREFIX}{code}"),
            title,
            status,
            detail: bounded(detail.into(), DETAIL_CHARS),
            field: None,
            errors: None,
            retry_after: None,
            extra: None,
        }
    }

    pub fn field(mut self, field: impl Into<String>) -> Problem {
        self.field = Some(bounded(field.into(), ECHO_CHARS).into_boxed_str());
        self
    }

    /// Add an extension member.
    pub fn with(mut self, key: &str, value: impl Serialize) -> Problem {
        let value = serde_json::to_value(value).expect("extension members serialize");
        self.extra
            .get_or_insert_with(Default::default)
            .insert(key.to_owned(), value);
        self
    }

    pub fn not_found(code: &str, detail: impl Into<String>) -> Problem {
        Problem::new(404, code, "Not found", detail)
    }

    pub fn bad_request(code: &str, detail: impl Into<String>) -> Problem {
        Problem::new(400, code, "Bad request", detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Problem {
        Problem::new(401, "unauthorized", "Unauthorized", detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Problem {
        Problem::new(403, "forbidden", "Forbidden", detail)
    }

    pub fn overloaded(detail: impl Into<String>) -> Problem {
        Problem::new(503, "overloaded", "Service unavailable", detail)
    }

    pub fn unavailable(detail: impl Into<String>) -> Problem {
        Problem::new(503, "unavailable", "Service unavailable", detail)
    }

    /// A write refused because the store cannot commit (a full disk): the cause, and that
    /// reads go on and writes resume by themselves.
    pub fn store_refused(cause: &str, retry_after_s: u32) -> Problem {
        let mut p = Problem::new(
            503,
            "store-unwritable",
            "Service unavailable",
            format!(
                "the change was not made: {cause}. hallq retries the store by itself and accepts \
                 writes again as soon as it can commit; reads are served from the last durable \
                 state meanwhile"
            ),
        );
        p.retry_after = Some(retry_after_s.max(1));
        p
    }

    /// The answer for a change the store could not make durable, or a read it cannot serve.
    pub fn from_store(e: &crate::store::StoreError) -> Problem {
        use crate::store::StoreError as E;
        match e {
            E::Unwritable {
                cause,
                retry_after_s,
            } => Problem::store_refused(cause, *retry_after_s),
            E::Thread(_)
            | E::DataDir { .. }
            | E::Open { .. }
            | E::Schema { .. }
            | E::Transaction(_)
            | E::Table(_)
            | E::Storage(_)
            | E::Commit(_)
            | E::Corrupt { .. }
            | E::Log { .. }
            | E::Durability(_)
            | E::Reopening { .. }
            | E::Record { .. }
            | E::Stopped
            | E::Space(_)
            | E::Segment(_) => {
                Problem::unavailable(format!("the store cannot serve this now: {e}"))
            }
        }
    }

    /// A queue engine refusal. Unknown things are 404, requests that contradict the hall's
    /// state are 409, and values that can never be right are 422 naming their field.
    pub fn from_queue(e: &QueueError) -> Problem {
        use QueueError as E;
        let (status, title) = match e {
            E::UnknownTicket { .. } | E::NoOverride { .. } => (404, "Not found"),
            E::BadEvaluation { .. }
            | E::SlotRequired
            | E::SlotNotAllowed
            | E::SlotNotToday { .. }
            | E::SameService { .. }
            | E::OfficerNotAssigned { .. }
            | E::PauseReasonRequired
            | E::OverrideInPast { .. }
            | E::TooManyOverrides { .. } => (422, "Unprocessable request"),
            E::WindowClosed { .. }
            | E::WindowPaused { .. }
            | E::WindowBusy { .. }
            | E::NoCurrentTicket { .. }
            | E::InvalidTransition { .. }
            | E::NotServedHere { .. }
            | E::DailyCapReached { .. }
            | E::NumbersExhausted { .. }
            | E::HallClosed { .. }
            | E::ServiceClosed { .. }
            | E::AlreadyEvaluated { .. }
            | E::CoverAbsent { .. }
            | E::RatingClosed { .. }
            | E::ReactivationExpired { .. } => (409, "Conflict"),
        };
        let mut p = Problem::new(status, e.code(), title, e.to_string());
        if let QueueError::HallClosed {
            next_opening,
            reason,
            ..
        } = e
        {
            p = p
                .with("next_opening", next_opening)
                .with("closed_reason", reason);
        }
        match e.field() {
            Some(f) => p.field(f),
            None => p,
        }
    }
}

impl Problem {
    /// A deadline engine refusal: unknown case 404, state conflicts 409, values that can
    /// never be right (dates outside the calendar, a mismatched unit) 422.
    pub fn from_case(e: &crate::deadline::CaseError) -> Problem {
        use crate::deadline::CaseError as E;
        let (status, title) = match e {
            E::UnknownCase { .. } => (404, "Not found"),
            E::Conflict { .. }
            | E::NotSuspended { .. }
            | E::AlreadySuspended { .. }
            | E::Closed { .. }
            | E::ChildrenOpen { .. }
            | E::NotForwardable { .. }
            | E::NoUpperHall { .. }
            | E::FollowUpRefused { .. }
            | E::DecisionPending { .. }
            | E::ObligationSettled { .. }
            | E::AlreadyDecided { .. }
            | E::NotDecided { .. }
            | E::AcceptanceClockOver { .. }
            | E::NothingToResolve { .. }
            | E::WrongDecision { .. }
            | E::NotSubmitted { .. }
            | E::NotYetAccepted { .. } => (409, "Conflict"),
            E::JointOnline { .. }
            | E::NotInRoute { .. }
            | E::JointRoute { .. }
            | E::RouteUnit { .. } => (422, "Unprocessable request"),
            E::UnknownObligation { .. } => (404, "Not found"),
            E::NoMaterials { .. } | E::Required { .. } => (400, "Bad request"),
            E::ObligationUnit { .. } => (422, "Unprocessable request"),
            E::BadId { .. }
            | E::NoCalendar { .. }
            | E::InTheFuture { .. }
            | E::OutOfOrder { .. }
            | E::Calendar(_)
            | E::EmptyExtension { .. }
            | E::ExtensionOverLimit { .. }
            | E::ClosingRecordRequired { .. } => (422, "Unprocessable request"),
            // The closed-case table could not be read: nothing changed, retry.
            E::Unavailable { .. } => return Problem::unavailable(e.to_string()),
        };
        let p = Problem::new(status, e.code(), title, e.to_string());
        match e.field() {
            Some(f) => p.field(f),
            None => p,
        }
    }
}

impl Problem {
    /// A refused bundle command: a member's refusal as that case's would be (its status and
    /// type), naming the member (`matters[1]`, `members[1]`).
    pub fn from_bundle(e: &crate::deadline::BundleError) -> Problem {
        use crate::deadline::BundleError as E;
        match e {
            E::Unknown { .. } => Problem::not_found("unknown-bundle", e.to_string()).field("id"),
            E::BadId { .. } => {
                Problem::new(422, "invalid-id", "Unprocessable request", e.to_string()).field("id")
            }
            E::Differs { .. } => {
                Problem::new(409, "bundle-exists", "Conflict", e.to_string()).field("matters")
            }
            E::Case(c) => Problem::from_case(c),
            E::Member {
                list, index, error, ..
            } => {
                let case = Problem::from_case(error);
                Problem {
                    detail: e.to_string(),
                    ..case
                }
                .field(format!("{list}[{index}]"))
            }
            E::NotReady { index, .. } => {
                Problem::new(409, "bundle-not-ready", "Conflict", e.to_string())
                    .field(format!("members[{index}]"))
            }
            _ => Problem::new(
                422,
                "bundle-refused",
                "Unprocessable request",
                e.to_string(),
            ),
        }
    }

    /// A refused acknowledgement: someone else's cursor 403, past the head 422, backwards 409.
    pub fn from_ack(e: &AckError) -> Problem {
        let (status, code, title, field) = match e {
            AckError::NotOwner { .. } => (403, "consumer-owned", "Forbidden", "consumer"),
            AckError::PastHead { .. } => (422, "ack-past-head", "Unprocessable request", "seq"),
            AckError::Backwards { .. } => (409, "cursor-backwards", "Conflict", "seq"),
        };
        Problem::new(status, code, title, e.to_string()).field(field)
    }

    /// An owner thread that did not carry out a request: load, the store, a reload and
    /// shutdown are 503 (a retry may succeed), a reused `Idempotency-Key` 422.
    pub fn from_owner(e: &OwnerError) -> Problem {
        match e {
            OwnerError::Unwritable(r) => Problem::store_refused(&r.cause, r.retry_after_s),
            OwnerError::HallBusy(_) | OwnerError::CasesBusy => Problem::overloaded(e.to_string()),
            OwnerError::ShuttingDown
            | OwnerError::HallReloading(_)
            | OwnerError::HallNotHeld(_)
            | OwnerError::CasesReloading
            | OwnerError::CasesNotHeld
            | OwnerError::Unreadable(_)
            | OwnerError::HallNotDurable(_)
            | OwnerError::CaseNotDurable(_) => Problem::unavailable(e.to_string()),
            OwnerError::KeyReused(_) => Problem::new(
                422,
                "idempotency-key-reused",
                "Unprocessable request",
                e.to_string(),
            )
            .field("Idempotency-Key"),
        }
    }
}

/// Longest echo of one piece of input (a `quoted` id, a field name) in a problem.
const ECHO_CHARS: usize = 64;
/// Longest `detail`.
const DETAIL_CHARS: usize = 1024;

/// Problems quote what the client sent between backticks (`there is no hall \`x\``); a
/// quote longer than `ECHO_CHARS` is cut with `…`, and the whole text at `limit`, so a
/// 63 KiB id costs the answer a few dozen bytes, not 63 KiB. Every problem's detail and
/// field pass through here, whichever handler or engine wrote them.
fn bounded(text: String, limit: usize) -> String {
    let too_long = |s: &str| s.chars().count() > ECHO_CHARS;
    if text.len() <= ECHO_CHARS || (text.len() <= limit && !text.split('`').any(too_long)) {
        return text;
    }
    let mut out = String::with_capacity(limit.min(text.len()) + 8);
    for (i, part) in text.split('`').enumerate() {
        if i > 0 {
            out.push('`');
        }
        // Odd parts are inside backticks.
        if i % 2 == 1 && too_long(part) {
            out.extend(part.chars().take(ECHO_CHARS));
            out.push('…');
        } else {
            out.push_str(part);
        }
    }
    if out.chars().count() > limit {
        out = out.chars().take(limit).collect();
        out.push('…');
    }
    out
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        Answer::from(self).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoed_input_is_cut_short() {
        let id = "x".repeat(63 * 1024);
        let p = Problem::not_found("unknown-ticket", format!("there is no ticket `{id}` today"))
            .field(id.clone());
        assert!(p.detail.len() < 200, "{}", p.detail.len());
        assert!(p.detail.starts_with("there is no ticket `xxxx"));
        assert!(p.detail.ends_with("…` today"), "{}", p.detail);
        assert_eq!(p.field.unwrap().chars().count(), ECHO_CHARS + 1);
        let plain = "y".repeat(5000);
        assert_eq!(
            Problem::bad_request("x", plain).detail.chars().count(),
            DETAIL_CHARS + 1
        );
        let short = "there is no hall `nowhere`";
        assert_eq!(Problem::bad_request("x", short).detail, short);
    }
}
