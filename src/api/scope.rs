//! Who asks about which hall: the caller and hall resolution every handler shares, as axum
//! extractors, and the `Idempotency-Key` of a change.
//!
//! - `InHall<N>`: the caller and the hall its path names, resolved (404 naming it) and
//!   checked for the permission `N` (403): what a read needs.
//! - `HallChange<N>`: the same, with what a change carries: the request's `Idempotency-Key`
//!   (scoped to hall and token) and its body.
//! - `CaseChange<N>`: a change for the case thread (a case, a calendar, an alarm cursor): the
//!   caller checked for `N` whatever the hall, the key (scoped to the token) and the body.
//!
//! They check in the order the handlers always did: the token, the path, the body read, the
//! hall and the permission; a handler then takes the key (`idem`) and the body (`json`) at the
//! point it needs them, so a request with several faults gets the same problem as before.
//! This module resolves names and checks permissions; it must never decide anything that
//! depends on a hall's state (that is its shard's) or on a case's (the case thread's).

use std::marker::PhantomData;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use super::auth::{Perm, Principal};
use super::problem::Problem;
use super::{AppState, json};
use crate::model::Hall;
use crate::runtime::idem::Idem;

/// A request body as read: the bytes, or why they could not be read (answered when the
/// handler parses it, as a 400, 408 or 413).
pub type Body = Result<Bytes, BytesRejection>;

/// A permission a handler needs, as a type, so the extractor checks it before the handler
/// runs.
pub trait Need: Send + Sync + 'static {
    const PERM: Perm;
}

/// The permissions, one type each (`HallChange<need::Operate>`).
pub mod need {
    use super::{Need, Perm};

    macro_rules! needs {
        ($($name:ident),*) => {$(
            #[doc = concat!("`Perm::", stringify!($name), "`.")]
            pub struct $name;
            impl Need for $name {
                const PERM: Perm = Perm::$name;
            }
        )*};
    }

    needs!(
        Read,
        Issue,
        TicketAction,
        Operate,
        Hours,
        CaseWrite,
        Alarms,
        Admin,
        Book
    );
}

/// A hall the caller named, resolved and checked.
pub struct HallRef {
    pub index: usize,
    pub cfg: Arc<Hall>,
}

impl HallRef {
    /// The position of window `id`, or 404 listing the hall's windows.
    pub fn window(&self, id: &str) -> Result<usize, Problem> {
        self.cfg.window_index(id).ok_or_else(|| {
            Problem::not_found(
                "unknown-window",
                format!(
                    "hall `{}` has no window `{id}` (windows: {})",
                    self.cfg.id,
                    self.cfg.window_ids()
                ),
            )
            .field("window")
        })
    }

    /// The position of service `id`, or 404 listing the hall's services.
    pub fn service(&self, id: &str) -> Result<usize, Problem> {
        self.cfg.service_index(id).ok_or_else(|| {
            Problem::not_found(
                "unknown-service",
                format!(
                    "hall `{}` has no service `{id}` (services: {})",
                    self.cfg.id,
                    self.cfg.service_ids()
                ),
            )
            .field("service")
        })
    }
}

/// Hall `id`: 404 when there is none, 403 unless `who` may do `perm` in it.
pub fn hall(app: &AppState, who: &Principal, id: &str, perm: Perm) -> Result<HallRef, Problem> {
    let index = known_hall(app, id)?;
    who.require(perm, index, id)?;
    Ok(HallRef {
        index,
        cfg: app.config.halls[index].clone(),
    })
}

/// The query a roll-up read shares (`/v1/stats`, `/v1/reports`): no parameter outside
/// `allowed` (and `access_token`, which the pages' links carry), a `hall` the caller may read
/// statistics of, and `subtree` as `true` or `false` (default `false`).
pub fn rollup_query(
    app: &AppState,
    who: &Principal,
    q: &std::collections::HashMap<String, String>,
    allowed: &[&str],
) -> Result<(HallRef, bool), Problem> {
    if let Some(unknown) = q
        .keys()
        .find(|k| k.as_str() != "access_token" && !allowed.contains(&k.as_str()))
    {
        return Err(Problem::bad_request(
            "unknown-field",
            format!(
                "unknown query parameter `{unknown}`; use {}",
                allowed.join(", ")
            ),
        )
        .field(unknown.clone()));
    }
    let id = q
        .get("hall")
        .ok_or_else(|| Problem::bad_request("missing-field", "`hall` is required").field("hall"))?;
    let root = hall(app, who, id, Perm::Stats)?;
    let subtree = match q.get("subtree").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(Problem::bad_request(
                "invalid-field",
                format!("`subtree` is true or false, not `{other}`"),
            )
            .field("subtree"));
        }
    };
    Ok((root, subtree))
}

/// The position of hall `id`, or the 404 that names it; callers check the caller's right to it.
pub fn known_hall(app: &AppState, id: &str) -> Result<usize, Problem> {
    app.config.hall_index(id).ok_or_else(|| {
        Problem::not_found("unknown-hall", format!("there is no hall `{id}`")).field("hall")
    })
}

/// The request's `Idempotency-Key` (the header's value, if it has one), in `scope` and
/// fingerprinted with the method, path and body so a key reused for another request is
/// caught; 400 when the header is not 1-255 visible ASCII.
pub fn idempotency_key(
    raw: Option<&HeaderValue>,
    scope: impl FnOnce() -> String,
    method: &Method,
    uri: &Uri,
    body: &Body,
) -> Result<Option<Idem>, Problem> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let key = raw
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= 255)
        .ok_or_else(|| {
            Problem::bad_request(
                "invalid-idempotency-key",
                "Idempotency-Key must be 1-255 visible ASCII characters",
            )
            .field("Idempotency-Key")
        })?;
    use sha2::Digest;
    let mut hash = sha2::Sha256::new();
    hash.update(method.as_str());
    hash.update(b" ");
    hash.update(uri.path());
    hash.update(b"\n");
    if let Ok(b) = body {
        hash.update(b);
    }
    let digest = hash.finalize();
    Ok(Some(Idem {
        scope: scope(),
        key: key.to_owned(),
        fingerprint: u64::from_be_bytes(digest[..8].try_into().expect("8 bytes")),
    }))
}

/// The path's parameters by name (`{hall}`, `{window}`…); the route templates guarantee
/// the names a handler asks for. As the router decoded them, not copied into a map of
/// owned strings per request.
pub struct Params(RawPathParams);

impl Params {
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find_map(|(k, v)| (k == name).then_some(v))
            .unwrap_or("")
    }
}

/// The caller and the path: 401 first, then a path that cannot be read (not UTF-8).
async fn caller(parts: &mut Parts, app: &AppState) -> Result<(Principal, Params), Response> {
    let who = Principal::from_request_parts(parts, app)
        .await
        .map_err(IntoResponse::into_response)?;
    let params = RawPathParams::from_request_parts(parts, app)
        .await
        .map_err(IntoResponse::into_response)?;
    Ok((who, Params(params)))
}

/// What a change brings besides the caller and the path: the parts its key is fingerprinted
/// with, its content type, and the body, read whatever the outcome (an unread body would cost
/// the connection). The two headers are kept, not the whole map (a copy per request).
struct Sent {
    method: Method,
    uri: Uri,
    key: Option<HeaderValue>,
    ctype: Option<HeaderValue>,
    body: Body,
}

async fn sent(req: Request, app: &AppState) -> Result<(Principal, Params, Sent), Response> {
    let (mut parts, body) = req.into_parts();
    let (who, params) = caller(&mut parts, app).await?;
    let (method, uri) = (parts.method.clone(), parts.uri.clone());
    let key = parts.headers.get("idempotency-key").cloned();
    let ctype = parts.headers.get(header::CONTENT_TYPE).cloned();
    let body = Bytes::from_request(Request::from_parts(parts, body), app).await;
    Ok((
        who,
        params,
        Sent {
            method,
            uri,
            key,
            ctype,
            body,
        },
    ))
}

impl Sent {
    /// `scope` is asked only when the request has a key: most have none, and the scope is a
    /// string built per request.
    fn idem(&self, scope: impl FnOnce() -> String) -> Result<Option<Idem>, Problem> {
        idempotency_key(
            self.key.as_ref(),
            scope,
            &self.method,
            &self.uri,
            &self.body,
        )
    }
}

/// A read in one hall: the caller and the hall of the path, checked for `N`.
pub struct InHall<N> {
    pub who: Principal,
    pub hall: HallRef,
    pub path: Params,
    need: PhantomData<N>,
}

impl<N: Need> FromRequestParts<AppState> for InHall<N> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Response> {
        let (who, path) = caller(parts, app).await?;
        let hall =
            hall(app, &who, path.get("hall"), N::PERM).map_err(IntoResponse::into_response)?;
        Ok(InHall {
            who,
            hall,
            path,
            need: PhantomData,
        })
    }
}

/// A change in one hall: the caller and the hall of the path, checked for `N`, with the
/// request's `Idempotency-Key` and body.
pub struct HallChange<N> {
    pub who: Principal,
    pub hall: HallRef,
    pub path: Params,
    idem: Result<Option<Idem>, Problem>,
    ctype: Option<HeaderValue>,
    body: Body,
    need: PhantomData<N>,
}

impl<N: Need> FromRequest<AppState> for HallChange<N> {
    type Rejection = Response;

    async fn from_request(req: Request, app: &AppState) -> Result<Self, Response> {
        let (who, path, sent) = sent(req, app).await?;
        let hall =
            hall(app, &who, path.get("hall"), N::PERM).map_err(IntoResponse::into_response)?;
        let idem = sent.idem(|| format!("{}|{}", hall.cfg.id, who.name()));
        Ok(HallChange {
            who,
            hall,
            path,
            idem,
            ctype: sent.ctype,
            body: sent.body,
            need: PhantomData,
        })
    }
}

impl<N> HallChange<N> {
    /// The window the path names (`{window}`), or 404.
    pub fn window(&self) -> Result<usize, Problem> {
        self.hall.window(self.path.get("window"))
    }

    /// The request's `Idempotency-Key` (400 when malformed).
    pub fn idem(&self) -> Result<Option<Idem>, Problem> {
        self.idem.clone()
    }

    /// The body as JSON (see `json::parse`).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Problem> {
        json::parse_typed(self.ctype.as_ref(), &self.body)
    }
}

/// A change for the case thread: the caller, checked for `N` whatever the hall, with the
/// request's `Idempotency-Key` and body.
pub struct CaseChange<N> {
    pub who: Principal,
    pub path: Params,
    idem: Result<Option<Idem>, Problem>,
    ctype: Option<HeaderValue>,
    body: Body,
    need: PhantomData<N>,
}

impl<N: Need> FromRequest<AppState> for CaseChange<N> {
    type Rejection = Response;

    async fn from_request(req: Request, app: &AppState) -> Result<Self, Response> {
        let (who, path, sent) = sent(req, app).await?;
        who.require_global(N::PERM)
            .map_err(IntoResponse::into_response)?;
        let idem = sent.idem(|| format!("@cases|{}", who.name()));
        Ok(CaseChange {
            who,
            path,
            idem,
            ctype: sent.ctype,
            body: sent.body,
            need: PhantomData,
        })
    }
}

impl<N> CaseChange<N> {
    /// The request's `Idempotency-Key` (400 when malformed).
    pub fn idem(&self) -> Result<Option<Idem>, Problem> {
        self.idem.clone()
    }

    /// The body as JSON (see `json::parse`).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Problem> {
        json::parse_typed(self.ctype.as_ref(), &self.body)
    }

    /// The body as it was read.
    pub fn body(&self) -> &Body {
        &self.body
    }
}
