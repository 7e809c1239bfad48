//! The day's record per officer (周考勤 and the officer rows of the assessment reports): time
//! signed in at a post, absences and how many of them the other post covered, and the
//! tickets the officer served with their waits, service times and ratings; and the same
//! attendance per window, kept per (officer, window) so both rows come from one record.
//!
//! Counted from the windows' sign-in clocks and the day's tickets; it never changes who is
//! signed in and never reads the clock (`now` comes in).

use jiff::Timestamp;

pub use super::daybook::{Attendance, OfficerDay};
use super::engine::*;
use super::{Post, TicketStatus};

impl HallEngine {
    /// Close the sign-in interval of `post` at window `w`, if one is open, into the officer's
    /// attendance; `absence` is `Some(covered)` when the officer left with a stated absence.
    pub(super) fn clock_out(
        &mut self,
        now: Timestamp,
        w: usize,
        post: Post,
        absence: Option<bool>,
    ) {
        let Some(officer) = self.windows[w].officers[post.index()].clone() else {
            return;
        };
        let since = self.windows[w].signed_in_at[post.index()].take();
        let window = self.cfg.windows[w].id.to_string();
        let a = self.attendance_mut(&officer, &window);
        if let Some(since) = since {
            a.signed_in_s += (now.as_second() - since.as_second()).max(0) as u64;
        }
        if let Some(covered) = absence {
            a.absences += 1;
            a.covered += u32::from(covered);
        }
    }

    fn attendance_mut(&mut self, officer: &str, window: &str) -> &mut Attendance {
        let i = match self
            .attendance
            .iter()
            .position(|a| a.officer == officer && a.window.as_deref() == Some(window))
        {
            Some(i) => i,
            None => {
                self.attendance.push(Attendance {
                    officer: officer.to_owned(),
                    window: Some(window.to_owned()),
                    ..Attendance::default()
                });
                self.attendance.len() - 1
            }
        };
        &mut self.attendance[i]
    }

    /// Every officer who signed in or served today, in first-seen order.
    pub(super) fn officer_days(&self, now: Timestamp) -> Vec<OfficerDay> {
        let mut days: Vec<OfficerDay> = Vec::new();
        for a in &self.attendance {
            let d = day(&mut days, &a.officer);
            d.signed_in_s += a.signed_in_s;
            d.absences += a.absences;
            d.covered_absences += a.covered;
        }
        fn day<'a>(days: &'a mut Vec<OfficerDay>, officer: &str) -> &'a mut OfficerDay {
            let i = match days.iter().position(|d| d.officer == officer) {
                Some(i) => i,
                None => {
                    days.push(OfficerDay {
                        officer: officer.to_owned(),
                        ..OfficerDay::default()
                    });
                    days.len() - 1
                }
            };
            &mut days[i]
        }
        for rt in &self.windows {
            for (officer, since) in rt.officers.iter().zip(&rt.signed_in_at) {
                if let (Some(officer), Some(since)) = (officer, since) {
                    day(&mut days, officer).signed_in_s +=
                        (now.as_second() - since.as_second()).max(0) as u64;
                }
            }
        }
        let secs = |a: Timestamp, b: Timestamp| (b.as_second() - a.as_second()).max(0) as u32;
        for t in &self.tickets {
            let Some(officer) = &t.officer else { continue };
            let d = day(&mut days, officer);
            if let Some(first) = t.first_called_at {
                d.wait_s.push(secs(t.issued_at, first));
            }
            if let Some(r) = t.evaluation {
                d.ratings[usize::from(r.clamp(1, 5)) - 1] += 1;
            }
            if t.status == TicketStatus::Done {
                d.served += 1;
                if let (Some(end), Some(began)) = (t.finished_at, t.started_at.or(t.called_at)) {
                    d.service_s.push(secs(began, end));
                }
            }
        }
        days
    }

    /// Window `w`'s attendance today: (seconds signed in at either post, stated absences,
    /// absences covered by the other post), the open intervals counted up to `now`.
    pub(super) fn window_attendance(&self, now: Timestamp, w: usize) -> (u64, u32, u32) {
        let id = &*self.cfg.windows[w].id;
        let (mut signed, mut absences, mut covered) = (0, 0, 0);
        for a in self
            .attendance
            .iter()
            .filter(|a| a.window.as_deref() == Some(id))
        {
            signed += a.signed_in_s;
            absences += a.absences;
            covered += a.covered;
        }
        let rt = &self.windows[w];
        for (officer, since) in rt.officers.iter().zip(&rt.signed_in_at) {
            if let (Some(_), Some(since)) = (officer, since) {
                signed += (now.as_second() - since.as_second()).max(0) as u64;
            }
        }
        (signed, absences, covered)
    }
}
