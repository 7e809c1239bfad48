//! The one place that reads the wall clock. Everything else is handed `now`.
//!
//! The daemon reads time through [`SteadyClock`], which guards the engines against steps of
//! the system clock (an NTP step, an operator's `date -s`, a VM resumed from a snapshot). A
//! step forward would otherwise fire alarm levels early and turn business days that do not
//! come back; a step backward would make time run backwards inside the engines. The rule:
//!
//! - between two readings, engine time may advance by what the monotonic clock says passed,
//!   give or take [`STEP_TOLERANCE`] (ordinary NTP slewing and scheduling noise);
//! - a larger difference is a *suspected step*: it is logged once and the engines go on with
//!   the monotonic projection of the last trusted reading, as if the step had not happened;
//! - if the wall clock still disagrees [`STEP_CONFIRM`] later (by the monotonic clock), the
//!   step is real: forward, engine time jumps to the wall clock (what came due meanwhile
//!   fires then, as after a restart); backward, engine time holds still until the wall clock
//!   passes the last instant the engines saw, because nothing inside may go back in time;
//! - a suspicion that clears by itself (a one-off bad reading) never moves engine time.
//!
//! Every confirmed step is counted in `hallq_clock_steps_total{direction}` and its size set in
//! `hallq_clock_last_step_seconds`, so an operator sees it on the dashboard.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// The system's real-time clock, unguarded: for tools and tests that want exactly what the
/// system says. The daemon uses [`SteadyClock::system`].
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods, reason = "this is the clock")]
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that moves only when told to, for tests of time-driven behaviour (the business
/// day turning, waits over target) without sleeping.
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(at: Timestamp) -> Self {
        ManualClock(AtomicI64::new(at.as_millisecond()))
    }

    pub fn set(&self, at: Timestamp) {
        self.0.store(at.as_millisecond(), Ordering::SeqCst);
    }

    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds * 1000, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millisecond(self.0.load(Ordering::SeqCst)).unwrap_or(Timestamp::UNIX_EPOCH)
    }
}

/// Time that only ever moves forward at the rate it really passes, whatever the wall clock
/// does: the reference [`SteadyClock`] checks the wall clock against.
pub trait Monotonic: Send + Sync + 'static {
    /// Time since some fixed origin.
    fn elapsed(&self) -> Duration;
}

/// The operating system's monotonic clock (`CLOCK_MONOTONIC`, through `std::time::Instant`).
#[derive(Debug)]
pub struct SystemMonotonic(std::time::Instant);

impl Default for SystemMonotonic {
    fn default() -> Self {
        SystemMonotonic(std::time::Instant::now())
    }
}

impl Monotonic for SystemMonotonic {
    fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
}

/// How far the wall clock may drift from the monotonic projection between two readings
/// before it counts as a step. Two minutes: far above NTP's slew rate (at most 0.5 ms/s) over
/// any gap between readings the daemon makes (a second or so), and far below the minutes at
/// which an alarm or a day turning early would matter.
pub const STEP_TOLERANCE: SignedDuration = SignedDuration::from_mins(2);

/// How long a suspected step must persist, by the monotonic clock, before engine time
/// follows it: long enough for NTP to correct a one-off bad reading, short next to the
/// working-day granularity of the deadlines it delays.
pub const STEP_CONFIRM: Duration = Duration::from_secs(60);

/// Wall time guarded against clock steps (see the module doc).
pub struct SteadyClock<W: Clock, M: Monotonic> {
    wall: W,
    mono: M,
    state: Mutex<Steady>,
}

#[derive(Debug, Clone, Copy)]
struct Steady {
    /// The last wall reading engine time was anchored to, and the monotonic time then.
    base_wall: Timestamp,
    base_mono: Duration,
    /// When (monotonic) the wall clock started disagreeing, while it does.
    suspect_since: Option<Duration>,
    /// The latest instant handed out: engine time never goes back.
    last: Timestamp,
}

impl SteadyClock<SystemClock, SystemMonotonic> {
    /// The daemon's clock: the system's wall clock checked against its monotonic clock.
    pub fn system() -> Self {
        SteadyClock::new(SystemClock, SystemMonotonic::default())
    }
}

impl<W: Clock, M: Monotonic> SteadyClock<W, M> {
    pub fn new(wall: W, mono: M) -> Self {
        let (w, m) = (wall.now(), mono.elapsed());
        SteadyClock {
            wall,
            mono,
            state: Mutex::new(Steady {
                base_wall: w,
                base_mono: m,
                suspect_since: None,
                last: w,
            }),
        }
    }

    fn anchor(s: &mut Steady, wall: Timestamp, mono: Duration) {
        s.base_wall = wall;
        s.base_mono = mono;
        s.suspect_since = None;
    }
}

impl<W: Clock, M: Monotonic> Clock for SteadyClock<W, M> {
    fn now(&self) -> Timestamp {
        let wall = self.wall.now();
        let mono = self.mono.elapsed();
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let passed = SignedDuration::try_from(mono.saturating_sub(s.base_mono))
            .unwrap_or(SignedDuration::MAX);
        let projected = s.base_wall.saturating_add(passed).unwrap_or(Timestamp::MAX);
        let step = wall.duration_since(projected);
        let engine = if step.abs() <= STEP_TOLERANCE {
            if s.suspect_since.take().is_some() {
                tracing::info!("the system clock agrees with the monotonic clock again");
            }
            Self::anchor(&mut s, wall, mono);
            wall
        } else {
            match s.suspect_since {
                None => {
                    s.suspect_since = Some(mono);
                    tracing::warn!(
                        step_s = step.as_secs(),
                        "the system clock stepped; engine time follows the monotonic clock \
                         until the step is confirmed"
                    );
                    projected
                }
                Some(since) if mono.saturating_sub(since) >= STEP_CONFIRM => {
                    let direction = if step.is_negative() {
                        "backward"
                    } else {
                        "forward"
                    };
                    tracing::warn!(
                        step_s = step.as_secs(),
                        direction,
                        "the system clock step persisted; engine time follows it"
                    );
                    metrics::counter!(crate::metrics::CLOCK_STEPS, "direction" => direction)
                        .increment(1);
                    metrics::gauge!(crate::metrics::CLOCK_LAST_STEP).set(step.as_secs_f64());
                    Self::anchor(&mut s, wall, mono);
                    wall
                }
                Some(_) => projected,
            }
        };
        s.last = s.last.max(engine);
        s.last
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicU64;

    use super::*;

    /// A monotonic clock moved by hand, shared with the test.
    #[derive(Clone, Default)]
    struct Mono(Arc<AtomicU64>);

    impl Mono {
        fn advance(&self, s: u64) {
            self.0.fetch_add(s * 1000, Ordering::SeqCst);
        }
    }

    impl Monotonic for Mono {
        fn elapsed(&self) -> Duration {
            Duration::from_millis(self.0.load(Ordering::SeqCst))
        }
    }

    struct Wall(Arc<ManualClock>);

    impl Clock for Wall {
        fn now(&self) -> Timestamp {
            self.0.now()
        }
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn setup() -> (Arc<ManualClock>, Mono, SteadyClock<Wall, Mono>) {
        let wall = Arc::new(ManualClock::new(ts("2026-12-03T09:00:00+08:00")));
        let mono = Mono::default();
        let clock = SteadyClock::new(Wall(wall.clone()), mono.clone());
        (wall, mono, clock)
    }

    /// Both clocks move on together by `s` seconds.
    fn tick(wall: &ManualClock, mono: &Mono, s: i64) {
        wall.advance(s);
        mono.advance(s as u64);
    }

    #[test]
    fn ordinary_time_and_small_corrections_pass_through() {
        let (wall, mono, clock) = setup();
        tick(&wall, &mono, 30);
        assert_eq!(clock.now(), ts("2026-12-03T09:00:30+08:00"));
        // NTP slews or steps by seconds: followed at once.
        wall.advance(5);
        assert_eq!(clock.now(), ts("2026-12-03T09:00:35+08:00"));
    }

    #[test]
    fn a_forward_step_is_held_back_until_it_persists() {
        let (wall, mono, clock) = setup();
        // The wall clock jumps an hour ahead: engines keep the real pace meanwhile, so no
        // alarm due in that hour fires and no business day turns early.
        wall.advance(3600);
        assert_eq!(clock.now(), ts("2026-12-03T09:00:00+08:00"));
        tick(&wall, &mono, 30);
        assert_eq!(clock.now(), ts("2026-12-03T09:00:30+08:00"));
        // Still there a minute after it was first seen: the step is real and followed.
        tick(&wall, &mono, 30);
        assert_eq!(clock.now(), ts("2026-12-03T10:01:00+08:00"));
        tick(&wall, &mono, 10);
        assert_eq!(clock.now(), ts("2026-12-03T10:01:10+08:00"));
    }

    #[test]
    fn a_step_that_is_corrected_in_time_never_moves_engine_time() {
        let (wall, mono, clock) = setup();
        wall.advance(86_400);
        assert_eq!(clock.now(), ts("2026-12-03T09:00:00+08:00"));
        tick(&wall, &mono, 20);
        // NTP puts it right again before the confirmation time.
        wall.advance(-86_400);
        assert_eq!(clock.now(), ts("2026-12-03T09:00:20+08:00"));
        tick(&wall, &mono, 60);
        assert_eq!(clock.now(), ts("2026-12-03T09:01:20+08:00"));
    }

    #[test]
    fn engine_time_never_goes_back() {
        let (wall, mono, clock) = setup();
        tick(&wall, &mono, 600);
        let before = clock.now();
        // An hour back, confirmed: engine time holds still until the wall clock has passed
        // what the engines already saw.
        wall.advance(-3600);
        assert_eq!(clock.now(), before);
        tick(&wall, &mono, 61);
        assert_eq!(clock.now(), before, "confirmed backwards: held");
        tick(&wall, &mono, 60);
        assert_eq!(clock.now(), before, "the wall clock is still behind");
        tick(&wall, &mono, 3600);
        assert_eq!(clock.now(), ts("2026-12-03T09:12:01+08:00"));
    }
}
