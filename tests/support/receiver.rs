//! A webhook receiver for the notification tests: a local HTTP gateway that records every
//! POST (delivery id, event, whether the signature verifies under `WEBHOOK_SECRET`, the node
//! that sent it) and answers the status the test sets. Waits are for what it saw, never for a
//! fixed time.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hmac::{KeyInit, Mac};
use serde_json::Value;

/// The secret the test webhooks sign with.
pub const WEBHOOK_SECRET: &str = "webhook-secret-0123456789";
/// How long a test waits for the receiver to see something.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// One POST as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Hit {
    pub delivery: String,
    pub event: String,
    pub signed: bool,
    /// `X-Hallq-Node`: the cluster node that attempted it (empty when running alone).
    pub node: String,
    pub body: Value,
    pub raw: String,
    /// What the receiver answered.
    pub status: u16,
}

/// A gateway: records every POST and answers `status`.
#[derive(Clone)]
pub struct Receiver {
    hits: Arc<Mutex<Vec<Hit>>>,
    pub status: Arc<AtomicU16>,
}

impl Receiver {
    pub fn new(status: u16) -> Receiver {
        Receiver {
            hits: Arc::default(),
            status: Arc::new(AtomicU16::new(status)),
        }
    }

    /// Serve on `addr` (a port the test reserved) from now on.
    pub async fn listen(&self, addr: SocketAddr) {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .expect("the reserved port is free again");
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(hook))
            .with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// The notifications answered 2xx, by delivery id, each with how often it was answered so.
    pub fn delivered(&self) -> BTreeMap<String, (Hit, usize)> {
        let mut out: BTreeMap<String, (Hit, usize)> = BTreeMap::new();
        for h in self.hits().into_iter().filter(|h| h.status == 200) {
            out.entry(h.delivery.clone())
                .and_modify(|e| e.1 += 1)
                .or_insert((h, 1));
        }
        out
    }

    /// Wait until `n` distinct notifications were answered 2xx.
    pub async fn wait_delivered(&self, n: usize) -> BTreeMap<String, (Hit, usize)> {
        let started = Instant::now();
        loop {
            let d = self.delivered();
            if d.len() >= n {
                return d;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "{} of {n} notifications delivered; hits: {:#?}",
                d.len(),
                self.hits()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn wait_hits(&self, n: usize) {
        let started = Instant::now();
        while self.hits().len() < n {
            assert!(started.elapsed() < PATIENCE, "fewer than {n} attempts");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn hook(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let mut mac =
        <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
    mac.update(&body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let status = r.status.load(Ordering::SeqCst);
    let raw = String::from_utf8(body.to_vec()).unwrap();
    r.hits.lock().unwrap().push(Hit {
        delivery: header("x-hallq-delivery"),
        event: header("x-hallq-event"),
        signed: header("x-hallq-signature") == format!("sha256={expected}"),
        node: header("x-hallq-node"),
        body: serde_json::from_str(&raw).unwrap_or(Value::Null),
        raw,
        status,
    });
    StatusCode::from_u16(status).unwrap()
}

/// A loopback port nothing listens on (yet).
pub fn reserve_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}
