//! What the case thread is asked (`CaseOp`) and what it replies: `CaseReply` or a
//! `CaseFailure`, as types. The HTTP layer renders them (`api::render`); this module must
//! never choose a status or write JSON.

use std::sync::Arc;

use tokio::sync::oneshot;

use super::{Ack, AckError, Acked};
use crate::calendar::Calendar;
use crate::deadline::{
    BundleAcceptance, BundleError, BundleView, CaseCommand, CaseError, CaseView, Recomputed,
};
use crate::runtime::idem::Idem;
use crate::runtime::{Answer, OwnerError};

/// Whether the caller may see a case of the given hall.
pub type Scope = Box<dyn Fn(usize) -> bool + Send>;

pub enum CaseOp {
    Apply {
        cmd: CaseCommand,
        scope: Scope,
    },
    Get {
        id: String,
        scope: Scope,
    },
    ReplaceCalendar {
        id: String,
        calendar: Arc<Calendar>,
        toml: String,
    },
    Ack(Ack),
    /// The citizen's answer to a closed rectification's or complaint's feedback (回访).
    FollowUp {
        id: String,
        follow_up: crate::deadline::FollowUp,
        scope: Scope,
    },
    /// 一件事一次办: accept every matter of a bundle at its front desk, or none. The caller
    /// checked its right on the front desk.
    AcceptBundle(BundleAcceptance),
    /// A bundle, if the caller may see its front desk.
    GetBundle {
        id: String,
        scope: Scope,
    },
    /// Deliver every decided result of a bundle at its front desk, in one step.
    DeliverBundle {
        id: String,
        at: jiff::Timestamp,
        scope: Scope,
    },
    /// Test hook (`api::test_hooks`): raise what is due now. Every pass does; this one only
    /// asks for a pass and an answer once what it raised is durable and published.
    RunTimers,
}

impl CaseOp {
    /// Whether the operation changes anything (refused while the store refuses writes).
    pub fn writes(&self) -> bool {
        !matches!(self, CaseOp::Get { .. } | CaseOp::GetBundle { .. })
    }
}

/// What the case thread replies.
#[derive(Debug)]
pub enum CaseReply {
    /// A case as it is now; `created` when this request accepted it.
    View {
        view: Box<CaseView>,
        created: bool,
    },
    /// A bundle as it is now; `created` when this request accepted it.
    Bundle {
        view: Box<BundleView>,
        created: bool,
    },
    /// A calendar was replaced and the open cases' deadlines recomputed.
    Recomputed(Recomputed),
    Acked(Acked),
    /// The pass that ran the due timers (`CaseOp::RunTimers`) is durable.
    TimersRun,
    /// The first answer to the request's `Idempotency-Key`, as it was given then.
    Replayed(Answer),
}

/// Why the case thread did not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum CaseFailure {
    /// The deadline engine refused (nothing changed), or could not tell whether a case was
    /// closed (`CaseError::Unavailable`).
    #[error(transparent)]
    Case(#[from] CaseError),
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    Ack(#[from] AckError),
    #[error(transparent)]
    Owner(#[from] OwnerError),
}

impl CaseFailure {
    /// See `OwnerError::transient`; the engine not being able to read the closed-case table
    /// is one too.
    pub fn transient(&self) -> bool {
        match self {
            CaseFailure::Case(CaseError::Unavailable { .. }) => true,
            CaseFailure::Bundle(BundleError::Case(CaseError::Unavailable { .. })) => true,
            CaseFailure::Bundle(BundleError::Member {
                error: CaseError::Unavailable { .. },
                ..
            }) => true,
            CaseFailure::Case(_) | CaseFailure::Bundle(_) | CaseFailure::Ack(_) => false,
            CaseFailure::Owner(e) => e.transient(),
        }
    }
}

pub type CaseResult = Result<CaseReply, CaseFailure>;

pub struct CaseRequest {
    pub op: CaseOp,
    /// Boxed: most requests have none, and the request travels by value through a channel.
    pub idem: Option<Box<Idem>>,
    /// `None` for fire-and-forget commands (rectification cases opened by a hall shard).
    pub reply: Option<oneshot::Sender<CaseResult>>,
}
