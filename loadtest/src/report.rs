//! Latency histograms per operation, error counts, and the two ways of printing them: a
//! table for people and one JSON object for scripts (`--json`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{Value, json};

use crate::http::{Failure, Reply};

/// The operations of the durable mixed hall workload, each one HTTP request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Issue,
    Call,
    Start,
    /// A ticket served (the window's `complete`).
    Complete,
    /// 受理: a case of a matter is accepted at a hall.
    CaseAccept,
    /// 补正 or a special procedure stops the case's clock.
    CaseSuspend,
    CaseResume,
    /// 办结: the case, or one department's part of a joint case, is completed.
    CaseComplete,
}

impl Op {
    /// One citizen at a window, in order.
    pub const TICKET: [Op; 4] = [Op::Issue, Op::Call, Op::Start, Op::Complete];
    /// Every operation, in report order (and `Op as usize` order).
    pub const ALL: [Op; 8] = [
        Op::Issue,
        Op::Call,
        Op::Start,
        Op::Complete,
        Op::CaseAccept,
        Op::CaseSuspend,
        Op::CaseResume,
        Op::CaseComplete,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Op::Issue => "issue",
            Op::Call => "call",
            Op::Start => "start",
            Op::Complete => "complete",
            Op::CaseAccept => "case_accept",
            Op::CaseSuspend => "case_suspend",
            Op::CaseResume => "case_resume",
            Op::CaseComplete => "case_complete",
        }
    }

    fn is_case(self) -> bool {
        (self as usize) >= Op::CaseAccept as usize
    }
}

/// Latencies are recorded in microseconds, from 1 µs to a minute, to 3 significant digits.
pub(crate) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

struct OpStats {
    latency: Histogram<u64>,
    /// Answers with a 2xx status.
    ok: u64,
    /// Call-next answered 204: nobody was waiting at that window.
    nobody_waiting: u64,
    errors: u64,
}

impl Default for OpStats {
    fn default() -> Self {
        OpStats {
            latency: histogram(),
            ok: 0,
            nobody_waiting: 0,
            errors: 0,
        }
    }
}

/// Everything measured in one run, shared by all tasks.
pub struct Recorder {
    /// Operations that started (or were due) before this are warm-up and not recorded.
    from: Instant,
    ops: [OpStats; Op::ALL.len()],
    /// "op status problem-type" or "op transport" → count.
    errors: BTreeMap<String, u64>,
}

impl Recorder {
    pub fn new(from: Instant) -> Recorder {
        Recorder {
            from,
            ops: Default::default(),
            errors: BTreeMap::new(),
        }
    }

    /// Record one request that was due at `due` (its intended start: for the open loop the
    /// schedule, not the moment it was sent, so waiting behind a slow answer counts) and
    /// ended now.
    pub fn record(&mut self, op: Op, due: Instant, result: &Result<Reply, Failure>) {
        if due < self.from {
            return;
        }
        let stats = &mut self.ops[op as usize];
        match result {
            Ok(reply) => {
                let us = due.elapsed().as_micros().clamp(1, 60_000_000) as u64;
                stats.latency.saturating_record(us);
                if reply.ok() {
                    stats.ok += 1;
                    if reply.status == 204 {
                        stats.nobody_waiting += 1;
                    }
                } else {
                    stats.errors += 1;
                    *self
                        .errors
                        .entry(format!(
                            "{} {} {}",
                            op.name(),
                            reply.status,
                            reply.problem_type()
                        ))
                        .or_default() += 1;
                }
            }
            Err(failure) => {
                stats.errors += 1;
                *self
                    .errors
                    .entry(format!("{} {}", op.name(), failure.kind()))
                    .or_default() += 1;
            }
        }
    }

    /// Requests that were due but never sent or answered by the end of the drain.
    pub fn abandoned(&mut self, op: Op, due: Instant) {
        if due < self.from {
            return;
        }
        self.ops[op as usize].errors += 1;
        *self
            .errors
            .entry(format!("{} abandoned", op.name()))
            .or_default() += 1;
    }
}

/// How the run was set up, for the report.
#[derive(Debug, Clone)]
pub struct Setup {
    pub mode: &'static str,
    pub target: String,
    pub daemon: &'static str,
    pub connections: usize,
    pub rate: Option<f64>,
    pub duration: Duration,
    pub warmup: Duration,
    pub group_commit: Option<bool>,
    pub halls: usize,
    pub tiers: Vec<(String, usize)>,
    pub windows: usize,
    pub subscribers: usize,
    pub prefill: usize,
}

/// What the SSE displays saw during the measured period.
#[derive(Debug, Clone, Default)]
pub struct SseSummary {
    pub events: u64,
    pub gaps: u64,
    pub reconnects: u64,
    pub refused: u64,
}

/// What any scenario prints: one JSON object (`--json`) or a table, and how many requests
/// failed (the exit code).
#[derive(Debug)]
pub struct Outcome {
    pub json: Value,
    pub table: String,
    pub errors: u64,
}

impl From<Report> for Outcome {
    fn from(r: Report) -> Outcome {
        Outcome {
            json: r.json(),
            table: r.table(),
            errors: r.errors(),
        }
    }
}

pub struct Report {
    pub setup: Setup,
    pub recorder: Recorder,
    pub sse: SseSummary,
    pub cases: CaseSummary,
}

/// Whether the case operations ran, and over what.
#[derive(Debug, Clone)]
pub enum CaseSummary {
    Ran {
        /// Fraction of all operations that are case operations.
        share: f64,
        /// The matters cases were accepted for (事项 codes).
        matters: Vec<String>,
        /// The suspension reasons used.
        reasons: Vec<String>,
    },
    NotRun {
        share: f64,
        reason: String,
    },
}

impl CaseSummary {
    pub fn ran(&self) -> bool {
        matches!(self, CaseSummary::Ran { .. })
    }

    fn json(&self) -> Value {
        match self {
            CaseSummary::Ran {
                share,
                matters,
                reasons,
            } => json!({
                "run": true,
                "share": share,
                "matters": matters,
                "suspension_reasons": reasons,
            }),
            CaseSummary::NotRun { share, reason } => {
                json!({ "run": false, "share": share, "reason": reason })
            }
        }
    }
}

/// A rate, to one decimal.
pub(crate) fn per_sec(n: u64, secs: f64) -> f64 {
    (n as f64 / secs * 10.0).round() / 10.0
}

pub(crate) fn ms(us: u64) -> f64 {
    (us as f64 / 1000.0 * 1000.0).round() / 1000.0
}

struct Row {
    name: &'static str,
    ops: u64,
    ops_per_sec: f64,
    p50: f64,
    p90: f64,
    p99: f64,
    p999: f64,
    max: f64,
    errors: u64,
    nobody_waiting: u64,
}

fn row(name: &'static str, stats: &OpStats, h: &Histogram<u64>, secs: f64) -> Row {
    let ops = stats.ok + stats.errors;
    Row {
        name,
        ops,
        ops_per_sec: per_sec(ops, secs),
        p50: ms(h.value_at_quantile(0.50)),
        p90: ms(h.value_at_quantile(0.90)),
        p99: ms(h.value_at_quantile(0.99)),
        p999: ms(h.value_at_quantile(0.999)),
        max: ms(h.max()),
        errors: stats.errors,
        nobody_waiting: stats.nobody_waiting,
    }
}

impl Report {
    fn rows(&self) -> (Vec<Row>, Row) {
        let secs = self.setup.duration.as_secs_f64();
        let rows: Vec<Row> = Op::ALL
            .iter()
            .map(|&op| {
                let s = &self.recorder.ops[op as usize];
                row(op.name(), s, &s.latency, secs)
            })
            .collect();
        let mut all = OpStats::default();
        for s in &self.recorder.ops {
            all.latency.add(&s.latency).expect("same histogram bounds");
            all.ok += s.ok;
            all.errors += s.errors;
            all.nobody_waiting += s.nobody_waiting;
        }
        let total = row("all", &all, &all.latency, secs);
        (rows, total)
    }

    fn workload(&self) -> &'static str {
        if self.cases.ran() {
            "durable mixed hall workload (issue, call, start, complete; cases accepted, suspended, resumed, completed)"
        } else {
            "durable mixed hall workload (issue, call, start, complete)"
        }
    }

    pub fn errors(&self) -> u64 {
        self.recorder.ops.iter().map(|s| s.errors).sum()
    }

    pub fn json(&self) -> Value {
        let (rows, all) = self.rows();
        let per_op: serde_json::Map<String, Value> = rows
            .iter()
            .map(|r| {
                let mut v = json!({
                    "ops": r.ops,
                    "ops_per_sec": r.ops_per_sec,
                    "p50_ms": r.p50,
                    "p90_ms": r.p90,
                    "p99_ms": r.p99,
                    "p999_ms": r.p999,
                    "max_ms": r.max,
                    "errors": r.errors,
                });
                if r.name == "call" {
                    v["nobody_waiting"] = json!(r.nobody_waiting);
                }
                (r.name.to_owned(), v)
            })
            .collect();
        let s = &self.setup;
        json!({
            "workload": self.workload(),
            "mode": s.mode,
            "target": s.target,
            "daemon": s.daemon,
            "group_commit": s.group_commit,
            "connections": s.connections,
            "rate": s.rate,
            "duration_s": s.duration.as_secs_f64(),
            "warmup_s": s.warmup.as_secs_f64(),
            "halls": s.halls,
            "tiers": s.tiers.iter().map(|(t, n)| (t.clone(), json!(n))).collect::<serde_json::Map<_, _>>(),
            "windows": s.windows,
            "prefill_per_window": s.prefill,
            "ops": all.ops,
            "ops_per_sec": all.ops_per_sec,
            "p50_ms": all.p50,
            "p90_ms": all.p90,
            "p99_ms": all.p99,
            "p999_ms": all.p999,
            "max_ms": all.max,
            "errors": all.errors,
            "error_kinds": self.recorder.errors,
            "operations": per_op,
            "sse": {
                "subscribers": s.subscribers,
                "events": self.sse.events,
                "events_per_sec": (self.sse.events as f64 / s.duration.as_secs_f64()).round(),
                "gaps": self.sse.gaps,
                "reconnects": self.sse.reconnects,
                "refused": self.sse.refused,
            },
            "cases": self.cases.json(),
        })
    }

    pub fn table(&self) -> String {
        use std::fmt::Write;
        let s = &self.setup;
        let mut out = String::new();
        let mode = match s.rate {
            Some(r) => format!(
                "open loop at {r} ops/s over at most {} connections",
                s.connections
            ),
            None => format!("closed loop, {} connections", s.connections),
        };
        let commit = match s.group_commit {
            Some(true) => ", group commit",
            Some(false) => ", one fsync per request (no group commit)",
            None => "",
        };
        let _ = writeln!(
            out,
            "hallq-loadtest: durable mixed hall workload, {mode}, {:.0}s after {:.0}s warm-up",
            s.duration.as_secs_f64(),
            s.warmup.as_secs_f64()
        );
        let _ = writeln!(out, "daemon: {} at {}{commit}", s.daemon, s.target);
        let tiers: Vec<String> = s.tiers.iter().map(|(t, n)| format!("{n} {t}")).collect();
        let _ = writeln!(
            out,
            "province: {} halls ({}), {} windows, {} waiting per window at start, {} SSE displays\n",
            s.halls,
            tiers.join(", "),
            s.windows,
            s.prefill,
            s.subscribers
        );
        let _ = writeln!(
            out,
            "{:<13} {:>9} {:>9} {:>8} {:>8} {:>8} {:>9} {:>8} {:>7}",
            "operation",
            "ops",
            "ops/s",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "p99.9 ms",
            "max ms",
            "errors"
        );
        let (rows, all) = self.rows();
        // Case rows only when cases ran: a column of zeros would read as a failure.
        let shown = rows
            .iter()
            .zip(Op::ALL)
            .filter(|(_, op)| self.cases.ran() || !op.is_case())
            .map(|(r, _)| r);
        for r in shown.chain(std::iter::once(&all)) {
            let _ = writeln!(
                out,
                "{:<13} {:>9} {:>9.0} {:>8.2} {:>8.2} {:>8.2} {:>9.2} {:>8.2} {:>7}",
                r.name, r.ops, r.ops_per_sec, r.p50, r.p90, r.p99, r.p999, r.max, r.errors
            );
        }
        let call = &rows[Op::Call as usize];
        if call.nobody_waiting > 0 {
            let _ = writeln!(
                out,
                "\n{} calls found nobody waiting (204; not errors)",
                call.nobody_waiting
            );
        }
        if !self.recorder.errors.is_empty() {
            let _ = writeln!(out, "\nerrors:");
            for (k, v) in &self.recorder.errors {
                let _ = writeln!(out, "  {v:>8}  {k}");
            }
        }
        let _ = writeln!(
            out,
            "\nSSE: {} events received ({:.0}/s), {} gaps, {} reconnects, {} refused",
            self.sse.events,
            self.sse.events as f64 / s.duration.as_secs_f64(),
            self.sse.gaps,
            self.sse.reconnects,
            self.sse.refused
        );
        let _ = match &self.cases {
            CaseSummary::Ran {
                share,
                matters,
                reasons,
            } => writeln!(
                out,
                "cases: {:.0} % of operations, matters {}, suspension reasons {}",
                share * 100.0,
                matters.join(", "),
                reasons.join(", ")
            ),
            CaseSummary::NotRun { reason, .. } => writeln!(out, "cases: not run: {reason}"),
        };
        out
    }
}
