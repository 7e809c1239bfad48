//! Routes between halls (县事乡办, DESIGN.md "Beyond the clock"): a case accepted at one hall is
//! handed to another hall of the same tier tree (township front desk → county back office →
//! township window for delivery). Each leg has its hall, its limit (counted from the hand-over
//! on the case's calendar) and the matter's ladder, whose alarms carry the leg's hall; the
//! case belongs to its current hall, so that hall's officers see and act on it, and whoever
//! covers the tree above both sees the whole route.
//!
//! Never reads the clock, never does I/O.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::engine::*;
use super::*;
use crate::calendar::Limit;

/// One hand-over, stored as is in the case's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Leg {
    pub from_hall: String,
    pub to_hall: String,
    pub at: Timestamp,
    /// The leg's limit, e.g. `5wd`; a delivery leg keeps the delivery stage's clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LegView {
    pub from_hall: String,
    pub to_hall: String,
    pub at: LocalTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
}

impl Leg {
    pub(super) fn view(&self, local: impl Fn(Timestamp) -> LocalTime) -> LegView {
        LegView {
            from_hall: self.from_hall.clone(),
            to_hall: self.to_hall.clone(),
            at: local(self.at),
            limit: self.limit.clone(),
        }
    }
}

/// A hand-over's fields, as `CaseCommand::Hand` carries them.
pub(super) struct Handing {
    pub hall: u32,
    pub limit: Option<Limit>,
    pub at: Timestamp,
}

impl DeadlineEngine {
    fn root(&self, mut hall: usize) -> usize {
        while let Some(p) = self.catalogue.halls[hall].parent {
            hall = p;
        }
        hall
    }

    /// The limit of the current routed leg (the matter's limit if none was given).
    pub(super) fn leg_limit(&self, c: &Case) -> Limit {
        c.extra()
            .details
            .route
            .last()
            .and_then(|l| l.limit.as_deref())
            .and_then(|l| l.parse().ok())
            .unwrap_or(self.catalogue.matters[c.matter as usize].limit)
    }

    /// Hand case `id` to another hall of its tree. A case in delivery keeps its delivery
    /// clock (it is handed to the window that gives the result out); any other starts a
    /// routed leg under `limit` from `at`.
    pub(super) fn hand(
        &mut self,
        now: Timestamp,
        id: &str,
        h: Handing,
        closed: &dyn ClosedCases,
        out: &mut Vec<CaseEvent>,
    ) -> Result<u32, CaseError> {
        let idx = self.open(id, closed)?;
        let c = self.case(idx);
        let from = c.hall;
        let (from_id, to_id) = (
            self.catalogue.halls[from as usize].id.clone(),
            self.catalogue.halls[h.hall as usize].id.clone(),
        );
        if h.hall == from || self.root(h.hall as usize) != self.root(from as usize) {
            return Err(CaseError::NotInRoute {
                id: id.to_owned(),
                hall: to_id.to_string(),
            });
        }
        if c.state == CaseState::Suspended {
            return Err(CaseError::AlreadySuspended { id: id.to_owned() });
        }
        if c.stage == Stage::Acceptance {
            return Err(CaseError::NotYetAccepted { id: id.to_owned() });
        }
        if c.dept.is_some() || !c.extra().children.is_empty() {
            return Err(CaseError::JointRoute { id: id.to_owned() });
        }
        if let Some(limit) = h.limit
            && std::mem::discriminant(&limit)
                != std::mem::discriminant(&self.catalogue.matters[c.matter as usize].limit)
        {
            return Err(CaseError::RouteUnit { limit });
        }
        self.check_at(now, c, h.at)?;
        let mut tentative = c.clone();
        tentative.hall = h.hall;
        let delivery = c.stage == Stage::Delivery;
        if !delivery {
            tentative.stage = Stage::Routed;
            tentative.stage_start = h.at;
            let e = tentative.extra_mut();
            e.suspensions.clear();
            e.extensions.clear();
        }
        let leg = Leg {
            from_hall: from_id.to_string(),
            to_hall: to_id.to_string(),
            at: h.at,
            limit: (!delivery)
                .then(|| h.limit.map(|l| l.to_string()))
                .flatten(),
        };
        tentative.extra_mut().details.route.push(leg);
        let limit = (!delivery).then(|| self.leg_limit(&tentative).to_string());
        let event = CaseEventBody::Handed {
            case: id.to_owned(),
            from: from_id,
            to: to_id,
            limit,
        };
        self.change(idx, tentative, event, now, out)
    }
}
