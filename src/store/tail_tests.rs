//! The tail's indexes against a walk of the entries a reader would otherwise copy: for every
//! checkpoint a reader may see, each index answers as the newest matching write after it, and
//! a stream's page holds its events after it numbered past the resume point, in log order,
//! whether the stream's numbers rise or not. Entries are pushed, and trimmed, in the order the
//! daemon does: pushes go on after trims.

use std::sync::Arc;

use proptest::prelude::*;

use super::batch::{Op, Published};
use super::tail::{Entry, Tail};
use super::tests::op;

/// A stream numbered on, as the writer and the shards number, and one whose numbers repeat
/// and fall, as a cluster node replaying another's numbering may.
const RISING: &str = "r";
const ANY: &str = "z";

/// One step of the daemon: commit a record (its ops, and the numbers of its events on
/// `ANY`, each followed by one on `RISING`), then maybe checkpoint and drop up to `trim`
/// entries back from the newest.
fn steps() -> impl Strategy<Value = Vec<(Vec<Op>, Vec<u64>, Option<usize>)>> {
    let step = (
        proptest::collection::vec(op(), 0..6),
        proptest::collection::vec(0u64..6, 0..5),
        proptest::option::of(0usize..4),
    );
    proptest::collection::vec(step, 1..24)
}

/// The newest op after `lsn` that `pick` matches, as text.
fn newest(pushed: &[Entry], lsn: u64, pick: impl Fn(&Op) -> bool) -> Option<String> {
    let mut ops = pushed.iter().filter(|e| e.lsn > lsn).flat_map(|e| &e.ops);
    ops.rfind(|op| pick(op)).map(|op| format!("{op:?}"))
}

/// Every answer of the indexes to a reader that sees checkpoint `lsn`.
fn answers(tail: &Tail, lsn: u64) -> String {
    let mut out = String::new();
    let op = |at: Option<super::tail::OpAt>| at.map(|at| format!("{:?}", at.op()));
    for key in ["k1", "k2"] {
        out += &format!("{key}: {:?}\n", tail.idempotent("s", key, lsn));
    }
    for id in ["c1", "c2", "c3"] {
        out += &format!("{id}: {:?}\n", op(tail.case(id, lsn)));
        out += &format!("closed {id}: {:?}\n", op(tail.closed_case(id, lsn)));
    }
    for name in ["x", "y"] {
        out += &format!("{name}: {:?}\n", op(tail.consumer(name, lsn)));
    }
    for hall in ["a", "b"] {
        out += &format!("applied {hall}: {:?}\n", op(tail.applied(hall, lsn)));
    }
    for stream in [RISING, ANY] {
        for after in (0..8).chain([u64::MAX]) {
            for limit in [0, 1, 3, 100] {
                let page = tail.events(stream, lsn, after, limit).map(|e| {
                    let page: Vec<_> = e.page.iter().map(|at| at.event().json.clone()).collect();
                    (e.first, e.last, page)
                });
                out += &format!("{stream} {after} {limit}: {page:?}\n");
            }
        }
    }
    out
}

/// The same answers from a walk of the entries pushed.
fn walked(pushed: &[Entry], lsn: u64) -> String {
    let mut out = String::new();
    for key in ["k1", "k2"] {
        let put = pushed
            .iter()
            .filter(|e| e.lsn > lsn)
            .flat_map(|e| &e.ops)
            .filter_map(|op| match op {
                Op::PutIdempotent {
                    scope,
                    key: k,
                    expires_s,
                    json,
                } if scope == "s" && k == key => Some((*expires_s, json.clone())),
                _ => None,
            })
            .next_back();
        out += &format!("{key}: {put:?}\n");
    }
    for id in ["c1", "c2", "c3"] {
        let case = newest(
            pushed,
            lsn,
            |op| matches!(op, Op::PutCase { id: i, .. } | Op::CloseCase { id: i, .. } if i == id),
        );
        let closed = newest(
            pushed,
            lsn,
            |op| matches!(op, Op::CloseCase { id: i, .. } if i == id),
        );
        out += &format!("{id}: {case:?}\n");
        out += &format!("closed {id}: {closed:?}\n");
    }
    for name in ["x", "y"] {
        let at = newest(
            pushed,
            lsn,
            |op| matches!(op, Op::PutConsumer { name: n, .. } if n == name),
        );
        out += &format!("{name}: {at:?}\n");
    }
    for hall in ["a", "b"] {
        let at = newest(
            pushed,
            lsn,
            |op| matches!(op, Op::PutApplied { hall: h, .. } if &**h == hall),
        );
        out += &format!("applied {hall}: {at:?}\n");
    }
    for stream in [RISING, ANY] {
        let events: Vec<_> = pushed
            .iter()
            .filter(|e| e.lsn > lsn)
            .flat_map(|e| &e.events)
            .filter(|e| &*e.stream == stream)
            .collect();
        for after in (0..8).chain([u64::MAX]) {
            for limit in [0, 1, 3, 100] {
                let page = (!events.is_empty()).then(|| {
                    let page: Vec<_> = events
                        .iter()
                        .filter(|e| e.seq > after)
                        .take(limit)
                        .map(|e| e.json.clone())
                        .collect();
                    (events[0].seq, events[events.len() - 1].seq, page)
                });
                out += &format!("{stream} {after} {limit}: {page:?}\n");
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_indexes_answer_as_a_walk_of_the_entries_after_the_checkpoint(steps in steps()) {
        let mut tail = Tail::empty(0);
        // What was pushed, and the checkpoint: the tail holds the entries after `trimmed`.
        let mut pushed: Vec<Entry> = Vec::new();
        let mut trimmed = 0;
        let mut rising = 0;
        for (lsn, (ops, numbers, trim)) in (1..).zip(steps) {
            let mut events = Vec::new();
            for seq in numbers {
                rising += 1;
                for (stream, seq) in [(ANY, seq), (RISING, rising)] {
                    let json = format!("{{\"lsn\":{lsn},\"n\":{}}}", events.len());
                    events.push(Published { stream: Arc::from(stream), seq, kind: "e", json, hall: None });
                }
            }
            let copied = ops.iter().map(super::tests::copy).collect();
            tail.push(Arc::new(Entry { lsn, ops: copied, events: events.clone() }));
            pushed.push(Entry { lsn, ops, events });
            if let Some(back) = trim {
                trimmed = lsn.saturating_sub(back as u64).max(trimmed);
                tail.trim(trimmed);
            }
            let held = pushed.iter().filter(|e| e.lsn > trimmed);
            let writes = held.map(|e| e.ops.len() + e.events.len()).sum::<usize>();
            prop_assert_eq!(tail.writes(), writes, "writes held after lsn {}", lsn);
            prop_assert_eq!(tail.last(), lsn);
            // A reader sees the checkpoint the tail was trimmed to, or a later one.
            for seen in trimmed..=lsn {
                let after: Vec<_> = tail.after(seen).iter().map(|e| e.lsn).collect();
                prop_assert_eq!(after, (seen + 1..=lsn).collect::<Vec<_>>());
                prop_assert_eq!(answers(&tail, seen), walked(&pushed, seen), "lsn {} seen {}", lsn, seen);
            }
        }
    }
}
