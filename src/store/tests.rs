//! The log and its checkpoint against the plain meaning of the ops: a coalesced checkpoint
//! leaves the tables exactly as applying every record one by one does, reads see the log's
//! tail as if it were checkpointed, and opening a store replays what no checkpoint covered.

use std::sync::Arc;

use proptest::prelude::*;
use redb::{ReadableDatabase, ReadableTable};

use super::batch::{Batch, Op, Published};
use super::event_chunk::{self, EVENT_CHUNKS};
use super::log::{self, LOG};
use super::tail::Entry;
use super::*;

/// A store config for tests, shared with the writer's own tests.
pub(super) fn config() -> crate::config::StoreConfig {
    crate::config::StoreConfig {
        // Above what the generated records publish: which old events a checkpoint prunes
        // depends on when it runs, and is not what these tests compare.
        event_retention: 1000,
        max_batch: 64,
        idempotency_ttl_s: 3600,
        cache_bytes: 8 << 20,
        quick_repair: true,
        retry_min_ms: 10,
        retry_max_ms: 100,
        checkpoint_writes: 16_384,
        checkpoint_interval_ms: 100,
        segment_bytes: 1 << 20,
        checkpoint_flush_bytes: 64 << 10,
        writer_priority: 0,
    }
}

/// Every row of every state table, as text: two stores with the same dump hold the same state.
fn dump(db: &Database) -> String {
    use std::fmt::Write;
    let tx = db.begin_read().unwrap();
    let mut out = String::new();
    macro_rules! rows {
        ($t:expr) => {
            for row in tx.open_table($t).unwrap().iter().unwrap() {
                let (k, v) = row.unwrap();
                writeln!(out, "{}: {:?} = {:?}", stringify!($t), k.value(), v.value()).unwrap();
            }
        };
    }
    rows!(HALLS);
    rows!(TICKETS);
    // Events by (stream, seq), whatever chunks hold them: one checkpoint per record cuts
    // them into other chunks than one checkpoint of all.
    for row in tx.open_table(EVENT_CHUNKS).unwrap().iter().unwrap() {
        let (k, v) = row.unwrap();
        let (stream, first) = k.value();
        for e in event_chunk::decode(v.value(), stream, first).unwrap() {
            writeln!(out, "EVENTS: {:?} = {:?}", (stream, e.0), (e.1, e.2)).unwrap();
        }
    }
    rows!(IDEMPOTENCY);
    rows!(CASES);
    rows!(CLOSED_CASES);
    rows!(CONSUMERS);
    rows!(CURSOR_OWNERS);
    rows!(CURSOR_LOG);
    rows!(CALENDARS);
    rows!(STATS);
    rows!(CASE_STATS);
    rows!(BOOKINGS);
    rows!(OUTBOX);
    out
}

/// The streams the generated records publish on.
const STREAMS: [&str; 3] = [ALARMS, "a", "b"];

/// A case record as the store holds it, told apart by `fired`.
fn case(id: &str, fired: u8) -> Vec<u8> {
    encode_case(
        serde_json::from_str(&format!(
            r#"{{"id":"{id}","hall":"a","matter":"m","state":"open","stage":"single","accepted_at":"2026-12-04T05:32:31Z","stage_start":"2026-12-04T05:32:31Z","open_children":0,"fired":{fired},"counts":[0,0,0,0,0,0,0,0]}}"#
        ))
        .unwrap(),
    )
}

/// What the store API answers about every key the generated ops can touch.
fn reads(store: &Store) -> String {
    let mut out = String::new();
    for hall in ["a", "b"] {
        out += &format!("{hall}: {:?}\n", store.load_hall(hall).map(|h| h.is_some()));
        out += &format!("applied {hall}: {:?}\n", store.applied(hall).unwrap());
        out += &format!("{:?}\n", store.case_stats(hall, "d1").unwrap());
        out += &format!("{:?}\n", store.day_stats(hall, "d1").is_ok());
        out += &format!(
            "{:?}\n",
            store.load_bookings(hall).map_err(|e| e.to_string())
        );
    }
    let json = |c: Option<crate::deadline::CaseRecord>| c.map(|c| serde_json::to_string(&c));
    for id in ["c1", "c2", "c3"] {
        out += &format!("open {id}: {:?}\n", json(store.open_case(id).unwrap()));
        out += &format!("closed {id}: {:?}\n", json(store.closed_case(id).unwrap()));
    }
    for key in ["k1", "k2"] {
        out += &format!("{:?}\n", store.idempotent("s", key, 0).unwrap());
    }
    for name in ["x", "y"] {
        out += &format!("{:?}\n", store.cursor(name).unwrap());
        out += &format!("{:?}\n", store.rewinds(name).unwrap().len());
    }
    for stream in STREAMS {
        for after in [0, 1, 2, 5, 10, 20, 50, 100, u64::MAX] {
            for limit in [0, 1, 3, 1000] {
                let page = store.read_events(stream, after, limit).unwrap();
                out += &format!(
                    "{stream} after {after}, {limit}: {:?} {:?} {:?}\n",
                    page.first_retained, page.last_retained, page.events
                );
            }
        }
        out += &format!("head {stream}: {}\n", store.head(stream).unwrap());
    }
    out += &format!("{:?}\n", store.calendars().unwrap());
    out += &format!("{:?}\n", store.load_outbox().unwrap());
    out
}

fn rewind() -> Vec<u8> {
    serde_json::to_vec(&Rewind {
        at: jiff::Timestamp::UNIX_EPOCH,
        by: "t".into(),
        from: 2,
        to: 1,
    })
    .unwrap()
}

pub(super) fn op() -> impl Strategy<Value = Op> {
    let hall = prop_oneof![Just("a"), Just("b")].prop_map(Arc::<str>::from);
    let id = prop_oneof![Just("c1"), Just("c2"), Just("c3")].prop_map(String::from);
    let day = prop_oneof![Just("20261101"), Just("20261102"), Just("20261103")];
    let json = (0u8..4).prop_map(|n| format!("{{\"n\":{n}}}").into_bytes());
    // A hall record has one service and two windows: a patch must fit the record before it.
    let record = (0u8..4, 0u8..3).prop_map(|(n, w)| {
        format!(r#"{{"n":{n},"services":[{{"s":{w}}}],"windows":[{{"w":{w}}},{{"w":0}}]}}"#)
            .into_bytes()
    });
    let items = |len: u16, kind: &'static str| {
        proptest::collection::btree_map(0..len, 0u8..9, 0..=usize::from(len)).prop_map(move |m| {
            ListPatch {
                len,
                items: m
                    .into_iter()
                    .map(|(i, n)| (i, format!("{{\"{kind}\":{n}}}")))
                    .collect(),
            }
        })
    };
    let calls = |n: u8| (0..n).map(|i| format!("{{\"call\":{i}}}")).collect();
    prop_oneof![
        (hall.clone(), record.clone()).prop_map(|(hall, json)| Op::PutHall { hall, json }),
        (hall.clone(), record, 0u8..4, 0u8..5).prop_map(move |(hall, json, n, keep)| {
            Op::PutHallDelta {
                hall,
                json,
                calls: calls(n),
                keep,
            }
        }),
        (
            hall.clone(),
            0u8..4,
            items(1, "s"),
            items(2, "w"),
            0u8..4,
            0u8..5
        )
            .prop_map(move |(hall, n, services, windows, c, keep)| Op::PatchHall {
                hall,
                patch: HallPatch {
                    head: format!("{{\"n\":{n}}}"),
                    services,
                    windows,
                },
                calls: calls(c),
                keep,
            }),
        (hall.clone(), day.clone(), json.clone()).prop_map(|(hall, day, json)| Op::PutTicket {
            hall,
            id: format!("{day}-A1"),
            json
        }),
        (hall.clone(), day).prop_map(|(hall, before)| Op::PurgeTickets {
            hall,
            before: before.into()
        }),
        (prop_oneof![Just("k1"), Just("k2")], -1i64..2, json.clone()).prop_map(
            |(key, expires_s, json)| Op::PutIdempotent {
                scope: "s".into(),
                key: key.into(),
                expires_s,
                json
            }
        ),
        (id.clone(), 0u8..4).prop_map(|(id, n)| Op::PutCase {
            json: case(&id, n),
            id
        }),
        (id, 4u8..8).prop_map(|(id, n)| Op::CloseCase {
            json: case(&id, n),
            id
        }),
        (prop_oneof![Just("x"), Just("y")], 0u64..5).prop_map(|(name, seq)| Op::PutConsumer {
            name: name.into(),
            seq,
            owner: "t".into()
        }),
        prop_oneof![Just("x"), Just("y")].prop_map(|name| Op::LogRewind {
            name: name.into(),
            json: rewind()
        }),
        json.clone().prop_map(|_| Op::PutCalendar {
            id: "cn".into(),
            toml: "x = 1".into()
        }),
        (hall.clone(), json.clone()).prop_map(|(hall, json)| Op::PutStats {
            hall,
            day: "d1".into(),
            json
        }),
        (
            hall.clone(),
            prop_oneof![Just("b1"), Just("b2")],
            proptest::option::of(json.clone())
        )
            .prop_map(|(hall, code, json)| Op::PutBooking {
                hall,
                code: code.into(),
                json
            }),
        (
            prop_oneof![Just("n1"), Just("n2")],
            proptest::option::of(json.clone())
        )
            .prop_map(|(id, json)| Op::PutNotification {
                id: id.into(),
                json
            }),
        (
            hall.clone(),
            prop_oneof![Just("n1"), Just("n3")],
            proptest::option::of(json)
        )
            .prop_map(|(share, id, json)| Op::PutOutbox {
                share,
                id: id.into(),
                json
            }),
        (hall.clone(), any::<bool>()).prop_map(|(hall, on_time)| Op::CountCase {
            hall,
            day: "d1".into(),
            on_time
        }),
        (hall, 0u64..4).prop_map(|(hall, id)| Op::PutApplied { hall, id }),
    ]
}

/// Records of ops, after one that writes both halls' records (the patches build on them).
fn records() -> impl Strategy<Value = Vec<Vec<Op>>> {
    let first = ["a", "b"].map(|hall| Op::PutHallDelta {
        hall: Arc::from(hall),
        json: br#"{"n":9,"services":[{"s":9}],"windows":[{"w":9},{"w":9}]}"#.to_vec(),
        calls: vec![],
        keep: 0,
    });
    proptest::collection::vec(proptest::collection::vec(op(), 0..6), 1..12).prop_map(
        move |mut records| {
            records.insert(0, first.iter().map(copy).collect());
            records
        },
    )
}

/// Entries of the records, each also carrying `events` events over `streams` in turn, each
/// stream numbered on.
fn entries(records: Vec<Vec<Op>>, events: u64, streams: &[&str]) -> Vec<Entry> {
    let mut seqs = vec![0; streams.len()];
    let mut next = 0;
    records
        .into_iter()
        .enumerate()
        .map(|(i, ops)| Entry {
            lsn: i as u64 + 1,
            ops,
            events: (0..events)
                .map(|_| {
                    let s = next % streams.len();
                    next += 1;
                    seqs[s] += 1;
                    let seq = seqs[s];
                    Published {
                        stream: Arc::from(streams[s]),
                        seq,
                        kind: "alarm",
                        json: format!("{{\"seq\":{seq}}}"),
                        hall: None,
                    }
                })
                .collect(),
        })
        .collect()
}

fn fresh() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &config()).unwrap();
    (dir, store)
}

fn materialise(store: &Store, entries: &[&Entry]) {
    materialise_keeping(store, entries, config().event_retention);
}

/// One checkpoint of `entries`, keeping `retention` events per stream.
fn materialise_keeping(store: &Store, entries: &[&Entry], retention: u64) {
    materialise_with(store, entries, retention, &mut Default::default());
}

/// One checkpoint of `entries` with the hall rows the checkpointer remembers (`rows`), as
/// the checkpointer thread runs them one after the other.
fn materialise_with(
    store: &Store,
    entries: &[&Entry],
    retention: u64,
    rows: &mut super::hall_delta::StoredRows,
) {
    let db = store.slot.get().unwrap();
    let tx = db.begin_write().unwrap();
    checkpoint::materialise(&tx, entries, retention, rows).unwrap();
    tx.commit().unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_coalesced_checkpoint_equals_the_records_applied_one_by_one(
        records in records(), events in 0u64..40,
    ) {
        let entries = entries(records, events, &STREAMS);
        let (_a, one_by_one) = fresh();
        for e in &entries {
            materialise(&one_by_one, &[e]);
        }
        let (_b, at_once) = fresh();
        materialise(&at_once, &entries.iter().collect::<Vec<_>>());
        let at_once = dump(&at_once.slot.get().unwrap());
        prop_assert_eq!(dump(&one_by_one.slot.get().unwrap()), at_once.clone());
        // The same with the rows the checkpointer remembers between checkpoints, as its
        // thread runs them: read from the cache, never from the table.
        let (_c, cached) = fresh();
        let mut rows = Default::default();
        for e in &entries {
            materialise_with(&cached, &[e], config().event_retention, &mut rows);
        }
        prop_assert_eq!(dump(&cached.slot.get().unwrap()), at_once);
    }

    /// The tables hold the records up to `split`; the tail those after `trimmed` (up to
    /// `split`: a checkpoint committed whose entries are not dropped yet, which a read must
    /// not apply twice), as a checkpoint to `trimmed` and then one to `split` leave them.
    #[test]
    fn reads_over_the_tail_equal_reads_after_the_checkpoint(
        records in records(), events in 0u64..40, split in 0usize..12, trimmed in 0usize..12,
    ) {
        let entries = entries(records, events, &STREAMS);
        let split = split.min(entries.len());
        let trimmed = trimmed.min(split);
        let (_d, store) = fresh();
        for e in &entries {
            let ops = e.ops.iter().map(copy).collect();
            let e = Entry { lsn: e.lsn, ops, events: e.events.clone() };
            store.slot.tail_mut().push(Arc::new(e));
        }
        materialise(&store, &entries[..trimmed].iter().collect::<Vec<_>>());
        store.slot.tail_mut().trim(trimmed as u64);
        materialise(&store, &entries[trimmed..split].iter().collect::<Vec<_>>());
        let rest = &entries[split..];
        let before = reads(&store);
        materialise(&store, &rest.iter().collect::<Vec<_>>());
        store.slot.tail_mut().trim(split as u64);
        prop_assert_eq!(&before, &reads(&store), "the rest checkpointed, not yet dropped");
        store.slot.tail_mut().trim(u64::MAX);
        prop_assert_eq!(before, reads(&store));
    }

    /// As the daemon runs: each record is pushed, a checkpoint sometimes materialises what
    /// the tail holds and the tail is trimmed then or at the next step (a checkpoint
    /// committed, its entries not dropped yet), and records go on being pushed after. At
    /// every step the reads equal those of a store that checkpointed each record at once.
    #[test]
    fn reads_as_records_come_and_checkpoints_go_equal_those_of_a_checkpointed_store(
        records in records(), events in 0u64..10,
        checkpoints in proptest::collection::vec((any::<bool>(), any::<bool>()), 12),
    ) {
        let entries = entries(records, events, &STREAMS);
        let (_d, store) = fresh();
        let (_r, checkpointed) = fresh();
        // Entries up to `done` are in the tables; the tail was trimmed up to `dropped`.
        let (mut done, mut dropped) = (0, 0);
        for (e, (checkpoint, drop_now)) in entries.iter().zip(checkpoints) {
            let ops = e.ops.iter().map(copy).collect();
            let copied = Entry { lsn: e.lsn, ops, events: e.events.clone() };
            store.slot.tail_mut().push(Arc::new(copied));
            materialise(&checkpointed, &[e]);
            if dropped < done {
                store.slot.tail_mut().trim(done as u64);
                dropped = done;
            }
            if checkpoint {
                materialise(&store, &entries[done..e.lsn as usize].iter().collect::<Vec<_>>());
                done = e.lsn as usize;
                if drop_now {
                    store.slot.tail_mut().trim(done as u64);
                    dropped = done;
                }
            }
            prop_assert_eq!(reads(&store), reads(&checkpointed), "after lsn {}", e.lsn);
        }
    }
}

/// The tail's indexes against known answers, in the three states a read can meet: entries
/// both checkpointed and still in the tail (the checkpoint committed, the tail not trimmed
/// yet), then trimmed, then everything checkpointed.
#[test]
fn reads_find_cases_events_and_cursors_in_the_tail_and_the_tables() {
    let put = |id: &str, fired| Op::PutCase {
        id: id.into(),
        json: case(id, fired),
    };
    let close = |id: &str, fired| Op::CloseCase {
        id: id.into(),
        json: case(id, fired),
    };
    let event = |stream: &str, seq| Published {
        stream: Arc::from(stream),
        seq,
        kind: "alarm",
        json: format!("{{\"seq\":{seq}}}"),
        hall: None,
    };
    let entry = |lsn, ops, events| Arc::new(Entry { lsn, ops, events });
    let entries = [
        // c1 opened and closed, only ever in the tables.
        entry(
            1,
            vec![put("c1", 1), close("c1", 2), put("c2", 1)],
            (1..=3)
                .map(|n| event(ALARMS, n))
                .chain([event("a", 1)])
                .collect(),
        ),
        entry(2, vec![put("c2", 2), put("c4", 1)], vec![event(ALARMS, 4)]),
        // c2 closed in the tail while the tables hold it open; c3 opened and closed in it.
        entry(
            3,
            vec![close("c2", 3), put("c3", 1), put("c4", 2)],
            vec![event(ALARMS, 5), event("a", 2), event(ALARMS, 6)],
        ),
        entry(
            4,
            vec![
                close("c3", 2),
                Op::PutConsumer {
                    name: "x".into(),
                    seq: 5,
                    owner: "t".into(),
                },
            ],
            vec![event("a", 3)],
        ),
    ];
    let fired = |r: Option<crate::deadline::CaseRecord>| r.map(|r| r.fired);
    let check = |store: &Store, state: &str| {
        let page = |stream: &str, after, limit| {
            let page = store.read_events(stream, after, limit).unwrap();
            let seqs: Vec<u64> = page.events.iter().map(|e| e.0).collect();
            (page.first_retained, page.last_retained, seqs)
        };
        assert_eq!(fired(store.closed_case("c1").unwrap()), Some(2), "{state}");
        assert_eq!(fired(store.open_case("c1").unwrap()), None, "{state}");
        assert_eq!(fired(store.closed_case("c2").unwrap()), Some(3), "{state}");
        assert_eq!(fired(store.open_case("c2").unwrap()), None, "{state}");
        assert_eq!(fired(store.closed_case("c3").unwrap()), Some(2), "{state}");
        assert_eq!(fired(store.open_case("c3").unwrap()), None, "{state}");
        assert_eq!(fired(store.open_case("c4").unwrap()), Some(2), "{state}");
        assert_eq!(fired(store.closed_case("c4").unwrap()), None, "{state}");
        assert_eq!(fired(store.closed_case("c9").unwrap()), None, "{state}");
        assert_eq!(store.consumer("x").unwrap(), Some(5), "{state}");
        let all = (Some(1), Some(6), (1..=6).collect());
        assert_eq!(page(ALARMS, 0, 100), all, "{state}");
        assert_eq!(
            page(ALARMS, 4, 100),
            (Some(1), Some(6), vec![5, 6]),
            "{state}"
        );
        assert_eq!(
            page(ALARMS, 3, 2),
            (Some(1), Some(6), vec![4, 5]),
            "{state}"
        );
        assert_eq!(
            page(ALARMS, 1, 2),
            (Some(1), Some(6), vec![2, 3]),
            "{state}"
        );
        assert_eq!(page(ALARMS, 6, 100), (Some(1), Some(6), vec![]), "{state}");
        assert_eq!(page("a", 1, 100), (Some(1), Some(3), vec![2, 3]), "{state}");
        assert_eq!(page("a", 0, 0), (Some(1), Some(3), vec![]), "{state}");
        assert_eq!(page("b", 0, 100), (None, None, vec![]), "{state}");
        assert_eq!(store.head(ALARMS).unwrap(), 6, "{state}");
        assert_eq!(store.head("a").unwrap(), 3, "{state}");
    };
    let (_d, store) = fresh();
    materialise(&store, &[&entries[0], &entries[1]]);
    for e in &entries[1..] {
        store.slot.tail_mut().push(e.clone());
    }
    check(&store, "checkpointed to 2, the tail from 2");
    store.slot.tail_mut().trim(2);
    check(&store, "checkpointed to 2, the tail from 3");
    materialise(&store, &[&entries[2], &entries[3]]);
    store.slot.tail_mut().trim(4);
    check(&store, "all checkpointed");
}

/// Ops are not `Clone` (the writer moves them); a test copies through the log's encoding.
pub(super) fn copy(op: &Op) -> Op {
    let mut raw = Vec::new();
    log::encode(std::iter::once(op), std::iter::empty(), &mut raw);
    log::decode(&raw).unwrap().ops.remove(0)
}

struct Nobody;
impl super::Publish for Nobody {
    fn publish(&self, _: &[Published]) {}
}

#[test]
fn opening_a_store_replays_the_log_no_checkpoint_covered() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &config()).unwrap();
    let db = store.slot.get().unwrap();
    let tx = db.begin_write().unwrap();
    for (lsn, ops) in [
        (
            1u64,
            vec![Op::PutConsumer {
                name: "x".into(),
                seq: 4,
                owner: "t".into(),
            }],
        ),
        (
            2,
            vec![Op::CountCase {
                hall: "a".into(),
                day: "d1".into(),
                on_time: true,
            }],
        ),
        (
            3,
            vec![Op::CountCase {
                hall: "a".into(),
                day: "d1".into(),
                on_time: false,
            }],
        ),
    ] {
        let mut raw = Vec::new();
        log::encode(ops.iter(), std::iter::empty(), &mut raw);
        tx.open_table(LOG)
            .unwrap()
            .insert(lsn, raw.as_slice())
            .unwrap();
    }
    tx.commit().unwrap();
    drop(db);
    drop(store);
    let store = Store::open(dir.path(), &config()).unwrap();
    assert_eq!(store.consumer("x").unwrap(), Some(4));
    assert_eq!(store.case_stats("a", "d1").unwrap(), (1, 1));
    let db = store.slot.get().unwrap();
    let read = db.begin_read().unwrap();
    assert!(
        read.open_table(LOG).unwrap().first().unwrap().is_none(),
        "the replayed log is trimmed"
    );
    drop(read);
    drop(db);
    drop(store);
    let store = Store::open(dir.path(), &config()).unwrap();
    assert_eq!(
        store.case_stats("a", "d1").unwrap(),
        (1, 1),
        "replayed once"
    );
}

#[test]
fn a_damaged_log_record_stops_the_open_with_its_number() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &config()).unwrap();
    let db = store.slot.get().unwrap();
    let tx = db.begin_write().unwrap();
    tx.open_table(LOG)
        .unwrap()
        .insert(7, [1u8, 200, 200, 200].as_slice())
        .unwrap();
    tx.commit().unwrap();
    drop(db);
    drop(store);
    let e = Store::open(dir.path(), &config()).err().expect("refused");
    assert!(e.to_string().contains("log record 7"), "{e}");
}

#[test]
fn the_writer_numbers_alarms_on_across_checkpoints_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let send = |store: &Store, n: usize| {
        let writer = store.start_writer(
            &config(),
            Arc::new(Nobody),
            Arc::new(crate::clock::SystemClock),
        );
        for _ in 0..n {
            let (tx, rx) = crossbeam::channel::bounded(1);
            let batch = Batch {
                events: vec![Published {
                    stream: Arc::from(ALARMS),
                    seq: 0,
                    kind: "alarm",
                    json: "{}".into(),
                    hall: None,
                }],
                done: vec![Box::new(move |r: Result<(), &StoreError>| {
                    let _ = tx.send(r.is_ok());
                })],
                generation: store.health.generation(),
                ..Batch::default()
            };
            writer.sender().send(batch).unwrap();
            assert!(rx.recv().unwrap());
        }
        let page = store.read_events(ALARMS, 0, 10_000).unwrap();
        writer.stop();
        page
    };
    let store = Store::open(dir.path(), &config()).unwrap();
    let page = send(&store, 150);
    assert_eq!(page.last_retained, Some(150), "seen before any checkpoint");
    drop(store);
    let store = Store::open(dir.path(), &config()).unwrap();
    let page = send(&store, 30);
    assert_eq!(page.last_retained, Some(180));
    let seqs: Vec<u64> = page.events.iter().map(|e| e.0).collect();
    assert_eq!(
        seqs.windows(2).filter(|w| w[1] != w[0] + 1).count(),
        0,
        "gap-free"
    );
    assert!(
        page.events
            .iter()
            .all(|(seq, _, json)| json.starts_with(&format!("{{\"seq\":{seq}")))
    );
}

/// Records appended to the log's segment files (here four of about 400 KB, across 1 MiB
/// segments) and never checkpointed are replayed when the store opens, once; the segments
/// are then reused, and their stale records never come back.
#[test]
fn opening_a_store_replays_the_segments_after_the_checkpoint_once() {
    let dir = tempfile::tempdir().unwrap();
    let append = |store: &Store, lsns: std::ops::RangeInclusive<u64>| {
        let mut log = super::wal::Appender::new(store.segments.clone());
        for lsn in lsns {
            let ops = [
                Op::PutCalendar {
                    id: format!("c{lsn}"),
                    toml: "x".repeat(400_000),
                },
                Op::CountCase {
                    hall: "a".into(),
                    day: "d1".into(),
                    on_time: lsn % 2 == 1,
                },
            ];
            let mut raw = Vec::new();
            log::encode(ops.iter(), std::iter::empty(), &mut raw);
            log.append(lsn, &raw).unwrap();
        }
    };
    let store = Store::open(dir.path(), &config()).unwrap();
    append(&store, 1..=4);
    drop(store);
    let store = Store::open(dir.path(), &config()).unwrap();
    assert_eq!(store.case_stats("a", "d1").unwrap(), (2, 2));
    assert_eq!(store.calendars().unwrap().len(), 4);
    append(&store, 5..=5);
    drop(store);
    for _ in 0..2 {
        let store = Store::open(dir.path(), &config()).unwrap();
        assert_eq!(
            store.case_stats("a", "d1").unwrap(),
            (3, 2),
            "each record replayed once, none from a reused segment"
        );
    }
}

#[test]
fn a_stream_whose_events_all_come_in_one_checkpoint_is_pruned_to_its_retention() {
    // 150 events of a new stream in one checkpoint, retention 100 (slack 10): the rows
    // before them are none, yet the stream is over its retention and keeps its last 100.
    let (_dir, store) = fresh();
    let entries = entries(vec![vec![]], 150, &[ALARMS]);
    materialise_keeping(&store, &entries.iter().collect::<Vec<_>>(), 100);
    let read = store.slot.get().unwrap().begin_read().unwrap();
    let events = read.open_table(EVENT_CHUNKS).unwrap();
    let seqs: Vec<u64> = event_chunk::page(&events, ALARMS, 0, usize::MAX, u64::MAX)
        .unwrap()
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(seqs, (51..=150).collect::<Vec<_>>());
}

/// A cluster node replaying another's numbering logs seqs again that a checkpoint already
/// holds: a read over the tail finds each seq once, in order, the logged one winning, as the
/// same read does once that entry is checkpointed too.
#[test]
fn events_logged_again_over_checkpointed_ones_read_as_after_their_checkpoint() {
    let event = |seq, text: &str| Published {
        stream: Arc::from("s"),
        seq,
        kind: "alarm",
        json: format!("{{\"seq\":{seq},\"{text}\":1}}"),
        hall: None,
    };
    let first = Entry {
        lsn: 1,
        ops: vec![],
        events: (1..=100).map(|s| event(s, "old")).collect(),
    };
    let again = Arc::new(Entry {
        lsn: 2,
        ops: vec![],
        events: (95..=105).map(|s| event(s, "new")).collect(),
    });
    let (_d, store) = fresh();
    materialise(&store, &[&first]);
    store.slot.tail_mut().push(again.clone());
    let (_c, checkpointed) = fresh();
    materialise(&checkpointed, &[&first, &again]);
    let page = store.read_events("s", 90, 1000).unwrap();
    let seqs: Vec<u64> = page.events.iter().map(|e| e.0).collect();
    assert_eq!(seqs, (91..=105).collect::<Vec<_>>());
    assert!(page.events[5].2.contains("new"), "{:?}", page.events[5]);
    for after in 0..=106 {
        for limit in [1, 3, 50] {
            let over_tail = store.read_events("s", after, limit).unwrap();
            let done = checkpointed.read_events("s", after, limit).unwrap();
            assert_eq!(
                over_tail.events, done.events,
                "after {after}, limit {limit}"
            );
            assert_eq!(
                (over_tail.first_retained, over_tail.last_retained),
                (done.first_retained, done.last_retained),
                "after {after}, limit {limit}"
            );
        }
    }
}
