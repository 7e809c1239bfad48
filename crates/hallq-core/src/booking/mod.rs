//! 预约: bookable slots and the bookings made in them, per hall.
//!
//! `Book` is pure, like the queue engine: it takes `now`, the day's open hours and the rules,
//! and returns what happened or why not; no clock, no I/O, no randomness (the booking code is
//! drawn by the caller). The hall's shard owns one `Book` per hall next to its `HallEngine`,
//! so bookings for a slot are applied one after the other by one thread and a slot is never
//! oversold. Citizens appear only as a keyed hash and masked strings (`citizen`): this module
//! must never hold an ID number or phone number in clear.

mod book;
pub mod citizen;
mod config;
pub mod hours;

use std::sync::Arc;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

pub use book::{Book, BookCtx, NewBooking, OpenSpan, Slot, view as book_view};
use citizen::CitizenHash;
pub use config::{BookingConfig, Limits, SlotRule};

use crate::localtime::LocalTime;

/// How the booking was made (现场、电话、网上).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// At the hall's kiosk.
    Onsite,
    /// By the phone desk, entered at a counter.
    Phone,
    /// Through the citizen-facing portal.
    Web,
}

/// Where a booking stands. `NoShow` is never stored: a booking still `Booked` once its slot
/// plus the hall's appointment grace has passed is a no-show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BookingStatus {
    Booked,
    CheckedIn,
    Cancelled,
    NoShow,
}

/// A day that closed after bookings were made on it (an override, a new calendar): the
/// bookings stay and are flagged for the operator to contact the citizens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flag {
    pub reason: String,
    pub at: Timestamp,
}

/// A booking as stored. Holds no identifier in clear.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingRecord {
    pub code: String,
    pub service: Arc<str>,
    pub start: Timestamp,
    pub end: Timestamp,
    pub channel: Channel,
    pub citizen: CitizenHash,
    pub id_masked: String,
    pub phone_masked: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_masked: Option<String>,
    pub made_at: Timestamp,
    /// `Booked`, `CheckedIn` or `Cancelled`.
    pub status: BookingStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_in_at: Option<Timestamp>,
    /// The ticket check-in issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flagged: Option<Flag>,
}

impl BookingRecord {
    /// The status at `now`: a booking never checked in is a no-show `grace_s` after its slot.
    pub fn status_at(&self, now: Timestamp, grace_s: i64) -> BookingStatus {
        match self.status {
            BookingStatus::Booked if now.as_second() > self.start.as_second() + grace_s => {
                BookingStatus::NoShow
            }
            s => s,
        }
    }

    /// Whether it holds a seat of its slot.
    pub fn holds_seat(&self) -> bool {
        matches!(
            self.status,
            BookingStatus::Booked | BookingStatus::CheckedIn
        )
    }
}

/// What the API shows of a booking.
#[derive(Debug, Clone, Serialize)]
pub struct BookingView {
    pub code: String,
    /// What the booking's QR code encodes; a kiosk scanning it checks in with the code.
    pub qr: String,
    pub hall: Arc<str>,
    pub service: Arc<str>,
    pub start: LocalTime,
    pub end: LocalTime,
    pub channel: Channel,
    pub status: BookingStatus,
    pub citizen: MaskedCitizen,
    pub made_at: LocalTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    /// Checked in after the slot's grace, when it had already counted as a no-show: the
    /// citizen came, so it no longer does, and the ticket ranks as a walk-in (the ticket's
    /// `reclassified` says so).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub late: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flagged: Option<FlagView>,
}

/// What happened to a booking, on the hall's event stream (`event: booking`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BookingAction {
    Booked,
    Cancelled,
    CheckedIn,
    /// Its day or hours closed after it was made: the operator should contact the citizen.
    Flagged,
}

/// A booking as the hall's event stream shows it: the slot and the code, never the citizen.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BookingBrief {
    pub code: String,
    pub service: Arc<str>,
    pub start: LocalTime,
    pub end: LocalTime,
    pub channel: Channel,
    pub status: BookingStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub late: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flagged: Option<String>,
}

impl BookingView {
    pub fn brief(&self) -> BookingBrief {
        BookingBrief {
            code: self.code.clone(),
            service: self.service.clone(),
            start: self.start,
            end: self.end,
            channel: self.channel,
            status: self.status,
            ticket: self.ticket.clone(),
            late: self.late,
            flagged: self.flagged.as_ref().map(|f| f.reason.clone()),
        }
    }
}

/// What a hall offers a citizen to book: its bookable services and the dates with slots.
#[derive(Debug, Clone, Serialize)]
pub struct Offer {
    pub hall: Arc<str>,
    pub hall_name: Arc<str>,
    pub time_zone: Arc<str>,
    pub services: Vec<ServiceOffer>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServiceOffer {
    pub service: Arc<str>,
    pub name: Arc<str>,
    pub slot_minutes: u32,
    pub capacity: u32,
    /// Today and the window's working days that have slots (market days only, for a
    /// market-only service).
    pub dates: Vec<jiff::civil::Date>,
}

/// One service's bookings on one day, for `/v1/stats` and the metrics.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BookingDay {
    pub service: String,
    /// Seats the day's slots offer (slots × capacity).
    pub seats: u64,
    /// Still to come (booked, not checked in, not yet a no-show).
    pub booked: u64,
    pub checked_in: u64,
    pub cancelled: u64,
    pub no_show: u64,
    /// Seats held (booked, checked in or no-show) over seats offered.
    pub utilisation: Option<f64>,
}

impl BookingDay {
    /// Add another hall's day of the same service (or any service, for a total).
    pub fn add(&mut self, o: &BookingDay) {
        self.seats += o.seats;
        self.booked += o.booked;
        self.checked_in += o.checked_in;
        self.cancelled += o.cancelled;
        self.no_show += o.no_show;
        let held = self.booked + self.checked_in + self.no_show;
        self.utilisation = (self.seats > 0).then(|| held as f64 / self.seats as f64);
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct MaskedCitizen {
    pub id_number: String,
    pub phone: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FlagView {
    pub reason: String,
    pub at: LocalTime,
}

/// The QR payload of a booking.
pub fn qr_payload(hall: &str, code: &str) -> String {
    format!("HALLQ-BOOKING:{hall}:{code}")
}

/// Which fairness rule refused a booking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LimitRule {
    /// Active bookings per citizen, service and day.
    PerServiceDay,
    /// Active bookings per citizen and week.
    PerWeek,
    /// Booking suspended after repeated no-shows.
    NoShowSuspension,
}

impl LimitRule {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitRule::PerServiceDay => "per-service-day",
            LimitRule::PerWeek => "per-week",
            LimitRule::NoShowSuspension => "no-show-suspension",
        }
    }
}

/// Why a booking command did nothing. Nothing changed when one is returned.
///
/// Not `#[non_exhaustive]`, like `QueueError`: the API gives every variant its status in one
/// exhaustive match (`src/api/bookings.rs`), so a new variant must fail to compile there.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BookingError {
    #[error("hall `{hall}` publishes no slots for service `{service}`")]
    NotBookable { hall: Arc<str>, service: Arc<str> },
    #[error("{start} is not a slot of service `{service}` (see GET …/slots for the day)")]
    NoSuchSlot { service: Arc<str>, start: String },
    #[error("bookings for {date} are not open: they open for today up to {last}")]
    OutsideWindow { date: String, last: String },
    #[error("the slot at {start} took its last booking at {until}")]
    BookingClosed { start: String, until: LocalTime },
    #[error("the slot at {start} is full ({capacity} seats booked)")]
    SlotFull { start: String, capacity: u32 },
    #[error("{detail}")]
    Limit {
        rule: LimitRule,
        until: LocalTime,
        detail: String,
    },
    #[error("there is no booking `{code}`")]
    UnknownBooking { code: String },
    #[error("no booking for today matches that ID number")]
    NoBookingToday,
    #[error("booking `{code}` is {status:?}, not booked", status = status)]
    NotActive { code: String, status: BookingStatus },
    #[error("booking `{code}` could be cancelled until {until}")]
    CancelClosed { code: String, until: LocalTime },
    #[error("booking `{code}` is for {date}, not today")]
    NotToday { code: String, date: String },
    #[error("the booking code is taken")]
    CodeTaken,
    #[error("the {channel} channel needs a {role} token")]
    WrongChannel {
        channel: &'static str,
        role: &'static str,
    },
}

impl BookingError {
    /// The stable problem code.
    pub fn code(&self) -> &'static str {
        match self {
            BookingError::NotBookable { .. } => "not-bookable",
            BookingError::NoSuchSlot { .. } => "no-such-slot",
            BookingError::OutsideWindow { .. } => "outside-booking-window",
            BookingError::BookingClosed { .. } => "booking-closed",
            BookingError::SlotFull { .. } => "slot-full",
            BookingError::Limit { .. } => "booking-limit",
            BookingError::UnknownBooking { .. } | BookingError::NoBookingToday => "unknown-booking",
            BookingError::NotActive { .. } => "booking-not-active",
            BookingError::CancelClosed { .. } => "cancel-closed",
            BookingError::NotToday { .. } => "booking-not-today",
            BookingError::CodeTaken => "code-taken",
            BookingError::WrongChannel { .. } => "wrong-channel",
        }
    }
}
