//! The one public error of the core, with a stable code the UI can act on.
//!
//! Messages never carry personal data (names, tokens, bodies, passwords): ids, status codes
//! and the server's own messages (which the server keeps free of personal data) only.

use std::time::Duration;

use lianxiao_protocol::{ErrorBody, ErrorCode as ServerCode};

/// What the UI can act on. Stable: new codes may be added, none renamed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorCode {
    /// No connection to the server (or it did not answer in time).
    Offline,
    /// Signed out remotely or never signed in: sign in again.
    Unauthorized,
    Forbidden,
    NotFound,
    /// A field is wrong; `field` names it when the server said which.
    Validation {
        field: Option<String>,
    },
    Conflict,
    RateLimited {
        retry_after_secs: Option<u64>,
    },
    /// A teacher muted this person in the lesson's chat, for `retry_after_secs` more when
    /// known.
    Muted {
        retry_after_secs: Option<u64>,
    },
    /// The lesson is not open: cancelled, over, or not yet in its window. The room can still
    /// be read.
    LessonNotLive,
    /// A class has had its school's daily number of non-urgent notices to parents;
    /// `class_id` names it. Nothing was posted.
    DailyNoticeCap {
        class_id: Option<String>,
    },
    Server,
    /// The local database failed.
    Storage,
    Internal,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("offline: {0}")]
    Offline(String),
    #[error("unauthorized: sign in again")]
    Unauthorized,
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("invalid request: {message}")]
    Validation {
        field: Option<String>,
        message: String,
    },
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("rate limited: {message}")]
    RateLimited {
        retry_after_secs: Option<u64>,
        message: String,
    },
    #[error("muted: {message}")]
    Muted {
        retry_after_secs: Option<u64>,
        message: String,
    },
    #[error("lesson not live: {0}")]
    LessonNotLive(String),
    #[error("daily notice cap: {message}")]
    DailyNoticeCap {
        class_id: Option<String>,
        message: String,
    },
    #[error("server error {status}: {message}")]
    Server { status: u16, message: String },
    #[error("storage: {0}")]
    Storage(String),
    #[error("internal: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How the outbox (and other retrying loops) must treat a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryClass {
    /// Try again later; `after` is the server's Retry-After when it gave one.
    Transient { after: Option<Duration> },
    /// Credentials are gone: wait for a new sign-in, keep the work.
    Paused,
    /// Will never succeed: take it out of the queue and tell the user.
    Permanent,
}

impl Error {
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Offline(_) => ErrorCode::Offline,
            Error::Unauthorized => ErrorCode::Unauthorized,
            Error::Forbidden(_) => ErrorCode::Forbidden,
            Error::NotFound(_) => ErrorCode::NotFound,
            Error::Validation { field, .. } => ErrorCode::Validation {
                field: field.clone(),
            },
            Error::Conflict(_) => ErrorCode::Conflict,
            Error::RateLimited {
                retry_after_secs, ..
            } => ErrorCode::RateLimited {
                retry_after_secs: *retry_after_secs,
            },
            Error::Muted {
                retry_after_secs, ..
            } => ErrorCode::Muted {
                retry_after_secs: *retry_after_secs,
            },
            Error::LessonNotLive(_) => ErrorCode::LessonNotLive,
            Error::DailyNoticeCap { class_id, .. } => ErrorCode::DailyNoticeCap {
                class_id: class_id.clone(),
            },
            Error::Server { .. } => ErrorCode::Server,
            Error::Storage(_) => ErrorCode::Storage,
            Error::Internal(_) => ErrorCode::Internal,
        }
    }

    /// A short stable name of the code, stored with failed outbox items.
    pub fn code_str(&self) -> &'static str {
        match self {
            Error::Offline(_) => "offline",
            Error::Unauthorized => "unauthorized",
            Error::Forbidden(_) => "forbidden",
            Error::NotFound(_) => "not_found",
            Error::Validation { .. } => "validation",
            Error::Conflict(_) => "conflict",
            Error::RateLimited { .. } => "rate_limited",
            Error::Muted { .. } => "muted",
            Error::LessonNotLive(_) => "lesson_not_live",
            Error::DailyNoticeCap { .. } => "daily_notice_cap",
            Error::Server { .. } => "server",
            Error::Storage(_) => "storage",
            Error::Internal(_) => "internal",
        }
    }

    pub fn retry_class(&self) -> RetryClass {
        match self {
            Error::Offline(_) | Error::Server { .. } => RetryClass::Transient { after: None },
            Error::RateLimited {
                retry_after_secs, ..
            } => RetryClass::Transient {
                after: retry_after_secs.map(Duration::from_secs),
            },
            Error::Unauthorized => RetryClass::Paused,
            // A local database failure is not the item's fault; try again.
            Error::Storage(_) => RetryClass::Transient { after: None },
            Error::Forbidden(_)
            | Error::NotFound(_)
            | Error::Validation { .. }
            | Error::Conflict(_)
            | Error::Muted { .. }
            | Error::LessonNotLive(_)
            | Error::DailyNoticeCap { .. }
            | Error::Internal(_) => RetryClass::Permanent,
        }
    }

    /// Maps an HTTP failure. `body` is the raw response body (an `ErrorBody` when the server
    /// wrote it, anything when a proxy did); `retry_after` is the `Retry-After` header.
    pub(crate) fn from_response(status: u16, body: &[u8], retry_after: Option<u64>) -> Error {
        let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
        let message = parsed
            .as_ref()
            .map(|b| b.message.clone())
            .unwrap_or_else(|| format!("HTTP status {status}"));
        // The server's own refusals the UI acts on, whatever status carries them.
        match parsed.as_ref().map(|b| b.code) {
            Some(ServerCode::Muted) => {
                return Error::Muted {
                    retry_after_secs: retry_after.or(parsed.and_then(|b| b.retry_after_secs)),
                    message,
                };
            }
            Some(ServerCode::LessonNotLive) => return Error::LessonNotLive(message),
            Some(ServerCode::DailyNoticeCap) => {
                return Error::DailyNoticeCap {
                    class_id: parsed
                        .and_then(|b| b.field)
                        .map(|f| f.strip_prefix("class:").map(str::to_owned).unwrap_or(f)),
                    message,
                };
            }
            _ => {}
        }
        match status {
            400 | 422 => Error::Validation {
                field: parsed.and_then(|b| b.field),
                message,
            },
            413 => Error::Validation {
                field: parsed.and_then(|b| b.field),
                message,
            },
            401 => Error::Unauthorized,
            403 => Error::Forbidden(message),
            404 => Error::NotFound(message),
            409 => Error::Conflict(message),
            429 => Error::RateLimited {
                retry_after_secs: retry_after.or(parsed.and_then(|b| b.retry_after_secs)),
                message,
            },
            // Timeouts from proxies are like a dropped connection.
            408 => Error::Offline(message),
            s if s >= 500 => Error::Server { status, message },
            _ => Error::Validation {
                field: None,
                message,
            },
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        // rusqlite messages name SQL and constraints, never bound values.
        Error::Storage(e.to_string())
    }
}

impl From<rusqlite_migration::Error> for Error {
    fn from(e: rusqlite_migration::Error) -> Self {
        Error::Storage(format!("migration failed: {e}"))
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Internal(format!("malformed JSON: {e}"))
    }
}

impl From<reqwest::Error> for Error {
    fn from(e: reqwest::Error) -> Self {
        // Without the URL: query strings are ours, but keep messages to the failure kind.
        let kind = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "could not connect"
        } else if e.is_decode() || e.is_body() {
            // The core parses JSON itself; reqwest reports a body cut off part-way as a
            // decode error. That is a broken link to retry, not a bad answer: an outbox item
            // caught by it must stay queued.
            "the connection broke during the response"
        } else {
            "request failed"
        };
        Error::Offline(kind.into())
    }
}

impl From<tokio::task::JoinError> for Error {
    fn from(e: tokio::task::JoinError) -> Self {
        Error::Internal(format!("background task failed: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(code: &str, field: Option<&str>) -> Vec<u8> {
        let mut v = serde_json::json!({"code": code, "message": "m"});
        if let Some(f) = field {
            v["field"] = f.into();
        }
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn transient_failures_are_retried() {
        for status in [500, 502, 503, 408] {
            let e = Error::from_response(status, b"<html>", None);
            assert!(
                matches!(e.retry_class(), RetryClass::Transient { .. }),
                "{status}"
            );
        }
        let e = Error::Offline("could not connect".into());
        assert_eq!(e.retry_class(), RetryClass::Transient { after: None });
    }

    #[test]
    fn the_servers_own_refusals_keep_their_codes() {
        let muted = serde_json::to_vec(&serde_json::json!(
            {"code": "muted", "message": "m", "retry_after_secs": 60}))
        .unwrap();
        let e = Error::from_response(403, &muted, None);
        assert_eq!(
            e.code(),
            ErrorCode::Muted {
                retry_after_secs: Some(60)
            }
        );
        let e = Error::from_response(409, &body("lesson_not_live", None), None);
        assert_eq!(e.code(), ErrorCode::LessonNotLive);
        assert_eq!(e.code_str(), "lesson_not_live");
        let e = Error::from_response(409, &body("daily_notice_cap", Some("class:c1")), None);
        assert_eq!(
            e.code(),
            ErrorCode::DailyNoticeCap {
                class_id: Some("c1".into())
            }
        );
        assert_eq!(e.retry_class(), RetryClass::Permanent);
        // A plain conflict stays one.
        let e = Error::from_response(409, &body("conflict", None), None);
        assert_eq!(e.code(), ErrorCode::Conflict);
    }

    /// The link breaks while the body is read (the server promised 100 bytes and sent 3):
    /// the item stays queued for another try instead of failing for good.
    #[tokio::test]
    async fn a_body_cut_off_part_way_is_retried() {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 1024];
            let _ = tokio::io::AsyncReadExt::read(&mut socket, &mut request).await;
            let _ = socket
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"a")
                .await;
        });
        let http = crate::api::http_client().unwrap();
        let response = http.get(format!("http://{addr}/")).send().await.unwrap();
        let cut = response.bytes().await.expect_err("the body was cut off");
        let e = Error::from(cut);
        assert!(matches!(e, Error::Offline(_)), "{e:?}");
        assert!(matches!(e.retry_class(), RetryClass::Transient { .. }));
    }

    #[test]
    fn rate_limit_honours_retry_after_header_over_body() {
        let b = serde_json::to_vec(&serde_json::json!({
            "code": "rate_limited", "message": "slow down", "retry_after_secs": 99
        }))
        .unwrap();
        let e = Error::from_response(429, &b, Some(7));
        assert_eq!(
            e.code(),
            ErrorCode::RateLimited {
                retry_after_secs: Some(7)
            }
        );
        assert_eq!(
            e.retry_class(),
            RetryClass::Transient {
                after: Some(Duration::from_secs(7))
            }
        );
        let e = Error::from_response(429, &b, None);
        assert_eq!(
            e.code(),
            ErrorCode::RateLimited {
                retry_after_secs: Some(99)
            }
        );
    }

    #[test]
    fn permanent_failures_leave_the_queue() {
        for (status, code) in [
            (400, "validation"),
            (403, "forbidden"),
            (404, "not_found"),
            (409, "conflict"),
            (413, "payload_too_large"),
            (422, "validation"),
        ] {
            let e = Error::from_response(status, &body(code, None), None);
            assert_eq!(e.retry_class(), RetryClass::Permanent, "{status}");
        }
    }

    #[test]
    fn unauthorized_pauses() {
        let e = Error::from_response(401, &body("unauthorized", None), None);
        assert_eq!(e.code(), ErrorCode::Unauthorized);
        assert_eq!(e.retry_class(), RetryClass::Paused);
    }

    #[test]
    fn validation_keeps_the_field() {
        let e = Error::from_response(422, &body("validation", Some("title")), None);
        assert_eq!(
            e.code(),
            ErrorCode::Validation {
                field: Some("title".into())
            }
        );
    }
}
