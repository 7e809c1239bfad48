//! Durable state: a log of commits in segment files, current-state tables and events per
//! stream in redb.
//!
//! One writer thread appends to the log. Producers (the hall shards) send it `Batch`es; it
//! takes all that are waiting (up to `max_batch`) and appends their writes and events to the
//! log as one record with one `fdatasync` (group commit, `wal`, `segment`), and only then
//! publishes the events and runs the batches' completions, which answer the HTTP requests.
//! So an answer or a display update never reflects a state that a crash could undo, and a
//! crash loses at most a suffix of unanswered work.
//!
//! The log is the unit of durability; the current-state tables (`halls`, `tickets`,
//! `cases`…) and the per-stream `event_chunks` are a checkpoint of it that the checkpointer thread
//! brings up to date while the writer goes on (`checkpointer`, `checkpoint`), coalescing the
//! rewrites of one key, and the log's segments are reused behind it. Every read lays the
//! log's tail over the tables (`tail`, `read`), so it sees all that is durable. Opening the
//! store replays the log after the checkpoint into the tables before anything is served;
//! recovery then reads the current-state tables, never the history, so start-up time grows
//! with open state. The `event_chunks` table keeps the last `event_retention` events per stream
//! for `Last-Event-ID` resume.
//!
//! If a commit or a checkpoint fails (a full disk, an I/O error) the daemon degrades instead
//! of dying: the database is reopened (redb refuses every operation after an I/O error until
//! it is), the writer refuses writes, and retries with backoff until a trial commit succeeds. The producers
//! whose changes were lost put back the affected state from the store (`ledger`), so memory
//! and disk agree again and reads keep serving the last durable state meanwhile.

mod batch;
mod case_record;
mod checkpoint;
mod checkpointer;
pub(crate) mod event_chunk;
#[cfg(test)]
mod event_chunk_tests;
mod gated;
pub(crate) mod hall_delta;
mod ledger;
pub(crate) mod log;
mod outbox;
mod period;
mod prefetch;
mod read;
pub mod replica;
mod segment;
mod tail;
#[cfg(test)]
mod tail_tests;
#[cfg(test)]
mod tests;
mod wal;
mod writeback;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use redb::{Database, ReadableTable, TableDefinition};

pub use batch::{Batch, Done, HallPatch, ListPatch, Op, Publish, Published};
pub use case_record::{decode_case, encode_case};
pub use gated::{Gate, GatedFile};
pub use ledger::Ledger;
pub use outbox::Notification;
pub use period::PeriodCounts;
pub(crate) use read::{Logged, logged_on_disk};
pub use replica::{CASE_ENGINE, HallRecord, Holding, Holdings, LogOfRecord};
pub use writer::WriterHandle;

/// Bumped when a table's layout changes incompatibly. 2: the log (a store of schema 1 has
/// none, and is read as one whose log is empty). 3: case records in their binary form
/// (`case_record`); this version still reads the JSON ones of schemas 1 and 2, but an older
/// version would take a binary one for corruption, so it is told the schema instead. 4: the
/// log in segment files beside the database (`segment`), the `log` table only read once to
/// replay what a store of schema 3 left in it; an older version would miss the segments'
/// records, so it is told the schema. 5: events in chunks (`event_chunk::EVENT_CHUNKS`), the
/// `events` table of schema 4 and earlier moved into them when such a store opens; an older
/// version would find no events, so it is told the schema.
pub(crate) const SCHEMA: u64 = 5;
/// The oldest schema whose backups `hallq restore` installs (a store of schema 1 is opened,
/// but its backups never existed: backup came with schema 2).
pub(crate) const OLDEST_SCHEMA: u64 = 2;

pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// hall id → `HallRecord` (JSON).
pub(crate) const HALLS: TableDefinition<&str, &[u8]> = TableDefinition::new("halls");
/// (hall id, ticket id) → `TicketRecord` (JSON). Ticket ids start with the business day, so
/// one range covers a day's tickets.
pub(crate) const TICKETS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("tickets");
/// (stream, seq) → `kind\njson`: the events of schema 4 and earlier, only read to move them
/// into `event_chunk::EVENT_CHUNKS` when such a store opens (and filled by restoring its
/// backup).
pub(crate) const EVENTS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("events");
/// (scope, key) → 8 bytes big-endian expiry (unix seconds) + stored answer (JSON).
pub(crate) const IDEMPOTENCY: TableDefinition<(&str, &str), &[u8]> =
    TableDefinition::new("idempotency");
/// case id → `CaseRecord` (`case_record`: binary, or JSON from earlier versions) of every
/// open case: what recovery loads.
pub(crate) const CASES: TableDefinition<&str, &[u8]> = TableDefinition::new("cases");
/// case id → `CaseRecord` (as in `CASES`) of closed cases, read only on request.
pub(crate) const CLOSED_CASES: TableDefinition<&str, &[u8]> = TableDefinition::new("closed_cases");
/// consumer name → the last alarm sequence number it acknowledged.
pub(crate) const CONSUMERS: TableDefinition<&str, u64> = TableDefinition::new("consumers");
/// consumer name → the name of the token that owns its cursor (the first to acknowledge).
pub(crate) const CURSOR_OWNERS: TableDefinition<&str, &str> = TableDefinition::new("cursor_owners");
/// (consumer name, n) → `Rewind` (JSON): every time a cursor was moved backwards, and by whom.
pub(crate) const CURSOR_LOG: TableDefinition<(&str, u64), &[u8]> =
    TableDefinition::new("cursor_log");
/// Scratch space for the writer's trial commit while it retries a failing store.
pub(crate) const PROBE: TableDefinition<&str, &[u8]> = TableDefinition::new("probe");
/// calendar id → calendar TOML replaced through the API; used instead of the config's file.
pub(crate) const CALENDARS: TableDefinition<&str, &str> = TableDefinition::new("calendars");

/// (hall id, YYYY-MM-DD) → `DayStats` (JSON) of a finished business day.
pub(crate) const STATS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("stats");
/// (hall id, YYYY-MM-DD) → cases finished that day: 16 bytes, on time then overdue (u64 BE).
/// The rating loop's counts share the table under `CaseCount` keys (`h1#rectification`).
pub(crate) const CASE_STATS: TableDefinition<(&str, &str), &[u8]> =
    TableDefinition::new("case_stats");

/// The rating loop's per-day case counts, kept in `case_stats` under `{hall}#{kind}` beside
/// the hall's count of every finished case (so they need no table and no `Op` of their own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseCount {
    /// Rectifications of bad ratings finished: on time, overdue.
    Rectified,
    /// Complaints finished: on time, overdue.
    ComplaintClosed,
    /// Complaints received (counted as "on time").
    ComplaintReceived,
}

impl CaseCount {
    /// The `case_stats` key of this count for `hall`.
    pub fn key(self, hall: &str) -> String {
        let kind = match self {
            CaseCount::Rectified => "rectification",
            CaseCount::ComplaintClosed => "complaint",
            CaseCount::ComplaintReceived => "complaint-received",
        };
        format!("{hall}#{kind}")
    }

    /// The `case_stats` key of this count for one window or officer of `hall` (the
    /// assessment reports' rows per window and officer): `h1#rectification#window=w1`,
    /// `h1#complaint#officer=王芳`.
    pub fn key_of(self, hall: &str, of: Of<'_>) -> String {
        let (what, id) = match of {
            Of::Window(w) => ("window", w),
            Of::Officer(o) => ("officer", o),
        };
        format!("{}#{what}={id}", self.key(hall))
    }
}

/// Whose count a `CaseCount::key_of` key holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Of<'a> {
    Window(&'a str),
    Officer(&'a str),
}
/// (hall id, booking code) → `BookingRecord` (JSON): bookings until they are past every
/// fairness limit's reach. Holds citizens only as keyed hashes and masked strings.
pub(crate) const BOOKINGS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("bookings");

/// delivery id → `notify::Notification` (JSON): applicant notifications not yet delivered,
/// and dead letters until replayed. Ids start with the commit's time, so key order is the
/// order they were written in.
pub(crate) const OUTBOX: TableDefinition<&str, &[u8]> = TableDefinition::new("outbox");

/// Streams whose sequence numbers the writer assigns, because several producers feed them.
pub const ALARMS: &str = "@alarms";
pub const CASES_STREAM: &str = "@cases";

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("cannot start a thread to read the store: {0}")]
    Thread(std::io::Error),
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the store {path}: {source}")]
    Open {
        path: PathBuf,
        source: redb::DatabaseError,
    },
    #[error(
        "the store {path} has schema {found}; this hallq reads schema {SCHEMA}. Use the hallq version that wrote it"
    )]
    Schema { path: PathBuf, found: u64 },
    #[error("store transaction: {0}")]
    Transaction(#[from] redb::TransactionError),
    #[error("store table: {0}")]
    Table(#[from] redb::TableError),
    #[error("store I/O: {0}")]
    Storage(#[from] redb::StorageError),
    #[error("store commit: {0}")]
    Commit(#[from] redb::CommitError),
    #[error("log record {lsn} cannot be read: {source}")]
    Log { lsn: u64, source: log::DecodeError },
    #[error("store durability: {0}")]
    Durability(#[from] redb::SetDurabilityError),
    #[error("stored record {what} is corrupt: {source}")]
    Corrupt {
        what: String,
        source: serde_json::Error,
    },
    /// Writes are refused after a failed commit; `cause` says why in words an operator can act on.
    #[error("{cause}")]
    Unwritable { cause: String, retry_after_s: u32 },
    /// The database is being reopened after a failed write (or could not be reopened yet).
    #[error("the store cannot be read while it is reopened after a failed write: {cause}")]
    Reopening { cause: String },
    #[error("the store writer has stopped")]
    Stopped,
    /// The trial write beside the store failed: the disk still has no room.
    #[error("{0}")]
    Space(std::io::Error),
    /// Appending to the log's segment files (or reading them back at start) failed.
    #[error("the log's segment files: {0}")]
    Segment(std::io::Error),
    /// Cluster mode: the log of record refused the commit (a lease lost) or could not be
    /// reached; nothing was committed.
    #[error("{cause}")]
    Record { cause: String },
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> StoreError {
        StoreError::Segment(e)
    }
}

impl StoreError {
    /// The redb storage error inside, if any.
    fn io(&self) -> Option<&std::io::Error> {
        if let StoreError::Space(io) | StoreError::Segment(io) = self {
            return Some(io);
        }
        match self.storage()? {
            redb::StorageError::Io(io) => Some(io),
            _ => None,
        }
    }

    fn storage(&self) -> Option<&redb::StorageError> {
        match self {
            StoreError::Storage(s)
            | StoreError::Commit(redb::CommitError::Storage(s))
            | StoreError::Transaction(redb::TransactionError::Storage(s))
            | StoreError::Table(redb::TableError::Storage(s))
            | StoreError::Open {
                source: redb::DatabaseError::Storage(s),
                ..
            } => Some(s),
            _ => None,
        }
    }

    /// Why a write failed, for an operator: the disk being full or read-only is named as such.
    pub fn cause(&self) -> String {
        let Some(io) = self.io() else {
            return format!("the store cannot commit: {self}");
        };
        match io.raw_os_error() {
            Some(28) => format!("the disk holding the store is full: {io}"),
            Some(122) => format!("the store's disk quota is exhausted: {io}"),
            Some(30) => format!("the disk holding the store is read-only: {io}"),
            Some(5) => format!("the disk holding the store reports an I/O error: {io}"),
            _ => format!("the store cannot write to its disk: {io}"),
        }
    }
}

/// Two big-endian u64s, as the case statistics table stores them.
pub(crate) fn decode_pair(raw: &[u8]) -> (u64, u64) {
    let word = |i: usize| {
        raw.get(i * 8..i * 8 + 8)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u64::from_be_bytes)
    };
    (word(0), word(1))
}

/// Liveness and write state shared by the writer, the producers and the HTTP layer.
#[derive(Debug, Default)]
pub struct Health {
    /// Bumped whenever batches with writes are not committed (a failed commit, or writes
    /// refused while the store refuses them). A producer whose memory last agreed with the
    /// store at an older generation may hold changes that never became durable: its batches
    /// are refused until it has put that state back from the store (`Ledger`).
    generation: AtomicU64,
    /// Writes are refused: a commit failed and no trial commit has succeeded since.
    refusing: AtomicBool,
    /// Why writes are refused, for answers, `/readyz` and logs.
    cause: Mutex<String>,
    /// The writer's current wait between trial commits, as a `Retry-After` hint.
    retry_after_s: AtomicU32,
    /// Unix seconds of the writer's last loop, for the systemd watchdog.
    pub writer_alive: AtomicI64,
}

/// Why writes are refused now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub cause: String,
    pub retry_after_s: u32,
}

impl Health {
    /// Writes are accepted.
    pub fn is_writable(&self) -> bool {
        !self.refusing.load(Ordering::Acquire)
    }

    /// Writes are refused (reads are still served); the opposite of `is_writable`.
    pub fn is_failed(&self) -> bool {
        !self.is_writable()
    }

    /// Why writes are refused, while they are.
    pub fn refusal(&self) -> Option<Refusal> {
        if self.is_writable() {
            return None;
        }
        Some(self.last_refusal())
    }

    /// The last failure's cause, even if the store has recovered since.
    pub fn last_refusal(&self) -> Refusal {
        Refusal {
            cause: self.cause.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            retry_after_s: self.retry_after_s.load(Ordering::Relaxed).max(1),
        }
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Some batches with writes were not committed: every producer must resynchronise.
    pub(crate) fn lose(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn refuse(&self, cause: &str, retry_after_s: u32) {
        *self.cause.lock().unwrap_or_else(|e| e.into_inner()) = cause.to_owned();
        self.retry_after_s.store(retry_after_s, Ordering::Relaxed);
        self.refusing.store(true, Ordering::Release);
    }

    pub(crate) fn retry_in(&self, retry_after_s: u32) {
        self.retry_after_s.store(retry_after_s, Ordering::Relaxed);
    }

    pub(crate) fn accept(&self) {
        self.refusing.store(false, Ordering::Release);
    }
}

/// One page of a stream's log.
#[derive(Debug, Default)]
pub struct EventPage {
    /// (seq, kind, json), in order.
    pub events: Vec<(u64, String, String)>,
    /// The oldest seq still in the log, if any.
    pub first_retained: Option<u64>,
    /// The newest seq in the log, if any.
    pub last_retained: Option<u64>,
}

/// The opened database. Reads run on any thread; writes go through the writer thread.
pub struct Store {
    pub(crate) slot: Arc<Slot>,
    pub health: Arc<Health>,
    /// Cluster mode: the halls this node holds (never enabled in single-node mode).
    pub holdings: Arc<Holdings>,
    /// Cluster mode: the log of record the writer appends to; set before it starts.
    pub(crate) record: std::sync::OnceLock<Arc<dyn LogOfRecord>>,
    /// The log's segment files (`wal`): the writer appends, the checkpointer recycles.
    pub(crate) segments: Arc<wal::Segments>,
    /// Reads the database file ahead while recovery reads it; stopped when the writer starts.
    pub(crate) prefetch: prefetch::Prefetch,
}

/// The database handle, which the writer replaces after a failed write: redb answers every
/// operation with `PreviousIo` after an I/O error until the handle is closed and reopened.
/// Readers clone the `Arc` only for as long as `begin_read` takes (a read transaction does not
/// borrow the handle), so the writer can close it promptly.
pub(crate) struct Slot {
    db: RwLock<Option<Arc<Database>>>,
    path: PathBuf,
    cache_bytes: usize,
    /// Opens the database over its storage, at start and at every reopen.
    opener: Box<Opener>,
    /// Why the handle is missing, while it is.
    why: Mutex<String>,
    /// The last reopen failed: reads fail until one succeeds.
    closed: AtomicBool,
    /// The log's records since the last checkpoint; see `tail`. All of them are durable in
    /// the log's segments, so a reopen of the database keeps them.
    tail: RwLock<tail::Tail>,
}

impl Slot {
    pub(crate) fn get(&self) -> Result<Arc<Database>, StoreError> {
        self.db
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| StoreError::Reopening {
                cause: self.why.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            })
    }

    pub(crate) fn tail(&self) -> RwLockReadGuard<'_, tail::Tail> {
        self.tail.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn tail_mut(&self) -> RwLockWriteGuard<'_, tail::Tail> {
        self.tail.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Close the handle and open the file again. Readers wait meanwhile (the lock is held
    /// throughout); if the open fails they get `Reopening` until a later reopen succeeds.
    pub(crate) fn reopen(&self, cause: &str) -> Result<(), StoreError> {
        *self.why.lock().unwrap_or_else(|e| e.into_inner()) = cause.to_owned();
        let mut slot = self.db.write().unwrap_or_else(|e| e.into_inner());
        if let Some(mut db) = slot.take() {
            // Two handles on one file must never coexist: wait for readers still between
            // cloning the handle and beginning their transaction (they need no lock for it).
            let started = std::time::Instant::now();
            let mut warned = false;
            loop {
                match Arc::try_unwrap(db) {
                    Ok(db) => {
                        drop(db);
                        break;
                    }
                    Err(shared) => db = shared,
                }
                if !warned && started.elapsed() > std::time::Duration::from_secs(5) {
                    warned = true;
                    tracing::warn!("a reader still holds the store handle; waiting to reopen");
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
        // The tail stays: it holds what the segments hold after the checkpoint, and a
        // checkpoint that failed left the one before it in the tables.
        let db = open_db(&self.path, self.cache_bytes, &self.opener);
        self.closed.store(db.is_err(), Ordering::Release);
        *slot = Some(Arc::new(db?));
        Ok(())
    }

    /// Write and sync `bytes` to a scratch file beside the store, then delete it: whether the
    /// disk has room for the store to grow.
    pub(crate) fn probe_space(&self, bytes: usize) -> Result<(), StoreError> {
        use std::io::Write;
        let path = self.path.with_extension("space-probe");
        let result = (|| {
            let mut f = std::fs::File::create(&path)?;
            f.write_all(&vec![0u8; bytes])?;
            f.sync_all()
        })();
        let _ = std::fs::remove_file(&path);
        result.map_err(StoreError::Space)
    }
}

/// How the database is opened over its storage: the file, paced (`writeback`), for the
/// daemon; over a backend the caller makes for `Store::open_with_backend`.
type Opener = dyn Fn(&redb::Builder, &Path) -> Result<Database, redb::DatabaseError> + Send + Sync;

/// Open (or create) the database, saying what a long repair is doing meanwhile.
fn open_db(path: &Path, cache_bytes: usize, opener: &Opener) -> Result<Database, StoreError> {
    // After a crash redb checks and repairs the whole file before it opens; at ten million
    // cases that is seconds, so say what the daemon is doing meanwhile.
    let tenth = std::cell::Cell::new(-1i64);
    let mut builder = Database::builder();
    builder
        .set_cache_size(cache_bytes)
        .set_repair_callback(move |session| {
            let now = (session.progress() * 10.0) as i64;
            if now > tenth.get() {
                tenth.set(now);
                tracing::warn!(
                    progress = format!("{:.0}%", session.progress() * 100.0),
                    "repairing the store after an unclean shutdown"
                );
            }
        });
    opener(&builder, path).map_err(|source| StoreError::Open {
        path: path.to_owned(),
        source,
    })
}

/// A cursor of an alarm consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The last alarm sequence number it acknowledged.
    pub seq: u64,
    /// The token that owns it; `None` for a cursor stored before cursors had owners (the next
    /// token to acknowledge it claims it).
    pub owner: Option<String>,
}

/// A cursor moved backwards on purpose (`"rewind": true`). Stored with the instant
/// (`Rewind`), shown with an offset (`Rewind<LocalTime>`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rewind<At = jiff::Timestamp> {
    pub at: At,
    /// The token that rewound it.
    pub by: String,
    pub from: u64,
    pub to: u64,
}

impl Rewind {
    /// As the API shows it, in `zone`.
    pub fn local(self, zone: &jiff::tz::TimeZone) -> Rewind<crate::localtime::LocalTime> {
        Rewind {
            at: crate::localtime::LocalTime::new(self.at, zone),
            by: self.by,
            from: self.from,
            to: self.to,
        }
    }
}

/// A write transaction, with redb's quick repair if configured (`[store] quick_repair`).
pub(crate) fn begin_write(
    db: &Database,
    quick_repair: bool,
) -> Result<redb::WriteTransaction, StoreError> {
    let mut tx = db.begin_write()?;
    tx.set_quick_repair(quick_repair);
    Ok(tx)
}

impl Store {
    /// Open (or create) `dir/hallq.redb`. redb takes a file lock, so a second daemon on the
    /// same data directory fails here instead of corrupting it.
    pub fn open(dir: &Path, cfg: &crate::config::StoreConfig) -> Result<Store, StoreError> {
        let step = cfg.checkpoint_flush_bytes;
        Store::open_over(
            dir,
            cfg,
            Box::new(move |builder, path| {
                builder.create_with_backend(writeback::open(path, step)?)
            }),
            Arc::new(|path| {
                let file = segment::open_file(path)?;
                Ok(Box::new(redb::backends::FileBackend::new(file)?) as segment::Backend)
            }),
        )
    }

    /// `open`, with the database and the log's segment files over storage that `backend`
    /// makes from a file's path, at the first open and at every reopen after a failed write.
    /// Tests put the store on a disk that fails on demand (`tests/store_failure.rs`); the
    /// daemon uses `open`.
    pub fn open_with_backend<B: redb::StorageBackend>(
        dir: &Path,
        cfg: &crate::config::StoreConfig,
        backend: impl Fn(&Path) -> Result<B, redb::DatabaseError> + Send + Sync + 'static,
    ) -> Result<Store, StoreError> {
        let backend = Arc::new(backend);
        let files = backend.clone();
        Store::open_over(
            dir,
            cfg,
            Box::new(move |builder, path| builder.create_with_backend(backend(path)?)),
            Arc::new(move |path| Ok(Box::new(files(path)?) as segment::Backend)),
        )
    }

    fn open_over(
        dir: &Path,
        cfg: &crate::config::StoreConfig,
        opener: Box<Opener>,
        files: Arc<segment::Files>,
    ) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
            path: dir.to_owned(),
            source,
        })?;
        let path = dir.join("hallq.redb");
        let prefetch = prefetch::Prefetch::start(&path);
        let db = open_db(&path, cfg.cache_bytes, &opener)?;
        let tx = begin_write(&db, cfg.quick_repair)?;
        {
            let mut meta = tx.open_table(META)?;
            let found = meta.get("schema")?.map(|v| v.value());
            match found {
                // Schema 1 is schema 2 with an empty log; schema 2 is schema 3 with every case
                // record in JSON; schema 3 is schema 4 with its log in the `log` table
                // (replayed below, before the segments, which it has none of); schema 4 is
                // schema 5 with its events one row each, moved into chunks here.
                None | Some(1) | Some(2) | Some(3) | Some(4) => {
                    meta.insert("schema", SCHEMA)?;
                    event_chunk::migrate(&tx)?;
                }
                Some(SCHEMA) => {}
                Some(found) => return Err(StoreError::Schema { path, found }),
            }
            tx.open_table(log::LOG)?;
            tx.open_table(HALLS)?;
            tx.open_table(TICKETS)?;
            tx.open_table(event_chunk::EVENT_CHUNKS)?;
            tx.open_table(IDEMPOTENCY)?;
            tx.open_table(CASES)?;
            tx.open_table(CLOSED_CASES)?;
            tx.open_table(CONSUMERS)?;
            tx.open_table(CURSOR_OWNERS)?;
            tx.open_table(CURSOR_LOG)?;
            tx.open_table(PROBE)?;
            tx.open_table(CALENDARS)?;
            tx.open_table(STATS)?;
            tx.open_table(CASE_STATS)?;
            tx.open_table(BOOKINGS)?;
            tx.open_table(OUTBOX)?;
            tx.open_table(replica::APPLIED)?;
        }
        tx.commit()?;
        let log_dir = dir.join("log");
        let checkpoint = checkpoint::recover(&db, cfg, &log_dir)?;
        let segments =
            wal::Segments::open(log_dir, files, cfg.segment_bytes).map_err(StoreError::Segment)?;
        Ok(Store {
            slot: Arc::new(Slot {
                db: RwLock::new(Some(Arc::new(db))),
                path,
                cache_bytes: cfg.cache_bytes,
                opener,
                why: Mutex::new(String::new()),
                closed: AtomicBool::new(false),
                tail: RwLock::new(tail::Tail::empty(checkpoint)),
            }),
            health: Arc::new(Health::default()),
            holdings: Arc::new(Holdings::default()),
            record: std::sync::OnceLock::new(),
            segments: Arc::new(segments),
            prefetch,
        })
    }

    /// Cluster mode: append every commit's hall writes to `record` first. Before the writer
    /// starts; a second call changes nothing.
    pub fn set_log_of_record(&self, record: Arc<dyn LogOfRecord>) {
        let _ = self.record.set(record);
    }

    /// Cluster mode: the id of the last log-of-record row of `hall` this store holds.
    pub fn applied(&self, hall: &str) -> Result<u64, StoreError> {
        self.slot.applied(hall)
    }

    pub fn path(&self) -> &Path {
        &self.slot.path
    }

    /// Whether reads can be served: false only while a failed write left the database closed
    /// and it could not be opened again yet. Never waits.
    pub fn readable(&self) -> bool {
        !self.slot.closed.load(Ordering::Acquire)
    }
}
