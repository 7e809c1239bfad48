//! hallq: live call queues and case deadlines for government service halls.
//!
//! The crate is a library with a thin binary (`src/main.rs`). The pure cores (`queue`,
//! `calendar`, `deadline`, `wheel`) take `now` as a parameter and do no I/O; the edges
//! (`store`, `api`, `server`) own threads, sockets and files. The parts that are already in
//! the `hallq-core` crate are re-exported here, so `crate::calendar` and `hallq::calendar`
//! keep naming them.

pub use hallq_core::{calendar, diag, localtime, model, wheel};

pub mod api;
pub mod cases;
pub mod cli;
pub mod clock;
pub mod config;
pub mod deadline;
pub mod hub;
pub mod idem;
mod mailbox;
pub mod metrics;
pub mod queue;
pub mod server;
pub mod shard;
pub mod stats;
pub mod store;
pub mod web;
