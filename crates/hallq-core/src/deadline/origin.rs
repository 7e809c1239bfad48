//! What a case answers when it is not an application (DESIGN.md, "The rating loop"): the bad
//! rating that opened a rectification (整改) or the complaint (投诉), and the closing record
//! such a case must end with (核实, 整改, 反馈, and the citizen's follow-up).
//!
//! Plain data the engine keeps with the case, stores and shows; it never decides a deadline.
//! A citizen's contact is held only masked and as a keyed hash, never in clear: the caller
//! does both before the data reaches here.

use serde::{Deserialize, Serialize};

/// What opened the case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CaseOrigin {
    /// A rating of 1 or 2, bound to the service it judged.
    Rating {
        ticket: String,
        service: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        window: Option<String>,
        /// The officer who served (the one called the ticket last).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        officer: Option<String>,
        rating: u8,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        reasons: Vec<String>,
    },
    /// A complaint (投诉举报) from any channel.
    Complaint {
        /// Where it came in: `hotline`, `web`, `letter`, `in_person` …
        channel: String,
        subject: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ticket: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        officer: Option<String>,
        /// The complainant's contact for display, masked (`138****5678`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        contact_masked: Option<String>,
        /// A keyed hash of the contact, to find a complainant's other complaints.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        contact_hash: Option<String>,
    },
}

/// How a rectification or complaint was closed (差评整改反馈).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosingRecord {
    /// 核实: what the verification found.
    pub verification: String,
    /// 整改: the action taken.
    pub action: String,
    /// 反馈: the feedback given to the citizen.
    pub feedback: String,
    /// The citizen's rating after the feedback, if they gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_up: Option<FollowUp>,
}

/// The citizen's answer to the feedback (回访).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowUp {
    /// 1..5, as the first rating.
    pub rating: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}
