//! The hasher of hallq's hot maps and sets: foldhash with a per-process random seed
//! (`hashbrown::DefaultHashBuilder`, `foldhash::fast::RandomState`), behind std's own
//! `HashMap` and `HashSet`.
//!
//! Why not std's default (SipHash-1-3): on the request path ids are hashed many times per
//! request (hall and service ids, tickets, idempotency keys, timers, metric handles), and
//! SipHash was the top symbol of the case thread (1.3 % of all samples of the durable mixed
//! workload, BENCHMARKS.md). foldhash is several times cheaper on short keys.
//!
//! Why it is still safe with keys chosen by clients (case ids, idempotency keys): the seed is
//! random per process and never leaves it, so an attacker cannot precompute colliding keys
//! (foldhash's "minimal HashDoS resistance"; the same hasher the deadline index already used).
//! Maps whose keys are cryptographic digests or that are cold keep whatever they use.

/// A `BuildHasher` with a random per-process seed; `FastState::default()` makes one.
pub type FastState = hashbrown::DefaultHashBuilder;

/// std's `HashMap` with `FastState`. Build with `FastMap::default()` or
/// `FastMap::with_capacity_and_hasher(n, FastState::default())`.
pub type FastMap<K, V> = std::collections::HashMap<K, V, FastState>;

/// std's `HashSet` with `FastState`.
pub type FastSet<K> = std::collections::HashSet<K, FastState>;

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn seeds_differ_between_builders_so_collisions_cannot_be_precomputed() {
        // Two builders hash the same key differently: the seed is not a constant an attacker
        // could learn from the source.
        let differ = (0..8).any(|_| {
            FastState::default().hash_one("hall-1") != FastState::default().hash_one("hall-1")
        });
        assert!(
            differ,
            "foldhash's RandomState gave the same hash every time"
        );
        let mut m: FastMap<&str, u32> = FastMap::default();
        m.insert("a", 1);
        assert_eq!(m.get("a"), Some(&1));
    }
}
