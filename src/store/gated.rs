//! The database file as redb's storage, with a gate on what changes it: writes, growth and
//! syncs go through a [`Gate`], which may act around them (pace them, refuse them); length,
//! reads, close and the file's range locks go to redb's `FileBackend` untouched, so the file
//! stays locked to one opener whatever a gate does.
//!
//! Two gates exist, and this is the one place that passes the rest through for both: the
//! daemon's paced writeback (`writeback::Paced`) and the tests' disk that fails on demand
//! (`tests/support/disk.rs`, through `Store::open_with_backend`).

use std::fs::File;
use std::io;
use std::ops::Bound;

use redb::backends::FileBackend;
use redb::{BackendError, DatabaseError, StorageBackend};

/// What a [`GatedFile`] does with a change to its file. Each method does the change itself
/// (the defaults do just that), so a gate can act before it, after it, or refuse it.
pub trait Gate: std::fmt::Debug + Send + Sync + 'static {
    /// Write `data` at `offset`.
    fn write(&self, file: &FileBackend, offset: u64, data: &[u8]) -> io::Result<()> {
        file.write(offset, data)
    }

    /// Grow or shrink the file to `len` bytes.
    fn set_len(&self, file: &FileBackend, len: u64) -> io::Result<()> {
        file.set_len(len)
    }

    /// Make what was written durable (redb's `fdatasync`).
    fn sync_data(&self, file: &FileBackend) -> io::Result<()> {
        file.sync_data()
    }
}

/// A file under a [`Gate`].
#[derive(Debug)]
pub struct GatedFile<G> {
    file: FileBackend,
    gate: G,
}

impl<G: Gate> GatedFile<G> {
    /// `file` under `gate`. Takes redb's lock on the file, as `FileBackend::new` does: a
    /// second opener of the same file fails.
    pub fn new(file: File, gate: G) -> Result<GatedFile<G>, DatabaseError> {
        Ok(GatedFile {
            file: FileBackend::new(file)?,
            gate,
        })
    }

    pub fn gate(&self) -> &G {
        &self.gate
    }
}

impl<G: Gate> StorageBackend for GatedFile<G> {
    fn len(&self) -> io::Result<u64> {
        self.file.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        self.file.read(offset, out)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.gate.set_len(&self.file, len)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.gate.sync_data(&self.file)
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.gate.write(&self.file, offset, data)
    }

    fn close(&self) -> io::Result<()> {
        self.file.close()
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.file.try_lock_range(start, end)
    }

    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.file.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.file.query_lock_range(start, end)
    }
}
