//! A hall's events as JSON, written by hand: the bytes of `serde_json::to_vec(&Event)`.
//!
//! Why: every ticket operation publishes about one event, and through serde_json its text
//! was ~5,300 instructions per operation, ~16 % of a shard's instructions in the mixed load
//! test, with ~900 more for a call kept in the hall record's recent calls: every key and
//! string escaped byte by byte, each enum and instant through serde's machinery, the
//! flattened body written entry by entry as a map. Here the kinds a working hall publishes
//! all day (a ticket issued, called, started, completed and the rest of its life; windows
//! opening, pausing, closing) are written in the order and with the attributes of their
//! derive: `seq`, `at`, `hall`, the `kind` tag, then the variant's fields, a call's flattened
//! in place. Strings that need escaping go through serde_json itself, as do the rare kinds (a
//! day turning, alarms, reclassifications, schedules, bookings, officers signing in and out):
//! their bytes are serde_json's by construction. The tests compare the two for any event of
//! every kind written here. It never touches the engine or the store.

use super::json::Json;
use crate::queue::{CallEvent, Event, EventBody, QueueCount, TicketBrief, TicketClass};

/// Most events' JSON is a few hundred bytes: one allocation, where growing from empty took
/// about eight reallocations and their copies (with the records' growth, ~15 % of a shard's
/// instructions in the mixed load test).
const EVENT_CAPACITY: usize = 768;

/// `event` as `serde_json::to_string` writes it.
pub(super) fn encode(event: &Event) -> String {
    let mut w = Json::with_capacity(EVENT_CAPACITY);
    if !by_hand(&mut w, event) {
        w.serde(event);
    }
    w.into_string()
}

/// A recent call as a hall record keeps it: `call` as `serde_json::to_string` writes it.
pub(super) fn encode_call(call: &CallEvent) -> String {
    let mut w = Json::with_capacity(EVENT_CAPACITY);
    w.raw("{");
    call_fields(&mut w, call);
    w.raw("}");
    w.into_string()
}

/// Writes `event` and says so, or writes nothing for a kind left to serde_json. The kinds
/// written here are destructured without `..` and the others named, so a field added to one
/// of them, or a new kind, fails to compile here instead of going missing from the stream.
fn by_hand(w: &mut Json, event: &Event) -> bool {
    match &event.body {
        EventBody::Issued { ticket, queues }
        | EventBody::CheckedIn { ticket, queues }
        | EventBody::Reactivated { ticket, queues }
        | EventBody::Returned { ticket, queues }
        | EventBody::Cancelled { ticket, queues } => {
            head(w, event);
            ticket_field(w, ticket);
            queues_field(w, queues);
        }
        EventBody::Called { call, queues } => {
            head(w, event);
            w.raw(",");
            call_fields(w, call);
            queues_field(w, queues);
        }
        EventBody::Started {
            ticket,
            window,
            window_name,
        }
        | EventBody::Parked {
            ticket,
            window,
            window_name,
        } => {
            head(w, event);
            ticket_field(w, ticket);
            window_fields(w, window, window_name);
        }
        EventBody::Completed {
            ticket,
            window,
            window_name,
            evaluation,
            implicit,
            service_s,
        } => {
            head(w, event);
            ticket_field(w, ticket);
            window_fields(w, window, window_name);
            if let Some(e) = evaluation {
                w.raw(",\"evaluation\":");
                w.int(*e);
            }
            w.raw(",\"implicit\":");
            w.bool(*implicit);
            w.raw(",\"service_s\":");
            w.int(*service_s);
        }
        EventBody::NoShow {
            ticket,
            window,
            window_name,
            recall_limit,
        } => {
            head(w, event);
            ticket_field(w, ticket);
            window_fields(w, window, window_name);
            w.raw(",\"recall_limit\":");
            w.bool(*recall_limit);
        }
        EventBody::Transferred {
            ticket,
            from,
            window,
            window_name,
            queues,
        } => {
            head(w, event);
            ticket_field(w, ticket);
            w.raw(",\"from\":");
            w.string(from);
            window_fields(w, window, window_name);
            queues_field(w, queues);
        }
        EventBody::Released {
            ticket,
            window,
            window_name,
            queues,
        } => {
            head(w, event);
            ticket_field(w, ticket);
            window_fields(w, window, window_name);
            queues_field(w, queues);
        }
        EventBody::Evaluated {
            ticket,
            evaluation,
            reasons,
            window,
            officer,
        } => {
            head(w, event);
            ticket_field(w, ticket);
            w.raw(",\"evaluation\":");
            w.int(*evaluation);
            if !reasons.is_empty() {
                w.raw(",\"reasons\":");
                w.serde(reasons);
            }
            if let Some(window) = window {
                w.raw(",\"window\":");
                w.string(window);
            }
            if let Some(officer) = officer {
                w.raw(",\"officer\":");
                w.string(officer);
            }
        }
        EventBody::WindowOpened {
            window,
            window_name,
        }
        | EventBody::WindowClosed {
            window,
            window_name,
        } => {
            head(w, event);
            window_fields(w, window, window_name);
        }
        EventBody::WindowPaused {
            window,
            window_name,
            reason,
        } => {
            head(w, event);
            window_fields(w, window, window_name);
            w.raw(",\"reason\":");
            w.string(reason);
        }
        EventBody::DayOpened { .. }
        | EventBody::OfficerSignedIn { .. }
        | EventBody::OfficerSignedOut { .. }
        | EventBody::WaitOverTarget { .. }
        | EventBody::NotStarted { .. }
        | EventBody::Reclassified { .. }
        | EventBody::ScheduleChanged { .. }
        | EventBody::Booking { .. } => return false,
    }
    w.raw("}");
    true
}

/// `Event`'s own fields and the body's tag: `{"seq":…,"at":…,"hall":…,"kind":…`.
fn head(w: &mut Json, event: &Event) {
    let Event {
        seq,
        at,
        hall,
        body,
    } = event;
    w.raw("{\"seq\":");
    w.int(*seq);
    w.raw(",\"at\":");
    w.local(*at);
    w.raw(",\"hall\":");
    w.string(hall);
    w.raw(",\"kind\":");
    w.plain(body.kind());
}

fn ticket_field(w: &mut Json, ticket: &TicketBrief) {
    let TicketBrief {
        id,
        number,
        service,
        service_name,
        class,
        status,
    } = ticket;
    w.raw(",\"ticket\":{\"id\":");
    w.string(id);
    number_to_class(w, number, service, service_name, *class);
    w.raw(",\"status\":");
    w.plain(status.as_str());
    w.raw("}");
}

/// `"number"` to `"class"`, in the order a ticket's brief and a call both have them.
fn number_to_class(
    w: &mut Json,
    number: &str,
    service: &str,
    service_name: &str,
    class: TicketClass,
) {
    w.raw(",\"number\":");
    w.string(number);
    w.raw(",\"service\":");
    w.string(service);
    w.raw(",\"service_name\":");
    w.string(service_name);
    w.raw(",\"class\":");
    w.plain(class.as_str());
}

fn queues_field(w: &mut Json, queues: &[QueueCount]) {
    w.raw(",\"queues\":[");
    for (i, q) in queues.iter().enumerate() {
        let QueueCount { service, waiting } = q;
        if i > 0 {
            w.raw(",");
        }
        w.raw("{\"service\":");
        w.string(service);
        w.raw(",\"waiting\":");
        w.int(*waiting);
        w.raw("}");
    }
    w.raw("]");
}

fn window_fields(w: &mut Json, window: &str, window_name: &str) {
    w.raw(",\"window\":");
    w.string(window);
    w.raw(",\"window_name\":");
    w.string(window_name);
}

/// A call's fields without braces: flattened into a `called` event, or a whole recent call.
fn call_fields(w: &mut Json, call: &CallEvent) {
    let CallEvent {
        ticket,
        number,
        service,
        service_name,
        class,
        window,
        window_name,
        call_count,
        reason,
        officer,
        announcement,
        called_at,
        issued_at,
    } = call;
    w.raw("\"ticket\":");
    w.string(ticket);
    number_to_class(w, number, service, service_name, *class);
    window_fields(w, window, window_name);
    w.raw(",\"call_count\":");
    w.int(*call_count);
    w.raw(",\"reason\":");
    w.plain(reason.as_str());
    if let Some(officer) = officer {
        w.raw(",\"officer\":");
        w.string(officer);
    }
    w.raw(",\"announcement\":");
    w.string(announcement);
    w.raw(",\"called_at\":");
    w.local(*called_at);
    w.raw(",\"issued_at\":");
    w.local(*issued_at);
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use jiff::Timestamp;
    use jiff::tz::Offset;
    use proptest::prelude::*;

    use super::super::json::arbitrary::{class, instant, reason, status, text};
    use super::*;
    use crate::localtime::LocalTime;
    use crate::queue::TicketStatus;

    fn local() -> BoxedStrategy<LocalTime> {
        // Whole minutes as halls have them, and any offset jiff holds (seconds are printed by
        // jiff, not `LocalTime`).
        let offset = prop_oneof![
            (-1559i32..1560).prop_map(|m| m * 60),
            -93_599i32..93_600,
            Just(28_800),
        ];
        (instant(), offset)
            .prop_map(|(at, offset)| {
                LocalTime::with_offset(at, Offset::from_seconds(offset).unwrap())
            })
            .boxed()
    }

    fn name() -> impl Strategy<Value = Arc<str>> {
        text().prop_map(Arc::from)
    }

    fn brief() -> BoxedStrategy<TicketBrief> {
        (text(), text(), name(), name(), class(), status())
            .prop_map(
                |(id, number, service, service_name, class, status)| TicketBrief {
                    id,
                    number,
                    service,
                    service_name,
                    class,
                    status,
                },
            )
            .boxed()
    }

    fn queues() -> BoxedStrategy<Vec<QueueCount>> {
        let count =
            (name(), any::<u32>()).prop_map(|(service, waiting)| QueueCount { service, waiting });
        proptest::collection::vec(count, 0..4).boxed()
    }

    fn call() -> BoxedStrategy<CallEvent> {
        let names = (text(), text(), name(), name(), name(), name());
        let rest = (
            class(),
            any::<u8>(),
            reason(),
            proptest::option::of(text()),
            text(),
            local(),
            local(),
        );
        (names, rest)
            .prop_map(
                |(
                    (ticket, number, service, service_name, window, window_name),
                    (class, call_count, reason, officer, announcement, called_at, issued_at),
                )| CallEvent {
                    ticket,
                    number,
                    service,
                    service_name,
                    class,
                    window,
                    window_name,
                    call_count,
                    reason,
                    officer,
                    announcement,
                    called_at,
                    issued_at,
                },
            )
            .boxed()
    }

    /// Every kind written by hand, with any content.
    fn body() -> BoxedStrategy<EventBody> {
        use EventBody::*;
        let with_queues = (0..5u8, brief(), queues()).prop_map(|(k, ticket, queues)| match k {
            0 => Issued { ticket, queues },
            1 => CheckedIn { ticket, queues },
            2 => Reactivated { ticket, queues },
            3 => Returned { ticket, queues },
            _ => Cancelled { ticket, queues },
        });
        let at_window = (any::<bool>(), brief(), name(), name()).prop_map(
            |(started, ticket, window, window_name)| {
                if started {
                    Started {
                        ticket,
                        window,
                        window_name,
                    }
                } else {
                    Parked {
                        ticket,
                        window,
                        window_name,
                    }
                }
            },
        );
        let called = (call(), queues()).prop_map(|(call, queues)| Called {
            call: Arc::new(call),
            queues,
        });
        let completed = (
            (brief(), name(), name()),
            proptest::option::of(any::<u8>()),
            any::<bool>(),
            any::<i64>(),
        )
            .prop_map(
                |((ticket, window, window_name), evaluation, implicit, service_s)| Completed {
                    ticket,
                    window,
                    window_name,
                    evaluation,
                    implicit,
                    service_s,
                },
            );
        let no_show = (brief(), name(), name(), any::<bool>()).prop_map(
            |(ticket, window, window_name, recall_limit)| NoShow {
                ticket,
                window,
                window_name,
                recall_limit,
            },
        );
        let moved = (any::<bool>(), brief(), name(), name(), name(), queues()).prop_map(
            |(transferred, ticket, from, window, window_name, queues)| {
                if transferred {
                    Transferred {
                        ticket,
                        from,
                        window,
                        window_name,
                        queues,
                    }
                } else {
                    Released {
                        ticket,
                        window,
                        window_name,
                        queues,
                    }
                }
            },
        );
        let evaluated = (
            brief(),
            any::<u8>(),
            proptest::collection::vec(text(), 0..3),
            proptest::option::of(name()),
            proptest::option::of(text()),
        )
            .prop_map(|(ticket, evaluation, reasons, window, officer)| Evaluated {
                ticket,
                evaluation,
                reasons,
                window,
                officer,
            });
        let windows =
            (0..3u8, name(), name(), text()).prop_map(|(k, window, window_name, reason)| match k {
                0 => WindowOpened {
                    window,
                    window_name,
                },
                1 => WindowClosed {
                    window,
                    window_name,
                },
                _ => WindowPaused {
                    window,
                    window_name,
                    reason,
                },
            });
        prop_oneof![
            with_queues.boxed(),
            at_window.boxed(),
            called.boxed(),
            completed.boxed(),
            no_show.boxed(),
            moved.boxed(),
            evaluated.boxed(),
            windows.boxed(),
        ]
        .boxed()
    }

    fn event() -> BoxedStrategy<Event> {
        (any::<u64>(), local(), name(), body())
            .prop_map(|(seq, at, hall, body)| Event {
                seq,
                at,
                hall,
                body,
            })
            .boxed()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// The published bytes are serde_json's, for any event of a kind written by hand.
        #[test]
        fn the_bytes_are_serde_jsons(event in event()) {
            let mut w = Json::with_capacity(0);
            prop_assert!(by_hand(&mut w, &event), "{} is written by hand", event.kind());
            let theirs = serde_json::to_string(&event).unwrap();
            prop_assert_eq!(w.into_string(), theirs.clone());
            prop_assert_eq!(encode(&event), theirs);
        }

        /// A hall record's recent calls too.
        #[test]
        fn a_recent_call_is_serde_jsons(call in call()) {
            prop_assert_eq!(encode_call(&call), serde_json::to_string(&call).unwrap());
        }
    }

    fn at(s: &str) -> LocalTime {
        LocalTime::with_offset(s.parse().unwrap(), Offset::constant(8))
    }

    fn ticket() -> TicketBrief {
        TicketBrief {
            id: "20261204-A001".into(),
            number: "A001".into(),
            service: "s".into(),
            service_name: "户籍办理".into(),
            class: TicketClass::Normal,
            status: TicketStatus::Waiting,
        }
    }

    fn event_of(body: EventBody) -> Event {
        Event {
            seq: 7,
            at: at("2026-12-04T01:00:00.5Z"),
            hall: "h".into(),
            body,
        }
    }

    #[test]
    fn an_issued_ticket_reads_as_the_stream_shows_it() {
        let e = event_of(EventBody::Issued {
            ticket: ticket(),
            queues: vec![QueueCount {
                service: "s".into(),
                waiting: 3,
            }],
        });
        let json = r#"{"seq":7,"at":"2026-12-04T09:00:00.5+08:00","hall":"h","kind":"issued","ticket":{"id":"20261204-A001","number":"A001","service":"s","service_name":"户籍办理","class":"normal","status":"waiting"},"queues":[{"service":"s","waiting":3}]}"#;
        assert_eq!(encode(&e), json);
        assert_eq!(serde_json::to_string(&e).unwrap(), json);
    }

    /// `body`'s kind is left to serde_json: nothing written by hand, serde_json's bytes.
    fn left_to_serde(body: EventBody) {
        let e = event_of(body);
        let mut w = Json::with_capacity(0);
        assert!(!by_hand(&mut w, &e), "{} is left to serde_json", e.kind());
        assert_eq!(w.into_string(), "");
        assert_eq!(encode(&e), serde_json::to_string(&e).unwrap());
    }

    #[test]
    fn a_day_opening_is_left_to_serde() {
        left_to_serde(EventBody::DayOpened {
            date: jiff::civil::date(2026, 12, 4),
            previous: jiff::civil::date(2026, 12, 3),
            expired: 2,
        });
    }

    #[test]
    fn an_officer_signing_in_or_out_is_left_to_serde() {
        use crate::queue::{Absence, Post};
        left_to_serde(EventBody::OfficerSignedIn {
            window: "w1".into(),
            post: Post::B,
            officer: "王芳".into(),
        });
        left_to_serde(EventBody::OfficerSignedOut {
            window: "w1".into(),
            post: Post::A,
            absence: None,
        });
        left_to_serde(EventBody::OfficerSignedOut {
            window: "w1".into(),
            post: Post::A,
            absence: Some(Box::new(Absence {
                note: "会议".into(),
                back_at: Some("2026-12-04T03:00:00Z".parse().unwrap()),
                leave: false,
            })),
        });
    }

    fn alarm(level: &'static str, window: Option<Arc<str>>) -> crate::queue::TicketAlarm {
        crate::queue::TicketAlarm {
            id: format!("h/20261204-A001/{level}"),
            level,
            hall: "h".into(),
            ticket: "20261204-A001".into(),
            number: "A001".into(),
            service: "s".into(),
            window,
            limit_s: 600,
            due_at: at("2026-12-04T01:10:00Z"),
            raised_at: at("2026-12-04T01:10:01Z"),
        }
    }

    #[test]
    fn a_wait_over_target_is_left_to_serde() {
        left_to_serde(EventBody::WaitOverTarget {
            ticket: ticket(),
            alarm: alarm("wait", None),
        });
    }

    #[test]
    fn a_ticket_not_started_is_left_to_serde() {
        left_to_serde(EventBody::NotStarted {
            ticket: ticket(),
            alarm: alarm("start", Some("w1".into())),
        });
    }

    #[test]
    fn a_reclassification_is_left_to_serde() {
        use crate::queue::{Lane, ReclassReason};
        left_to_serde(EventBody::Reclassified {
            ticket: ticket(),
            from: Lane::Appointment,
            to: Lane::Normal,
            reason: ReclassReason::AppointmentLate,
            slot: Some(at("2026-12-04T01:00:00Z")),
            grace_s: 600,
        });
    }

    #[test]
    fn a_schedule_change_is_left_to_serde() {
        let now: Timestamp = "2026-12-04T01:00:00Z".parse().unwrap();
        let config = crate::config::Config::demo();
        let engine = crate::queue::HallEngine::new(config.halls[0].clone(), now);
        left_to_serde(EventBody::ScheduleChanged {
            cause: crate::queue::ScheduleCause::Override,
            date: Some(jiff::civil::date(2026, 12, 5)),
            schedule: engine.schedule(now),
        });
    }

    #[test]
    fn a_booking_is_left_to_serde() {
        use crate::booking::{BookingAction, BookingBrief, BookingStatus, Channel};
        left_to_serde(EventBody::Booking {
            action: BookingAction::Booked,
            booking: BookingBrief {
                code: "K7Q2".into(),
                service: "s".into(),
                start: at("2026-12-05T01:00:00Z"),
                end: at("2026-12-05T01:30:00Z"),
                channel: Channel::Web,
                status: BookingStatus::Booked,
                ticket: None,
                late: false,
                flagged: None,
            },
        });
    }
}
