//! The open cases: a slab of `Case`s with its free list, and the index from case id to slab
//! position (`CaseIndex`), which stores each id once.
//!
//! Every way a case enters or leaves the engine passes here, so the slab, the index, the
//! wheel entry and the gauge counts stay in step. Never counts a deadline or raises an alarm,
//! never reads the clock, never does I/O.

use std::hash::BuildHasher;

use hashbrown::HashTable;

use super::engine::*;

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
    fn hash(&self, id: &str) -> u64 {
        self.hasher.hash_one(id)
    }

    fn get(&self, cases: &[Option<Case>], id: &str) -> Option<u32> {
        let id_of = |i: &u32| cases[*i as usize].as_ref().is_some_and(|c| &*c.id == id);
        self.table.find(self.hash(id), id_of).copied()
    }

    /// Index the case at `idx` (already in the slab, not yet indexed).
    fn insert(&mut self, cases: &[Option<Case>], idx: u32) {
        let id = &cases[idx as usize].as_ref().expect("inserted case").id;
        let hasher = &self.hasher;
        let rehash =
            |i: &u32| hasher.hash_one(&*cases[*i as usize].as_ref().expect("indexed case").id);
        self.table.insert_unique(self.hash(id), idx, rehash);
    }

    fn remove(&mut self, id: &str, idx: u32) {
        if let Ok(entry) = self.table.find_entry(self.hash(id), |i| *i == idx) {
            entry.remove();
        }
    }

    fn len(&self) -> usize {
        self.table.len()
    }

    fn reserve(&mut self, cases: &[Option<Case>], more: usize) {
        let hasher = &self.hasher;
        self.table.reserve(more, |i: &u32| {
            hasher.hash_one(&*cases[*i as usize].as_ref().expect("indexed case").id)
        });
    }
}

impl DeadlineEngine {
    /// Make room for `more` cases (recovery knows how many it will restore), so neither the
    /// slab nor the index grows and rehashes while ten million are loaded.
    pub fn reserve(&mut self, more: usize) {
        self.cases.reserve(more);
        self.index.reserve(&self.cases, more);
        self.wheel.reserve(more);
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.len() == 0
    }

    pub(super) fn case(&self, idx: u32) -> &Case {
        self.cases[idx as usize]
            .as_ref()
            .expect("index points at a live case")
    }

    pub(super) fn case_mut(&mut self, idx: u32) -> &mut Case {
        self.cases[idx as usize]
            .as_mut()
            .expect("index points at a live case")
    }

    /// The slab position of the open case `id`.
    pub(super) fn lookup(&self, id: &str) -> Option<u32> {
        self.index.get(&self.cases, id)
    }

    pub(super) fn insert(&mut self, c: Case) -> u32 {
        let idx = match self.free.pop() {
            Some(i) => {
                self.cases[i as usize] = Some(c);
                i
            }
            None => {
                self.cases.push(Some(c));
                (self.cases.len() - 1) as u32
            }
        };
        self.index.insert(&self.cases, idx);
        self.dirty.push(idx);
        idx
    }

    /// Add a case read from the store: no change to persist, but its timer is set.
    pub(super) fn insert_restored(&mut self, c: Case) {
        let idx = self.insert(c);
        self.dirty.pop();
        self.account(idx);
        self.arm(idx);
    }

    /// Drop case `id` from the engine, with its timer and its count in the gauges, and write
    /// no record of it: its last durable record is put back by `reload`.
    pub(crate) fn forget(&mut self, id: &str) {
        let Some(idx) = self.lookup(id) else { return };
        let c = self.case(idx);
        if let Some((hall, level)) = c.counted {
            let policy = self.catalogue.matters[c.matter as usize].policy as u16;
            *self.open_levels.entry((hall, policy, level)).or_default() -= 1;
        }
        self.remove(idx);
    }

    pub(super) fn remove(&mut self, idx: u32) {
        if let Some(c) = self.cases[idx as usize].as_ref() {
            self.index.remove(&c.id, idx);
        }
        if let Some(c) = self.cases[idx as usize].take() {
            if let Some(key) = c.timer {
                self.wheel.cancel(key);
            }
            self.free.push(idx);
        }
    }
}
