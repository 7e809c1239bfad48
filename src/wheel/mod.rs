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
//! costs a cold store per entry, and 64-slot levels put a 90-day deadline at level 3, three
//! cascades from firing. With 4096 slots it is one; the expiry benchmark went from ~120 to
//! ~60 ns per entry. The price is 24,576 slot headers (~700 KiB per wheel; there is one).
//!
//! The layout is chosen for 10 million deadlines, where nearly every access to a random entry
//! is a DRAM and TLB miss (~165 ns in the VM of BENCHMARKS.md) and speed is decided by how
//! few of them an operation needs and how many overlap:
//!
//! - A slot is a `Vec<Ref>`: the due second and slab index of each entry, 12 bytes. Moving a
//!   slot down a level (a cascade) streams through it and never reads an entry; it only
//!   stores each entry's new position. Intrusive linked lists would instead chase one cold
//!   pointer per entry per level.
//! - An entry (position, generation, value) is all an operation on one deadline touches
//!   besides its ref: insert writes it, cancel reads it, each one cache miss. The due second
//!   is part of the [`TimerKey`], so cancel finds the slot without another read, and
//!   overwrites the ref with a tombstone.
//! - The free list carries each vacant slot's next generation, so insert only writes.
//! - Expiring entries are read in gathered batches across seconds, so their misses overlap.
//!
//! # Invariants
//!
//! 1. Placement: a ref with `due >= elapsed` is in `slot_for(elapsed, due)`; a ref with
//!    `due < elapsed` is in `late`. An entry's slot is computed from its due second, never
//!    stored.
//! 2. Consequently at level `L >= 1` no slot with live refs has an index `<=` the digit `L` of
//!    `elapsed`, and at level 0 none has an index `<` it. Every entry at level `L` is due after
//!    every entry at a level below `L`, so the earliest slot is found through the bitmaps.
//! 3. Each occupied entry `i` has exactly one ref, at position `entries[i].pos` of its slot or of
//!    `late`, carrying its due second. Every other ref in a slot is a tombstone (cancelled or
//!    rescheduled away); `late` holds none.
//! 4. `live[s]` counts the refs in slot `s` that are not tombstones. The occupancy bit of `s`
//!    is set iff `live[s]` is non-zero; a slot whose live count drops to zero is emptied at
//!    once, and one whose tombstones outnumber its live refs by more than [`COMPACT_SLACK`]
//!    is compacted. A summary bit is set iff its occupancy word is non-zero, and `levels`
//!    bit `L` iff level `L`'s summary is.
//! 5. `entries[i]` is vacant iff `i` is in `free`. A key is live iff its generation matches
//!    the occupied entry's; its due second is then the entry's.
//! 6. `elapsed <= now + 1`: every entry due at or before `now` has fired, except those still in
//!    `late` and those of the slot being drained by an unfinished run of `poll` calls.
//!
//! # Cost of each operation
//!
//! | operation | cost |
//! |---|---|
//! | `insert`, `get`, `get_mut` | O(1) |
//! | `cancel`, `reschedule` | O(1) amortized: one in a while compacts a slot it emptied more than half |
//! | `next_expiry` | O(1): three `trailing_zeros` |
//! | `poll`, `advance` | O(1) amortized per expired entry: an entry is moved once per level it starts above level 0 (once for a deadline up to 194 days out), empty slots are skipped through the bitmaps, so a jump of years costs no more than a jump of a second |
//! | entries inserted at or before `now` | O(k log k) once, when `k` of them fire in due order |
//!
//! Memory per pending entry: the 24-byte `Entry<T>` for `T = u64` (the generation's niche
//! holds the vacant/occupied tag), a 12-byte ref and its share of slot growth and
//! tombstones; 8 bytes per vacant slab slot in the free list. A slot keeps its
//! buffer after a drain only up to [`RETAINED_SLOT_CAPACITY`], so memory follows the pending
//! count, not the historical peak of each of the 24,576 slots.

use std::cmp::Reverse;
use std::fmt;
use std::mem;
use std::num::NonZeroU32;

#[cfg(test)]
mod tests;

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

/// A drained slot keeps its buffer up to this many refs (3 KiB). The lowest level refills
/// every 68 minutes and reuses it without allocating; a bigger buffer is freed, or the
/// 24,576 slots would each hold on to their largest size ever (75 MiB at most as it is).
pub const RETAINED_SLOT_CAPACITY: usize = 256;

/// Tombstones a slot may hold beyond its live count before it is compacted. Keeps small
/// slots from being compacted on every other cancel.
pub const COMPACT_SLACK: usize = 32;

/// Expiring entries whose loads are issued together before any is used. Large enough to keep
/// the memory system busy (a core tracks a few dozen misses), small enough that the batch's
/// instructions fit in the reorder window.
const GATHER: usize = 32;

/// Slab index of a tombstone ref. Never a real index: the slab holds fewer entries.
const TOMBSTONE: u32 = u32::MAX;

/// Identifies one scheduled entry. A key goes stale when its entry fires, is cancelled or is
/// rescheduled; the generation makes a stale key miss even after its slab slot is reused
/// (the generation wraps after 2^32 - 1 reuses of one slot, far beyond any daemon's life).
/// It carries the due second, so cancel knows the entry's slot without a cache miss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerKey {
    due: u64,
    index: u32,
    generation: NonZeroU32,
}

impl TimerKey {
    /// The due second this key was issued for.
    pub fn due(&self) -> u64 {
        self.due
    }
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

/// A slab slot: 24 bytes for `T = u64`, all an operation on one deadline touches besides its
/// 12-byte ref. Insert writes it, cancel reads it: one cache miss each, plus the store that
/// turns the ref into a tombstone for cancel.
#[derive(Clone)]
struct Entry<T> {
    /// Position of the occupant's ref in its slot (or in `late`). Outside the `Option` so that
    /// a cascade stores it without reading anything first.
    pos: u32,
    /// `None` while vacant; the `NonZeroU32` generation is the `Option`'s niche. The next
    /// occupant's generation is kept in `free`, so insert never reads this.
    occupant: Option<Occupant<T>>,
}

#[derive(Clone)]
struct Occupant<T> {
    generation: NonZeroU32,
    value: T,
}

/// An entry's place in a slot: what a cascade needs, without touching the entry. Packed to
/// 12 bytes; its fields are only ever copied, never borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, packed(4))]
struct Ref {
    due: u64,
    /// Slab index, or [`TOMBSTONE`].
    index: u32,
}

/// Deadlines indexed by due second; see the module documentation for shape and invariants.
#[derive(Clone)]
pub struct TimingWheel<T> {
    /// Slab of entries; keys index it.
    entries: Vec<Entry<T>>,
    /// Vacant slab indices with the generation their next occupant gets. A stack of its own,
    /// not threaded through the entries, so taking one does not wait on a cold entry.
    free: Vec<(u32, NonZeroU32)>,
    /// `LEVELS * SLOTS` slots, level-major.
    slots: Box<[Vec<Ref>]>,
    /// Refs in each slot that are not tombstones.
    live: Box<[u32]>,
    /// `WORDS` words per level; bit `s` of a level set iff its slot `s` has live refs.
    occupied: Box<[u64]>,
    /// Per level, bit `w` set iff occupancy word `w` of that level is non-zero.
    summary: [u64; LEVELS],
    /// Bit `L` set iff `summary[L] != 0`.
    levels: u16,
    /// Refs of entries inserted with a due second before `elapsed`: they fire on the next
    /// poll. Rare and small, so kept exact (`swap_remove`) rather than with tombstones.
    late: Vec<Ref>,
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
        let (index, generation) = self.free.pop().unwrap_or_else(|| {
            let index = u32::try_from(self.entries.len())
                .ok()
                .filter(|&i| i != TOMBSTONE)
                .expect("timing wheel holds at most u32::MAX - 1 entries");
            self.entries.push(Entry {
                pos: 0,
                occupant: None,
            });
            (index, NonZeroU32::MIN)
        });
        self.link(index, at);
        self.entries[index as usize].occupant = Some(Occupant { generation, value });
        self.len += 1;
        TimerKey {
            due: at,
            index,
            generation,
        }
    }

    /// Removes the entry and returns its value; `None` if the key is stale (fired, cancelled,
    /// rescheduled), even when its slab slot has been reused since.
    pub fn cancel(&mut self, key: TimerKey) -> Option<T> {
        let pos = self.find(key)?;
        self.unlink(key, pos);
        let Occupant { value, .. } = self.occupant_mut(key.index).take()?;
        self.free.push((key.index, next_generation(key.generation)));
        self.len -= 1;
        Some(value)
    }

    /// Moves a pending entry to fire at `at` instead, keeping its value in place. Returns the
    /// entry's new key; the old key goes stale, so whoever still holds it (a message about
    /// the previous arming) cannot cancel the new one. `None` if `key` is stale.
    pub fn reschedule(&mut self, key: TimerKey, at: u64) -> Option<TimerKey> {
        let pos = self.find(key)?;
        self.unlink(key, pos);
        self.link(key.index, at);
        let generation = next_generation(key.generation);
        self.occupant_mut(key.index).as_mut()?.generation = generation;
        Some(TimerKey {
            due: at,
            index: key.index,
            generation,
        })
    }

    /// The value of a pending entry; `None` if the key is stale.
    pub fn get(&self, key: TimerKey) -> Option<&T> {
        self.find(key)?;
        self.entries[key.index as usize]
            .occupant
            .as_ref()
            .map(|o| &o.value)
    }

    /// The value of a pending entry, to change in place; `None` if the key is stale.
    pub fn get_mut(&mut self, key: TimerKey) -> Option<&mut T> {
        self.find(key)?;
        self.occupant_mut(key.index).as_mut().map(|o| &mut o.value)
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
    /// Faster than a loop over `poll`: a second's entries are loaded in gathered batches. If `f`
    /// panics, the entry it was given has left the wheel and every other entry is still in it.
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

    /// Position of a live key's ref. The generation decides, as in any generational slab: a
    /// key kept while its slab slot is reused 2^32 times would pass. Reading the ref to
    /// compare due seconds would rule that out, but it is a second cache miss that depends on
    /// the first (`pos`), and would add a DRAM round trip to every cancel.
    fn find(&self, key: TimerKey) -> Option<usize> {
        let entry = self.entries.get(key.index as usize)?;
        let occupant = entry.occupant.as_ref()?;
        (occupant.generation == key.generation).then_some(entry.pos as usize)
    }

    fn occupant_mut(&mut self, index: u32) -> &mut Option<Occupant<T>> {
        &mut self.entries[index as usize].occupant
    }

    /// Adds the ref of entry `index` where `due` belongs and records its position.
    fn link(&mut self, index: u32, due: u64) {
        let new = Ref { due, index };
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
        self.entries[index as usize].pos = list.len() as u32;
        list.push(new);
    }

    /// Withdraws the ref at `pos` found for a live key, before its entry is vacated or moved.
    fn unlink(&mut self, key: TimerKey, pos: usize) {
        if key.due < self.elapsed {
            debug_assert_eq!(self.late[pos].index, key.index, "late ref out of date");
            // Order is kept only if the removed ref was the last one.
            self.late_sorted &= pos + 1 == self.late.len();
            self.late.swap_remove(pos);
            if let Some(moved) = self.late.get(pos) {
                self.entries[moved.index as usize].pos = pos as u32;
            }
            return;
        }
        let slot = slot_for(self.elapsed, key.due);
        let list = &mut self.slots[slot];
        debug_assert_eq!(list[pos].index, key.index, "ref out of date");
        if pos + 1 == list.len() {
            list.pop();
        } else {
            list[pos].index = TOMBSTONE;
        }
        self.live[slot] -= 1;
        self.shrink(slot);
    }

    /// Restores invariant 4 after `slot` lost a live ref: empty it if nothing is left, else
    /// drop trailing tombstones and compact if tombstones outnumber live refs.
    fn shrink(&mut self, slot: usize) {
        let list = &mut self.slots[slot];
        let live = self.live[slot] as usize;
        if live == 0 {
            list.clear();
            self.mark_empty(slot);
            return;
        }
        while list.last().is_some_and(|r| r.index == TOMBSTONE) {
            list.pop();
        }
        if list.len() > 2 * live + COMPACT_SLACK {
            self.compact(slot);
        }
    }

    /// Drops the tombstones of `slot`, keeping the live refs in order. Runs after more than
    /// half of the slot's refs went stale, so it costs O(1) per cancel amortized.
    fn compact(&mut self, slot: usize) {
        let list = &mut self.slots[slot];
        list.retain(|r| r.index != TOMBSTONE);
        for (at, r) in list.iter().enumerate() {
            self.entries[r.index as usize].pos = at as u32;
        }
        debug_assert_eq!(
            list.len(),
            self.live[slot] as usize,
            "compaction lost a ref"
        );
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

    /// Moves every live ref of `slot` to where it belongs once `elapsed` is `start` (the
    /// slot's first second): each lands at a lower level. Reads only the slot's refs.
    fn cascade(&mut self, slot: usize, start: u64) {
        let mut list = mem::take(&mut self.slots[slot]);
        self.elapsed = start;
        self.live[slot] = 0;
        self.mark_empty(slot);
        for &r in &list {
            if r.index == TOMBSTONE {
                continue;
            }
            let to = slot_for(start, r.due);
            debug_assert!(to / SLOTS < slot / SLOTS, "a cascade must move refs down");
            let dest = &mut self.slots[to];
            self.entries[r.index as usize].pos = dest.len() as u32;
            dest.push(r);
            self.live[to] += 1;
            self.mark_occupied(to);
        }
        if list.capacity() <= RETAINED_SLOT_CAPACITY {
            list.clear();
            self.slots[slot] = list;
        }
    }

    /// Takes one live ref off the end of the level-0 `slot` (whose second is `elapsed`).
    /// Taking from the end leaves every other position valid.
    fn fire_one(&mut self, slot: usize) -> Expired<T> {
        loop {
            let r = self.slots[slot]
                .pop()
                .expect("a slot with live refs is not empty");
            if r.index != TOMBSTONE {
                self.live[slot] -= 1;
                self.shrink(slot);
                return self.vacate(r);
            }
        }
    }

    /// Fires up to [`GATHER`] entries from the level-0 slots due by `now`, the first being
    /// `slot` (whose second is `elapsed`). Their entries are loaded in one tight loop before
    /// any is handed out, so the cache misses overlap even when each second holds a single
    /// entry, as most do at 10 million deadlines spread over months.
    fn fire_batch(&mut self, slot: usize, f: &mut impl FnMut(TimerKey, u64, T)) {
        debug_assert!(slot < SLOTS, "fire_batch() is for level 0");
        let block = self.elapsed & !(SLOTS as u64 - 1);
        let mut batch = [(0, Ref { due: 0, index: 0 }); GATHER];
        let mut taken = 0;
        // Due slots in firing order, refs from the end of each: the order they are popped in.
        'collect: for digit in self.occupied_from(slot) {
            if block | digit as u64 > self.now {
                break;
            }
            for &r in self.slots[digit].iter().rev() {
                if r.index != TOMBSTONE {
                    batch[taken] = (digit, r);
                    taken += 1;
                    if taken == GATHER {
                        break 'collect;
                    }
                }
            }
        }
        let mut generations = [None; GATHER];
        for (generation, (_, r)) in generations.iter_mut().zip(&batch[..taken]) {
            *generation = self.entries[r.index as usize]
                .occupant
                .as_ref()
                .map(|o| o.generation);
        }
        // The loads above are the point; keep the optimizer from dropping them as unused.
        std::hint::black_box(&generations);
        for &(digit, r) in &batch[..taken] {
            // Invariant 6 while `f` runs: `elapsed` is the second being fired.
            self.elapsed = block | digit as u64;
            let list = &mut self.slots[digit];
            while list.pop().is_some_and(|popped| popped.index == TOMBSTONE) {}
            // No compaction here: it would move the refs collected above. A slot is emptied
            // as soon as its last live ref fires.
            self.live[digit] -= 1;
            if self.live[digit] == 0 {
                list.clear();
                self.mark_empty(digit);
            }
            let Expired { key, due, value } = self.vacate(r);
            f(key, due, value);
        }
    }

    /// Fires the earliest of the entries inserted before `elapsed`.
    fn fire_late(&mut self) -> Expired<T> {
        if !self.late_sorted {
            self.late.sort_unstable_by_key(|r| Reverse(r.due));
            for (at, r) in self.late.iter().enumerate() {
                self.entries[r.index as usize].pos = at as u32;
            }
            self.late_sorted = true;
        }
        let r = self.late.pop().expect("fire_late() on an empty late list");
        if let Some(next) = self.late.last() {
            self.late_min = next.due;
        }
        self.vacate(r)
    }

    /// Turns the entry of an unlinked ref vacant and returns what it held.
    fn vacate(&mut self, r: Ref) -> Expired<T> {
        let Some(Occupant { generation, value }) = self.occupant_mut(r.index).take() else {
            unreachable!("a live ref points to a vacant entry")
        };
        self.free.push((r.index, next_generation(generation)));
        self.len -= 1;
        Expired {
            key: TimerKey {
                due: r.due,
                index: r.index,
                generation,
            },
            due: r.due,
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

/// Level of the highest `SLOT_BITS`-bit digit in which `due` differs from `elapsed` (0 if
/// none).
fn level_for(elapsed: u64, due: u64) -> usize {
    // Or-ing in a low bit makes equal seconds land at level 0 instead of underflowing.
    let masked = (elapsed ^ due) | 1;
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
