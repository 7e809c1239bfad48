//! `/v1/halls/{hall}/slots` and `/v1/halls/{hall}/bookings…`: 预约 over HTTP.
//!
//! The handlers check who may book on which channel (web: the `booking` portal's token;
//! phone: a counter; onsite: a kiosk; admin: any), hash and mask the citizen's identifiers
//! (`booking::citizen`) and hand one `BookingOp` to the hall's shard, which decides against
//! the book. The clear ID number and phone never leave the handler: not into the op, the
//! store, a log line or an answer.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Query, State};
use axum::routing::{get, post};
use jiff::Timestamp;
use jiff::civil::Date;
use serde::Deserialize;

use super::AppState;
use super::problem::{Answer, Problem};
use super::scope::{HallChange, InHall, need};
use crate::booking::citizen::{self, Keys};
use crate::booking::{BookingError, Channel, NewBooking};
use crate::config::Role;
use crate::runtime::shard::{BookingOp, HallOp};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/halls/{hall}/booking", get(offer))
        .route("/v1/halls/{hall}/slots", get(slots))
        .route("/v1/halls/{hall}/bookings", post(book).get(list))
        .route("/v1/halls/{hall}/bookings/check-in", post(check_in_by_id))
        .route("/v1/halls/{hall}/bookings/{code}", get(one))
        .route("/v1/halls/{hall}/bookings/{code}/{action}", post(action))
}

fn keys<'a>(app: &'a AppState, hall: &str) -> Result<&'a Keys, Problem> {
    app.config.booking.keys.as_ref().ok_or_else(|| {
        Problem::new(
            422,
            "not-bookable",
            "Unprocessable Content",
            format!("hall `{hall}` publishes no slots"),
        )
    })
}

fn date(q: &HashMap<String, String>, required: bool) -> Result<Option<Date>, Problem> {
    match q.get("date") {
        None if required => Err(Problem::bad_request(
            "invalid-field",
            "give the day as `date=YYYY-MM-DD`",
        )
        .field("date")),
        None => Ok(None),
        Some(d) => d.parse().map(Some).map_err(|_| {
            Problem::bad_request("invalid-field", format!("`{d}` is not a date (YYYY-MM-DD)"))
                .field("date")
        }),
    }
}

/// `GET /v1/halls/{hall}/booking`: what the hall offers to book (the booking page's start).
async fn offer(State(app): State<AppState>, read: InHall<need::Book>) -> Answer {
    let op = HallOp::Booking(Box::new(BookingOp::Offer));
    app.answer(read.hall.index, op, None).await
}

async fn slots(
    State(app): State<AppState>,
    read: InHall<need::Book>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Answer, Problem> {
    let service = read
        .hall
        .service(q.get("service").map_or("", String::as_str))?;
    let date = date(&q, true)?.expect("required");
    let op = HallOp::Booking(Box::new(BookingOp::Slots { service, date }));
    Ok(app.answer(read.hall.index, op, None).await)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BookBody {
    service: String,
    start: Timestamp,
    channel: Channel,
    citizen: CitizenBody,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CitizenBody {
    id_number: String,
    phone: String,
    name: Option<String>,
}

/// Which roles may book on `channel` (an admin may on any).
fn channel_role(channel: Channel) -> (Role, &'static str, &'static str) {
    match channel {
        Channel::Web => (Role::Booking, "web", "booking"),
        Channel::Phone => (Role::Counter, "phone", "counter"),
        Channel::Onsite => (Role::Kiosk, "onsite", "kiosk"),
    }
}

fn id_number(id: &str) -> Result<(), Problem> {
    if citizen::plausible_id(id) {
        Ok(())
    } else {
        Err(Problem::bad_request(
            "invalid-field",
            "an ID number is 6 to 32 letters and digits",
        )
        .field("citizen.id_number"))
    }
}

async fn book(
    State(app): State<AppState>,
    change: HallChange<need::Book>,
) -> Result<Answer, Problem> {
    let idem = change.idem()?;
    let req: BookBody = change.json()?;
    let (role, channel, needs) = channel_role(req.channel);
    if change.who.role() != role && change.who.role() != Role::Admin {
        return Err(super::render::booking_problem(
            &BookingError::WrongChannel {
                channel,
                role: needs,
            },
        ));
    }
    let service = change.hall.service(&req.service)?;
    let keys = keys(&app, &change.hall.cfg.id)?;
    id_number(&req.citizen.id_number)?;
    let digits = req
        .citizen
        .phone
        .chars()
        .filter(char::is_ascii_digit)
        .count();
    if !(5..=20).contains(&digits) {
        return Err(
            Problem::bad_request("invalid-field", "a phone number has 5 to 20 digits")
                .field("citizen.phone"),
        );
    }
    // One HMAC per key, the current key's first: what the record keeps and what finds the
    // citizen's earlier bookings.
    let known_as = keys.all(&req.citizen.id_number);
    if let Some(refused) = full_early(
        &app,
        change.hall.index,
        service,
        req.start,
        &known_as,
        &idem,
    ) {
        return Ok(refused);
    }
    let new = NewBooking {
        service,
        start: req.start,
        channel: req.channel,
        citizen: known_as[0].clone(),
        known_as,
        id_masked: citizen::mask_id(&req.citizen.id_number),
        phone_masked: citizen::mask_phone(&req.citizen.phone),
        name_masked: req
            .citizen
            .name
            .as_deref()
            .map(citizen::mask_name)
            .filter(|n| !n.is_empty()),
        code: String::new(),
    };
    let op = HallOp::Booking(Box::new(BookingOp::Book(Box::new(new))));
    Ok(app.answer(change.hall.index, op, idem).await)
}

/// A booking for a slot the hall's owner published as full (`runtime::shard::Board`),
/// refused here without crossing to the owner: the answer the owner would give. `None`
/// (ask the owner) unless the board has the slot for this citizen and now, the store takes
/// writes (else the owner's refusal comes first), and the request's `Idempotency-Key`, if
/// any, has no kept answer (a booking that succeeded replays its 201 from the owner). The
/// board is read before the key: a success on this slot is kept, durably, before the slot
/// can be published full after it.
fn full_early(
    app: &AppState,
    hall: usize,
    service: usize,
    start: Timestamp,
    known_as: &[citizen::CitizenHash],
    idem: &Option<crate::runtime::idem::Idem>,
) -> Option<Answer> {
    let now = app.clock.now();
    let holding = app.store.holdings.get(hall);
    let boards = &app.shards.boards;
    let refusal = boards
        .hall(hall)
        .refusal(service, start, known_as, now, holding)?;
    if !app.store.health.is_writable() {
        return None;
    }
    if let Some(idem) = idem
        && !matches!(
            app.store
                .idempotent(&idem.scope, &idem.key, now.as_second()),
            Ok(None)
        )
    {
        return None;
    }
    boards.early.increment(1);
    Some(refusal)
}

async fn list(
    State(app): State<AppState>,
    read: InHall<need::Read>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Answer, Problem> {
    let date = date(&q, false)?;
    let flagged = q.get("flagged").is_some_and(|f| f == "true");
    let op = HallOp::Booking(Box::new(BookingOp::List { date, flagged }));
    Ok(app.answer(read.hall.index, op, None).await)
}

async fn one(State(app): State<AppState>, read: InHall<need::Book>) -> Answer {
    let code = read.path.get("code").to_ascii_uppercase();
    app.answer(
        read.hall.index,
        HallOp::Booking(Box::new(BookingOp::Get { code })),
        None,
    )
    .await
}

async fn action(
    State(app): State<AppState>,
    change: HallChange<need::Book>,
) -> Result<Answer, Problem> {
    let idem = change.idem()?;
    let code = change.path.get("code").to_ascii_uppercase();
    let op = match change.path.get("action") {
        "cancel" => BookingOp::Cancel { code },
        "check-in" => {
            change.who.require(
                super::auth::Perm::Issue,
                change.hall.index,
                &change.hall.cfg.id,
            )?;
            BookingOp::CheckIn {
                code: Some(code),
                known_as: Vec::new(),
            }
        }
        other => {
            return Err(Problem::not_found(
                "unknown-action",
                format!("a booking has no action `{other}` (cancel, check-in)"),
            ));
        }
    };
    Ok(app
        .answer(change.hall.index, HallOp::Booking(Box::new(op)), idem)
        .await)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ByIdBody {
    id_number: String,
}

/// The kiosk's check-in by ID number: the citizen's first booking of today.
async fn check_in_by_id(
    State(app): State<AppState>,
    change: HallChange<need::Issue>,
) -> Result<Answer, Problem> {
    let idem = change.idem()?;
    let req: ByIdBody = change.json()?;
    id_number(&req.id_number).map_err(|p| p.field("id_number"))?;
    let keys = keys(&app, &change.hall.cfg.id)?;
    let op = BookingOp::CheckIn {
        code: None,
        known_as: keys.all(&req.id_number),
    };
    Ok(app
        .answer(change.hall.index, HallOp::Booking(Box::new(op)), idem)
        .await)
}
