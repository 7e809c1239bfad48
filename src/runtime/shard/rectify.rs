//! Rectification: a rating of 1 or 2 opens a case (整改) on the case thread, once the rating
//! is durable.
//!
//! The case id is derived from the ticket, so a re-offer (the start-up reconciliation) is a
//! replay, never a second case. It must never wait for the case thread: a full case queue is
//! logged, and the case is opened at the next start.

use super::Shard;
use crate::deadline::CaseCommand;
use crate::queue::{Event, EventBody};
pub use crate::runtime::cases::rectification;
use crate::runtime::cases::{CaseOp, CaseRequest, CaseShard};
use crate::store::Batch;

impl Shard {
    /// A rating of 1 or 2 opens a rectification case (one working day on the hall's
    /// calendar), once the rating is durable. The case id is derived from the ticket, so the
    /// start-up reconciliation (for a crash in between) cannot open a second one.
    pub(super) fn rectify(&mut self, events: &[Event], batch: &mut Batch) {
        let mut opens = Vec::new();
        for e in events {
            let (ticket, rating) = match &e.body {
                EventBody::Completed {
                    ticket,
                    evaluation: Some(r),
                    ..
                } => (ticket, *r),
                EventBody::Evaluated {
                    ticket, evaluation, ..
                } => (ticket, *evaluation),
                _ => continue,
            };
            if rating > 2 {
                continue;
            }
            let Some(hall) = self.config.hall_index(&e.hall) else {
                continue;
            };
            // The bindings and the acceptance time come from the same place as the start-up
            // re-offer's, so a re-offer is a replay of this acceptance, never a conflict with
            // it. The ticket is there: it was rated in this pass, after any turn of the day.
            let Some(bad) = self.halls[self.local(hall)]
                .1
                .bad_ratings()
                .into_iter()
                .find(|b| b.ticket == ticket.id)
            else {
                continue;
            };
            opens.push(rectification(&self.config, hall, bad));
        }
        if opens.is_empty() {
            return;
        }
        let cases = self.cases.clone();
        batch.done.push(Box::new(move |r| {
            if r.is_ok() {
                for cmd in opens {
                    open_case(&cases, cmd);
                }
            }
        }));
    }
}

/// Hand a case command to the case shard without waiting for it.
pub fn open_case(cases: &CaseShard, cmd: CaseCommand) {
    let req = CaseRequest {
        op: CaseOp::Apply {
            cmd,
            scope: Box::new(|_| true),
        },
        idem: None,
        reply: None,
    };
    if cases.try_send(req).is_err() {
        tracing::error!(
            "the case queue is full; a rectification case was not opened (it is at the next start)"
        );
    }
}
