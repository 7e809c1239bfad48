//! `[booking]` and `[[booking.slots]]`: the hashing keys, the fairness limits and which
//! services of which halls publish bookable slots. Read as written (`RawBooking`, with spans)
//! and validated into `BookingConfig`; every problem is reported with its position. Must
//! never hold a citizen's identifier, only the keys that hash them.

use serde::Deserialize;
use toml::Spanned;

use super::citizen::Keys;
use crate::diag::SourceError;
use crate::model::Hall;

type S<T> = Spanned<T>;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawBooking {
    /// Secrets of the keyed hash of ID numbers; the first hashes new bookings.
    #[serde(default)]
    pub keys: Option<S<Vec<S<String>>>>,
    pub per_service_day: Option<S<u32>>,
    pub per_week: Option<S<u32>>,
    pub no_show_limit: Option<S<u32>>,
    pub no_show_window_days: Option<S<u32>>,
    pub suspension_days: Option<S<u32>>,
    #[serde(default)]
    pub slots: Vec<RawSlots>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSlots {
    pub hall: S<String>,
    pub service: S<String>,
    pub slot_minutes: Option<S<u32>>,
    pub capacity: S<u32>,
    /// Working days ahead (on the hall's calendar) bookings are open for, today not counted.
    pub days_ahead: Option<S<u32>>,
    /// The latest booking, in minutes before the slot starts.
    pub book_until_minutes: Option<S<u32>>,
    /// The latest cancellation, in minutes before the slot starts.
    pub cancel_until_minutes: Option<S<u32>>,
}

/// Per-citizen fairness limits; each refusal names the one it applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Active bookings of one citizen for one service on one day.
    pub per_service_day: u32,
    /// Active bookings of one citizen in one week (Monday to Sunday), all services.
    pub per_week: u32,
    /// This many no-shows within `no_show_window_days` suspend booking …
    pub no_show_limit: u32,
    pub no_show_window_days: u32,
    /// … for this many days from the no-show that reached the limit.
    pub suspension_days: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            per_service_day: 1,
            per_week: 3,
            no_show_limit: 3,
            no_show_window_days: 90,
            suspension_days: 30,
        }
    }
}

/// How one service of one hall publishes slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotRule {
    pub slot_minutes: u32,
    pub capacity: u32,
    pub days_ahead: u32,
    pub book_until_minutes: u32,
    pub cancel_until_minutes: u32,
}

#[derive(Debug, Default)]
pub struct BookingConfig {
    /// `None` when no service is bookable and no key was given.
    pub keys: Option<Keys>,
    pub limits: Limits,
    /// By hall position, then service position: the service's slots, if it has any.
    pub rules: Vec<Vec<Option<SlotRule>>>,
}

impl BookingConfig {
    pub fn rule(&self, hall: usize, service: usize) -> Option<&SlotRule> {
        self.rules.get(hall)?.get(service)?.as_ref()
    }

    /// Whether any service of `hall` is bookable.
    pub fn hall_books(&self, hall: usize) -> bool {
        self.rules
            .get(hall)
            .is_some_and(|r| r.iter().any(Option::is_some))
    }
}

/// Validate `[booking]` against the halls; the problems go to `errors`.
pub fn validate(
    file: &str,
    src: &str,
    raw: Option<&RawBooking>,
    halls: &[std::sync::Arc<Hall>],
    errors: &mut Vec<SourceError>,
) -> BookingConfig {
    let mut err = |span: std::ops::Range<usize>, field: String, msg: String| {
        errors.push(SourceError::at(file, src, Some(span), field, msg));
    };
    let mut cfg = BookingConfig {
        keys: None,
        limits: Limits::default(),
        rules: halls.iter().map(|h| vec![None; h.services.len()]).collect(),
    };
    let Some(raw) = raw else {
        return cfg;
    };
    if let Some(keys) = &raw.keys {
        let mut good = Vec::new();
        for (i, k) in keys.get_ref().iter().enumerate() {
            if k.get_ref().len() < 16 {
                err(
                    k.span(),
                    format!("booking.keys[{i}]"),
                    "a hashing key needs at least 16 characters (e.g. `hallq token`'s output)"
                        .into(),
                );
            }
            good.push(k.get_ref().as_bytes().to_vec());
        }
        if good.is_empty() {
            err(
                keys.span(),
                "booking.keys".into(),
                "give at least one key".into(),
            );
        } else {
            cfg.keys = Some(Keys::new(good));
        }
    }
    let limits = &mut cfg.limits;
    let mut positive = |v: &Option<S<u32>>, name: &str, slot: &mut u32| {
        if let Some(v) = v {
            if *v.get_ref() == 0 {
                err(
                    v.span(),
                    format!("booking.{name}"),
                    "must be at least 1".into(),
                );
            } else {
                *slot = *v.get_ref();
            }
        }
    };
    positive(
        &raw.per_service_day,
        "per_service_day",
        &mut limits.per_service_day,
    );
    positive(&raw.per_week, "per_week", &mut limits.per_week);
    positive(
        &raw.no_show_limit,
        "no_show_limit",
        &mut limits.no_show_limit,
    );
    positive(
        &raw.no_show_window_days,
        "no_show_window_days",
        &mut limits.no_show_window_days,
    );
    positive(
        &raw.suspension_days,
        "suspension_days",
        &mut limits.suspension_days,
    );
    for (i, s) in raw.slots.iter().enumerate() {
        let path = format!("booking.slots[{i}]");
        let Some(h) = halls
            .iter()
            .position(|h| &*h.id == s.hall.get_ref().as_str())
        else {
            err(
                s.hall.span(),
                format!("{path}.hall"),
                format!("there is no hall `{}`", s.hall.get_ref()),
            );
            continue;
        };
        let Some(svc) = halls[h].service_index(s.service.get_ref()) else {
            err(
                s.service.span(),
                format!("{path}.service"),
                format!(
                    "hall `{}` has no service `{}`",
                    halls[h].id,
                    s.service.get_ref()
                ),
            );
            continue;
        };
        let get = |v: &Option<S<u32>>, default: u32| v.as_ref().map_or(default, |v| *v.get_ref());
        let rule = SlotRule {
            slot_minutes: get(&s.slot_minutes, 30),
            capacity: *s.capacity.get_ref(),
            days_ahead: get(&s.days_ahead, 5),
            book_until_minutes: get(&s.book_until_minutes, 0),
            cancel_until_minutes: get(&s.cancel_until_minutes, 120),
        };
        if !(5..=480).contains(&rule.slot_minutes) {
            let span = s.slot_minutes.as_ref().map_or(s.hall.span(), |v| v.span());
            err(
                span,
                format!("{path}.slot_minutes"),
                "a slot lasts 5 to 480 minutes".into(),
            );
        }
        if rule.capacity == 0 || rule.capacity > 10_000 {
            err(
                s.capacity.span(),
                format!("{path}.capacity"),
                "a slot seats 1 to 10000 citizens".into(),
            );
        }
        if rule.days_ahead > 60 {
            let span = s.days_ahead.as_ref().map_or(s.hall.span(), |v| v.span());
            err(
                span,
                format!("{path}.days_ahead"),
                "bookings open at most 60 working days ahead".into(),
            );
        }
        if cfg.rules[h][svc].is_some() {
            err(
                s.service.span(),
                format!("{path}.service"),
                format!(
                    "hall `{}` service `{}` already has slots",
                    halls[h].id,
                    s.service.get_ref()
                ),
            );
        }
        cfg.rules[h][svc] = Some(rule);
    }
    if cfg.keys.is_none() && cfg.rules.iter().flatten().any(Option::is_some) {
        let span = raw.slots.first().map_or(0..0, |s| s.hall.span());
        err(
            span,
            "booking.keys".into(),
            "bookable slots need `keys` to hash citizens' ID numbers with".into(),
        );
    }
    cfg
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, DEMO_SOURCE};

    fn with(booking: &str) -> Result<Config, String> {
        // The demo's halls and services, without its demo tokens and booking section.
        let halls = &DEMO_SOURCE[..DEMO_SOURCE.find("[[token]]").unwrap()];
        Config::from_toml("b.toml", &format!("{halls}\n{booking}")).map_err(|e| e.to_string())
    }

    #[test]
    fn every_problem_is_located_and_named() {
        let e = with(
            r#"
[booking]
keys = ["short"]
per_week = 0

[[booking.slots]]
hall = "nowhere"
service = "social"
capacity = 2

[[booking.slots]]
hall = "city"
service = "nothing"
capacity = 2

[[booking.slots]]
hall = "city"
service = "social"
capacity = 0
slot_minutes = 1
"#,
        )
        .unwrap_err();
        for needle in [
            "booking.keys[0]",
            "booking.per_week",
            "booking.slots[0].hall: there is no hall `nowhere`",
            "booking.slots[1].service: hall `city` has no service `nothing`",
            "booking.slots[2].capacity",
            "booking.slots[2].slot_minutes",
        ] {
            assert!(e.contains(needle), "{needle} missing from:\n{e}");
        }
    }

    #[test]
    fn slots_need_a_key_and_the_demo_books() {
        let e = with("[[booking.slots]]\nhall = \"city\"\nservice = \"social\"\ncapacity = 2\n")
            .unwrap_err();
        assert!(e.contains("booking.keys"), "{e}");
        let demo = Config::demo();
        let city = demo.hall_index("city").unwrap();
        let social = demo.halls[city].service_index("social").unwrap();
        let rule = demo.booking.rule(city, social).unwrap();
        assert_eq!(
            (rule.slot_minutes, rule.capacity, rule.days_ahead),
            (30, 4, 5)
        );
        assert!(demo.booking.keys.is_some());
    }
}
