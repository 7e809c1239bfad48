//! The calling policy: first in first out, the aging cap, at most k priority calls in a row,
//! rank, weighted round robin, appointments inside and after their window.

use super::*;

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
