//! The outbox's records (`notify`): one notification for one webhook, as the `outbox` table
//! keeps it until it is delivered. Data only; who writes which record is `runtime::cases`
//! (new ones, with their events) and `notify` (attempts, dead letters, replays).

use std::sync::Arc;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::Op;

/// One notification for one webhook, as the outbox stores it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Notification {
    /// The delivery id (`X-Hallq-Delivery`): the same on every attempt, so a receiver that
    /// got it twice (an answer lost, a crash after the POST) can tell.
    pub id: String,
    pub webhook: Arc<str>,
    /// `case.accepted` …
    pub event: String,
    pub hall: Arc<str>,
    pub case: String,
    /// When the event was committed.
    pub created_at: Timestamp,
    /// Failed attempts so far.
    #[serde(default)]
    pub attempts: u32,
    /// Not attempted before this instant (backoff).
    pub next_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Set when it became a dead letter: no more attempts until replayed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_at: Option<Timestamp>,
    /// The exact bytes POSTed and signed, fixed when written so every attempt sends the same.
    pub body: String,
}

impl Notification {
    pub fn is_dead(&self) -> bool {
        self.dead_at.is_some()
    }

    pub fn op(&self) -> Op {
        Op::PutNotification {
            id: self.id.clone(),
            json: Some(serde_json::to_vec(self).expect("notifications serialize")),
        }
    }
}
