//! hallq-loadtest: a province of service halls against a hallq daemon (issue 5).
//!
//! The binary (`src/main.rs`) only calls `cli::main`; everything lives here so the smoke
//! test runs the same code against the same in-process daemon.

pub mod booking;
mod cases;
pub mod cli;
mod daemon;
pub mod fanout;
pub mod hold;
mod http;
pub mod mixed;
pub mod plan;
pub mod province;
pub mod recovery;
pub mod report;
pub mod reports;
mod rng;
mod sse;
mod timeline;
mod workload;

pub use daemon::AS_DAEMON;
