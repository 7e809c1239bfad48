//! How a case record (`CaseRecord`) is stored in the `cases` and `closed_cases` tables and in
//! the log's `PutCase` / `CloseCase` ops: a tag byte, then the fields every case has in
//! postcard (timestamps as seconds and nanoseconds), then the fields most cases leave empty
//! (suspensions, extensions, children, origin, closing, details…) as JSON, or nothing when
//! all are empty.
//!
//! Why: recovery decodes every open case, ten million at the target, on one thread while a
//! second one restores them; with whole-record JSON (strings scanned for escapes, three
//! RFC 3339 timestamps parsed per case) decoding was the slower of the two threads and so
//! the start-up time (BENCHMARKS.md, recovery). Records written as JSON by earlier versions
//! (they start with `{`) are still read, so a store needs no migration; a store written by
//! this version is refused by older ones through the schema number (`SCHEMA`).
//!
//! It only encodes and decodes bytes; it never touches redb. The postcard part is
//! positional: a field or an enum variant of `CaseState` / `Stage` is only ever added at the
//! end, and a change that reorders them takes a new tag.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::deadline::{
    CaseOrigin, CaseRecord, CaseState, ClosingRecord, Details, ExtensionRecord, Stage,
    SuspensionRecord,
};

/// The first byte of a binary record. A JSON record starts with `{` (or whitespace).
const TAG: u8 = 0xB1;

/// A timestamp as (seconds, nanoseconds) since the Unix epoch: no text to parse.
type Instant = (i64, i32);

/// The fields every case has, borrowed from the bytes on decode.
#[derive(Serialize, Deserialize)]
struct Common<'a> {
    id: &'a str,
    hall: &'a str,
    matter: &'a str,
    state: CaseState,
    stage: Stage,
    accepted_at: Instant,
    stage_start: Instant,
    open_children: u16,
    fired: u8,
    counts: Vec<u8>,
    closed_at: Option<Instant>,
    deadline: Option<Instant>,
    /// `Rare` as JSON, empty when every field of it is.
    rare: &'a str,
}

/// The fields most cases leave empty, with the JSON names and defaults of `CaseRecord`.
#[derive(Default, Serialize, Deserialize)]
struct Rare {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    department: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    suspensions: Vec<SuspensionRecord>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    extensions: Vec<ExtensionRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lead: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    children: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    origin: Option<CaseOrigin>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    closing: Option<ClosingRecord>,
    #[serde(default, skip_serializing_if = "Details::is_empty")]
    details: Details,
}

impl Rare {
    fn is_empty(&self) -> bool {
        self.department.is_none()
            && self.suspensions.is_empty()
            && self.extensions.is_empty()
            && self.lead.is_none()
            && self.children.is_empty()
            && self.origin.is_none()
            && self.closing.is_none()
            && self.details.is_empty()
    }
}

fn instant(t: Timestamp) -> Instant {
    (t.as_second(), t.subsec_nanosecond())
}

fn timestamp((s, ns): Instant) -> Result<Timestamp, serde_json::Error> {
    Timestamp::new(s, ns).map_err(|e| bad(format!("timestamp ({s}, {ns}): {e}")))
}

fn bad(msg: String) -> serde_json::Error {
    <serde_json::Error as serde::de::Error>::custom(msg)
}

/// The stored form of `r`.
pub fn encode_case(r: CaseRecord) -> Vec<u8> {
    let rare = Rare {
        department: r.department,
        suspensions: r.suspensions,
        extensions: r.extensions,
        lead: r.lead,
        children: r.children,
        origin: r.origin,
        closing: r.closing,
        details: r.details,
    };
    let rare = if rare.is_empty() {
        String::new()
    } else {
        serde_json::to_string(&rare).expect("case records serialize")
    };
    let common = Common {
        id: &r.id,
        hall: &r.hall,
        matter: &r.matter,
        state: r.state,
        stage: r.stage,
        accepted_at: instant(r.accepted_at),
        stage_start: instant(r.stage_start),
        open_children: r.open_children,
        fired: r.fired,
        counts: r.counts,
        closed_at: r.closed_at.map(instant),
        deadline: r.deadline.map(instant),
        rare: &rare,
    };
    let mut out = Vec::with_capacity(96 + rare.len());
    out.push(TAG);
    postcard::to_io(&common, &mut out).expect("case records serialize");
    out
}

/// A stored case record, binary or (written by earlier versions) JSON. The error is what a
/// corrupt record is reported with (`StoreError::Corrupt`).
pub fn decode_case(bytes: &[u8]) -> Result<CaseRecord, serde_json::Error> {
    let Some((&TAG, body)) = bytes.split_first() else {
        return serde_json::from_slice(bytes);
    };
    let (c, rest): (Common, _) =
        postcard::take_from_bytes(body).map_err(|e| bad(format!("binary case record: {e}")))?;
    if !rest.is_empty() {
        return Err(bad(format!(
            "binary case record: {} bytes after its end",
            rest.len()
        )));
    }
    let rare: Rare = if c.rare.is_empty() {
        Rare::default()
    } else {
        serde_json::from_str(c.rare)?
    };
    Ok(CaseRecord {
        id: c.id.to_owned(),
        hall: c.hall.to_owned(),
        matter: c.matter.to_owned(),
        department: rare.department,
        state: c.state,
        stage: c.stage,
        accepted_at: timestamp(c.accepted_at)?,
        stage_start: timestamp(c.stage_start)?,
        suspensions: rare.suspensions,
        extensions: rare.extensions,
        lead: rare.lead,
        children: rare.children,
        open_children: c.open_children,
        fired: c.fired,
        counts: c.counts,
        closed_at: c.closed_at.map(timestamp).transpose()?,
        deadline: c.deadline.map(timestamp).transpose()?,
        origin: rare.origin,
        closing: rare.closing,
        details: rare.details,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain() -> CaseRecord {
        serde_json::from_str(
            r#"{"id":"BULK-00000120","hall":"town-015","matter":"330100-CN-0002","state":"open","stage":"single","accepted_at":"2026-12-04T05:32:31.474708238Z","stage_start":"2026-12-04T05:32:31.474708238Z","open_children":0,"fired":0,"counts":[0,0,0,0,0,0,0,0],"deadline":"2027-01-01T09:00:00Z"}"#,
        )
        .unwrap()
    }

    fn rich() -> CaseRecord {
        serde_json::from_str(
            r#"{"id":"R-2","hall":"county","matter":"330100-LB-0001","department":"tax","state":"suspended","stage":"forwarding","accepted_at":"2025-09-26T02:00:00Z","stage_start":"2025-09-27T02:00:00.5Z","suspensions":[{"reason":"hearing","from":"2025-09-28T00:00:00Z","until":null}],"extensions":[{"amount":"5wd","reason":"complex","approver":"chief","at":"2025-09-27T03:00:00Z"}],"lead":"R-1","children":["R-2:a","R-2:b"],"open_children":2,"fired":3,"counts":[1,2,0,0,0,0,0,0],"closed_at":"2025-10-01T00:00:00Z","origin":{"kind":"rating","ticket":"20250926-B001","service":"social","window":"w1","rating":1}}"#,
        )
        .unwrap()
    }

    /// The JSON of a record: what `CaseRecord` means field by field.
    fn json(r: &CaseRecord) -> serde_json::Value {
        serde_json::to_value(r).unwrap()
    }

    #[test]
    fn a_record_comes_back_field_for_field_from_the_binary_form() {
        for r in [plain(), rich()] {
            let bytes = encode_case(r.clone());
            assert_eq!(bytes[0], TAG);
            assert_eq!(json(&decode_case(&bytes).unwrap()), json(&r));
        }
    }

    #[test]
    fn a_plain_case_takes_fewer_bytes_than_its_json_and_json_records_still_read() {
        let r = plain();
        let old = serde_json::to_vec(&r).unwrap();
        assert!(encode_case(r.clone()).len() * 2 < old.len());
        assert_eq!(json(&decode_case(&old).unwrap()), json(&r));
    }

    #[test]
    fn a_cut_or_padded_record_is_refused_not_misread() {
        let bytes = encode_case(rich());
        for n in 1..bytes.len() {
            assert!(decode_case(&bytes[..n]).is_err(), "cut at {n}");
        }
        let mut padded = bytes.clone();
        padded.push(0);
        assert!(decode_case(&padded).is_err());
    }
}
