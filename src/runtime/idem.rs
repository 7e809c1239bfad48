//! `Idempotency-Key`: the first answer to a request, kept so a retry gets it again and
//! changes nothing, also after a restart.
//!
//! A key is scoped (to hall and token for hall requests, to the case thread and token for
//! case, calendar and alarm-cursor requests) and fingerprinted with the request's method,
//! path and body, so a key reused for another request is refused with 422. The check runs in
//! the single owner of the state the request changes (a hall shard, the case thread), so two
//! concurrent retries cannot both execute: the second finds the first's answer in the owner's
//! cache. The answer is written in the same batch as the change it answers, so both are
//! durable, or neither. Answers are kept as the HTTP layer rendered them (`Answer`); this
//! module must never make or alter one.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::{Answer, OwnerError};
use crate::hash::FastMap;
use crate::store::{Batch, Op, Store};

/// An `Idempotency-Key` with its scope and the fingerprint of the request it came with (the
/// HTTP layer reads both from the request).
#[derive(Debug, Clone)]
pub struct Idem {
    pub scope: String,
    pub key: String,
    pub fingerprint: u64,
}

/// Answers kept in memory by an owner; older ones are looked up in the store. Large enough
/// that nothing is evicted before its batch has committed.
const CACHE: usize = 65_536;

#[derive(Serialize, Deserialize)]
struct Stored {
    fingerprint: u64,
    answer: Answer,
}

/// One owner's first answers (a hall shard's, the case thread's).
pub struct IdemCache {
    ttl_s: i64,
    answers: FastMap<(String, String), Stored>,
    order: VecDeque<(String, String)>,
}

impl IdemCache {
    pub fn new(ttl_s: i64) -> IdemCache {
        IdemCache {
            ttl_s,
            answers: FastMap::default(),
            order: VecDeque::new(),
        }
    }

    /// The first answer to this key: the stored answer when the request is the same,
    /// `KeyReused` when the key was first used for another request, `Unreadable` when the
    /// store cannot be read. `None` when the key is new: execute the request, then
    /// `remember` its answer unless the refusal was transient.
    pub fn recall(
        &self,
        store: &Store,
        idem: &Idem,
        now_s: i64,
    ) -> Option<Result<Answer, OwnerError>> {
        let key = (idem.scope.clone(), idem.key.clone());
        let (fingerprint, answer) = match self.answers.get(&key) {
            Some(s) => (s.fingerprint, s.answer.clone()),
            None => match store.idempotent(&idem.scope, &idem.key, now_s) {
                Ok(Some(raw)) => {
                    let s = serde_json::from_slice::<Stored>(&raw).ok()?;
                    (s.fingerprint, s.answer)
                }
                Ok(None) => return None,
                Err(e) => return Some(Err(OwnerError::Unreadable(e.to_string()))),
            },
        };
        if fingerprint == idem.fingerprint {
            return Some(Ok(answer));
        }
        Some(Err(OwnerError::KeyReused(idem.key.clone())))
    }

    /// Keep `answer` as the first answer to `idem`: cached now, and written in `batch`, with
    /// the change it answers. Never called with a transient refusal (`OwnerError::transient`):
    /// that says nothing about the request, and a retry must run it again.
    pub fn remember(&mut self, idem: &Idem, answer: &Answer, now_s: i64, batch: &mut Batch) {
        let stored = Stored {
            fingerprint: idem.fingerprint,
            answer: answer.clone(),
        };
        batch.ops.push(Op::PutIdempotent {
            scope: idem.scope.clone(),
            key: idem.key.clone(),
            expires_s: now_s + self.ttl_s,
            json: serde_json::to_vec(&stored).expect("answers serialize"),
        });
        let key = (idem.scope.clone(), idem.key.clone());
        if self.answers.insert(key.clone(), stored).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > CACHE {
            if let Some(old) = self.order.pop_front() {
                self.answers.remove(&old);
            }
        }
    }

    /// Forget every cached answer: after a failed commit some of them were never stored.
    /// The durable ones are found in the store again.
    pub fn clear(&mut self) {
        self.answers.clear();
        self.order.clear();
    }
}
