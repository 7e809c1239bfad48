//! Case commands: acceptance (idempotent on the id), extension, suspension and resume, joint
//! cases, forwarding to the upper hall, and closed cases that stay closed.

use super::*;

#[test]
fn accepting_counts_the_deadline_on_the_official_calendar() {
    let mut t = T::new("2025-09-26T02:00:00Z");
    // DESIGN.md's example: accepted Fri 2025-09-26, 20 working days → Thu 2025-10-30 17:00.
    let mut out = Vec::new();
    let m = t.matter(PROMISED_20);
    let cmd = CaseCommand::Accept {
        id: "A-1".into(),
        hall: t.hall("city"),
        matter: m,
        accepted_at: ts("2025-09-26T10:00:00+08:00"),
        origin: None,
        applicant: None,
        bundle: None,
    };
    let (v, created) =
        t.e.apply(ts("2025-09-26T02:00:00Z"), cmd, &t.closed, &mut out)
            .unwrap();
    assert!(created);
    assert_eq!(v.deadline, Some(lt("2025-10-30T17:00:00+08:00")));
    assert_eq!(
        (v.state, v.kind, v.limit.as_str()),
        (CaseState::Open, CaseKind::Promised, "20wd")
    );
    // 20 days plus the rest of Friday's office hours: 21 by the ladder's ceiling rule.
    assert_eq!(v.remaining_working_days, Some(21));
    assert_eq!(out[0].body.kind(), "accepted");
    assert_eq!(t.e.pending(), 1, "one timer per running case");
}

#[test]
fn an_extension_moves_the_deadline_clears_levels_and_they_fire_again_with_new_ids() {
    let mut t = T::new("2025-09-26T02:00:00Z");
    t.accept(
        "2025-09-26T02:00:00Z",
        "A-1",
        "city",
        PROMISED_3,
        "2025-09-26T10:00:00+08:00",
    )
    .unwrap();
    assert_eq!(
        t.advance("2025-09-30T10:00:00Z"),
        ["A-1/yellow/1", "A-1/red/1"]
    );
    t.events.clear();
    let v = t
        .run(
            "2025-09-30T10:00:00Z",
            CaseCommand::Extend {
                id: "A-1".into(),
                amount: "3wd".parse().unwrap(),
                reason: "专家论证".into(),
                approver: "王局长".into(),
            },
        )
        .unwrap();
    // 6wd (3wd is as far as a 3wd limit extends by default): days 4-6 are Thu 10-09,
    // Fri 10-10 and Sat 10-11 (a make-up workday).
    assert_eq!(v.deadline, Some(lt("2025-10-11T17:00:00+08:00")));
    assert_eq!(v.limit, "6wd");
    let cleared: Vec<String> = t
        .events
        .iter()
        .filter_map(|e| match &e.body {
            CaseEventBody::Cleared { id, .. } => Some(id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(cleared, ["A-1/yellow/1", "A-1/red/1"]);
    assert!(t.kinds().contains(&"deadline_changed"));
    assert_eq!(
        t.advance("2025-10-13T09:00:00Z"),
        ["A-1/yellow/2", "A-1/red/2"]
    );
    // An extension in another unit is refused and changes nothing.
    let before = t.e.get("A-1", ts("2025-10-13T09:00:00Z"));
    let err = t
        .run(
            "2025-10-13T09:00:00Z",
            CaseCommand::Extend {
                id: "A-1".into(),
                amount: "8wh".parse().unwrap(),
                reason: "x".into(),
                approver: "y".into(),
            },
        )
        .unwrap_err();
    assert_eq!(err.code(), "extension-unit");
    assert_eq!(t.e.get("A-1", ts("2025-10-13T09:00:00Z")), before);
}

#[test]
fn a_suspension_stops_the_clock_and_a_restart_on_resume_clears_levels() {
    let mut t = T::new("2025-09-26T02:00:00Z");
    t.accept(
        "2025-09-26T02:00:00Z",
        "S-1",
        "city",
        PROMISED_3,
        "2026-03-02T10:00:00+08:00",
    )
    .unwrap_err();
    t.accept(
        "2026-03-02T02:00:00Z",
        "S-1",
        "city",
        PROMISED_3,
        "2026-03-02T10:00:00+08:00",
    )
    .unwrap();
    assert_eq!(t.advance("2026-03-04T09:00:00Z"), ["S-1/yellow/1"]);
    let reason = t.config.suspension_index("supplement").unwrap();
    let v = t
        .run(
            "2026-03-04T10:00:00Z",
            CaseCommand::Suspend {
                id: "S-1".into(),
                reason,
                at: ts("2026-03-04T10:00:00Z"),
                missing: Vec::new(),
            },
        )
        .unwrap();
    assert_eq!((v.state, v.deadline), (CaseState::Suspended, None));
    assert!(
        t.advance("2026-03-20T00:00:00Z").is_empty(),
        "a stopped clock raises nothing"
    );
    assert_eq!(t.e.pending(), 0);
    t.events.clear();
    // 补正 restarts the full 3wd from the resume day (Mon 03-23 → Thu 03-26).
    let v = t
        .run(
            "2026-03-23T02:00:00Z",
            CaseCommand::Resume {
                id: "S-1".into(),
                at: ts("2026-03-23T02:00:00Z"),
            },
        )
        .unwrap();
    assert_eq!(v.deadline, Some(lt("2026-03-26T17:00:00+08:00")));
    assert!(
        t.events
            .iter()
            .any(|e| matches!(&e.body, CaseEventBody::Cleared { id, .. } if id == "S-1/yellow/1"))
    );
    let err = t
        .run(
            "2026-03-23T02:00:00Z",
            CaseCommand::Resume {
                id: "S-1".into(),
                at: ts("2026-03-23T02:00:00Z"),
            },
        )
        .unwrap_err();
    assert_eq!(err.code(), "not-suspended");
}

#[test]
fn a_joint_case_completes_when_every_department_has() {
    let mut t = T::new("2026-03-02T02:00:00Z");
    let lead = t
        .accept(
            "2026-03-02T02:00:00Z",
            "J-1",
            "city",
            JOINT,
            "2026-03-02T10:00:00+08:00",
        )
        .unwrap();
    assert_eq!(lead.children, ["J-1:market", "J-1:tax", "J-1:social"]);
    assert_eq!(t.e.len(), 4);
    let social = t.e.get("J-1:social", ts("2026-03-02T02:00:00Z")).unwrap();
    assert_eq!(
        (social.limit.as_str(), social.deadline),
        ("3wd", Some(lt("2026-03-05T17:00:00+08:00")))
    );
    let err = t
        .run(
            "2026-03-03T02:00:00Z",
            CaseCommand::Complete {
                id: "J-1".into(),
                at: ts("2026-03-03T02:00:00Z"),
                closing: None,
            },
        )
        .unwrap_err();
    assert_eq!(
        err,
        CaseError::ChildrenOpen {
            id: "J-1".into(),
            open: 3
        }
    );
    for d in ["market", "tax", "social"] {
        t.run(
            "2026-03-03T02:00:00Z",
            CaseCommand::Complete {
                id: format!("J-1:{d}"),
                at: ts("2026-03-03T02:00:00Z"),
                closing: None,
            },
        )
        .unwrap();
    }
    let completed: Vec<String> = t
        .events
        .iter()
        .filter_map(|e| match &e.body {
            CaseEventBody::Completed { case, on_time, .. } => Some(format!("{case}:{on_time}")),
            _ => None,
        })
        .collect();
    assert_eq!(
        completed,
        [
            "J-1:market:true",
            "J-1:tax:true",
            "J-1:social:true",
            "J-1:true"
        ]
    );
    let changes = t.e.take_changes();
    assert!(
        changes.iter().filter(|c| c.closed).count() == 4,
        "lead and children leave the engine together"
    );
    assert_eq!(t.e.len(), 0);
    assert_eq!(t.e.pending(), 0);
}

#[test]
fn an_escalated_case_is_forwarded_to_the_upper_hall_with_its_limit() {
    let mut t = T::new("2026-03-02T02:00:00Z");
    let v = t
        .accept(
            "2026-03-02T02:00:00Z",
            "E-1",
            "county",
            ESCALATED,
            "2026-03-02T10:00:00+08:00",
        )
        .unwrap();
    assert_eq!(
        (v.stage, v.limit.as_str(), v.deadline),
        (
            Stage::Forwarding,
            "3wd",
            Some(lt("2026-03-05T17:00:00+08:00"))
        )
    );
    let v = t
        .run(
            "2026-03-04T02:00:00Z",
            CaseCommand::Forward {
                id: "E-1".into(),
                at: ts("2026-03-04T02:00:00Z"),
            },
        )
        .unwrap();
    assert_eq!(
        (v.stage, &*v.hall, v.limit.as_str()),
        (Stage::Upper, "city", "20wd")
    );
    assert_eq!(v.deadline, Some(lt("2026-04-01T17:00:00+08:00")));
    assert_eq!(
        t.run(
            "2026-03-04T02:00:00Z",
            CaseCommand::Forward {
                id: "E-1".into(),
                at: ts("2026-03-04T02:00:00Z")
            }
        )
        .unwrap_err()
        .code(),
        "not-forwardable"
    );
    // The city hall has no upper hall.
    t.accept(
        "2026-03-02T02:00:00Z",
        "E-2",
        "city",
        ESCALATED,
        "2026-03-02T10:00:00+08:00",
    )
    .unwrap();
    assert_eq!(
        t.run(
            "2026-03-03T02:00:00Z",
            CaseCommand::Forward {
                id: "E-2".into(),
                at: ts("2026-03-03T02:00:00Z")
            }
        )
        .unwrap_err()
        .code(),
        "no-upper-hall"
    );
}

#[test]
fn accept_is_idempotent_on_the_case_id_and_bad_input_changes_nothing() {
    let mut t = T::new("2026-03-02T02:00:00Z");
    let first = t
        .accept(
            "2026-03-02T02:00:00Z",
            "I-1",
            "city",
            PROMISED_3,
            "2026-03-02T10:00:00+08:00",
        )
        .unwrap();
    let mut out = Vec::new();
    let cmd = CaseCommand::Accept {
        id: "I-1".into(),
        hall: t.hall("city"),
        matter: t.matter(PROMISED_3),
        accepted_at: ts("2026-03-02T10:00:00+08:00"),
        origin: None,
        applicant: None,
        bundle: None,
    };
    let (again, created) =
        t.e.apply(ts("2026-03-02T03:00:00Z"), cmd, &t.closed, &mut out)
            .unwrap();
    assert!(!created);
    assert!(out.is_empty());
    assert_eq!(again.deadline, first.deadline);
    let n = (t.e.len(), t.events.len(), t.e.pending());
    let bad = [
        t.accept(
            "2026-03-02T02:00:00Z",
            "I-1",
            "city",
            PROMISED_20,
            "2026-03-02T10:00:00+08:00",
        )
        .unwrap_err(),
        t.accept(
            "2026-03-02T02:00:00Z",
            "I-2",
            "city",
            PROMISED_3,
            "2031-03-02T10:00:00+08:00",
        )
        .unwrap_err(),
        t.accept(
            "2026-03-02T02:00:00Z",
            "bad id!",
            "city",
            PROMISED_3,
            "2026-03-02T10:00:00+08:00",
        )
        .unwrap_err(),
        t.run(
            "2026-03-02T02:00:00Z",
            CaseCommand::Resume {
                id: "I-1".into(),
                at: ts("2026-03-02T02:00:00Z"),
            },
        )
        .unwrap_err(),
        t.run(
            "2026-03-02T02:00:00Z",
            CaseCommand::Complete {
                id: "nope".into(),
                at: ts("2026-03-02T02:00:00Z"),
                closing: None,
            },
        )
        .unwrap_err(),
    ];
    let codes: Vec<&str> = bad.iter().map(CaseError::code).collect();
    assert_eq!(
        codes,
        [
            "case-exists",
            "in-the-future",
            "invalid-case-id",
            "not-suspended",
            "unknown-case"
        ]
    );
    assert_eq!(bad[0].field(), Some("matter"));
    assert_eq!(
        (t.e.len(), t.events.len(), t.e.pending()),
        n,
        "nothing was stored, emitted or armed"
    );
}

#[test]
fn a_closed_case_is_never_reopened_by_acceptance_or_any_command() {
    let mut t = T::new("2026-03-02T02:00:00Z");
    let at = "2026-03-02T10:00:00+08:00";
    t.accept("2026-03-02T02:00:00Z", "Z-1", "city", PROMISED_3, at)
        .unwrap();
    t.accept("2026-03-02T02:00:00Z", "Z-2", "city", PROMISED_3, at)
        .unwrap();
    let done = |id: &str| CaseCommand::Complete {
        id: id.into(),
        at: ts("2026-03-02T03:00:00Z"),
        closing: None,
    };
    t.run("2026-03-02T03:00:00Z", done("Z-1")).unwrap();
    t.run(
        "2026-03-02T03:00:00Z",
        CaseCommand::Withdraw {
            id: "Z-2".into(),
            reason: "申请人撤回".into(),
            at: ts("2026-03-02T03:00:00Z"),
        },
    )
    .unwrap();
    // Replayed in the same pass (still held, closed) and after it (gone to the table).
    for persisted in [false, true] {
        if persisted {
            t.persist();
            assert_eq!(t.e.len(), 0);
        }
        t.events.clear();
        for (id, state) in [("Z-1", CaseState::Completed), ("Z-2", CaseState::Withdrawn)] {
            let cmd = CaseCommand::Accept {
                id: id.into(),
                hall: t.hall("city"),
                matter: t.matter(PROMISED_3),
                accepted_at: ts(at),
                origin: None,
                applicant: None,
                bundle: None,
            };
            let (v, created) =
                t.e.apply(ts("2026-03-03T02:00:00Z"), cmd, &t.closed, &mut t.events)
                    .unwrap();
            assert_eq!((v.state, created), (state, false), "{id}");
            assert_eq!(v.closed_at, Some(lt("2026-03-02T11:00:00+08:00")));
        }
        assert!(t.events.is_empty(), "a replay emits nothing");
        assert_eq!(t.e.pending(), 0, "and arms nothing");
        let differs = [
            ("county", PROMISED_3, at, "hall"),
            ("city", PROMISED_20, at, "matter"),
            (
                "city",
                PROMISED_3,
                "2026-03-02T11:00:00+08:00",
                "accepted_at",
            ),
        ];
        for (hall, matter, accepted, field) in differs {
            let err = t
                .accept("2026-03-03T02:00:00Z", "Z-1", hall, matter, accepted)
                .unwrap_err();
            assert_eq!(
                (err.code(), err.field()),
                ("case-exists", Some(field)),
                "{err}"
            );
        }
        let err = t.run("2026-03-03T02:00:00Z", done("Z-1")).unwrap_err();
        assert_eq!(err.code(), "case-closed");
        let err = t
            .run(
                "2026-03-03T02:00:00Z",
                CaseCommand::Resume {
                    id: "Z-2".into(),
                    at: ts("2026-03-03T02:00:00Z"),
                },
            )
            .unwrap_err();
        assert_eq!(err.to_string(), "case `Z-2` is withdrawn");
        assert!(t.events.is_empty());
    }
}
