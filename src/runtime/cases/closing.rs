//! Closed cases on their way to the closed-case table, so the engine's closed lookup never
//! misses one between the pass that closes it and the commit that stores it.
//!
//! It keeps records only until their batch is durable; it must never decide anything about a
//! case itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::deadline::{CaseRecord, ClosedCases};
use crate::hash::FastMap;
use crate::store::Store;

/// Closed records on their way to the closed-case table (see the module doc).
#[derive(Default)]
pub(super) struct Closing {
    /// Case id → (number of the batch that carries its close, its record).
    pub(super) records: FastMap<String, (u64, CaseRecord)>,
    /// Number of the last batch sent with closes in it.
    pub(super) sent: u64,
    /// Number of the last batch with closes whose commit succeeded, set by that batch's
    /// completion on the writer thread. Batches commit in the order they are sent, so every
    /// batch numbered up to it is in the table too. A failed commit loses every batch not
    /// yet durable; `resync` then drops their records and reloads those cases.
    pub(super) durable: Arc<AtomicU64>,
}

impl Closing {
    /// Let go of the records the closed-case table now has.
    pub(super) fn evict_durable(&mut self) {
        let durable = self.durable.load(Ordering::Acquire);
        if self.records.values().any(|(n, _)| *n <= durable) {
            self.records.retain(|_, (n, _)| *n > durable);
        }
    }
}

/// The engine's view of closed cases: those on their way to the store, then the store's.
pub(super) struct ClosedLookup<'a> {
    pub(super) pending: &'a FastMap<String, (u64, CaseRecord)>,
    pub(super) store: &'a Store,
}

impl ClosedCases for ClosedLookup<'_> {
    fn closed(&self, id: &str) -> Result<Option<CaseRecord>, String> {
        if let Some((_, r)) = self.pending.get(id) {
            return Ok(Some(r.clone()));
        }
        self.store
            .closed_case(id)
            .map_err(|e| format!("the closed-case table cannot be read: {e}"))
    }
}
