//! The event log's record: what one group commit appends, and nothing else on the request path.
//!
//! A record holds the commit's writes to current state (`Op`s) and the events it published,
//! in the order the writer received them. It is a schema byte followed by postcard (a compact
//! serde format: varint integers, length-prefixed strings), so a commit of N requests costs
//! one append of one framed record to the log's segment files (`segment`) instead of N
//! rewrites of hall, ticket and event rows. The checkpointer (`checkpoint`) turns records
//! into current-state rows later.
//!
//! This module must never trust what it decodes: a record read back from disk may be from
//! another version or damaged, and decoding it answers an error, never a panic
//! (`tests::garbage_never_panics`).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use redb::TableDefinition;
use serde::{Deserialize, Serialize};

use super::batch::{Op, Published};

/// log sequence number → one record: the log of a store of schema 3, replayed and emptied
/// when such a store opens (the log is in segment files since), and the form a backup copies
/// the log's records in.
pub(crate) const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");

/// The record layout this hallq writes and reads. A record with another first byte is refused
/// with the version it carries, so an older hallq never misreads a newer log.
const RECORD_VERSION: u8 = 1;

/// An event as the log holds it: the subscribers' scope (`Published::hall`) is left out, it
/// only matters while the event is live.
#[derive(Serialize)]
struct EventRef<'a> {
    stream: &'a str,
    seq: u64,
    kind: &'a str,
    json: &'a str,
}

#[derive(Deserialize)]
struct EventOwned {
    stream: Arc<str>,
    seq: u64,
    kind: String,
    json: String,
}

#[derive(Serialize)]
struct RecordRef<'a> {
    ops: Vec<&'a Op>,
    events: Vec<EventRef<'a>>,
}

#[derive(Deserialize)]
struct RecordOwned {
    ops: Vec<Op>,
    events: Vec<EventOwned>,
}

/// A decoded record: what a recovery or a reopened store replays.
#[derive(Debug, Default)]
pub(crate) struct Record {
    pub ops: Vec<Op>,
    pub events: Vec<Published>,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    #[error("the record is empty")]
    Empty,
    #[error("the record has layout version {0}; this hallq reads version {RECORD_VERSION}")]
    Version(u8),
    #[error("the record is malformed: {0}")]
    Malformed(#[from] postcard::Error),
}

/// Encode the writes and events of one commit, appending to `out`.
pub(crate) fn encode<'a>(
    ops: impl Iterator<Item = &'a Op>,
    events: impl Iterator<Item = &'a Published>,
    out: &mut Vec<u8>,
) {
    let record = RecordRef {
        ops: ops.collect(),
        events: events
            .map(|e| EventRef {
                stream: &e.stream,
                seq: e.seq,
                kind: e.kind,
                json: &e.json,
            })
            .collect(),
    };
    out.push(RECORD_VERSION);
    // Writing to a Vec cannot fail, and every field serializes.
    postcard::to_io(&record, &mut *out).expect("log records serialize");
}

pub(crate) fn decode(raw: &[u8]) -> Result<Record, DecodeError> {
    let (&version, body) = raw.split_first().ok_or(DecodeError::Empty)?;
    if version != RECORD_VERSION {
        return Err(DecodeError::Version(version));
    }
    let owned: RecordOwned = postcard::from_bytes(body)?;
    Ok(Record {
        ops: owned.ops,
        events: owned
            .events
            .into_iter()
            .map(|e| Published {
                stream: e.stream,
                seq: e.seq,
                kind: intern(e.kind),
                json: e.json,
                hall: None,
            })
            .collect(),
    })
}

/// `Published::kind` is `'static` (the engines name their events with literals); a kind read
/// back from the log is leaked once per distinct name, a few dozen at most.
fn intern(kind: String) -> &'static str {
    static KINDS: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let mut kinds = KINDS.lock().unwrap_or_else(|e| e.into_inner());
    let kinds = kinds.get_or_insert_with(HashSet::new);
    if let Some(k) = kinds.get(kind.as_str()) {
        return k;
    }
    let leaked: &'static str = Box::leak(kind.into_boxed_str());
    kinds.insert(leaked);
    leaked
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> (Vec<Op>, Vec<Published>) {
        let ops = vec![
            Op::PutHall {
                hall: Arc::from("city"),
                json: br#"{"windows":[]}"#.to_vec(),
            },
            Op::PurgeTickets {
                hall: Arc::from("city"),
                before: "20261123".into(),
            },
            Op::PatchHall {
                hall: Arc::from("city"),
                patch: crate::store::HallPatch {
                    head: r#"{"seq":3}"#.into(),
                    services: crate::store::ListPatch {
                        len: 2,
                        items: vec![(1, "{}".into())],
                    },
                    windows: crate::store::ListPatch {
                        len: 300,
                        items: vec![],
                    },
                },
                calls: vec!["{}".into()],
                keep: 10,
            },
            Op::CountCase {
                hall: Arc::from("city"),
                day: "2026-11-23".into(),
                on_time: true,
            },
            Op::PutIdempotent {
                scope: "kiosk".into(),
                key: "k-1".into(),
                expires_s: -5,
                json: vec![0, 255, 10],
            },
        ];
        let events = vec![Published {
            stream: Arc::from("@alarms"),
            seq: 42,
            kind: "alarm",
            json: r#"{"seq":42,"level":"red"}"#.into(),
            hall: Some(3),
        }];
        (ops, events)
    }

    #[test]
    fn a_record_reads_back_as_it_was_written() {
        let (ops, events) = sample();
        let mut raw = Vec::new();
        encode(ops.iter(), events.iter(), &mut raw);
        let back = decode(&raw).unwrap();
        assert_eq!(format!("{:?}", back.ops), format!("{ops:?}"));
        assert_eq!(back.events.len(), 1);
        let e = &back.events[0];
        assert_eq!(
            (&*e.stream, e.seq, e.kind, e.json.as_str(), e.hall),
            ("@alarms", 42, "alarm", events[0].json.as_str(), None)
        );
    }

    #[test]
    fn another_version_is_refused_by_name() {
        let (ops, events) = sample();
        let mut raw = Vec::new();
        encode(ops.iter(), events.iter(), &mut raw);
        raw[0] = 9;
        let e = decode(&raw).unwrap_err();
        assert!(e.to_string().contains("version 9"), "{e}");
        assert!(matches!(decode(&[]), Err(DecodeError::Empty)));
    }

    /// A record as hallq wrote it before `Op::PutHallDelta` existed (one `PutHall`, no
    /// events), byte for byte: what an existing store's log holds and recovery replays.
    #[test]
    fn a_record_of_an_earlier_version_still_decodes() {
        let raw = [1, 1, 0, 4, b'c', b'i', b't', b'y', 2, b'{', b'}', 0];
        let back = decode(&raw).unwrap();
        assert!(back.events.is_empty());
        match &back.ops[..] {
            [Op::PutHall { hall, json }] => assert_eq!((&**hall, &json[..]), ("city", &b"{}"[..])),
            ops => panic!("{ops:?}"),
        }
        let delta = Op::PutHallDelta {
            hall: Arc::from("city"),
            json: b"{}".to_vec(),
            calls: vec!["{}".into()],
            keep: 10,
        };
        let mut raw = Vec::new();
        encode([&delta].into_iter(), std::iter::empty(), &mut raw);
        assert_eq!(
            format!("{:?}", decode(&raw).unwrap().ops),
            format!("{:?}", [delta])
        );
    }

    proptest! {
        #[test]
        fn garbage_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode(&raw);
        }

        #[test]
        fn a_damaged_record_never_panics(cut in 0usize..400, flip in 0usize..400, bit in 0u8..8) {
            let (ops, events) = sample();
            let mut raw = Vec::new();
            encode(ops.iter(), events.iter(), &mut raw);
            if let Some(b) = raw.get_mut(flip) {
                *b ^= 1 << bit;
            }
            raw.truncate(cut);
            let _ = decode(&raw);
        }
    }
}
