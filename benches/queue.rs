//! The queue engine's hot paths with a full hall: 10,000 waiting tickets over 20 services
//! (DESIGN.md "Performance targets": call-next decision ≤ 1 µs).
//!
//! The hall has 32 general windows that serve all 20 services in four rank groups of five
//! (rotated per window, so windows disagree about what comes first) and 4 domain windows
//! with five services each. Tickets are one in five green channel, spread round-robin over
//! the services.
//!
//! What is timed is only the command itself. The measured step needs an idle window (call)
//! or a queue of exactly 10,000 (issue), so the routines use `iter_custom`: a chunk of up to
//! 32 commands is timed, then, untimed, the chunk is undone — the called windows complete
//! and as many tickets are issued again (or, after issuing, as many are called away) — so
//! every timed command sees the hall at 10,000 waiting. The engine is rebuilt (untimed)
//! long before a service's number range or the aging cap could come into play.
//!
//! The engine does not expose the decision (`choose`) on its own, so "call next" is the full
//! `apply`: finishing nothing (the window is idle), expiring appointments (none), the
//! decision, filing the ticket out of its lanes, the `Called` event with its announcement and
//! queue counts, and the reply view.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use hallq::config::Config;
use hallq::model::Hall;
use hallq::queue::{Command, HallEngine, Reply, TicketClass, WindowAction};
use jiff::{SignedDuration, Timestamp};

const SERVICES: usize = 20;
/// Windows serving all 20 services; the timed calls rotate over them.
const GENERAL_WINDOWS: usize = 32;
const DOMAIN_WINDOWS: usize = 4;
/// Timed commands per chunk (one per general window).
const CHUNK: usize = GENERAL_WINDOWS;
/// Issues after which the engine is rebuilt, far below a service's 999,999 numbers a day.
const REBUILD_AFTER: u64 = 400_000;

/// The hall as TOML, through the same validation as an operator's file.
fn hall_toml() -> String {
    let mut s = String::from(
        "[[hall]]\nid = \"bench\"\nname = \"Bench hall\"\ntier = \"city\"\n\
         hours = { always = true }\n",
    );
    for i in 0..SERVICES {
        let prefix = char::from(b'A' + i as u8);
        s.push_str(&format!(
            "\n[[hall.service]]\nid = \"s{i:02}\"\nname = \"Service {i}\"\n\
             prefix = \"{prefix}\"\nlast = 999999\n"
        ));
    }
    for w in 0..GENERAL_WINDOWS {
        let services: Vec<String> = (0..SERVICES)
            .map(|i| {
                let rank = (i + w) % SERVICES / 5 + 1;
                format!("{{ service = \"s{i:02}\", rank = {rank} }}")
            })
            .collect();
        s.push_str(&format!(
            "\n[[hall.window]]\nid = \"g{w}\"\nname = \"{n}号窗口\"\nkind = \"general\"\n\
             services = [{}]\n",
            services.join(", "),
            n = w + 1
        ));
    }
    for d in 0..DOMAIN_WINDOWS {
        let services: Vec<String> = (0..5).map(|i| format!("\"s{:02}\"", d * 5 + i)).collect();
        s.push_str(&format!(
            "\n[[hall.window]]\nid = \"d{d}\"\nname = \"{n}号窗口\"\nkind = \"domain\"\n\
             services = [{}]\n",
            services.join(", "),
            n = GENERAL_WINDOWS + d + 1
        ));
    }
    s
}

fn hall_config() -> Arc<Hall> {
    let config = Config::from_toml("bench.toml", &hall_toml()).expect("the bench hall is valid");
    config.halls[0].clone()
}

/// A hall with `waiting` tickets and every window open and idle.
struct Bench {
    cfg: Arc<Hall>,
    engine: HallEngine,
    now: Timestamp,
    /// Tickets issued so far, which also picks the next service and class.
    issued: u64,
    /// Issued since the engine was built.
    since_rebuild: u64,
    waiting: usize,
    events: Vec<hallq::queue::Event>,
}

fn start_of_day() -> Timestamp {
    "2026-11-23T00:30:00Z".parse().expect("an instant") // 08:30 in Shanghai
}

impl Bench {
    fn new(waiting: usize) -> Bench {
        let cfg = hall_config();
        let now = start_of_day();
        let mut b = Bench {
            engine: HallEngine::new(cfg.clone(), now),
            cfg,
            now,
            issued: 0,
            since_rebuild: 0,
            waiting,
            events: Vec::new(),
        };
        b.fill();
        b
    }

    fn fill(&mut self) {
        for w in 0..self.cfg.windows.len() {
            let open = Command::Window {
                window: w,
                action: WindowAction::Open { sign_in: None },
            };
            self.engine
                .apply(self.now, open, &mut self.events)
                .expect("opening a window");
        }
        for _ in 0..self.waiting {
            let cmd = self.next_issue();
            self.engine
                .apply(self.now, cmd, &mut self.events)
                .expect("issuing");
        }
        self.events.clear();
        assert_eq!(self.engine.waiting(), self.waiting);
    }

    /// The next ticket to issue: services round-robin, one in five green channel.
    fn next_issue(&mut self) -> Command {
        let n = self.issued;
        self.issued += 1;
        self.since_rebuild += 1;
        Command::Issue {
            service: (n % SERVICES as u64) as usize,
            class: if n % 5 == 4 {
                TicketClass::Priority
            } else {
                TicketClass::Normal
            },
            slot: None,
            checked_in: true,
        }
    }

    /// Untimed upkeep between chunks: the clock moves a little (calls one millisecond apart
    /// never reach the one-hour aging cap within a run), and a hall that has issued many
    /// numbers is replaced by a fresh one.
    fn upkeep(&mut self) {
        self.events.clear();
        self.now += SignedDuration::from_millis(1);
        if self.since_rebuild > REBUILD_AFTER {
            self.engine = HallEngine::new(self.cfg.clone(), self.now);
            self.since_rebuild = 0;
            self.fill();
        }
    }

    /// Complete the first `n` general windows' tickets and issue `n` new ones.
    fn refill(&mut self, n: usize) {
        for w in 0..n {
            let cmd = window(w, WindowAction::Complete { evaluation: None });
            // A window that found nobody has nothing to complete; that is fine here.
            let _ = self.engine.apply(self.now, cmd, &mut self.events);
        }
        for _ in 0..n {
            let cmd = self.next_issue();
            self.engine
                .apply(self.now, cmd, &mut self.events)
                .expect("issuing");
        }
    }

    /// Call `n` tickets away at the first `n` general windows and complete them.
    fn drain(&mut self, n: usize) {
        for w in 0..n {
            let cmd = window(w, WindowAction::CallNext);
            self.engine
                .apply(self.now, cmd, &mut self.events)
                .expect("calling");
            let cmd = window(w, WindowAction::Complete { evaluation: None });
            self.engine
                .apply(self.now, cmd, &mut self.events)
                .expect("completing");
        }
    }
}

fn window(w: usize, action: WindowAction) -> Command {
    Command::Window { window: w, action }
}

/// `apply(CallNext)` at an idle general window, queue steady at `waiting`.
fn call_next(iters: u64, b: &mut Bench) -> Duration {
    let mut timed = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        let start = Instant::now();
        for w in 0..n {
            let cmd = window(w, WindowAction::CallNext);
            let reply = black_box(b.engine.apply(b.now, cmd, &mut b.events));
            debug_assert!(matches!(reply, Ok(Reply::Ticket(_))));
        }
        timed += start.elapsed();
        b.refill(n);
        b.upkeep();
        left -= n as u64;
    }
    debug_assert_eq!(b.engine.waiting(), b.waiting);
    timed
}

/// `apply(Issue)` with the queue steady at `waiting`.
fn issue(iters: u64, b: &mut Bench) -> Duration {
    let mut timed = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        let cmds: Vec<Command> = (0..n).map(|_| b.next_issue()).collect();
        let start = Instant::now();
        for cmd in cmds {
            let reply = black_box(b.engine.apply(b.now, cmd, &mut b.events));
            debug_assert!(matches!(reply, Ok(Reply::Issued(_))));
        }
        timed += start.elapsed();
        b.drain(n);
        b.upkeep();
        left -= n as u64;
    }
    debug_assert_eq!(b.engine.waiting(), b.waiting);
    timed
}

fn queue(c: &mut Criterion) {
    let mut group = c.benchmark_group("queue");
    // 10,000 is the target's hall; 100 shows whether the cost grows with the queue.
    for waiting in [10_000usize, 100] {
        let mut b = Bench::new(waiting);
        group.bench_with_input(
            BenchmarkId::new("call_next_20_services", waiting),
            &waiting,
            |bencher, _| bencher.iter_custom(|iters| call_next(iters, &mut b)),
        );
    }
    for waiting in [10_000usize, 100] {
        let mut b = Bench::new(waiting);
        group.bench_with_input(
            BenchmarkId::new("issue", waiting),
            &waiting,
            |bencher, _| bencher.iter_custom(|iters| issue(iters, &mut b)),
        );
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // The untimed upkeep costs about as much as the timed commands, so a 4 s measurement
    // takes some 10 s of wall time per benchmark; the whole file stays near a minute.
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(4))
        .sample_size(60);
    targets = queue
}
criterion_main!(benches);
