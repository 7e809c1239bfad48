//! The index from case id to slab position (`CaseIndex`), which stores each id once. It knows
//! the slab only as a slice of `Case`s; the engine's bookkeeping around it is `slab.rs`.
//! Never counts a deadline or raises an alarm, never reads the clock, never does I/O.

use std::hash::BuildHasher;

use hashbrown::HashTable;

use super::case::Case;

/// Open cases by id, without storing the id twice: the table holds slab positions and
/// compares against the id in the slab. At ten million cases a `HashMap<Box<str>, u32>`'s
/// second copy of every id was a sixth of the memory.
#[derive(Default)]
pub(crate) struct CaseIndex {
    table: HashTable<u32>,
    /// foldhash with a per-process seed (hashbrown's default): several times faster than
    /// SipHash on short ids, which recovery hashes ten million of.
    hasher: hashbrown::DefaultHashBuilder,
}

impl CaseIndex {
    pub(super) fn hash(&self, id: &str) -> u64 {
        self.hasher.hash_one(id)
    }

    pub(super) fn get(&self, cases: &[Option<Case>], id: &str) -> Option<u32> {
        let id_of = |i: &u32| cases[*i as usize].as_ref().is_some_and(|c| &*c.id == id);
        self.table.find(self.hash(id), id_of).copied()
    }

    /// Index the case at `idx` (already in the slab, not yet indexed).
    pub(super) fn insert(&mut self, cases: &[Option<Case>], idx: u32) {
        let id = &cases[idx as usize].as_ref().expect("inserted case").id;
        let hasher = &self.hasher;
        let rehash =
            |i: &u32| hasher.hash_one(&*cases[*i as usize].as_ref().expect("indexed case").id);
        self.table.insert_unique(self.hash(id), idx, rehash);
    }

    pub(super) fn remove(&mut self, id: &str, idx: u32) {
        if let Ok(entry) = self.table.find_entry(self.hash(id), |i| *i == idx) {
            entry.remove();
        }
    }

    pub(super) fn len(&self) -> usize {
        self.table.len()
    }

    pub(super) fn reserve(&mut self, cases: &[Option<Case>], more: usize) {
        let hasher = &self.hasher;
        self.table.reserve(more, |i: &u32| {
            hasher.hash_one(&*cases[*i as usize].as_ref().expect("indexed case").id)
        });
    }
}
