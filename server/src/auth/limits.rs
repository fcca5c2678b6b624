//! Limits that keep one client, or a crowd of them, from exhausting the server: concurrent
//! password checks (argon2 takes about 19 MiB each), realtime sockets per account, and how
//! long a connection may take to send its request headers or sit idle.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Limits {
    /// Password checks running at once (`LIANXIAO_PASSWORD_CHECKS`; default: the CPUs).
    pub password_checks: usize,
    /// Sign-ins waiting for a check beyond those; more answer 503 with `Retry-After`
    /// (`LIANXIAO_PASSWORD_QUEUE`).
    pub password_queue: usize,
    /// Realtime sockets one account may hold open on one server process
    /// (`LIANXIAO_SOCKETS_PER_ACCOUNT`); one more is refused with 429.
    pub sockets_per_account: usize,
    /// Time a connection has to send a request's headers, and to send the next request of a
    /// kept-alive connection (`LIANXIAO_HEADER_TIMEOUT_SECS`).
    pub header_timeout: Duration,
    /// A realtime socket that sends nothing (not even the answer to a ping) for this long is
    /// closed (`LIANXIAO_SOCKET_IDLE_SECS`).
    pub socket_idle: Duration,
}

pub const DEFAULT_PASSWORD_QUEUE: usize = 64;
pub const DEFAULT_SOCKETS_PER_ACCOUNT: usize = 10;
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(20);
pub const DEFAULT_SOCKET_IDLE: Duration = Duration::from_secs(90);

impl Default for Limits {
    fn default() -> Self {
        Limits {
            password_checks: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
                .max(1),
            password_queue: DEFAULT_PASSWORD_QUEUE,
            sockets_per_account: DEFAULT_SOCKETS_PER_ACCOUNT,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            socket_idle: DEFAULT_SOCKET_IDLE,
        }
    }
}

impl Limits {
    /// The defaults, overridden by the environment variables named on each field.
    pub fn from_env() -> anyhow::Result<Limits> {
        let defaults = Limits::default();
        Ok(Limits {
            password_checks: number("LIANXIAO_PASSWORD_CHECKS", defaults.password_checks, 1)?,
            password_queue: number("LIANXIAO_PASSWORD_QUEUE", defaults.password_queue, 0)?,
            sockets_per_account: number(
                "LIANXIAO_SOCKETS_PER_ACCOUNT",
                defaults.sockets_per_account,
                1,
            )?,
            header_timeout: Duration::from_secs(number(
                "LIANXIAO_HEADER_TIMEOUT_SECS",
                defaults.header_timeout.as_secs() as usize,
                1,
            )? as u64),
            socket_idle: Duration::from_secs(number(
                "LIANXIAO_SOCKET_IDLE_SECS",
                defaults.socket_idle.as_secs() as usize,
                1,
            )? as u64),
        })
    }
}

fn number(name: &str, default: usize, min: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(v) if v.trim().is_empty() => Ok(default),
        Ok(v) => match v.trim().parse::<usize>() {
            Ok(n) if n >= min => Ok(n),
            _ => anyhow::bail!("{name} must be a whole number, at least {min}"),
        },
    }
}
