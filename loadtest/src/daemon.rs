//! The daemon under test when no `--target` is given: `hallq::server::Daemon` in this process,
//! on its own runtime and threads, over a config file and data directory in a fresh
//! temporary directory.
//!
//! In-process rather than a spawned `hallq` binary: `cargo run -p hallq-loadtest` then needs
//! nothing built beforehand and nothing found on a path, and it is the same code
//! `hallq serve` runs (`Daemon::start` + `serve`, a multi-threaded tokio runtime with one
//! worker per core, the shard and store-writer threads), minus the log output. The daemon
//! and the load generator share the machine either way.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use hallq::clock::{Clock, SystemClock};
use hallq::config::Config;
use hallq::server::Daemon;
use tokio::sync::oneshot;

pub struct LocalDaemon {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<(), String>>>,
    /// Holds the config file and the store; removed on drop.
    dir: tempfile::TempDir,
}

impl LocalDaemon {
    /// Write `config`, and the `files` it names (relative path, contents), to a new
    /// temporary directory under `parent`, open the store next to it and serve on a free
    /// loopback port.
    pub fn start(
        config: &str,
        files: &[(&str, String)],
        parent: &Path,
    ) -> Result<LocalDaemon, String> {
        let dir = tempfile::Builder::new()
            .prefix("hallq-loadtest-")
            .tempdir_in(parent)
            .map_err(|e| {
                format!(
                    "cannot create a data directory in {}: {e}",
                    parent.display()
                )
            })?;
        for (name, text) in files {
            let file = dir.path().join(name);
            if let Some(d) = file.parent() {
                std::fs::create_dir_all(d)
                    .map_err(|e| format!("cannot create {}: {e}", d.display()))?;
            }
            std::fs::write(&file, text)
                .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
        }
        let file = dir.path().join("hallq.toml");
        std::fs::write(&file, config)
            .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
        let config = Config::from_file(&file)
            .map_err(|e| format!("the generated config is invalid (a bug):\n{e}"))?;
        let data: PathBuf = dir.path().join("data");
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("hallq-daemon".into())
            .spawn(move || serve(config, &data, ready_tx, stop_rx))
            .map_err(|e| format!("cannot start the daemon thread: {e}"))?;
        match ready_rx.recv() {
            Ok(addr) => Ok(LocalDaemon {
                addr,
                stop: Some(stop_tx),
                thread: Some(thread),
                dir,
            }),
            // The thread ended before listening: its result says why.
            Err(_) => Err(thread
                .join()
                .map_err(|_| "the daemon thread panicked".to_owned())?
                .err()
                .unwrap_or_else(|| "the daemon stopped before listening".to_owned())),
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Shut down as on SIGTERM: drain, stop the shards, commit, stop the writer.
    pub fn stop(mut self) -> Result<(), String> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err("the daemon thread panicked".to_owned()),
            None => Ok(()),
        }
    }
}

fn serve(
    config: Config,
    data: &Path,
    ready: std::sync::mpsc::Sender<SocketAddr>,
    stop: oneshot::Receiver<()>,
) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("hallq-http")
        .build()
        .map_err(|e| format!("cannot start the daemon's runtime: {e}"))?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let daemon = Daemon::start(Arc::new(config), data, clock).map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| format!("cannot listen on loopback: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("no local address: {e}"))?;
        let _ = ready.send(addr);
        daemon
            .serve(listener, async move {
                let _ = stop.await;
            })
            .await
            .map_err(|e| e.to_string())
    })
}
