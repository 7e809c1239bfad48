//! Test hooks: make the owner threads run what is due now, so a test can prove that nothing
//! fires (no alarm raised twice, no timer left behind) without sleeping on the wall clock.
//!
//! Mounted only when the daemon is told to (`Daemon::enable_test_hooks`; `hallq serve` under
//! `HALLQ_TEST_HOOKS=1`); otherwise these paths answer 404 like any unknown path. Admin token
//! only. With a `ManualClock`, a test advances the clock and then calls a hook: the answer
//! comes once everything the timers changed is durable and published, as a tick's would.
//!
//! Never: a hook that changes state a tick would not change, or one mounted by default.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::post;

use super::auth::{Perm, Principal};
use super::problem::{Answer, Problem};
use super::scope::known_hall;
use super::{AppState, render};
use crate::runtime::cases::CaseOp;
use crate::runtime::shard::HallOp;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/_test/halls/{hall}/timers", post(hall_timers))
        .route("/v1/_test/cases/timers", post(case_timers))
}

/// `POST /v1/_test/halls/{hall}/timers`: the shard owning the hall runs its due work now (the
/// business day turning, ticket timers) for every hall it owns; 204 once durable.
async fn hall_timers(
    State(app): State<AppState>,
    who: Principal,
    Path(hall): Path<String>,
) -> Result<Answer, Problem> {
    who.require_global(Perm::Admin)?;
    let index = known_hall(&app, &hall)?;
    Ok(app.answer(index, HallOp::RunTimers, None).await)
}

/// `POST /v1/_test/cases/timers`: the case thread raises what is due now; 204 once durable.
async fn case_timers(State(app): State<AppState>, who: Principal) -> Result<Answer, Problem> {
    who.require_global(Perm::Admin)?;
    Ok(render::case(&app.cases.ask(CaseOp::RunTimers, None).await))
}
