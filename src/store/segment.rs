//! The log on disk: fixed-size segment files of framed records, and reading them back.
//!
//! A segment starts with a header (magic, format, the lsn of its first record, a CRC) in its
//! first `HEADER` bytes; records follow, each framed as `length (u32 LE) | lsn (u64 LE) |
//! CRC-32C (u32 LE) of lsn, length and payload | payload` (the payload is a `log` record, with
//! its version byte). A segment is preallocated by writing zeros (so an append only
//! overwrites blocks the file system has already allocated and written, and its `fdatasync`
//! flushes data, not a journal transaction), and reused once a checkpoint covers all of it,
//! with its old records still inside.
//!
//! So reading must never trust what it finds: a segment's records are read from its first
//! one for as long as each frame is whole, its CRC matches and its lsn is the next one; the
//! first that is not ends the segment (a torn append, which was never acknowledged, or the
//! stale records of the segment's previous use, whose lsns are all lower). Segments are
//! chained by their first lsn; a gap ends the log.

use std::io;
use std::path::{Path, PathBuf};

/// Bytes at the start of a segment reserved for its header; records start here.
pub(crate) const HEADER: u64 = 512;
const MAGIC: &[u8; 8] = b"HALLQLOG";
const FORMAT: u8 = 1;
/// Bytes of a frame before its payload.
pub(crate) const FRAME: usize = 16;
/// The header's bytes actually written: magic, format, first lsn, CRC-32C of the three.
const HEADER_USED: usize = 8 + 1 + 8 + 4;

/// The storage a segment is written through: a file for the daemon; tests put it on a disk
/// that fails on demand, like the redb file (`Store::open_with_backend`).
pub(crate) type Backend = Box<dyn redb::StorageBackend>;
/// Opens (creating if needed) the segment file at a path.
pub(crate) type Files = dyn Fn(&Path) -> Result<Backend, redb::DatabaseError> + Send + Sync;

/// A segment file opened for reading and writing, created if missing, never truncated: what
/// every `Files` opens its backend over.
pub(crate) fn open_file(path: &Path) -> io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

fn crc(lsn: u64, len: u32, payload: &[u8]) -> u32 {
    let c = crc32c::crc32c(&lsn.to_le_bytes());
    let c = crc32c::crc32c_append(c, &len.to_le_bytes());
    crc32c::crc32c_append(c, payload)
}

/// Append the framed record `lsn` to `out`.
pub(crate) fn frame(lsn: u64, payload: &[u8], out: &mut Vec<u8>) {
    let len = u32::try_from(payload.len()).expect("a log record under 4 GiB");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&lsn.to_le_bytes());
    out.extend_from_slice(&crc(lsn, len, payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// A segment's header, saying its first record is `first`.
pub(crate) fn header(first: u64) -> [u8; HEADER_USED] {
    let mut h = [0u8; HEADER_USED];
    h[..8].copy_from_slice(MAGIC);
    h[8] = FORMAT;
    h[9..17].copy_from_slice(&first.to_le_bytes());
    let c = crc32c::crc32c(&h[..17]);
    h[17..].copy_from_slice(&c.to_le_bytes());
    h
}

/// The first lsn a segment's header names, if the header is whole (a spare never used has
/// none).
fn first_lsn(raw: &[u8]) -> Option<u64> {
    let h = raw.get(..HEADER_USED)?;
    if &h[..8] != MAGIC || h[8] != FORMAT {
        return None;
    }
    let c = u32::from_le_bytes(h[17..].try_into().ok()?);
    (crc32c::crc32c(&h[..17]) == c).then(|| u64::from_le_bytes(h[9..17].try_into().expect("8")))
}

/// The records of one segment's bytes, from its first, while each checks.
fn records(raw: &[u8], first: u64) -> impl Iterator<Item = (u64, &[u8])> {
    let mut at = HEADER as usize;
    let mut next = first;
    std::iter::from_fn(move || {
        let head = raw.get(at..at + FRAME)?;
        let len = u32::from_le_bytes(head[..4].try_into().ok()?);
        let lsn = u64::from_le_bytes(head[4..12].try_into().ok()?);
        let sum = u32::from_le_bytes(head[12..16].try_into().ok()?);
        if len == 0 || lsn != next {
            return None;
        }
        let payload = raw.get(at + FRAME..at + FRAME + len as usize)?;
        if crc(lsn, len, payload) != sum {
            return None;
        }
        at += FRAME + len as usize;
        next += 1;
        Some((lsn, payload))
    })
}

/// The segment files in `dir` (none if it does not exist), by name.
pub(crate) fn files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    match std::fs::read_dir(dir) {
        Ok(entries) => {
            for e in entries {
                let path = e?.path();
                if path.extension().is_some_and(|x| x == "seg") {
                    out.push(path);
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    out.sort();
    Ok(out)
}

/// Read the log in `dir` and hand every record after `after` to `each`, in lsn order, from
/// `after + 1` on without a gap. Returns the last lsn handed over (`after` if none).
pub(crate) fn read_after<E: From<io::Error>>(
    dir: &Path,
    after: u64,
    mut each: impl FnMut(u64, &[u8]) -> Result<(), E>,
) -> Result<u64, E> {
    let mut segments = Vec::new();
    for path in files(dir)? {
        let raw = std::fs::read(&path)?;
        if let Some(first) = first_lsn(&raw) {
            segments.push((first, raw));
        }
    }
    // Stable: of two segments naming the same first lsn (one activated, then the daemon
    // stopped before its first record was durable), either order reads the same records.
    segments.sort_by_key(|(first, _)| *first);
    let mut expected = after + 1;
    for (first, raw) in &segments {
        if *first > expected {
            break;
        }
        for (lsn, payload) in records(raw, *first) {
            if lsn == expected {
                each(lsn, payload)?;
                expected += 1;
            }
        }
    }
    Ok(expected - 1)
}

/// Make `path` a spare segment of `size` bytes: written with zeros, synced.
pub(crate) fn zero_fill(files: &Files, path: &Path, size: u64) -> io::Result<()> {
    let file = files(path).map_err(io::Error::other)?;
    let chunk = vec![0u8; 1 << 20];
    let mut at = 0;
    while at < size {
        let n = (size - at).min(chunk.len() as u64) as usize;
        file.write(at, &chunk[..n])?;
        at += n as u64;
    }
    file.sync_data()?;
    file.close()
}

/// Make a new directory entry durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(first: u64, records: &[(u64, &[u8])]) -> Vec<u8> {
        let mut raw = vec![0u8; 4096];
        raw[..HEADER_USED].copy_from_slice(&header(first));
        let mut body = Vec::new();
        for (lsn, payload) in records {
            frame(*lsn, payload, &mut body);
        }
        raw[HEADER as usize..HEADER as usize + body.len()].copy_from_slice(&body);
        raw
    }

    fn read(dir: &Path, after: u64) -> Vec<(u64, Vec<u8>)> {
        let mut out = Vec::new();
        read_after::<io::Error>(dir, after, |lsn, p| {
            out.push((lsn, p.to_vec()));
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn records_read_back_across_segments_and_stop_at_a_torn_one() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("1.seg"),
            segment(1, &[(1, b"a"), (2, b"b")]),
        )
        .unwrap();
        let mut second = segment(3, &[(3, b"c"), (4, b"dddd")]);
        // The last record torn: its last payload byte never reached the disk.
        let end = HEADER as usize + 2 * FRAME + 1 + 4 - 1;
        second[end] ^= 0xff;
        std::fs::write(dir.path().join("2.seg"), second).unwrap();
        let got = read(dir.path(), 0);
        assert_eq!(
            got,
            [(1, b"a".to_vec()), (2, b"b".to_vec()), (3, b"c".to_vec())]
        );
        assert_eq!(read(dir.path(), 2), [(3, b"c".to_vec())]);
    }

    #[test]
    fn a_reused_segment_never_yields_its_old_records() {
        let dir = tempfile::tempdir().unwrap();
        // The segment's previous life held 1..=3; reused from lsn 10 it holds only 10, and
        // its old records 2 and 3 follow it, whole and with good CRCs.
        let mut raw = segment(1, &[(1, b"old1"), (2, b"old2"), (3, b"old3")]);
        let mut fresh = Vec::new();
        frame(10, b"new", &mut fresh);
        let old_first = FRAME + 4;
        assert!(fresh.len() <= old_first + FRAME);
        raw[..HEADER_USED].copy_from_slice(&header(10));
        raw[HEADER as usize..HEADER as usize + fresh.len()].copy_from_slice(&fresh);
        // The stale bytes right after the new record are the tail of old record 1, then
        // old record 2 whole.
        std::fs::write(dir.path().join("a.seg"), raw).unwrap();
        assert_eq!(read(dir.path(), 9), [(10, b"new".to_vec())]);
        assert_eq!(read(dir.path(), 0), [], "lsn 1 is not there any more");
    }

    #[test]
    fn a_gap_ends_the_log_and_zeros_are_no_segment() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("1.seg"), segment(1, &[(1, b"a")])).unwrap();
        std::fs::write(dir.path().join("2.seg"), segment(3, &[(3, b"c")])).unwrap();
        std::fs::write(dir.path().join("3.seg"), vec![0u8; 4096]).unwrap();
        assert_eq!(read(dir.path(), 0), [(1, b"a".to_vec())]);
    }

    #[test]
    fn any_flipped_bit_stops_the_record() {
        let good = segment(5, &[(5, b"payload")]);
        for i in HEADER as usize..HEADER as usize + FRAME + 7 {
            for bit in 0..8 {
                let mut raw = good.clone();
                raw[i] ^= 1 << bit;
                assert_eq!(records(&raw, 5).count(), 0, "byte {i} bit {bit}");
            }
        }
        let mut raw = good.clone();
        raw[9] ^= 1;
        assert_eq!(first_lsn(&raw), None, "a damaged header names nothing");
        assert_eq!(first_lsn(&good), Some(5));
    }
}
