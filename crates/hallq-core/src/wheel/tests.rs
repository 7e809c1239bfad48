//! Edge cases of the wheel, and a property test against a `BTreeMap` model. Every check also
//! walks the wheel's internal invariants (module doc), so a broken placement fails here
//! before it turns into a lost or early deadline.

use std::collections::{BTreeMap, HashMap};

use proptest::prelude::*;

use super::*;

const DAY: u64 = 86_400;
const YEAR: u64 = 365 * DAY;
/// 2025-11-14T22:13:20Z: a realistic Unix second, not aligned to any power of 64.
const T0: u64 = 1_763_158_400;

impl<T> TimingWheel<T> {
    /// Panics if an invariant from the module documentation does not hold.
    fn check_invariants(&self) {
        let mut linked = vec![false; self.entries.len()];
        // Detailed checks on the slots with a bit set; counts show that no other slot holds
        // refs or a live count (walking all 24,576 in detail is too slow for the proptest).
        let mut set_slots = 0;
        for level in 0..LEVELS {
            for word in 0..WORDS {
                let mut bits = self.occupied[level * WORDS + word];
                let summary_bit = self.summary[level] >> word & 1 == 1;
                assert_eq!(summary_bit, bits != 0, "summary bit {level}/{word}");
                while bits != 0 {
                    let slot = level * SLOTS + word * 64 + bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    set_slots += 1;
                    let list = &self.slots[slot];
                    let mut live = 0;
                    for (at, &index) in list.iter().enumerate() {
                        let i = index as usize;
                        let Some(due) = self.live_ref(slot, at, index) else {
                            // Garbage must come before a live ref to the same entry here.
                            if let Some(o) = &self.entries[i]
                                && o.due >= self.elapsed
                                && slot_for(self.elapsed, o.due) == slot
                            {
                                assert!(at < o.pos as usize, "garbage after the live ref");
                            }
                            continue;
                        };
                        assert!(!linked[i], "entry {i} has two live refs");
                        linked[i] = true;
                        assert!(due >= self.elapsed, "due {due} in the wheel before elapsed");
                        live += 1;
                    }
                    assert!(live > 0, "slot {slot} has a bit but no live ref");
                    assert_eq!(self.live[slot], live, "live count of slot {slot}");
                    assert!(
                        list.len() <= (1 + GARBAGE_PER_LIVE) * live as usize + COMPACT_SLACK,
                        "slot {slot} not compacted"
                    );
                }
            }
            let level_bit = self.levels >> level & 1 == 1;
            assert_eq!(level_bit, self.summary[level] != 0, "level bit {level}");
        }
        let holding = self.slots.iter().filter(|list| !list.is_empty()).count();
        assert_eq!(holding, set_slots, "a slot without its bit holds refs");
        let counted = self.live.iter().filter(|&&live| live != 0).count();
        assert_eq!(
            counted, set_slots,
            "a slot without its bit has a live count"
        );
        let mut previous = u64::MAX;
        for (at, &index) in self.late.iter().enumerate() {
            let i = index as usize;
            let Some(o) = &self.entries[i] else {
                panic!("late list refers to vacant entry {i}");
            };
            assert_eq!(o.pos as usize, at, "late entry {i} has a stale position");
            assert!(!linked[i], "entry {i} linked twice");
            linked[i] = true;
            assert!(
                o.due < self.elapsed,
                "late entry due {} not before elapsed",
                o.due
            );
            assert!(self.late_min <= o.due, "late_min above a late due second");
            if self.late_sorted {
                assert!(o.due <= previous, "late list marked sorted but is not");
            }
            previous = o.due;
        }
        for (i, entry) in self.entries.iter().enumerate() {
            assert_eq!(
                entry.is_some(),
                linked[i],
                "entry {i}: occupied without a live ref"
            );
        }
        assert_eq!(linked.iter().filter(|&&l| l).count(), self.len, "len");
        let mut free: Vec<u32> = self.free.iter().map(|&(index, _)| index).collect();
        free.sort_unstable();
        free.dedup();
        assert_eq!(free.len(), self.free.len(), "free list has duplicates");
        for &index in &free {
            assert!(
                self.entries[index as usize].is_none(),
                "free entry {index} occupied"
            );
        }
        assert_eq!(
            free.len() + self.len,
            self.entries.len(),
            "vacant entry not free"
        );
        assert!(
            self.elapsed <= self.now.saturating_add(1),
            "elapsed ahead of now"
        );
    }
}

/// Advances and returns `(due, value)` in firing order, checking invariants afterwards.
fn fire<T>(wheel: &mut TimingWheel<T>, now: u64) -> Vec<(u64, T)> {
    let mut fired = Vec::new();
    wheel.advance(now, |_, due, value| fired.push((due, value)));
    wheel.check_invariants();
    fired
}

#[test]
fn an_entry_costs_no_more_than_its_fields() {
    // The niche in the generation holds the `Option`'s tag: per deadline 24 bytes for a
    // `u64` value plus a 4-byte ref. A field more costs 10M × 8 bytes.
    assert_eq!(size_of::<Option<Occupant<u64>>>(), 24);
    assert_eq!(size_of::<Option<TimerKey>>(), 8);
}

#[test]
fn insert_at_or_before_now_fires_on_next_advance_in_due_order() {
    let mut wheel = TimingWheel::new(T0);
    wheel.insert(T0, "now");
    wheel.insert(T0 - 100, "older");
    wheel.insert(0, "epoch");
    wheel.insert(T0 + 1, "next second");
    assert_eq!(wheel.next_expiry(), Some(0));
    // Even a `now` behind the current time delivers what is already due.
    assert_eq!(
        fire(&mut wheel, T0 - 1000),
        [(0, "epoch"), (T0 - 100, "older"), (T0, "now")]
    );
    assert_eq!(wheel.now(), T0);
    assert_eq!(wheel.next_expiry(), Some(T0 + 1));
    assert_eq!(fire(&mut wheel, T0 + 1), [(T0 + 1, "next second")]);
    assert!(wheel.is_empty());
}

#[test]
fn time_never_goes_backwards() {
    let mut wheel = TimingWheel::new(100);
    wheel.insert(150, 'a');
    assert_eq!(fire(&mut wheel, 200), [(150, 'a')]);
    assert!(fire(&mut wheel, 50).is_empty());
    assert_eq!(wheel.now(), 200);
    // 180 is in the past of the wheel although the caller last said 50.
    wheel.insert(180, 'b');
    wheel.insert(201, 'c');
    assert_eq!(fire(&mut wheel, 50), [(180, 'b')]);
    assert_eq!(fire(&mut wheel, 201), [(201, 'c')]);
}

#[test]
fn fires_exactly_at_level_boundaries() {
    // Every power of 64 and of 4096: the level boundaries of this wheel and of one with
    // 64 slots per level.
    let boundaries = (1..=6u32).flat_map(|level| {
        let b = 64u64.pow(level);
        [b - 1, b, b + 1]
    });
    for start in [0, 1, 63, 64, T0] {
        for offset in boundaries.clone() {
            let at = start + offset;
            let mut wheel = TimingWheel::new(start);
            let key = wheel.insert(at, ());
            let expiry = wheel.next_expiry().unwrap();
            assert!(
                expiry > start && expiry <= at,
                "{start}+{offset}: expiry {expiry}"
            );
            assert!(
                fire(&mut wheel, at - 1).is_empty(),
                "{start}+{offset}: early"
            );
            assert_eq!(wheel.due(key), Some(at));
            assert_eq!(
                fire(&mut wheel, at),
                [(at, ())],
                "{start}+{offset}: not fired"
            );
            assert_eq!(wheel.next_expiry(), None);
        }
    }
}

#[test]
fn next_expiry_is_exact_in_the_lowest_level_and_a_block_start_above() {
    let block = SLOTS as u64;
    let mut wheel = TimingWheel::new(block - 4);
    wheel.insert(block - 1, ());
    assert_eq!(wheel.next_expiry(), Some(block - 1));
    let mut wheel = TimingWheel::new(block - 4);
    // Due in the next lowest-level block: the bound is the block's start, and waking there
    // makes it exact.
    wheel.insert(block + 6, ());
    assert_eq!(wheel.next_expiry(), Some(block));
    assert!(fire(&mut wheel, block).is_empty());
    assert_eq!(wheel.next_expiry(), Some(block + 6));
}

#[test]
fn sleeping_until_next_expiry_reaches_a_deadline_decades_ahead_in_few_wakeups() {
    let at = T0 + 30 * YEAR + 12_345;
    let mut wheel = TimingWheel::new(T0);
    wheel.insert(at, "renewal");
    let mut wakeups = 0;
    loop {
        let t = wheel.next_expiry().expect("pending");
        assert!(t <= at && t > wheel.now());
        wakeups += 1;
        let fired = fire(&mut wheel, t);
        if !fired.is_empty() {
            assert_eq!(fired, [(at, "renewal")]);
            break;
        }
    }
    assert!(wakeups <= LEVELS, "{wakeups} wake-ups");
}

#[test]
fn far_future_and_the_end_of_time() {
    let mut wheel = TimingWheel::new(T0);
    let decades = T0 + 80 * YEAR;
    wheel.insert(u64::MAX, "end");
    wheel.insert(decades, "decades");
    wheel.insert(1 << 63, "2^63");
    assert!(fire(&mut wheel, decades - 1).is_empty());
    assert_eq!(fire(&mut wheel, decades), [(decades, "decades")]);
    assert_eq!(
        fire(&mut wheel, u64::MAX),
        [(1 << 63, "2^63"), (u64::MAX, "end")]
    );
    // At the last second everything is due, also what is inserted afterwards.
    wheel.insert(u64::MAX, "again");
    wheel.insert(5, "past");
    assert_eq!(wheel.next_expiry(), Some(5));
    assert_eq!(fire(&mut wheel, 0), [(5, "past"), (u64::MAX, "again")]);
}

#[test]
fn a_huge_jump_fires_everything_in_due_order() {
    let mut wheel = TimingWheel::new(T0);
    let mut dues: Vec<u64> = (0..2000u64)
        .map(|i| T0 + (i * 7_919_993) % (40 * YEAR) + i % 3)
        .collect();
    for &due in &dues {
        wheel.insert(due, due);
    }
    dues.sort_unstable();
    let fired = fire(&mut wheel, T0 + 41 * YEAR);
    let fired_dues: Vec<u64> = fired.iter().map(|&(due, _)| due).collect();
    assert_eq!(fired_dues, dues);
    assert!(fired.iter().all(|&(due, value)| due == value));
    assert!(wheel.is_empty());
}

#[test]
fn cancelled_or_fired_keys_are_stale() {
    let mut wheel = TimingWheel::new(0);
    let fired = wheel.insert(10, 'f');
    let cancelled = wheel.insert(20, 'c');
    assert_eq!(wheel.cancel(cancelled), Some('c'));
    assert_eq!(wheel.cancel(cancelled), None);
    assert_eq!(fire(&mut wheel, 30), [(10, 'f')]);
    assert_eq!(wheel.cancel(fired), None);
    assert_eq!(wheel.get(fired), None);
    assert_eq!(wheel.due(fired), None);
    assert_eq!(wheel.reschedule(fired, 40), None);
    assert!(wheel.is_empty());
}

#[test]
fn a_reused_slab_slot_does_not_answer_to_its_old_key() {
    let mut wheel = TimingWheel::new(0);
    let old = wheel.insert(100, "old");
    assert_eq!(wheel.cancel(old), Some("old"));
    let new = wheel.insert(200, "new");
    assert_eq!(new.index, old.index, "the vacant slot is reused");
    assert_ne!(new, old);
    assert_eq!(wheel.cancel(old), None);
    assert_eq!(wheel.get(new), Some(&"new"));
    assert_eq!(wheel.len(), 1);
    assert_eq!(wheel.cancel(new), Some("new"));
}

#[test]
fn generation_wraps_without_reviving_a_key() {
    assert_eq!(next_generation(NonZeroU32::MAX), NonZeroU32::MIN);
    assert_eq!(next_generation(NonZeroU32::MIN).get(), 2);
}

#[test]
fn many_timers_in_one_slot() {
    let mut wheel = TimingWheel::with_capacity(T0, 20_000);
    let same_second = T0 + 5 * DAY;
    let keys: Vec<TimerKey> = (0..20_000u64)
        .map(|i| {
            let at = if i % 2 == 0 {
                same_second
            } else {
                same_second + i % 64
            };
            wheel.insert(at, i)
        })
        .collect();
    wheel.check_invariants();
    let mut expected = Vec::new();
    for (i, &key) in keys.iter().enumerate() {
        if i % 3 == 0 {
            assert_eq!(wheel.cancel(key), Some(i as u64));
        } else {
            expected.push(i as u64);
        }
    }
    wheel.check_invariants();
    let fired = fire(&mut wheel, same_second + 64);
    assert!(fired.windows(2).all(|w| w[0].0 <= w[1].0), "out of order");
    let mut values: Vec<u64> = fired.into_iter().map(|(_, v)| v).collect();
    values.sort_unstable();
    assert_eq!(values, expected);
}

#[test]
fn cancelled_refs_are_compacted_and_reused_slots_are_not_confused() {
    let mut wheel = TimingWheel::new(T0);
    let far = T0 + 20 * DAY;
    let keys: Vec<TimerKey> = (0..1000u64).map(|i| wheel.insert(far + i, i)).collect();
    // Cancel most of them: the slot must be compacted along the way, not keep 900 dead refs.
    for &key in &keys[100..] {
        assert!(wheel.cancel(key).is_some());
        wheel.check_invariants();
    }
    // The freed slab slots are reused (last freed first) by entries in the same slot, and
    // in other slots, while older garbage may still point at them.
    let reused: Vec<TimerKey> = (0..500u64)
        .map(|i| wheel.insert(far + 7 * DAY * (i % 2) + i, 1000 + i))
        .collect();
    wheel.check_invariants();
    for &key in &reused[..250] {
        assert!(wheel.reschedule(key, far + 3).is_some());
    }
    wheel.check_invariants();
    let fired = fire(&mut wheel, far + 30 * DAY);
    let mut values: Vec<u64> = fired.iter().map(|&(_, v)| v).collect();
    values.sort_unstable();
    let expected: Vec<u64> = (0..100).chain(1000..1500).collect();
    assert_eq!(values, expected);
    assert!(fired.windows(2).all(|w| w[0].0 <= w[1].0), "out of order");
}

#[test]
fn a_drained_burst_gives_its_slot_buffer_back() {
    // 17:00 of a working day: thousands of deadlines in one second, cascaded into one slot.
    let burst = T0 + 2 * DAY;
    let mut wheel = TimingWheel::new(T0);
    for i in 0..5000 {
        wheel.insert(burst, i);
    }
    assert_eq!(fire(&mut wheel, burst).len(), 5000);
    let kept: usize = wheel.slots.iter().map(Vec::capacity).sum();
    assert!(
        kept <= 2 * RETAINED_SLOT_CAPACITY,
        "slots still hold {kept} refs of buffer"
    );
}

#[test]
fn reschedule_moves_the_value_and_retires_the_old_key() {
    let mut wheel = TimingWheel::new(1000);
    let key = wheel.insert(5000, vec![1, 2, 3]);
    let later = wheel.reschedule(key, 90_000).unwrap();
    assert_eq!(wheel.cancel(key), None);
    wheel.get_mut(later).unwrap().push(4);
    let past = wheel.reschedule(later, 10).unwrap();
    assert_eq!(wheel.get(later), None);
    assert_eq!(wheel.due(past), Some(10));
    assert_eq!(wheel.len(), 1);
    assert_eq!(fire(&mut wheel, 1000), [(10, vec![1, 2, 3, 4])]);
}

#[test]
fn poll_lets_the_caller_arm_the_next_alarm_while_draining() {
    let mut wheel = TimingWheel::new(0);
    wheel.insert(10, "yellow");
    wheel.insert(30, "late");
    let first = wheel.poll(40).unwrap();
    assert_eq!((first.due, first.value), (10, "yellow"));
    // Arming the next level of the ladder, itself already due.
    wheel.insert(20, "red");
    wheel.check_invariants();
    let order: Vec<_> = std::iter::from_fn(|| wheel.poll(40))
        .map(|e| (e.due, e.value))
        .collect();
    assert_eq!(order, [(20, "red"), (30, "late")]);
    wheel.check_invariants();
}

/// One step of the property test.
#[derive(Debug, Clone)]
enum Op {
    /// Insert due `now + ahead` (saturating; negative is the past).
    Insert {
        ahead: i64,
    },
    /// Insert `n` entries due within a few seconds of `now + ahead`: crowded slots.
    InsertMany {
        ahead: i64,
        n: u64,
    },
    /// Cancel one of all keys ever issued, live or stale.
    Cancel {
        pick: usize,
    },
    /// Cancel `n` keys issued one after another: enough garbage to compact a slot.
    CancelMany {
        pick: usize,
        n: usize,
    },
    Reschedule {
        pick: usize,
        ahead: i64,
    },
    /// `advance(now + step)`.
    Advance {
        step: u64,
    },
    /// `advance(now - back)`: must not move time back.
    AdvanceBackwards {
        back: u64,
    },
    /// Up to `n` calls of `poll(now + step)`.
    Poll {
        step: u64,
        n: usize,
    },
    /// What the daemon does: advance to `next_expiry()` until something fires.
    SleepUntilNextExpiry,
}

fn ahead() -> impl Strategy<Value = i64> {
    // Biased to the next minutes so that low levels fill and cascade; some hours, days and
    // years so that every level and long cascades are exercised.
    prop_oneof![
        8 => -70i64..300,
        4 => -5_000i64..100_000,
        2 => 0i64..(64i64.pow(4) * 3),
        1 => 0i64..(40 * YEAR as i64),
        1 => Just(i64::MAX),
    ]
}

fn step() -> impl Strategy<Value = u64> {
    prop_oneof![
        8 => 0u64..70,
        3 => 0u64..10_000,
        1 => 0u64..(64u64.pow(4) * 2),
        1 => 0u64..(50 * YEAR),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => ahead().prop_map(|ahead| Op::Insert { ahead }),
        1 => (ahead(), 1u64..120).prop_map(|(ahead, n)| Op::InsertMany { ahead, n }),
        3 => any::<usize>().prop_map(|pick| Op::Cancel { pick }),
        1 => (any::<usize>(), 1usize..120).prop_map(|(pick, n)| Op::CancelMany { pick, n }),
        2 => (any::<usize>(), ahead()).prop_map(|(pick, ahead)| Op::Reschedule { pick, ahead }),
        4 => step().prop_map(|step| Op::Advance { step }),
        1 => (0u64..1000).prop_map(|back| Op::AdvanceBackwards { back }),
        2 => (step(), 1usize..6).prop_map(|(step, n)| Op::Poll { step, n }),
        1 => Just(Op::SleepUntilNextExpiry),
    ]
}

/// The obvious implementation: pending entries ordered by due second.
struct Model {
    now: u64,
    /// `(due, id) -> key`.
    pending: BTreeMap<(u64, u64), TimerKey>,
    /// Live key -> `(due, id)`.
    live: HashMap<TimerKey, (u64, u64)>,
    issued: Vec<TimerKey>,
    next_id: u64,
}

impl Model {
    fn at(&self, ahead: i64) -> u64 {
        self.now.saturating_add_signed(ahead)
    }

    fn insert(&mut self, key: TimerKey, due: u64, id: u64) {
        assert!(
            !self.live.contains_key(&key),
            "key {key:?} handed out twice"
        );
        self.pending.insert((due, id), key);
        self.live.insert(key, (due, id));
        self.issued.push(key);
    }

    fn remove(&mut self, key: TimerKey) -> Option<(u64, u64)> {
        let entry = self.live.remove(&key)?;
        self.pending.remove(&entry);
        Some(entry)
    }

    fn earliest(&self) -> Option<u64> {
        self.pending.keys().next().map(|&(due, _)| due)
    }
}

struct Harness {
    wheel: TimingWheel<u64>,
    model: Model,
    /// Whether `advance` or a `poll` returning `None` ran last (see `next_expiry`).
    settled: bool,
}

impl Harness {
    /// `advance(now)`, checked against the model: the same entries, in due order, none early.
    fn advance(&mut self, now: u64) -> usize {
        let mut fired = Vec::new();
        self.wheel
            .advance(now, |key, due, id| fired.push((key, due, id)));
        self.model.now = self.model.now.max(now);
        self.settled = true;
        for pair in fired.windows(2) {
            assert!(pair[0].1 <= pair[1].1, "out of due order: {pair:?}");
        }
        let mut got: Vec<(u64, u64, TimerKey)> =
            fired.iter().map(|&(key, due, id)| (due, id, key)).collect();
        got.sort_unstable_by_key(|&(due, id, _)| (due, id));
        let mut expected = Vec::new();
        while let Some(entry) = self.model.pending.first_entry() {
            let (due, id) = *entry.key();
            if due > self.model.now {
                break;
            }
            let key = entry.remove();
            self.model.live.remove(&key);
            expected.push((due, id, key));
        }
        assert_eq!(got, expected, "fired at {}", self.model.now);
        fired.len()
    }

    /// Cancels the `pick`-th issued key (modulo), live or stale, as the model says.
    fn cancel(&mut self, pick: usize) {
        let model = &mut self.model;
        if model.issued.is_empty() {
            return;
        }
        let key = model.issued[pick % model.issued.len()];
        let expected = model.remove(key).map(|(_, id)| id);
        assert_eq!(self.wheel.cancel(key), expected, "cancel {key:?}");
    }

    fn apply(&mut self, op: &Op) {
        let model = &mut self.model;
        match *op {
            Op::Insert { ahead } => {
                let at = model.at(ahead);
                let id = model.next_id;
                model.next_id += 1;
                let key = self.wheel.insert(at, id);
                model.insert(key, at, id);
            }
            Op::InsertMany { ahead, n } => {
                for i in 0..n {
                    let at = model.at(ahead).saturating_add(i % 3);
                    let id = model.next_id;
                    model.next_id += 1;
                    let key = self.wheel.insert(at, id);
                    model.insert(key, at, id);
                }
            }
            Op::Cancel { pick } => self.cancel(pick),
            Op::CancelMany { pick, n } => {
                for i in 0..n {
                    self.cancel(pick.wrapping_add(i));
                }
            }
            Op::Reschedule { pick, ahead } => {
                if model.issued.is_empty() {
                    return;
                }
                let key = model.issued[pick % model.issued.len()];
                let at = model.at(ahead);
                match model.remove(key) {
                    Some((_, id)) => {
                        let new = self.wheel.reschedule(key, at).expect("live key");
                        assert_eq!(self.wheel.get(new), Some(&id));
                        model.insert(new, at, id);
                    }
                    None => assert_eq!(self.wheel.reschedule(key, at), None),
                }
            }
            Op::Advance { step } => {
                let now = model.now.saturating_add(step);
                self.advance(now);
            }
            Op::AdvanceBackwards { back } => {
                let now = model.now.saturating_sub(back);
                self.advance(now);
            }
            Op::Poll { step, n } => {
                let now = model.now.saturating_add(step);
                model.now = now;
                for _ in 0..n {
                    match self.wheel.poll(now) {
                        Some(Expired { key, due, value }) => {
                            self.settled = false;
                            assert_eq!(Some(due), model.earliest(), "poll not the earliest");
                            assert!(due <= now, "poll fired {due} before {now}");
                            assert_eq!(model.remove(key), Some((due, value)));
                        }
                        None => {
                            self.settled = true;
                            assert!(model.earliest().is_none_or(|due| due > now));
                            break;
                        }
                    }
                }
            }
            Op::SleepUntilNextExpiry => {
                let mut wakeups = 0;
                while let Some(t) = self.wheel.next_expiry() {
                    wakeups += 1;
                    assert!(wakeups <= LEVELS + 1, "{wakeups} wake-ups without a firing");
                    if self.advance(t) > 0 {
                        break;
                    }
                }
            }
        }
    }

    fn check(&self) {
        let model = &self.model;
        assert_eq!(self.wheel.len(), model.live.len(), "len");
        assert_eq!(self.wheel.now(), model.now, "now");
        match (self.wheel.next_expiry(), model.earliest()) {
            (None, None) => {}
            (Some(t), Some(earliest)) => {
                assert!(
                    t <= earliest,
                    "next_expiry {t} after the earliest due {earliest}"
                );
                if earliest <= model.now {
                    assert!(t <= model.now, "due entry pending but next_expiry {t}");
                } else if self.settled {
                    assert!(t > model.now, "next_expiry {t} would wake for nothing");
                }
            }
            (t, earliest) => panic!("next_expiry {t:?} with earliest due {earliest:?}"),
        }
        for (&key, &(due, id)) in &model.live {
            assert_eq!(self.wheel.get(key), Some(&id));
            assert_eq!(self.wheel.due(key), Some(due));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn behaves_like_an_ordered_map(
        start in prop_oneof![4 => 0u64..(1 << 40), 1 => (u64::MAX - (1 << 40))..=u64::MAX],
        ops in prop::collection::vec(op(), 1..300),
    ) {
        let mut harness = Harness {
            wheel: TimingWheel::new(start),
            model: Model {
                now: start,
                pending: BTreeMap::new(),
                live: HashMap::new(),
                issued: Vec::new(),
                next_id: 0,
            },
            settled: true,
        };
        for (i, op) in ops.iter().enumerate() {
            harness.apply(op);
            // Walking all 24,576 slots after every insert would make this test take minutes;
            // a broken invariant persists, so it is still caught at the next full check.
            let moves_time = matches!(
                op,
                Op::Advance { .. } | Op::AdvanceBackwards { .. } | Op::Poll { .. } | Op::SleepUntilNextExpiry
            );
            if moves_time || i % 8 == 0 || i + 1 == ops.len() {
                harness.wheel.check_invariants();
            }
            harness.check();
        }
        // Nothing is lost: at the end of time everything fires.
        harness.advance(u64::MAX);
        prop_assert!(harness.wheel.is_empty());
    }
}
