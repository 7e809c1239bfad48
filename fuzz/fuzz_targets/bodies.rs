//! Every request body, through the parse its handler runs. The first byte picks the body,
//! the second the content type; the rest is the body. Crashes are panics, and a refusal of
//! a JSON object that names no field (the same property as tests/fuzz_inputs.rs).
#![no_main]

use hallq::api::fuzzing::{BODIES, parse_body};
use libfuzzer_sys::fuzz_target;

const CTYPES: [&str; 3] = ["application/json", "", "text/plain"];

fuzz_target!(|data: &[u8]| {
    let [k, c, body @ ..] = data else {
        return;
    };
    let kind = BODIES[usize::from(*k) % BODIES.len()].0;
    let ctype = CTYPES[usize::from(*c) % CTYPES.len()];
    let Err(p) = parse_body(kind, ctype, body) else {
        return;
    };
    assert!(p.kind.starts_with("urn:hallq:problem:"));
    let json: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    let object = matches!(
        serde_json::from_slice::<serde_json::Value>(json),
        Ok(serde_json::Value::Object(_))
    );
    if ctype != "text/plain" && object {
        assert!(
            p.field.as_deref().is_some_and(|f| !f.is_empty()),
            "{kind}: a JSON object refused without naming a field: {p:?}"
        );
    }
});
