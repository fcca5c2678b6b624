//! The error body every failed API call returns, with a stable machine-readable code.

use serde::{Deserialize, Serialize};

/// Stable codes the apps act on. Never renamed; new codes may be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Missing, expired, forged or revoked credentials: sign in again (or refresh).
    Unauthorized,
    /// Signed in, but this account may not do this.
    Forbidden,
    NotFound,
    /// The request is well-formed but a field is wrong; `field` names it.
    Validation,
    /// The request conflicts with the current state, e.g. an idempotency key reused with a
    /// different body. Permanent: retrying the same request gives the same answer.
    Conflict,
    /// Too many attempts; `retry_after_secs` says when to try again.
    RateLimited,
    /// The body is larger than the documented limit.
    PayloadTooLarge,
    /// Something failed on the server; safe to retry later.
    Server,
    /// A teacher muted this person in the lesson's chat (403); `retry_after_secs` says for
    /// how much longer.
    Muted,
    /// The lesson is not open now (409): cancelled, over, or its room not open yet. Joining
    /// and every room action (hands, stage, chat, mutes, quizzes) answer it; reading the room
    /// still works. The message says which.
    LessonNotLive,
    /// A class has had its school's daily number of non-urgent notices to parents (409);
    /// `field` names the class (`class:<id>`) and nothing was posted. Ask
    /// `GET /v1/classes/{id}/notice-allowance` before posting.
    DailyNoticeCap,
    /// Only school and county admins may mark a notice urgent (403).
    UrgentNotAllowed,
    /// The account's upload quota is used up: 413 when the file's bytes do not fit what the
    /// account may have pending or stored, 429 when it has too many unfinished uploads (one
    /// finishing or being given up makes room). Nothing was created.
    QuotaExceeded,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Validation => "validation",
            ErrorCode::Conflict => "conflict",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::Server => "server",
            ErrorCode::Muted => "muted",
            ErrorCode::LessonNotLive => "lesson_not_live",
            ErrorCode::DailyNoticeCap => "daily_notice_cap",
            ErrorCode::UrgentNotAllowed => "urgent_not_allowed",
            ErrorCode::QuotaExceeded => "quota_exceeded",
        }
    }
}

/// JSON body of every 4xx and 5xx response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub code: ErrorCode,
    /// Human-readable, free of personal data.
    pub message: String,
    /// For `validation`: the offending field (JSON path or CSV column).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For `rate_limited`: seconds until a retry can succeed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
    /// For roster imports: every bad row, with its line number.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rows: Vec<crate::roster::RosterRowError>,
    /// For a timetable `conflict`: the lesson the request clashes with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clash: Option<Box<crate::lessons::LessonClash>>,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorBody {
            code,
            message: message.into(),
            field: None,
            retry_after_secs: None,
            rows: Vec::new(),
            clash: None,
        }
    }
}
