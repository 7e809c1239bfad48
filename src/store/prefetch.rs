//! Reading the database file ahead of recovery, front to back, while the start reads what it
//! needs from it in key order.
//!
//! After a bulk load the file is mostly out of the page cache by the time the daemon restarts
//! (the kernel, or a host's reclaim, drops pages nobody touched for a while), and recovery's
//! reads are then single 4 KiB pages at random places in the file, one at a time per reading
//! thread: the halls' tickets are spread over the whole file (issued round robin over the
//! halls), the open cases nearly so. On this machine's disk such a read takes 150-340 µs
//! (12-27 MB/s), a sequential read 200 MB/s or more. So a thread asks the kernel to read the
//! file ahead in large sequential chunks while recovery runs, so fewer of the readers' pages
//! come from the disk one by one (block-I/O wait -20..32 % on cold copies of a 2M-case store,
//! BENCHMARKS.md). It reads at most half the memory the kernel says is available, so a store
//! larger than memory does not cycle the page cache during the start.
//!
//! It stops as soon as the store's writer starts (the open state is loaded: what is read later
//! is read on demand), so a store with years of closed cases in it is not read whole before serving,
//! and start-up time still grows with open state. It never writes and never fails a start: an
//! error ends it quietly.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

/// Asked for at a time; the next chunk is asked for once this one has arrived, so at most
/// one chunk is in flight and stopping takes effect within one chunk's read.
const CHUNK: u64 = 32 << 20;

/// The read-ahead thread; stops when dropped or `stop`ped.
pub(crate) struct Prefetch {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Prefetch {
    /// Start reading `path` ahead; nothing is started if it cannot be opened.
    pub fn start(path: &Path) -> Prefetch {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::fs::File::open(path).ok().and_then(|file| {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("hallq-prefetch".into())
                .spawn(move || {
                    read_ahead(&file, &stop);
                })
                .ok()
        });
        Prefetch { stop, thread }
    }

    /// Stop reading ahead (the open state is loaded), without waiting for the thread.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        self.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Ask for `file` chunk by chunk, each once the one before has arrived, until its end or
/// `stop`; how many bytes were asked for.
fn read_ahead(file: &std::fs::File, stop: &AtomicBool) -> u64 {
    use std::os::unix::fs::FileExt;
    let Ok(len) = file.metadata().map(|m| m.len()) else {
        return 0;
    };
    let len = len.min(available_memory() / 2);
    let started = std::time::Instant::now();
    let mut at = 0;
    while at < len && !stop.load(Ordering::Acquire) {
        let n = CHUNK.min(len - at);
        let advice = rustix::fs::fadvise(
            file,
            at,
            std::num::NonZeroU64::new(n),
            rustix::fs::Advice::WillNeed,
        );
        // Wait for the chunk: its last byte arrives about last (one byte read, no copy of it).
        let mut byte = [0u8];
        if advice.is_err() || file.read_at(&mut byte, at + n - 1).is_err() {
            break;
        }
        at += n;
    }
    tracing::debug!(
        read_mb = at >> 20,
        of_mb = len >> 20,
        ms = started.elapsed().as_millis() as u64,
        "read the store ahead of recovery"
    );
    at
}

/// `MemAvailable` of /proc/meminfo in bytes; unbounded where it cannot be read.
fn available_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            let line = m.lines().find(|l| l.starts_with("MemAvailable:"))?;
            let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kb.saturating_mul(1024))
        })
        .unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_to_the_end_unless_stopped_and_a_missing_file_starts_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![1u8; (CHUNK + 4096) as usize]).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        assert_eq!(read_ahead(&file, &AtomicBool::new(false)), CHUNK + 4096);
        assert_eq!(read_ahead(&file, &AtomicBool::new(true)), 0);
        assert!(
            Prefetch::start(&dir.path().join("missing"))
                .thread
                .is_none()
        );
        let running = Prefetch::start(&path);
        assert!(running.thread.is_some());
        running.stop();
        drop(running);
    }
}
