//! Records and offsets: a hall restored from its records, and views, events and stored calls
//! in the hall's offset.

use super::*;

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
    let tickets: Vec<TicketRecord> = (0..h.e.ticket_count())
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
fn a_bad_rating_read_from_its_stored_ticket_is_the_one_the_engine_owes() {
    // Cluster mode opens a rectification from the stored ticket (`BadRating::of_record`)
    // where the hall's shard opens it from memory: the two must agree field for field, or
    // the second offer would conflict with the first instead of replaying it.
    let mut h = H::new();
    for rating in [1, 4, 2] {
        h.issue(0, TicketClass::Normal);
        h.call(0);
        h.window(0, WindowAction::Start).unwrap();
        h.advance(3.minutes());
        h.window(
            0,
            WindowAction::Complete {
                evaluation: Some(rating),
            },
        )
        .unwrap();
    }
    let owed = h.e.bad_ratings();
    assert_eq!(owed.len(), 2, "{owed:?}");
    let stored: Vec<stats::BadRating> = (0..h.e.ticket_count())
        .filter_map(|i| stats::BadRating::of_record(&h.e.ticket_record(i)))
        .collect();
    assert_eq!(stored, owed);
}
