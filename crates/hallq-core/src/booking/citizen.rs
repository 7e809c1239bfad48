//! Citizen identifiers (身份证号, phone numbers) as hallq keeps them: a keyed hash for limits
//! and check-in, a masked form for display. The clear text lives only in the request being
//! handled; this module must never return it, log it or put it in a record.

use std::sync::Arc;

use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The keyed hash of a citizen's ID number (hex of HMAC-SHA256 under one key). Stored in
/// booking records; without the key it cannot be reversed or checked against a list of IDs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CitizenHash(pub String);

/// The hashing keys: the first hashes new bookings, every key matches old ones, so a key can
/// be rotated by putting the new one first and dropping the old one once its bookings are
/// past the no-show window.
///
/// Each key is kept as an HMAC already keyed (its inner and outer pads hashed once, at
/// start), shared: a request clones that state instead of re-keying, and cloning `Keys` is
/// one reference count.
#[derive(Clone)]
pub struct Keys(Arc<[HmacSha256]>);

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keys({} keys)", self.0.len())
    }
}

impl Keys {
    pub fn new(keys: Vec<Vec<u8>>) -> Keys {
        assert!(!keys.is_empty(), "validation guarantees one key");
        Keys(
            keys.iter()
                .map(|k| <HmacSha256 as KeyInit>::new_from_slice(k).expect("HMAC takes any key"))
                .collect(),
        )
    }

    /// The hash under the current key, what a new booking records.
    pub fn current(&self, id_number: &str) -> CitizenHash {
        hash(&self.0[0], &normalize(id_number))
    }

    /// The hashes under every key, what a lookup compares with; the first is `current`'s.
    pub fn all(&self, id_number: &str) -> Vec<CitizenHash> {
        let id = normalize(id_number);
        self.0.iter().map(|k| hash(k, &id)).collect()
    }
}

fn hash(keyed: &HmacSha256, normalized: &str) -> CitizenHash {
    let mut mac = keyed.clone();
    mac.update(normalized.as_bytes());
    let out = mac.finalize().into_bytes();
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(out.len() * 2);
    for b in out.iter() {
        hex.push(char::from(DIGITS[usize::from(b >> 4)]));
        hex.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    CitizenHash(hex)
}

/// An ID number as compared: no spaces, the check letter upper case (`x` and `X` are one).
pub fn normalize(id_number: &str) -> String {
    id_number
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Whether `id` looks like a resident ID number: 15 digits, or 17 digits and a digit or X.
/// (The checksum is not verified: a hall also books foreigners' permit numbers.)
pub fn plausible_id(id: &str) -> bool {
    let id = normalize(id);
    (6..=32).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric())
}

/// `4401**********123X`: the first four and the last four characters.
pub fn mask_id(id: &str) -> String {
    mask(&normalize(id), 4, 4)
}

/// `138****0000`: the first three and the last four digits.
pub fn mask_phone(phone: &str) -> String {
    let p: String = phone.chars().filter(|c| !c.is_whitespace()).collect();
    mask(&p, 3, 4)
}

/// `张*`, `欧阳**`: the first character only.
pub fn mask_name(name: &str) -> String {
    let mut chars = name.trim().chars();
    match chars.next() {
        None => String::new(),
        Some(first) => std::iter::once(first).chain(chars.map(|_| '*')).collect(),
    }
}

fn mask(s: &str, head: usize, tail: usize) -> String {
    let n = s.chars().count();
    if n <= head + tail {
        return "*".repeat(n);
    }
    s.chars()
        .enumerate()
        .map(|(i, c)| if i < head || i >= n - tail { c } else { '*' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_only_the_ends() {
        assert_eq!(mask_id("44010619900101123x"), "4401**********123X");
        assert_eq!(mask_phone("13800000000"), "138****0000");
        assert_eq!(mask_name("欧阳修"), "欧**");
        assert_eq!(mask_phone("123"), "***");
    }

    #[test]
    fn hashes_depend_on_the_key_and_not_on_case_or_spaces() {
        let keys = Keys::new(vec![b"new".to_vec(), b"old".to_vec()]);
        let a = keys.current("44010619900101123X");
        assert_eq!(a, keys.current(" 44010619900101123x"));
        assert_ne!(
            a,
            Keys::new(vec![b"old".to_vec()]).current("44010619900101123X")
        );
        assert!(keys.all("44010619900101123X").contains(&a));
        assert!(!a.0.contains("440106"));
        // The pre-keyed state gives what keying afresh gives, so stored hashes stay valid.
        let mut fresh = <HmacSha256 as KeyInit>::new_from_slice(b"new").unwrap();
        fresh.update(b"44010619900101123X");
        let want: String = fresh
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(a.0, want);
    }
}
