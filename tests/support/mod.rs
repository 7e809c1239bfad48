//! The one test harness the integration tests share:
//! - `fixtures`: the test configs (halls, tokens, calendars, matters) and edits to them;
//! - `inproc`: the real server in this process on port 0 (a clock the test moves, a store on
//!   a failing disk), with its test hooks;
//! - `daemon`: the real binary as a child process (SIGKILL, SIGTERM, logs, restarts);
//! - `http`: requests, the alarm log, and the test hooks that run due timers now, so a test
//!   proves that nothing fired without sleeping;
//! - `sse`: a hall's event stream, event by event;
//! - `disk`: a redb storage backend that fails on demand, under the store;
//! - `postgres`: a real PostgreSQL on a loopback port, for the cluster tests;
//! - `cluster`: what the cluster tests share (ports, retried requests, the case engine's holder);
//! - `receiver`: a webhook receiver that records every POST and answers as told.
#![allow(
    dead_code,
    unused_imports,
    reason = "each test binary uses a different part"
)]

mod booking;
mod cluster;
mod daemon;
mod disk;
mod fixtures;
mod http;
mod inproc;
mod postgres;
mod receiver;
mod sse;

pub use booking::*;
pub use cluster::*;
pub use daemon::{Daemon, Hallq};
pub use disk::{DiskSwitch, FailingDisk};
pub use fixtures::*;
pub use http::*;
pub use inproc::*;
pub use postgres::Postgres;
pub use receiver::*;
pub use sse::*;
