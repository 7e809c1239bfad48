//! What a hall shard shows of itself: its events counted and logged, and every five seconds
//! the queue, window, booking and timer gauges of the halls it owns.
//!
//! It only reads the engines; it must never change a hall or hold up the shard's loop with
//! anything slower than a gauge update.

use super::Shard;
use crate::queue::Event;

impl Shard {
    /// Count the events in the metrics and log them (debug level: every state change, by hall,
    /// sequence and ticket; alarms at info).
    pub(super) fn observe(&self, events: &[Event]) {
        for e in events {
            let ticket = e.body.ticket_id().unwrap_or("");
            if let Some(a) = e.body.alarm() {
                tracing::info!(hall = %e.hall, seq = e.seq, ticket, alarm = %a.id, "ticket alarm");
            } else {
                tracing::debug!(hall = %e.hall, seq = e.seq, kind = e.kind(), ticket, "event");
            }
        }
        for chunk in events.chunk_by(|a, b| a.hall == b.hall) {
            if let Some(hall) = self.config.hall_index(&chunk[0].hall) {
                let local = self.local(hall);
                self.metrics[local].observe(self.halls[local].1.config(), chunk);
            }
        }
    }

    /// Queue lengths, longest waits, targets, windows per state and pending ticket timers,
    /// every five seconds.
    pub(super) fn gauges(&mut self, now: jiff::Timestamp) {
        use crate::metrics::{Combine, GaugeParts, hall_labels};
        if now.as_second() < self.next_gauges {
            return;
        }
        self.next_gauges = now.as_second() + 5;
        let mode = self.config.metric_labels;
        let mut parts = GaugeParts::default();
        for (local, (_, engine)) in self.halls.iter().enumerate() {
            let cfg = engine.config();
            let base = hall_labels(mode, cfg);
            // Every hall reports its bookings, zero when it books nothing, so a dashboard
            // reads 0 rather than "No data".
            let today = cfg.time_zone.to_datetime(now).date();
            let mut day = crate::booking::BookingDay::default();
            for d in self.booking_days(local, today, now) {
                day.add(&d);
            }
            for (status, n) in [
                ("booked", day.booked),
                ("checked_in", day.checked_in),
                ("cancelled", day.cancelled),
                ("no_show", day.no_show),
            ] {
                let mut l = base.clone();
                l.push(("status", status.to_owned()));
                parts.add(crate::metrics::BOOKINGS_TODAY, l, n as f64, Combine::Sum);
            }
            parts.add(
                crate::metrics::BOOKING_SEATS_TODAY,
                base.clone(),
                day.seats as f64,
                Combine::Sum,
            );
            let (services, windows) = engine.gauges(now);
            for (s, (waiting, longest)) in services.into_iter().enumerate() {
                let svc = &cfg.services[s];
                let mut l = base.clone();
                l.push(("service", svc.id.to_string()));
                parts.add(
                    crate::metrics::QUEUE_LENGTH,
                    l.clone(),
                    f64::from(waiting),
                    Combine::Sum,
                );
                parts.add(
                    crate::metrics::QUEUE_LONGEST_WAIT,
                    l.clone(),
                    longest as f64,
                    Combine::Max,
                );
                if let Some(target) = svc.target_wait_s {
                    parts.add(
                        crate::metrics::QUEUE_TARGET_WAIT,
                        l.clone(),
                        target as f64,
                        Combine::Max,
                    );
                    // Against this hall's own target, before tier labelling sums it.
                    let over = f64::from(u8::from(longest as i64 > target));
                    parts.add(crate::metrics::QUEUE_OVER_TARGET, l, over, Combine::Sum);
                }
            }
            for (state, n) in ["closed", "open", "calling", "serving", "paused"]
                .into_iter()
                .zip(windows)
            {
                let mut l = base.clone();
                l.push(("state", state.to_owned()));
                parts.add(crate::metrics::WINDOWS, l, f64::from(n), Combine::Sum);
            }
        }
        parts.add(
            crate::metrics::DEADLINES_PENDING,
            vec![("kind", "ticket".to_owned())],
            self.timers.len() as f64,
            Combine::Sum,
        );
        parts.publish(
            self.id,
            &[
                (crate::metrics::QUEUE_LENGTH, Combine::Sum),
                (crate::metrics::QUEUE_LONGEST_WAIT, Combine::Max),
                (crate::metrics::QUEUE_TARGET_WAIT, Combine::Max),
                (crate::metrics::QUEUE_OVER_TARGET, Combine::Sum),
                (crate::metrics::WINDOWS, Combine::Sum),
                (crate::metrics::DEADLINES_PENDING, Combine::Sum),
                (crate::metrics::BOOKINGS_TODAY, Combine::Sum),
                (crate::metrics::BOOKING_SEATS_TODAY, Combine::Sum),
            ],
        );
    }
}
