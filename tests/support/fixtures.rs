//! The test configs: halls, tokens, calendars and matters the tests share, and the small
//! edits tests make to them. Tokens are named `t-<role>` and given to the config by hash, as
//! `hallq token` prints them.

use hallq::config::{hex, token_hash};

/// Tokens of the test config, by role.
pub const KIOSK: &str = "t-kiosk";
pub const COUNTER: &str = "t-counter";
pub const DISPLAY: &str = "t-display";
pub const ADMIN: &str = "t-admin";
/// A counter token that covers only hall `h2` (below `h1`).
pub const H2_COUNTER: &str = "t-h2-counter";
/// A kiosk token that covers `h1` and, through the tier tree, `h2`.
pub const H1_KIOSK: &str = "t-h1-kiosk";

/// A config with hall `h1` (county, `windows` windows serving services `s` and `t`), `h2`
/// (a township under it) and `other` (another county). The business day turns twelve hours
/// from now, so a test never straddles it.
#[allow(
    clippy::disallowed_methods,
    reason = "the test config puts the day boundary away from the real time the daemon will see"
)]
pub fn config(windows: usize) -> String {
    let turn = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(12))
        .strftime("%H:%M")
        .to_string();
    let mut s = format!(
        r#"
[store]
event_retention = 100000

[[hall]]
id = "h1"
name = "测试县政务服务中心"
tier = "county"
time_zone = "UTC"
day_starts = "{turn}"

[[hall.service]]
id = "s"
name = "社保"
prefix = "A"
target_wait_min = 1

[[hall.service]]
id = "t"
name = "税务"
prefix = "B"
"#
    );
    for w in 1..=windows {
        s += &format!(
            "\n[[hall.window]]\nid = \"w{w}\"\nname = \"{w}号窗口\"\nservices = [\"s\", \"t\"]\n"
        );
    }
    s += &format!(
        r#"
[[hall]]
id = "h2"
name = "测试镇便民服务中心"
tier = "township"
parent = "h1"
time_zone = "UTC"
day_starts = "{turn}"

[[hall.service]]
id = "s"
name = "综合"
prefix = "A"

[[hall.window]]
id = "w1"
name = "1号窗口"
services = ["s"]

[[hall]]
id = "other"
name = "另一县"
tier = "county"
time_zone = "UTC"
day_starts = "{turn}"

[[hall.service]]
id = "s"
name = "综合"
prefix = "A"

[[hall.window]]
id = "w1"
name = "1号窗口"
services = ["s"]
"#
    );
    s += &role_tokens();
    s += &token(H2_COUNTER, "counter", &["h2"]);
    s += &token(H1_KIOSK, "kiosk", &["h1"]);
    s
}

/// Token of a case officer covering every hall.
pub const OFFICER: &str = "t-officer";
/// A supervisor covering only `h2`.
pub const H2_SUPERVISOR: &str = "t-h2-supervisor";

/// A `[[token]]` entry for the bearer token `name` with `role`, covering `halls` (`"*"`: all).
pub fn token(name: &str, role: &str, halls: &[&str]) -> String {
    let halls: Vec<String> = halls.iter().map(|h| format!("\"{h}\"")).collect();
    format!(
        "\n[[token]]\nname = \"{name}\"\nrole = \"{role}\"\nhalls = [{}]\nsha256 = \"{}\"\n",
        halls.join(", "),
        hex(&token_hash(name))
    )
}

/// The kiosk, counter, display and admin tokens, each for every hall.
pub fn role_tokens() -> String {
    [
        (KIOSK, "kiosk"),
        (COUNTER, "counter"),
        (DISPLAY, "display"),
        (ADMIN, "admin"),
    ]
    .iter()
    .map(|(name, role)| token(name, role, &["*"]))
    .collect()
}

/// `text` (a config from this module) with `lines` added to its `[store]` section.
pub fn with_store_settings(text: &str, lines: &str) -> String {
    text.replacen("[store]\n", &format!("[store]\n{lines}\n"), 1)
}

/// `text` (a config from this module) with a `[server]` section holding `lines`.
pub fn with_server_settings(text: &str, lines: &str) -> String {
    text.replacen("[store]", &format!("[server]\n{lines}\n\n[store]"), 1)
}

/// A calendar open all day (00:00-23:59) every day, covering last year to next year, with
/// `extra_days` (`(date, "off"|"work")`) as overrides. Alarm tests count in working seconds on
/// it, so deadlines fall seconds after now.
#[allow(
    clippy::disallowed_methods,
    reason = "the calendar must cover the real today"
)]
pub fn always_calendar(extra_days: &[(jiff::civil::Date, &str)]) -> String {
    let year = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .year();
    let mut s = String::from(
        "id = \"always\"\ntime_zone = \"UTC\"\nweek = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"]\noffice_hours = [\"00:00-23:59\"]\n",
    );
    for y in year - 1..=year + 1 {
        let days: Vec<String> = extra_days
            .iter()
            .filter(|(d, _)| d.year() == y)
            .map(|(d, kind)| format!("{{ date = {d}, kind = \"{kind}\", name = \"test\" }}"))
            .collect();
        s += &format!(
            "\n[[year]]\nyear = {y}\nnotice = \"test\"\ndays = [{}]\n",
            days.join(", ")
        );
    }
    s
}

/// `config(windows)` plus deadlines: the official calendar, the `always` calendar (written
/// into `dir`), and matters `OFFICIAL-3WD` (3 working days, standard ladder), `FAST` (8
/// working seconds on `always`: warn 4 s before, red at, escalate 2 s after the deadline),
/// `DAYS-2` (2 working days on `always`, standard ladder) and `JOINT`.
pub fn case_config(dir: &std::path::Path, windows: usize) -> String {
    std::fs::write(dir.join("always.toml"), always_calendar(&[])).unwrap();
    let official = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/calendars/cn-mainland.toml"
    );
    let always = dir.join("always.toml");
    let mut s = config(windows);
    s += &format!(
        r#"
[[calendar]]
id = "always"
file = "{}"

[[calendar]]
id = "cn-mainland"
file = "{official}"

[[alarm_policy]]
id = "standard"
levels = [
  {{ level = "yellow", remaining = "1wd" }},
  {{ level = "red", remaining = "0wd" }},
  {{ level = "escalate", overdue = "2wd" }},
]

[[alarm_policy]]
id = "fast"
levels = [
  {{ level = "warn", remaining = "4ws" }},
  {{ level = "red", remaining = "0ws" }},
  {{ level = "escalate", overdue = "2ws" }},
]

[[matter]]
id = "OFFICIAL-3WD"
name = "三日办结事项"
kind = "promised"
limit = "3wd"
calendar = "cn-mainland"
max_extension = "60wd"

[[matter]]
id = "FAST"
name = "秒级测试事项"
kind = "promised"
limit = "8ws"
calendar = "always"
alarm_policy = "fast"

[[matter]]
id = "DAYS-2"
name = "两日事项"
kind = "promised"
limit = "2wd"
calendar = "always"
max_extension = "30wd"

[[matter]]
id = "JOINT"
name = "联办事项"
kind = "joint"
limit = "5wd"
calendar = "cn-mainland"
departments = [{{ id = "a", name = "甲局", limit = "2wd" }}, {{ id = "b", name = "乙局", limit = "3wd" }}]
"#,
        always.display()
    );
    s += &token(OFFICER, "case-officer", &["*"]);
    s += &token(H2_SUPERVISOR, "supervisor", &["h2"]);
    s
}

/// `case_config` with one more hall, `sh`, in Asia/Shanghai and listed first (so it is also
/// the zone of times that belong to no hall): open Monday to Friday 08:30-12:00 and
/// 13:30-17:30, service `s` (target wait one minute) and window `w1`. The other halls stay in
/// UTC.
pub fn shanghai_config(dir: &std::path::Path) -> String {
    let sh = r#"
[[hall]]
id = "sh"
name = "上海测试中心"
tier = "county"
time_zone = "Asia/Shanghai"

[hall.hours]
mon = ["08:30-12:00", "13:30-17:30"]
tue = ["08:30-12:00", "13:30-17:30"]
wed = ["08:30-12:00", "13:30-17:30"]
thu = ["08:30-12:00", "13:30-17:30"]
fri = ["08:30-12:00", "13:30-17:30"]

[[hall.service]]
id = "s"
name = "综合受理"
prefix = "A"
target_wait_min = 1

[[hall.window]]
id = "w1"
name = "1号窗口"
services = ["s"]

"#;
    case_config(dir, 1).replacen("[[hall]]", &format!("{}[[hall]]", &sh[1..]), 1)
}
