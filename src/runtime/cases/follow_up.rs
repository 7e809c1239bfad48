//! The citizen's follow-up (回访) attached to a rectification or complaint after it closed:
//! the closed record gets the rating and note and is stored again through the log.
//!
//! Only a closed case that answers a rating or complaint, closed with its record and without
//! a follow-up yet, takes one; it never reopens a case or changes anything else in it.

use jiff::Timestamp;

use super::{CaseReply, CaseResult, Scope, Worker};
use crate::deadline::{CaseError, ClosedCases, FollowUp};
use crate::store::{Batch, Op};

impl Worker {
    pub(super) fn follow_up(
        &mut self,
        id: String,
        follow_up: FollowUp,
        scope: &Scope,
        now: Timestamp,
        batch: &mut Batch,
    ) -> CaseResult {
        let refused = |why| -> CaseResult {
            Err(CaseError::FollowUpRefused {
                id: id.clone(),
                why,
            }
            .into())
        };
        let lookup = super::ClosedLookup {
            pending: &self.closing.records,
            store: &self.store,
        };
        let record = lookup
            .closed(&id)
            .map_err(|reason| CaseError::Unavailable {
                id: id.clone(),
                reason,
            })?;
        let Some(mut record) = record else {
            return match self.engine.find_view(&id, now, &lookup)? {
                Some(v) if self.config.hall_index(&v.hall).is_some_and(scope) => {
                    refused("it is still open; record the follow-up when completing it")
                }
                _ => Err(CaseError::UnknownCase { id }.into()),
            };
        };
        if self
            .config
            .hall_index(&record.hall)
            .is_none_or(|h| !scope(h))
        {
            return Err(CaseError::UnknownCase { id }.into());
        }
        if record.origin.is_none() {
            return refused("it answers no rating or complaint");
        }
        let Some(closing) = record.closing.as_mut() else {
            return refused("it was closed without a closing record (withdrawn)");
        };
        if closing.follow_up.is_some() {
            return refused("a follow-up is already recorded");
        }
        closing.follow_up = Some(follow_up);
        let json = crate::store::encode_case(record.clone());
        batch.ops.push(Op::CloseCase {
            id: id.clone(),
            json,
        });
        // Until this batch is durable the engine's closed lookup must see the new record; it
        // leaves with the next batch of closes known durable (batches commit in order).
        let number = self.closing.sent + 1;
        self.closing.records.insert(id.clone(), (number, record));
        let lookup = super::ClosedLookup {
            pending: &self.closing.records,
            store: &self.store,
        };
        match self.engine.find_view(&id, now, &lookup)? {
            Some(view) => Ok(CaseReply::View {
                view: Box::new(view),
                created: false,
            }),
            None => Err(CaseError::UnknownCase { id }.into()),
        }
    }
}
