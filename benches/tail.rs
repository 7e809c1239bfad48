//! What the store's reads on the request path cost while the log's tail is long: the tail
//! holds every record since the last checkpoint, up to a second of writes under load.
//!
//! `cargo bench --bench tail` commits, through the store's writer, about a second of the mixed
//! hall workload at 12,000 requests a second (`HALLQ_BENCH_REQUESTS`, default 12,000, at least
//! 800: a ticket write and its event on the hall's stream per request, over 100 halls; a case
//! opened every 4th request and one closed every 8th), with checkpoints held off so it all
//! stays in the tail, then times:
//!
//! - `closed_case/new id`: the case engine's question for every case command whose id is
//!   not open (every accept of a new case): the id was never closed;
//! - `closed_case/closed in the tail` and `open_case/open in the tail`;
//! - `read_events/relay`: the case engine's relay taking on a hall's stream from a point
//!   near its head (every hall every 250 ms);
//! - `read_events/head`: a stream's last number (`Last-Event-ID` checks, the writer).
//!
//! Files go under cargo's target directory.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hallq::store::{Batch, Op, Publish, Published, Store, WriterHandle};

const HALLS: usize = 100;

struct Nobody;

impl Publish for Nobody {
    fn publish(&self, _: &[Published]) {}
}

/// The fewest requests the reads timed need: a case closed 400 requests after it opened and
/// 400 before the end, and a stream a few events long (one event every `HALLS` requests).
const FEWEST: usize = 800;

fn requests() -> usize {
    let n = std::env::var("HALLQ_BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12_000);
    assert!(
        n >= FEWEST,
        "HALLQ_BENCH_REQUESTS={n}: the benchmark needs at least {FEWEST} requests (a case \
         closed in the tail, a stream of several events)"
    );
    n
}

/// A case record as the store holds it.
fn case(id: &str) -> Vec<u8> {
    hallq::store::encode_case(
        serde_json::from_str(&format!(
            r#"{{"id":"{id}","hall":"h1","matter":"330100-CN-0002","state":"open","stage":"single","accepted_at":"2026-12-04T05:32:31.474708238Z","stage_start":"2026-12-04T05:32:31.474708238Z","open_children":0,"fired":0,"counts":[0,0,0,0,0,0,0,0],"deadline":"2027-01-01T09:00:00Z"}}"#
        ))
        .expect("a case record"),
    )
}

/// A store whose tail holds `n` requests' writes, none checkpointed, and its writer: stopping
/// the writer would checkpoint.
fn filled(n: usize) -> (tempfile::TempDir, Store, WriterHandle) {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("a scratch directory");
    let cfg = hallq::config::StoreConfig {
        event_retention: 10_000,
        max_batch: 64,
        idempotency_ttl_s: 3600,
        cache_bytes: 64 << 20,
        quick_repair: true,
        retry_min_ms: 10,
        retry_max_ms: 100,
        // Never while the benchmark runs: the tail keeps everything.
        checkpoint_writes: usize::MAX,
        checkpoint_interval_ms: 24 * 3600 * 1000,
        segment_bytes: 64 << 20,
        checkpoint_flush_bytes: 256 << 10,
        writer_priority: 0,
    };
    let store = Store::open(dir.path(), &cfg).expect("opening the store");
    let writer = store.start_writer(&cfg, Arc::new(Nobody), Arc::new(hallq::clock::SystemClock));
    let (done, durable) = crossbeam::channel::bounded(1);
    let ticket = vec![b'x'; 200];
    for i in 0..n {
        let hall: Arc<str> = Arc::from(format!("h{}", i % HALLS));
        let mut ops = vec![Op::PutTicket {
            hall: hall.clone(),
            id: format!("20261204-A{i:05}"),
            json: ticket.clone(),
        }];
        if i % 4 == 0 {
            let id = format!("C{i:06}");
            ops.push(Op::PutCase {
                json: case(&id),
                id,
            });
        }
        if i % 8 == 0 && i >= 400 {
            let id = format!("C{:06}", i - 400);
            ops.push(Op::CloseCase {
                json: case(&id),
                id,
            });
        }
        let seq = (i / HALLS) as u64 + 1;
        // `Batch` has private fields: built from its default.
        let mut batch = Batch::default();
        batch.ops = ops;
        batch.events.push(Published {
            stream: hall,
            seq,
            kind: "call",
            json: format!("{{\"seq\":{seq},\"ticket\":\"A{i:05}\",\"window\":\"w1\"}}"),
            hall: Some(i % HALLS),
        });
        if i + 1 == n {
            let done = done.clone();
            batch.done.push(Box::new(move |r| {
                let _ = done.send(r.is_ok());
            }));
        }
        writer.sender().send(batch).expect("the writer runs");
    }
    assert!(durable.recv().expect("the last batch completes"));
    (dir, store, writer)
}

fn reads(c: &mut Criterion) {
    let n = requests();
    let (_dir, store, writer) = filled(n);
    let mut g = c.benchmark_group(format!("tail of {n} requests"));
    g.throughput(Throughput::Elements(1));
    g.bench_function("closed_case/new id", |b| {
        b.iter(|| store.closed_case(black_box("N000001")).expect("a read"))
    });
    let closed = format!("C{:06}", (n - FEWEST) / 8 * 8);
    assert!(store.closed_case(&closed).expect("a read").is_some());
    g.bench_function("closed_case/closed in the tail", |b| {
        b.iter(|| store.closed_case(black_box(&closed)).expect("a read"))
    });
    let open = format!("C{:06}", (n - 4) / 4 * 4);
    assert!(store.open_case(&open).expect("a read").is_some());
    g.bench_function("open_case/open in the tail", |b| {
        b.iter(|| store.open_case(black_box(&open)).expect("a read"))
    });
    let head = store.head("h7").expect("a read");
    assert!(head > 2);
    g.bench_function("read_events/relay", |b| {
        b.iter(|| {
            store
                .read_events(black_box("h7"), head - 2, 512)
                .expect("a read")
        })
    });
    g.bench_function("read_events/head", |b| {
        b.iter(|| {
            store
                .read_events(black_box("h7"), u64::MAX, 0)
                .expect("a read")
        })
    });
    g.finish();
    writer.stop();
}

criterion_group!(benches, reads);
criterion_main!(benches);
