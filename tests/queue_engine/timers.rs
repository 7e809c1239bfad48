//! Ticket timers: armed and disarmed as tickets move, and alarms raised once and only when
//! due.

use super::*;

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
