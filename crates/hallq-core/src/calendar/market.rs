//! Market days (赶集日) as townships keep them: every N days from an anchor date, or the solar
//! dates whose day of the month ends in given digits (1/4/7, 2/5/8, 3/6/9 …). Pure: a rule
//! answers for a date and never reads a clock. Lunar (农历) rules are not here yet: they need
//! a maintained lunisolar crate, checked against known dates.

use jiff::civil::Date;

/// One market-day rule of a hall.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarketDays {
    /// Every `days` days from `anchor` (itself a market day), before and after it.
    Every { anchor: Date, days: u16 },
    /// Solar dates whose day of the month ends in one of these digits (`0..=9`); a day 31
    /// counts as ending in 1.
    DayEndsIn { digits: Vec<u8> },
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

    pub fn day_ends_in(mut digits: Vec<u8>) -> Result<MarketDays, MarketDaysError> {
        if let Some(&d) = digits.iter().find(|&&d| d > 9) {
            return Err(MarketDaysError::Digit(d));
        }
        if digits.is_empty() {
            return Err(MarketDaysError::NoDigits);
        }
        digits.sort_unstable();
        digits.dedup();
        Ok(MarketDays::DayEndsIn { digits })
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
        }
    }
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
    }
}
