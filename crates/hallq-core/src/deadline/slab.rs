//! The slab's bookkeeping on the engine: every way a case enters or leaves the engine passes
//! here, so the slab, the index (`CaseIndex`), the wheel entry and the gauge counts stay in
//! step. Never counts a deadline or raises an alarm, never reads the clock, never does I/O.

use super::engine::*;

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
        if self
            .case(idx)
            .extra
            .as_ref()
            .is_some_and(|x| x.origin.is_some())
        {
            self.rating.insert(idx);
        }
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
            self.rating.remove(&idx);
            if let Some(key) = c.timer {
                self.wheel.cancel(key);
            }
            self.free.push(idx);
        }
    }
}
