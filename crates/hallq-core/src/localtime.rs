//! `LocalTime`: an instant as the API shows it, in the offset of the hall it belongs to.
//!
//! Hall staff read the times the API prints as their own clock's (DESIGN.md, "Citizens'
//! data": every time the API shows is in the hall's own offset), so `2026-12-04T09:00:00Z`
//! for a deadline at 17:00 in Shanghai gets misread. Views and events therefore carry a
//! `LocalTime` (the instant and the offset its hall's time zone has *at that instant*, so a
//! zone with daylight saving time is right on both sides of a change) and render it as
//! RFC 3339 with that offset: `2026-12-04T17:00:00+08:00`.
//!
//! Stored records keep plain `Timestamp`s: storage is not presentation, and a hall's zone
//! may be corrected in the config without rewriting its history. A stored record that embeds
//! a view (the hall record's recent calls) reads any RFC 3339 offset back, `Z` included, so
//! records written before this type existed still load.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use jiff::fmt::temporal::Pieces;
use jiff::tz::{Offset, TimeZone};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An instant and the offset to show it in. Compares by instant first; two values of the same
/// instant in different offsets are different renderings, so they are not equal.
///
/// Kept as the parts of both (16 bytes) rather than a `Timestamp` and an `Offset` (24, with
/// padding): views carry up to seven, and the call-next path copies them; at 24 bytes the
/// view and the call event grew enough to show in `cargo bench --bench queue`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LocalTime {
    /// `Timestamp::as_second` and `subsec_nanosecond` of the instant.
    second: i64,
    nanosecond: i32,
    /// `Offset::seconds`.
    offset: i32,
}

impl LocalTime {
    /// `at` in `zone`: the offset is the one `zone` has at that instant.
    pub fn new(at: Timestamp, zone: &TimeZone) -> LocalTime {
        LocalTime::with_offset(at, zone.to_offset(at))
    }

    /// `at` shown with a given offset.
    pub fn with_offset(at: Timestamp, offset: Offset) -> LocalTime {
        LocalTime {
            second: at.as_second(),
            nanosecond: at.subsec_nanosecond(),
            offset: offset.seconds(),
        }
    }

    /// The instant, for arithmetic and comparisons.
    pub fn at(self) -> Timestamp {
        Timestamp::new(self.second, self.nanosecond).expect("the parts of a Timestamp")
    }

    pub fn offset(self) -> Offset {
        Offset::from_seconds(self.offset).expect("the seconds of an Offset")
    }
}

/// A time zone with the offset it has around one instant, and the span it holds for: every
/// instant in that span is shown with two comparisons instead of a walk of the zone's rules.
/// The queue engine renders five or six instants per call, most of them of today; for
/// Asia/Shanghai (no transition since 1991) the span never ends.
#[derive(Debug, Clone)]
pub struct LocalZone {
    zone: TimeZone,
    offset: Offset,
    /// The zone has `offset` for `from <= t < until`: from its last transition at or before
    /// the instant the span was taken at, until its next one after it.
    from: Timestamp,
    until: Timestamp,
}

impl LocalZone {
    /// `zone`, with the span of the offset it has at `now`.
    pub fn new(zone: TimeZone, now: Timestamp) -> LocalZone {
        // `preceding` gives transitions strictly before its argument: one exactly at `now`
        // starts the span too.
        let from = now
            .checked_add(jiff::SignedDuration::from_nanos(1))
            .ok()
            .and_then(|after| zone.preceding(after).next())
            .map_or(Timestamp::MIN, |t| t.timestamp());
        let until = zone
            .following(now)
            .next()
            .map_or(Timestamp::MAX, |t| t.timestamp());
        LocalZone {
            offset: zone.to_offset(now),
            zone,
            from,
            until,
        }
    }

    /// Take the span again if `now` has left it (a daylight saving time change).
    pub fn follow(&mut self, now: Timestamp) {
        if !(self.from <= now && now < self.until) {
            *self = LocalZone::new(self.zone.clone(), now);
        }
    }

    /// `at` in this zone; the same as `LocalTime::new(at, zone)`, for any `at`.
    pub fn local(&self, at: Timestamp) -> LocalTime {
        if self.from <= at && at < self.until {
            LocalTime::with_offset(at, self.offset)
        } else {
            LocalTime::new(at, &self.zone)
        }
    }
}

impl From<LocalTime> for Timestamp {
    fn from(t: LocalTime) -> Timestamp {
        t.at()
    }
}

/// RFC 3339 with the numeric offset (`+08:00`, and `+00:00` for UTC rather than `Z`, so
/// every time reads the same way), seconds fractions only when there are any.
impl fmt::Display for LocalTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0; RENDERED_MAX];
        match self.render(&mut buf) {
            Some(text) => f.write_str(text),
            None => fmt::Display::fmt(&self.at().display_with_offset(self.offset()), f),
        }
    }
}

/// The longest rendering `render` writes: `2026-12-04T17:00:00.123456789+08:00`.
pub const RENDERED_MAX: usize = 35;

/// `at` as jiff prints a `Timestamp` (in UTC, with `Z`: `2026-12-04T09:00:00.25Z`), written
/// into `buf` without jiff's general printer, for years 0001-9999 (`None` for the rest).
/// Stored records carry plain `Timestamp`s, whose serde form is this text; the shards write
/// ticket records by hand with it (`runtime::shard::ticket_json`).
pub fn utc_text(at: Timestamp, buf: &mut [u8; RENDERED_MAX]) -> Option<&str> {
    let len = LocalTime::with_offset(at, Offset::UTC).render(buf)?.len();
    // `render` ends with `+00:00`; jiff prints a `Timestamp` with `Z`.
    let len = len - 5;
    buf[len - 1] = b'Z';
    std::str::from_utf8(&buf[..len]).ok()
}

impl LocalTime {
    /// The RFC 3339 text jiff's `display_with_offset` prints, written without its general
    /// printer for what every hall shows: years 0001-9999 and offsets of whole minutes
    /// (`None` for the rest, which jiff prints). Every answer and event carries two to seven
    /// instants; through jiff's printer and `collect_str`'s escaping in pieces one cost about
    /// 1,090 instructions, written here about 860 (BENCHMARKS.md). The shards write event
    /// JSON by hand with it (`runtime::shard::event_json`).
    pub fn render(self, buf: &mut [u8; RENDERED_MAX]) -> Option<&str> {
        if self.offset % 60 != 0 {
            return None;
        }
        // Before 1970 jiff keeps the fraction negative: -1.5 s is -1 s and -500 ms.
        let (second, nanos) = if self.nanosecond < 0 {
            (self.second - 1, self.nanosecond + 1_000_000_000)
        } else {
            (self.second, self.nanosecond)
        };
        let local = second.checked_add(i64::from(self.offset))?;
        let (year, month, day) = civil_from_days(local.div_euclid(86_400));
        let year = u32::try_from(year)
            .ok()
            .filter(|y| (1..=9999).contains(y))?;
        let secs = local.rem_euclid(86_400) as u32;
        pair(buf, 0, year / 100);
        pair(buf, 2, year % 100);
        buf[4] = b'-';
        pair(buf, 5, month);
        buf[7] = b'-';
        pair(buf, 8, day);
        buf[10] = b'T';
        pair(buf, 11, secs / 3600);
        buf[13] = b':';
        pair(buf, 14, secs / 60 % 60);
        buf[16] = b':';
        pair(buf, 17, secs % 60);
        let mut len = 19;
        // Fractions with as few digits as they need, as jiff prints them.
        if nanos != 0 {
            buf[19] = b'.';
            let mut rest = nanos as u32;
            for at in [27, 25, 23, 21] {
                pair(buf, at, rest % 100);
                rest /= 100;
            }
            buf[20] = b'0' + rest as u8;
            len = 29;
            while buf[len - 1] == b'0' {
                len -= 1;
            }
        }
        let minutes = self.offset / 60;
        buf[len] = if minutes < 0 { b'-' } else { b'+' };
        pair(buf, len + 1, minutes.unsigned_abs() / 60);
        buf[len + 3] = b':';
        pair(buf, len + 4, minutes.unsigned_abs() % 60);
        len += 6;
        std::str::from_utf8(&buf[..len]).ok()
    }
}

/// `v` (below 100) as two digits at `buf[at..at + 2]`.
fn pair(buf: &mut [u8; RENDERED_MAX], at: usize, v: u32) {
    const DIGITS: &[u8; 200] = b"0001020304050607080910111213141516171819\
        2021222324252627282930313233343536373839\
        4041424344454647484950515253545556575859\
        6061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899";
    let i = v as usize * 2;
    buf[at..at + 2].copy_from_slice(&DIGITS[i..i + 2]);
}

/// The proleptic Gregorian year, month and day of a count of days since 1970-01-01
/// (Howard Hinnant's `civil_from_days`), for `days` at least 719,468 below `i64::MAX`; the
/// calendar's day numbers are turned into dates here too.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month as u32, day as u32)
}

/// Any RFC 3339 instant, keeping its offset; `Z` (and `-00:00`) read as UTC.
impl FromStr for LocalTime {
    type Err = jiff::Error;

    fn from_str(s: &str) -> Result<LocalTime, jiff::Error> {
        // The instant first: it refuses what names no instant (no offset), with jiff's words.
        let at: Timestamp = s.parse()?;
        let offset = Pieces::parse(s)?.to_numeric_offset().unwrap_or(Offset::UTC);
        Ok(LocalTime::with_offset(at, offset))
    }
}

impl Serialize for LocalTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0; RENDERED_MAX];
        match self.render(&mut buf) {
            Some(text) => serializer.serialize_str(text),
            None => serializer.collect_str(self),
        }
    }
}

impl<'de> Deserialize<'de> for LocalTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<LocalTime, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = LocalTime;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 instant with its offset")
            }

            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<LocalTime, E> {
                s.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn zone(name: &str) -> TimeZone {
        TimeZone::get(name).unwrap()
    }

    fn round_trip(t: LocalTime) -> LocalTime {
        let json = serde_json::to_string(&t).unwrap();
        serde_json::from_str(&json).unwrap()
    }

    #[test]
    fn a_shanghai_hall_shows_its_own_clock() {
        let t = LocalTime::new(ts("2026-12-04T09:00:00Z"), &zone("Asia/Shanghai"));
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            "\"2026-12-04T17:00:00+08:00\""
        );
        assert_eq!(t.at(), ts("2026-12-04T09:00:00Z"));
        assert_eq!(round_trip(t), t);
        // Fractions of a second survive, as they did in UTC.
        let t = LocalTime::new(ts("2026-12-04T09:00:00.25Z"), &zone("Asia/Shanghai"));
        assert_eq!(t.to_string(), "2026-12-04T17:00:00.25+08:00");
        assert_eq!(round_trip(t), t);
    }

    use proptest::prelude::*;

    proptest! {
        /// The hand-written rendering is jiff's, for any instant and offset.
        #[test]
        fn rendered_as_jiff_prints_it(
            second in -62_135_596_800i64..253_402_207_199,
            nanosecond in prop_oneof![Just(0), 0i32..1_000_000_000, (0i32..1000).prop_map(|m| m * 1_000_000)],
            offset in prop_oneof![(-24 * 60i32..24 * 60).prop_map(|m| m * 60), -86_399i32..86_400],
        ) {
            let at = Timestamp::new(second, nanosecond).unwrap();
            let t = LocalTime::with_offset(at, Offset::from_seconds(offset).unwrap());
            let jiff = at.display_with_offset(t.offset()).to_string();
            prop_assert_eq!(t.to_string(), jiff.clone());
            prop_assert_eq!(serde_json::to_string(&t).unwrap(), format!("\"{jiff}\""));
        }
    }

    proptest! {
        /// `utc_text` is jiff's `Timestamp` printing, for any instant it renders.
        #[test]
        fn utc_text_is_how_jiff_prints_a_timestamp(
            second in -62_135_596_800i64..253_402_207_199,
            nanosecond in prop_oneof![Just(0), 0i32..1_000_000_000, (0i32..1000).prop_map(|m| m * 1_000_000)],
        ) {
            let at = Timestamp::new(second, nanosecond).unwrap();
            let mut buf = [0; RENDERED_MAX];
            let jiff = at.to_string();
            prop_assert_eq!(utc_text(at, &mut buf), Some(jiff.as_str()));
        }
    }

    #[test]
    fn utc_text_leaves_years_outside_0001_9999_to_jiff() {
        let mut buf = [0; RENDERED_MAX];
        assert_eq!(utc_text(Timestamp::MIN, &mut buf), None);
        assert_eq!(utc_text(ts("0000-06-01T00:00:00Z"), &mut buf), None);
        // jiff's last instant is still in year 9999.
        let last = Timestamp::MAX.to_string();
        assert_eq!(utc_text(Timestamp::MAX, &mut buf), Some(last.as_str()));
        let first = ts("0001-01-01T00:00:00Z");
        assert_eq!(utc_text(first, &mut buf), Some("0001-01-01T00:00:00Z"));
    }

    #[test]
    fn the_ends_of_the_rendered_range_print_as_jiff_prints_them() {
        for (at, offset) in [
            ("0001-01-01T00:00:00Z", 0),
            ("0001-01-01T00:00:00Z", -60),
            ("9999-12-30T21:59:59.999999999Z", 0),
            ("9999-12-30T21:59:59Z", 7200),
            ("1970-01-01T00:00:00Z", 0),
            ("1969-12-31T23:59:59.5Z", 19_800),
            ("2024-02-29T16:00:00Z", 28_800),
            ("2026-12-04T09:00:00.000000001Z", -18_000),
        ] {
            let at = ts(at);
            let offset = Offset::from_seconds(offset).unwrap();
            let t = LocalTime::with_offset(at, offset);
            assert_eq!(t.to_string(), at.display_with_offset(offset).to_string());
        }
    }

    #[test]
    fn a_utc_hall_shows_plus_zero() {
        let t = LocalTime::new(ts("2026-12-04T09:00:00Z"), &TimeZone::UTC);
        assert_eq!(t.to_string(), "2026-12-04T09:00:00+00:00");
        assert_eq!(round_trip(t), t);
    }

    #[test]
    fn z_and_other_offsets_keep_what_they_say() {
        // Recent calls stored before views were local: `Z` loads as UTC.
        let old: LocalTime = serde_json::from_str("\"2026-12-04T09:00:00Z\"").unwrap();
        assert_eq!(old.at(), ts("2026-12-04T09:00:00Z"));
        assert_eq!(old.offset(), Offset::UTC);
        assert_eq!(old.to_string(), "2026-12-04T09:00:00+00:00");

        let east: LocalTime = "2026-12-04T17:00:00+08:00".parse().unwrap();
        assert_eq!(east.at(), ts("2026-12-04T09:00:00Z"));
        assert_eq!(east.offset(), Offset::constant(8));
        let west: LocalTime = "2026-12-04T04:00:00-05:00".parse().unwrap();
        assert_eq!(west.at(), east.at());
        assert_eq!(west.to_string(), "2026-12-04T04:00:00-05:00");
        assert_ne!(west, east, "same instant, another rendering");
    }

    #[test]
    fn what_is_not_an_instant_is_refused() {
        for bad in [
            "2026-12-04T17:00:00",
            "2026-12-04",
            "17:00+08:00",
            "",
            "soon",
        ] {
            assert!(bad.parse::<LocalTime>().is_err(), "{bad:?} was accepted");
            assert!(
                serde_json::from_str::<LocalTime>(&format!("{bad:?}")).is_err(),
                "{bad:?} was accepted as JSON"
            );
        }
        assert!(serde_json::from_str::<LocalTime>("1764838800").is_err());
    }

    #[test]
    fn a_dst_zone_takes_the_offset_of_each_instant() {
        let berlin = zone("Europe/Berlin");
        // 2026-03-29: clocks go from 02:00 CET to 03:00 CEST (01:00 UTC).
        let before = LocalTime::new(ts("2026-03-29T00:59:59Z"), &berlin);
        let after = LocalTime::new(ts("2026-03-29T01:00:00Z"), &berlin);
        assert_eq!(before.to_string(), "2026-03-29T01:59:59+01:00");
        assert_eq!(after.to_string(), "2026-03-29T03:00:00+02:00");
        // 2026-10-25: 03:00 CEST back to 02:00 CET (01:00 UTC); 02:30 happens twice, and the
        // offset tells which.
        let first = LocalTime::new(ts("2026-10-25T00:30:00Z"), &berlin);
        let second = LocalTime::new(ts("2026-10-25T01:30:00Z"), &berlin);
        assert_eq!(first.to_string(), "2026-10-25T02:30:00+02:00");
        assert_eq!(second.to_string(), "2026-10-25T02:30:00+01:00");
        for t in [before, after, first, second] {
            assert_eq!(round_trip(t), t);
        }
        assert!(first < second);
    }

    #[test]
    fn a_cached_zone_answers_as_the_zone_does_on_both_sides_of_its_changes() {
        let berlin = zone("Europe/Berlin");
        // Taken in summer, at a transition exactly, at the last instant before one, and in
        // Shanghai and UTC, which have no transition ahead.
        for (name, taken) in [
            ("Europe/Berlin", "2026-07-01T10:00:00Z"),
            ("Europe/Berlin", "2026-03-29T01:00:00Z"),
            ("Europe/Berlin", "2026-10-25T00:59:59.999999999Z"),
            ("Asia/Shanghai", "2026-12-04T09:00:00Z"),
            ("UTC", "2026-12-04T09:00:00Z"),
        ] {
            let tz = zone(name);
            let cached = LocalZone::new(tz.clone(), ts(taken));
            for at in [
                "1990-06-01T00:00:00Z",
                "2026-03-29T00:59:59Z",
                "2026-03-29T01:00:00Z",
                "2026-07-01T10:00:00Z",
                "2026-10-25T00:59:59.999999999Z",
                "2026-10-25T01:00:00Z",
                "2026-12-04T09:00:00Z",
                "2030-07-01T00:00:00Z",
            ] {
                assert_eq!(
                    cached.local(ts(at)),
                    LocalTime::new(ts(at), &tz),
                    "{name} taken at {taken}, shown at {at}"
                );
            }
        }
        // Following the clock past a change takes the next span.
        let mut cached = LocalZone::new(berlin.clone(), ts("2026-10-25T00:30:00Z"));
        assert_eq!(
            cached.local(ts("2026-10-25T00:30:00Z")).offset(),
            Offset::constant(2)
        );
        cached.follow(ts("2026-10-25T01:30:00Z"));
        assert_eq!(
            cached.local(ts("2026-10-25T01:30:00Z")).to_string(),
            "2026-10-25T02:30:00+01:00"
        );
        assert_eq!(
            cached.local(ts("2026-10-25T00:30:00Z")).to_string(),
            "2026-10-25T02:30:00+02:00"
        );
    }
}
