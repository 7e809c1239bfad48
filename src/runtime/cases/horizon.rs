//! `hallq_calendar_horizon_days`: how many days the calendars in force still cover, and the
//! start-up warning when one is about to run out.
//!
//! It only reads calendars; it must never change which calendar is in force.

use std::sync::Arc;

use jiff::Timestamp;

use crate::calendar::Calendar;
use crate::config::Config;

/// Days left at which the start-up log warns that a calendar is about to run out (the alert
/// rule `HallqCalendarHorizonNear` fires from the same day).
pub const HORIZON_WARN_DAYS: i64 = 60;

/// Set `hallq_calendar_horizon_days` for every calendar in force; returns when it next
/// changes (the earliest next local midnight among them).
pub fn publish_horizons(config: &Config, calendars: &[Arc<Calendar>], now: Timestamp) -> Timestamp {
    let mut next = Timestamp::MAX;
    for (entry, cal) in config.calendars.iter().zip(calendars) {
        metrics::gauge!(crate::metrics::CALENDAR_HORIZON, "calendar" => entry.id.to_string())
            .set(cal.horizon_days(now) as f64);
        next = next.min(cal.next_day_starts(now));
    }
    next
}

/// A WARN line for every calendar with [`HORIZON_WARN_DAYS`] or fewer left (or none).
pub fn warn_near_horizon(calendars: &[Arc<Calendar>], now: Timestamp) {
    for cal in calendars {
        let days = cal.horizon_days(now);
        if days <= HORIZON_WARN_DAYS {
            let last = cal.range().last;
            tracing::warn!(
                calendar = cal.id(),
                last_covered_day = %last,
                days_left = days,
                "the calendar's holiday notices end on {last}; later days are counted on the \
                 default week and their deadlines are provisional. Load the next year's notice \
                 with PUT /v1/calendars/{}",
                cal.id()
            );
        }
    }
}
