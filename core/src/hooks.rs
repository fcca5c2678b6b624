//! Test hooks: named points in the core where a test makes it panic (to prove a panic in a
//! background task is reported, not lost) or stops it dead, so the test can SIGKILL the
//! process exactly there (the killed-app tests). Built only for the core's own tests and with
//! the `test-hooks` feature; otherwise `reached` is empty and costs nothing.
//!
//! Stopping: `LIANXIAO_TEST_STOP_AT=<point>` in the environment. The first thread to reach
//! that point writes `lianxiao-test-hook: stopped at <point>` to stderr and never returns.

/// The environment variable naming the point where the process stops.
#[cfg(any(test, feature = "test-hooks"))]
pub const STOP_AT_ENV: &str = "LIANXIAO_TEST_STOP_AT";

/// What a stopped process writes to stderr, followed by the point's name.
#[cfg(any(test, feature = "test-hooks"))]
pub const STOPPED_LINE: &str = "lianxiao-test-hook: stopped at ";

#[cfg(any(test, feature = "test-hooks"))]
mod imp {
    use std::{
        io::Write,
        sync::{Mutex, OnceLock},
    };

    /// One-shot panics: (account, point).
    static PANICS: Mutex<Vec<(String, &'static str)>> = Mutex::new(Vec::new());

    /// The next time `account` reaches `point`, panic there (once).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn panic_once(account: &str, point: &'static str) {
        PANICS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((account.to_owned(), point));
    }

    pub(crate) fn reached(account: &str, point: &'static str) {
        let armed = {
            let mut panics = PANICS.lock().unwrap_or_else(|e| e.into_inner());
            match panics.iter().position(|(a, p)| a == account && *p == point) {
                Some(i) => {
                    panics.remove(i);
                    true
                }
                None => false,
            }
        };
        if armed {
            panic!("injected panic at {point}");
        }
        static STOP_AT: OnceLock<Option<String>> = OnceLock::new();
        let stop_at = STOP_AT.get_or_init(|| std::env::var(super::STOP_AT_ENV).ok());
        if stop_at.as_deref() == Some(point) {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{}{point}", super::STOPPED_LINE);
            let _ = err.flush();
            drop(err);
            // Held here until the test kills the process.
            loop {
                std::thread::park();
            }
        }
    }
}

#[cfg(any(test, feature = "test-hooks"))]
pub(crate) use imp::*;

#[cfg(not(any(test, feature = "test-hooks")))]
#[inline(always)]
pub(crate) fn reached(_account: &str, _point: &'static str) {}
