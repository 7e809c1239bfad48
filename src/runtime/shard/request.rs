//! What a hall shard is asked (`HallOp`) and what it replies: `HallReply` or a
//! `HallFailure`, as types. The HTTP layer renders them (`api::render`); this module must
//! never choose a status or write JSON.

use std::sync::Arc;

use tokio::sync::oneshot;

use crate::queue::stats::DayStats;
use crate::queue::{
    Command, DayHours, HallSnapshot, QueueError, Reply, ScheduleView, TicketStatus, TicketView,
    WindowView,
};
use crate::runtime::idem::Idem;
use crate::runtime::{Answer, OwnerError};

/// What a request asks of its hall.
#[derive(Debug)]
pub enum HallOp {
    Apply(Command),
    /// Issue a ticket (`Command::Issue`) whose holder left a contact, masked and hashed, to
    /// be told when their turn is near (`turn_near`).
    IssueWithContact(Box<(Command, crate::queue::TicketContact)>),
    Snapshot,
    Ticket(String),
    Tickets {
        status: Option<TicketStatus>,
        service: Option<usize>,
    },
    Window(usize),
    /// The tickets a window may call, in its order.
    WindowQueue(usize),
    /// The business day's statistics so far.
    DayStats,
    /// A date's hours and the rule behind them.
    Hours(jiff::civil::Date),
    /// The hall's calendar was replaced (`PUT /v1/calendars/{id}`): its schedule follows the
    /// new one from now on.
    UseCalendar(Arc<crate::calendar::Calendar>),
    /// 预约: slots and bookings (`shard::booking`).
    Booking(Box<super::booking::BookingOp>),
    /// Test hook (`api::test_hooks`): run the time-driven work of every hall of the shard now,
    /// as a tick would, and answer once what it changed is durable and published.
    RunTimers,
}

pub struct Request {
    pub hall: usize,
    pub op: HallOp,
    pub idem: Option<Idem>,
    pub reply: oneshot::Sender<HallResult>,
}

/// What a hall replies.
#[derive(Debug)]
pub enum HallReply {
    /// What a command did: a ticket issued, changed or called, a window, a date's hours, or
    /// nobody waiting.
    Applied(Box<Reply>),
    Snapshot(Box<HallSnapshot>),
    Ticket(Box<TicketView>),
    Tickets(Vec<TicketView>),
    Window(Box<WindowView>),
    WindowQueue(Vec<TicketView>),
    DayStats(Box<DayStats>),
    Hours(DayHours),
    /// The hall took a replaced calendar: its schedule from now on.
    Schedule(Box<ScheduleView>),
    /// The first answer to the request's `Idempotency-Key`, as it was given then.
    Replayed(Answer),
    /// The pass that ran the due timers (`HallOp::RunTimers`) is durable.
    TimersRun,
    Booking(super::booking::BookingReply),
}

/// Why a hall did not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum HallFailure {
    /// The queue engine refused: nothing changed.
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Owner(#[from] OwnerError),
    /// The hall's book refused: nothing changed.
    #[error(transparent)]
    Booking(crate::booking::BookingError),
}

impl HallFailure {
    /// See `OwnerError::transient`; an engine refusal is an answer about the request.
    pub fn transient(&self) -> bool {
        match self {
            HallFailure::Queue(_) | HallFailure::Booking(_) => false,
            HallFailure::Owner(e) => e.transient(),
        }
    }

    /// Whether an `Idempotency-Key` keeps this refusal as its answer: not a transient one,
    /// and not `slot-full`. A full slot is also refused by the HTTP side without the owner
    /// (`board`), where no answer can be kept; so that both give the same answer, neither
    /// keeps it: the refusal changed nothing, and a retry with the key asks again (as
    /// Stripe does for a request refused before it executed). A booking that succeeded is
    /// kept, so its retry gets its 201, never `slot-full`.
    pub fn kept(&self) -> bool {
        !self.transient()
            && !matches!(
                self,
                HallFailure::Booking(crate::booking::BookingError::SlotFull { .. })
            )
    }
}

pub type HallResult = Result<HallReply, HallFailure>;
