//! A producer's record of what it handed the writer and has not yet seen durable.
//!
//! The hall shards and the case thread apply a command to their engines first and send the
//! resulting records to the writer after; while a batch waits for its commit, the engine
//! already shows its changes and the next batches build on them. If a commit fails, those
//! changes exist only in memory. The writer then moves the store's generation on and refuses
//! every batch stamped with an older one, so nothing built on the lost state is committed
//! (or released as a read answer). Before it applies anything else, the producer asks its
//! ledger what it lost (`lost`): the keys of every batch not known durable, which it reloads
//! from the store. From then on its memory agrees with the disk again and its batches carry
//! the new generation.
//!
//! Batches commit in the order a producer sent them, and the writer marks a batch durable
//! before it can move the generation on, so "not known durable when the generation moved" is
//! exactly "will never be durable".

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::Health;
use super::batch::{Batch, Mark};

pub struct Ledger<K> {
    health: Arc<Health>,
    /// The store generation this producer's memory agrees with.
    generation: u64,
    /// Number of the last batch with writes sent.
    sent: u64,
    /// Number of the last batch the writer committed.
    durable: Arc<AtomicU64>,
    /// Batches with writes not known durable, with the keys of the state they change.
    unconfirmed: VecDeque<(u64, Vec<K>)>,
}

impl<K> Ledger<K> {
    pub fn new(health: Arc<Health>) -> Self {
        Ledger {
            generation: health.generation(),
            health,
            sent: 0,
            durable: Arc::new(AtomicU64::new(0)),
            unconfirmed: VecDeque::new(),
        }
    }

    /// Stamp a batch about to be sent; `keys` name the state its writes change.
    pub fn stamp(&mut self, batch: &mut Batch, keys: Vec<K>) {
        batch.generation = self.generation;
        let durable = self.durable.load(Ordering::Acquire);
        while self.unconfirmed.front().is_some_and(|(n, _)| *n <= durable) {
            self.unconfirmed.pop_front();
        }
        if batch.writes() {
            self.sent += 1;
            batch.mark = Some(Mark {
                durable: self.durable.clone(),
                n: self.sent,
            });
            self.unconfirmed.push_back((self.sent, keys));
        }
    }

    /// `None` while the store has lost nothing of this producer's; otherwise the keys of every
    /// change that will never be durable, which the producer must put back from the store
    /// before it applies anything else. Its next batches carry the new generation.
    pub fn lost(&mut self) -> Option<Vec<K>> {
        let generation = self.health.generation();
        if generation == self.generation {
            return None;
        }
        self.generation = generation;
        let durable = self.durable.load(Ordering::Acquire);
        Some(
            self.unconfirmed
                .drain(..)
                .filter(|(n, _)| *n > durable)
                .flat_map(|(_, keys)| keys)
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Op;

    fn write() -> Batch {
        Batch {
            ops: vec![Op::PutConsumer {
                name: "c".into(),
                seq: 1,
                owner: "t".into(),
            }],
            ..Batch::default()
        }
    }

    /// What the writer does on commit.
    fn commit(b: &Batch) {
        if let Some(m) = &b.mark {
            m.durable.fetch_max(m.n, Ordering::AcqRel);
        }
    }

    #[test]
    fn after_a_lost_commit_exactly_the_unconfirmed_keys_come_back() {
        let health = Arc::new(Health::default());
        let mut ledger = Ledger::new(health.clone());
        assert!(
            ledger.lost().is_none(),
            "nothing lost while the store loses nothing"
        );
        let mut a = write();
        ledger.stamp(&mut a, vec!["hall-a"]);
        let mut reads = Batch::default();
        ledger.stamp(&mut reads, vec!["nothing-written"]);
        let mut b = write();
        ledger.stamp(&mut b, vec!["hall-b", "hall-c"]);
        let mut c = write();
        ledger.stamp(&mut c, vec!["hall-d"]);
        commit(&a);
        // b's commit fails: the writer moves the generation on; c will be refused.
        health.lose();
        let lost = ledger.lost().expect("the store lost something");
        assert_eq!(lost, ["hall-b", "hall-c", "hall-d"]);
        assert!(ledger.lost().is_none(), "reported once");
        let mut next = write();
        ledger.stamp(&mut next, vec!["hall-a"]);
        assert_eq!(next.generation, health.generation());
        assert!(
            c.generation < health.generation(),
            "c is refused by the writer"
        );
    }
}
