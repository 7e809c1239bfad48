//! A mailbox whose worker sleeps at once when it is empty, woken by its senders (`Doorbell`),
//! instead of crossbeam's blocking receive, which first spins and yields the processor
//! (`sched_yield`) several times before it parks: on the daemon's two cores that was a tenth
//! of the case thread's time under the mixed load (perf), spent waiting, and handed to
//! whichever thread the scheduler liked.
//!
//! Same contract as `mailbox::receive`; it must never lose a wake-up: a sender rings after
//! its message is in the channel, the worker says it sleeps before it looks a last time, and
//! a fence on each side orders the two, so one of them always sees the other.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering, fence};
use std::thread::Thread;
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, TryRecvError};

use super::mailbox::{Mail, gather};

/// How a sender wakes the worker of one mailbox.
#[derive(Default)]
pub(crate) struct Doorbell {
    /// The worker is parked or about to park: a sender must unpark it.
    asleep: AtomicBool,
    /// The worker's thread, set when it first waits.
    worker: OnceLock<Thread>,
}

impl Doorbell {
    /// Wake the worker if it sleeps; call after each send.
    pub(crate) fn ring(&self) {
        fence(Ordering::SeqCst);
        if self.asleep.load(Ordering::Relaxed)
            && let Some(t) = self.worker.get()
        {
            t.unpark();
        }
    }

    /// The next mail within `wait` (`None`: none came; every sender gone is a stop).
    fn wait<T>(&self, rx: &Receiver<Mail<T>>, wait: Duration) -> Option<Mail<T>> {
        let deadline = Instant::now().checked_add(wait);
        let worker = self.worker.get_or_init(std::thread::current);
        debug_assert_eq!(
            worker.id(),
            std::thread::current().id(),
            "one worker per bell"
        );
        let mail = |r: Result<Mail<T>, TryRecvError>| match r {
            Ok(m) => Some(Some(m)),
            Err(TryRecvError::Disconnected) => Some(Some(Mail::Stop)),
            Err(TryRecvError::Empty) => None,
        };
        loop {
            if let Some(m) = mail(rx.try_recv()) {
                return m;
            }
            self.asleep.store(true, Ordering::Relaxed);
            fence(Ordering::SeqCst);
            if let Some(m) = mail(rx.try_recv()) {
                self.asleep.store(false, Ordering::Relaxed);
                return m;
            }
            let left = deadline.map_or(Duration::MAX, |d| {
                d.saturating_duration_since(Instant::now())
            });
            if left.is_zero() {
                self.asleep.store(false, Ordering::Relaxed);
                return None;
            }
            // Woken by a ring, by a ring meant for an earlier sleep (its token), spuriously or
            // by the time: each looks at the channel again.
            std::thread::park_timeout(left);
            self.asleep.store(false, Ordering::Relaxed);
        }
    }
}

/// `mailbox::receive` for a mailbox with a doorbell: wait up to `wait` for mail, then take
/// whatever else is already queued, up to `max` requests in all, into `into`. True when the
/// worker must stop (told to, or every sender is gone); the requests queued behind a stop
/// are taken too, so none goes unanswered.
pub(crate) fn receive<T>(
    rx: &Receiver<Mail<T>>,
    bell: &Doorbell,
    wait: Duration,
    max: usize,
    into: &mut Vec<T>,
) -> bool {
    gather(bell.wait(rx, wait), rx, max, into)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crossbeam::channel;

    use super::*;

    #[test]
    fn every_message_wakes_the_worker_and_none_is_lost() {
        let (tx, rx) = channel::bounded::<Mail<u32>>(4);
        let bell = Arc::new(Doorbell::default());
        let sender = {
            let bell = bell.clone();
            std::thread::spawn(move || {
                for i in 0..2000 {
                    tx.send(Mail::Req(i)).unwrap();
                    bell.ring();
                    if i % 7 == 0 {
                        std::thread::yield_now();
                    }
                }
                tx.send(Mail::Stop).unwrap();
                bell.ring();
            })
        };
        let mut got = Vec::new();
        // A long wait: only a ring (or the stop) ends it early, so a lost wake-up would show
        // as a test that never finishes rather than as a wrong answer.
        while !receive(&rx, &bell, Duration::from_secs(3600), 3, &mut got) {}
        sender.join().unwrap();
        assert_eq!(got, (0..2000).collect::<Vec<_>>());
    }

    #[test]
    fn an_empty_mailbox_times_out_and_a_closed_one_stops() {
        let (tx, rx) = channel::bounded::<Mail<u32>>(1);
        let bell = Doorbell::default();
        let mut got = Vec::new();
        assert!(!receive(&rx, &bell, Duration::from_millis(1), 8, &mut got));
        assert!(got.is_empty());
        tx.send(Mail::Req(7)).unwrap();
        drop(tx);
        assert!(!receive(&rx, &bell, Duration::from_secs(3600), 8, &mut got));
        assert_eq!(got, [7]);
        assert!(receive(&rx, &bell, Duration::from_secs(3600), 8, &mut got));
        assert_eq!(got, [7]);
    }
}
