//! Hall configuration: what halls exist, how they queue, who may touch them.
//!
//! Loading is two steps, as in ripgrep's low/high args: `raw` deserializes the TOML exactly as
//! written (keeping byte spans), `validate` turns it into the types below and reports every
//! problem with file, line, column and field. Nothing downstream ever sees an unvalidated
//! value, so the engine can index by position without checking again.

mod officers;
mod raw;
mod validate;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use serde::Serialize;

pub use crate::diag::{SourceError, SourceErrors};
pub use officers::{Officer, Photo, RatingPolicy};

/// The embedded demo: a city hall, a county hall, a township centre and a village station.
pub const DEMO_SOURCE: &str = include_str!("demo.toml");
/// How the demo config is named in diagnostics.
pub const DEMO_LABEL: &str = "<embedded demo config>";

/// A validated configuration. Halls are stored in a vector; a hall's position is its
/// `HallIdx` everywhere in the daemon.
#[derive(Debug)]
pub struct Config {
    /// Where the config came from, for logs.
    pub source: String,
    /// True only for the embedded demo config: demo tokens work and only loopback is served.
    pub demo: bool,
    pub server: ServerConfig,
    pub store: StoreConfig,
    /// Whether metric series carry the hall or only its tier.
    pub metric_labels: crate::metrics::LabelMode,
    pub halls: Vec<Arc<HallConfig>>,
    pub tokens: Vec<TokenConfig>,
    /// Working calendars as loaded at start; the deadline engine holds the current ones
    /// (a calendar can be replaced at run time).
    pub calendars: Vec<CalendarEntry>,
    pub suspension_reasons: Vec<SuspensionReason>,
    pub alarm_policies: Vec<AlarmPolicy>,
    /// The matters catalogue; the last entry is always the built-in rectification matter.
    pub matters: Vec<Arc<Matter>>,
    hall_index: HashMap<Arc<str>, usize>,
    matter_index: HashMap<Arc<str>, usize>,
    /// The officers roster (公示牌), in config order.
    pub officers: Vec<Officer>,
    /// `[rating]`: the citizen's rating window, short absences, the complaint limit.
    pub rating: RatingPolicy,
}

impl Config {
    /// The time zone of times that belong to no hall (an alarm consumer's rewinds): the first
    /// hall's, as the config lists them (there is always one).
    pub fn home_zone(&self) -> &TimeZone {
        &self.halls[0].time_zone
    }

    /// Parse and validate a config file's text. `file` is used in error messages only.
    /// Calendar files are read relative to the current directory.
    pub fn from_toml(file: &str, source: &str) -> Result<Config, SourceErrors> {
        validate::load(
            file,
            source,
            false,
            validate::Files::Dir(std::path::Path::new(".")),
        )
    }

    /// Read and validate a config file from disk.
    pub fn from_file(path: &std::path::Path) -> Result<Config, SourceErrors> {
        let label = path.display().to_string();
        let source = std::fs::read_to_string(path).map_err(|e| {
            SourceError::at(
                &label,
                "",
                None,
                "",
                format!("cannot read config file: {e}"),
            )
        })?;
        let dir = path.parent().unwrap_or(std::path::Path::new("."));
        validate::load(&label, &source, false, validate::Files::Dir(dir))
    }

    /// The embedded demo config. It is validated by a unit test, so this cannot fail at run
    /// time unless the binary itself is broken.
    pub fn demo() -> Config {
        validate::load(DEMO_LABEL, DEMO_SOURCE, true, validate::Files::Embedded)
            .unwrap_or_else(|e| panic!("the embedded demo config is invalid:\n{e}"))
    }

    /// Position of the hall with this id.
    pub fn hall_index(&self, id: &str) -> Option<usize> {
        self.hall_index.get(id).copied()
    }

    pub fn matter_index(&self, id: &str) -> Option<usize> {
        self.matter_index.get(id).copied()
    }

    pub fn calendar_index(&self, id: &str) -> Option<usize> {
        self.calendars.iter().position(|c| &*c.id == id)
    }

    pub fn suspension_index(&self, id: &str) -> Option<usize> {
        self.suspension_reasons.iter().position(|r| &*r.id == id)
    }

    /// Position of the built-in rectification matter (整改): a bad rating opens one.
    pub fn rectification_matter(&self) -> usize {
        self.matters.len() - 1
    }

    /// Whether `hall` is `root` or lies below it in the tier tree.
    pub fn is_within(&self, hall: usize, root: usize) -> bool {
        let mut at = Some(hall);
        while let Some(h) = at {
            if h == root {
                return true;
            }
            at = self.halls[h].parent;
        }
        false
    }
}

/// Daemon-level settings; CLI flags override `listen` and `data`.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub data: PathBuf,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// Commands waiting for one shard before new ones are refused with 503.
    pub queue_depth: usize,
    /// How long in-flight requests may take to finish after SIGTERM.
    pub shutdown_grace_s: u64,
    /// Seconds between SSE keep-alive comments, so proxies keep idle streams open.
    pub sse_keepalive_s: u64,
    /// Events a display may fall behind before it is cut off (it then resumes from the log).
    pub sse_buffer: usize,
    /// Subscribers per hall stream before new ones are refused with 503.
    pub max_subscribers: usize,
    /// A connection must deliver a complete request head this long after it opened, or
    /// after the first byte of a later head arrived; otherwise it is closed.
    pub header_timeout_s: u64,
    /// A request body must arrive whole this long after its head (408 otherwise).
    pub body_timeout_s: u64,
    /// A keep-alive connection with no request in progress is closed after this long.
    pub idle_timeout_s: u64,
    /// A response the client does not read (its socket stays full) for this long closes
    /// the connection.
    pub write_timeout_s: u64,
    /// Open connections at most; 0 takes it from the descriptor limit at start.
    pub max_connections: usize,
    /// The last connections under `max_connections`, kept for requests with a valid token
    /// and health probes.
    pub reserved_connections: usize,
    /// Open connections per client address; 0 for no limit.
    pub max_connections_per_address: usize,
    /// Whether loopback clients count against `max_connections_per_address`.
    pub limit_loopback: bool,
    /// Events a stream subscriber may have waiting before it is cut off.
    pub sse_max_lag_events: usize,
    /// Seconds a stream subscriber may leave an event unread before it is cut off.
    pub sse_max_lag_s: u64,
    /// Citizen ticket-page streams open at once per ticket link.
    pub max_streams_per_link: usize,
    /// When set, `/metrics` answers only a bearer token with this SHA-256.
    pub metrics_token_sha256: Option<[u8; 32]>,
}

/// Durability and retention settings.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Events kept per hall stream for `Last-Event-ID` resume; older points get a snapshot.
    pub event_retention: u64,
    /// Most requests committed in one transaction (one fsync). 1 disables group commit,
    /// which exists only to measure what group commit buys.
    pub max_batch: usize,
    /// How long an `Idempotency-Key` result is kept, in seconds.
    pub idempotency_ttl_s: u64,
    /// The store's page cache, in bytes. Recovery reads every open case once; a bigger cache
    /// only keeps those pages resident (the operating system caches the file anyway).
    pub cache_bytes: usize,
    /// Every commit also saves redb's allocator state (and commits in two phases), so a
    /// start after a crash need not walk and checksum the whole file to rebuild it.
    pub quick_repair: bool,
    /// After a failed commit the writer refuses writes and tries the store again after this
    /// long, doubling the wait after each failed try up to `retry_max_ms`.
    pub retry_min_ms: u64,
    pub retry_max_ms: u64,
}

/// Tiers of the hall tree, from the top. A hall's parent has a strictly higher tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Province,
    City,
    County,
    Township,
    Village,
}

impl Tier {
    pub const ALL: [Tier; 5] = [
        Tier::Province,
        Tier::City,
        Tier::County,
        Tier::Township,
        Tier::Village,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Province => "province",
            Tier::City => "city",
            Tier::County => "county",
            Tier::Township => "township",
            Tier::Village => "village",
        }
    }
}

/// 综合窗口 / 分领域窗口 / 专业窗口.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowKind {
    /// 综合窗口: serves any matter.
    General,
    /// 分领域窗口: serves one domain.
    Domain,
    /// 专业窗口: serves one department's matters.
    Department,
}

/// Where a ticket re-enters a queue after a transfer or reactivation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Placement {
    /// By its original issue order, as if it had always been in this queue.
    Original,
    /// Before every ticket placed by issue order (FIFO among head placements).
    Head,
    /// Behind everyone waiting now.
    Back,
}

/// The calling policy of a hall, possibly overridden per window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Aging cap: a ticket waiting at least this long goes first. `None` disables aging.
    pub max_wait_s: Option<i64>,
    /// At most this many priority calls in a row while normal tickets wait (k in k:1).
    pub max_priority_run: u32,
    /// An appointment becomes callable this long before its slot.
    pub appointment_early_s: i64,
    /// An appointment ranks as priority until this long after its slot, then as normal.
    pub appointment_grace_s: i64,
    /// Recalls allowed; the next recall makes the ticket a no-show.
    pub recall_limit: u32,
    /// How long a no-show may be reactivated.
    pub reactivate_s: i64,
    /// Where a transferred ticket enters its new queue.
    pub transfer_placement: Placement,
    /// Where a reactivated no-show re-enters its queue.
    pub reactivate_placement: Placement,
    /// A called ticket not started within this long raises an alarm. `None` disables it.
    pub start_timeout_s: Option<i64>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_wait_s: Some(60 * 60),
            max_priority_run: 2,
            appointment_early_s: 15 * 60,
            appointment_grace_s: 10 * 60,
            recall_limit: 2,
            reactivate_s: 30 * 60,
            transfer_placement: Placement::Original,
            reactivate_placement: Placement::Back,
            start_timeout_s: Some(5 * 60),
        }
    }
}

/// One hall (政务服务中心 / 便民服务中心 / 服务站).
#[derive(Debug)]
pub struct HallConfig {
    pub id: Arc<str>,
    pub name: Arc<str>,
    pub tier: Tier,
    /// Position of the parent hall in `Config::halls`.
    pub parent: Option<usize>,
    pub parent_id: Option<Arc<str>>,
    pub time_zone: TimeZone,
    pub time_zone_name: Arc<str>,
    /// Position of the hall's working calendar in `Config::calendars`, if any is configured.
    pub calendar: Option<usize>,
    /// That calendar as loaded from the config: the hall's schedule starts from it (holidays
    /// close the hall, make-up days open it). One replaced at run time reaches the hall's
    /// engine as a command, not through here.
    pub working_calendar: Option<Arc<crate::calendar::Calendar>>,
    /// Local time at which the business day turns (numbers reset). Default midnight.
    pub day_starts: Time,
    pub hours: OpeningHours,
    /// `[[hall.hours_override]]`: dated exceptions that win over the calendar and the week.
    /// Overrides set through the API win over these and live in the hall's record.
    pub hours_overrides: BTreeMap<Date, DayOverride>,
    /// Announcement template with `{number}` and `{window}` placeholders.
    pub announcement: Arc<str>,
    pub policy: Policy,
    pub services: Vec<ServiceConfig>,
    pub windows: Vec<WindowConfig>,
    service_index: HashMap<Arc<str>, usize>,
    window_index: HashMap<Arc<str>, usize>,
}

impl HallConfig {
    pub fn service_index(&self, id: &str) -> Option<usize> {
        self.service_index.get(id).copied()
    }

    pub fn window_index(&self, id: &str) -> Option<usize> {
        self.window_index.get(id).copied()
    }

    /// The service whose ticket prefix is `prefix` (prefixes are unique within a hall).
    pub fn service_by_prefix(&self, prefix: &str) -> Option<usize> {
        self.services.iter().position(|s| &*s.prefix == prefix)
    }

    /// Comma-separated service ids, for error messages that say what would be accepted.
    pub fn service_ids(&self) -> String {
        join_ids(self.services.iter().map(|s| &*s.id))
    }

    pub fn window_ids(&self) -> String {
        join_ids(self.windows.iter().map(|w| &*w.id))
    }

    /// The spoken/displayed call sentence, e.g. 请A023号到5号窗口办理.
    ///
    /// One pass over the template into one allocation: this runs on every call, and two
    /// `str::replace`s cost a fifth of the whole call-next command (benches/queue.rs).
    /// Inserted text is never searched again, as with the two replaces in a row (a number
    /// is letters and digits, so it cannot contain a placeholder).
    pub fn announce(&self, number: &str, window: &str) -> String {
        let mut out = String::with_capacity(self.announcement.len() + number.len() + window.len());
        let mut rest = &*self.announcement;
        while let Some(at) = rest.find('{') {
            out.push_str(&rest[..at]);
            rest = &rest[at..];
            if let Some(after) = rest.strip_prefix("{number}") {
                out.push_str(number);
                rest = after;
            } else if let Some(after) = rest.strip_prefix("{window}") {
                out.push_str(window);
                rest = after;
            } else {
                out.push('{');
                rest = &rest[1..];
            }
        }
        out.push_str(rest);
        out
    }
}

fn join_ids<'a>(ids: impl Iterator<Item = &'a str>) -> String {
    ids.collect::<Vec<_>>().join(", ")
}

/// Opening hours per weekday (Monday first). An empty day is closed; `always` means the
/// hall is open around the clock on every day, holidays included (only a dated override
/// closes it). Intervals are ordered and do not overlap; an end of `Time::MAX` is 24:00.
///
/// These are the weekly table only: whether the hall is open on a date also depends on its
/// calendar and dated overrides (`queue::schedule`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpeningHours {
    pub always: bool,
    pub days: [Vec<(Time, Time)>; 7],
    /// Hours of a calendar make-up day (调休上班) that falls on a day the calendar's week has
    /// off; `None` takes those of the week's first working weekday.
    pub makeup_day: Option<Vec<(Time, Time)>>,
}

impl OpeningHours {
    pub fn always() -> Self {
        OpeningHours {
            always: true,
            days: Default::default(),
            makeup_day: None,
        }
    }

    /// The weekly table's intervals for `weekday`.
    pub fn weekday(&self, weekday: Weekday) -> &[(Time, Time)] {
        &self.days[weekday.to_monday_zero_offset() as usize]
    }

    /// Whether the weekly table alone has the hall open at this weekday and time.
    pub fn is_open(&self, weekday: Weekday, time: Time) -> bool {
        self.always
            || self
                .weekday(weekday)
                .iter()
                .any(|&(from, to)| from <= time && time < to)
    }
}

/// A dated exception to a hall's hours (临时闭厅, 延时服务, a special Saturday).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayOverride {
    /// The day's intervals, ordered and not overlapping; empty means closed all day.
    pub hours: Vec<(Time, Time)>,
    /// Why, as shown to citizens (e.g. 系统升级暂停办理).
    pub reason: Option<Arc<str>>,
}

/// Longest override reason accepted, in characters.
pub const MAX_REASON_CHARS: usize = 200;

/// `HH:MM` as a time of day; `24:00` only when `is_end` (as `Time::MAX`, the end of the day).
pub fn parse_clock(s: &str, is_end: bool) -> Option<Time> {
    let (h, m) = s.split_once(':')?;
    let (h, m): (i8, i8) = (h.trim().parse().ok()?, m.trim().parse().ok()?);
    match (h, m) {
        (24, 0) if is_end => Some(Time::MAX),
        (0..=23, 0..=59) => Time::new(h, m, 0, 0).ok(),
        _ => None,
    }
}

/// `HH:MM-HH:MM` as an interval of a day; the message says what is wrong.
pub fn parse_interval(s: &str) -> Result<(Time, Time), String> {
    let Some((a, b)) = s.split_once('-') else {
        return Err(format!("`{s}` is not an interval HH:MM-HH:MM"));
    };
    let bad = |t: &str| format!("`{t}` is not a time of day HH:MM");
    let from = parse_clock(a, false).ok_or_else(|| bad(a))?;
    let to = parse_clock(b, true).ok_or_else(|| bad(b))?;
    if from >= to {
        return Err("the interval ends before it starts".to_owned());
    }
    Ok((from, to))
}

/// A day's intervals, each `HH:MM-HH:MM`, in order and not overlapping. The error gives the
/// position of the first bad one and why.
pub fn parse_day_hours<'a>(
    list: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<(Time, Time)>, (usize, String)> {
    let mut out: Vec<(Time, Time)> = Vec::new();
    for (k, s) in list.into_iter().enumerate() {
        let pair = parse_interval(s).map_err(|e| (k, e))?;
        if out.last().is_some_and(|&(_, end)| end > pair.0) {
            return Err((k, "intervals must be in order and not overlap".to_owned()));
        }
        out.push(pair);
    }
    Ok(out)
}

/// `08:30-12:00`, with `24:00` for an interval that runs to the end of the day.
pub fn format_interval((from, to): (Time, Time)) -> String {
    let end = if to == Time::MAX {
        "24:00".to_owned()
    } else {
        to.strftime("%H:%M").to_string()
    };
    format!("{}-{end}", from.strftime("%H:%M"))
}

/// A queue category (e.g. 社保医保, prefix A).
#[derive(Debug)]
pub struct ServiceConfig {
    pub id: Arc<str>,
    pub name: Arc<str>,
    /// One or two upper-case letters.
    pub prefix: Arc<str>,
    pub first: u32,
    pub last: u32,
    /// When true the counter carries over from one business day to the next and wraps from
    /// `last` to `first`; when false it starts at `first` every day. Either way a day issues
    /// at most `last - first + 1` numbers, so a number is never reused within a day.
    pub wrap: bool,
    pub daily_cap: Option<u32>,
    /// Target wait; a ticket waiting longer raises an alarm.
    pub target_wait_s: Option<i64>,
    /// Service time assumed for estimates until real ones are measured.
    pub expected_service_s: u32,
    /// Digits of the zero-padded number (from `last`, at least 3).
    pub digits: usize,
}

impl ServiceConfig {
    /// Numbers one business day can issue for this service.
    pub fn range_size(&self) -> u32 {
        self.last - self.first + 1
    }

    /// The printed number for sequence value `seq`, e.g. `A023`.
    pub fn format_number(&self, seq: u32) -> String {
        format!("{}{:0width$}", self.prefix, seq, width = self.digits)
    }
}

/// One service a window serves, with its rank (1 = first) and optional weight among
/// services of the same rank.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowService {
    pub service: usize,
    pub rank: u8,
    pub weight: Option<u32>,
}

/// A counter (窗口).
#[derive(Debug)]
pub struct WindowConfig {
    pub id: Arc<str>,
    /// Displayed and spoken name, e.g. 5号窗口.
    pub name: Arc<str>,
    pub kind: WindowKind,
    /// Sorted by rank, then by configuration order.
    pub services: Vec<WindowService>,
    /// Officers assigned to the A and B posts (AB岗); `None` lets anyone sign in.
    pub posts: [Option<Arc<str>>; 2],
    /// The hall policy with this window's overrides applied.
    pub policy: Policy,
}

impl WindowConfig {
    pub fn serves(&self, service: usize) -> bool {
        self.services.iter().any(|s| s.service == service)
    }
}

/// A working calendar loaded from its file.
#[derive(Debug, Clone)]
pub struct CalendarEntry {
    pub id: Arc<str>,
    /// The file it was loaded from, as named in the config.
    pub file: String,
    pub calendar: Arc<crate::calendar::Calendar>,
}

/// Why a case's clock stops, and how (补正 restarts it, special procedures pause it).
#[derive(Debug, Clone)]
pub struct SuspensionReason {
    pub id: Arc<str>,
    pub name: Arc<str>,
    pub mode: crate::calendar::SuspensionMode,
}

/// An alarm ladder: levels from the mildest to the most severe.
#[derive(Debug, Clone)]
pub struct AlarmPolicy {
    pub id: Arc<str>,
    pub levels: Vec<AlarmLevel>,
}

#[derive(Debug, Clone)]
pub struct AlarmLevel {
    /// e.g. yellow (黄牌预警), red (红牌), escalate (督办).
    pub name: Arc<str>,
    pub threshold: Threshold,
}

/// When a level comes due, relative to the case's deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threshold {
    /// At most this much working time remains (working days or working seconds).
    Remaining(crate::calendar::Limit),
    /// At least this much working time has passed since the deadline.
    Overdue(crate::calendar::Limit),
    /// This share of the limit has elapsed.
    ElapsedPercent(u32),
}

/// 即办件 / 承诺件 / 联办件 / 上报件.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseKind {
    /// Due at the close of the acceptance day.
    Instant,
    /// Due within the matter's promised limit.
    Promised,
    /// A lead case with one child per co-handling department; done when all children are.
    Joint,
    /// A forwarding stage at this hall, then the upper hall's limit.
    Escalated,
}

impl CaseKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CaseKind::Instant => "instant",
            CaseKind::Promised => "promised",
            CaseKind::Joint => "joint",
            CaseKind::Escalated => "escalated",
        }
    }
}

/// A service item (事项) of the catalogue.
#[derive(Debug)]
pub struct Matter {
    pub id: Arc<str>,
    pub name: Arc<str>,
    pub kind: CaseKind,
    /// The promised limit (0wd for instant matters; the upper hall's for escalated ones).
    pub limit: crate::calendar::Limit,
    /// Position in `Config::calendars`; `None` means the hall's calendar.
    pub calendar: Option<usize>,
    /// Position in `Config::alarm_policies`.
    pub policy: usize,
    /// Joint matters: the co-handling departments.
    pub departments: Vec<Department>,
    /// Escalated matters: the forwarding stage's limit.
    pub stage_limit: Option<crate::calendar::Limit>,
    /// The most a stage's approved extensions may add up to, in the limit's unit; `None`:
    /// the stage's own limit (a limit can at most be doubled).
    pub max_extension: Option<crate::calendar::Limit>,
}

#[derive(Debug, Clone)]
pub struct Department {
    pub id: Arc<str>,
    pub name: Arc<str>,
    pub limit: crate::calendar::Limit,
}

/// Roles a bearer token can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Kiosk,
    Counter,
    Display,
    CaseOfficer,
    Supervisor,
    Admin,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Kiosk,
        Role::Counter,
        Role::Display,
        Role::CaseOfficer,
        Role::Supervisor,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Kiosk => "kiosk",
            Role::Counter => "counter",
            Role::Display => "display",
            Role::CaseOfficer => "case-officer",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }
}

/// A bearer token: its SHA-256 (never the token itself), role and hall scope.
#[derive(Debug, Clone)]
pub struct TokenConfig {
    pub name: Arc<str>,
    pub role: Role,
    /// Subtree roots this token covers; `None` means every hall.
    pub halls: Option<Vec<usize>>,
    pub sha256: [u8; 32],
}

/// The demo's public tokens. They are accepted only by the embedded demo config; a real
/// config that carries one of their hashes is refused.
pub const DEMO_TOKENS: [&str; 5] = [
    "demo-kiosk",
    "demo-counter",
    "demo-display",
    "demo-supervisor",
    "demo-admin",
];

/// SHA-256 of a token, as stored in the config.
pub fn token_hash(token: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes()).into()
}

/// Lower-case hex of a hash, as written in config files.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests;
