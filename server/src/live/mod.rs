//! Live lessons: joining (a LiveKit ticket for interactive lessons), LiveKit's webhooks
//! (attendance, lesson start and end, recordings) and stage control through LiveKit's room
//! service.
//!
//! LiveKit carries the media; who may be in which room, and as what, is decided here from the
//! timetable and memberships.

pub mod attendance;
pub mod egress;
pub mod heartbeat;
mod livekit;

pub use attendance::report as attendance;
pub(crate) use livekit::set_status;
pub use livekit::{Handled, handle_webhook, set_stage};

use lianxiao_protocol::{JoinTicket, LessonMode, LessonRole, LessonStatus};
use sqlx::AnyConnection;

use crate::{
    app::ServerConfig,
    error::{ApiError, ApiResult},
    lessons::access::{self, LessonRow, Standing},
};

/// After the lesson's end, a ticket stays good this long (overrunning a little is normal).
const OVERRUN_MS: i64 = 10 * 60 * 1000;

/// How the caller takes part, and in which class.
fn role_of(standing: &Standing) -> (LessonRole, Option<String>) {
    if standing.lead {
        (LessonRole::Lead, None)
    } else if let Some(class) = standing.assists.first() {
        (LessonRole::Assistant, Some(class.clone()))
    } else if let Some(class) = &standing.student_class {
        (LessonRole::Student, Some(class.clone()))
    } else if !standing.children.is_empty() {
        (LessonRole::Parent, None)
    } else {
        (LessonRole::Observer, None)
    }
}

/// The lesson is open now: not cancelled or over, within its window (from `early_secs` before
/// the start until a little after the end). Joining and every action in the live room use
/// this one rule; a refusal is `409 lesson_not_live`, its message saying why (the core reads
/// "cancelled" and "over" in it).
pub(crate) fn check_window(lesson: &LessonRow, early_secs: u64, now: i64) -> ApiResult<()> {
    match lesson.status {
        LessonStatus::Cancelled => {
            return Err(ApiError::lesson_not_live("the lesson was cancelled"));
        }
        LessonStatus::Ended => return Err(ApiError::lesson_not_live("the lesson is over")),
        _ => {}
    }
    let opens = lesson.starts_at - early_secs as i64 * 1000;
    if now < opens {
        return Err(ApiError::lesson_not_live(format!(
            "the lesson's room opens at {opens} (server time, Unix ms)"
        )));
    }
    if now >= lesson.ends_at + OVERRUN_MS {
        return Err(ApiError::lesson_not_live("the lesson is over"));
    }
    Ok(())
}

/// `POST /v1/lessons/{id}/join`: who the caller is in the lesson and how to connect.
pub async fn join(
    conn: &mut AnyConnection,
    config: &ServerConfig,
    user_id: &str,
    lesson_id: &str,
) -> ApiResult<JoinTicket> {
    let (lesson, standing) = access::visible_lesson(conn, user_id, lesson_id).await?;
    let now = crate::clock::now_ms();
    check_window(&lesson, config.join_early_secs, now)?;
    let (role, class_id) = role_of(&standing);
    // An interactive lesson is on HLS too where its room is egressed (see `egress`): for
    // falling back from WebRTC, and for viewers outside the room.
    let on_hls = lesson.mode == LessonMode::Broadcast
        || (config.livekit.is_some() && config.broadcast.egress_rtmp_host.is_some());
    let hls = if on_hls {
        Some(crate::broadcast::hls_ticket(conn, &lesson, user_id).await?)
    } else {
        None
    };
    let livekit = match lesson.mode {
        LessonMode::Interactive => {
            let lk = config.livekit.as_ref().ok_or_else(|| {
                ApiError::unavailable("interactive lessons are not set up on this server")
            })?;
            let name: String = sqlx::query_scalar("SELECT name FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_one(&mut *conn)
                .await?;
            Some(livekit::ticket(
                lk,
                &lesson,
                user_id,
                &name,
                role,
                class_id.as_deref(),
                lesson.ends_at + OVERRUN_MS,
                now,
            )?)
        }
        LessonMode::Broadcast => None,
    };
    Ok(JoinTicket {
        lesson_id: lesson.id.clone(),
        mode: lesson.mode,
        role,
        class_id,
        starts_at: lesson.starts_at,
        ends_at: lesson.ends_at,
        livekit,
        hls,
        server_time: now,
    })
}
