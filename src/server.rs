//! Putting the daemon together: recover, start the writer and shards, serve, drain, stop.
//!
//! `Daemon::start` does everything that can fail before serving (open the store, rebuild the
//! halls from their current-state records, read the ticket-link keys) so a caller can bind
//! the port only when that worked. `router` composes the HTTP side: every part's routes and
//! the layers around them, in one place. `serve` runs until the shutdown signal, lets in-flight requests finish within the
//! grace period, then stops the shards (which answer what they hold) and the writer (which
//! commits what it holds), in that order. A store that refuses writes (a full disk) does not
//! stop it: reads go on and writes resume when the store can commit again (`store`).

mod conn;

pub use conn::{HEAD_LIMIT, Limits, URI_LIMIT, raise_nofile};

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::api::{self, App, AppState};
use crate::clock::Clock;
use crate::config::Config;
use crate::queue::HallEngine;
use crate::runtime::Context;
use crate::runtime::cases::CaseShard;
use crate::runtime::hub::Hub;
use crate::runtime::shard::Shards;
use crate::store::{Store, StoreError, WriterHandle};
use crate::web::{self, LinkKeys, Web};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DaemonError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),
}

pub struct Daemon {
    app: AppState,
    /// What the web pages share (the ticket-link keys among it).
    web: Arc<Web>,
    writer: WriterHandle,
}

impl Daemon {
    /// Open the store in `data` and rebuild every hall from it.
    pub fn start(
        config: Arc<Config>,
        data: &Path,
        clock: Arc<dyn Clock>,
    ) -> Result<Daemon, DaemonError> {
        let store = Store::open(data, &config.store)?;
        Daemon::start_with_store(config, store, clock)
    }

    /// `start` on a store the caller opened: tests put it on a disk that fails on demand
    /// (`Store::open_with_backend`). The daemon itself uses `start`.
    pub fn start_with_store(
        config: Arc<Config>,
        store: Store,
        clock: Arc<dyn Clock>,
    ) -> Result<Daemon, DaemonError> {
        // Before any metric handle is made: handles made earlier would go nowhere.
        crate::metrics::install();
        metrics::gauge!(crate::metrics::START_TIME).set(clock.now().as_second() as f64);
        zero_counters();
        crate::runtime::cases::zero_case_counters(&config);
        let store = Arc::new(store);
        // Cluster mode: PostgreSQL reached and its schema current before anything is loaded;
        // no hall serves until the lease loop adopts it.
        let cluster = crate::cluster::Cluster::connect(&config, store.clone())?;
        let now = clock.now();
        // Cases (two threads: decode, restore) load while this thread loads the halls.
        let (mut halls, deadlines) = std::thread::scope(|scope| {
            let cases = std::thread::Builder::new()
                .name("hallq-load-cases".into())
                .spawn_scoped(scope, || {
                    crate::runtime::cases::recover(&config, &store, now).map_err(DaemonError::from)
                })
                .map_err(StoreError::Thread)?;
            let halls = recover_halls(&config, &store, now);
            let cases = cases.join().expect("case recovery does not panic");
            Ok::<_, DaemonError>((halls?, cases?))
        })?;
        let calendars = std::sync::RwLock::new(deadlines.calendars.clone());
        // The replaced calendars the halls start with; read before the following can bring
        // newer ones (`api::cluster::follow_calendars` takes those).
        let calendar_texts = std::sync::Mutex::new(store.calendars()?.into_iter().collect());
        crate::runtime::cases::warn_near_horizon(&deadlines.calendars, now);
        // A calendar replaced through the API before this start wins over the config's file
        // for the halls' schedules too.
        for (engine, h) in halls.iter_mut().zip(&config.halls) {
            if let Some(c) = h.calendar {
                engine.set_calendar(Some(deadlines.calendars[c].clone()), now);
            }
        }

        let hub = Arc::new(Hub::new(config.server.sse_buffer));
        let writer = store.start_writer(&config.store, hub.clone(), clock.clone());
        let ctx = Context {
            store: store.clone(),
            writer: writer.sender(),
            clock: clock.clone(),
            render: Arc::new(api::render::Renderer),
        };
        let cases = Arc::new(CaseShard::start(deadlines, &config, ctx.clone()));
        // A bad rating whose rectification case was not opened before a crash opens it now.
        // Every other re-offer changes nothing: acceptance is idempotent on the id derived
        // from the ticket, whether that case is open or closed, and the offer carries the same
        // acceptance time as the first one (both come from `HallEngine::bad_ratings`), so a
        // completed rectification is never reopened and never conflicts.
        for (h, engine) in halls.iter().enumerate() {
            for bad in engine.bad_ratings() {
                crate::runtime::shard::open_case(
                    &cases,
                    crate::runtime::shard::rectification(&config, h, bad),
                );
            }
        }
        let threads = match config.server.shards {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        let books = crate::runtime::shard::recover_books(&config, &store)?;
        let shards = Shards::start(&config, halls, books, &ctx, &cases, threads);
        if let Some(c) = &cluster {
            c.start(writer.sender());
        }
        let web = Arc::new(Web::new(link_keys(&store)));
        let outbox = Arc::new(crate::notify::Outbox::new(
            config.clone(),
            store.clone(),
            writer.sender(),
            clock.clone(),
            hub.clone(),
        ));
        outbox.zero_metrics();
        let app = Arc::new(App {
            tokens: api::auth::Tokens::new(&config),
            config,
            shards,
            cases,
            calendars,
            calendar_texts,
            store,
            hub,
            clock,
            shutdown: CancellationToken::new(),
            cluster,
            ready: AtomicBool::new(true),
            test_hooks: AtomicBool::new(false),
            outbox,
        });
        Ok(Daemon { app, web, writer })
    }

    pub fn app(&self) -> &AppState {
        &self.app
    }

    /// Mount the test hooks (`api::test_hooks`) when this daemon serves. Off unless asked for:
    /// `hallq serve` asks only under `HALLQ_TEST_HOOKS=1`.
    pub fn enable_test_hooks(&self) {
        self.app.test_hooks.store(true, Ordering::Release);
    }

    /// Serve on `listener` until `signal` resolves or the store fails.
    pub async fn serve(
        self,
        listener: TcpListener,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), DaemonError> {
        let app = self.app.clone();
        let token = app.shutdown.clone();
        tokio::spawn({
            let token = token.clone();
            async move {
                tokio::select! {
                    () = signal => tracing::info!("shutdown requested"),
                    () = token.cancelled() => {}
                }
                token.cancel();
            }
        });
        let mut watchers = vec![
            tokio::spawn(watch_store(app.clone())),
            tokio::spawn(systemd_watchdog(app.clone())),
            tokio::spawn(metrics_upkeep()),
            // Stopped with the watchers, before the writer it writes through.
            tokio::spawn(app.outbox.clone().run(token.clone())),
        ];
        if app.cluster.is_some() {
            watchers.push(tokio::spawn(api::cluster::follow_calendars(app.clone())));
        }

        let grace = Duration::from_secs(app.config.server.shutdown_grace_s);
        let nofile = raise_nofile();
        let limits = Limits::new(&app.config.server, nofile);
        tracing::info!(
            nofile,
            max_connections = limits.max_connections,
            reserved = limits.reserved,
            per_address = limits.per_address,
            "connection limits"
        );
        let router = router(app.clone(), self.web.clone());
        conn::serve(listener, app.clone(), router, limits, token.clone(), grace).await;
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
        // Nothing may keep the store open once `serve` returns (a restart in the same process
        // reopens it).
        for w in watchers {
            w.abort();
            let _ = w.await;
        }

        let Daemon { app, writer, .. } = self;
        let stopper = app.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if let Some(c) = &stopper.cluster {
                c.stop_leases();
            }
            stopper.shards.stop();
            stopper.cases.stop();
            stopper.outbox.stop();
            writer.stop();
            if let Some(c) = &stopper.cluster {
                c.leave();
            }
        })
        .await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// The daemon's tokio runtime (HTTP, the accept loop, timers): what `hallq serve` and the
/// load test's in-process daemon both run on; one worker per core.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let mut b = tokio::runtime::Builder::new_multi_thread();
    b.enable_all().thread_name("hallq-http");
    fair_io(&mut b).build()
}

/// I/O readiness events one poll of the driver takes: by a worker that ran out of tasks,
/// and by a busy one (every `event_interval`, 61 tasks).
const IO_EVENTS_PER_TICK: usize = 64;
const IO_EVENTS_PER_BUSY_TICK: usize = 8;

/// Serve many connections in the order they became ready. tokio's defaults take up to
/// 1,024 events per poll, busy or not, and wake their tasks into the worker's local queue,
/// which holds 256: past that, half of the queue (its newest half) goes to the global queue,
/// which a busy worker checks only now and then, so with a thousand connections sending at
/// once some are answered over and over while others wait behind them. In the booking rush
/// with 1,000 in flight that made the p99 3-4x the p50 (p50 27 ms, p99 94 ms; the
/// background requests' p99 ~130 ms). Taking a few events at a time leaves the rest in the
/// kernel's ready list, which keeps them in order, and the local queue never overflows:
/// p50 33 ms, p99 46 ms at the same throughput (BENCHMARKS.md, booking rush).
pub fn fair_io(b: &mut tokio::runtime::Builder) -> &mut tokio::runtime::Builder {
    b.max_io_events_per_tick(IO_EVENTS_PER_TICK)
        .max_io_events_per_busy_tick(IO_EVENTS_PER_BUSY_TICK)
}

/// Every route the daemon serves and the layers around them: HTTP is composed here and
/// nowhere else. Each part registers its own routes.
fn router(app: AppState, web: Arc<Web>) -> Router {
    let limit = app.config.server.body_limit;
    let hooks = if app.test_hooks.load(Ordering::Acquire) {
        api::test_hooks::routes()
    } else {
        Router::new()
    };
    let router = Router::new()
        .merge(hooks)
        .merge(api::halls::routes())
        .merge(api::bookings::routes())
        .merge(api::events::routes())
        .merge(api::cases::routes())
        .merge(api::bundles::routes())
        .merge(api::stats::routes())
        .merge(api::reports::routes())
        .merge(api::backup::routes())
        .merge(api::ops::routes())
        .merge(api::cluster::routes())
        .merge(api::officers::routes())
        .merge(api::complaints::routes())
        .merge(api::webhooks::routes())
        .merge(web::routes(web))
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed);
    // Each layer costs every request a clone of its route and a boxed future: forwarding to
    // the node that holds a hall is only layered in cluster mode.
    let router = if app.cluster.is_some() {
        router.layer(axum::middleware::from_fn_with_state(
            app.clone(),
            api::cluster::follow_owner,
        ))
    } else {
        router
    };
    router
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(api::track::RequestMetrics::default()),
            api::track::track,
        ))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(app)
}

/// The ticket-link secret, read (or created) in the data directory. If that fails the pages
/// still work, with links that last only until the daemon restarts.
fn link_keys(store: &Store) -> LinkKeys {
    let dir = store
        .path()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    LinkKeys::load_or_create(&dir).unwrap_or_else(|e| {
        tracing::error!("{e}; printed ticket links will stop working when the daemon restarts");
        LinkKeys::random().expect("the OS provides random bytes")
    })
}

/// Every hall's engine with its tickets, from the current-state tables.
fn recover_halls(
    config: &Config,
    store: &Store,
    now: jiff::Timestamp,
) -> Result<Vec<HallEngine>, DaemonError> {
    let mut halls = Vec::with_capacity(config.halls.len());
    let mut tickets = 0usize;
    for h in &config.halls {
        let engine = match store.load_hall(&h.id)? {
            Some((record, stored)) => {
                tickets += stored.len();
                let (engine, warnings) = HallEngine::restore(h.clone(), now, record, stored);
                for w in warnings {
                    tracing::warn!(hall = %h.id, "{w}");
                }
                engine
            }
            None => HallEngine::new(h.clone(), now),
        };
        halls.push(engine);
    }
    tracing::info!(
        halls = halls.len(),
        tickets,
        store = %store.path().display(),
        "recovered current state"
    );
    Ok(halls)
}

/// Counters alert rules watch exist at zero from the first scrape, so `increase()` works.
fn zero_counters() {
    use crate::metrics::{
        HTTP_SECONDS, OVERLOAD, SSE_DROPPED, STORE_BATCH_SIZE, STORE_CHECKPOINT_SECONDS,
        STORE_COMMIT_SECONDS, STORE_FAILURES, STORE_RECOVERIES, STORE_RETRIES, STORE_WRITABLE,
    };
    metrics::counter!(STORE_FAILURES).increment(0);
    for direction in ["forward", "backward"] {
        metrics::counter!(crate::metrics::CLOCK_STEPS, "direction" => direction).increment(0);
    }
    metrics::gauge!(crate::metrics::CLOCK_LAST_STEP).set(0.0);
    metrics::counter!(STORE_RECOVERIES).increment(0);
    metrics::counter!(STORE_RETRIES).increment(0);
    metrics::gauge!(STORE_WRITABLE).set(1.0);
    // Histograms show (empty) from the first scrape once registered, not from the first
    // commit or request.
    let _registered = metrics::histogram!(STORE_COMMIT_SECONDS);
    let _registered = metrics::histogram!(STORE_CHECKPOINT_SECONDS);
    let _registered = metrics::histogram!(STORE_BATCH_SIZE);
    // The request histogram is labelled by route, method and status as requests come; one
    // series at zero lets the latency panels and rules read 0 before the first request.
    let _registered = metrics::histogram!(HTTP_SECONDS, "route" => "/healthz", "method" => "GET", "status" => "200");
    for queue in ["hall", "case"] {
        metrics::counter!(OVERLOAD, "queue" => queue).increment(0);
    }
    // Cluster mode's series read 0 from the first scrape (and stay 0 when running alone), so
    // the dashboard's cluster panels and `increase()` work from the start.
    let _registered = metrics::histogram!(crate::metrics::CLUSTER_APPEND_SECONDS);
    metrics::gauge!(crate::metrics::CLUSTER_LEASES).set(0.0);
    for c in [
        crate::metrics::CLUSTER_ADOPTIONS,
        crate::metrics::CLUSTER_APPEND_FAILURES,
        crate::metrics::CLUSTER_FENCED,
        crate::metrics::CLUSTER_TRIMMED,
    ] {
        metrics::counter!(c).increment(0);
    }
    for stream in ["hall", "alarms", "cases", "ticket"] {
        metrics::counter!(SSE_DROPPED, "stream" => stream).increment(0);
        metrics::gauge!(crate::metrics::SSE_SUBSCRIBERS, "stream" => stream).increment(0.0);
    }
}

/// The exporter's histograms need regular upkeep.
async fn metrics_upkeep() {
    let mut every = tokio::time::interval(Duration::from_secs(5));
    loop {
        every.tick().await;
        crate::metrics::install().run_upkeep();
    }
}

/// Show in systemd's status line (`systemctl status hallq`) whether the store refuses writes
/// and why; the writer logs the failure and the recovery. The daemon keeps serving reads
/// meanwhile: a restart would not free the disk, so none is asked for.
async fn watch_store(app: AppState) {
    let mut every = tokio::time::interval(Duration::from_millis(250));
    let mut refusing = false;
    loop {
        every.tick().await;
        if app.shutdown.is_cancelled() {
            return;
        }
        match app.store.health.refusal() {
            Some(r) if !refusing => {
                refusing = true;
                let status = format!("serving reads only: {}", r.cause);
                let _ = sd_notify::notify(&[sd_notify::NotifyState::Status(&status)]);
            }
            None if refusing => {
                refusing = false;
                let _ = sd_notify::notify(&[sd_notify::NotifyState::Status("serving")]);
            }
            _ => {}
        }
    }
}

/// Tell systemd we are alive at half its watchdog interval, but only while the store writer
/// and every shard are still going round their loops: a wedged thread must get the daemon
/// restarted, not kept alive by a healthy tokio runtime.
async fn systemd_watchdog(app: AppState) {
    let Some(interval) = sd_notify::watchdog_enabled() else {
        return;
    };
    let mut every = tokio::time::interval(interval / 2);
    loop {
        every.tick().await;
        if app.shutdown.is_cancelled() {
            return;
        }
        let now = app.clock.now().as_second();
        let stale = |t: i64| now - t > 10;
        let writer = app.store.health.writer_alive.load(Ordering::Relaxed);
        let shards = app
            .shards
            .alive
            .iter()
            .chain(std::iter::once(&app.cases.alive))
            .map(|a| a.load(Ordering::Relaxed));
        if stale(writer) || shards.clone().any(stale) {
            tracing::error!(
                "a shard or the store writer is not responding; withholding the watchdog ping"
            );
            continue;
        }
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
    }
}
