//! What one durable commit costs, by how it is made: the evidence for where hallq's log lives.
//!
//! `cargo bench --bench commit` appends the same record (`HALLQ_BENCH_RECORD` bytes, default
//! 8 KiB: a group commit of about fifty requests' log record) durably, one at a time:
//!
//! - `redb/quick_repair`: one redb write transaction inserting it into a log table (and
//!   deleting the record 64 commits back, as a trimmed log does), committed with
//!   `Durability::Immediate` and quick repair, as every commit of hallq's store did while the
//!   log was a redb table;
//! - `redb/plain`: the same without quick repair (a crash then costs a full repair on start);
//! - `file/growing`: `write` at the end of a plain file, then `fdatasync`;
//! - `file/preallocated`: the same into a file whose blocks were written (zeros) beforehand, so
//!   `fdatasync` flushes the data and no file-system metadata.
//!
//! redb's store holds 200 MB of other rows (a store in use, not an empty file). Files go under
//! cargo's target directory, which must be on a real disk: on tmpfs every fsync is free and
//! the figures mean nothing (BENCHMARKS.md, "Where the log lives").

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use redb::{Database, TableDefinition};

const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
const STATE: TableDefinition<u64, &[u8]> = TableDefinition::new("state");

/// The redb log keeps this many records behind the newest, as checkpoints trim it.
const KEPT: u64 = 64;
/// Bytes written ahead into the preallocated file.
const PREALLOCATED: u64 = 256 << 20;

fn record_bytes() -> usize {
    std::env::var("HALLQ_BENCH_RECORD")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8192)
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-commit");
    std::fs::create_dir_all(&dir).expect("a scratch directory under target/");
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

/// A redb store with 200 MB of rows besides its log.
fn store(name: &str) -> Database {
    let db = Database::create(scratch(name)).expect("creating the redb file");
    let tx = db.begin_write().expect("a write transaction");
    {
        let mut t = tx.open_table(STATE).expect("the state table");
        let row = vec![1u8; 1000];
        for i in 0..200_000u64 {
            t.insert(i, row.as_slice()).expect("a row");
        }
    }
    tx.commit().expect("the fill commits");
    db
}

fn redb_commits(c: &mut Criterion, record: &[u8]) {
    let mut g = c.benchmark_group("redb");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);
    for (label, quick_repair) in [("quick_repair", true), ("plain", false)] {
        let db = store(&format!("{label}.redb"));
        let mut lsn = 0u64;
        g.bench_function(label, |b| {
            b.iter(|| {
                lsn += 1;
                let mut tx = db.begin_write().expect("a write transaction");
                tx.set_quick_repair(quick_repair);
                {
                    let mut log = tx.open_table(LOG).expect("the log table");
                    log.insert(lsn, record).expect("the record");
                    if lsn > KEPT {
                        log.remove(lsn - KEPT).expect("trimming");
                    }
                }
                tx.commit().expect("the commit");
            })
        });
    }
    g.finish();
}

fn appender(path: &Path, preallocate: bool) -> File {
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(path)
        .expect("the log file");
    if preallocate {
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..PREALLOCATED >> 20 {
            f.write_all(&zeros).expect("writing zeros ahead");
        }
        f.sync_all().expect("the zeros on disk");
        f.seek(SeekFrom::Start(0)).expect("back to the start");
    }
    f
}

fn file_appends(c: &mut Criterion, record: &[u8]) {
    let mut g = c.benchmark_group("file");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);
    for (label, preallocate) in [("growing", false), ("preallocated", true)] {
        let path = scratch(&format!("{label}.log"));
        let mut f = appender(&path, preallocate);
        let mut written = 0u64;
        g.bench_function(label, |b| {
            b.iter(|| {
                if preallocate && written + record.len() as u64 > PREALLOCATED {
                    // Wrap inside the written blocks: still no metadata to flush.
                    f.seek(SeekFrom::Start(0)).expect("rewinding");
                    written = 0;
                }
                f.write_all(record).expect("the append");
                f.sync_data().expect("fdatasync");
                written += record.len() as u64;
            })
        });
    }
    g.finish();
}

fn commits(c: &mut Criterion) {
    let record = vec![7u8; record_bytes()];
    redb_commits(c, &record);
    file_appends(c, &record);
}

criterion_group!(benches, commits);
criterion_main!(benches);
