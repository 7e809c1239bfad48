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

    /// The share of the log of record this record belongs to in cluster mode, by who writes
    /// it: a ticket's notification (`ticket.turn_near`) is written by its hall's shard, under
    /// the hall's lease; every other (the cases' milestones, `bundle.ready`) by the case
    /// thread, under the case engine's (`@cases`).
    pub fn share(&self) -> &str {
        if self.event.starts_with("ticket.") {
            &self.hall
        } else {
            super::CASE_ENGINE
        }
    }

    /// The write that stores this record; `clustered`: under its share (`Op::PutOutbox`).
    pub fn op(&self, clustered: bool) -> Op {
        let json = Some(serde_json::to_vec(self).expect("notifications serialize"));
        self.put(json, clustered)
    }

    /// The write that removes this record (delivered).
    pub fn removal(&self, clustered: bool) -> Op {
        self.put(None, clustered)
    }

    fn put(&self, json: Option<Vec<u8>>, clustered: bool) -> Op {
        let id = self.id.clone();
        if clustered {
            Op::PutOutbox {
                share: Arc::from(self.share()),
                id,
                json,
            }
        } else {
            Op::PutNotification { id, json }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(event: &str) -> Notification {
        Notification {
            id: "1-0001-00000000-sms".into(),
            webhook: Arc::from("sms"),
            event: event.into(),
            hall: Arc::from("h1"),
            case: "c".into(),
            created_at: Timestamp::UNIX_EPOCH,
            attempts: 0,
            next_at: Timestamp::UNIX_EPOCH,
            last_error: None,
            dead_at: None,
            body: "{}".into(),
        }
    }

    #[test]
    fn a_record_follows_the_lease_of_whoever_writes_it() {
        assert_eq!(note("ticket.turn_near").share(), "h1");
        for event in ["case.accepted", "case.outcome", "bundle.ready"] {
            assert_eq!(note(event).share(), super::super::CASE_ENGINE);
        }
        let n = note("ticket.turn_near");
        assert!(matches!(
            n.op(false),
            Op::PutNotification { json: Some(_), .. }
        ));
        assert!(matches!(
            n.removal(false),
            Op::PutNotification { json: None, .. }
        ));
        let Op::PutOutbox { share, json, .. } = n.removal(true) else {
            panic!("cluster mode writes under the share");
        };
        assert_eq!((&*share, json), ("h1", None));
    }
}
