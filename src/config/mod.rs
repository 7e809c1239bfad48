//! Hall configuration: what halls exist, how they queue, who may touch them.
//!
//! Loading is two steps, as in ripgrep's low/high args: `raw` deserializes the TOML exactly as
//! written (keeping byte spans), `validate` turns it into the types below and reports every
//! problem with file, line, column and field. Nothing downstream ever sees an unvalidated
//! value, so the engine can index by position without checking again.

mod officers;
mod raw;
mod validate;
mod webhook;

use std::net::SocketAddr;
use std::ops::Deref;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

pub use crate::diag::{SourceError, SourceErrors};
use crate::model::CaseCatalogue;
pub use officers::{Officer, Photo, RatingPolicy};
pub use webhook::{NotifyEvent, Webhook};

/// The embedded demo: a city hall, a county hall, a township centre and a village station.
pub const DEMO_SOURCE: &str = include_str!("demo.toml");
/// How the demo config is named in diagnostics.
pub const DEMO_LABEL: &str = "<embedded demo config>";

/// A validated configuration: the model the engines run on (`catalogue`) and the daemon's
/// own settings. A hall's position in `halls` is its index everywhere in the daemon.
#[derive(Debug)]
pub struct Config {
    /// Where the config came from, for logs.
    pub source: String,
    /// True only for the embedded demo config: demo tokens work and only loopback is served.
    pub demo: bool,
    pub server: ServerConfig,
    pub store: StoreConfig,
    /// Whether metric series carry the hall or only its tier.
    pub metric_labels: LabelMode,
    pub tokens: Vec<TokenConfig>,
    /// The halls and the case catalogue. The deadline engine holds this and nothing else of
    /// the config; `Config` derefs to it, so `config.halls` and `config.hall_index(id)` read
    /// as before.
    pub catalogue: Arc<CaseCatalogue>,
    /// The officers roster (公示牌), in config order.
    pub officers: Vec<Officer>,
    /// `[rating]`: the citizen's rating window, short absences, the complaint limit.
    pub rating: RatingPolicy,
    /// Bookable slots, fairness limits and the citizen-hashing keys (`booking::config`).
    pub booking: crate::booking::BookingConfig,
    /// `[cluster]`: the log of record in PostgreSQL and hall leases (`cluster`); `None` is
    /// the embedded single-node mode, which needs nothing else installed.
    pub cluster: Option<ClusterConfig>,
    /// `[[webhook]]`: where applicant notifications go (`notify`).
    pub webhooks: Vec<Webhook>,
}

/// `[cluster]`, validated.
#[derive(Clone)]
pub struct ClusterConfig {
    /// A libpq connection string or `postgresql://` URL; holds a password, so never logged.
    pub postgres: String,
    /// This node's name: unique among the nodes sharing the database.
    pub node: String,
    /// The base URL other nodes redirect a hall's requests to (`http://host:port`).
    pub advertise: String,
    /// Seconds a hall lease lasts without renewal: how long a dead node's halls wait.
    pub lease_s: u64,
}

impl std::fmt::Debug for ClusterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterConfig")
            .field("postgres", &"<hidden>")
            .field("node", &self.node)
            .field("advertise", &self.advertise)
            .field("lease_s", &self.lease_s)
            .finish()
    }
}

impl Config {
    /// Parse and validate a config file's text. `file` is used in error messages only.
    /// Calendar files are read relative to the current directory.
    pub fn from_toml(file: &str, source: &str) -> Result<Config, SourceErrors> {
        validate::load(
            file,
            source,
            false,
            validate::Files::Dir(std::path::Path::new(".")),
        )
    }

    /// Read and validate a config file from disk.
    pub fn from_file(path: &std::path::Path) -> Result<Config, SourceErrors> {
        let label = path.display().to_string();
        let source = std::fs::read_to_string(path).map_err(|e| {
            SourceError::at(
                &label,
                "",
                None,
                "",
                format!("cannot read config file: {e}"),
            )
        })?;
        let dir = path.parent().unwrap_or(std::path::Path::new("."));
        validate::load(&label, &source, false, validate::Files::Dir(dir))
    }

    /// The embedded demo config. It is validated by a unit test, so this cannot fail at run
    /// time unless the binary itself is broken.
    pub fn demo() -> Config {
        validate::load(DEMO_LABEL, DEMO_SOURCE, true, validate::Files::Embedded)
            .unwrap_or_else(|e| panic!("the embedded demo config is invalid:\n{e}"))
    }
}

impl Deref for Config {
    type Target = CaseCatalogue;

    fn deref(&self) -> &CaseCatalogue {
        &self.catalogue
    }
}

/// Daemon-level settings; CLI flags override `listen` and `data`.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub data: PathBuf,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// Commands waiting for one shard before new ones are refused with 503.
    pub queue_depth: usize,
    /// How long in-flight requests may take to finish after SIGTERM.
    pub shutdown_grace_s: u64,
    /// Seconds between SSE keep-alive comments, so proxies keep idle streams open.
    pub sse_keepalive_s: u64,
    /// Events a display may fall behind before it is cut off (it then resumes from the log).
    pub sse_buffer: usize,
    /// Subscribers per hall stream before new ones are refused with 503.
    pub max_subscribers: usize,
    /// Hall shard threads (halls are dealt to them round-robin); 0 for one per core.
    pub shards: usize,
    /// A connection must deliver a complete request head this long after it opened, or
    /// after the first byte of a later head arrived; otherwise it is closed.
    pub header_timeout_s: u64,
    /// A request body must arrive whole this long after its head (408 otherwise).
    pub body_timeout_s: u64,
    /// A keep-alive connection with no request in progress is closed after this long.
    pub idle_timeout_s: u64,
    /// A response the client does not read (its socket stays full) for this long closes
    /// the connection.
    pub write_timeout_s: u64,
    /// Open connections at most; 0 takes it from the descriptor limit at start.
    pub max_connections: usize,
    /// The last connections under `max_connections`, kept for requests with a valid token
    /// and health probes.
    pub reserved_connections: usize,
    /// Open connections per client address; 0 for no limit.
    pub max_connections_per_address: usize,
    /// Whether loopback clients count against `max_connections_per_address`.
    pub limit_loopback: bool,
    /// Events a stream subscriber may have waiting before it is cut off.
    pub sse_max_lag_events: usize,
    /// Seconds a stream subscriber may leave an event unread before it is cut off.
    pub sse_max_lag_s: u64,
    /// A stream writes to its subscriber at most once per this many milliseconds; events
    /// that come sooner wait and go out together in one write. 0: each event at once.
    pub sse_coalesce_ms: u64,
    /// Citizen ticket-page streams open at once per ticket link.
    pub max_streams_per_link: usize,
    /// When set, `/metrics` answers only a bearer token with this SHA-256.
    pub metrics_token_sha256: Option<[u8; 32]>,
}

/// Durability and retention settings.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Events kept per hall stream for `Last-Event-ID` resume; older points get a snapshot.
    pub event_retention: u64,
    /// Most requests committed in one transaction (one fsync). 1 disables group commit,
    /// which exists only to measure what group commit buys.
    pub max_batch: usize,
    /// How long an `Idempotency-Key` result is kept, in seconds.
    pub idempotency_ttl_s: u64,
    /// The store's page cache, in bytes. Recovery reads every open case once; a bigger cache
    /// only keeps those pages resident (the operating system caches the file anyway).
    pub cache_bytes: usize,
    /// Every commit also saves redb's allocator state (and commits in two phases), so a
    /// start after a crash need not walk and checksum the whole file to rebuild it.
    pub quick_repair: bool,
    /// After a failed commit the writer refuses writes and tries the store again after this
    /// long, doubling the wait after each failed try up to `retry_max_ms`.
    pub retry_min_ms: u64,
    pub retry_max_ms: u64,
    /// A checkpoint (the log's tail written into the state tables, one durable redb commit
    /// with two flushes) runs once the tail holds this many writes and events (default
    /// 65,536), and at least every `checkpoint_interval_ms` (default 1,000) while there is
    /// any. Rarer checkpoints coalesce more rewrites of the same rows and compete less with
    /// the log's `fdatasync`; more frequent ones leave less log to replay after a crash and a
    /// smaller tail in memory. The crash tests set `checkpoint_writes` low to kill the daemon
    /// inside checkpoints.
    pub checkpoint_writes: usize,
    pub checkpoint_interval_ms: u64,
    /// The size of the log's segment files (`[store] log_segment_mb`, default 16 MiB), each
    /// written with zeros before use and reused once checkpointed.
    pub segment_bytes: u64,
    /// The database file's pages go to the disk in steps of this many bytes as a commit
    /// writes them (`[store] checkpoint_flush_kb`, 0 = all at redb's `fdatasync`), so the
    /// log's `fdatasync` queues behind one step of a checkpoint, not all of it
    /// (`store::writeback`).
    pub checkpoint_flush_bytes: u64,
    /// How far the writer thread raises its scheduling priority (`[store] writer_priority`,
    /// 0..=20, default 10: nice -10; 0 leaves it as it is). Every request waits for the
    /// writer's commit, and on a machine with fewer cores than busy threads a commit waited
    /// in the run queue behind checkpoints and HTTP work (BENCHMARKS.md, "The writer's
    /// priority"). Needs CAP_SYS_NICE or an RLIMIT_NICE that allows it (systemd
    /// `LimitNICE=-10`); without, the writer says so once and runs at the default priority.
    pub writer_priority: u32,
}

/// Whether metric series carry the hall or only its tier (`[metrics] labels`). A setting of
/// the daemon, read by `metrics`; it lives here so config never imports metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LabelMode {
    #[default]
    Hall,
    Tier,
}

/// Roles a bearer token can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Kiosk,
    Counter,
    Display,
    CaseOfficer,
    Supervisor,
    Admin,
    /// The citizen-facing booking portal: books, cancels and reads slots, nothing else.
    Booking,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::Kiosk,
        Role::Counter,
        Role::Display,
        Role::CaseOfficer,
        Role::Supervisor,
        Role::Admin,
        Role::Booking,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Kiosk => "kiosk",
            Role::Counter => "counter",
            Role::Display => "display",
            Role::CaseOfficer => "case-officer",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
            Role::Booking => "booking",
        }
    }
}

/// A bearer token: its SHA-256 (never the token itself), role and hall scope.
#[derive(Debug, Clone)]
pub struct TokenConfig {
    pub name: Arc<str>,
    pub role: Role,
    /// Subtree roots this token covers; `None` means every hall.
    pub halls: Option<Vec<usize>>,
    pub sha256: [u8; 32],
}

/// The demo's public tokens. They are accepted only by the embedded demo config; a real
/// config that carries one of their hashes is refused.
pub const DEMO_TOKENS: [&str; 6] = [
    "demo-kiosk",
    "demo-counter",
    "demo-display",
    "demo-supervisor",
    "demo-admin",
    "demo-booking",
];

/// SHA-256 of a token, as stored in the config.
pub fn token_hash(token: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes()).into()
}

/// Lower-case hex of a hash, as written in config files.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests;
