//! What a citizen's phone may read with a ticket link, and how a kiosk gets the link.
//!
//! - `GET /v1/halls/{hall}/tickets/{ticket}/public?k=` — the ticket's public view: number,
//!   service, status, position, estimated wait, the window when called, and the hall's last
//!   calls (numbers and windows only, as the display board shows them).
//! - `GET /v1/halls/{hall}/tickets/{ticket}/public/events?k=` — SSE: `ticket` (the public
//!   view, first on every connect and again whenever it changes) and `call` (every call in
//!   the hall, as the board shows it). No `id:`: a reconnect starts from the current view,
//!   which is all a citizen needs, so nothing is replayed and no log is read.
//! - `GET /v1/halls/{hall}/tickets/{ticket}/link?base=` — for kiosks and counters (bearer
//!   token allowed to issue tickets): the page URL with its key, and its QR code as SVG.
//!
//! Read-only by construction: these handlers only send `Ticket` and `Snapshot` queries to
//! the hall's shard, and take what a citizen may see from the typed views it replies with.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::stream;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::mpsc;

use super::Web;
use crate::api::AppState;
use crate::api::auth::{Perm, Principal};
use crate::api::events::{CutOff, Subscribed};
use crate::api::problem::{Answer, Problem};
use crate::api::render;
use crate::api::scope::known_hall;
use crate::localtime::LocalTime;
use crate::queue::{CallEvent, TicketClass, TicketStatus, TicketView};
use crate::runtime::hub::Frame;
use crate::runtime::shard::{HallOp, HallReply};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/halls/{hall}/tickets/{ticket}/public",
            get(public_ticket),
        )
        .route(
            "/v1/halls/{hall}/tickets/{ticket}/public/events",
            get(public_events),
        )
        .route("/v1/halls/{hall}/tickets/{ticket}/link", get(link))
}

/// 403 unless `k` is this ticket's link key.
pub(super) fn check_link(
    web: &Web,
    hall: &str,
    ticket: &str,
    k: Option<&str>,
) -> Result<(), Problem> {
    match k {
        Some(k) if web.links.verify(hall, ticket, k) => Ok(()),
        Some(_) => Err(Problem::forbidden(format!(
            "this link is not valid for ticket `{ticket}` of hall `{hall}`"
        ))
        .field("k")),
        None => Err(Problem::forbidden(
            "a ticket link needs its key `k`; use the link printed on the ticket",
        )
        .field("k")),
    }
}

/// The ticket fields a citizen sees, taken from the hall's ticket view.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PublicTicket {
    #[serde(rename = "ticket")]
    pub id: String,
    pub number: String,
    pub service_name: String,
    pub class: TicketClass,
    pub status: TicketStatus,
    pub position: u32,
    pub estimated_wait_s: u64,
    /// An appointment checked in early: when it becomes callable (its position is 0 until).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callable_at: Option<LocalTime>,
    pub issued_at: LocalTime,
    pub called_at: Option<LocalTime>,
    pub window_name: Option<String>,
    pub call_count: u8,
}

impl From<&TicketView> for PublicTicket {
    fn from(t: &TicketView) -> PublicTicket {
        PublicTicket {
            id: t.id.clone(),
            number: t.number.clone(),
            service_name: t.service_name.to_string(),
            class: t.class,
            status: t.status,
            position: t.position,
            estimated_wait_s: t.estimated_wait_s,
            callable_at: t.callable_at,
            issued_at: t.issued_at,
            called_at: t.called_at,
            window_name: t.window_name.as_deref().map(str::to_owned),
            call_count: t.call_count,
        }
    }
}

/// A call as the display board shows it: no ticket id, no reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublicCall {
    pub number: String,
    pub window_name: String,
    pub call_count: u8,
    pub announcement: String,
    pub called_at: LocalTime,
}

impl From<&CallEvent> for PublicCall {
    fn from(c: &CallEvent) -> PublicCall {
        PublicCall {
            number: c.number.clone(),
            window_name: c.window_name.to_string(),
            call_count: c.call_count,
            announcement: c.announcement.clone(),
            called_at: c.called_at,
        }
    }
}

#[derive(Serialize)]
struct PublicView {
    hall: Arc<str>,
    hall_name: Arc<str>,
    /// The hall's IANA time zone, to show times as the hall's clocks do.
    time_zone: Arc<str>,
    #[serde(flatten)]
    ticket: PublicTicket,
    /// The hall's last calls, newest first; only on a stream's first frame and on GET.
    #[serde(skip_serializing_if = "Option::is_none")]
    recent_calls: Option<Vec<PublicCall>>,
}

#[derive(Deserialize)]
struct KeyQuery {
    k: Option<String>,
}

/// Resolve the hall and check the link.
fn resolve(
    app: &AppState,
    web: &Web,
    hall: &str,
    ticket: &str,
    k: Option<&str>,
) -> Result<usize, Problem> {
    let index = known_hall(app, hall)?;
    check_link(web, hall, ticket, k)?;
    Ok(index)
}

/// The ticket's view from its hall's shard; a refusal comes back rendered.
async fn ticket_view(app: &AppState, hall: usize, ticket: &str) -> Result<PublicTicket, Answer> {
    match app
        .shards
        .ask(hall, HallOp::Ticket(ticket.to_owned()), None)
        .await
    {
        Ok(HallReply::Ticket(t)) => Ok(PublicTicket::from(&*t)),
        other => Err(render::hall(&app.config.halls[hall].id, &other)),
    }
}

async fn view(
    app: &AppState,
    hall: usize,
    ticket: &str,
    with_calls: bool,
) -> Result<PublicView, Answer> {
    let t = ticket_view(app, hall, ticket).await?;
    let recent_calls = if with_calls {
        match app.shards.ask(hall, HallOp::Snapshot, None).await {
            Ok(HallReply::Snapshot(s)) => {
                Some(s.recent_calls.iter().map(|c| (&**c).into()).collect())
            }
            other => return Err(render::hall(&app.config.halls[hall].id, &other)),
        }
    } else {
        None
    };
    let cfg = &app.config.halls[hall];
    Ok(PublicView {
        hall: cfg.id.clone(),
        hall_name: cfg.name.clone(),
        time_zone: cfg.time_zone_name.clone(),
        ticket: t,
        recent_calls,
    })
}

async fn public_ticket(
    State(app): State<AppState>,
    axum::Extension(web): axum::Extension<Arc<Web>>,
    Path((hall, ticket)): Path<(String, String)>,
    Query(q): Query<KeyQuery>,
) -> Response {
    let h = match resolve(&app, &web, &hall, &ticket, q.k.as_deref()) {
        Ok(h) => h,
        Err(p) => return p.into_response(),
    };
    match view(&app, h, &ticket, true).await {
        Ok(v) => Answer::json(200, &v).into_response(),
        Err(a) => a.into_response(),
    }
}

fn sse(kind: &str, json: &str) -> Bytes {
    Bytes::from(format!("event: {kind}\ndata: {json}\n\n"))
}

/// Kind and data of a hub frame (`id: N\nevent: KIND\ndata: JSON\n\n`, see `hub::frame`).
fn parse_frame(f: &Frame) -> Option<(&str, &str)> {
    let text = std::str::from_utf8(&f.bytes).ok()?;
    let mut kind = None;
    let mut data = None;
    for line in text.lines() {
        if let Some(k) = line.strip_prefix("event: ") {
            kind = Some(k);
        } else if let Some(d) = line.strip_prefix("data: ") {
            data = Some(d);
        }
    }
    Some((kind?, data?))
}

/// Whether an event's JSON names `ticket` (as `ticket` or `ticket.id`).
fn names_ticket(json: &str, ticket: &str) -> bool {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Named {
        Id(String),
        Brief { id: String },
    }
    #[derive(Deserialize)]
    struct Ev {
        ticket: Option<Named>,
    }
    match serde_json::from_str::<Ev>(json) {
        Ok(Ev {
            ticket: Some(Named::Id(id) | Named::Brief { id }),
        }) => id == ticket,
        _ => false,
    }
}

async fn public_events(
    State(app): State<AppState>,
    axum::Extension(web): axum::Extension<Arc<Web>>,
    Path((hall, ticket)): Path<(String, String)>,
    Query(q): Query<KeyQuery>,
) -> Response {
    let h = match resolve(&app, &web, &hall, &ticket, q.k.as_deref()) {
        Ok(h) => h,
        Err(p) => return p.into_response(),
    };
    let cap = app.config.server.max_subscribers / 2;
    let stream_id = app.config.halls[h].id.clone();
    if web.public_streams.load(Ordering::Relaxed) >= cap
        || app.hub.subscribers(&stream_id) >= app.config.server.max_subscribers
    {
        return Problem::overloaded("too many ticket pages are open; retry shortly")
            .into_response();
    }
    let Some(slot) = LinkSlot::take(&web, &hall, &ticket, app.config.server.max_streams_per_link)
    else {
        let mut r = Problem::new(
            429,
            "too-many-pages",
            "Too many requests",
            format!(
                "this ticket link is already open on {} pages; close one",
                app.config.server.max_streams_per_link
            ),
        )
        .into_response();
        r.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("10"));
        return r;
    };
    // Subscribe before reading the view, so nothing that happens after the read is missed.
    let rx = app.hub.subscribe(&stream_id);
    let first = match view(&app, h, &ticket, true).await {
        Ok(v) => v,
        Err(a) => return a.into_response(),
    };
    let (tx, out) = mpsc::channel::<Bytes>(16);
    let mut head = vec![Bytes::from_static(b"retry: 3000\n\n")];
    head.push(sse(
        "ticket",
        &serde_json::to_string(&first).expect("views serialize"),
    ));
    let cut = Arc::new(AtomicBool::new(false));
    tokio::spawn(follow(
        Page {
            app: app.clone(),
            hall: h,
            ticket,
            _slot: slot,
            subscribed: Subscribed::new("ticket"),
            cut: cut.clone(),
        },
        first.ticket,
        rx,
        tx,
    ));
    // A page cut off for not reading ends with an error, so the connection closes rather
    // than waiting for a response end it would not read either.
    let live = stream::unfold((out, cut), |(mut out, cut)| async move {
        match out.recv().await {
            Some(b) => Some((Ok(b), (out, cut))),
            None if cut.swap(false, Ordering::AcqRel) => Some((Err(CutOff), (out, cut))),
            None => None,
        }
    });
    use futures::StreamExt;
    let body = stream::iter(head.into_iter().map(Ok)).chain(live);
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::HeaderName::from_static("x-accel-buffering"), "no"),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

/// One open ticket page stream, counted against its link (hall and ticket) and in
/// `public_streams` while it lives.
pub(super) struct LinkSlot {
    web: Arc<Web>,
    key: String,
}

impl LinkSlot {
    /// A slot if the link has fewer than `max` streams open.
    fn take(web: &Arc<Web>, hall: &str, ticket: &str, max: usize) -> Option<LinkSlot> {
        let key = format!("{hall}|{ticket}");
        {
            let mut open = web.link_streams.entry(key.clone()).or_insert(0);
            if *open >= max {
                return None;
            }
            *open += 1;
        }
        web.public_streams.fetch_add(1, Ordering::Relaxed);
        Some(LinkSlot {
            web: web.clone(),
            key,
        })
    }
}

impl Drop for LinkSlot {
    fn drop(&mut self) {
        self.web.public_streams.fetch_sub(1, Ordering::Relaxed);
        if let Some(mut open) = self.web.link_streams.get_mut(&self.key) {
            *open -= 1;
        }
        self.web
            .link_streams
            .remove_if(&self.key, |_, open| *open == 0);
    }
}

/// What a ticket page's follower holds for as long as the page is open.
struct Page {
    app: AppState,
    hall: usize,
    ticket: String,
    _slot: LinkSlot,
    subscribed: Subscribed,
    /// Set when the page was cut off for not reading.
    cut: Arc<AtomicBool>,
}

impl Page {
    /// Send one frame, waiting at most `sse_max_lag_s` for room; false when the page is
    /// gone or cut off for not reading.
    async fn send(&self, tx: &mpsc::Sender<Bytes>, frame: Bytes) -> bool {
        let wait = Duration::from_secs(self.app.config.server.sse_max_lag_s);
        match tx.send_timeout(frame, wait).await {
            Ok(()) => true,
            Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
                self.subscribed.dropped();
                self.cut.store(true, Ordering::Release);
                false
            }
            Err(mpsc::error::SendTimeoutError::Closed(_)) => false,
        }
    }
}

/// Follow the hall's stream for one ticket page until the page goes away or the daemon
/// stops. Events that arrive together are coalesced into at most one view refresh, so a
/// burst in the hall costs each page one query.
async fn follow(
    page: Page,
    mut last: PublicTicket,
    mut rx: tokio::sync::broadcast::Receiver<Arc<Frame>>,
    tx: mpsc::Sender<Bytes>,
) {
    let (app, hall, ticket) = (&page.app, page.hall, &page.ticket);
    let mut tick = tokio::time::interval(Duration::from_secs(app.config.server.sse_keepalive_s));
    tick.reset();
    let shutdown = app.shutdown.clone();
    'outer: loop {
        let mut frames = Vec::new();
        let mut lagged = false;
        tokio::select! {
            r = rx.recv() => match r {
                Ok(f) => frames.push(f),
                Err(RecvError::Lagged(_)) => lagged = true,
                Err(RecvError::Closed) => break,
            },
            _ = tick.tick() => {
                if !page.send(&tx, Bytes::from_static(b": keep-alive\n\n")).await {
                    break;
                }
                continue;
            }
            () = tx.closed() => break,
            () = shutdown.cancelled() => break,
        }
        loop {
            match rx.try_recv() {
                Ok(f) => frames.push(f),
                Err(TryRecvError::Lagged(_)) => lagged = true,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Closed) => break 'outer,
            }
        }
        // While the ticket is open anything in the hall may move it; once it is finished
        // only its own events (an evaluation) can change it.
        let mut refresh = lagged || !last.status.is_terminal();
        for f in &frames {
            let Some((kind, json)) = parse_frame(f) else {
                continue;
            };
            if kind == "called"
                && let Ok(call) = serde_json::from_str::<PublicCall>(json)
            {
                let data = serde_json::to_string(&call).expect("calls serialize");
                if !page.send(&tx, sse("call", &data)).await {
                    break 'outer;
                }
            }
            refresh |= names_ticket(json, ticket) || kind == "day_opened";
        }
        if !refresh {
            continue;
        }
        match view(app, hall, ticket, false).await {
            Ok(v) if v.ticket != last => {
                last = v.ticket.clone();
                let data = serde_json::to_string(&v).expect("views serialize");
                if !page.send(&tx, sse("ticket", &data)).await {
                    break;
                }
            }
            Ok(_) => {}
            // The business day turned and took the ticket with it, or the daemon is
            // stopping: end the stream; the page's reconnect shows why.
            Err(_) => break,
        }
    }
    // The page's link slot and subscriber count end with `page`.
}

#[derive(Deserialize)]
struct LinkRequest {
    /// Where citizens' phones reach this daemon, e.g. `https://queue.example.gov.cn`;
    /// defaults to `http://` and the request's Host.
    base: Option<String>,
}

#[derive(Serialize)]
struct Link {
    /// Path and query of the ticket page, relative to `base`.
    path: String,
    url: String,
    k: String,
    /// The URL as a QR code, for the printed ticket.
    qr_svg: String,
}

/// `base` if it is a plain http(s) origin with an optional path prefix, without the
/// trailing slash.
fn valid_base(base: &str) -> Option<&str> {
    let rest = base
        .strip_prefix("http://")
        .or_else(|| base.strip_prefix("https://"))?;
    let ok = !rest.is_empty()
        && base.len() <= 200
        && !rest.starts_with('/')
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~:/[]%".contains(c));
    ok.then(|| base.trim_end_matches('/'))
}

async fn link(
    State(app): State<AppState>,
    axum::Extension(web): axum::Extension<Arc<Web>>,
    who: Principal,
    Path((hall, ticket)): Path<(String, String)>,
    Query(q): Query<LinkRequest>,
    headers: HeaderMap,
) -> Response {
    let h = match known_hall(&app, &hall) {
        Ok(h) => h,
        Err(p) => return p.into_response(),
    };
    if let Err(p) = who.require(Perm::Issue, h, &hall) {
        return p.into_response();
    }
    // Only today's existing tickets get links.
    if let Err(a) = ticket_view(&app, h, &ticket).await {
        return a.into_response();
    }
    let base = match q.base.as_deref() {
        Some(b) => match valid_base(b) {
            Some(b) => b.to_owned(),
            None => {
                return Problem::bad_request(
                    "invalid-field",
                    format!("`base` must be an http(s) origin such as https://queue.example.gov.cn, not `{b}`"),
                )
                .field("base")
                .into_response();
            }
        },
        None => match headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .and_then(|host| valid_base(&format!("http://{host}")).map(str::to_owned))
        {
            Some(b) => b,
            None => {
                return Problem::bad_request(
                    "missing-field",
                    "name the address citizens' phones reach this daemon at in `base`",
                )
                .field("base")
                .into_response();
            }
        },
    };
    let k = web.links.key(&hall, &ticket);
    let path = format!("/t/{hall}/{ticket}?k={k}");
    let url = format!("{base}{path}");
    let qr_svg = match crate::api::render::qr_svg(&url) {
        Ok(svg) => svg,
        Err(e) => {
            return Problem::bad_request(
                "invalid-field",
                format!("the ticket URL cannot be a QR code: {e}"),
            )
            .field("base")
            .into_response();
        }
    };
    Answer::json(
        200,
        &Link {
            path,
            url,
            k,
            qr_svg,
        },
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bases_are_origins_with_an_optional_prefix() {
        assert_eq!(
            valid_base("https://q.example.gov.cn/"),
            Some("https://q.example.gov.cn")
        );
        assert_eq!(
            valid_base("http://10.0.0.5:8080/hallq"),
            Some("http://10.0.0.5:8080/hallq")
        );
        assert_eq!(valid_base("ftp://x"), None);
        assert_eq!(valid_base("https://"), None);
        assert_eq!(valid_base("https://x/\"><script>"), None);
        assert_eq!(valid_base("https://x?y=1"), None);
        assert_eq!(valid_base("javascript:alert(1)"), None);
    }

    #[test]
    fn events_name_their_ticket_in_either_shape() {
        assert!(names_ticket(
            r#"{"kind":"called","ticket":"20260101-A001","number":"A001"}"#,
            "20260101-A001"
        ));
        assert!(names_ticket(
            r#"{"kind":"started","ticket":{"id":"20260101-A001","number":"A001"}}"#,
            "20260101-A001"
        ));
        assert!(!names_ticket(
            r#"{"kind":"started","ticket":{"id":"20260101-A002"}}"#,
            "20260101-A001"
        ));
        assert!(!names_ticket(
            r#"{"kind":"window_opened","window":"w1"}"#,
            "20260101-A001"
        ));
    }

    #[test]
    fn frames_parse_back_into_kind_and_data() {
        let f = Frame {
            seq: 7,
            bytes: crate::runtime::hub::frame(7, "called", r#"{"a":1}"#),
            hall: None,
        };
        assert_eq!(parse_frame(&f), Some(("called", r#"{"a":1}"#)));
    }
}
