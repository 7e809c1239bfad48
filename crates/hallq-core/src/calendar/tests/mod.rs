//! Tests of the calendar against the official notices, the loader's diagnostics, and a plain
//! day-by-day reference model.

mod load_errors;
mod official;
mod reference;

use std::sync::OnceLock;

use jiff::Timestamp;

use super::Calendar;

/// The calendar the product ships, read from the repository so the tests follow the data.
const OFFICIAL: &str = include_str!("../../../../../config/calendars/cn-mainland.toml");

fn official() -> &'static Calendar {
    static CALENDAR: OnceLock<Calendar> = OnceLock::new();
    CALENDAR.get_or_init(|| {
        Calendar::from_toml("config/calendars/cn-mainland.toml", OFFICIAL)
            .unwrap_or_else(|e| panic!("the official calendar must load:\n{e}"))
    })
}

/// A local time on the official calendar, e.g. `2025-09-26T10:00`.
fn local(text: &str) -> Timestamp {
    official().parse_instant(text).unwrap()
}
