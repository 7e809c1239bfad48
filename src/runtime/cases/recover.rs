//! Building the deadline engine from the store: every open case, counted on the calendars in
//! force. At start, and in cluster mode each time this node adopts the case engine (after the
//! log of record's rows were replayed into the store). Reads only; it never writes.

use std::sync::Arc;

use crate::config::Config;
use crate::deadline::DeadlineEngine;
use crate::store::{Store, StoreError};

/// The deadline engine with every open case, counted on the calendars in force (a calendar
/// replaced through the API before the restart wins over the config's file).
pub fn recover(
    config: &Arc<Config>,
    store: &Store,
    now: jiff::Timestamp,
) -> Result<DeadlineEngine, StoreError> {
    let mut engine = DeadlineEngine::new(config.catalogue.clone(), now);
    for (id, toml) in store.calendars()? {
        match crate::calendar::Calendar::from_toml(&format!("stored calendar {id}"), &toml) {
            Ok(c) => {
                if engine.use_calendar(Arc::new(c)) {
                    tracing::info!(calendar = %id, "using the calendar replaced through the API");
                } else {
                    tracing::warn!(calendar = %id, "a stored calendar is no longer configured; ignored");
                }
            }
            Err(e) => {
                tracing::error!(calendar = %id, error = %e, "a stored calendar no longer loads; using the config's")
            }
        }
    }
    let mut skipped = 0;
    engine.reserve(store.open_cases()?);
    // Deadlines are counted on the reading thread, the cases inserted on this one.
    let preparer = engine.preparer();
    let loaded = store.load_cases(
        |record| preparer.prepare(record),
        |prepared| match prepared {
            Ok(case) => engine.restore_prepared(case),
            Err(w) => {
                skipped += 1;
                tracing::warn!("{w}");
            }
        },
    )?;
    tracing::info!(
        cases = loaded - skipped,
        skipped,
        timers = engine.pending(),
        "recovered open cases"
    );
    Ok(engine)
}
