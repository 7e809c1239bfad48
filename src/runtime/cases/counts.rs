//! The per-day case counts a batch adds to the store (`Op::CountCase`): every case a hall
//! finished, on time or not (completed, and closed by its outcome: 不予受理, 撤销), and the rating loop's own counts (rectifications and complaints
//! finished, complaints received) that the assessment reports read back per day.
//!
//! Reads the batch's events and changes only; it never changes a case.

use crate::config::Config;
use crate::deadline::{CaseChange, CaseEvent, CaseEventBody, CaseOrigin, OutcomeKind};
use crate::store::{Batch, CaseCount, Op};

pub(super) fn count_cases(
    config: &Config,
    events: &[CaseEvent],
    changes: &[CaseChange],
    batch: &mut Batch,
) {
    for e in events {
        let hall = &config.halls[e.hall];
        let (key, at, on_time) = match &e.body {
            CaseEventBody::Completed {
                case,
                on_time,
                closed_at,
            } => {
                let kind = changes
                    .iter()
                    .find(|c| c.closed && c.record.id == *case)
                    .and_then(|c| c.record.origin.as_ref())
                    .map(|o| match o {
                        CaseOrigin::Rating { .. } => CaseCount::Rectified,
                        CaseOrigin::Complaint { .. } => CaseCount::ComplaintClosed,
                    });
                let day = crate::queue::business_date(hall, closed_at.at()).to_string();
                batch.ops.push(Op::CountCase {
                    hall: hall.id.clone(),
                    day: day.clone(),
                    on_time: *on_time,
                });
                let Some(kind) = kind else { continue };
                (kind.key(&hall.id), day, *on_time)
            }
            // 不予受理 and 撤销 close the case with their outcome (no completion follows); a
            // refusal closes when it is delivered, as a completion.
            CaseEventBody::Outcome { outcome, .. }
                if matches!(
                    outcome.result,
                    OutcomeKind::NotAccepted | OutcomeKind::Revoked
                ) =>
            {
                let day = crate::queue::business_date(hall, outcome.at.at()).to_string();
                (hall.id.to_string(), day, outcome.on_time)
            }
            CaseEventBody::Accepted { case }
                if matches!(case.origin, Some(CaseOrigin::Complaint { .. })) =>
            {
                let day = crate::queue::business_date(hall, e.at.at()).to_string();
                (CaseCount::ComplaintReceived.key(&hall.id), day, true)
            }
            _ => continue,
        };
        batch.ops.push(Op::CountCase {
            hall: key.into(),
            day: at,
            on_time,
        });
    }
}
