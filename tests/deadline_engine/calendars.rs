//! Calendars: a replaced calendar recounts open cases or changes nothing, and past the
//! calendar's years every command works provisionally until the next notice confirms it.

use super::*;

#[test]
fn replacing_a_calendar_recounts_open_cases_or_changes_nothing() {
    let mut t = T::new("2026-11-27T02:00:00Z");
    let v = t
        .accept(
            "2026-11-27T02:00:00Z",
            "C-1",
            "city",
            PROMISED_3,
            "2026-11-27T10:00:00+08:00",
        )
        .unwrap();
    assert_eq!(v.deadline, Some(lt("2026-12-02T17:00:00+08:00")));
    let official = include_str!("../../config/calendars/cn-mainland.toml");
    let with_day_off = official.replace(
        "  { date = 2026-10-10, kind = \"work\", name = \"国庆节\" },",
        "  { date = 2026-10-10, kind = \"work\", name = \"国庆节\" },\n  { date = 2026-12-01, kind = \"off\", name = \"测试\" },",
    );
    let cal = Calendar::from_toml("new.toml", &with_day_off).unwrap();
    let r =
        t.e.replace_calendar(
            ts("2026-11-28T00:00:00Z"),
            "cn-mainland",
            Arc::new(cal),
            &mut t.events,
        )
        .unwrap();
    assert_eq!(
        r,
        Recomputed {
            cases: 1,
            changed: 1,
            provisional: 0
        }
    );
    assert_eq!(
        t.e.get("C-1", ts("2026-11-28T00:00:00Z")).unwrap().deadline,
        Some(lt("2026-12-03T17:00:00+08:00"))
    );
    assert!(t.kinds().contains(&"deadline_changed"));

    // A calendar that lacks 2026 still counts the case, on the default week, provisionally.
    let only_2023 = &official[..official.find("[[year]]\nyear = 2024").unwrap()];
    let cal = Calendar::from_toml("old.toml", only_2023).unwrap();
    let r =
        t.e.replace_calendar(
            ts("2026-11-28T00:00:00Z"),
            "cn-mainland",
            Arc::new(cal),
            &mut t.events,
        )
        .unwrap();
    assert_eq!(
        r,
        Recomputed {
            cases: 1,
            changed: 1,
            provisional: 1
        }
    );
    let v = t.e.get("C-1", ts("2026-11-28T00:00:00Z")).unwrap();
    assert_eq!(v.deadline, Some(lt("2026-12-02T17:00:00+08:00")));
    let reason = v.provisional_reason.unwrap();
    assert_eq!(
        (v.provisional, &*reason.calendar, reason.first_uncovered_day),
        (true, "cn-mainland", jiff::civil::date(2024, 1, 1))
    );
}

/// The shipped calendar with a made-up 2027 notice (test data, not the State Council's).
fn with_test_2027(official: &str, days: &str) -> String {
    format!(
        "{official}\n[[year]]\nyear = 2027\nnotice = \"test data, not an official notice\"\ndays = [{days}]\n"
    )
}

#[test]
fn past_the_horizon_every_command_works_provisionally_and_the_next_notice_confirms_it() {
    // Monday 2027-01-04, the shipped calendar ends 2026-12-31.
    let now = "2027-01-04T02:00:00Z";
    let mut t = T::new(now);
    let v = t
        .accept(now, "H-1", "city", PROMISED_3, "2027-01-04T10:00:00+08:00")
        .unwrap();
    // Tue, Wed, Thu on the default week.
    assert_eq!(v.deadline, Some(lt("2027-01-07T17:00:00+08:00")));
    let reason = v.provisional_reason.clone().unwrap();
    assert!(v.provisional);
    assert_eq!(reason.first_uncovered_day, jiff::civil::date(2027, 1, 1));
    assert!(reason.detail.contains("PUT /v1/calendars/cn-mainland"));
    let accepted = t
        .events
        .iter()
        .find_map(|e| match &e.body {
            CaseEventBody::Accepted { case } => Some(case.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(accepted.provisional_reason, Some(reason));
    let hearing = t.config.suspension_index("hearing").unwrap();
    let tuesday = "2027-01-05T02:00:00Z";
    let v = t
        .run(
            tuesday,
            CaseCommand::Suspend {
                id: "H-1".into(),
                reason: hearing,
                at: ts(tuesday),
                missing: Vec::new(),
            },
        )
        .unwrap();
    assert_eq!(v.state, CaseState::Suspended);
    let later = "2027-01-06T02:00:00Z";
    let v = t
        .run(
            later,
            CaseCommand::Resume {
                id: "H-1".into(),
                at: ts(later),
            },
        )
        .unwrap();
    // Paused on Tue (used), resumed Wed (not counted): 2 days left, Thu and Fri.
    assert_eq!(v.deadline, Some(lt("2027-01-08T17:00:00+08:00")));
    let v = t
        .run(
            later,
            CaseCommand::Extend {
                id: "H-1".into(),
                amount: "2wd".parse().unwrap(),
                reason: "论证".into(),
                approver: "局长".into(),
            },
        )
        .unwrap();
    assert_eq!(
        (v.deadline, v.provisional),
        (Some(lt("2027-01-12T17:00:00+08:00")), true)
    );
    // A second case whose deadline no 2027 holiday will move.
    t.accept(now, "H-2", "city", PROMISED_3, "2027-01-04T09:00:00+08:00")
        .unwrap();
    t.events.clear();

    // The 2027 notice arrives: Fri 01-08 is a holiday. H-1 moves to Wed 01-13; H-2 stays on
    // Thu 01-07 but is no longer provisional, which is news too.
    let official = include_str!("../../config/calendars/cn-mainland.toml");
    let next = with_test_2027(
        official,
        r#"{ date = 2027-01-08, kind = "off", name = "测试假日" }"#,
    );
    let cal = Calendar::from_toml("2027.toml", &next).unwrap();
    let r =
        t.e.replace_calendar(ts(later), "cn-mainland", Arc::new(cal), &mut t.events)
            .unwrap();
    assert_eq!(
        r,
        Recomputed {
            cases: 2,
            changed: 1,
            provisional: 0
        }
    );
    let changed: Vec<(String, Option<LocalTime>, Option<LocalTime>, bool)> = t
        .events
        .iter()
        .filter_map(|e| match &e.body {
            CaseEventBody::DeadlineChanged {
                case,
                previous,
                deadline,
                provisional,
                provisional_reason,
            } => {
                assert!(provisional_reason.is_none());
                Some((case.clone(), *previous, *deadline, *provisional))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        changed,
        [
            (
                "H-1".to_owned(),
                Some(lt("2027-01-12T17:00:00+08:00")),
                Some(lt("2027-01-13T17:00:00+08:00")),
                false
            ),
            (
                "H-2".to_owned(),
                Some(lt("2027-01-07T17:00:00+08:00")),
                Some(lt("2027-01-07T17:00:00+08:00")),
                false
            ),
        ]
    );
    let v = t.e.get("H-1", ts(later)).unwrap();
    assert_eq!((v.provisional, v.provisional_reason), (false, None));
}
