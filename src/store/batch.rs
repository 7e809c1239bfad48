//! What producers hand the store's writer: the current-state writes (`Op`), the events to
//! append and publish once durable (`Published`), and the batch that carries both with its
//! completions, generation and fences (`Batch`).
//!
//! Data only, shared by the writer, the log encoding, the tail, the checkpointer and the log
//! of record; it never touches redb or a thread. `Op` is serialized into the log as it is: a
//! variant or field is only ever added at the end.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use super::StoreError;

/// One write to a current-state table. Serialized into the log as it is (`log`): a variant
/// or field is only ever added at the end, and a change that reorders them bumps the
/// record version.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub enum Op {
    PutHall {
        hall: Arc<str>,
        #[serde(with = "bytes")]
        json: Vec<u8>,
    },
    PutTicket {
        hall: Arc<str>,
        id: String,
        #[serde(with = "bytes")]
        json: Vec<u8>,
    },
    /// Delete the hall's ticket records whose id sorts before `before` (earlier days).
    PurgeTickets { hall: Arc<str>, before: String },
    PutIdempotent {
        scope: String,
        key: String,
        expires_s: i64,
        #[serde(with = "bytes")]
        json: Vec<u8>,
    },
    /// An open case's record.
    PutCase {
        id: String,
        #[serde(with = "bytes")]
        json: Vec<u8>,
    },
    /// A case closed: its record moves to the closed-case table.
    CloseCase {
        id: String,
        #[serde(with = "bytes")]
        json: Vec<u8>,
    },
    /// An alarm consumer's acknowledged position and the token that owns it.
    PutConsumer {
        name: String,
        seq: u64,
        owner: String,
    },
    /// A consumer's cursor moved backwards: `json` is a `Rewind`, appended to its log.
    LogRewind {
        name: String,
        #[serde(with = "bytes")]
        json: Vec<u8>,
    },
    /// A calendar replaced through the API.
    PutCalendar { id: String, toml: String },
    /// A finished business day's statistics.
    PutStats {
        hall: Arc<str>,
        day: String,
        #[serde(with = "bytes")]
        json: Vec<u8>,
    },
    /// One more case finished by a hall on a day, on time or not.
    CountCase {
        hall: Arc<str>,
        day: String,
        on_time: bool,
    },
    /// A booking's record; `json: None` deletes it.
    PutBooking {
        hall: Arc<str>,
        code: String,
        json: Option<Vec<u8>>,
    },
    /// A hall's record as a delta (`hall_delta`): `json` is the record with its recent calls
    /// left empty, `calls` the calls made since the hall's previous record (each a
    /// `CallEvent` as JSON); the record's recent calls become the previous ones followed by
    /// `calls`, the last `keep` of them. What the shards write instead of `PutHall`, so a
    /// commit no longer rewrites the ten recent calls of every hall it touches.
    PutHallDelta {
        hall: Arc<str>,
        #[serde(with = "bytes")]
        json: Vec<u8>,
        calls: Vec<String>,
        keep: u8,
    },
    /// An outbox notification's record (`notify::Notification`), written in the commit of
    /// the event that causes it; `json: None` removes it once delivered. The embedded mode's;
    /// cluster mode writes `PutOutbox`.
    PutNotification { id: String, json: Option<Vec<u8>> },
    /// Cluster mode: `PutNotification` under the share whose log of record carries it
    /// (`Notification::share`: the hall of a ticket's notification, the case engine's
    /// `@cases` for the others), so the node that adopts the share has the record, and its
    /// delivered or dead mark, in its outbox.
    PutOutbox {
        share: Arc<str>,
        id: String,
        json: Option<Vec<u8>>,
    },
    /// Cluster mode: the id of the last log-of-record row of `hall` this store holds
    /// (`replica::APPLIED`), in the same log record as the writes of that row.
    PutApplied { hall: Arc<str>, id: u64 },
    /// A hall's record as a patch on its previous one (`hall_delta`): the top-level members,
    /// services and windows that changed, and the recent calls as `PutHallDelta` carries them.
    /// What the shards write once a hall's previous record is known, so a commit no longer
    /// rewrites every window and service of every hall it touches: a ticket operation
    /// changes one window and one service, or none.
    PatchHall {
        hall: Arc<str>,
        patch: HallPatch,
        calls: Vec<String>,
        keep: u8,
    },
}

/// What changed in a hall's record since its previous one (`Op::PatchHall`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HallPatch {
    /// A JSON object: the record's top-level members this patch sets, each replacing the
    /// member of that name (never `services`, `windows` or `recent_calls`).
    pub head: String,
    pub services: ListPatch,
    pub windows: ListPatch,
}

/// The items of one of a record's lists that changed, by position.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ListPatch {
    /// How many items the list has, before and after: a patch never adds or removes any.
    pub len: u16,
    /// (position, the item as JSON), positions ascending.
    pub items: Vec<(u16, String)>,
}

/// An event to append to a stream's log and publish once durable.
#[derive(Debug, Clone)]
pub struct Published {
    pub stream: Arc<str>,
    /// 0 for streams fed by several producers (`@alarms`, `@cases`): the writer assigns the
    /// next number at commit and writes it into the JSON as `"seq"`.
    pub seq: u64,
    pub kind: &'static str,
    pub json: String,
    /// The hall the event concerns, so subscribers scoped to some halls see only theirs.
    pub hall: Option<usize>,
}

/// Called once the batch is durable (`Ok`) or can never be (`Err`).
pub type Done = Box<dyn for<'a> FnOnce(Result<(), &'a StoreError>) + Send>;

/// What a producer hands the writer. Everything in one batch commits atomically, and batches
/// commit in the order they were sent.
#[derive(Default)]
pub struct Batch {
    pub ops: Vec<Op>,
    pub events: Vec<Published>,
    pub done: Vec<Done>,
    /// The store generation the producer's memory agreed with when it built the batch
    /// (`Health::generation`); an older one is refused. Set by `Ledger::stamp`.
    pub generation: u64,
    /// Where the writer records that the batch is durable, for the producer's ledger.
    pub(crate) mark: Option<Mark>,
    /// Cluster mode: (hall position, epoch) of every hall whose writes the batch carries,
    /// the lease it was built under. The log of record refuses a stale one (fencing).
    pub fences: Vec<(usize, u64)>,
    /// Cluster mode: the batch replays the log of record's rows of a hall up to this row id
    /// (hall id, row id); it is stored here only, never appended there again.
    pub replayed: Option<(Arc<str>, u64)>,
}

/// A producer's count of its batches known durable, and this batch's number.
#[derive(Debug)]
pub(crate) struct Mark {
    pub durable: Arc<AtomicU64>,
    pub n: u64,
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("ops", &self.ops.len())
            .field("events", &self.events.len())
            .field("done", &self.done.len())
            .finish()
    }
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty() && self.events.is_empty() && self.done.is_empty()
    }

    pub(crate) fn writes(&self) -> bool {
        !self.ops.is_empty() || !self.events.is_empty()
    }
}

/// Receives durable events; implemented by the subscriber hub.
pub trait Publish: Send + Sync + 'static {
    fn publish(&self, events: &[Published]);
}

/// `Vec<u8>` as one byte string (serde's default is a sequence of numbers, one call per byte).
pub(crate) mod bytes {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
        }
        d.deserialize_byte_buf(Visitor)
    }
}
