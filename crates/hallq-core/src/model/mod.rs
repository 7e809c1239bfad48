//! The domain model: halls and their services, windows, hours and calling policy; the
//! catalogue of matters, working calendars, suspension reasons and alarm ladders.
//!
//! These are the validated values the engines run on. They are built by the daemon's config
//! loader (which reports every problem with file, line and field) and never change after
//! that, so engines index them by position without checking again. The model's own defaults
//! (the standard alarm ladder, the default suspension reasons, the announcement template,
//! the calling policy) live here, next to the types they fill. Nothing here parses files,
//! reads the clock or knows about tokens, listeners or storage.

mod catalogue;
mod hall;
mod hours;
mod ids;

pub use self::catalogue::{
    AlarmLevel, AlarmPolicy, CalendarEntry, CaseCatalogue, CaseKind, Department, Matter,
    SuspensionReason, Threshold,
};
pub use self::hall::{
    Hall, Market, Placement, Policy, Service, Tier, Window, WindowKind, WindowService,
};
pub use self::hours::{
    DayOverride, MAX_REASON_CHARS, OpeningHours, format_interval, parse_clock, parse_day_hours,
    parse_interval,
};
pub use self::ids::IdList;
