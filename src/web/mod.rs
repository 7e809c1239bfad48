//! The hall in a browser: display board, progress board (办件进度公示), counter console,
//! kiosk, the citizen's ticket page and booking page, and the supervisor's assessment report
//! viewer, served by the daemon itself.
//!
//! Every asset is compiled into the binary (`include_bytes!`): no build step at install, and
//! no request ever leaves the hall's network — the pages' Content-Security-Policy allows only
//! this origin, so a font or script from elsewhere could not load even by mistake.
//!
//! Pages are static; they read the hall (and window, ticket) from their own URL and talk to
//! the `/v1` API like any other client: a bearer token (kept in `localStorage`, taken once
//! from the URL fragment or a prompt) for display, counter and kiosk, and a signed ticket
//! link (`links`) for the citizen, who has no token. This module adds only what a browser
//! needs beyond the API: the pages, the ticket-link capability and the public ticket
//! endpoints in `public`. It never changes hall state itself.

mod links;
mod public;
mod rating;

use std::sync::Arc;
use std::sync::LazyLock;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::api::AppState;
use crate::api::problem::Problem;
use crate::api::scope::known_hall;
pub use links::{LinkKeyError, LinkKeys};

/// What the web handlers share besides the app.
pub struct Web {
    links: LinkKeys,
    /// Open citizen ticket streams, capped apart from displays so phones cannot use up the
    /// subscriber budget a hall's screens depend on.
    public_streams: std::sync::atomic::AtomicUsize,
    /// Open ticket streams per link (`hall|ticket`), so one printed ticket opened ten
    /// thousand times takes `max_streams_per_link` slots, not every citizen's.
    link_streams: dashmap::DashMap<String, usize>,
}

impl Web {
    /// What the pages need, signing ticket links with `links` (loaded by `Daemon::start`).
    pub fn new(links: LinkKeys) -> Web {
        Web {
            links,
            public_streams: Default::default(),
            link_streams: Default::default(),
        }
    }
}

/// The web pages and their endpoints, for the daemon's router.
pub fn routes(web: Arc<Web>) -> Router<AppState> {
    Router::new()
        .route("/display/{hall}", get(display))
        .route("/progress/{hall}", get(progress))
        .route("/counter/{hall}/{window}", get(counter))
        .route("/rate/{hall}/{window}", get(rater))
        .route("/kiosk/{hall}", get(kiosk))
        .route("/book/{hall}", get(book))
        .route("/report/{hall}", get(report))
        .route("/t/{hall}/{ticket}", get(ticket_page))
        .route("/web/{file}", get(asset))
        .merge(public::routes())
        .merge(rating::routes())
        .layer(axum::Extension(web))
}

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $ctype:literal) => {
        Asset {
            name: $name,
            content_type: $ctype,
            bytes: include_bytes!(concat!("assets/", $name)),
        }
    };
}

static ASSETS: &[Asset] = &[
    asset!("display.html", "text/html; charset=utf-8"),
    asset!("counter.html", "text/html; charset=utf-8"),
    asset!("kiosk.html", "text/html; charset=utf-8"),
    asset!("ticket.html", "text/html; charset=utf-8"),
    asset!("rater.html", "text/html; charset=utf-8"),
    asset!("rater.js", "text/javascript; charset=utf-8"),
    asset!("booking.html", "text/html; charset=utf-8"),
    asset!("hallq.css", "text/css; charset=utf-8"),
    asset!("common.js", "text/javascript; charset=utf-8"),
    asset!("i18n.js", "text/javascript; charset=utf-8"),
    asset!("speech.js", "text/javascript; charset=utf-8"),
    asset!("display.js", "text/javascript; charset=utf-8"),
    asset!("progress.html", "text/html; charset=utf-8"),
    asset!("progress.js", "text/javascript; charset=utf-8"),
    asset!("counter.js", "text/javascript; charset=utf-8"),
    asset!("kiosk.js", "text/javascript; charset=utf-8"),
    asset!("ticket.js", "text/javascript; charset=utf-8"),
    asset!("booking.js", "text/javascript; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("report.html", "text/html; charset=utf-8"),
    asset!("report.js", "text/javascript; charset=utf-8"),
    asset!("report-view.css", "text/css; charset=utf-8"),
    // The assessment report's own sheet, the one its saved page carries inline.
    Asset {
        name: "report.css",
        content_type: "text/css; charset=utf-8",
        bytes: crate::reports::html::STYLE.as_bytes(),
    },
];

/// Strong validators for the assets, so a hall's screens revalidate cheaply on reload and
/// still pick up a new daemon's pages at once.
static ETAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    use sha2::Digest;
    ASSETS
        .iter()
        .map(|a| {
            let d = sha2::Sha256::digest(a.bytes);
            format!("\"{}\"", crate::config::hex(&d[..10]))
        })
        .collect()
});

/// Only this origin, for everything; `data:` images for the ticket's QR code.
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; \
                   script-src 'self'; connect-src 'self'; object-src 'none'; \
                   base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn serve(name: &str, headers: &HeaderMap) -> Response {
    let Some(i) = ASSETS.iter().position(|a| a.name == name) else {
        return Problem::not_found("no-such-path", format!("no web asset `{name}`"))
            .into_response();
    };
    let a = &ASSETS[i];
    let etag = &ETAGS[i];
    let mut r = if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, a.content_type)], a.bytes).into_response()
    };
    let h = r.headers_mut();
    h.insert(
        header::ETAG,
        HeaderValue::from_str(etag).expect("hex is a valid header"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Ticket page URLs carry their key; never hand them to anyone in a Referer.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    // The pages themselves are served under their own paths, which check the hall.
    if file.ends_with(".html") {
        return Problem::not_found("no-such-path", format!("no web asset `{file}`"))
            .into_response();
    }
    serve(&file, &headers)
}

async fn display(
    State(app): State<AppState>,
    Path(hall): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    known_hall(&app, &hall)?;
    Ok(serve("display.html", &headers))
}

/// The public progress board (办件进度公示): the hall's cases from the case stream.
async fn progress(
    State(app): State<AppState>,
    Path(hall): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    known_hall(&app, &hall)?;
    Ok(serve("progress.html", &headers))
}

async fn kiosk(
    State(app): State<AppState>,
    Path(hall): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    known_hall(&app, &hall)?;
    Ok(serve("kiosk.html", &headers))
}

/// The citizen's booking page (预约), for the portal: the hall must publish slots.
/// The assessment report viewer (日检查…季考核) for a supervisor's browser.
async fn report(
    State(app): State<AppState>,
    Path(hall): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    known_hall(&app, &hall)?;
    Ok(serve("report.html", &headers))
}

async fn book(
    State(app): State<AppState>,
    Path(hall): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let h = known_hall(&app, &hall)?;
    if !app.config.booking.hall_books(h) {
        return Err(Problem::not_found(
            "not-bookable",
            format!("hall `{hall}` publishes no slots"),
        ));
    }
    Ok(serve("booking.html", &headers))
}

async fn counter(
    State(app): State<AppState>,
    Path((hall, window)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    window_page(&app, &hall, &window, "counter.html", &headers)
}

/// The counter-facing rating tablet (评价器) of a window.
async fn rater(
    State(app): State<AppState>,
    Path((hall, window)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    window_page(&app, &hall, &window, "rater.html", &headers)
}

/// A page of one window: 404 naming the hall's windows when there is no such window.
fn window_page(
    app: &AppState,
    hall: &str,
    window: &str,
    page: &str,
    headers: &HeaderMap,
) -> Result<Response, Problem> {
    let h = known_hall(app, hall)?;
    let cfg = &app.config.halls[h];
    if cfg.window_index(window).is_none() {
        return Err(Problem::not_found(
            "unknown-window",
            format!(
                "hall `{hall}` has no window `{window}` (windows: {})",
                cfg.window_ids()
            ),
        )
        .field("window"));
    }
    Ok(serve(page, headers))
}

#[derive(Deserialize)]
struct LinkQuery {
    k: Option<String>,
}

async fn ticket_page(
    State(app): State<AppState>,
    axum::Extension(web): axum::Extension<Arc<Web>>,
    Path((hall, ticket)): Path<(String, String)>,
    Query(q): Query<LinkQuery>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    known_hall(&app, &hall)?;
    public::check_link(&web, &hall, &ticket, q.k.as_deref())?;
    Ok(serve("ticket.html", &headers))
}
