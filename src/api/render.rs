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
        Err(F::Bundle(e)) => return Problem::from_bundle(e).into(),
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
        CaseReply::Bundle {
            view,
            created: true,
        } => {
            let mut a = Answer::json(201, view);
            a.location = Some(format!("/v1/bundles/{}", view.id));
            a
        }
        CaseReply::Bundle { view, .. } => Answer::json(200, view),
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
///
/// Drawn here as one path of horizontal runs, not through `qrcode`'s SVG renderer, which
/// formats one rectangle per dark module: that took 0.5 M of the 3.4 M instructions of a
/// booking's QR code (callgrind; the rest is `qrcode` choosing the best of the eight masks,
/// kept because a scanned code on a phone or a kiosk slip must read first time).
pub fn qr_svg(text: &str) -> Result<String, qrcode::types::QrError> {
    use std::fmt::Write;
    /// Light modules around the code, as the standard asks.
    const QUIET: usize = 4;
    let code = qrcode::QrCode::new(text.as_bytes())?;
    let width = code.width();
    let dark = code.to_colors();
    let modules = width + 2 * QUIET;
    let px = modules * 160usize.div_ceil(modules);
    let mut d = String::with_capacity(width * width);
    for (y, row) in dark.chunks(width).enumerate() {
        let mut x = 0;
        while x < width {
            if row[x] != qrcode::Color::Dark {
                x += 1;
                continue;
            }
            let from = x;
            while x < width && row[x] == qrcode::Color::Dark {
                x += 1;
            }
            let n = x - from;
            let _ = write!(d, "M{} {}h{n}v1h-{n}z", from + QUIET, y + QUIET);
        }
    }
    Ok(format!(
        "<?xml version=\"1.0\" standalone=\"yes\"?><svg xmlns=\"http://www.w3.org/2000/svg\" \
         version=\"1.1\" width=\"{px}\" height=\"{px}\" viewBox=\"0 0 {modules} {modules}\" \
         shape-rendering=\"crispEdges\"><rect width=\"{modules}\" height=\"{modules}\" \
         fill=\"#fff\"/><path fill=\"#000\" d=\"{d}\"/></svg>"
    ))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::deadline::CaseError;
    use crate::runtime::OwnerError;
    use crate::runtime::cases::CaseFailure;
    use crate::store::Refusal;

    /// The QR path draws exactly the code's dark modules, inside the quiet zone.
    #[test]
    fn the_qr_path_covers_the_dark_modules() {
        let text = "HQ1:city:ABCD2345";
        let svg = qr_svg(text).unwrap();
        let code = qrcode::QrCode::new(text.as_bytes()).unwrap();
        let w = code.width();
        let mut drawn = vec![qrcode::Color::Light; w * w];
        let d = svg.split("d=\"").nth(1).unwrap().split('"').next().unwrap();
        for run in d.split('M').filter(|r| !r.is_empty()) {
            let (xy, rest) = run.split_once('h').unwrap();
            let (x, y) = xy.split_once(' ').unwrap();
            let n: usize = rest.split_once('v').unwrap().0.parse().unwrap();
            let (x, y): (usize, usize) = (
                x.parse::<usize>().unwrap() - 4,
                y.parse::<usize>().unwrap() - 4,
            );
            for i in 0..n {
                drawn[y * w + x + i] = qrcode::Color::Dark;
            }
        }
        assert_eq!(drawn, code.to_colors());
        assert!(
            svg.contains(&format!("viewBox=\"0 0 {m} {m}\"", m = w + 8)),
            "{svg}"
        );
    }

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
