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

use std::collections::{HashMap, HashSet};
use std::sync::{PoisonError, RwLock};

use jiff::Timestamp;

use crate::booking::BookingError;
use crate::booking::citizen::CitizenHash;
use crate::store::Holding;

/// Every hall's board, by hall index.
pub struct Boards(Vec<Board>);

impl Boards {
    pub fn new(halls: usize) -> Boards {
        Boards((0..halls).map(|_| Board::default()).collect())
    }

    pub fn hall(&self, index: usize) -> &Board {
        &self.0[index]
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
    full: HashMap<(usize, Timestamp), Full>,
    /// Citizens with a booking in the hall, under the hash the record keeps.
    citizens: HashSet<CitizenHash>,
}

struct Full {
    /// The slot's latest booking time.
    until: Timestamp,
    refusal: BookingError,
}

/// A slot the owner saw full, to publish once the batch it was seen in is durable.
pub struct Pending {
    pub service: usize,
    pub start: Timestamp,
    pub until: Timestamp,
    pub refusal: BookingError,
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
    ) -> Option<BookingError> {
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

    /// The owner saw the slot full: what to publish after the batch's commit.
    pub fn seen_full(
        &self,
        service: usize,
        start: Timestamp,
        until: Timestamp,
        refusal: BookingError,
    ) -> Pending {
        Pending {
            service,
            start,
            until,
            refusal,
            version: self.read().version,
        }
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
        let kept: HashSet<CitizenHash> = citizens.cloned().collect();
        self.write().citizens = kept;
    }
}
