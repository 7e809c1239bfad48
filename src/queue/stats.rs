//! A hall's statistics for one business day, as counted from its tickets and windows.
//!
//! Counted per ticket's current service (a transferred ticket counts where it ended). Waits
//! are issue → first call; service times start → completion (or call → completion when the
//! officer never pressed start). Raw samples are kept, so roll-ups over many halls and days
//! compute percentiles from all of them, not from averages of averages.

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayStats {
    pub hall: String,
    pub day: Date,
    pub services: Vec<ServiceDay>,
    pub windows: Vec<WindowDay>,
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
}
