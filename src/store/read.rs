//! Reads of the store: the state tables as of the last checkpoint, with the log's tail laid
//! over them, so every read sees all that is durable and nothing that is not.
//!
//! A read never writes and never waits for the writer: a store that refuses writes (a full
//! disk) still answers reads, and the tail is what makes the last commits visible then.

use std::collections::BTreeMap;
use std::sync::Arc;

use redb::{ReadTransaction, ReadableDatabase, ReadableTable};

use super::batch::Op;
use super::event_chunk::{self, EVENT_CHUNKS};
use super::hall_delta::HallWrite;
use super::tail::{CHECKPOINT, Entry, EventAt, OpAt, Tail};
use super::{
    BOOKINGS, CALENDARS, CASE_STATS, CASES, CLOSED_CASES, CONSUMERS, CURSOR_LOG, CURSOR_OWNERS,
    Cursor, EventPage, HALLS, IDEMPOTENCY, META, OUTBOX, Rewind, STATS, Store, StoreError, TICKETS,
    decode_pair,
};
use crate::queue::{HallRecord, TicketRecord};

fn corrupt(what: String) -> impl FnOnce(serde_json::Error) -> StoreError {
    move |source| StoreError::Corrupt { what, source }
}

/// Every op of the entries, oldest first.
pub(super) fn ops(tail: &[Arc<Entry>]) -> impl Iterator<Item = &Op> {
    tail.iter().flat_map(|e| &e.ops)
}

impl super::Slot {
    /// A read transaction, and what `take` takes from the tail given the checkpoint the
    /// transaction sees: only what comes after it, which is all still in the tail (see
    /// `tail`). The tail is locked only meanwhile; `take` must not hold it long.
    pub(super) fn look<T>(
        &self,
        take: impl FnOnce(&Tail, u64) -> T,
    ) -> Result<(ReadTransaction, T), StoreError> {
        let db = self.get()?;
        // Held across `begin_read`: the entries after the checkpoint the transaction sees
        // are all still in the tail.
        let tail = self.tail();
        let tx = db.begin_read()?;
        // A reopen after a failed write waits for every handle; the transaction needs none.
        drop(db);
        let checkpoint = checkpoint_of(&tx)?;
        let taken = take(&tail, checkpoint);
        Ok((tx, taken))
    }

    /// A read transaction and the tail's entries it does not include. A copy of the whole
    /// tail: for the reads off the request path, which scan it; the others use its indexes.
    pub(super) fn view(&self) -> Result<(ReadTransaction, Vec<Arc<Entry>>), StoreError> {
        self.look(|tail, checkpoint| tail.after(checkpoint))
    }

    /// Cluster mode: the id of the last log-of-record row of `hall` this store holds.
    pub(super) fn applied(&self, hall: &str) -> Result<u64, StoreError> {
        let (tx, logged) = self.look(|tail, checkpoint| tail.applied(hall, checkpoint))?;
        if let Some(Op::PutApplied { id, .. }) = logged.as_ref().map(OpAt::op) {
            return Ok(*id);
        }
        let table = tx.open_table(super::replica::APPLIED)?;
        Ok(table.get(hall)?.map_or(0, |v| v.value()))
    }

    /// The last sequence number of `stream`: the tail's, else the materialised events'.
    pub(super) fn head(&self, stream: &str) -> Result<u64, StoreError> {
        let (tx, logged) = self.look(|tail, checkpoint| {
            tail.events(stream, checkpoint, u64::MAX, 0)
                .map(|events| events.last)
        })?;
        if let Some(seq) = logged {
            return Ok(seq);
        }
        let table = tx.open_table(EVENT_CHUNKS)?;
        Ok(event_chunk::bounds(&table, stream)?.map_or(0, |(_, last)| last))
    }
}

/// Log records as a backup holds them: (lsn, record as `log::encode` writes it).
pub(crate) type Logged = Vec<(u64, Vec<u8>)>;

/// The records of the log in a stopped daemon's data directory `data` after the checkpoint
/// `tx` sees.
pub(crate) fn logged_on_disk(
    data: &std::path::Path,
    tx: &ReadTransaction,
) -> Result<Logged, StoreError> {
    let mut out = Vec::new();
    super::segment::read_after(&data.join("log"), checkpoint_of(tx)?, |lsn, raw| {
        out.push((lsn, raw.to_vec()));
        Ok::<_, StoreError>(())
    })?;
    Ok(out)
}

impl Store {
    /// A read transaction and the tail's entries it does not include (see `tail`).
    pub(super) fn view(&self) -> Result<(ReadTransaction, Vec<Arc<Entry>>), StoreError> {
        self.slot.view()
    }

    /// A backup's consistent point: a read transaction, and the log's records after the
    /// checkpoint it sees (from the tail, which holds them until a later checkpoint, so
    /// nothing need hold the log's trimming off while the backup is written).
    pub(crate) fn snapshot(&self) -> Result<(ReadTransaction, Logged), StoreError> {
        let (tx, tail) = self.view()?;
        let logged = tail
            .iter()
            .map(|e| {
                let mut raw = Vec::new();
                super::log::encode(e.ops.iter(), e.events.iter(), &mut raw);
                (e.lsn, raw)
            })
            .collect();
        Ok((tx, logged))
    }

    /// A hall's stored state: its record and the business day's tickets.
    pub fn load_hall(
        &self,
        hall: &str,
    ) -> Result<Option<(HallRecord, Vec<TicketRecord>)>, StoreError> {
        let (tx, tail) = self.view()?;
        let stored = tx.open_table(HALLS)?.get(hall)?.map(|v| v.value().to_vec());
        let mut write = None;
        let mut tickets = BTreeMap::new();
        for row in tx
            .open_table(TICKETS)?
            .range((hall, "")..(hall, "\u{10FFFF}"))?
        {
            let (k, v) = row?;
            tickets.insert(k.value().1.to_owned(), v.value().to_vec());
        }
        for op in ops(&tail) {
            match op {
                Op::PutHall { hall: h, json } if &**h == hall => {
                    write = Some(HallWrite::Whole(json));
                }
                Op::PutHallDelta {
                    hall: h,
                    json,
                    calls,
                    keep,
                } if &**h == hall => write = Some(HallWrite::delta(write, json, calls, *keep)),
                Op::PatchHall {
                    hall: h,
                    patch,
                    calls,
                    keep,
                } if &**h == hall => write = Some(HallWrite::patch(write, patch, calls, *keep)),
                Op::PutTicket { hall: h, id, json } if &**h == hall => {
                    tickets.insert(id.clone(), json.clone());
                }
                Op::PurgeTickets { hall: h, before } if &**h == hall => {
                    tickets.retain(|id, _| id >= before);
                }
                _ => {}
            }
        }
        let raw = match write {
            Some(write) => write.resolve(hall, || Ok(stored))?,
            None => match stored {
                Some(row) => row,
                None => return Ok(None),
            },
        };
        let record: HallRecord =
            serde_json::from_slice(&raw).map_err(corrupt(format!("halls/{hall}")))?;
        let tickets = tickets
            .into_iter()
            .map(|(id, v)| {
                serde_json::from_slice(&v).map_err(corrupt(format!("tickets/{hall}/{id}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Some((record, tickets)))
    }

    /// The stored bookings of `hall`.
    pub fn load_bookings(
        &self,
        hall: &str,
    ) -> Result<Vec<crate::booking::BookingRecord>, StoreError> {
        let (tx, tail) = self.view()?;
        let mut bookings = BTreeMap::new();
        for row in tx
            .open_table(BOOKINGS)?
            .range((hall, "")..(hall, "\u{10FFFF}"))?
        {
            let (k, v) = row?;
            bookings.insert(k.value().1.to_owned(), v.value().to_vec());
        }
        for op in ops(&tail) {
            if let Op::PutBooking {
                hall: h,
                code,
                json,
            } = op
                && &**h == hall
            {
                match json {
                    Some(json) => bookings.insert(code.clone(), json.clone()),
                    None => bookings.remove(code),
                };
            }
        }
        bookings
            .into_iter()
            .map(|(code, v)| {
                serde_json::from_slice(&v).map_err(corrupt(format!("bookings/{hall}/{code}")))
            })
            .collect()
    }

    /// The outbox: every notification not yet delivered (dead letters among them), as stored
    /// (`notify::Notification` JSON), in id order.
    pub fn load_outbox(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let (tx, tail) = self.view()?;
        let mut rows = BTreeMap::new();
        for row in tx.open_table(OUTBOX)?.iter()? {
            let (k, v) = row?;
            rows.insert(k.value().to_owned(), v.value().to_vec());
        }
        for op in ops(&tail) {
            if let Op::PutNotification { id, json } | Op::PutOutbox { id, json, .. } = op {
                match json {
                    Some(json) => rows.insert(id.clone(), json.clone()),
                    None => rows.remove(id),
                };
            }
        }
        Ok(rows.into_iter().collect())
    }

    /// Events of `stream` after `after`, at most `limit`.
    pub fn read_events(
        &self,
        stream: &str,
        after: u64,
        limit: usize,
    ) -> Result<EventPage, StoreError> {
        let (tx, logged) = self
            .slot
            .look(|tail, checkpoint| tail.events(stream, checkpoint, after, limit))?;
        let table = tx.open_table(EVENT_CHUNKS)?;
        let bounds = event_chunk::bounds(&table, stream)?;
        let mut first_retained = bounds.map(|b| b.0);
        let mut last_retained = bounds.map(|b| b.1);
        let mut events = match bounds {
            Some((_, last)) => event_chunk::page(&table, stream, after, limit, last)?,
            None => Vec::new(),
        };
        if let Some(logged) = logged {
            first_retained = Some(first_retained.map_or(logged.first, |f| f.min(logged.first)));
            last_retained = Some(last_retained.map_or(logged.last, |l| l.max(logged.last)));
            let tail = logged.page.iter().map(EventAt::event);
            let above = events.last().map_or(0, |e| e.0);
            let rising = logged
                .page
                .windows(2)
                .all(|w| w[0].event().seq < w[1].event().seq);
            if rising && logged.page.first().is_none_or(|e| e.event().seq > above) {
                // As the writer numbers them: the tail's events come after the table's.
                let room = limit - events.len();
                events.extend(
                    tail.take(room)
                        .map(|e| (e.seq, e.kind.to_owned(), e.json.clone())),
                );
            } else {
                // Seqs logged again (a cluster node replaying another's numbering): each seq
                // once, in order, the tail's newest winning, as after the checkpoint. Both
                // pages are the first `limit` after `after` of their side, so the first
                // `limit` of their union are those of the whole.
                let mut merged: BTreeMap<u64, (String, String)> = events
                    .into_iter()
                    .map(|(seq, kind, json)| (seq, (kind, json)))
                    .collect();
                for e in tail {
                    merged.insert(e.seq, (e.kind.to_owned(), e.json.clone()));
                }
                events = merged
                    .into_iter()
                    .take(limit)
                    .map(|(seq, (kind, json))| (seq, kind, json))
                    .collect();
            }
        }
        Ok(EventPage {
            events,
            first_retained,
            last_retained,
        })
    }

    /// How many open cases the store holds.
    pub fn open_cases(&self) -> Result<usize, StoreError> {
        use redb::ReadableTableMetadata;
        let (tx, tail) = self.view()?;
        let table = tx.open_table(CASES)?;
        let mut n = table.len()? as i64;
        for (id, open) in open_cases_in(&tail) {
            match (table.get(id)?.is_some(), open.is_some()) {
                (false, true) => n += 1,
                (true, false) => n -= 1,
                _ => {}
            }
        }
        Ok(n.max(0) as usize)
    }

    /// Every open case, for recovery: the stored ones in id order, then those the log's tail
    /// changed. Reading, decoding and `prepare` run on a second thread while `each` runs on
    /// this one, so recovery uses two cores.
    pub fn load_cases<T: Send>(
        &self,
        mut prepare: impl FnMut(crate::deadline::CaseRecord) -> T + Send,
        mut each: impl FnMut(T),
    ) -> Result<usize, StoreError> {
        const BATCH: usize = 4096;
        let (read, tail) = self.view()?;
        let changed = open_cases_in(&tail);
        let (tx, rx) = crossbeam::channel::bounded::<Result<Vec<T>, StoreError>>(8);
        std::thread::scope(|scope| {
            let reader = std::thread::Builder::new().name("hallq-load-read".into());
            let changed = &changed;
            let spawned = reader.spawn_scoped(scope, move || {
                let mut decode = || -> Result<(), StoreError> {
                    let table = read.open_table(CASES)?;
                    let mut batch = Vec::with_capacity(BATCH);
                    let rows = table.iter()?.filter(|row| {
                        row.as_ref()
                            .map_or(true, |(k, _)| !changed.contains_key(k.value()))
                    });
                    for row in rows {
                        let (k, v) = row?;
                        batch.push(prepare(
                            super::decode_case(v.value())
                                .map_err(corrupt(format!("cases/{}", k.value())))?,
                        ));
                        if batch.len() == BATCH {
                            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                            if tx.send(Ok(full)).is_err() {
                                return Ok(());
                            }
                        }
                    }
                    for (id, json) in changed {
                        if let Some(json) = json {
                            batch.push(prepare(
                                super::decode_case(json).map_err(corrupt(format!("cases/{id}")))?,
                            ));
                        }
                    }
                    let _ = tx.send(Ok(batch));
                    Ok(())
                };
                if let Err(e) = decode() {
                    let _ = tx.send(Err(e));
                }
            });
            if let Err(e) = spawned {
                return Err(StoreError::Thread(e));
            }
            let mut n = 0;
            for batch in rx {
                for record in batch? {
                    each(record);
                    n += 1;
                }
            }
            Ok(n)
        })
    }

    /// A closed case's last record.
    pub fn closed_case(&self, id: &str) -> Result<Option<crate::deadline::CaseRecord>, StoreError> {
        let (tx, logged) = self
            .slot
            .look(|tail, checkpoint| tail.closed_case(id, checkpoint))?;
        let stored;
        let raw = match logged.as_ref().map(OpAt::op) {
            Some(Op::CloseCase { json, .. }) => Some(json.as_slice()),
            _ => {
                stored = tx.open_table(CLOSED_CASES)?.get(id)?;
                stored.as_ref().map(|v| v.value())
            }
        };
        raw.map(|raw| super::decode_case(raw).map_err(corrupt(format!("closed_cases/{id}"))))
            .transpose()
    }

    /// An open case's stored record.
    pub fn open_case(&self, id: &str) -> Result<Option<crate::deadline::CaseRecord>, StoreError> {
        let (tx, logged) = self
            .slot
            .look(|tail, checkpoint| tail.case(id, checkpoint))?;
        let stored;
        let raw = match logged.as_ref().map(OpAt::op) {
            Some(Op::PutCase { json, .. }) => Some(json.as_slice()),
            Some(_) => None,
            None => {
                stored = tx.open_table(CASES)?.get(id)?;
                stored.as_ref().map(|v| v.value())
            }
        };
        raw.map(|raw| super::decode_case(raw).map_err(corrupt(format!("cases/{id}"))))
            .transpose()
    }

    /// Calendars replaced through the API, as (id, TOML).
    pub fn calendars(&self) -> Result<Vec<(String, String)>, StoreError> {
        let (tx, tail) = self.view()?;
        let mut out = BTreeMap::new();
        for row in tx.open_table(CALENDARS)?.iter()? {
            let (k, v) = row?;
            out.insert(k.value().to_owned(), v.value().to_owned());
        }
        for op in ops(&tail) {
            if let Op::PutCalendar { id, toml } = op {
                out.insert(id.clone(), toml.clone());
            }
        }
        Ok(out.into_iter().collect())
    }

    /// A finished business day's statistics of a hall.
    pub fn day_stats(
        &self,
        hall: &str,
        day: &str,
    ) -> Result<Option<crate::queue::stats::DayStats>, StoreError> {
        let (tx, tail) = self.view()?;
        let logged = ops(&tail).fold(None, |last, op| match op {
            Op::PutStats {
                hall: h,
                day: d,
                json,
            } if &**h == hall && d == day => Some(json),
            _ => last,
        });
        let stored;
        let raw = match logged {
            Some(json) => Some(json.as_slice()),
            None => {
                stored = tx.open_table(STATS)?.get((hall, day))?;
                stored.as_ref().map(|v| v.value())
            }
        };
        raw.map(|raw| serde_json::from_slice(raw).map_err(corrupt(format!("stats/{hall}/{day}"))))
            .transpose()
    }

    /// Cases a hall finished on a day: (on time, overdue).
    pub fn case_stats(&self, hall: &str, day: &str) -> Result<(u64, u64), StoreError> {
        let (tx, tail) = self.view()?;
        let (mut good, mut late) = tx
            .open_table(CASE_STATS)?
            .get((hall, day))?
            .map_or((0, 0), |v| decode_pair(v.value()));
        for op in ops(&tail) {
            if let Op::CountCase {
                hall: h,
                day: d,
                on_time,
            } = op
                && &**h == hall
                && d == day
            {
                if *on_time {
                    good += 1;
                } else {
                    late += 1;
                }
            }
        }
        Ok((good, late))
    }

    /// The last alarm sequence number a consumer acknowledged.
    pub fn consumer(&self, name: &str) -> Result<Option<u64>, StoreError> {
        Ok(self.cursor(name)?.map(|c| c.seq))
    }

    /// A consumer's cursor and its owner.
    pub fn cursor(&self, name: &str) -> Result<Option<Cursor>, StoreError> {
        let (tx, logged) = self
            .slot
            .look(|tail, checkpoint| tail.consumer(name, checkpoint))?;
        if let Some(Op::PutConsumer { seq, owner, .. }) = logged.as_ref().map(OpAt::op) {
            return Ok(Some(Cursor {
                seq: *seq,
                owner: Some(owner.clone()),
            }));
        }
        let Some(seq) = tx.open_table(CONSUMERS)?.get(name)?.map(|v| v.value()) else {
            return Ok(None);
        };
        let owner = tx
            .open_table(CURSOR_OWNERS)?
            .get(name)?
            .map(|v| v.value().to_owned());
        Ok(Some(Cursor { seq, owner }))
    }

    /// Every recorded rewind of a consumer's cursor, oldest first.
    pub fn rewinds(&self, name: &str) -> Result<Vec<Rewind>, StoreError> {
        let (tx, tail) = self.view()?;
        let table = tx.open_table(CURSOR_LOG)?;
        let mut out = Vec::new();
        for row in table.range((name, 0)..=(name, u64::MAX))? {
            let (k, v) = row?;
            out.push(
                serde_json::from_slice(v.value())
                    .map_err(corrupt(format!("cursor_log/{name}/{}", k.value().1)))?,
            );
        }
        for op in ops(&tail) {
            if let Op::LogRewind { name: n, json } = op
                && n == name
            {
                out.push(
                    serde_json::from_slice(json)
                        .map_err(corrupt(format!("cursor_log/{name}/(log)")))?,
                );
            }
        }
        Ok(out)
    }

    /// The last sequence number of a stream's log (0 when empty).
    pub fn head(&self, stream: &str) -> Result<u64, StoreError> {
        Ok(self
            .read_events(stream, u64::MAX, 0)?
            .last_retained
            .unwrap_or(0))
    }

    /// A stored `Idempotency-Key` answer that has not expired. On the request path (a key an
    /// owner no longer caches), so the tail answers from its index, without copying entries.
    pub fn idempotent(
        &self,
        scope: &str,
        key: &str,
        now_s: i64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let (tx, logged) = self
            .slot
            .look(|tail, checkpoint| tail.idempotent(scope, key, checkpoint))?;
        if let Some((expires, json)) = logged {
            return Ok((expires > now_s).then_some(json));
        }
        let table = tx.open_table(IDEMPOTENCY)?;
        Ok(table.get((scope, key))?.and_then(|v| {
            let raw = v.value();
            let expires = i64::from_be_bytes(raw.get(..8)?.try_into().ok()?);
            (expires > now_s).then(|| raw[8..].to_vec())
        }))
    }
}

/// The lsn of the last record the state tables of `tx` hold.
fn checkpoint_of(tx: &ReadTransaction) -> Result<u64, StoreError> {
    Ok(tx
        .open_table(META)?
        .get(CHECKPOINT)?
        .map_or(0, |v| v.value()))
}

/// The open-case table's last word per case in the entries: a record, or `None` (closed).
fn open_cases_in(tail: &[Arc<Entry>]) -> BTreeMap<&str, Option<&[u8]>> {
    let mut out = BTreeMap::new();
    for op in ops(tail) {
        match op {
            Op::PutCase { id, json } => {
                out.insert(id.as_str(), Some(json.as_slice()));
            }
            Op::CloseCase { id, .. } => {
                out.insert(id.as_str(), None);
            }
            _ => {}
        }
    }
    out
}
