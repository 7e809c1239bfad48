//! The event chunks against a plain model (a map of seq to event per stream, trimmed to the
//! retention as the checkpoints trim it), and a store and a backup of schema 4 opened by this
//! version.

use std::collections::BTreeMap;

use proptest::prelude::*;
use redb::{ReadableDatabase, ReadableTable};

use super::event_chunk::{self, EVENT_CHUNKS, Event};
use super::{EVENTS, META, SCHEMA, Store};

/// An event's text: long enough, sometimes, to fill a chunk with a few.
fn text(seq: u64, size: usize) -> String {
    format!(r#"{{"seq":{seq},"pad":"{}"}}"#, "x".repeat(size))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn chunks_round_trip(sizes in prop::collection::vec(0usize..3000, 0..40), from in 0u64..1000) {
        let owned: Vec<(u64, String)> = sizes.iter().enumerate()
            .map(|(i, &n)| (from + 2 * i as u64, text(i as u64, n)))
            .collect();
        let events: Vec<Event<'_>> = owned.iter().map(|(s, j)| (*s, "k", j.as_str())).collect();
        let chunks = event_chunk::encode(&events);
        let mut back = Vec::new();
        for (first, raw) in &chunks {
            let (first, raw) = (*first, raw.as_slice());
            let chunk = event_chunk::decode(raw, "s", first).unwrap();
            prop_assert_eq!(chunk.first().map(|e| e.0), Some(first), "keyed by its first");
            prop_assert!(chunk.len() == 1 || raw.len() <= 3_800 + 16, "{} bytes", raw.len());
            back.extend(chunk);
        }
        prop_assert_eq!(back, events);
    }

    /// Checkpoints of rising events over two streams, now and then one that logs seqs again
    /// (a cluster node replaying another's numbering) or logs one seq twice (its last
    /// wins), then every page a resume can ask for.
    #[test]
    fn written_chunks_read_as_the_model(
        checkpoints in prop::collection::vec(
            (
                prop::collection::vec((0u64..3, 0usize..1500), 0..30),
                prop::bool::weighted(0.15),
                0u64..20,
                prop::option::weighted(0.2, any::<prop::sample::Index>()),
                prop::bool::ANY,
            ),
            1..12,
        ),
        retention in 1u64..60,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let db = redb::Database::create(dir.path().join("db")).unwrap();
        let mut models: BTreeMap<&str, BTreeMap<u64, String>> = BTreeMap::new();
        let mut nexts: BTreeMap<&str, u64> = BTreeMap::new();
        for (events, again, back, repeat, second) in checkpoints {
            let stream = if second { "t" } else { "s" };
            let next = nexts.entry(stream).or_insert(1);
            if again {
                *next = next.saturating_sub(back).max(1);
            }
            let mut owned: Vec<(u64, String)> = events.iter().map(|&(gap, size)| {
                let seq = *next + gap;
                *next = seq + 1;
                (seq, text(seq, size))
            }).collect();
            if let Some(at) = repeat.filter(|_| !owned.is_empty()) {
                let seq = owned[at.index(owned.len())].0;
                owned.push((seq, format!(r#"{{"seq":{seq},"twice":1}}"#)));
            }
            let events: Vec<Event<'_>> = owned.iter().map(|(s, j)| (*s, "k", j.as_str())).collect();
            let tx = db.begin_write().unwrap();
            {
                let mut t = tx.open_table(EVENT_CHUNKS).unwrap();
                event_chunk::write(&mut t, stream, &events, retention).unwrap();
            }
            tx.commit().unwrap();
            let model = models.entry(stream).or_default();
            for (seq, json) in owned {
                model.insert(seq, json);
            }
            // The model's pruning: once a tenth over the retention, keep the last `retention`
            // numbers.
            let (first, last) = match (model.keys().next(), model.keys().next_back()) {
                (Some(&f), Some(&l)) => (f, l),
                _ => continue,
            };
            if last - first >= retention + (retention / 10).max(1) {
                model.retain(|&s, _| s > last - retention);
            }
        }
        let tx = db.begin_read().unwrap();
        let t = tx.open_table(EVENT_CHUNKS).unwrap();
        for stream in ["s", "t"] {
            let empty = BTreeMap::new();
            let model = models.get(stream).unwrap_or(&empty);
            let bounds = event_chunk::bounds(&t, stream).unwrap();
            let expected = model.keys().next().map(|&f| (f, *model.keys().next_back().unwrap()));
            prop_assert_eq!(bounds, expected, "{}", stream);
            let last = bounds.map_or(0, |b| b.1);
            for after in 0..=last + 1 {
                for limit in [1, 3, 50] {
                    let page = event_chunk::page(&t, stream, after, limit, last).unwrap();
                    let expected: Vec<(u64, String, String)> = model.range(after + 1..).take(limit)
                        .map(|(s, j)| (*s, "k".to_owned(), j.clone())).collect();
                    prop_assert_eq!(page, expected, "{} after {} limit {}", stream, after, limit);
                }
            }
            let mut seqs = Vec::new();
            for row in t.range((stream, 0)..=(stream, u64::MAX)).unwrap() {
                let (k, v) = row.unwrap();
                let chunk = event_chunk::decode(v.value(), stream, k.value().1).unwrap();
                prop_assert_eq!(chunk.first().map(|e| e.0), Some(k.value().1));
                seqs.extend(chunk.iter().map(|e| e.0));
            }
            prop_assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{:?}", seqs);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Seqs logged again far back inside the stored range (many chunks back, ending before
    /// the stream's last): the events read as the model, and the chunks keyed after the
    /// highest seq logged again are not rewritten.
    #[test]
    fn seqs_logged_again_far_back_rewrite_only_the_chunks_they_reach(
        sizes in prop::collection::vec(100usize..900, 80..200),
        back in 20usize..70,
        len in 1usize..40,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let db = redb::Database::create(dir.path().join("db")).unwrap();
        let last = sizes.len() as u64;
        let owned: Vec<(u64, String)> = sizes.iter().enumerate()
            .map(|(i, &n)| (i as u64 + 1, text(i as u64 + 1, n)))
            .collect();
        let lowest = last - back as u64;
        let highest = (lowest + len as u64 - 1).min(last - 1);
        let again: Vec<(u64, String)> = (lowest..=highest)
            .map(|seq| (seq, format!(r#"{{"again":{seq}}}"#)))
            .collect();
        let chunks = |db: &redb::Database| -> BTreeMap<u64, Vec<u8>> {
            let tx = db.begin_read().unwrap();
            let t = tx.open_table(EVENT_CHUNKS).unwrap();
            t.iter().unwrap().map(|row| {
                let (k, v) = row.unwrap();
                (k.value().1, v.value().to_vec())
            }).collect()
        };
        let mut before = BTreeMap::new();
        for batch in [&owned, &again] {
            let events: Vec<Event<'_>> = batch.iter().map(|(s, j)| (*s, "k", j.as_str())).collect();
            let tx = db.begin_write().unwrap();
            event_chunk::write(&mut tx.open_table(EVENT_CHUNKS).unwrap(), "s", &events, 10_000)
                .unwrap();
            tx.commit().unwrap();
            if before.is_empty() {
                before = chunks(&db);
                let reached = before.range(..=lowest).count();
                prop_assume!(before.len() - reached > 3, "logged again more than a few chunks back");
            }
        }
        let after = chunks(&db);
        for (key, raw) in before.range(highest + 1..) {
            prop_assert!(after.get(key) == Some(raw), "chunk {} rewritten", key);
        }
        let mut model: BTreeMap<u64, String> = owned.into_iter().collect();
        model.extend(again);
        let mut seqs = Vec::new();
        for (key, raw) in &after {
            let chunk = event_chunk::decode(raw, "s", *key).unwrap();
            prop_assert_eq!(chunk.first().map(|e| e.0), Some(*key));
            for (seq, _, json) in chunk {
                prop_assert_eq!(Some(json), model.get(&seq).map(String::as_str));
                seqs.push(seq);
            }
        }
        prop_assert_eq!(seqs, model.keys().copied().collect::<Vec<_>>());
    }
}

/// A store written by the previous version (schema 4: one `events` row per event) opens with
/// its events in chunks, read back as before, and goes on from them.
#[test]
fn a_schema_4_store_opens_with_its_events_moved_into_chunks() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = redb::Database::create(dir.path().join("hallq.redb")).unwrap();
        let tx = db.begin_write().unwrap();
        tx.open_table(META).unwrap().insert("schema", 4).unwrap();
        {
            let mut t = tx.open_table(EVENTS).unwrap();
            for seq in 5..=300u64 {
                let row = format!("ticket.called\n{}", text(seq, (seq as usize * 37) % 700));
                t.insert(("h1", seq), row.as_bytes()).unwrap();
            }
            t.insert(("h2", 1), b"kiosk\n{}".as_slice()).unwrap();
        }
        tx.commit().unwrap();
    }
    let store = Store::open(dir.path(), &super::tests::config()).unwrap();
    let page = store.read_events("h1", 100, 1000).unwrap();
    assert_eq!(page.first_retained, Some(5));
    assert_eq!(page.last_retained, Some(300));
    let expected: Vec<_> = (101..=300u64)
        .map(|s| {
            (
                s,
                "ticket.called".to_owned(),
                text(s, (s as usize * 37) % 700),
            )
        })
        .collect();
    assert_eq!(page.events, expected);
    assert_eq!(
        store.read_events("h2", 0, 10).unwrap().events,
        vec![(1, "kiosk".to_owned(), "{}".to_owned())]
    );
    let db = store.slot.get().unwrap();
    let tx = db.begin_read().unwrap();
    assert_eq!(
        tx.open_table(META)
            .unwrap()
            .get("schema")
            .unwrap()
            .unwrap()
            .value(),
        SCHEMA
    );
    assert!(
        matches!(
            tx.open_table(EVENTS),
            Err(redb::TableError::TableDoesNotExist(_))
        ),
        "the old table is gone"
    );
    let chunks = tx.open_table(EVENT_CHUNKS).unwrap().iter().unwrap().count();
    assert!(chunks < 296 / 4, "{chunks} chunks for 297 events");
    drop(tx);
    drop(db);
    drop(store);
    // Opened again (now schema 5), nothing moves twice.
    let store = Store::open(dir.path(), &super::tests::config()).unwrap();
    assert_eq!(store.read_events("h1", 0, 1000).unwrap().events.len(), 296);
}

/// A backup taken by the previous version (header schema 4, its `meta` saying 4, its events
/// as frames of table 4, `events`) restores, and the store it makes opens with those events
/// in chunks, read back as they were, and no `events` table left.
#[test]
fn a_schema_4_backup_restores_and_opens_with_its_events_in_chunks() {
    use redb::{TableHandle, Value};
    use sha2::{Digest, Sha256};
    fn frame(out: &mut Vec<u8>, table: u8, key: &[u8], value: &[u8]) {
        out.push(table);
        out.extend((key.len() as u32).to_be_bytes());
        out.extend(key);
        out.extend((value.len() as u32).to_be_bytes());
        out.extend(value);
    }
    let row = |seq: u64| format!("ticket.called\n{}", text(seq, (seq as usize * 53) % 900));
    let mut file = b"HALLQ-BACKUP 1\n".to_vec();
    file.extend(4u64.to_be_bytes());
    frame(&mut file, 1, b"schema", &<u64 as Value>::as_bytes(&4));
    for seq in 1..=120u64 {
        let key = <(&str, u64) as Value>::as_bytes(&("h1", seq));
        frame(&mut file, 4, key.as_ref(), row(seq).as_bytes());
    }
    let key = <(&str, u64) as Value>::as_bytes(&("h2", 7));
    frame(&mut file, 4, key.as_ref(), b"kiosk\n{}");
    file.push(0);
    let digest = Sha256::digest(&file);
    file.extend(digest.as_slice());
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("old.backup");
    std::fs::write(&backup, &file).unwrap();
    let data = dir.path().join("data");
    crate::backup::restore(&backup, &data).unwrap();

    let store = Store::open(&data, &super::tests::config()).unwrap();
    let page = store.read_events("h1", 0, 1000).unwrap();
    assert_eq!(
        (page.first_retained, page.last_retained),
        (Some(1), Some(120))
    );
    let expected: Vec<(u64, String, String)> = (1..=120u64)
        .map(|seq| {
            let row = row(seq);
            let (kind, json) = row.split_once('\n').unwrap();
            (seq, kind.to_owned(), json.to_owned())
        })
        .collect();
    assert_eq!(page.events, expected);
    assert_eq!(
        store.read_events("h2", 0, 10).unwrap().events,
        vec![(7, "kiosk".to_owned(), "{}".to_owned())]
    );
    drop(store);
    let db = redb::Database::open(data.join("hallq.redb")).unwrap();
    let tx = db.begin_read().unwrap();
    let tables: Vec<String> = tx
        .list_tables()
        .unwrap()
        .map(|t| t.name().to_owned())
        .collect();
    assert!(
        tables.iter().any(|t| t == EVENT_CHUNKS.name()),
        "{tables:?}"
    );
    assert!(!tables.iter().any(|t| t == EVENTS.name()), "{tables:?}");
    let schema = tx
        .open_table(META)
        .unwrap()
        .get("schema")
        .unwrap()
        .unwrap()
        .value();
    assert_eq!(schema, SCHEMA);
}
