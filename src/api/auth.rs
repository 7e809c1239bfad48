//! Bearer tokens: who is calling, in which role, over which halls.
//!
//! Tokens are looked up by their SHA-256, so the daemon never holds a token in clear. A
//! token's scope is a set of subtree roots: a city's token covers its counties, townships
//! and villages. Scopes are expanded to one flag per hall at start-up, so a check is an
//! index, not a walk up the tree.

use std::sync::{Arc, PoisonError, RwLock};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use siphasher::sip128::SipHasher13;

use super::AppState;
use super::problem::Problem;
use crate::config::{Config, Role, token_hash};
use crate::hash::FastMap;

/// What a request may do, independent of the hall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Perm {
    /// See halls, tickets, windows and streams.
    Read,
    /// Take a number (kiosk, or a counter issuing on a citizen's behalf).
    Issue,
    /// Cancel, check in, reactivate, return, evaluate a ticket.
    TicketAction,
    /// Operate a window.
    Operate,
    /// See cases and the case stream.
    CaseRead,
    /// Follow the case stream of the token's halls: the public progress board (办件进度公示)
    /// shows what it carries, the applicant masked.
    Progress,
    /// Accept cases and record what happens to them.
    CaseWrite,
    /// Read and acknowledge alarms (电子监察).
    Alarms,
    /// Replace calendars.
    Admin,
    /// Read statistics (hall managers, supervision).
    Stats,
    /// Set or remove dated overrides of a hall's opening hours (临时闭厅, 延时服务).
    Hours,
    /// See slots, book and cancel bookings (预约); the channel decides which role may book.
    Book,
}

impl Perm {
    fn name(self) -> &'static str {
        match self {
            Perm::Read => "read this hall",
            Perm::Issue => "issue tickets",
            Perm::TicketAction => "change tickets",
            Perm::Operate => "operate windows",
            Perm::CaseRead => "read cases",
            Perm::Progress => "follow case progress",
            Perm::CaseWrite => "change cases",
            Perm::Alarms => "read alarms",
            Perm::Admin => "administer the daemon",
            Perm::Stats => "read statistics",
            Perm::Hours => "change opening hours",
            Perm::Book => "book appointments",
        }
    }
}

fn allows(role: Role, perm: Perm) -> bool {
    match role {
        Role::Admin => true,
        Role::Counter => matches!(
            perm,
            Perm::Read | Perm::Issue | Perm::TicketAction | Perm::Operate | Perm::Book
        ),
        Role::Kiosk => matches!(
            perm,
            Perm::Read | Perm::Issue | Perm::TicketAction | Perm::Book
        ),
        Role::Booking => perm == Perm::Book,
        Role::Display => matches!(perm, Perm::Read | Perm::Progress),
        Role::Supervisor => matches!(
            perm,
            Perm::Read | Perm::CaseRead | Perm::Progress | Perm::Alarms | Perm::Stats
        ),
        Role::CaseOfficer => matches!(
            perm,
            Perm::Read | Perm::CaseRead | Perm::Progress | Perm::CaseWrite | Perm::Alarms
        ),
    }
}

#[derive(Debug)]
pub struct TokenEntry {
    pub name: Arc<str>,
    pub role: Role,
    /// One flag per hall: whether this token's scope covers it.
    pub halls: Vec<bool>,
}

/// Tokens by hash, built once from the config, and the tokens already verified.
#[derive(Debug)]
pub struct Tokens {
    by_hash: FastMap<[u8; 32], Arc<TokenEntry>>,
    verified: Verified,
}

impl Tokens {
    pub fn new(config: &Config) -> Tokens {
        let n = config.halls.len();
        let by_hash = config
            .tokens
            .iter()
            .map(|t| {
                let halls = (0..n)
                    .map(|h| {
                        t.halls
                            .as_ref()
                            .is_none_or(|roots| roots.iter().any(|&r| config.is_within(h, r)))
                    })
                    .collect();
                let entry = TokenEntry {
                    name: t.name.clone(),
                    role: t.role,
                    halls,
                };
                (t.sha256, Arc::new(entry))
            })
            .collect();
        Tokens {
            by_hash,
            verified: Verified::new(),
        }
    }

    fn find(&self, token: &str) -> Option<Arc<TokenEntry>> {
        let digest = self.verified.digest(token);
        if let Some(entry) = self.verified.get(digest) {
            return Some(entry);
        }
        let entry = self.by_hash.get(&token_hash(token)).cloned()?;
        self.verified.insert(digest, &entry, self.by_hash.len());
        Some(entry)
    }

    /// Whether `token` is one of the configured tokens.
    pub fn knows(&self, token: &str) -> bool {
        self.find(token).is_some()
    }
}

/// The tokens presented since start that SHA-256 matched a configured hash, by a keyed
/// digest of the token as presented: a request with a token seen before costs one
/// SipHash-1-3 (~150 instructions for a 32-byte token) instead of one SHA-256 (~4,800).
///
/// Why this is as safe as looking every token up by its SHA-256:
/// - No token is held in clear: the cache holds SipHash-1-3-128 under a 128-bit key drawn
///   from the OS at start, which never leaves this process (not logged, not stored, not in
///   a backup). SipHash is a pseudo-random function under a secret key: without the key,
///   a digest reveals nothing about the token, and a memory dump gives at most the key and
///   digests, from which a token is found only by guessing it (as from its SHA-256).
/// - A wrong token is accepted only if its digest equals a verified token's. With the key
///   secret, each guess succeeds with probability (verified tokens) / 2^128, whatever the
///   attacker learns from answers or timing (a lookup's timing depends on the digest, which
///   is keyed; it says nothing about the token). Unknown tokens are never cached: they
///   still cost a SHA-256 each, and cannot grow or evict anything.
/// - Entries go in only after the SHA-256 check, so the cache never holds more entries
///   than there are configured tokens (checked on insert), and it lives and dies with its
///   `Tokens`: tokens come from the config, read once at start; anything that ever rebuilt
///   `Tokens` (a reload) would start with an empty cache, so a revoked token is never
///   trusted from it.
#[derive(Debug)]
struct Verified {
    key: SipHasher13,
    seen: RwLock<FastMap<u128, Arc<TokenEntry>>>,
}

impl Verified {
    fn new() -> Verified {
        let mut key = [0u8; 16];
        getrandom::fill(&mut key).expect("the operating system's random source works");
        Verified {
            key: SipHasher13::new_with_key(&key),
            seen: RwLock::default(),
        }
    }

    fn digest(&self, token: &str) -> u128 {
        self.key.hash(token.as_bytes()).as_u128()
    }

    fn get(&self, digest: u128) -> Option<Arc<TokenEntry>> {
        let seen = self.seen.read().unwrap_or_else(PoisonError::into_inner);
        seen.get(&digest).cloned()
    }

    /// Trust `digest` for `entry` from now on; `bound` is the number of configured tokens.
    fn insert(&self, digest: u128, entry: &Arc<TokenEntry>, bound: usize) {
        let mut seen = self.seen.write().unwrap_or_else(PoisonError::into_inner);
        if seen.len() < bound {
            seen.insert(digest, entry.clone());
        }
    }
}

/// The token of an `Authorization: Bearer …` header, if the request has one.
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    let h = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    h.strip_prefix("Bearer ")
        .or_else(|| h.strip_prefix("bearer "))
        .map(str::trim)
}

/// The event streams, the only routes that take `access_token` in the query: browsers'
/// EventSource cannot set headers. Anywhere else a token in a URL would end up in proxy
/// and browser histories, so it is refused.
const STREAMS: [&str; 3] = [
    "/v1/halls/{hall}/events",
    "/v1/alarms/events",
    "/v1/case-events",
];

/// The authenticated caller. Extracting it answers 401 when the token is missing or unknown.
#[derive(Debug, Clone)]
pub struct Principal(pub Arc<TokenEntry>);

impl Principal {
    pub fn name(&self) -> &str {
        &self.0.name
    }

    pub fn role(&self) -> Role {
        self.0.role
    }

    pub fn covers(&self, hall: usize) -> bool {
        self.0.halls.get(hall).copied().unwrap_or(false)
    }

    /// 403 unless this caller may do `perm` in `hall`.
    pub fn require(&self, perm: Perm, hall: usize, hall_id: &str) -> Result<(), Problem> {
        if !self.covers(hall) {
            return Err(Problem::forbidden(format!(
                "token `{}` does not cover hall `{hall_id}`",
                self.0.name
            )));
        }
        if !allows(self.0.role, perm) {
            return Err(Problem::forbidden(format!(
                "role {} may not {}",
                self.0.role.as_str(),
                perm.name()
            )));
        }
        Ok(())
    }
}

impl Principal {
    /// 403 unless the role allows `perm`; for what is not about one hall (streams mixing
    /// halls filter by scope themselves).
    pub fn require_global(&self, perm: Perm) -> Result<(), Problem> {
        if allows(self.0.role, perm) {
            Ok(())
        } else {
            Err(Problem::forbidden(format!(
                "role {} may not {}",
                self.0.role.as_str(),
                perm.name()
            )))
        }
    }

    /// A scope check that can travel to another thread.
    pub fn scope(&self) -> crate::runtime::cases::Scope {
        let entry = self.0.clone();
        Box::new(move |hall| entry.halls.get(hall).copied().unwrap_or(false))
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Problem> {
        let stream = parts.method == axum::http::Method::GET
            && parts
                .extensions
                .get::<axum::extract::MatchedPath>()
                .is_some_and(|m| STREAMS.contains(&m.as_str()));
        let in_query = query_token(parts.uri.query());
        if in_query.is_some() && !stream {
            return Err(Problem::bad_request(
                "token-in-query",
                "send the token in the `Authorization: Bearer <token>` header; `access_token` in the query is accepted only on event streams (GET …/events)",
            )
            .field("access_token"));
        }
        let token = match parts.headers.get(axum::http::header::AUTHORIZATION) {
            Some(_) => bearer(&parts.headers)
                .ok_or_else(|| Problem::unauthorized("use `Authorization: Bearer <token>`"))?
                .to_owned(),
            None => in_query.ok_or_else(|| {
                Problem::unauthorized("this request needs a bearer token (Authorization header)")
            })?,
        };
        app.tokens
            .find(&token)
            .map(Principal)
            .ok_or_else(|| Problem::unauthorized("the bearer token is not known"))
    }
}

fn query_token(query: Option<&str>) -> Option<String> {
    query?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == "access_token").then(|| v.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(clear: &[&str]) -> Tokens {
        let by_hash = clear
            .iter()
            .map(|t| {
                let entry = TokenEntry {
                    name: Arc::from(format!("name of {}", t.len())),
                    role: Role::Kiosk,
                    halls: vec![true],
                };
                (token_hash(t), Arc::new(entry))
            })
            .collect();
        Tokens {
            by_hash,
            verified: Verified::new(),
        }
    }

    fn cached(t: &Tokens) -> usize {
        t.verified.seen.read().unwrap().len()
    }

    /// Whether `token` finds its own configured entry.
    fn finds_own(t: &Tokens, token: &str) -> bool {
        let own = &t.by_hash[&token_hash(token)];
        t.find(token).is_some_and(|e| Arc::ptr_eq(&e, own))
    }

    #[test]
    fn a_verified_token_is_found_again_and_only_it() {
        let t = tokens(&["kiosk-secret-1", "kiosk-secret-2"]);
        assert!(finds_own(&t, "kiosk-secret-1"));
        assert_eq!(cached(&t), 1);
        // From the cache now, and still the right entry.
        assert!(finds_own(&t, "kiosk-secret-1"));
        assert!(finds_own(&t, "kiosk-secret-2"));
        assert_eq!(cached(&t), 2);
        // Near misses of a cached token are refused.
        for wrong in ["kiosk-secret-", "kiosk-secret-11", "Kiosk-secret-1", ""] {
            assert!(t.find(wrong).is_none(), "{wrong:?} was accepted");
        }
        assert!(t.knows("kiosk-secret-2"));
        assert!(!t.knows("kiosk-secret-3"));
    }

    #[test]
    fn unknown_tokens_are_never_cached_and_the_cache_holds_no_clear_token() {
        let t = tokens(&["only-one"]);
        for i in 0..100 {
            assert!(t.find(&format!("guess-{i}")).is_none());
        }
        assert_eq!(cached(&t), 0);
        t.find("only-one").unwrap();
        t.find("only-one").unwrap();
        assert_eq!(cached(&t), 1, "bounded by the configured tokens");
        let dump = format!("{:?}", t.verified);
        assert!(!dump.contains("only-one"), "{dump}");
    }

    #[test]
    fn the_digest_is_keyed_per_cache() {
        let (a, b) = (Verified::new(), Verified::new());
        assert_ne!(a.digest("same-token"), b.digest("same-token"));
        assert_eq!(a.digest("same-token"), a.digest("same-token"));
    }
}
