//! Scenario tests of the engine, one per rule. The randomized model check lives in
//! `tests/queue_model.rs`.

use std::sync::Arc;

use jiff::{Timestamp, ToSpan};

use super::*;
use crate::config::Config;
use crate::localtime::LocalTime;
use crate::model::Hall;

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

#[test]
fn numbers_are_sequential_per_service_with_ids_of_the_day() {
    let mut h = H::new();
    let a1 = h.issue(0, TicketClass::Normal);
    let a2 = h.issue(0, TicketClass::Normal);
    let b1 = h.issue(1, TicketClass::Normal);
    assert_eq!(
        (a1.number.as_str(), a2.number.as_str(), b1.number.as_str()),
        ("A001", "A002", "B001")
    );
    assert_eq!(a1.id, "20261123-A001");
    assert_eq!((a1.position, a2.position), (1, 2));
    // Two windows open for A, five minutes each: A002 waits about one service time.
    assert_eq!(a2.estimated_wait_s, 300);
    assert_eq!(h.e.ticket_view("20261123-A002", h.now).unwrap().position, 2);
    assert!(
        h.e.ticket_view("20261122-A002", h.now).is_err(),
        "yesterday's id is not today's"
    );
}

#[test]
fn call_next_is_fifo_and_answers_nobody_when_empty() {
    let mut h = H::new();
    for _ in 0..3 {
        h.issue(0, TicketClass::Normal);
    }
    assert_eq!(h.call(0), Some(("A001".into(), CallReason::Fifo)));
    assert_eq!(h.number(0).as_deref(), Some("A002"));
    assert_eq!(h.number(1).as_deref(), Some("A003"));
    assert_eq!(h.call(0), None);
    // Calling next completed A002 implicitly.
    let a2 = h.e.ticket_view("20261123-A002", h.now).unwrap();
    assert_eq!(a2.status, TicketStatus::Done);
    let call = h
        .events
        .iter()
        .find(|e| e.kind() == "called")
        .expect("a called event");
    match &call.body {
        EventBody::Called { call, .. } => {
            assert_eq!(call.announcement, "请A001号到1号窗口办理");
            assert_eq!(&*call.window, "w1");
        }
        _ => unreachable!(),
    }
}

#[test]
fn closed_and_paused_windows_cannot_call() {
    let mut h = H::new();
    h.issue(0, TicketClass::Normal);
    h.window(
        0,
        WindowAction::Pause {
            reason: "lunch".into(),
        },
    )
    .unwrap();
    let before = h.events.len();
    assert!(matches!(
        h.window(0, WindowAction::CallNext),
        Err(QueueError::WindowPaused { .. })
    ));
    h.window(0, WindowAction::Close).unwrap();
    assert!(matches!(
        h.window(0, WindowAction::CallNext),
        Err(QueueError::WindowClosed { .. })
    ));
    assert_eq!(
        h.events.len(),
        before + 1,
        "only the close emitted an event"
    );
    assert!(matches!(
        h.window(1, WindowAction::Pause { reason: " ".into() }),
        Err(QueueError::PauseReasonRequired)
    ));
}

#[test]
fn at_most_k_priority_calls_in_a_row_while_normals_wait() {
    let mut h = H::new();
    for _ in 0..3 {
        h.issue(0, TicketClass::Normal);
    }
    for _ in 0..5 {
        h.issue(0, TicketClass::Priority);
    }
    let reasons: Vec<CallReason> = (0..8).map(|_| h.call(0).unwrap().1).collect();
    use CallReason::*;
    assert_eq!(
        reasons,
        [
            Priority, Priority, Ratio, Priority, Priority, Ratio, Priority, Fifo
        ]
    );
}

#[test]
fn aged_tickets_go_first() {
    let mut h = H::new();
    h.issue(1, TicketClass::Normal); // B001, rank 2 at window 1
    h.advance(61.minutes());
    h.issue(0, TicketClass::Priority);
    assert_eq!(h.call(0), Some(("B001".into(), CallReason::Aged)));
}

#[test]
fn rank_orders_services_at_a_window() {
    let mut h = H::new();
    h.issue(1, TicketClass::Normal); // B001 first in time
    h.issue(0, TicketClass::Normal); // A001 but service a ranks first at w1
    assert_eq!(h.number(0).as_deref(), Some("A001"));
    assert_eq!(h.number(0).as_deref(), Some("B001"));
}

#[test]
fn weights_interleave_services_of_equal_rank() {
    let mut h = H::new();
    for _ in 0..6 {
        h.issue(0, TicketClass::Normal);
    }
    for _ in 0..3 {
        h.issue(1, TicketClass::Normal);
    }
    let calls: String = (0..6)
        .map(|_| h.number(1).unwrap()[..1].to_owned())
        .collect();
    assert_eq!(calls, "ABAABA", "weights 2:1 give two A calls per B call");
}

#[test]
fn appointments_rank_as_priority_inside_their_window_then_as_normal() {
    let mut h = H::new();
    let slot = h.now + 30.minutes();
    h.issue(0, TicketClass::Normal);
    let appt = match h.ok(Command::Issue {
        service: 0,
        class: TicketClass::Appointment,
        slot: Some(slot),
        checked_in: true,
    }) {
        Reply::Issued(t) => t,
        r => panic!("{r:?}"),
    };
    // Too early: the normal ticket goes first.
    assert_eq!(h.number(0).as_deref(), Some("A001"));
    assert_eq!(h.call(0), None);
    h.advance(16.minutes());
    assert_eq!(
        h.call(0),
        Some((appt.number.clone(), CallReason::Appointment))
    );

    // An appointment checked in after its grace period ranks as a normal ticket.
    let late = match h.ok(Command::Issue {
        service: 0,
        class: TicketClass::Appointment,
        slot: Some(h.now - 20.minutes()),
        checked_in: true,
    }) {
        Reply::Issued(t) => t,
        r => panic!("{r:?}"),
    };
    h.issue(0, TicketClass::Priority);
    assert_eq!(h.call(0).unwrap().1, CallReason::Priority);
    assert_eq!(h.call(0), Some((late.number, CallReason::Fifo)));
}

#[test]
fn booked_appointments_wait_for_check_in() {
    let mut h = H::new();
    let slot = h.now + 5.minutes();
    let booked = match h.ok(Command::Issue {
        service: 0,
        class: TicketClass::Appointment,
        slot: Some(slot),
        checked_in: false,
    }) {
        Reply::Issued(t) => t,
        r => panic!("{r:?}"),
    };
    assert_eq!(booked.status, TicketStatus::Booked);
    assert_eq!(h.call(0), None);
    h.ok(Command::CheckIn {
        ticket: booked.id.clone(),
    });
    assert_eq!(h.call(0), Some((booked.number, CallReason::Appointment)));
    assert!(matches!(
        h.run(Command::Issue {
            service: 0,
            class: TicketClass::Appointment,
            slot: None,
            checked_in: true
        }),
        Err(QueueError::SlotRequired)
    ));
    assert!(matches!(
        h.run(Command::Issue {
            service: 0,
            class: TicketClass::Normal,
            slot: Some(slot),
            checked_in: true
        }),
        Err(QueueError::SlotNotAllowed)
    ));
    assert!(matches!(
        h.run(Command::Issue {
            service: 0,
            class: TicketClass::Appointment,
            slot: Some(slot + 48.hours()),
            checked_in: true
        }),
        Err(QueueError::SlotNotToday { .. })
    ));
}

#[test]
fn recall_limit_makes_a_no_show_which_can_be_reactivated_in_time() {
    let mut h = H::new();
    let a1 = h.issue(0, TicketClass::Normal);
    h.issue(0, TicketClass::Normal);
    h.call(0);
    for n in 2..=3 {
        match h.window(0, WindowAction::Recall).unwrap() {
            Reply::Ticket(t) => assert_eq!((t.call_count, t.status), (n, TicketStatus::Called)),
            r => panic!("{r:?}"),
        }
    }
    match h.window(0, WindowAction::Recall).unwrap() {
        Reply::Ticket(t) => assert_eq!(t.status, TicketStatus::NoShow),
        r => panic!("{r:?}"),
    }
    assert!(h.events.iter().any(|e| matches!(
        e.body,
        EventBody::NoShow {
            recall_limit: true,
            ..
        }
    )));
    // Reactivated at the back: A002 goes first.
    h.ok(Command::Reactivate {
        ticket: a1.id.clone(),
    });
    assert_eq!(h.number(0).as_deref(), Some("A002"));
    assert_eq!(h.number(0).as_deref(), Some("A001"));
    h.window(0, WindowAction::NoShow).unwrap();
    h.advance(31.minutes());
    assert!(matches!(
        h.run(Command::Reactivate { ticket: a1.id }),
        Err(QueueError::ReactivationExpired { .. })
    ));
}

#[test]
fn transfer_keeps_the_number_and_files_by_issue_order() {
    let mut h = H::new();
    let a1 = h.issue(0, TicketClass::Normal);
    h.issue(1, TicketClass::Normal); // B001, issued after A001
    h.call(0);
    let moved = match h
        .window(
            0,
            WindowAction::Transfer {
                service: 1,
                placement: None,
            },
        )
        .unwrap()
    {
        Reply::Ticket(t) => t,
        r => panic!("{r:?}"),
    };
    assert_eq!((moved.number.as_str(), &*moved.service), ("A001", "b"));
    assert_eq!(moved.issued_for.as_deref(), Some("a"));
    assert_eq!(moved.position, 1, "original placement: issued before B001");
    assert_eq!(h.number(0).as_deref(), Some("A001"));
    assert_eq!(
        h.e.ticket_view(&a1.id, h.now).unwrap().status,
        TicketStatus::Called
    );
    assert!(matches!(
        h.window(
            0,
            WindowAction::Transfer {
                service: 1,
                placement: None
            }
        ),
        Err(QueueError::SameService { .. })
    ));
}

#[test]
fn parked_tickets_return_to_the_head_and_released_ones_to_their_place() {
    let mut h = H::new();
    let a1 = h.issue(0, TicketClass::Normal);
    h.issue(0, TicketClass::Normal);
    h.issue(0, TicketClass::Normal);
    h.call(0);
    h.window(0, WindowAction::Park).unwrap();
    assert_eq!(h.number(0).as_deref(), Some("A002"));
    h.ok(Command::Return {
        ticket: a1.id.clone(),
    });
    assert_eq!(h.number(1).as_deref(), Some("A001"));
    h.window(1, WindowAction::Release).unwrap();
    assert_eq!(h.e.ticket_view(&a1.id, h.now).unwrap().position, 1);
}

#[test]
fn complete_records_evaluation_and_service_time() {
    let mut h = H::new();
    let a1 = h.issue(0, TicketClass::Normal);
    h.call(0);
    h.window(0, WindowAction::Start).unwrap();
    h.advance(10.minutes());
    assert!(matches!(
        h.window(
            0,
            WindowAction::Complete {
                evaluation: Some(6)
            }
        ),
        Err(QueueError::BadEvaluation { value: 6 })
    ));
    h.window(
        0,
        WindowAction::Complete {
            evaluation: Some(5),
        },
    )
    .unwrap();
    let v = h.e.ticket_view(&a1.id, h.now).unwrap();
    assert_eq!((v.status, v.evaluation), (TicketStatus::Done, Some(5)));
    assert!(h.events.iter().any(|e| matches!(
        e.body,
        EventBody::Completed {
            service_s: 602,
            implicit: false,
            ..
        }
    )));
    // Average moved from 300 s towards 601 s.
    assert_eq!(h.e.snapshot(h.now).services[0].avg_service_s, 360);
    assert!(matches!(
        h.run(Command::Evaluate {
            ticket: a1.id,
            evaluation: 4
        }),
        Err(QueueError::AlreadyEvaluated { .. })
    ));
}

#[test]
fn cancel_takes_a_ticket_out_of_the_queue() {
    let mut h = H::new();
    let a1 = h.issue(0, TicketClass::Normal);
    h.issue(0, TicketClass::Normal);
    h.ok(Command::Cancel {
        ticket: a1.id.clone(),
    });
    assert_eq!(h.number(0).as_deref(), Some("A002"));
    assert!(matches!(
        h.run(Command::Cancel { ticket: a1.id }),
        Err(QueueError::InvalidTransition {
            status: "cancelled",
            ..
        })
    ));
}

#[test]
fn daily_cap_and_number_range_are_enforced() {
    let mut h = H::new();
    h.issue(2, TicketClass::Normal);
    h.issue(2, TicketClass::Normal);
    assert!(matches!(
        h.run(Command::Issue {
            service: 2,
            class: TicketClass::Normal,
            slot: None,
            checked_in: true
        }),
        Err(QueueError::DailyCapReached { cap: 2, .. })
    ));
    for _ in 0..3 {
        h.issue(1, TicketClass::Normal);
    }
    assert!(matches!(
        h.run(Command::Issue {
            service: 1,
            class: TicketClass::Normal,
            slot: None,
            checked_in: true
        }),
        Err(QueueError::NumbersExhausted { size: 3, .. })
    ));
}

#[test]
fn business_day_turns_at_local_midnight() {
    let mut h = H::new();
    h.issue(0, TicketClass::Normal);
    h.issue(0, TicketClass::Normal);
    h.call(0);
    // 23:59 local is still the same day.
    h.now = "2026-11-23T15:59:00Z".parse().unwrap();
    h.issue(0, TicketClass::Normal);
    assert_eq!(h.e.business_day().to_string(), "2026-11-23");
    // 00:00:01 local the next day (16:00 UTC): numbers restart, open tickets expire.
    h.now = "2026-11-23T16:00:00Z".parse().unwrap();
    let next = h.issue(0, TicketClass::Normal);
    assert_eq!(next.id, "20261124-A001");
    let opened = h
        .events
        .iter()
        .find_map(|e| match &e.body {
            EventBody::DayOpened {
                expired,
                previous,
                date,
            } => Some((*expired, *previous, *date)),
            _ => None,
        })
        .unwrap();
    assert_eq!(opened.0, 3, "two waiting and one called ticket expired");
    assert_eq!(opened.2.to_string(), "2026-11-24");
    assert_eq!(h.e.window_view(0, h.now).state, WindowState::Closed);
    let changes = h.e.take_changes();
    assert_eq!(
        changes.purge_before.map(|d| d.to_string()).as_deref(),
        Some("2026-11-24")
    );
}

#[test]
fn wrap_carries_numbers_over_days() {
    let src = HALL.replace("last = 3", "last = 3\nwrap = true");
    let mut h = H::with(&src);
    h.issue(1, TicketClass::Normal);
    h.issue(1, TicketClass::Normal);
    h.now = "2026-11-23T16:00:00Z".parse().unwrap();
    let numbers: Vec<String> = (0..3)
        .map(|_| h.issue(1, TicketClass::Normal).number)
        .collect();
    assert_eq!(numbers, ["B003", "B001", "B002"]);
    assert!(
        h.run(Command::Issue {
            service: 1,
            class: TicketClass::Normal,
            slot: None,
            checked_in: true
        })
        .is_err(),
        "a fourth number would repeat one of today's"
    );
}

#[test]
fn hall_refuses_tickets_outside_opening_hours() {
    let src = HALL.replace(
        "tier = \"county\"",
        "tier = \"county\"\n[hall.hours]\nmon = [\"08:30-12:00\"]",
    );
    let mut h = H::with(&src);
    h.issue(0, TicketClass::Normal); // 09:00 Monday
    h.now = "2026-11-23T05:00:00Z".parse().unwrap(); // 13:00
    assert!(matches!(
        h.run(Command::Issue {
            service: 0,
            class: TicketClass::Normal,
            slot: None,
            checked_in: true
        }),
        Err(QueueError::HallClosed { .. })
    ));
}

#[test]
fn ab_posts_accept_only_assigned_officers_and_b_takes_over() {
    let mut h = H::new();
    assert!(matches!(
        h.window(
            0,
            WindowAction::SignIn {
                post: Post::A,
                officer: "mallory".into()
            }
        ),
        Err(QueueError::OfficerNotAssigned { .. })
    ));
    h.window(
        0,
        WindowAction::SignIn {
            post: Post::A,
            officer: "alice".into(),
        },
    )
    .unwrap();
    h.window(
        0,
        WindowAction::SignIn {
            post: Post::B,
            officer: "bob".into(),
        },
    )
    .unwrap();
    assert_eq!(h.e.window_view(0, h.now).active_post, Some(Post::A));
    h.window(0, WindowAction::SignOut { post: Post::A })
        .unwrap();
    assert_eq!(h.e.window_view(0, h.now).active_post, Some(Post::B));
}

#[test]
fn a_busy_window_cannot_pause_or_close() {
    let mut h = H::new();
    h.issue(0, TicketClass::Normal);
    h.call(0);
    assert!(matches!(
        h.window(0, WindowAction::Close),
        Err(QueueError::WindowBusy { .. })
    ));
    assert!(matches!(
        h.window(
            0,
            WindowAction::Pause {
                reason: "break".into()
            }
        ),
        Err(QueueError::WindowBusy { .. })
    ));
}

#[test]
fn restore_from_records_gives_back_the_same_hall() {
    let mut h = H::new();
    for i in 0..6 {
        h.issue(
            i % 2,
            if i == 3 {
                TicketClass::Priority
            } else {
                TicketClass::Normal
            },
        );
    }
    h.call(0);
    h.window(0, WindowAction::Start).unwrap();
    h.call(1);
    h.window(1, WindowAction::Park).unwrap();
    h.window(
        1,
        WindowAction::SignIn {
            post: Post::B,
            officer: "bob".into(),
        },
    )
    .unwrap();
    let record = h.e.hall_record();
    let tickets: Vec<TicketRecord> = (0..h.e.tickets.len() as u32)
        .map(|i| h.e.ticket_record(i))
        .collect();
    let json = serde_json::to_string(&(record, tickets)).unwrap();
    let (record, tickets): (HallRecord, Vec<TicketRecord>) = serde_json::from_str(&json).unwrap();
    let (mut back, warnings) = HallEngine::restore(h.e.config().clone(), h.now, record, tickets);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(back.snapshot(h.now), h.e.snapshot(h.now));
    // Both continue identically.
    let now = h.now + 1.second();
    let issue = Command::Issue {
        service: 0,
        class: TicketClass::Normal,
        slot: None,
        checked_in: true,
    };
    let call = Command::Window {
        window: 1,
        action: WindowAction::CallNext,
    };
    let (mut ea, mut eb) = (Vec::new(), Vec::new());
    for cmd in [issue, call] {
        let a = h.e.apply(now, cmd.clone(), &mut ea).unwrap();
        let b = back.apply(now, cmd, &mut eb).unwrap();
        assert_eq!(a, b);
    }
    assert_eq!(
        ea, eb,
        "both engines emit the same events with the same sequence numbers"
    );
}

#[test]
fn views_and_events_show_the_halls_offset() {
    let mut h = H::new(); // Asia/Shanghai
    let a1 = h.issue(0, TicketClass::Normal);
    h.call(0);
    let json = |v: &TicketView| serde_json::to_value(v).unwrap();
    // The day starts at 09:00 +08:00 (01:00 UTC); every command takes a second.
    assert_eq!(json(&a1)["issued_at"], "2026-11-23T09:00:03+08:00");
    let called = h.e.ticket_view(&a1.id, h.now).unwrap();
    assert_eq!(json(&called)["called_at"], "2026-11-23T09:00:04+08:00");
    let event = h.events.last().unwrap();
    assert_eq!(event.kind(), "called");
    let event = serde_json::to_value(event).unwrap();
    assert_eq!(event["at"], "2026-11-23T09:00:04+08:00");
    assert_eq!(event["called_at"], "2026-11-23T09:00:04+08:00");
    assert_eq!(event["issued_at"], "2026-11-23T09:00:03+08:00");
    let snapshot = serde_json::to_value(h.e.snapshot(h.now)).unwrap();
    assert_eq!(snapshot["at"], "2026-11-23T09:00:04+08:00");
    assert_eq!(
        snapshot["recent_calls"][0]["called_at"],
        "2026-11-23T09:00:04+08:00"
    );
}

#[test]
fn recent_calls_stored_in_utc_still_load_and_show_the_halls_offset() {
    let mut h = H::new();
    h.issue(0, TicketClass::Normal);
    h.call(0);
    let mut record = serde_json::to_value(h.e.hall_record()).unwrap();
    let call = &mut record["recent_calls"][0];
    assert_eq!(call["called_at"], "2026-11-23T09:00:04+08:00");
    // As a record written before views were local has it.
    call["called_at"] = "2026-11-23T01:00:04Z".into();
    call["issued_at"] = "2026-11-23T01:00:03Z".into();
    let record: HallRecord = serde_json::from_value(record).unwrap();
    let (back, warnings) = HallEngine::restore(h.e.config().clone(), h.now, record, Vec::new());
    assert!(warnings.is_empty(), "{warnings:?}");
    let calls = back.snapshot(h.now).recent_calls;
    assert_eq!(calls[0].called_at.to_string(), "2026-11-23T09:00:04+08:00");
    assert_eq!(calls[0].issued_at.to_string(), "2026-11-23T09:00:03+08:00");
    assert_eq!(calls, h.e.snapshot(h.now).recent_calls);
}

#[test]
fn errors_change_nothing() {
    let mut h = H::new();
    h.issue(0, TicketClass::Normal);
    let before = h.e.snapshot(h.now);
    let seq = h.e.seq();
    let n = h.events.len();
    let bad = [
        Command::Cancel {
            ticket: "20261123-Z999".into(),
        },
        Command::Evaluate {
            ticket: "20261123-A001".into(),
            evaluation: 3,
        },
        Command::Window {
            window: 0,
            action: WindowAction::Start,
        },
        Command::Window {
            window: 0,
            action: WindowAction::Call {
                ticket: "20261123-A009".into(),
            },
        },
    ];
    for cmd in bad {
        assert!(h.e.apply(before.at.at(), cmd, &mut h.events).is_err());
    }
    assert_eq!((h.e.seq(), h.events.len()), (seq, n));
    assert_eq!(h.e.snapshot(before.at.at()), before);
}

const TIMED: &str = r#"
[policy]
start_timeout_min = 2

[[hall]]
id = "h"
name = "Hall"
tier = "county"

[[hall.service]]
id = "a"
name = "A"
prefix = "A"
target_wait_min = 10

[[hall.window]]
id = "w1"
name = "1号窗口"
services = ["a"]
"#;

#[test]
fn timers_are_armed_and_disarmed_as_tickets_move() {
    let mut h = H::with(TIMED);
    let _ = h.e.take_changes();
    let a1 = h.issue(0, TicketClass::Normal);
    let c = h.e.take_changes();
    assert_eq!(
        c.timers,
        [TimerOp {
            ticket: 0,
            kind: TimerKind::Wait,
            at: Some(a1.issued_at.at() + 10.minutes())
        }]
    );
    h.call(0);
    let c = h.e.take_changes();
    let called = h.e.ticket_view(&a1.id, h.now).unwrap().called_at.unwrap();
    assert_eq!(
        c.timers,
        [
            TimerOp {
                ticket: 0,
                kind: TimerKind::Wait,
                at: None
            },
            TimerOp {
                ticket: 0,
                kind: TimerKind::Start,
                at: Some(called.at() + 2.minutes())
            },
        ]
    );
    h.window(0, WindowAction::Start).unwrap();
    assert_eq!(
        h.e.take_changes().timers,
        [TimerOp {
            ticket: 0,
            kind: TimerKind::Start,
            at: None
        }]
    );
}

#[test]
fn a_fired_timer_raises_its_alarm_once_and_only_when_due() {
    let mut h = H::with(TIMED);
    let a1 = h.issue(0, TicketClass::Normal);
    let _ = h.e.take_changes();
    let mut out = Vec::new();
    // Early (a stale timer, or clocks apart): re-armed, nothing raised.
    h.e.timer_fired(
        a1.issued_at.at() + 5.minutes(),
        0,
        TimerKind::Wait,
        &mut out,
    );
    assert!(out.is_empty());
    assert_eq!(
        h.e.take_changes().timers[0].at,
        Some(a1.issued_at.at() + 10.minutes())
    );
    h.e.timer_fired(
        a1.issued_at.at() + 10.minutes(),
        0,
        TimerKind::Wait,
        &mut out,
    );
    let alarm = out[0].body.alarm().expect("an alarm").clone();
    assert_eq!(out[0].kind(), "wait_over_target");
    assert_eq!(alarm.id, format!("h/{}/wait_over_target", a1.id));
    assert_eq!(
        (alarm.limit_s, alarm.due_at.at()),
        (600, a1.issued_at.at() + 10.minutes())
    );
    h.e.timer_fired(
        a1.issued_at.at() + 11.minutes(),
        0,
        TimerKind::Wait,
        &mut out,
    );
    assert_eq!(out.len(), 1, "raised once");
    // A start time-out for a ticket that was started in time raises nothing.
    h.now = a1.issued_at.at() + 12.minutes();
    h.call(0);
    h.window(0, WindowAction::Start).unwrap();
    h.e.timer_fired(h.now + 3.minutes(), 0, TimerKind::Start, &mut out);
    assert_eq!(out.len(), 1);
}

#[test]
fn ticket_ids_spell_the_day_as_strftime_does() {
    use jiff::civil::date;
    for day in [
        date(2026, 11, 23),
        date(2026, 1, 9),
        date(1999, 12, 31),
        date(2000, 2, 29),
        date(987, 6, 5),
        date(5, 10, 1),
        date(9999, 12, 31),
        date(-12, 3, 4),
    ] {
        let mut key = String::new();
        super::engine::push_day_key(&mut key, day);
        assert_eq!(key, day.strftime("%Y%m%d").to_string(), "{day}");
    }
}

// ------------------------------------------------------------------ schedules

/// A county hall on the mainland calendar: weekday hours with a lunch break, lunch-time
/// service on Wednesdays, Saturday mornings.
const SCHEDULED: &str = r#"
[[calendar]]
id = "cn-mainland"
file = "config/calendars/cn-mainland.toml"

[[hall]]
id = "h"
name = "Hall"
tier = "county"

[hall.hours]
mon = ["08:30-12:00", "13:30-17:30"]
tue = ["08:30-12:00", "13:30-17:30"]
wed = ["08:30-12:00", "12:00-13:30", "13:30-17:30"]
thu = ["08:30-12:00", "13:30-17:30"]
fri = ["08:30-12:00", "13:30-17:30"]
sat = ["09:00-12:00"]

[[hall.hours_override]]
date = 2026-11-24
closed = true
reason = "系统升级"

[[hall.service]]
id = "a"
name = "Service A"
prefix = "A"

[[hall.window]]
id = "w1"
name = "1号窗口"
services = ["a"]
"#;

/// Local time in Shanghai as an instant.
fn sh(local: &str) -> Timestamp {
    let dt = jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M", local).unwrap();
    jiff::tz::TimeZone::get("Asia/Shanghai")
        .unwrap()
        .to_timestamp(dt)
        .unwrap()
}

/// A Shanghai local time as the API shows it: `2026-10-08 08:30` → `2026-10-08T08:30:00+08:00`.
fn shown(local: &str) -> LocalTime {
    format!("{}:00+08:00", local.replace(' ', "T"))
        .parse()
        .unwrap()
}

fn at(src: &str, local: &str) -> H {
    let now = sh(local);
    H {
        e: HallEngine::new(hall(src), now),
        now,
        events: Vec::new(),
    }
}

fn try_issue(h: &mut H) -> Result<Reply, QueueError> {
    h.run(Command::Issue {
        service: 0,
        class: TicketClass::Normal,
        slot: None,
        checked_in: true,
    })
}

fn schedule_events(h: &H) -> Vec<(schedule::ScheduleCause, bool)> {
    h.events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::ScheduleChanged {
                cause, schedule, ..
            } => Some((*cause, schedule.open_now)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_holiday_closes_the_hall_and_names_the_next_opening_after_the_break() {
    // Thursday 2026-10-01, 国庆节: a weekday with hours, but the calendar has it off, and the
    // break runs to Wednesday 10-07 (the Saturday in it is off too, Saturday hours or not).
    let mut h = at(SCHEDULED, "2026-10-01 10:00");
    let s = h.e.schedule(h.now);
    assert!(!s.open_now);
    assert_eq!(s.today.source, schedule::DaySource::Holiday);
    assert_eq!(s.today.name.as_deref(), Some("国庆节"));
    assert!(s.today.closed);
    assert_eq!(s.closed_reason.as_ref().unwrap().code, ClosedCode::Holiday);
    assert_eq!(s.next_opening, Some(shown("2026-10-08 08:30")));
    assert!(!h.e.snapshot(h.now).open_now);
    match try_issue(&mut h) {
        Err(QueueError::HallClosed {
            next_opening,
            reason,
            opens,
            ..
        }) => {
            let why = reason.describe();
            assert_eq!(next_opening, Some(shown("2026-10-08 08:30")));
            assert_eq!(reason.name.as_deref(), Some("国庆节"));
            assert!(why.contains("国庆节"), "{why}");
            assert!(opens.contains("2026-10-08 08:30"), "{opens}");
        }
        r => panic!("a holiday issued a ticket: {r:?}"),
    }
    assert_eq!(
        h.e.day_hours(date(2026, 10, 3)).source,
        schedule::DaySource::Holiday
    );
    // The first day after the break is an ordinary Thursday.
    h.now = sh("2026-10-08 08:30");
    assert!(matches!(try_issue(&mut h), Ok(Reply::Issued(_))));
    assert_eq!(
        schedule_events(&h),
        [(schedule::ScheduleCause::Opened, true)]
    );
}

use jiff::civil::date;

#[test]
fn a_makeup_saturday_opens_with_the_ordinary_weekday_hours() {
    // Saturday 2026-10-10 is a 调休 working day: the hall works Monday's hours, not its
    // Saturday morning.
    let mut h = at(SCHEDULED, "2026-10-10 15:00");
    let day = h.e.day_hours(date(2026, 10, 10));
    assert_eq!(day.source, schedule::DaySource::Makeup);
    assert_eq!(day.hours, ["08:30-12:00", "13:30-17:30"]);
    assert_eq!(day.name.as_deref(), Some("国庆节"));
    assert!(matches!(try_issue(&mut h), Ok(Reply::Issued(_))));

    // A hall without Saturday hours opens too; `makeup_day` gives make-up days their own.
    let weekdays = SCHEDULED.replace("sat = [\"09:00-12:00\"]", "");
    let mut h = at(&weekdays, "2026-10-10 09:00");
    assert!(matches!(try_issue(&mut h), Ok(Reply::Issued(_))));
    let own = weekdays.replace(
        "[hall.hours]",
        "[hall.hours]\nmakeup_day = [\"09:00-12:00\"]",
    );
    let mut h = at(&own, "2026-10-10 14:00");
    assert_eq!(h.e.day_hours(date(2026, 10, 10)).hours, ["09:00-12:00"]);
    assert!(matches!(
        try_issue(&mut h),
        Err(QueueError::HallClosed {
            reason: ClosedReason {
                code: ClosedCode::AfterHours,
                ..
            },
            ..
        })
    ));
    // An ordinary Saturday keeps the Saturday hours.
    let h = at(SCHEDULED, "2026-10-17 10:00");
    assert_eq!(
        h.e.day_hours(date(2026, 10, 17)).source,
        schedule::DaySource::Week
    );
    assert!(h.e.schedule(h.now).open_now);
}

#[test]
fn lunch_break_closes_and_contiguous_intervals_stay_open() {
    let mut h = at(SCHEDULED, "2026-11-23 11:59"); // Monday
    let s = h.e.schedule(h.now);
    assert!(s.open_now);
    assert_eq!(s.closes_at, Some(shown("2026-11-23 12:00")));
    h.now = sh("2026-11-23 12:30");
    let Err(QueueError::HallClosed {
        reason,
        next_opening,
        ..
    }) = try_issue(&mut h)
    else {
        panic!("issued during the lunch break")
    };
    assert_eq!(reason.code, ClosedCode::Break);
    assert_eq!(next_opening, Some(shown("2026-11-23 13:30")));
    h.e.tick(sh("2026-11-23 13:30"), &mut h.events);
    assert_eq!(
        schedule_events(&h),
        [
            (schedule::ScheduleCause::Closed, false),
            (schedule::ScheduleCause::Opened, true)
        ],
        "the hall says when it closes and opens"
    );
    // Wednesday's lunch-time service joins the morning and afternoon: open 08:30 to 17:30.
    let h = at(SCHEDULED, "2026-11-25 09:00");
    assert_eq!(
        h.e.schedule(h.now).closes_at,
        Some(shown("2026-11-25 17:30"))
    );
    // After hours on Friday: Saturday morning is next.
    let h = at(SCHEDULED, "2026-11-27 18:00");
    let s = h.e.schedule(h.now);
    assert_eq!(s.closed_reason.unwrap().code, ClosedCode::AfterHours);
    assert_eq!(s.next_opening, Some(shown("2026-11-28 09:00")));
}

#[test]
fn overrides_win_over_calendar_and_week_and_the_api_over_the_config() {
    // The config closes Tuesday 2026-11-24.
    let mut h = at(SCHEDULED, "2026-11-24 10:00");
    let s = h.e.schedule(h.now);
    assert!(!s.open_now);
    assert_eq!(s.closed_reason.as_ref().unwrap().code, ClosedCode::Override);
    assert_eq!(
        s.closed_reason.as_ref().unwrap().name.as_deref(),
        Some("系统升级")
    );
    assert_eq!(s.next_opening, Some(shown("2026-11-25 08:30")));
    assert_eq!(s.overrides.len(), 1);
    assert!(try_issue(&mut h).is_err());

    // The API opens it after all, for the morning only: it wins over the config.
    let set = |hours: Vec<(&str, &str)>, day: jiff::civil::Date| Command::SetHours {
        date: day,
        hours: hours
            .into_iter()
            .map(|(a, b)| (a.parse().unwrap(), b.parse().unwrap()))
            .collect::<Vec<_>>()
            .into_boxed_slice(),
        reason: Some("恢复办理".into()),
    };
    match h.ok(set(vec![("09:00", "12:00")], date(2026, 11, 24))) {
        Reply::Hours(d) => {
            assert_eq!(d.hours, ["09:00-12:00"]);
            assert_eq!(d.set_by, Some(schedule::SetBy::Api));
        }
        r => panic!("{r:?}"),
    }
    assert!(matches!(try_issue(&mut h), Ok(Reply::Issued(_))));
    assert_eq!(
        schedule_events(&h),
        [(schedule::ScheduleCause::Override, true)]
    );

    // A holiday opened by an override (a special service day), and a normal day closed.
    h.ok(set(vec![("09:00", "11:00")], date(2026, 12, 31)));
    h.ok(set(vec![], date(2026, 12, 30)));
    assert!(h.e.day_hours(date(2026, 12, 30)).closed);
    let upcoming: Vec<_> =
        h.e.schedule(h.now)
            .overrides
            .iter()
            .map(|d| d.date)
            .collect();
    assert_eq!(
        upcoming,
        [date(2026, 11, 24), date(2026, 12, 30), date(2026, 12, 31)]
    );

    // Removing the API's override gives the config's back; there is nothing more to remove.
    match h.ok(Command::ClearHours {
        date: date(2026, 11, 24),
    }) {
        Reply::Hours(d) => assert_eq!(d.set_by, Some(schedule::SetBy::Config)),
        r => panic!("{r:?}"),
    }
    assert!(try_issue(&mut h).is_err());
    assert!(matches!(
        h.run(Command::ClearHours {
            date: date(2026, 11, 24)
        }),
        Err(QueueError::NoOverride {
            in_config: true,
            ..
        })
    ));
    // Yesterday cannot be overridden.
    assert!(matches!(
        h.run(set(vec![], date(2026, 11, 23))),
        Err(QueueError::OverrideInPast { .. })
    ));

    // API overrides are stored with the hall and come back; past ones are dropped as the
    // day turns.
    let record = h.e.hall_record();
    assert_eq!(record.hours_overrides.len(), 2);
    let (back, _) = HallEngine::restore(h.e.config().clone(), h.now, record, Vec::new());
    assert_eq!(back.schedule(h.now), h.e.schedule(h.now));
    h.now = sh("2026-12-31 09:30");
    assert!(matches!(try_issue(&mut h), Ok(Reply::Issued(_))));
    assert_eq!(h.e.hall_record().hours_overrides.len(), 1, "12-30 is past");
}

#[test]
fn a_hall_follows_a_replaced_calendar_and_the_week_past_its_years() {
    // Past the calendar's last year there are no dated days: 2027-10-01 is a Friday.
    let mut h = at(SCHEDULED, "2027-10-01 10:00");
    assert!(h.e.schedule(h.now).open_now);
    let text = std::fs::read_to_string("config/calendars/cn-mainland.toml").unwrap()
        + "\n[[year]]\nyear = 2027\nnotice = \"test\"\ndays = [{ date = 2027-10-01, kind = \"off\", name = \"国庆节\" }]\n";
    let cal = crate::calendar::Calendar::from_toml("test", &text).unwrap();
    h.e.replace_calendar(h.now, Arc::new(cal), &mut h.events);
    assert!(!h.e.schedule(h.now).open_now);
    assert!(try_issue(&mut h).is_err());
    assert_eq!(
        schedule_events(&h),
        [(schedule::ScheduleCause::Calendar, false)]
    );

    // Without a calendar, only the week counts: the holiday is an ordinary Thursday.
    let bare = SCHEDULED.replace(
        "[[calendar]]\nid = \"cn-mainland\"\nfile = \"config/calendars/cn-mainland.toml\"\n",
        "",
    );
    let h = at(&bare, "2026-10-01 10:00");
    assert!(h.e.schedule(h.now).open_now);
}

#[test]
fn an_always_open_hall_keeps_no_holidays_but_obeys_overrides() {
    let src = SCHEDULED.replace("[hall.hours]\n", "[hall.hours]\nalways = true\n");
    let mut h = at(&src, "2026-11-01 03:00");
    let s = h.e.schedule(h.now);
    assert!(s.open_now);
    assert_eq!(s.today.source, schedule::DaySource::Always);
    assert_eq!(
        s.closes_at,
        Some(shown("2026-11-24 00:00")),
        "the override's day"
    );
    assert!(matches!(try_issue(&mut h), Ok(Reply::Issued(_))));
    // The override's day: closed, by the override.
    h.now = sh("2026-11-24 10:00");
    assert!(matches!(
        try_issue(&mut h),
        Err(QueueError::HallClosed {
            reason: ClosedReason {
                code: ClosedCode::Override,
                ..
            },
            ..
        })
    ));
    // A holiday: open all the same, for more than a month ahead.
    let mut h = at(&src, "2026-10-01 03:00");
    assert!(matches!(try_issue(&mut h), Ok(Reply::Issued(_))));
    assert_eq!(h.e.schedule(h.now).closes_at, None);
}

// ------------------------------------------------------------------ appointments told straight

#[test]
fn an_early_appointment_is_not_counted_until_it_is_callable() {
    let mut h = H::new();
    let slot = h.now + 2.hours();
    let appt = match h.ok(Command::Issue {
        service: 0,
        class: TicketClass::Appointment,
        slot: Some(slot),
        checked_in: true,
    }) {
        Reply::Issued(t) => t,
        r => panic!("{r:?}"),
    };
    let callable = slot - 15.minutes();
    // As the API shows it: in the hall's offset (the test hall is in Shanghai).
    let callable_shown = LocalTime::with_offset(callable, jiff::tz::offset(8));
    assert_eq!(
        appt.position, 0,
        "not first in line: it cannot be called yet"
    );
    assert_eq!(appt.callable_at, Some(callable_shown));
    assert_eq!(
        appt.estimated_wait_s,
        (callable.as_second() - h.now.as_second()) as u64
    );
    let w = h.e.window_view(0, h.now);
    assert_eq!((w.waiting, w.waiting_early), (0, 1));
    assert_eq!(w.next_callable_at, Some(callable_shown));
    let queue = h.e.waiting_for_window(0, h.now);
    assert_eq!(queue.len(), 1);
    assert_eq!(
        (queue[0].position, queue[0].callable_at),
        (0, Some(callable_shown))
    );
    assert_eq!(h.call(0), None, "and indeed nobody can be called");

    // A normal ticket issued shortly before is first in line, ahead of the appointment.
    h.now = callable - 2.minutes();
    let n = h.issue(0, TicketClass::Normal);
    assert_eq!(n.position, 1);
    let queue = h.e.waiting_for_window(0, h.now);
    assert_eq!(
        queue[0].number, n.number,
        "callable tickets are listed first"
    );

    h.now = callable;
    let v = h.e.ticket_view(&appt.id, h.now).unwrap();
    assert_eq!(v.position, 1);
    assert_eq!(h.e.window_view(0, h.now).waiting, 2);
    assert_eq!(h.call(0), Some((appt.number, CallReason::Appointment)));
}

#[test]
fn a_late_appointment_is_moved_to_the_normal_lane_and_says_so() {
    let mut h = H::new();
    let slot = h.now + 5.minutes();
    let appt = match h.ok(Command::Issue {
        service: 0,
        class: TicketClass::Appointment,
        slot: Some(slot),
        checked_in: true,
    }) {
        Reply::Issued(t) => t,
        r => panic!("{r:?}"),
    };
    assert_eq!(appt.lane, Some(Lane::Appointment));
    assert_eq!(appt.reclassified, None);
    // Grace is ten minutes: a tick past slot + grace moves it, and the stream says so.
    h.now = slot + 11.minutes();
    h.e.tick(h.now, &mut h.events);
    let moved: Vec<_> = h
        .events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Reclassified {
                ticket,
                from,
                to,
                reason,
                ..
            } => Some((ticket.id.clone(), *from, *to, *reason)),
            _ => None,
        })
        .collect();
    assert_eq!(
        moved,
        [(
            appt.id.clone(),
            Lane::Appointment,
            Lane::Normal,
            ReclassReason::AppointmentLate
        )]
    );
    let v = h.e.ticket_view(&appt.id, h.now).unwrap();
    assert_eq!(v.lane, Some(Lane::Normal));
    assert_eq!(v.callable_at, None);
    let r = v.reclassified.expect("the ticket says it was moved");
    assert_eq!(
        (r.reason, r.at),
        (
            ReclassReason::AppointmentLate,
            LocalTime::with_offset(h.now, jiff::tz::offset(8))
        )
    );

    // Checked in after its grace period: the answer itself says it ranks as normal.
    let late = match h.ok(Command::Issue {
        service: 0,
        class: TicketClass::Appointment,
        slot: Some(h.now - 30.minutes()),
        checked_in: true,
    }) {
        Reply::Issued(t) => t,
        r => panic!("{r:?}"),
    };
    assert_eq!(late.lane, Some(Lane::Normal));
    assert_eq!(
        late.reclassified.map(|r| r.reason),
        Some(ReclassReason::AppointmentLate)
    );
    assert_eq!(
        h.events.last().map(|e| e.kind()),
        Some("reclassified"),
        "after the `issued` event"
    );
    // Stored and restored with the ticket.
    let idx = h.e.find(&late.id).unwrap();
    let json = serde_json::to_string(&h.e.ticket_record(idx)).unwrap();
    assert!(json.contains("appointment-late"), "{json}");
}
