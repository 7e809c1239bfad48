//! The waiting lanes of one service.
//!
//! A waiting ticket sits in exactly one lane: `normal` and `priority` are ordered by placement
//! key (`order`), `appointment` by (slot, order). Every normal or priority ticket is also in
//! `aging`, ordered by (waiting since, order), so the aging cap looks at one head.
//!
//! The heads of all four are cached in plain fields after every change: the call decision
//! reads up to four heads for each of a window's services, and reading a field is several
//! times cheaper than walking a B-tree to its first leaf. Removal from the middle (cancel,
//! call by number) stays O(log n).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Which lane a waiting ticket sits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lane {
    Normal,
    Priority,
    /// A checked-in appointment before the end of its grace period.
    Appointment,
}

/// Where a waiting ticket is filed, enough to find it again in every index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Place {
    pub lane: Lane,
    pub order: i64,
    /// Unix seconds the ticket has been waiting since (aging).
    pub since: i64,
    /// Unix seconds of the appointment slot (appointment lane only).
    pub slot: i64,
}

#[derive(Debug, Default)]
pub(crate) struct ServiceQueue {
    normal: BTreeMap<i64, u32>,
    priority: BTreeMap<i64, u32>,
    appointment: BTreeMap<(i64, i64), u32>,
    aging: BTreeMap<(i64, i64), u32>,
    /// Cached heads; see the module doc.
    pub head_normal: Option<(i64, u32)>,
    pub head_priority: Option<(i64, u32)>,
    pub head_appointment: Option<((i64, i64), u32)>,
    pub head_aging: Option<((i64, i64), u32)>,
}

impl ServiceQueue {
    pub fn insert(&mut self, p: Place, ticket: u32) {
        match p.lane {
            Lane::Normal => {
                self.normal.insert(p.order, ticket);
                self.aging.insert((p.since, p.order), ticket);
            }
            Lane::Priority => {
                self.priority.insert(p.order, ticket);
                self.aging.insert((p.since, p.order), ticket);
            }
            Lane::Appointment => {
                self.appointment.insert((p.slot, p.order), ticket);
            }
        }
        self.refresh(p.lane);
    }

    pub fn remove(&mut self, p: Place) {
        let removed = match p.lane {
            Lane::Normal => {
                self.aging.remove(&(p.since, p.order));
                self.normal.remove(&p.order)
            }
            Lane::Priority => {
                self.aging.remove(&(p.since, p.order));
                self.priority.remove(&p.order)
            }
            Lane::Appointment => self.appointment.remove(&(p.slot, p.order)),
        };
        debug_assert!(
            removed.is_some(),
            "removed a ticket that was not filed: {p:?}"
        );
        self.refresh(p.lane);
    }

    fn refresh(&mut self, lane: Lane) {
        match lane {
            Lane::Normal => self.head_normal = self.normal.first_key_value().map(|(k, v)| (*k, *v)),
            Lane::Priority => {
                self.head_priority = self.priority.first_key_value().map(|(k, v)| (*k, *v));
            }
            Lane::Appointment => {
                self.head_appointment = self.appointment.first_key_value().map(|(k, v)| (*k, *v));
            }
        }
        if lane != Lane::Appointment {
            self.head_aging = self.aging.first_key_value().map(|(k, v)| (*k, *v));
        }
    }

    pub fn len(&self, lane: Lane) -> usize {
        match lane {
            Lane::Normal => self.normal.len(),
            Lane::Priority => self.priority.len(),
            Lane::Appointment => self.appointment.len(),
        }
    }

    pub fn waiting(&self) -> usize {
        self.normal.len() + self.priority.len() + self.appointment.len()
    }

    /// Appointments whose slot is at or before `slot_at_most` (the callable ones when given
    /// `now + early`).
    pub fn appointments_up_to(&self, slot_at_most: i64) -> usize {
        self.appointment.range(..(slot_at_most, i64::MAX)).count()
    }

    /// Tickets ahead of `p` within its own lane.
    pub fn ahead_in_lane(&self, p: Place) -> usize {
        match p.lane {
            Lane::Normal => self.normal.range(..p.order).count(),
            Lane::Priority => self.priority.range(..p.order).count(),
            Lane::Appointment => self.appointment.range(..(p.slot, p.order)).count(),
        }
    }

    /// Every waiting ticket, in no particular order.
    pub fn all(&self) -> impl Iterator<Item = u32> + '_ {
        self.normal
            .values()
            .chain(self.priority.values())
            .chain(self.appointment.values())
            .copied()
    }
}
