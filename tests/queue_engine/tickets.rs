//! Ticket commands and a ticket's life at a window: numbers, booked appointments, recall
//! and no-show, transfer, park and release, completion, cancelling, caps, and errors that
//! change nothing.

use super::*;

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
            evaluation: 4,
            rating: None,
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
            rating: None,
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

#[test]
fn a_ticket_with_a_contact_is_told_once_when_its_turn_is_near_even_after_a_restore() {
    let mut h = H::new();
    let contact = || TicketContact {
        contact_masked: "138****8000".into(),
        contact_hash: Some("ab".repeat(32)),
        notified: false,
    };
    let tickets: Vec<TicketView> = (0..5).map(|_| h.issue(0, TicketClass::Normal)).collect();
    for t in &tickets[2..] {
        h.e.set_contact(&t.id, contact()).unwrap();
    }
    h.ok(Command::Cancel {
        ticket: tickets[4].id.clone(),
    });
    let told = |h: &mut H| -> Vec<(String, u32)> {
        let now = h.now;
        h.e.turn_near(2, now)
            .into_iter()
            .map(|t| (t.ticket.number, t.ticket.position))
            .collect()
    };
    assert_eq!(told(&mut h), [], "third and fourth in line: not yet");
    h.call(0);
    assert_eq!(told(&mut h), [(tickets[2].number.clone(), 2)]);
    assert_eq!(told(&mut h), [], "once per ticket");

    // The mark is in the ticket's record: a restored hall does not tell it again.
    let record = h.e.hall_record();
    let records: Vec<TicketRecord> = (0..h.e.ticket_count())
        .map(|i| h.e.ticket_record(i))
        .collect();
    let (mut back, _) = HallEngine::restore(h.e.config().clone(), h.now, record, records);
    std::mem::swap(&mut h.e, &mut back);
    h.call(0);
    // The fourth moves up to second; the cancelled fifth is never told.
    assert_eq!(told(&mut h), [(tickets[3].number.clone(), 2)]);
    h.call(0);
    h.call(0);
    assert_eq!(told(&mut h), []);
    assert_eq!(
        h.e.ticket_view(&tickets[3].id, h.now)
            .unwrap()
            .contact_masked
            .as_deref(),
        Some("138****8000")
    );
}
