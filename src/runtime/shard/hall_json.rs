//! A hall's record as JSON, each window's part reused while that window's record is unchanged.
//!
//! Why: serialising the windows (officers, absences, sign-in times, the weighted round
//! robin's credits) was 56 % of a hall record's cost (BENCHMARKS.md, "A lean request path"),
//! and a request changes one window of a hall, or none. The bytes are exactly those of
//! `serde_json::to_vec(&HallRecord)` (the tests check it), so the log, the checkpoint, readers
//! and backups see no difference. It never touches the engine or the store.

use serde::Serialize;
use serde_json::value::RawValue;

use crate::queue::{HallRecord, WindowRecord};

/// One hall's windows as last encoded, in configured order. Compared by value, so it is
/// right whatever happened to the engine in between (a reload, a day turning).
#[derive(Default)]
pub(super) struct HallJson {
    windows: Vec<(WindowRecord, Box<RawValue>)>,
}

/// `HallRecord`'s fields in its order and with its attributes, the windows already encoded.
/// Built by destructuring `HallRecord` without `..`, so a field added there fails to compile
/// here instead of going missing from the store.
#[derive(Serialize)]
struct Encoded<'a, S, C, O, A> {
    day: jiff::civil::Date,
    seq: u64,
    next_order: i64,
    next_head: i64,
    services: &'a [S],
    windows: &'a [&'a RawValue],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    recent_calls: &'a [C],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    hours_overrides: &'a [O],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    attendance: &'a [A],
}

impl HallJson {
    /// `record` as `serde_json::to_vec` would write it.
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
        if self.windows.len() != windows.len() {
            self.windows.clear();
        }
        for (i, w) in windows.into_iter().enumerate() {
            match self.windows.get_mut(i) {
                Some((last, _)) if *last == w => {}
                Some(slot) => *slot = (w.clone(), raw(&w)),
                None => {
                    let json = raw(&w);
                    self.windows.push((w, json));
                }
            }
        }
        let windows: Vec<&RawValue> = self.windows.iter().map(|(_, j)| &**j).collect();
        serde_json::to_vec(&Encoded {
            day,
            seq,
            next_order,
            next_head,
            services: &services,
            windows: &windows,
            recent_calls: &recent_calls,
            hours_overrides: &hours_overrides,
            attendance: &attendance,
        })
        .expect("records serialize")
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
