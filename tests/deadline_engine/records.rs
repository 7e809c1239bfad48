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

/// The count behind the rectification and complaint gauges follows the cases with an origin
/// through acceptance, closing, a reload and a restore, while plain applications (all the
/// other open cases, which it no longer walks) never count.
#[test]
fn open_rating_cases_follow_cases_with_an_origin_and_nothing_else() {
    let mut t = T::new("2025-09-26T02:00:00Z");
    let rating = |ticket: &str| CaseOrigin::Rating {
        ticket: ticket.into(),
        service: "social".into(),
        window: None,
        officer: None,
        rating: 1,
        reasons: Vec::new(),
    };
    let complaint = CaseOrigin::Complaint {
        channel: "hotline".into(),
        subject: "queue jumped".into(),
        ticket: None,
        officer: None,
        contact_masked: None,
        contact_hash: None,
    };
    let accepted = "2025-09-26T10:00:00+08:00";
    for (id, hall, origin) in [
        ("A-1", "city", None),
        ("RT-1", "city", Some(rating("20250926-B001"))),
        ("RT-2", "city", Some(rating("20250926-B002"))),
        ("A-2", "county", None),
        ("CP-1", "county", Some(complaint)),
    ] {
        let cmd = CaseCommand::Accept {
            id: id.into(),
            hall: t.hall(hall),
            matter: t.matter(PROMISED_3),
            accepted_at: ts(accepted),
            origin: origin.map(Box::new),
            applicant: None,
            bundle: None,
        };
        t.run("2025-09-26T02:00:00Z", cmd).unwrap();
    }
    // The open-case table, as the store would hold it.
    let mut open: std::collections::BTreeMap<String, CaseRecord> = Default::default();
    let mut store = |e: &mut DeadlineEngine| {
        for c in e.take_changes() {
            if c.closed {
                open.remove(&c.record.id);
            } else {
                open.insert(c.record.id.clone(), c.record);
            }
        }
    };
    store(&mut t.e);
    let (city, county) = (t.hall("city"), t.hall("county"));
    let sorted = |e: &DeadlineEngine, now: &str| {
        let mut v = e.open_rating_cases(ts(now));
        v.sort_unstable();
        v
    };
    let before = "2025-09-27T00:00:00Z";
    assert_eq!(
        sorted(&t.e, before),
        vec![(city, false, 2, 0), (county, true, 1, 0)]
    );
    // Past the 3-working-day deadline every one of them is overdue.
    let late = "2025-10-20T00:00:00Z";
    assert_eq!(
        sorted(&t.e, late),
        vec![(city, false, 2, 2), (county, true, 1, 1)]
    );

    // One rectification closes and leaves the engine; its slot is reused by a plain case.
    t.run(
        "2025-09-27T00:00:00Z",
        CaseCommand::Complete {
            id: "RT-1".into(),
            at: ts("2025-09-27T00:00:00Z"),
            closing: Some(Box::new(ClosingRecord {
                verification: "checked".into(),
                action: "trained".into(),
                feedback: "called back".into(),
                follow_up: None,
            })),
        },
    )
    .unwrap();
    t.accept("2025-09-27T00:00:00Z", "A-3", "city", PROMISED_3, accepted)
        .unwrap();
    store(&mut t.e);
    assert_eq!(
        sorted(&t.e, before),
        vec![(city, false, 1, 0), (county, true, 1, 0)]
    );

    // Put back from its stored record (a lost batch), and restored into a new engine.
    let cp = open.get("CP-1").cloned();
    assert!(cp.is_some() && !open.contains_key("RT-1"));
    t.e.reload("CP-1", None).unwrap();
    assert_eq!(sorted(&t.e, before), vec![(city, false, 1, 0)]);
    t.e.reload("CP-1", cp).unwrap();
    assert_eq!(
        sorted(&t.e, before),
        vec![(city, false, 1, 0), (county, true, 1, 0)]
    );
    let mut back = DeadlineEngine::new(t.config.catalogue.clone(), ts(before));
    for r in open.into_values() {
        back.restore(r).unwrap();
    }
    assert_eq!(back.len(), 5);
    assert_eq!(
        sorted(&back, before),
        vec![(city, false, 1, 0), (county, true, 1, 0)]
    );
}
