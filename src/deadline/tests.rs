//! Scenario tests of the deadline engine on the demo catalogue and the official calendar.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::{Timestamp, ToSpan};

use super::*;
use crate::calendar::Calendar;
use crate::config::Config;

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

#[test]
fn accepting_counts_the_deadline_on_the_official_calendar() {
    let mut t = T::new("2025-09-26T02:00:00Z");
    // DESIGN.md's example: accepted Fri 2025-09-26, 20 working days → Thu 2025-10-30 17:00.
    let mut out = Vec::new();
    let m = t.matter(PROMISED_20);
    let cmd = CaseCommand::Accept {
        id: "A-1".into(),
        hall: t.hall("city"),
        matter: m,
        accepted_at: ts("2025-09-26T10:00:00+08:00"),
    };
    let (v, created) =
        t.e.apply(ts("2025-09-26T02:00:00Z"), cmd, &t.closed, &mut out)
            .unwrap();
    assert!(created);
    assert_eq!(v.deadline, Some(lt("2025-10-30T17:00:00+08:00")));
    assert_eq!(
        (v.state, v.kind, v.limit.as_str()),
        (CaseState::Open, CaseKind::Promised, "20wd")
    );
    // 20 days plus the rest of Friday's office hours: 21 by the ladder's ceiling rule.
    assert_eq!(v.remaining_working_days, Some(21));
    assert_eq!(out[0].body.kind(), "accepted");
    assert_eq!(t.e.pending(), 1, "one timer per running case");
}

#[test]
fn the_ladder_fires_each_level_once_in_order_with_stable_ids() {
    let mut t = T::new("2025-09-26T02:00:00Z");
    // 3wd from Fri 2025-09-26: Sun 09-28 is a make-up workday, so due Tue 09-30 17:00.
    let v = t
        .accept(
            "2025-09-26T02:00:00Z",
            "A-1",
            "city",
            PROMISED_3,
            "2025-09-26T10:00:00+08:00",
        )
        .unwrap();
    assert_eq!(v.deadline, Some(lt("2025-09-30T17:00:00+08:00")));
    // Yellow at the close of the working day before the due day (Mon 09-29 17:00).
    assert!(t.advance("2025-09-29T08:59:59Z").is_empty());
    assert_eq!(t.advance("2025-09-29T09:00:00Z"), ["A-1/yellow/1"]);
    assert!(t.advance("2025-09-30T08:59:59Z").is_empty());
    assert_eq!(t.advance("2025-09-30T09:00:00Z"), ["A-1/red/1"]);
    // Escalation two working days overdue: the National Day break (10-01..08) does not
    // count, so the close of Fri 10-10.
    assert!(t.advance("2025-10-10T08:59:59Z").is_empty());
    assert_eq!(t.advance("2025-10-10T09:00:00Z"), ["A-1/escalate/1"]);
    assert!(
        t.advance("2026-01-01T00:00:00Z").is_empty(),
        "nothing fires twice"
    );
    assert_eq!(t.e.pending(), 0);
    let v = t.e.get("A-1", ts("2025-10-11T00:00:00Z")).unwrap();
    assert_eq!(v.level.as_deref(), Some("escalate"));
    assert!(v.overdue);
    let alarm = t
        .events
        .iter()
        .find_map(|e| match &e.body {
            CaseEventBody::Alarm(a) if a.level.as_ref() == "red" => Some(a.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        (alarm.due_at, alarm.deadline, alarm.case.as_str()),
        (
            lt("2025-09-30T17:00:00+08:00"),
            lt("2025-09-30T17:00:00+08:00"),
            "A-1"
        )
    );
}

#[test]
fn percent_levels_follow_the_elapsed_share_of_the_limit() {
    let mut t = T::new("2026-03-02T02:00:00Z");
    // The 20wd matter uses the "early" ladder: notice at 50%, yellow at 80% elapsed.
    let v = t
        .accept(
            "2026-03-02T02:00:00Z",
            "P-1",
            "city",
            PROMISED_20,
            "2026-03-02T09:00:00+08:00",
        )
        .unwrap();
    assert_eq!(v.deadline, Some(lt("2026-03-30T17:00:00+08:00")));
    // The budget is the acceptance day's 7 office hours plus 20 days: 147 h. Half of it,
    // 73.5 h, remains 3.5 office hours before the close of Mon 03-16 (ten working days before
    // the due day): 13:30 local.
    assert!(t.advance("2026-03-16T05:29:59Z").is_empty());
    assert_eq!(t.advance("2026-03-16T05:30:00Z"), ["P-1/notice/1"]);
    let v = t.e.get("P-1", ts("2026-03-16T05:30:00Z")).unwrap();
    assert_eq!(v.level.as_deref(), Some("notice"));
}

#[test]
fn levels_due_long_ago_fire_together_in_ladder_order_with_the_acceptance() {
    let mut t = T::new("2025-12-01T00:00:00Z");
    let v = t
        .accept(
            "2025-12-01T00:00:00Z",
            "OLD",
            "city",
            PROMISED_3,
            "2025-09-01T10:00:00+08:00",
        )
        .unwrap();
    // Raised by the acceptance itself, so its answer shows them (a late acceptance of an
    // overdue case answered `alarms: []` when they waited for the next pass).
    let raised: Vec<&str> = t
        .events
        .iter()
        .filter_map(|e| match &e.body {
            CaseEventBody::Alarm(a) => Some(a.id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(raised, ["OLD/yellow/1", "OLD/red/1", "OLD/escalate/1"]);
    assert_eq!(v.alarms, ["OLD/yellow/1", "OLD/red/1", "OLD/escalate/1"]);
    assert_eq!(v.level.as_deref(), Some("escalate"));
    assert!(t.advance("2025-12-01T00:00:00Z").is_empty(), "never twice");
}

#[test]
fn an_extension_moves_the_deadline_clears_levels_and_they_fire_again_with_new_ids() {
    let mut t = T::new("2025-09-26T02:00:00Z");
    t.accept(
        "2025-09-26T02:00:00Z",
        "A-1",
        "city",
        PROMISED_3,
        "2025-09-26T10:00:00+08:00",
    )
    .unwrap();
    assert_eq!(
        t.advance("2025-09-30T10:00:00Z"),
        ["A-1/yellow/1", "A-1/red/1"]
    );
    t.events.clear();
    let v = t
        .run(
            "2025-09-30T10:00:00Z",
            CaseCommand::Extend {
                id: "A-1".into(),
                amount: "3wd".parse().unwrap(),
                reason: "专家论证".into(),
                approver: "王局长".into(),
            },
        )
        .unwrap();
    // 6wd (3wd is as far as a 3wd limit extends by default): days 4-6 are Thu 10-09,
    // Fri 10-10 and Sat 10-11 (a make-up workday).
    assert_eq!(v.deadline, Some(lt("2025-10-11T17:00:00+08:00")));
    assert_eq!(v.limit, "6wd");
    let cleared: Vec<String> = t
        .events
        .iter()
        .filter_map(|e| match &e.body {
            CaseEventBody::Cleared { id, .. } => Some(id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(cleared, ["A-1/yellow/1", "A-1/red/1"]);
    assert!(t.kinds().contains(&"deadline_changed"));
    assert_eq!(
        t.advance("2025-10-13T09:00:00Z"),
        ["A-1/yellow/2", "A-1/red/2"]
    );
    // An extension in another unit is refused and changes nothing.
    let before = t.e.get("A-1", ts("2025-10-13T09:00:00Z"));
    let err = t
        .run(
            "2025-10-13T09:00:00Z",
            CaseCommand::Extend {
                id: "A-1".into(),
                amount: "8wh".parse().unwrap(),
                reason: "x".into(),
                approver: "y".into(),
            },
        )
        .unwrap_err();
    assert_eq!(err.code(), "extension-unit");
    assert_eq!(t.e.get("A-1", ts("2025-10-13T09:00:00Z")), before);
}

#[test]
fn a_suspension_stops_the_clock_and_a_restart_on_resume_clears_levels() {
    let mut t = T::new("2025-09-26T02:00:00Z");
    t.accept(
        "2025-09-26T02:00:00Z",
        "S-1",
        "city",
        PROMISED_3,
        "2026-03-02T10:00:00+08:00",
    )
    .unwrap_err();
    t.accept(
        "2026-03-02T02:00:00Z",
        "S-1",
        "city",
        PROMISED_3,
        "2026-03-02T10:00:00+08:00",
    )
    .unwrap();
    assert_eq!(t.advance("2026-03-04T09:00:00Z"), ["S-1/yellow/1"]);
    let reason = t.config.suspension_index("supplement").unwrap();
    let v = t
        .run(
            "2026-03-04T10:00:00Z",
            CaseCommand::Suspend {
                id: "S-1".into(),
                reason,
                at: ts("2026-03-04T10:00:00Z"),
            },
        )
        .unwrap();
    assert_eq!((v.state, v.deadline), (CaseState::Suspended, None));
    assert!(
        t.advance("2026-03-20T00:00:00Z").is_empty(),
        "a stopped clock raises nothing"
    );
    assert_eq!(t.e.pending(), 0);
    t.events.clear();
    // 补正 restarts the full 3wd from the resume day (Mon 03-23 → Thu 03-26).
    let v = t
        .run(
            "2026-03-23T02:00:00Z",
            CaseCommand::Resume {
                id: "S-1".into(),
                at: ts("2026-03-23T02:00:00Z"),
            },
        )
        .unwrap();
    assert_eq!(v.deadline, Some(lt("2026-03-26T17:00:00+08:00")));
    assert!(
        t.events
            .iter()
            .any(|e| matches!(&e.body, CaseEventBody::Cleared { id, .. } if id == "S-1/yellow/1"))
    );
    let err = t
        .run(
            "2026-03-23T02:00:00Z",
            CaseCommand::Resume {
                id: "S-1".into(),
                at: ts("2026-03-23T02:00:00Z"),
            },
        )
        .unwrap_err();
    assert_eq!(err.code(), "not-suspended");
}

#[test]
fn a_joint_case_completes_when_every_department_has() {
    let mut t = T::new("2026-03-02T02:00:00Z");
    let lead = t
        .accept(
            "2026-03-02T02:00:00Z",
            "J-1",
            "city",
            JOINT,
            "2026-03-02T10:00:00+08:00",
        )
        .unwrap();
    assert_eq!(lead.children, ["J-1:market", "J-1:tax", "J-1:social"]);
    assert_eq!(t.e.len(), 4);
    let social = t.e.get("J-1:social", ts("2026-03-02T02:00:00Z")).unwrap();
    assert_eq!(
        (social.limit.as_str(), social.deadline),
        ("3wd", Some(lt("2026-03-05T17:00:00+08:00")))
    );
    let err = t
        .run(
            "2026-03-03T02:00:00Z",
            CaseCommand::Complete {
                id: "J-1".into(),
                at: ts("2026-03-03T02:00:00Z"),
            },
        )
        .unwrap_err();
    assert_eq!(
        err,
        CaseError::ChildrenOpen {
            id: "J-1".into(),
            open: 3
        }
    );
    for d in ["market", "tax", "social"] {
        t.run(
            "2026-03-03T02:00:00Z",
            CaseCommand::Complete {
                id: format!("J-1:{d}"),
                at: ts("2026-03-03T02:00:00Z"),
            },
        )
        .unwrap();
    }
    let completed: Vec<String> = t
        .events
        .iter()
        .filter_map(|e| match &e.body {
            CaseEventBody::Completed { case, on_time, .. } => Some(format!("{case}:{on_time}")),
            _ => None,
        })
        .collect();
    assert_eq!(
        completed,
        [
            "J-1:market:true",
            "J-1:tax:true",
            "J-1:social:true",
            "J-1:true"
        ]
    );
    let changes = t.e.take_changes();
    assert!(
        changes.iter().filter(|c| c.closed).count() == 4,
        "lead and children leave the engine together"
    );
    assert_eq!(t.e.len(), 0);
    assert_eq!(t.e.pending(), 0);
}

#[test]
fn an_escalated_case_is_forwarded_to_the_upper_hall_with_its_limit() {
    let mut t = T::new("2026-03-02T02:00:00Z");
    let v = t
        .accept(
            "2026-03-02T02:00:00Z",
            "E-1",
            "county",
            ESCALATED,
            "2026-03-02T10:00:00+08:00",
        )
        .unwrap();
    assert_eq!(
        (v.stage, v.limit.as_str(), v.deadline),
        (
            Stage::Forwarding,
            "3wd",
            Some(lt("2026-03-05T17:00:00+08:00"))
        )
    );
    let v = t
        .run(
            "2026-03-04T02:00:00Z",
            CaseCommand::Forward {
                id: "E-1".into(),
                at: ts("2026-03-04T02:00:00Z"),
            },
        )
        .unwrap();
    assert_eq!(
        (v.stage, &*v.hall, v.limit.as_str()),
        (Stage::Upper, "city", "20wd")
    );
    assert_eq!(v.deadline, Some(lt("2026-04-01T17:00:00+08:00")));
    assert_eq!(
        t.run(
            "2026-03-04T02:00:00Z",
            CaseCommand::Forward {
                id: "E-1".into(),
                at: ts("2026-03-04T02:00:00Z")
            }
        )
        .unwrap_err()
        .code(),
        "not-forwardable"
    );
    // The city hall has no upper hall.
    t.accept(
        "2026-03-02T02:00:00Z",
        "E-2",
        "city",
        ESCALATED,
        "2026-03-02T10:00:00+08:00",
    )
    .unwrap();
    assert_eq!(
        t.run(
            "2026-03-03T02:00:00Z",
            CaseCommand::Forward {
                id: "E-2".into(),
                at: ts("2026-03-03T02:00:00Z")
            }
        )
        .unwrap_err()
        .code(),
        "no-upper-hall"
    );
}

#[test]
fn accept_is_idempotent_on_the_case_id_and_bad_input_changes_nothing() {
    let mut t = T::new("2026-03-02T02:00:00Z");
    let first = t
        .accept(
            "2026-03-02T02:00:00Z",
            "I-1",
            "city",
            PROMISED_3,
            "2026-03-02T10:00:00+08:00",
        )
        .unwrap();
    let mut out = Vec::new();
    let cmd = CaseCommand::Accept {
        id: "I-1".into(),
        hall: t.hall("city"),
        matter: t.matter(PROMISED_3),
        accepted_at: ts("2026-03-02T10:00:00+08:00"),
    };
    let (again, created) =
        t.e.apply(ts("2026-03-02T03:00:00Z"), cmd, &t.closed, &mut out)
            .unwrap();
    assert!(!created);
    assert!(out.is_empty());
    assert_eq!(again.deadline, first.deadline);
    let n = (t.e.len(), t.events.len(), t.e.pending());
    let bad = [
        t.accept(
            "2026-03-02T02:00:00Z",
            "I-1",
            "city",
            PROMISED_20,
            "2026-03-02T10:00:00+08:00",
        )
        .unwrap_err(),
        t.accept(
            "2026-03-02T02:00:00Z",
            "I-2",
            "city",
            PROMISED_3,
            "2031-03-02T10:00:00+08:00",
        )
        .unwrap_err(),
        t.accept(
            "2026-03-02T02:00:00Z",
            "bad id!",
            "city",
            PROMISED_3,
            "2026-03-02T10:00:00+08:00",
        )
        .unwrap_err(),
        t.run(
            "2026-03-02T02:00:00Z",
            CaseCommand::Resume {
                id: "I-1".into(),
                at: ts("2026-03-02T02:00:00Z"),
            },
        )
        .unwrap_err(),
        t.run(
            "2026-03-02T02:00:00Z",
            CaseCommand::Complete {
                id: "nope".into(),
                at: ts("2026-03-02T02:00:00Z"),
            },
        )
        .unwrap_err(),
    ];
    let codes: Vec<&str> = bad.iter().map(CaseError::code).collect();
    assert_eq!(
        codes,
        [
            "case-exists",
            "in-the-future",
            "invalid-case-id",
            "not-suspended",
            "unknown-case"
        ]
    );
    assert_eq!(bad[0].field(), Some("matter"));
    assert_eq!(
        (t.e.len(), t.events.len(), t.e.pending()),
        n,
        "nothing was stored, emitted or armed"
    );
}

#[test]
fn records_restore_the_same_cases_and_alarms_due_while_down_fire_once() {
    let mut t = T::new("2025-09-26T02:00:00Z");
    t.accept(
        "2025-09-26T02:00:00Z",
        "R-1",
        "city",
        PROMISED_3,
        "2025-09-26T10:00:00+08:00",
    )
    .unwrap();
    t.accept(
        "2025-09-26T02:00:00Z",
        "R-2",
        "county",
        JOINT,
        "2025-09-26T10:00:00+08:00",
    )
    .unwrap();
    let reason = t.config.suspension_index("hearing").unwrap();
    t.run(
        "2025-09-28T00:00:00Z",
        CaseCommand::Suspend {
            id: "R-2:tax".into(),
            reason,
            at: ts("2025-09-28T00:00:00Z"),
        },
    )
    .unwrap();
    let fired = t.advance("2025-09-29T09:00:00Z");
    assert!(fired.contains(&"R-1/yellow/1".to_owned()));
    assert!(!fired.iter().any(|i| i.starts_with("R-2:tax/")));
    let records: Vec<CaseRecord> = t.e.take_changes().into_iter().map(|c| c.record).collect();
    let json = serde_json::to_string(&records).unwrap();
    let records: Vec<CaseRecord> = serde_json::from_str(&json).unwrap();

    // "Down" until after R-1's red (09-30) and escalation (10-10) instants.
    let now = ts("2025-10-15T00:00:00Z");
    let mut back = DeadlineEngine::new(t.config.catalogue.clone(), now);
    for r in records {
        back.restore(r).unwrap();
    }
    let at = ts("2025-09-29T09:00:00Z");
    for id in ["R-1", "R-2", "R-2:market", "R-2:tax", "R-2:social"] {
        assert_eq!(back.get(id, at), t.e.get(id, at), "{id} restored as it was");
    }
    let mut out = Vec::new();
    back.advance(now, &mut out);
    let ids: Vec<String> = out
        .iter()
        .filter_map(|e| match &e.body {
            CaseEventBody::Alarm(a) => Some(a.id.clone()),
            _ => None,
        })
        .collect();
    let r1: Vec<&String> = ids.iter().filter(|i| i.starts_with("R-1/")).collect();
    assert_eq!(
        r1,
        ["R-1/red/1", "R-1/escalate/1"],
        "yellow fired before the restart: not again"
    );
    assert!(
        !ids.iter().any(|i| i.starts_with("R-2:tax/")),
        "a suspended case raises nothing"
    );
    out.clear();
    back.advance(now + 1.hour(), &mut out);
    assert!(out.is_empty());
}

#[test]
fn replacing_a_calendar_recounts_open_cases_or_changes_nothing() {
    let mut t = T::new("2026-11-27T02:00:00Z");
    let v = t
        .accept(
            "2026-11-27T02:00:00Z",
            "C-1",
            "city",
            PROMISED_3,
            "2026-11-27T10:00:00+08:00",
        )
        .unwrap();
    assert_eq!(v.deadline, Some(lt("2026-12-02T17:00:00+08:00")));
    let official = include_str!("../../config/calendars/cn-mainland.toml");
    let with_day_off = official.replace(
        "  { date = 2026-10-10, kind = \"work\", name = \"国庆节\" },",
        "  { date = 2026-10-10, kind = \"work\", name = \"国庆节\" },\n  { date = 2026-12-01, kind = \"off\", name = \"测试\" },",
    );
    let cal = Calendar::from_toml("new.toml", &with_day_off).unwrap();
    let r =
        t.e.replace_calendar(
            ts("2026-11-28T00:00:00Z"),
            "cn-mainland",
            Arc::new(cal),
            &mut t.events,
        )
        .unwrap();
    assert_eq!(
        r,
        Recomputed {
            cases: 1,
            changed: 1,
            provisional: 0
        }
    );
    assert_eq!(
        t.e.get("C-1", ts("2026-11-28T00:00:00Z")).unwrap().deadline,
        Some(lt("2026-12-03T17:00:00+08:00"))
    );
    assert!(t.kinds().contains(&"deadline_changed"));

    // A calendar that lacks 2026 still counts the case, on the default week, provisionally.
    let only_2023 = &official[..official.find("[[year]]\nyear = 2024").unwrap()];
    let cal = Calendar::from_toml("old.toml", only_2023).unwrap();
    let r =
        t.e.replace_calendar(
            ts("2026-11-28T00:00:00Z"),
            "cn-mainland",
            Arc::new(cal),
            &mut t.events,
        )
        .unwrap();
    assert_eq!(
        r,
        Recomputed {
            cases: 1,
            changed: 1,
            provisional: 1
        }
    );
    let v = t.e.get("C-1", ts("2026-11-28T00:00:00Z")).unwrap();
    assert_eq!(v.deadline, Some(lt("2026-12-02T17:00:00+08:00")));
    let reason = v.provisional_reason.unwrap();
    assert_eq!(
        (v.provisional, &*reason.calendar, reason.first_uncovered_day),
        (true, "cn-mainland", jiff::civil::date(2024, 1, 1))
    );
}

/// The shipped calendar with a made-up 2027 notice (test data, not the State Council's).
fn with_test_2027(official: &str, days: &str) -> String {
    format!(
        "{official}\n[[year]]\nyear = 2027\nnotice = \"test data, not an official notice\"\ndays = [{days}]\n"
    )
}

#[test]
fn past_the_horizon_every_command_works_provisionally_and_the_next_notice_confirms_it() {
    // Monday 2027-01-04, the shipped calendar ends 2026-12-31.
    let now = "2027-01-04T02:00:00Z";
    let mut t = T::new(now);
    let v = t
        .accept(now, "H-1", "city", PROMISED_3, "2027-01-04T10:00:00+08:00")
        .unwrap();
    // Tue, Wed, Thu on the default week.
    assert_eq!(v.deadline, Some(lt("2027-01-07T17:00:00+08:00")));
    let reason = v.provisional_reason.clone().unwrap();
    assert!(v.provisional);
    assert_eq!(reason.first_uncovered_day, jiff::civil::date(2027, 1, 1));
    assert!(reason.detail.contains("PUT /v1/calendars/cn-mainland"));
    let accepted = t
        .events
        .iter()
        .find_map(|e| match &e.body {
            CaseEventBody::Accepted { case } => Some(case.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(accepted.provisional_reason, Some(reason));
    let hearing = t.config.suspension_index("hearing").unwrap();
    let tuesday = "2027-01-05T02:00:00Z";
    let v = t
        .run(
            tuesday,
            CaseCommand::Suspend {
                id: "H-1".into(),
                reason: hearing,
                at: ts(tuesday),
            },
        )
        .unwrap();
    assert_eq!(v.state, CaseState::Suspended);
    let later = "2027-01-06T02:00:00Z";
    let v = t
        .run(
            later,
            CaseCommand::Resume {
                id: "H-1".into(),
                at: ts(later),
            },
        )
        .unwrap();
    // Paused on Tue (used), resumed Wed (not counted): 2 days left, Thu and Fri.
    assert_eq!(v.deadline, Some(lt("2027-01-08T17:00:00+08:00")));
    let v = t
        .run(
            later,
            CaseCommand::Extend {
                id: "H-1".into(),
                amount: "2wd".parse().unwrap(),
                reason: "论证".into(),
                approver: "局长".into(),
            },
        )
        .unwrap();
    assert_eq!(
        (v.deadline, v.provisional),
        (Some(lt("2027-01-12T17:00:00+08:00")), true)
    );
    // A second case whose deadline no 2027 holiday will move.
    t.accept(now, "H-2", "city", PROMISED_3, "2027-01-04T09:00:00+08:00")
        .unwrap();
    t.events.clear();

    // The 2027 notice arrives: Fri 01-08 is a holiday. H-1 moves to Wed 01-13; H-2 stays on
    // Thu 01-07 but is no longer provisional, which is news too.
    let official = include_str!("../../config/calendars/cn-mainland.toml");
    let next = with_test_2027(
        official,
        r#"{ date = 2027-01-08, kind = "off", name = "测试假日" }"#,
    );
    let cal = Calendar::from_toml("2027.toml", &next).unwrap();
    let r =
        t.e.replace_calendar(ts(later), "cn-mainland", Arc::new(cal), &mut t.events)
            .unwrap();
    assert_eq!(
        r,
        Recomputed {
            cases: 2,
            changed: 1,
            provisional: 0
        }
    );
    let changed: Vec<(String, Option<LocalTime>, Option<LocalTime>, bool)> = t
        .events
        .iter()
        .filter_map(|e| match &e.body {
            CaseEventBody::DeadlineChanged {
                case,
                previous,
                deadline,
                provisional,
                provisional_reason,
            } => {
                assert!(provisional_reason.is_none());
                Some((case.clone(), *previous, *deadline, *provisional))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        changed,
        [
            (
                "H-1".to_owned(),
                Some(lt("2027-01-12T17:00:00+08:00")),
                Some(lt("2027-01-13T17:00:00+08:00")),
                false
            ),
            (
                "H-2".to_owned(),
                Some(lt("2027-01-07T17:00:00+08:00")),
                Some(lt("2027-01-07T17:00:00+08:00")),
                false
            ),
        ]
    );
    let v = t.e.get("H-1", ts(later)).unwrap();
    assert_eq!((v.provisional, v.provisional_reason), (false, None));
}

#[test]
fn a_closed_case_is_never_reopened_by_acceptance_or_any_command() {
    let mut t = T::new("2026-03-02T02:00:00Z");
    let at = "2026-03-02T10:00:00+08:00";
    t.accept("2026-03-02T02:00:00Z", "Z-1", "city", PROMISED_3, at)
        .unwrap();
    t.accept("2026-03-02T02:00:00Z", "Z-2", "city", PROMISED_3, at)
        .unwrap();
    let done = |id: &str| CaseCommand::Complete {
        id: id.into(),
        at: ts("2026-03-02T03:00:00Z"),
    };
    t.run("2026-03-02T03:00:00Z", done("Z-1")).unwrap();
    t.run(
        "2026-03-02T03:00:00Z",
        CaseCommand::Withdraw {
            id: "Z-2".into(),
            reason: "申请人撤回".into(),
            at: ts("2026-03-02T03:00:00Z"),
        },
    )
    .unwrap();
    // Replayed in the same pass (still held, closed) and after it (gone to the table).
    for persisted in [false, true] {
        if persisted {
            t.persist();
            assert_eq!(t.e.len(), 0);
        }
        t.events.clear();
        for (id, state) in [("Z-1", CaseState::Completed), ("Z-2", CaseState::Withdrawn)] {
            let cmd = CaseCommand::Accept {
                id: id.into(),
                hall: t.hall("city"),
                matter: t.matter(PROMISED_3),
                accepted_at: ts(at),
            };
            let (v, created) =
                t.e.apply(ts("2026-03-03T02:00:00Z"), cmd, &t.closed, &mut t.events)
                    .unwrap();
            assert_eq!((v.state, created), (state, false), "{id}");
            assert_eq!(v.closed_at, Some(lt("2026-03-02T11:00:00+08:00")));
        }
        assert!(t.events.is_empty(), "a replay emits nothing");
        assert_eq!(t.e.pending(), 0, "and arms nothing");
        let differs = [
            ("county", PROMISED_3, at, "hall"),
            ("city", PROMISED_20, at, "matter"),
            (
                "city",
                PROMISED_3,
                "2026-03-02T11:00:00+08:00",
                "accepted_at",
            ),
        ];
        for (hall, matter, accepted, field) in differs {
            let err = t
                .accept("2026-03-03T02:00:00Z", "Z-1", hall, matter, accepted)
                .unwrap_err();
            assert_eq!(
                (err.code(), err.field()),
                ("case-exists", Some(field)),
                "{err}"
            );
        }
        let err = t.run("2026-03-03T02:00:00Z", done("Z-1")).unwrap_err();
        assert_eq!(err.code(), "case-closed");
        let err = t
            .run(
                "2026-03-03T02:00:00Z",
                CaseCommand::Resume {
                    id: "Z-2".into(),
                    at: ts("2026-03-03T02:00:00Z"),
                },
            )
            .unwrap_err();
        assert_eq!(err.to_string(), "case `Z-2` is withdrawn");
        assert!(t.events.is_empty());
    }
}
