//! A hall's record as JSON, each window's part reused while that window's record is unchanged,
//! the rest written by hand (`json`).
//!
//! Why: serialising the windows (officers, absences, sign-in times, the weighted round
//! robin's credits) was 56 % of a hall record's cost (BENCHMARKS.md, "A lean request path"),
//! and a request changes one window of a hall, or none. The bytes are exactly those of
//! `serde_json::to_vec(&HallRecord)` (the tests check it), so the log, the checkpoint, readers
//! and backups see no difference. It never touches the engine or the store.

use serde_json::value::RawValue;

use super::json::Json;
use crate::queue::{HallRecord, ServiceRecord, WindowRecord};

/// One hall's windows as last encoded, in configured order. Compared by value, so it is
/// right whatever happened to the engine in between (a reload, a day turning).
#[derive(Default)]
pub(super) struct HallJson {
    windows: Vec<(WindowRecord, Box<RawValue>)>,
    /// The length of the last record, to size the next one's buffer once.
    last_len: usize,
}

impl HallJson {
    /// `record` as `serde_json::to_vec` would write it: `HallRecord`'s fields in its order and
    /// with its attributes, the windows reused, the rest written by hand (`json`). A request
    /// changes one service's counters or average, or none, but writing a service here costs
    /// less than comparing and reusing it; through serde_json the services (their keys
    /// escaped, the `f64` average) were over 40 % of encoding a hall record in the mixed load
    /// test. Destructured without `..`, so a field added to `HallRecord` fails to compile
    /// here instead of going missing from the store.
    pub(super) fn encode(&mut self, record: HallRecord) -> Vec<u8> {
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
        self.update_windows(windows);
        let mut w = Json::with_capacity(self.last_len + 64);
        w.raw("{\"day\":");
        w.serde(&day);
        w.raw(",\"seq\":");
        w.int(seq);
        w.raw(",\"next_order\":");
        w.int(next_order);
        w.raw(",\"next_head\":");
        w.int(next_head);
        w.raw(",\"services\":[");
        for (i, s) in services.iter().enumerate() {
            let ServiceRecord {
                id,
                next,
                issued_today,
                avg_service_s,
            } = s;
            if i > 0 {
                w.raw(",");
            }
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
        if !hours_overrides.is_empty() {
            w.raw(",\"hours_overrides\":");
            w.serde(&hours_overrides);
        }
        if !attendance.is_empty() {
            w.raw(",\"attendance\":");
            w.serde(&attendance);
        }
        w.raw("}");
        let out = w.into_bytes();
        self.last_len = out.len();
        out
    }
}

impl HallJson {
    /// The windows' JSON brought up to `now`: a window encoded again only when it changed.
    fn update_windows(&mut self, now: Vec<WindowRecord>) {
        if self.windows.len() != now.len() {
            self.windows.clear();
        }
        for (i, w) in now.into_iter().enumerate() {
            match self.windows.get_mut(i) {
                Some((last, _)) if *last == w => {}
                Some(slot) => {
                    let json = raw(&w);
                    *slot = (w, json);
                }
                None => {
                    let json = raw(&w);
                    self.windows.push((w, json));
                }
            }
        }
    }
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
