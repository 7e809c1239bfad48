//! `[booking]` and `[[booking.slots]]` as validated: the hashing keys, the fairness limits and
//! which services of which halls publish bookable slots. The file is read and checked by the
//! daemon's config (`config::validate::booking`). Must never hold a citizen's identifier, only
//! the keys that hash them.

use super::citizen::Keys;

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
    /// Appointment-only hours before the service opens (早晚弹性办), 0..=60.
    pub before_opening_minutes: u32,
    /// Appointment-only hours after it closes, 0..=60.
    pub after_closing_minutes: u32,
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
