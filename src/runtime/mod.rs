//! The owner threads and what they share: the hall shards (`shard`), the case thread
//! (`cases`), their mailboxes, the `Idempotency-Key` answers they keep (`idem`) and the hub
//! that fans their durable events out to subscribers.
//!
//! Each piece of mutable state (a hall, the open cases, an alarm consumer's cursor) has one
//! owner thread that applies requests to it in order and answers after the store has made the
//! change durable. This module must never know HTTP: it imports nothing from `api`, `web` or
//! `server`.

pub mod cases;
pub mod hub;
pub mod idem;
pub(crate) mod mailbox;
pub mod shard;
