//! The officers roster (name, staff number, photo: the counter's 公示牌) and the rating loop's
//! settings (how long a citizen may rate, what counts as a short absence, the complaint
//! limit). Validated in `validate::officers`; never read from disk after start-up.

use std::sync::Arc;

use crate::calendar::Limit;

/// An officer as the 公示牌 shows them.
#[derive(Debug, Clone)]
pub struct Officer {
    /// Staff number (工号), unique.
    pub staff_no: Arc<str>,
    /// The name posts and sign-ins use, unique.
    pub name: Arc<str>,
    /// The photo's bytes and content type, read at start-up (so a page never waits on a disk).
    pub photo: Option<Photo>,
}

#[derive(Debug, Clone)]
pub struct Photo {
    pub content_type: &'static str,
    pub bytes: Arc<[u8]>,
}

/// `[rating]`: the citizen's rating and the officers' absences.
#[derive(Debug, Clone)]
pub struct RatingPolicy {
    /// A ticket can be rated this long after completion.
    pub window_s: i64,
    /// Absences shorter than this pause the window; longer ones are leave, covered by the
    /// other post (default half a day, 4 hours).
    pub short_absence_s: i64,
    /// The limit of a complaint case (投诉), default 5 working days.
    pub complaint_limit: Limit,
    /// The reason tags the rating pages offer; any tag from this list is accepted.
    pub reasons: Vec<Arc<str>>,
}

impl Default for RatingPolicy {
    fn default() -> Self {
        RatingPolicy {
            window_s: 24 * 3600,
            short_absence_s: 4 * 3600,
            complaint_limit: Limit::WorkingDays(5),
            reasons: [
                "态度不好",
                "等待太久",
                "业务不熟",
                "一次没办成",
                "服务热情",
                "办事高效",
            ]
            .into_iter()
            .map(Arc::from)
            .collect(),
        }
    }
}

impl super::Config {
    /// The roster entry for a name or staff number.
    pub fn officer(&self, who: &str) -> Option<&Officer> {
        self.officers
            .iter()
            .find(|o| &*o.name == who || &*o.staff_no == who)
    }
}
