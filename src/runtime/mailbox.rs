//! The mailbox of a single-owner worker (a hall shard, the case thread): requests in a
//! bounded channel, taken in groups so that one commit serves many of them.

use std::time::Duration;

use crossbeam::channel::{Receiver, RecvTimeoutError};

pub(crate) enum Mail<T> {
    Req(T),
    /// Finish what is queued, then stop.
    Stop,
}

/// Wait up to `wait` for mail, then take whatever else is already queued, up to `max`
/// requests in all, into `into`. True when the worker must stop (told to, or every sender is
/// gone); the requests queued behind a stop are taken too, so none goes unanswered.
pub(crate) fn receive<T>(
    rx: &Receiver<Mail<T>>,
    wait: Duration,
    max: usize,
    into: &mut Vec<T>,
) -> bool {
    let first = match rx.recv_timeout(wait) {
        Ok(m) => Some(m),
        Err(RecvTimeoutError::Disconnected) => Some(Mail::Stop),
        Err(RecvTimeoutError::Timeout) => None,
    };
    gather(first, rx, max, into)
}

/// `receive` once the first mail is in (`None`: none came in time; every sender gone is a
/// stop): take whatever else is already queued, up to `max` requests in all.
pub(crate) fn gather<T>(
    first: Option<Mail<T>>,
    rx: &Receiver<Mail<T>>,
    max: usize,
    into: &mut Vec<T>,
) -> bool {
    let stop = match first {
        Some(Mail::Req(r)) => {
            into.push(r);
            loop {
                if into.len() >= max {
                    break false;
                }
                match rx.try_recv() {
                    Ok(Mail::Req(r)) => into.push(r),
                    Ok(Mail::Stop) => break true,
                    Err(_) => break false,
                }
            }
        }
        Some(Mail::Stop) => true,
        None => false,
    };
    if stop {
        while let Ok(Mail::Req(r)) = rx.try_recv() {
            into.push(r);
        }
    }
    stop
}
