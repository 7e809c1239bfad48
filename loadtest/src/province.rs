//! The province under load: halls over the tiers, their services and windows, and the
//! bearer tokens the simulated kiosks, counters and displays use.
//!
//! Without `--target` the province is generated and written as a real config file (so the
//! daemon validates it as it would an operator's), with the official holiday calendar and a
//! matters catalogue so cases can be accepted; with `--target` it is discovered from the
//! daemon's `/v1/halls` and hall snapshots.

use std::fmt::Write;

use hallq::calendar::Calendar;
use hallq::clock::{Clock, SystemClock};
use hallq::config::{hex, token_hash};

/// One hall as the load generator sees it.
#[derive(Debug, Clone)]
pub struct Hall {
    pub id: String,
    pub tier: String,
    pub services: Vec<String>,
    pub windows: Vec<Window>,
}

#[derive(Debug, Clone)]
pub struct Window {
    pub id: String,
    /// Positions in the hall's `services` that this window serves.
    pub services: Vec<usize>,
}

#[derive(Debug, Clone)]
pub struct Province {
    pub halls: Vec<Hall>,
}

impl Province {
    pub fn windows(&self) -> usize {
        self.halls.iter().map(|h| h.windows.len()).sum()
    }

    /// Halls per tier, in tier order, for the report.
    pub fn tiers(&self) -> Vec<(String, usize)> {
        let mut out: Vec<(String, usize)> = Vec::new();
        for h in &self.halls {
            match out.iter_mut().find(|(t, _)| *t == h.tier) {
                Some((_, n)) => *n += 1,
                None => out.push((h.tier.clone(), 1)),
            }
        }
        out
    }

    /// Every window as (hall, window) positions, interleaved across halls (first window of
    /// every hall, then the second, ...), so consecutive windows belong to different halls
    /// and therefore, mostly, to different shards.
    pub fn interleaved_windows(&self) -> Vec<(usize, usize)> {
        let most = self
            .halls
            .iter()
            .map(|h| h.windows.len())
            .max()
            .unwrap_or(0);
        (0..most)
            .flat_map(|w| {
                self.halls
                    .iter()
                    .enumerate()
                    .filter(move |(_, h)| w < h.windows.len())
                    .map(move |(i, _)| (i, w))
            })
            .collect()
    }
}

/// Services a hall of each tier offers, (id, name); prefixes are assigned A, B, C...
const SERVICES: [(&str, &str); 20] = [
    ("social", "社保医保"),
    ("tax", "税务登记"),
    ("business", "企业开办"),
    ("residence", "户籍证件"),
    ("real-estate", "不动产登记"),
    ("housing-fund", "住房公积金"),
    ("pension", "养老保险"),
    ("medical", "医疗保障"),
    ("civil", "民政婚登"),
    ("vehicles", "车驾管"),
    ("entry-exit", "出入境"),
    ("water-power", "水电气"),
    ("construction", "工程建设"),
    ("transport", "交通运输"),
    ("market", "市场监管"),
    ("health", "卫生健康"),
    ("education", "教育入学"),
    ("disability", "残联服务"),
    ("veterans", "退役军人"),
    ("general", "综合受理"),
];

/// The shape of a hall of one tier.
struct TierShape {
    tier: &'static str,
    services: usize,
    /// Windows serving every service, ranks rotated per window in groups of `rank_group`.
    general: usize,
    rank_group: usize,
    /// Windows serving `domain_size` consecutive services each.
    domain: usize,
    domain_size: usize,
}

const CITY: TierShape = TierShape {
    tier: "city",
    services: 20,
    general: 16,
    rank_group: 5,
    domain: 8,
    domain_size: 3,
};
const COUNTY: TierShape = TierShape {
    tier: "county",
    services: 10,
    general: 8,
    rank_group: 5,
    domain: 4,
    domain_size: 3,
};
const TOWNSHIP: TierShape = TierShape {
    tier: "township",
    services: 4,
    general: 4,
    rank_group: 1,
    domain: 0,
    domain_size: 0,
};
const VILLAGE: TierShape = TierShape {
    tier: "village",
    services: 2,
    general: 1,
    rank_group: 1,
    domain: 0,
    domain_size: 0,
};

/// `n` random bytes in hex.
pub fn random_hex(n: usize) -> Result<String, String> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).map_err(|e| format!("cannot read random bytes: {e}"))?;
    Ok(hex(&bytes))
}

/// A fresh random bearer token.
pub fn token() -> Result<String, String> {
    Ok(format!("lt_{}", random_hex(24)?))
}

/// Bearer tokens of the simulated devices, in clear (the config holds their hashes).
#[derive(Debug, Clone)]
pub struct Tokens {
    pub kiosk: String,
    pub counter: String,
    pub display: String,
    /// Accepts cases and records what happens to them (the business systems' token).
    pub case_officer: String,
}

impl Tokens {
    /// Fresh random tokens.
    pub fn generate() -> Result<Tokens, String> {
        Ok(Tokens {
            kiosk: token()?,
            counter: token()?,
            display: token()?,
            case_officer: token()?,
        })
    }

    /// One token for every role (a counter or admin token of a running daemon; only an
    /// admin token may also change cases).
    pub fn single(token: &str) -> Tokens {
        Tokens {
            kiosk: token.to_owned(),
            counter: token.to_owned(),
            display: token.to_owned(),
            case_officer: token.to_owned(),
        }
    }
}

/// How many halls of each tier below the city: about 5 % counties and 30 % townships, the
/// rest villages, with at least one of each tier as far as `halls` allows.
fn tier_counts(halls: usize) -> [usize; 4] {
    let below = halls.saturating_sub(1);
    let counties = ((halls as f64 * 0.05).round() as usize)
        .clamp(1, below.max(1))
        .min(below);
    let townships = ((halls as f64 * 0.30).round() as usize)
        .max(1)
        .min(below - counties);
    [1, counties, townships, below - counties - townships]
}

/// A province of `halls` halls: one city hall, counties under it, townships under the
/// counties and villages under the townships.
pub fn generate(halls: usize) -> Province {
    let [_, counties, townships, villages] = tier_counts(halls);
    let mut out = vec![hall("city".into(), &CITY)];
    out.extend((0..counties).map(|i| hall(format!("county-{:02}", i + 1), &COUNTY)));
    out.extend((0..townships).map(|i| hall(format!("town-{:03}", i + 1), &TOWNSHIP)));
    out.extend((0..villages).map(|i| hall(format!("village-{:04}", i + 1), &VILLAGE)));
    Province { halls: out }
}

fn hall(id: String, shape: &TierShape) -> Hall {
    let services: Vec<String> = SERVICES[..shape.services]
        .iter()
        .map(|(id, _)| (*id).to_owned())
        .collect();
    let mut windows = Vec::new();
    for g in 0..shape.general {
        // Each general window starts its ranking at another service, so windows disagree
        // about what comes first, as real halls' windows do.
        let order = (0..shape.services)
            .map(|k| (k + g) % shape.services)
            .collect();
        windows.push(Window {
            id: format!("w{}", windows.len() + 1),
            services: order,
        });
    }
    for d in 0..shape.domain {
        let order = (0..shape.domain_size)
            .map(|k| (d * shape.domain_size + k) % shape.services)
            .collect();
        windows.push(Window {
            id: format!("w{}", windows.len() + 1),
            services: order,
        });
    }
    Hall {
        id,
        tier: shape.tier.to_owned(),
        services,
        windows,
    }
}

fn shape_of(tier: &str) -> &'static TierShape {
    match tier {
        "city" => &CITY,
        "county" => &COUNTY,
        "township" => &TOWNSHIP,
        _ => &VILLAGE,
    }
}

/// Where the generated config finds the holiday calendar, relative to itself.
pub const CALENDAR_FILE: &str = "calendars/cn-mainland.toml";

/// The official calendar as the repository ships it (`config/calendars/`).
const OFFICIAL_CALENDAR: &str = include_str!("../../config/calendars/cn-mainland.toml");

/// The case side of the generated config: the official holiday calendar (every hall's, as
/// the first one configured), the suspension reasons the case mix uses, the standard alarm
/// ladder and a matters catalogue with one matter of every kind, as in
/// `config/hallq.example.toml`.
const DEADLINES: &str = r#"[[calendar]]
id = "cn-mainland"
file = "calendars/cn-mainland.toml"

[[suspension]]
id = "supplement"
name = "补正材料"
mode = "restart"

[[suspension]]
id = "inspection"
name = "检验检测"
mode = "pause"

[[alarm_policy]]
id = "standard"
levels = [
  { level = "yellow", remaining = "1wd" },
  { level = "red", remaining = "0wd" },
  { level = "escalate", overdue = "2wd" },
]

[[matter]]
id = "330100-JB-0001"
name = "居民身份证挂失申报"
kind = "instant"

[[matter]]
id = "330100-CN-0001"
name = "个体工商户设立登记"
kind = "promised"
limit = "3wd"

[[matter]]
id = "330100-CN-0002"
name = "建设工程规划许可证核发"
kind = "promised"
limit = "20wd"

[[matter]]
id = "330100-CN-0003"
name = "不动产登记咨询答复"
kind = "promised"
limit = "8wh"

[[matter]]
id = "330100-LB-0001"
name = "企业开办一件事"
kind = "joint"
limit = "5wd"
departments = [
  { id = "market", name = "市场监管局", limit = "2wd" },
  { id = "tax", name = "税务局", limit = "2wd" },
  { id = "social", name = "人社局", limit = "3wd" },
]

[[matter]]
id = "330100-SB-0001"
name = "建设用地规划许可（上报审批）"
kind = "escalated"
stage_limit = "3wd"
limit = "20wd"

"#;

/// The holiday calendar file to write at `CALENDAR_FILE` next to the generated config.
///
/// A case can only be accepted on a day the calendar covers, and the official notices end
/// with the last year published. So that the load test keeps running after that (until
/// the next notice is added to `config/calendars/`), later years up to the current one are
/// appended with no dated exceptions: the default week, as the calendar format documents
/// for years without a notice.
pub fn calendar_file() -> Result<String, String> {
    let official = Calendar::from_toml(CALENDAR_FILE, OFFICIAL_CALENDAR)
        .map_err(|e| format!("the embedded holiday calendar is invalid (a bug):\n{e}"))?;
    let last = official.range().last.year();
    let this_year = SystemClock
        .now()
        .to_zoned_datetime(official.time_zone().clone())
        .year();
    let mut text = OFFICIAL_CALENDAR.to_owned();
    for year in last + 1..=this_year {
        let _ = write!(
            text,
            "\n[[year]]\nyear = {year}\nnotice = \"none in this build of hallq-loadtest: the default week\"\n"
        );
    }
    Ok(text)
}

/// The config file for a generated province.
///
/// The business day turns at the hall's local `day_starts`; it is set twelve hours away
/// from now, so a run never sees the day turn (which closes every window and would show
/// up as errors that have nothing to do with load).
pub fn config_toml(p: &Province, tokens: &Tokens, group_commit: bool) -> String {
    let now = SystemClock.now().as_second();
    // Asia/Shanghai has had no daylight saving time since 1991: local = UTC + 8 h.
    let local_hour = (now + 8 * 3600).rem_euclid(86_400) / 3600;
    let day_starts = (local_hour + 12) % 24;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Generated by hallq-loadtest: {} halls, {} windows.\n",
        p.halls.len(),
        p.windows()
    );
    s.push_str("[server]\nlisten = \"127.0.0.1:0\"\n\n");
    if !group_commit {
        s.push_str(
            "[store]\n# One fsync per request: measures what group commit buys.\nmax_batch = 1\n\n",
        );
    }
    let count = |tier: &str| p.halls.iter().filter(|h| h.tier == tier).count();
    let (counties, townships) = (count("county"), count("township"));
    // Townships are dealt round-robin over the counties, villages over the townships.
    let (mut towns_seen, mut villages_seen) = (0usize, 0usize);
    for h in &p.halls {
        let parent = match h.tier.as_str() {
            "county" => Some("city".to_owned()),
            "township" => {
                towns_seen += 1;
                Some(format!(
                    "county-{:02}",
                    (towns_seen - 1) % counties.max(1) + 1
                ))
            }
            "village" if townships > 0 => {
                villages_seen += 1;
                Some(format!("town-{:03}", (villages_seen - 1) % townships + 1))
            }
            "village" => Some("city".to_owned()),
            _ => None,
        };
        let shape = shape_of(&h.tier);
        let _ = writeln!(
            s,
            "[[hall]]\nid = \"{}\"\nname = \"{} {}\"\ntier = \"{}\"\ntime_zone = \"Asia/Shanghai\"\n\
             day_starts = \"{day_starts:02}:00\"\nhours = {{ always = true }}",
            h.id, h.tier, h.id, h.tier
        );
        if let Some(parent) = parent {
            let _ = writeln!(s, "parent = \"{parent}\"");
        }
        for (k, id) in h.services.iter().enumerate() {
            let name = SERVICES
                .iter()
                .find(|(i, _)| i == id)
                .map_or("", |(_, n)| n);
            let prefix = char::from(b'A' + k as u8);
            let _ = writeln!(
                s,
                "\n[[hall.service]]\nid = \"{id}\"\nname = \"{name}\"\nprefix = \"{prefix}\"\n\
                 last = 999999\nexpected_service_min = 8"
            );
        }
        for (k, w) in h.windows.iter().enumerate() {
            let general = k < shape.general;
            let list: Vec<String> = w
                .services
                .iter()
                .enumerate()
                .map(|(pos, &svc)| {
                    let rank = if general {
                        pos / shape.rank_group.max(1) + 1
                    } else {
                        pos + 1
                    };
                    format!("{{ service = \"{}\", rank = {rank} }}", h.services[svc])
                })
                .collect();
            let _ = writeln!(
                s,
                "\n[[hall.window]]\nid = \"{}\"\nname = \"{}号窗口\"\nkind = \"{}\"\nservices = [{}]",
                w.id,
                k + 1,
                if general { "general" } else { "domain" },
                list.join(", ")
            );
        }
        s.push('\n');
    }
    s.push_str(DEADLINES);
    for (name, role, token) in [
        ("loadtest-kiosk", "kiosk", &tokens.kiosk),
        ("loadtest-counter", "counter", &tokens.counter),
        ("loadtest-display", "display", &tokens.display),
        (
            "loadtest-case-officer",
            "case-officer",
            &tokens.case_officer,
        ),
    ] {
        let _ = writeln!(
            s,
            "[[token]]\nname = \"{name}\"\nrole = \"{role}\"\nhalls = [\"*\"]\nsha256 = \"{}\"\n",
            hex(&token_hash(token))
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use hallq::config::Config;

    /// Validate `text` as the daemon started here would: from a file, next to its calendar.
    fn load(text: &str) -> Result<Config, String> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let calendar = dir.path().join(CALENDAR_FILE);
        std::fs::create_dir_all(calendar.parent().expect("a directory")).expect("mkdir");
        std::fs::write(&calendar, calendar_file()?).expect("write the calendar");
        let file = dir.path().join("generated.toml");
        std::fs::write(&file, text).expect("write the config");
        Config::from_file(&file).map_err(|e| e.to_string())
    }

    #[test]
    fn generated_configs_validate_and_match_the_province() {
        for halls in [1, 2, 3, 4, 7, 20, 100, 1000] {
            let p = generate(halls);
            assert_eq!(p.halls.len(), halls, "{halls} halls asked for");
            let tokens = Tokens::generate().expect("random tokens");
            let text = config_toml(&p, &tokens, true);
            let c = load(&text)
                .unwrap_or_else(|e| panic!("{halls} halls: the generated config is invalid:\n{e}"));
            assert_eq!(c.halls.len(), halls);
            for (h, cfg) in p.halls.iter().zip(&c.halls) {
                assert_eq!(*cfg.id, h.id);
                assert_eq!(cfg.windows.len(), h.windows.len());
                for (w, wc) in h.windows.iter().zip(&cfg.windows) {
                    let mut ours: Vec<usize> = w.services.clone();
                    let mut theirs: Vec<usize> = wc.services.iter().map(|s| s.service).collect();
                    ours.sort_unstable();
                    theirs.sort_unstable();
                    assert_eq!(ours, theirs, "hall {} window {}", h.id, w.id);
                }
            }
            assert_eq!(c.store.max_batch, 4096);
        }
    }

    #[test]
    fn no_group_commit_sets_one_request_per_batch() {
        let p = generate(3);
        let tokens = Tokens::generate().expect("random tokens");
        let c = load(&config_toml(&p, &tokens, false)).expect("valid config");
        assert_eq!(c.store.max_batch, 1);
    }

    #[test]
    fn store_and_server_settings_reach_their_tables_with_or_without_group_commit() {
        let p = generate(3);
        let tokens = Tokens::generate().expect("random tokens");
        let settings = ["checkpoint_interval_ms=250".to_owned()];
        for group_commit in [true, false] {
            let text = config_toml(&p, &tokens, group_commit);
            let text =
                crate::plan::with_settings(text, "store", &settings, "--store").expect("key=value");
            let text =
                crate::plan::with_settings(text, "server", &["shards = 1".to_owned()], "--server")
                    .expect("key=value");
            let c = load(&text).expect("valid config");
            assert_eq!(c.store.checkpoint_interval_ms, 250);
            assert_eq!(c.store.max_batch, if group_commit { 4096 } else { 1 });
            assert_eq!(c.server.shards, 1);
        }
        let bad = crate::plan::with_settings(
            String::new(),
            "store",
            &["max_batch".to_owned()],
            "--store",
        );
        assert_eq!(bad.unwrap_err(), "--store max_batch: expected key=value");
    }

    #[test]
    fn cases_can_be_accepted_in_every_generated_hall() {
        let p = generate(4);
        let tokens = Tokens::generate().expect("random tokens");
        let c = load(&config_toml(&p, &tokens, true)).expect("valid config");
        assert_eq!(c.calendars.len(), 1, "the official calendar");
        assert!(
            c.halls.iter().all(|h| h.calendar == Some(0)),
            "every hall counts on it"
        );
        // Six matters of the catalogue, plus the built-in complaint, rectification and written
        // enquiry.
        assert_eq!(c.matters.len(), 9);
        for reason in ["supplement", "inspection"] {
            assert!(c.suspension_index(reason).is_some(), "{reason}");
        }
        assert!(
            c.tokens
                .iter()
                .any(|t| t.role == hallq::config::Role::CaseOfficer),
            "a token that may change cases"
        );
    }

    #[test]
    fn the_calendar_covers_today() {
        let text = calendar_file().expect("the embedded calendar is valid");
        assert!(
            text.starts_with(OFFICIAL_CALENDAR),
            "the official notices unchanged"
        );
        let c = Calendar::from_toml(CALENDAR_FILE, &text).expect("still a valid calendar");
        let today = SystemClock
            .now()
            .to_zoned_datetime(c.time_zone().clone())
            .date();
        assert!(c.range().first <= today && today <= c.range().last);
    }

    #[test]
    fn a_province_has_every_tier_once_it_is_big_enough() {
        let p = generate(100);
        let tiers = p.tiers();
        assert_eq!(
            tiers,
            vec![
                ("city".to_owned(), 1),
                ("county".to_owned(), 5),
                ("township".to_owned(), 30),
                ("village".to_owned(), 64)
            ]
        );
        assert_eq!(p.windows(), 24 + 5 * 12 + 30 * 4 + 64);
        let order = p.interleaved_windows();
        assert_eq!(order.len(), p.windows());
        assert_eq!(order[0], (0, 0));
        assert_eq!(order[1], (1, 0));
    }
}
