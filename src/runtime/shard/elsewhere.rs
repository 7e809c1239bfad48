//! Cluster mode: what a shard answers for a hall this node does not hold. Its memory of such
//! a hall is stale (it is reloaded when adopted), so a read that must agree with the log of
//! record is answered from the store, which the following (or `Cluster::catch_up`) brings
//! up to it (the day's queue figures, and the day's bookings and seats); and a replaced
//! calendar is kept for the adoption.
//!
//! It must never change the store for such a hall: nothing here is appended or committed,
//! and the day's turning it may compute on its copy is the holder's to write.

use std::sync::Arc;

use jiff::Timestamp;
use jiff::civil::Date;

use super::Shard;
use super::booking::{BookingOp, BookingReply, booking_days};
use super::request::{HallFailure, HallOp, HallReply};
use crate::booking::Book;
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
        Some(match op {
            HallOp::UseCalendar(calendar) => {
                let hall = &mut self.halls[local].1;
                hall.set_calendar(Some(calendar.clone()), now);
                Ok(HallReply::Schedule(Box::new(hall.schedule(now))))
            }
            // The day's figures as the log of record has them (`/v1/stats`, `/v1/reports`).
            HallOp::DayStats => self
                .stored_copy(local, now)
                .map(|copy| HallReply::DayStats(Box::new(copy.day_stats(now)))),
            // The bookings and seats of a day, counted from the stored bookings exactly as
            // the holder counts its own (`/v1/stats`).
            HallOp::Booking(b) => match **b {
                BookingOp::Stats { date } => self.stored_booking_days(local, date, now),
                _ => return None,
            },
            _ => return None,
        })
    }

    /// Hall `local` as its stored records have it, following the calendar this node keeps
    /// for it (a replaced one is not in the hall's records).
    fn stored_copy(&self, local: usize, now: Timestamp) -> Result<HallEngine, HallFailure> {
        let hall = &self.halls[local].1;
        let cfg = hall.config().clone();
        match self.store.load_hall(&cfg.id) {
            Ok(stored) => {
                let mut copy = restore_hall(&cfg, stored, now);
                copy.set_calendar(hall.calendar().cloned(), now);
                Ok(copy)
            }
            Err(e) => {
                tracing::error!(hall = %cfg.id, error = %e, "cannot read the hall's stored day");
                Err(OwnerError::HallReloading(cfg.id.clone()).into())
            }
        }
    }

    fn stored_booking_days(
        &self,
        local: usize,
        date: Date,
        now: Timestamp,
    ) -> Result<HallReply, HallFailure> {
        let copy = self.stored_copy(local, now)?;
        let id = copy.config().id.clone();
        let records = self.store.load_bookings(&id).map_err(|e| {
            tracing::error!(hall = %id, error = %e, "cannot read the hall's stored bookings");
            HallFailure::from(OwnerError::HallReloading(id.clone()))
        })?;
        let book = Book::restore(records);
        let index = self.halls[local].0;
        let days = booking_days(&self.config, (index, &copy), &book, date, now);
        Ok(HallReply::Booking(BookingReply::Stats(days)))
    }
}
