//! What the API takes from applicants and complainants beside the command: a required text
//! field, and a contact (phone or address) kept only masked for display and as a keyed hash
//! for look-ups, never in clear (DESIGN.md, "Citizens' data").
//!
//! Used by the case and complaint handlers; it never stores or logs anything itself.

use super::problem::Problem;

pub(super) fn required(value: &str, field: &str) -> Result<(), Problem> {
    if value.trim().is_empty() {
        return Err(
            Problem::bad_request("missing-field", format!("`{field}` must not be empty"))
                .field(field),
        );
    }
    Ok(())
}

/// The contact's keyed hash under the booking's citizen key (`[booking] keys`), the same
/// hash family as bookings' ID numbers, so one key rotation covers both. Spaces and dashes do
/// not count (`138-0013 8000` is `13800138000`). Without booking keys only the masked form
/// is kept.
pub(super) fn contact_hash(config: &crate::config::Config, contact: &str) -> Option<String> {
    let keys = config.booking.keys.as_ref()?;
    let bare: String = contact
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .collect();
    Some(keys.current(&bare).0)
}

/// The contact as shown: a phone keeps its first three and last four digits
/// (`138****8000`, the booking's `mask_phone`), anything else its first and last character.
pub(super) fn mask(contact: &str) -> String {
    let digits: String = contact.chars().filter(char::is_ascii_digit).collect();
    if digits.len() >= 7
        && digits.len() == contact.chars().filter(|c| *c != '-' && *c != ' ').count()
    {
        return crate::booking::citizen::mask_phone(&digits);
    }
    let chars: Vec<char> = contact.chars().collect();
    match chars.len() {
        0..=2 => "*".repeat(chars.len().max(1)),
        n => format!("{}{}{}", chars[0], "*".repeat(n - 2), chars[n - 1]),
    }
}

/// A ticket holder's phone, for "your turn is near": masked and hashed like an applicant's
/// contact; the clear number ends here. 400 naming `contact` unless it is a phone number
/// (7 to 20 digits; spaces, dashes and a leading `+` allowed).
pub(super) fn ticket_contact(
    app: &super::AppState,
    phone: &str,
) -> Result<crate::queue::TicketContact, Problem> {
    let phone = phone.trim();
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    let plain = phone
        .chars()
        .enumerate()
        .all(|(i, c)| c.is_ascii_digit() || c == ' ' || c == '-' || (i == 0 && c == '+'));
    if !plain || !(7..=20).contains(&digits) {
        return Err(Problem::bad_request(
            "invalid-field",
            "`contact` is a phone number: 7 to 20 digits (spaces, dashes and a leading + allowed)",
        )
        .field("contact"));
    }
    let bare = phone.trim_start_matches('+');
    Ok(crate::queue::TicketContact {
        contact_masked: mask(bare),
        contact_hash: contact_hash(&app.config, bare),
        notified: false,
    })
}

#[cfg(test)]
mod tests {
    use super::mask;

    #[test]
    fn a_contact_is_masked_so_no_more_than_seven_digits_of_a_phone_show() {
        assert_eq!(mask("13800138000"), "138****8000");
        assert_eq!(mask("138-0013 8000"), "138****8000");
        assert_eq!(mask("wang@example.cn"), "w*************n");
        assert_eq!(mask("ab"), "**");
    }
}
