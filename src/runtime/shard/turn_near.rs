//! "Your turn is near" into the outbox (DESIGN.md, "Applicant notifications"): after a pass
//! changed a hall, every waiting ticket with a contact whose position reached the hall's
//! `turn_near` is marked told in the engine and gets one outbox record per webhook that wants
//! `ticket.turn_near`, both in the batch that carries the hall's changes: the notification
//! exists exactly when the change that moved the ticket is durable, and it is written once
//! per ticket. Delivery is `notify`'s; this never sends anything. The body carries the
//! contact only masked and hashed: hallq never holds the clear number.

use jiff::Timestamp;
use serde::Serialize;

use crate::config::{Config, NotifyEvent};
use crate::queue::{HallEngine, TicketContact, TicketView};
use crate::runtime::cases::{delivery_id, pending};
use crate::store::Batch;

/// What the receiver gets.
#[derive(Serialize)]
struct Body<'a> {
    id: &'a str,
    event: &'static str,
    hall: &'a str,
    ticket: &'a str,
    number: &'a str,
    /// 1 = next to be called in its service.
    position: u32,
    estimated_wait_s: u64,
    contact: &'a TicketContact,
    detail: &'a TicketView,
}

/// Add to `batch` the turn-near notifications of `hall` due at `now`; nothing when no
/// webhook wants them or the hall's `turn_near` is 0 (then no ticket is marked either, so
/// turning them on later tells the tickets still waiting). `clustered`: each record is
/// written under the hall's share of the log of record (`Notification::op`).
pub(super) fn outbox(
    config: &Config,
    hall: &mut HallEngine,
    now: Timestamp,
    clustered: bool,
    batch: &mut Batch,
) {
    let within = hall.config().policy.turn_near;
    let hooks: Vec<_> = config
        .webhooks
        .iter()
        .filter(|w| w.wants(NotifyEvent::TurnNear))
        .collect();
    if within == 0 || hooks.is_empty() {
        return;
    }
    let near = hall.turn_near(within, now);
    if near.is_empty() {
        return;
    }
    let hall_id = hall.config().id.clone();
    let salt = crate::runtime::cases::salt();
    let mut n = 0u32;
    for t in &near {
        for w in &hooks {
            n += 1;
            let id = delivery_id(now, n, &salt, &w.name);
            let body = Body {
                id: &id,
                event: NotifyEvent::TurnNear.as_str(),
                hall: &hall_id,
                ticket: &t.ticket.id,
                number: &t.ticket.number,
                position: t.ticket.position,
                estimated_wait_s: t.ticket.estimated_wait_s,
                contact: &t.contact,
                detail: &t.ticket,
            };
            let body = serde_json::to_string(&body).expect("bodies serialize");
            // The dead-letter list names the ticket where it names a case.
            let subject = (&*hall_id, t.ticket.id.as_str());
            let note = pending(id, w, NotifyEvent::TurnNear, subject, body, now);
            batch.ops.push(note.op(clustered));
        }
    }
}
