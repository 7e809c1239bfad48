//! The periods the assessment reports cover (日检查、周考勤、月通报、季考核): a day, an ISO
//! week, a month and a quarter, named as `2026-12-03`, `2026-W49`, `2026-12` and `2026-Q4`.
//!
//! Pure calendar arithmetic on civil dates; never reads the clock.

use jiff::civil::{Date, ISOWeekDate, Weekday};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Daily,
    Weekly,
    Monthly,
    Quarterly,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "daily" => Kind::Daily,
            "weekly" => Kind::Weekly,
            "monthly" => Kind::Monthly,
            "quarterly" => Kind::Quarterly,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Daily => "daily",
            Kind::Weekly => "weekly",
            Kind::Monthly => "monthly",
            Kind::Quarterly => "quarterly",
        }
    }

    /// The report's name in the hall's words.
    pub fn title(self) -> &'static str {
        match self {
            Kind::Daily => "日检查",
            Kind::Weekly => "周考勤",
            Kind::Monthly => "月通报",
            Kind::Quarterly => "季考核",
        }
    }

    /// How a period of this kind is written, for error messages.
    pub fn example(self) -> &'static str {
        match self {
            Kind::Daily => "YYYY-MM-DD",
            Kind::Weekly => "YYYY-Www (ISO week, e.g. 2026-W49)",
            Kind::Monthly => "YYYY-MM",
            Kind::Quarterly => "YYYY-Qn (e.g. 2026-Q4)",
        }
    }
}

/// One period: its name and its first and last day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Period {
    pub name: String,
    pub from: Date,
    pub to: Date,
}

impl Period {
    /// The period of `kind` that contains `day`.
    pub fn containing(kind: Kind, day: Date) -> Period {
        match kind {
            Kind::Daily => Period {
                name: day.to_string(),
                from: day,
                to: day,
            },
            Kind::Weekly => {
                let w = day.iso_week_date();
                week(w.year(), w.week()).expect("a date's own ISO week exists")
            }
            Kind::Monthly => month(day.year(), day.month()).expect("a date's own month exists"),
            Kind::Quarterly => {
                quarter(day.year(), (day.month() - 1) / 3 + 1).expect("a date's own quarter exists")
            }
        }
    }

    /// `text` read as a period of `kind`; `None` when it is not one.
    pub fn parse(kind: Kind, text: &str) -> Option<Period> {
        match kind {
            Kind::Daily => text
                .parse::<Date>()
                .ok()
                .map(|d| Period::containing(kind, d)),
            Kind::Weekly => {
                let (y, w) = text.split_once("-W")?;
                week(y.parse().ok()?, w.parse().ok()?)
            }
            Kind::Monthly => {
                let (y, m) = text.split_once('-')?;
                (m.len() == 2).then_some(())?;
                month(y.parse().ok()?, m.parse().ok()?)
            }
            Kind::Quarterly => {
                let (y, q) = text.split_once("-Q")?;
                quarter(y.parse().ok()?, q.parse().ok()?)
            }
        }
    }

    /// Every day of the period, in order.
    pub fn days(&self) -> impl Iterator<Item = Date> + '_ {
        self.from
            .series(jiff::Span::new().days(1))
            .take_while(|d| *d <= self.to)
    }
}

fn week(year: i16, week: i8) -> Option<Period> {
    let monday = ISOWeekDate::new(year, week, Weekday::Monday).ok()?.date();
    let sunday = ISOWeekDate::new(year, week, Weekday::Sunday).ok()?.date();
    Some(Period {
        name: format!("{year:04}-W{week:02}"),
        from: monday,
        to: sunday,
    })
}

fn month(year: i16, month: i8) -> Option<Period> {
    let first = Date::new(year, month, 1).ok()?;
    Some(Period {
        name: format!("{year:04}-{month:02}"),
        from: first,
        to: first.last_of_month(),
    })
}

fn quarter(year: i16, q: i8) -> Option<Period> {
    if !(1..=4).contains(&q) {
        return None;
    }
    let first = Date::new(year, (q - 1) * 3 + 1, 1).ok()?;
    let last = Date::new(year, q * 3, 1).ok()?.last_of_month();
    Some(Period {
        name: format!("{year:04}-Q{q}"),
        from: first,
        to: last,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn periods_are_named_and_bounded_as_the_hall_writes_them() {
        let p = Period::parse(Kind::Weekly, "2026-W49").unwrap();
        assert_eq!((p.from, p.to), (date(2026, 11, 30), date(2026, 12, 6)));
        assert_eq!(Period::containing(Kind::Weekly, date(2026, 12, 3)), p);
        // ISO week 1 of 2027 starts in 2026.
        let w1 = Period::parse(Kind::Weekly, "2027-W01").unwrap();
        assert_eq!(w1.from, date(2027, 1, 4));
        assert_eq!(
            Period::containing(Kind::Weekly, date(2026, 12, 31)).name,
            "2026-W53"
        );
        let m = Period::parse(Kind::Monthly, "2028-02").unwrap();
        assert_eq!(
            (m.from, m.to, m.days().count()),
            (date(2028, 2, 1), date(2028, 2, 29), 29)
        );
        let q = Period::containing(Kind::Quarterly, date(2026, 12, 3));
        assert_eq!(
            (q.name.as_str(), q.from, q.to),
            ("2026-Q4", date(2026, 10, 1), date(2026, 12, 31))
        );
        assert_eq!(q.days().count(), 92);
        for bad in ["2026-W54", "2026-13", "2026-1", "2026-Q5", "2026-Q0", "x"] {
            let kind = match bad.as_bytes().get(5) {
                Some(b'W') => Kind::Weekly,
                Some(b'Q') => Kind::Quarterly,
                _ => Kind::Monthly,
            };
            assert!(Period::parse(kind, bad).is_none(), "{bad}");
        }
    }
}
