//! A hall's statistics for one business day, as counted from its tickets and windows.
//!
//! Counted per ticket's current service (a transferred ticket counts where it ended). Waits
//! are issue → first call; service times start → completion (or call → completion when the
//! officer never pressed start). Raw samples are kept, so roll-ups over many halls and days
//! compute percentiles from all of them, not from averages of averages.
//!
//! The engine's reads for the metrics live here too: the day's statistics, the gauges (per
//! service and window state) and the ratings that owe a rectification. They never change
//! the engine.

use jiff::Timestamp;

pub use super::daybook::{BadRating, DayStats, ServiceDay, WindowDay};
use super::engine::*;
use super::record::TicketRecord;
use super::{TicketStatus, WindowState};

impl HallEngine {
    /// What the hall's gauges show now: per service (waiting, seconds the longest has
    /// waited), and windows per state (closed, open, calling, serving, paused).
    pub fn gauges(&self, now: Timestamp) -> (Vec<(u32, u64)>, [u32; 5]) {
        let services = self
            .services
            .iter()
            .map(|rt| {
                let q = &rt.queue;
                let longest = q
                    .head_aging
                    .map(|((since, _), _)| since)
                    .into_iter()
                    .chain(
                        q.head_appointment
                            .and_then(|(_, t)| self.tickets[t as usize].checked_in_at)
                            .map(|c| c.as_second()),
                    )
                    .min()
                    .map_or(0, |since| (now.as_second() - since).max(0) as u64);
                (q.waiting() as u32, longest)
            })
            .collect();
        let mut windows = [0u32; 5];
        for w in 0..self.windows.len() {
            let i = match self.window_view_state(w) {
                WindowState::Closed => 0,
                WindowState::Open => 1,
                WindowState::Calling => 2,
                WindowState::Serving => 3,
                WindowState::Paused => 4,
            };
            windows[i] += 1;
        }
        (services, windows)
    }

    /// The business day's statistics so far, from its tickets and windows.
    pub fn day_stats(&self, now: Timestamp) -> super::stats::DayStats {
        use super::stats::{DayStats, ServiceDay, WindowDay};
        let mut services: Vec<ServiceDay> = self
            .cfg
            .services
            .iter()
            .map(|s| ServiceDay {
                service: s.id.to_string(),
                ..ServiceDay::default()
            })
            .collect();
        let mut windows: Vec<WindowDay> = self
            .cfg
            .windows
            .iter()
            .zip(&self.windows)
            .enumerate()
            .map(|(w, (c, rt))| {
                let (signed_in_s, absences, covered_absences) = self.window_attendance(now, w);
                WindowDay {
                    window: c.id.to_string(),
                    open_s: rt.open_seconds(now).max(0) as u64,
                    signed_in_s,
                    absences,
                    covered_absences,
                    ..WindowDay::default()
                }
            })
            .collect();
        let secs = |a: Timestamp, b: Timestamp| (b.as_second() - a.as_second()).max(0) as u32;
        for t in &self.tickets {
            let s = &mut services[t.service as usize];
            s.issued += 1;
            match t.status {
                TicketStatus::Done => s.served += 1,
                TicketStatus::NoShow => s.no_show += 1,
                TicketStatus::Cancelled => s.cancelled += 1,
                TicketStatus::Expired => s.expired += 1,
                TicketStatus::Booked | TicketStatus::Waiting | TicketStatus::Parked => s.open += 1,
                TicketStatus::Called | TicketStatus::Serving => s.in_service += 1,
            }
            let window = t.window.map(|w| &mut windows[w as usize]);
            if let Some(first) = t.first_called_at {
                s.wait_s.push(secs(t.issued_at, first));
            }
            if let Some(r) = t.evaluation {
                s.ratings[usize::from(r.clamp(1, 5)) - 1] += 1;
            }
            let Some(win) = window else { continue };
            if let Some(first) = t.first_called_at {
                win.wait_s.push(secs(t.issued_at, first));
            }
            if let Some(r) = t.evaluation {
                win.ratings[usize::from(r.clamp(1, 5)) - 1] += 1;
            }
            if t.status == TicketStatus::Done
                && let (Some(end), Some(began)) = (t.finished_at, t.started_at.or(t.called_at))
            {
                s.service_s.push(secs(began, end));
                win.service_s.push(secs(began, end));
                win.busy_s += u64::from(secs(began, end));
                win.served += 1;
            }
        }
        DayStats {
            hall: self.cfg.id.to_string(),
            day: self.day,
            services,
            windows,
            officers: self.officer_days(now),
        }
    }

    /// Today's tickets rated 1 or 2: each owes a rectification, bound to what was rated.
    pub fn bad_ratings(&self) -> Vec<BadRating> {
        self.tickets
            .iter()
            .filter_map(|t| {
                let rating = t.evaluation.filter(|e| *e <= 2)?;
                Some(BadRating {
                    ticket: self.ticket_id(t),
                    finished_at: t.finished_at.unwrap_or(t.issued_at),
                    service: self.cfg.services[t.service as usize].id.to_string(),
                    window: t
                        .window
                        .map(|w| self.cfg.windows[w as usize].id.to_string()),
                    officer: t.officer.clone(),
                    rating,
                    reasons: t.reasons.clone(),
                })
            })
            .collect()
    }
}

impl BadRating {
    /// The bad rating a stored ticket owes a rectification for, bound to the same things as
    /// `HallEngine::bad_ratings` binds it to (the record holds them as the engine does), so
    /// an offer made from the store is a replay of one made from memory.
    pub fn of_record(t: &TicketRecord) -> Option<BadRating> {
        let rating = t.evaluation.filter(|e| *e <= 2)?;
        Some(BadRating {
            ticket: t.id.clone(),
            finished_at: t.finished_at.unwrap_or(t.issued_at),
            service: t.service.clone(),
            window: t.window.clone(),
            officer: t.officer.clone(),
            rating,
            reasons: t.reasons.clone(),
        })
    }
}
