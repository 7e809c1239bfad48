//! The day's record per officer (周考勤 and the officer rows of the assessment reports): time
//! signed in at a post, absences and how many of them the other post covered, and the
//! tickets the officer served with their waits, service times and ratings.
//!
//! Counted from the windows' sign-in clocks and the day's tickets; it never changes who is
//! signed in and never reads the clock (`now` comes in).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::engine::*;
use super::{Post, TicketStatus};

/// An officer's attendance so far today from intervals that ended (sign-outs); the open
/// interval of an officer still signed in is in `WindowRt::signed_in_at`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attendance {
    pub officer: String,
    pub signed_in_s: u64,
    /// Sign-outs with a stated absence (去向公开), short or leave.
    pub absences: u32,
    /// Of those, the ones the other post's officer was signed in for (AB岗 covered).
    pub covered: u32,
}

/// One officer's business day, as stored in the hall's day record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OfficerDay {
    /// The name posts and sign-ins use.
    pub officer: String,
    pub signed_in_s: u64,
    pub absences: u32,
    pub covered_absences: u32,
    pub served: u32,
    /// Ratings 1..5 of the tickets the officer served.
    pub ratings: [u32; 5],
    /// Seconds from issue to first call of the tickets the officer called.
    pub wait_s: Vec<u32>,
    /// Seconds of service of the tickets the officer completed.
    pub service_s: Vec<u32>,
}

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
        let a = self.attendance_mut(&officer);
        if let Some(since) = since {
            a.signed_in_s += (now.as_second() - since.as_second()).max(0) as u64;
        }
        if let Some(covered) = absence {
            a.absences += 1;
            a.covered += u32::from(covered);
        }
    }

    fn attendance_mut(&mut self, officer: &str) -> &mut Attendance {
        let i = match self.attendance.iter().position(|a| a.officer == officer) {
            Some(i) => i,
            None => {
                self.attendance.push(Attendance {
                    officer: officer.to_owned(),
                    ..Attendance::default()
                });
                self.attendance.len() - 1
            }
        };
        &mut self.attendance[i]
    }

    /// Every officer who signed in or served today, in first-seen order.
    pub(super) fn officer_days(&self, now: Timestamp) -> Vec<OfficerDay> {
        let mut days: Vec<OfficerDay> = self
            .attendance
            .iter()
            .map(|a| OfficerDay {
                officer: a.officer.clone(),
                signed_in_s: a.signed_in_s,
                absences: a.absences,
                covered_absences: a.covered,
                ..OfficerDay::default()
            })
            .collect();
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
}
