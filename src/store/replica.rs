//! What the writer needs of cluster mode, without knowing PostgreSQL: the halls this node
//! holds (`Holdings`, with each lease's fencing epoch) and the log of record it appends to
//! before its own commit (`LogOfRecord`). `cluster` implements both sides.
//!
//! In the embedded single-node mode `Holdings` is never enabled and no log of record is set:
//! every hall is this node's and the writer commits to its own log alone, as before. This module
//! must never block on the network itself; the log of record does that, on the writer thread.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redb::TableDefinition;

use std::sync::Arc;

use super::batch::{Batch, Op};
use super::{StoreError, log};

/// hall id → the id of the last log-of-record row whose writes this node's store holds.
/// Logged in the same local record as those writes (`Op::PutApplied`), so a node that takes
/// a hall back replays exactly the rows after it.
pub(crate) const APPLIED: TableDefinition<&str, u64> = TableDefinition::new("cluster_applied");

/// The halls this node holds a lease on, each with its epoch and how long the lease is
/// surely still this node's by its own monotonic clock.
#[derive(Debug, Default)]
pub struct Holdings {
    halls: OnceLock<(Instant, Vec<Hold>)>,
}

#[derive(Debug, Default)]
struct Hold {
    /// 0: not held.
    epoch: AtomicU64,
    /// Milliseconds after `Holdings`' base instant until which the lease is ours. Measured
    /// from before the renewal was sent, less a margin, so it ends before the database's.
    until_ms: AtomicU64,
}

/// A hall's holding as this node sees it now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holding {
    /// Single-node mode: every hall is this node's and nothing is fenced.
    Alone,
    /// This node may serve and commit for the hall under `epoch`.
    Held(u64),
    /// Another node's, or nobody's yet, or a lease this node could not renew in time.
    NotHeld,
}

impl Holdings {
    /// Cluster mode: no hall is held until the cluster adopts it.
    pub fn enable(&self, halls: usize) {
        let _ = self.halls.set((
            Instant::now(),
            (0..halls).map(|_| Hold::default()).collect(),
        ));
    }

    pub fn clustered(&self) -> bool {
        self.halls.get().is_some()
    }

    pub fn get(&self, hall: usize) -> Holding {
        let Some((base, holds)) = self.halls.get() else {
            return Holding::Alone;
        };
        let Some(h) = holds.get(hall) else {
            return Holding::NotHeld;
        };
        let epoch = h.epoch.load(Ordering::Acquire);
        let now = base.elapsed().as_millis() as u64;
        if epoch == 0 || h.until_ms.load(Ordering::Acquire) <= now {
            Holding::NotHeld
        } else {
            Holding::Held(epoch)
        }
    }

    /// The hall is this node's under `epoch` until `until` (by the monotonic clock).
    pub fn hold(&self, hall: usize, epoch: u64, until: Instant) {
        if let Some((base, holds)) = self.halls.get()
            && let Some(h) = holds.get(hall)
        {
            let ms = until.saturating_duration_since(*base).as_millis() as u64;
            h.until_ms.store(ms, Ordering::Release);
            h.epoch.store(epoch, Ordering::Release);
        }
    }

    /// The hall is no longer this node's (lost, handed over, or its local state is in doubt).
    pub fn release(&self, hall: usize) {
        if let Some((_, holds)) = self.halls.get()
            && let Some(h) = holds.get(hall)
        {
            h.epoch.store(0, Ordering::Release);
            h.until_ms.store(0, Ordering::Release);
        }
    }

    /// The epoch the hall was last held under, even if the lease ran out meanwhile (0 when it
    /// was released).
    pub fn last_epoch(&self, hall: usize) -> u64 {
        self.halls
            .get()
            .and_then(|(_, holds)| holds.get(hall))
            .map_or(0, |h| h.epoch.load(Ordering::Acquire))
    }

    /// How long until the lease runs out by this node's clock (zero when it has).
    pub fn remaining(&self, hall: usize) -> Duration {
        let Some((base, holds)) = self.halls.get() else {
            return Duration::MAX;
        };
        let until = holds
            .get(hall)
            .map_or(0, |h| h.until_ms.load(Ordering::Acquire));
        Duration::from_millis(until.saturating_sub(base.elapsed().as_millis() as u64))
    }
}

/// One hall's share of a group commit for the log of record.
#[derive(Debug)]
pub struct HallRecord {
    pub hall: usize,
    /// The fencing epoch the writes were made under (the producer's, carried by the batch).
    pub epoch: u64,
    /// The record, encoded as the local log's (`log::encode`).
    pub record: Vec<u8>,
}

/// Where the writer appends each group commit's hall records before its own commit.
pub trait LogOfRecord: Send + Sync {
    /// The position of the hall named `id`, if it is one of the config's.
    fn hall_index(&self, id: &str) -> Option<usize>;
    /// Append the records in one transaction that checks every epoch is still the hall's
    /// lease, this node's and unexpired; answers each hall's new row id, in order. An error
    /// may leave the outcome unknown: the caller then treats the halls' local state as in
    /// doubt (`in_doubt`).
    fn append(&self, records: &[HallRecord]) -> Result<Vec<u64>, String>;
    /// The local state of these halls may differ from the log of record (an append whose
    /// outcome is unknown, or a local commit that failed after the append): stop serving them
    /// until they are adopted again, which replays the log of record.
    fn in_doubt(&self, halls: &[usize]);
    /// The halls this node holds, and under which epochs.
    fn holdings(&self) -> &Holdings;
}

/// Why a batch is refused on its own before a commit: every write it carries is for a hall
/// (or the case engine) this node no longer holds under the epoch the batch was made under
/// (handed over, lost, or adopted again since). Its producer rebuilds that hall from the store
/// when it serves it again, so nothing else depends on the refused writes. `None` when the
/// batch writes for a lease still held, or for nothing leased: it goes to the commit, where
/// the log of record remains the judge.
pub(crate) fn moved(batch: &Batch, record: &dyn LogOfRecord) -> Option<Arc<str>> {
    if batch.fences.is_empty() || batch.replayed.is_some() || !batch.writes() {
        return None;
    }
    let keys = batch
        .ops
        .iter()
        .map(op_hall)
        .chain(batch.events.iter().map(|e| Some(event_hall(&e.stream))));
    let mut stale = None;
    for id in keys {
        let h = record.hall_index(id?)?;
        let epoch = batch.fences.iter().find(|f| f.0 == h)?.1;
        if record.holdings().get(h) == Holding::Held(epoch) {
            return None;
        }
        stale = Some(id?);
    }
    stale.map(Arc::from)
}

/// Take out of `batches` those `moved` refuses and answer them: one hall moving between nodes
/// refuses its own writes (503, retry), not the whole group commit.
pub(super) fn refuse_moved(batches: &mut Vec<Batch>, record: &dyn LogOfRecord) {
    if !batches.iter().any(|b| moved(b, record).is_some()) {
        return;
    }
    for b in std::mem::take(batches) {
        let Some(hall) = moved(&b, record) else {
            batches.push(b);
            continue;
        };
        metrics::counter!(crate::metrics::CLUSTER_FENCED).increment(1);
        let refused = StoreError::Unwritable {
            cause: format!(
                "`{hall}` moved to another cluster node before this change was committed; retry"
            ),
            retry_after_s: 1,
        };
        for done in b.done {
            done(Err(&refused));
        }
    }
}

/// The key of the case engine's share of the log of record, leased like a hall: the cases,
/// their alarms (`@alarms`, `@cases`), the alarm consumers' cursors, calendars replaced
/// through the API and case counts. One node holds it at a time and serves every case.
pub const CASE_ENGINE: &str = super::CASES_STREAM;

/// The hall (or `CASE_ENGINE`) whose log of record an op belongs to, by id.
pub(crate) fn op_hall(op: &Op) -> Option<&str> {
    match op {
        Op::PutHall { hall, .. }
        | Op::PutHallDelta { hall, .. }
        | Op::PatchHall { hall, .. }
        | Op::PutTicket { hall, .. }
        | Op::PurgeTickets { hall, .. }
        | Op::PutStats { hall, .. }
        | Op::PutBooking { hall, .. } => Some(hall),
        // A hall request's key is scoped "hall|token", a case request's "@cases|token"
        // (`api::scope`).
        Op::PutIdempotent { scope, .. } => scope.split_once('|').map(|(h, _)| h),
        // Written by the case thread, under the case engine's lease.
        Op::PutCase { .. }
        | Op::CloseCase { .. }
        | Op::PutConsumer { .. }
        | Op::LogRewind { .. }
        | Op::PutCalendar { .. }
        | Op::CountCase { .. } => Some(CASE_ENGINE),
        // The embedded mode's outbox record: cluster mode writes `PutOutbox` instead.
        Op::PutNotification { .. } => None,
        // An outbox record follows its share: the node that adopts it delivers it, and only
        // the share's holder does (`notify::deliver`).
        Op::PutOutbox { share, .. } => Some(share),
        // This node's own mark of what it holds, not part of any share.
        Op::PutApplied { .. } => None,
    }
}

/// The share an event belongs to: a hall's stream is its hall's; the streams the writer
/// numbers (`@alarms`, `@cases`) are the case engine's.
fn event_hall(stream: &str) -> &str {
    if stream == super::ALARMS {
        CASE_ENGINE
    } else {
        stream
    }
}

/// Cluster mode: append each hall's writes of this commit to the log of record, in one
/// transaction that checks the batches' fencing epochs. Replayed batches only move their
/// hall's mark. Returns the halls appended and the marks to write (`Op::PutApplied`) in the
/// local commit's record; `applied` reads a hall's mark as the store holds it now.
pub(super) fn append(
    applied: impl Fn(&str) -> Result<u64, StoreError>,
    batches: &[Batch],
    generation: u64,
    record: &dyn LogOfRecord,
) -> Result<(Vec<usize>, Vec<Op>), StoreError> {
    use std::collections::BTreeMap;
    type Share<'a> = (Arc<str>, u64, Vec<&'a Op>, Vec<&'a super::Published>);
    let mut marks: BTreeMap<Arc<str>, u64> = BTreeMap::new();
    let mut halls: BTreeMap<usize, Share> = BTreeMap::new();
    let refuse = |cause: String| StoreError::Record { cause };
    for b in batches.iter().filter(|b| b.generation >= generation) {
        if let Some((hall, id)) = &b.replayed {
            let before = match marks.get(hall) {
                Some(&mark) => mark,
                None => applied(hall)?,
            };
            marks.insert(hall.clone(), before.max(*id));
            continue;
        }
        let share =
            |halls: &mut BTreeMap<usize, Share>, id: &str| -> Result<Option<usize>, StoreError> {
                let Some(h) = record.hall_index(id) else {
                    return Ok(None);
                };
                let epoch = b
                    .fences
                    .iter()
                    .find(|f| f.0 == h)
                    .map(|f| f.1)
                    .ok_or_else(|| refuse(format!("hall `{id}`: a write without a lease epoch")))?;
                let entry = halls
                    .entry(h)
                    .or_insert_with(|| (Arc::from(id), epoch, Vec::new(), Vec::new()));
                if entry.1 != epoch {
                    return Err(refuse(format!(
                        "hall `{id}`: writes under epochs {} and {epoch} in one commit",
                        entry.1
                    )));
                }
                Ok(Some(h))
            };
        for op in &b.ops {
            if let Some(id) = op_hall(op)
                && let Some(h) = share(&mut halls, id)?
            {
                halls.get_mut(&h).expect("just added").2.push(op);
            }
        }
        for e in &b.events {
            if let Some(h) = share(&mut halls, event_hall(&e.stream))? {
                halls.get_mut(&h).expect("just added").3.push(e);
            }
        }
    }
    let marked = |marks: BTreeMap<Arc<str>, u64>| -> Vec<Op> {
        marks
            .into_iter()
            .map(|(hall, id)| Op::PutApplied { hall, id })
            .collect()
    };
    if halls.is_empty() {
        return Ok((Vec::new(), marked(marks)));
    }
    let records: Vec<HallRecord> = halls
        .iter()
        .map(|(&hall, (_, epoch, ops, events))| {
            let mut raw = Vec::new();
            log::encode(ops.iter().copied(), events.iter().copied(), &mut raw);
            HallRecord {
                hall,
                epoch: *epoch,
                record: raw,
            }
        })
        .collect();
    let positions: Vec<usize> = halls.keys().copied().collect();
    let started = Instant::now();
    let ids = record.append(&records).map_err(|cause| {
        record.in_doubt(&positions);
        refuse(cause)
    })?;
    metrics::histogram!(crate::metrics::CLUSTER_APPEND_SECONDS)
        .record(started.elapsed().as_secs_f64());
    for ((id, ..), row) in halls.values().zip(ids) {
        marks.insert(id.clone(), row);
    }
    Ok((positions, marked(marks)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three halls and the case engine; this node holds `a` at epoch 2 and the case engine
    /// at epoch 5.
    struct Record(Holdings);

    impl LogOfRecord for Record {
        fn hall_index(&self, id: &str) -> Option<usize> {
            ["a", "b", "c", CASE_ENGINE].iter().position(|h| *h == id)
        }
        fn append(&self, _: &[HallRecord]) -> Result<Vec<u64>, String> {
            unreachable!("not appended here")
        }
        fn in_doubt(&self, _: &[usize]) {}
        fn holdings(&self) -> &Holdings {
            &self.0
        }
    }

    fn ticket(hall: &str) -> Op {
        Op::PutTicket {
            hall: Arc::from(hall),
            id: "t".into(),
            json: Vec::new(),
        }
    }

    fn batch(ops: Vec<Op>, fences: Vec<(usize, u64)>) -> Batch {
        Batch {
            ops,
            fences,
            ..Batch::default()
        }
    }

    #[test]
    fn only_a_batch_wholly_for_a_lease_no_longer_held_is_refused_alone() {
        let holdings = Holdings::default();
        holdings.enable(4);
        let later = Instant::now() + Duration::from_secs(60);
        holdings.hold(0, 2, later);
        holdings.hold(3, 5, later);
        let record = Record(holdings);
        // Held under the batch's epoch: committed.
        assert_eq!(
            moved(&batch(vec![ticket("a")], vec![(0, 2)]), &record),
            None
        );
        // Made under an older epoch of `a`, or for `b` which was handed over: refused alone.
        assert_eq!(
            moved(&batch(vec![ticket("a")], vec![(0, 1)]), &record).as_deref(),
            Some("a")
        );
        assert_eq!(
            moved(&batch(vec![ticket("b")], vec![(1, 3)]), &record).as_deref(),
            Some("b")
        );
        // A case write under the case engine's current epoch, and one under an old one.
        let case = || Op::CountCase {
            hall: Arc::from("a"),
            day: "2026-01-01".into(),
            on_time: true,
        };
        assert_eq!(moved(&batch(vec![case()], vec![(3, 5)]), &record), None);
        assert_eq!(
            moved(&batch(vec![case()], vec![(3, 4)]), &record).as_deref(),
            Some(CASE_ENGINE)
        );
        // Mixed with writes for a hall still held: left to the log of record to judge.
        assert_eq!(
            moved(
                &batch(vec![ticket("b"), ticket("a")], vec![(0, 2), (1, 3)]),
                &record
            ),
            None
        );
        // Released: refused.
        record.0.release(0);
        assert_eq!(
            moved(&batch(vec![ticket("a")], vec![(0, 2)]), &record).as_deref(),
            Some("a")
        );
        // No fences (single-node mode, or nothing leased): never refused here.
        assert_eq!(moved(&batch(vec![ticket("a")], vec![]), &record), None);

        record.0.hold(0, 2, later);
        let (tx, rx) = std::sync::mpsc::channel();
        let mut batches = vec![
            batch(vec![ticket("a")], vec![(0, 2)]),
            batch(vec![ticket("c")], vec![(2, 1)]),
        ];
        batches[1]
            .done
            .push(Box::new(move |r: Result<(), &StoreError>| {
                tx.send(r.map_err(ToString::to_string)).unwrap();
            }));
        refuse_moved(&mut batches, &record);
        assert_eq!(batches.len(), 1, "the batch of a hall held stays");
        let refused = rx.recv().unwrap().unwrap_err();
        assert!(refused.contains("`c` moved"), "{refused}");
    }
}
