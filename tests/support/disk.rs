//! A disk that fails on demand, under the store: a redb `StorageBackend` over the store file
//! with a switch. While it fails, every write of data and every growth of the file is refused
//! with ENOSPC, as on a full disk, so a commit fails where it would on one. The file's header
//! (its first bytes, rewritten in place) stays writable, as a full disk's existing blocks are:
//! redb rewrites the header when it opens, so the store can be reopened for reads meanwhile.
//! Reads and syncs always go through. Healed, it is the file again.
//!
//! Cheap and deterministic next to `tests/full_disk.rs`, which fills a real loop-mounted disk.

use std::fs::OpenOptions;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use hallq::store::{Gate, GatedFile};
use redb::backends::FileBackend;
use redb::{DatabaseError, StorageBackend};

/// How many bytes at the start of the file redb rewrites in place as its header (320 in redb
/// 4): a write that stays within them is never refused. Smaller than a page.
const HEADER: u64 = 512;

/// The switch, shared by the test and every backend opened over the store file.
#[derive(Debug, Default)]
pub struct DiskSwitch {
    failing: AtomicBool,
    refused: AtomicU64,
}

impl DiskSwitch {
    pub fn new() -> Arc<DiskSwitch> {
        Arc::default()
    }

    /// From now on refuse writes and growth.
    pub fn fail(&self) {
        self.failing.store(true, Ordering::SeqCst);
    }

    /// From now on write again.
    pub fn heal(&self) {
        self.failing.store(false, Ordering::SeqCst);
    }

    /// How many writes were refused so far: the test checks the failure really happened.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::SeqCst)
    }

    fn check(&self) -> io::Result<()> {
        if self.failing.load(Ordering::SeqCst) {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return Err(io::Error::from_raw_os_error(28)); // ENOSPC
        }
        Ok(())
    }

    /// What `Store::open_with_backend` calls at every (re)open: the store file under this
    /// switch.
    pub fn backend(
        self: &Arc<DiskSwitch>,
    ) -> impl Fn(&Path) -> Result<FailingDisk, DatabaseError> + Send + Sync + 'static {
        let switch = self.clone();
        move |path| {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)?;
            GatedFile::new(file, Failing(switch.clone()))
        }
    }
}

/// The store file under a [`DiskSwitch`]: what the switch refuses is refused, the rest (reads,
/// syncs, the file's locks, so a second open of the same store is refused as it is on the
/// file) goes to the file.
pub type FailingDisk = GatedFile<Failing>;

/// The [`Gate`] of a [`FailingDisk`].
#[derive(Debug)]
pub struct Failing(Arc<DiskSwitch>);

impl Gate for Failing {
    fn set_len(&self, file: &FileBackend, len: u64) -> io::Result<()> {
        if len > file.len()? {
            self.0.check()?;
        }
        file.set_len(len)
    }

    fn write(&self, file: &FileBackend, offset: u64, data: &[u8]) -> io::Result<()> {
        if offset + data.len() as u64 > HEADER {
            self.0.check()?;
        }
        file.write(offset, data)
    }
}
