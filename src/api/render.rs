//! The one rendering of the owner threads' replies: a hall's or the case thread's typed reply
//! or failure becomes an `Answer` (status, JSON text, `Location`) here, once.
//!
//! The daemon also gives this rendering to the owner threads (`Renderer`), so the answer an
//! `Idempotency-Key` keeps is the very one the first request got. It must never look at
//! anything but the reply: no state, no clock, nothing that could make a replay differ.

use super::problem::{Answer, Problem};
use crate::booking::BookingError;
use crate::queue::Reply;
use crate::runtime::Render;
use crate::runtime::cases::{CaseReply, CaseResult};
use crate::runtime::shard::{BookingReply, HallFailure, HallReply, HallResult};

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
        Err(HallFailure::Booking(e)) => return booking_problem(e).into(),
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
        HallReply::Booking(b) => booking(hall, b),
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

// ------------------------------------------------------------------ bookings

/// The rendering of a booking reply.
pub fn booking(hall: &str, reply: &BookingReply) -> Answer {
    match reply {
        BookingReply::Slots(s) => Answer::json(200, s),
        BookingReply::Booking {
            view,
            created: true,
        } => {
            let mut a = Answer::json(201, &WithQr::new(view));
            a.location = Some(format!("/v1/halls/{hall}/bookings/{}", view.code));
            a
        }
        BookingReply::Booking { view, .. } => Answer::json(200, view),
        BookingReply::Bookings(list) => Answer::json(200, list),
        BookingReply::Stats(days) => Answer::json(200, days),
        BookingReply::Offer(offer) => Answer::json(200, offer),
        BookingReply::CheckedIn { booking, ticket } => {
            #[derive(serde::Serialize)]
            struct CheckedIn<'a> {
                ticket: &'a crate::queue::TicketView,
                booking: &'a crate::booking::BookingView,
            }
            let mut a = Answer::json(201, &CheckedIn { ticket, booking });
            a.location = Some(format!("/v1/halls/{hall}/tickets/{}", ticket.id));
            a
        }
    }
}

/// A new booking with its QR code drawn, so a phone or a kiosk shows it without a library.
#[derive(serde::Serialize)]
struct WithQr<'a> {
    #[serde(flatten)]
    view: &'a crate::booking::BookingView,
    /// `qr` as an SVG image.
    qr_svg: Option<String>,
}

impl<'a> WithQr<'a> {
    fn new(view: &'a crate::booking::BookingView) -> WithQr<'a> {
        WithQr {
            view,
            qr_svg: qr_svg(&view.qr).ok(),
        }
    }
}

/// The problem of a refused booking command.
pub fn booking_problem(e: &BookingError) -> Problem {
    use BookingError as E;
    let (status, title, field) = match e {
        E::NotBookable { .. } => (422, "Unprocessable Content", Some("service")),
        E::NoSuchSlot { .. } | E::OutsideWindow { .. } => {
            (422, "Unprocessable Content", Some("start"))
        }
        E::UnknownBooking { .. } | E::NoBookingToday => (404, "Not Found", None),
        E::WrongChannel { .. } => (403, "Forbidden", Some("channel")),
        E::BookingClosed { .. }
        | E::SlotFull { .. }
        | E::Limit { .. }
        | E::NotActive { .. }
        | E::CancelClosed { .. }
        | E::NotToday { .. }
        | E::CodeTaken => (409, "Conflict", None),
    };
    let mut p = Problem::new(status, e.code(), title, e.to_string());
    match e {
        E::Limit { rule, until, .. } => p = p.with("rule", rule).with("until", until),
        E::BookingClosed { until, .. } | E::CancelClosed { until, .. } => {
            p = p.with("until", until)
        }
        E::SlotFull { capacity, .. } => p = p.with("capacity", capacity),
        _ => {}
    }
    match field {
        Some(f) => p.field(f),
        None => p,
    }
}

/// `text` as a QR code in SVG, at least 160 px with its quiet zone (ticket links, bookings).
pub fn qr_svg(text: &str) -> Result<String, qrcode::types::QrError> {
    Ok(qrcode::QrCode::new(text.as_bytes())?
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(160, 160)
        .quiet_zone(true)
        .build())
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
