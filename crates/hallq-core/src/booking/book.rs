//! One hall's bookings: slots with seats left, booking under the fairness limits,
//! cancelling, check-in and the flags of days that closed. Pure: `now`, the open hours and
//! the rules come in as arguments (`BookCtx`); it must never read a clock or touch a store.

use std::sync::Arc;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde::Serialize;

use super::citizen::CitizenHash;
use super::{
    BookingDay, BookingError, BookingRecord, BookingStatus, BookingView, Channel, Flag, FlagView,
    LimitRule, Limits, MaskedCitizen, SlotRule, qr_payload,
};
use crate::hash::FastMap;
use crate::localtime::LocalTime;

/// What a booking command needs to know besides the book: the hall's zone and rules, and
/// the hall's schedule as functions of the date.
pub struct BookCtx<'a> {
    pub hall: &'a Arc<str>,
    pub zone: &'a TimeZone,
    pub limits: &'a Limits,
    /// The hall's appointment grace: a booking not checked in this long after its slot
    /// starts is a no-show.
    pub grace_s: i64,
    /// The instants the service takes bookings on a date (empty when closed).
    pub hours: &'a dyn Fn(Date) -> Vec<OpenSpan>,
    /// Whether a date is a working day of the hall's calendar (the booking window counts them).
    pub working: &'a dyn Fn(Date) -> bool,
}

impl BookCtx<'_> {
    fn local(&self, at: Timestamp) -> LocalTime {
        LocalTime::new(at, self.zone)
    }

    fn date(&self, at: Timestamp) -> Date {
        self.zone.to_datetime(at).date()
    }

    fn midnight(&self, date: Date) -> Timestamp {
        self.zone
            .to_ambiguous_timestamp(date.to_datetime(jiff::civil::Time::MIN))
            .compatible()
            .unwrap_or(Timestamp::MAX)
    }

    /// The last date bookings are open for: the `days_ahead`-th working day after today.
    fn last_date(&self, today: Date, days_ahead: u32) -> Date {
        let mut d = today;
        let mut left = days_ahead;
        // A calendar with no working day at all would never end: stop after a year.
        for _ in 0..366 {
            if left == 0 {
                break;
            }
            d = d.tomorrow().unwrap_or(d);
            if (self.working)(d) {
                left -= 1;
            }
        }
        d
    }
}

/// A stretch of a service's bookable day (`booking::hours::Span` as instants).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenSpan {
    pub from: Timestamp,
    pub to: Timestamp,
    /// Outside the hall's hours: for booked citizens only (早晚弹性办).
    pub appointment_only: bool,
}

/// A slot of a service on a day, with the seats left.
#[derive(Debug, Clone, Serialize)]
pub struct Slot {
    pub start: LocalTime,
    pub end: LocalTime,
    pub capacity: u32,
    pub left: u32,
    /// Before opening or after closing: the hall is open for booked citizens only.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub appointment_only: bool,
    /// Whether it can still be booked now (seats left, inside the booking window and before
    /// the latest booking time).
    pub bookable: bool,
}

/// A booking request, the citizen already hashed and masked by the caller.
#[derive(Debug, Clone)]
pub struct NewBooking {
    pub service: usize,
    pub start: Timestamp,
    pub channel: Channel,
    /// The hash under the current key, what the record keeps.
    pub citizen: CitizenHash,
    /// The hashes under every key, to find the citizen's earlier bookings.
    pub known_as: Vec<CitizenHash>,
    pub id_masked: String,
    pub phone_masked: String,
    pub name_masked: Option<String>,
    /// Drawn by the caller; `CodeTaken` asks for another.
    pub code: String,
}

#[derive(Debug, Default)]
pub struct Book {
    by_code: FastMap<String, BookingRecord>,
    /// Seats held per (service id, slot start second): bookings `Booked` or `CheckedIn`.
    /// Kept with every change, so a capacity check is one lookup.
    taken: FastMap<(Arc<str>, i64), u32>,
    /// Codes of each citizen's bookings, for the limits and check-in by ID.
    by_citizen: FastMap<CitizenHash, Vec<String>>,
    /// Codes changed since the last `take_changes`.
    changed: Vec<String>,
}

impl Book {
    /// The book as stored.
    pub fn restore(records: Vec<BookingRecord>) -> Book {
        let mut book = Book::default();
        for r in records {
            book.index(&r);
            book.by_code.insert(r.code.clone(), r);
        }
        book
    }

    fn index(&mut self, r: &BookingRecord) {
        if r.holds_seat() {
            *self
                .taken
                .entry((r.service.clone(), r.start.as_second()))
                .or_default() += 1;
        }
        self.by_citizen
            .entry(r.citizen.clone())
            .or_default()
            .push(r.code.clone());
    }

    fn release(&mut self, service: &Arc<str>, start: Timestamp) {
        if let Some(n) = self.taken.get_mut(&(service.clone(), start.as_second())) {
            *n = n.saturating_sub(1);
        }
    }

    /// Seats held in the slot of `service` starting at `start`.
    pub fn seats_taken(&self, service: &Arc<str>, start: Timestamp) -> u32 {
        self.taken
            .get(&(service.clone(), start.as_second()))
            .copied()
            .unwrap_or(0)
    }

    /// The codes changed since the last call, with their records (`None`: deleted).
    pub fn take_changes(&mut self) -> Vec<(String, Option<&BookingRecord>)> {
        let mut codes = std::mem::take(&mut self.changed);
        codes.sort_unstable();
        codes.dedup();
        codes
            .into_iter()
            .map(|c| {
                let r = self.by_code.get(&c);
                (c, r)
            })
            .collect()
    }

    pub fn get(&self, code: &str) -> Option<&BookingRecord> {
        self.by_code.get(code)
    }

    /// The citizens (hashes) with at least one booking in the book: only they can be over
    /// a limit, every limit being at least 1.
    pub fn citizens(&self) -> impl Iterator<Item = &CitizenHash> {
        self.by_citizen.keys()
    }

    /// The latest booking time of a slot starting at `start`.
    pub fn book_until(rule: &SlotRule, start: Timestamp) -> Timestamp {
        Timestamp::from_second(start.as_second() - i64::from(rule.book_until_minutes) * 60)
            .expect("in range")
    }

    /// The refusal of a booking for the full slot starting at `start`.
    pub fn slot_full(rule: &SlotRule, start: Timestamp, cx: &BookCtx) -> BookingError {
        BookingError::SlotFull {
            start: cx.local(start).to_string(),
            capacity: rule.capacity,
        }
    }

    /// The slot starts of a service on `date`, from the open hours.
    fn day_slots(&self, rule: &SlotRule, date: Date, cx: &BookCtx) -> Vec<OpenSpan> {
        let len = i64::from(rule.slot_minutes) * 60;
        let mut out = Vec::new();
        for span in (cx.hours)(date) {
            let mut s = span.from.as_second();
            while s + len <= span.to.as_second() {
                out.push(OpenSpan {
                    from: Timestamp::from_second(s).expect("in range"),
                    to: Timestamp::from_second(s + len).expect("in range"),
                    appointment_only: span.appointment_only,
                });
                s += len;
            }
        }
        out
    }

    /// The dates of the booking window (today and the next `days_ahead` working days) on
    /// which the service has slots: what a citizen's booking page offers.
    pub fn open_dates(&self, rule: &SlotRule, now: Timestamp, cx: &BookCtx) -> Vec<Date> {
        let today = cx.date(now);
        let last = cx.last_date(today, rule.days_ahead);
        let mut out = Vec::new();
        let mut d = today;
        while d <= last {
            if !self.day_slots(rule, d, cx).is_empty() {
                out.push(d);
            }
            match d.tomorrow() {
                Ok(next) => d = next,
                Err(_) => break,
            }
        }
        out
    }

    /// Every slot of `service` on `date`, with seats left at `now`.
    pub fn slots(
        &self,
        service: &Arc<str>,
        rule: &SlotRule,
        date: Date,
        now: Timestamp,
        cx: &BookCtx,
    ) -> Vec<Slot> {
        let today = cx.date(now);
        let open_day = date >= today && date <= cx.last_date(today, rule.days_ahead);
        let until = i64::from(rule.book_until_minutes) * 60;
        self.day_slots(rule, date, cx)
            .into_iter()
            .map(|span| {
                let (start, end) = (span.from, span.to);
                let taken = self.seats_taken(service, start);
                let left = rule.capacity.saturating_sub(taken);
                Slot {
                    start: cx.local(start),
                    end: cx.local(end),
                    capacity: rule.capacity,
                    left,
                    appointment_only: span.appointment_only,
                    bookable: left > 0 && open_day && now.as_second() <= start.as_second() - until,
                }
            })
            .collect()
    }

    /// Book a seat. Checks, in order: the slot exists on its day, the day is inside the
    /// booking window, the latest booking time, the citizen's limits, then the seats, so a
    /// citizen over a limit learns it even for a full slot.
    pub fn book(
        &mut self,
        service: &Arc<str>,
        rule: &SlotRule,
        req: NewBooking,
        now: Timestamp,
        cx: &BookCtx,
    ) -> Result<&BookingRecord, BookingError> {
        let date = cx.date(req.start);
        let Some(OpenSpan {
            from: start,
            to: end,
            ..
        }) = self
            .day_slots(rule, date, cx)
            .into_iter()
            .find(|s| s.from == req.start)
        else {
            return Err(BookingError::NoSuchSlot {
                service: service.clone(),
                start: cx.local(req.start).to_string(),
            });
        };
        let today = cx.date(now);
        let last = cx.last_date(today, rule.days_ahead);
        if date < today || date > last {
            return Err(BookingError::OutsideWindow {
                date: date.to_string(),
                last: last.to_string(),
            });
        }
        let until = Book::book_until(rule, start);
        if now > until {
            return Err(BookingError::BookingClosed {
                start: cx.local(start).to_string(),
                until: cx.local(until),
            });
        }
        self.check_limits(service, &req.known_as, start, now, cx)?;
        if self.seats_taken(service, start) >= rule.capacity {
            return Err(Book::slot_full(rule, start, cx));
        }
        if self.by_code.contains_key(&req.code) {
            return Err(BookingError::CodeTaken);
        }
        let record = BookingRecord {
            code: req.code.clone(),
            service: service.clone(),
            start,
            end,
            channel: req.channel,
            citizen: req.citizen,
            id_masked: req.id_masked,
            phone_masked: req.phone_masked,
            name_masked: req.name_masked,
            made_at: now,
            status: BookingStatus::Booked,
            checked_in_at: None,
            ticket: None,
            cancelled_at: None,
            flagged: None,
        };
        self.index(&record);
        self.changed.push(record.code.clone());
        Ok(self.by_code.entry(req.code).or_insert(record))
    }

    /// The citizen's bookings, under any of its hashes.
    fn of_citizen<'a>(
        &'a self,
        known_as: &'a [CitizenHash],
    ) -> impl Iterator<Item = &'a BookingRecord> + 'a {
        known_as
            .iter()
            .filter_map(|h| self.by_citizen.get(h))
            .flatten()
            .filter_map(|c| self.by_code.get(c))
    }

    fn check_limits(
        &self,
        service: &Arc<str>,
        known_as: &[CitizenHash],
        start: Timestamp,
        now: Timestamp,
        cx: &BookCtx,
    ) -> Result<(), BookingError> {
        let limits = cx.limits;
        // No-shows first: a suspended citizen books nothing.
        let mut no_shows: Vec<Timestamp> = self
            .of_citizen(known_as)
            .filter(|r| r.status_at(now, cx.grace_s) == BookingStatus::NoShow)
            .map(|r| r.start + cx.grace_s.seconds())
            .collect();
        no_shows.sort_unstable();
        let window = i64::from(limits.no_show_window_days) * 86_400;
        let mut run: Vec<Timestamp> = Vec::new();
        let mut suspended_until = None;
        for t in no_shows {
            run.retain(|&x| t.as_second() - x.as_second() <= window);
            run.push(t);
            if run.len() as u32 >= limits.no_show_limit {
                // The no-shows that caused a suspension are spent by it.
                suspended_until = Some(t + (i64::from(limits.suspension_days) * 86_400).seconds());
                run.clear();
            }
        }
        if let Some(until) = suspended_until
            && until > now
        {
            return Err(BookingError::Limit {
                rule: LimitRule::NoShowSuspension,
                until: cx.local(until),
                detail: format!(
                    "booking is suspended until {}: {} no-shows within {} days suspend booking for {} days",
                    cx.local(until),
                    limits.no_show_limit,
                    limits.no_show_window_days,
                    limits.suspension_days
                ),
            });
        }
        let date = cx.date(start);
        let active: Vec<&BookingRecord> = self
            .of_citizen(known_as)
            .filter(|r| r.status_at(now, cx.grace_s) == BookingStatus::Booked)
            .collect();
        let same_day = active
            .iter()
            .filter(|r| &r.service == service && cx.date(r.start) == date)
            .count() as u32;
        if same_day >= limits.per_service_day {
            let until = cx.midnight(date.tomorrow().unwrap_or(date));
            return Err(BookingError::Limit {
                rule: LimitRule::PerServiceDay,
                until: cx.local(until),
                detail: format!(
                    "at most {} active booking(s) per citizen for service `{service}` on {date}; cancel one to book another",
                    limits.per_service_day
                ),
            });
        }
        let monday = date
            .checked_sub((date.weekday().to_monday_zero_offset() as i64).days())
            .unwrap_or(date);
        let next_monday = monday.checked_add(7.days()).unwrap_or(date);
        let same_week = active
            .iter()
            .filter(|r| {
                let d = cx.date(r.start);
                d >= monday && d < next_monday
            })
            .count() as u32;
        if same_week >= limits.per_week {
            let until = cx.midnight(next_monday);
            return Err(BookingError::Limit {
                rule: LimitRule::PerWeek,
                until: cx.local(until),
                detail: format!(
                    "at most {} active bookings per citizen in the week of {monday}; cancel one or book from {next_monday}",
                    limits.per_week
                ),
            });
        }
        Ok(())
    }

    /// Cancel a booking; refused after the latest cancellation time.
    pub fn cancel(
        &mut self,
        code: &str,
        rule: Option<&SlotRule>,
        now: Timestamp,
        cx: &BookCtx,
    ) -> Result<&BookingRecord, BookingError> {
        let r = self
            .by_code
            .get(code)
            .ok_or_else(|| BookingError::UnknownBooking { code: code.into() })?;
        let status = r.status_at(now, cx.grace_s);
        if status != BookingStatus::Booked {
            return Err(BookingError::NotActive {
                code: code.into(),
                status,
            });
        }
        let before = rule.map_or(0, |r| i64::from(r.cancel_until_minutes) * 60);
        let until = Timestamp::from_second(r.start.as_second() - before).expect("in range");
        // A booking on a day that closed can always be cancelled.
        if now > until && r.flagged.is_none() {
            return Err(BookingError::CancelClosed {
                code: code.into(),
                until: cx.local(until),
            });
        }
        let (service, start) = (r.service.clone(), r.start);
        self.release(&service, start);
        let r = self.by_code.get_mut(code).expect("looked up above");
        r.status = BookingStatus::Cancelled;
        r.cancelled_at = Some(now);
        self.changed.push(code.into());
        Ok(r)
    }

    /// The booking a check-in at `now` is for: by code, or the citizen's first booking of
    /// today still to come. Changes nothing (the ticket is issued first).
    pub fn to_check_in<'a>(
        &'a self,
        code: Option<&str>,
        known_as: &'a [CitizenHash],
        now: Timestamp,
        cx: &BookCtx,
    ) -> Result<&'a BookingRecord, BookingError> {
        let today = cx.date(now);
        let r = match code {
            Some(code) => self
                .by_code
                .get(code)
                .ok_or_else(|| BookingError::UnknownBooking { code: code.into() })?,
            None => self
                .of_citizen(known_as)
                .filter(|r| r.status == BookingStatus::Booked && cx.date(r.start) == today)
                .min_by_key(|r| r.start)
                .ok_or(BookingError::NoBookingToday)?,
        };
        // A late citizen may still check in today: the queue states the change of class.
        if r.status != BookingStatus::Booked {
            return Err(BookingError::NotActive {
                code: r.code.clone(),
                status: r.status,
            });
        }
        if cx.date(r.start) != today {
            return Err(BookingError::NotToday {
                code: r.code.clone(),
                date: cx.date(r.start).to_string(),
            });
        }
        Ok(r)
    }

    /// Record the check-in of `code` with the ticket it issued.
    pub fn checked_in(&mut self, code: &str, ticket: String, now: Timestamp) -> &BookingRecord {
        let r = self.by_code.get_mut(code).expect("to_check_in found it");
        r.status = BookingStatus::CheckedIn;
        r.checked_in_at = Some(now);
        r.ticket = Some(ticket);
        self.changed.push(code.into());
        r
    }

    /// The bookings of a date (all, or only the flagged ones), by slot.
    pub fn on_date(&self, date: Option<Date>, flagged: bool, cx: &BookCtx) -> Vec<&BookingRecord> {
        let mut out: Vec<&BookingRecord> = self
            .by_code
            .values()
            .filter(|r| date.is_none_or(|d| cx.date(r.start) == d))
            .filter(|r| !flagged || (r.flagged.is_some() && r.holds_seat()))
            .collect();
        out.sort_by(|a, b| a.start.cmp(&b.start).then(a.code.cmp(&b.code)));
        out
    }

    /// Flag the active bookings whose slot is no longer open (the day or the hours closed
    /// after they were made); returns the codes newly flagged. They keep their seats: the
    /// operator decides, and the citizen may cancel at any time.
    pub fn flag_closed(
        &mut self,
        now: Timestamp,
        open: &dyn Fn(&BookingRecord) -> Option<String>,
    ) -> Vec<String> {
        let mut flagged = Vec::new();
        for r in self.by_code.values_mut() {
            if r.status != BookingStatus::Booked || r.flagged.is_some() || r.start < now {
                continue;
            }
            if let Some(reason) = open(r) {
                r.flagged = Some(Flag { reason, at: now });
                flagged.push(r.code.clone());
            }
        }
        self.changed.extend(flagged.iter().cloned());
        flagged
    }

    /// Forget bookings whose slot started before `before` (past every limit's reach).
    pub fn prune(&mut self, before: Timestamp) {
        let old: Vec<String> = self
            .by_code
            .values()
            .filter(|r| r.start < before)
            .map(|r| r.code.clone())
            .collect();
        for code in old {
            if let Some(r) = self.by_code.remove(&code) {
                if r.holds_seat() {
                    self.release(&r.service, r.start);
                }
                if let Some(list) = self.by_citizen.get_mut(&r.citizen) {
                    list.retain(|c| c != &code);
                    if list.is_empty() {
                        self.by_citizen.remove(&r.citizen);
                    }
                }
                self.changed.push(code);
            }
        }
    }

    /// One service's bookings on `date` at `now`, and the seats its slots offer.
    pub fn day_stats(
        &self,
        service: &Arc<str>,
        rule: &SlotRule,
        date: Date,
        now: Timestamp,
        cx: &BookCtx,
    ) -> BookingDay {
        let mut day = BookingDay {
            service: service.to_string(),
            seats: self.day_slots(rule, date, cx).len() as u64 * u64::from(rule.capacity),
            ..BookingDay::default()
        };
        for r in self
            .by_code
            .values()
            .filter(|r| &r.service == service && cx.date(r.start) == date)
        {
            match r.status_at(now, cx.grace_s) {
                BookingStatus::Booked => day.booked += 1,
                BookingStatus::CheckedIn => day.checked_in += 1,
                BookingStatus::Cancelled => day.cancelled += 1,
                BookingStatus::NoShow => day.no_show += 1,
            }
        }
        day.add(&BookingDay::default());
        day
    }

    pub fn view(&self, r: &BookingRecord, now: Timestamp, cx: &BookCtx) -> BookingView {
        view(r, now, cx)
    }
}

/// What the API shows of `r` at `now`.
pub fn view(r: &BookingRecord, now: Timestamp, cx: &BookCtx) -> BookingView {
    BookingView {
        code: r.code.clone(),
        qr: qr_payload(cx.hall, &r.code),
        hall: cx.hall.clone(),
        service: r.service.clone(),
        start: cx.local(r.start),
        end: cx.local(r.end),
        channel: r.channel,
        status: r.status_at(now, cx.grace_s),
        citizen: MaskedCitizen {
            id_number: r.id_masked.clone(),
            phone: r.phone_masked.clone(),
            name: r.name_masked.clone(),
        },
        made_at: cx.local(r.made_at),
        ticket: r.ticket.clone(),
        late: r
            .checked_in_at
            .is_some_and(|t| t.as_second() > r.start.as_second() + cx.grace_s),
        flagged: r.flagged.as_ref().map(|f| FlagView {
            reason: f.reason.clone(),
            at: cx.local(f.at),
        }),
    }
}
