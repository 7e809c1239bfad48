//! A hall's stored record from a run of its writes: whole records (`Op::PutHall`, written by
//! earlier hallq versions and still in their logs) and deltas (`Op::PutHallDelta`: the record
//! without its recent calls, and the calls made since the previous write).
//!
//! The checkpoint and the reads of the log's tail both fold a hall's writes through `HallWrite`
//! and get the same bytes applying them one by one would give. The stored row stays a whole
//! JSON record (`queue::HallRecord`), so a store checkpointed by this version reads in an older
//! one, and a backup holds whole records. This module never touches redb; the caller hands it
//! the stored row when the writes do not replace every recent call.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::StoreError;

/// The writes of one hall since its stored row, folded.
#[derive(Debug)]
pub(crate) enum HallWrite<'a> {
    /// The last write was a whole record: it is the row, as written.
    Whole(&'a [u8]),
    /// The record is `core` with recent calls `(base's calls ++ calls)`, the last `keep`.
    Delta {
        core: &'a [u8],
        /// A whole record written before the deltas, whose calls they continue; `None`: the
        /// stored row's.
        base: Option<&'a [u8]>,
        calls: Vec<&'a str>,
        keep: usize,
    },
}

impl<'a> HallWrite<'a> {
    /// Fold a delta (`core`, new `calls`, `keep`) onto what was written before (`before`).
    pub fn delta(
        before: Option<HallWrite<'a>>,
        core: &'a [u8],
        calls: &'a [String],
        keep: u8,
    ) -> HallWrite<'a> {
        let pushed = calls.iter().map(String::as_str);
        let keep = usize::from(keep);
        match before {
            None => HallWrite::Delta {
                core,
                base: None,
                calls: pushed.collect(),
                keep,
            },
            Some(HallWrite::Whole(whole)) => HallWrite::Delta {
                core,
                base: Some(whole),
                calls: pushed.collect(),
                keep,
            },
            Some(HallWrite::Delta {
                base,
                calls: mut all,
                keep: kept,
                ..
            }) => {
                all.extend(pushed);
                // ((B ++ C).last(kept) ++ P).last(keep) = (B ++ C ++ P).last(keep) as long as
                // keep ≤ kept + |P|; beyond that the first list had no more to give.
                let keep = keep.min(kept + calls.len());
                let drop = all.len().saturating_sub(keep);
                all.drain(..drop);
                HallWrite::Delta {
                    core,
                    base,
                    calls: all,
                    keep,
                }
            }
        }
    }

    /// The whole record, and its recent calls when the writes determined them (`None` for a
    /// whole record, which is not looked into). `stored` gives the calls of the hall's stored
    /// row; it is asked only when the writes keep some of them.
    pub fn resolve(
        &self,
        hall: &str,
        stored: impl FnOnce() -> Result<Vec<String>, StoreError>,
    ) -> Result<(Vec<u8>, Option<Vec<String>>), StoreError> {
        let (core, base, calls, keep) = match self {
            HallWrite::Whole(whole) => return Ok((whole.to_vec(), None)),
            HallWrite::Delta {
                core,
                base,
                calls,
                keep,
            } => (core, base, calls, *keep),
        };
        let from_base = keep.saturating_sub(calls.len());
        let mut list = match (from_base, base) {
            (0, _) => Vec::new(),
            (_, Some(base)) => calls_of(base, hall)?,
            (_, None) => stored()?,
        };
        list.drain(..list.len().saturating_sub(from_base));
        let pushed = &calls[calls.len().saturating_sub(keep)..];
        list.extend(pushed.iter().map(|c| (*c).to_owned()));
        let row = splice(core, &list).map_err(|source| StoreError::Corrupt {
            what: format!("halls/{hall}"),
            source,
        })?;
        Ok((row, Some(list)))
    }
}

/// The recent calls of each hall's stored row, each a call as JSON, as the checkpointer last
/// wrote them: a delta's row is then put together without reading the stored row back. Only
/// the writer's checkpoints fill it, and it is dropped when one fails.
pub(crate) type StoredCalls = HashMap<String, Vec<String>>;

/// The recent calls of a stored record, each as JSON.
pub(crate) fn calls_of(row: &[u8], hall: &str) -> Result<Vec<String>, StoreError> {
    #[derive(serde::Deserialize)]
    struct Calls {
        #[serde(default)]
        recent_calls: Vec<Value>,
    }
    let calls: Calls = serde_json::from_slice(row).map_err(|source| StoreError::Corrupt {
        what: format!("halls/{hall}"),
        source,
    })?;
    Ok(calls.recent_calls.iter().map(Value::to_string).collect())
}

/// `core` (a JSON object without `recent_calls`, as the shards write it) with `calls` as its
/// `recent_calls`, by splicing bytes: no parse of the record on the writer's thread.
fn splice(core: &[u8], calls: &[String]) -> Result<Vec<u8>, serde_json::Error> {
    let body = match core.strip_suffix(b"}") {
        Some(body) if body.first() == Some(&b'{') => body,
        _ => {
            let e = serde_json::from_slice::<Map<String, Value>>(core).err();
            return Err(e.unwrap_or_else(|| {
                serde::de::Error::custom("the record does not end with its closing brace")
            }));
        }
    };
    let size = core.len() + 20 + calls.iter().map(|c| c.len() + 1).sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(body);
    if body.trim_ascii_end() != b"{" {
        out.push(b',');
    }
    out.extend_from_slice(br#""recent_calls":["#);
    for (i, call) in calls.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(call.as_bytes());
    }
    out.extend_from_slice(b"]}");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calls(record: &[u8]) -> Vec<i64> {
        let v: Value = serde_json::from_slice(record).unwrap();
        v["recent_calls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["n"].as_i64().unwrap())
            .collect()
    }

    fn unasked() -> Result<Vec<String>, StoreError> {
        panic!("the stored calls were not needed")
    }

    fn pushed(ns: &[i64]) -> Vec<String> {
        ns.iter().map(|n| format!("{{\"n\":{n}}}")).collect()
    }

    #[test]
    fn deltas_continue_the_stored_calls_and_keep_the_last_ones() {
        let stored = br#"{"day":"x","recent_calls":[{"n":1},{"n":2},{"n":3}]}"#;
        let p = pushed(&[4, 5]);
        let w = HallWrite::delta(None, br#"{"day":"y"}"#, &p, 4);
        let row = w.resolve("h", || calls_of(stored, "h")).unwrap().0;
        assert_eq!(calls(&row), [2, 3, 4, 5]);
        let v: Value = serde_json::from_slice(&row).unwrap();
        assert_eq!(v["day"], "y");
        // Two deltas folded give what applying them one by one gives.
        let q = pushed(&[6]);
        let folded = HallWrite::delta(Some(w), b"{}", &q, 3);
        let one_by_one = HallWrite::delta(None, b"{}", &q, 3)
            .resolve("h", || calls_of(&row, "h"))
            .unwrap();
        assert_eq!(
            folded.resolve("h", || calls_of(stored, "h")).unwrap(),
            one_by_one
        );
        let one_by_one = one_by_one.0;
        assert_eq!(calls(&one_by_one), [4, 5, 6]);
    }

    #[test]
    fn a_delta_after_a_whole_record_continues_it_and_a_full_delta_needs_nothing() {
        let whole = br#"{"recent_calls":[{"n":7}]}"#;
        let p = pushed(&[8]);
        let w = HallWrite::delta(Some(HallWrite::Whole(whole)), b"{}", &p, 2);
        assert_eq!(calls(&w.resolve("h", unasked).unwrap().0), [7, 8]);
        let all = pushed(&[1, 2]);
        let w = HallWrite::delta(None, b"{}", &all, 2);
        let (row, list) = w.resolve("h", unasked).unwrap();
        assert_eq!(calls(&row), [1, 2]);
        assert_eq!(list.unwrap(), all);
        // A day turned: no calls at all.
        let w = HallWrite::delta(None, b"{}", &[], 0);
        assert_eq!(
            calls(&w.resolve("h", unasked).unwrap().0),
            Vec::<i64>::new()
        );
        // A whole record is the row as written.
        let w = HallWrite::Whole(whole);
        assert_eq!(w.resolve("h", unasked).unwrap(), (whole.to_vec(), None));
    }

    #[test]
    fn a_damaged_record_is_an_error_naming_the_hall() {
        let p = pushed(&[1]);
        let w = HallWrite::delta(None, b"{", &p, 1);
        let e = w.resolve("city", unasked).unwrap_err();
        assert!(e.to_string().contains("halls/city"), "{e}");
    }
}
