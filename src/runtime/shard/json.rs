//! Writing JSON by hand with serde_json's bytes: keys as they are, strings that need no
//! escaping copied, instants rendered without jiff's general printer, anything else through
//! serde_json itself (`serde`), so the text is what `serde_json::to_vec` would write. The
//! shards store a record per ticket operation; these are their hot paths (`ticket_json`,
//! `hall_json`). Each user tests its bytes against serde_json's.

use jiff::Timestamp;
use serde::Serialize;

use crate::localtime::{RENDERED_MAX, utc_text};

/// A JSON text being written.
pub(super) struct Json(Vec<u8>);

impl Json {
    pub(super) fn with_capacity(capacity: usize) -> Json {
        Json(Vec::with_capacity(capacity))
    }

    pub(super) fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    pub(super) fn raw(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }

    /// serde_json escapes `"`, `\` and the control characters below U+0020, nothing else.
    pub(super) fn string(&mut self, s: &str) {
        if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
            self.0.push(b'"');
            self.0.extend_from_slice(s.as_bytes());
            self.0.push(b'"');
        } else {
            self.serde(s);
        }
    }

    pub(super) fn int(&mut self, n: impl itoa::Integer) {
        self.raw(itoa::Buffer::new().format(n).as_bytes());
    }

    pub(super) fn bool(&mut self, b: bool) {
        self.raw(if b { b"true" } else { b"false" });
    }

    pub(super) fn instant(&mut self, at: Timestamp) {
        let mut buf = [0; RENDERED_MAX];
        match utc_text(at, &mut buf) {
            Some(text) => {
                self.0.push(b'"');
                self.0.extend_from_slice(text.as_bytes());
                self.0.push(b'"');
            }
            None => self.serde(&at),
        }
    }

    pub(super) fn opt_instant(&mut self, at: Option<Timestamp>) {
        match at {
            Some(at) => self.instant(at),
            None => self.raw(b"null"),
        }
    }

    pub(super) fn serde<T: Serialize + ?Sized>(&mut self, value: &T) {
        serde_json::to_writer(&mut self.0, value).expect("records serialize");
    }
}
