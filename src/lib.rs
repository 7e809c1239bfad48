//! hallq: live call queues and case deadlines for government service halls.
//!
//! The crate is a library with a thin binary (`src/main.rs`). The pure cores (`queue`,
//! `calendar`, `deadline`, `wheel`) take `now` as a parameter and do no I/O; the edges
//! (`store`, the owner threads in `runtime`, `api`, `server`) own threads, sockets and files.

pub mod api;
pub mod booking;
pub mod calendar;
pub mod cli;
pub mod clock;
pub mod config;
pub mod deadline;
pub mod diag;
pub mod localtime;
pub mod metrics;
pub mod queue;
pub mod runtime;
pub mod server;
pub mod stats;
pub mod store;
pub mod web;
pub mod wheel;
