//! The catalogue a case is opened against: matters (事项) with their kind and limits,
//! co-handling departments, working calendars, suspension reasons and alarm ladders, and
//! `CaseCatalogue`, which holds them with the halls: all the deadline engine may see.

use std::sync::Arc;

use jiff::tz::TimeZone;
use serde::Serialize;

use super::hall::Hall;
use crate::calendar::{Calendar, Limit, SuspensionMode};
use crate::hash::FastMap;

/// The halls and the catalogue, as validated: everything a case is counted against, and
/// nothing else (no tokens, listeners or store settings). Built once; positions in these
/// lists are the indexes cases, records and the API use.
#[derive(Debug)]
pub struct CaseCatalogue {
    /// The halls in configured order; a hall's position is its index everywhere. Never empty.
    pub halls: Vec<Arc<Hall>>,
    /// Working calendars as loaded at start; the deadline engine holds the current ones
    /// (a calendar can be replaced at run time).
    pub calendars: Vec<CalendarEntry>,
    pub suspension_reasons: Vec<SuspensionReason>,
    pub alarm_policies: Vec<AlarmPolicy>,
    /// The matters catalogue; the last two entries are always the built-in complaint and
    /// rectification matters, in that order.
    pub matters: Vec<Arc<Matter>>,
    hall_index: FastMap<Arc<str>, usize>,
    matter_index: FastMap<Arc<str>, usize>,
}

impl CaseCatalogue {
    /// The catalogue of these validated parts. `matters` ends with the built-in
    /// complaint and rectification matters (`Matter::complaint`, `Matter::rectification`);
    /// `halls` is not empty.
    pub fn new(
        halls: Vec<Hall>,
        calendars: Vec<CalendarEntry>,
        suspension_reasons: Vec<SuspensionReason>,
        alarm_policies: Vec<AlarmPolicy>,
        matters: Vec<Matter>,
    ) -> CaseCatalogue {
        let halls: Vec<Arc<Hall>> = halls.into_iter().map(Arc::new).collect();
        let matters: Vec<Arc<Matter>> = matters.into_iter().map(Arc::new).collect();
        CaseCatalogue {
            hall_index: halls
                .iter()
                .enumerate()
                .map(|(i, h)| (h.id.clone(), i))
                .collect(),
            matter_index: matters
                .iter()
                .enumerate()
                .map(|(i, m)| (m.id.clone(), i))
                .collect(),
            halls,
            calendars,
            suspension_reasons,
            alarm_policies,
            matters,
        }
    }

    /// The time zone of times that belong to no hall (an alarm consumer's rewinds): the first
    /// hall's, as the config lists them (there is always one).
    pub fn home_zone(&self) -> &TimeZone {
        &self.halls[0].time_zone
    }

    /// Position of the hall with this id.
    pub fn hall_index(&self, id: &str) -> Option<usize> {
        self.hall_index.get(id).copied()
    }

    pub fn matter_index(&self, id: &str) -> Option<usize> {
        self.matter_index.get(id).copied()
    }

    pub fn calendar_index(&self, id: &str) -> Option<usize> {
        self.calendars.iter().position(|c| &*c.id == id)
    }

    pub fn suspension_index(&self, id: &str) -> Option<usize> {
        self.suspension_reasons.iter().position(|r| &*r.id == id)
    }

    /// Position of the built-in rectification matter (整改): a bad rating opens one.
    pub fn rectification_matter(&self) -> usize {
        self.matters.len() - 1
    }

    /// Position of the built-in complaint matter (投诉): `POST /v1/complaints` opens one.
    pub fn complaint_matter(&self) -> usize {
        self.matters.len() - 2
    }

    /// Whether `matter` is one of the built-in ones, which only the daemon opens.
    pub fn is_builtin_matter(&self, matter: usize) -> bool {
        matter >= self.complaint_matter()
    }

    /// Whether `hall` is `root` or lies below it in the tier tree.
    pub fn is_within(&self, hall: usize, root: usize) -> bool {
        let mut at = Some(hall);
        while let Some(h) = at {
            if h == root {
                return true;
            }
            at = self.halls[h].parent;
        }
        false
    }
}

/// A working calendar loaded from its file.
#[derive(Debug, Clone)]
pub struct CalendarEntry {
    pub id: Arc<str>,
    /// The file it was loaded from, as named in the config.
    pub file: String,
    pub calendar: Arc<Calendar>,
}

/// Why a case's clock stops, and how (补正 restarts it, special procedures pause it).
#[derive(Debug, Clone)]
pub struct SuspensionReason {
    pub id: Arc<str>,
    pub name: Arc<str>,
    pub mode: SuspensionMode,
}

impl SuspensionReason {
    /// The reasons every hall knows when the config lists none: 补正 restarts the clock
    /// (Administrative Licensing Law), special procedures pause it.
    pub fn defaults() -> Vec<SuspensionReason> {
        const DEFAULTS: &[(&str, &str, SuspensionMode)] = &[
            ("supplement", "补正材料", SuspensionMode::Restart),
            ("hearing", "听证", SuspensionMode::Pause),
            ("inspection", "检验检测", SuspensionMode::Pause),
            ("appraisal", "鉴定", SuspensionMode::Pause),
            ("expert-review", "专家评审", SuspensionMode::Pause),
            ("special", "其他特别程序", SuspensionMode::Pause),
        ];
        DEFAULTS
            .iter()
            .map(|&(id, name, mode)| SuspensionReason {
                id: Arc::from(id),
                name: Arc::from(name),
                mode,
            })
            .collect()
    }
}

/// An alarm ladder: levels from the mildest to the most severe.
#[derive(Debug, Clone)]
pub struct AlarmPolicy {
    pub id: Arc<str>,
    pub levels: Vec<AlarmLevel>,
}

impl AlarmPolicy {
    /// Levels per ladder at most: a case keeps the levels it has fired as a bitmask.
    pub const MAX_LEVELS: usize = 8;
    /// The id of the standard ladder; matters that name no ladder use it.
    pub const STANDARD: &str = "standard";

    /// The ladder used when the config defines none: yellow card with one working day left,
    /// red card at the deadline, escalation (督办) two working days overdue.
    pub fn standard() -> AlarmPolicy {
        let level = |name: &str, threshold| AlarmLevel {
            name: Arc::from(name),
            threshold,
        };
        AlarmPolicy {
            id: Arc::from(Self::STANDARD),
            levels: vec![
                level("yellow", Threshold::Remaining(Limit::WorkingDays(1))),
                level("red", Threshold::Remaining(Limit::WorkingDays(0))),
                level("escalate", Threshold::Overdue(Limit::WorkingDays(2))),
            ],
        }
    }
}

#[derive(Debug, Clone)]
pub struct AlarmLevel {
    /// e.g. yellow (黄牌预警), red (红牌), escalate (督办).
    pub name: Arc<str>,
    pub threshold: Threshold,
}

/// When a level comes due, relative to the case's deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threshold {
    /// At most this much working time remains (working days or working seconds).
    Remaining(Limit),
    /// At least this much working time has passed since the deadline.
    Overdue(Limit),
    /// This share of the limit has elapsed.
    ElapsedPercent(u32),
}

/// 即办件 / 承诺件 / 联办件 / 上报件.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseKind {
    /// Due at the close of the acceptance day.
    Instant,
    /// Due within the matter's promised limit.
    Promised,
    /// A lead case with one child per co-handling department; done when all children are.
    Joint,
    /// A forwarding stage at this hall, then the upper hall's limit.
    Escalated,
}

impl CaseKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CaseKind::Instant => "instant",
            CaseKind::Promised => "promised",
            CaseKind::Joint => "joint",
            CaseKind::Escalated => "escalated",
        }
    }
}

/// A service item (事项) of the catalogue.
#[derive(Debug)]
pub struct Matter {
    pub id: Arc<str>,
    pub name: Arc<str>,
    pub kind: CaseKind,
    /// The promised limit (0wd for instant matters; the upper hall's for escalated ones).
    pub limit: Limit,
    /// Position in `Config::calendars`; `None` means the hall's calendar.
    pub calendar: Option<usize>,
    /// Position in `Config::alarm_policies`.
    pub policy: usize,
    /// Joint matters: the co-handling departments.
    pub departments: Vec<Department>,
    /// Escalated matters: the forwarding stage's limit.
    pub stage_limit: Option<Limit>,
    /// The most a stage's approved extensions may add up to, in the limit's unit; `None`:
    /// the stage's own limit (a limit can at most be doubled).
    pub max_extension: Option<Limit>,
    /// The statutory clock for deciding acceptance (不予受理 only within it); `None`: 3wd.
    pub acceptance_limit: Option<Limit>,
    /// The delivery stage's limit (送达); `None`: 2wd.
    pub delivery_limit: Option<Limit>,
}

impl Matter {
    /// The id of the built-in rectification matter; no configured matter may take it.
    pub const RECTIFICATION: &str = "rectification";

    /// The id of the built-in complaint matter; no configured matter may take it.
    pub const COMPLAINT: &str = "complaint";

    /// The built-in complaint matter (投诉举报), due within `[rating] complaint_limit`.
    pub fn complaint(policy: usize, limit: Limit) -> Matter {
        Self::builtin(Self::COMPLAINT, "投诉处理", limit, policy)
    }

    /// The id of the built-in written-enquiry matter, unless the config defines its own.
    pub const ENQUIRY: &str = "enquiry";

    /// The built-in written-enquiry matter (书面咨询答复, 第十五条(四)): a reply within 5
    /// working days on the hall's calendar, watched by the ladder at `policy`. A config
    /// matter with the id `enquiry` replaces it (another limit, calendar or ladder).
    pub fn enquiry(policy: usize) -> Matter {
        Self::builtin(Self::ENQUIRY, "书面咨询答复", Limit::WorkingDays(5), policy)
    }

    /// A built-in matter: promised within `limit` on the hall's calendar, watched by the
    /// ladder at `policy`, one stage, no extension limit of its own.
    fn builtin(id: &str, name: &str, limit: Limit, policy: usize) -> Matter {
        Matter {
            id: Arc::from(id),
            name: Arc::from(name),
            kind: CaseKind::Promised,
            limit,
            calendar: None,
            policy,
            departments: Vec::new(),
            stage_limit: None,
            max_extension: None,
            acceptance_limit: None,
            delivery_limit: None,
        }
    }

    /// The built-in rectification matter (差评整改): a bad rating opens one, due within one
    /// working day on the hall's calendar, watched by the ladder at `policy`.
    pub fn rectification(policy: usize) -> Matter {
        Self::builtin(
            Self::RECTIFICATION,
            "差评整改",
            Limit::WorkingDays(1),
            policy,
        )
    }
}

#[derive(Debug, Clone)]
pub struct Department {
    pub id: Arc<str>,
    pub name: Arc<str>,
    pub limit: Limit,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_fit_the_rules_a_configured_catalogue_must_follow() {
        let standard = AlarmPolicy::standard();
        assert_eq!(&*standard.id, AlarmPolicy::STANDARD);
        assert!((1..=AlarmPolicy::MAX_LEVELS).contains(&standard.levels.len()));
        let reasons = SuspensionReason::defaults();
        assert_eq!(&*reasons[0].id, "supplement");
        assert_eq!(reasons[0].mode, SuspensionMode::Restart);
        assert!(reasons[1..].iter().all(|r| r.mode == SuspensionMode::Pause));
        let r = Matter::rectification(3);
        assert_eq!(
            (&*r.id, r.kind, r.limit, r.policy),
            (
                Matter::RECTIFICATION,
                CaseKind::Promised,
                Limit::WorkingDays(1),
                3
            )
        );
    }
}
