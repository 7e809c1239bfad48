//! Time limits as matters state them: `20wd`, `8wh`, `0.5wh`, `90wm`, `30d`.
//!
//! A limit is an amount in one of three units. Working hours and minutes are one unit
//! (working seconds), so `0.5wh` and `30wm` are the same limit; fractions are accepted only
//! where they come out to a whole number of seconds, so no limit is silently rounded.

use std::fmt;
use std::str::FromStr;

/// The largest number of days a limit may state: longer limits are typos, not matters.
const MAX_DAYS: u32 = 100_000;
/// The largest number of working seconds a limit may state (100,000 working hours).
const MAX_SECONDS: u32 = 360_000_000;

/// A promised time limit (承诺时限) or an extension (延期) of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// Whole working days (工作日): `20wd`.
    WorkingDays(u32),
    /// Office time in seconds: `8wh`, `0.5wh`, `90wm`, `45ws`.
    WorkingSeconds(u32),
    /// Natural (calendar) days (自然日): `30d`.
    NaturalDays(u32),
}

impl Limit {
    /// The amount in the limit's own unit.
    pub fn amount(self) -> u32 {
        match self {
            Limit::WorkingDays(n) | Limit::WorkingSeconds(n) | Limit::NaturalDays(n) => n,
        }
    }

    /// The same unit with another amount.
    pub fn with_amount(self, amount: u32) -> Limit {
        match self {
            Limit::WorkingDays(_) => Limit::WorkingDays(amount),
            Limit::WorkingSeconds(_) => Limit::WorkingSeconds(amount),
            Limit::NaturalDays(_) => Limit::NaturalDays(amount),
        }
    }

    /// The sum of two limits in the same unit; `None` if the units differ or it overflows.
    pub fn checked_add(self, other: Limit) -> Option<Limit> {
        if std::mem::discriminant(&self) != std::mem::discriminant(&other) {
            return None;
        }
        Some(self.with_amount(self.amount().checked_add(other.amount())?))
    }
}

impl fmt::Display for Limit {
    /// The shortest form that parses back to the same limit.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Limit::WorkingDays(n) => write!(f, "{n}wd"),
            Limit::NaturalDays(n) => write!(f, "{n}d"),
            Limit::WorkingSeconds(s) if s % 3600 == 0 => write!(f, "{}wh", s / 3600),
            Limit::WorkingSeconds(s) if s % 60 == 0 => write!(f, "{}wm", s / 60),
            Limit::WorkingSeconds(s) => write!(f, "{s}ws"),
        }
    }
}

/// A string that is not a limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{input}` is not a time limit: {reason}; expected e.g. 20wd (working days), 8wh or 0.5wh \
     (working hours), 90wm (working minutes), 45ws (working seconds) or 30d (natural days)"
)]
pub struct LimitError {
    /// The text as given.
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl FromStr for Limit {
    type Err = LimitError;

    fn from_str(input: &str) -> Result<Limit, LimitError> {
        let error = |reason| LimitError {
            input: input.to_owned(),
            reason,
        };
        let text = input.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .ok_or_else(|| error("the unit is missing"))?;
        let (number, unit) = text.split_at(split);
        if number.is_empty() {
            return Err(error("the amount is missing"));
        }
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        let whole: u64 = whole
            .parse()
            .map_err(|_| error("the amount is not a number"))?;
        let days = |make: fn(u32) -> Limit| {
            if number.contains('.') {
                return Err(error("days are whole: use wh for parts of a day"));
            }
            match u32::try_from(whole) {
                Ok(n) if n <= MAX_DAYS => Ok(make(n)),
                _ => Err(error("more than 100000 days")),
            }
        };
        let seconds = |per_unit: u64| {
            if fraction.len() > 9 || fraction.contains('.') {
                return Err(error("the amount is not a number"));
            }
            let scale = 10u64.pow(fraction.len() as u32);
            let parts: u64 = if fraction.is_empty() {
                0
            } else {
                fraction
                    .parse()
                    .map_err(|_| error("the amount is not a number"))?
            };
            let fractional = parts * per_unit;
            if !fractional.is_multiple_of(scale) {
                return Err(error("it is not a whole number of seconds"));
            }
            let total = whole
                .checked_mul(per_unit)
                .and_then(|s| s.checked_add(fractional / scale))
                .filter(|&s| s <= u64::from(MAX_SECONDS))
                .ok_or_else(|| error("more than 100000 working hours"))?;
            Ok(Limit::WorkingSeconds(total as u32))
        };
        match unit {
            "wd" => days(Limit::WorkingDays),
            "d" => days(Limit::NaturalDays),
            "wh" => seconds(3600),
            "wm" => seconds(60),
            "ws" => seconds(1),
            _ => Err(error("unknown unit")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        let cases = [
            ("20wd", Limit::WorkingDays(20)),
            ("0wd", Limit::WorkingDays(0)),
            ("30d", Limit::NaturalDays(30)),
            ("8wh", Limit::WorkingSeconds(8 * 3600)),
            ("0.5wh", Limit::WorkingSeconds(1800)),
            ("1.25wh", Limit::WorkingSeconds(4500)),
            ("90wm", Limit::WorkingSeconds(5400)),
            ("1.5wm", Limit::WorkingSeconds(90)),
            ("45ws", Limit::WorkingSeconds(45)),
            (" 3wd ", Limit::WorkingDays(3)),
        ];
        for (text, limit) in cases {
            assert_eq!(text.parse::<Limit>(), Ok(limit), "{text}");
        }
    }

    #[test]
    fn display_parses_back() {
        for limit in [
            Limit::WorkingDays(20),
            Limit::NaturalDays(7),
            Limit::WorkingSeconds(7200),
            Limit::WorkingSeconds(5400),
            Limit::WorkingSeconds(61),
        ] {
            assert_eq!(limit.to_string().parse::<Limit>(), Ok(limit));
        }
        assert_eq!(Limit::WorkingSeconds(5400).to_string(), "90wm");
    }

    #[test]
    fn errors_say_what_is_accepted() {
        let cases = [
            ("20", "the unit is missing"),
            ("wd", "the amount is missing"),
            ("20 days", "unknown unit"),
            ("1.5wd", "days are whole: use wh for parts of a day"),
            ("100001wd", "more than 100000 days"),
            ("1.2.3wh", "the amount is not a number"),
            // 0.36 s: rejected rather than rounded.
            ("0.0001wh", "it is not a whole number of seconds"),
            ("100001wh", "more than 100000 working hours"),
        ];
        for (text, reason) in cases {
            let err = text.parse::<Limit>().unwrap_err();
            assert_eq!(err.reason, reason, "{text}");
            assert!(err.to_string().contains("20wd (working days)"), "{err}");
        }
    }

    #[test]
    fn adding_needs_the_same_unit() {
        assert_eq!(
            Limit::WorkingDays(20).checked_add(Limit::WorkingDays(5)),
            Some(Limit::WorkingDays(25))
        );
        assert_eq!(
            Limit::WorkingDays(20).checked_add(Limit::NaturalDays(5)),
            None
        );
    }
}
