//! Reads of a period's stored figures for the assessment reports: a hall's day records and
//! its per-day case counts between two dates, each in one read transaction and one range
//! scan (a quarter over a province is thousands of days; a transaction per day was most of
//! a report's time).
//!
//! Like every read it lays the log's tail over the tables and never writes.

use std::collections::BTreeMap;

use super::batch::Op;
use super::{CASE_STATS, STATS, Store, StoreError, decode_pair};
use crate::queue::stats::DayStats;

/// Case counts by `case_stats` key (the hall's own, or one of its `CaseCount` keys): on time
/// and late, summed over the period.
pub type PeriodCounts = BTreeMap<String, (u64, u64)>;

impl Store {
    /// The stored day records of `hall` from `from` to `to` (`YYYY-MM-DD`, inclusive), by
    /// day.
    pub fn day_stats_between(
        &self,
        hall: &str,
        from: &str,
        to: &str,
    ) -> Result<BTreeMap<String, DayStats>, StoreError> {
        let (tx, tail) = self.view()?;
        let mut raw: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for row in tx.open_table(STATS)?.range((hall, from)..=(hall, to))? {
            let (k, v) = row?;
            raw.insert(k.value().1.to_owned(), v.value().to_vec());
        }
        for op in super::read::ops(&tail) {
            if let Op::PutStats { hall: h, day, json } = op
                && &**h == hall
                && (from..=to).contains(&day.as_str())
            {
                raw.insert(day.clone(), json.clone());
            }
        }
        raw.into_iter()
            .map(|(day, json)| {
                serde_json::from_slice(&json)
                    .map(|stats| (day.clone(), stats))
                    .map_err(|source| StoreError::Corrupt {
                        what: format!("stats/{hall}/{day}"),
                        source,
                    })
            })
            .collect()
    }

    /// Every case count of `hall` (its own key and its `{hall}#…` keys) from `from` to `to`
    /// (`YYYY-MM-DD`, inclusive), summed per key.
    pub fn case_counts_between(
        &self,
        hall: &str,
        from: &str,
        to: &str,
    ) -> Result<PeriodCounts, StoreError> {
        let (tx, tail) = self.view()?;
        let mut out = PeriodCounts::new();
        let mut add = |key: &str, (good, late): (u64, u64)| {
            let e = out.entry(key.to_owned()).or_default();
            e.0 += good;
            e.1 += late;
        };
        let table = tx.open_table(CASE_STATS)?;
        for row in table.range((hall, from)..=(hall, to))? {
            let (k, v) = row?;
            add(k.value().0, decode_pair(v.value()));
        }
        // `{hall}#…` sorts after `{hall}` and before `{hall}$…`; the days of each key are
        // filtered here, since a tuple range cannot bound the second part per first part.
        let (low, high) = (format!("{hall}#"), format!("{hall}$"));
        for row in table.range((low.as_str(), "")..(high.as_str(), ""))? {
            let (k, v) = row?;
            let (key, day) = k.value();
            if (from..=to).contains(&day) {
                add(key, decode_pair(v.value()));
            }
        }
        for op in super::read::ops(&tail) {
            if let Op::CountCase {
                hall: h,
                day,
                on_time,
            } = op
                && (**h == *hall || h.strip_prefix(hall).is_some_and(|r| r.starts_with('#')))
                && (from..=to).contains(&day.as_str())
            {
                add(h, if *on_time { (1, 0) } else { (0, 1) });
            }
        }
        Ok(out)
    }
}
