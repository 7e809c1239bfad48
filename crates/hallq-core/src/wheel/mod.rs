//! Hierarchical timing wheel: the in-memory index of every pending deadline (case limits,
//! alarm thresholds, ticket wait targets, call time-outs).
//!
//! The wheel owns the schedule, never the truth: the store holds every deadline and the wheel
//! is rebuilt from it at start, so nothing here is persisted. It never reads the clock; time
//! comes in as `now`, in whole seconds (`u64`, the caller converts from Unix seconds).
//!
//! # Shape
//!
//! Six levels of 4096 slots. A slot at level `L` covers `4096^L` seconds; an entry sits at
//! the level of the highest base-4096 digit in which its due second differs from the wheel
//! position `elapsed`, in the slot named by that digit. Occupancy is a bitmap per level (64
//! words) with a summary word over it, so the earliest occupied slot is three
//! `trailing_zeros` away and empty slots are never scanned.
//!
//! Range: 6 × 12 = 72 bits cover the whole `u64`, so the bound is `u64` itself. There is no
//! overflow list; a deadline decades (or `u64::MAX` seconds) ahead is placed directly.
//! Level 0 covers 68 minutes, level 1 194 days, level 2 2,200 years: the case deadlines of
//! the next 60 working days sit at level 1 and move down once before they fire.
//!
//! Why 4096 and not the classic 64 slots per level: at 10 million deadlines every cascade
//! costs a cache miss per entry, and 64-slot levels put a 90-day deadline at level 3, three
//! cascades from firing. With 4096 slots it is one; the expiry benchmark went from ~120 to
//! ~60 ns per entry. The price is 24,576 slot headers (~700 KiB per wheel; there is one).
//!
//! The layout is chosen for 10 million deadlines, where nearly every access to a random entry
//! is a DRAM and TLB miss (~165 ns in the VM of BENCHMARKS.md) and speed is decided by how
//! few of them an operation needs and how many overlap:
//!
//! - An entry (generation, due second, ref position, value: 24 bytes for a `u64` value) is
//!   all that insert and cancel touch besides a slot's tail: one cache miss each.
//! - A slot is a `Vec<u32>` of slab indices ("refs"), not an intrusive list, so that a
//!   cascade or an expiry reads refs sequentially and loads their entries in gathered
//!   batches ([`GATHER`] at a time) whose misses overlap, instead of chasing one cold
//!   pointer per entry.
//! - Cancel leaves its ref in the slot as garbage, recognised later because the entry no
//!   longer points back at that position (invariant 4). Per-slot live counts keep the
//!   occupancy bits, and so `next_expiry`, exact.
//! - The free list carries each vacant slot's next generation, so insert only writes.
//!
//! # Invariants
//!
//! 1. Placement: an entry with `due >= elapsed` has its live ref in `slot_for(elapsed, due)`;
//!    an entry with `due < elapsed` sits in `late`. An entry's slot is computed from its due
//!    second, never stored.
//! 2. Consequently at level `L >= 1` no slot with live refs has an index `<=` the digit `L` of
//!    `elapsed`, and at level 0 none has an index `<` it. Every entry at level `L` is due after
//!    every entry at a level below `L`, so the earliest slot is found through the bitmaps.
//! 3. Each occupied entry has exactly one live ref, at its `pos` in its slot, or sits at `pos`
//!    in `late` (which holds no garbage).
//! 4. A ref at position `p` of slot `s` is live iff its entry is occupied, has `pos == p` and
//!    `slot_for(elapsed, due) == s`; other refs are garbage. Garbage refs to an entry sit
//!    before its live ref in the same slot: refs are only appended, and positions are reused
//!    only after pops, clears and compactions that drop what was there. So cascades walk a
//!    slot front to back and judge each ref before its entry can move.
//! 5. `live[s]` counts the live refs of slot `s`; its occupancy bit is set iff that is
//!    non-zero. A slot whose live count drops to zero is emptied at once; one holding more
//!    than [`GARBAGE_PER_LIVE`] garbage refs per live one (plus [`COMPACT_SLACK`]) is
//!    compacted. A summary bit is set iff its occupancy word is non-zero, and `levels` bit
//!    `L` iff level `L`'s summary is.
//! 6. `entries[i]` is vacant iff `i` is in `free`. A key is live iff its generation matches.
//! 7. `elapsed <= now + 1`: every entry due at or before `now` has fired, except those still in
//!    `late` and those of the slot being drained by an unfinished run of `poll` calls.
//!
//! # Cost of each operation
//!
//! | operation | cost |
//! |---|---|
//! | `insert`, `get`, `get_mut` | O(1) |
//! | `cancel`, `reschedule` | O(1) amortized: one in a while compacts a slot that has become two-thirds garbage |
//! | `next_expiry` | O(1): three `trailing_zeros` |
//! | `poll`, `advance` | O(1) amortized per expired entry: an entry is moved once per level it starts above level 0 (once for a deadline up to 194 days out), empty slots are skipped through the bitmaps, so a jump of years costs no more than a jump of a second |
//! | entries inserted at or before `now` | O(k log k) once, when `k` of them fire in due order |
//!
//! Memory per pending entry: 24 bytes of entry for `T = u64` (the generation is the
//! `Option`'s niche), a 4-byte ref with its share of `Vec` growth, and garbage refs until the
//! next cascade or compaction (at most two per live ref plus a little per slot); 8 bytes per
//! vacant slab slot in the free list. A slot keeps its buffer after a drain only up to
//! [`RETAINED_SLOT_CAPACITY`], so memory follows the pending count, not the historical peak
//! of each of the 24,576 slots.

use std::cmp::Reverse;
use std::fmt;
use std::mem;
use std::num::NonZeroU32;

mod placement;
#[cfg(test)]
mod tests;

use placement::{slot_for, slot_start};

/// Bits of the due second resolved per level.
const SLOT_BITS: u32 = 12;
/// Slots per level.
const SLOTS: usize = 1 << SLOT_BITS;
/// Occupancy words per level, one bit per slot; a summary word has a bit per word, so at
/// most 64 of them.
const WORDS: usize = SLOTS / 64;
/// Enough levels for every `u64` due second.
const LEVELS: usize = 64_usize.div_ceil(SLOT_BITS as usize);
const _: () = assert!(WORDS >= 1 && WORDS <= 64 && LEVELS <= 16);

/// A drained slot keeps its buffer up to this many refs (1 KiB). The lowest level refills
/// every 68 minutes and reuses it without allocating; a bigger buffer is freed, or the
/// 24,576 slots would each hold on to their largest size ever (24 MiB at most as it is).
pub const RETAINED_SLOT_CAPACITY: usize = 256;

/// Garbage refs a slot may hold per live ref before it is compacted. A ref is 4 bytes, so
/// letting garbage wait for the next cascade is cheap in memory, while compacting reads
/// every entry of the slot: two per live ref halves that work against one per live ref.
pub const GARBAGE_PER_LIVE: usize = 2;

/// Garbage refs a slot may hold beyond that, so small slots are not compacted every other
/// cancel.
pub const COMPACT_SLACK: usize = 32;

/// Expiring entries whose loads are issued together before any is used. Large enough to keep
/// the memory system busy (a core tracks a few dozen misses), small enough that the batch's
/// instructions fit in the reorder window.
const GATHER: usize = 32;

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

/// An occupied slab slot: everything an operation on one deadline reads or writes besides
/// its 4-byte ref. In the slab as `Option<Occupant<T>>`, 24 bytes for `T = u64`: the
/// `NonZeroU32` generation is the `Option`'s niche.
#[derive(Clone)]
struct Occupant<T> {
    generation: NonZeroU32,
    /// Position of this entry's live ref in its slot (or of the entry in `late`).
    pos: u32,
    due: u64,
    value: T,
}

/// Deadlines indexed by due second; see the module documentation for shape and invariants.
#[derive(Clone)]
pub struct TimingWheel<T> {
    /// Slab of entries, `None` while vacant; keys index it.
    entries: Vec<Option<Occupant<T>>>,
    /// Vacant slab indices with the generation their next occupant gets. A stack of its own,
    /// not threaded through the entries, so taking one does not wait on a cold entry.
    free: Vec<(u32, NonZeroU32)>,
    /// `LEVELS * SLOTS` slots of refs (slab indices), level-major; they may hold garbage
    /// (invariant 4).
    slots: Box<[Vec<u32>]>,
    /// Live refs in each slot.
    live: Box<[u32]>,
    /// `WORDS` words per level; bit `s` of a level set iff its slot `s` has live refs.
    occupied: Box<[u64]>,
    /// Per level, bit `w` set iff occupancy word `w` of that level is non-zero.
    summary: [u64; LEVELS],
    /// Bit `L` set iff `summary[L] != 0`.
    levels: u16,
    /// Entries inserted with a due second before `elapsed`: they fire on the next poll. Rare
    /// and small, so kept exact (`swap_remove`) rather than with garbage.
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
            live: vec![0; LEVELS * SLOTS].into_boxed_slice(),
            occupied: vec![0; LEVELS * WORDS].into_boxed_slice(),
            summary: [0; LEVELS],
            levels: 0,
            late: Vec::new(),
            late_sorted: true,
            late_min: u64::MAX,
            elapsed: now.saturating_add(1),
            now,
            len: 0,
        }
    }

    /// Make room for `more` entries.
    pub fn reserve(&mut self, more: usize) {
        self.entries.reserve(more);
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
    /// When more than `u32::MAX` entries would be pending at once.
    pub fn insert(&mut self, at: u64, value: T) -> TimerKey {
        let (index, generation) = self.free.pop().unwrap_or_else(|| {
            let index = u32::try_from(self.entries.len())
                .expect("timing wheel holds at most u32::MAX entries");
            self.entries.push(None);
            (index, NonZeroU32::MIN)
        });
        let pos = self.link(index, at);
        self.entries[index as usize] = Some(Occupant {
            generation,
            pos,
            due: at,
            value,
        });
        self.len += 1;
        TimerKey { index, generation }
    }

    /// Removes the entry and returns its value; `None` if the key is stale (fired, cancelled,
    /// rescheduled), even when its slab slot has been reused since. Touches only the entry:
    /// its ref stays behind as garbage.
    pub fn cancel(&mut self, key: TimerKey) -> Option<T> {
        let (due, pos) = self.live_entry(key)?;
        let left = self.unlink(due, pos);
        let Occupant { value, .. } = self.entries[key.index as usize].take()?;
        self.free.push((key.index, next_generation(key.generation)));
        self.len -= 1;
        self.tidy(left);
        Some(value)
    }

    /// Moves a pending entry to fire at `at` instead, keeping its value in place. Returns the
    /// entry's new key; the old key goes stale, so whoever still holds it (a message about
    /// the previous arming) cannot cancel the new one. `None` if `key` is stale.
    pub fn reschedule(&mut self, key: TimerKey, at: u64) -> Option<TimerKey> {
        let (due, pos) = self.live_entry(key)?;
        let left = self.unlink(due, pos);
        let new_pos = self.link(key.index, at);
        let generation = next_generation(key.generation);
        let occupant = self.entries[key.index as usize].as_mut()?;
        occupant.generation = generation;
        occupant.pos = new_pos;
        occupant.due = at;
        self.tidy(left);
        Some(TimerKey {
            index: key.index,
            generation,
        })
    }

    /// The value of a pending entry; `None` if the key is stale.
    pub fn get(&self, key: TimerKey) -> Option<&T> {
        match self.entries.get(key.index as usize)? {
            Some(o) if o.generation == key.generation => Some(&o.value),
            _ => None,
        }
    }

    /// The value of a pending entry, to change in place; `None` if the key is stale.
    pub fn get_mut(&mut self, key: TimerKey) -> Option<&mut T> {
        match self.entries.get_mut(key.index as usize)? {
            Some(o) if o.generation == key.generation => Some(&mut o.value),
            _ => None,
        }
    }

    /// The due second of a pending entry; `None` if the key is stale.
    pub fn due(&self, key: TimerKey) -> Option<u64> {
        self.live_entry(key).map(|(due, _)| due)
    }

    /// When the daemon must next call `advance`: `None` iff the wheel is empty, otherwise
    /// `Some(t)` with these guarantees:
    ///
    /// - `t` is at most the due second of every pending entry, so sleeping until `t` never
    ///   makes a deadline late;
    /// - if an entry due at or before `now()` is pending (inserted in the past, or left by a
    ///   run of `poll` that has not returned `None` yet), `t <= now()`: advance at once;
    /// - otherwise, once `advance` or a `poll` returning `None` has run, `t > now()` and `t` is
    ///   the start of the earliest slot with a pending entry, which holds the earliest entry.
    ///   It is exact (the earliest due second) when that entry is in the lowest level, i.e.
    ///   due within the wheel's current 4096-second (68-minute) block. If not, `t` is the
    ///   start of the `4096^L`-second block holding it and `advance(t)` moves it at least one
    ///   level down, so a daemon that sleeps until `t` wakes at most `L` times (once for a
    ///   deadline up to 194 days ahead, never more than 5) before the entry fires.
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
        match self.next_due_list() {
            Due::Late => Some(self.fire_late()),
            Due::Slot(slot) => Some(self.fire_one(slot)),
            Due::Nothing => None,
        }
    }

    /// Fires every entry due at or before `now` through `f(key, due, value)`, in non-decreasing
    /// due order (entries of the same second in any order), none before its due second, each
    /// exactly once. Entries inserted at or before the current time come first, earliest first.
    /// A `now` smaller than the current time is treated as the current time.
    ///
    /// Faster than a loop over `poll`: entries are loaded in gathered batches. If `f` panics,
    /// the entry it was given has left the wheel and every other entry is still in it.
    pub fn advance(&mut self, now: u64, mut f: impl FnMut(TimerKey, u64, T)) {
        self.now = self.now.max(now);
        loop {
            match self.next_due_list() {
                Due::Late => {
                    let Expired { key, due, value } = self.fire_late();
                    f(key, due, value);
                }
                Due::Slot(slot) => self.fire_batch(slot, &mut f),
                Due::Nothing => return,
            }
        }
    }

    /// Due second and ref position of a live key's entry.
    fn live_entry(&self, key: TimerKey) -> Option<(u64, u32)> {
        match self.entries.get(key.index as usize)? {
            Some(o) if o.generation == key.generation => Some((o.due, o.pos)),
            _ => None,
        }
    }

    /// The due second of the entry a ref at position `at` of `slot` points to, if that ref
    /// is live (invariant 4).
    fn live_ref(&self, slot: usize, at: usize, index: u32) -> Option<u64> {
        match &self.entries[index as usize] {
            Some(o)
                if o.pos as usize == at
                    && o.due >= self.elapsed
                    && slot_for(self.elapsed, o.due) == slot =>
            {
                Some(o.due)
            }
            _ => None,
        }
    }

    /// Adds a ref to entry `index` where `due` belongs; returns its position.
    fn link(&mut self, index: u32, due: u64) -> u32 {
        let list = if due < self.elapsed {
            if self.late.is_empty() || due < self.late_min {
                self.late_min = due;
            }
            self.late_sorted = self.late.is_empty();
            &mut self.late
        } else {
            let slot = slot_for(self.elapsed, due);
            self.live[slot] += 1;
            self.mark_occupied(slot);
            &mut self.slots[slot]
        };
        list.push(index);
        (list.len() - 1) as u32
    }

    /// Withdraws the entry due at `due` whose ref is at `pos`, before it is vacated or moved.
    /// Returns the slot whose ref was left behind as garbage, for [`Self::tidy`] once the
    /// entry no longer looks live there.
    fn unlink(&mut self, due: u64, pos: u32) -> Option<usize> {
        let pos = pos as usize;
        if due < self.elapsed {
            // Order is kept only if the removed entry was the last one.
            self.late_sorted &= pos + 1 == self.late.len();
            self.late.swap_remove(pos);
            if let Some(&moved) = self.late.get(pos)
                && let Some(o) = &mut self.entries[moved as usize]
            {
                o.pos = pos as u32;
            }
            return None;
        }
        // The ref stays: touching the slot's memory here would add a second cache miss to
        // every cancel.
        let slot = slot_for(self.elapsed, due);
        self.live[slot] -= 1;
        Some(slot)
    }

    /// Restores invariant 5 for a slot that lost a live ref: empties it if none is left,
    /// compacts it if garbage outgrew its live refs.
    fn tidy(&mut self, slot: Option<usize>) {
        let Some(slot) = slot else { return };
        let live = self.live[slot] as usize;
        if live == 0 {
            self.empty(slot);
        } else {
            self.trim(slot);
        }
    }

    /// Compacts a slot with live refs whose garbage outgrew them.
    fn trim(&mut self, slot: usize) {
        let live = self.live[slot] as usize;
        if live > 0 && self.slots[slot].len() > (1 + GARBAGE_PER_LIVE) * live + COMPACT_SLACK {
            self.compact(slot);
        }
    }

    /// Drops the garbage refs of `slot`, keeping the live ones in order. Runs only once
    /// garbage outnumbers live refs two to one, so it costs O(1) per cancel amortized.
    fn compact(&mut self, slot: usize) {
        let mut list = mem::take(&mut self.slots[slot]);
        let mut kept = 0;
        for batch in 0..list.len().div_ceil(GATHER) {
            let begin = batch * GATHER;
            let end = list.len().min(begin + GATHER);
            // Loads first, as in `cascade`; `kept <= begin` so nothing unread is overwritten.
            let mut seen = [None; GATHER];
            for (seen, &index) in seen.iter_mut().zip(&list[begin..end]) {
                *seen = self.entries[index as usize]
                    .as_ref()
                    .map(|o| (o.pos, o.due));
            }
            for (at, seen) in (begin..end).zip(seen) {
                let index = list[at];
                let live = seen.is_some_and(|(pos, due)| {
                    pos as usize == at && due >= self.elapsed && slot_for(self.elapsed, due) == slot
                });
                if live {
                    if let Some(o) = &mut self.entries[index as usize] {
                        o.pos = kept as u32;
                    }
                    list[kept] = index;
                    kept += 1;
                }
            }
        }
        list.truncate(kept);
        debug_assert_eq!(kept, self.live[slot] as usize, "compaction lost a live ref");
        self.slots[slot] = list;
    }

    fn mark_occupied(&mut self, slot: usize) {
        let (level, word) = (slot / SLOTS, slot / 64);
        self.occupied[word] |= 1 << (slot % 64);
        self.summary[level] |= 1 << (word % WORDS);
        self.levels |= 1 << level;
    }

    fn mark_empty(&mut self, slot: usize) {
        let (level, word) = (slot / SLOTS, slot / 64);
        self.occupied[word] &= !(1 << (slot % 64));
        if self.occupied[word] == 0 {
            self.summary[level] &= !(1 << (word % WORDS));
            if self.summary[level] == 0 {
                self.levels &= !(1 << level);
            }
        }
    }

    /// Level, slot and start second of the earliest slot with live refs (invariant 2).
    fn earliest_slot(&self) -> Option<(usize, usize, u64)> {
        if self.levels == 0 {
            return None;
        }
        let level = self.levels.trailing_zeros() as usize;
        let word = self.summary[level].trailing_zeros() as usize;
        let slot = word * 64 + self.occupied[level * WORDS + word].trailing_zeros() as usize;
        Some((level, slot, slot_start(self.elapsed, level, slot)))
    }

    /// Occupied level-0 slots from `digit` on, in ascending order.
    fn occupied_from(&self, digit: usize) -> impl Iterator<Item = usize> + '_ {
        let mut word = digit / 64;
        let mut bits = self.occupied[word] & (!0 << (digit % 64));
        std::iter::from_fn(move || {
            while bits == 0 {
                let later = self.summary[0].checked_shr(word as u32 + 1)?;
                if later == 0 {
                    return None;
                }
                word += 1 + later.trailing_zeros() as usize;
                bits = self.occupied[word];
            }
            let found = word * 64 + bits.trailing_zeros() as usize;
            bits &= bits - 1;
            Some(found)
        })
    }

    /// Cascades until the earliest due entries are in `late` or in a level-0 slot due by `now`,
    /// or nothing is due; in the last case moves `elapsed` to `now + 1`.
    fn next_due_list(&mut self) -> Due {
        let target = self.now;
        if !self.late.is_empty() {
            return Due::Late;
        }
        loop {
            let Some((level, slot, start)) = self.earliest_slot() else {
                self.elapsed = target.saturating_add(1);
                return Due::Nothing;
            };
            if level == 0 {
                if start > target {
                    self.elapsed = target.saturating_add(1);
                    return Due::Nothing;
                }
                // Invariant 1 allows `elapsed == due` at level 0, so a slot half drained by
                // `poll` stays consistent while the caller inserts or cancels.
                self.elapsed = start;
                return Due::Slot(slot);
            }
            // Moving `elapsed` onto the start of an occupied slot above level 0 would change
            // where its entries belong (invariant 1), so that slot is cascaded first.
            if start > target.saturating_add(1) {
                self.elapsed = target.saturating_add(1);
                return Due::Nothing;
            }
            self.cascade(level * SLOTS + slot, start);
        }
    }

    /// Moves every live entry of `slot` to where it belongs once `elapsed` is `start` (the
    /// slot's first second): each lands at a lower level. Entries are read a batch at a time
    /// before any is moved, so their cache misses overlap; front to back, so that each ref is
    /// judged before its entry can move (invariant 4).
    fn cascade(&mut self, slot: usize, start: u64) {
        let list = mem::take(&mut self.slots[slot]);
        self.live[slot] = 0;
        self.mark_empty(slot);
        for (batch, refs) in list.chunks(GATHER).enumerate() {
            // Loads only, so that as many as possible are in flight at once.
            let mut seen = [None; GATHER];
            for (k, &index) in refs.iter().enumerate() {
                seen[k] = self.entries[index as usize]
                    .as_ref()
                    .map(|o| (o.pos, o.due));
            }
            for (k, (&index, seen)) in refs.iter().zip(seen).enumerate() {
                let Some((pos, due)) = seen else { continue };
                let live = pos as usize == batch * GATHER + k
                    && due >= self.elapsed
                    && slot_for(self.elapsed, due) == slot;
                if !live {
                    continue;
                }
                let to = slot_for(start, due);
                debug_assert!(
                    to / SLOTS < slot / SLOTS,
                    "a cascade must move entries down"
                );
                let dest = &mut self.slots[to];
                if let Some(o) = &mut self.entries[index as usize] {
                    o.pos = dest.len() as u32;
                }
                dest.push(index);
                self.live[to] += 1;
                self.mark_occupied(to);
            }
        }
        // Placement is relative to `start` from here on; the refs above were judged before.
        self.elapsed = start;
        // Hand the buffer back, emptied, unless `empty` would free it.
        if list.capacity() <= RETAINED_SLOT_CAPACITY {
            let mut list = list;
            list.clear();
            self.slots[slot] = list;
        }
    }

    /// Takes one live ref off the end of the level-0 `slot` (whose second is `elapsed`),
    /// dropping garbage on the way. Taking from the end leaves every other position valid.
    fn fire_one(&mut self, slot: usize) -> Expired<T> {
        loop {
            let index = self.slots[slot]
                .pop()
                .expect("a slot with live refs is not empty");
            let at = self.slots[slot].len();
            if self.live_ref(slot, at, index).is_some() {
                self.fired_from(slot);
                let expired = self.vacate(index);
                // One entry taken, maybe from under garbage it must not leave beyond the
                // bound (invariant 5): `poll` may stop here, unlike `advance`'s batches.
                self.trim(slot);
                return expired;
            }
        }
    }

    /// Fires the entries of up to [`GATHER`] refs from the level-0 slots due by `now`, the
    /// first being `slot` (whose second is `elapsed`). The entries are read in one tight loop
    /// before any is handed out, so the cache misses overlap even when each second holds a
    /// single entry, as most do at 10 million deadlines spread over months.
    fn fire_batch(&mut self, slot: usize, f: &mut impl FnMut(TimerKey, u64, T)) {
        debug_assert!(slot < SLOTS, "fire_batch() is for level 0");
        let block = self.elapsed & !(SLOTS as u64 - 1);
        // Refs in the order they are popped: due slots in firing order, each from the end.
        let mut batch = [(0, 0, 0); GATHER];
        let mut taken = 0;
        'collect: for digit in self.occupied_from(slot) {
            if block | digit as u64 > self.now {
                break;
            }
            for (at, &index) in self.slots[digit].iter().enumerate().rev() {
                batch[taken] = (digit, at, index);
                taken += 1;
                if taken == GATHER {
                    break 'collect;
                }
            }
        }
        // A due slot with live entries and no refs would make `advance` spin; say so instead.
        assert!(
            taken > 0,
            "level-0 slot {slot} counts live entries but holds no refs"
        );
        // `elapsed` is at or before each of these seconds and in the same level-0 block, so
        // it places their entries as it did when they were linked.
        let mut seen = [None; GATHER];
        for (seen, &(_, _, index)) in seen.iter_mut().zip(&batch[..taken]) {
            *seen = self.entries[index as usize]
                .as_ref()
                .map(|o| (o.pos, o.due));
        }
        for (&(digit, at, index), seen) in batch[..taken].iter().zip(seen) {
            let live = seen.is_some_and(|(pos, due)| {
                pos as usize == at && due >= self.elapsed && slot_for(self.elapsed, due) == digit
            });
            // Emptied when its last live ref fired; what remains of the batch there is garbage.
            let Some(popped) = self.slots[digit].pop() else {
                continue;
            };
            debug_assert_eq!(popped, index);
            if live {
                // Invariant 7 while `f` runs: `elapsed` is the second being fired.
                self.elapsed = block | digit as u64;
                self.fired_from(digit);
                let Expired { key, due, value } = self.vacate(index);
                f(key, due, value);
            }
        }
    }

    /// Accounts for a live ref just popped from level-0 `slot`. No compaction here: it would
    /// move refs a batch has collected; a level-0 slot is emptied when its last one fires.
    fn fired_from(&mut self, slot: usize) {
        self.live[slot] -= 1;
        if self.live[slot] == 0 {
            self.empty(slot);
        }
    }

    /// Drops what is left of a slot without live refs (garbage) and clears its bit. Keeps
    /// its buffer only up to [`RETAINED_SLOT_CAPACITY`]: a level-0 slot that held a 17:00
    /// burst of 100,000 refs would otherwise keep 512 KiB until the same second comes round.
    fn empty(&mut self, slot: usize) {
        let list = &mut self.slots[slot];
        if list.capacity() > RETAINED_SLOT_CAPACITY {
            *list = Vec::new();
        } else {
            list.clear();
        }
        self.mark_empty(slot);
    }

    /// Fires the earliest of the entries inserted before `elapsed`.
    fn fire_late(&mut self) -> Expired<T> {
        if !self.late_sorted {
            let entries = &self.entries;
            self.late
                .sort_unstable_by_key(|&index| Reverse(due_of(&entries[index as usize])));
            for (at, &index) in self.late.iter().enumerate() {
                if let Some(o) = &mut self.entries[index as usize] {
                    o.pos = at as u32;
                }
            }
            self.late_sorted = true;
        }
        let index = self.late.pop().expect("fire_late() on an empty late list");
        if let Some(&next) = self.late.last() {
            self.late_min = due_of(&self.entries[next as usize]);
        }
        self.vacate(index)
    }

    /// Turns the entry of an unlinked ref vacant and returns what it held.
    fn vacate(&mut self, index: u32) -> Expired<T> {
        let Some(Occupant {
            generation,
            due,
            value,
            ..
        }) = self.entries[index as usize].take()
        else {
            unreachable!("a live ref points to a vacant entry")
        };
        self.free.push((index, next_generation(generation)));
        self.len -= 1;
        Expired {
            key: TimerKey { index, generation },
            due,
            value,
        }
    }
}

/// Where the next due entries are.
enum Due {
    Late,
    /// A level-0 slot due at or before `now`, whose second is now `elapsed`.
    Slot(usize),
    Nothing,
}

/// Due second of an entry in `late`, which holds no garbage.
fn due_of<T>(entry: &Option<Occupant<T>>) -> u64 {
    entry
        .as_ref()
        .expect("the late list refers to a vacant entry")
        .due
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
