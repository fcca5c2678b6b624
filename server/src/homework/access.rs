//! Who may see and do what with an assignment and its submissions. Everything is decided from
//! memberships at the time of the request.

use std::collections::BTreeSet;

use lianxiao_protocol::WorkKind;
use sqlx::{AnyConnection, Row};

use crate::error::{ApiError, ApiResult};

/// An assignment's settings, as stored.
#[derive(Debug, Clone)]
pub struct HomeworkRow {
    pub id: String,
    pub author_id: String,
    pub title: String,
    pub due_at: i64,
    pub accepts_late: bool,
    pub accepted_kinds: Vec<WorkKind>,
    pub max_score: u32,
    pub requires_signoff: bool,
    pub max_submission_bytes: u64,
    pub last_reminded_at: Option<i64>,
}

pub fn encode_kinds(kinds: &[WorkKind]) -> String {
    let set: BTreeSet<WorkKind> = kinds.iter().copied().collect();
    set.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(",")
}

pub fn decode_kinds(s: &str) -> Vec<WorkKind> {
    s.split(',').filter_map(WorkKind::parse).collect()
}

/// A live (not deleted) assignment.
pub async fn homework_row(conn: &mut AnyConnection, id: &str) -> sqlx::Result<Option<HomeworkRow>> {
    let Some(r) = sqlx::query(
        "SELECT id, author_id, title, due_at, accepts_late, accepted_kinds, max_score, \
         requires_signoff, max_submission_bytes, last_reminded_at FROM homework \
         WHERE id = $1 AND deleted_at IS NULL",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    Ok(Some(HomeworkRow {
        id: r.try_get("id")?,
        author_id: r.try_get("author_id")?,
        title: r.try_get("title")?,
        due_at: r.try_get("due_at")?,
        accepts_late: r.try_get::<i64, _>("accepts_late")? != 0,
        accepted_kinds: decode_kinds(&r.try_get::<String, _>("accepted_kinds")?),
        max_score: r.try_get::<i64, _>("max_score")? as u32,
        requires_signoff: r.try_get::<i64, _>("requires_signoff")? != 0,
        max_submission_bytes: r.try_get::<i64, _>("max_submission_bytes")? as u64,
        last_reminded_at: r.try_get("last_reminded_at")?,
    }))
}

/// How one person stands towards one assignment.
#[derive(Debug, Clone, Default)]
pub struct Standing {
    pub author: bool,
    /// The assignment's classes this person teaches or assists in.
    pub taught_classes: BTreeSet<String>,
    /// Set when the person is one of its students: their class.
    pub student_class: Option<String>,
    /// Their children among its students.
    pub children: Vec<String>,
}

impl Standing {
    pub fn is_staff(&self) -> bool {
        self.author || !self.taught_classes.is_empty()
    }

    pub fn sees_homework(&self) -> bool {
        self.is_staff() || self.student_class.is_some() || !self.children.is_empty()
    }

    /// May grade, return or read the work of a student in `class_id`.
    pub fn teaches(&self, class_id: &str) -> bool {
        self.author || self.taught_classes.contains(class_id)
    }
}

pub async fn standing(
    conn: &mut AnyConnection,
    user_id: &str,
    homework: &HomeworkRow,
) -> sqlx::Result<Standing> {
    let taught_classes = sqlx::query(
        "SELECT DISTINCT hc.class_id FROM homework_classes hc JOIN memberships m \
         ON m.class_id = hc.class_id AND m.role IN ('teacher', 'assistant') \
         WHERE hc.homework_id = $1 AND m.user_id = $2",
    )
    .bind(&homework.id)
    .bind(user_id)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| r.try_get::<String, _>(0))
    .collect::<sqlx::Result<_>>()?;
    let student_class = sqlx::query(
        "SELECT class_id FROM homework_students WHERE homework_id = $1 AND student_id = $2",
    )
    .bind(&homework.id)
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await?
    .map(|r| r.try_get::<String, _>(0))
    .transpose()?;
    let children = sqlx::query(
        "SELECT hs.student_id FROM homework_students hs JOIN memberships p \
         ON p.child_id = hs.student_id AND p.role = 'parent' \
         WHERE hs.homework_id = $1 AND p.user_id = $2 ORDER BY hs.student_id",
    )
    .bind(&homework.id)
    .bind(user_id)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| r.try_get::<String, _>(0))
    .collect::<sqlx::Result<_>>()?;
    Ok(Standing {
        author: homework.author_id == user_id,
        taught_classes,
        student_class,
        children,
    })
}

/// The assignment and the caller's standing, or 404 when they cannot see it (so its
/// existence is not revealed).
pub async fn visible_homework(
    conn: &mut AnyConnection,
    user_id: &str,
    homework_id: &str,
) -> ApiResult<(HomeworkRow, Standing)> {
    let homework = homework_row(conn, homework_id)
        .await?
        .ok_or_else(|| ApiError::not_found("homework"))?;
    let standing = standing(conn, user_id, &homework).await?;
    if !standing.sees_homework() {
        return Err(ApiError::not_found("homework"));
    }
    Ok((homework, standing))
}

/// A submission's keys.
#[derive(Debug, Clone)]
pub struct SubmissionRow {
    pub id: String,
    pub homework_id: String,
    pub student_id: String,
    pub class_id: String,
    pub status: String,
    pub attempts: i64,
}

/// Relation of the caller to one submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer {
    Student,
    Parent,
    Teacher,
}

/// The submission, its assignment and how the caller relates to it; 404 for anyone who may
/// not see it.
pub async fn visible_submission(
    conn: &mut AnyConnection,
    user_id: &str,
    submission_id: &str,
) -> ApiResult<(SubmissionRow, HomeworkRow, Viewer)> {
    let row = sqlx::query(
        "SELECT id, homework_id, student_id, class_id, status, attempts FROM submissions WHERE id = $1",
    )
    .bind(submission_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| ApiError::not_found("submission"))?;
    let sub = SubmissionRow {
        id: row.try_get("id")?,
        homework_id: row.try_get("homework_id")?,
        student_id: row.try_get("student_id")?,
        class_id: row.try_get("class_id")?,
        status: row.try_get("status")?,
        attempts: row.try_get("attempts")?,
    };
    let homework = homework_row(conn, &sub.homework_id)
        .await?
        .ok_or_else(|| ApiError::not_found("submission"))?;
    let standing = standing(conn, user_id, &homework).await?;
    let viewer = if sub.student_id == user_id {
        Viewer::Student
    } else if standing.children.contains(&sub.student_id) {
        Viewer::Parent
    } else if standing.teaches(&sub.class_id) {
        Viewer::Teacher
    } else {
        return Err(ApiError::not_found("submission"));
    };
    Ok((sub, homework, viewer))
}

/// May `user_id` download this attachment? Its owner may; so may whoever sees the
/// assignment it instructs, or the submission it belongs to (work or voice feedback).
pub async fn attachment_readable(
    conn: &mut AnyConnection,
    user_id: &str,
    attachment_id: &str,
) -> ApiResult<bool> {
    let owner = sqlx::query("SELECT owner_id FROM attachments WHERE id = $1")
        .bind(attachment_id)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(owner) = owner else { return Ok(false) };
    if owner.try_get::<String, _>(0)? == user_id {
        return Ok(true);
    }
    let homework_ids: Vec<String> =
        sqlx::query("SELECT homework_id FROM homework_attachments WHERE attachment_id = $1")
            .bind(attachment_id)
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .map(|r| r.try_get(0))
            .collect::<sqlx::Result<_>>()?;
    for id in homework_ids {
        if visible_homework(conn, user_id, &id).await.is_ok() {
            return Ok(true);
        }
    }
    let submission_ids: Vec<String> = sqlx::query(
        "SELECT submission_id FROM attempt_attachments WHERE attachment_id = $1 \
         UNION SELECT submission_id FROM submission_attempts WHERE voice_attachment_id = $1",
    )
    .bind(attachment_id)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| r.try_get(0))
    .collect::<sqlx::Result<_>>()?;
    for id in submission_ids {
        if visible_submission(conn, user_id, &id).await.is_ok() {
            return Ok(true);
        }
    }
    Ok(false)
}
