//! `Answer`: a reply as written out to the client (status, JSON text, whether it is a
//! problem, `Location`), the neutral form an `Idempotency-Key` keeps so that a retry gets the
//! first answer byte for byte, also after a restart.
//!
//! The owner threads store and hand back answers verbatim; they must never make one
//! themselves. Every answer an owner keeps comes from the HTTP layer's rendering, given to it
//! at start (`Render`), so statuses are chosen in one place (`api::problem`).

use serde::{Deserialize, Serialize};

/// A rendered answer. Stored verbatim for idempotent retries (the stored shape is the one
/// earlier versions wrote: `status`, `body`, `problem`, `location`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    pub status: u16,
    /// JSON text; empty for 204.
    pub body: String,
    /// Whether `body` is a problem document.
    pub problem: bool,
    /// `Location` of a created resource.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Seconds for `Retry-After` on a 503 (1 when unset). Never stored: 503s are not kept.
    #[serde(skip)]
    pub retry_after: Option<u32>,
}

impl Answer {
    pub fn json<T: Serialize>(status: u16, value: &T) -> Answer {
        Answer {
            status,
            body: serde_json::to_string(value).expect("views serialize to JSON"),
            problem: false,
            location: None,
            retry_after: None,
        }
    }

    pub fn no_content() -> Answer {
        Answer {
            status: 204,
            body: String::new(),
            problem: false,
            location: None,
            retry_after: None,
        }
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}
