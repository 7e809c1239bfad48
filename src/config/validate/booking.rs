//! `[booking]`: the hashing keys, the fairness limits and the bookable slots, checked against
//! the halls and their services into `booking::BookingConfig`; every problem is reported with
//! its position. It never sees a citizen's identifier.

use toml::Spanned;

use crate::booking::citizen::Keys;
use crate::booking::{BookingConfig, Limits, SlotRule};
use crate::config::raw::RawBooking;
use crate::diag::SourceError;
use crate::model::Hall;

/// Validate `[booking]` against the halls; the problems go to `errors`.
pub(super) fn validate(
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
    let mut positive = |v: &Option<Spanned<u32>>, name: &str, slot: &mut u32| {
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
        let get =
            |v: &Option<Spanned<u32>>, default: u32| v.as_ref().map_or(default, |v| *v.get_ref());
        let rule = SlotRule {
            slot_minutes: get(&s.slot_minutes, 30),
            capacity: *s.capacity.get_ref(),
            days_ahead: get(&s.days_ahead, 5),
            book_until_minutes: get(&s.book_until_minutes, 0),
            cancel_until_minutes: get(&s.cancel_until_minutes, 120),
            before_opening_minutes: get(&s.before_opening_minutes, 0),
            after_closing_minutes: get(&s.after_closing_minutes, 0),
        };
        for (v, name) in [
            (&s.before_opening_minutes, "before_opening_minutes"),
            (&s.after_closing_minutes, "after_closing_minutes"),
        ] {
            if let Some(v) = v
                && *v.get_ref() > 60
            {
                err(
                    v.span(),
                    format!("{path}.{name}"),
                    "appointment-only hours extend the day by at most 60 minutes (早晚弹性办)"
                        .into(),
                );
            }
        }
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
