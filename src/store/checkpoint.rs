//! The checkpoint: log records materialised into the current-state tables, then trimmed.
//!
//! Writes are coalesced across the records first: a hall record rewritten by every request
//! of the last thousands is written once, a ticket that went from issued to completed is
//! written once, counters are summed. What is left is written in key order, together with the
//! checkpoint's lsn and the removal of the records it covers, in one transaction: after a
//! crash either all of it is there or none, and the log after the stored lsn is what recovery
//! replays (`Store::open`).
//!
//! The result must be exactly what applying the records' ops one by one would give; the
//! coalescing only drops writes a later write of the same key overwrites.

use std::collections::BTreeMap;

use redb::ReadableTable;

use super::batch::Op;
use super::hall_delta::{HallWrite, StoredRows};
use super::log::LOG;
use super::tail::{CHECKPOINT, Entry};
use super::{
    BOOKINGS, CALENDARS, CASE_STATS, CASES, CLOSED_CASES, CONSUMERS, CURSOR_LOG, CURSOR_OWNERS,
    HALLS, IDEMPOTENCY, META, OUTBOX, STATS, StoreError, TICKETS, decode_pair,
};

/// What the state tables get, key by key, from a run of records.
#[derive(Default)]
struct Coalesced<'a> {
    halls: BTreeMap<&'a str, HallWrite<'a>>,
    /// Hall ticket purges, applied before the tickets written after them.
    purges: Vec<(&'a str, &'a str)>,
    tickets: BTreeMap<(&'a str, &'a str), &'a [u8]>,
    idem: BTreeMap<(&'a str, &'a str), (i64, &'a [u8])>,
    /// The open-case table's last word per case: a record, or removed (closed).
    open: BTreeMap<&'a str, Option<&'a [u8]>>,
    closed: BTreeMap<&'a str, &'a [u8]>,
    consumers: BTreeMap<&'a str, (u64, &'a str)>,
    /// Rewinds append to a consumer's log, in order.
    rewinds: Vec<(&'a str, &'a [u8])>,
    calendars: BTreeMap<&'a str, &'a str>,
    stats: BTreeMap<(&'a str, &'a str), &'a [u8]>,
    /// A booking's last word: its record, or removed.
    bookings: BTreeMap<(&'a str, &'a str), Option<&'a [u8]>>,
    /// A notification's last word: its record, or removed (delivered).
    outbox: BTreeMap<&'a str, Option<&'a [u8]>>,
    /// Cases finished per (hall, day): (on time, overdue) to add.
    counts: BTreeMap<(&'a str, &'a str), (u64, u64)>,
    /// Cluster mode: hall → the last log-of-record row held.
    applied: BTreeMap<&'a str, u64>,
    /// stream → (seq, kind\njson) in order.
    events: BTreeMap<&'a str, Vec<(u64, &'a str, &'a str)>>,
}

impl<'a> Coalesced<'a> {
    fn add(&mut self, entry: &'a Entry) {
        for op in &entry.ops {
            match op {
                Op::PutHall { hall, json } => {
                    self.halls.insert(hall, HallWrite::Whole(json));
                }
                Op::PutHallDelta {
                    hall,
                    json,
                    calls,
                    keep,
                } => {
                    let before = self.halls.remove(&**hall);
                    let write = HallWrite::delta(before, json, calls, *keep);
                    self.halls.insert(hall, write);
                }
                Op::PatchHall {
                    hall,
                    patch,
                    calls,
                    keep,
                } => {
                    let before = self.halls.remove(&**hall);
                    let write = HallWrite::patch(before, patch, calls, *keep);
                    self.halls.insert(hall, write);
                }
                Op::PutTicket { hall, id, json } => {
                    self.tickets.insert((hall, id), json);
                }
                Op::PurgeTickets { hall, before } => {
                    let hall: &str = hall;
                    self.tickets
                        .retain(|(h, id), _| *h != hall || *id >= before.as_str());
                    self.purges.push((hall, before));
                }
                Op::PutIdempotent {
                    scope,
                    key,
                    expires_s,
                    json,
                } => {
                    self.idem.insert((scope, key), (*expires_s, json));
                }
                Op::PutCase { id, json } => {
                    self.open.insert(id, Some(json));
                }
                Op::CloseCase { id, json } => {
                    self.open.insert(id, None);
                    self.closed.insert(id, json);
                }
                Op::PutConsumer { name, seq, owner } => {
                    self.consumers.insert(name, (*seq, owner));
                }
                Op::LogRewind { name, json } => self.rewinds.push((name, json)),
                Op::PutCalendar { id, toml } => {
                    self.calendars.insert(id, toml);
                }
                Op::PutStats { hall, day, json } => {
                    self.stats.insert((hall, day), json);
                }
                Op::PutBooking { hall, code, json } => {
                    self.bookings.insert((hall, code), json.as_deref());
                }
                Op::PutNotification { id, json } | Op::PutOutbox { id, json, .. } => {
                    self.outbox.insert(id, json.as_deref());
                }
                Op::PutApplied { hall, id } => {
                    self.applied.insert(hall, *id);
                }
                Op::CountCase { hall, day, on_time } => {
                    let n = self.counts.entry((hall, day)).or_default();
                    if *on_time {
                        n.0 += 1;
                    } else {
                        n.1 += 1;
                    }
                }
            }
        }
        for e in &entry.events {
            self.events
                .entry(&e.stream)
                .or_default()
                .push((e.seq, e.kind, &e.json));
        }
    }
}

/// Materialise `entries` (consecutive, oldest first) into the state tables of `tx`, record
/// the last one's lsn as the checkpoint and remove the log records up to it. Each event
/// stream keeps its last `retention` events (pruned in steps of a tenth, so not every
/// checkpoint prunes). `rows` holds hall rows as stored before `tx` (of some halls, or none)
/// and is brought up to the rows `tx` writes: the caller drops it if `tx` does not commit.
/// Returns the checkpoint's lsn; `None` when there was nothing to do.
pub(crate) fn materialise(
    tx: &redb::WriteTransaction,
    entries: &[impl std::ops::Deref<Target = Entry>],
    retention: u64,
    rows: &mut StoredRows,
) -> Result<Option<u64>, StoreError> {
    let Some(last) = entries.last().map(|e| e.lsn) else {
        return Ok(None);
    };
    let mut c = Coalesced::default();
    for e in entries {
        c.add(e);
    }
    if !c.halls.is_empty() {
        let mut t = tx.open_table(HALLS)?;
        for (k, write) in c.halls {
            let stored = || match rows.remove(k) {
                Some(row) => Ok(Some(row)),
                None => Ok(t.get(k)?.map(|row| row.value().to_vec())),
            };
            let row = write.resolve(k, stored)?;
            t.insert(k, row.as_slice())?;
            rows.insert(k.to_owned(), row);
        }
    }
    if !c.purges.is_empty() || !c.tickets.is_empty() {
        let mut t = tx.open_table(TICKETS)?;
        for (hall, before) in c.purges {
            t.retain_in((hall, "")..(hall, before), |_, _| false)?;
        }
        for (k, v) in c.tickets {
            t.insert(k, v)?;
        }
    }
    if !c.idem.is_empty() {
        let mut t = tx.open_table(IDEMPOTENCY)?;
        let mut v = Vec::new();
        for (k, (expires_s, json)) in c.idem {
            v.clear();
            v.extend_from_slice(&expires_s.to_be_bytes());
            v.extend_from_slice(json);
            t.insert(k, v.as_slice())?;
        }
    }
    if !c.open.is_empty() {
        let mut t = tx.open_table(CASES)?;
        for (id, record) in c.open {
            match record {
                Some(json) => t.insert(id, json)?,
                None => t.remove(id)?,
            };
        }
    }
    if !c.closed.is_empty() {
        let mut t = tx.open_table(CLOSED_CASES)?;
        for (id, json) in c.closed {
            t.insert(id, json)?;
        }
    }
    if !c.consumers.is_empty() {
        let mut seqs = tx.open_table(CONSUMERS)?;
        let mut owners = tx.open_table(CURSOR_OWNERS)?;
        for (name, (seq, owner)) in c.consumers {
            seqs.insert(name, seq)?;
            owners.insert(name, owner)?;
        }
    }
    if !c.rewinds.is_empty() {
        let mut t = tx.open_table(CURSOR_LOG)?;
        for (name, json) in c.rewinds {
            let n = t
                .range((name, 0)..=(name, u64::MAX))?
                .next_back()
                .transpose()?
                .map_or(0, |(k, _)| k.value().1 + 1);
            t.insert((name, n), json)?;
        }
    }
    if !c.calendars.is_empty() {
        let mut t = tx.open_table(CALENDARS)?;
        for (id, toml) in c.calendars {
            t.insert(id, toml)?;
        }
    }
    if !c.stats.is_empty() {
        let mut t = tx.open_table(STATS)?;
        for (k, v) in c.stats {
            t.insert(k, v)?;
        }
    }
    if !c.bookings.is_empty() {
        let mut t = tx.open_table(BOOKINGS)?;
        for (k, json) in c.bookings {
            match json {
                Some(json) => t.insert(k, json)?,
                None => t.remove(k)?,
            };
        }
    }
    if !c.outbox.is_empty() {
        let mut t = tx.open_table(OUTBOX)?;
        for (id, json) in c.outbox {
            match json {
                Some(json) => t.insert(id, json)?,
                None => t.remove(id)?,
            };
        }
    }
    if !c.counts.is_empty() {
        let mut t = tx.open_table(CASE_STATS)?;
        for (k, (good, late)) in c.counts {
            let (g, l) = t.get(k)?.map_or((0, 0), |v| decode_pair(v.value()));
            let mut v = [0u8; 16];
            v[..8].copy_from_slice(&(g + good).to_be_bytes());
            v[8..].copy_from_slice(&(l + late).to_be_bytes());
            t.insert(k, v.as_slice())?;
        }
    }
    if !c.applied.is_empty() {
        let mut t = tx.open_table(super::replica::APPLIED)?;
        for (hall, id) in c.applied {
            t.insert(hall, id)?;
        }
    }
    if !c.events.is_empty() {
        write_events(tx, c.events, retention)?;
    }
    tx.open_table(META)?.insert(CHECKPOINT, last)?;
    tx.open_table(LOG)?.retain_in(..=last, |_, _| false)?;
    Ok(Some(last))
}

fn write_events(
    tx: &redb::WriteTransaction,
    streams: BTreeMap<&str, Vec<(u64, &str, &str)>>,
    retention: u64,
) -> Result<(), StoreError> {
    let mut t = tx.open_table(super::event_chunk::EVENT_CHUNKS)?;
    for (stream, events) in streams {
        super::event_chunk::write(&mut t, stream, &events, retention)?;
    }
    Ok(())
}

/// Replay the log after the last checkpoint into the state tables, durably, before anything
/// is served: first what a store of schema 3 left in its `log` table, then the records of
/// the segment files in `segments` after that. Returns the checkpoint's lsn, after which the
/// log is now empty: every segment may be reused.
pub(crate) fn recover(
    db: &redb::Database,
    cfg: &crate::config::StoreConfig,
    segments: &std::path::Path,
) -> Result<u64, StoreError> {
    let mut tail = super::tail::Tail::load(db)?;
    let from_table = tail.after(0).len();
    super::segment::read_after(segments, tail.last(), |lsn, raw| {
        let record = super::log::decode(raw).map_err(|source| StoreError::Log { lsn, source })?;
        tail.push(std::sync::Arc::new(Entry {
            lsn,
            ops: record.ops,
            events: record.events,
        }));
        Ok::<_, StoreError>(())
    })?;
    let entries = tail.after(0);
    if entries.is_empty() {
        return Ok(tail.last());
    }
    let started = std::time::Instant::now();
    let tx = super::begin_write(db, cfg.quick_repair)?;
    let lsn = materialise(&tx, &entries, cfg.event_retention, &mut StoredRows::new())?;
    tx.commit()?;
    tracing::info!(
        records = entries.len(),
        from_table,
        ms = started.elapsed().as_millis() as u64,
        "replayed the log after the last checkpoint"
    );
    Ok(lsn.unwrap_or(tail.last()))
}
