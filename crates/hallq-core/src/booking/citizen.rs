//! Citizen identifiers (身份证号, phone numbers) as hallq keeps them: a keyed hash for limits
//! and check-in, a masked form for display. The clear text lives only in the request being
//! handled; this module must never return it, log it or put it in a record.

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
#[derive(Clone)]
pub struct Keys(Vec<Vec<u8>>);

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keys({} keys)", self.0.len())
    }
}

impl Keys {
    pub fn new(keys: Vec<Vec<u8>>) -> Keys {
        assert!(!keys.is_empty(), "validation guarantees one key");
        Keys(keys)
    }

    /// The hash under the current key, what a new booking records.
    pub fn current(&self, id_number: &str) -> CitizenHash {
        hash(&self.0[0], id_number)
    }

    /// The hashes under every key, what a lookup compares with.
    pub fn all(&self, id_number: &str) -> Vec<CitizenHash> {
        self.0.iter().map(|k| hash(k, id_number)).collect()
    }
}

fn hash(key: &[u8], id_number: &str) -> CitizenHash {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(normalize(id_number).as_bytes());
    let out = mac.finalize().into_bytes();
    CitizenHash(out.iter().map(|b| format!("{b:02x}")).collect())
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
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= head + tail {
        return "*".repeat(chars.len());
    }
    chars
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            if i < head || i >= chars.len() - tail {
                c
            } else {
                '*'
            }
        })
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
    }
}
