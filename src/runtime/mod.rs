//! The owner threads and what they share: the hall shards (`shard`), the case thread
//! (`cases`), their mailboxes, the `Idempotency-Key` answers they keep (`idem`) and the hub
//! that fans their durable events out to subscribers.
//!
//! Each piece of mutable state (a hall, the open cases, an alarm consumer's cursor) has one
//! owner thread that applies requests to it in order and replies after the store has made the
//! change durable. Replies are types (`HallReply`, `CaseReply`, and a typed error); the HTTP
//! layer renders them. This module must never know HTTP: it imports nothing from `api`, `web`
//! or `server`, and the one rendering it keeps (for `Idempotency-Key`s) is given to it at
//! start (`Render`).

mod answer;
pub mod cases;
mod doorbell;
pub mod hub;
pub mod idem;
pub(crate) mod mailbox;
pub mod shard;

use std::sync::Arc;

use crossbeam::channel::Sender;
use tokio::sync::oneshot;

pub use answer::Answer;
use cases::CaseResult;
use shard::HallResult;

use crate::clock::Clock;
use crate::store::{Batch, Health, Refusal, Store, StoreError};

/// Why an owner thread did not carry out a request, apart from its engine's own refusals:
/// load, the store, a reload, shutdown, or an `Idempotency-Key` reused for another request.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OwnerError {
    /// The store refuses writes (a full disk): the change was not made.
    #[error("the store refuses writes: {}", .0.cause)]
    Unwritable(Refusal),
    /// The hall's queue is full; the request was not queued.
    #[error("hall `{0}` has too many requests waiting; retry shortly")]
    HallBusy(Arc<str>),
    /// The case thread's queue is full; the request was not queued.
    #[error("too many case requests are waiting; retry shortly")]
    CasesBusy,
    /// The owner stopped before it replied.
    #[error("the daemon is shutting down")]
    ShuttingDown,
    /// The hall is being put back from its durable records after a failed write.
    #[error("hall `{0}` is being reloaded from the store after a failed write; retry shortly")]
    HallReloading(Arc<str>),
    /// Cluster mode: this node does not hold the hall's lease now (it is moving between
    /// nodes, or being adopted here).
    #[error("hall `{0}` is moving between cluster nodes; retry shortly")]
    HallNotHeld(Arc<str>),
    /// Cases are being put back from their durable records after a failed write.
    #[error("cases are being reloaded from the store after a failed write; retry shortly")]
    CasesReloading,
    /// Cluster mode: this node does not hold the case engine's lease now (it is moving
    /// between nodes, or being adopted here).
    #[error("the case engine is moving between cluster nodes; retry shortly")]
    CasesNotHeld,
    /// What the request needs could not be read from the store (a kept answer, a cursor).
    #[error("the store cannot be read: {0}")]
    Unreadable(String),
    /// A hall's change was made but its batch could not be committed (for a reason other
    /// than the store refusing writes).
    #[error("the store cannot serve this now: {0}")]
    HallNotDurable(String),
    /// The same for the case thread, which words it differently.
    #[error("the change could not be made durable: {0}")]
    CaseNotDurable(String),
    /// The `Idempotency-Key` was first used for a different request.
    #[error("Idempotency-Key `{0}` was first used for a different request")]
    KeyReused(String),
}

impl OwnerError {
    /// Whether the refusal says nothing about the request itself (load, the store, a reload,
    /// shutdown): a retry must run it again, so it is never kept for an `Idempotency-Key`.
    pub fn transient(&self) -> bool {
        match self {
            OwnerError::Unwritable(_)
            | OwnerError::HallBusy(_)
            | OwnerError::CasesBusy
            | OwnerError::ShuttingDown
            | OwnerError::HallReloading(_)
            | OwnerError::HallNotHeld(_)
            | OwnerError::CasesReloading
            | OwnerError::CasesNotHeld
            | OwnerError::Unreadable(_)
            | OwnerError::HallNotDurable(_)
            | OwnerError::CaseNotDurable(_) => true,
            OwnerError::KeyReused(_) => false,
        }
    }

    /// A store refusing writes as such, anything else as `other`.
    fn from_commit(e: &StoreError, other: fn(String) -> OwnerError) -> OwnerError {
        match e {
            StoreError::Unwritable {
                cause,
                retry_after_s,
            } => OwnerError::Unwritable(Refusal {
                cause: cause.clone(),
                retry_after_s: *retry_after_s,
            }),
            e => other(e.to_string()),
        }
    }
}

/// How replies are written out, for the answers an `Idempotency-Key` keeps. The daemon
/// gives the HTTP layer's rendering, so a kept answer is the very one the first request got.
pub trait Render: Send + Sync {
    /// A hall's reply (`hall` is its id, for the `Location` of an issued ticket).
    fn hall(&self, hall: &str, reply: &HallResult) -> Answer;
    fn case(&self, reply: &CaseResult) -> Answer;
}

/// What every owner thread is started with.
#[derive(Clone)]
pub struct Context {
    pub store: Arc<Store>,
    /// The store writer's queue.
    pub writer: Sender<Batch>,
    pub clock: Arc<dyn Clock>,
    pub render: Arc<dyn Render>,
}

/// Send one request to an owner thread and wait for its reply, which comes only once the
/// request's effects are durable. The one path from a caller to an owner, for halls and
/// cases alike.
///
/// A change (`writes`) is refused here while the store refuses writes, without queueing;
/// reads go on, and so does a change with an `Idempotency-Key` (its first answer may be
/// kept), so `writes` is false for those. A full queue refuses at once with `busy` (counted
/// in `hallq_overload_total{queue}`), never waits without bound; an owner that stopped
/// before replying gives `ShuttingDown`.
async fn ask<T, F: From<OwnerError>>(
    health: &Health,
    writes: bool,
    queue: &'static str,
    busy: impl FnOnce() -> OwnerError,
    send: impl FnOnce(oneshot::Sender<Result<T, F>>) -> bool,
) -> Result<T, F> {
    if writes && let Some(r) = health.refusal() {
        return Err(OwnerError::Unwritable(r).into());
    }
    let (reply, rx) = oneshot::channel();
    if !send(reply) {
        metrics::counter!(crate::metrics::OVERLOAD, "queue" => queue).increment(1);
        return Err(busy().into());
    }
    rx.await
        .unwrap_or_else(|_| Err(OwnerError::ShuttingDown.into()))
}

#[cfg(test)]
mod tests {
    /// The runtime returns types and never knows HTTP: no file of it imports the HTTP layer
    /// or an HTTP crate (see the module doc).
    #[test]
    fn the_runtime_imports_nothing_of_http() {
        fn walk(dir: &std::path::Path, files: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).expect("src/runtime is readable") {
                let path = entry.expect("a directory entry").path();
                if path.is_dir() {
                    walk(&path, files);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    files.push(path);
                }
            }
        }
        let mut files = Vec::new();
        walk(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/runtime"),
            &mut files,
        );
        assert!(files.len() > 5, "found {files:?}");
        // Spelt out in pieces, so this file does not trip its own test.
        let banned: Vec<String> = ["api", "web", "server"]
            .iter()
            .map(|m| format!("crate::{m}"))
            .chain(["axum", "hyper", "http"].iter().map(|c| format!("{c}::")))
            .collect();
        for file in files {
            let text = std::fs::read_to_string(&file).expect("a source file");
            for b in &banned {
                assert!(!text.contains(b.as_str()), "{} uses `{b}`", file.display());
            }
        }
    }
}
