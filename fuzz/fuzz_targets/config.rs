//! The config parser and validator on any text: a config is accepted or refused with
//! located errors, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        hallq::api::fuzzing::parse_config(text);
    }
});
