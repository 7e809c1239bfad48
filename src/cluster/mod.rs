//! Cluster mode (`[cluster]`): the log of record and the hall leases in PostgreSQL.
//!
//! Each group commit's writes for the halls this node holds are appended to PostgreSQL in one
//! transaction that checks each hall's lease epoch (`pg::append`), before the node's own redb
//! commit and so before any answer: PostgreSQL's commit (with `synchronous_commit` and a
//! synchronous standby, on two disks) is what an acknowledgement stands on. The local redb
//! stays the node's materialised state and cache.
//!
//! Every hall has one lease row (owner, epoch, expiry); `leases` renews this node's, takes
//! the halls the live nodes' spread gives it, hands over the others, and adopts a hall by
//! replaying its log rows after the ones its redb already holds. This module owns the
//! connections and the runtime they run on (one thread, `hallq-cluster`); it must never let a
//! hall serve here before its adoption's replay is durable, and never append without the
//! epoch the writes were made under.

mod leases;
mod pg;

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crossbeam::channel::Sender;
use tokio_postgres::Client;

pub use pg::{LeaseRow, NodeRow};

use crate::config::{ClusterConfig, Config};
use crate::store::{Batch, CASE_ENGINE, HallRecord, Holding, LogOfRecord, Store};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    #[error("cannot start the cluster runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot connect to PostgreSQL for [cluster] (node {node}): {source}")]
    Connect {
        node: String,
        source: tokio_postgres::Error,
    },
    #[error("{0}")]
    Migrate(String),
}

/// This node's part in the cluster.
pub struct Cluster {
    cfg: ClusterConfig,
    /// Hall ids by position, then `CASE_ENGINE` (the case engine's lease and log share).
    halls: Vec<Arc<str>>,
    store: Arc<Store>,
    /// The connections' runtime; `None` only while dropping (see `Drop`).
    rt: Option<tokio::runtime::Runtime>,
    /// The writer thread's connection; `None` after it broke, until the next append reopens it.
    appender: Mutex<Option<Client>>,
    /// Nodes and leases as last read, for redirects and `GET /v1/cluster`.
    view: RwLock<View>,
    stop: tokio_util::sync::CancellationToken,
    /// Where adoptions send their replays; taken away by `stop_leases`, because the writer
    /// stops only once every sender is gone.
    writer: Mutex<Option<Sender<Batch>>>,
    /// Held by a lease round's adoptions and following, and by a catch-up: two replays of the
    /// same rows must never run at once (the second would apply them again). A round renews
    /// its leases before it waits for it.
    rounds: tokio::sync::Mutex<()>,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct View {
    pub nodes: Vec<NodeRow>,
    pub leases: Vec<LeaseRow>,
}

/// Session settings: a node stopped (SIGSTOP, a VM paused) in the middle of an append must not
/// keep its share locks, which would hold up the hall's next owner; PostgreSQL ends such a
/// session, and its transaction with it.
const APPENDER_SESSION: &str = "SET idle_in_transaction_session_timeout = '1s'; SET lock_timeout = '2s'; SET statement_timeout = '5s'";
/// The lease loop waits briefly for a lease row an append holds, then tries at its next round.
const LEASES_SESSION: &str = "SET lock_timeout = '500ms'; SET statement_timeout = '5s'";

impl Cluster {
    /// Connect and bring the schema up to date, before anything serves. Blocks.
    pub fn connect(
        config: &Config,
        store: Arc<Store>,
    ) -> Result<Option<Arc<Cluster>>, ClusterError> {
        let Some(cfg) = config.cluster.clone() else {
            return Ok(None);
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("hallq-cluster")
            .enable_all()
            .build()
            .map_err(ClusterError::Runtime)?;
        let url = cfg.postgres.clone();
        let node = cfg.node.clone();
        // Not on the caller's thread: it may be inside another runtime, which cannot block.
        let client = std::thread::scope(|s| {
            s.spawn(|| {
                rt.block_on(async {
                    let mut c = pg::connect(&url, APPENDER_SESSION)
                        .await
                        .map_err(|source| ClusterError::Connect {
                            node: node.clone(),
                            source,
                        })?;
                    pg::migrate(&mut c).await.map_err(ClusterError::Migrate)?;
                    Ok::<_, ClusterError>(c)
                })
            })
            .join()
            .expect("connecting does not panic")
        })?;
        tracing::info!(node = %cfg.node, advertise = %cfg.advertise, lease_s = cfg.lease_s, "cluster mode: connected to PostgreSQL");
        // The halls, then the case engine, which is leased like one more hall.
        let halls: Vec<Arc<str>> = config
            .halls
            .iter()
            .map(|h| h.id.clone())
            .chain([Arc::from(CASE_ENGINE)])
            .collect();
        store.holdings.enable(halls.len());
        let cluster = Arc::new(Cluster {
            halls,
            cfg,
            store: store.clone(),
            rt: Some(rt),
            appender: Mutex::new(Some(client)),
            view: RwLock::new(View::default()),
            stop: tokio_util::sync::CancellationToken::new(),
            writer: Mutex::new(None),
            rounds: tokio::sync::Mutex::new(()),
        });
        store.set_log_of_record(cluster.clone());
        Ok(Some(cluster))
    }

    /// Start the lease loop; `writer` takes the adoptions' replays.
    pub fn start(self: &Arc<Self>, writer: Sender<Batch>) {
        *self.writer.lock().unwrap_or_else(|e| e.into_inner()) = Some(writer);
        let me = self.clone();
        self.rt().spawn(async move { leases::run(me).await });
    }

    /// The writer's queue, while the lease loop runs.
    fn writer(&self) -> Option<Sender<Batch>> {
        self.writer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Stop taking halls: the lease loop ends and lets go of the writer's queue. First thing
    /// at shutdown, before the shards and the writer stop.
    pub fn stop_leases(&self) {
        self.stop.cancel();
        self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    /// Let this node's leases go, so the others take its halls at once instead of after they
    /// expire. After the writer committed what it held.
    pub fn leave(&self) {
        self.stop_leases();
        let held: Vec<(usize, u64)> = (0..self.halls.len())
            .filter_map(|h| match self.store.holdings.get(h) {
                Holding::Held(e) => Some((h, e)),
                _ => None,
            })
            .collect();
        for &(h, _) in &held {
            self.store.holdings.release(h);
        }
        let url = self.cfg.postgres.clone();
        let node = self.cfg.node.clone();
        let halls = self.halls.clone();
        let left = std::thread::scope(|s| {
            s.spawn(|| {
                self.rt().block_on(async {
                    let c = pg::connect(&url, LEASES_SESSION).await?;
                    for (h, e) in held {
                        pg::release(&c, &node, &halls[h], e).await?;
                    }
                    Ok::<_, tokio_postgres::Error>(())
                })
            })
            .join()
        });
        match left {
            Ok(Ok(())) => tracing::info!("left the cluster: leases released"),
            _ => tracing::warn!("could not release the leases; they expire by themselves"),
        }
    }

    fn rt(&self) -> &tokio::runtime::Runtime {
        self.rt
            .as_ref()
            .expect("the runtime lives as long as the cluster")
    }

    pub fn node(&self) -> &str {
        &self.cfg.node
    }

    pub fn advertise(&self) -> &str {
        &self.cfg.advertise
    }

    pub fn lease_s(&self) -> u64 {
        self.cfg.lease_s
    }

    /// The position of the case engine's lease, after the halls'.
    pub fn case_engine(&self) -> usize {
        self.halls.len() - 1
    }

    /// Bring this node's store up to the end of the log of record for every hall (and the
    /// case engine) it does not hold, and wait until that is durable: a read made after it
    /// sees every operation acknowledged before it started, wherever it was made
    /// (`/v1/stats`, `/v1/reports`). Bounded by `timeout`.
    pub async fn catch_up(self: &Arc<Self>, timeout: Duration) -> Result<(), String> {
        let me = self.clone();
        let task = self.rt().spawn(async move { leases::catch_up(&me).await });
        match tokio::time::timeout(timeout, task).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("catching up with the log of record timed out".into()),
        }
    }

    /// Nodes and leases as the lease loop last read them.
    pub fn view(&self) -> View {
        self.view.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The node that holds hall `hall` now, and its address, as last read (`None`: nobody, or
    /// not known yet).
    pub fn owner(&self, hall: usize) -> Option<(String, String)> {
        let view = self.view.read().unwrap_or_else(|e| e.into_inner());
        let id = &*self.halls[hall];
        let lease = view
            .leases
            .iter()
            .find(|l| l.hall == id && l.expires_in_s > 0.0)?;
        let node = view.nodes.iter().find(|n| n.node == lease.owner)?;
        Some((node.node.clone(), node.advertise.clone()))
    }
}

impl Drop for Cluster {
    /// The last handle may go in an async context (the daemon's), where a runtime may not
    /// be dropped with a blocking wait.
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl LogOfRecord for Cluster {
    fn hall_index(&self, id: &str) -> Option<usize> {
        self.halls.iter().position(|h| &**h == id)
    }

    fn append(&self, records: &[HallRecord]) -> Result<Vec<u64>, String> {
        let ids: Vec<&str> = records.iter().map(|r| &*self.halls[r.hall]).collect();
        let mut slot = self.appender.lock().unwrap_or_else(|e| e.into_inner());
        let result = self.rt().block_on(async {
            if slot.as_ref().is_none_or(Client::is_closed) {
                *slot = None;
                let c = tokio::time::timeout(
                    Duration::from_secs(5),
                    pg::connect(&self.cfg.postgres, APPENDER_SESSION),
                )
                .await
                .map_err(|_| "connecting to PostgreSQL timed out".to_owned())?
                .map_err(|e| format!("cannot connect to PostgreSQL: {e}"))?;
                *slot = Some(c);
            }
            let client = slot.as_mut().expect("connected above");
            pg::append(client, &self.cfg.node, &ids, records)
                .await
                .map_err(|e| e.to_string())
        });
        if result.is_err() && slot.as_ref().is_some_and(Client::is_closed) {
            *slot = None;
        }
        result
    }

    fn holdings(&self) -> &crate::store::Holdings {
        &self.store.holdings
    }

    fn in_doubt(&self, halls: &[usize]) {
        for &h in halls {
            tracing::warn!(hall = %self.halls[h], "the hall's local state may differ from the log of record; adopting it again");
            self.store.holdings.release(h);
        }
    }
}
