//! Scenario tests of the engine, one per rule, in a file per topic; the fixture (a hall and
//! `H`, which drives it) is here. The randomized model check lives in `tests/queue_model.rs`.
//!
//! The engine is in `hallq-core`, but its halls are written as an operator writes them and
//! built by the daemon's config loader, which the core cannot see; so these tests drive the
//! engine's public interface from here. Unit tests of private helpers stay in the core.

mod appointments;
mod calling;
mod day;
mod records;
mod schedules;
mod tickets;
mod timers;
mod windows;

use std::sync::Arc;

use jiff::{Timestamp, ToSpan};

use hallq::config::Config;
use hallq::localtime::LocalTime;
use hallq::model::Hall;
use hallq::queue::*;

const HALL: &str = r#"
[policy]
max_wait_min = 60
max_priority_run = 2
appointment_early_min = 15
appointment_grace_min = 10
recall_limit = 2
reactivate_min = 30

[[hall]]
id = "h"
name = "Hall"
tier = "county"

[[hall.service]]
id = "a"
name = "Service A"
prefix = "A"
expected_service_min = 5

[[hall.service]]
id = "b"
name = "Service B"
prefix = "B"
last = 3

[[hall.service]]
id = "c"
name = "Service C"
prefix = "C"
daily_cap = 2

[[hall.window]]
id = "w1"
name = "1号窗口"
services = ["a", "b", "c"]
posts = { a = "alice" }

[[hall.window]]
id = "w2"
name = "2号窗口"
services = [{ service = "a", rank = 1, weight = 2 }, { service = "b", rank = 1, weight = 1 }]
"#;

fn hall(src: &str) -> Arc<Hall> {
    Config::from_toml("t.toml", src).unwrap().halls[0].clone()
}

/// 2026-11-23 09:00 +08:00, a Monday.
fn t0() -> Timestamp {
    "2026-11-23T01:00:00Z".parse().unwrap()
}

struct H {
    e: HallEngine,
    now: Timestamp,
    events: Vec<Event>,
}

impl H {
    fn new() -> Self {
        Self::with(HALL)
    }

    fn with(src: &str) -> Self {
        let now = t0();
        let mut h = H {
            e: HallEngine::new(hall(src), now),
            now,
            events: Vec::new(),
        };
        for w in 0..h.e.config().windows.len() {
            h.ok(Command::Window {
                window: w,
                action: WindowAction::Open { sign_in: None },
            });
        }
        h
    }

    fn run(&mut self, cmd: Command) -> Result<Reply, QueueError> {
        self.now += 1.second();
        self.e.apply(self.now, cmd, &mut self.events)
    }

    fn ok(&mut self, cmd: Command) -> Reply {
        self.run(cmd.clone())
            .unwrap_or_else(|e| panic!("{cmd:?} failed: {e}"))
    }

    fn issue(&mut self, service: usize, class: TicketClass) -> TicketView {
        match self.ok(Command::Issue {
            service,
            class,
            slot: None,
            checked_in: true,
        }) {
            Reply::Issued(t) => t,
            r => panic!("unexpected {r:?}"),
        }
    }

    fn window(&mut self, window: usize, action: WindowAction) -> Result<Reply, QueueError> {
        self.run(Command::Window { window, action })
    }

    /// Call next at `w`; the called ticket's number and reason.
    fn call(&mut self, w: usize) -> Option<(String, CallReason)> {
        match self.window(w, WindowAction::CallNext).unwrap() {
            Reply::Ticket(t) => Some((t.number, t.reason.unwrap())),
            Reply::NobodyWaiting => None,
            r => panic!("unexpected {r:?}"),
        }
    }

    fn number(&mut self, w: usize) -> Option<String> {
        self.call(w).map(|(n, _)| n)
    }

    fn advance(&mut self, by: jiff::Span) {
        self.now = self.now.checked_add(by).unwrap();
    }
}
