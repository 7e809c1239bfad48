//! A ticket's record as JSON, written by hand: the bytes of `serde_json::to_vec(&TicketRecord)`.
//!
//! Why: every ticket operation stores its ticket's record, and through serde_json it was the
//! shards' largest single cost (~19 % of a shard's instructions in the mixed load test,
//! BENCHMARKS.md "Ticket records written by hand"): every key escaped byte by byte, each of
//! up to eight instants through jiff's general printer and `collect_str`'s escaping in
//! pieces, and the buffer grown from empty. Here keys are written as they are, strings that
//! need no escaping are copied, instants are rendered by `localtime::utc_text`, and the
//! buffer is sized once. Whatever is rare or nested (a string that needs escaping, an instant
//! outside years 0001-9999, the enums, a contact, a reclassification) goes through serde_json
//! itself, so its bytes are serde_json's by construction. The tests compare the two for any
//! record. It never touches the engine or the store.

use super::json::Json;
use crate::queue::TicketRecord;

/// A completed ticket's record is ~600 bytes; one allocation fits it and one with a contact.
const CAPACITY: usize = 1024;

/// `record` as `serde_json::to_vec` writes it. Destructured without `..`, so a field added to
/// `TicketRecord` fails to compile here instead of going missing from the store.
pub(super) fn encode(record: &TicketRecord) -> Vec<u8> {
    let TicketRecord {
        id,
        origin,
        seq,
        service,
        class,
        status,
        lane,
        order,
        first_order,
        issued_at,
        waiting_since,
        slot,
        checked_in_at,
        called_at,
        started_at,
        finished_at,
        window,
        call_count,
        reason,
        evaluation,
        officer,
        reasons,
        transfers,
        no_show_at,
        first_called_at,
        wait_alarmed,
        start_alarmed,
        reclassified,
        contact,
    } = record;
    let mut w = Json::with_capacity(CAPACITY);
    w.raw("{\"id\":");
    w.string(id);
    w.raw(",\"origin\":");
    w.string(origin);
    w.raw(",\"seq\":");
    w.int(*seq);
    w.raw(",\"service\":");
    w.string(service);
    w.raw(",\"class\":");
    w.serde(class);
    w.raw(",\"status\":");
    w.serde(status);
    w.raw(",\"lane\":");
    w.serde(lane);
    w.raw(",\"order\":");
    w.int(*order);
    w.raw(",\"first_order\":");
    w.int(*first_order);
    w.raw(",\"issued_at\":");
    w.instant(*issued_at);
    w.raw(",\"waiting_since\":");
    w.instant(*waiting_since);
    w.raw(",\"slot\":");
    w.opt_instant(*slot);
    w.raw(",\"checked_in_at\":");
    w.opt_instant(*checked_in_at);
    w.raw(",\"called_at\":");
    w.opt_instant(*called_at);
    w.raw(",\"started_at\":");
    w.opt_instant(*started_at);
    w.raw(",\"finished_at\":");
    w.opt_instant(*finished_at);
    w.raw(",\"window\":");
    match window {
        Some(s) => w.string(s),
        None => w.raw("null"),
    }
    w.raw(",\"call_count\":");
    w.int(*call_count);
    w.raw(",\"reason\":");
    w.serde(reason);
    w.raw(",\"evaluation\":");
    match evaluation {
        Some(e) => w.int(*e),
        None => w.raw("null"),
    }
    if let Some(officer) = officer {
        w.raw(",\"officer\":");
        w.string(officer);
    }
    if !reasons.is_empty() {
        w.raw(",\"reasons\":");
        w.serde(reasons);
    }
    w.raw(",\"transfers\":");
    w.int(*transfers);
    w.raw(",\"no_show_at\":");
    w.opt_instant(*no_show_at);
    w.raw(",\"first_called_at\":");
    w.opt_instant(*first_called_at);
    w.raw(",\"wait_alarmed\":");
    w.bool(*wait_alarmed);
    w.raw(",\"start_alarmed\":");
    w.bool(*start_alarmed);
    if let Some(r) = reclassified {
        w.raw(",\"reclassified\":");
        w.serde(r);
    }
    if let Some(c) = contact {
        w.raw(",\"contact\":");
        w.serde(c);
    }
    w.raw("}");
    w.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::super::json::arbitrary::{class, instant, reason, status, text};
    use super::*;
    use crate::queue::{Lane, Reclass, ReclassReason};
    use proptest::prelude::*;
    use proptest::sample::select;

    fn lane() -> impl Strategy<Value = Lane> {
        select(vec![Lane::Normal, Lane::Priority, Lane::Appointment])
    }

    fn reclass() -> impl Strategy<Value = Reclass> {
        use ReclassReason::*;
        let why = select(vec![AppointmentLate, Transferred, Reactivated, Returned]);
        (lane(), lane(), why, instant()).prop_map(|(from, to, reason, at)| Reclass {
            from,
            to,
            reason,
            at,
        })
    }

    fn contact() -> impl Strategy<Value = crate::queue::TicketContact> {
        (text(), proptest::option::of(text()), any::<bool>()).prop_map(
            |(contact_masked, contact_hash, notified)| crate::queue::TicketContact {
                contact_masked,
                contact_hash,
                notified,
            },
        )
    }

    fn record() -> impl Strategy<Value = TicketRecord> {
        use proptest::option::of;
        let names = (text(), text(), text(), of(text()), of(text()));
        let numbers = (
            any::<u32>(),
            any::<i64>(),
            any::<i64>(),
            any::<u8>(),
            of(any::<u8>()),
            any::<u8>(),
        );
        let kinds = (class(), status(), of(lane()), of(reason()));
        let times = (
            instant(),
            instant(),
            proptest::collection::vec(of(instant()), 7),
        );
        let rest = (
            proptest::collection::vec(text(), 0..3),
            any::<(bool, bool)>(),
            of(reclass()),
            of(contact()),
        );
        (names, numbers, kinds, times, rest).prop_map(
            |(
                (id, origin, service, window, officer),
                (seq, order, first_order, call_count, evaluation, transfers),
                (class, status, lane, reason),
                (issued_at, waiting_since, t),
                (reasons, (wait_alarmed, start_alarmed), reclassified, contact),
            )| TicketRecord {
                id,
                origin,
                seq,
                service,
                class,
                status,
                lane,
                order,
                first_order,
                issued_at,
                waiting_since,
                slot: t[0],
                checked_in_at: t[1],
                called_at: t[2],
                started_at: t[3],
                finished_at: t[4],
                window,
                call_count,
                reason,
                evaluation,
                officer,
                reasons,
                transfers,
                no_show_at: t[5],
                first_called_at: t[6],
                wait_alarmed,
                start_alarmed,
                reclassified,
                contact,
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// The stored bytes are serde_json's, for any record.
        #[test]
        fn the_bytes_are_serde_jsons(record in record()) {
            let ours = String::from_utf8(encode(&record)).unwrap();
            let theirs = serde_json::to_string(&record).unwrap();
            prop_assert_eq!(ours, theirs);
        }
    }

    #[test]
    fn a_completed_ticket_reads_back_as_it_was_written() {
        let json = r#"{"id":"20261204-A001","origin":"s","seq":1,"service":"s","class":"normal","status":"done","lane":null,"order":3,"first_order":3,"issued_at":"2026-12-04T01:00:00Z","waiting_since":"2026-12-04T01:00:00Z","slot":null,"checked_in_at":null,"called_at":"2026-12-04T01:02:03.5Z","started_at":"2026-12-04T01:03:00Z","finished_at":"2026-12-04T01:09:00Z","window":"w1","call_count":1,"reason":"fifo","evaluation":5,"officer":"王芳","transfers":0,"no_show_at":null,"first_called_at":"2026-12-04T01:02:03.5Z","wait_alarmed":false,"start_alarmed":false}"#;
        let record: TicketRecord = serde_json::from_str(json).unwrap();
        assert_eq!(String::from_utf8(encode(&record)).unwrap(), json);
    }
}
