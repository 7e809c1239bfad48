//! Cluster mode: what a shard answers for a hall this node does not hold. Its memory of such
//! a hall is stale (it is reloaded when adopted), so a read that must agree with the log of
//! record is answered from the store, which the following (or `Cluster::catch_up`) brings
//! up to it; and a replaced calendar is kept for the adoption.
//!
//! It must never change the store for such a hall: nothing here is appended or committed,
//! and the day's turning it may compute on its copy is the holder's to write.

use std::sync::Arc;

use jiff::Timestamp;

use super::Shard;
use super::request::{HallFailure, HallOp, HallReply};
use crate::queue::{HallEngine, HallRecord, TicketRecord};
use crate::runtime::OwnerError;

/// A hall's engine from its stored records (a new day when there are none), warnings logged.
pub(super) fn restore_hall(
    cfg: &Arc<crate::model::Hall>,
    stored: Option<(HallRecord, Vec<TicketRecord>)>,
    now: Timestamp,
) -> HallEngine {
    match stored {
        Some((record, tickets)) => {
            let (engine, warnings) = HallEngine::restore(cfg.clone(), now, record, tickets);
            for w in warnings {
                tracing::warn!(hall = %cfg.id, "{w}");
            }
            engine
        }
        None => HallEngine::new(cfg.clone(), now),
    }
}

impl Shard {
    /// The answer for hall `local`, which this node does not hold, if it is one of the ops a
    /// node answers for any hall: `None` for the others (refused as not held).
    pub(super) fn elsewhere(
        &mut self,
        local: usize,
        op: &HallOp,
        now: Timestamp,
    ) -> Option<Result<HallReply, HallFailure>> {
        let hall = &mut self.halls[local].1;
        Some(match op {
            HallOp::UseCalendar(calendar) => {
                hall.set_calendar(Some(calendar.clone()), now);
                Ok(HallReply::Schedule(Box::new(hall.schedule(now))))
            }
            // The day's figures as the log of record has them (`/v1/stats`, `/v1/reports`).
            HallOp::DayStats => {
                let cfg = hall.config().clone();
                match self.store.load_hall(&cfg.id) {
                    Ok(stored) => {
                        let mut copy = restore_hall(&cfg, stored, now);
                        copy.set_calendar(hall.calendar().cloned(), now);
                        Ok(HallReply::DayStats(Box::new(copy.day_stats(now))))
                    }
                    Err(e) => {
                        tracing::error!(hall = %cfg.id, error = %e, "cannot read the hall's stored day");
                        Err(OwnerError::HallReloading(cfg.id.clone()).into())
                    }
                }
            }
            _ => return None,
        })
    }
}
