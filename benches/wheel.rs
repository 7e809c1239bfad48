//! The timing wheel against a binary heap with lazy deletion and tokio-util's `DelayQueue`,
//! at 1 million and 10 million pending deadlines (DESIGN.md, "Performance targets").
//!
//! What is measured, per operation, on a structure that already holds `n` deadlines:
//!
//! - `insert`: a timed batch of inserts with fresh due seconds; afterwards, untimed, as many
//!   random old entries are cancelled, so `n` stays put and the next batch reuses cold slab
//!   slots, as in a daemon whose frees come from anywhere.
//! - `cancel`: a timed batch of cancels of random live keys (distinct within the batch);
//!   afterwards, untimed, as many fresh deadlines are inserted.
//! - `expire`: the clock moves in 60 s steps and everything due fires; 60 steps (one simulated
//!   hour) are timed together and the time reported is per expired entry (total timed / total
//!   fired). Fired entries are re-armed 91 days later, untimed, so the population and its
//!   spread stay the same while simulated time runs for months: the cost of the wheel's
//!   cascades is amortized over as many rotations as it really has, not sampled from one
//!   lucky window. (A daemon that wakes every second fires ~1 entry per wake at 10M; that is
//!   latency-bound, ~one DRAM round trip, and no throughput problem.)
//!
//! Due seconds follow a hall's mix: 65% at 17:00 (+08:00, close of office hours) of one of the
//! next 60 working days (Mon–Fri; holidays ignored), so about 100,000 share a second at 10M,
//! and 35% spread uniformly to the second over the next 91 days (working-hour limits, alarm
//! thresholds). Fills are done once per size and structure, outside the measurement; batches
//! are timed with `iter_custom`, so criterion's per-iteration time is ns per operation.
//!
//! The contestants:
//!
//! - `wheel`: `hallq::wheel::TimingWheel<u64>`.
//! - `heap`: `BinaryHeap` of `(due, slot, generation)` (16 bytes) plus a slab of values with
//!   generations. Cancel bumps the generation (the heap entry becomes a tombstone), expiry pops
//!   and skips tombstones. When tombstones outnumber live entries, the cancel that notices
//!   rebuilds the heap without them (`retain`), so memory stays within 2× of live; that
//!   rebuild is part of the measured cancel cost, as it would be in a daemon.
//! - `delay_queue`: `tokio_util::time::DelayQueue<u64>` on a current-thread runtime with paused
//!   time. Each step moves the clock with `tokio::time::advance` inside `block_on` (untimed:
//!   that is the runtime's timer driver, not the queue), then drains with `poll_expired` and a
//!   no-op waker until it returns `Pending`; only the drain is timed. Inserts and removes run
//!   inside the runtime context (`Runtime::enter`, once per batch), as the queue needs.
//!   Its resolution is 1 ms; deadlines are whole seconds from a base `Instant`.
//!
//! Clock: the benchmark thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), because the reference
//! machine is shared and a wall clock also counts the time other tenants hold the core; set
//! `HALLQ_BENCH_CLOCK=wall` for `Instant`. Either is read once per batch (≥ 10,000 operations
//! or one simulated hour), so its cost (~0.4 µs in the VM) stays below 1%, except for
//! `DelayQueue`'s expiry, timed per 60 s step around the drain alone.
//!
//! Memory: a counting global allocator reports heap bytes held per pending deadline right
//! after each fill, and again at the end by dropping each structure, when it also holds what
//! the churn of the runs left behind (printed to stderr as `memory:` lines).
//!
//! Run with `cargo bench --bench wheel`; a size can be picked with `HALLQ_BENCH_SIZES=1M` or
//! `10M`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::hint::black_box;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use cpu_time::ThreadTime;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hallq::wheel::{TimerKey, TimingWheel};
use tokio_util::time::DelayQueue;
use tokio_util::time::delay_queue::Key as DelayKey;

/// Counts bytes currently allocated, to report memory per deadline. Implementing
/// `GlobalAlloc` is `unsafe` by definition; this one only forwards to `System` and counts.
struct CountingAllocator;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so
// `System`'s guarantees carry over; the counter has no effect on the memory handed out.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded; the caller guarantees `ptr` came from this allocator.
        unsafe { System.dealloc(ptr, layout) };
        ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded; the caller guarantees `ptr` and `layout` match.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            ALLOCATED.fetch_add(new_size, Ordering::Relaxed);
            ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        new
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

const DAY: u64 = 86_400;
/// Re-arm distance for fired entries: 13 weeks keeps weekday and time of day.
const REARM: u64 = 91 * DAY;
/// 2026-03-02T09:00:00+08:00, a Monday morning.
const T0: u64 = 1_772_413_200;
const UTC_OFFSET: u64 = 8 * 3600;
/// Clock step of the expire benchmark.
const STEP: u64 = 60;
/// Steps timed together: one simulated hour.
const STEPS_PER_BATCH: u64 = 60;
/// Operations per timed batch: long enough that reading the clock does not matter.
const BATCH: usize = 10_000;

/// Now on the benchmark's clock (see the module doc).
fn clock() -> Duration {
    static WALL: OnceLock<Option<Instant>> = OnceLock::new();
    let wall = WALL.get_or_init(|| {
        (std::env::var("HALLQ_BENCH_CLOCK").as_deref() == Ok("wall")).then(Instant::now)
    });
    match wall {
        Some(start) => start.elapsed(),
        None => ThreadTime::now().as_duration(),
    }
}

/// SplitMix64: deterministic and dependency-free; quality is ample for picking slots.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }
}

/// A due second after `now` from the hall mix described in the module doc.
fn due_after(now: u64, rng: &mut Rng) -> u64 {
    if rng.below(100) < 65 {
        let mut day = (now + UTC_OFFSET) / DAY;
        let mut left = 1 + rng.below(60);
        while left > 0 {
            day += 1;
            // 1970-01-01 was a Thursday: (day + 3) % 7 is 0 on Mondays.
            if (day + 3) % 7 < 5 {
                left -= 1;
            }
        }
        day * DAY + 17 * 3600 - UTC_OFFSET
    } else {
        now + 1 + rng.below(REARM)
    }
}

/// What the benchmark needs from each contestant. Values are positions in the harness's key
/// table, so that a fired or cancelled entry can be found and re-armed there.
trait Deadlines {
    type Key: Copy;
    const NAME: &'static str;
    fn insert_batch(&mut self, dues: &[(u64, u64)], keys: &mut Vec<Self::Key>);
    fn cancel_batch(&mut self, keys: &[Self::Key], values: &mut Vec<u64>);
    /// Fires everything due at `now` into `fired` as `(due, value)`.
    fn expire(&mut self, now: u64, fired: &mut Vec<(u64, u64)>);
    /// Steps the clock `STEPS_PER_BATCH` times after `from`, firing into `fired`; returns
    /// the time the expiries took.
    fn expire_batch(&mut self, from: u64, fired: &mut Vec<(u64, u64)>) -> Duration {
        let started = clock();
        for step in 1..=STEPS_PER_BATCH {
            self.expire(from + step * STEP, fired);
        }
        clock() - started
    }
}

impl Deadlines for TimingWheel<u64> {
    type Key = TimerKey;
    const NAME: &'static str = "wheel";

    fn insert_batch(&mut self, dues: &[(u64, u64)], keys: &mut Vec<TimerKey>) {
        keys.extend(dues.iter().map(|&(at, value)| self.insert(at, value)));
    }

    fn cancel_batch(&mut self, keys: &[TimerKey], values: &mut Vec<u64>) {
        values.extend(keys.iter().map(|&key| self.cancel(key).expect("live key")));
    }

    fn expire(&mut self, now: u64, fired: &mut Vec<(u64, u64)>) {
        self.advance(now, |_, due, value| fired.push((due, value)));
    }
}

/// Binary heap with lazy deletion, written as well as such a thing is usually written.
struct LazyHeap {
    heap: BinaryHeap<Reverse<(u64, u32, u32)>>,
    slots: Vec<HeapSlot>,
    free: Vec<u32>,
    live: usize,
    tombstones: usize,
}

struct HeapSlot {
    value: u64,
    generation: u32,
    live: bool,
}

#[derive(Clone, Copy)]
struct HeapKey {
    index: u32,
    generation: u32,
}

impl LazyHeap {
    fn with_capacity(n: usize) -> Self {
        LazyHeap {
            heap: BinaryHeap::with_capacity(n),
            slots: Vec::with_capacity(n),
            free: Vec::new(),
            live: 0,
            tombstones: 0,
        }
    }

    fn insert(&mut self, at: u64, value: u64) -> HeapKey {
        let index = match self.free.pop() {
            Some(index) => {
                let slot = &mut self.slots[index as usize];
                slot.value = value;
                slot.live = true;
                index
            }
            None => {
                self.slots.push(HeapSlot {
                    value,
                    generation: 0,
                    live: true,
                });
                (self.slots.len() - 1) as u32
            }
        };
        let generation = self.slots[index as usize].generation;
        self.heap.push(Reverse((at, index, generation)));
        self.live += 1;
        HeapKey { index, generation }
    }

    fn cancel(&mut self, key: HeapKey) -> Option<u64> {
        let slot = &mut self.slots[key.index as usize];
        if !slot.live || slot.generation != key.generation {
            return None;
        }
        slot.live = false;
        slot.generation = slot.generation.wrapping_add(1);
        let value = slot.value;
        self.free.push(key.index);
        self.live -= 1;
        self.tombstones += 1;
        if self.tombstones > self.live.max(1024) {
            let slots = &self.slots;
            self.heap.retain(|Reverse((_, index, generation))| {
                let slot = &slots[*index as usize];
                slot.live && slot.generation == *generation
            });
            self.tombstones = 0;
        }
        Some(value)
    }
}

impl Deadlines for LazyHeap {
    type Key = HeapKey;
    const NAME: &'static str = "heap";

    fn insert_batch(&mut self, dues: &[(u64, u64)], keys: &mut Vec<HeapKey>) {
        keys.extend(dues.iter().map(|&(at, value)| self.insert(at, value)));
    }

    fn cancel_batch(&mut self, keys: &[HeapKey], values: &mut Vec<u64>) {
        values.extend(keys.iter().map(|&key| self.cancel(key).expect("live key")));
    }

    fn expire(&mut self, now: u64, fired: &mut Vec<(u64, u64)>) {
        while let Some(&Reverse((due, index, generation))) = self.heap.peek() {
            if due > now {
                break;
            }
            self.heap.pop();
            let slot = &mut self.slots[index as usize];
            if slot.live && slot.generation == generation {
                slot.live = false;
                slot.generation = slot.generation.wrapping_add(1);
                self.free.push(index);
                self.live -= 1;
                fired.push((due, slot.value));
            } else {
                self.tombstones -= 1;
            }
        }
    }
}

/// `DelayQueue` with the runtime it needs and the mapping between seconds and `Instant`s.
struct TokioQueue {
    queue: DelayQueue<u64>,
    runtime: tokio::runtime::Runtime,
    base: tokio::time::Instant,
    clock: u64,
}

impl TokioQueue {
    fn with_capacity(n: usize) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("tokio runtime");
        let (queue, base) = {
            let _inside = runtime.enter();
            (DelayQueue::with_capacity(n), tokio::time::Instant::now())
        };
        TokioQueue {
            queue,
            runtime,
            base,
            clock: T0,
        }
    }

    fn instant(&self, at: u64) -> tokio::time::Instant {
        self.base + Duration::from_secs(at - T0)
    }
}

impl Deadlines for TokioQueue {
    type Key = DelayKey;
    const NAME: &'static str = "delay_queue";

    fn insert_batch(&mut self, dues: &[(u64, u64)], keys: &mut Vec<DelayKey>) {
        let _inside = self.runtime.enter();
        for &(at, value) in dues {
            let when = self.instant(at);
            keys.push(self.queue.insert_at(value, when));
        }
    }

    fn cancel_batch(&mut self, keys: &[DelayKey], values: &mut Vec<u64>) {
        let _inside = self.runtime.enter();
        values.extend(
            keys.iter()
                .map(|key| self.queue.try_remove(key).expect("live key").into_inner()),
        );
    }

    /// The runtime's clock moves between steps, untimed: that is the timer driver's work.
    fn expire_batch(&mut self, from: u64, fired: &mut Vec<(u64, u64)>) -> Duration {
        let mut timed = Duration::ZERO;
        for step in 1..=STEPS_PER_BATCH {
            let now = from + step * STEP;
            let by = Duration::from_secs(now - self.clock);
            self.runtime.block_on(tokio::time::advance(by));
            self.clock = now;
            let started = clock();
            self.expire(now, fired);
            timed += clock() - started;
        }
        timed
    }

    fn expire(&mut self, _now: u64, fired: &mut Vec<(u64, u64)>) {
        let _inside = self.runtime.enter();
        let mut cx = Context::from_waker(Waker::noop());
        while let Poll::Ready(Some(expired)) = self.queue.poll_expired(&mut cx) {
            let due = T0 + (expired.deadline() - self.base).as_secs();
            fired.push((due, expired.into_inner()));
        }
    }
}

/// A contestant holding `n` deadlines, with the key of each by position.
struct Bench<D: Deadlines> {
    deadlines: D,
    keys: Vec<D::Key>,
    now: u64,
    rng: Rng,
}

impl<D: Deadlines> Bench<D> {
    /// Fills `deadlines` with `n` entries and prints the heap bytes that cost.
    fn fill(n: usize, make: impl FnOnce() -> D) -> Self {
        let mut rng = Rng(0x0068_616c_6c71); // "hallq"
        let dues: Vec<(u64, u64)> = (0..n as u64)
            .map(|p| (due_after(T0, &mut rng), p))
            .collect();
        let mut keys = Vec::with_capacity(n);
        let before = ALLOCATED.load(Ordering::Relaxed);
        let started = Instant::now();
        let mut deadlines = make();
        deadlines.insert_batch(&dues, &mut keys);
        let took = started.elapsed();
        let bytes = ALLOCATED.load(Ordering::Relaxed) - before;
        eprintln!(
            "memory: {:<11} {:>3}M pending: {:>6.1} heap bytes per deadline (value: 8), filled in {:.2?}",
            D::NAME,
            n / 1_000_000,
            bytes as f64 / n as f64,
            took
        );
        Bench {
            deadlines,
            keys,
            now: T0,
            rng,
        }
    }

    /// Drops the structure and prints the heap bytes it held per pending deadline: after
    /// the runs it also holds what churn left behind (tombstones, slack, free slots).
    fn report_memory_at_end(self) {
        let Bench {
            deadlines, keys, ..
        } = self;
        let n = keys.len();
        drop(keys);
        let before = ALLOCATED.load(Ordering::Relaxed);
        drop(deadlines);
        let bytes = before - ALLOCATED.load(Ordering::Relaxed);
        eprintln!(
            "memory: {:<11} {:>3}M pending: {:>6.1} heap bytes per deadline after the runs",
            D::NAME,
            n / 1_000_000,
            bytes as f64 / n as f64,
        );
    }

    /// `count` distinct random positions in the key table.
    fn pick(&mut self, count: usize) -> Vec<usize> {
        let mut seen = HashSet::with_capacity(count);
        let mut picked = Vec::with_capacity(count);
        while picked.len() < count {
            let p = self.rng.below(self.keys.len() as u64) as usize;
            if seen.insert(p) {
                picked.push(p);
            }
        }
        picked
    }

    fn fresh_dues(&mut self, positions: &[usize]) -> Vec<(u64, u64)> {
        positions
            .iter()
            .map(|&p| (due_after(self.now, &mut self.rng), p as u64))
            .collect()
    }

    fn bench_insert(&mut self, iters: u64) -> Duration {
        let mut timed = Duration::ZERO;
        let mut done = 0;
        let mut new_keys = Vec::with_capacity(BATCH);
        let mut values = Vec::with_capacity(BATCH);
        while done < iters {
            let count = (iters - done).min(BATCH as u64) as usize;
            // The positions whose old entries make room afterwards; the new entries take them.
            let positions = self.pick(count);
            let dues = self.fresh_dues(&positions);
            new_keys.clear();
            let started = clock();
            self.deadlines.insert_batch(black_box(&dues), &mut new_keys);
            timed += clock() - started;
            let old: Vec<D::Key> = positions.iter().map(|&p| self.keys[p]).collect();
            values.clear();
            self.deadlines.cancel_batch(&old, &mut values);
            for (&p, &key) in positions.iter().zip(&new_keys) {
                self.keys[p] = key;
            }
            done += count as u64;
        }
        timed
    }

    fn bench_cancel(&mut self, iters: u64) -> Duration {
        let mut timed = Duration::ZERO;
        let mut done = 0;
        let mut new_keys = Vec::with_capacity(BATCH);
        let mut values = Vec::with_capacity(BATCH);
        while done < iters {
            let count = (iters - done).min(BATCH as u64) as usize;
            let positions = self.pick(count);
            let old: Vec<D::Key> = positions.iter().map(|&p| self.keys[p]).collect();
            values.clear();
            let started = clock();
            self.deadlines.cancel_batch(black_box(&old), &mut values);
            timed += clock() - started;
            let dues = self.fresh_dues(&positions);
            new_keys.clear();
            self.deadlines.insert_batch(&dues, &mut new_keys);
            for (&p, &key) in positions.iter().zip(&new_keys) {
                self.keys[p] = key;
            }
            done += count as u64;
        }
        timed
    }

    /// Time per expired entry, scaled to `iters` entries.
    fn bench_expire(&mut self, iters: u64) -> Duration {
        let mut timed = Duration::ZERO;
        let mut fired_total = 0;
        let mut fired = Vec::new();
        let mut new_keys = Vec::new();
        while fired_total < iters {
            fired.clear();
            timed += self.deadlines.expire_batch(self.now, &mut fired);
            self.now += STEPS_PER_BATCH * STEP;
            fired_total += fired.len() as u64;
            let rearm: Vec<(u64, u64)> = fired.iter().map(|&(due, p)| (due + REARM, p)).collect();
            new_keys.clear();
            self.deadlines.insert_batch(&rearm, &mut new_keys);
            for (&(_, p), &key) in rearm.iter().zip(&new_keys) {
                self.keys[p as usize] = key;
            }
        }
        timed.mul_f64(iters as f64 / fired_total as f64)
    }
}

fn sizes() -> Vec<(usize, &'static str)> {
    let all = [(1_000_000, "1M"), (10_000_000, "10M")];
    match std::env::var("HALLQ_BENCH_SIZES") {
        Ok(pick) => all
            .into_iter()
            .filter(|(_, name)| pick.split(',').any(|p| p == *name))
            .collect(),
        Err(_) => all.to_vec(),
    }
}

fn compare(c: &mut Criterion) {
    for (n, label) in sizes() {
        eprintln!("load average before {label}: {}", load_average());
        let capacity = n + BATCH;
        let mut wheel = Bench::fill(n, || TimingWheel::with_capacity(T0, capacity));
        let mut heap = Bench::fill(n, || LazyHeap::with_capacity(capacity));
        let mut queue = Bench::fill(n, || TokioQueue::with_capacity(capacity));

        let mut group = c.benchmark_group(format!("insert/{label}"));
        group.throughput(Throughput::Elements(1));
        group.bench_function("wheel", |b| b.iter_custom(|i| wheel.bench_insert(i)));
        group.bench_function("heap", |b| b.iter_custom(|i| heap.bench_insert(i)));
        group.bench_function("delay_queue", |b| b.iter_custom(|i| queue.bench_insert(i)));
        group.finish();

        let mut group = c.benchmark_group(format!("cancel/{label}"));
        group.throughput(Throughput::Elements(1));
        group.bench_function("wheel", |b| b.iter_custom(|i| wheel.bench_cancel(i)));
        group.bench_function("heap", |b| b.iter_custom(|i| heap.bench_cancel(i)));
        group.bench_function("delay_queue", |b| b.iter_custom(|i| queue.bench_cancel(i)));
        group.finish();

        let mut group = c.benchmark_group(format!("expire/{label}"));
        group.throughput(Throughput::Elements(1));
        group.bench_function("wheel", |b| b.iter_custom(|i| wheel.bench_expire(i)));
        group.bench_function("heap", |b| b.iter_custom(|i| heap.bench_expire(i)));
        group.bench_function("delay_queue", |b| b.iter_custom(|i| queue.bench_expire(i)));
        group.finish();

        assert_eq!(wheel.deadlines.len(), n, "the wheel lost or gained entries");
        assert_eq!(
            queue.deadlines.queue.len(),
            n,
            "the DelayQueue lost entries"
        );
        assert_eq!(heap.deadlines.live, n, "the heap lost entries");
        wheel.report_memory_at_end();
        heap.report_memory_at_end();
        queue.report_memory_at_end();
        eprintln!("load average after {label}: {}", load_average());
    }
}

/// Other tenants of a shared machine show here; worth recording next to the figures.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(|e| e.to_string(), |l| l.trim().into())
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = compare
}
criterion_main!(benches);
