//! Alarm consumers' cursors: an acknowledgement moves one, checked by the case thread one
//! after the other.
//!
//! A cursor is moved only by the token that owns it, never past the alarm stream's head, and
//! backwards only when asked (and then recorded). It must never read ahead of what the store
//! committed: only committed alarms are published.

use std::sync::Arc;

use jiff::Timestamp;

use super::{CaseReply, CaseResult, Worker};
use crate::runtime::OwnerError;
use crate::store::{ALARMS, Batch, Cursor, Op, Rewind};

/// An alarm consumer acknowledging the alarms up to `seq`.
#[derive(Debug)]
pub struct Ack {
    pub consumer: String,
    pub seq: u64,
    /// Moving the cursor backwards is refused unless asked for, and then recorded.
    pub rewind: bool,
    /// The token acknowledging (by name): the cursor's owner, or its first.
    pub by: Arc<str>,
}

/// What an acknowledgement did.
#[derive(Debug, serde::Serialize)]
pub struct Acked {
    pub consumer: String,
    pub seq: u64,
    pub previous: u64,
    pub owner: Arc<str>,
    pub rewound: bool,
}

/// Why an acknowledgement was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AckError {
    #[error(
        "consumer `{consumer}` belongs to token `{owner}`: a consumer's cursor is read and moved only by the token that first acknowledged it"
    )]
    NotOwner { consumer: String, owner: String },
    #[error(
        "seq {seq} is past the head of the alarm stream ({head}): acknowledge only alarms you have received"
    )]
    PastHead { seq: u64, head: u64 },
    #[error(
        "consumer `{consumer}` is at {cursor}; acknowledging {seq} would move it backwards. Send \"rewind\": true to do that on purpose (it is recorded)"
    )]
    Backwards {
        consumer: String,
        cursor: u64,
        seq: u64,
    },
}

impl Worker {
    /// Move a consumer's cursor: only by its owner, never past the stream's head, backwards
    /// only when asked (and then recorded, with who and from where to where).
    pub(super) fn ack(&mut self, ack: Ack, now: Timestamp, batch: &mut Batch) -> CaseResult {
        let cursor = match self.cursors.get(&ack.consumer) {
            Some(c) => Some(c.clone()),
            None => match self.store.cursor(&ack.consumer) {
                Ok(c) => c,
                Err(e) => return Err(OwnerError::Unreadable(e.to_string()).into()),
            },
        };
        if let Some(owner) = cursor.as_ref().and_then(|c| c.owner.as_deref())
            && owner != &*ack.by
        {
            return Err(AckError::NotOwner {
                consumer: ack.consumer,
                owner: owner.to_owned(),
            }
            .into());
        }
        // Only committed alarms are ever published, so a consumer can know no later one.
        let head = match self.store.head(ALARMS) {
            Ok(h) => h,
            Err(e) => return Err(OwnerError::Unreadable(e.to_string()).into()),
        };
        if ack.seq > head {
            return Err(AckError::PastHead { seq: ack.seq, head }.into());
        }
        let previous = cursor.as_ref().map_or(0, |c| c.seq);
        let rewound = ack.seq < previous;
        if rewound && !ack.rewind {
            return Err(AckError::Backwards {
                consumer: ack.consumer,
                cursor: previous,
                seq: ack.seq,
            }
            .into());
        }
        if rewound {
            tracing::warn!(
                consumer = %ack.consumer,
                by = %ack.by,
                from = previous,
                to = ack.seq,
                "an alarm consumer's cursor was rewound"
            );
            let record = Rewind {
                at: now,
                by: ack.by.to_string(),
                from: previous,
                to: ack.seq,
            };
            batch.ops.push(Op::LogRewind {
                name: ack.consumer.clone(),
                json: serde_json::to_vec(&record).expect("rewinds serialize"),
            });
        }
        batch.ops.push(Op::PutConsumer {
            name: ack.consumer.clone(),
            seq: ack.seq,
            owner: ack.by.to_string(),
        });
        self.cursors.insert(
            ack.consumer.clone(),
            Cursor {
                seq: ack.seq,
                owner: Some(ack.by.to_string()),
            },
        );
        Ok(CaseReply::Acked(Acked {
            consumer: ack.consumer,
            seq: ack.seq,
            previous,
            owner: ack.by,
            rewound,
        }))
    }
}
