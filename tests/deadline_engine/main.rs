//! Scenario tests of the deadline engine on the demo catalogue and the official calendar, in a
//! file per topic; the fixture (`T`, which drives an engine, and the demo's case ids) is here.
//!
//! The engine is in `hallq-core`; the demo catalogue is built by the daemon's config loader,
//! which the core cannot see, so these tests drive the engine's public interface from here.

mod calendars;
mod commands;
mod ladder;
mod records;

use std::collections::HashMap;
use std::sync::Arc;

use jiff::{Timestamp, ToSpan};

use hallq::calendar::Calendar;
use hallq::config::Config;
use hallq::deadline::*;
use hallq::localtime::LocalTime;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// A time as views and events show it, offset included.
fn lt(s: &str) -> LocalTime {
    s.parse().unwrap()
}

struct T {
    e: DeadlineEngine,
    config: Arc<Config>,
    events: Vec<CaseEvent>,
    /// The closed-case table, filled by `persist`.
    closed: HashMap<String, CaseRecord>,
}

impl T {
    fn new(now: &str) -> T {
        let config = Arc::new(Config::demo());
        T {
            e: DeadlineEngine::new(config.catalogue.clone(), ts(now)),
            config,
            events: Vec::new(),
            closed: HashMap::new(),
        }
    }

    /// Hand the changes to the "store": closed cases leave the engine for `closed`.
    fn persist(&mut self) {
        for c in self.e.take_changes() {
            if c.closed {
                self.closed.insert(c.record.id.clone(), c.record);
            }
        }
    }

    fn matter(&self, id: &str) -> usize {
        self.config.matter_index(id).unwrap()
    }

    fn hall(&self, id: &str) -> usize {
        self.config.hall_index(id).unwrap()
    }

    fn accept(
        &mut self,
        now: &str,
        id: &str,
        hall: &str,
        matter: &str,
        accepted: &str,
    ) -> Result<CaseView, CaseError> {
        let cmd = CaseCommand::Accept {
            id: id.into(),
            hall: self.hall(hall),
            matter: self.matter(matter),
            accepted_at: ts(accepted),
            origin: None,
            applicant: None,
            bundle: None,
        };
        self.e
            .apply(ts(now), cmd, &self.closed, &mut self.events)
            .map(|(v, _)| v)
    }

    fn run(&mut self, now: &str, cmd: CaseCommand) -> Result<CaseView, CaseError> {
        self.e
            .apply(ts(now), cmd, &self.closed, &mut self.events)
            .map(|(v, _)| v)
    }

    /// Advance to `now`; the alarm ids raised.
    fn advance(&mut self, now: &str) -> Vec<String> {
        let mut out = Vec::new();
        self.e.advance(ts(now), &mut out);
        let ids = out
            .iter()
            .filter_map(|e| match &e.body {
                CaseEventBody::Alarm(a) => Some(a.id.clone()),
                _ => None,
            })
            .collect();
        self.events.extend(out);
        ids
    }

    fn kinds(&self) -> Vec<&'static str> {
        self.events.iter().map(|e| e.body.kind()).collect()
    }
}

const PROMISED_3: &str = "330100-CN-0001";
const PROMISED_20: &str = "330100-CN-0002";
const JOINT: &str = "330100-LB-0001";
const ESCALATED: &str = "330100-SB-0001";
