//! What each hall's owner publishes of its book for the HTTP side: the slots it saw full and
//! the citizens it holds bookings of. A booking for a slot on the board, by a citizen with no
//! booking in the hall, is refused `slot-full` by the handler without crossing to the owner:
//! in a rush for one popular slot nearly every request is such a refusal.
//!
//! The board only ever refuses; it must never decide a success, which stays the owner's (the
//! owner alone changes the book, so a slot is never oversold). What it says must be an answer
//! the owner could have given, so the owner keeps it conservative:
//! - a slot goes on the board only once the batch in which the owner saw it full is durable
//!   (`Pending`, published from the batch's completion), and only if nothing freed a seat or
//!   changed the hall's hours since (`version`), so a refusal never rests on a state a crash could
//!   undo;
//! - a seat freed (a cancellation), the hall's hours or calendar changed, or the hall reloaded
//!   or handed over takes slots off before the owner applies anything after it, so no request
//!   sees a full slot once a cancellation was acknowledged;
//! - a citizen goes on the board before their first booking is acknowledged, so one who could
//!   be over a limit always reaches the owner, which checks limits before seats;
//! - an entry answers only until the slot's latest booking time (after it the owner says
//!   `booking-closed`), and only under the lease epoch it was published under (cluster mode).

use crate::hash::{FastMap, FastSet};
use std::sync::{PoisonError, RwLock};

use jiff::Timestamp;

use crate::booking::citizen::CitizenHash;
use crate::runtime::Answer;
use crate::store::Holding;

/// Every hall's board, by hall index.
pub struct Boards {
    halls: Vec<Board>,
    /// `hallq_bookings_full_early_total`, made once (a handle per request costs a lookup).
    pub early: metrics::Counter,
}

impl Boards {
    pub fn new(halls: usize) -> Boards {
        Boards {
            halls: (0..halls).map(|_| Board::default()).collect(),
            early: metrics::counter!(crate::metrics::BOOKINGS_FULL_EARLY),
        }
    }

    pub fn hall(&self, index: usize) -> &Board {
        &self.halls[index]
    }
}

/// One hall's board.
#[derive(Default)]
pub struct Board(RwLock<State>);

#[derive(Default)]
struct State {
    /// Bumped whenever slots are taken off; a `Pending` from before is not published.
    version: u64,
    /// Cluster mode: the lease epoch the board was filled under (0 in single-node mode).
    epoch: u64,
    /// (service position, slot start) → what to answer until when.
    full: FastMap<(usize, Timestamp), Full>,
    /// Citizens with a booking in the hall, under the hash the record keeps.
    citizens: FastSet<CitizenHash>,
}

struct Full {
    /// The slot's latest booking time.
    until: Timestamp,
    /// The owner's `slot-full` refusal as the HTTP layer renders it, rendered once.
    refusal: Answer,
}

/// A slot the owner saw full, to publish once the batch it was seen in is durable.
pub struct Pending {
    pub service: usize,
    pub start: Timestamp,
    pub until: Timestamp,
    pub refusal: Answer,
    version: u64,
}

impl Board {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.0.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The HTTP side: the owner's refusal of a booking of `service` at `start` by a citizen
    /// known as `known_as`, if the board has one for `now` under `holding`; `None`: ask the
    /// owner.
    pub fn refusal(
        &self,
        service: usize,
        start: Timestamp,
        known_as: &[CitizenHash],
        now: Timestamp,
        holding: Holding,
    ) -> Option<Answer> {
        let state = self.read();
        let full = state.full.get(&(service, start))?;
        let epoch = match holding {
            Holding::Alone => 0,
            Holding::Held(epoch) => epoch,
            Holding::NotHeld => return None,
        };
        if now > full.until || epoch != state.epoch {
            return None;
        }
        if known_as.iter().any(|h| state.citizens.contains(h)) {
            return None;
        }
        Some(full.refusal.clone())
    }

    /// The owner saw the slot full: what to publish after the batch's commit (`refusal`
    /// renders its answer), or `None` when the board already shows it.
    pub fn seen_full(
        &self,
        service: usize,
        start: Timestamp,
        until: Timestamp,
        refusal: impl FnOnce() -> Answer,
    ) -> Option<Pending> {
        let version = {
            let state = self.read();
            if state.full.contains_key(&(service, start)) {
                return None;
            }
            state.version
        };
        Some(Pending {
            service,
            start,
            until,
            refusal: refusal(),
            version,
        })
    }

    /// After the commit of the batch the slots were seen full in: put on the board those
    /// nothing took off meanwhile, and drop the entries past their latest booking time.
    pub fn publish(&self, seen: Vec<Pending>, now: Timestamp) {
        let mut state = self.write();
        state.full.retain(|_, f| f.until >= now);
        for p in seen {
            if p.version == state.version && p.until >= now {
                let full = Full {
                    until: p.until,
                    refusal: p.refusal,
                };
                state.full.insert((p.service, p.start), full);
            }
        }
    }

    /// A seat of the slot was freed: off the board before anything later is applied.
    pub fn freed(&self, service: usize, start: Timestamp) {
        let mut state = self.write();
        state.version += 1;
        state.full.remove(&(service, start));
    }

    /// The hall's hours or calendar changed (which slots exist and the booking window may
    /// have): every slot off the board.
    pub fn clear(&self) {
        let mut state = self.write();
        state.version += 1;
        state.full.clear();
    }

    /// The citizen holds a booking now (before it is acknowledged).
    pub fn add_citizen(&self, citizen: &CitizenHash) {
        if !self.read().citizens.contains(citizen) {
            self.write().citizens.insert(citizen.clone());
        }
    }

    /// The hall's book was (re)loaded or pruned: the board starts again from it, under the
    /// lease `epoch` (0 in single-node mode or while not held).
    pub fn reset<'a>(&self, epoch: u64, citizens: impl Iterator<Item = &'a CitizenHash>) {
        let mut state = self.write();
        state.version += 1;
        state.epoch = epoch;
        state.full.clear();
        state.citizens = citizens.cloned().collect();
    }

    /// The book was pruned: only its citizens stay (the slots on the board are kept).
    pub fn keep_citizens<'a>(&self, citizens: impl Iterator<Item = &'a CitizenHash>) {
        let kept: FastSet<CitizenHash> = citizens.cloned().collect();
        self.write().citizens = kept;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn full() -> Answer {
        Answer::json(409, &"full")
    }

    const START: &str = "2026-03-03T10:00:00Z";
    const NOW: &str = "2026-03-02T08:00:00Z";

    fn who(n: u8) -> Vec<CitizenHash> {
        vec![CitizenHash(format!("c{n}"))]
    }

    fn published() -> Board {
        let board = Board::default();
        let p = board.seen_full(0, at(START), at(START), full).unwrap();
        board.publish(vec![p], at(NOW));
        board
    }

    #[test]
    fn a_slot_answers_only_once_published() {
        let board = Board::default();
        let p = board.seen_full(0, at(START), at(START), full).unwrap();
        assert!(
            board
                .refusal(0, at(START), &who(1), at(NOW), Holding::Alone)
                .is_none()
        );
        board.publish(vec![p], at(NOW));
        let r = board.refusal(0, at(START), &who(1), at(NOW), Holding::Alone);
        assert_eq!(
            r.map(|a| (a.status, a.body)),
            Some((409, "\"full\"".into()))
        );
        // Seen full again while on the board: nothing to publish.
        assert!(board.seen_full(0, at(START), at(START), full).is_none());
        // Another service or start is not full.
        assert!(
            board
                .refusal(1, at(START), &who(1), at(NOW), Holding::Alone)
                .is_none()
        );
    }

    #[test]
    fn a_seat_freed_or_new_hours_before_the_commit_keep_the_slot_off() {
        for take_off in [
            (|b: &Board| b.freed(0, at(START))) as fn(&Board),
            |b: &Board| b.clear(),
            |b: &Board| b.reset(0, std::iter::empty()),
        ] {
            let board = Board::default();
            let p = board.seen_full(0, at(START), at(START), full).unwrap();
            take_off(&board);
            board.publish(vec![p], at(NOW));
            assert!(
                board
                    .refusal(0, at(START), &who(1), at(NOW), Holding::Alone)
                    .is_none()
            );
        }
        let board = published();
        board.freed(0, at(START));
        assert!(
            board
                .refusal(0, at(START), &who(1), at(NOW), Holding::Alone)
                .is_none()
        );
    }

    #[test]
    fn citizens_with_bookings_the_latest_booking_time_and_the_lease_go_to_the_owner() {
        let board = published();
        board.add_citizen(&CitizenHash("c1".into()));
        let both = vec![CitizenHash("old-key".into()), CitizenHash("c1".into())];
        assert!(
            board
                .refusal(0, at(START), &both, at(NOW), Holding::Alone)
                .is_none()
        );
        assert!(
            board
                .refusal(0, at(START), &who(2), at(NOW), Holding::Alone)
                .is_some()
        );
        let late = at("2026-03-03T10:00:01Z");
        assert!(
            board
                .refusal(0, at(START), &who(2), late, Holding::Alone)
                .is_none()
        );
        for holding in [Holding::NotHeld, Holding::Held(3)] {
            assert!(
                board
                    .refusal(0, at(START), &who(2), at(NOW), holding)
                    .is_none()
            );
        }
        // Published under epoch 3: answers while epoch 3 is held, not under another.
        let board = Board::default();
        board.reset(3, std::iter::empty());
        let p = board.seen_full(0, at(START), at(START), full).unwrap();
        board.publish(vec![p], at(NOW));
        assert!(
            board
                .refusal(0, at(START), &who(2), at(NOW), Holding::Held(3))
                .is_some()
        );
        assert!(
            board
                .refusal(0, at(START), &who(2), at(NOW), Holding::Held(4))
                .is_none()
        );
        // A pruned book keeps only its citizens on the board.
        board.add_citizen(&CitizenHash("c2".into()));
        board.keep_citizens(std::iter::empty());
        assert!(
            board
                .refusal(0, at(START), &who(2), at(NOW), Holding::Held(3))
                .is_some()
        );
    }
}
