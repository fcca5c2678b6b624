//! Exit codes and the one-line error a command ends with. Messages carry ids and the core's or
//! server's own words (which are free of personal data), never names, bodies or tokens.

use std::process::ExitCode;

use lianxiao_core::{Error, ErrorCode};

/// The documented exit codes (see `cli::EXIT_CODES_HELP` and the README).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    /// clap uses it for a wrong command line; listed for completeness.
    #[allow(dead_code)]
    Usage = 2,
    Queued = 3,
    Auth = 4,
    Forbidden = 5,
    NotFound = 6,
    Validation = 7,
    RateLimited = 8,
    Other = 9,
    /// The server refused because of something already there (a lesson clash).
    Conflict = 10,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

impl Exit {
    pub fn from_code(code: &ErrorCode) -> Exit {
        match code {
            ErrorCode::Unauthorized => Exit::Auth,
            // Muted is a refusal of this person, like forbidden.
            ErrorCode::Forbidden | ErrorCode::Muted { .. } => Exit::Forbidden,
            ErrorCode::NotFound => Exit::NotFound,
            ErrorCode::Validation { .. } => Exit::Validation,
            ErrorCode::RateLimited { .. } => Exit::RateLimited,
            // The lesson's state and the day's cap are, like a clash, something already there.
            ErrorCode::Conflict | ErrorCode::LessonNotLive | ErrorCode::DailyNoticeCap { .. } => {
                Exit::Conflict
            }
            ErrorCode::Offline | ErrorCode::Server | ErrorCode::Storage | ErrorCode::Internal => {
                Exit::Other
            }
        }
    }

    /// For the code names the outbox stores with a rejected action (`Error::code_str`).
    pub fn from_code_str(code: &str) -> Exit {
        match code {
            "unauthorized" => Exit::Auth,
            "forbidden" | "muted" => Exit::Forbidden,
            "not_found" => Exit::NotFound,
            "validation" => Exit::Validation,
            "rate_limited" => Exit::RateLimited,
            "conflict" | "lesson_not_live" | "daily_notice_cap" => Exit::Conflict,
            _ => Exit::Other,
        }
    }
}

/// How a command failed: the exit code and one line for stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
}

pub type CliResult<T = ()> = Result<T, Failure>;

impl Failure {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Failure {
            exit,
            message: message.into(),
        }
    }

    pub fn not_signed_in() -> Self {
        Failure::new(
            Exit::Auth,
            "未登录 / not signed in: run `lianxiao login LOGIN`",
        )
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Failure::new(Exit::Validation, message)
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let exit = Exit::from_code(&e.code());
        let message = match &e {
            Error::Offline(why) => format!("无法连接服务器 / cannot reach the server ({why})"),
            Error::Unauthorized => {
                "登录已失效 / session expired or not signed in: run `lianxiao login LOGIN`".into()
            }
            Error::RateLimited {
                retry_after_secs: Some(secs),
                message,
            } => format!(
                "操作太频繁 / rate limited: {message} (wait {})",
                human_duration(*secs)
            ),
            other => other.to_string(),
        };
        Failure { exit, message }
    }
}

/// "42 min", "15 s", "2 h 5 min".
pub fn human_duration(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs.div_ceil(60)),
        _ => {
            let (h, m) = (secs / 3600, (secs % 3600) / 60);
            if m == 0 {
                format!("{h} h")
            } else {
                format!("{h} h {m} min")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_core_code_has_its_documented_exit() {
        let cases = [
            (Error::Unauthorized, 4),
            (Error::Forbidden("x".into()), 5),
            (Error::NotFound("x".into()), 6),
            (
                Error::Validation {
                    field: None,
                    message: "x".into(),
                },
                7,
            ),
            (
                Error::RateLimited {
                    retry_after_secs: Some(60),
                    message: "x".into(),
                },
                8,
            ),
            (
                Error::Server {
                    status: 500,
                    message: "x".into(),
                },
                9,
            ),
            (Error::Offline("x".into()), 9),
            (Error::Conflict("x".into()), 10),
            (
                Error::Muted {
                    retry_after_secs: None,
                    message: "x".into(),
                },
                5,
            ),
            (Error::LessonNotLive("x".into()), 10),
            (
                Error::DailyNoticeCap {
                    class_id: Some("c".into()),
                    message: "x".into(),
                },
                10,
            ),
        ];
        for (e, code) in cases {
            let name = e.code_str();
            let f = Failure::from(e);
            assert_eq!(f.exit as u8, code, "{name}");
            assert_eq!(Exit::from_code_str(name) as u8, code, "{name}");
        }
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(15), "15 s");
        assert_eq!(human_duration(61), "2 min");
        assert_eq!(human_duration(3600), "1 h");
        assert_eq!(human_duration(3900), "1 h 5 min");
    }
}
