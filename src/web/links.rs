//! Ticket links: the citizen's capability to watch one ticket without a token.
//!
//! A ticket page URL carries `k = HMAC-SHA256(secret, hall | ticket)`, truncated to 96 bits.
//! The secret is 32 random bytes kept in the data directory (`ticket-links.key`, created on
//! first start, mode 0600), so links printed before a restart keep working after it, and
//! deleting the file revokes every link ever printed. Ticket ids are predictable
//! (`20260101-A023`), so the key, not the id, is what makes a link unguessable; the id's date
//! makes tomorrow's A023 a different link.
//!
//! A link grants reading that one ticket and the hall's public calls, nothing else.

use std::io::Write;
use std::path::{Path, PathBuf};

use hmac::{KeyInit, Mac};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Bytes of the MAC kept in a link: 96 bits, far beyond guessing over HTTP, and short
/// enough to keep the printed QR code small.
const KEY_BYTES: usize = 12;

/// File name of the secret inside the data directory.
pub const SECRET_FILE: &str = "ticket-links.key";

#[derive(Debug, thiserror::Error)]
pub enum LinkKeyError {
    #[error("cannot read or create the ticket-link secret `{path}`: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the ticket-link secret `{path}` is not 64 hex digits; delete it to make a new one")]
    Malformed { path: PathBuf },
    #[error("cannot read random bytes for the ticket-link secret: {0}")]
    Random(getrandom::Error),
}

/// Signs and checks ticket links.
pub struct LinkKeys {
    secret: [u8; 32],
}

impl std::fmt::Debug for LinkKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkKeys(..)")
    }
}

impl LinkKeys {
    /// Read the secret from `dir`, creating it on first use.
    pub fn load_or_create(dir: &Path) -> Result<LinkKeys, LinkKeyError> {
        let path = dir.join(SECRET_FILE);
        let io = |source| LinkKeyError::Io {
            path: path.clone(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                return parse_secret(text.trim())
                    .map(|secret| LinkKeys { secret })
                    .ok_or_else(|| LinkKeyError::Malformed { path: path.clone() });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        let keys = LinkKeys::random()?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&path) {
            Ok(mut f) => {
                writeln!(f, "{}", crate::config::hex(&keys.secret)).map_err(io)?;
                f.sync_all().map_err(io)?;
                Ok(keys)
            }
            // Another process made it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                LinkKeys::load_or_create(dir)
            }
            Err(e) => Err(io(e)),
        }
    }

    /// A secret that lives only as long as the process (links die with it).
    pub fn random() -> Result<LinkKeys, LinkKeyError> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(LinkKeyError::Random)?;
        Ok(LinkKeys { secret })
    }

    fn mac(&self, hall: &str, ticket: &str) -> HmacSha256 {
        let mut mac =
            <HmacSha256 as KeyInit>::new_from_slice(&self.secret).expect("HMAC takes any key");
        mac.update(hall.as_bytes());
        mac.update(b"|");
        mac.update(ticket.as_bytes());
        mac
    }

    /// The `k` of a ticket's link.
    pub fn key(&self, hall: &str, ticket: &str) -> String {
        let tag = self.mac(hall, ticket).finalize().into_bytes();
        crate::config::hex(&tag[..KEY_BYTES])
    }

    /// Whether `k` is the key of this ticket's link (compared in constant time).
    pub fn verify(&self, hall: &str, ticket: &str, k: &str) -> bool {
        let Some(bytes) = unhex(k) else {
            return false;
        };
        bytes.len() == KEY_BYTES && self.mac(hall, ticket).verify_truncated_left(&bytes).is_ok()
    }
}

fn parse_secret(text: &str) -> Option<[u8; 32]> {
    unhex(text)?.try_into().ok()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_opens_only_its_own_ticket() {
        let keys = LinkKeys::random().unwrap();
        let k = keys.key("city", "20260101-A001");
        assert_eq!(k.len(), 2 * KEY_BYTES);
        assert!(keys.verify("city", "20260101-A001", &k));
        assert!(!keys.verify("city", "20260101-A002", &k));
        assert!(!keys.verify("county", "20260101-A001", &k));
        assert!(!keys.verify("city", "20260101-A001", &k[..20]));
        assert!(!keys.verify("city", "20260101-A001", "not hex at all!!!!!!!!!!"));
        // The separator keeps hall and ticket apart: "cit|y…" is not "city|…".
        assert_ne!(keys.key("cit", "y|20260101-A001"), k);
        let other = LinkKeys::random().unwrap();
        assert!(!other.verify("city", "20260101-A001", &k));
    }

    #[test]
    fn the_secret_survives_a_restart_and_is_private() {
        let dir =
            std::env::temp_dir().join(format!("hallq-links-{}-{}", std::process::id(), line!()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let first = LinkKeys::load_or_create(&dir).unwrap();
        let again = LinkKeys::load_or_create(&dir).unwrap();
        let k = first.key("city", "20260101-A001");
        assert!(again.verify("city", "20260101-A001", &k));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join(SECRET_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "the secret must not be readable by others");
        }
        std::fs::write(dir.join(SECRET_FILE), "nonsense").unwrap();
        assert!(matches!(
            LinkKeys::load_or_create(&dir),
            Err(LinkKeyError::Malformed { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
