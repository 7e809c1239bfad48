use jiff::civil::{Time, Weekday};

use super::*;
use crate::model::{Policy, Tier};

const MINIMAL: &str = r#"
[[hall]]
id = "h"
name = "Hall"
tier = "county"

[[hall.service]]
id = "s"
name = "Service"
prefix = "A"

[[hall.window]]
id = "w1"
name = "1号窗口"
services = ["s"]
"#;

fn errors(src: &str) -> Vec<String> {
    match Config::from_toml("t.toml", src) {
        Ok(_) => panic!("config should have been refused:\n{src}"),
        Err(e) => e.0.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn demo_config_is_valid_and_has_four_tiers() {
    let c = Config::demo();
    assert!(c.demo);
    let tiers: Vec<Tier> = c.halls.iter().map(|h| h.tier).collect();
    assert_eq!(
        tiers,
        [Tier::City, Tier::County, Tier::Township, Tier::Village]
    );
    let village = c.hall_index("village").unwrap();
    assert!(c.is_within(village, c.hall_index("city").unwrap()));
    assert!(!c.is_within(c.hall_index("city").unwrap(), village));
    for t in DEMO_TOKENS {
        assert!(
            c.tokens.iter().any(|k| k.sha256 == token_hash(t)),
            "demo token {t} missing"
        );
    }
}

#[test]
fn minimal_config_gets_defaults() {
    let c = Config::from_toml("t.toml", MINIMAL).unwrap();
    let h = &c.halls[0];
    assert_eq!(&*h.time_zone_name, "Asia/Shanghai");
    assert_eq!(h.services[0].format_number(23), "A023");
    assert_eq!(h.announce("A023", "5号窗口"), "请A023号到5号窗口办理");
    assert!(h.hours.always);
    assert_eq!(h.policy, Policy::default());
    assert_eq!(c.server.listen.to_string(), "127.0.0.1:8080");
}

#[test]
fn announcements_fill_every_placeholder_as_two_replaces_would() {
    for template in [
        "{window}：{number}号请办理",
        "Number {number}, please go to {window}. {number} to {window}!",
        "{{number}} {window {x} }{number}{window}{",
    ] {
        let src = MINIMAL.replace(
            "tier = \"county\"",
            &format!("tier = \"county\"\nannouncement = \"{template}\""),
        );
        let c = Config::from_toml("t.toml", &src).unwrap();
        let expected = template
            .replace("{number}", "B007")
            .replace("{window}", "7号窗口");
        assert_eq!(
            c.halls[0].announce("B007", "7号窗口"),
            expected,
            "{template}"
        );
    }
}

#[test]
fn window_ranks_follow_listing_order_and_explicit_ranks_sort() {
    let c = Config::demo();
    let city = &c.halls[0];
    let w2 = &city.windows[city.window_index("w2").unwrap()];
    let ids: Vec<&str> = w2
        .services
        .iter()
        .map(|s| &*city.services[s.service].id)
        .collect();
    assert_eq!(ids, ["tax", "social", "business", "residence"]);
    let w4 = &city.windows[city.window_index("w4").unwrap()];
    assert_eq!(w4.services[0].rank, 1);
    assert_eq!(w4.services[1].rank, 1);
    assert_eq!(w4.services[0].weight, Some(2));
}

#[test]
fn unknown_window_service_names_line_and_field() {
    let src = MINIMAL.replace("services = [\"s\"]", "services = [\"s\", \"tax\"]");
    let e = errors(&src);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("t.toml:15:18:"),
        "error should point at line 15, column 18: {}",
        e[0]
    );
    assert!(e[0].contains("hall[0].window[0].services[1]"), "{}", e[0]);
    assert!(e[0].contains("unknown service `tax`"), "{}", e[0]);
}

#[test]
fn syntax_and_type_errors_are_located() {
    let e = errors(&MINIMAL.replace("prefix = \"A\"", "prefix = 7"));
    assert!(e[0].starts_with("t.toml:10:"), "{}", e[0]);
    let e = errors(&MINIMAL.replace("tier = \"county\"", "tier = \"county\"\ncolour = 1"));
    assert!(e[0].starts_with("t.toml:6:"), "{}", e[0]);
    assert!(e[0].contains("colour"), "{}", e[0]);
}

#[test]
fn several_problems_are_reported_together() {
    let src = MINIMAL
        .replace("tier = \"county\"", "tier = \"town\"")
        .replace("prefix = \"A\"", "prefix = \"a1\"");
    let e = errors(&src);
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e[0].contains("hall[0].tier") && e[0].contains("unknown tier `town`"));
    assert!(e[1].contains("hall[0].service[0].prefix"));
}

#[test]
fn parent_must_exist_and_be_of_higher_tier() {
    let src = format!(
        "{MINIMAL}\n[[hall]]\nid = \"c\"\nname = \"C\"\ntier = \"city\"\nparent = \"h\"\n[[hall.service]]\nid = \"s\"\nname = \"S\"\nprefix = \"A\"\n[[hall.window]]\nid = \"w\"\nname = \"W\"\nservices = [\"s\"]\n"
    );
    let e = errors(&src);
    assert!(e[0].contains("hall[1].parent"), "{e:?}");
    assert!(e[0].contains("higher tier"), "{e:?}");
    let e = errors(&src.replace("parent = \"h\"", "parent = \"nowhere\""));
    assert!(e[0].contains("unknown hall `nowhere`"), "{e:?}");
}

#[test]
fn service_nobody_serves_is_refused() {
    let src = MINIMAL.replace(
        "[[hall.window]]",
        "[[hall.service]]\nid = \"t\"\nname = \"T\"\nprefix = \"B\"\n\n[[hall.window]]",
    );
    let e = errors(&src);
    assert!(e[0].contains("served by no window"), "{e:?}");
}

#[test]
fn demo_token_hashes_are_refused_outside_demo() {
    let src = format!(
        "{MINIMAL}\n[[token]]\nname = \"k\"\nrole = \"kiosk\"\nhalls = [\"*\"]\nsha256 = \"{}\"\n",
        hex(&token_hash("demo-kiosk"))
    );
    let e = errors(&src);
    assert!(e[0].contains("public demo token"), "{e:?}");
    let ok = src.replace(&hex(&token_hash("demo-kiosk")), &hex(&token_hash("secret")));
    let c = Config::from_toml("t.toml", &ok).unwrap();
    assert_eq!(c.tokens[0].role, Role::Kiosk);
    assert_eq!(c.tokens[0].halls, None);
}

#[test]
fn opening_hours_are_parsed_and_checked() {
    let src = MINIMAL.replace(
        "tier = \"county\"",
        "tier = \"county\"\n[hall.hours]\nmon = [\"08:30-12:00\", \"13:30-17:30\"]\nsat = [\"09:00-12:00\"]",
    );
    let c = Config::from_toml("t.toml", &src).unwrap();
    let h = &c.halls[0].hours;
    let t = |s: &str| s.parse::<Time>().unwrap();
    assert!(h.is_open(Weekday::Monday, t("08:30")));
    assert!(!h.is_open(Weekday::Monday, t("12:30")));
    assert!(h.is_open(Weekday::Saturday, t("11:59")));
    assert!(!h.is_open(Weekday::Sunday, t("10:00")));
    let e = errors(&src.replace("13:30-17:30", "11:30-17:30"));
    assert!(e[0].contains("hall[0].hours.mon[1]"), "{e:?}");
    let e = errors(&src.replace("09:00-12:00", "9h-12h"));
    assert!(e[0].contains("hall[0].hours.sat[0]"), "{e:?}");
}

#[test]
fn store_retry_backoff_is_bounded_and_ordered() {
    let c = Config::from_toml("t.toml", MINIMAL).unwrap();
    assert_eq!((c.store.retry_min_ms, c.store.retry_max_ms), (500, 30_000));
    let src = format!("[store]\nretry_min_ms = 2000\nretry_max_ms = 1000\n{MINIMAL}");
    let errs = errors(&src);
    assert!(
        errs.iter()
            .any(|e| e.contains("t.toml:3:") && e.contains("store.retry_max_ms")),
        "{errs:?}"
    );
    let src = format!("[store]\nretry_min_ms = 5\n{MINIMAL}");
    assert!(
        errors(&src)
            .iter()
            .any(|e| e.contains("store.retry_min_ms"))
    );
}

#[test]
fn checkpoint_cadence_has_defaults_and_bounds() {
    let c = Config::from_toml("t.toml", MINIMAL).unwrap();
    assert_eq!(
        (c.store.checkpoint_interval_ms, c.store.checkpoint_writes),
        (1_000, 65_536)
    );
    let src = format!("[store]\ncheckpoint_interval_ms = 250\n{MINIMAL}");
    let c = Config::from_toml("t.toml", &src).unwrap();
    assert_eq!(c.store.checkpoint_interval_ms, 250);
    for bad in ["0", "60001"] {
        let src =
            format!("[store]\ncheckpoint_writes = 8\ncheckpoint_interval_ms = {bad}\n{MINIMAL}");
        let errs = errors(&src);
        assert!(
            errs.iter().any(|e| e.contains("t.toml:3:")
                && e.contains("store.checkpoint_interval_ms")
                && e.contains("between 1 and 60000")),
            "{errs:?}"
        );
    }
}

#[test]
fn checkpoint_flush_has_a_default_zero_turns_it_off_and_bad_values_are_located() {
    let c = Config::from_toml("t.toml", MINIMAL).unwrap();
    assert_eq!(c.store.checkpoint_flush_bytes, 256 << 10);
    let src = format!("[store]\ncheckpoint_flush_kb = 0\n{MINIMAL}");
    let c = Config::from_toml("t.toml", &src).unwrap();
    assert_eq!(c.store.checkpoint_flush_bytes, 0);
    let src = format!("[store]\nquick_repair = true\ncheckpoint_flush_kb = 1048577\n{MINIMAL}");
    let errs = errors(&src);
    assert!(
        errs.iter().any(|e| e.contains("t.toml:3:")
            && e.contains("store.checkpoint_flush_kb")
            && e.contains("between 0 and 1048576")),
        "{errs:?}"
    );
    // Not a number of KiB: refused where it stands, by the TOML reader.
    for bad in ["-1", "\"64k\""] {
        let src = format!("[store]\nquick_repair = true\ncheckpoint_flush_kb = {bad}\n{MINIMAL}");
        let errs = errors(&src);
        assert!(
            errs.iter().any(|e| e.contains("t.toml:3:23")),
            "{bad}: {errs:?}"
        );
    }
}

#[test]
fn writer_priority_defaults_to_ten_zero_leaves_it_and_past_twenty_is_located() {
    let c = Config::from_toml("t.toml", MINIMAL).unwrap();
    assert_eq!(c.store.writer_priority, 10);
    let src = format!("[store]\nwriter_priority = 0\n{MINIMAL}");
    assert_eq!(
        Config::from_toml("t.toml", &src)
            .unwrap()
            .store
            .writer_priority,
        0
    );
    let src = format!("[store]\nquick_repair = true\nwriter_priority = 21\n{MINIMAL}");
    let errs = errors(&src);
    assert!(
        errs.iter().any(|e| e.contains("t.toml:3:")
            && e.contains("store.writer_priority")
            && e.contains("between 0 and 20")),
        "{errs:?}"
    );
}

#[test]
fn hours_overrides_and_makeup_day_are_parsed_and_checked() {
    let src = MINIMAL.replace(
        "tier = \"county\"",
        r#"tier = "county"
[hall.hours]
mon = ["08:30-12:00", "13:30-17:30"]
makeup_day = ["09:00-12:00", "13:00-17:00"]

[[hall.hours_override]]
date = 2026-10-08
closed = true
reason = "系统升级"

[[hall.hours_override]]
date = 2026-12-31
hours = ["08:30-12:00", "13:30-19:00"]"#,
    );
    let c = Config::from_toml("t.toml", &src).unwrap();
    let h = &c.halls[0];
    let t = |s: &str| s.parse::<Time>().unwrap();
    assert_eq!(
        h.hours.makeup_day.as_deref(),
        Some(&[(t("09:00"), t("12:00")), (t("13:00"), t("17:00"))][..])
    );
    let closed = &h.hours_overrides[&jiff::civil::date(2026, 10, 8)];
    assert!(closed.hours.is_empty());
    assert_eq!(closed.reason.as_deref(), Some("系统升级"));
    assert_eq!(
        h.hours_overrides[&jiff::civil::date(2026, 12, 31)].hours,
        [(t("08:30"), t("12:00")), (t("13:30"), t("19:00"))]
    );

    // Every mistake is reported where it is written, with its field.
    let e = errors(&src.replace("13:30-19:00", "11:30-19:00"));
    assert!(
        e[0].contains("t.toml:") && e[0].contains("hall[0].hours_override[1].hours[1]"),
        "{e:?}"
    );
    assert!(e[0].contains("in order"), "{e:?}");
    let e = errors(&src.replace("date = 2026-12-31", "date = 2026-10-08"));
    assert!(e[0].contains("hall[0].hours_override[1].date"), "{e:?}");
    assert!(e[0].contains("already has an override"), "{e:?}");
    let e = errors(&src.replace("closed = true", "closed = true\nhours = [\"09:00-10:00\"]"));
    assert!(e[0].contains("hall[0].hours_override[0].closed"), "{e:?}");
    let e = errors(&src.replace("closed = true", ""));
    assert!(e[0].contains("hall[0].hours_override[0].hours"), "{e:?}");
    let e = errors(&src.replace("date = 2026-10-08", "date = 2026-10-08T09:00:00"));
    assert!(e[0].contains("hall[0].hours_override[0].date"), "{e:?}");
    assert!(e[0].contains("plain date"), "{e:?}");
    let e = errors(&src.replace("\"09:00-12:00\", \"13:00-17:00\"", "\"9-12\""));
    assert!(e[0].contains("hall[0].hours.makeup_day[0]"), "{e:?}");
    let e = errors(&src.replace("reason = \"系统升级\"", "unknown = 1"));
    assert!(e[0].contains("unknown"), "{e:?}");
}

#[test]
fn demo_county_hall_follows_the_calendar_and_the_city_hall_never_closes() {
    let c = Config::demo();
    let city = &c.halls[c.hall_index("city").unwrap()];
    assert!(city.hours.always);
    let county = &c.halls[c.hall_index("county").unwrap()];
    assert!(!county.hours.always);
    assert_eq!(
        county.working_calendar.as_ref().map(|cal| cal.id()),
        Some("cn-mainland")
    );
    assert_eq!(
        county.hours_overrides.len(),
        1,
        "one dated override to show"
    );
}

#[test]
fn a_matters_extension_maximum_is_in_the_limits_unit() {
    let src = |max: &str| {
        format!(
            "{MINIMAL}\n[[calendar]]\nid = \"cn-mainland\"\nfile = \"{}\"\n\n[[matter]]\nid = \"M-1\"\nname = \"许可\"\nkind = \"promised\"\nlimit = \"20wd\"\nmax_extension = \"{max}\"\n",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/config/calendars/cn-mainland.toml"
            )
        )
    };
    let c = Config::from_toml("t.toml", &src("10wd")).unwrap();
    let m = &c.matters[c.matter_index("M-1").unwrap()];
    assert_eq!(
        m.max_extension,
        Some(crate::calendar::Limit::WorkingDays(10))
    );
    let e = errors(&src("10d"));
    assert!(
        e.iter()
            .any(|e| e.contains("matter[0].max_extension") && e.contains("limit's unit")),
        "{e:?}"
    );
}

#[test]
fn connection_limits_have_defaults_and_are_checked() {
    let c = Config::from_toml("t.toml", MINIMAL).unwrap();
    let s = &c.server;
    assert_eq!(
        (
            s.header_timeout_s,
            s.body_timeout_s,
            s.idle_timeout_s,
            s.write_timeout_s
        ),
        (10, 10, 75, 30)
    );
    assert_eq!((s.max_connections, s.reserved_connections), (0, 64));
    assert_eq!(
        (s.max_connections_per_address, s.limit_loopback),
        (512, false)
    );
    assert_eq!((s.sse_max_lag_events, s.sse_max_lag_s), (1024, 15));
    assert_eq!(s.max_streams_per_link, 3);
    assert_eq!(s.metrics_token_sha256, None);
    assert_eq!(s.shards, 0, "one shard per core unless set");
    assert_eq!(s.sse_coalesce_ms, 50);

    let src = format!(
        "[server]\nmax_connections = 10\nreserved_connections = 10\nheader_timeout_s = 0\nmetrics_token_sha256 = \"abc\"\nshards = 5000\nsse_coalesce_ms = 501\n{MINIMAL}"
    );
    let e = errors(&src);
    assert_eq!(e.len(), 5, "{e:?}");
    assert!(e.iter().any(|m| m.contains("server.shards")), "{e:?}");
    assert!(
        e.iter()
            .any(|m| m.contains("server.sse_coalesce_ms") && m.contains("between 0 and 500")),
        "{e:?}"
    );
    assert!(
        e.iter().any(|m| m.contains("server.header_timeout_s")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|m| m.contains("server.reserved_connections") && m.contains("below")),
        "{e:?}"
    );
    assert!(
        e.iter().any(|m| m.contains("server.metrics_token_sha256")),
        "{e:?}"
    );
}

// `[booking]`: validated by `validate::booking`.

fn with_booking(booking: &str) -> Result<Config, String> {
    // The demo's halls and services, without its demo tokens and booking section.
    let halls = &DEMO_SOURCE[..DEMO_SOURCE.find("[[token]]").unwrap()];
    Config::from_toml("b.toml", &format!("{halls}\n{booking}")).map_err(|e| e.to_string())
}

#[test]
fn every_problem_is_located_and_named() {
    let e = with_booking(
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
    let e =
        with_booking("[[booking.slots]]\nhall = \"city\"\nservice = \"social\"\ncapacity = 2\n")
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

// `[hall.market]`, a service's own hours and `market_only`: validated by `validate::schedule`.

#[test]
fn market_rules_are_located_and_named() {
    let with = |market: &str, service: &str| {
        let src = MINIMAL
            .replace(
                "tier = \"county\"\n",
                &format!("tier = \"county\"\n\n[hall.market]\n{market}\n"),
            )
            .replace("prefix = \"A\"\n", &format!("prefix = \"A\"\n{service}\n"));
        errors(&src).join("\n")
    };
    let e = with("day_ends_in = [1, 12]", "");
    assert!(e.starts_with("t.toml:"), "{e}");
    assert!(e.contains("hall[0].market.day_ends_in[1]"), "{e}");
    assert!(e.contains("digit 12"), "{e}");
    let e = with("every_days = 1\nanchor = 2027-01-02", "");
    assert!(e.contains("hall[0].market.every_days"), "{e}");
    assert!(e.contains("2..=30"), "{e}");
    let e = with("every_days = 5", "");
    assert!(e.contains("hall[0].market.anchor"), "{e}");
    let e = with("every_days = 5\nanchor = 2027-01-02T08:00:00", "");
    assert!(e.contains("not a plain date"), "{e}");
    let e = with("day_ends_in = [1]\nlunar_day_ends_in = [3]", "");
    assert!(e.contains("give exactly one rule"), "{e}");
    let e = with("lunar_day_ends_in = []", "");
    assert!(e.contains("hall[0].market.lunar_day_ends_in"), "{e}");
    let e = with(
        "lunar_day_ends_in = [3]\nhours = [\"12:00-08:00\"]",
        "hours = { sat = [\"9:00-x\"] }",
    );
    assert!(e.contains("hall[0].market.hours[0]"), "{e}");
    assert!(e.contains("hall[0].service[0].hours.sat[0]"), "{e}");
    // Line 8, column 22: the bad digit itself.
    let e = with("lunar_day_ends_in = [33]", "");
    assert!(e.starts_with("t.toml:8:22:"), "{e}");

    // A market-only service needs a market.
    let src = MINIMAL.replace("prefix = \"A\"\n", "prefix = \"A\"\nmarket_only = true\n");
    let e = errors(&src).join("\n");
    assert!(e.contains("hall[0].service[0].market_only"), "{e}");
    assert!(e.contains("no `[hall.market]`"), "{e}");

    // Appointment-only hours are at most an hour either side.
    let e = with_booking(
        "[booking]\nkeys = [\"a-long-enough-key-0123\"]\n\n[[booking.slots]]\nhall = \"city\"\n\
         service = \"social\"\ncapacity = 2\nbefore_opening_minutes = 90\n",
    )
    .unwrap_err();
    assert!(e.contains("booking.slots[0].before_opening_minutes"), "{e}");
}

#[test]
fn the_demo_township_keeps_lunar_market_days() {
    let demo = Config::demo();
    let town = &demo.halls[demo.hall_index("township").unwrap()];
    let market = town
        .market
        .as_ref()
        .expect("the demo township has market days");
    // 2027-02-08 is 正月初三, 02-10 初五.
    assert!(market.days.is_market_day(jiff::civil::date(2027, 2, 8)));
    assert!(!market.days.is_market_day(jiff::civil::date(2027, 2, 10)));
    let farming = town.service_index("farming").unwrap();
    assert!(town.services[farming].market_only);
    let general = town.service_index("general").unwrap();
    let rule = demo
        .booking
        .rule(demo.hall_index("township").unwrap(), general);
    assert_eq!(rule.map(|r| r.before_opening_minutes), Some(30));
}

#[test]
fn webhooks_are_checked_and_every_error_is_located() {
    let src = format!(
        r#"{MINIMAL}
[[webhook]]
name = "sms"
url = "http://127.0.0.1:9000/hook"
secret = "0123456789abcdef"
events = ["case.outcome", "case.ready_for_pickup"]
backoff_s = 2
backoff_max_s = 30

[[webhook]]
name = "mail"
url = "http://127.0.0.1:9001/"
secret = "0123456789abcdef"
"#
    );
    let c = Config::from_toml("t.toml", &src).unwrap();
    let sms = &c.webhooks[0];
    assert_eq!(
        sms.events,
        [NotifyEvent::Outcome, NotifyEvent::ReadyForPickup]
    );
    assert_eq!((sms.backoff(1), sms.backoff(9)), (2, 30));
    assert_eq!(c.webhooks[1].events, NotifyEvent::ALL, "all by default");
    assert!(!format!("{sms:?}").contains("0123456789abcdef"));

    let bad = format!(
        r#"{MINIMAL}
[[webhook]]
name = "sms"
url = "http://gw.example.cn/hook"
ca = "ca.pem"
secret = "short"
events = ["case.closed"]
max_attempts = 0

[[webhook]]
name = "sms"
url = "ftp://x"
secret = "0123456789abcdef"
backoff_s = 10
backoff_max_s = 5
"#
    );
    let e = errors(&bad);
    let has = |field: &str, text: &str| {
        assert!(
            e.iter()
                .any(|m| m.starts_with("t.toml:") && m.contains(field) && m.contains(text)),
            "{field}: {text} in {e:#?}"
        )
    };
    has("webhook[0].ca", "only used for an https:// URL");
    has("webhook[0].secret", "at least 16 bytes");
    has("webhook[0].events[0]", "unknown event `case.closed`");
    has("webhook[0].max_attempts", "between 1 and 100");
    has("webhook[1].name", "defined twice");
    has("webhook[1].url", "not an http:// or https:// URL");
    has("webhook[1].backoff_max_s", "not be less than backoff_s");
}

/// An https webhook's `ca` file is read beside the config file and parsed when the config is
/// read: a missing file, a file without certificates or a certificate TLS cannot anchor on is
/// a config error naming the line and field, never a delivery that fails later.
#[test]
fn webhook_ca_files_are_read_and_checked_with_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = params.self_signed(&key).unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.path().join("junk.pem"), "not a certificate\n").unwrap();
    let broken = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    std::fs::write(dir.path().join("broken.pem"), broken).unwrap();
    let hook = |name: &str, url: &str, ca: &str| {
        format!(
            "[[webhook]]\nname = \"{name}\"\nurl = \"{url}\"\nsecret = \"0123456789abcdef\"\nca = \"{ca}\"\n"
        )
    };
    let path = dir.path().join("hallq.toml");
    std::fs::write(
        &path,
        format!(
            "{MINIMAL}\n{}",
            hook("gw", "https://127.0.0.1:9443/hook", "ca.pem")
        ),
    )
    .unwrap();
    let c = Config::from_file(&path).unwrap();
    assert_eq!(c.webhooks[0].ca.len(), 1);
    assert_eq!(c.webhooks[0].ca[0].as_ref(), ca.der().as_ref());

    std::fs::write(
        &path,
        format!(
            "{MINIMAL}\n{}{}{}",
            hook("a", "https://127.0.0.1:9443/", "missing.pem"),
            hook("b", "https://127.0.0.1:9443/", "junk.pem"),
            hook("c", "https://127.0.0.1:9443/", "broken.pem"),
        ),
    )
    .unwrap();
    let e: Vec<String> = match Config::from_file(&path) {
        Ok(_) => panic!("the CA files should have been refused"),
        Err(e) => e.0.iter().map(ToString::to_string).collect(),
    };
    let has = |field: &str, text: &str| {
        assert!(
            e.iter()
                .any(|m| m.contains("hallq.toml:") && m.contains(field) && m.contains(text)),
            "{field}: {text} in {e:#?}"
        )
    };
    has("webhook[0].ca", "cannot read");
    has("webhook[1].ca", "holds no PEM certificate");
    has("webhook[2].ca", "cannot anchor TLS");
}
