//! Officers at their posts (AB岗): who is serving a window, and signing out with a stated
//! absence (去向公开). Leave (half a day or more) must be covered: the other post's officer
//! signs in first (安康: 顶岗人员到岗后，请假人员方可离开). A short absence that leaves the
//! window without an officer pauses it with the whereabouts note, so it stops calling.
//!
//! Never decides what counts as "short" (the API does, from the config) and never reads the
//! clock.

use jiff::Timestamp;

use super::engine::*;
use super::*;

impl Post {
    /// The post that covers this one.
    pub fn other(self) -> Post {
        match self {
            Post::A => Post::B,
            Post::B => Post::A,
        }
    }
}

impl HallEngine {
    /// The officer serving at window `w`: A's when signed in, else B's.
    pub(super) fn serving_officer(&self, w: usize) -> Option<String> {
        let [a, b] = &self.windows[w].officers;
        a.clone().or_else(|| b.clone())
    }

    pub(super) fn sign_out(
        &mut self,
        now: Timestamp,
        w: usize,
        post: Post,
        absence: Option<Box<Absence>>,
        out: &mut Vec<Event>,
    ) -> Result<Reply, QueueError> {
        let cover = post.other();
        let covered = self.windows[w].officers[cover.index()].is_some();
        if let Some(a) = &absence {
            if a.leave && !covered {
                return Err(QueueError::CoverAbsent {
                    window: self.cfg.windows[w].id.to_string(),
                    post,
                    cover_post: cover,
                    cover: self.cfg.windows[w].posts[cover.index()]
                        .as_deref()
                        .unwrap_or("unassigned")
                        .to_owned(),
                });
            }
            // A window left without an officer pauses, and a ticket in hand is finished first.
            if !covered && self.windows[w].mode == Mode::Open {
                self.must_be_idle(w)?;
            }
        }
        self.clock_out(now, w, post, absence.as_ref().map(|_| covered));
        if self.windows[w].officers[post.index()].take().is_some() {
            let window = self.cfg.windows[w].id.clone();
            self.emit(
                now,
                EventBody::OfficerSignedOut {
                    window,
                    post,
                    absence: absence.clone(),
                },
                out,
            );
        }
        let paused = match &absence {
            Some(a) if !covered && self.windows[w].mode == Mode::Open => {
                Some(whereabouts(a, &self.cfg.time_zone))
            }
            _ => None,
        };
        self.windows[w].away[post.index()] = absence;
        if let Some(note) = paused {
            return self.pause(now, w, note, out);
        }
        Ok(Reply::Window(self.window_view(w, now)))
    }
}

/// The note a paused window shows: 会议，14:30返回.
fn whereabouts(a: &Absence, zone: &jiff::tz::TimeZone) -> String {
    match a.back_at {
        Some(at) => format!("{}，{}返回", a.note, zone.to_datetime(at).strftime("%H:%M")),
        None => a.note.clone(),
    }
}
