//! The real server in this process, on an ephemeral port: for tests that move its clock
//! (`ManualClock`) or put its store on a failing disk. It always has its test hooks.

use std::path::Path;
use std::sync::Arc;

use hallq::clock::SystemClock;
use hallq::config::Config;
use hallq::store::Store;
use serde_json::Value;
use tokio::sync::oneshot;

use super::{Resp, call, client, run_case_timers, run_hall_timers};

pub struct Server {
    pub base: String,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    pub dir: tempfile::TempDir,
}

/// The real server, in this process, on an ephemeral port.
pub async fn start(config_text: &str) -> Server {
    start_in(config_text, tempfile::tempdir().expect("temp dir")).await
}

pub async fn start_in(config_text: &str, dir: tempfile::TempDir) -> Server {
    start_with_clock(config_text, dir, Arc::new(SystemClock)).await
}

/// The real server on a clock the test moves (`hallq::clock::ManualClock`).
pub async fn start_with_clock(
    config_text: &str,
    dir: tempfile::TempDir,
    clock: Arc<dyn hallq::clock::Clock>,
) -> Server {
    start_with_store(config_text, dir, clock, |data, config| {
        Store::open(data, &config.store).expect("the store opens")
    })
    .await
}

/// The real server on a store the test opens in `dir` (e.g. over a failing disk:
/// `Store::open_with_backend`).
pub async fn start_with_store(
    config_text: &str,
    dir: tempfile::TempDir,
    clock: Arc<dyn hallq::clock::Clock>,
    open: impl FnOnce(&Path, &Config) -> Store,
) -> Server {
    let config =
        Arc::new(Config::from_toml("test.toml", config_text).expect("test config is valid"));
    let store = open(dir.path(), &config);
    let daemon =
        hallq::server::Daemon::start_with_store(config, store, clock).expect("daemon starts");
    daemon.enable_test_hooks();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        daemon
            .serve(listener, async {
                let _ = rx.await;
            })
            .await
            .expect("daemon serves and stops cleanly");
    });
    Server {
        base,
        http: client(),
        stop: Some(stop),
        task: Some(task),
        dir,
    }
}

impl Server {
    /// Stop gracefully and wait until the store is closed; returns the data directory.
    pub async fn stop(mut self) -> tempfile::TempDir {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap();
        self.dir
    }

    /// The shard owning `hall` runs what is due now (see `run_hall_timers`).
    pub async fn run_hall_timers(&self, hall: &str) {
        run_hall_timers(&self.http, &self.base, hall).await;
    }

    /// The case thread raises what is due now (see `run_case_timers`).
    pub async fn run_case_timers(&self) {
        run_case_timers(&self.http, &self.base).await;
    }
}

impl Server {
    pub async fn get(&self, token: &str, path: &str) -> Resp {
        call(
            &self.http,
            reqwest::Method::GET,
            format!("{}{path}", self.base),
            Some(token),
            None,
            &[],
        )
        .await
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> Resp {
        call(
            &self.http,
            reqwest::Method::POST,
            format!("{}{path}", self.base),
            Some(token),
            Some(body.to_string()),
            &[],
        )
        .await
    }
}

impl Server {
    /// `POST /v1/cases/{id}/{action}` as the case officer.
    pub async fn case_action(&self, id: &str, action: &str, body: Value) -> Resp {
        self.post(super::OFFICER, &format!("/v1/cases/{id}/{action}"), body)
            .await
    }
}
