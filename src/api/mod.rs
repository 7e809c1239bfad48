//! The HTTP API (axum): authentication, request parsing, and the one mapping from outcomes to
//! statuses (`problem`). Handlers hold no hall state; they turn a request into a `HallOp`
//! for the hall's shard (or a `CaseOp` for the case thread), and render the typed reply it
//! sends back after the commit (`render`), once.

pub(crate) mod applicant;
pub mod auth;
pub(crate) mod backup;
pub(crate) mod bookings;
pub(crate) mod bundles;
pub(crate) mod case_life;
pub(crate) mod cases;
pub(crate) mod cluster;
pub(crate) mod complaints;
pub(crate) mod events;
#[doc(hidden)]
pub mod fuzzing;
pub(crate) mod halls;
pub(crate) mod json;
pub(crate) mod officers;
pub(crate) mod ops;
pub mod problem;
pub mod render;
pub(crate) mod reports;
pub mod scope;
pub(crate) mod stats;
pub(crate) mod test_hooks;
pub(crate) mod track;
pub(crate) mod webhooks;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::Config;
use crate::runtime::hub::Hub;
use crate::runtime::idem::Idem;
use crate::runtime::shard::{HallOp, Shards};
use crate::store::Store;
use auth::Tokens;
use problem::{Answer, Problem};

/// Everything a handler can reach.
pub struct App {
    pub config: Arc<Config>,
    pub tokens: Tokens,
    pub shards: Shards,
    pub cases: Arc<crate::runtime::cases::CaseShard>,
    /// The calendars in force (the case shard holds the same `Arc`s), for reading.
    pub calendars: std::sync::RwLock<Vec<Arc<crate::calendar::Calendar>>>,
    /// Cluster mode: the stored text of each calendar replaced through the API, as this node's
    /// halls last took it (`halls::calendar_replaced`); the following brings newer ones.
    pub calendar_texts: std::sync::Mutex<std::collections::HashMap<String, String>>,
    pub store: Arc<Store>,
    pub hub: Arc<Hub>,
    pub clock: Arc<dyn Clock>,
    /// Cluster mode: this node's part (`None` in the embedded single-node mode).
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
    /// Cancelled on SIGTERM/SIGINT: streams end, the server drains.
    pub shutdown: CancellationToken,
    /// Recovery finished (whether the store accepts writes is `store.health`).
    pub ready: AtomicBool,
    /// Mount `test_hooks`' routes (`Daemon::enable_test_hooks`); read when serving starts.
    pub test_hooks: AtomicBool,
    /// Applicant notifications: the dead letters and their replay (`webhooks`).
    pub outbox: Arc<crate::notify::Outbox>,
}

pub type AppState = Arc<App>;

impl App {
    /// Ask a hall's shard (`Shards::ask`) and render its reply: what most hall handlers
    /// answer.
    pub async fn answer(&self, hall: usize, op: HallOp, idem: Option<Idem>) -> Answer {
        let reply = self.shards.ask(hall, op, idem).await;
        render::hall(&self.config.halls[hall].id, &reply)
    }
}

impl App {
    /// The first and last sequence numbers a stream's log holds.
    pub async fn store_bounds(&self, stream: &str) -> Result<(Option<u64>, Option<u64>), Problem> {
        let store = self.store.clone();
        let stream = stream.to_owned();
        let page = tokio::task::spawn_blocking(move || store.read_events(&stream, u64::MAX, 0))
            .await
            .map_err(|e| Problem::unavailable(e.to_string()))?
            .map_err(|e| Problem::unavailable(e.to_string()))?;
        Ok((page.first_retained, page.last_retained))
    }

    /// The last sequence number of a stream (0 when empty).
    pub async fn store_head(&self, stream: &str) -> Result<u64, Problem> {
        Ok(self.store_bounds(stream).await?.1.unwrap_or(0))
    }
}

pub(crate) async fn not_found(uri: axum::http::Uri) -> Problem {
    Problem::not_found("no-such-path", format!("no resource at `{}`", uri.path()))
}

pub(crate) async fn method_not_allowed(
    method: axum::http::Method,
    uri: axum::http::Uri,
) -> Problem {
    Problem::new(
        405,
        "method-not-allowed",
        "Method not allowed",
        format!("`{method}` is not allowed on `{}`", uri.path()),
    )
}
