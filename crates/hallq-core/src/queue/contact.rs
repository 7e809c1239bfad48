//! "Your turn is near" (DESIGN.md, "Applicant notifications"): a ticket issued with a
//! contact keeps it masked and as a keyed hash (the caller masks and hashes; nothing here is
//! ever in clear), and is told once when its position in its service reaches a threshold.
//!
//! Owns the contact's record and the once-per-ticket mark, which is stored with the ticket
//! (the shard writes the notification in the same batch as the record that marks it, so a
//! restart neither loses nor repeats it). Never sends anything, never reads the clock.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::engine::HallEngine;
use super::{QueueError, TicketStatus, TicketView};

/// A ticket holder's contact as kept: masked for display, hashed for the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketContact {
    /// `138****8000`.
    pub contact_masked: String,
    /// HMAC-SHA256 under the citizen key (`[booking] keys`): the hall's SMS gateway keeps the
    /// directory from hash to number. Absent without booking keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_hash: Option<String>,
    /// "Your turn is near" was written to the outbox (once per ticket).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub notified: bool,
}

/// A ticket whose turn is near, as the notification tells it.
#[derive(Debug, Clone, Serialize)]
pub struct TurnNear {
    pub ticket: TicketView,
    pub contact: TicketContact,
}

impl HallEngine {
    /// Give ticket `id` a contact to notify (replacing one it had; a ticket already told
    /// stays told).
    pub fn set_contact(&mut self, id: &str, mut contact: TicketContact) -> Result<(), QueueError> {
        let idx = self.lookup(id)?;
        let t = &mut self.tickets[idx as usize];
        contact.notified = t.contact.as_ref().is_some_and(|c| c.notified);
        t.contact = Some(Box::new(contact));
        self.touch(idx);
        Ok(())
    }

    /// The waiting tickets with a contact not yet told whose position in their service is
    /// `within` or better (an appointment not callable yet has no position): each is marked
    /// told, its record changed, and returned once.
    pub fn turn_near(&mut self, within: u32, now: Timestamp) -> Vec<TurnNear> {
        let due: Vec<u32> = (0..self.tickets.len() as u32)
            .filter(|&i| {
                let t = &self.tickets[i as usize];
                t.status == TicketStatus::Waiting && t.contact.as_ref().is_some_and(|c| !c.notified)
            })
            .filter(|&i| (1..=within).contains(&self.position(i, now)))
            .collect();
        due.into_iter()
            .map(|i| {
                let ticket = self.view(i, now);
                let t = &mut self.tickets[i as usize];
                let c = t.contact.as_mut().expect("filtered on a contact");
                c.notified = true;
                let contact = (**c).clone();
                self.touch(i);
                TurnNear { ticket, contact }
            })
            .collect()
    }
}
