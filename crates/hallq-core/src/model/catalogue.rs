//! The catalogue a case is opened against: matters (事项) with their kind and limits,
//! co-handling departments, working calendars, suspension reasons and alarm ladders.

use std::sync::Arc;

use serde::Serialize;

use crate::calendar::{Calendar, Limit, SuspensionMode};

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

/// An alarm ladder: levels from the mildest to the most severe.
#[derive(Debug, Clone)]
pub struct AlarmPolicy {
    pub id: Arc<str>,
    pub levels: Vec<AlarmLevel>,
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
}

#[derive(Debug, Clone)]
pub struct Department {
    pub id: Arc<str>,
    pub name: Arc<str>,
    pub limit: Limit,
}
