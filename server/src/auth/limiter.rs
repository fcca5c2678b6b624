//! Failed-login rate limits, per login and per client address, so passwords cannot be guessed
//! by brute force. Kept in memory: each server process limits on its own.

use std::{
    collections::{HashMap, VecDeque},
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

const WINDOW: Duration = Duration::from_secs(15 * 60);
const PER_LOGIN: usize = 5;
const PER_ADDRESS: usize = 30;

#[derive(Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginLimiter {
    /// `Err(seconds)` when this login or address must wait before trying again.
    pub fn check(&self, login: &str, addr: IpAddr) -> Result<(), u64> {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let wait_login = Self::wait(&mut map, &login_key(login), PER_LOGIN, now);
        let wait_addr = Self::wait(&mut map, &addr_key(addr), PER_ADDRESS, now);
        match wait_login.max(wait_addr) {
            Some(wait) => Err(wait.as_secs().max(1)),
            None => Ok(()),
        }
    }

    pub fn failed(&self, login: &str, addr: IpAddr) {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(login_key(login)).or_default().push_back(now);
        map.entry(addr_key(addr)).or_default().push_back(now);
        if map.len() > 100_000 {
            map.retain(|_, v| v.back().is_some_and(|t| now.duration_since(*t) < WINDOW));
        }
    }

    pub fn succeeded(&self, login: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&login_key(login));
    }

    fn wait(
        map: &mut HashMap<String, VecDeque<Instant>>,
        key: &str,
        limit: usize,
        now: Instant,
    ) -> Option<Duration> {
        let entries = map.get_mut(key)?;
        while entries
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            entries.pop_front();
        }
        if entries.len() < limit {
            return None;
        }
        entries
            .front()
            .map(|oldest| WINDOW - now.duration_since(*oldest))
    }
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

    #[test]
    fn fifth_failure_locks_the_login_but_not_others() {
        let limiter = LoginLimiter::default();
        let addr: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..PER_LOGIN {
            assert!(limiter.check("p_zhao", addr).is_ok());
            limiter.failed("p_zhao", addr);
        }
        assert!(limiter.check("p_zhao", addr).is_err());
        assert!(limiter.check("p_li", addr).is_ok());
    }

    #[test]
    fn too_many_failures_from_one_address_lock_it() {
        let limiter = LoginLimiter::default();
        let addr: IpAddr = "10.0.0.9".parse().unwrap();
        for i in 0..PER_ADDRESS {
            limiter.failed(&format!("user{i}"), addr);
        }
        assert!(limiter.check("someone_else", addr).is_err());
        assert!(
            limiter
                .check("someone_else", "10.0.0.8".parse().unwrap())
                .is_ok()
        );
    }
}
