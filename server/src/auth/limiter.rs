//! Sign-in limits, so passwords cannot be guessed by brute force and a crowd of sign-ins cannot
//! exhaust the server.
//!
//! An attempt is counted before its password is checked, per login and per client address, in
//! the database (`login_attempts`): one atomic upsert per key, so parallel attempts cannot
//! overtake the count, and every server process sharing a PostgreSQL counts the same attempts.
//! A sign-in that succeeds, or is turned away before its check, takes its count back; a wrong
//! password keeps it. Windows start with their first attempt and last [`WINDOW`].
//!
//! Password checks (argon2, about 19 MiB each) run at most `password_checks` at a time, with at
//! most `password_queue` more waiting; beyond that a sign-in answers 503 with `Retry-After`.

use std::{
    net::IpAddr,
    sync::atomic::{AtomicU64, AtomicUsize, Ordering},
    time::Duration,
};

use sqlx::Row;
use tokio::sync::{Semaphore, SemaphorePermit};

use super::Limits;
use crate::{
    db::{Db, now_ms},
    error::{ApiError, ApiResult},
};

pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Failed (or in-flight) attempts one login may have in a window.
pub const PER_LOGIN: i64 = 5;
/// Failed (or in-flight) attempts one client address may have in a window.
pub const PER_ADDRESS: i64 = 30;
/// What a sign-in turned away by a full queue is told to wait.
const BUSY_RETRY_SECS: u64 = 2;

pub struct LoginLimiter {
    checks: Semaphore,
    /// Sign-ins holding or waiting for a check.
    admitted: AtomicUsize,
    max_admitted: usize,
    attempts: AtomicU64,
}

/// One counted attempt; give it back with [`LoginLimiter::take_back`] unless the password was
/// wrong.
#[derive(Debug)]
pub struct Attempt {
    counted: Vec<(String, i64)>,
}

/// A place among the sign-ins allowed to check a password; released on drop.
pub struct Admission<'a> {
    limiter: &'a LoginLimiter,
}

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        self.limiter.admitted.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Admission<'_> {
    /// Waits for a free password check.
    pub async fn check(&self) -> SemaphorePermit<'_> {
        // The semaphore is never closed.
        self.limiter
            .checks
            .acquire()
            .await
            .expect("password check semaphore closed")
    }
}

impl LoginLimiter {
    pub fn new(limits: &Limits) -> LoginLimiter {
        let checks = limits.password_checks.max(1);
        LoginLimiter {
            checks: Semaphore::new(checks),
            admitted: AtomicUsize::new(0),
            max_admitted: checks + limits.password_queue,
            attempts: AtomicU64::new(0),
        }
    }

    /// A place in the bounded queue of password checks, or 503 with `Retry-After`.
    pub fn admit(&self) -> ApiResult<Admission<'_>> {
        let before = self.admitted.fetch_add(1, Ordering::AcqRel);
        let admission = Admission { limiter: self };
        if before >= self.max_admitted {
            drop(admission);
            let mut e = ApiError::unavailable("too many sign-ins at once; try again shortly");
            e.body.retry_after_secs = Some(BUSY_RETRY_SECS);
            return Err(e);
        }
        Ok(admission)
    }

    /// Counts an attempt for this login and address before its password is checked; 429 with
    /// the wait when either has used its attempts for the window.
    pub async fn count(&self, db: &Db, login: &str, addr: IpAddr) -> ApiResult<Attempt> {
        let now = now_ms();
        if self.attempts.fetch_add(1, Ordering::Relaxed) % 256 == 255 {
            self.sweep(db, now).await;
        }
        let mut attempt = Attempt {
            counted: Vec::with_capacity(2),
        };
        for (key, limit) in [(login_key(login), PER_LOGIN), (addr_key(addr), PER_ADDRESS)] {
            let (attempts, window_start) = count_one(db, &key, now).await?;
            if attempts > limit {
                // Over the limit: this attempt is not checked. The count stays above the limit
                // until the window ends, so giving back the others is all there is to do.
                self.take_back(db, attempt).await;
                let wait = window_start + WINDOW.as_millis() as i64 - now;
                return Err(ApiError::rate_limited((wait.max(0) as u64).div_ceil(1000)));
            }
            attempt.counted.push((key, window_start));
        }
        Ok(attempt)
    }

    /// Gives an attempt's counts back: the password was right, or it was never checked.
    pub async fn take_back(&self, db: &Db, attempt: Attempt) {
        for (key, window_start) in attempt.counted {
            let result = sqlx::query(
                "UPDATE login_attempts SET attempts = attempts - 1 \
                 WHERE limit_key = $1 AND window_start = $2 AND attempts > 0",
            )
            .bind(&key)
            .bind(window_start)
            .execute(db.pool())
            .await;
            if let Err(e) = result {
                tracing::warn!(error = %e, "could not give back a sign-in attempt");
            }
        }
    }

    /// Forgets windows that have ended.
    async fn sweep(&self, db: &Db, now: i64) {
        let result = sqlx::query("DELETE FROM login_attempts WHERE window_start <= $1")
            .bind(now - WINDOW.as_millis() as i64)
            .execute(db.pool())
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not forget old sign-in attempts");
        }
    }
}

/// Adds one attempt to a key's window (a new window if the last one ended); returns the
/// attempts in the window, this one included, and when the window started.
async fn count_one(db: &Db, key: &str, now: i64) -> ApiResult<(i64, i64)> {
    let row = sqlx::query(
        "INSERT INTO login_attempts (limit_key, window_start, attempts) VALUES ($1, $2, 1) \
         ON CONFLICT (limit_key) DO UPDATE SET \
           attempts = CASE WHEN login_attempts.window_start <= $3 THEN 1 \
                           ELSE login_attempts.attempts + 1 END, \
           window_start = CASE WHEN login_attempts.window_start <= $3 THEN $2 \
                               ELSE login_attempts.window_start END \
         RETURNING attempts, window_start",
    )
    .bind(key)
    .bind(now)
    .bind(now - WINDOW.as_millis() as i64)
    .fetch_one(db.pool())
    .await?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}

fn login_key(login: &str) -> String {
    format!("login:{}", login.to_lowercase())
}

fn addr_key(addr: IpAddr) -> String {
    format!("addr:{addr}")
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), None).await.unwrap();
        (dir, db)
    }

    #[tokio::test]
    async fn the_sixth_attempt_on_a_login_is_refused_but_not_others() {
        let (_dir, db) = db().await;
        let limiter = LoginLimiter::new(&Limits::default());
        let addr: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..PER_LOGIN {
            limiter.count(&db, "p_zhao", addr).await.unwrap();
        }
        let refused = limiter.count(&db, "P_Zhao", addr).await.unwrap_err();
        assert_eq!(refused.status().as_u16(), 429);
        assert!(refused.body.retry_after_secs.unwrap() > 0);
        limiter.count(&db, "p_li", addr).await.unwrap();
    }

    #[tokio::test]
    async fn attempts_given_back_do_not_count() {
        let (_dir, db) = db().await;
        let limiter = LoginLimiter::new(&Limits::default());
        let addr: IpAddr = "10.0.0.7".parse().unwrap();
        for _ in 0..3 * PER_LOGIN {
            let attempt = limiter.count(&db, "p_li", addr).await.unwrap();
            limiter.take_back(&db, attempt).await;
        }
        limiter.count(&db, "p_li", addr).await.unwrap();
    }

    #[tokio::test]
    async fn too_many_attempts_from_one_address_lock_it() {
        let (_dir, db) = db().await;
        let limiter = LoginLimiter::new(&Limits::default());
        let addr: IpAddr = "10.0.0.9".parse().unwrap();
        for i in 0..PER_ADDRESS {
            limiter.count(&db, &format!("user{i}"), addr).await.unwrap();
        }
        assert!(limiter.count(&db, "someone_else", addr).await.is_err());
        // The refused attempt gave back what it had counted for its login.
        let other: IpAddr = "10.0.0.8".parse().unwrap();
        for _ in 0..PER_LOGIN {
            limiter.count(&db, "someone_else", other).await.unwrap();
        }
    }

    #[test]
    fn the_queue_is_bounded() {
        let limiter = LoginLimiter::new(&Limits {
            password_checks: 1,
            password_queue: 2,
            ..Limits::default()
        });
        let held: Vec<_> = (0..3).map(|_| limiter.admit().unwrap()).collect();
        let busy = limiter.admit().err().unwrap();
        assert_eq!(busy.status().as_u16(), 503);
        assert_eq!(busy.body.retry_after_secs, Some(BUSY_RETRY_SECS));
        drop(held);
        assert!(limiter.admit().is_ok());
    }
}
