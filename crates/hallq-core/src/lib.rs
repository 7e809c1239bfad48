//! hallq-core: the pure core of hallq.
//!
//! Everything here takes `now` as a parameter and does no I/O: no threads, sockets, files
//! (calendar loading takes the file's text), clocks, logs or metrics. The daemon crate
//! (`hallq`) owns those edges and re-exports these modules, so `hallq::calendar` and
//! `crate::calendar` inside the daemon name the same thing.

pub mod booking;
pub mod calendar;
pub mod deadline;
pub mod diag;
pub mod hash;
pub mod localtime;
pub mod model;
pub mod queue;
pub mod wheel;
