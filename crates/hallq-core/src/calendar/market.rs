//! Market days (赶集日) as townships keep them: every N days from an anchor date, the solar
//! dates whose day of the month ends in given digits (1/4/7, 2/5/8, 3/6/9 …), or the lunar
//! (农历) dates whose day ends in given digits (逢农历三、六、九). Pure: a rule answers for a
//! date and never reads a clock.
//!
//! Lunar dates come from ICU4X's `icu_calendar` (the Unicode consortium's, maintained): its
//! Chinese calendar follows GB/T 33661-2017 with the years to 2100 precomputed and agrees
//! with the Purple Mountain Observatory's tables; `lunar_date` is checked here against known
//! Spring Festivals and Mid-Autumn days.

use jiff::civil::Date;

/// One market-day rule of a hall.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarketDays {
    /// Every `days` days from `anchor` (itself a market day), before and after it.
    Every { anchor: Date, days: u16 },
    /// Solar dates whose day of the month ends in one of these digits (`0..=9`); a day 31
    /// counts as ending in 1.
    DayEndsIn { digits: Vec<u8> },
    /// Dates whose lunar (农历) day of the month ends in one of these digits; a leap month's
    /// days count like any other month's (a market does not skip a 闰月).
    LunarDayEndsIn { digits: Vec<u8> },
}

/// A date of the Chinese lunisolar calendar (农历).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LunarDate {
    /// The Gregorian year in which this lunar year began.
    pub year: i32,
    /// 1..=12.
    pub month: u8,
    /// Whether the month is the leap month (闰月) after `month`.
    pub leap: bool,
    /// 1..=30.
    pub day: u8,
}

/// The lunar date of a Gregorian date.
pub fn lunar_date(date: Date) -> LunarDate {
    use icu_calendar::Date as IcuDate;
    use icu_calendar::cal::ChineseTraditional;
    // jiff's dates are proleptic Gregorian in -9999..=9999, which ICU accepts as ISO dates.
    let iso = IcuDate::try_new_iso(
        i32::from(date.year()),
        date.month().unsigned_abs(),
        date.day().unsigned_abs(),
    )
    .expect("a jiff date is a valid ISO date");
    let lunar = iso.to_calendar(ChineseTraditional::new());
    let month = lunar.month();
    LunarDate {
        year: lunar.cyclic_year().related_iso,
        month: month.number(),
        leap: month.to_input().is_leap(),
        day: lunar.day_of_month().0,
    }
}

/// Why a market-day rule is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MarketDaysError {
    #[error("every {0} days: the interval must be 2..=30 days")]
    Interval(u16),
    #[error("digit {0}: the last digit of a day is 0..=9")]
    Digit(u8),
    #[error("no digits: a market rule needs at least one")]
    NoDigits,
}

impl MarketDays {
    /// A rule that is checked once, so `is_market_day` cannot divide by zero or never match.
    pub fn every(anchor: Date, days: u16) -> Result<MarketDays, MarketDaysError> {
        if !(2..=30).contains(&days) {
            return Err(MarketDaysError::Interval(days));
        }
        Ok(MarketDays::Every { anchor, days })
    }

    pub fn day_ends_in(digits: Vec<u8>) -> Result<MarketDays, MarketDaysError> {
        Ok(MarketDays::DayEndsIn {
            digits: check_digits(digits)?,
        })
    }

    pub fn lunar_day_ends_in(digits: Vec<u8>) -> Result<MarketDays, MarketDaysError> {
        Ok(MarketDays::LunarDayEndsIn {
            digits: check_digits(digits)?,
        })
    }

    /// Whether `date` is a market day under this rule.
    pub fn is_market_day(&self, date: Date) -> bool {
        match self {
            MarketDays::Every { anchor, days } => {
                // Days between the anchor and the date, either way round; civil dates in
                // jiff's range differ by far less than i64::MAX days.
                let Ok(span) = date.since((jiff::Unit::Day, *anchor)) else {
                    return false;
                };
                i64::from(span.get_days()).rem_euclid(i64::from(*days)) == 0
            }
            MarketDays::DayEndsIn { digits } => {
                let last = u8::try_from(date.day() % 10).unwrap_or(u8::MAX);
                digits.contains(&last)
            }
            MarketDays::LunarDayEndsIn { digits } => digits.contains(&(lunar_date(date).day % 10)),
        }
    }
}

fn check_digits(mut digits: Vec<u8>) -> Result<Vec<u8>, MarketDaysError> {
    if let Some(&d) = digits.iter().find(|&&d| d > 9) {
        return Err(MarketDaysError::Digit(d));
    }
    if digits.is_empty() {
        return Err(MarketDaysError::NoDigits);
    }
    digits.sort_unstable();
    digits.dedup();
    Ok(digits)
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;

    /// Every date of 2027 (not a leap year) and whether `rule` makes it a market day.
    fn year_2027(rule: &MarketDays) -> Vec<Date> {
        let mut d = date(2027, 1, 1);
        let mut out = Vec::new();
        while d.year() == 2027 {
            if rule.is_market_day(d) {
                out.push(d);
            }
            d = d.tomorrow().unwrap();
        }
        out
    }

    #[test]
    fn every_three_days_from_an_anchor_over_a_year() {
        // Anchor in the previous year: the rule runs forwards and backwards from it.
        let rule = MarketDays::every(date(2026, 12, 30), 3).unwrap();
        let days = year_2027(&rule);
        // 2026-12-30 + 3 = 2027-01-02, then every third day to 2027-12-31 (366 days after
        // the anchor): 122 days.
        assert_eq!(days.first(), Some(&date(2027, 1, 2)));
        assert_eq!(days.last(), Some(&date(2027, 12, 31)));
        assert_eq!(days.len(), 122);
        assert!(
            days.windows(2)
                .all(|w| w[0].until(w[1]).unwrap().get_days() == 3)
        );
        // Before the anchor too.
        assert!(rule.is_market_day(date(2026, 12, 27)));
        assert!(!rule.is_market_day(date(2026, 12, 28)));
        // Five-day markets (the common 五天一场) from an anchor after the year.
        let five = MarketDays::every(date(2028, 3, 1), 5).unwrap();
        let days = year_2027(&five);
        assert!(
            days.windows(2)
                .all(|w| w[0].until(w[1]).unwrap().get_days() == 5)
        );
        assert!(five.is_market_day(date(2028, 2, 25)));
        assert_eq!(days.len(), 73);
    }

    #[test]
    fn solar_days_ending_in_digits_over_a_year() {
        // 1/4/7: days 1, 4, 7, 11, 14, 17, 21, 24, 27 and 31 in every month.
        let rule = MarketDays::day_ends_in(vec![7, 1, 4, 4]).unwrap();
        assert_eq!(
            rule,
            MarketDays::DayEndsIn {
                digits: vec![1, 4, 7]
            }
        );
        let days = year_2027(&rule);
        // 12 months × 9 (1..=27) + the 7 months with a 31st.
        assert_eq!(days.len(), 12 * 9 + 7);
        let january: Vec<i8> = days
            .iter()
            .filter(|d| d.month() == 1)
            .map(|d| d.day())
            .collect();
        assert_eq!(january, [1, 4, 7, 11, 14, 17, 21, 24, 27, 31]);
        // February 2027 has 28 days: no 31st, nothing past the 27th.
        assert_eq!(days.iter().filter(|d| d.month() == 2).count(), 9);
        // 3/6/9 never matches a day 31 or 30; February 2027 has no 29th.
        let late = MarketDays::day_ends_in(vec![3, 6, 9]).unwrap();
        let days = year_2027(&late);
        assert_eq!(days.len(), 12 * 9 - 1);
        assert!(days.iter().all(|d| d.day() < 30));
        // 0/5: days 5, 10, 15, 20, 25, 30 (February: no 30th).
        let zero = MarketDays::day_ends_in(vec![0, 5]).unwrap();
        assert_eq!(year_2027(&zero).len(), 12 * 6 - 1);
    }

    #[test]
    fn lunar_dates_match_known_festivals() {
        let first = |y, m, d| LunarDate {
            year: y,
            month: m,
            leap: false,
            day: d,
        };
        // Spring Festival (正月初一).
        assert_eq!(lunar_date(date(2024, 2, 10)), first(2024, 1, 1));
        assert_eq!(lunar_date(date(2025, 1, 29)), first(2025, 1, 1));
        assert_eq!(lunar_date(date(2026, 2, 17)), first(2026, 1, 1));
        assert_eq!(lunar_date(date(2027, 2, 6)), first(2027, 1, 1));
        // The eve of 2026's Spring Festival is the 29th of a short 12th month of 2025.
        assert_eq!(lunar_date(date(2026, 2, 16)), first(2025, 12, 29));
        // Mid-Autumn (八月十五) and the Dragon Boat Festival (五月初五).
        assert_eq!(lunar_date(date(2024, 9, 17)), first(2024, 8, 15));
        assert_eq!(lunar_date(date(2025, 10, 6)), first(2025, 8, 15));
        assert_eq!(lunar_date(date(2025, 5, 31)), first(2025, 5, 5));
        // 2025 has a leap sixth month (闰六月), starting on 2025-07-25.
        assert_eq!(
            lunar_date(date(2025, 7, 25)),
            LunarDate {
                year: 2025,
                month: 6,
                leap: true,
                day: 1
            }
        );
    }

    #[test]
    fn lunar_days_ending_in_digits_over_a_year() {
        // 逢农历初五、十五、廿五: three market days in every lunar month.
        let rule = MarketDays::lunar_day_ends_in(vec![5]).unwrap();
        let days = year_2027(&rule);
        assert!(days.contains(&date(2027, 2, 10))); // 正月初五
        assert!(days.contains(&date(2027, 2, 20))); // 元宵, 正月十五
        assert!(days.contains(&date(2027, 9, 15))); // 中秋, 八月十五
        assert!(!days.contains(&date(2027, 2, 6))); // 春节
        // Within a lunar month the market days are ten days apart; across a month's end
        // nine or ten days, as the month has 29 or 30 days.
        assert!(days.windows(2).all(|w| {
            let gap = w[0].until(w[1]).unwrap().get_days();
            (9..=10).contains(&gap)
        }));
        // 2027 runs from the 24th of the 11th lunar month of 2026 to the 4th of the 12th of
        // 2027 (whose 29 days end on the eve of 2028's Spring Festival, 2028-01-26): the 25th
        // of that 11th month, then 12 full months (no leap month in 2027), not yet a 5th.
        assert_eq!(lunar_date(date(2027, 1, 1)).day, 24);
        assert_eq!(
            lunar_date(date(2027, 12, 31)),
            LunarDate {
                year: 2027,
                month: 12,
                leap: false,
                day: 4
            }
        );
        assert_eq!(lunar_date(date(2028, 1, 26)).day, 1);
        assert_eq!(days.len(), 1 + 12 * 3);
        // 3/6/9 lunar: 9 market days a month (no lunar 30th ends in 3, 6 or 9).
        let late = MarketDays::lunar_day_ends_in(vec![9, 3, 6]).unwrap();
        assert_eq!(
            late,
            MarketDays::LunarDayEndsIn {
                digits: vec![3, 6, 9]
            }
        );
        assert!(
            year_2027(&late)
                .iter()
                .all(|&d| [3, 6, 9].contains(&(lunar_date(d).day % 10)))
        );
    }

    #[test]
    fn bad_rules_are_refused() {
        assert_eq!(
            MarketDays::every(date(2027, 1, 1), 1),
            Err(MarketDaysError::Interval(1))
        );
        assert_eq!(
            MarketDays::every(date(2027, 1, 1), 0),
            Err(MarketDaysError::Interval(0))
        );
        assert_eq!(
            MarketDays::day_ends_in(vec![1, 10]),
            Err(MarketDaysError::Digit(10))
        );
        assert_eq!(
            MarketDays::day_ends_in(vec![]),
            Err(MarketDaysError::NoDigits)
        );
        assert_eq!(
            MarketDays::lunar_day_ends_in(vec![11]),
            Err(MarketDaysError::Digit(11))
        );
    }
}
