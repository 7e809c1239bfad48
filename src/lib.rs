//! hallq: live call queues and case deadlines for government service halls.
//!
//! The crate is a library with a thin binary (`src/main.rs`). The pure core (the `model`,
//! `queue`, `calendar`, `deadline`, `wheel` and the `booking` book) is the `hallq-core`
//! crate: it takes `now` as a parameter and does no I/O. It is re-exported here, so
//! `crate::queue` and `hallq::queue` name it. The edges (`config`, `store`, the owner
//! threads in `runtime`, `api`, `server`) own files, threads and sockets.

pub use hallq_core::{booking, calendar, deadline, diag, hash, localtime, model, queue, wheel};

pub mod api;
pub mod backup;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod metrics;
pub mod notify;
pub mod reports;
pub mod runtime;
pub mod server;
pub mod stats;
pub mod store;
pub mod web;
