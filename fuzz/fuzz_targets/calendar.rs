//! The calendar parser (`PUT /v1/calendars/{id}`) and the time-limit parser (`5wd`) on
//! any bytes: accepted or refused, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    hallq::api::fuzzing::parse_calendar(data);
    if let Ok(text) = std::str::from_utf8(data) {
        hallq::api::fuzzing::parse_limit(text);
    }
});
