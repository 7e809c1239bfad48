//! Hierarchical timing wheel: the in-memory index of every pending deadline (case limits,
//! alarm thresholds, ticket wait targets, call time-outs).
//!
//! The wheel owns the schedule, never the truth: the store holds every deadline and the wheel
//! is rebuilt from it at start, so nothing here is persisted. It never reads the clock; time
//! comes in as `now`, in whole seconds (`u64`, the caller converts from Unix seconds).
//!
//! # Shape
//!
//! Eleven levels of 64 slots. A slot at level `L` covers `64^L` seconds; an entry sits at the
//! level of the highest base-64 digit in which its due second differs from the wheel position
//! `elapsed`, in the slot named by that digit. 11 × 6 = 66 bits cover the whole `u64` range, so
//! the bound is `u64` itself: there is no overflow list, a deadline decades (or `u64::MAX`
//! seconds) ahead is placed directly. The levels above the fourth are only ever touched by
//! such far deadlines; an empty level costs one bitmap word and 64 empty `Vec` headers.
//!
//! Slots are `Vec<u32>` of entry indices, not intrusive linked lists: moving a slot down a level
//! (a cascade) then reads indices sequentially and the entry loads are independent, so the CPU
//! overlaps the cache misses instead of chasing one pointer at a time. At 10 million deadlines
//! that is the difference between a cascade costing one DRAM latency per entry and a fraction
//! of one. Each entry records its position in its slot so that cancel is a `swap_remove`.
//!
//! # Invariants
//!
//! 1. Placement: an entry with `due >= elapsed` sits in `slot_for(elapsed, due)`; an entry with
//!    `due < elapsed` sits in `late`. Because of this, an entry's slot is recomputed from its due
//!    second instead of being stored.
//! 2. Consequently at level `L >= 1` no occupied slot has an index `<=` the digit `L` of
//!    `elapsed`, and at level 0 none has an index `<` it. Every entry at level `L` is due after
//!    every entry at a level below `L`, so the earliest slot is found with two `trailing_zeros`.
//! 3. `occupied[L]` bit `s` is set iff slot `(L, s)` is non-empty; `levels` bit `L` is set iff
//!    `occupied[L] != 0`.
//! 4. `entries[i]` is `Occupied { pos, .. }` iff `i` is at index `pos` of exactly one slot or of
//!    `late`; it is `Vacant` iff `i` is in `free`. A key is live iff its generation matches.
//! 5. `elapsed <= now + 1`: every entry due at or before `now` has fired, except those still in
//!    `late` and those of the slot being drained by an unfinished run of `poll` calls.
//!
//! # Cost of each operation
//!
//! | operation | cost |
//! |---|---|
//! | `insert`, `cancel`, `reschedule`, `get`, `get_mut` | O(1) |
//! | `next_expiry` | O(1): two `trailing_zeros` |
//! | `poll`, `advance` | O(1) amortized per expired entry: an entry is moved once per level it starts above level 0 (three moves for a deadline 90 days out), empty slots are skipped through the bitmaps, so a jump of years costs no more than a jump of a second |
//! | entries inserted at or before `now` | O(k log k) once, when `k` of them fire in due order |
//!
//! Memory: one `Entry<T>` per slab slot (24 bytes for `T = u64`: the generation's niche holds
//! the vacant/occupied tag) plus a 4-byte index in a slot `Vec`. Slots keep their buffer
//! after a drain only up to [`RETAINED_SLOT_CAPACITY`], so memory follows the pending count,
//! not the historical peak of each of the 704 slots.

use std::cmp::Reverse;
use std::fmt;
use std::mem;
use std::num::NonZeroU32;

#[cfg(test)]
mod tests;

/// Bits of the due second resolved per level.
const SLOT_BITS: u32 = 6;
/// Slots per level: one bit each in a `u64` occupancy word.
const SLOTS: usize = 1 << SLOT_BITS;
/// `ceil(64 / 6)`: enough levels for every `u64` due second.
const LEVELS: usize = 64_usize.div_ceil(SLOT_BITS as usize);

/// A drained slot keeps its buffer up to this many indices (16 KiB). The low levels refill
/// every minute or hour and reuse it without allocating; a big buffer from a high level is
/// freed, or 704 slots would each hold on to their largest size ever.
pub const RETAINED_SLOT_CAPACITY: usize = 4096;

/// Identifies one scheduled entry. A key goes stale when its entry fires, is cancelled or is
/// rescheduled; the generation makes a stale key miss even after its slab slot is reused
/// (the generation wraps after 2^32 - 1 reuses of one slot, far beyond any daemon's life).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerKey {
    index: u32,
    generation: NonZeroU32,
}

/// One entry handed out by [`TimingWheel::poll`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expired<T> {
    /// The key the entry had; it is stale from now on.
    pub key: TimerKey,
    /// The due second given to `insert` or `reschedule` (not the time it fired).
    pub due: u64,
    pub value: T,
}

/// A slab slot. The `NonZeroU32` generation gives the compiler a niche for the tag, so the
/// enum is no bigger than the occupied payload (24 bytes for `T = u64`).
#[derive(Clone)]
enum Entry<T> {
    Occupied {
        generation: NonZeroU32,
        /// Index of this entry in its slot (or in `late`); updated whenever it moves.
        pos: u32,
        due: u64,
        value: T,
    },
    Vacant {
        /// The generation the next occupant gets; already bumped past the last one.
        generation: NonZeroU32,
    },
}

impl<T> Entry<T> {
    /// Due second of an entry that a slot refers to (invariant 4 makes it occupied).
    fn due(&self) -> u64 {
        match self {
            Entry::Occupied { due, .. } => *due,
            Entry::Vacant { .. } => unreachable!("a slot refers to a vacant entry"),
        }
    }

    fn set_pos(&mut self, new_pos: usize) {
        match self {
            Entry::Occupied { pos, .. } => *pos = new_pos as u32,
            Entry::Vacant { .. } => unreachable!("a slot refers to a vacant entry"),
        }
    }
}

/// Deadlines indexed by due second; see the module documentation for shape and invariants.
#[derive(Clone)]
pub struct TimingWheel<T> {
    /// Slab of entries; keys index it.
    entries: Vec<Entry<T>>,
    /// Vacant slab indices. A stack of its own (not threaded through the entries) so that
    /// taking one does not read a cold entry first: consecutive inserts do not wait on each
    /// other's cache misses.
    free: Vec<u32>,
    /// `LEVELS * SLOTS` slots, level-major.
    slots: Box<[Vec<u32>]>,
    /// Per level, bit `s` set iff slot `s` is non-empty.
    occupied: [u64; LEVELS],
    /// Bit `L` set iff `occupied[L] != 0`.
    levels: u16,
    /// Entries inserted with a due second before `elapsed`: they fire on the next poll.
    late: Vec<u32>,
    /// `late` is sorted by due second, latest first, so `pop` yields the earliest.
    late_sorted: bool,
    /// A lower bound of the due seconds in `late` (exact until a cancel removes the minimum).
    late_min: u64,
    /// The first second whose entries have not all fired: placement is relative to it.
    elapsed: u64,
    /// The latest `now` seen; time never goes backwards.
    now: u64,
    /// Occupied entries.
    len: usize,
}

impl<T> TimingWheel<T> {
    /// An empty wheel whose current time is `now`.
    pub fn new(now: u64) -> Self {
        Self::with_capacity(now, 0)
    }

    /// An empty wheel with room for `capacity` entries before the slab reallocates (the daemon
    /// knows its pending count when it rebuilds the wheel at start).
    pub fn with_capacity(now: u64, capacity: usize) -> Self {
        TimingWheel {
            entries: Vec::with_capacity(capacity),
            free: Vec::new(),
            slots: (0..LEVELS * SLOTS).map(|_| Vec::new()).collect(),
            occupied: [0; LEVELS],
            levels: 0,
            late: Vec::new(),
            late_sorted: true,
            late_min: u64::MAX,
            elapsed: now.saturating_add(1),
            now,
            len: 0,
        }
    }

    /// The wheel's current time: the latest `now` given to `new`, `poll` or `advance`.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Pending entries.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Schedules `value` to fire at second `at`. An `at` at or before the current time is
    /// kept and fires on the next `poll`/`advance`, ahead of everything due later.
    ///
    /// # Panics
    ///
    /// When more than `u32::MAX - 1` entries would be pending at once.
    pub fn insert(&mut self, at: u64, value: T) -> TimerKey {
        let (index, generation) = match self.free.pop() {
            Some(index) => match self.entries[index as usize] {
                Entry::Vacant { generation } => (index, generation),
                Entry::Occupied { .. } => unreachable!("the free list holds an occupied entry"),
            },
            None => {
                let index = u32::try_from(self.entries.len())
                    .ok()
                    .filter(|&i| i < u32::MAX)
                    .expect("timing wheel holds at most u32::MAX - 1 entries");
                self.entries.push(Entry::Vacant {
                    generation: NonZeroU32::MIN,
                });
                (index, NonZeroU32::MIN)
            }
        };
        let pos = self.link(index, at);
        self.entries[index as usize] = Entry::Occupied {
            generation,
            pos,
            due: at,
            value,
        };
        self.len += 1;
        TimerKey { index, generation }
    }

    /// Removes the entry and returns its value; `None` if the key is stale (fired, cancelled,
    /// rescheduled), even when its slab slot has been reused since.
    pub fn cancel(&mut self, key: TimerKey) -> Option<T> {
        let (due, pos) = self.live(key)?;
        self.unlink(key.index, due, pos);
        let next = Entry::Vacant {
            generation: next_generation(key.generation),
        };
        let Entry::Occupied { value, .. } =
            mem::replace(&mut self.entries[key.index as usize], next)
        else {
            unreachable!("live() checked the entry is occupied")
        };
        self.free.push(key.index);
        self.len -= 1;
        Some(value)
    }

    /// Moves a pending entry to fire at `at` instead, keeping its value in place. Returns the
    /// entry's new key; the old key goes stale, so whoever still holds it (a message about
    /// the previous arming) cannot cancel the new one. `None` if `key` is stale.
    pub fn reschedule(&mut self, key: TimerKey, at: u64) -> Option<TimerKey> {
        let (due, pos) = self.live(key)?;
        self.unlink(key.index, due, pos);
        let new_pos = self.link(key.index, at);
        let generation = next_generation(key.generation);
        match &mut self.entries[key.index as usize] {
            Entry::Occupied {
                generation: g,
                pos,
                due,
                ..
            } => {
                *g = generation;
                *pos = new_pos;
                *due = at;
            }
            Entry::Vacant { .. } => unreachable!("live() checked the entry is occupied"),
        }
        Some(TimerKey {
            index: key.index,
            generation,
        })
    }

    /// The value of a pending entry; `None` if the key is stale.
    pub fn get(&self, key: TimerKey) -> Option<&T> {
        match self.entries.get(key.index as usize)? {
            Entry::Occupied {
                generation, value, ..
            } if *generation == key.generation => Some(value),
            _ => None,
        }
    }

    /// The value of a pending entry, to change in place; `None` if the key is stale.
    pub fn get_mut(&mut self, key: TimerKey) -> Option<&mut T> {
        match self.entries.get_mut(key.index as usize)? {
            Entry::Occupied {
                generation, value, ..
            } if *generation == key.generation => Some(value),
            _ => None,
        }
    }

    /// The due second of a pending entry; `None` if the key is stale.
    pub fn due(&self, key: TimerKey) -> Option<u64> {
        self.live(key).map(|(due, _)| due)
    }

    /// When the daemon must next call `advance`: `None` iff the wheel is empty, otherwise
    /// `Some(t)` with these guarantees:
    ///
    /// - `t` is at most the due second of every pending entry, so sleeping until `t` never
    ///   makes a deadline late;
    /// - if an entry due at or before `now()` is pending (inserted in the past, or left by a
    ///   run of `poll` that has not returned `None` yet), `t <= now()`: advance at once;
    /// - otherwise, once `advance` or a `poll` returning `None` has run, `t > now()` and `t` is
    ///   the start of the earliest non-empty slot, which holds the earliest entry. It is exact
    ///   (the earliest due second) when that entry is in the lowest level, i.e. due within the
    ///   wheel's current 64-second block. If not, `t` is the start of the `64^L`-second block
    ///   holding it and `advance(t)` moves it at least one level down, so a daemon that sleeps
    ///   until `t` wakes at most `L` times (3 for 90 days ahead, never more than 10) before
    ///   the entry fires.
    ///
    /// Found through the occupancy bitmaps, never by scanning slots.
    pub fn next_expiry(&self) -> Option<u64> {
        if !self.late.is_empty() {
            return Some(self.late_min);
        }
        self.earliest_slot().map(|(_, _, start)| start)
    }

    /// Takes a pending entry with the smallest due second among those due at or before `now`
    /// (entries of the same second in any order); `None` when nothing more is due. A `now`
    /// smaller than the current time is treated as the current time.
    ///
    /// Unlike `advance`, the caller may insert, cancel or reschedule between calls. The rule
    /// above still holds, so an entry inserted due before the one just taken comes next.
    pub fn poll(&mut self, now: u64) -> Option<Expired<T>> {
        self.now = self.now.max(now);
        let target = self.now;
        if !self.late.is_empty() {
            return Some(self.fire_late());
        }
        loop {
            let Some((level, slot, start)) = self.earliest_slot() else {
                self.elapsed = target.saturating_add(1);
                return None;
            };
            if level == 0 {
                if start > target {
                    self.elapsed = target.saturating_add(1);
                    return None;
                }
                // Invariant 1 allows `elapsed == due` for level 0, so a drained slot stays
                // consistent between calls even if the caller inserts or cancels.
                self.elapsed = start;
                return Some(self.fire_from(slot));
            }
            // Moving `elapsed` onto the start of an occupied slot above level 0 would change
            // where its entries belong (invariant 1), so that slot is cascaded first.
            if start > target.saturating_add(1) {
                self.elapsed = target.saturating_add(1);
                return None;
            }
            self.elapsed = start;
            self.cascade(level * SLOTS + slot);
        }
    }

    /// Fires every entry due at or before `now` through `f(key, due, value)`, in non-decreasing
    /// due order (entries of the same second in any order), none before its due second, each
    /// exactly once. Entries inserted at or before the current time come first, earliest first.
    /// A `now` smaller than the current time is treated as the current time.
    pub fn advance(&mut self, now: u64, mut f: impl FnMut(TimerKey, u64, T)) {
        while let Some(Expired { key, due, value }) = self.poll(now) {
            f(key, due, value);
        }
    }

    /// Position and due second of a live key's entry.
    fn live(&self, key: TimerKey) -> Option<(u64, u32)> {
        match self.entries.get(key.index as usize)? {
            Entry::Occupied {
                generation,
                pos,
                due,
                ..
            } if *generation == key.generation => Some((*due, *pos)),
            _ => None,
        }
    }

    /// Adds `index` to the list its due second belongs in; returns its position there.
    fn link(&mut self, index: u32, due: u64) -> u32 {
        if due < self.elapsed {
            if self.late.is_empty() || due < self.late_min {
                self.late_min = due;
            }
            self.late_sorted = self.late.is_empty();
            self.late.push(index);
            return (self.late.len() - 1) as u32;
        }
        let slot = slot_for(self.elapsed, due);
        let list = &mut self.slots[slot];
        list.push(index);
        let pos = (list.len() - 1) as u32;
        self.mark_occupied(slot);
        pos
    }

    /// Removes `index` from position `pos` of the list its due second belongs in.
    fn unlink(&mut self, index: u32, due: u64, pos: u32) {
        let pos = pos as usize;
        let (list, slot) = if due < self.elapsed {
            // Order is kept only if the removed entry was the last one.
            self.late_sorted &= pos + 1 == self.late.len();
            (&mut self.late, None)
        } else {
            let slot = slot_for(self.elapsed, due);
            (&mut self.slots[slot], Some(slot))
        };
        let removed = list.swap_remove(pos);
        debug_assert_eq!(removed, index, "entry position out of date");
        if let Some(&moved) = list.get(pos) {
            self.entries[moved as usize].set_pos(pos);
        }
        if let Some(slot) = slot
            && list.is_empty()
        {
            self.mark_empty(slot);
        }
    }

    fn mark_occupied(&mut self, slot: usize) {
        let level = slot / SLOTS;
        self.occupied[level] |= 1 << (slot % SLOTS);
        self.levels |= 1 << level;
    }

    fn mark_empty(&mut self, slot: usize) {
        let level = slot / SLOTS;
        self.occupied[level] &= !(1 << (slot % SLOTS));
        if self.occupied[level] == 0 {
            self.levels &= !(1 << level);
        }
    }

    /// Level, slot and start second of the earliest non-empty slot (invariant 2).
    fn earliest_slot(&self) -> Option<(usize, usize, u64)> {
        if self.levels == 0 {
            return None;
        }
        let level = self.levels.trailing_zeros() as usize;
        let slot = self.occupied[level].trailing_zeros() as usize;
        Some((level, slot, slot_start(self.elapsed, level, slot)))
    }

    /// Re-places every entry of `slot` relative to the current `elapsed` (its start): each
    /// lands at a lower level.
    fn cascade(&mut self, slot: usize) {
        let mut list = mem::take(&mut self.slots[slot]);
        self.mark_empty(slot);
        let elapsed = self.elapsed;
        for &index in &list {
            let entry = &mut self.entries[index as usize];
            let to = slot_for(elapsed, entry.due());
            debug_assert!(
                to / SLOTS < slot / SLOTS,
                "a cascade must move entries down"
            );
            let dest = &mut self.slots[to];
            entry.set_pos(dest.len());
            dest.push(index);
            self.occupied[to / SLOTS] |= 1 << (to % SLOTS);
            self.levels |= 1 << (to / SLOTS);
        }
        if list.capacity() <= RETAINED_SLOT_CAPACITY {
            list.clear();
            self.slots[slot] = list;
        }
    }

    /// Fires one entry of the level-0 `slot`, whose second is `elapsed`. Taking from the end
    /// leaves every other entry's position valid, so the caller may act between calls.
    fn fire_from(&mut self, slot: usize) -> Expired<T> {
        let list = &mut self.slots[slot];
        let index = list.pop().expect("earliest_slot() returned an empty slot");
        if list.is_empty() {
            self.mark_empty(slot);
        }
        self.vacate(index)
    }

    /// Fires the earliest of the entries inserted before `elapsed`.
    fn fire_late(&mut self) -> Expired<T> {
        if !self.late_sorted {
            let entries = &self.entries;
            self.late
                .sort_unstable_by_key(|&index| Reverse(entries[index as usize].due()));
            for (pos, &index) in self.late.iter().enumerate() {
                self.entries[index as usize].set_pos(pos);
            }
            self.late_sorted = true;
        }
        let index = self.late.pop().expect("fire_late() on an empty late list");
        if let Some(&next) = self.late.last() {
            self.late_min = self.entries[next as usize].due();
        }
        self.vacate(index)
    }

    /// Turns an unlinked entry vacant and returns what it held.
    fn vacate(&mut self, index: u32) -> Expired<T> {
        let entry = &mut self.entries[index as usize];
        let Entry::Occupied { generation, .. } = *entry else {
            unreachable!("a slot refers to a vacant entry")
        };
        let next = Entry::Vacant {
            generation: next_generation(generation),
        };
        let Entry::Occupied { value, due, .. } = mem::replace(entry, next) else {
            unreachable!("checked occupied above")
        };
        self.free.push(index);
        self.len -= 1;
        Expired {
            key: TimerKey { index, generation },
            due,
            value,
        }
    }
}

impl<T> fmt::Debug for TimingWheel<T> {
    /// A summary: ten million entries are not worth printing.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimingWheel")
            .field("now", &self.now)
            .field("len", &self.len)
            .field("next_expiry", &self.next_expiry())
            .finish_non_exhaustive()
    }
}

fn next_generation(generation: NonZeroU32) -> NonZeroU32 {
    generation.checked_add(1).unwrap_or(NonZeroU32::MIN)
}

/// Level of the highest base-64 digit in which `due` differs from `elapsed` (0 if none).
fn level_for(elapsed: u64, due: u64) -> usize {
    // Or-ing in the low digit makes equal seconds land at level 0 instead of underflowing.
    let masked = (elapsed ^ due) | (SLOTS as u64 - 1);
    let significant = u64::BITS - 1 - masked.leading_zeros();
    (significant / SLOT_BITS) as usize
}

/// Slot (level-major index) of an entry due at `due >= elapsed`.
fn slot_for(elapsed: u64, due: u64) -> usize {
    let level = level_for(elapsed, due);
    let digit = (due >> (level as u32 * SLOT_BITS)) as usize % SLOTS;
    level * SLOTS + digit
}

/// First second covered by `slot` of `level`, given the digits of `elapsed` above `level`.
fn slot_start(elapsed: u64, level: usize, slot: usize) -> u64 {
    let shift = level as u32 * SLOT_BITS;
    let above = elapsed
        .checked_shr(shift + SLOT_BITS)
        .and_then(|high| high.checked_shl(shift + SLOT_BITS))
        .unwrap_or(0);
    above | ((slot as u64) << shift)
}
