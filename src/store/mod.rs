//! Durable state in redb: an event log per stream plus current-state tables.
//!
//! One writer thread owns every write transaction. Producers (the hall shards) send it
//! `Batch`es; it takes all that are waiting (up to `max_batch`), applies them in one
//! transaction and commits with one fsync (group commit), and only then publishes the events
//! and runs the batches' completions, which answer the HTTP requests. So an answer or a
//! display update never reflects a state that a crash could undo, and a crash loses at most
//! a suffix of unanswered work.
//!
//! Recovery reads the current-state tables (`halls`, `tickets`), never the event log, so
//! start-up time grows with open state, not with history. The log keeps the last
//! `event_retention` events per stream for `Last-Event-ID` resume.
//!
//! If a commit fails the store is marked failed: every later batch fails at once, readiness
//! turns false and the daemon shuts down, so it restarts from what is on disk instead of
//! serving memory that disagrees with it.

mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::queue::{HallRecord, TicketRecord};

pub use writer::{Batch, Done, Op, Publish, Published, WriterHandle};

/// Bumped when a table's layout changes incompatibly.
const SCHEMA: u64 = 1;

pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// hall id → `HallRecord` (JSON).
pub(crate) const HALLS: TableDefinition<&str, &[u8]> = TableDefinition::new("halls");
/// (hall id, ticket id) → `TicketRecord` (JSON). Ticket ids start with the business day, so
/// one range covers a day's tickets.
pub(crate) const TICKETS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("tickets");
/// (stream, seq) → `kind\njson`.
pub(crate) const EVENTS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("events");
/// (scope, key) → 8 bytes big-endian expiry (unix seconds) + stored answer (JSON).
pub(crate) const IDEMPOTENCY: TableDefinition<(&str, &str), &[u8]> =
    TableDefinition::new("idempotency");
/// case id → `CaseRecord` (JSON) of every open case: what recovery loads.
pub(crate) const CASES: TableDefinition<&str, &[u8]> = TableDefinition::new("cases");
/// case id → `CaseRecord` (JSON) of closed cases, read only on request.
pub(crate) const CLOSED_CASES: TableDefinition<&str, &[u8]> = TableDefinition::new("closed_cases");
/// consumer name → the last alarm sequence number it acknowledged.
pub(crate) const CONSUMERS: TableDefinition<&str, u64> = TableDefinition::new("consumers");
/// calendar id → calendar TOML replaced through the API; used instead of the config's file.
pub(crate) const CALENDARS: TableDefinition<&str, &str> = TableDefinition::new("calendars");

/// (hall id, YYYY-MM-DD) → `DayStats` (JSON) of a finished business day.
pub(crate) const STATS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("stats");
/// (hall id, YYYY-MM-DD) → cases finished that day: 16 bytes, on time then overdue (u64 BE).
pub(crate) const CASE_STATS: TableDefinition<(&str, &str), &[u8]> =
    TableDefinition::new("case_stats");

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
    #[error("stored record {what} is corrupt: {source}")]
    Corrupt {
        what: String,
        source: serde_json::Error,
    },
    #[error("the store failed earlier and refuses writes until the daemon restarts")]
    Failed,
    #[error("the store writer has stopped")]
    Stopped,
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

/// Liveness and failure flags shared by the writer, the shards and the HTTP layer.
#[derive(Debug, Default)]
pub struct Health {
    /// A commit failed; see the module doc.
    pub failed: AtomicBool,
    /// Unix seconds of the writer's last loop, for the systemd watchdog.
    pub writer_alive: AtomicI64,
}

impl Health {
    pub fn is_failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
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
    pub(crate) db: Arc<Database>,
    path: PathBuf,
    pub health: Arc<Health>,
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
        std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
            path: dir.to_owned(),
            source,
        })?;
        let path = dir.join("hallq.redb");
        // After a crash redb checks and repairs the whole file before it opens; at ten
        // million cases that is seconds, so say what the daemon is doing meanwhile.
        let tenth = std::cell::Cell::new(-1i64);
        let db = Database::builder()
            .set_cache_size(cfg.cache_bytes)
            .set_repair_callback(move |session| {
                let now = (session.progress() * 10.0) as i64;
                if now > tenth.get() {
                    tenth.set(now);
                    tracing::warn!(
                        progress = format!("{:.0}%", session.progress() * 100.0),
                        "repairing the store after an unclean shutdown"
                    );
                }
            })
            .create(&path)
            .map_err(|source| StoreError::Open {
                path: path.clone(),
                source,
            })?;
        let tx = begin_write(&db, cfg.quick_repair)?;
        {
            let mut meta = tx.open_table(META)?;
            let found = meta.get("schema")?.map(|v| v.value());
            match found {
                None => {
                    meta.insert("schema", SCHEMA)?;
                }
                Some(SCHEMA) => {}
                Some(found) => return Err(StoreError::Schema { path, found }),
            }
            tx.open_table(HALLS)?;
            tx.open_table(TICKETS)?;
            tx.open_table(EVENTS)?;
            tx.open_table(IDEMPOTENCY)?;
            tx.open_table(CASES)?;
            tx.open_table(CLOSED_CASES)?;
            tx.open_table(CONSUMERS)?;
            tx.open_table(CALENDARS)?;
            tx.open_table(STATS)?;
            tx.open_table(CASE_STATS)?;
        }
        tx.commit()?;
        Ok(Store {
            db: Arc::new(db),
            path,
            health: Arc::new(Health::default()),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A hall's stored state: its record and the business day's tickets.
    pub fn load_hall(
        &self,
        hall: &str,
    ) -> Result<Option<(HallRecord, Vec<TicketRecord>)>, StoreError> {
        let tx = self.db.begin_read()?;
        let halls = tx.open_table(HALLS)?;
        let Some(raw) = halls.get(hall)? else {
            return Ok(None);
        };
        let record: HallRecord =
            serde_json::from_slice(raw.value()).map_err(|source| StoreError::Corrupt {
                what: format!("halls/{hall}"),
                source,
            })?;
        let tickets = tx.open_table(TICKETS)?;
        let mut out = Vec::new();
        for row in tickets.range((hall, "")..(hall, "\u{10FFFF}"))? {
            let (k, v) = row?;
            let t: TicketRecord =
                serde_json::from_slice(v.value()).map_err(|source| StoreError::Corrupt {
                    what: format!("tickets/{hall}/{}", k.value().1),
                    source,
                })?;
            out.push(t);
        }
        Ok(Some((record, out)))
    }

    /// Events of `stream` after `after`, at most `limit`.
    pub fn read_events(
        &self,
        stream: &str,
        after: u64,
        limit: usize,
    ) -> Result<EventPage, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(EVENTS)?;
        let mut all = table.range((stream, 0)..=(stream, u64::MAX))?;
        let first_retained = all.next().transpose()?.map(|(k, _)| k.value().1);
        let last_retained = all
            .next_back()
            .transpose()?
            .map(|(k, _)| k.value().1)
            .or(first_retained);
        let mut events = Vec::new();
        for row in table
            .range((stream, after.saturating_add(1))..=(stream, u64::MAX))?
            .take(limit)
        {
            let (k, v) = row?;
            let text = String::from_utf8_lossy(v.value());
            let (kind, json) = text.split_once('\n').unwrap_or(("event", &text));
            events.push((k.value().1, kind.to_owned(), json.to_owned()));
        }
        Ok(EventPage {
            events,
            first_retained,
            last_retained,
        })
    }

    /// How many open cases the store holds.
    pub fn open_cases(&self) -> Result<usize, StoreError> {
        use redb::ReadableTableMetadata;
        Ok(self.db.begin_read()?.open_table(CASES)?.len()? as usize)
    }

    /// Every open case, in id order, for recovery. Reading and decoding run on a second
    /// thread while `each` runs on this one, so recovery uses two cores.
    pub fn load_cases(
        &self,
        mut each: impl FnMut(crate::deadline::CaseRecord),
    ) -> Result<usize, StoreError> {
        use crate::deadline::CaseRecord;
        const BATCH: usize = 4096;
        let (tx, rx) = crossbeam::channel::bounded::<Result<Vec<CaseRecord>, StoreError>>(8);
        std::thread::scope(|scope| {
            let reader = std::thread::Builder::new().name("hallq-load-read".into());
            let spawned = reader.spawn_scoped(scope, move || {
                let decode = || -> Result<(), StoreError> {
                    let read = self.db.begin_read()?;
                    let table = read.open_table(CASES)?;
                    let mut batch = Vec::with_capacity(BATCH);
                    for row in table.iter()? {
                        let (k, v) = row?;
                        batch.push(serde_json::from_slice(v.value()).map_err(|source| {
                            StoreError::Corrupt {
                                what: format!("cases/{}", k.value()),
                                source,
                            }
                        })?);
                        if batch.len() == BATCH {
                            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                            if tx.send(Ok(full)).is_err() {
                                return Ok(());
                            }
                        }
                    }
                    let _ = tx.send(Ok(batch));
                    Ok(())
                };
                if let Err(e) = decode() {
                    let _ = tx.send(Err(e));
                }
            });
            if let Err(e) = spawned {
                return Err(StoreError::Thread(e));
            }
            let mut n = 0;
            for batch in rx {
                for record in batch? {
                    each(record);
                    n += 1;
                }
            }
            Ok(n)
        })
    }

    /// A closed case's last record.
    pub fn closed_case(&self, id: &str) -> Result<Option<crate::deadline::CaseRecord>, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(CLOSED_CASES)?;
        table
            .get(id)?
            .map(|v| {
                serde_json::from_slice(v.value()).map_err(|source| StoreError::Corrupt {
                    what: format!("closed_cases/{id}"),
                    source,
                })
            })
            .transpose()
    }

    /// Calendars replaced through the API, as (id, TOML).
    pub fn calendars(&self) -> Result<Vec<(String, String)>, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(CALENDARS)?;
        table
            .iter()?
            .map(|row| {
                let (k, v) = row?;
                Ok((k.value().to_owned(), v.value().to_owned()))
            })
            .collect()
    }

    /// A finished business day's statistics of a hall.
    pub fn day_stats(
        &self,
        hall: &str,
        day: &str,
    ) -> Result<Option<crate::queue::stats::DayStats>, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(STATS)?;
        table
            .get((hall, day))?
            .map(|v| {
                serde_json::from_slice(v.value()).map_err(|source| StoreError::Corrupt {
                    what: format!("stats/{hall}/{day}"),
                    source,
                })
            })
            .transpose()
    }

    /// Cases a hall finished on a day: (on time, overdue).
    pub fn case_stats(&self, hall: &str, day: &str) -> Result<(u64, u64), StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(CASE_STATS)?;
        Ok(table
            .get((hall, day))?
            .map_or((0, 0), |v| decode_pair(v.value())))
    }

    /// The last alarm sequence number a consumer acknowledged.
    pub fn consumer(&self, name: &str) -> Result<Option<u64>, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(CONSUMERS)?;
        Ok(table.get(name)?.map(|v| v.value()))
    }

    /// A stored `Idempotency-Key` answer that has not expired.
    pub fn idempotent(
        &self,
        scope: &str,
        key: &str,
        now_s: i64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(IDEMPOTENCY)?;
        Ok(table.get((scope, key))?.and_then(|v| {
            let raw = v.value();
            let expires = i64::from_be_bytes(raw.get(..8)?.try_into().ok()?);
            (expires > now_s).then(|| raw[8..].to_vec())
        }))
    }
}
