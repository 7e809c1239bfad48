//! When a service takes bookings on a date (DESIGN.md "Schedules"): the hall's hours for the
//! date (calendar, overrides, market day: `queue::schedule`), cut down to the service's own
//! weekly hours and to market days for a market-only service, then widened by the
//! appointment-only hours before opening and after closing (早晚弹性办). Pure interval
//! arithmetic on local times; it must never decide the hall's hours itself.

use jiff::civil::{Time, Weekday};

use super::SlotRule;
use crate::model::Service;

/// One stretch of a service's bookable day, in local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub from: Time,
    pub to: Time,
    /// Before the hall opens or after it closes: for booked citizens only.
    pub appointment_only: bool,
}

/// The bookable spans of `service` on a date, given the hall's intervals that day, whether
/// it is a market day and the weekday it is worked as (a make-up day's stand-in weekday,
/// `HallEngine::worked_as`), on which the service's own weekly hours are read. A closed hall or service has none: appointment-only hours
/// extend an open day, they never open a closed one.
pub fn service_spans(
    hall_day: &[(Time, Time)],
    market_day: bool,
    service: &Service,
    rule: &SlotRule,
    weekday: Weekday,
) -> Vec<Span> {
    if service.market_only && !market_day {
        return Vec::new();
    }
    let open = match &service.hours {
        None => hall_day.to_vec(),
        Some(h) if h.always => hall_day.to_vec(),
        Some(h) => intersect(hall_day, h.weekday(weekday)),
    };
    let (Some(&(first, _)), Some(&(_, last))) = (open.first(), open.last()) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(open.len() + 2);
    let before = i64::from(rule.before_opening_minutes);
    if before > 0 && first > Time::MIN {
        let from = first
            .checked_sub(jiff::SignedDuration::from_mins(before))
            .unwrap_or(Time::MIN);
        // Never wrap past midnight: an 00:30 opening gets 30 minutes, not 60.
        let from = if from > first { Time::MIN } else { from };
        out.push(Span {
            from,
            to: first,
            appointment_only: true,
        });
    }
    out.extend(open.iter().map(|&(from, to)| Span {
        from,
        to,
        appointment_only: false,
    }));
    let after = i64::from(rule.after_closing_minutes);
    if after > 0 && last < Time::MAX {
        let to = last
            .checked_add(jiff::SignedDuration::from_mins(after))
            .unwrap_or(Time::MAX);
        let to = if to < last { Time::MAX } else { to };
        out.push(Span {
            from: last,
            to,
            appointment_only: true,
        });
    }
    out
}

/// The intersection of two ordered, non-overlapping interval lists.
pub fn intersect(a: &[(Time, Time)], b: &[(Time, Time)]) -> Vec<(Time, Time)> {
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let from = a[i].0.max(b[j].0);
        let to = a[i].1.min(b[j].1);
        if from < to {
            out.push((from, to));
        }
        if a[i].1 < b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use jiff::civil::{date, time};

    use super::*;
    use crate::model::OpeningHours;

    fn service(hours: Option<OpeningHours>, market_only: bool) -> Service {
        Service {
            id: "social".into(),
            name: "社保".into(),
            prefix: "A".into(),
            first: 1,
            last: 999,
            wrap: false,
            daily_cap: None,
            target_wait_s: None,
            expected_service_s: 300,
            digits: 3,
            hours,
            market_only,
        }
    }

    fn rule(before: u32, after: u32) -> SlotRule {
        SlotRule {
            slot_minutes: 30,
            capacity: 2,
            days_ahead: 5,
            book_until_minutes: 0,
            cancel_until_minutes: 0,
            before_opening_minutes: before,
            after_closing_minutes: after,
        }
    }

    const DAY: &[(Time, Time)] = &[
        (time(9, 0, 0, 0), time(12, 0, 0, 0)),
        (time(13, 30, 0, 0), time(17, 0, 0, 0)),
    ];

    #[test]
    fn service_hours_cut_the_halls_day() {
        // `social` on Saturday mornings only (and all of Monday).
        let mut week = OpeningHours {
            always: false,
            days: Default::default(),
            makeup_day: None,
        };
        week.days[5] = vec![(time(8, 0, 0, 0), time(11, 0, 0, 0))];
        week.days[0] = vec![(Time::MIN, Time::MAX)];
        let s = service(Some(week), false);
        let sat = date(2027, 1, 2).weekday();
        let spans = service_spans(DAY, false, &s, &rule(0, 0), sat);
        assert_eq!(
            spans,
            [Span {
                from: time(9, 0, 0, 0),
                to: time(11, 0, 0, 0),
                appointment_only: false
            }]
        );
        assert_eq!(
            service_spans(DAY, false, &s, &rule(0, 0), date(2027, 1, 4).weekday()).len(),
            2
        );
        // A weekday the service's table leaves out: nothing, whatever the hall keeps.
        assert!(
            service_spans(DAY, false, &s, &rule(60, 60), date(2027, 1, 5).weekday()).is_empty()
        );
    }

    #[test]
    fn appointment_hours_widen_an_open_day_only() {
        let s = service(None, false);
        let spans = service_spans(DAY, false, &s, &rule(60, 30), date(2027, 1, 4).weekday());
        assert_eq!(spans.len(), 4);
        assert_eq!(
            spans[0],
            Span {
                from: time(8, 0, 0, 0),
                to: time(9, 0, 0, 0),
                appointment_only: true
            }
        );
        assert_eq!(
            spans[3],
            Span {
                from: time(17, 0, 0, 0),
                to: time(17, 30, 0, 0),
                appointment_only: true
            }
        );
        assert!(
            service_spans(&[], false, &s, &rule(60, 60), date(2027, 1, 4).weekday()).is_empty()
        );
        // Never across midnight.
        let late = [(time(0, 30, 0, 0), time(23, 30, 0, 0))];
        let spans = service_spans(&late, false, &s, &rule(60, 60), date(2027, 1, 4).weekday());
        assert_eq!(spans[0].from, Time::MIN);
        assert_eq!(spans[2].to, Time::MAX);
    }

    #[test]
    fn market_only_services_open_on_market_days() {
        let s = service(None, true);
        assert!(service_spans(DAY, false, &s, &rule(0, 0), date(2027, 1, 4).weekday()).is_empty());
        assert_eq!(
            service_spans(DAY, true, &s, &rule(0, 0), date(2027, 1, 4).weekday()).len(),
            2
        );
    }

    #[test]
    fn intersection_of_interval_lists() {
        let t = |h| time(h, 0, 0, 0);
        assert_eq!(
            intersect(&[(t(8), t(12)), (t(13), t(18))], &[(t(10), t(14))]),
            [(t(10), t(12)), (t(13), t(14))]
        );
        assert!(intersect(&[(t(8), t(9))], &[(t(9), t(10))]).is_empty());
    }
}
