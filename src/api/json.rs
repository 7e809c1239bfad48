//! Request bodies: JSON in, or a problem that names the field.
//!
//! axum's `Json` extractor answers in plain text and without the field's path; this one
//! deserializes through `serde_path_to_error`, so `{"class": "vip"}` is refused with
//! `field: "class"` and the list of accepted values. It is strict where serde_json alone is
//! lenient: bytes after the JSON value are refused (a body is one value, nothing stored
//! from a body that also carried something else), and a key given twice is refused naming
//! it. Whatever the input, the answer is a value or a problem, never a panic (fuzzed in
//! `tests/fuzz_inputs.rs` and `fuzz/`).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue};
use serde::de::DeserializeOwned;

use super::problem::Problem;

/// Parse a JSON body. An empty body is read as `{}`, so actions without parameters need no
/// body at all.
pub fn parse<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: &Result<Bytes, BytesRejection>,
) -> Result<T, Problem> {
    parse_typed(headers.get(axum::http::header::CONTENT_TYPE), body)
}

/// `parse`, given the request's `Content-Type` (if any) rather than all its headers.
pub fn parse_typed<T: DeserializeOwned>(
    ctype: Option<&HeaderValue>,
    body: &Result<Bytes, BytesRejection>,
) -> Result<T, Problem> {
    let body = body.as_ref().map_err(unreadable)?;
    let ctype = ctype.and_then(|v| v.to_str().ok()).unwrap_or("");
    parse_bytes(ctype, body)
}

/// The problem for a body that could not be read: too large, too slow, or cut off.
pub fn unreadable(e: &BytesRejection) -> Problem {
    if e.status().as_u16() == 413 {
        return Problem::new(413, "body-too-large", "Payload too large", e.body_text());
    }
    if is_body_timeout(e) {
        return Problem::new(
            408,
            "body-timeout",
            "Request timeout",
            "the request body did not arrive within the server's body timeout",
        );
    }
    Problem::bad_request("unreadable-body", e.body_text())
}

/// The error a request body gives when it did not arrive within the body timeout (the
/// serving loop's `TimedBody` raises it; `unreadable` answers it with 408).
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within the body timeout")]
pub struct BodyTimeout;

/// Whether a body could not be read because it came too slowly.
pub fn is_body_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut at = Some(e);
    while let Some(e) = at {
        if e.is::<BodyTimeout>() {
            return true;
        }
        at = e.source();
    }
    false
}

/// Parse a body already read, sent with content type `ctype` (empty when none was given).
/// This is the whole of what a handler does with the bytes, so the fuzz targets call it.
pub fn parse_bytes<T: DeserializeOwned>(ctype: &str, body: &[u8]) -> Result<T, Problem> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        if !ctype.starts_with("application/json") && !ctype.is_empty() {
            return Err(Problem::new(
                415,
                "unsupported-media-type",
                "Unsupported media type",
                format!("send the body as application/json, not `{ctype}`"),
            ));
        }
        body
    };
    // serde would also take a struct as an array of its fields in order (`["social"]`);
    // a body is an object with named fields, nothing else.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(Problem::bad_request(
            "malformed-json",
            "the body must be a JSON object, such as {\"service\": \"social\"}",
        ));
    }
    // The common case first, without tracking the path (about a third of the parse); a body
    // that fails is parsed again with it, which fails the same way and names the field.
    let mut de = serde_json::Deserializer::from_slice(body);
    if let Ok(value) = T::deserialize(&mut de)
        && de.end().is_ok()
    {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        field_problem(body, path, e.into_inner())
    })?;
    de.end().map_err(|e| {
        Problem::bad_request(
            "malformed-json",
            format!(
                "the body must be one JSON value with nothing after it: {}",
                strip_position(&e.to_string())
            ),
        )
    })?;
    Ok(value)
}

/// A deserialization error at `path` as a problem naming the field.
fn field_problem(body: &[u8], path: String, inner: serde_json::Error) -> Problem {
    let msg = inner.to_string();
    // serde_json reports a value of the wrong JSON kind for an enum (`"class": 1`) as a
    // syntax error, and a field error may come before a syntax error further on: the body
    // is malformed exactly when it is not one JSON value (read again only on this path).
    if let Err(e) = serde_json::from_slice::<serde_json::Value>(body) {
        return Problem::bad_request(
            "malformed-json",
            format!("the body is not one valid JSON value: {e}"),
        );
    }
    // A missing or repeated field is reported at the path of the object that holds it;
    // name the field itself. An unknown field's path already ends with its name.
    let named = msg.starts_with("missing field") || msg.starts_with("duplicate field");
    let field = match between_backticks(&msg) {
        Some(f) if named && path == "." => f.to_owned(),
        Some(f) if named => format!("{path}.{f}"),
        _ => path,
    };
    // `{"": 5}`: the empty key, named as JSON writes it.
    let field = if field.is_empty() {
        "\"\"".to_owned()
    } else {
        field
    };
    let code = if msg.starts_with("missing field") {
        "missing-field"
    } else if msg.starts_with("unknown field") {
        "unknown-field"
    } else if msg.starts_with("duplicate field") {
        "duplicate-field"
    } else {
        "invalid-field"
    };
    let why = if inner.is_syntax() {
        "a value of the wrong type"
    } else {
        strip_position(&msg)
    };
    Problem::bad_request(code, format!("`{field}`: {why}")).field(field)
}

fn between_backticks(s: &str) -> Option<&str> {
    let start = s.find('`')? + 1;
    let len = s[start..].find('`')?;
    Some(&s[start..start + len])
}

/// serde_json appends " at line 1 column 23"; the field name is more use to a client.
fn strip_position(msg: &str) -> &str {
    msg.rfind(" at line ").map_or(msg, |i| &msg[..i])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::TicketClass;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code, reason = "only parsed")]
    struct Issue {
        service: String,
        class: Option<TicketClass>,
        n: Option<u8>,
    }

    fn refused(body: &str) -> Problem {
        parse_bytes::<Issue>("application/json", body.as_bytes()).expect_err(body)
    }

    #[test]
    fn bytes_after_the_value_are_refused() {
        let p = refused(r#"{"service":"social"} xx"#);
        assert_eq!(p.kind, "urn:hallq:problem:malformed-json");
        assert!(p.detail.contains("nothing after it"), "{}", p.detail);
        assert!(parse_bytes::<Issue>("", b" {\"service\":\"s\"} \n").is_ok());
        let p = refused(r#"["s"]"#);
        assert_eq!(p.kind, "urn:hallq:problem:malformed-json");
    }

    #[test]
    fn a_value_of_the_wrong_kind_names_its_field() {
        let p = refused(r#"{"service":"s","class":1}"#);
        assert_eq!(p.kind, "urn:hallq:problem:invalid-field");
        assert_eq!(p.field.as_deref(), Some("class"));
        let p = refused(r#"{"service":"s","n":"many"}"#);
        assert_eq!(p.field.as_deref(), Some("n"));
        // Broken JSON stays a syntax problem even inside a field.
        let p = refused(r#"{"service":"s","class":tru}"#);
        assert_eq!(p.kind, "urn:hallq:problem:malformed-json");
    }

    #[test]
    fn an_empty_key_is_named_too() {
        // Found by fuzz/ (bodies): the field was named "".
        let p = refused(r#"{"":5}"#);
        assert_eq!(p.kind, "urn:hallq:problem:unknown-field");
        assert_eq!(p.field.as_deref(), Some("\"\""));
    }

    #[test]
    fn a_repeated_key_is_named() {
        let p = refused(r#"{"service":"s","service":"t"}"#);
        assert_eq!(p.kind, "urn:hallq:problem:duplicate-field");
        assert_eq!(p.field.as_deref(), Some("service"));
    }
}
