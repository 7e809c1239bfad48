//! The log's segment files in use and in reserve (`Segments`), and the writer's appender
//! (`Appender`): one `pwrite` and one `fdatasync` per group commit.
//!
//! Ownership: the writer thread alone appends (it owns the `Appender`, the segment it writes
//! and the offset); the checkpointer alone makes spares (zero-filled ahead of need) and
//! recycles the segments a durable checkpoint covers. They share only `Segments`' lists,
//! under its lock, which no one holds across I/O.

use std::collections::VecDeque;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::segment::{self, Backend, FRAME, Files, HEADER};

/// Spares the checkpointer makes ready ahead of need, so the writer does not wait for zeros
/// at a switch; recycled segments refill the reserve after that.
const PREPARED: usize = 1;
/// Spares kept of the segments a checkpoint frees; the others are deleted.
const SPARES: usize = 2;

/// The segment files of the log directory.
pub(crate) struct Segments {
    dir: PathBuf,
    files: Arc<Files>,
    /// Every ordinary segment's size; a record too big for one gets a file of its own.
    size: u64,
    lists: Mutex<Lists>,
}

#[derive(Default)]
struct Lists {
    /// Ready to be written from their start: zero-filled, or wholly below a durable
    /// checkpoint.
    spares: Vec<PathBuf>,
    /// In use, oldest first: (first lsn, path, size).
    active: VecDeque<(u64, PathBuf, u64)>,
    /// The number in the next new file's name.
    next_name: u64,
}

impl Segments {
    /// The segments in `dir` (created if missing), every one of them a spare: opening the
    /// store has checkpointed all they hold (`Store::open`).
    pub fn open(dir: PathBuf, files: Arc<Files>, size: u64) -> io::Result<Segments> {
        std::fs::create_dir_all(&dir)?;
        let mut lists = Lists::default();
        for path in segment::files(&dir)? {
            let n = path
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.parse::<u64>().ok());
            lists.next_name = lists.next_name.max(n.map_or(0, |n| n + 1));
            if std::fs::metadata(&path)?.len() == size && lists.spares.len() < SPARES {
                lists.spares.push(path);
            } else {
                std::fs::remove_file(&path)?;
            }
        }
        Ok(Segments {
            dir,
            files,
            size,
            lists: Mutex::new(lists),
        })
    }

    fn lists(&self) -> std::sync::MutexGuard<'_, Lists> {
        self.lists.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new file in the log directory, zero-filled to `size` and synced, its name durable.
    fn create(&self, size: u64) -> io::Result<PathBuf> {
        let path = {
            let mut lists = self.lists();
            lists.next_name += 1;
            self.dir.join(format!("{:010}.seg", lists.next_name - 1))
        };
        let made = segment::zero_fill(&*self.files, &path, size).and_then(|()| {
            // Records will be acknowledged from this file: its name must survive a crash.
            segment::sync_dir(&self.dir)
        });
        if let Err(e) = made {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        Ok(path)
    }

    /// The checkpointer's step ahead of need: top the spares up.
    pub fn prepare(&self) -> io::Result<()> {
        while self.lists().spares.len() < PREPARED {
            let path = self.create(self.size)?;
            self.lists().spares.push(path);
        }
        Ok(())
    }

    /// A segment for a record of `framed` bytes starting with lsn `first`, now the active
    /// one: a spare if one is ready (made now if not), or a file of its own for a record
    /// bigger than a segment.
    fn take(&self, first: u64, framed: usize) -> io::Result<(PathBuf, u64)> {
        let need = HEADER + framed as u64;
        let (path, size) = if need > self.size {
            (self.create(need)?, need)
        } else {
            let spare = self.lists().spares.pop();
            match spare {
                Some(path) => (path, self.size),
                None => (self.create(self.size)?, self.size),
            }
        };
        self.lists().active.push_back((first, path.clone(), size));
        Ok((path, size))
    }

    /// After a durable checkpoint at `lsn`: the segments wholly at or below it (all but the
    /// newest, whose successor starts at or before `lsn + 1`) become spares, or are deleted
    /// once there are enough.
    pub fn recycle(&self, lsn: u64) {
        let mut freed = Vec::new();
        {
            let mut lists = self.lists();
            while lists.active.len() > 1 && lists.active[1].0 <= lsn + 1 {
                let (_, path, size) = lists.active.pop_front().expect("two or more");
                if size == self.size && lists.spares.len() < SPARES {
                    lists.spares.push(path);
                } else {
                    freed.push(path);
                }
            }
        }
        for path in freed {
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::warn!(path = %path.display(), error = %e, "cannot delete a log segment");
            }
        }
    }
}

/// The writer's end of the log.
pub(crate) struct Appender {
    segments: Arc<Segments>,
    current: Option<Current>,
    /// The framed record being written, kept to reuse its allocation.
    buf: Vec<u8>,
}

struct Current {
    file: Backend,
    size: u64,
    /// Where the next record goes.
    at: u64,
}

impl Appender {
    pub fn new(segments: Arc<Segments>) -> Appender {
        Appender {
            segments,
            current: None,
            buf: Vec::new(),
        }
    }

    /// Append record `lsn` and make it durable: the commit. On an error the record may or
    /// may not be on the disk; the next append (of the same lsn, after a successful
    /// `trial`) writes over it.
    pub fn append(&mut self, lsn: u64, payload: &[u8]) -> io::Result<()> {
        self.buf.clear();
        segment::frame(lsn, payload, &mut self.buf);
        let fits = self
            .current
            .as_ref()
            .is_some_and(|c| c.at + self.buf.len() as u64 <= c.size);
        if !fits {
            if let Some(old) = self.current.take() {
                old.file.close()?;
            }
            let (path, size) = self.segments.take(lsn, self.buf.len())?;
            let file = (self.segments.files)(&path).map_err(io::Error::other)?;
            self.current = Some(Current {
                file,
                size,
                at: HEADER,
            });
        }
        let c = self.current.as_mut().expect("a segment");
        if c.at == HEADER {
            // The segment's first record (again, if the last try failed) names it; the
            // record's fdatasync below makes the header durable too.
            c.file.write(0, &segment::header(lsn))?;
        }
        c.file.write(c.at, &self.buf)?;
        c.file.sync_data()?;
        c.at += self.buf.len() as u64;
        Ok(())
    }

    /// After a failed append: erase what it may have left (the next frame's head, zeroed and
    /// synced), so a record that was refused can never be read back. Succeeds only when the
    /// log's disk takes writes again.
    pub fn trial(&mut self) -> io::Result<()> {
        if let Some(c) = &self.current {
            c.file.write(c.at, &[0u8; FRAME])?;
            c.file.sync_data()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use redb::StorageBackend;
    use redb::backends::FileBackend;

    use super::*;

    /// A segment file whose `fdatasync` fails on demand, after the write went through: the
    /// worst case of a failed append, a record on the disk that was refused.
    #[derive(Debug)]
    struct SyncFails(FileBackend, Arc<AtomicBool>);

    impl StorageBackend for SyncFails {
        fn len(&self) -> io::Result<u64> {
            self.0.len()
        }
        fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
            self.0.read(offset, out)
        }
        fn set_len(&self, len: u64) -> io::Result<()> {
            self.0.set_len(len)
        }
        fn sync_data(&self) -> io::Result<()> {
            if self.1.load(Ordering::SeqCst) {
                return Err(io::Error::from_raw_os_error(5));
            }
            self.0.sync_data()
        }
        fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
            self.0.write(offset, data)
        }
    }

    fn read(dir: &std::path::Path) -> Vec<(u64, Vec<u8>)> {
        let mut out = Vec::new();
        segment::read_after::<io::Error>(dir, 0, |lsn, p| {
            out.push((lsn, p.to_vec()));
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn a_refused_record_never_reads_back_and_appends_go_on_across_segments() {
        let dir = tempfile::tempdir().unwrap();
        let failing = Arc::new(AtomicBool::new(false));
        let switch = failing.clone();
        let files: Arc<Files> = Arc::new(
            move |path: &std::path::Path| -> Result<Backend, redb::DatabaseError> {
                let file = segment::open_file(path)?;
                Ok(Box::new(SyncFails(FileBackend::new(file)?, switch.clone())) as Backend)
            },
        );
        let segments = Arc::new(Segments::open(dir.path().to_owned(), files, 4096).unwrap());
        let mut log = Appender::new(segments.clone());
        log.append(1, b"one").unwrap();
        failing.store(true, Ordering::SeqCst);
        assert!(log.append(2, b"refused").is_err());
        assert!(log.trial().is_err(), "the disk still fails");
        failing.store(false, Ordering::SeqCst);
        log.trial().unwrap();
        assert_eq!(read(dir.path()), [(1, b"one".to_vec())]);
        // Records of 1,000 bytes in 4 KiB segments: 1..=4 in the first, 5..=7, then 8.
        let big = vec![7u8; 1000];
        for lsn in 2..=8 {
            log.append(lsn, &big).unwrap();
        }
        let got = read(dir.path());
        assert_eq!(
            got.iter().map(|r| r.0).collect::<Vec<_>>(),
            [1, 2, 3, 4, 5, 6, 7, 8]
        );
        assert!(got[1..].iter().all(|r| r.1 == big));
        // A checkpoint at 4 frees the first segment, a spare now with its old records still
        // inside; the log reads on from 5.
        segments.recycle(4);
        let mut after = Vec::new();
        segment::read_after::<io::Error>(dir.path(), 4, |lsn, _| {
            after.push(lsn);
            Ok(())
        })
        .unwrap();
        assert_eq!(after, [5, 6, 7, 8]);
    }
}
