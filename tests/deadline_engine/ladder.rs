//! The alarm ladder: each level once and in order with stable ids, percent levels, and levels
//! long due raised by the acceptance itself.

use super::*;

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
