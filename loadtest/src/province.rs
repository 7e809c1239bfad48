//! The province under load: halls over the tiers, their services and windows, and the
//! bearer tokens the simulated kiosks, counters and displays use.
//!
//! Without `--target` the province is generated and written as a real config file (so the
//! daemon validates it as it would an operator's); with `--target` it is discovered from the
//! daemon's `/v1/halls` and hall snapshots.

use std::fmt::Write;

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

/// Bearer tokens of the simulated devices, in clear (the config holds their hashes).
#[derive(Debug, Clone)]
pub struct Tokens {
    pub kiosk: String,
    pub counter: String,
    pub display: String,
}

impl Tokens {
    /// Fresh random tokens.
    pub fn generate() -> Result<Tokens, String> {
        let one = || -> Result<String, String> {
            let mut bytes = [0u8; 24];
            getrandom::fill(&mut bytes).map_err(|e| format!("cannot read random bytes: {e}"))?;
            Ok(format!("lt_{}", hex(&bytes)))
        };
        Ok(Tokens {
            kiosk: one()?,
            counter: one()?,
            display: one()?,
        })
    }

    /// One token for every role (a counter or admin token of a running daemon).
    pub fn single(token: &str) -> Tokens {
        Tokens {
            kiosk: token.to_owned(),
            counter: token.to_owned(),
            display: token.to_owned(),
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
    for (name, role, token) in [
        ("loadtest-kiosk", "kiosk", &tokens.kiosk),
        ("loadtest-counter", "counter", &tokens.counter),
        ("loadtest-display", "display", &tokens.display),
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

    #[test]
    fn generated_configs_validate_and_match_the_province() {
        for halls in [1, 2, 3, 4, 7, 20, 100, 1000] {
            let p = generate(halls);
            assert_eq!(p.halls.len(), halls, "{halls} halls asked for");
            let tokens = Tokens::generate().expect("random tokens");
            let text = config_toml(&p, &tokens, true);
            let c = Config::from_toml("generated.toml", &text)
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
        let c = Config::from_toml("generated.toml", &config_toml(&p, &tokens, false))
            .expect("valid config");
        assert_eq!(c.store.max_batch, 1);
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
