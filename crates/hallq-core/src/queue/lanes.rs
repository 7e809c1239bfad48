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

    /// The earliest slot after `slot_after` (the first appointment not callable yet when
    /// given `now + early`).
    pub fn first_appointment_after(&self, slot_after: i64) -> Option<i64> {
        self.appointment
            .range((slot_after.saturating_add(1), i64::MIN)..)
            .next()
            .map(|(&(slot, _), _)| slot)
    }

    /// Tickets ahead of `p` within its own lane. A B-tree cannot count a range without
    /// walking it, so the common cases are answered from the ends: the ticket just issued
    /// is last in its lane (everyone else is ahead), one near the head has few ahead.
    pub fn ahead_in_lane(&self, p: Place) -> usize {
        fn ahead<K: Ord + Copy>(lane: &BTreeMap<K, u32>, key: K) -> usize {
            match lane.last_key_value() {
                Some((&last, _)) if last <= key => lane.len() - usize::from(last == key),
                _ => {
                    // Walk from whichever end is nearer: count the ones behind instead of
                    // the ones ahead when that is shorter.
                    let before = lane.range(..key).take(lane.len() / 2 + 1).count();
                    if before <= lane.len() / 2 {
                        before
                    } else {
                        lane.len() - lane.range(key..).count()
                    }
                }
            }
        }
        match p.lane {
            Lane::Normal => ahead(&self.normal, p.order),
            Lane::Priority => ahead(&self.priority, p.order),
            Lane::Appointment => ahead(&self.appointment, (p.slot, p.order)),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `ahead_in_lane` answers from either end; it must agree with counting from the front
    /// for every ticket, wherever it sits, as tickets come and go.
    #[test]
    fn ahead_in_lane_counts_like_a_walk_from_the_front() {
        let mut q = ServiceQueue::default();
        let mut placed: Vec<Place> = Vec::new();
        let mut state = 7u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as i64
        };
        for order in 0..400i64 {
            let lane = [Lane::Normal, Lane::Priority, Lane::Appointment][(next() % 3) as usize];
            let p = Place {
                lane,
                order,
                since: order,
                slot: next() % 50,
            };
            q.insert(p, order as u32);
            placed.push(p);
            if next() % 4 == 0 {
                let gone = placed.swap_remove((next() as usize) % placed.len());
                q.remove(gone);
            }
            for p in &placed {
                let walked = placed
                    .iter()
                    .filter(|o| o.lane == p.lane)
                    .filter(|o| match p.lane {
                        Lane::Appointment => (o.slot, o.order) < (p.slot, p.order),
                        _ => o.order < p.order,
                    })
                    .count();
                assert_eq!(q.ahead_in_lane(*p), walked, "{p:?}");
            }
        }
    }
}
