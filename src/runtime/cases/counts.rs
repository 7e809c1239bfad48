//! The per-day case counts a batch adds to the store (`Op::CountCase`): every case a hall
//! finished, on time or not (completed, and closed by its outcome: 不予受理, 撤销), and the
//! rating loop's own counts (rectifications and complaints finished, complaints received)
//! that the assessment reports read back per day, for the hall and for the window and
//! officer the rating or complaint names.
//!
//! Reads the batch's events and changes only; it never changes a case.

use crate::config::Config;
use crate::deadline::{CaseChange, CaseEvent, CaseEventBody, CaseOrigin, OutcomeKind};
use crate::store::{Batch, CaseCount, Of, Op};

pub(super) fn count_cases(
    config: &Config,
    events: &[CaseEvent],
    changes: &[CaseChange],
    batch: &mut Batch,
) {
    for e in events {
        let hall = &config.halls[e.hall];
        let (kind, origin, day, on_time) = match &e.body {
            CaseEventBody::Completed {
                case,
                on_time,
                closed_at,
            } => {
                let origin = changes
                    .iter()
                    .find(|c| c.closed && c.record.id == *case)
                    .and_then(|c| c.record.origin.as_ref());
                let day = crate::queue::business_date(hall, closed_at.at()).to_string();
                batch.ops.push(Op::CountCase {
                    hall: hall.id.clone(),
                    day: day.clone(),
                    on_time: *on_time,
                });
                let Some(origin) = origin else { continue };
                let kind = match origin {
                    CaseOrigin::Rating { .. } => CaseCount::Rectified,
                    CaseOrigin::Complaint { .. } => CaseCount::ComplaintClosed,
                };
                (kind, origin, day, *on_time)
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
                batch.ops.push(Op::CountCase {
                    hall: hall.id.clone(),
                    day,
                    on_time: outcome.on_time,
                });
                continue;
            }
            CaseEventBody::Accepted { case } => match &case.origin {
                Some(origin @ CaseOrigin::Complaint { .. }) => {
                    let day = crate::queue::business_date(hall, e.at.at()).to_string();
                    (CaseCount::ComplaintReceived, origin, day, true)
                }
                _ => continue,
            },
            _ => continue,
        };
        let (window, officer) = match origin {
            CaseOrigin::Rating {
                window, officer, ..
            } => (window.as_deref(), officer.as_deref()),
            CaseOrigin::Complaint { officer, .. } => (None, officer.as_deref()),
        };
        let keys = std::iter::once(kind.key(&hall.id))
            .chain(window.map(|w| kind.key_of(&hall.id, Of::Window(w))))
            .chain(officer.map(|o| kind.key_of(&hall.id, Of::Officer(o))));
        for key in keys {
            batch.ops.push(Op::CountCase {
                hall: key.into(),
                day: day.clone(),
                on_time,
            });
        }
    }
}
