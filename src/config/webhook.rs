//! `[[webhook]]`, validated: where applicant notifications are delivered (an SMS or messaging
//! gateway), the secret that signs them and which events each receives. Data only: the
//! delivery itself is `notify`; this module never opens a socket.

use std::sync::Arc;

/// What an applicant is told (DESIGN.md, "Applicant notifications").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotifyEvent {
    /// The case was accepted (受理), at the counter or after an online submission.
    Accepted,
    /// The case was suspended; a 补正 notice lists what is missing.
    Suspended,
    Resumed,
    /// The outcome: not accepted, approved, refused, revoked.
    Outcome,
    /// The result waits at the window (窗口领取).
    ReadyForPickup,
    /// A ticket with a contact is near the head of its queue (position ≤ `turn_near`).
    TurnNear,
    /// 一件事一次办: every matter of a bundle is decided; the results wait at the front desk.
    BundleReady,
}

impl NotifyEvent {
    pub const ALL: [NotifyEvent; 7] = [
        NotifyEvent::Accepted,
        NotifyEvent::Suspended,
        NotifyEvent::Resumed,
        NotifyEvent::Outcome,
        NotifyEvent::ReadyForPickup,
        NotifyEvent::TurnNear,
        NotifyEvent::BundleReady,
    ];

    /// The name in the config and in the delivered body (`"event"`).
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyEvent::Accepted => "case.accepted",
            NotifyEvent::Suspended => "case.suspended",
            NotifyEvent::Resumed => "case.resumed",
            NotifyEvent::Outcome => "case.outcome",
            NotifyEvent::ReadyForPickup => "case.ready_for_pickup",
            NotifyEvent::TurnNear => "ticket.turn_near",
            NotifyEvent::BundleReady => "bundle.ready",
        }
    }

    pub fn parse(s: &str) -> Option<NotifyEvent> {
        NotifyEvent::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

/// One receiver of notifications.
#[derive(Clone)]
pub struct Webhook {
    /// Names the receiver in delivery ids, metrics and the dead-letter list.
    pub name: Arc<str>,
    /// `http://host:port/path` or `https://…`.
    pub url: String,
    /// DER certificates (from the webhook's `ca` file) trusted for this receiver besides the
    /// system's roots; empty when the file is not given.
    pub ca: Vec<rustls_pki_types::CertificateDer<'static>>,
    /// The HMAC-SHA256 key of `X-Hallq-Signature`; never logged.
    pub secret: Vec<u8>,
    pub events: Vec<NotifyEvent>,
    /// Attempts before a notification becomes a dead letter.
    pub max_attempts: u32,
    /// Age (seconds since it was written) after which an undelivered notification is dead.
    pub max_age_s: u64,
    /// The first retry waits this long; each next one twice as long, up to `backoff_max_s`.
    pub backoff_s: u64,
    pub backoff_max_s: u64,
    /// One attempt's limit, connection and answer together.
    pub timeout_s: u64,
}

impl Webhook {
    pub fn wants(&self, event: NotifyEvent) -> bool {
        self.events.contains(&event)
    }

    /// The wait after `attempts` failed attempts: `backoff_s · 2^(attempts-1)`, capped.
    pub fn backoff(&self, attempts: u32) -> u64 {
        let doubled = self
            .backoff_s
            .saturating_mul(1u64 << attempts.saturating_sub(1).min(32));
        doubled.min(self.backoff_max_s)
    }
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_stops_at_the_cap() {
        let w = Webhook {
            name: "gw".into(),
            url: "http://127.0.0.1:1/".into(),
            ca: Vec::new(),
            secret: b"k".to_vec(),
            events: NotifyEvent::ALL.to_vec(),
            max_attempts: 10,
            max_age_s: 86_400,
            backoff_s: 2,
            backoff_max_s: 60,
            timeout_s: 10,
        };
        let waits: Vec<u64> = (1..=7).map(|n| w.backoff(n)).collect();
        assert_eq!(waits, [2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(w.backoff(200), 60);
    }
}
