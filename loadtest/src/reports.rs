//! `--scenario reports` (issue 13): how long the assessment reports take over a province.
//! The generated province (`--halls`, default 100) gets `--days` (default 92) finished
//! business days of stored day records — per service, window and officer, with every wait
//! and service-time sample a day of that size has — and per-day case and rating-loop counts,
//! written into the store before the daemon opens it. Then the monthly and quarterly reports
//! over the whole province (`hall=city&subtree=true`) are asked for as JSON, CSV and HTML,
//! one request at a time after one untimed request, and the latency of each is measured end
//! to end (HTTP included). The month is the last full month seeded; the quarter is the last
//! day's, as far as the seeded days reach into it.
//!
//! The reports read stored day records only (never events), so this is what a supervisor
//! waits for at the end of a month; the figures are checked for plausibility (every hall has
//! its row; the served total is the sum of what was seeded).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use hallq::clock::{Clock, SystemClock};
use hallq::config::{Config, hex, token_hash};
use hallq::model::Tier;
use hallq::queue::attendance::OfficerDay;
use hallq::queue::stats::{DayStats, ServiceDay, WindowDay};
use hallq::store::{Batch, CaseCount, Of, Op, Publish, Published, Store};
use hdrhistogram::Histogram;
use http::Method;
use jiff::civil::Date;
use serde_json::{Value, json};

use crate::daemon::LocalDaemon;
use crate::http::{Conn, Target, path};
use crate::plan::{Daemon, Plan};
use crate::province::{self, Tokens};
use crate::report::Outcome;
use crate::rng::Rng;

/// Requests per report and format, one after the other.
const REPEAT: usize = 10;

pub fn run(plan: &Plan) -> Result<Outcome, String> {
    let Daemon::Local {
        halls,
        group_commit,
        data_parent,
    } = &plan.daemon
    else {
        return Err(
            "--scenario reports seeds the store of the daemon it starts; it does not take --target"
                .into(),
        );
    };
    let days = plan.size.days;
    if days == 0 {
        return Err("--days must be at least 1".into());
    }
    let province = province::generate((*halls).max(2));
    let tokens = Tokens::generate()?;
    let supervisor = province::token()?;
    let mut config = province::config_toml(&province, &tokens, *group_commit);
    config.push_str(&format!(
        "\n[[token]]\nname = \"loadtest-supervisor\"\nrole = \"supervisor\"\nhalls = [\"city\"]\n\
         sha256 = \"{}\"\n",
        hex(&token_hash(&supervisor)),
    ));
    let calendar = (province::CALENDAR_FILE, province::calendar_file()?);
    // The seeded days end yesterday in the province's zone (every hall's).
    let zone = jiff::tz::TimeZone::get("Asia/Shanghai").map_err(|e| e.to_string())?;
    let today = zone.to_datetime(SystemClock.now()).date();
    let first = today
        .checked_sub(jiff::Span::new().days(days as i64))
        .map_err(|e| e.to_string())?;
    let dates: Vec<Date> = first.series(jiff::Span::new().days(1)).take(days).collect();
    let seeded = std::sync::Mutex::new(0u64);
    let t = Instant::now();
    let daemon = LocalDaemon::start_seeded(&config, &[calendar], data_parent, &|cfg, data| {
        *seeded.lock().expect("not poisoned") = seed(cfg, data, &dates, plan.seed)?;
        Ok(())
    })?;
    let seed_s = t.elapsed().as_secs_f64();
    let served = *seeded.lock().expect("not poisoned");
    let target = Target::local(daemon.addr);
    let runtime = crate::plan::runtime()?;
    let last = *dates.last().expect("at least one day");
    // The month before the last day's (the last full month, with enough days seeded), and
    // the quarter of the last day, as far as the seeded days reach into it.
    let prior = last
        .first_of_month()
        .yesterday()
        .map_err(|e| e.to_string())?;
    let m = if first <= prior { prior } else { last };
    let month = format!("{:04}-{:02}", m.year(), m.month());
    let quarter = format!("{:04}-Q{}", last.year(), (last.month() - 1) / 3 + 1);
    let result = runtime.block_on(measure(
        &target,
        &supervisor,
        &[("monthly", month), ("quarterly", quarter)],
        province.halls.len(),
    ));
    drop(runtime);
    let dir = daemon.dir().display().to_string();
    daemon
        .stop()
        .map_err(|e| format!("the daemon in {dir} did not stop cleanly: {e}"))?;
    let (rows, errors) = result?;
    let mut table = format!(
        "reports over a province of {} halls (subtree of `city`), {days} stored days \
         ({served} tickets served, seeded in {seed_s:.1} s); {REPEAT} requests each, one at a time\n\
         report     period     format  halls  bytes      p50 ms   max ms\n",
        province.halls.len()
    );
    for r in &rows {
        table += &format!(
            "{:<10} {:<10} {:<7} {:>5}  {:>9}  {:>7.1}  {:>7.1}\n",
            r["report"].as_str().unwrap_or(""),
            r["period"].as_str().unwrap_or(""),
            r["format"].as_str().unwrap_or(""),
            r["halls"],
            r["bytes"],
            r["p50_ms"].as_f64().unwrap_or(0.0),
            r["max_ms"].as_f64().unwrap_or(0.0),
        );
    }
    Ok(Outcome {
        json: json!({
            "scenario": "reports",
            "halls": province.halls.len(),
            "days": days,
            "served_seeded": served,
            "seed_s": seed_s,
            "repeat": REPEAT,
            "reports": rows,
            "errors": errors,
        }),
        table,
        errors,
    })
}

/// Nobody listens to the seeding writer's events (it writes none).
struct Nobody;

impl Publish for Nobody {
    fn publish(&self, _events: &[Published]) {}
}

/// Write `dates` × every hall's day records and case counts; returns the tickets served.
fn seed(config: &Config, data: &Path, dates: &[Date], seed: u64) -> Result<u64, String> {
    let store = Store::open(data, &config.store).map_err(|e| e.to_string())?;
    let writer = store.start_writer(&config.store, Arc::new(Nobody), Arc::new(SystemClock));
    let tx = writer.sender();
    let mut rng = Rng::new(seed);
    let mut served = 0u64;
    for date in dates {
        let mut batch = Batch::default();
        let day = date.to_string();
        for hall in &config.halls {
            let stats = day_stats(hall, *date, &mut rng);
            served += stats
                .services
                .iter()
                .map(|s| u64::from(s.served))
                .sum::<u64>();
            let mut count = |key: String, on_time: bool| {
                batch.ops.push(Op::CountCase {
                    hall: key.into(),
                    day: day.clone(),
                    on_time,
                })
            };
            for i in 0..(stats.services.len() as u64 * 2) {
                count(hall.id.to_string(), i % 10 != 0);
            }
            for w in &stats.windows {
                let bad = w.ratings[0] + w.ratings[1];
                for i in 0..bad {
                    let on_time = i % 5 != 0;
                    count(CaseCount::Rectified.key(&hall.id), on_time);
                    count(
                        CaseCount::Rectified.key_of(&hall.id, Of::Window(&w.window)),
                        on_time,
                    );
                }
            }
            for o in &stats.officers {
                let bad = o.ratings[0] + o.ratings[1];
                for i in 0..bad {
                    count(
                        CaseCount::Rectified.key_of(&hall.id, Of::Officer(&o.officer)),
                        i % 5 != 0,
                    );
                }
            }
            let json = serde_json::to_vec(&stats).map_err(|e| e.to_string())?;
            batch.ops.push(Op::PutStats {
                hall: hall.id.clone(),
                day: day.clone(),
                json,
            });
        }
        tx.send(batch)
            .map_err(|_| "the store writer stopped while seeding".to_owned())?;
    }
    drop(tx);
    writer.stop();
    Ok(served)
}

/// One hall's plausible business day: tickets by tier, split over its services, windows and
/// two officers per window, each with its wait and service samples and ratings.
fn day_stats(hall: &hallq::model::Hall, day: Date, rng: &mut Rng) -> DayStats {
    let per_day: u32 = match hall.tier {
        Tier::Province | Tier::City => 400,
        Tier::County => 200,
        Tier::Township => 60,
        Tier::Village => 12,
    };
    let mut services: Vec<ServiceDay> = hall
        .services
        .iter()
        .map(|s| ServiceDay {
            service: s.id.to_string(),
            ..ServiceDay::default()
        })
        .collect();
    let mut windows: Vec<WindowDay> = hall
        .windows
        .iter()
        .map(|w| WindowDay {
            window: w.id.to_string(),
            open_s: 8 * 3600,
            ..WindowDay::default()
        })
        .collect();
    let mut officers: Vec<OfficerDay> = hall
        .windows
        .iter()
        .flat_map(|w| ["a", "b"].map(|p| format!("{}-{p}", w.id)))
        .map(|officer| OfficerDay {
            officer,
            signed_in_s: 4 * 3600,
            ..OfficerDay::default()
        })
        .collect();
    let n = per_day / 2 + rng.below(per_day as usize) as u32;
    for _ in 0..n {
        let s = rng.below(services.len().max(1));
        let w = rng.below(windows.len().max(1));
        let o = w * 2 + rng.below(2);
        let wait = 30 + rng.below(1800) as u32;
        let service = 60 + rng.below(900) as u32;
        let rating: Option<usize> = match rng.below(100) {
            0..=1 => Some(1),
            2..=3 => Some(2),
            4..=9 => Some(3),
            10..=39 => Some(4),
            40..=79 => Some(5),
            _ => None,
        };
        let Some(sd) = services.get_mut(s) else { break };
        sd.issued += 1;
        sd.served += 1;
        sd.wait_s.push(wait);
        sd.service_s.push(service);
        if let Some(r) = rating {
            sd.ratings[r - 1] += 1;
        }
        if let Some(wd) = windows.get_mut(w) {
            wd.served += 1;
            wd.busy_s += u64::from(service);
            wd.wait_s.push(wait);
            wd.service_s.push(service);
            if let Some(r) = rating {
                wd.ratings[r - 1] += 1;
            }
        }
        if let Some(od) = officers.get_mut(o) {
            od.served += 1;
            od.wait_s.push(wait);
            od.service_s.push(service);
            if let Some(r) = rating {
                od.ratings[r - 1] += 1;
            }
        }
    }
    DayStats {
        hall: hall.id.to_string(),
        day,
        services,
        windows,
        officers,
    }
}

/// Each report in each format, `REPEAT` times: one row per (report, format).
async fn measure(
    target: &Target,
    token: &str,
    reports: &[(&str, String)],
    halls: usize,
) -> Result<(Vec<Value>, u64), String> {
    let mut conn = Conn::open(target).await.map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    let mut errors = 0;
    for (kind, period) in reports {
        for format in ["json", "csv", "html"] {
            let p = format!(
                "/v1/reports/{kind}?hall=city&subtree=true&period={period}&format={format}"
            );
            let mut h = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("bounds");
            let mut bytes = 0;
            let mut rows_seen = 0;
            // One untimed request first: the store's pages are then in the page cache, as
            // they are for the second supervisor of the morning.
            let warm = target.request(Method::GET, path(&p), &Target::bearer(token), Bytes::new());
            conn.send(warm).await.map_err(|e| e.to_string())?;
            for _ in 0..REPEAT {
                let req =
                    target.request(Method::GET, path(&p), &Target::bearer(token), Bytes::new());
                let t = Instant::now();
                let reply = conn.send(req).await.map_err(|e| e.to_string())?;
                h.record(t.elapsed().as_micros() as u64).ok();
                if reply.status != 200 {
                    errors += 1;
                    continue;
                }
                bytes = reply.body.len();
                if format == "json" {
                    let v: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
                    rows_seen = v["halls"].as_array().map_or(0, Vec::len);
                    if rows_seen != halls || v["total"]["served"].as_u64().unwrap_or(0) == 0 {
                        errors += 1;
                    }
                }
            }
            rows.push(json!({
                "report": kind,
                "period": period,
                "format": format,
                "halls": if format == "json" { json!(rows_seen) } else { json!(halls) },
                "bytes": bytes,
                "p50_ms": h.value_at_quantile(0.5) as f64 / 1000.0,
                "max_ms": h.max() as f64 / 1000.0,
            }));
        }
    }
    Ok((rows, errors))
}
