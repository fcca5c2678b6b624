//! Attendance from the app: while a phone is in a lesson it sends a heartbeat every half
//! minute (queued on the phone, so one sent late after a dropped network still counts at the
//! time it was made). Heartbeats close enough together extend one interval with source `app`.

use lianxiao_protocol::{AttendanceInterval, LessonStatus};
use serde::Deserialize;

use crate::{
    db::{Tx, new_id},
    error::{ApiError, ApiResult},
    lessons::access,
};

/// Heartbeats further apart than this start a new interval (the phone was away).
pub const GAP_MS: i64 = 90_000;
/// A heartbeat may be dated this far outside the lesson (joining early, overrunning).
const SLACK_MS: i64 = 15 * 60 * 1000;

/// `POST /v1/lessons/{id}/heartbeat`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct Heartbeat {
    /// When the phone was in the lesson (server time, Unix ms); defaults to now.
    #[serde(default)]
    pub at: Option<i64>,
}

/// Records that the caller was in the lesson at `at`; returns the interval it extended.
pub async fn record(
    tx: &mut Tx,
    user_id: &str,
    lesson_id: &str,
    beat: &Heartbeat,
) -> ApiResult<AttendanceInterval> {
    let (lesson, _) = access::visible_lesson(tx, user_id, lesson_id).await?;
    if lesson.status == LessonStatus::Cancelled {
        return Err(ApiError::conflict("the lesson was cancelled"));
    }
    let now = crate::clock::now_ms();
    let at = beat.at.unwrap_or(now).min(now);
    if at < lesson.starts_at - SLACK_MS || at > lesson.ends_at + SLACK_MS {
        return Err(ApiError::conflict("the heartbeat is outside the lesson"));
    }
    let open: Option<(String, i64, i64)> = sqlx::query_as(
        "SELECT id, joined_at, left_at FROM attendance WHERE lesson_id = $1 AND user_id = $2 \
         AND source = 'app' AND joined_at <= $3 + $4 AND left_at >= $3 - $4 \
         ORDER BY left_at DESC LIMIT 1",
    )
    .bind(&lesson.id)
    .bind(user_id)
    .bind(at)
    .bind(GAP_MS)
    .fetch_optional(&mut **tx)
    .await?;
    let (joined_at, left_at) = match open {
        Some((id, joined, left)) => {
            let (joined, left) = (joined.min(at), left.max(at));
            sqlx::query("UPDATE attendance SET joined_at = $2, left_at = $3 WHERE id = $1")
                .bind(&id)
                .bind(joined)
                .bind(left)
                .execute(&mut **tx)
                .await?;
            (joined, left)
        }
        None => {
            sqlx::query(
                "INSERT INTO attendance (id, lesson_id, user_id, source, joined_at, left_at) \
                 VALUES ($1, $2, $3, 'app', $4, $4)",
            )
            .bind(new_id())
            .bind(&lesson.id)
            .bind(user_id)
            .bind(at)
            .execute(&mut **tx)
            .await?;
            (at, at)
        }
    };
    Ok(AttendanceInterval {
        source: "app".into(),
        joined_at,
        left_at: Some(left_at),
    })
}
