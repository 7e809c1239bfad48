//! The materialised events, a stream's consecutive events per row (`EVENT_CHUNKS`): what a
//! checkpoint writes, what a resume and a stream's head read, and the move of the one-row-
//! per-event table of schema 4 and earlier (`EVENTS`) into chunks when such a store opens.
//!
//! One row per event left redb's leaves about half full (a B-tree filled in key order splits
//! its last leaf in the middle) and cost a key and an entry's overhead per event: the events
//! were half of the bytes a checkpoint wrote under the mixed load though their text was a
//! quarter (BENCHMARKS.md, "Events in chunks"). A chunk holds the events of one stream one
//! checkpoint brought, in seq order, up to about a page (`CHUNK_BYTES`), so a page holds
//! about one chunk and a row is written once. The chunks the migration makes, and those a
//! rewrite of seqs logged again merges, span several checkpoints; a stream with a trickle of
//! events gets a small chunk per checkpoint.
//!
//! Invariants: a stream's chunks hold strictly rising seqs, chunk after chunk; a chunk's key
//! is its first event's seq; no chunk is empty. So the chunk holding seq `n`, if any, is the
//! last one keyed at or below `n`.

use std::collections::BTreeMap;

use redb::{ReadableTable, TableDefinition};

use super::{EVENTS, StoreError};

/// (stream, seq of its first event) → the chunk: `FORMAT` then the events as postcard
/// `[(seq, kind, json)]`.
pub(crate) const EVENT_CHUNKS: TableDefinition<(&str, u64), &[u8]> =
    TableDefinition::new("event_chunks");

/// The chunk encoding's tag byte, so another one can come beside it.
const FORMAT: u8 = 1;

/// A chunk is closed once its encoding reaches this (one event bigger than it is a chunk of
/// its own): with the key and the leaf's own bytes, one chunk to a 4 KiB page.
const CHUNK_BYTES: usize = 3_800;

/// One event as a chunk holds it: (seq, kind, json).
pub(crate) type Event<'a> = (u64, &'a str, &'a str);

fn corrupt(stream: &str, first: u64) -> StoreError {
    StoreError::Corrupt {
        what: format!("event_chunks/{stream}/{first}"),
        source: <serde_json::Error as serde::de::Error>::custom("not a chunk of events"),
    }
}

/// Decode a chunk (borrowing its strings from `raw`).
pub(crate) fn decode<'a>(
    raw: &'a [u8],
    stream: &str,
    first: u64,
) -> Result<Vec<Event<'a>>, StoreError> {
    match raw.split_first() {
        Some((&FORMAT, body)) => postcard::from_bytes(body).map_err(|_| corrupt(stream, first)),
        _ => Err(corrupt(stream, first)),
    }
}

/// Split `events` (strictly rising seqs) into chunks: (first seq, encoding).
pub(crate) fn encode(events: &[Event<'_>]) -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut size = 0;
    for (i, (_, kind, json)) in events.iter().enumerate() {
        // An upper bound of the event's postcard size: three varints and the two texts.
        let len = 10 + 5 + kind.len() + 5 + json.len();
        if i > start && size + len > CHUNK_BYTES {
            out.push(encode_one(&events[start..i]));
            start = i;
            size = 0;
        }
        size += len;
    }
    if start < events.len() {
        out.push(encode_one(&events[start..]));
    }
    out
}

fn encode_one(events: &[Event<'_>]) -> (u64, Vec<u8>) {
    // Serializing strings and integers into a Vec cannot fail.
    let raw = postcard::to_extend(events, vec![FORMAT]).expect("encoding a chunk of events");
    (events[0].0, raw)
}

/// The first and last seq of `stream`'s materialised events.
pub(crate) fn bounds(
    table: &impl ReadableTable<(&'static str, u64), &'static [u8]>,
    stream: &str,
) -> Result<Option<(u64, u64)>, StoreError> {
    let mut all = table.range((stream, 0)..=(stream, u64::MAX))?;
    let Some(first) = all.next().transpose()?.map(|(k, _)| k.value().1) else {
        return Ok(None);
    };
    let (key, raw) = match all.next_back().transpose()? {
        Some(row) => row,
        None => table
            .range((stream, first)..=(stream, first))?
            .next()
            .transpose()?
            .ok_or_else(|| corrupt(stream, first))?,
    };
    let at = key.value().1;
    let last = decode(raw.value(), stream, at)?
        .last()
        .map(|e| e.0)
        .ok_or_else(|| corrupt(stream, at))?;
    Ok(Some((first, last)))
}

/// `stream`'s materialised events after `after`, at most `limit`, owned; `last` is the
/// stream's last seq (`bounds`), so a reader caught up with it reads no chunk.
pub(crate) fn page(
    table: &impl ReadableTable<(&'static str, u64), &'static [u8]>,
    stream: &str,
    after: u64,
    limit: usize,
    last: u64,
) -> Result<Vec<(u64, String, String)>, StoreError> {
    if after >= last || limit == 0 {
        return Ok(Vec::new());
    }
    let next = after.saturating_add(1);
    // The chunk that may hold `next`: the last keyed at or below it.
    let from = table
        .range((stream, 0)..=(stream, next))?
        .next_back()
        .transpose()?
        .map_or(next, |(k, _)| k.value().1);
    let mut out = Vec::new();
    for row in table.range((stream, from)..=(stream, u64::MAX))? {
        if out.len() >= limit {
            break;
        }
        let (k, v) = row?;
        let room = limit - out.len();
        let events = decode(v.value(), stream, k.value().1)?;
        out.extend(
            events
                .into_iter()
                .filter(|e| e.0 > after)
                .take(room)
                .map(|(seq, kind, json)| (seq, kind.to_owned(), json.to_owned())),
        );
    }
    Ok(out)
}

/// Write `events` of `stream` (in the order they were logged; a seq logged twice keeps its
/// last) and keep the stream's last `retention` events, pruned once it holds a tenth more
/// (whole chunks, and the one holding the first kept event cut).
pub(crate) fn write(
    t: &mut redb::Table<'_, (&'static str, u64), &'static [u8]>,
    stream: &str,
    events: &[Event<'_>],
    retention: u64,
) -> Result<(), StoreError> {
    let Some(lowest) = events.iter().map(|e| e.0).min() else {
        return Ok(());
    };
    let stored = bounds(t, stream)?;
    let rising = events.windows(2).all(|w| w[0].0 < w[1].0);
    if rising && stored.is_none_or(|(_, last)| last < lowest) {
        for (first, raw) in encode(events) {
            t.insert((stream, first), raw.as_slice())?;
        }
    } else {
        // A seq at or below one already written (a node replaying another's numbering): the
        // chunks that may hold a seq between `lowest` and `highest` are read, merged and
        // written again.
        let highest = events.iter().map(|e| e.0).max().unwrap_or(lowest);
        rewrite(t, stream, events, lowest, highest)?;
    }
    let Some((first, last)) = bounds(t, stream)? else {
        return Ok(());
    };
    let slack = (retention / 10).max(1);
    if last - first >= retention.saturating_add(slack) {
        let keep_from = last + 1 - retention;
        let keys: Vec<u64> = t
            .range((stream, first)..=(stream, keep_from))?
            .map(|row| row.map(|(k, _)| k.value().1))
            .collect::<Result<_, _>>()?;
        // Every chunk before the last of these lies wholly before `keep_from`; the last one
        // may straddle it, and is cut.
        let Some((&straddling, before)) = keys.split_last() else {
            return Ok(());
        };
        for &key in before {
            t.remove((stream, key))?;
        }
        if straddling < keep_from {
            let raw = t
                .remove((stream, straddling))?
                .map(|v| v.value().to_vec())
                .ok_or_else(|| corrupt(stream, straddling))?;
            let kept: Vec<Event<'_>> = decode(&raw, stream, straddling)?
                .into_iter()
                .filter(|e| e.0 >= keep_from)
                .collect();
            for (first, raw) in encode(&kept) {
                t.insert((stream, first), raw.as_slice())?;
            }
        }
    }
    Ok(())
}

/// Merge `events` (seqs `lowest..=highest`) into the chunks keyed from the one that may hold
/// `lowest` to the last keyed at or below `highest`, and write those again. The chunks after
/// them stay as they are: their seqs are all above `highest`, and every merged one is below
/// the key of the next, so the chunks still rise.
fn rewrite(
    t: &mut redb::Table<'_, (&'static str, u64), &'static [u8]>,
    stream: &str,
    events: &[Event<'_>],
    lowest: u64,
    highest: u64,
) -> Result<(), StoreError> {
    let from = t
        .range((stream, 0)..=(stream, lowest))?
        .next_back()
        .transpose()?
        .map_or(lowest, |(k, _)| k.value().1);
    let mut merged: BTreeMap<u64, (String, String)> = BTreeMap::new();
    let mut keys = Vec::new();
    for row in t.range((stream, from)..=(stream, highest))? {
        let (k, v) = row?;
        keys.push(k.value().1);
        for (seq, kind, json) in decode(v.value(), stream, k.value().1)? {
            merged.insert(seq, (kind.to_owned(), json.to_owned()));
        }
    }
    for key in keys {
        t.remove((stream, key))?;
    }
    for &(seq, kind, json) in events {
        merged.insert(seq, (kind.to_owned(), json.to_owned()));
    }
    let all: Vec<Event<'_>> = merged
        .iter()
        .map(|(seq, (kind, json))| (*seq, kind.as_str(), json.as_str()))
        .collect();
    for (first, raw) in encode(&all) {
        t.insert((stream, first), raw.as_slice())?;
    }
    Ok(())
}

/// Move the events of a store of schema 4 or earlier (one row each, `kind\njson`) into
/// chunks, in the transaction that opens it, and drop the old table. Returns how many moved.
pub(crate) fn migrate(tx: &redb::WriteTransaction) -> Result<u64, StoreError> {
    use redb::TableHandle;
    // Opening a table in a write transaction creates it: a fresh store would make `events`
    // only to delete it.
    if !tx.list_tables()?.any(|t| t.name() == EVENTS.name()) {
        return Ok(0);
    }
    tracing::info!("moving the stored events into chunks");
    let mut chunks = tx.open_table(EVENT_CHUNKS)?;
    let mut moved = 0;
    {
        let old = tx.open_table(EVENTS)?;
        let mut stream = String::new();
        let mut run: Vec<(u64, String, String)> = Vec::new();
        let flush = |chunks: &mut redb::Table<'_, (&'static str, u64), &'static [u8]>,
                     stream: &str,
                     run: &mut Vec<(u64, String, String)>|
         -> Result<(), StoreError> {
            let events: Vec<Event<'_>> = run
                .iter()
                .map(|(seq, kind, json)| (*seq, kind.as_str(), json.as_str()))
                .collect();
            for (first, raw) in encode(&events) {
                chunks.insert((stream, first), raw.as_slice())?;
            }
            run.clear();
            Ok(())
        };
        for row in old.iter()? {
            let (k, v) = row?;
            let (s, seq) = k.value();
            if s != stream {
                flush(&mut chunks, &stream, &mut run)?;
                stream = s.to_owned();
            }
            let text = String::from_utf8_lossy(v.value());
            let (kind, json) = text.split_once('\n').unwrap_or(("event", &text));
            run.push((seq, kind.to_owned(), json.to_owned()));
            moved += 1;
        }
        flush(&mut chunks, &stream, &mut run)?;
    }
    tx.delete_table(EVENTS)?;
    tracing::info!(events = moved, "moved the stored events into chunks");
    Ok(moved)
}
