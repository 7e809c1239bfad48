//! The case mix of the durable workload: cases (办件) accepted, suspended, resumed and
//! completed under `/v1/cases`, as a hall's business system reports them.
//!
//! Each desk (a closed-loop worker, or an open-loop case officer) keeps the state of the
//! cases it accepted and sends one request at a time, so every operation it chooses is valid
//! for the case's state: a conflict (409) is a daemon bug, never the workload's. A case whose
//! request failed is dropped from the desk, since its state on the daemon is then unknown.
//!
//! What the daemon offers is discovered through the API on both paths (the daemon started
//! here and `--target`): the matters from `GET /v1/matters`, and whether the token may change
//! cases and which suspension reasons the daemon knows from requests that change nothing.

use bytes::Bytes;
use hallq::clock::{Clock, SystemClock};
use http::{HeaderValue, Method, Uri};
use serde_json::{Value, json};

use crate::http::{Pool, Req, Target, path};
use crate::report::{CaseSummary, Op};
use crate::rng::Rng;

/// The suspension reasons used, when the daemon knows them: 补正 (the clock restarts on
/// resume) and 检验检测 (it pauses). Both are in hallq's defaults and the example config.
const REASONS: [&str; 2] = ["supplement", "inspection"];

/// The catalogue's built-in entries: bad-rating rectifications and complaints (the daemon
/// refuses to accept cases of them through `POST /v1/cases`) and the written enquiry, left out
/// so that the load's matter mix is the catalogue's own.
const BUILT_IN: [&str; 3] = ["rectification", "complaint", "enquiry"];

/// Relative weights of a desk's next operation, each counted only when it is possible: as
/// many cases completed as accepted, and about one in four suspended on the way.
const ACCEPT: f64 = 4.0;
const SUSPEND: f64 = 1.0;
const RESUME: f64 = 1.0;
const COMPLETE: f64 = 4.0;
/// Open and suspended cases a desk holds at most before it only works them off.
const MAX_LIVE: usize = 64;

/// A matter cases are accepted for.
#[derive(Debug, Clone)]
pub struct Matter {
    pub id: String,
    /// Co-handling departments of a joint matter (联办件): each has its own department case
    /// `{case}:{department}`, and the lead completes with the last of them.
    pub departments: Vec<String>,
}

/// What every desk shares: the catalogue, the reasons and how to ask.
#[derive(Debug)]
pub struct CaseMix {
    /// Fraction of all operations that are case operations.
    pub share: f64,
    pub matters: Vec<Matter>,
    pub reasons: Vec<String>,
    /// Makes this run's case ids unique on a daemon that keeps earlier runs' cases.
    run: String,
    auth: HeaderValue,
    accept: Uri,
}

impl CaseMix {
    fn summary(&self) -> CaseSummary {
        CaseSummary::Ran {
            share: self.share,
            matters: self.matters.iter().map(|m| m.id.clone()).collect(),
            reasons: self.reasons.clone(),
        }
    }
}

/// The case mix for this run, or `None`, and what the report says about it.
pub async fn prepare(pool: &Pool, token: &str, share: f64) -> (Option<CaseMix>, CaseSummary) {
    match discover(pool, token, share).await {
        Ok(mix) => {
            let summary = mix.summary();
            (Some(mix), summary)
        }
        Err(reason) => (None, CaseSummary::NotRun { share, reason }),
    }
}

/// Find out whether cases can run against this daemon with `token`; `Err` says why not.
async fn discover(pool: &Pool, token: &str, share: f64) -> Result<CaseMix, String> {
    if share == 0.0 {
        return Err("--case-share is 0".into());
    }
    let target = pool.target();
    let auth = Target::bearer(token);
    let send = |method: Method, p: &str, body: Bytes| {
        pool.send(target.request(method, path(p), &auth, body))
    };

    let r = send(Method::GET, "/v1/matters", Bytes::new())
        .await
        .map_err(|e| format!("GET /v1/matters failed: {e}"))?;
    if r.status == 404 && r.problem_type() == "no-such-path" {
        return Err("the daemon does not serve cases (no /v1/matters)".into());
    }
    if !r.ok() {
        return Err(format!(
            "GET /v1/matters answered {} {}",
            r.status,
            r.problem_type()
        ));
    }
    let list: Value =
        serde_json::from_slice(&r.body).map_err(|e| format!("GET /v1/matters: not JSON: {e}"))?;
    let matters: Vec<Matter> = list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| {
            let id = m["id"].as_str()?;
            (!BUILT_IN.contains(&id)).then(|| Matter {
                id: id.to_owned(),
                departments: m["departments"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|d| d["id"].as_str().map(str::to_owned))
                    .collect(),
            })
        })
        .collect();
    if matters.is_empty() {
        return Err("the daemon has no matters to accept cases for".into());
    }

    // Suspending a case that does not exist changes nothing, and the daemon checks the
    // token's role, then the reason, then the case: 403, 404 unknown-reason or 404
    // unknown-case tell all three apart.
    let run = run_tag()?;
    let probe = format!("/v1/cases/lt-{run}-probe/suspend");
    let mut reasons = Vec::new();
    for reason in REASONS {
        let body = Bytes::from(json!({ "reason": reason }).to_string());
        let r = send(Method::POST, &probe, body)
            .await
            .map_err(|e| format!("POST {probe} failed: {e}"))?;
        match (r.status, r.problem_type().as_str()) {
            (404, "unknown-case") => reasons.push(reason.to_owned()),
            (404, "unknown-reason") => {}
            (403, _) => {
                return Err(
                    "the token may not change cases (403); an admin token (--token) would".into(),
                );
            }
            (status, kind) => {
                return Err(format!(
                    "probing POST {probe} answered {status} {kind}, not 404 unknown-case"
                ));
            }
        }
    }
    if reasons.is_empty() {
        return Err(format!(
            "the daemon knows none of the suspension reasons {}",
            REASONS.join(", ")
        ));
    }
    Ok(CaseMix {
        share,
        matters,
        reasons,
        run,
        auth,
        accept: path("/v1/cases"),
    })
}

fn run_tag() -> Result<String, String> {
    crate::province::random_hex(4)
}

/// A case a desk accepted and has not seen completed.
#[derive(Debug)]
struct Case {
    id: String,
    /// Department cases of a joint case still to complete.
    departments: Vec<String>,
}

/// What a case becomes when its request succeeds.
#[derive(Debug, Clone, Copy)]
enum Then {
    Open,
    Suspended,
    Closed,
}

/// A request a desk chose, and what to do with its answer (`Desk::settle`).
pub struct Step {
    pub op: Op,
    pub req: Req,
    pub pending: Pending,
}

pub struct Pending {
    case: Case,
    then: Then,
}

/// The cases one desk handles, by state.
#[derive(Debug)]
pub struct Desk {
    /// Part of every case id, so desks never collide.
    number: usize,
    accepted: u64,
    open: Vec<Case>,
    suspended: Vec<Case>,
    second: Second,
}

impl Desk {
    pub fn new(number: usize) -> Desk {
        Desk {
            number,
            accepted: 0,
            open: Vec::new(),
            suspended: Vec::new(),
            second: Second::default(),
        }
    }

    /// The next operation; a new case is accepted at `hall`.
    pub fn step(&mut self, mix: &CaseMix, target: &Target, hall: &str, rng: &mut Rng) -> Step {
        let live = self.open.len() + self.suspended.len();
        let from = |cases: &[Case], weight: f64| if cases.is_empty() { 0.0 } else { weight };
        let weights = [
            (Op::CaseAccept, if live < MAX_LIVE { ACCEPT } else { 0.0 }),
            (Op::CaseSuspend, from(&self.open, SUSPEND)),
            (Op::CaseResume, from(&self.suspended, RESUME)),
            (Op::CaseComplete, from(&self.open, COMPLETE)),
        ];
        let mut x = rng.unit() * weights.iter().map(|(_, w)| w).sum::<f64>();
        let op = weights
            .iter()
            .find(|(_, w)| {
                x -= w;
                x < 0.0
            })
            .or_else(|| weights.iter().rev().find(|(_, w)| *w > 0.0))
            .map(|(op, _)| *op)
            .expect("some operation is always possible");
        let post = |uri: Uri, body: Bytes| target.request(Method::POST, uri, &mix.auth, body);
        let action = |id: &str, action: &str| path(&format!("/v1/cases/{id}/{action}"));
        match op {
            Op::CaseAccept => {
                self.accepted += 1;
                let matter = &mix.matters[rng.below(mix.matters.len())];
                let case = Case {
                    id: format!("lt-{}-{}-{}", mix.run, self.number, self.accepted),
                    departments: matter.departments.clone(),
                };
                // Business systems record acceptance to the second; that also leaves the
                // daemon's clock a second to be behind this one's.
                let body = Accept {
                    accepted_at: self.second.now(),
                    hall,
                    id: &case.id,
                    matter: &matter.id,
                };
                Step {
                    op,
                    req: post(mix.accept.clone(), to_json(&body)),
                    pending: Pending {
                        case,
                        then: Then::Open,
                    },
                }
            }
            Op::CaseSuspend => {
                let case = take(&mut self.open, rng);
                let reason = &mix.reasons[rng.below(mix.reasons.len())];
                let body = to_json(&Suspend { reason });
                Step {
                    op,
                    req: post(action(&case.id, "suspend"), body),
                    pending: Pending {
                        case,
                        then: Then::Suspended,
                    },
                }
            }
            Op::CaseResume => {
                let case = take(&mut self.suspended, rng);
                Step {
                    op,
                    req: post(action(&case.id, "resume"), Bytes::new()),
                    pending: Pending {
                        case,
                        then: Then::Open,
                    },
                }
            }
            _ => {
                let mut case = take(&mut self.open, rng);
                // A joint case is completed by its departments, one request each.
                let (uri, then) = match case.departments.pop() {
                    Some(d) => {
                        let then = if case.departments.is_empty() {
                            Then::Closed
                        } else {
                            Then::Open
                        };
                        (action(&format!("{}:{d}", case.id), "complete"), then)
                    }
                    None => (action(&case.id, "complete"), Then::Closed),
                };
                Step {
                    op: Op::CaseComplete,
                    req: post(uri, Bytes::new()),
                    pending: Pending { case, then },
                }
            }
        }
    }

    /// Put the case of a step back in its new state if `ok`; otherwise forget it.
    pub fn settle(&mut self, pending: Pending, ok: bool) {
        if !ok {
            return;
        }
        match pending.then {
            Then::Open => self.open.push(pending.case),
            Then::Suspended => self.suspended.push(pending.case),
            Then::Closed => {}
        }
    }
}

/// The body of an acceptance; the fields in the order `json!` wrote them (sorted), so the
/// bytes sent are the same as they were.
#[derive(serde::Serialize)]
struct Accept<'a> {
    accepted_at: &'a str,
    hall: &'a str,
    id: &'a str,
    matter: &'a str,
}

#[derive(serde::Serialize)]
struct Suspend<'a> {
    reason: &'a str,
}

fn to_json(body: &impl serde::Serialize) -> Bytes {
    Bytes::from(serde_json::to_vec(body).expect("plain strings serialise"))
}

/// The current second as RFC 3339 (`2026-12-04T09:30:00Z`), formatted once a second rather
/// than once a request.
#[derive(Debug, Default)]
struct Second {
    at: i64,
    text: String,
}

impl Second {
    fn now(&mut self) -> &str {
        let now = SystemClock.now();
        if self.text.is_empty() || now.as_second() != self.at {
            self.at = now.as_second();
            self.text = format!("{now:.0}");
        }
        &self.text
    }
}

/// A random case out of `list` (which the caller knows is not empty).
fn take(list: &mut Vec<Case>, rng: &mut Rng) -> Case {
    let i = rng.below(list.len());
    list.swap_remove(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mix() -> CaseMix {
        CaseMix {
            share: 0.2,
            matters: vec![
                Matter {
                    id: "M".into(),
                    departments: vec![],
                },
                Matter {
                    id: "J".into(),
                    departments: vec!["a".into(), "b".into()],
                },
            ],
            reasons: vec!["supplement".into()],
            run: "0000".into(),
            auth: Target::bearer("t"),
            accept: path("/v1/cases"),
        }
    }

    /// A model of the daemon's rules for the operations a desk sends.
    #[derive(Default)]
    struct Daemon {
        /// Case id → (suspended, open department cases).
        cases: std::collections::HashMap<String, (bool, usize)>,
    }

    impl Daemon {
        fn apply(&mut self, mix: &CaseMix, op: Op, req: &Req) -> Result<(), String> {
            let p = req.uri().path().to_owned();
            let body: Value = serde_json::from_slice(req.body()).unwrap_or(Value::Null);
            if op == Op::CaseAccept {
                let id = body["id"].as_str().expect("an id").to_owned();
                let m = mix.matters.iter().find(|m| m.id == body["matter"]);
                let departments = m.expect("a known matter").departments.len();
                return match self.cases.insert(id.clone(), (false, departments)) {
                    None => Ok(()),
                    Some(_) => Err(format!("{id} accepted twice")),
                };
            }
            let mut parts = p.trim_start_matches("/v1/cases/").split('/');
            let (id, action) = (parts.next().unwrap(), parts.next().unwrap());
            let (lead, dept) = match id.split_once(':') {
                Some((lead, _)) => (lead, true),
                None => (id, false),
            };
            let case = self
                .cases
                .get_mut(lead)
                .ok_or(format!("{action} of unknown or closed {id}"))?;
            match (action, dept) {
                ("suspend", false) if !case.0 => case.0 = true,
                ("resume", false) if case.0 => case.0 = false,
                ("complete", false) if case.1 == 0 => {
                    self.cases.remove(lead);
                }
                ("complete", true) if case.1 > 0 => {
                    case.1 -= 1;
                    if case.1 == 0 {
                        self.cases.remove(lead);
                    }
                }
                _ => return Err(format!("409: {action} of {id} in state {case:?}")),
            }
            Ok(())
        }
    }

    #[test]
    fn a_desk_only_sends_valid_operations_and_sends_them_all() {
        let mix = mix();
        let target = Target::local("127.0.0.1:1".parse().unwrap());
        let mut desk = Desk::new(3);
        let mut daemon = Daemon::default();
        let mut rng = Rng::new(11);
        let mut seen = std::collections::HashMap::<&str, usize>::new();
        for i in 0..20_000 {
            let step = desk.step(&mix, &target, "city", &mut rng);
            *seen.entry(step.op.name()).or_default() += 1;
            // Now and then a request fails: the desk must not touch that case again.
            let delivered = i % 97 != 0;
            let ok = delivered && {
                daemon
                    .apply(&mix, step.op, &step.req)
                    .unwrap_or_else(|e| panic!("step {i}: {e}"));
                true
            };
            desk.settle(step.pending, ok && i % 89 != 0);
            assert!(desk.open.len() + desk.suspended.len() <= MAX_LIVE);
        }
        for op in [
            "case_accept",
            "case_suspend",
            "case_resume",
            "case_complete",
        ] {
            assert!(seen.get(op).copied().unwrap_or(0) > 1000, "{op}: {seen:?}");
        }
    }
}
