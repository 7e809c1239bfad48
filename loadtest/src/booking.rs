//! `--scenario booking` (预约, issue 12): one popular slot and a rush on it. `--requests`
//! booking requests (default 10,000), each from a different citizen, are all queued at
//! once over `--connections` sockets, while background traffic runs (kiosk tickets at other
//! halls, citizens reading slots). The run fails unless the slot is never oversold: exactly
//! `capacity` bookings succeed, every other one is refused `slot-full`, and the slots API
//! and the hall's booking list agree afterwards.
//!
//! Latency is measured per request from its write on a connection to its answer, and the
//! whole burst from the first write to the last answer. The concurrency is explicit: each
//! of the `--connections` C sockets sends its next request as soon as its last is answered,
//! so exactly C booking requests are in flight throughout the rush (Little's law then ties
//! the latency to the throughput: mean latency = C / requests per second), plus
//! `--background` B connections of background traffic. The report states C and B and the
//! machine's load average before and after, since the figure means little without them. It starts its own daemon: the generated province plus a
//! `[booking]` section; it does not take `--target`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hallq::clock::{Clock, SystemClock};
use hallq::config::{hex, token_hash};
use hdrhistogram::Histogram;
use http::Method;
use serde_json::{Value, json};

use crate::daemon::LocalDaemon;
use crate::http::{Conn, Target, path};
use crate::plan::{Daemon, Plan};
use crate::province::{self, Tokens};
use crate::report::Outcome;
use crate::timeline::{self, Answered};

/// Seats of the popular slot.
const CAPACITY: u32 = 50;
/// Descriptors beyond the sockets: the store, the runtime, stdio.
const FD_MARGIN: u64 = 256;

pub fn run(plan: &Plan) -> Result<Outcome, String> {
    let Daemon::Local {
        halls,
        group_commit,
        data_parent,
    } = &plan.daemon
    else {
        return Err(
            "--scenario booking starts its own daemon with a [booking] section; it does not take --target"
                .into(),
        );
    };
    let requests = plan.size.requests;
    if requests < CAPACITY as usize {
        return Err(format!(
            "--requests must be at least the slot's {CAPACITY} seats"
        ));
    }
    // Both ends of every socket are in this process.
    let needed = (plan.connections + plan.size.background) as u64 * 2 + FD_MARGIN;
    let limit = rlimit::increase_nofile_limit(u64::MAX)
        .map_err(|e| format!("cannot raise the open-file limit (RLIMIT_NOFILE): {e}"))?;
    if limit < needed {
        return Err(format!(
            "{} connections need about {needed} open files, but this process may open at most \
             {limit}; use fewer --connections",
            plan.connections
        ));
    }
    let province = province::generate((*halls).max(2));
    let tokens = Tokens::generate()?;
    let portal = province::token()?;
    let city = &province.halls[0];
    let service = city.services[0].clone();
    let mut config = province::config_toml(&province, &tokens, *group_commit);
    config.push_str(&format!(
        "\n[[token]]\nname = \"loadtest-portal\"\nrole = \"booking\"\nhalls = [\"*\"]\n\
         sha256 = \"{}\"\n\n[booking]\nkeys = [\"{}\"]\n\n[[booking.slots]]\nhall = \"{}\"\n\
         service = \"{service}\"\nslot_minutes = 30\ncapacity = {CAPACITY}\ndays_ahead = 5\n",
        hex(&token_hash(&portal)),
        province::token()?,
        city.id
    ));
    let calendar = (province::CALENDAR_FILE, province::calendar_file()?);
    let daemon = LocalDaemon::start(&config, &[calendar], data_parent)?;
    let target = Target::local(daemon.addr);
    let runtime = crate::plan::runtime()?;
    let setup = Setup {
        target,
        portal,
        kiosk: tokens.kiosk.clone(),
        counter: tokens.counter.clone(),
        hall: city.id.clone(),
        service,
        others: province.halls[1..]
            .iter()
            .map(|h| (h.id.clone(), h.services[0].clone()))
            .collect(),
    };
    let load_before = load_average();
    let result = runtime
        .block_on(measure(plan, setup, requests))
        .map(|mut out| {
            let after = load_average();
            out.json["load_average"] = json!({"before": load_before, "after": after});
            out.json["cores"] = json!(cores());
            out.table += &format!(
                "load average (1, 5, 15 min) before {} after {} on {} cores\n",
                fmt_load(load_before),
                fmt_load(after),
                cores()
            );
            out
        });
    drop(runtime);
    let dir = daemon.dir().display().to_string();
    daemon
        .stop()
        .map_err(|e| format!("the daemon in {dir} did not stop cleanly: {e}"))?;
    result
}

struct Setup {
    target: Target,
    portal: String,
    kiosk: String,
    counter: String,
    hall: String,
    service: String,
    /// Other halls and a service of each, for the kiosks of the background traffic.
    others: Vec<(String, String)>,
}

/// Tomorrow 10:00 in Shanghai, the popular slot, and the day after (background reads).
fn popular_slot() -> (String, String, String) {
    let tz = jiff::tz::TimeZone::get("Asia/Shanghai").expect("the bundled zone database");
    let today = tz.to_datetime(SystemClock.now()).date();
    let tomorrow = today.tomorrow().expect("in range");
    let start = tz
        .to_ambiguous_timestamp(tomorrow.at(10, 0, 0, 0))
        .compatible()
        .expect("10:00 exists");
    let after = tomorrow.tomorrow().expect("in range");
    (start.to_string(), tomorrow.to_string(), after.to_string())
}

async fn send(
    conn: &mut Conn,
    target: &Target,
    method: Method,
    p: &str,
    token: &str,
    body: Option<Value>,
) -> Result<(u16, Value), String> {
    let body = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
    let req = target.request(method, path(p), &Target::bearer(token), body);
    let reply = conn.send(req).await.map_err(|e| e.to_string())?;
    let v = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    Ok((reply.status, v))
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds")
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

async fn measure(plan: &Plan, s: Setup, requests: usize) -> Result<Outcome, String> {
    let s = Arc::new(s);
    let (start, day, next_day) = popular_slot();
    // Every connection is open and has answered once before the rush.
    let mut conns = Vec::with_capacity(plan.connections);
    for _ in 0..plan.connections {
        let mut c = Conn::open(&s.target).await.map_err(|e| e.to_string())?;
        let p = format!(
            "/v1/halls/{}/slots?service={}&date={day}",
            s.hall, s.service
        );
        let (status, _) = send(&mut c, &s.target, Method::GET, &p, &s.portal, None).await?;
        if status != 200 {
            return Err(format!("GET {p} answered {status}"));
        }
        conns.push(c);
    }

    // Background: kiosks at the other halls, citizens reading the next day's slots.
    let stop = Arc::new(AtomicBool::new(false));
    let mut background = Vec::new();
    // The rush's zero for the timeline; the background starts just before it.
    let burst = Instant::now();
    let background_connections = plan.size.background;
    for k in 0..background_connections {
        let (s, stop) = (s.clone(), stop.clone());
        let next_day = next_day.clone();
        background.push(tokio::spawn(async move {
            let mut c = Conn::open(&s.target).await.map_err(|e| e.to_string())?;
            let mut answered = Vec::new();
            let mut errors = 0u64;
            let mut i = k;
            // At least one request each, however short the rush.
            loop {
                let t = Instant::now();
                let ok = if i % 2 == 0 {
                    let (hall, svc) = &s.others[i / 2 % s.others.len()];
                    let p = format!("/v1/halls/{hall}/tickets");
                    let body = json!({ "service": svc });
                    send(&mut c, &s.target, Method::POST, &p, &s.kiosk, Some(body)).await
                } else {
                    let p = format!(
                        "/v1/halls/{}/slots?service={}&date={next_day}",
                        s.hall, s.service
                    );
                    send(&mut c, &s.target, Method::GET, &p, &s.portal, None).await
                };
                match ok {
                    Ok((status, _)) if status < 300 => {
                        let latency_us = t.elapsed().as_micros() as u64;
                        let at_us = burst.elapsed().as_micros() as u64;
                        answered.push(Answered { at_us, latency_us });
                    }
                    _ => errors += 1,
                }
                i += background_connections;
                if stop.load(Ordering::Relaxed) {
                    break;
                }
            }
            Ok::<_, String>((answered, errors))
        }));
    }

    // The rush: every request is queued at once; each connection takes the next.
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for mut c in conns {
        let (s, next, start) = (s.clone(), next.clone(), start.clone());
        let connections = plan.connections;
        workers.push(tokio::spawn(async move {
            // Latencies are kept as they come and counted after the burst: a histogram per
            // connection (~140 KiB each, zeroed on first touch) made and merged during the
            // rush cost the daemon's cores page faults that are not the daemon's.
            let mut answered = Vec::with_capacity(requests.div_ceil(connections) * 2);
            let (mut booked, mut full, mut other) = (0u64, 0u64, Vec::new());
            // What every booking shares, made once; each request is complete before its
            // clock starts and its answer is read after the clock stops, so the latency is
            // the daemon's (and the sockets'), not this generator's JSON.
            let uri = path(&format!("/v1/halls/{}/bookings", s.hall));
            let auth = Target::bearer(&s.portal);
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= requests {
                    break;
                }
                let body = serde_json::to_vec(&BookingBody {
                    service: &s.service,
                    start: &start,
                    channel: "web",
                    citizen: CitizenBody {
                        id_number: format!("LT{n:016}"),
                        phone: format!("139{n:08}"),
                    },
                })
                .expect("a booking serializes");
                let req = s
                    .target
                    .request(Method::POST, uri.clone(), &auth, Bytes::from(body));
                if !c.is_usable() {
                    // A failed exchange retired it; a late answer may still be on it.
                    match Conn::open(&s.target).await {
                        Ok(fresh) => c = fresh,
                        Err(e) => {
                            other.push(e.to_string());
                            continue;
                        }
                    }
                }
                let t = Instant::now();
                let r = c.send(req).await;
                let latency_us = t.elapsed().as_micros() as u64;
                let at_us = burst.elapsed().as_micros() as u64;
                answered.push(Answered { at_us, latency_us });
                match r {
                    Ok(reply) if reply.status == 201 => booked += 1,
                    Ok(reply) => match problem_type(&reply.body) {
                        Some(t) if reply.status == 409 && t == "urn:hallq:problem:slot-full" => {
                            full += 1;
                        }
                        t => other.push(format!("{} {t:?}", reply.status)),
                    },
                    Err(e) => other.push(e.to_string()),
                }
            }
            (answered, booked, full, other)
        }));
    }
    let mut answered = Vec::with_capacity(requests);
    // Each connection's first request: all of them are sent at once, before the hall's
    // owner can have published the slot as full.
    let mut first = histogram();
    let (mut booked, mut full, mut other) = (0u64, 0u64, Vec::new());
    for w in workers {
        let (a, b, f, o) = w.await.map_err(|e| e.to_string())?;
        if let Some(a) = a.first() {
            first.record(a.latency_us).ok();
        }
        answered.extend(a);
        booked += b;
        full += f;
        other.extend(o);
    }
    let burst_time = burst.elapsed();
    stop.store(true, Ordering::Relaxed);
    let mut latency = histogram();
    for a in &answered {
        latency.record(a.latency_us).ok();
    }
    let mut bg = histogram();
    let mut bg_answered = Vec::new();
    let mut bg_errors = 0;
    for b in background {
        let (a, e) = b.await.map_err(|e| e.to_string())??;
        for x in &a {
            bg.record(x.latency_us).ok();
        }
        bg_answered.extend(a);
        bg_errors += e;
    }

    // What the daemon says afterwards: no seat left, exactly CAPACITY bookings held.
    let mut c = Conn::open(&s.target).await.map_err(|e| e.to_string())?;
    let p = format!(
        "/v1/halls/{}/slots?service={}&date={day}",
        s.hall, s.service
    );
    let (_, slots) = send(&mut c, &s.target, Method::GET, &p, &s.portal, None).await?;
    let slot = slots
        .as_array()
        .and_then(|l| {
            l.iter()
                .find(|x| x["start"].as_str().is_some_and(|t| same_instant(t, &start)))
        })
        .cloned()
        .unwrap_or(Value::Null);
    let p = format!("/v1/halls/{}/bookings?date={day}", s.hall);
    let (_, list) = send(&mut c, &s.target, Method::GET, &p, &s.counter, None).await?;
    let held = list
        .as_array()
        .map_or(0, |l| l.iter().filter(|b| b["status"] == "booked").count()) as u64;
    let oversold = booked > u64::from(CAPACITY) || held > u64::from(CAPACITY);
    let consistent = booked == u64::from(CAPACITY)
        && held == booked
        && slot["left"] == 0
        && booked + full == requests as u64;
    let errors = other.len() as u64 + bg_errors + u64::from(!consistent) + u64::from(oversold);

    let json = json!({
        "scenario": "booking",
        "requests": requests,
        "connections": plan.connections,
        "in_flight": plan.connections,
        "background_connections": plan.size.background,
        "capacity": CAPACITY,
        "slot": start,
        "booked": booked,
        "slot_full": full,
        "held_after": held,
        "left_after": slot["left"],
        "oversold": oversold,
        "consistent": consistent,
        "other_answers": other.iter().take(10).collect::<Vec<_>>(),
        "burst_s": burst_time.as_secs_f64(),
        "throughput_rps": requests as f64 / burst_time.as_secs_f64(),
        "latency_ms": {
            "p50": ms(&latency, 0.5), "p90": ms(&latency, 0.9),
            "p99": ms(&latency, 0.99), "max": latency.max() as f64 / 1000.0,
        },
        "first_request_ms": {
            "p50": ms(&first, 0.5), "p99": ms(&first, 0.99),
            "max": first.max() as f64 / 1000.0,
        },
        "background": {
            "requests": bg.len(), "errors": bg_errors,
            "p50_ms": ms(&bg, 0.5), "p99_ms": ms(&bg, 0.99),
        },
        "errors": errors,
    });
    let mut table = format!(
        "booking rush: {requests} requests for one slot of {CAPACITY} seats, {} in flight \
         (one per connection) + {} background connections\n\
         booked {booked}, slot-full {full}, other {}; afterwards {held} held, {} left; oversold: {oversold}\n\
         burst {:.3} s ({:.0} requests/s)\n\
         booking latency (write → answer): p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms\n\
         of which each connection's first ({} sent at once): p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms\n\
         background ({} requests, {bg_errors} errors): p50 {:.2} ms  p99 {:.2} ms\n",
        plan.connections,
        plan.size.background,
        other.len(),
        slot["left"],
        burst_time.as_secs_f64(),
        requests as f64 / burst_time.as_secs_f64(),
        ms(&latency, 0.5),
        ms(&latency, 0.9),
        ms(&latency, 0.99),
        latency.max() as f64 / 1000.0,
        first.len(),
        ms(&first, 0.5),
        ms(&first, 0.99),
        first.max() as f64 / 1000.0,
        bg.len(),
        ms(&bg, 0.5),
        ms(&bg, 0.99),
    );
    if plan.size.timeline {
        table += &timeline::render(&answered, &bg_answered, Duration::from_millis(10));
    }
    Ok(Outcome {
        json,
        table,
        errors,
    })
}

/// A booking request's body.
#[derive(serde::Serialize)]
struct BookingBody<'a> {
    service: &'a str,
    start: &'a str,
    channel: &'static str,
    citizen: CitizenBody,
}

#[derive(serde::Serialize)]
struct CitizenBody {
    id_number: String,
    phone: String,
}

/// The `type` of a problem answer, read without building the whole document.
fn problem_type(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Problem {
        #[serde(rename = "type")]
        kind: Option<String>,
    }
    serde_json::from_slice::<Problem>(body).ok()?.kind
}

/// Whether two RFC 3339 instants (one with the hall's offset) are the same instant.
fn same_instant(a: &str, b: &str) -> bool {
    match (a.parse::<jiff::Timestamp>(), b.parse::<jiff::Timestamp>()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// The 1, 5 and 15 minute load averages (`/proc/loadavg`), when the system tells them.
fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = text.split_whitespace().map(|v| v.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

fn fmt_load(l: Option<[f64; 3]>) -> String {
    l.map_or("unknown".to_owned(), |[a, b, c]| {
        format!("{a:.2} {b:.2} {c:.2}")
    })
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}
