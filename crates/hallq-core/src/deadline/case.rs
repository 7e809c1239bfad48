//! One open case as the engine holds it: its record in the slab, with the suspensions,
//! extensions and joint-case links few cases have boxed aside. Plain data: never counts a
//! deadline, never raises an alarm, never reads the clock.

use jiff::Timestamp;

use super::{CaseOrigin, CaseState, ClosingRecord, Stage};
use crate::calendar::{Due, Limit};
use crate::wheel::TimerKey;

#[derive(Debug, Clone)]
pub(crate) struct SuspensionRec {
    pub reason: u16,
    pub from: Timestamp,
    pub until: Option<Timestamp>,
}

#[derive(Debug, Clone)]
pub(crate) struct ExtensionRec {
    pub amount: Limit,
    pub reason: String,
    pub approver: String,
    pub at: Timestamp,
}

/// What few cases have; boxed so the common case stays small.
#[derive(Debug, Clone, Default)]
pub(crate) struct Extra {
    /// Suspensions and extensions of the current stage.
    pub suspensions: Vec<SuspensionRec>,
    pub extensions: Vec<ExtensionRec>,
    /// A joint child's lead.
    pub lead: Option<Box<str>>,
    /// A joint lead's children, and how many are still open.
    pub children: Vec<Box<str>>,
    pub open_children: u16,
    /// The bad rating or complaint the case answers, and how it was closed.
    pub origin: Option<Box<CaseOrigin>>,
    pub closing: Option<Box<ClosingRecord>>,
    /// Obligations, outcome, delivery, 补正 notices (`obligations`, `outcome`).
    pub details: super::Details,
}

#[derive(Debug, Clone)]
pub(crate) struct Case {
    pub id: Box<str>,
    pub hall: u32,
    pub matter: u32,
    /// A joint child's department (position in the matter's departments).
    pub dept: Option<u16>,
    pub state: CaseState,
    pub stage: Stage,
    pub accepted_at: Timestamp,
    /// When the current stage started: acceptance, or forwarding to the upper hall.
    pub stage_start: Timestamp,
    /// The running deadline; `None` while the clock is stopped.
    pub due: Option<Due>,
    /// Bit `l`: level `l` of the matter's ladder has fired in the current arming.
    pub fired: u8,
    /// Times each level has fired for this case: the `n` of alarm ids.
    pub counts: [u8; 8],
    pub timer: Option<TimerKey>,
    pub closed_at: Option<Timestamp>,
    pub extra: Option<Box<Extra>>,
    /// The (hall, level) this case is counted under in `open_levels`, if it is counted.
    pub counted: Option<(u32, u8)>,
}

/// "No level fired yet" in level counts.
pub(super) const NO_LEVEL: u8 = u8::MAX;

impl Case {
    pub(super) fn extra(&self) -> &Extra {
        static EMPTY: std::sync::OnceLock<Extra> = std::sync::OnceLock::new();
        self.extra
            .as_deref()
            .unwrap_or_else(|| EMPTY.get_or_init(Extra::default))
    }

    pub(super) fn extra_mut(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Default::default)
    }
}
