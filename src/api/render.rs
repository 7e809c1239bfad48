//! The one rendering of the owner threads' replies: a hall's or the case thread's typed reply
//! or failure becomes an `Answer` (status, JSON text, `Location`) here, once.
//!
//! The daemon also gives this rendering to the owner threads (`Renderer`), so the answer an
//! `Idempotency-Key` keeps is the very one the first request got. It must never look at
//! anything but the reply: no state, no clock, nothing that could make a replay differ.

use super::problem::{Answer, Problem};
use crate::queue::Reply;
use crate::runtime::Render;
use crate::runtime::cases::{CaseReply, CaseResult};
use crate::runtime::shard::{HallFailure, HallReply, HallResult};

/// This rendering, for the owner threads.
pub struct Renderer;

impl Render for Renderer {
    fn hall(&self, hall: &str, reply: &HallResult) -> Answer {
        self::hall(hall, reply)
    }

    fn case(&self, reply: &CaseResult) -> Answer {
        self::case(reply)
    }
}

/// A hall's reply; `hall` is its id, for the `Location` of an issued ticket.
pub fn hall(hall: &str, reply: &HallResult) -> Answer {
    let reply = match reply {
        Ok(r) => r,
        Err(HallFailure::Queue(e)) => return Problem::from_queue(e).into(),
        Err(HallFailure::Owner(e)) => return Problem::from_owner(e).into(),
        Err(HallFailure::Booking(e)) => return super::bookings::problem(e).into(),
    };
    match reply {
        HallReply::Applied(applied) => match &**applied {
            Reply::Issued(t) => {
                let mut a = Answer::json(201, t);
                a.location = Some(format!("/v1/halls/{hall}/tickets/{}", t.id));
                a
            }
            Reply::Ticket(t) => Answer::json(200, t),
            Reply::Window(w) => Answer::json(200, w),
            Reply::Hours(d) => Answer::json(200, d),
            Reply::NobodyWaiting => Answer::no_content(),
        },
        HallReply::Snapshot(s) => Answer::json(200, s),
        HallReply::Ticket(t) => Answer::json(200, t),
        HallReply::Tickets(list) => Answer::json(200, list),
        HallReply::Window(w) => Answer::json(200, w),
        HallReply::WindowQueue(list) => Answer::json(200, list),
        HallReply::DayStats(d) => Answer::json(200, d),
        HallReply::Hours(d) => Answer::json(200, d),
        HallReply::Schedule(s) => Answer::json(200, s),
        HallReply::TimersRun => Answer::no_content(),
        HallReply::Replayed(a) => a.clone(),
        HallReply::Booking(b) => super::bookings::render(hall, b),
    }
}

/// The case thread's reply.
pub fn case(reply: &CaseResult) -> Answer {
    use crate::runtime::cases::CaseFailure as F;
    let reply = match reply {
        Ok(r) => r,
        Err(F::Case(e)) => return Problem::from_case(e).into(),
        Err(F::Ack(e)) => return Problem::from_ack(e).into(),
        Err(F::Owner(e)) => return Problem::from_owner(e).into(),
    };
    match reply {
        CaseReply::View {
            view,
            created: true,
        } => {
            let mut a = Answer::json(201, view);
            a.location = Some(format!("/v1/cases/{}", view.id));
            a
        }
        CaseReply::View {
            view,
            created: false,
        } => Answer::json(200, view),
        CaseReply::Recomputed(r) => Answer::json(200, r),
        CaseReply::Acked(a) => Answer::json(200, a),
        CaseReply::TimersRun => Answer::no_content(),
        CaseReply::Replayed(a) => a.clone(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::deadline::CaseError;
    use crate::runtime::OwnerError;
    use crate::runtime::cases::CaseFailure;
    use crate::store::Refusal;

    /// The owner threads keep no answer for a transient refusal (a retry must run the
    /// request again) and decide that on the type; here the type and the status agree:
    /// exactly the transient refusals are 503s.
    #[test]
    fn transient_refusals_are_exactly_the_503s() {
        let owner = [
            OwnerError::Unwritable(Refusal {
                cause: "the disk is full".into(),
                retry_after_s: 5,
            }),
            OwnerError::HallBusy(Arc::from("city")),
            OwnerError::CasesBusy,
            OwnerError::ShuttingDown,
            OwnerError::HallReloading(Arc::from("city")),
            OwnerError::CasesReloading,
            OwnerError::Unreadable("io".into()),
            OwnerError::HallNotDurable("io".into()),
            OwnerError::CaseNotDurable("io".into()),
            OwnerError::KeyReused("k".into()),
        ];
        for e in owner {
            let hall = Err(HallFailure::Owner(e.clone()));
            assert_eq!(
                self::hall("city", &hall).status == 503,
                e.transient(),
                "{e:?}"
            );
            let case: CaseResult = Err(CaseFailure::Owner(e.clone()));
            assert_eq!(self::case(&case).status == 503, e.transient(), "{e:?}");
        }
        let unavailable = CaseFailure::Case(CaseError::Unavailable {
            id: "Z-1".into(),
            reason: "io".into(),
        });
        assert!(unavailable.transient());
        assert_eq!(self::case(&Err(unavailable)).status, 503);
        let unknown = CaseFailure::Case(CaseError::UnknownCase { id: "Z-1".into() });
        assert!(!unknown.transient());
        assert_eq!(self::case(&Err(unknown)).status, 404);
    }
}
