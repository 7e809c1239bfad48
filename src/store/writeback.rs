//! The database file's storage: redb's `FileBackend`, with what a checkpoint writes sent to
//! the disk in steps while it writes, so that the log's `fdatasync` never queues behind a
//! whole checkpoint (PostgreSQL's `checkpoint_flush_after`, with a bound on what is in flight).
//!
//! redb keeps a transaction's pages in memory and writes them all at its commit, then syncs:
//! about 10 MB a checkpoint under the mixed load reach the page cache in a burst and the
//! `fdatasync` sends them to the disk at once, while the log's small append waits behind them
//! (measured: the writer's `fdatasync` 0.2-2 ms usually, 35-270 ms at worst during a
//! checkpoint's). Here, every `[store] checkpoint_flush_kb` written, the thread writing first
//! waits until the disk holds the previous step and then starts the writeback of what it
//! wrote since
//! (`sync_file_range(WAIT_BEFORE | WRITE)` over the file): at most one step of database pages
//! is queued at the disk at any time, and redb's `sync_data` finds little left to send.
//!
//! Nothing here makes anything durable, or less so: `sync_file_range` only starts and awaits
//! writeback, it flushes neither the file's metadata nor the disk's cache; redb's own
//! `sync_data` (an `fdatasync`) still decides when a commit is durable, exactly as before.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use redb::backends::FileBackend;
use redb::{DatabaseError, StorageBackend};

use super::gated::{Gate, GatedFile};

/// The gate that paces the database file's writeback.
#[derive(Debug)]
pub(crate) struct Paced {
    /// The same open file (a `dup`: redb's range locks belong to the open file description,
    /// which both share), for `sync_file_range`.
    fd: File,
    /// Bytes per step; 0 writes as redb's `FileBackend` does, all at `sync_data`.
    step: u64,
    /// Bytes written since the last step started or the last `sync_data`.
    unsent: AtomicU64,
    /// Steps started since the file was opened.
    steps: AtomicU64,
}

/// Open (or create) the database file at `path`, paced in steps of `step` bytes.
pub(crate) fn open(path: &Path, step: u64) -> Result<GatedFile<Paced>, DatabaseError> {
    let file = super::segment::open_file(path)?;
    let fd = file.try_clone()?;
    GatedFile::new(
        file,
        Paced {
            fd,
            step,
            unsent: AtomicU64::new(0),
            steps: AtomicU64::new(0),
        },
    )
}

impl Paced {
    /// Wait for the writeback already started on the file, then start it for every page
    /// written since.
    fn send(&self) -> io::Result<()> {
        // SAFETY: sync_file_range takes a descriptor this struct owns and plain integers.
        let r = unsafe {
            libc::sync_file_range(
                self.fd.as_raw_fd(),
                0,
                0,
                libc::SYNC_FILE_RANGE_WAIT_BEFORE | libc::SYNC_FILE_RANGE_WRITE,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        self.steps.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    #[cfg(test)]
    fn steps(&self) -> u64 {
        self.steps.load(Ordering::Relaxed)
    }
}

impl Gate for Paced {
    fn write(&self, file: &FileBackend, offset: u64, data: &[u8]) -> io::Result<()> {
        file.write(offset, data)?;
        if self.step == 0 {
            return Ok(());
        }
        let len = data.len() as u64;
        let before = self.unsent.fetch_add(len, Ordering::Relaxed);
        if before + len >= self.step {
            self.unsent.store(0, Ordering::Relaxed);
            // A failure here loses nothing (the pages are written, and `sync_data` sends
            // them); it is an error of the disk all the same, which redb must see.
            self.send()?;
        }
        Ok(())
    }

    fn sync_data(&self, file: &FileBackend) -> io::Result<()> {
        self.unsent.store(0, Ordering::Relaxed);
        file.sync_data()
    }
}

#[cfg(test)]
mod tests {
    use redb::{Database, ReadableDatabase, StorageBackend, TableDefinition};

    use super::open;

    const T: TableDefinition<u64, &[u8]> = TableDefinition::new("t");
    const PAGE: usize = 4096;

    /// Write `pages` pages through `file`, one after the other from `first`, as redb's commit
    /// writes a checkpoint's.
    fn write_pages(file: &impl StorageBackend, first: usize, pages: usize) {
        for p in first..first + pages {
            file.write((p * PAGE) as u64, &[p as u8; PAGE]).unwrap();
        }
    }

    #[test]
    fn a_step_starts_every_step_of_pages_written_and_a_sync_starts_the_count_over() {
        let dir = tempfile::tempdir().unwrap();
        let file = open(&dir.path().join("db.redb"), 16 * PAGE as u64).unwrap();
        write_pages(&file, 0, 15);
        assert_eq!(file.gate().steps(), 0, "15 pages are less than a step");
        write_pages(&file, 15, 1);
        assert_eq!(
            file.gate().steps(),
            1,
            "the 16th page completes the first step"
        );
        write_pages(&file, 16, 16 * 9);
        assert_eq!(
            file.gate().steps(),
            10,
            "one step per 16 pages, while they are written"
        );
        write_pages(&file, 160, 10);
        file.sync_data().unwrap();
        write_pages(&file, 170, 15);
        assert_eq!(
            file.gate().steps(),
            10,
            "a sync sent the 10 pages before it: 15 more are less than a step"
        );
        write_pages(&file, 185, 1);
        assert_eq!(file.gate().steps(), 11);
        let mut back = [0u8; PAGE];
        file.read((170 * PAGE) as u64, &mut back).unwrap();
        assert_eq!(back, [170u8; PAGE], "what was written reads back");
    }

    #[test]
    fn a_step_of_zero_writes_as_the_plain_file_does() {
        let dir = tempfile::tempdir().unwrap();
        let file = open(&dir.path().join("db.redb"), 0).unwrap();
        write_pages(&file, 0, 1024);
        file.sync_data().unwrap();
        assert_eq!(file.gate().steps(), 0);
        assert_eq!(file.len().unwrap(), (1024 * PAGE) as u64);
    }

    #[test]
    fn a_paced_database_reads_back_and_its_file_stays_locked_to_one_opener() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        {
            // Steps of one page: every write starts a step.
            let db = Database::builder()
                .create_with_backend(open(&path, 4096).unwrap())
                .unwrap();
            assert!(
                Database::builder().create(&path).is_err(),
                "a second opener must find the file locked through the wrapper"
            );
            for round in 0..4u64 {
                let tx = db.begin_write().unwrap();
                {
                    let mut t = tx.open_table(T).unwrap();
                    for k in 0..500 {
                        t.insert(round * 1000 + k, vec![k as u8; 700].as_slice())
                            .unwrap();
                    }
                }
                tx.commit().unwrap();
            }
        }
        let db = Database::builder().create(&path).unwrap();
        let tx = db.begin_read().unwrap();
        let t = tx.open_table(T).unwrap();
        for round in 0..4u64 {
            for k in 0..500 {
                let v = t.get(round * 1000 + k).unwrap().unwrap();
                assert_eq!(v.value(), vec![k as u8; 700].as_slice());
            }
        }
    }
}
