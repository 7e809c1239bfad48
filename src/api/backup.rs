//! `GET /v1/admin/backup`: a consistent copy of the running daemon's store, streamed while
//! the daemon goes on serving (`crate::backup`). Admin tokens only.
//!
//! The copy is written on a blocking thread from one read transaction; a client that goes
//! away ends it. A failure half-way cuts the response off, so the client's copy lacks its
//! checksum and `hallq restore` refuses it.

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;
use super::auth::{Perm, Principal};
use super::problem::Problem;

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/admin/backup", get(backup))
}

async fn backup(State(app): State<AppState>, who: Principal) -> Result<Response, Problem> {
    who.require_global(Perm::Admin)?;
    let read = crate::backup::begin(&app.store)
        .map_err(|e| Problem::unavailable(format!("the store cannot be read: {e}")))?;
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let who = who.name().to_owned();
    tokio::task::spawn_blocking(move || {
        let failed = tx.clone();
        match crate::backup::write(&read, crate::backup::chunked(tx)) {
            Ok(summary) => tracing::info!(by = %who, %summary, "backup streamed"),
            Err(e) => {
                tracing::warn!(by = %who, error = %e, "backup cut off");
                let _ = failed.blocking_send(Err(std::io::Error::other(e.to_string())));
            }
        }
    });
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "application/octet-stream"),
            (
                axum::http::header::CONTENT_DISPOSITION,
                "attachment; filename=\"hallq.backup\"",
            ),
        ],
        axum::body::Body::from_stream(body),
    )
        .into_response())
}
