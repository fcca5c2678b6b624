//! The API's error: a stable code, an HTTP status and a message free of personal data.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use lianxiao_protocol::{ErrorBody, ErrorCode, RosterRowError};

#[derive(Debug)]
pub struct ApiError {
    pub body: ErrorBody,
    status: StatusCode,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            body: ErrorBody::new(code, message),
            status: status_of(code),
        }
    }

    /// A request that could not be parsed at all (malformed JSON, wrong content type).
    pub fn bad_request(message: impl Into<String>) -> Self {
        let mut e = Self::new(ErrorCode::Validation, message);
        e.status = StatusCode::BAD_REQUEST;
        e
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(
            ErrorCode::PayloadTooLarge,
            format!("request body is larger than the limit of {limit} bytes"),
        )
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Conflict, message)
    }

    /// The lesson is not open now (cancelled, over, not yet open): `409 lesson_not_live`.
    pub fn lesson_not_live(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::LessonNotLive, message)
    }

    /// The class has had today's non-urgent notices (409 `daily_notice_cap`); `field` is
    /// `class:<id>`.
    pub fn daily_notice_cap(class_id: &str, cap: u32) -> Self {
        let mut e = Self::new(
            ErrorCode::DailyNoticeCap,
            format!(
                "class {class_id} has had its {cap} notice(s) for today; nothing was posted (urgent notices come from a school admin)"
            ),
        );
        e.body.field = Some(format!("class:{class_id}"));
        e
    }

    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        let mut e = Self::new(ErrorCode::Validation, message);
        e.body.field = Some(field.to_owned());
        e
    }

    pub fn rate_limited(retry_after_secs: u64) -> Self {
        let mut e = Self::new(ErrorCode::RateLimited, "too many attempts; try again later");
        e.body.retry_after_secs = Some(retry_after_secs.max(1));
        e
    }

    pub fn roster(rows: Vec<RosterRowError>) -> Self {
        let mut e = Self::new(
            ErrorCode::Validation,
            format!(
                "{} roster row(s) are invalid; nothing was imported",
                rows.len()
            ),
        );
        e.body.rows = rows;
        e
    }

    /// A feature this deployment has not configured (503; retrying will not help until it is).
    pub fn unavailable(message: impl Into<String>) -> Self {
        let mut e = Self::new(ErrorCode::Server, message);
        e.status = StatusCode::SERVICE_UNAVAILABLE;
        e
    }

    pub fn internal() -> Self {
        Self::new(ErrorCode::Server, "internal server error")
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The same error with another status (where one code is answered with two).
    pub fn set_status(&mut self, status: StatusCode) {
        self.status = status;
    }
}

pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::Validation => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::Conflict => StatusCode::CONFLICT,
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::Server => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::Muted => StatusCode::FORBIDDEN,
        ErrorCode::LessonNotLive => StatusCode::CONFLICT,
        ErrorCode::DailyNoticeCap => StatusCode::CONFLICT,
        ErrorCode::UrgentNotAllowed => StatusCode::FORBIDDEN,
        ErrorCode::QuotaExceeded => StatusCode::PAYLOAD_TOO_LARGE,
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.body.code.as_str(), self.body.message)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let retry = self.body.retry_after_secs;
        let mut response = (status, axum::Json(self.body)).into_response();
        if let Some(secs) = retry
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        // Database messages can quote row values; log the kind only.
        tracing::error!(error = %db_error_kind(&e), "database error");
        ApiError::internal()
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        tracing::error!(error = %e, "internal error");
        ApiError::internal()
    }
}

fn db_error_kind(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(d) => format!("database error code {:?}", d.code()),
        sqlx::Error::PoolTimedOut => "pool timed out".into(),
        other => other.to_string(),
    }
}

/// True for a unique-key violation (a concurrent duplicate insert).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            d.is_unique_violation()
                || matches!(
                    d.code().as_deref(),
                    Some("23505") | Some("2067") | Some("1555")
                )
        }
        _ => false,
    }
}
