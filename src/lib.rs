//! hallq: live call queues and case deadlines for government service halls.
//!
//! The crate is a library with a thin binary (`src/main.rs`). The pure cores (`queue`,
//! `calendar`, `deadline`, `wheel`) take `now` as a parameter and do no I/O; the edges
//! (`store`, `api`, `server`) own threads, sockets and files.

pub mod api;
pub mod backup;
pub mod calendar;
pub mod cases;
pub mod cli;
pub mod clock;
pub mod config;
pub mod deadline;
pub mod diag;
pub mod hub;
pub mod idem;
pub mod localtime;
mod mailbox;
pub mod metrics;
pub mod queue;
pub mod server;
pub mod shard;
pub mod stats;
pub mod store;
pub mod web;
pub mod wheel;
