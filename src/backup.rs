//! Backup and restore: a consistent copy of a store, taken from one read transaction while
//! the daemon runs, and a fresh store built from such a copy.
//!
//! The copy is logical: every row of every table (the state tables as of the last
//! checkpoint, the metadata that says which is which) and the log's records after that
//! checkpoint (read from the daemon's tail, or a stopped daemon's segment files, and copied
//! as rows of the `log` table), so it does not depend on redb's page layout or the log's
//! files, and the restored daemon replays the copied log on start exactly as after a crash. Layout: `HALLQ-BACKUP 1\n`, the store's schema (u64 BE), then
//! frames `table (u8) | key length (u32 BE) | key | value length (u32 BE) | value`, a 0
//! byte, and the SHA-256 of everything before it.
//!
//! A restore checks the whole file (layout, schema, checksum) before it writes anything, and
//! never overwrites a store: it builds the new one beside it and renames it into place.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use redb::{Database, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition};
use sha2::{Digest, Sha256};

use crate::store::{self, StoreError};

mod fetch;
pub use fetch::{FetchError, fetch};

const MAGIC: &[u8] = b"HALLQ-BACKUP 1\n";

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing the backup: {0}")]
    Write(std::io::Error),
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a hallq backup, or is damaged: {why}")]
    Invalid { path: PathBuf, why: String },
    #[error(
        "{path} holds a store of schema {found}; this hallq reads schemas {} to {}",
        store::OLDEST_SCHEMA,
        store::SCHEMA
    )]
    Schema { path: PathBuf, found: u64 },
    #[error("{path} already exists; restore into an empty data directory (or move it away first)")]
    Exists { path: PathBuf },
    #[error("installing the restored store at {path}: {source}")]
    Install {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What a backup or a restore copied.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Rows per table, in the order the file holds them.
    pub rows: Vec<(&'static str, u64)>,
    pub bytes: u64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} bytes;", self.bytes)?;
        for (table, n) in self.rows.iter().filter(|(_, n)| *n > 0) {
            write!(f, " {table} {n}")?;
        }
        Ok(())
    }
}

/// Writes through a SHA-256 and a byte count.
struct Hashed<W> {
    out: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: Write> Hashed<W> {
    fn put(&mut self, b: &[u8]) -> Result<(), BackupError> {
        self.hash.update(b);
        self.bytes += b.len() as u64;
        self.out.write_all(b).map_err(BackupError::Write)
    }
}

/// Every table a backup copies, with its number in the file. `probe` (the writer's scratch
/// space) is not copied. New tables get new numbers; numbers are never reused.
macro_rules! tables {
    ($m:ident!($($args:tt)*)) => {
        $m!($($args)*
            1, "meta" => store::META,
            2, "halls" => store::HALLS,
            3, "tickets" => store::TICKETS,
            4, "events" => store::EVENTS, // schema 4 and earlier; moved into chunks on open
            5, "idempotency" => store::IDEMPOTENCY,
            6, "cases" => store::CASES,
            7, "closed_cases" => store::CLOSED_CASES,
            8, "consumers" => store::CONSUMERS,
            9, "cursor_owners" => store::CURSOR_OWNERS,
            10, "cursor_log" => store::CURSOR_LOG,
            11, "calendars" => store::CALENDARS,
            12, "stats" => store::STATS,
            13, "case_stats" => store::CASE_STATS,
            14, "log" => store::log::LOG,
            15, "bookings" => store::BOOKINGS,
            16, "outbox" => store::OUTBOX,
            17, "event_chunks" => store::event_chunk::EVENT_CHUNKS,
        )
    };
}

fn dump<K: redb::Key + 'static, V: redb::Value + 'static, W: Write>(
    tx: &ReadTransaction,
    id: u8,
    def: TableDefinition<K, V>,
    out: &mut Hashed<W>,
) -> Result<u64, BackupError> {
    let table = match tx.open_table(def) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
        Err(e) => return Err(StoreError::from(e).into()),
    };
    let mut n = 0;
    for row in table.iter().map_err(StoreError::from)? {
        let (k, v) = row.map_err(StoreError::from)?;
        let (k, v) = (k.value(), v.value());
        let (k, v) = (K::as_bytes(&k), V::as_bytes(&v));
        let (k, v) = (k.as_ref(), v.as_ref());
        out.put(&[id])?;
        out.put(&(k.len() as u32).to_be_bytes())?;
        out.put(k)?;
        out.put(&(v.len() as u32).to_be_bytes())?;
        out.put(v)?;
        n += 1;
    }
    Ok(n)
}

/// A consistent point of a store: a read transaction and the log's records after the
/// checkpoint it sees.
pub struct Snapshot {
    tx: ReadTransaction,
    logged: store::Logged,
}

/// Write the log records after the snapshot's checkpoint as rows of the `log` table, after
/// what the table itself holds (only ever records of a store of schema 3 not yet replayed).
fn dump_logged<W: Write>(
    logged: &store::Logged,
    id: u8,
    out: &mut Hashed<W>,
) -> Result<u64, BackupError> {
    for (lsn, raw) in logged {
        let key = <u64 as redb::Value>::as_bytes(lsn);
        out.put(&[id])?;
        out.put(&(key.len() as u32).to_be_bytes())?;
        out.put(&key)?;
        out.put(&(raw.len() as u32).to_be_bytes())?;
        out.put(raw)?;
    }
    Ok(logged.len() as u64)
}

/// Write a backup to `out` from one snapshot (`begin`): a consistent point even while the
/// writer goes on committing.
pub fn write(snapshot: &Snapshot, out: impl Write) -> Result<Summary, BackupError> {
    let tx = &snapshot.tx;
    let mut out = Hashed {
        out,
        hash: Sha256::new(),
        bytes: 0,
    };
    out.put(MAGIC)?;
    out.put(&store::SCHEMA.to_be_bytes())?;
    let mut summary = Summary::default();
    macro_rules! dump_all {
        ($($id:literal, $name:literal => $def:expr,)*) => {
            $(
                let mut n = dump(tx, $id, $def, &mut out)?;
                if $name == "log" {
                    n += dump_logged(&snapshot.logged, $id, &mut out)?;
                }
                summary.rows.push(($name, n));
            )*
        };
    }
    tables!(dump_all!());
    out.put(&[0])?;
    let digest = out.hash.clone().finalize();
    out.out.write_all(&digest).map_err(BackupError::Write)?;
    out.out.flush().map_err(BackupError::Write)?;
    summary.bytes = out.bytes + digest.len() as u64;
    Ok(summary)
}

/// The snapshot a backup of the daemon's store is taken from. It holds no handle to the
/// database, so a reopen after a failed write need not wait for the backup.
pub fn begin(store: &store::Store) -> Result<Snapshot, BackupError> {
    let (tx, logged) = store.snapshot()?;
    Ok(Snapshot { tx, logged })
}

/// A backup of a stopped daemon's data directory: its database and the records of its log
/// files after the database's checkpoint (those a crash left unreplayed).
pub fn write_dir(data: &Path, out: impl Write) -> Result<Summary, BackupError> {
    let path = data.join("hallq.redb");
    let db = Database::open(&path).map_err(|source| StoreError::Open { path, source })?;
    let tx = db.begin_read().map_err(StoreError::from)?;
    let logged = store::logged_on_disk(data, &tx)?;
    write(&Snapshot { tx, logged }, out)
}

/// One frame of a backup file.
struct Frame {
    table: u8,
    key: Vec<u8>,
    value: Vec<u8>,
}

struct Frames<R> {
    input: R,
    path: PathBuf,
}

impl<R: Read> Frames<R> {
    fn invalid(&self, why: impl Into<String>) -> BackupError {
        BackupError::Invalid {
            path: self.path.clone(),
            why: why.into(),
        }
    }

    fn exact(&mut self, buf: &mut [u8]) -> Result<(), BackupError> {
        self.input.read_exact(buf).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => self.invalid("it ends early (a cut-off copy?)"),
            _ => BackupError::Read {
                path: self.path.clone(),
                source: e,
            },
        })
    }

    fn bytes(&mut self) -> Result<Vec<u8>, BackupError> {
        let mut len = [0u8; 4];
        self.exact(&mut len)?;
        let len = u32::from_be_bytes(len) as usize;
        // Read in steps so a damaged length cannot ask for gigabytes at once.
        let mut out = Vec::with_capacity(len.min(1 << 20));
        let mut left = len;
        let mut chunk = [0u8; 8192];
        while left > 0 {
            let n = left.min(chunk.len());
            self.exact(&mut chunk[..n])?;
            out.extend_from_slice(&chunk[..n]);
            left -= n;
        }
        Ok(out)
    }

    /// The header; returns the schema.
    fn header(&mut self) -> Result<u64, BackupError> {
        let mut magic = [0u8; MAGIC.len()];
        self.exact(&mut magic)?;
        if magic != MAGIC {
            return Err(self.invalid("it does not start with `HALLQ-BACKUP 1`"));
        }
        let mut schema = [0u8; 8];
        self.exact(&mut schema)?;
        Ok(u64::from_be_bytes(schema))
    }

    /// The next frame; `None` at the end marker.
    fn next(&mut self) -> Result<Option<Frame>, BackupError> {
        let mut table = [0u8];
        self.exact(&mut table)?;
        if table[0] == 0 {
            return Ok(None);
        }
        let key = self.bytes()?;
        let value = self.bytes()?;
        Ok(Some(Frame {
            table: table[0],
            key,
            value,
        }))
    }
}

/// Reads through a SHA-256.
struct HashingReader<R> {
    input: R,
    hash: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.input.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

fn open(path: &Path) -> Result<BufReader<File>, BackupError> {
    File::open(path)
        .map(|f| BufReader::with_capacity(1 << 16, f))
        .map_err(|source| BackupError::Read {
            path: path.to_owned(),
            source,
        })
}

/// Check a backup file whole: its layout, schema, known tables and checksum. Nothing is
/// written. Returns the rows it holds per table.
pub fn verify(path: &Path) -> Result<Summary, BackupError> {
    let mut frames = Frames {
        input: HashingReader {
            input: open(path)?,
            hash: Sha256::new(),
        },
        path: path.to_owned(),
    };
    let schema = frames.header()?;
    // A backup of an earlier schema this version still opens is restored as it is; the store
    // moves to the current schema when a daemon opens it.
    if !(store::OLDEST_SCHEMA..=store::SCHEMA).contains(&schema) {
        return Err(BackupError::Schema {
            path: path.to_owned(),
            found: schema,
        });
    }
    let mut summary = Summary::default();
    let mut counts = std::collections::BTreeMap::<u8, u64>::new();
    while let Some(f) = frames.next()? {
        if table_name(f.table).is_none() {
            return Err(frames.invalid(format!("it holds an unknown table number {}", f.table)));
        }
        *counts.entry(f.table).or_default() += 1;
    }
    let digest = frames.input.hash.clone().finalize();
    let mut stored = [0u8; 32];
    frames
        .input
        .input
        .read_exact(&mut stored)
        .map_err(|_| frames.invalid("its checksum is missing (a cut-off copy?)"))?;
    if stored[..] != digest[..] {
        return Err(frames.invalid("its checksum does not match its contents"));
    }
    let more = frames
        .input
        .input
        .read(&mut [0u8])
        .map_err(|source| BackupError::Read {
            path: path.to_owned(),
            source,
        })?;
    if more != 0 {
        return Err(frames.invalid("it goes on after its checksum"));
    }
    summary.rows = counts
        .into_iter()
        .filter_map(|(t, n)| Some((table_name(t)?, n)))
        .collect();
    summary.bytes = std::fs::metadata(path).map_or(0, |m| m.len());
    Ok(summary)
}

fn table_name(id: u8) -> Option<&'static str> {
    macro_rules! name {
        ($($id:literal, $name:literal => $def:expr,)*) => {
            match id {
                $($id => Some($name),)*
                _ => None,
            }
        };
    }
    tables!(name!())
}

/// Insert every frame of one table, starting with `first`; returns the first frame of the
/// next table.
fn load<K: redb::Key + 'static, V: redb::Value + 'static, R: Read>(
    tx: &redb::WriteTransaction,
    def: TableDefinition<K, V>,
    first: Frame,
    frames: &mut Frames<R>,
    n: &mut u64,
) -> Result<Option<Frame>, BackupError> {
    let mut table = tx.open_table(def).map_err(StoreError::from)?;
    let id = first.table;
    let mut frame = Some(first);
    while let Some(f) = frame {
        if f.table != id {
            return Ok(Some(f));
        }
        table
            .insert(K::from_bytes(&f.key), V::from_bytes(&f.value))
            .map_err(StoreError::from)?;
        *n += 1;
        frame = frames.next()?;
    }
    Ok(None)
}

/// Build a store in `data` from the backup at `from`, after checking the file whole. Refuses
/// when `data` already holds a store.
pub fn restore(from: &Path, data: &Path) -> Result<Summary, BackupError> {
    let checked = verify(from)?;
    let target = data.join("hallq.redb");
    if target.exists() {
        return Err(BackupError::Exists { path: target });
    }
    // Log files of another store would be replayed over the restored one.
    let log = data.join("log");
    if std::fs::read_dir(&log).is_ok_and(|mut d| d.next().is_some()) {
        return Err(BackupError::Exists { path: log });
    }
    let install = |source| BackupError::Install {
        path: target.clone(),
        source,
    };
    std::fs::create_dir_all(data).map_err(install)?;
    let building = data.join("hallq.redb.restoring");
    let _ = std::fs::remove_file(&building);
    let db = Database::create(&building).map_err(|e| StoreError::Open {
        path: building.clone(),
        source: e,
    })?;
    let tx = db.begin_write().map_err(StoreError::from)?;
    let mut frames = Frames {
        input: open(from)?,
        path: from.to_owned(),
    };
    frames.header()?;
    let mut summary = Summary {
        bytes: checked.bytes,
        ..Summary::default()
    };
    let mut next = frames.next()?;
    while let Some(first) = next {
        let mut n = 0;
        let id = first.table;
        macro_rules! load_one {
            ($($tid:literal, $name:literal => $def:expr,)*) => {
                match id {
                    $($tid => load(&tx, $def, first, &mut frames, &mut n)?,)*
                    _ => unreachable!("verify refused unknown tables"),
                }
            };
        }
        next = tables!(load_one!());
        summary
            .rows
            .push((table_name(id).expect("a known table"), n));
    }
    tx.commit().map_err(StoreError::from)?;
    drop(db);
    std::fs::rename(&building, &target).map_err(install)?;
    File::open(data)
        .and_then(|d| d.sync_all())
        .map_err(install)?;
    Ok(summary)
}

/// A `Write` that hands 64 KiB chunks to an async body, for the HTTP endpoint.
pub struct Chunks(pub tokio::sync::mpsc::Sender<Result<bytes::Bytes, std::io::Error>>);

impl Write for Chunks {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(bytes::Bytes::copy_from_slice(buf)))
            .map_err(|_| std::io::Error::other("the client went away"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `Chunks` in 64 KiB pieces.
pub fn chunked(
    tx: tokio::sync::mpsc::Sender<Result<bytes::Bytes, std::io::Error>>,
) -> BufWriter<Chunks> {
    BufWriter::with_capacity(1 << 16, Chunks(tx))
}
