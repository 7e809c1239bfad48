//! The lease loop: every third of a lease, say this node is alive, renew the leases it holds,
//! read the nodes and leases, take the halls the spread gives it and hand over the others.
//!
//! The spread is rendezvous hashing over the live nodes: each hall goes to the node with the
//! highest hash of (hall, node), so a node joining or leaving moves only its own share. A
//! hall is handed over in two rounds: this node stops serving it, then (a round later, once
//! the writes already queued are committed) expires its lease row; the next owner takes it
//! with a higher epoch. The lease row has one owner at a time, and an append must name the
//! current epoch, so there are never two owners that can commit.
//!
//! Adopting a hall: take its lease (a new epoch), read its log rows after the last one the
//! local store holds, commit them locally (a `Batch` marked `replayed`), and only then mark
//! it held, at which point its shard reloads it from the store.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_postgres::Client;

use super::{Cluster, LEASES_SESSION, View, pg};
use crate::store::{Batch, Holding, StoreError, log};

/// The state the loop keeps between rounds.
struct Round {
    client: Option<Client>,
    /// Halls this node stopped serving for a hand-over, with the epoch to release next round.
    handing: HashMap<usize, u64>,
    /// Rounds run, for the work done every few rounds (trimming).
    n: u64,
}

/// Rows of one hall a node follows in one round: a long backlog is caught up over rounds.
const FOLLOW_ROWS: i64 = 1000;
/// The holder of the case engine trims the log of record every this many rounds.
const TRIM_EVERY: u64 = 10;

pub(super) async fn run(cluster: Arc<Cluster>) {
    let period = Duration::from_millis(cluster.cfg.lease_s * 1000 / 3);
    let mut round = Round {
        client: None,
        handing: HashMap::new(),
        n: 0,
    };
    loop {
        if let Err(e) = once(&cluster, &mut round).await {
            tracing::warn!(error = %e, "cluster lease round failed; retrying");
            if round.client.as_ref().is_some_and(Client::is_closed) {
                round.client = None;
            }
        }
        let held = (0..cluster.halls.len())
            .filter(|&h| matches!(cluster.store.holdings.get(h), Holding::Held(_)))
            .count();
        metrics::gauge!(crate::metrics::CLUSTER_LEASES).set(held as f64);
        tokio::select! {
            () = tokio::time::sleep(period) => {}
            () = cluster.stop.cancelled() => return,
        }
    }
}

/// How long the lease is surely ours by the local clock, when the renewal was sent at `sent`:
/// a fifth of it is kept back for clock rates and the round trip.
fn until(cluster: &Cluster, sent: Instant) -> Instant {
    let lease = Duration::from_secs(cluster.cfg.lease_s);
    sent + lease - lease / 5
}

async fn once(cluster: &Cluster, round: &mut Round) -> Result<(), String> {
    let err = |e: tokio_postgres::Error| e.to_string();
    if round.client.is_none() {
        round.client = Some(
            pg::connect(&cluster.cfg.postgres, LEASES_SESSION)
                .await
                .map_err(err)?,
        );
    }
    let client = round.client.as_ref().expect("connected above");
    let cfg = &cluster.cfg;
    let lease_s = cfg.lease_s as f64;
    let holdings = &cluster.store.holdings;
    pg::heartbeat(client, &cfg.node, &cfg.advertise, cfg.lease_s as i32)
        .await
        .map_err(err)?;

    // Renew; a hall whose lease did not come back at its epoch was lost (expired while this
    // node was stopped, or taken).
    let sent = Instant::now();
    let serving: Vec<&str> = cluster
        .halls
        .iter()
        .enumerate()
        .filter(|&(h, _)| matches!(holdings.get(h), Holding::Held(_)))
        .map(|(_, id)| &**id)
        .collect();
    let renewed = pg::renew(client, &cfg.node, lease_s, &serving)
        .await
        .map_err(err)?;
    for (h, id) in cluster.halls.iter().enumerate() {
        let Holding::Held(epoch) = holdings.get(h) else {
            continue;
        };
        if renewed.iter().any(|(hall, e)| hall == &**id && *e == epoch) {
            holdings.hold(h, epoch, until(cluster, sent));
        } else {
            tracing::warn!(hall = %id, epoch, "lost the hall's lease");
            holdings.release(h);
        }
    }

    // Hand-overs started last round: the lease row goes now.
    for (h, epoch) in std::mem::take(&mut round.handing) {
        pg::release(client, &cfg.node, &cluster.halls[h], epoch)
            .await
            .map_err(err)?;
        tracing::info!(hall = %cluster.halls[h], epoch, "handed the hall over");
    }

    // Adoptions and following replay rows: not while a catch-up does (renewing, above, never
    // waits for one).
    let _turn = cluster.rounds.lock().await;
    let (nodes, leases) = pg::view(client).await.map_err(err)?;
    let live: Vec<&str> = nodes
        .iter()
        .filter(|n| n.live || n.node == cfg.node)
        .map(|n| n.node.as_str())
        .collect();
    let behind = pg::behind(client).await.map_err(err)?;
    for (h, id) in cluster.halls.iter().enumerate() {
        let able: Vec<&str> = live
            .iter()
            .copied()
            .filter(|n| !behind.iter().any(|(b, hall)| b == n && hall == &**id))
            .collect();
        let wanted = spread(id, &able) == Some(cfg.node.as_str());
        match holdings.get(h) {
            Holding::Held(epoch) if !wanted => {
                holdings.release(h);
                round.handing.insert(h, epoch);
                tracing::info!(hall = %id, "handing the hall over to the node the spread gives it");
            }
            Holding::NotHeld if wanted => {
                let free = leases
                    .iter()
                    .find(|l| l.hall == **id)
                    .is_none_or(|l| l.expires_in_s <= 0.0 || l.owner == cfg.node);
                if free && let Err(e) = adopt(cluster, client, h).await {
                    tracing::warn!(hall = %id, error = %e, "could not adopt the hall");
                }
            }
            _ => {}
        }
    }
    follow(cluster, client, FOLLOW_ROWS).await?;
    round.n += 1;
    if round.n.is_multiple_of(TRIM_EVERY)
        && matches!(holdings.get(cluster.case_engine()), Holding::Held(_))
        && let Some(c) = round.client.as_mut()
    {
        let trimmed = pg::trim(c).await.map_err(err)?;
        if trimmed > 0 {
            metrics::counter!(crate::metrics::CLUSTER_TRIMMED).increment(trimmed);
            tracing::debug!(rows = trimmed, "trimmed the log of record");
        }
    }
    let client = round.client.as_ref().expect("connected above");
    *cluster.view.write().unwrap_or_else(|e| e.into_inner()) = match pg::view(client).await {
        Ok((nodes, leases)) => View { nodes, leases },
        Err(_) => View { nodes, leases },
    };
    Ok(())
}

/// Take hall `h`'s lease under a new epoch, replay its log rows this store lacks, then serve.
async fn adopt(cluster: &Cluster, client: &Client, h: usize) -> Result<(), String> {
    let id = cluster.halls[h].clone();
    let sent = Instant::now();
    let Some(epoch) = pg::acquire(client, &cluster.cfg.node, &id, cluster.cfg.lease_s as f64)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(());
    };
    let after = applied(cluster, &id).await?;
    behind_trim(client, &id, after).await?;
    let rows = pg::rows_after(client, &id, after, i64::MAX)
        .await
        .map_err(|e| e.to_string())?;
    let replayed = rows.len();
    replay(cluster, &id, rows).await?;
    if Instant::now() >= until(cluster, sent) {
        // The replay took most of the lease; the next round adopts it again.
        return Err("the replay outlasted the lease".into());
    }
    cluster.store.holdings.hold(h, epoch, until(cluster, sent));
    metrics::counter!(crate::metrics::CLUSTER_ADOPTIONS).increment(1);
    tracing::info!(hall = %id, epoch, replayed, after, "adopted the hall");
    Ok(())
}

/// The last log-of-record row of `hall` this node's store holds.
async fn applied(cluster: &Cluster, hall: &Arc<str>) -> Result<u64, String> {
    let store = cluster.store.clone();
    let hall = hall.clone();
    tokio::task::spawn_blocking(move || store.applied(&hall))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}

/// Refuse to replay onto a store that holds the hall only up to row `after` when rows after
/// it were trimmed: it would build on a state it does not have.
async fn behind_trim(client: &Client, id: &str, after: u64) -> Result<(), String> {
    let trimmed = pg::trimmed(client, id).await.map_err(|e| e.to_string())?;
    if after < trimmed {
        return Err(format!(
            "this node's store holds `{id}`'s log of record up to row {after}, but rows up to \
             {trimmed} were trimmed: it cannot catch up by replay (start it from a backup of a \
             live node, docs/CLUSTER.md)"
        ));
    }
    Ok(())
}

/// Commit log-of-record rows of hall `id` to this node's store (a batch marked `replayed`,
/// never appended again), and wait until they are durable.
async fn replay(cluster: &Cluster, id: &Arc<str>, rows: Vec<(u64, Vec<u8>)>) -> Result<(), String> {
    let Some(&(last, _)) = rows.last() else {
        return Ok(());
    };
    let mut batch = Batch {
        replayed: Some((id.clone(), last)),
        generation: cluster.store.health.generation(),
        ..Batch::default()
    };
    for (row, raw) in rows {
        let record = log::decode(&raw).map_err(|e| format!("log row {row}: {e}"))?;
        batch.ops.extend(record.ops);
        batch.events.extend(record.events);
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    batch.done.push(Box::new(move |r: Result<(), &StoreError>| {
        let _ = tx.send(r.map_err(ToString::to_string));
    }));
    cluster
        .writer()
        .ok_or_else(|| "the node is stopping".to_owned())?
        .send(batch)
        .map_err(|_| "the store writer has stopped".to_owned())?;
    rx.await
        .map_err(|_| "the store writer has stopped".to_owned())?
}

/// Follow the halls (and the case engine) this node does not hold: commit their new rows to
/// this node's store, so an adoption replays only the last moments and the log of record can
/// be trimmed behind every node; then say which rows this store holds.
async fn follow(cluster: &Cluster, client: &Client, limit: i64) -> Result<(), String> {
    let mut marks = Vec::with_capacity(cluster.halls.len());
    for (h, id) in cluster.halls.iter().enumerate() {
        let mut after = applied(cluster, id).await?;
        if cluster.store.holdings.get(h) == Holding::NotHeld
            && behind_trim(client, id, after).await.is_ok()
        {
            let rows = pg::rows_after(client, id, after, limit)
                .await
                .map_err(|e| e.to_string())?;
            if let Some(&(last, _)) = rows.last() {
                replay(cluster, id, rows).await?;
                after = last;
            }
        }
        marks.push(after as i64);
    }
    let halls: Vec<&str> = cluster.halls.iter().map(|h| &**h).collect();
    pg::report_applied(client, &cluster.cfg.node, &halls, &marks)
        .await
        .map_err(|e| e.to_string())
}

/// `Cluster::catch_up`: follow every hall not held here to the log's end, between rounds.
pub(super) async fn catch_up(cluster: &Cluster) -> Result<(), String> {
    let _turn = cluster.rounds.lock().await;
    let client = pg::connect(&cluster.cfg.postgres, LEASES_SESSION)
        .await
        .map_err(|e| e.to_string())?;
    follow(cluster, &client, i64::MAX).await
}

/// The live node a hall belongs to: the highest hash of (hall, node).
fn spread<'a>(hall: &str, live: &[&'a str]) -> Option<&'a str> {
    live.iter()
        .max_by_key(|node| {
            // FNV-1a: the same on every node and every build (std's hasher is seeded).
            let mut h = Fnv(0xcbf2_9ce4_8422_2325);
            hall.hash(&mut h);
            node.hash(&mut h);
            (h.finish(), **node)
        })
        .copied()
}

struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::spread;

    #[test]
    fn a_node_leaving_moves_only_its_own_halls() {
        let halls: Vec<String> = (0..200).map(|i| format!("hall-{i}")).collect();
        let three = ["n1", "n2", "n3"];
        let two = ["n1", "n3"];
        let mut n2 = 0;
        for h in &halls {
            let before = spread(h, &three).unwrap();
            let after = spread(h, &two).unwrap();
            if before == "n2" {
                n2 += 1;
            } else {
                assert_eq!(before, after, "{h} moved though its node stayed");
            }
        }
        assert!((40..=95).contains(&n2), "n2 had {n2} of 200 halls");
        assert_eq!(spread("x", &[]), None);
    }
}
