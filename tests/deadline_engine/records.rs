//! Records: the same cases and alarms after a restore, and alarms due while down fired once.

use super::*;

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
            missing: Vec::new(),
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
