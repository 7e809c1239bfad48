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

#[doc(hidden)]
pub use tikv_jemallocator;

/// Makes jemalloc the allocator of the binary that invokes it (`src/main.rs`, and the load
/// generator's, which runs the daemon in its own process), with the daemon's options. Why
/// jemalloc and not glibc's malloc: the request path allocates and frees many small objects
/// on several threads; jemalloc runs it in fewer instructions and keeps fewer bytes per
/// open case (BENCHMARKS.md, "The allocator"). Its background thread hands freed pages back
/// to the OS about 10 s after they were freed (`dirty_decay_ms`), also while the daemon is
/// idle: without it the pages of a flood of connections stayed resident until the arenas
/// that freed them allocated again (132 MiB 30 s after the flood instead of the 35 MiB
/// before).
#[macro_export]
macro_rules! jemalloc {
    () => {
        #[global_allocator]
        static GLOBAL: $crate::tikv_jemallocator::Jemalloc = $crate::tikv_jemallocator::Jemalloc;

        #[unsafe(export_name = "_rjem_malloc_conf")]
        static MALLOC_CONF: &u8 = &b"background_thread:true\0"[0];
    };
}
