//! The server's clock for what the school's day decides: quiet hours, digests, daily caps,
//! homework deadlines and lessons about to start.
//!
//! Production runs on the system clock. End-to-end tests run the real server binary and need
//! 21:30 or 07:00 on demand, so a server started with `LIANXIAO_TEST_CLOCK=1` (and only then)
//! serves `PUT /v1/test/clock`, which moves this clock to a given instant; it keeps running
//! from there at the real pace, so leases, retries and backoff still behave. The route does
//! not exist otherwise, asks for a county admin even when it does, and the server warns at
//! start-up and on every move. Tokens and sessions keep the system clock: a moved test clock
//! must not sign anyone out.
//!
//! Code far from the server's state (homework deadlines and lateness, lesson windows, the
//! `X-Server-Time` header and the `server_time` answers phones set their clocks by) reads
//! [`now_ms`]: the test clock of this process when one was made, else the system clock. One
//! test clock per process, as one server per process (`push::policy`'s deployment default
//! is process-wide in the same way).

use std::sync::{
    Arc, LazyLock,
    atomic::{AtomicI64, Ordering},
};

use crate::db;

/// The environment variable that enables the test clock route.
pub const TEST_CLOCK_ENV: &str = "LIANXIAO_TEST_CLOCK";

/// How far this process's test clock runs ahead of the system clock (0 without one).
static PROCESS_OFFSET: LazyLock<Arc<AtomicI64>> = LazyLock::new(|| Arc::new(AtomicI64::new(0)));

/// Unix milliseconds as the school's world sees them: this process's test clock when one was
/// made ([`Clock::settable`]), else the system clock. For deadlines, lesson windows and the
/// time told to phones; never for tokens, sessions, leases or rate limits.
pub fn now_ms() -> i64 {
    db::now_ms() + PROCESS_OFFSET.load(Ordering::Relaxed)
}

/// Unix milliseconds as the school's world sees them. Cheap to clone; clones share the time.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    /// `None` for the system clock; else how far the test clock runs ahead of it (ms).
    offset: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock { offset: None }
    }

    /// A clock tests may move, starting at the system time. It is this process's test clock:
    /// [`now_ms`] follows it (a second one made in the process takes over, back at the
    /// system time).
    pub fn settable() -> Clock {
        PROCESS_OFFSET.store(0, Ordering::Relaxed);
        Clock {
            offset: Some(Arc::clone(&PROCESS_OFFSET)),
        }
    }

    /// Whether this clock can be moved (the test clock).
    pub fn is_settable(&self) -> bool {
        self.offset.is_some()
    }

    pub fn now_ms(&self) -> i64 {
        let offset = self
            .offset
            .as_ref()
            .map_or(0, |o| o.load(Ordering::Relaxed));
        db::now_ms() + offset
    }

    /// Moves a test clock so that it reads `at` now; the system clock cannot be moved.
    pub fn set(&self, at: i64) -> bool {
        match &self.offset {
            Some(offset) => {
                offset.store(at - db::now_ms(), Ordering::Relaxed);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A test clock of its own, so unit tests running beside this one keep the system time.
    fn detached() -> Clock {
        Clock {
            offset: Some(Arc::new(AtomicI64::new(0))),
        }
    }

    #[test]
    fn a_test_clock_moves_and_keeps_running() {
        let clock = detached();
        let at = 1_800_000_000_000;
        assert!(clock.set(at));
        let read = clock.clone().now_ms();
        assert!((at..at + 5_000).contains(&read), "{read}");
    }

    #[test]
    fn the_system_clock_cannot_be_moved() {
        let clock = Clock::system();
        assert!(!clock.set(0));
        assert!(clock.now_ms() > 1_700_000_000_000);
    }
}
