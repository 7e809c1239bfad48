//! Prometheus metrics: the catalogue of every `hallq_*` series, its labels and buckets.
//!
//! Code records through the `metrics` facade; `metrics-exporter-prometheus` renders
//! `GET /metrics`. Histograms have explicit buckets (never summaries), so they aggregate across
//! halls and instances. Names use base units (seconds) and `_total` for counters.
//!
//! A province has thousands of halls; `[metrics] labels = "tier"` replaces the `hall` label by
//! the hall's `tier` everywhere, so series grow with tiers and services, not halls. With the
//! default `labels = "hall"` both `hall` and `tier` are set, so dashboards can select either.
//! Gauges that several shards feed (queue lengths, windows, open cases) are summed (or, for
//! the longest wait, maximised) over the halls that share a label set before they are set.
//!
//! `docs/METRICS.md` lists the catalogue for operators; a test checks the two agree.

use crate::hash::FastMap;
use std::sync::{Mutex, OnceLock};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::config::LabelMode;
use crate::model::Hall;

/// Tickets issued, by hall/tier, service and class.
pub const TICKETS_ISSUED: &str = "hallq_tickets_issued_total";
/// Tickets called (first calls, not recalls).
pub const TICKETS_CALLED: &str = "hallq_tickets_called_total";
/// Tickets served to completion.
pub const TICKETS_SERVED: &str = "hallq_tickets_served_total";
pub const TICKETS_NO_SHOW: &str = "hallq_tickets_no_show_total";
pub const TICKETS_CANCELLED: &str = "hallq_tickets_cancelled_total";
/// Tickets waiting now, by hall/tier and service.
pub const QUEUE_LENGTH: &str = "hallq_queue_length";
/// Seconds the longest-waiting ticket has waited, by hall/tier and service.
pub const QUEUE_LONGEST_WAIT: &str = "hallq_queue_longest_wait_seconds";
/// The service's target wait, so dashboards compare against it (the largest of the tier's
/// halls in tier mode).
pub const QUEUE_TARGET_WAIT: &str = "hallq_queue_target_wait_seconds";
/// Queues whose longest wait is past their own service's target: 0 or 1 per hall and service,
/// summed in tier mode. Exact where comparing the two gauges above is not (tier mode).
pub const QUEUE_OVER_TARGET: &str = "hallq_queue_over_target";
/// Seconds from issue to first call.
pub const WAIT_SECONDS: &str = "hallq_wait_seconds";
/// Seconds from start (or call) to completion.
pub const SERVICE_SECONDS: &str = "hallq_service_seconds";
/// Windows by state: closed, open (idle), calling, serving, paused.
pub const WINDOWS: &str = "hallq_windows";
/// Ratings (好差评) by level 1..5.
pub const RATINGS: &str = "hallq_ratings_total";
/// Open rectifications of bad ratings (差评整改), and those past their one working day.
pub const RECTIFICATIONS_OPEN: &str = "hallq_rectifications_open";
pub const RECTIFICATIONS_OVERDUE: &str = "hallq_rectifications_overdue";
/// Complaints (投诉) received, and those open and past their limit now.
pub const COMPLAINTS: &str = "hallq_complaints_total";
pub const COMPLAINTS_OPEN: &str = "hallq_complaints_open";
pub const COMPLAINTS_OVERDUE: &str = "hallq_complaints_overdue";
/// Open cases by their current alarm level (`none` before any).
pub const CASES_OPEN: &str = "hallq_cases_open";
/// Cases closed, by outcome: on_time, overdue, withdrawn.
pub const CASES_CLOSED: &str = "hallq_cases_closed_total";
/// Alarms raised, by level (case ladders' levels and the ticket alarms).
pub const ALARMS_RAISED: &str = "hallq_alarms_raised_total";
/// Alarm levels cleared because a deadline moved.
pub const ALARMS_CLEARED: &str = "hallq_alarms_cleared_total";
/// Deadlines pending in the timing wheels, by kind: case, ticket.
pub const DEADLINES_PENDING: &str = "hallq_deadlines_pending";
/// 预约: bookings made, cancelled, checked in and flagged (their day closed), by action.
pub const BOOKINGS: &str = "hallq_bookings_total";
/// Today's bookings (the hall's local date) by status: booked (still to come), checked_in,
/// cancelled, no_show.
pub const BOOKINGS_TODAY: &str = "hallq_bookings_today";
/// Seats today's bookable slots offer; utilisation is held bookings over these.
pub const BOOKING_SEATS_TODAY: &str = "hallq_booking_seats_today";
/// Bookings refused `slot-full` by the HTTP side from the hall owner's board, without
/// crossing to the owner (`runtime::shard::Board`).
pub const BOOKINGS_FULL_EARLY: &str = "hallq_bookings_full_early_total";
/// Applicant notifications' webhook attempts, by webhook and result: delivered, failed.
pub const WEBHOOK_DELIVERIES: &str = "hallq_webhook_deliveries_total";
/// Notifications that became dead letters (attempts or age exhausted), by webhook.
pub const WEBHOOK_DEAD: &str = "hallq_webhook_dead_letters_total";
/// Notifications in the outbox now, by webhook and state: pending, dead.
pub const WEBHOOK_OUTBOX: &str = "hallq_webhook_outbox";
/// Seconds a group commit took, fsync included.
pub const STORE_COMMIT_SECONDS: &str = "hallq_store_commit_seconds";
/// Seconds a checkpoint took (the log's tail materialised into the state tables).
pub const STORE_CHECKPOINT_SECONDS: &str = "hallq_store_checkpoint_seconds";
/// Requests committed by one fsync.
pub const STORE_BATCH_SIZE: &str = "hallq_store_batch_size";
/// Commits that failed (the store then refuses writes until a trial commit succeeds).
pub const STORE_FAILURES: &str = "hallq_store_failures_total";
/// Cluster mode: seconds one append to the log of record in PostgreSQL took.
pub const CLUSTER_APPEND_SECONDS: &str = "hallq_cluster_append_seconds";
/// Cluster mode: appends the log of record refused (a lease lost) or that failed.
pub const CLUSTER_APPEND_FAILURES: &str = "hallq_cluster_append_failures_total";
/// Cluster mode: hall leases this node holds.
pub const CLUSTER_LEASES: &str = "hallq_cluster_leases_held";
/// Cluster mode: halls this node adopted (at start, from a dead node, or handed over).
pub const CLUSTER_ADOPTIONS: &str = "hallq_cluster_adoptions_total";
/// Cluster mode: batches refused alone because their hall (or the case engine) moved to
/// another node before they were committed.
pub const CLUSTER_FENCED: &str = "hallq_cluster_fenced_batches_total";
/// Cluster mode: log-of-record rows deleted because every node's store holds them.
pub const CLUSTER_TRIMMED: &str = "hallq_cluster_trimmed_rows_total";
/// HTTP request latency by route (the path template), method and status.
pub const HTTP_SECONDS: &str = "hallq_http_request_duration_seconds";
/// Requests refused with 503 because a queue was full, by queue: hall, case.
pub const OVERLOAD: &str = "hallq_overload_rejections_total";
/// Open SSE subscriptions by stream kind: hall, alarms, cases, ticket.
pub const SSE_SUBSCRIBERS: &str = "hallq_sse_subscribers";
/// Subscribers cut off for falling behind, by stream kind.
pub const SSE_DROPPED: &str = "hallq_sse_dropped_total";
/// Open client connections.
pub const CONNECTIONS_OPEN: &str = "hallq_connections_open";
/// The connection cap in force (`[server] max_connections`, or from the descriptor limit).
pub const CONNECTIONS_MAX: &str = "hallq_connections_max";
/// Connections the server closed, by reason: header_timeout, idle_timeout, write_timeout,
/// evicted (the oldest waiting one, to make room at the cap).
pub const CONNECTIONS_CLOSED: &str = "hallq_connections_closed_total";
/// Connections or requests refused, by reason: cap (every slot busy), address (the
/// per-address limit), reserve (no token on a reserved slot).
pub const CONNECTIONS_REFUSED: &str = "hallq_connections_refused_total";
/// 1, labelled with the version.
pub const BUILD_INFO: &str = "hallq_build_info";
/// Unix time the daemon started: a change is a restart.
pub const START_TIME: &str = "hallq_start_time_seconds";
/// Days from today (in the calendar's zone) to the calendar's last covered day, negative past
/// it, by calendar. Whole civil days, not a duration: hence days, not seconds.
pub const CALENDAR_HORIZON: &str = "hallq_calendar_horizon_days";
/// 1 while the store accepts writes, 0 while it refuses them after a failed commit.
pub const STORE_WRITABLE: &str = "hallq_store_writable";
/// Times the store accepted writes again after refusing them.
pub const STORE_RECOVERIES: &str = "hallq_store_recoveries_total";
/// Trial commits that failed while the store refused writes.
pub const STORE_RETRIES: &str = "hallq_store_retry_failures_total";

/// Confirmed steps of the system clock, by direction (see `clock::SteadyClock`).
pub const CLOCK_STEPS: &str = "hallq_clock_steps_total";
/// The size of the last confirmed clock step, in seconds (negative: backwards).
pub const CLOCK_LAST_STEP: &str = "hallq_clock_last_step_seconds";

/// Wait times: from half a minute to two hours, around typical 30-60 minute targets.
const WAIT_BUCKETS: &[f64] = &[
    30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1200.0, 1800.0, 2700.0, 3600.0, 5400.0, 7200.0,
];
/// Service times: a minute to an hour.
const SERVICE_BUCKETS: &[f64] = &[
    30.0, 60.0, 120.0, 180.0, 300.0, 600.0, 900.0, 1200.0, 1800.0, 3600.0,
];
/// Commit latency: fsync on SSDs takes 0.1-10 ms.
const COMMIT_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];
const BATCH_BUCKETS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 4096.0,
];
/// HTTP latency: the 10 ms p99 target sits in the middle.
const HTTP_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Install the global recorder once per process and return its handle. Later calls (another
/// daemon in the same test process) share it.
pub fn install() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let mut b = PrometheusBuilder::new();
        for (name, buckets) in [
            (WAIT_SECONDS, WAIT_BUCKETS),
            (SERVICE_SECONDS, SERVICE_BUCKETS),
            (STORE_COMMIT_SECONDS, COMMIT_BUCKETS),
            (STORE_CHECKPOINT_SECONDS, COMMIT_BUCKETS),
            (STORE_BATCH_SIZE, BATCH_BUCKETS),
            (HTTP_SECONDS, HTTP_BUCKETS),
            (CLUSTER_APPEND_SECONDS, COMMIT_BUCKETS),
        ] {
            b = b
                .set_buckets_for_metric(Matcher::Full(name.to_owned()), buckets)
                .expect("bucket lists are non-empty");
        }
        let handle = b
            .install_recorder()
            .expect("no other metrics recorder is installed");
        describe();
        metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
        handle
    })
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        TICKETS_ISSUED,
        "Tickets issued, by hall or tier, service and class."
    );
    describe_counter!(TICKETS_CALLED, "Tickets called for the first time.");
    describe_counter!(TICKETS_SERVED, "Tickets served to completion.");
    describe_counter!(TICKETS_NO_SHOW, "Tickets marked as no-show.");
    describe_counter!(TICKETS_CANCELLED, "Tickets cancelled while waiting.");
    describe_gauge!(QUEUE_LENGTH, "Tickets waiting now.");
    describe_gauge!(
        QUEUE_LONGEST_WAIT,
        Unit::Seconds,
        "How long the longest-waiting ticket has waited."
    );
    describe_gauge!(
        QUEUE_TARGET_WAIT,
        Unit::Seconds,
        "The service's target wait."
    );
    describe_histogram!(
        WAIT_SECONDS,
        Unit::Seconds,
        "Seconds from issue to first call."
    );
    describe_histogram!(
        SERVICE_SECONDS,
        Unit::Seconds,
        "Seconds from start (or call) to completion."
    );
    describe_gauge!(WINDOWS, "Windows by state.");
    describe_counter!(
        RATINGS,
        "Service ratings (1 very dissatisfied to 5 very satisfied)."
    );
    describe_gauge!(CASES_OPEN, "Open cases by current alarm level.");
    describe_gauge!(RECTIFICATIONS_OPEN, "Open rectifications of bad ratings.");
    describe_gauge!(
        RECTIFICATIONS_OVERDUE,
        "Open rectifications past their one working day."
    );
    describe_counter!(COMPLAINTS, "Complaints received.");
    describe_gauge!(COMPLAINTS_OPEN, "Open complaints.");
    describe_gauge!(COMPLAINTS_OVERDUE, "Open complaints past their limit.");
    describe_counter!(CASES_CLOSED, "Cases closed, by outcome.");
    describe_counter!(ALARMS_RAISED, "Alarms raised, by level.");
    describe_counter!(
        ALARMS_CLEARED,
        "Alarm levels cleared because a deadline moved."
    );
    describe_gauge!(DEADLINES_PENDING, "Deadlines pending in the timing wheels.");
    describe_histogram!(
        STORE_COMMIT_SECONDS,
        Unit::Seconds,
        "Group commit latency, fsync included."
    );
    describe_histogram!(
        STORE_CHECKPOINT_SECONDS,
        Unit::Seconds,
        "Checkpoint latency: the log's tail written into the state tables."
    );
    describe_histogram!(STORE_BATCH_SIZE, "Requests made durable by one fsync.");
    describe_counter!(STORE_FAILURES, "Store commits that failed.");
    describe_counter!(
        BOOKINGS,
        "Bookings made, cancelled, checked in or flagged (their day closed)."
    );
    describe_gauge!(
        BOOKINGS_TODAY,
        "Today's bookings by status: booked, checked_in, cancelled, no_show."
    );
    describe_gauge!(BOOKING_SEATS_TODAY, "Seats today's bookable slots offer.");
    describe_counter!(
        BOOKINGS_FULL_EARLY,
        "Bookings refused slot-full without crossing to the hall's owner (its board of full slots)."
    );
    describe_counter!(
        WEBHOOK_DELIVERIES,
        "Webhook attempts of applicant notifications, by webhook and result."
    );
    describe_counter!(
        WEBHOOK_DEAD,
        "Notifications that became dead letters, by webhook."
    );
    describe_gauge!(
        WEBHOOK_OUTBOX,
        "Notifications in the outbox, by webhook and state: pending, dead."
    );

    describe_histogram!(
        CLUSTER_APPEND_SECONDS,
        Unit::Seconds,
        "Cluster mode: latency of one append to the log of record in PostgreSQL."
    );
    describe_counter!(
        CLUSTER_APPEND_FAILURES,
        "Cluster mode: appends to the log of record refused or failed."
    );
    describe_gauge!(CLUSTER_LEASES, "Cluster mode: hall leases this node holds.");
    describe_counter!(
        CLUSTER_ADOPTIONS,
        "Cluster mode: halls this node adopted (replayed from the log of record)."
    );
    describe_counter!(
        CLUSTER_TRIMMED,
        "Cluster mode: log-of-record rows deleted because every node's store holds them."
    );
    describe_counter!(
        CLUSTER_FENCED,
        "Cluster mode: batches refused alone because their hall moved to another node first."
    );
    describe_histogram!(
        HTTP_SECONDS,
        Unit::Seconds,
        "HTTP request latency by route, method and status."
    );
    describe_counter!(
        OVERLOAD,
        "Requests refused with 503 because a queue was full."
    );
    describe_gauge!(SSE_SUBSCRIBERS, "Open server-sent-event subscriptions.");
    describe_counter!(SSE_DROPPED, "Subscribers cut off for falling behind.");
    describe_gauge!(CONNECTIONS_OPEN, "Open client connections.");
    describe_gauge!(CONNECTIONS_MAX, "The connection cap in force.");
    describe_counter!(
        CONNECTIONS_CLOSED,
        "Connections the server closed: timeouts and eviction at the cap."
    );
    describe_counter!(
        CONNECTIONS_REFUSED,
        "Connections or requests refused for lack of a connection slot."
    );
    describe_gauge!(BUILD_INFO, "Build information.");
    describe_gauge!(
        QUEUE_OVER_TARGET,
        "Queues waiting past their own service's target wait."
    );
    describe_counter!(
        CLOCK_STEPS,
        "Confirmed steps of the system clock that engine time followed, by direction."
    );
    describe_gauge!(
        CLOCK_LAST_STEP,
        Unit::Seconds,
        "Size of the last confirmed system clock step (negative: backwards)."
    );
    describe_gauge!(START_TIME, Unit::Seconds, "Unix time the daemon started.");
    describe_gauge!(
        CALENDAR_HORIZON,
        "Days from today to the calendar's last covered day (negative past it)."
    );
    describe_gauge!(
        STORE_WRITABLE,
        "1 while the store accepts writes, 0 while it refuses them (reads go on)."
    );
    describe_counter!(
        STORE_RECOVERIES,
        "Times the store accepted writes again after refusing them."
    );
    describe_counter!(
        STORE_RETRIES,
        "Trial commits that failed while the store refused writes."
    );
}

/// The hall's labels in this mode: `hall` and `tier`, or `tier` only.
pub fn hall_labels(mode: LabelMode, hall: &Hall) -> LabelSet {
    match mode {
        LabelMode::Hall => vec![
            ("hall", hall.id.to_string()),
            ("tier", hall.tier.as_str().to_owned()),
        ],
        LabelMode::Tier => vec![("tier", hall.tier.as_str().to_owned())],
    }
}

/// The label value identifying a hall's group in this mode.
pub fn group_of(mode: LabelMode, hall: &Hall) -> String {
    match mode {
        LabelMode::Hall => hall.id.to_string(),
        LabelMode::Tier => hall.tier.as_str().to_owned(),
    }
}

/// How parts of one gauge combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combine {
    Sum,
    Max,
}

/// Gauges fed by several producers (shards, the case thread): each producer reports its part
/// for a label set, and the gauge shows their sum or maximum. A producer reports all its parts
/// at once (`replace`), so a label set it no longer has drops to zero.
#[derive(Default)]
pub struct Gauges {
    /// By gauge name, then label set. By name first, so a producer's `replace` walks only the
    /// series of that gauge, not every series of every gauge.
    series: Mutex<FastMap<&'static str, FastMap<LabelSet, Series>>>,
}

/// Label names and values of one series.
pub type LabelSet = Vec<(&'static str, String)>;

/// One series of a shared gauge: each producer's part, and the gauge's handle, asked of the
/// recorder once (as a name, owned labels, a key and a registry lookup it cost every update;
/// the recorder never drops a series, so the handle stays the one `/metrics` reads). Made
/// after `install` (`Daemon::start` installs first): a handle made before goes nowhere.
struct Series {
    /// (producer, part): a handful of producers (the shards and the case thread).
    parts: Vec<(usize, f64)>,
    gauge: metrics::Gauge,
    /// Changed in the `replace` under way: the gauge must be set again.
    dirty: bool,
}

impl Series {
    fn new(name: &'static str, labels: &LabelSet) -> Series {
        let owned: Vec<metrics::Label> = labels
            .iter()
            .map(|(k, v)| metrics::Label::new(*k, v.clone()))
            .collect();
        Series {
            parts: Vec::new(),
            gauge: metrics::gauge!(name, owned),
            dirty: false,
        }
    }

    /// Producer `who`'s part is now `value` (`None`: it has none).
    fn set(&mut self, who: usize, value: Option<f64>) {
        let at = self.parts.iter().position(|(w, _)| *w == who);
        match (at, value) {
            (Some(i), Some(v)) => self.parts[i].1 = v,
            (None, Some(v)) => self.parts.push((who, v)),
            (Some(i), None) => {
                self.parts.swap_remove(i);
            }
            (None, None) => return,
        }
        self.dirty = true;
    }

    fn publish(&mut self, combine: Combine) {
        let parts = self.parts.iter().map(|(_, v)| *v);
        let v = match combine {
            Combine::Sum => parts.sum(),
            Combine::Max => parts.fold(0.0, f64::max),
        };
        self.gauge.set(v);
        self.dirty = false;
    }
}

impl Gauges {
    pub fn shared() -> &'static Gauges {
        static G: OnceLock<Gauges> = OnceLock::new();
        G.get_or_init(Gauges::default)
    }

    /// Producer `who`'s parts of gauge `name` are now exactly `values`.
    pub fn replace(
        &self,
        who: usize,
        name: &'static str,
        combine: Combine,
        values: Vec<(LabelSet, f64)>,
    ) {
        let mut all = self.series.lock().unwrap_or_else(|e| e.into_inner());
        let series = all.entry(name).or_default();
        for s in series.values_mut() {
            s.set(who, None);
        }
        for (labels, v) in values {
            let s = match series.get_mut(&labels) {
                Some(s) => s,
                None => series
                    .entry(labels)
                    .or_insert_with_key(|labels| Series::new(name, labels)),
            };
            s.set(who, Some(v));
        }
        for s in series.values_mut().filter(|s| s.dirty) {
            s.publish(combine);
        }
    }

    /// Producer `who`'s part of one series is now `value` (`None`: it has none any more).
    /// One series at a time, for a producer that knows which of its series changed: `replace`
    /// walks every series of the gauge, which the case thread cannot afford on each of its
    /// passes.
    pub fn set_part(
        &self,
        who: usize,
        name: &'static str,
        combine: Combine,
        labels: LabelSet,
        value: Option<f64>,
    ) {
        let mut all = self.series.lock().unwrap_or_else(|e| e.into_inner());
        let s = all
            .entry(name)
            .or_default()
            .entry(labels)
            .or_insert_with_key(|labels| Series::new(name, labels));
        s.set(who, value);
        // Set even when unchanged: a series seen for the first time shows its 0.
        s.publish(combine);
    }
}

use metrics::{Counter, Histogram};

use crate::queue::{CallReason, Event, EventBody, TicketClass};

/// One hall's counters and histograms, registered once when its shard starts (so they exist at
/// zero from the first scrape) and updated from the hall's events.
pub struct HallMetrics {
    /// Per service, per class (normal, priority, appointment).
    issued: Vec<[Counter; 3]>,
    called: Vec<[Counter; 3]>,
    served: Vec<Counter>,
    no_show: Vec<Counter>,
    cancelled: Vec<Counter>,
    wait: Vec<Histogram>,
    service: Vec<Histogram>,
    ratings: [Counter; 5],
    /// wait_over_target, not_started.
    alarms: [Counter; 2],
    /// booked, cancelled, checked_in, flagged.
    bookings: [Counter; 4],
}

fn class_index(c: TicketClass) -> usize {
    match c {
        TicketClass::Normal => 0,
        TicketClass::Priority => 1,
        TicketClass::Appointment => 2,
    }
}

fn labels(
    base: &[(&'static str, String)],
    extra: &[(&'static str, String)],
) -> Vec<metrics::Label> {
    base.iter()
        .chain(extra)
        .map(|(k, v)| metrics::Label::new(*k, v.clone()))
        .collect()
}

impl HallMetrics {
    pub fn new(mode: LabelMode, hall: &Hall) -> HallMetrics {
        let base = hall_labels(mode, hall);
        let svc = |s: &crate::model::Service| vec![("service", s.id.to_string())];
        let per_class = |name: &'static str, s: &crate::model::Service| {
            ["normal", "priority", "appointment"].map(|class| {
                let mut l = svc(s);
                l.push(("class", class.to_owned()));
                metrics::counter!(name, labels(&base, &l))
            })
        };
        let per_service = |name: &'static str| -> Vec<Counter> {
            hall.services
                .iter()
                .map(|s| metrics::counter!(name, labels(&base, &svc(s))))
                .collect()
        };
        HallMetrics {
            issued: hall
                .services
                .iter()
                .map(|s| per_class(TICKETS_ISSUED, s))
                .collect(),
            called: hall
                .services
                .iter()
                .map(|s| per_class(TICKETS_CALLED, s))
                .collect(),
            served: per_service(TICKETS_SERVED),
            no_show: per_service(TICKETS_NO_SHOW),
            cancelled: per_service(TICKETS_CANCELLED),
            wait: hall
                .services
                .iter()
                .map(|s| metrics::histogram!(WAIT_SECONDS, labels(&base, &svc(s))))
                .collect(),
            service: hall
                .services
                .iter()
                .map(|s| metrics::histogram!(SERVICE_SECONDS, labels(&base, &svc(s))))
                .collect(),
            ratings: [1, 2, 3, 4, 5]
                .map(|r| metrics::counter!(RATINGS, labels(&base, &[("rating", r.to_string())]))),
            alarms: ["wait_over_target", "not_started"].map(|l| {
                metrics::counter!(ALARMS_RAISED, labels(&base, &[("level", l.to_owned())]))
            }),
            bookings: ["booked", "cancelled", "checked_in", "flagged"]
                .map(|a| metrics::counter!(BOOKINGS, labels(&base, &[("action", a.to_owned())]))),
        }
    }

    /// Count what the hall's events say happened.
    pub fn observe(&self, hall: &Hall, events: &[Event]) {
        let svc = |id: &str| hall.service_index(id);
        for e in events {
            match &e.body {
                EventBody::Issued { ticket, .. } => {
                    if let Some(s) = svc(&ticket.service) {
                        self.issued[s][class_index(ticket.class)].increment(1);
                    }
                }
                EventBody::Called { call, .. } if call.reason != CallReason::Recall => {
                    if let Some(s) = svc(&call.service) {
                        self.called[s][class_index(call.class)].increment(1);
                        let waited = (call.called_at.at() - call.issued_at.at())
                            .as_secs_f64()
                            .max(0.0);
                        self.wait[s].record(waited);
                    }
                }
                EventBody::Completed {
                    ticket,
                    evaluation,
                    service_s,
                    ..
                } => {
                    if let Some(s) = svc(&ticket.service) {
                        self.served[s].increment(1);
                        self.service[s].record(*service_s as f64);
                    }
                    if let Some(r) = evaluation {
                        self.rate(*r);
                    }
                }
                EventBody::Evaluated { evaluation, .. } => self.rate(*evaluation),
                EventBody::NoShow { ticket, .. } => {
                    if let Some(s) = svc(&ticket.service) {
                        self.no_show[s].increment(1);
                    }
                }
                EventBody::Cancelled { ticket, .. } => {
                    if let Some(s) = svc(&ticket.service) {
                        self.cancelled[s].increment(1);
                    }
                }
                EventBody::WaitOverTarget { .. } => self.alarms[0].increment(1),
                EventBody::NotStarted { .. } => self.alarms[1].increment(1),
                EventBody::Booking { action, .. } => {
                    use crate::booking::BookingAction as A;
                    let i = match action {
                        A::Booked => 0,
                        A::Cancelled => 1,
                        A::CheckedIn => 2,
                        A::Flagged => 3,
                    };
                    self.bookings[i].increment(1);
                }
                _ => {}
            }
        }
    }

    fn rate(&self, r: u8) {
        if let Some(c) = self.ratings.get(usize::from(r).wrapping_sub(1)) {
            c.increment(1);
        }
    }
}

/// Sum (or max) gauge values per label set within one producer before handing them over.
#[derive(Default)]
pub struct GaugeParts(FastMap<(&'static str, LabelSet), f64>);

impl GaugeParts {
    pub fn add(&mut self, name: &'static str, labels: LabelSet, v: f64, combine: Combine) {
        let slot = self.0.entry((name, labels)).or_insert(0.0);
        *slot = match combine {
            Combine::Sum => *slot + v,
            Combine::Max => slot.max(v),
        };
    }

    /// Publish `who`'s parts of each of `names`.
    pub fn publish(self, who: usize, names: &[(&'static str, Combine)]) {
        let mut by_name: FastMap<&'static str, Vec<(LabelSet, f64)>> = FastMap::default();
        for ((name, labels), v) in self.0 {
            by_name.entry(name).or_default().push((labels, v));
        }
        for &(name, combine) in names {
            Gauges::shared().replace(who, name, combine, by_name.remove(name).unwrap_or_default());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of the series of `name` whose labels include `label`, as `/metrics` shows it.
    fn shown(name: &str, label: &str) -> Option<f64> {
        install().render().lines().find_map(|l| {
            let rest = l.strip_prefix(name)?.strip_prefix('{')?;
            let (labels, value) = rest.split_once("} ")?;
            labels.contains(label).then(|| value.parse().unwrap())
        })
    }

    #[test]
    fn shared_gauges_show_the_parts_combined_and_drop_a_part_no_longer_reported() {
        const SUM: &str = "hallq_test_parts_sum";
        const MAX: &str = "hallq_test_parts_max";
        install();
        let g = Gauges::shared();
        let l = |v: &str| vec![("hall", v.to_owned())];
        for (name, combine) in [(SUM, Combine::Sum), (MAX, Combine::Max)] {
            g.replace(0, name, combine, vec![(l("a"), 2.0), (l("b"), 5.0)]);
            g.replace(1, name, combine, vec![(l("a"), 3.0)]);
        }
        assert_eq!(shown(SUM, "hall=\"a\""), Some(5.0));
        assert_eq!(shown(MAX, "hall=\"a\""), Some(3.0));
        assert_eq!(shown(SUM, "hall=\"b\""), Some(5.0));
        // Producer 0 no longer has `b`, and its `a` changed; producer 1's part stays.
        g.replace(0, SUM, Combine::Sum, vec![(l("a"), 1.0)]);
        assert_eq!(shown(SUM, "hall=\"a\""), Some(4.0));
        assert_eq!(shown(SUM, "hall=\"b\""), Some(0.0));
        // One series at a time, as the case thread reports.
        g.set_part(2, SUM, Combine::Sum, l("a"), Some(10.0));
        assert_eq!(shown(SUM, "hall=\"a\""), Some(14.0));
        g.set_part(2, SUM, Combine::Sum, l("a"), None);
        assert_eq!(shown(SUM, "hall=\"a\""), Some(4.0));
    }
}
