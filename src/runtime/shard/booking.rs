//! The booking commands of a hall's shard: the hall's `Book` sits next to its `HallEngine`
//! and is changed only here, by the hall's one owner thread, so bookings for a slot are
//! applied one after the other and a slot is never oversold. Check-in issues the ticket
//! through the engine first and marks the booking only once the ticket exists.
//!
//! This module draws booking codes (the book is pure) and turns the hall's schedule into the
//! book's open hours; it must never see a citizen's identifier in clear (the API hashes it).

use std::sync::Arc;

use jiff::Timestamp;
use jiff::civil::{Date, Time};

use super::{HallFailure, HallReply, HallResult, Shard};
use crate::booking::citizen::CitizenHash;
use crate::booking::hours::service_spans;
use crate::booking::{
    Book, BookCtx, BookingAction, BookingDay, BookingError, BookingView, NewBooking, Offer,
    OpenSpan, ServiceOffer, Slot, SlotRule,
};
use crate::config::Config;
use crate::queue::{Command, Event, HallEngine, Reply, TicketClass, TicketView};
use crate::runtime::OwnerError;
use crate::store::{Batch, Op, Store, StoreError};

/// What a hall is asked about its bookings.
#[derive(Debug)]
pub enum BookingOp {
    Slots {
        service: usize,
        date: Date,
    },
    /// `code` is left empty: the shard draws it.
    Book(Box<NewBooking>),
    Cancel {
        code: String,
    },
    /// By code, or by the citizen's hashes (the ID number at the kiosk).
    CheckIn {
        code: Option<String>,
        known_as: Vec<CitizenHash>,
    },
    Get {
        code: String,
    },
    /// A date's bookings (all dates when `None`), or only the flagged ones.
    List {
        date: Option<Date>,
        flagged: bool,
    },
    /// Each bookable service's bookings and seats on a date (`/v1/stats`, the metrics).
    Stats {
        date: Date,
    },
    /// The bookable services and their dates with slots (the citizen's booking page).
    Offer,
}

impl BookingOp {
    pub fn writes(&self) -> bool {
        matches!(
            self,
            BookingOp::Book(_) | BookingOp::Cancel { .. } | BookingOp::CheckIn { .. }
        )
    }
}

/// What a hall replies about its bookings.
#[derive(Debug)]
pub enum BookingReply {
    Slots(Vec<Slot>),
    Booking {
        view: Box<BookingView>,
        created: bool,
    },
    Bookings(Vec<BookingView>),
    CheckedIn {
        booking: Box<BookingView>,
        ticket: Box<TicketView>,
    },
    Stats(Vec<BookingDay>),
    Offer(Box<Offer>),
}

/// Every hall's stored bookings, by hall position, at start.
pub fn recover(config: &Config, store: &Store) -> Result<Vec<Book>, StoreError> {
    let mut books = Vec::with_capacity(config.halls.len());
    let mut n = 0;
    for h in &config.halls {
        let records = store.load_bookings(&h.id)?;
        n += records.len();
        books.push(Book::restore(records));
    }
    tracing::info!(bookings = n, "recovered bookings");
    Ok(books)
}

/// When `service` takes bookings on `date`, as instants: the hall's hours, the service's
/// own, market days and the appointment-only hours around the day (`booking::hours`).
fn open_hours(
    hall: &HallEngine,
    service: usize,
    rule: Option<&SlotRule>,
    date: Date,
) -> Vec<OpenSpan> {
    let cfg = hall.config();
    let (day, market_day) = hall.day_intervals(date);
    let spans = match rule {
        Some(rule) => service_spans(
            &day,
            market_day,
            &cfg.services[service],
            rule,
            hall.worked_as(date),
        ),
        None => Vec::new(),
    };
    let at = |t: Time| -> Option<Timestamp> {
        let (d, t) = if t == Time::MAX {
            (date.tomorrow().ok()?, Time::MIN)
        } else {
            (date, t)
        };
        cfg.time_zone
            .to_ambiguous_timestamp(d.to_datetime(t))
            .compatible()
            .ok()
    };
    spans
        .into_iter()
        .filter_map(|s| {
            Some(OpenSpan {
                from: at(s.from)?,
                to: at(s.to)?,
                appointment_only: s.appointment_only,
            })
        })
        .filter(|s| s.from < s.to)
        .collect()
}

fn working(hall: &HallEngine, date: Date) -> bool {
    match hall.calendar() {
        Some(cal) => cal.is_working_day(date),
        None => !matches!(
            date.weekday(),
            jiff::civil::Weekday::Saturday | jiff::civil::Weekday::Sunday
        ),
    }
}

/// Each bookable service of hall `index` (`engine`) with its bookings (`book`) and seats on
/// `date`: from the shard's own memory when it holds the hall, from copies restored out of
/// the store when it does not (`elsewhere`), so every node counts the same records alike.
pub(super) fn booking_days(
    config: &Config,
    (index, engine): (usize, &HallEngine),
    book: &Book,
    date: Date,
    now: Timestamp,
) -> Vec<BookingDay> {
    let (cfg, booking) = (engine.config(), &config.booking);
    let mut days = Vec::new();
    for (service, svc) in cfg.services.iter().enumerate() {
        let Some(rule) = booking.rule(index, service) else {
            continue;
        };
        let cx = BookCtx {
            hall: &cfg.id,
            zone: &cfg.time_zone,
            limits: &booking.limits,
            grace_s: cfg.policy.appointment_grace_s,
            hours: &|d| open_hours(engine, service, Some(rule), d),
            working: &|d| working(engine, d),
        };
        days.push(book.day_stats(&svc.id, rule, date, now, &cx));
    }
    days
}

/// A booking code: 8 characters without 0/O, 1/I/L, about 39 bits.
fn draw_code() -> String {
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the operating system's random source works");
    bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

impl Shard {
    pub(super) fn booking(
        &mut self,
        local: usize,
        op: BookingOp,
        now: Timestamp,
        events: &mut Vec<Event>,
        refusal: &Option<crate::store::Refusal>,
    ) -> HallResult {
        if op.writes()
            && let Some(r) = refusal
        {
            return Err(OwnerError::Unwritable(r.clone()).into());
        }
        if let BookingOp::Stats { date } = op {
            let days = self.booking_days(local, date, now);
            return Ok(HallReply::Booking(BookingReply::Stats(days)));
        }
        let index = self.halls[local].0;
        let config = self.config.clone();
        let booking = &config.booking;
        let (engine, book) = (&mut self.halls[local].1, &mut self.books[local]);
        let (board, seen_full) = (self.boards.hall(index), &mut self.seen_full);
        let render = &self.render;
        let hall_cfg = engine.config().clone();
        let grace_s = hall_cfg.policy.appointment_grace_s;
        let not_bookable = |service: usize| BookingError::NotBookable {
            hall: hall_cfg.id.clone(),
            service: hall_cfg.services[service].id.clone(),
        };
        // The context reads the engine's schedule; the engine is borrowed mutably only for
        // check-in's ticket, after the context is gone.
        macro_rules! cx {
            ($engine:expr) => {
                cx!($engine, None)
            };
            ($engine:expr, $service:expr) => {
                BookCtx {
                    hall: &hall_cfg.id,
                    zone: &hall_cfg.time_zone,
                    limits: &booking.limits,
                    grace_s,
                    hours: &|d| match $service {
                        Some(s) => open_hours($engine, s, booking.rule(index, s), d),
                        None => Vec::new(),
                    },
                    working: &|d| working($engine, d),
                }
            };
        }
        let reply = match op {
            BookingOp::Slots { service, date } => {
                let rule = booking
                    .rule(index, service)
                    .ok_or_else(|| not_bookable(service))?;
                let cx = cx!(engine, Some(service));
                let id = &hall_cfg.services[service].id;
                BookingReply::Slots(book.slots(id, rule, date, now, &cx))
            }
            BookingOp::Book(mut req) => {
                let service = req.service;
                let rule = booking
                    .rule(index, service)
                    .ok_or_else(|| not_bookable(service))?;
                let cx = cx!(engine, Some(service));
                let id = &hall_cfg.services[service].id;
                let mut tries = 0;
                let until = Book::book_until(rule, req.start);
                let record = loop {
                    req.code = draw_code();
                    match book.book(id, rule, (*req).clone(), now, &cx) {
                        Err(BookingError::CodeTaken) if tries < 8 => tries += 1,
                        Err(e @ BookingError::SlotFull { .. }) => {
                            // Once per pass, and not again while the board shows it.
                            let render =
                                || render.hall(&hall_cfg.id, &Err(HallFailure::Booking(e.clone())));
                            if !seen_full.iter().any(|(h, p)| {
                                (*h, p.service, p.start) == (index, service, req.start)
                            }) && let Some(seen) =
                                board.seen_full(service, req.start, until, render)
                            {
                                seen_full.push((index, seen));
                            }
                            return Err(e.into());
                        }
                        Err(e) => return Err(e.into()),
                        Ok(_) => break book.get(&req.code).expect("just booked"),
                    }
                };
                board.add_citizen(&record.citizen);
                if book.seats_taken(id, record.start) >= rule.capacity {
                    let full = HallFailure::Booking(Book::slot_full(rule, record.start, &cx));
                    let render = || render.hall(&hall_cfg.id, &Err(full));
                    if let Some(seen) = board.seen_full(service, record.start, until, render) {
                        seen_full.push((index, seen));
                    }
                }
                let view = book.view(record, now, &cx);
                engine.emit_booking(now, BookingAction::Booked, view.brief(), events);
                BookingReply::Booking {
                    view: Box::new(view),
                    created: true,
                }
            }
            BookingOp::Cancel { code } => {
                let service = book
                    .get(&code)
                    .and_then(|r| hall_cfg.service_index(&r.service));
                let rule = service.and_then(|s| booking.rule(index, s));
                let cx = cx!(engine);
                let r = book.cancel(&code, rule, now, &cx)?;
                if let Some(service) = service {
                    board.freed(service, r.start);
                }
                let view = crate::booking::book_view(r, now, &cx);
                engine.emit_booking(now, BookingAction::Cancelled, view.brief(), events);
                BookingReply::Booking {
                    view: Box::new(view),
                    created: false,
                }
            }
            BookingOp::Get { code } => {
                let cx = cx!(engine);
                let r = book
                    .get(&code)
                    .ok_or(BookingError::UnknownBooking { code })?;
                BookingReply::Booking {
                    view: Box::new(book.view(r, now, &cx)),
                    created: false,
                }
            }
            BookingOp::List { date, flagged } => {
                let cx = cx!(engine);
                BookingReply::Bookings(
                    book.on_date(date, flagged, &cx)
                        .into_iter()
                        .map(|r| book.view(r, now, &cx))
                        .collect(),
                )
            }
            BookingOp::Stats { .. } => unreachable!("answered above"),
            BookingOp::Offer => {
                let mut services = Vec::new();
                for (service, svc) in hall_cfg.services.iter().enumerate() {
                    let Some(rule) = booking.rule(index, service) else {
                        continue;
                    };
                    let cx = cx!(engine, Some(service));
                    services.push(ServiceOffer {
                        service: svc.id.clone(),
                        name: svc.name.clone(),
                        slot_minutes: rule.slot_minutes,
                        capacity: rule.capacity,
                        dates: book.open_dates(rule, now, &cx),
                    });
                }
                BookingReply::Offer(Box::new(Offer {
                    hall: hall_cfg.id.clone(),
                    hall_name: hall_cfg.name.clone(),
                    time_zone: hall_cfg.time_zone_name.clone(),
                    services,
                }))
            }
            BookingOp::CheckIn { code, known_as } => {
                let (code, service, start, early_or_late) = {
                    let cx = cx!(engine);
                    let r = book.to_check_in(code.as_deref(), &known_as, now, &cx)?;
                    let service = hall_cfg.service_index(&r.service).ok_or_else(|| {
                        BookingError::NotBookable {
                            hall: hall_cfg.id.clone(),
                            service: r.service.clone(),
                        }
                    })?;
                    let date = hall_cfg.time_zone.to_datetime(r.start).date();
                    let early_or_late =
                        open_hours(engine, service, booking.rule(index, service), date)
                            .iter()
                            .any(|s| s.appointment_only && s.from <= r.start && r.start < s.to);
                    (r.code.clone(), service, r.start, early_or_late)
                };
                let issued = if early_or_late {
                    engine.check_in_booked(now, service, start, events)?
                } else {
                    engine.apply(
                        now,
                        Command::Issue {
                            service,
                            class: TicketClass::Appointment,
                            slot: Some(start),
                            checked_in: true,
                        },
                        events,
                    )?
                };
                let Reply::Issued(ticket) = issued else {
                    unreachable!("issuing answers with the ticket")
                };
                let record = book.checked_in(&code, ticket.id.to_string(), now);
                let view = {
                    let cx = cx!(engine);
                    crate::booking::book_view(record, now, &cx)
                };
                engine.emit_booking(now, BookingAction::CheckedIn, view.brief(), events);
                BookingReply::CheckedIn {
                    booking: Box::new(view),
                    ticket: Box::new(ticket),
                }
            }
        };
        Ok(HallReply::Booking(reply))
    }

    /// After the hall's hours or calendar changed: flag the bookings whose slot is no longer
    /// inside the open hours. They keep their seat and stay listed
    /// (`GET …/bookings?flagged=true`) for the operator to contact the citizens.
    pub(super) fn flag_closed_bookings(
        &mut self,
        local: usize,
        now: Timestamp,
        events: &mut Vec<Event>,
    ) {
        let index = self.halls[local].0;
        // Which slots exist, and the booking window, may have changed.
        self.boards.hall(index).clear();
        let (engine, book) = (&mut self.halls[local].1, &mut self.books[local]);
        let booking = &self.config.booking;
        let reader: &HallEngine = engine;
        let flagged = book.flag_closed(now, &|r| {
            let engine = reader;
            let date = engine.config().time_zone.to_datetime(r.start).date();
            let service = engine.config().service_index(&r.service)?;
            let open = open_hours(engine, service, booking.rule(index, service), date);
            if open.iter().any(|s| s.from <= r.start && r.end <= s.to) {
                return None;
            }
            let day = engine.day_hours(date);
            let why = day
                .reason
                .as_deref()
                .or(day.name.as_deref())
                .map_or(String::new(), |w| format!(" ({w})"));
            Some(if day.closed {
                format!("the hall is closed on {date}{why}")
            } else {
                format!("the hall's hours on {date} no longer include this slot{why}")
            })
        });
        if !flagged.is_empty() {
            tracing::warn!(
                hall = %engine.config().id,
                bookings = flagged.len(),
                codes = %flagged.join(","),
                "bookings on a day that closed are flagged for the operator"
            );
        }
        let cfg = engine.config().clone();
        for code in flagged {
            let r = book.get(&code).expect("just flagged");
            let cx = BookCtx {
                hall: &cfg.id,
                zone: &cfg.time_zone,
                limits: &booking.limits,
                grace_s: cfg.policy.appointment_grace_s,
                hours: &|_| Vec::new(),
                working: &|_| true,
            };
            let brief = crate::booking::book_view(r, now, &cx).brief();
            engine.emit_booking(now, BookingAction::Flagged, brief, events);
        }
    }

    /// Each bookable service's bookings and seats on `date` (`/v1/stats`, the gauges).
    pub(super) fn booking_days(&self, local: usize, date: Date, now: Timestamp) -> Vec<BookingDay> {
        let (index, engine) = (self.halls[local].0, &self.halls[local].1);
        booking_days(&self.config, (index, engine), &self.books[local], date, now)
    }

    /// The business day turned: forget bookings no limit can reach any more (older than
    /// the no-show window plus the suspension it may cause), so the book stays bounded.
    pub(super) fn prune_bookings(&mut self, local: usize, today: Date) {
        let limits = &self.config.booking.limits;
        let keep_days = i64::from(limits.no_show_window_days + limits.suspension_days);
        let zone = &self.halls[local].1.config().time_zone;
        let Ok(day) = today.checked_sub(jiff::Span::new().days(keep_days)) else {
            return;
        };
        if let Ok(before) = zone
            .to_ambiguous_timestamp(day.to_datetime(Time::MIN))
            .compatible()
        {
            self.books[local].prune(before);
            self.boards
                .hall(self.halls[local].0)
                .keep_citizens(self.books[local].citizens());
        }
    }

    /// The records of the bookings hall `local` changed; true when there were any.
    pub(super) fn collect_bookings(&mut self, local: usize, batch: &mut Batch) -> bool {
        let hall: Arc<str> = self.halls[local].1.config().id.clone();
        let mut any = false;
        for (code, record) in self.books[local].take_changes() {
            batch.ops.push(Op::PutBooking {
                hall: hall.clone(),
                code,
                json: record.map(|r| serde_json::to_vec(r).expect("records serialize")),
            });
            any = true;
        }
        any
    }
}

impl From<BookingError> for HallFailure {
    fn from(e: BookingError) -> Self {
        HallFailure::Booking(e)
    }
}
