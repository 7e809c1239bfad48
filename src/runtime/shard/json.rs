//! Writing JSON by hand with serde_json's bytes: keys as they are, strings that need no
//! escaping copied, instants rendered without jiff's general printer, anything else through
//! serde_json itself (`serde`), so the text is what `serde_json::to_vec` would write. The
//! shards store a record and publish events per ticket operation; these are their hot paths
//! (`ticket_json`, `hall_json`, `event_json`). Each user tests its bytes against serde_json's.

use jiff::Timestamp;
use serde::Serialize;

use crate::localtime::{LocalTime, RENDERED_MAX, utc_text};

/// A JSON text being written: only whole `str`s go in (`raw`, `string`, `plain`, `int`) or
/// serde_json's output, so it is UTF-8.
pub(super) struct Json(Vec<u8>);

impl Json {
    pub(super) fn with_capacity(capacity: usize) -> Json {
        Json(Vec::with_capacity(capacity))
    }

    pub(super) fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    pub(super) fn into_string(self) -> String {
        String::from_utf8(self.0).expect("JSON written from strs is UTF-8")
    }

    pub(super) fn raw(&mut self, text: &str) {
        self.0.extend_from_slice(text.as_bytes());
    }

    /// serde_json escapes `"`, `\` and the control characters below U+0020, nothing else.
    pub(super) fn string(&mut self, s: &str) {
        if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
            self.plain(s);
        } else {
            self.serde(s);
        }
    }

    pub(super) fn int(&mut self, n: impl itoa::Integer) {
        self.raw(itoa::Buffer::new().format(n));
    }

    pub(super) fn bool(&mut self, b: bool) {
        self.raw(if b { "true" } else { "false" });
    }

    pub(super) fn instant(&mut self, at: Timestamp) {
        let mut buf = [0; RENDERED_MAX];
        match utc_text(at, &mut buf) {
            Some(text) => self.plain(text),
            None => self.serde(&at),
        }
    }

    /// As `LocalTime`'s `Serialize` writes it.
    pub(super) fn local(&mut self, t: LocalTime) {
        let mut buf = [0; RENDERED_MAX];
        match t.render(&mut buf) {
            Some(text) => self.plain(text),
            None => self.serde(&t),
        }
    }

    /// A string known to need no escaping: an enum's serde name, a rendered instant.
    pub(super) fn plain(&mut self, text: &str) {
        self.0.push(b'"');
        self.0.extend_from_slice(text.as_bytes());
        self.0.push(b'"');
    }

    pub(super) fn opt_instant(&mut self, at: Option<Timestamp>) {
        match at {
            Some(at) => self.instant(at),
            None => self.raw("null"),
        }
    }

    pub(super) fn serde<T: Serialize + ?Sized>(&mut self, value: &T) {
        serde_json::to_writer(&mut self.0, value).expect("records serialize");
    }
}

/// Values for the property tests of the JSON written by hand: strings plain and awkward,
/// instants inside and outside the years rendered by hand, every variant of the enums.
#[cfg(test)]
pub(super) mod arbitrary {
    use jiff::Timestamp;
    use proptest::prelude::*;
    use proptest::sample::select;

    use crate::queue::{CallReason, TicketClass, TicketStatus};

    pub(crate) fn instant() -> impl Strategy<Value = Timestamp> {
        prop_oneof![
            // Any instant jiff holds, also outside the years `utc_text` renders.
            (-377_705_023_201i64..253_402_207_200, 0i32..1_000_000_000)
                .prop_map(|(s, n)| Timestamp::new(s, n).unwrap()),
            (1_700_000_000i64..1_900_000_000).prop_map(|s| Timestamp::from_second(s).unwrap()),
        ]
    }

    pub(crate) fn text() -> impl Strategy<Value = String> {
        // Plain ids most of the time; quotes, backslashes, control characters (DEL is not
        // one for JSON) and CJK too.
        prop_oneof![
            "[A-Za-z0-9_-]{0,12}",
            "\\PC{0,8}",
            ".{0,6}[\"\\\\\u{0}-\u{1f}\u{7f}].{0,6}"
        ]
    }

    pub(crate) fn class() -> impl Strategy<Value = TicketClass> {
        use TicketClass::*;
        select(vec![Normal, Priority, Appointment])
    }

    pub(crate) fn status() -> impl Strategy<Value = TicketStatus> {
        use TicketStatus::*;
        let all = [
            Booked, Waiting, Called, Serving, Done, NoShow, Parked, Cancelled, Expired,
        ];
        select(all.to_vec())
    }

    pub(crate) fn reason() -> impl Strategy<Value = CallReason> {
        use CallReason::*;
        let all = [
            Aged,
            Appointment,
            Priority,
            Ratio,
            Fifo,
            Weighted,
            Specific,
            Recall,
        ];
        select(all.to_vec())
    }
}
