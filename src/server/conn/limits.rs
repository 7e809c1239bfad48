//! The bounds connections are served within: the largest request head and target, and the
//! connection cap set below the process's descriptor limit, with the slots reserved for
//! tokens and probes and the limit per client address.
//!
//! It only works out numbers from `[server]` and the descriptor limit; it must never accept,
//! refuse or close a connection itself (the serving loop does).

use std::time::Duration;

use crate::config::ServerConfig;

/// Largest request head (request line and headers); hyper answers 431 beyond it. Also the
/// most hyper buffers per connection while reading.
pub const HEAD_LIMIT: usize = 32 * 1024;
/// Longest request target (path and query) the API reads; longer ones get 414.
pub const URI_LIMIT: usize = 8 * 1024;
/// Descriptors kept for what is not a client connection: the store's files, the runtime's
/// epoll and event descriptors, stdio, the systemd socket; several times what is open.
const FD_HEADROOM: u64 = 128;
/// Connections allowed over the cap while the ones evicted to make room are closing.
pub(super) const EVICTING_ROOM: usize = 64;

/// The bounds every connection is served within, from `[server]` and the descriptor limit.
#[derive(Debug, Clone)]
pub struct Limits {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub idle_timeout: Duration,
    pub write_timeout: Duration,
    pub max_connections: usize,
    pub reserved: usize,
    /// 0: no limit per address.
    pub per_address: usize,
    pub limit_loopback: bool,
}

impl Limits {
    /// `nofile`: the process's descriptor limit (`raise_nofile`). A configured cap above
    /// what the descriptors allow is lowered to it, with a warning.
    pub fn new(cfg: &ServerConfig, nofile: u64) -> Limits {
        let room = usize::try_from(nofile.saturating_sub(FD_HEADROOM).max(nofile / 2))
            .unwrap_or(usize::MAX)
            .max(1);
        let max_connections = match cfg.max_connections {
            0 => room,
            n if n > room => {
                tracing::warn!(
                    configured = n,
                    nofile,
                    max_connections = room,
                    "server.max_connections is above what the descriptor limit allows; lowered"
                );
                room
            }
            n => n,
        };
        Limits {
            header_timeout: Duration::from_secs(cfg.header_timeout_s),
            body_timeout: Duration::from_secs(cfg.body_timeout_s),
            idle_timeout: Duration::from_secs(cfg.idle_timeout_s),
            write_timeout: Duration::from_secs(cfg.write_timeout_s),
            max_connections,
            // An explicit reserve is validated below an explicit cap; a default one is kept
            // to half of a small cap.
            reserved: cfg.reserved_connections.min(max_connections / 2),
            per_address: cfg.max_connections_per_address,
            limit_loopback: cfg.limit_loopback,
        }
    }
}

/// Raise the soft descriptor limit to the hard one and return the limit in force.
pub fn raise_nofile() -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut lim = getrlimit(Resource::Nofile);
    // An unlimited hard limit still stops at the kernel's nr_open (1,048,576 by default).
    let hard = lim.maximum.unwrap_or(1 << 20);
    if lim.current.is_some_and(|soft| soft < hard) {
        lim.current = Some(hard);
        if let Err(e) = setrlimit(Resource::Nofile, lim) {
            tracing::warn!(error = %e, "cannot raise the descriptor limit to its hard limit");
        }
    }
    getrlimit(Resource::Nofile).current.unwrap_or(hard)
}
