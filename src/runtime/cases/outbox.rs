//! Applicant notifications into the outbox (DESIGN.md, "Applicant notifications"): the
//! milestones of a pass (accepted, suspended with the 补正 notice, resumed, outcome, ready for
//! pickup) become outbox records in the batch that carries the events themselves, so a
//! notification exists exactly when its event is durable. Delivery is `notify`'s; this
//! never sends anything. The body carries the applicant only masked and hashed.

use jiff::Timestamp;
use serde::Serialize;

use crate::config::{Config, NotifyEvent, Webhook};
use crate::deadline::{
    Applicant, BundleView, CaseChange, CaseEvent, CaseEventBody, DeliveryMethod,
};
use crate::store::{Batch, Notification};

/// What the receiver gets: the milestone, the case event as the `@cases` stream carries it,
/// and the applicant (masked, hashed).
#[derive(Serialize)]
struct Body<'a> {
    id: &'a str,
    event: &'static str,
    hall: &'a str,
    case: &'a str,
    matter: &'a str,
    applicant: &'a Applicant,
    detail: &'a CaseEvent,
}

/// What the receiver gets when a bundle is ready: the bundle as `GET /v1/bundles/{id}` shows
/// it, its applicant masked and hashed.
#[derive(Serialize)]
struct BundleBody<'a> {
    id: &'a str,
    event: &'static str,
    hall: &'a str,
    bundle: &'a str,
    applicant: &'a Applicant,
    detail: &'a BundleView,
}

/// The milestone an event is, and its case, if applicants hear of it.
fn milestone(body: &CaseEventBody) -> Option<(NotifyEvent, &str)> {
    Some(match body {
        CaseEventBody::Accepted { case } => (NotifyEvent::Accepted, &case.id),
        CaseEventBody::AcceptedOnline { case, .. } => (NotifyEvent::Accepted, case),
        CaseEventBody::Suspended { case, .. } => (NotifyEvent::Suspended, case),
        CaseEventBody::Resumed { case } => (NotifyEvent::Resumed, case),
        CaseEventBody::Outcome { case, .. } => (NotifyEvent::Outcome, case),
        _ => return None,
    })
}

/// An outcome whose result waits at the window also tells the applicant to come for it.
fn ready_for_pickup(body: &CaseEventBody) -> bool {
    matches!(body, CaseEventBody::Outcome { delivery: Some(d), .. } if d.method == DeliveryMethod::Window)
}

/// Add to `batch` one outbox record per milestone among `events` and webhook that wants it,
/// for cases whose applicant left a contact, then one per bundle the pass made `ready`.
/// `changes` holds the record of every case the pass changed (every event's case among
/// them). Ids sort by `now`, then by position. `clustered`: each record is written under
/// the case engine's share of the log of record (`Notification::op`).
pub(super) fn outbox(
    config: &Config,
    (events, changes, ready): (&[CaseEvent], &[CaseChange], &[BundleView]),
    now: Timestamp,
    clustered: bool,
    batch: &mut Batch,
) {
    if config.webhooks.is_empty() {
        return;
    }
    let mut n = 0u32;
    let salt = salt();
    for e in events {
        let Some((first, case)) = milestone(&e.body) else {
            continue;
        };
        let Some(record) = changes.iter().map(|c| &c.record).find(|r| r.id == case) else {
            continue;
        };
        let Some(applicant) = record.details.applicant.as_ref().filter(|a| reachable(a)) else {
            continue;
        };
        let kinds = std::iter::once(first)
            .chain(ready_for_pickup(&e.body).then_some(NotifyEvent::ReadyForPickup));
        for kind in kinds {
            for w in config.webhooks.iter().filter(|w| w.wants(kind)) {
                n += 1;
                let id = delivery_id(now, n, &salt, &w.name);
                let body = Body {
                    id: &id,
                    event: kind.as_str(),
                    hall: &record.hall,
                    case,
                    matter: &record.matter,
                    applicant,
                    detail: e,
                };
                let body = serde_json::to_string(&body).expect("bodies serialize");
                let note = pending(id, w, kind, (&record.hall, case), body, now);
                batch.ops.push(note.op(clustered));
            }
        }
    }
    for b in ready {
        let Some(applicant) = b.applicant.as_ref().filter(|a| reachable(a)) else {
            continue;
        };
        let kind = NotifyEvent::BundleReady;
        for w in config.webhooks.iter().filter(|w| w.wants(kind)) {
            n += 1;
            let id = delivery_id(now, n, &salt, &w.name);
            let body = BundleBody {
                id: &id,
                event: kind.as_str(),
                hall: &b.hall,
                bundle: &b.id,
                applicant,
                detail: b,
            };
            let body = serde_json::to_string(&body).expect("bodies serialize");
            // The dead-letter list names the bundle where it names a case.
            let note = pending(id, w, kind, (&b.hall, &b.id), body, now);
            batch.ops.push(note.op(clustered));
        }
    }
}

/// Whether the applicant left a contact: only then is anyone notified.
fn reachable(a: &Applicant) -> bool {
    a.contact_masked.is_some() || a.contact_hash.is_some()
}

/// A new notification of `event` about `subject` (a case, bundle or ticket of `hall`) for
/// webhook `w`, due at once.
pub(crate) fn pending(
    id: String,
    w: &Webhook,
    event: NotifyEvent,
    (hall, subject): (&str, &str),
    body: String,
    now: Timestamp,
) -> Notification {
    Notification {
        body,
        id,
        webhook: w.name.clone(),
        event: event.as_str().to_owned(),
        hall: hall.into(),
        case: subject.to_owned(),
        created_at: now,
        attempts: 0,
        next_at: now,
        last_error: None,
        dead_at: None,
    }
}

/// A notification's delivery id: the commit's millisecond, its position among the pass's
/// notifications, the pass's salt and the webhook; ids sort in the order they were written.
pub(crate) fn delivery_id(now: Timestamp, n: u32, salt: &str, webhook: &str) -> String {
    format!("{:013}-{n:04}-{salt}-{webhook}", now.as_millisecond())
}

/// 8 hex digits, so ids written in the same millisecond by two passes (or after a restart
/// with the clock set back) never collide.
pub(crate) fn salt() -> String {
    let mut r = [0u8; 4];
    if getrandom::fill(&mut r).is_err() {
        // No entropy: the time and position still order the ids; a clash needs two passes
        // in one millisecond.
        return "00000000".into();
    }
    crate::config::hex(&r)
}
