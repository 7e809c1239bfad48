//! Applicant notifications (DESIGN.md, "Applicant notifications", 第十九条): the outbox's
//! delivery as signed webhooks, and its dead letters.
//!
//! The case thread (`runtime::cases::outbox`) turns the milestones of a pass (accepted,
//! suspended with the 补正 notice, resumed, outcome, ready for pickup) into outbox records
//! (`store::Notification`) in the batch that carries the events themselves, so a notification exists exactly when its event is durable: nothing
//! is sent that was not committed, nothing committed is dropped. The delivery task
//! (`deliver`) is the only one that changes a record after that: it POSTs it, removes it
//! once a receiver answered 2xx, and otherwise counts the attempt and waits (exponential
//! backoff, capped) until the attempts or the age run out and the record becomes a dead
//! letter, kept until an operator replays it (`GET /v1/webhooks/dead`, `POST
//! /v1/webhooks/dead/{id}/replay`).
//!
//! Receivers are reached over http or https (`client`: the system's roots plus a webhook's
//! own `ca` file).
//!
//! A body carries the applicant only as the case holds them: masked, and as keyed hashes
//! under the citizen key (`[booking] keys`); the gateway maps the contact's hash to the number
//! in its own directory. No clear contact is ever in the store, the body or a log line.

mod client;
mod deliver;

pub use crate::store::Notification;
pub use deliver::{Outbox, OutboxError, signature};
