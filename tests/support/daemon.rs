//! The real `hallq` binary as a child process: for tests that kill it (SIGKILL or SIGTERM),
//! read its logs, or run what an operator runs. [`Hallq`] says how to start it; [`Daemon`] is
//! the running process.
//!
//! Everything here is blocking (std::process and a reader thread per pipe), so browser tests
//! without a runtime and `#[tokio::test]`s use the same code. Starting waits for the binary's
//! `hallq listening on http://ADDR` line, never for a fixed time.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long the binary may take to print its address, or to stop after SIGTERM.
const PATIENCE: Duration = Duration::from_secs(60);

/// How to start `hallq serve`: its config, data directory, address, extra arguments and
/// environment.
#[derive(Debug, Clone)]
pub struct Hallq {
    /// `None`: the embedded demo config.
    config: Option<PathBuf>,
    data: PathBuf,
    listen: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// Keep stderr (the log) for the test instead of passing it through.
    capture_log: bool,
}

impl Hallq {
    /// The embedded demo config (no `--config`), with its data in `data`.
    pub fn demo(data: &Path) -> Hallq {
        Hallq {
            config: None,
            data: data.to_owned(),
            listen: "127.0.0.1:0".to_owned(),
            args: Vec::new(),
            env: vec![("RUST_LOG".to_owned(), "warn".to_owned())],
            capture_log: false,
        }
    }

    /// `text` written to `dir/hallq.toml`, with the data in `dir/data`.
    pub fn config(dir: &Path, text: &str) -> Hallq {
        let file = dir.join("hallq.toml");
        std::fs::write(&file, text).expect("write the test config");
        Hallq::config_file(&file, &dir.join("data"))
    }

    /// A config file that is already written, with the data in `data`.
    pub fn config_file(file: &Path, data: &Path) -> Hallq {
        Hallq {
            config: Some(file.to_owned()),
            ..Hallq::demo(data)
        }
    }

    /// Keep the data somewhere else (a small disk, a directory shared with another start).
    pub fn data(mut self, data: &Path) -> Hallq {
        data.clone_into(&mut self.data);
        self
    }

    /// Listen on `addr` (`127.0.0.1:PORT`) instead of a free port.
    pub fn listen(mut self, addr: &str) -> Hallq {
        addr.clone_into(&mut self.listen);
        self
    }

    /// More arguments to `serve` (`--log-format json`).
    pub fn args(mut self, args: &[&str]) -> Hallq {
        self.args.extend(args.iter().map(|a| (*a).to_owned()));
        self
    }

    /// An environment variable (`RUST_LOG` is `warn` unless set here).
    pub fn env(mut self, key: &str, value: &str) -> Hallq {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Mount the test hooks (`HALLQ_TEST_HOOKS=1`): `run_hall_timers`, `run_case_timers`.
    pub fn test_hooks(self) -> Hallq {
        self.env("HALLQ_TEST_HOOKS", "1")
    }

    /// Keep the log (stderr) for [`Daemon::log`] and [`Daemon::terminate`].
    pub fn capture_log(mut self) -> Hallq {
        self.capture_log = true;
        self
    }

    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// Start the binary and wait until it listens.
    pub fn spawn(&self) -> Daemon {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hallq"));
        cmd.args(["serve", "--listen", &self.listen]);
        if let Some(file) = &self.config {
            cmd.arg("--config").arg(file);
        }
        cmd.arg("--data").arg(&self.data).args(&self.args);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let stderr = if self.capture_log {
            Stdio::piped()
        } else {
            Stdio::inherit()
        };
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("the hallq binary starts");
        let log = child.stderr.take().map(|err| {
            let lines: Arc<Mutex<Vec<String>>> = Arc::default();
            let keep = lines.clone();
            let reader = std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    keep.lock().unwrap().push(line);
                }
            });
            (lines, reader)
        });
        // The address line, then keep draining stdout so the child never blocks on a full pipe.
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("hallq listening on http://") {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        let mut daemon = Daemon {
            child,
            base: String::new(),
            addr: String::new(),
            log,
            how: self.clone(),
        };
        match rx.recv_timeout(PATIENCE) {
            Ok(addr) => {
                daemon.base = format!("http://{addr}");
                daemon.addr = addr;
                daemon
            }
            Err(_) => {
                let status = daemon.child.try_wait().ok().flatten();
                let log = daemon.log().join("\n");
                panic!("hallq did not print its address (exit status {status:?}); log:\n{log}")
            }
        }
    }
}

/// The captured log lines and the thread that reads them.
type Log = (Arc<Mutex<Vec<String>>>, JoinHandle<()>);

/// A running `hallq serve`; killed (SIGKILL) when dropped.
pub struct Daemon {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// `127.0.0.1:PORT`
    pub addr: String,
    log: Option<Log>,
    how: Hallq,
}

impl Daemon {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// How it was started (to start it again, changed).
    pub fn hallq(&self) -> &Hallq {
        &self.how
    }

    /// The log lines so far (with [`Hallq::capture_log`]; none otherwise).
    pub fn log(&self) -> Vec<String> {
        self.log
            .as_ref()
            .map(|(lines, _)| lines.lock().unwrap().clone())
            .unwrap_or_default()
    }

    /// SIGKILL, as a power cut would: no shutdown code runs.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL sent");
        let status = self.child.wait().unwrap();
        assert!(!status.success(), "a killed hallq reports failure");
    }

    /// SIGKILL, then the same command again (same data, same `--listen`).
    pub fn restart(self) -> Daemon {
        let how = self.how.clone();
        self.kill();
        how.spawn()
    }

    /// SIGTERM; waits for a clean exit (code 0) and returns every log line it wrote.
    pub fn terminate(mut self) -> Vec<String> {
        let pid = rustix::process::Pid::from_raw(self.pid() as i32).expect("a process id");
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("SIGTERM sent");
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "hallq still runs {PATIENCE:?} after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "hallq exits cleanly on SIGTERM: {status}");
        match self.log.take() {
            Some((lines, reader)) => {
                reader.join().unwrap();
                std::mem::take(&mut *lines.lock().unwrap())
            }
            None => Vec::new(),
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
