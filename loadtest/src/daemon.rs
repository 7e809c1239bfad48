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
        LocalDaemon::start_seeded(config, files, parent, &|_, _| Ok(()))
    }

    /// `start`, after `seed` has written what the run needs into the data directory (the
    /// validated config and the directory's path), before the daemon opens it.
    pub fn start_seeded(
        config: &str,
        files: &[(&str, String)],
        parent: &Path,
        seed: &dyn Fn(&Config, &Path) -> Result<(), String>,
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
            write_file(dir.path(), name, text)?;
        }
        let file = write_file(dir.path(), "hallq.toml", config)?;
        let config = Config::from_file(&file)
            .map_err(|e| format!("the generated config is invalid (a bug):\n{e}"))?;
        let data: PathBuf = dir.path().join("data");
        seed(&config, &data)?;
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
    let runtime =
        hallq::server::runtime().map_err(|e| format!("cannot start the daemon's runtime: {e}"))?;
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

/// Write `text` to `dir/name`, creating the directories between; returns the path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> Result<PathBuf, String> {
    let file = dir.join(name);
    if let Some(d) = file.parent() {
        std::fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
    }
    std::fs::write(&file, text).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    Ok(file)
}

/// The daemon as its own process, for what needs one: SIGKILL, resident memory, the time a
/// cold start takes. It is this program re-executed with [`AS_DAEMON`] set, which runs
/// `hallq::cli::main` — exactly the `hallq` binary's code — so `cargo run -p hallq-loadtest`
/// still needs nothing else built.
pub struct ChildDaemon {
    pub addr: SocketAddr,
    child: std::process::Child,
    /// From spawning the process to its "listening" line: recovery included.
    pub ready_after: std::time::Duration,
}

/// Set in a child's environment: run `hallq` with the arguments instead of the load test.
pub const AS_DAEMON: &str = "HALLQ_LOADTEST_AS_DAEMON";

impl ChildDaemon {
    /// `hallq serve --config CONFIG --data DATA --listen 127.0.0.1:0`, its log in `log`; returns
    /// once it listens (after recovering the store).
    pub fn spawn(config: &Path, data: &Path, log: &Path) -> Result<ChildDaemon, String> {
        use std::io::BufRead;
        let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
        let log_file = std::fs::File::create(log)
            .map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let started = std::time::Instant::now();
        let mut child = std::process::Command::new(exe)
            .env(AS_DAEMON, "1")
            .arg("serve")
            .arg("--config")
            .arg(config)
            .arg("--data")
            .arg(data)
            .args(["--listen", "127.0.0.1:0"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(log_file)
            .spawn()
            .map_err(|e| format!("cannot start the daemon process: {e}"))?;
        let stdout = child.stdout.take().expect("piped");
        let mut lines = std::io::BufReader::new(stdout).lines();
        let addr = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(a) = line.strip_prefix("hallq listening on http://") {
                        break a
                            .parse::<SocketAddr>()
                            .map_err(|e| format!("the daemon printed a bad address `{a}`: {e}"))?;
                    }
                }
                _ => {
                    let status = child.wait().map_err(|e| e.to_string())?;
                    return Err(format!(
                        "the daemon exited ({status}) before listening; its log is {}",
                        log.display()
                    ));
                }
            }
        };
        let ready_after = started.elapsed();
        // Nothing more is read from stdout; keep the pipe drained so the daemon never blocks.
        std::thread::spawn(move || for _ in lines {});
        Ok(ChildDaemon {
            addr,
            child,
            ready_after,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory now, from `/proc/PID/status` (VmRSS), in bytes.
    pub fn rss(&self) -> Result<u64, String> {
        let path = format!("/proc/{}/status", self.pid());
        let status =
            std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().strip_suffix("kB"))
            .and_then(|kb| kb.trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
            .ok_or_else(|| format!("no VmRSS in {path}"))
    }

    /// SIGKILL, as a power cut or the OOM killer would: nothing is flushed or closed.
    pub fn kill(mut self) -> Result<(), String> {
        self.child
            .kill()
            .map_err(|e| format!("cannot kill the daemon: {e}"))?;
        let _ = self.child.wait();
        Ok(())
    }
}

impl Drop for ChildDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
