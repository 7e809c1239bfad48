//! Scenario (a), the durable mixed hall workload: start or find the daemon, set up the
//! province, load it with the closed or open loop while displays follow, report.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::cases;
use crate::http::{Pool, Target};
use crate::plan::{Daemon, Env, Plan, with_daemon};
use crate::report::{Recorder, Report, Setup};
use crate::sse::{self, SseCounters};
use crate::workload::{self, Period, Workload};

/// Run the durable mixed hall workload: start or find the daemon, set up, load, report.
pub fn run(plan: &Plan) -> Result<Report, String> {
    with_daemon(plan, async |env| drive(plan, env).await)
}

async fn drive(plan: &Plan, env: Env) -> Result<Report, String> {
    let Env {
        target,
        province,
        tokens,
        daemon,
    } = env;
    let windows = province.windows();
    if plan.rate.is_none() && plan.connections > windows {
        return Err(format!(
            "--connections {} needs at least as many windows (a window has one request in flight at a time); \
             the province has {windows}: use more --halls or fewer --connections",
            plan.connections
        ));
    }
    let setup_pool = Pool::new(target.clone(), 64);
    let (mix, cases) = cases::prepare(&setup_pool, &tokens.case_officer, plan.case_share).await;
    let work = Arc::new(Workload::new(
        target.clone(),
        province,
        &tokens.kiosk,
        &tokens.counter,
        mix,
    ));
    work.prepare(&setup_pool, plan.prefill, plan.seed).await?;
    drop(setup_pool);

    let halls = &work.province.halls;
    let subscribers = plan.subscribers.unwrap_or(halls.len());
    let start = Instant::now() + Duration::from_secs(1);
    let from = start + plan.warmup;
    let period = Period {
        start,
        from,
        until: from + plan.duration,
    };
    let counters = Arc::new(SseCounters::default());
    let display_token = Target::bearer(&tokens.display);
    let displays: Vec<_> = (0..subscribers)
        .map(|i| {
            tokio::spawn(sse::display(
                target.clone(),
                halls[i % halls.len()].id.clone(),
                display_token.clone(),
                period,
                counters.clone(),
            ))
        })
        .collect();
    while counters
        .connected
        .load(std::sync::atomic::Ordering::Relaxed)
        < subscribers as u64
        && Instant::now() < start
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep_until(start.into()).await;

    let rec = Arc::new(Mutex::new(Recorder::new(period.from)));
    match plan.rate {
        None => {
            workload::closed_loop(
                work.clone(),
                plan.connections,
                period,
                plan.seed,
                rec.clone(),
            )
            .await
        }
        Some(rate) => {
            let pool = Arc::new(Pool::new(target.clone(), plan.connections));
            workload::open_loop(work.clone(), pool, rate, period, plan.seed, rec.clone()).await;
        }
    }
    for d in displays {
        let _ = tokio::time::timeout(Duration::from_secs(2), d).await;
    }
    // A finished request task may still hold its clone for a moment; take the contents.
    let recorder = std::mem::replace(
        &mut *rec.lock().unwrap_or_else(|e| e.into_inner()),
        Recorder::new(period.from),
    );
    Ok(Report {
        setup: Setup {
            mode: if plan.rate.is_some() {
                "open"
            } else {
                "closed"
            },
            target: target.url.clone(),
            daemon,
            connections: plan.connections,
            rate: plan.rate,
            duration: plan.duration,
            warmup: plan.warmup,
            group_commit: match &plan.daemon {
                Daemon::Local { group_commit, .. } => Some(*group_commit),
                Daemon::Remote { .. } => None,
            },
            halls: work.province.halls.len(),
            tiers: work.province.tiers(),
            windows,
            subscribers,
            prefill: plan.prefill,
        },
        recorder,
        sse: counters.summary(),
        cases,
    })
}
