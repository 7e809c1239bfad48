//! The business day: turning at local midnight, numbers wrapping over days, hours refusing
//! tickets, and ids spelled as strftime spells them.

use super::*;

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
