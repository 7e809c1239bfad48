//! Appointments told straight: not counted before they are callable, moved to the normal
//! lane after their grace period, and saying so.

use super::*;

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
