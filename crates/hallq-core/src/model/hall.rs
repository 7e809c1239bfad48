//! A hall as configured: its tier, zone, hours, announcement and calling policy, the services
//! it issues tickets for and the windows that call them. Pure data and the small pure
//! methods on it (the call sentence, number formatting); never the queue state.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use serde::Serialize;

use crate::calendar::{Calendar, MarketDays};

use super::hours::{DayOverride, OpeningHours};
use super::ids::IdList;

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
    /// "Your turn is near": a ticket with a contact is told once its position in its service
    /// is this or better. 0 disables it.
    pub turn_near: u32,
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
            turn_near: 3,
        }
    }
}

/// One hall (政务服务中心 / 便民服务中心 / 服务站).
#[derive(Debug)]
pub struct Hall {
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
    pub working_calendar: Option<Arc<Calendar>>,
    /// Local time at which the business day turns (numbers reset). Default midnight.
    pub day_starts: Time,
    pub hours: OpeningHours,
    /// `[[hall.hours_override]]`: dated exceptions that win over the calendar and the week.
    /// Overrides set through the API win over these and live in the hall's record.
    pub hours_overrides: BTreeMap<Date, DayOverride>,
    /// 赶集日: the township's market days, which may bring their own hours and services.
    pub market: Option<Market>,
    /// Announcement template with `{number}` and `{window}` placeholders.
    pub announcement: Arc<str>,
    pub policy: Policy,
    pub services: IdList<Service>,
    pub windows: IdList<Window>,
}

impl Hall {
    /// The call sentence when the config gives none: 请A023号到5号窗口办理.
    pub const DEFAULT_ANNOUNCEMENT: &str = "请{number}号到{window}办理";

    pub fn service_index(&self, id: &str) -> Option<usize> {
        self.services.position(id)
    }

    pub fn window_index(&self, id: &str) -> Option<usize> {
        self.windows.position(id)
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

/// A township's market days (赶集日) and what they change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Market {
    pub days: MarketDays,
    /// The hall's hours on a market day, instead of the day's usual ones (a holiday or a
    /// dated override still wins); `None` keeps the usual hours.
    pub hours: Option<Vec<(Time, Time)>>,
}

/// A queue category (e.g. 社保医保, prefix A).
#[derive(Debug)]
pub struct Service {
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
    /// The service's own weekly hours, within the hall's (weekend service for some matters
    /// only); `None` follows the hall. A weekday it leaves out has no service.
    pub hours: Option<OpeningHours>,
    /// Offered only on the hall's market days (赶集日).
    pub market_only: bool,
}

impl Service {
    /// Numbers one business day can issue for this service.
    pub fn range_size(&self) -> u32 {
        self.last - self.first + 1
    }

    /// The printed number for sequence value `seq`, e.g. `A023`.
    pub fn format_number(&self, seq: u32) -> String {
        padded_number(&self.prefix, seq, self.digits)
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
pub struct Window {
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

impl Window {
    pub fn serves(&self, service: usize) -> bool {
        self.services.iter().any(|s| s.service == service)
    }
}

/// `format!("{prefix}{seq:0width$}")`, written by hand: a ticket operation spells its number
/// three to five times (ids, the event, the record, the announcement), and `format!`'s
/// padding was a visible part of a shard's instructions.
fn padded_number(prefix: &str, seq: u32, width: usize) -> String {
    let mut digits = [0u8; 10];
    let mut at = digits.len();
    let mut rest = seq;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let digits = &digits[at..];
    let zeros = width.saturating_sub(digits.len());
    let mut out = String::with_capacity(prefix.len() + zeros + digits.len());
    out.push_str(prefix);
    out.extend(std::iter::repeat_n('0', zeros));
    out.extend(digits.iter().map(|&d| char::from(d)));
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn a_number_is_spelled_as_format_pads_it(
            prefix in "[A-Z]{0,2}",
            seq in prop_oneof![0u32..2000, any::<u32>()],
            width in 0usize..12,
        ) {
            prop_assert_eq!(
                super::padded_number(&prefix, seq, width),
                format!("{prefix}{seq:0width$}")
            );
        }
    }
}
