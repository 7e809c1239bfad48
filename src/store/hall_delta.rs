//! A hall's stored record from a run of its writes: whole records (`Op::PutHall`, written by
//! earlier hallq versions and still in their logs), deltas (`Op::PutHallDelta`: the record
//! without its recent calls, and the calls made since the previous write) and patches
//! (`Op::PatchHall`: the top-level members, and the services and windows that changed, with
//! the calls made since).
//!
//! The checkpoint and the reads of the log's tail both fold a hall's writes through `HallWrite`
//! and get the same bytes applying them one by one would give. The stored row stays a whole
//! JSON record (`queue::HallRecord`), so a store checkpointed by this version reads in an older
//! one, and a backup holds whole records. This module never touches redb; the caller hands it
//! the stored row when the writes build on it.

use std::collections::HashMap;

use serde_json::value::RawValue;

use super::StoreError;
use super::batch::{HallPatch, ListPatch};

/// The writes of one hall since its stored row, folded.
#[derive(Debug)]
pub(crate) enum HallWrite<'a> {
    /// The last write was a whole record: it is the row, as written.
    Whole(&'a [u8]),
    /// The record is `core` with the recent calls `calls`.
    Delta { core: Core<'a>, calls: Calls<'a> },
}

/// A record without its recent calls.
#[derive(Debug)]
pub(crate) enum Core<'a> {
    /// As a delta wrote it.
    Given(&'a [u8]),
    /// The lists of `base` (a record written before the patches; `None`: the stored row)
    /// with the patches' items, and the last patch's top-level members.
    Patched {
        base: Option<&'a [u8]>,
        head: &'a str,
        services: ListFold<'a>,
        windows: ListFold<'a>,
    },
}

/// The patches of one list, folded: each position's last item, if any patch changed it.
#[derive(Debug)]
pub(crate) struct ListFold<'a> {
    items: Vec<Option<&'a str>>,
    /// Two patches disagreed on the list's length, or named a position past it (a damaged
    /// log): resolving fails.
    mismatch: bool,
}

/// A record's recent calls: `(base's calls ++ list)`, the last `keep`.
#[derive(Debug)]
pub(crate) struct Calls<'a> {
    /// A whole record written before, whose calls the writes continue; `None`: the stored
    /// row's.
    base: Option<&'a [u8]>,
    list: Vec<&'a str>,
    keep: usize,
}

impl<'a> HallWrite<'a> {
    /// Fold a delta (`core`, new `calls`, `keep`) onto what was written before (`before`).
    pub fn delta(
        before: Option<HallWrite<'a>>,
        core: &'a [u8],
        calls: &'a [String],
        keep: u8,
    ) -> HallWrite<'a> {
        let (_, before) = split(before);
        HallWrite::Delta {
            core: Core::Given(core),
            calls: before.push(calls, keep),
        }
    }

    /// Fold a patch (with new `calls`, `keep`) onto what was written before (`before`).
    pub fn patch(
        before: Option<HallWrite<'a>>,
        patch: &'a HallPatch,
        calls: &'a [String],
        keep: u8,
    ) -> HallWrite<'a> {
        let (core, before) = split(before);
        let core = match core {
            Some(Core::Patched {
                base,
                mut services,
                mut windows,
                ..
            }) => {
                services.add(&patch.services);
                windows.add(&patch.windows);
                Core::Patched {
                    base,
                    head: &patch.head,
                    services,
                    windows,
                }
            }
            Some(Core::Given(base)) => Core::patched(Some(base), patch),
            None => Core::patched(None, patch),
        };
        HallWrite::Delta {
            core,
            calls: before.push(calls, keep),
        }
    }

    /// The whole record. `stored` gives the hall's stored row (`None`: there is none); it is
    /// asked only when the writes build on it.
    pub fn resolve(
        &self,
        hall: &str,
        stored: impl FnOnce() -> Result<Option<Vec<u8>>, StoreError>,
    ) -> Result<Vec<u8>, StoreError> {
        let (core, calls) = match self {
            HallWrite::Whole(whole) => return Ok(whole.to_vec()),
            HallWrite::Delta { core, calls } => (core, calls),
        };
        let from_base = calls.keep.saturating_sub(calls.list.len());
        let core_on_stored = matches!(core, Core::Patched { base: None, .. });
        let stored = if core_on_stored || (from_base > 0 && calls.base.is_none()) {
            stored()?
        } else {
            None
        };
        let corrupt = |source| StoreError::Corrupt {
            what: format!("halls/{hall}"),
            source,
        };
        let mut list = match (from_base, calls.base.or(stored.as_deref())) {
            (0, _) | (_, None) => Vec::new(),
            (_, Some(base)) => calls_of(base, hall)?,
        };
        list.drain(..list.len().saturating_sub(from_base));
        let pushed = &calls.list[calls.list.len().saturating_sub(calls.keep)..];
        list.extend(pushed.iter().map(|c| (*c).to_owned()));
        let patched;
        let core = match core {
            Core::Given(core) => *core,
            Core::Patched {
                base,
                head,
                services,
                windows,
            } => {
                let base = base.or(stored.as_deref()).ok_or_else(|| {
                    corrupt(serde::de::Error::custom(
                        "a patch of the hall's record, but no record before it",
                    ))
                })?;
                patched = patch(base, head, services, windows).map_err(corrupt)?;
                &patched[..]
            }
        };
        splice(core, &list).map_err(corrupt)
    }
}

/// What `before` left: its record without the calls, if it wrote one, and its calls.
fn split(before: Option<HallWrite<'_>>) -> (Option<Core<'_>>, Calls<'_>) {
    match before {
        None => (None, Calls::stored(None)),
        Some(HallWrite::Whole(whole)) => (Some(Core::Given(whole)), Calls::stored(Some(whole))),
        Some(HallWrite::Delta { core, calls }) => (Some(core), calls),
    }
}

impl<'a> Calls<'a> {
    /// The calls of a record the writes do not show: as many as it has.
    fn stored(base: Option<&'a [u8]>) -> Calls<'a> {
        Calls {
            base,
            list: Vec::new(),
            keep: usize::MAX,
        }
    }

    /// These calls followed by `pushed`, the last `keep`.
    fn push(mut self, pushed: &'a [String], keep: u8) -> Calls<'a> {
        self.list.extend(pushed.iter().map(String::as_str));
        // ((B ++ C).last(kept) ++ P).last(keep) = (B ++ C ++ P).last(keep) as long as
        // keep ≤ kept + |P|; beyond that the first list had no more to give.
        let keep = usize::from(keep).min(self.keep.saturating_add(pushed.len()));
        let drop = self.list.len().saturating_sub(keep);
        self.list.drain(..drop);
        Calls { keep, ..self }
    }
}

impl<'a> Core<'a> {
    fn patched(base: Option<&'a [u8]>, patch: &'a HallPatch) -> Core<'a> {
        Core::Patched {
            base,
            head: &patch.head,
            services: ListFold::new(&patch.services),
            windows: ListFold::new(&patch.windows),
        }
    }
}

impl<'a> ListFold<'a> {
    fn new(patch: &'a ListPatch) -> ListFold<'a> {
        let mut fold = ListFold {
            items: vec![None; usize::from(patch.len)],
            mismatch: false,
        };
        fold.add(patch);
        fold
    }

    fn add(&mut self, patch: &'a ListPatch) {
        self.mismatch |= self.items.len() != usize::from(patch.len);
        for (at, item) in &patch.items {
            match self.items.get_mut(usize::from(*at)) {
                Some(slot) => *slot = Some(item),
                None => self.mismatch = true,
            }
        }
    }

    /// `"name":[...]`: the base's items with the patches' in their places.
    fn write(
        &self,
        name: &str,
        base: &[&RawValue],
        out: &mut Vec<u8>,
    ) -> Result<(), serde_json::Error> {
        if self.mismatch || base.len() != self.items.len() {
            return Err(serde::de::Error::custom(format!(
                "a patch of {} {name} on a record with {}",
                self.items.len(),
                base.len()
            )));
        }
        out.push(b'"');
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":[");
        for (i, (patched, was)) in self.items.iter().zip(base).enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(patched.unwrap_or(was.get()).as_bytes());
        }
        out.push(b']');
        Ok(())
    }
}

/// The record without its recent calls that patches give on `base`: the last patch's
/// top-level members, then the base's services and windows with the patches' items.
fn patch(
    base: &[u8],
    head: &str,
    services: &ListFold<'_>,
    windows: &ListFold<'_>,
) -> Result<Vec<u8>, serde_json::Error> {
    #[derive(serde::Deserialize)]
    struct Lists<'a> {
        #[serde(borrow, default)]
        services: Vec<&'a RawValue>,
        #[serde(borrow, default)]
        windows: Vec<&'a RawValue>,
    }
    let lists: Lists = serde_json::from_slice(base)?;
    let members = object_body(head.as_bytes())?;
    let mut out = Vec::with_capacity(base.len() + head.len());
    out.push(b'{');
    out.extend_from_slice(members);
    if !members.trim_ascii().is_empty() {
        out.push(b',');
    }
    services.write("services", &lists.services, &mut out)?;
    out.push(b',');
    windows.write("windows", &lists.windows, &mut out)?;
    out.push(b'}');
    Ok(out)
}

/// The row the checkpointer last wrote for each hall, so a patch or a delta's row is put
/// together without reading the stored row back. Only the writer's checkpoints fill it, and
/// it is dropped when one fails.
pub(crate) type StoredRows = HashMap<String, Vec<u8>>;

/// The recent calls of a stored record, each as JSON.
fn calls_of(row: &[u8], hall: &str) -> Result<Vec<String>, StoreError> {
    #[derive(serde::Deserialize)]
    struct Calls<'a> {
        #[serde(borrow, default)]
        recent_calls: Vec<&'a RawValue>,
    }
    let calls: Calls = serde_json::from_slice(row).map_err(|source| StoreError::Corrupt {
        what: format!("halls/{hall}"),
        source,
    })?;
    Ok(calls
        .recent_calls
        .iter()
        .map(|c| c.get().to_owned())
        .collect())
}

/// What is between the braces of `object` (a JSON object, as the shards write it).
fn object_body(object: &[u8]) -> Result<&[u8], serde_json::Error> {
    match object.trim_ascii() {
        [b'{', body @ .., b'}'] => Ok(body),
        _ => Err(serde::de::Error::custom(
            "a part of the record is not a JSON object",
        )),
    }
}

/// `core` (a JSON object without `recent_calls`, as the shards write it) with `calls` as its
/// `recent_calls`, by splicing bytes: no parse of the record on the writer's thread.
fn splice(core: &[u8], calls: &[String]) -> Result<Vec<u8>, serde_json::Error> {
    let body = match core.strip_suffix(b"}") {
        Some(body) if body.first() == Some(&b'{') => body,
        _ => {
            let e =
                serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(core).err();
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
    use serde_json::Value;

    fn calls(record: &[u8]) -> Vec<i64> {
        let v: Value = serde_json::from_slice(record).unwrap();
        v["recent_calls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["n"].as_i64().unwrap())
            .collect()
    }

    fn unasked() -> Result<Option<Vec<u8>>, StoreError> {
        panic!("the stored row was not needed")
    }

    fn row(bytes: &[u8]) -> impl FnOnce() -> Result<Option<Vec<u8>>, StoreError> {
        let bytes = bytes.to_vec();
        move || Ok(Some(bytes))
    }

    fn pushed(ns: &[i64]) -> Vec<String> {
        ns.iter().map(|n| format!("{{\"n\":{n}}}")).collect()
    }

    fn list(len: u16, items: &[(u16, &str)]) -> ListPatch {
        ListPatch {
            len,
            items: items.iter().map(|(i, s)| (*i, (*s).to_owned())).collect(),
        }
    }

    #[test]
    fn deltas_continue_the_stored_calls_and_keep_the_last_ones() {
        let stored = br#"{"day":"x","recent_calls":[{"n":1},{"n":2},{"n":3}]}"#;
        let p = pushed(&[4, 5]);
        let w = HallWrite::delta(None, br#"{"day":"y"}"#, &p, 4);
        let row1 = w.resolve("h", row(stored)).unwrap();
        assert_eq!(calls(&row1), [2, 3, 4, 5]);
        let v: Value = serde_json::from_slice(&row1).unwrap();
        assert_eq!(v["day"], "y");
        // Two deltas folded give what applying them one by one gives.
        let q = pushed(&[6]);
        let folded = HallWrite::delta(Some(w), b"{}", &q, 3);
        let one_by_one = HallWrite::delta(None, b"{}", &q, 3)
            .resolve("h", row(&row1))
            .unwrap();
        assert_eq!(folded.resolve("h", row(stored)).unwrap(), one_by_one);
        assert_eq!(calls(&one_by_one), [4, 5, 6]);
    }

    #[test]
    fn a_delta_after_a_whole_record_continues_it_and_a_full_delta_needs_nothing() {
        let whole = br#"{"recent_calls":[{"n":7}]}"#;
        let p = pushed(&[8]);
        let w = HallWrite::delta(Some(HallWrite::Whole(whole)), b"{}", &p, 2);
        assert_eq!(calls(&w.resolve("h", unasked).unwrap()), [7, 8]);
        let all = pushed(&[1, 2]);
        let w = HallWrite::delta(None, b"{}", &all, 2);
        assert_eq!(calls(&w.resolve("h", unasked).unwrap()), [1, 2]);
        // A day turned: no calls at all.
        let w = HallWrite::delta(None, b"{}", &[], 0);
        assert_eq!(calls(&w.resolve("h", unasked).unwrap()), Vec::<i64>::new());
        // A whole record is the row as written.
        let w = HallWrite::Whole(whole);
        assert_eq!(w.resolve("h", unasked).unwrap(), whole.to_vec());
    }

    #[test]
    fn a_patch_replaces_the_head_and_the_items_it_names() {
        let stored = br#"{"day":"x","seq":1,"services":[{"s":0},{"s":1}],"windows":[{"w":0}],"recent_calls":[{"n":1}],"attendance":[1]}"#;
        let p = HallPatch {
            head: r#"{"day":"y","seq":2}"#.into(),
            services: list(2, &[(1, r#"{"s":11}"#)]),
            windows: list(1, &[]),
        };
        let new = pushed(&[2]);
        let w = HallWrite::patch(None, &p, &new, 10);
        let got: Value = serde_json::from_slice(&w.resolve("h", row(stored)).unwrap()).unwrap();
        let want: Value = serde_json::from_str(
            r#"{"day":"y","seq":2,"services":[{"s":0},{"s":11}],"windows":[{"w":0}],"recent_calls":[{"n":1},{"n":2}]}"#,
        )
        .unwrap();
        // The head replaces every top-level member but the lists: `attendance` is gone.
        assert_eq!(got, want);
    }

    #[test]
    fn a_patch_that_does_not_fit_its_record_is_an_error_naming_the_hall() {
        let stored = br#"{"services":[{"s":0}],"windows":[]}"#;
        for (p, why) in [
            (
                HallPatch {
                    head: "{}".into(),
                    services: list(2, &[]),
                    windows: list(0, &[]),
                },
                "2 services on a record with 1",
            ),
            (
                HallPatch {
                    head: "{}".into(),
                    services: list(1, &[(1, "{}")]),
                    windows: list(0, &[]),
                },
                "services",
            ),
            (
                HallPatch {
                    head: "[]".into(),
                    services: list(1, &[]),
                    windows: list(0, &[]),
                },
                "not a JSON object",
            ),
        ] {
            let w = HallWrite::patch(None, &p, &[], 0);
            let e = w.resolve("city", row(stored)).unwrap_err().to_string();
            assert!(e.contains("halls/city") && e.contains(why), "{e}");
        }
        let p = HallPatch {
            head: "{}".into(),
            services: list(0, &[]),
            windows: list(0, &[]),
        };
        let e = HallWrite::patch(None, &p, &[], 0)
            .resolve("city", || Ok(None))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no record before it"), "{e}");
    }

    #[test]
    fn a_damaged_record_is_an_error_naming_the_hall() {
        let p = pushed(&[1]);
        let w = HallWrite::delta(None, b"{", &p, 1);
        let e = w.resolve("city", unasked).unwrap_err();
        assert!(e.to_string().contains("halls/city"), "{e}");
    }

    use proptest::prelude::*;

    /// A hall's write: a whole record, a delta or a patch, over 2 services and 3 windows.
    #[derive(Debug, Clone)]
    enum Write {
        Whole(Vec<u8>),
        Delta(Vec<u8>, Vec<String>, u8),
        Patch(HallPatch, Vec<String>, u8),
    }

    fn item(kind: &'static str) -> impl Strategy<Value = String> {
        (0u8..50).prop_map(move |n| format!("{{\"{kind}\":{n}}}"))
    }

    fn whole_core() -> impl Strategy<Value = String> {
        (
            0u8..9,
            proptest::collection::vec(item("s"), 2),
            proptest::collection::vec(item("w"), 3),
        )
            .prop_map(|(d, s, w)| {
                format!(
                    r#"{{"day":{d},"services":[{}],"windows":[{}]}}"#,
                    s.join(","),
                    w.join(",")
                )
            })
    }

    fn items(len: u16, kind: &'static str) -> impl Strategy<Value = ListPatch> {
        proptest::collection::btree_map(0..len, item(kind), 0..=usize::from(len)).prop_map(
            move |m| ListPatch {
                len,
                items: m.into_iter().collect(),
            },
        )
    }

    fn write() -> impl Strategy<Value = Write> {
        let calls = (0i64..1000, 0usize..12)
            .prop_map(|(from, n)| pushed(&(from..from + n as i64).collect::<Vec<_>>()));
        prop_oneof![
            (whole_core(), proptest::collection::vec(item("n"), 0..11)).prop_map(|(core, c)| {
                let core = core.strip_suffix('}').unwrap();
                Write::Whole(format!(r#"{core},"recent_calls":[{}]}}"#, c.join(",")).into_bytes())
            }),
            (whole_core(), calls.clone(), 0u8..11).prop_map(|(core, c, keep)| Write::Delta(
                core.into_bytes(),
                c,
                keep
            )),
            (
                0u8..9,
                proptest::option::of(0u8..3),
                items(2, "s"),
                items(3, "w"),
                calls,
                0u8..11
            )
                .prop_map(|(d, extra, services, windows, c, keep)| {
                    let extra = extra.map_or(String::new(), |x| format!(r#","hours":[{x}]"#));
                    let head = format!(r#"{{"day":{d}{extra}}}"#);
                    Write::Patch(
                        HallPatch {
                            head,
                            services,
                            windows,
                        },
                        c,
                        keep,
                    )
                }),
        ]
    }

    fn fold<'a>(before: Option<HallWrite<'a>>, w: &'a Write) -> HallWrite<'a> {
        match w {
            Write::Whole(json) => HallWrite::Whole(json),
            Write::Delta(core, calls, keep) => HallWrite::delta(before, core, calls, *keep),
            Write::Patch(p, calls, keep) => HallWrite::patch(before, p, calls, *keep),
        }
    }

    proptest! {
        /// Any run of writes over a stored row, folded and resolved once, gives the bytes of
        /// resolving each write on the row the one before left.
        #[test]
        fn a_folded_run_of_writes_equals_the_writes_one_by_one(
            stored in whole_core(),
            writes in proptest::collection::vec(write(), 1..12),
        ) {
            let stored = stored.into_bytes();
            let mut row = stored.clone();
            for w in &writes {
                row = fold(None, w).resolve("h", || Ok(Some(row.clone()))).unwrap();
            }
            let mut folded = None;
            for w in &writes {
                folded = Some(fold(folded, w));
            }
            let at_once = folded.unwrap().resolve("h", || Ok(Some(stored))).unwrap();
            prop_assert_eq!(String::from_utf8(at_once).unwrap(), String::from_utf8(row).unwrap());
        }
    }
}
