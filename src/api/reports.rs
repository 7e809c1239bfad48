//! `GET /v1/reports/{daily|weekly|monthly|quarterly}?hall=ID[&period=…][&subtree=true]
//! [&format=json|csv|html]`: the assessment reports (日检查、周考勤、月通报、季考核).
//!
//! Gathers each hall's stored day records and per-day case counts for the period (today's
//! figures from the hall's shard), then `reports::build` adds them up. Never replays events.
//! The format comes from `format`, else from `Accept` (text/html, text/csv), else JSON.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::auth::Principal;
use super::problem::{Answer, Problem};
use super::scope::rollup_query;
use super::{AppState, render};
use crate::reports::{HallDays, Kind, Period};
use crate::runtime::shard::{HallOp, HallReply};

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/reports/{kind}", get(report))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
    Html,
}

async fn report(
    State(app): State<AppState>,
    who: Principal,
    Path(kind): Path<String>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Problem> {
    let kind = Kind::parse(&kind).ok_or_else(|| {
        Problem::not_found(
            "unknown-report",
            format!("there is no report `{kind}`; use daily, weekly, monthly or quarterly"),
        )
    })?;
    let (root, subtree) = rollup_query(&app, &who, &q, &["hall", "period", "subtree", "format"])?;
    super::cluster::caught_up(&app).await?;
    let now = app.clock.now();
    let today = crate::queue::business_date(&root.cfg, now);
    let period = match q.get("period") {
        None => Period::containing(kind, today),
        Some(p) => Period::parse(kind, p).ok_or_else(|| {
            Problem::bad_request(
                "invalid-field",
                format!(
                    "`period` of a {} report is {}, not `{p}`",
                    kind.name(),
                    kind.example()
                ),
            )
            .field("period")
        })?,
    };
    let format = match q.get("format").map(String::as_str) {
        Some("json") => Format::Json,
        Some("csv") => Format::Csv,
        Some("html") => Format::Html,
        Some(other) => {
            return Err(Problem::bad_request(
                "invalid-field",
                format!("`format` is json, csv or html, not `{other}`"),
            )
            .field("format"));
        }
        None => {
            let accept = headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if accept.contains("text/csv") {
                Format::Csv
            } else if accept.contains("text/html") {
                Format::Html
            } else {
                Format::Json
            }
        }
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
    let mut gathered = Vec::with_capacity(halls.len());
    for h in halls {
        match gather(&app, h, &period, now).await? {
            Ok(days) => gathered.push(days),
            Err(response) => return Ok(response),
        }
    }
    let through = period.to.min(today);
    let report = crate::reports::build(
        &app.config,
        kind,
        period,
        (&root.cfg.id, subtree),
        through,
        &gathered,
    );
    let file = format!(
        "hallq-{}-{}-{}",
        kind.name(),
        root.cfg.id,
        report.period.name
    );
    Ok(match format {
        Format::Json => Answer::json(200, &report).into_response(),
        Format::Csv => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{file}.csv\""),
                ),
            ],
            crate::reports::csv::render(&report),
        )
            .into_response(),
        Format::Html => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            crate::reports::html::render(&report),
        )
            .into_response(),
    })
}

/// Hall `h`'s figures for the period's days up to its today: stored day records and case
/// counts, and today's from its shard. `Err(response)` when the shard cannot answer.
async fn gather(
    app: &AppState,
    h: usize,
    period: &Period,
    now: jiff::Timestamp,
) -> Result<Result<HallDays, Response>, Problem> {
    let cfg = app.config.halls[h].clone();
    let today = crate::queue::business_date(&cfg, now);
    let days: Vec<jiff::civil::Date> = period.days().filter(|d| *d <= today).collect();
    let runs_today = days.last() == Some(&today);
    // Today's figures first: asking the shard rolls its day over if it ended, so the
    // day record it stores is there when the store is read below.
    let today_stats = if runs_today {
        match app.shards.ask(h, HallOp::DayStats, None).await {
            Ok(HallReply::DayStats(stats)) => Some(*stats),
            other => return Ok(Err(render::hall(&cfg.id, &other).into_response())),
        }
    } else {
        None
    };
    let store = app.store.clone();
    let hall_cfg = cfg.clone();
    let mut out = tokio::task::spawn_blocking(move || {
        let id = hall_cfg.id.to_string();
        let (Some(first), Some(last)) = (days.first(), days.last()) else {
            return Ok(HallDays {
                hall: id,
                ..HallDays::default()
            });
        };
        let (from, to) = (first.to_string(), last.to_string());
        let mut stored = store.day_stats_between(&id, &from, &to)?;
        let days = days
            .iter()
            .filter(|d| **d < today)
            .map(|d| {
                stored
                    .remove(&d.to_string())
                    .unwrap_or_else(|| super::stats::empty_day(&hall_cfg, *d))
            })
            .collect();
        let counts = store.case_counts_between(&id, &from, &to)?;
        Ok::<_, crate::store::StoreError>(HallDays {
            hall: id,
            days,
            counts,
        })
    })
    .await
    .map_err(|e| Problem::unavailable(e.to_string()))?
    .map_err(|e| Problem::unavailable(e.to_string()))?;
    out.days.extend(today_stats);
    Ok(Ok(out))
}
