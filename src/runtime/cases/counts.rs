//! The per-day case counts a batch adds to the store (`Op::CountCase`): every case a hall
//! finished, on time or not, and the rating loop's own counts (rectifications and complaints
//! finished, complaints received) that the assessment reports read back per day.
//!
//! Reads the batch's events and changes only; it never changes a case.

use crate::config::Config;
use crate::deadline::{CaseChange, CaseEvent, CaseEventBody, CaseOrigin};
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
