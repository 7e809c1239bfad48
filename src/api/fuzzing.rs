//! Entry points for the fuzz targets (`tests/fuzz_inputs.rs` in CI, `fuzz/` for long runs):
//! every request body through the exact parse its handler does, and the config and
//! calendar parsers. Nothing here is used by the daemon itself.

use super::problem::Problem;
use super::{bundles, cases, halls, json};

/// Every JSON request body, by the name the fuzz targets use, with a valid example to
/// mutate from.
pub const BODIES: &[(&str, &str)] = &[
    (
        "issue",
        r#"{"service":"s","class":"appointment","slot":"2026-03-02T01:30:00Z","checked_in":false}"#,
    ),
    ("none", "{}"),
    ("evaluate", r#"{"evaluation":5}"#),
    ("complete", r#"{"evaluation":4}"#),
    ("transfer", r#"{"service":"t","placement":"head"}"#),
    ("open", r#"{"post":"A","officer":"王芳"}"#),
    ("pause", r#"{"reason":"lunch"}"#),
    ("sign-in", r#"{"post":"B","officer":"李明"}"#),
    ("sign-out", r#"{"post":"A"}"#),
    (
        "accept",
        r#"{"id":"R1","hall":"h1","matter":"M","accepted_at":"2026-03-02T01:30:00Z"}"#,
    ),
    (
        "suspend",
        r#"{"reason":"supplement","at":"2026-03-02T01:30:00Z"}"#,
    ),
    ("at", r#"{"at":"2026-03-02T01:30:00Z"}"#),
    (
        "extend",
        r#"{"amount":"5wd","reason":"expert review","approver":"张局"}"#,
    ),
    (
        "withdraw",
        r#"{"reason":"applicant withdrew","at":"2026-03-02T01:30:00Z"}"#,
    ),
    ("ack", r#"{"consumer":"supervision","seq":42}"#),
    (
        "bundle",
        r#"{"id":"YJS-1","hall":"h1","matters":["M","N"],"accepted_at":"2026-03-02T01:30:00Z","applicant":{"contact":"13800138000"}}"#,
    ),
    (
        "issue-contact",
        r#"{"service":"s","contact":"138 0013 8000"}"#,
    ),
];

/// Parse `bytes`, sent as `ctype`, as the body `kind` (a name in `BODIES`) the way its
/// handler does.
pub fn parse_body(kind: &str, ctype: &str, bytes: &[u8]) -> Result<(), Problem> {
    fn p<T: serde::de::DeserializeOwned>(ctype: &str, bytes: &[u8]) -> Result<T, Problem> {
        json::parse_bytes(ctype, bytes)
    }
    match kind {
        "issue" => p::<halls::IssueBody>(ctype, bytes).map(drop),
        "none" => p::<halls::NoBody>(ctype, bytes).map(drop),
        "evaluate" => p::<halls::EvaluateBody>(ctype, bytes).map(drop),
        "complete" => p::<halls::CompleteBody>(ctype, bytes).map(drop),
        "transfer" => p::<halls::TransferBody>(ctype, bytes).map(drop),
        "open" => p::<halls::OpenBody>(ctype, bytes).map(drop),
        "pause" => p::<halls::PauseBody>(ctype, bytes).map(drop),
        "sign-in" => p::<halls::SignInBody>(ctype, bytes).map(drop),
        "sign-out" => p::<halls::SignOutBody>(ctype, bytes).map(drop),
        "accept" => p::<cases::AcceptBody>(ctype, bytes).map(drop),
        "suspend" => p::<cases::SuspendBody>(ctype, bytes).map(drop),
        "at" => p::<cases::AtBody>(ctype, bytes).map(drop),
        "extend" => p::<cases::ExtendBody>(ctype, bytes).map(drop),
        "withdraw" => p::<cases::WithdrawBody>(ctype, bytes).map(drop),
        "ack" => p::<cases::AckBody>(ctype, bytes).map(drop),
        "bundle" => p::<bundles::BundleBody>(ctype, bytes).map(drop),
        "issue-contact" => p::<halls::IssueBody>(ctype, bytes).map(drop),
        other => panic!("no body `{other}`; the bodies are listed in BODIES"),
    }
}

/// Parse a config file's text (calendar files it names are looked for in the current
/// directory); true if it is a valid config.
pub fn parse_config(text: &str) -> bool {
    crate::config::Config::from_toml("fuzz.toml", text).is_ok()
}

/// Parse a calendar file's text as `PUT /v1/calendars/{id}` does; true if valid.
pub fn parse_calendar(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes)
        .is_ok_and(|text| crate::calendar::Calendar::from_toml("fuzz", text).is_ok())
}

/// Parse a time limit or extension amount (`5wd`, `8ws`, `30d`) as the extend handler and
/// the config do; true if valid.
pub fn parse_limit(text: &str) -> bool {
    text.parse::<crate::calendar::Limit>().is_ok()
}
