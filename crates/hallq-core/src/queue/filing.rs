//! Filing tickets into their service's lanes and taking them out: the placement order
//! (original, head, back), the lane a ticket ranks in at `now`, and appointments leaving
//! their lane (`reclassified`, stated once per ticket).
//!
//! Keeps a ticket's `place` and its service's lanes in step (a ticket is in exactly one lane
//! iff it is `Waiting`) and arms the wait timer on filing. Never calls a ticket and emits no
//! event but `reclassified`; never reads the clock, never does I/O.
use jiff::{SignedDuration, Timestamp};

use super::engine::*;
use super::lanes::{Lane, Place};
use super::*;
use crate::model::Placement;

impl HallEngine {
    pub(super) fn file(&mut self, idx: u32, lane: Lane, order: i64, since: Timestamp) {
        let t = &mut self.tickets[idx as usize];
        let place = Place {
            lane,
            order,
            since: since.as_second(),
            slot: t.slot.map_or(0, |s| s.as_second()),
        };
        t.status = TicketStatus::Waiting;
        t.place = Some(place);
        t.waiting_since = since;
        let service = t.service as usize;
        let alarmed = t.wait_alarmed;
        self.services[service].queue.insert(place, idx);
        self.touch(idx);
        if let Some(target) = self.cfg.services[service].target_wait_s
            && !alarmed
        {
            self.arm(
                idx,
                TimerKind::Wait,
                since + SignedDuration::from_secs(target),
            );
        }
    }

    pub(super) fn unfile(&mut self, idx: u32) {
        let t = &mut self.tickets[idx as usize];
        if let Some(p) = t.place.take() {
            self.services[t.service as usize].queue.remove(p);
            self.disarm(idx, TimerKind::Wait);
        }
    }

    pub(super) fn order_for(&mut self, placement: Placement, first_order: i64) -> i64 {
        match placement {
            Placement::Original => first_order,
            Placement::Head => {
                self.next_head += 1;
                self.next_head
            }
            Placement::Back => {
                self.next_order += 1;
                self.next_order
            }
        }
    }

    pub(super) fn fresh_order(&mut self) -> i64 {
        self.next_order += 1;
        self.next_order
    }

    /// Appointments past their grace period rank as normal tickets, filed by check-in order;
    /// each move is stated (`reclassified`).
    pub(super) fn expire_appointments(
        &mut self,
        service: usize,
        now: Timestamp,
        out: &mut Vec<Event>,
    ) {
        let grace = self.cfg.policy.appointment_grace_s;
        let limit = now.as_second() - grace;
        loop {
            let q = &self.services[service].queue;
            let Some(((slot, _), idx)) = q.head_appointment else {
                return;
            };
            if slot >= limit {
                return;
            }
            let t = &self.tickets[idx as usize];
            let (order, since) = (t.first_order, t.checked_in_at.unwrap_or(t.issued_at));
            self.unfile(idx);
            self.file(idx, Lane::Normal, order, since);
            self.reclassify(now, idx, ReclassReason::AppointmentLate, out);
        }
    }

    /// The lane a ticket arriving (or released back) at `now` ranks in: an appointment in
    /// its own lane until `grace` after its slot, unless it already left it.
    pub(super) fn lane_at(&self, idx: u32, now: Timestamp) -> Lane {
        let t = &self.tickets[idx as usize];
        match (t.class, t.slot) {
            (TicketClass::Appointment, Some(slot))
                if t.reclassified.is_none()
                    && slot.as_second() + self.cfg.policy.appointment_grace_s
                        >= now.as_second() =>
            {
                Lane::Appointment
            }
            (class, _) => lane_for(class),
        }
    }

    /// An appointment now waits in another lane than its own: record it on the ticket (so
    /// its view says so) and on the hall's stream. At most once per ticket; a no-op for
    /// other tickets.
    pub(super) fn reclassify(
        &mut self,
        now: Timestamp,
        idx: u32,
        reason: ReclassReason,
        out: &mut Vec<Event>,
    ) {
        let t = &mut self.tickets[idx as usize];
        let Some(Place { lane: to, .. }) = t.place else {
            return;
        };
        if t.class != TicketClass::Appointment
            || t.reclassified.is_some()
            || to == Lane::Appointment
        {
            return;
        }
        let change = Reclass {
            from: Lane::Appointment,
            to,
            reason,
            at: now,
        };
        t.reclassified = Some(change);
        let slot = t.slot;
        self.touch(idx);
        let ticket = self.brief(idx);
        self.emit(
            now,
            EventBody::Reclassified {
                ticket,
                from: change.from,
                to: change.to,
                reason,
                slot: slot.map(|at| self.local(at)),
                grace_s: self.cfg.policy.appointment_grace_s,
            },
            out,
        );
    }
}
