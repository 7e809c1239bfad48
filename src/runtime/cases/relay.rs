//! Cluster mode: what the case engine takes on from the halls' own streams. Ticket alarms
//! (`wait_over_target`, `not_started`) go onto the supervision stream (`@alarms`), and a bad
//! rating opens its rectification case, for every hall of the province, whichever node holds
//! the hall.
//!
//! The hall's events are read from this node's event log: its own shards wrote those of the
//! halls it holds, the lease loop's following wrote the others' (the log of record, a round
//! behind at most). How far each hall's stream was taken on is a mark (`@relay/{hall}`, a
//! cursor in the alarm consumers' table, which API consumer names cannot spell) written in the
//! same batch as the alarms it published, under the case engine's lease. So a new holder of
//! the case engine, after its replay, starts exactly after what the last one published: no
//! ticket alarm is lost or published twice. A rectification's id is derived from its ticket,
//! so offering one again is a replay, never a second case.
//!
//! It must never run while this node does not hold the case engine, and never in the
//! embedded single-node mode, where the shards publish ticket alarms and open rectifications
//! themselves.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value};

use super::{CaseOp, CaseRequest};
use crate::config::Config;
use crate::deadline::{CaseCommand, CaseOrigin};
use crate::queue::stats::BadRating;
use crate::store::{ALARMS, Batch, Op, Published, Store};

/// Events of one hall taken on per pass; a longer backlog (an adoption) is taken over passes.
const PAGE: usize = 512;
/// How often the halls' event logs are looked at: a ticket alarm reaches the supervision
/// stream within this, after it reached this node's store.
const EVERY: SignedDuration = SignedDuration::from_millis(250);
/// The owner recorded with the marks (no token owns them).
const OWNER: &str = "@relay";

/// The rectification case a bad rating opens, bound to the ticket, service, window, officer,
/// rating and reasons.
pub fn rectification(config: &Config, hall: usize, bad: BadRating) -> CaseCommand {
    CaseCommand::Accept {
        id: format!("RECT-{}-{}", config.halls[hall].id, bad.ticket),
        hall,
        matter: config.rectification_matter(),
        accepted_at: bad.finished_at,
        origin: Some(Box::new(CaseOrigin::Rating {
            ticket: bad.ticket,
            service: bad.service,
            window: bad.window,
            officer: bad.officer,
            rating: bad.rating,
            reasons: bad.reasons,
        })),
        applicant: None,
        bundle: None,
    }
}

/// The mark's name for hall `id` in the consumers' table.
pub fn mark_name(id: &str) -> String {
    format!("{OWNER}/{id}")
}

#[derive(Debug, Default)]
pub(super) struct Relay {
    /// Per hall: the last event of its stream taken on, in a batch sent to the writer (so
    /// durable, or lost with it, which `reset` answers); `None`: not read from the store yet.
    marks: crate::hash::FastMap<usize, u64>,
    /// Not before this instant again.
    next: Option<Timestamp>,
}

impl Relay {
    /// Forget the marks: read them from the store again (the case engine adopted anew, or a
    /// batch of this thread lost).
    pub(super) fn reset(&mut self) {
        self.marks.clear();
        self.next = None;
    }

    /// Take on what the halls' streams gained: ticket alarms into `batch`, bad ratings as
    /// internal case commands into `pending` (applied in this same pass, so in this batch).
    pub(super) fn run(
        &mut self,
        config: &Config,
        store: &Store,
        now: Timestamp,
        pending: &mut Vec<CaseRequest>,
        batch: &mut Batch,
    ) {
        if self.next.is_some_and(|n| now < n) {
            return;
        }
        self.next = Some(now + EVERY);
        for (h, hall) in config.halls.iter().enumerate() {
            let id = &*hall.id;
            let mark = match self.marks.get(&h) {
                Some(&m) => m,
                None => match store.consumer(&mark_name(id)) {
                    Ok(m) => m.unwrap_or(0),
                    Err(e) => {
                        tracing::warn!(hall = id, error = %e, "cannot read how far the hall's events were taken on; next pass");
                        continue;
                    }
                },
            };
            let page = match store.read_events(id, mark, PAGE) {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(hall = id, error = %e, "cannot read the hall's events; next pass");
                    continue;
                }
            };
            if let Some(first) = page.first_retained
                && first > mark + 1
                && mark > 0
            {
                tracing::warn!(
                    hall = id,
                    after = mark,
                    first,
                    "events of the hall left the event log before the case engine took them on (event_retention); their ticket alarms and rectifications are not relayed"
                );
            }
            let Some(&(last, _, _)) = page.events.last() else {
                self.marks.insert(h, mark);
                continue;
            };
            let mut rated = Vec::new();
            for (_, kind, json) in &page.events {
                match kind.as_str() {
                    "wait_over_target" | "not_started" => {
                        if let Some(json) = alarm(json) {
                            batch.events.push(Published {
                                stream: Arc::from(ALARMS),
                                seq: 0,
                                kind: "alarm",
                                json,
                                hall: Some(h),
                            });
                        }
                    }
                    "completed" | "evaluated" => rated.extend(bad_rating(json)),
                    _ => {}
                }
            }
            if !rated.is_empty() {
                offer(config, store, h, &rated, pending);
            }
            batch.ops.push(Op::PutConsumer {
                name: mark_name(id),
                seq: last,
                owner: OWNER.to_owned(),
            });
            self.marks.insert(h, last);
        }
    }
}

/// The supervision stream's form of a ticket alarm, from the hall event that raised it: the
/// same fields as the embedded mode publishes (`{at, kind: "alarm", ...alarm}`).
fn alarm(event: &str) -> Option<String> {
    let mut v: Value = serde_json::from_str(event).ok()?;
    let Value::Object(alarm) = v.get_mut("alarm")?.take() else {
        return None;
    };
    let mut out = Map::new();
    out.insert("at".into(), v.get_mut("at")?.take());
    out.insert("kind".into(), Value::from("alarm"));
    out.extend(alarm);
    Some(Value::Object(out).to_string())
}

/// The ticket a `completed` or `evaluated` event rated 1 or 2.
fn bad_rating(event: &str) -> Option<String> {
    let v: Value = serde_json::from_str(event).ok()?;
    let rating = v.get("evaluation")?.as_u64()?;
    (rating <= 2).then(|| v["ticket"]["id"].as_str().map(str::to_owned))?
}

/// Offer the rectifications of the rated tickets, bound as the hall's shard binds them (from
/// the ticket's stored record). A ticket whose record is gone (its business day ended before
/// the case engine took it on) is logged.
fn offer(config: &Config, store: &Store, h: usize, rated: &[String], out: &mut Vec<CaseRequest>) {
    let id = &config.halls[h].id;
    let tickets = match store.load_hall(id) {
        Ok(stored) => stored.map(|(_, t)| t).unwrap_or_default(),
        Err(e) => {
            tracing::error!(hall = %id, error = %e, "cannot read the rated tickets; their rectifications open when the case engine is adopted next");
            return;
        }
    };
    for ticket in rated {
        let Some(bad) = tickets
            .iter()
            .find(|t| &t.id == ticket)
            .and_then(BadRating::of_record)
        else {
            tracing::warn!(hall = %id, ticket, "a bad rating's ticket is no longer stored; no rectification opened for it");
            continue;
        };
        out.push(CaseRequest {
            op: CaseOp::Apply {
                cmd: rectification(config, h, bad),
                scope: Box::new(|_| true),
            },
            idem: None,
            reply: None,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::{alarm, bad_rating};

    #[test]
    fn a_ticket_alarm_keeps_its_fields_on_the_supervision_stream() {
        let event = r#"{"seq":7,"at":"2026-12-04T08:00:00+08:00","hall":"h1","kind":"wait_over_target","ticket":{"id":"20261204-A001"},"alarm":{"id":"h1/20261204-A001/wait_over_target","level":"wait_over_target","hall":"h1"}}"#;
        let v: serde_json::Value = serde_json::from_str(&alarm(event).unwrap()).unwrap();
        assert_eq!(v["kind"], "alarm");
        assert_eq!(v["at"], "2026-12-04T08:00:00+08:00");
        assert_eq!(v["id"], "h1/20261204-A001/wait_over_target");
        assert_eq!(v["hall"], "h1");
        assert!(v.get("ticket").is_none() && v.get("seq").is_none(), "{v}");
        assert_eq!(alarm(r#"{"kind":"issued"}"#), None);
    }

    #[test]
    fn only_ratings_of_one_and_two_owe_a_rectification() {
        let e =
            |r: u8| format!(r#"{{"kind":"evaluated","evaluation":{r},"ticket":{{"id":"T1"}}}}"#);
        assert_eq!(bad_rating(&e(1)).as_deref(), Some("T1"));
        assert_eq!(bad_rating(&e(2)).as_deref(), Some("T1"));
        assert_eq!(bad_rating(&e(3)), None);
        assert_eq!(
            bad_rating(r#"{"kind":"completed","ticket":{"id":"T1"}}"#),
            None
        );
    }
}
