//! Lessons as one person sees them.

use lianxiao_protocol::{Lesson, LessonClass, LessonMode, LessonStatus, PersonRef};
use sqlx::{AnyConnection, Row};

use super::access;
use crate::error::{ApiError, ApiResult};

/// Widest window `GET /v1/lessons` answers for (a term and a bit).
pub const MAX_WINDOW_MS: i64 = 200 * 24 * 3600 * 1000;

/// The lesson as `user_id` sees it; `None` when they are not in it.
pub async fn load_lesson(
    conn: &mut AnyConnection,
    user_id: &str,
    id: &str,
) -> ApiResult<Option<Lesson>> {
    let Some(row) = access::lesson_row(conn, id).await? else {
        return Ok(None);
    };
    if !access::standing(conn, user_id, &row).await?.sees() {
        return Ok(None);
    }
    build(conn, id).await.map(Some)
}

/// The lesson as stored, for someone already known to see it.
pub(super) async fn build(conn: &mut AnyConnection, id: &str) -> ApiResult<Lesson> {
    let r = sqlx::query(
        "SELECT l.id, l.series_id, l.subject, l.title, l.starts_at, l.ends_at, l.mode, l.status, \
         l.lead_teacher_id, u.name AS lead_name, l.moved_from, l.cancelled_at, l.cancel_reason, \
         l.updated_at FROM lessons l JOIN users u ON u.id = l.lead_teacher_id WHERE l.id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| ApiError::not_found("lesson"))?;
    let classes = sqlx::query(
        "SELECT c.id, c.name, s.name AS school_name, lc.lead, lc.assistant_id, a.name AS assistant_name \
         FROM lesson_classes lc JOIN classes c ON c.id = lc.class_id \
         JOIN schools s ON s.id = c.school_id LEFT JOIN users a ON a.id = lc.assistant_id \
         WHERE lc.lesson_id = $1 ORDER BY lc.lead DESC, s.kind DESC, s.name, c.name",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|c| {
        let assistant_id: String = c.try_get("assistant_id")?;
        let assistant = match assistant_id.is_empty() {
            true => None,
            false => Some(PersonRef {
                id: assistant_id,
                name: c.try_get::<Option<String>, _>("assistant_name")?.unwrap_or_default(),
            }),
        };
        Ok(LessonClass {
            class_id: c.try_get("id")?,
            class_name: c.try_get("name")?,
            school_name: c.try_get("school_name")?,
            lead: c.try_get::<i64, _>("lead")? != 0,
            assistant,
        })
    })
    .collect::<sqlx::Result<Vec<_>>>()?;
    Ok(Lesson {
        id: r.try_get("id")?,
        series_id: r.try_get("series_id")?,
        subject: r.try_get("subject")?,
        title: r.try_get("title")?,
        starts_at: r.try_get("starts_at")?,
        ends_at: r.try_get("ends_at")?,
        mode: LessonMode::parse(&r.try_get::<String, _>("mode")?).ok_or_else(ApiError::internal)?,
        status: LessonStatus::parse(&r.try_get::<String, _>("status")?)
            .ok_or_else(ApiError::internal)?,
        lead_teacher: PersonRef {
            id: r.try_get("lead_teacher_id")?,
            name: r.try_get("lead_name")?,
        },
        classes,
        moved_from: r.try_get("moved_from")?,
        cancelled_at: r.try_get("cancelled_at")?,
        cancel_reason: r.try_get("cancel_reason")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// The caller's lessons overlapping `[from, to)`, cancelled ones included (the timetable
/// shows them struck through), in start order.
pub async fn list(
    conn: &mut AnyConnection,
    user_id: &str,
    from: i64,
    to: i64,
) -> ApiResult<Vec<Lesson>> {
    // Checked: `from` and `to` are anything a query string can hold.
    if !to
        .checked_sub(from)
        .is_some_and(|w| w > 0 && w <= MAX_WINDOW_MS)
    {
        return Err(ApiError::validation(
            "to",
            "to must be after from, at most 200 days later",
        ));
    }
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT l.id FROM lessons l WHERE l.starts_at < $3 AND l.ends_at > $2 AND l.id IN ( \
           SELECT lesson_id FROM lesson_staff WHERE user_id = $1 \
           UNION SELECT id FROM lessons WHERE scheduled_by = $1 \
           UNION SELECT lc.lesson_id FROM lesson_classes lc JOIN memberships m \
             ON m.class_id = lc.class_id AND m.role = 'student' WHERE m.user_id = $1 \
           UNION SELECT lc.lesson_id FROM lesson_classes lc JOIN memberships m \
             ON m.class_id = lc.class_id AND m.role = 'student' JOIN memberships p \
             ON p.child_id = m.user_id AND p.role = 'parent' WHERE p.user_id = $1) \
         ORDER BY l.starts_at, l.id",
    )
    .bind(user_id)
    .bind(from)
    .bind(to)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.push(build(conn, &id).await?);
    }
    Ok(out)
}
