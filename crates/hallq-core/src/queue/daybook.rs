//! A hall's day records as stored and reported: the day's statistics per service and window
//! (`DayStats`), the attendance and day of each officer, and the bad ratings that owe a
//! rectification.
//!
//! Data only: `stats` and `attendance` count them from the engine; this file never reads or
//! changes the engine.

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayStats {
    pub hall: String,
    pub day: Date,
    pub services: Vec<ServiceDay>,
    pub windows: Vec<WindowDay>,
    /// Per officer who signed in or served (absent in day records older than the reports).
    #[serde(default)]
    pub officers: Vec<OfficerDay>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceDay {
    pub service: String,
    pub issued: u32,
    pub served: u32,
    pub no_show: u32,
    pub cancelled: u32,
    /// Still open when the day ended.
    pub expired: u32,
    /// Waiting, booked or parked now.
    pub open: u32,
    /// Called or being served now.
    pub in_service: u32,
    /// Ratings 1..5.
    pub ratings: [u32; 5],
    /// Seconds from issue to first call, one per called ticket.
    pub wait_s: Vec<u32>,
    /// Seconds of service, one per completed ticket.
    pub service_s: Vec<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WindowDay {
    pub window: String,
    /// Seconds open (idle, calling or serving).
    pub open_s: u64,
    /// Seconds serving completed tickets.
    pub busy_s: u64,
    pub served: u32,
    /// Ratings 1..5 of the tickets served here (absent in older day records).
    #[serde(default)]
    pub ratings: [u32; 5],
    /// Seconds from issue to first call of the tickets first called here.
    #[serde(default)]
    pub wait_s: Vec<u32>,
    /// Seconds of service of the tickets completed here.
    #[serde(default)]
    pub service_s: Vec<u32>,
    /// Attendance at this window (周考勤 per window): seconds signed in at either post, summed
    /// over officers (absent in older day records).
    #[serde(default)]
    pub signed_in_s: u64,
    /// Sign-outs here with a stated absence, and those the other post covered (AB岗).
    #[serde(default)]
    pub absences: u32,
    #[serde(default)]
    pub covered_absences: u32,
}

/// An officer's attendance so far today from intervals that ended (sign-outs); the open
/// interval of an officer still signed in is in `WindowRt::signed_in_at`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attendance {
    pub officer: String,
    /// The window the intervals and absences were at (absent in records kept before the
    /// per-window reports): an officer who moves between windows has one entry per window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
    pub signed_in_s: u64,
    /// Sign-outs with a stated absence (去向公开), short or leave.
    pub absences: u32,
    /// Of those, the ones the other post's officer was signed in for (AB岗 covered).
    pub covered: u32,
}

/// One officer's business day, as stored in the hall's day record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OfficerDay {
    /// The name posts and sign-ins use.
    pub officer: String,
    pub signed_in_s: u64,
    pub absences: u32,
    pub covered_absences: u32,
    pub served: u32,
    /// Ratings 1..5 of the tickets the officer served.
    pub ratings: [u32; 5],
    /// Seconds from issue to first call of the tickets the officer called.
    pub wait_s: Vec<u32>,
    /// Seconds of service of the tickets the officer completed.
    pub service_s: Vec<u32>,
}

/// A ticket rated 1 or 2 today, with everything its rectification case is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRating {
    pub ticket: String,
    /// When the service finished: the rectification's acceptance time, the same at every
    /// offer so a re-offer is a replay.
    pub finished_at: Timestamp,
    pub service: String,
    pub window: Option<String>,
    pub officer: Option<String>,
    pub rating: u8,
    pub reasons: Vec<String>,
}
