//! `GET /v1/stats?hall=ID[&subtree=true][&day=YYYY-MM-DD][&format=csv]`: a day's statistics
//! for one hall, or rolled up over the hall and every hall below it in the tier tree.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jiff::civil::Date;

use super::auth::Principal;
use super::problem::{Answer, Problem};
use super::scope::rollup_query;
use super::{AppState, render};
use crate::queue::stats::{DayStats, ServiceDay, WindowDay};
use crate::runtime::shard::{BookingOp, BookingReply, HallOp, HallReply};

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/stats", get(stats))
}

async fn stats(
    State(app): State<AppState>,
    who: Principal,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Problem> {
    let (root, subtree) = rollup_query(&app, &who, &q, &["hall", "subtree", "day", "format"])?;
    super::cluster::caught_up(&app).await?;
    let now = app.clock.now();
    let day: Date = match q.get("day") {
        None => crate::queue::business_date(&root.cfg, now),
        Some(d) => d.parse().map_err(|_| {
            Problem::bad_request(
                "invalid-field",
                format!("`day` is a date YYYY-MM-DD, not `{d}`"),
            )
            .field("day")
        })?,
    };
    let csv = match q.get("format").map(String::as_str) {
        Some("csv") => true,
        Some("json") => false,
        Some(other) => {
            return Err(Problem::bad_request(
                "invalid-field",
                format!("`format` is json or csv, not `{other}`"),
            )
            .field("format"));
        }
        None => headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/csv")),
    };

    let halls: Vec<usize> = (0..app.config.halls.len())
        .filter(|&h| {
            if subtree {
                app.config.is_within(h, root.index)
            } else {
                h == root.index
            }
        })
        .collect();
    let mut days = Vec::with_capacity(halls.len());
    let mut bookings = Vec::new();
    let (mut on_time, mut overdue) = (0, 0);
    for h in halls {
        if app.config.booking.hall_books(h) {
            let op = HallOp::Booking(Box::new(BookingOp::Stats { date: day }));
            match app.shards.ask(h, op, None).await {
                Ok(HallReply::Booking(BookingReply::Stats(list))) => bookings.extend(list),
                other => {
                    let cfg = &app.config.halls[h];
                    return Ok(render::hall(&cfg.id, &other).into_response());
                }
            }
        }
        let cfg = &app.config.halls[h];
        let today = crate::queue::business_date(cfg, now);
        let stats = if day == today {
            match app.shards.ask(h, HallOp::DayStats, None).await {
                Ok(HallReply::DayStats(stats)) => *stats,
                other => return Ok(render::hall(&cfg.id, &other).into_response()),
            }
        } else {
            let store = app.store.clone();
            let (hall_id, key) = (cfg.id.to_string(), day.to_string());
            tokio::task::spawn_blocking(move || store.day_stats(&hall_id, &key))
                .await
                .map_err(|e| Problem::unavailable(e.to_string()))?
                .map_err(|e| Problem::unavailable(e.to_string()))?
                .unwrap_or_else(|| empty_day(cfg, day))
        };
        let store = app.store.clone();
        let (hall_id, key) = (cfg.id.to_string(), day.to_string());
        let (good, late) = tokio::task::spawn_blocking(move || store.case_stats(&hall_id, &key))
            .await
            .map_err(|e| Problem::unavailable(e.to_string()))?
            .map_err(|e| Problem::unavailable(e.to_string()))?;
        on_time += good;
        overdue += late;
        days.push(stats);
    }
    let mut report = crate::stats::build(&root.cfg.id, subtree, day, &days, (on_time, overdue));
    report.bookings = crate::stats::BookingReport::sum(&bookings);
    Ok(if csv {
        (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"hallq-{}-{day}.csv\"", root.cfg.id),
                ),
            ],
            crate::stats::csv(&report),
        )
            .into_response()
    } else {
        Answer::json(200, &report).into_response()
    })
}

/// A day nothing was recorded for: every service and window at zero.
pub(crate) fn empty_day(cfg: &crate::model::Hall, day: Date) -> DayStats {
    DayStats {
        hall: cfg.id.to_string(),
        day,
        services: cfg
            .services
            .iter()
            .map(|s| ServiceDay {
                service: s.id.to_string(),
                ..ServiceDay::default()
            })
            .collect(),
        windows: cfg
            .windows
            .iter()
            .map(|w| WindowDay {
                window: w.id.to_string(),
                ..WindowDay::default()
            })
            .collect(),
        officers: Vec::new(),
    }
}
