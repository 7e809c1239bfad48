//! The deadline engine at scale: resident memory per open case, and the time to accept one,
//! to recount one on a calendar replacement, and to restore one from its record (recovery).
//!
//! `cargo bench --bench cases` fills one engine with 1 million open cases (set
//! `HALLQ_BENCH_CASES=10000000` for the 10-million figure of DESIGN.md) on the demo
//! catalogue and the official calendar: promised 3wd and 20wd matters and joint cases, spread
//! over three months of acceptances, every one with its alarm timer armed. Memory is the
//! growth of the process's resident set (VmRSS) while filling, divided by the cases: what
//! DESIGN.md's "bytes resident per open case" means, allocator overhead included.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use hallq::calendar::Calendar;
use hallq::config::Config;
use hallq::deadline::{CaseCommand, CaseRecord, ClosedCases, DeadlineEngine};
use jiff::{SignedDuration, Timestamp};

/// Every id accepted here is new: none was ever closed.
struct NothingClosed;

impl ClosedCases for NothingClosed {
    fn closed(&self, _id: &str) -> Result<Option<CaseRecord>, String> {
        Ok(None)
    }
}

const NOTHING_CLOSED: NothingClosed = NothingClosed;

fn now() -> Timestamp {
    "2026-09-01T02:00:00Z".parse().unwrap()
}

/// Resident set size of this process, in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .expect("VmRSS in /proc/self/status")
}

fn accept(config: &Config, i: usize) -> CaseCommand {
    // Matters: 3wd (standard ladder), 20wd (early ladder), 8wh; accepted over 90 days.
    let matters = ["330100-CN-0001", "330100-CN-0002", "330100-CN-0003"];
    let accepted = now() - SignedDuration::from_secs((i as i64 * 7919) % (90 * 86_400));
    CaseCommand::Accept {
        id: format!("330100-2026-{i:08}"),
        hall: i % config.halls.len(),
        matter: config.matter_index(matters[i % matters.len()]).unwrap(),
        accepted_at: accepted,
        origin: None,
        applicant: None,
        bundle: None,
    }
}

fn fill(config: &Arc<Config>, n: usize) -> DeadlineEngine {
    let mut engine = DeadlineEngine::new(config.catalogue.clone(), now());
    let mut events = Vec::new();
    for i in 0..n {
        engine
            .apply(now(), accept(config, i), &NOTHING_CLOSED, &mut events)
            .unwrap();
        events.clear();
        // The daemon hands the changed records to the store every pass; doing the same here
        // keeps the measurement to what stays resident.
        if i % 1000 == 999 {
            drop(engine.take_changes());
        }
    }
    drop(engine.take_changes());
    engine
}

fn cases(c: &mut Criterion) {
    let n: usize = std::env::var("HALLQ_BENCH_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let config = Arc::new(Config::demo());

    let before = rss();
    let mut engine = fill(&config, n);
    let after = rss();
    eprintln!(
        "open cases: {n}; resident memory grew {:.1} MiB: {:.0} bytes per open case; timers pending: {}",
        (after - before) as f64 / 1048576.0,
        (after - before) as f64 / n as f64,
        engine.pending()
    );

    let mut g = c.benchmark_group(format!("cases/{n}"));
    g.sample_size(10);
    g.throughput(Throughput::Elements(1));
    let mut next = n;
    g.bench_function("accept", |b| {
        b.iter_batched(
            || {
                next += 1;
                accept(&config, next)
            },
            |cmd| {
                let mut events = Vec::new();
                black_box(
                    engine
                        .apply(now(), cmd, &NOTHING_CLOSED, &mut events)
                        .unwrap(),
                );
            },
            BatchSize::SmallInput,
        )
    });
    drop(engine.take_changes());

    // Recovery: building the engine from stored records.
    let records: Vec<CaseRecord> = {
        let mut small = DeadlineEngine::new(config.catalogue.clone(), now());
        let mut events = Vec::new();
        for i in 0..100_000 {
            small
                .apply(now(), accept(&config, i), &NOTHING_CLOSED, &mut events)
                .unwrap();
            events.clear();
        }
        small.take_changes().into_iter().map(|c| c.record).collect()
    };
    g.throughput(Throughput::Elements(records.len() as u64));
    g.bench_function("restore 100k records", |b| {
        b.iter_batched(
            || records.clone(),
            |records| {
                let mut e = DeadlineEngine::new(config.catalogue.clone(), now());
                for r in records {
                    e.restore(r).unwrap();
                }
                black_box(e.len())
            },
            BatchSize::LargeInput,
        )
    });

    // A calendar replacement recounts every open case on it.
    let official = include_str!("../config/calendars/cn-mainland.toml");
    let cal = Arc::new(Calendar::from_toml("bench", official).unwrap());
    g.throughput(Throughput::Elements(engine.len() as u64));
    g.bench_function("recount on calendar replacement", |b| {
        b.iter(|| {
            let mut events = Vec::new();
            black_box(
                engine
                    .replace_calendar(now(), "cn-mainland", cal.clone(), &mut events)
                    .unwrap(),
            );
        })
    });
    g.finish();
}

criterion_group!(benches, cases);
criterion_main!(benches);
