//! A hall's record as JSON for the log: whole, or as a patch on the hall's previous record
//! (`store::HallPatch`) holding only the services and windows that changed. Each window's
//! part is reused while that window's record is unchanged, the rest written by hand (`json`).
//!
//! Why: serialising the windows (officers, absences, sign-in times, the weighted round
//! robin's credits) was 56 % of a hall record's cost (BENCHMARKS.md, "A lean request path"),
//! and a request changes one window of a hall, or none; whole hall records were then 59 % of
//! the log's bytes, written and synced on every commit (BENCHMARKS.md, "Where a commit's bytes
//! and a request's time go"). A whole record's bytes are exactly those of
//! `serde_json::to_vec(&HallRecord)`, and a patch folded onto the record before it gives the
//! new record (the tests check both). It never touches the engine or the store.

use serde_json::value::RawValue;

use super::json::Json;
use crate::queue::{HallRecord, ServiceRecord, WindowRecord};
use crate::store::{HallPatch, ListPatch};

/// One hall's windows as last encoded, in configured order, and what its last record written
/// held. The windows are compared by value, so they are right whatever happened to the engine
/// in between (a reload, a day turning).
#[derive(Default)]
pub(super) struct HallJson {
    windows: Vec<(WindowRecord, Box<RawValue>)>,
    /// The positions of the windows the last `update_windows` encoded again.
    changed: Vec<u16>,
    /// The services of the last record written, while the next may be a patch on it; `None`
    /// until a record was written and after `forget`.
    sent: Option<Vec<ServiceRecord>>,
    /// The length of the last whole record, to size the next one's buffer once.
    last_len: usize,
}

/// A hall record as the log takes it.
pub(super) enum Written {
    Whole(Vec<u8>),
    Patch(HallPatch),
}

impl HallJson {
    /// `record` (its recent calls taken out: the log carries them beside it) as a patch on
    /// the last record written, or whole when there is none to patch or the hall's services
    /// or windows are not those of that one (a config changed under a reload).
    pub(super) fn write(&mut self, record: HallRecord) -> Written {
        let patchable = self.windows.len() == record.windows.len()
            && record.windows.len() <= usize::from(u16::MAX)
            && self
                .sent
                .as_ref()
                .is_some_and(|sent| sent.len() == record.services.len())
            && record.services.len() <= usize::from(u16::MAX);
        if !patchable {
            return Written::Whole(self.encode(record));
        }
        let mut head = Json::with_capacity(128);
        head.raw("{");
        let (rest, services, windows, calls) = split(record, &mut head);
        debug_assert!(calls.is_empty(), "a patch carries no recent calls");
        self.update_windows(windows);
        head.raw(&rest.into_string());
        head.raw("}");
        let sent = self.sent.as_deref().unwrap_or_default();
        let services_changed = services
            .iter()
            .zip(sent)
            .enumerate()
            .filter(|(_, (now, was))| !same(now, was))
            .map(|(i, (now, _))| {
                let mut w = Json::with_capacity(96);
                service(&mut w, now);
                (position(i), w.into_string())
            })
            .collect();
        let windows_changed = self
            .changed
            .iter()
            .map(|&i| (i, self.windows[usize::from(i)].1.get().to_owned()))
            .collect();
        let patch = HallPatch {
            head: head.into_string(),
            services: ListPatch {
                len: position(services.len()),
                items: services_changed,
            },
            windows: ListPatch {
                len: position(self.windows.len()),
                items: windows_changed,
            },
        };
        self.sent = Some(services);
        Written::Patch(patch)
    }

    /// The next record is written whole: the last one may not be the hall's record in the
    /// store (memory was reloaded from it).
    pub(super) fn forget(&mut self) {
        self.sent = None;
    }

    /// `record` as `serde_json::to_vec` would write it: `HallRecord`'s fields in its order and
    /// with its attributes, the windows reused, the rest written by hand (`json`). A request
    /// changes one service's counters or average, or none; through serde_json the services
    /// (their keys escaped, the `f64` average) were over 40 % of encoding a hall record in the
    /// mixed load test.
    pub(super) fn encode(&mut self, record: HallRecord) -> Vec<u8> {
        let mut w = Json::with_capacity(self.last_len + 64);
        w.raw("{");
        let (rest, services, windows, recent_calls) = split(record, &mut w);
        self.update_windows(windows);
        w.raw(",\"services\":[");
        for (i, s) in services.iter().enumerate() {
            if i > 0 {
                w.raw(",");
            }
            service(&mut w, s);
        }
        w.raw("],\"windows\":[");
        for (i, (_, json)) in self.windows.iter().enumerate() {
            if i > 0 {
                w.raw(",");
            }
            w.raw(json.get());
        }
        w.raw("]");
        if !recent_calls.is_empty() {
            w.raw(",\"recent_calls\":");
            w.serde(&recent_calls);
        }
        w.raw(&rest.into_string());
        w.raw("}");
        let out = w.into_bytes();
        self.last_len = out.len();
        self.sent = Some(services);
        out
    }

    /// The windows' JSON brought up to `now`: a window encoded again only when it changed
    /// (noted in `changed`).
    fn update_windows(&mut self, now: Vec<WindowRecord>) {
        self.changed.clear();
        if self.windows.len() != now.len() {
            self.windows.clear();
        }
        for (i, w) in now.into_iter().enumerate() {
            match self.windows.get_mut(i) {
                Some((last, _)) if *last == w => continue,
                Some(slot) => {
                    let json = raw(&w);
                    *slot = (w, json);
                }
                None => {
                    let json = raw(&w);
                    self.windows.push((w, json));
                }
            }
            // Past u16's range no record is a patch (`write`), so no position is needed.
            if let Ok(at) = u16::try_from(i) {
                self.changed.push(at);
            }
        }
    }
}

/// `record` taken apart: the members before its lists written into `w` as `HallRecord`
/// orders them, the members after them (left out when empty, as its attributes say) as the
/// returned text with its leading comma, its services, windows and recent calls.
/// Destructured without `..`, so a field added to `HallRecord` fails to compile here instead
/// of going missing from the store.
fn split(
    record: HallRecord,
    w: &mut Json,
) -> (
    Json,
    Vec<ServiceRecord>,
    Vec<WindowRecord>,
    Vec<std::sync::Arc<crate::queue::CallEvent>>,
) {
    let HallRecord {
        day,
        seq,
        next_order,
        next_head,
        services,
        windows,
        recent_calls,
        hours_overrides,
        attendance,
    } = record;
    w.raw("\"day\":");
    w.serde(&day);
    w.raw(",\"seq\":");
    w.int(seq);
    w.raw(",\"next_order\":");
    w.int(next_order);
    w.raw(",\"next_head\":");
    w.int(next_head);
    let mut rest = Json::with_capacity(0);
    if !hours_overrides.is_empty() {
        rest.raw(",\"hours_overrides\":");
        rest.serde(&hours_overrides);
    }
    if !attendance.is_empty() {
        rest.raw(",\"attendance\":");
        rest.serde(&attendance);
    }
    (rest, services, windows, recent_calls)
}

fn service(w: &mut Json, s: &ServiceRecord) {
    let ServiceRecord {
        id,
        next,
        issued_today,
        avg_service_s,
    } = s;
    w.raw("{\"id\":");
    w.string(id);
    w.raw(",\"next\":");
    w.int(*next);
    w.raw(",\"issued_today\":");
    w.int(*issued_today);
    w.raw(",\"avg_service_s\":");
    w.serde(avg_service_s);
    w.raw("}");
}

/// Whether a service's record would be written with the same bytes (the average compared
/// bit for bit: `0.0` and `-0.0` are written differently).
fn same(a: &ServiceRecord, b: &ServiceRecord) -> bool {
    let ServiceRecord {
        id,
        next,
        issued_today,
        avg_service_s,
    } = a;
    *id == b.id
        && *next == b.next
        && *issued_today == b.issued_today
        && avg_service_s.to_bits() == b.avg_service_s.to_bits()
}

fn position(i: usize) -> u16 {
    u16::try_from(i).expect("a hall has fewer than 65,536 services and windows")
}

fn raw(w: &WindowRecord) -> Box<RawValue> {
    serde_json::value::to_raw_value(w).expect("records serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(json: &str) -> HallRecord {
        serde_json::from_str(json).unwrap()
    }

    const WINDOW: &str = r#"{"id":"w1","mode":"open","pause_reason":null,"officers":["u1",null],"away":[null,null],"signed_in_at":["2026-12-04T01:00:00Z",null],"current":"20261204-A001","priority_run":1,"wrr":[3,-2],"open_s":60,"open_since":"2026-12-04T01:00:00Z"}"#;

    fn hall(windows: &[&str], tail: &str) -> String {
        format!(
            r#"{{"day":"2026-12-04","seq":7,"next_order":3,"next_head":-1,"services":[{{"id":"s","next":4,"issued_today":3,"avg_service_s":312.5}}],"windows":[{}]{tail}}}"#,
            windows.join(",")
        )
    }

    #[test]
    fn the_bytes_are_those_of_the_whole_record_also_when_windows_are_reused() {
        let other = WINDOW
            .replace("\"w1\"", "\"w2\"")
            .replace("\"open\"", "\"paused\"");
        // The shards take the recent calls out before encoding; the other optional parts
        // are written when set.
        let tails = [
            "",
            r#","hours_overrides":[{"date":"2026-12-05","hours":[],"reason":"x"}]"#,
        ];
        let mut cache = HallJson::default();
        for (k, tail) in tails.iter().enumerate() {
            for windows in [
                vec![WINDOW, other.as_str()],
                vec![WINDOW, WINDOW],
                vec![WINDOW, other.as_str()],
                vec![other.as_str()],
            ] {
                let mut r = record(&hall(&windows, tail));
                if k == 1 {
                    r.attendance.push(Default::default());
                }
                let whole = serde_json::to_vec(&r).unwrap();
                assert_eq!(
                    String::from_utf8(cache.encode(r)).unwrap(),
                    String::from_utf8(whole).unwrap()
                );
            }
        }
    }

    use proptest::prelude::*;

    proptest! {
        /// Services written by hand are serde_json's: any id, counter and average (NaN and
        /// the infinities are `null` in both).
        #[test]
        fn services_are_written_as_serde_json_writes_them(
            services in proptest::collection::vec(
                (
                    prop_oneof!["[a-z0-9_-]{0,10}", "\\PC{0,6}", ".{0,4}[\"\\\\\u{0}-\u{1f}].{0,4}"],
                    any::<u32>(),
                    any::<u32>(),
                    prop_oneof![any::<f64>(), (0u32..10_000).prop_map(f64::from), Just(f64::NAN), Just(f64::INFINITY)],
                ),
                0..4,
            ),
        ) {
            let mut r = record(&hall(&[WINDOW], ""));
            r.services = services
                .into_iter()
                .map(|(id, next, issued_today, avg_service_s)| ServiceRecord {
                    id,
                    next,
                    issued_today,
                    avg_service_s,
                })
                .collect();
            let whole = String::from_utf8(serde_json::to_vec(&r).unwrap()).unwrap();
            let ours = String::from_utf8(HallJson::default().encode(r)).unwrap();
            prop_assert_eq!(ours, whole);
        }
    }

    /// A hall's record after each of `steps`: (windows by variant, each service's issued
    /// count, an override set or not). Two variants of `WINDOW` per position.
    fn step_record(windows: &[u8], issued: &[u32], overrides: bool) -> HallRecord {
        let windows: Vec<String> = windows
            .iter()
            .enumerate()
            .map(|(i, v)| {
                WINDOW
                    .replace("\"w1\"", &format!("\"w{i}\""))
                    .replace("\"priority_run\":1", &format!("\"priority_run\":{v}"))
            })
            .collect();
        let tail = if overrides {
            r#","hours_overrides":[{"date":"2026-12-05","hours":[],"reason":"x"}]"#
        } else {
            ""
        };
        let mut r = record(&hall(
            &windows.iter().map(String::as_str).collect::<Vec<_>>(),
            tail,
        ));
        r.services = issued
            .iter()
            .enumerate()
            .map(|(i, n)| ServiceRecord {
                id: format!("s{i}"),
                next: n + 1,
                issued_today: *n,
                avg_service_s: f64::from(*n) / 3.0,
            })
            .collect();
        r
    }

    proptest! {
        /// Whatever a hall goes through, the row the store folds from the records written
        /// (whole, then patches) is the hall's record: a patch never loses a change.
        #[test]
        fn patches_folded_by_the_store_give_each_record(
            steps in proptest::collection::vec(
                (
                    prop_oneof![3 => Just(3usize), 1 => 1usize..5],
                    proptest::collection::vec(0u8..3, 4),
                    prop_oneof![3 => Just(2usize), 1 => 1usize..4],
                    proptest::collection::vec(0u32..4, 3),
                    any::<bool>(),
                    proptest::bool::weighted(0.1),
                ),
                1..20,
            ),
        ) {
            use crate::store::hall_delta::HallWrite;
            let mut cache = HallJson::default();
            let mut row: Option<Vec<u8>> = None;
            for (windows, variants, services, issued, overrides, reload) in steps {
                if reload {
                    cache.forget();
                }
                let r = step_record(&variants[..windows.min(4)], &issued[..services.min(3)], overrides);
                let want = serde_json::to_value(&r).unwrap();
                let written = match cache.write(r) {
                    Written::Whole(json) => HallWrite::delta(None, &json, &[], 0).resolve("h", || Ok(None)),
                    Written::Patch(p) => {
                        prop_assert!(row.is_some());
                        let prev = row.take();
                        HallWrite::patch(None, &p, &[], 0).resolve("h", || Ok(prev))
                    }
                };
                let written = written.unwrap();
                let got: HallRecord = serde_json::from_slice(&written).unwrap();
                prop_assert_eq!(serde_json::to_value(&got).unwrap(), want);
                row = Some(written);
            }
        }
    }

    #[test]
    fn a_record_after_the_first_is_a_patch_of_what_changed() {
        let mut cache = HallJson::default();
        assert!(matches!(
            cache.write(step_record(&[0, 0, 0], &[1, 1], false)),
            Written::Whole(_)
        ));
        let Written::Patch(p) = cache.write(step_record(&[0, 2, 0], &[1, 2], false)) else {
            panic!("not a patch")
        };
        assert_eq!(p.windows.len, 3);
        assert_eq!(p.windows.items.iter().map(|i| i.0).collect::<Vec<_>>(), [1]);
        assert!(p.windows.items[0].1.contains("\"priority_run\":2"));
        assert_eq!(p.services.len, 2);
        assert_eq!(
            p.services.items.iter().map(|i| i.0).collect::<Vec<_>>(),
            [1]
        );
        assert!(!p.head.contains("services") && p.head.contains("\"seq\":7"));
        // Nothing changed: only the head.
        let Written::Patch(p) = cache.write(step_record(&[0, 2, 0], &[1, 2], false)) else {
            panic!("not a patch")
        };
        assert!(p.windows.items.is_empty() && p.services.items.is_empty());
        // Another number of windows, or a reload: whole again.
        assert!(matches!(
            cache.write(step_record(&[0, 2], &[1, 2], false)),
            Written::Whole(_)
        ));
        cache.forget();
        assert!(matches!(
            cache.write(step_record(&[0, 2], &[1, 2], false)),
            Written::Whole(_)
        ));
    }

    #[test]
    fn a_changed_window_is_encoded_again() {
        let mut cache = HallJson::default();
        let first = cache.encode(record(&hall(&[WINDOW], "")));
        let changed = WINDOW.replace("\"priority_run\":1", "\"priority_run\":2");
        let second = cache.encode(record(&hall(&[&changed], "")));
        assert_ne!(first, second);
        assert!(
            String::from_utf8(second)
                .unwrap()
                .contains("\"priority_run\":2")
        );
    }
}
