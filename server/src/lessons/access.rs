//! How a person stands towards a lesson, decided from memberships at the time of the request.

use lianxiao_protocol::{LessonMode, LessonStatus};
use sqlx::{AnyConnection, Row};

use crate::error::{ApiError, ApiResult};

/// A lesson's keys, as stored.
#[derive(Debug, Clone)]
pub struct LessonRow {
    pub id: String,
    pub series_id: String,
    pub title: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub mode: LessonMode,
    pub status: LessonStatus,
    pub lead_teacher_id: String,
    pub scheduled_by: String,
    pub lead_class_id: String,
    pub lead_school_id: String,
}

pub async fn lesson_row(conn: &mut AnyConnection, id: &str) -> sqlx::Result<Option<LessonRow>> {
    let Some(r) = sqlx::query(
        "SELECT l.id, l.series_id, l.title, l.starts_at, l.ends_at, l.mode, l.status, \
         l.lead_teacher_id, l.scheduled_by, lc.class_id AS lead_class_id, c.school_id \
         FROM lessons l JOIN lesson_classes lc ON lc.lesson_id = l.id AND lc.lead = 1 \
         JOIN classes c ON c.id = lc.class_id WHERE l.id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    Ok(Some(LessonRow {
        id: r.try_get("id")?,
        series_id: r.try_get("series_id")?,
        title: r.try_get("title")?,
        starts_at: r.try_get("starts_at")?,
        ends_at: r.try_get("ends_at")?,
        mode: LessonMode::parse(&r.try_get::<String, _>("mode")?)
            .unwrap_or(LessonMode::Interactive),
        status: LessonStatus::parse(&r.try_get::<String, _>("status")?)
            .unwrap_or(LessonStatus::Scheduled),
        lead_teacher_id: r.try_get("lead_teacher_id")?,
        scheduled_by: r.try_get("scheduled_by")?,
        lead_class_id: r.try_get("lead_class_id")?,
        lead_school_id: r.try_get("school_id")?,
    }))
}

/// How one person stands towards one lesson.
#[derive(Debug, Clone, Default)]
pub struct Standing {
    pub lead: bool,
    /// Receiving classes this person assists in, for this lesson.
    pub assists: Vec<String>,
    pub scheduler: bool,
    /// A school admin of the lead class's school, or a county admin.
    pub admin: bool,
    /// Set when the person is a student of one of the lesson's classes: that class.
    pub student_class: Option<String>,
    /// Their children among the lesson's students.
    pub children: Vec<String>,
}

impl Standing {
    /// May move or cancel it.
    pub fn manages(&self) -> bool {
        self.lead || self.scheduler || self.admin
    }

    pub fn sees(&self) -> bool {
        self.manages()
            || !self.assists.is_empty()
            || self.student_class.is_some()
            || !self.children.is_empty()
    }
}

pub async fn standing(
    conn: &mut AnyConnection,
    user_id: &str,
    lesson: &LessonRow,
) -> sqlx::Result<Standing> {
    let assists = strings(
        conn,
        "SELECT class_id FROM lesson_classes WHERE lesson_id = $1 AND assistant_id = $2 ORDER BY class_id",
        &lesson.id,
        user_id,
    )
    .await?;
    let student_class = strings(
        conn,
        "SELECT m.class_id FROM lesson_classes lc JOIN memberships m \
         ON m.class_id = lc.class_id AND m.role = 'student' \
         WHERE lc.lesson_id = $1 AND m.user_id = $2",
        &lesson.id,
        user_id,
    )
    .await?
    .into_iter()
    .next();
    let children = strings(
        conn,
        "SELECT DISTINCT m.user_id FROM lesson_classes lc JOIN memberships m \
         ON m.class_id = lc.class_id AND m.role = 'student' JOIN memberships p \
         ON p.child_id = m.user_id AND p.role = 'parent' \
         WHERE lc.lesson_id = $1 AND p.user_id = $2 ORDER BY m.user_id",
        &lesson.id,
        user_id,
    )
    .await?;
    Ok(Standing {
        lead: lesson.lead_teacher_id == user_id,
        assists,
        scheduler: lesson.scheduled_by == user_id,
        admin: is_admin_of(conn, user_id, &lesson.lead_school_id).await?,
        student_class,
        children,
    })
}

/// The lesson and the caller's standing, or 404 for anyone not in it.
pub async fn visible_lesson(
    conn: &mut AnyConnection,
    user_id: &str,
    lesson_id: &str,
) -> ApiResult<(LessonRow, Standing)> {
    let lesson = lesson_row(conn, lesson_id)
        .await?
        .ok_or_else(|| ApiError::not_found("lesson"))?;
    let standing = standing(conn, user_id, &lesson).await?;
    if !standing.sees() {
        return Err(ApiError::not_found("lesson"));
    }
    Ok((lesson, standing))
}

/// A county admin, or an admin of this school.
pub async fn is_admin_of(
    conn: &mut AnyConnection,
    user_id: &str,
    school_id: &str,
) -> sqlx::Result<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM memberships WHERE user_id = $1 \
         AND (role = 'county_admin' OR (role = 'school_admin' AND school_id = $2))",
    )
    .bind(user_id)
    .bind(school_id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(n > 0)
}

async fn strings(
    conn: &mut AnyConnection,
    sql: &'static str,
    a: &str,
    b: &str,
) -> sqlx::Result<Vec<String>> {
    sqlx::query(sql)
        .bind(a)
        .bind(b)
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect()
}
