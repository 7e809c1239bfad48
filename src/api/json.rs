//! Request bodies: JSON in, or a problem that names the field.
//!
//! axum's `Json` extractor answers in plain text and without the field's path; this one
//! deserializes through `serde_path_to_error`, so `{"class": "vip"}` is refused with
//! `field: "class"` and the list of accepted values.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use serde::de::DeserializeOwned;

use super::problem::Problem;

/// Parse a JSON body. An empty body is read as `{}`, so actions without parameters need no
/// body at all.
pub fn parse<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<T, Problem> {
    let body = body.map_err(|e| {
        if e.status().as_u16() == 413 {
            Problem::new(413, "body-too-large", "Payload too large", e.body_text())
        } else {
            Problem::bad_request("unreadable-body", e.body_text())
        }
    })?;
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        let ctype = headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !ctype.starts_with("application/json") && !ctype.is_empty() {
            return Err(Problem::new(
                415,
                "unsupported-media-type",
                "Unsupported media type",
                format!("send the body as application/json, not `{ctype}`"),
            ));
        }
        &body
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let msg = inner.to_string();
        if inner.is_syntax() || inner.is_eof() {
            return Problem::bad_request(
                "malformed-json",
                format!("the body is not valid JSON: {msg}"),
            );
        }
        // A missing field is reported at the path of the object that lacks it; name the
        // field itself. An unknown field's path already ends with its name.
        let field = match between_backticks(&msg) {
            Some(f) if msg.starts_with("missing field") && path == "." => f.to_owned(),
            Some(f) if msg.starts_with("missing field") => format!("{path}.{f}"),
            _ => path,
        };
        let code = if msg.starts_with("missing field") {
            "missing-field"
        } else if msg.starts_with("unknown field") {
            "unknown-field"
        } else {
            "invalid-field"
        };
        Problem::bad_request(code, format!("`{field}`: {}", strip_position(&msg))).field(field)
    })
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
