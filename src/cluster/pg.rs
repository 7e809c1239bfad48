//! Every statement cluster mode sends to PostgreSQL: the migrations, the fenced append, the
//! lease acquisitions, renewals and hand-overs, and the view of nodes and leases. Nothing
//! here decides which hall goes where (`leases` does); it must never commit a hall's log row
//! without checking, in the same transaction, that the lease epoch it was given is current.

use tokio_postgres::{Client, NoTls};

use crate::store::HallRecord;

/// The schema, versioned in the repository: applied in order, each once, recorded in
/// `hallq_schema`. A shipped migration is never edited; the next one gets the next number.
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (
        1,
        "cluster",
        include_str!("../../migrations/0001_cluster.sql"),
    ),
    (2, "trim", include_str!("../../migrations/0002_trim.sql")),
];

/// Serialises nodes migrating at once (`pg_advisory_xact_lock`): "hallq" in ASCII.
const MIGRATION_LOCK: i64 = 0x68_61_6c_6c_71;

/// Connect, with the connection's task on the current runtime. `session` is sent first
/// (timeouts that keep a stopped node from holding locks).
pub(super) async fn connect(url: &str, session: &str) -> Result<Client, tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::warn!(error = %e, "a PostgreSQL connection ended");
        }
    });
    client.batch_execute(session).await?;
    Ok(client)
}

/// Bring the schema up to date. Several nodes starting together take turns.
pub(super) async fn migrate(client: &mut Client) -> Result<i32, String> {
    let err = |e: tokio_postgres::Error| format!("migrating the cluster schema: {e}");
    let tx = client.transaction().await.map_err(err)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(err)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS hallq_schema (
             version integer PRIMARY KEY,
             name text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await
    .map_err(err)?;
    let newest: Option<i32> = tx
        .query_one("SELECT max(version) FROM hallq_schema", &[])
        .await
        .map_err(err)?
        .get(0);
    let known = MIGRATIONS.last().map_or(0, |m| m.0);
    if newest.is_some_and(|v| v > known) {
        return Err(format!(
            "the cluster schema is at version {}, newer than this hallq's {known}: use the hallq version that migrated it",
            newest.unwrap_or_default()
        ));
    }
    for &(version, name, sql) in MIGRATIONS {
        if newest.is_some_and(|v| v >= version) {
            continue;
        }
        tx.batch_execute(sql)
            .await
            .map_err(|e| format!("migration {version:04}_{name}: {e}"))?;
        tx.execute(
            "INSERT INTO hallq_schema (version, name) VALUES ($1, $2)",
            &[&version, &name],
        )
        .await
        .map_err(err)?;
        tracing::info!(version, name, "applied a cluster schema migration");
    }
    tx.commit().await.map_err(err)?;
    Ok(known)
}

/// Why an append was not committed.
#[derive(Debug, thiserror::Error)]
pub(super) enum AppendError {
    #[error(
        "hall `{hall}`: this node's lease (epoch {epoch}) is no longer current; the write was refused"
    )]
    Fenced { hall: String, epoch: u64 },
    #[error("the log of record in PostgreSQL: {0}")]
    Db(#[from] tokio_postgres::Error),
}

/// One transaction: share-lock the halls' lease rows, check each is this node's, unexpired and
/// at the record's epoch, insert the rows, commit. A node that acquires a lease must update
/// its row, which waits for this transaction: so once a new epoch is committed, no row of an
/// older one can follow it.
pub(super) async fn append(
    client: &mut Client,
    node: &str,
    ids: &[&str],
    records: &[HallRecord],
) -> Result<Vec<u64>, AppendError> {
    let tx = client.transaction().await?;
    let rows = tx
        .query(
            "SELECT hall, epoch FROM hallq_lease
              WHERE hall = ANY($1) AND owner = $2 AND expires_at > now()
              FOR SHARE",
            &[&ids, &node],
        )
        .await?;
    for (r, id) in records.iter().zip(ids) {
        let current = rows
            .iter()
            .find(|row| row.get::<_, &str>(0) == *id)
            .map(|row| row.get::<_, i64>(1));
        if current != Some(r.epoch as i64) {
            return Err(AppendError::Fenced {
                hall: (*id).to_owned(),
                epoch: r.epoch,
            });
        }
    }
    let insert = tx
        .prepare(
            "INSERT INTO hallq_log (hall, epoch, node, record) VALUES ($1, $2, $3, $4)
             RETURNING id",
        )
        .await?;
    let mut out = Vec::with_capacity(records.len());
    for (r, id) in records.iter().zip(ids) {
        let row = tx
            .query_one(&insert, &[id, &(r.epoch as i64), &node, &r.record])
            .await?;
        out.push(row.get::<_, i64>(0) as u64);
    }
    tx.commit().await?;
    Ok(out)
}

/// Say this node is alive, at `advertise`.
pub(super) async fn heartbeat(
    client: &Client,
    node: &str,
    advertise: &str,
    lease_s: i32,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "INSERT INTO hallq_node (node, advertise, lease_s) VALUES ($1, $2, $3)
             ON CONFLICT (node) DO UPDATE
               SET advertise = EXCLUDED.advertise, lease_s = EXCLUDED.lease_s, seen_at = now()",
            &[&node, &advertise, &lease_s],
        )
        .await?;
    Ok(())
}

/// Extend this node's unexpired leases of `halls` (those it serves: a lease it took but
/// does not serve runs out, so another node can have the hall); answers (hall, epoch) of
/// those extended.
pub(super) async fn renew(
    client: &Client,
    node: &str,
    lease_s: f64,
    halls: &[&str],
) -> Result<Vec<(String, u64)>, tokio_postgres::Error> {
    let rows = client
        .query(
            "UPDATE hallq_lease SET expires_at = now() + make_interval(secs => $2)
              WHERE owner = $1 AND hall = ANY($3) AND expires_at > now()
              RETURNING hall, epoch",
            &[&node, &lease_s, &halls],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1) as u64))
        .collect())
}

/// Take the hall's lease if it is free, expired or already this node's, under a new epoch
/// (so every write made under an older one, by anyone, is refused from now on).
pub(super) async fn acquire(
    client: &Client,
    node: &str,
    hall: &str,
    lease_s: f64,
) -> Result<Option<u64>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            "INSERT INTO hallq_lease AS l (hall, owner, epoch, expires_at)
                  VALUES ($1, $2, 1, now() + make_interval(secs => $3))
             ON CONFLICT (hall) DO UPDATE
                SET owner = EXCLUDED.owner, epoch = l.epoch + 1, expires_at = EXCLUDED.expires_at
              WHERE l.expires_at <= now() OR l.owner = EXCLUDED.owner
             RETURNING epoch",
            &[&hall, &node, &lease_s],
        )
        .await?;
    Ok(row.map(|r| r.get::<_, i64>(0) as u64))
}

/// Let the lease go now (a hand-over, or a node leaving): the next owner need not wait for it
/// to expire. Only the epoch this node holds is released.
pub(super) async fn release(
    client: &Client,
    node: &str,
    hall: &str,
    epoch: u64,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "UPDATE hallq_lease SET expires_at = now()
              WHERE hall = $1 AND owner = $2 AND epoch = $3 AND expires_at > now()",
            &[&hall, &node, &(epoch as i64)],
        )
        .await?;
    Ok(())
}

/// The log of record's rows of `hall` after row `after`, in order, at most `limit`.
pub(super) async fn rows_after(
    client: &Client,
    hall: &str,
    after: u64,
    limit: i64,
) -> Result<Vec<(u64, Vec<u8>)>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT id, record FROM hallq_log WHERE hall = $1 AND id > $2 ORDER BY id LIMIT $3",
            &[&hall, &(after as i64), &limit],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get::<_, i64>(0) as u64, r.get::<_, Vec<u8>>(1)))
        .collect())
}

/// A node as the database sees it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NodeRow {
    pub node: String,
    pub advertise: String,
    /// Seen within its lease.
    pub live: bool,
    pub seen_s_ago: f64,
}

/// A lease as the database sees it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LeaseRow {
    pub hall: String,
    pub owner: String,
    pub epoch: u64,
    /// Negative once expired.
    pub expires_in_s: f64,
}

pub(super) async fn view(
    client: &Client,
) -> Result<(Vec<NodeRow>, Vec<LeaseRow>), tokio_postgres::Error> {
    let nodes = client
        .query(
            "SELECT node, advertise,
                    seen_at > now() - make_interval(secs => lease_s),
                    extract(epoch FROM now() - seen_at)::float8
               FROM hallq_node ORDER BY node",
            &[],
        )
        .await?
        .iter()
        .map(|r| NodeRow {
            node: r.get(0),
            advertise: r.get(1),
            live: r.get(2),
            seen_s_ago: r.get(3),
        })
        .collect();
    let leases = client
        .query(
            "SELECT hall, owner, epoch, extract(epoch FROM expires_at - now())::float8
               FROM hallq_lease ORDER BY hall",
            &[],
        )
        .await?
        .iter()
        .map(|r| LeaseRow {
            hall: r.get(0),
            owner: r.get(1),
            epoch: r.get::<_, i64>(2) as u64,
            expires_in_s: r.get(3),
        })
        .collect();
    Ok((nodes, leases))
}

/// Say which row of each hall this node's store holds last (`hallq_applied`).
pub(super) async fn report_applied(
    client: &Client,
    node: &str,
    halls: &[&str],
    applied: &[i64],
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "INSERT INTO hallq_applied (node, hall, applied)
                  SELECT $1, h, a FROM unnest($2::text[], $3::bigint[]) AS t(h, a)
             ON CONFLICT (node, hall) DO UPDATE SET applied = EXCLUDED.applied",
            &[&node, &halls, &applied],
        )
        .await?;
    Ok(())
}

/// Delete the rows every known node's store holds (no replay can need them), and note how
/// far each hall was trimmed. A node that never reported a hall counts as holding none of
/// it, so nothing of that hall goes. Answers how many rows went.
pub(super) async fn trim(client: &mut Client) -> Result<u64, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.execute(
        "INSERT INTO hallq_trimmed AS t (hall, upto)
              SELECT a.hall, min(a.applied) FROM hallq_applied a
               WHERE a.node IN (SELECT node FROM hallq_node)
               GROUP BY a.hall
              HAVING count(*) = (SELECT count(*) FROM hallq_node)
         ON CONFLICT (hall) DO UPDATE SET upto = greatest(t.upto, EXCLUDED.upto)",
        &[],
    )
    .await?;
    let n = tx
        .execute(
            "DELETE FROM hallq_log l USING hallq_trimmed t
              WHERE l.hall = t.hall AND l.id <= t.upto",
            &[],
        )
        .await?;
    tx.commit().await?;
    Ok(n)
}

/// How far the hall's rows were trimmed (0: never).
pub(super) async fn trimmed(client: &Client, hall: &str) -> Result<u64, tokio_postgres::Error> {
    let row = client
        .query_opt("SELECT upto FROM hallq_trimmed WHERE hall = $1", &[&hall])
        .await?;
    Ok(row.map_or(0, |r| r.get::<_, i64>(0) as u64))
}

/// (node, hall) of every known node whose store is behind the hall's trimmed rows (a node
/// that never reported a hall holds none of it): it cannot catch up by replay, so the spread
/// never gives it the hall.
pub(super) async fn behind(
    client: &Client,
) -> Result<Vec<(String, String)>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT n.node, t.hall FROM hallq_node n CROSS JOIN hallq_trimmed t
               LEFT JOIN hallq_applied a ON a.node = n.node AND a.hall = t.hall
              WHERE coalesce(a.applied, 0) < t.upto",
            &[],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}
