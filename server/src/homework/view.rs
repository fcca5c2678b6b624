//! Assignments and submissions as one person sees them, and the teachers' counts and reports.

use std::collections::HashMap;

use lianxiao_protocol::{
    AssignedClass, Attachment, Attempt, ClassProgress, ClassWork, EntityKind, Homework,
    HomeworkReport, HomeworkSummary, PersonRef, Review, SignOff, StudentWork, Submission,
    SubmissionStatus, WorkKind,
};
use sqlx::{AnyConnection, Row};

use super::access;
use crate::error::{ApiError, ApiResult};

/// The assignment as `user_id` sees it; `None` when deleted or not theirs to see.
pub async fn load_homework(
    conn: &mut AnyConnection,
    user_id: &str,
    id: &str,
) -> ApiResult<Option<Homework>> {
    let Some(row) = access::homework_row(conn, id).await? else {
        return Ok(None);
    };
    let standing = access::standing(conn, user_id, &row).await?;
    if !standing.sees_homework() {
        return Ok(None);
    }
    let r = sqlx::query(
        "SELECT h.instructions, h.assigned_at, h.edited_at, u.name AS author_name \
         FROM homework h JOIN users u ON u.id = h.author_id WHERE h.id = $1",
    )
    .bind(id)
    .fetch_one(&mut *conn)
    .await?;
    let classes = sqlx::query(
        "SELECT c.id, c.name, s.name AS school_name FROM homework_classes hc \
         JOIN classes c ON c.id = hc.class_id JOIN schools s ON s.id = c.school_id \
         WHERE hc.homework_id = $1 ORDER BY s.kind DESC, s.name, c.name",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|c| {
        Ok(AssignedClass {
            class_id: c.try_get("id")?,
            class_name: c.try_get("name")?,
            school_name: c.try_get("school_name")?,
        })
    })
    .collect::<sqlx::Result<Vec<_>>>()?;
    let attachments = attachments(
        conn,
        "SELECT a.id, a.kind, a.file_name, a.content_type, a.size, a.sha256 FROM homework_attachments ha \
         JOIN attachments a ON a.id = ha.attachment_id WHERE ha.homework_id = $1 ORDER BY ha.position",
        id,
    )
    .await?;
    // A student's own reminder; a parent's latest over their children.
    let reminded_at: Option<i64> = sqlx::query(
        "SELECT MAX(hs.reminded_at) FROM homework_students hs WHERE hs.homework_id = $1 AND \
         (hs.student_id = $2 OR hs.student_id IN \
           (SELECT child_id FROM memberships WHERE user_id = $2 AND role = 'parent'))",
    )
    .bind(id)
    .bind(user_id)
    .fetch_one(&mut *conn)
    .await?
    .try_get(0)?;
    Ok(Some(Homework {
        id: row.id.clone(),
        title: row.title.clone(),
        instructions: r.try_get("instructions")?,
        attachments,
        author: PersonRef {
            id: row.author_id.clone(),
            name: r.try_get("author_name")?,
        },
        classes,
        due_at: row.due_at,
        accepts_late: row.accepts_late,
        accepted_kinds: row.accepted_kinds.clone(),
        max_score: row.max_score,
        requires_signoff: row.requires_signoff,
        max_submission_bytes: row.max_submission_bytes,
        assigned_at: r.try_get("assigned_at")?,
        edited_at: r.try_get("edited_at")?,
        authored: standing.author,
        reminded_at,
    }))
}

/// Every live assignment the caller sees, newest due date first.
pub async fn list(conn: &mut AnyConnection, user_id: &str) -> ApiResult<Vec<Homework>> {
    let ids: Vec<String> = sqlx::query(
        "SELECT f.entity_id FROM feed f JOIN homework h ON h.id = f.entity_id \
         WHERE f.user_id = $1 AND f.kind = $2 AND f.removed = 0 AND h.deleted_at IS NULL \
         ORDER BY h.due_at DESC, h.id",
    )
    .bind(user_id)
    .bind(EntityKind::Homework.as_str())
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| r.try_get(0))
    .collect::<sqlx::Result<_>>()?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.extend(load_homework(conn, user_id, &id).await?);
    }
    Ok(out)
}

async fn attachments(
    conn: &mut AnyConnection,
    sql: &'static str,
    key: &str,
) -> sqlx::Result<Vec<Attachment>> {
    sqlx::query(sql)
        .bind(key)
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|a| attachment(&a))
        .collect()
}

fn attachment(a: &sqlx::any::AnyRow) -> sqlx::Result<Attachment> {
    Ok(Attachment {
        id: a.try_get("id")?,
        kind: WorkKind::parse(&a.try_get::<String, _>("kind")?).unwrap_or(WorkKind::File),
        file_name: a.try_get("file_name")?,
        content_type: a.try_get("content_type")?,
        size: a.try_get::<i64, _>("size")? as u64,
        sha256: a.try_get("sha256")?,
    })
}

/// A submission with every attempt, for whoever may see it; `None` otherwise.
pub async fn load_submission(
    conn: &mut AnyConnection,
    user_id: &str,
    id: &str,
) -> ApiResult<Option<Submission>> {
    match access::visible_submission(conn, user_id, id).await {
        Ok(_) => read_submission(conn, id).await.map(Some),
        Err(e) if e.body.code == lianxiao_protocol::ErrorCode::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads a submission without checking who asks; callers have checked.
pub(super) async fn read_submission(conn: &mut AnyConnection, id: &str) -> ApiResult<Submission> {
    let r = sqlx::query(
        "SELECT s.id, s.homework_id, s.student_id, u.name AS student_name, s.class_id, s.status, \
         s.signed_off_by, p.name AS signer_name, s.signed_off_at, s.sign_off_note, s.updated_at \
         FROM submissions s JOIN users u ON u.id = s.student_id \
         LEFT JOIN users p ON p.id = s.signed_off_by WHERE s.id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| ApiError::not_found("submission"))?;
    let mut files: HashMap<i64, Vec<Attachment>> = HashMap::new();
    for a in sqlx::query(
        "SELECT aa.number, a.id, a.kind, a.file_name, a.content_type, a.size, a.sha256 \
         FROM attempt_attachments aa JOIN attachments a ON a.id = aa.attachment_id \
         WHERE aa.submission_id = $1 ORDER BY aa.number, aa.position",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    {
        files
            .entry(a.try_get("number")?)
            .or_default()
            .push(attachment(&a)?);
    }
    let mut attempts = Vec::new();
    for t in sqlx::query(
        "SELECT t.number, t.body, t.submitted_at, t.late, t.reviewed_by, r.name AS reviewer_name, \
         t.reviewed_at, t.score, t.feedback, t.voice_attachment_id, \
         v.kind, v.file_name, v.content_type, v.size, v.sha256 \
         FROM submission_attempts t LEFT JOIN users r ON r.id = t.reviewed_by \
         LEFT JOIN attachments v ON v.id = t.voice_attachment_id \
         WHERE t.submission_id = $1 ORDER BY t.number",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    {
        let number: i64 = t.try_get("number")?;
        let review = match t.try_get::<Option<String>, _>("reviewed_by")? {
            Some(by) => Some(Review {
                by: PersonRef {
                    id: by,
                    name: t
                        .try_get::<Option<String>, _>("reviewer_name")?
                        .unwrap_or_default(),
                },
                at: t
                    .try_get::<Option<i64>, _>("reviewed_at")?
                    .unwrap_or_default(),
                score: t.try_get::<Option<i64>, _>("score")?.map(|s| s as u32),
                feedback: t.try_get("feedback")?,
                voice: match t.try_get::<Option<String>, _>("voice_attachment_id")? {
                    Some(vid) => Some(Attachment {
                        id: vid,
                        kind: WorkKind::parse(&t.try_get::<String, _>("kind")?)
                            .unwrap_or(WorkKind::Audio),
                        file_name: t.try_get("file_name")?,
                        content_type: t.try_get("content_type")?,
                        size: t.try_get::<i64, _>("size")? as u64,
                        sha256: t.try_get("sha256")?,
                    }),
                    None => None,
                },
            }),
            None => None,
        };
        attempts.push(Attempt {
            number: number as u32,
            text: t.try_get("body")?,
            attachments: files.remove(&number).unwrap_or_default(),
            submitted_at: t.try_get("submitted_at")?,
            late: super::flag(t.try_get("late")?),
            review,
        });
    }
    let sign_off = match r.try_get::<Option<String>, _>("signed_off_by")? {
        Some(by) => Some(SignOff {
            by: PersonRef {
                id: by,
                name: r
                    .try_get::<Option<String>, _>("signer_name")?
                    .unwrap_or_default(),
            },
            at: r
                .try_get::<Option<i64>, _>("signed_off_at")?
                .unwrap_or_default(),
            note: r.try_get("sign_off_note")?,
        }),
        None => None,
    };
    Ok(Submission {
        id: r.try_get("id")?,
        homework_id: r.try_get("homework_id")?,
        student: PersonRef {
            id: r.try_get("student_id")?,
            name: r.try_get("student_name")?,
        },
        class_id: r.try_get("class_id")?,
        status: SubmissionStatus::parse(&r.try_get::<String, _>("status")?)
            .unwrap_or(SubmissionStatus::Submitted),
        attempts,
        sign_off,
        updated_at: r.try_get("updated_at")?,
    })
}

/// The submissions of one assignment the caller may see: teachers their classes' (or one
/// class's), a student their own, a parent their children's.
pub async fn submissions_for(
    conn: &mut AnyConnection,
    user_id: &str,
    homework_id: &str,
    class_id: Option<&str>,
) -> ApiResult<Vec<Submission>> {
    let (_, standing) = access::visible_homework(conn, user_id, homework_id).await?;
    let rows = sqlx::query(
        "SELECT id, student_id, class_id FROM submissions WHERE homework_id = $1 ORDER BY updated_at, id",
    )
    .bind(homework_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::new();
    for r in rows {
        let (id, student, class): (String, String, String) =
            (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
        if class_id.is_some_and(|c| c != class) {
            continue;
        }
        let visible =
            student == user_id || standing.children.contains(&student) || standing.teaches(&class);
        if visible {
            out.push(read_submission(conn, &id).await?);
        }
    }
    Ok(out)
}

/// Counts per class for teachers.
pub async fn summary(
    conn: &mut AnyConnection,
    homework_id: &str,
) -> ApiResult<Option<HomeworkSummary>> {
    let Some(row) = access::homework_row(conn, homework_id).await? else {
        return Ok(None);
    };
    let rows = sqlx::query(
        "SELECT c.id, c.name, sc.name AS school_name, \
           COUNT(hs.student_id) AS students, \
           COUNT(s.id) AS submitted, \
           SUM(CASE WHEN s.id IS NOT NULL AND EXISTS (SELECT 1 FROM submission_attempts t \
               WHERE t.submission_id = s.id AND t.number = s.attempts AND t.late = 1) THEN 1 ELSE 0 END) AS late, \
           SUM(CASE WHEN s.status = 'graded' THEN 1 ELSE 0 END) AS graded, \
           SUM(CASE WHEN s.status = 'returned' THEN 1 ELSE 0 END) AS returned, \
           SUM(CASE WHEN s.signed_off_at IS NOT NULL THEN 1 ELSE 0 END) AS signed_off \
         FROM homework_classes hc JOIN classes c ON c.id = hc.class_id \
         JOIN schools sc ON sc.id = c.school_id \
         LEFT JOIN homework_students hs ON hs.homework_id = hc.homework_id AND hs.class_id = hc.class_id \
         LEFT JOIN submissions s ON s.homework_id = hs.homework_id AND s.student_id = hs.student_id \
         WHERE hc.homework_id = $1 GROUP BY c.id, c.name, sc.name, sc.kind \
         ORDER BY sc.kind DESC, sc.name, c.name",
    )
    .bind(homework_id)
    .fetch_all(&mut *conn)
    .await?;
    let count = |r: &sqlx::any::AnyRow, name: &str| -> sqlx::Result<u32> {
        Ok(r.try_get::<Option<i64>, _>(name)?.unwrap_or(0) as u32)
    };
    let mut classes = Vec::with_capacity(rows.len());
    for r in rows {
        classes.push(ClassProgress {
            class_id: r.try_get("id")?,
            class_name: r.try_get("name")?,
            school_name: r.try_get("school_name")?,
            students: count(&r, "students")?,
            submitted: count(&r, "submitted")?,
            late: count(&r, "late")?,
            graded: count(&r, "graded")?,
            returned: count(&r, "returned")?,
            signed_off: count(&r, "signed_off")?,
        });
    }
    Ok(Some(HomeworkSummary {
        homework_id: homework_id.to_owned(),
        classes,
        last_reminded_at: row.last_reminded_at,
    }))
}

/// Who has and has not handed in, per class the caller teaches (all classes for the author).
pub async fn report(
    conn: &mut AnyConnection,
    user_id: &str,
    homework_id: &str,
) -> ApiResult<HomeworkReport> {
    let (_, standing) = access::visible_homework(conn, user_id, homework_id).await?;
    if !standing.is_staff() {
        return Err(ApiError::forbidden(
            "only the homework's teachers see the class report",
        ));
    }
    let mut summary = summary(conn, homework_id)
        .await?
        .ok_or_else(|| ApiError::not_found("homework"))?;
    summary.classes.retain(|c| standing.teaches(&c.class_id));
    let rows = sqlx::query(
        "SELECT hs.class_id, hs.student_id, u.name, s.id AS submission_id, s.status, \
           t.submitted_at, t.late, t.score, s.signed_off_at \
         FROM homework_students hs JOIN users u ON u.id = hs.student_id \
         LEFT JOIN submissions s ON s.homework_id = hs.homework_id AND s.student_id = hs.student_id \
         LEFT JOIN submission_attempts t ON t.submission_id = s.id AND t.number = s.attempts \
         WHERE hs.homework_id = $1 ORDER BY hs.class_id, u.name, hs.student_id",
    )
    .bind(homework_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut by_class: HashMap<String, Vec<StudentWork>> = HashMap::new();
    for r in rows {
        let class_id: String = r.try_get("class_id")?;
        if !standing.teaches(&class_id) {
            continue;
        }
        let status: Option<String> = r.try_get("status")?;
        by_class.entry(class_id).or_default().push(StudentWork {
            student: PersonRef {
                id: r.try_get("student_id")?,
                name: r.try_get("name")?,
            },
            submission_id: r.try_get("submission_id")?,
            status: status.as_deref().and_then(SubmissionStatus::parse),
            submitted_at: r.try_get("submitted_at")?,
            late: r.try_get::<Option<i64>, _>("late")?.unwrap_or(0) != 0,
            score: r.try_get::<Option<i64>, _>("score")?.map(|s| s as u32),
            signed_off: r.try_get::<Option<i64>, _>("signed_off_at")?.is_some(),
        });
    }
    let classes = summary
        .classes
        .iter()
        .map(|c| ClassWork {
            class_id: c.class_id.clone(),
            class_name: c.class_name.clone(),
            students: by_class.remove(&c.class_id).unwrap_or_default(),
        })
        .collect();
    Ok(HomeworkReport { summary, classes })
}
