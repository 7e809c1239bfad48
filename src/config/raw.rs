//! The config file exactly as written. Fields that validation may reject keep their byte span
//! (`Spanned`) so the error can point at them; unknown keys are refused by serde with a span.

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use toml::Spanned;

type S<T> = Spanned<T>;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub store: RawStore,
    #[serde(default)]
    pub metrics: RawMetrics,
    /// Defaults for every hall's calling policy.
    #[serde(default)]
    pub policy: RawPolicy,
    #[serde(default, rename = "hall")]
    pub halls: Vec<RawHall>,
    #[serde(default, rename = "token")]
    pub tokens: Vec<RawToken>,
    #[serde(default, rename = "calendar")]
    pub calendars: Vec<RawCalendarRef>,
    #[serde(default, rename = "suspension")]
    pub suspensions: Vec<RawSuspension>,
    #[serde(default, rename = "alarm_policy")]
    pub alarm_policies: Vec<RawAlarmPolicy>,
    #[serde(default, rename = "matter")]
    pub matters: Vec<RawMatter>,
    #[serde(default, rename = "officer")]
    pub officers: Vec<RawOfficer>,
    #[serde(default)]
    pub rating: RawRating,
    /// `[booking]`: read and validated by `booking::config`.
    pub booking: Option<RawBooking>,
    /// `[cluster]`: absent for the embedded single-node mode.
    pub cluster: Option<S<RawCluster>>,
    /// `[[webhook]]`: receivers of applicant notifications.
    #[serde(default, rename = "webhook")]
    pub webhooks: Vec<RawWebhook>,
}

/// A receiver of applicant notifications (`notify`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebhook {
    pub name: S<String>,
    pub url: S<String>,
    pub secret: S<String>,
    /// Event names; all when absent.
    pub events: Option<S<Vec<S<String>>>>,
    pub max_attempts: Option<S<u64>>,
    pub max_age_s: Option<S<u64>>,
    pub backoff_s: Option<S<u64>>,
    pub backoff_max_s: Option<S<u64>>,
    pub timeout_s: Option<S<u64>>,
    /// A PEM file (relative to the config file) of CA certificates an `https://` receiver's
    /// certificate may chain to, besides the system's roots.
    pub ca: Option<S<String>>,
}

/// `[cluster]`: the PostgreSQL log of record and this node's name and address.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCluster {
    pub postgres: Option<S<String>>,
    pub node: Option<S<String>>,
    pub advertise: Option<S<String>>,
    pub lease_s: Option<S<u32>>,
}

/// An officer of the roster (公示牌).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOfficer {
    pub staff_no: S<String>,
    pub name: S<String>,
    /// Relative to the config file.
    pub photo: Option<S<String>>,
}

/// `[rating]`: the citizen's rating window, short absences, the complaint limit.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawRating {
    pub window_min: Option<S<u32>>,
    pub short_absence_min: Option<S<u32>>,
    pub complaint_limit: Option<S<String>>,
    pub reasons: Option<Vec<String>>,
}

/// A working calendar in the official notice format, in its own file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCalendarRef {
    pub id: S<String>,
    /// Relative to the config file.
    pub file: S<String>,
}

/// A suspension reason and whether it pauses or restarts the clock.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSuspension {
    pub id: S<String>,
    pub name: S<String>,
    pub mode: S<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlarmPolicy {
    pub id: S<String>,
    pub levels: S<Vec<S<RawLevel>>>,
}

/// One rung of an alarm ladder: exactly one threshold.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLevel {
    pub level: S<String>,
    /// Fires when at most this much working time remains (`1wd`, `0wd`, `2wh`).
    pub remaining: Option<S<String>>,
    /// Fires when at least this much working time has passed since the deadline.
    pub overdue: Option<S<String>>,
    /// Fires when this share of the limit has elapsed.
    pub elapsed_percent: Option<S<u32>>,
}

/// A government service item (事项) in the catalogue.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMatter {
    pub id: S<String>,
    pub name: S<String>,
    /// instant (即办件), promised (承诺件), joint (联办件), escalated (上报件).
    pub kind: S<String>,
    /// The promised limit; for an escalated matter, the upper hall's limit.
    pub limit: Option<S<String>>,
    /// Defaults to the hall's calendar.
    pub calendar: Option<S<String>>,
    pub alarm_policy: Option<S<String>>,
    /// Joint matters: one co-handling department each, with its own limit.
    pub departments: Option<Vec<RawDepartment>>,
    /// Escalated matters: the limit for forwarding to the upper hall.
    pub stage_limit: Option<S<String>>,
    /// The most a stage's extensions may add up to; default: the stage's limit.
    pub max_extension: Option<S<String>>,
    /// The statutory acceptance clock (default `3wd`): 不予受理 is decided within it.
    pub acceptance_limit: Option<S<String>>,
    /// The delivery stage's limit (default `2wd`).
    pub delivery_limit: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDepartment {
    pub id: S<String>,
    pub name: S<String>,
    pub limit: S<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: Option<S<String>>,
    pub data: Option<String>,
    pub body_limit_kib: Option<S<u32>>,
    pub queue_depth: Option<S<u32>>,
    pub shutdown_grace_s: Option<u32>,
    pub sse_keepalive_s: Option<S<u32>>,
    pub sse_buffer: Option<S<u32>>,
    pub max_subscribers: Option<S<u32>>,
    /// 0: one per core.
    pub shards: Option<S<u32>>,
    pub header_timeout_s: Option<S<u32>>,
    pub body_timeout_s: Option<S<u32>>,
    pub idle_timeout_s: Option<S<u32>>,
    pub write_timeout_s: Option<S<u32>>,
    /// 0: from the descriptor limit.
    pub max_connections: Option<S<u32>>,
    pub reserved_connections: Option<S<u32>>,
    /// 0: no limit per address.
    pub max_connections_per_address: Option<S<u32>>,
    pub limit_loopback: Option<bool>,
    pub sse_max_lag_events: Option<S<u32>>,
    pub sse_max_lag_s: Option<S<u32>>,
    /// 0: every event written at once.
    pub sse_coalesce_ms: Option<S<u32>>,
    pub max_streams_per_link: Option<S<u32>>,
    pub metrics_token_sha256: Option<S<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawMetrics {
    /// "hall" (series per hall) or "tier" (series per tier, for thousands of halls).
    pub labels: Option<S<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    pub event_retention: Option<S<u64>>,
    pub max_batch: Option<S<u32>>,
    pub idempotency_ttl_h: Option<S<u32>>,
    pub cache_mb: Option<S<u32>>,
    pub quick_repair: Option<bool>,
    pub retry_min_ms: Option<S<u32>>,
    pub retry_max_ms: Option<S<u32>>,
    pub checkpoint_writes: Option<S<u32>>,
    pub checkpoint_interval_ms: Option<S<u32>>,
    pub log_segment_mb: Option<S<u32>>,
    pub checkpoint_flush_kb: Option<S<u32>>,
    pub writer_priority: Option<S<u32>>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    /// 0 disables aging.
    pub max_wait_min: Option<u32>,
    pub max_priority_run: Option<S<u32>>,
    pub appointment_early_min: Option<u32>,
    pub appointment_grace_min: Option<u32>,
    pub recall_limit: Option<u32>,
    pub reactivate_min: Option<u32>,
    pub transfer_placement: Option<S<String>>,
    pub reactivate_placement: Option<S<String>>,
    /// Minutes a called ticket may stay unstarted before an alarm; 0 disables.
    pub start_timeout_min: Option<u32>,
    /// Tell a ticket with a contact when this many or fewer are ahead of it, itself
    /// included; 0 disables.
    pub turn_near: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHall {
    pub id: S<String>,
    pub name: S<String>,
    pub tier: S<String>,
    pub parent: Option<S<String>>,
    pub time_zone: Option<S<String>>,
    /// Working calendar for the hall's own deadlines (rectifications) and for matters that
    /// name none; defaults to the first `[[calendar]]`.
    pub calendar: Option<S<String>>,
    pub day_starts: Option<S<String>>,
    pub hours: Option<RawHours>,
    /// Dated exceptions to the hours (临时闭厅, 延时服务, a special Saturday).
    #[serde(default, rename = "hours_override")]
    pub hours_overrides: Vec<RawHoursOverride>,
    /// 赶集日: the township's market days and what they bring.
    pub market: Option<S<RawMarket>>,
    pub announcement: Option<S<String>>,
    pub policy: Option<RawPolicy>,
    #[serde(default, rename = "service")]
    pub services: Vec<RawService>,
    #[serde(default, rename = "window")]
    pub windows: Vec<RawWindow>,
}

/// Opening hours: `always = true`, or per weekday a list of `"HH:MM-HH:MM"`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawHours {
    #[serde(default)]
    pub always: bool,
    pub mon: Option<Vec<S<String>>>,
    pub tue: Option<Vec<S<String>>>,
    pub wed: Option<Vec<S<String>>>,
    pub thu: Option<Vec<S<String>>>,
    pub fri: Option<Vec<S<String>>>,
    pub sat: Option<Vec<S<String>>>,
    pub sun: Option<Vec<S<String>>>,
    /// Hours of a calendar `work` day (调休 make-up day) that falls on a weekday the calendar's
    /// week has off; without it, those of the calendar week's first working weekday.
    pub makeup_day: Option<Vec<S<String>>>,
}

impl RawHours {
    pub fn days(&self) -> [(&'static str, Option<&Vec<S<String>>>); 7] {
        [
            ("mon", self.mon.as_ref()),
            ("tue", self.tue.as_ref()),
            ("wed", self.wed.as_ref()),
            ("thu", self.thu.as_ref()),
            ("fri", self.fri.as_ref()),
            ("sat", self.sat.as_ref()),
            ("sun", self.sun.as_ref()),
        ]
    }
}

/// `[hall.market]`: one rule (every N days from an anchor, solar or lunar day digits), and
/// optionally the hall's hours on a market day.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMarket {
    pub every_days: Option<S<u16>>,
    pub anchor: Option<S<toml::value::Datetime>>,
    pub day_ends_in: Option<S<Vec<S<u8>>>>,
    pub lunar_day_ends_in: Option<S<Vec<S<u8>>>>,
    pub hours: Option<S<Vec<S<String>>>>,
}

/// `[[hall.hours_override]]`: one date, closed or with its own hours.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHoursOverride {
    pub date: S<toml::value::Datetime>,
    pub closed: Option<S<bool>>,
    pub hours: Option<S<Vec<S<String>>>>,
    /// Shown to citizens while the hall is closed by it, e.g. 系统升级.
    pub reason: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    pub id: S<String>,
    pub name: S<String>,
    pub prefix: S<String>,
    pub first: Option<S<u32>>,
    pub last: Option<S<u32>>,
    pub wrap: Option<bool>,
    pub daily_cap: Option<S<u32>>,
    pub target_wait_min: Option<u32>,
    pub expected_service_min: Option<S<f64>>,
    /// The service's own weekly hours within the hall's (weekend service for some matters).
    pub hours: Option<RawHours>,
    /// Offered on the hall's market days only.
    pub market_only: Option<S<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWindow {
    pub id: S<String>,
    pub name: S<String>,
    pub kind: Option<S<String>>,
    pub services: S<Vec<S<RawWindowService>>>,
    pub posts: Option<RawPosts>,
    pub policy: Option<RawPolicy>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPosts {
    pub a: Option<String>,
    pub b: Option<String>,
}

/// A window's service: `"social"` (rank by position) or `{ service, rank, weight }`.
#[derive(Debug)]
pub struct RawWindowService {
    pub service: String,
    pub rank: Option<u8>,
    pub weight: Option<u32>,
}

impl<'de> Deserialize<'de> for RawWindowService {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Full {
            service: String,
            rank: Option<u8>,
            weight: Option<u32>,
        }

        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawWindowService;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a service id or { service = \"id\", rank = 1, weight = 1 }")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(RawWindowService {
                    service: v.to_owned(),
                    rank: None,
                    weight: None,
                })
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let f = Full::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(RawWindowService {
                    service: f.service,
                    rank: f.rank,
                    weight: f.weight,
                })
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawToken {
    pub name: S<String>,
    pub role: S<String>,
    /// Subtree roots, or `["*"]` for every hall.
    pub halls: S<Vec<S<String>>>,
    pub sha256: S<String>,
}

/// `[booking]` and its `[[booking.slots]]`.
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
    /// Appointment-only minutes before opening (早晚弹性办), at most 60.
    pub before_opening_minutes: Option<S<u32>>,
    /// Appointment-only minutes after closing, at most 60.
    pub after_closing_minutes: Option<S<u32>>,
}
