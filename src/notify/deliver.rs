//! Delivering the outbox: one tokio task POSTs each notification to its webhook, signed
//! (`X-Hallq-Signature: sha256=<hex HMAC-SHA256 of the body under the webhook's secret>`),
//! with its delivery id (`X-Hallq-Delivery`) the same on every attempt.
//!
//! The store is the only memory: each round reads the outbox, attempts what is due in id
//! order, and writes each result (removed once delivered; attempts, next attempt and last
//! error otherwise; dead once the attempts or the age run out) through the store's writer,
//! waiting until it is durable before the next. So a notification is POSTed again only if
//! the daemon died between the receiver's answer and that write (the receiver deduplicates
//! by delivery id), and what was not delivered before a SIGKILL is delivered after restart.
//! A webhook that failed is left alone until its backoff has passed, so a receiver that is
//! down costs one attempt per backoff, not one per notification.
//!
//! The task wakes when a case event is committed (the `@cases` stream: notifications are
//! committed with their events), when an event of a hall that tells tickets their turn is
//! near is committed (only while a webhook wants `ticket.turn_near`), when the next backoff
//! ends, and when a dead letter is replayed. It writes only records it read as pending; the replay writes only records it
//! read as dead: the two never overwrite each other. Never logs a body.
//!
//! Cluster mode: every record is in its share's log of record (`Notification::share`: the
//! ticket's hall, or the case engine), so every node's outbox has every record and its marks.
//! A node attempts only the records of the shares it holds, held already before it read them
//! (an adoption marks a share held only once its replay is in the store, so what it read has
//! the last holder's marks), and writes each result under that share's lease epoch: after a
//! failover the new holder delivers what the last one left, with the same delivery ids. It
//! also wakes when the shares it holds change.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use crossbeam::channel::Sender;
use hmac::{KeyInit, Mac};
use http_body_util::Full;
use jiff::{SignedDuration, Timestamp};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::client::{HookClient, clients};
use crate::clock::Clock;
use crate::config::{Config, Webhook};
use crate::metrics::{WEBHOOK_DEAD, WEBHOOK_DELIVERIES, WEBHOOK_OUTBOX};
use crate::runtime::hub::Hub;
use crate::store::Notification;
use crate::store::{Batch, CASE_ENGINE, CASES_STREAM, Holding, Op, Store, StoreError};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The longest the task sleeps without a reason to wake: it looks again anyway.
const IDLE: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutboxError {
    #[error("there is no dead letter `{id}`")]
    UnknownDeadLetter { id: String },
    #[error("cannot read the outbox: {0}")]
    Read(#[from] StoreError),
    #[error("the outbox change is not durable: {0}")]
    NotDurable(String),
    /// Cluster mode: another node holds the record's share (its lease moved meanwhile).
    #[error("`{id}` belongs to `{share}`, which this cluster node does not hold now; retry")]
    NotHeld { id: String, share: String },
}

/// What a write of the outbox is fenced with: `None` in the embedded mode, else the position
/// of the record's share among the leases and the epoch this node holds it under.
type Fence = Option<(usize, u64)>;

/// The outbox's handle: what the API and the delivery task share.
pub struct Outbox {
    config: Arc<Config>,
    store: Arc<Store>,
    /// Taken by `stop`: the writer stops only once every sender is gone.
    writer: std::sync::Mutex<Option<Sender<Batch>>>,
    clock: Arc<dyn Clock>,
    hub: Arc<Hub>,
    /// Poked by a replay, so the task attempts it at once.
    wake: Notify,
}

impl Outbox {
    pub fn new(
        config: Arc<Config>,
        store: Arc<Store>,
        writer: Sender<Batch>,
        clock: Arc<dyn Clock>,
        hub: Arc<Hub>,
    ) -> Outbox {
        Outbox {
            config,
            store,
            writer: std::sync::Mutex::new(Some(writer)),
            clock,
            hub,
            wake: Notify::new(),
        }
    }

    /// Every notification in the outbox, id order.
    pub async fn load(&self) -> Result<Vec<Notification>, StoreError> {
        let store = self.store.clone();
        let rows = tokio::task::spawn_blocking(move || store.load_outbox())
            .await
            .map_err(|e| StoreError::Thread(std::io::Error::other(e.to_string())))??;
        let mut out = Vec::with_capacity(rows.len());
        for (id, json) in rows {
            match serde_json::from_slice(&json) {
                Ok(n) => out.push(n),
                Err(source) => {
                    return Err(StoreError::Corrupt {
                        what: format!("outbox/{id}"),
                        source,
                    });
                }
            }
        }
        Ok(out)
    }

    /// The dead letters, oldest first.
    pub async fn dead(&self) -> Result<Vec<Notification>, StoreError> {
        Ok(self
            .load()
            .await?
            .into_iter()
            .filter(Notification::is_dead)
            .collect())
    }

    /// Make dead letter `id` pending again, with its attempts reset, and wake the task.
    pub async fn replay(&self, id: &str) -> Result<Notification, OutboxError> {
        let Some(mut n) = self.dead().await?.into_iter().find(|n| n.id == id) else {
            return Err(OutboxError::UnknownDeadLetter { id: id.to_owned() });
        };
        let now = self.clock.now();
        n.dead_at = None;
        n.attempts = 0;
        n.next_at = now;
        // The age limit counts from the replay: an old letter gets its full chance again.
        n.created_at = now;
        let fence = self
            .fence(&n, &self.leases())
            .ok_or_else(|| OutboxError::NotHeld {
                id: n.id.clone(),
                share: n.share().to_owned(),
            })?;
        let op = n.op(self.clustered());
        self.write(op, fence)
            .await
            .map_err(OutboxError::NotDurable)?;
        self.wake.notify_one();
        Ok(n)
    }

    fn clustered(&self) -> bool {
        self.store.holdings.clustered()
    }

    /// Every lease's holding now: the halls', then the case engine's (as `Cluster` numbers
    /// them). Empty in the embedded mode.
    fn leases(&self) -> Vec<Holding> {
        if !self.clustered() {
            return Vec::new();
        }
        (0..=self.config.halls.len())
            .map(|i| self.store.holdings.get(i))
            .collect()
    }

    /// Whether this node may attempt `n` and write its marks, and under which fence: in the
    /// embedded mode always; in cluster mode while it holds `n`'s share under the epoch it
    /// held it under in `before` (read before the outbox was). `None`: another node's.
    fn fence(&self, n: &Notification, before: &[Holding]) -> Option<Fence> {
        if !self.clustered() {
            return Some(None);
        }
        let share = n.share();
        let i = match self.config.hall_index(share) {
            Some(h) => h,
            None if share == CASE_ENGINE => self.config.halls.len(),
            None => return None,
        };
        match (before.get(i), self.store.holdings.get(i)) {
            (Some(&Holding::Held(was)), Holding::Held(now)) if was == now => Some(Some((i, now))),
            _ => None,
        }
    }

    /// Hand the writer one op and wait until it is durable.
    async fn write(&self, op: Op, fence: Fence) -> Result<(), String> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let batch = Batch {
            ops: vec![op],
            fences: fence.into_iter().collect(),
            done: vec![Box::new(move |r: Result<(), &StoreError>| {
                let _ = tx.send(r.map_err(|e| e.to_string()));
            })],
            generation: self.store.health.generation(),
            ..Batch::default()
        };
        let writer = self
            .writer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| "the daemon is stopping".to_owned())?;
        writer
            .send(batch)
            .map_err(|_| "the store writer is gone".to_owned())?;
        rx.await
            .map_err(|_| "the store writer dropped the batch".to_owned())?
    }

    /// Let go of the store writer, so it can stop (after the delivery task was stopped).
    pub fn stop(&self) {
        self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    /// The delivery task: runs until `shutdown`.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        if self.config.webhooks.is_empty() {
            return;
        }
        let mut committed = self.hub.subscribe(CASES_STREAM);
        self.follow_halls(&shutdown);
        self.follow_leases(&shutdown);
        let clients = clients(&self.config.webhooks);
        let mut down = HashMap::new();
        loop {
            let next = self.round(&clients, &mut down).await;
            let wait = next.map_or(IDLE, |t| {
                let ms = (t.as_millisecond() - self.clock.now().as_millisecond()).max(0);
                Duration::from_millis(ms as u64).min(IDLE)
            });
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.wake.notified() => {}
                // Lagged or not, something was committed: look.
                _ = committed.recv() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// "Your turn is near" is committed with the hall's events: wake on each commit of a hall
    /// that may tell its tickets (a wake is a permit, so a burst of commits costs one round).
    fn follow_halls(self: &Arc<Self>, shutdown: &CancellationToken) {
        let wanted = self
            .config
            .webhooks
            .iter()
            .any(|w| w.wants(crate::config::NotifyEvent::TurnNear));
        if !wanted {
            return;
        }
        for hall in self.config.halls.iter().filter(|h| h.policy.turn_near > 0) {
            let mut committed = self.hub.subscribe(&hall.id);
            let (me, shutdown) = (self.clone(), shutdown.clone());
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        r = committed.recv() => match r {
                            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                            _ => me.wake.notify_one(),
                        },
                    }
                }
            });
        }
    }

    /// Cluster mode: wake when the leases this node holds change (an adoption whose replay
    /// brought no event, a hand-over), checked twice a second.
    fn follow_leases(self: &Arc<Self>, shutdown: &CancellationToken) {
        if !self.clustered() {
            return;
        }
        let (me, shutdown) = (self.clone(), shutdown.clone());
        tokio::spawn(async move {
            let mut held = me.leases();
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
                let now = me.leases();
                if now != held {
                    held = now;
                    me.wake.notify_one();
                }
            }
        });
    }

    /// Attempt every notification that is due; returns when the next one will be.
    async fn round(
        &self,
        clients: &HashMap<Arc<str>, HookClient>,
        down: &mut HashMap<Arc<str>, Timestamp>,
    ) -> Option<Timestamp> {
        // Before the outbox is read: a share held already then had its replay in the store.
        let before = self.leases();
        let rows = match self.load().await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the outbox; trying again shortly");
                return Some(self.clock.now() + SignedDuration::from_secs(5));
            }
        };
        // This node's records (all of them in the embedded mode), each with its fence.
        let rows: Vec<(Notification, Fence)> = rows
            .into_iter()
            .filter_map(|n| Some((self.fence(&n, &before)?, n)))
            .map(|(fence, n)| (n, fence))
            .collect();
        self.gauges(rows.iter().map(|(n, _)| n));
        let mut next: Option<Timestamp> = None;
        let mut sooner = |t: Timestamp| next = Some(next.map_or(t, |n: Timestamp| n.min(t)));
        for (mut n, fence) in rows.into_iter().filter(|(n, _)| !n.is_dead()) {
            let now = self.clock.now();
            // The share may have moved since the round began.
            if fence.is_some() && self.fence(&n, &before) != Some(fence) {
                continue;
            }
            let Some(w) = self.config.webhooks.iter().find(|w| w.name == n.webhook) else {
                let reason = format!("webhook `{}` is no longer configured", n.webhook);
                self.bury(n, reason, now, fence).await;
                continue;
            };
            let aged = now.duration_since(n.created_at).as_secs() >= w.max_age_s as i64;
            if aged {
                let reason = n
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "too old: never attempted".into());
                self.bury(n, reason, now, fence).await;
                continue;
            }
            let blocked = down.get(&w.name).copied().filter(|t| *t > now);
            if n.next_at > now || blocked.is_some() {
                sooner(n.next_at.max(blocked.unwrap_or(n.next_at)));
                continue;
            }
            let node = self.config.cluster.as_ref().map(|c| c.node.as_str());
            match attempt(&clients[&w.name], w, &n, node).await {
                Ok(()) => {
                    down.remove(&w.name);
                    let delivered = n.removal(self.clustered());
                    if let Err(e) = self.write(delivered, fence).await {
                        // Delivered but not marked: it goes again later, with the same id.
                        tracing::warn!(id = %n.id, error = %e, "a delivered notification could not be marked");
                    }
                    metrics::counter!(WEBHOOK_DELIVERIES, "webhook" => w.name.to_string(), "result" => "delivered").increment(1);
                }
                Err(e) => {
                    metrics::counter!(WEBHOOK_DELIVERIES, "webhook" => w.name.to_string(), "result" => "failed").increment(1);
                    n.attempts += 1;
                    if n.attempts >= w.max_attempts {
                        self.bury(n, e, now, fence).await;
                        continue;
                    }
                    tracing::info!(id = %n.id, webhook = %w.name, attempts = n.attempts, error = %e, "webhook attempt failed");
                    n.last_error = Some(e);
                    n.next_at = now + SignedDuration::from_secs(w.backoff(n.attempts) as i64);
                    down.insert(w.name.clone(), n.next_at);
                    sooner(n.next_at);
                    if let Err(e) = self.write(n.op(self.clustered()), fence).await {
                        tracing::warn!(id = %n.id, error = %e, "a failed attempt could not be recorded");
                    }
                }
            }
        }
        next
    }

    /// Make `n` a dead letter.
    async fn bury(&self, mut n: Notification, reason: String, now: Timestamp, fence: Fence) {
        tracing::warn!(id = %n.id, webhook = %n.webhook, attempts = n.attempts, reason = %reason, "notification is a dead letter");
        metrics::counter!(WEBHOOK_DEAD, "webhook" => n.webhook.to_string()).increment(1);
        n.last_error = Some(reason);
        n.dead_at = Some(now);
        if let Err(e) = self.write(n.op(self.clustered()), fence).await {
            tracing::warn!(id = %n.id, error = %e, "a dead letter could not be recorded");
        }
    }

    /// The outbox gauges over `rows`: this node's records (in cluster mode, those of the
    /// shares it holds, so the nodes' gauges add up to the whole outbox).
    fn gauges<'a>(&self, rows: impl Iterator<Item = &'a Notification> + Clone) {
        for w in &self.config.webhooks {
            let (mut pending, mut dead) = (0u64, 0u64);
            for n in rows.clone().filter(|n| n.webhook == w.name) {
                if n.is_dead() {
                    dead += 1;
                } else {
                    pending += 1;
                }
            }
            for (state, v) in [("pending", pending), ("dead", dead)] {
                metrics::gauge!(WEBHOOK_OUTBOX, "webhook" => w.name.to_string(), "state" => state)
                    .set(v as f64);
            }
        }
    }

    /// Every webhook's series at zero, so dashboards and alerts read 0 before the first.
    pub fn zero_metrics(&self) {
        for w in &self.config.webhooks {
            for result in ["delivered", "failed"] {
                metrics::counter!(WEBHOOK_DELIVERIES, "webhook" => w.name.to_string(), "result" => result)
                    .increment(0);
            }
            metrics::counter!(WEBHOOK_DEAD, "webhook" => w.name.to_string()).increment(0);
        }
        self.gauges(std::iter::empty());
    }
}

/// `sha256=<hex>` of the body under `secret`: what `X-Hallq-Signature` carries.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret).expect("HMAC takes any key");
    mac.update(body);
    format!(
        "sha256={}",
        crate::config::hex(&mac.finalize().into_bytes())
    )
}

/// One POST; `Err` says why it did not count as delivered (never the body). `node`: cluster
/// mode's node name, sent as `X-Hallq-Node` so a receiver can tell which node attempted.
async fn attempt(
    client: &HookClient,
    w: &Webhook,
    n: &Notification,
    node: Option<&str>,
) -> Result<(), String> {
    let mut req = hyper::Request::post(&w.url);
    if let Some(node) = node {
        req = req.header("x-hallq-node", node);
    }
    let req = req
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(
            hyper::header::USER_AGENT,
            concat!("hallq/", env!("CARGO_PKG_VERSION")),
        )
        .header("x-hallq-delivery", &n.id)
        .header("x-hallq-event", &n.event)
        .header("x-hallq-signature", signature(&w.secret, n.body.as_bytes()))
        .body(Full::new(Bytes::from(n.body.clone())))
        .map_err(|e| format!("cannot build the request: {e}"))?;
    let limit = Duration::from_secs(w.timeout_s);
    match tokio::time::timeout(limit, client.request(req)).await {
        Err(_) => Err(format!("no answer within {}s", w.timeout_s)),
        Ok(Err(e)) => Err(format!("cannot reach the receiver: {}", chain(&e))),
        Ok(Ok(res)) if res.status().is_success() => Ok(()),
        Ok(Ok(res)) => Err(format!("the receiver answered {}", res.status())),
    }
}

/// An error with its causes (`client error (Connect): … : invalid peer certificate: …`): the
/// client's own message alone does not say what an operator must fix.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let s = c.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cause = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_signature_is_rfc_4231_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            super::signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
