//! Resumable uploads (tus 1.0) and the step that turns a finished upload into an attachment.
//!
//! An upload belongs to the person who created it and says what it is for (a student's
//! work, a teacher's instructions or voice feedback); who may create one is checked against
//! the homework it names, before any byte is stored.

mod blobs;
pub mod tus;

pub use blobs::Blobs;

use lianxiao_protocol::{Attachment, UploadPurpose, WorkKind};
use sqlx::{AnyConnection, Row};

use crate::{
    db::{Tx, now_ms},
    error::{ApiError, ApiResult},
    homework::access,
};

/// One stored upload.
#[derive(Debug, Clone)]
pub struct Upload {
    pub id: String,
    pub owner_id: String,
    pub purpose: UploadPurpose,
    pub homework_id: String,
    /// The lesson a recording records ('' for homework files).
    pub lesson_id: String,
    pub kind: WorkKind,
    pub file_name: String,
    pub content_type: String,
    pub length: u64,
    pub offset: u64,
    pub expires_at: i64,
    pub completed: bool,
    pub attached: bool,
    pub sha256: String,
}

pub async fn load(conn: &mut AnyConnection, id: &str) -> sqlx::Result<Option<Upload>> {
    let Some(r) = sqlx::query(
        "SELECT id, owner_id, purpose, homework_id, kind, file_name, content_type, length, \
         upload_offset, expires_at, completed_at, attached_at, sha256, lesson_id FROM uploads WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    Ok(Some(Upload {
        id: r.try_get("id")?,
        owner_id: r.try_get("owner_id")?,
        purpose: UploadPurpose::parse(&r.try_get::<String, _>("purpose")?)
            .unwrap_or(UploadPurpose::Submission),
        homework_id: r.try_get("homework_id")?,
        lesson_id: r.try_get("lesson_id")?,
        kind: WorkKind::parse(&r.try_get::<String, _>("kind")?).unwrap_or(WorkKind::File),
        file_name: r.try_get("file_name")?,
        content_type: r.try_get("content_type")?,
        length: r.try_get::<i64, _>("length")? as u64,
        offset: r.try_get::<i64, _>("upload_offset")? as u64,
        expires_at: r.try_get("expires_at")?,
        completed: r.try_get::<Option<i64>, _>("completed_at")?.is_some(),
        attached: r.try_get::<Option<i64>, _>("attached_at")?.is_some(),
        sha256: r.try_get("sha256")?,
    }))
}

/// What a new upload says about itself.
#[derive(Debug, Clone)]
pub struct NewUpload {
    pub purpose: UploadPurpose,
    pub homework_id: Option<String>,
    /// For a recording: the lesson.
    pub lesson_id: Option<String>,
    pub kind: WorkKind,
    pub file_name: String,
    pub content_type: String,
    pub length: u64,
}

fn too_large(what: &str, limit: u64) -> ApiError {
    ApiError::new(
        lianxiao_protocol::ErrorCode::PayloadTooLarge,
        format!("{what} can be at most {} MB", limit.div_ceil(1 << 20)),
    )
}

/// Checks that `user_id` may upload this, before anything is stored.
///
/// A homework the caller cannot see answers 404, so its existence is not revealed; one they
/// see but may not upload this for (a parent, or a teacher sending work) answers 403.
pub async fn authorise(conn: &mut AnyConnection, user_id: &str, u: &NewUpload) -> ApiResult<()> {
    if u.kind == WorkKind::Text {
        return Err(ApiError::validation(
            "kind",
            "text is not uploaded as a file",
        ));
    }
    if u.length > lianxiao_protocol::TUS_MAX_SIZE {
        return Err(too_large("an upload", lianxiao_protocol::TUS_MAX_SIZE));
    }
    if u.purpose == UploadPurpose::Recording {
        return authorise_recording(conn, user_id, u).await;
    }
    if u.length > u.kind.max_file_bytes() {
        return Err(too_large(
            &format!("{} files", u.kind.as_str()),
            u.kind.max_file_bytes(),
        ));
    }
    let homework = match &u.homework_id {
        Some(id) => {
            let hw = access::homework_row(conn, id)
                .await?
                .ok_or_else(|| ApiError::not_found("homework"))?;
            let standing = access::standing(conn, user_id, &hw).await?;
            if !standing.sees_homework() {
                return Err(ApiError::not_found("homework"));
            }
            Some((hw, standing))
        }
        None => None,
    };
    match (u.purpose, homework) {
        (UploadPurpose::Submission, Some((hw, standing))) => {
            if standing.student_class.is_none() {
                return Err(ApiError::forbidden(
                    "only the homework's students upload work",
                ));
            }
            if !hw.accepted_kinds.contains(&u.kind) {
                return Err(ApiError::validation(
                    "kind",
                    format!("this homework does not accept {} files", u.kind.as_str()),
                ));
            }
            if u.length > hw.max_submission_bytes {
                return Err(too_large("work for this homework", hw.max_submission_bytes));
            }
            Ok(())
        }
        (UploadPurpose::Feedback, Some((_, standing))) => {
            if !standing.is_staff() {
                return Err(ApiError::forbidden(
                    "only the homework's teachers give feedback",
                ));
            }
            if u.kind != WorkKind::Audio {
                return Err(ApiError::validation("kind", "voice feedback is audio"));
            }
            Ok(())
        }
        (UploadPurpose::Instructions, Some((_, standing))) => {
            if !standing.author {
                return Err(ApiError::forbidden(
                    "only the homework's author adds instructions",
                ));
            }
            Ok(())
        }
        (UploadPurpose::Instructions, None) => {
            let teaches: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM memberships WHERE user_id = $1 \
                 AND role IN ('teacher', 'assistant', 'school_admin')",
            )
            .bind(user_id)
            .fetch_one(&mut *conn)
            .await?;
            if teaches == 0 {
                return Err(ApiError::forbidden("only teachers upload instructions"));
            }
            Ok(())
        }
        (UploadPurpose::Recording, _) => authorise_recording(conn, user_id, u).await,
        (_, None) => Err(ApiError::validation(
            "homework_id",
            "name the homework this file is for",
        )),
    }
}

/// A classroom recording: a video (or audio) of a lesson, from its lead teacher or the
/// assistant of one of its receiving classes.
async fn authorise_recording(
    conn: &mut AnyConnection,
    user_id: &str,
    u: &NewUpload,
) -> ApiResult<()> {
    if !matches!(u.kind, WorkKind::Video | WorkKind::Audio) {
        return Err(ApiError::validation(
            "kind",
            "a recording is a video or audio file",
        ));
    }
    let lesson_id = u
        .lesson_id
        .as_deref()
        .ok_or_else(|| ApiError::validation("lesson_id", "name the lesson this recording is of"))?;
    let (_, standing) = crate::lessons::access::visible_lesson(conn, user_id, lesson_id).await?;
    if !standing.lead && standing.assists.is_empty() {
        return Err(ApiError::forbidden(
            "only the lesson's teachers upload its recording",
        ));
    }
    Ok(())
}

/// Marks a finished recording upload used, inside the caller's transaction (conditionally, so
/// two claims cannot both win). It must be the owner's, of this lesson, and unused.
pub async fn claim_recording(
    tx: &mut Tx,
    owner_id: &str,
    upload_id: &str,
    lesson_id: &str,
) -> ApiResult<Upload> {
    let bad = |why: &str| ApiError::validation("upload_id", format!("upload {upload_id} {why}"));
    let u = load(tx, upload_id)
        .await?
        .filter(|u| u.owner_id == owner_id)
        .ok_or_else(|| bad("does not exist"))?;
    if u.purpose != UploadPurpose::Recording {
        return Err(bad(&format!("was made for {}", u.purpose.as_str())));
    }
    if u.lesson_id != lesson_id {
        return Err(bad("is a recording of another lesson"));
    }
    if !u.completed {
        return Err(bad("is not finished"));
    }
    let marked =
        sqlx::query("UPDATE uploads SET attached_at = $2 WHERE id = $1 AND attached_at IS NULL")
            .bind(&u.id)
            .bind(now_ms())
            .execute(&mut **tx)
            .await?;
    if marked.rows_affected() == 0 {
        return Err(bad("is already used"));
    }
    Ok(u)
}

/// Turns finished uploads into attachments, in order, inside the caller's transaction. Each
/// must be the owner's, for this purpose (and homework), complete and not used before.
pub async fn claim(
    tx: &mut Tx,
    owner_id: &str,
    upload_ids: &[String],
    purpose: UploadPurpose,
    homework_id: Option<&str>,
    field: &str,
) -> ApiResult<Vec<Attachment>> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::with_capacity(upload_ids.len());
    let now = now_ms();
    for id in upload_ids {
        if !seen.insert(id) {
            return Err(ApiError::validation(
                field,
                format!("upload {id} is named twice"),
            ));
        }
        let bad = |why: &str| ApiError::validation(field, format!("upload {id} {why}"));
        let u = load(tx, id).await?.ok_or_else(|| bad("does not exist"))?;
        if u.owner_id != owner_id {
            return Err(bad("does not exist"));
        }
        if u.purpose != purpose {
            return Err(bad(&format!("was made for {}", u.purpose.as_str())));
        }
        if let Some(hw) = homework_id
            && !u.homework_id.is_empty()
            && u.homework_id != hw
        {
            return Err(bad("belongs to another homework"));
        }
        if !u.completed {
            return Err(bad("is not finished"));
        }
        if u.attached {
            return Err(bad("is already used"));
        }
        // Conditional, so two transactions claiming the same upload cannot both win (on
        // PostgreSQL the second waits for the first, then finds it attached).
        let marked = sqlx::query(
            "UPDATE uploads SET attached_at = $2 WHERE id = $1 AND attached_at IS NULL",
        )
        .bind(&u.id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        if marked.rows_affected() == 0 {
            return Err(bad("is already used"));
        }
        sqlx::query(
            "INSERT INTO attachments (id, owner_id, homework_id, kind, file_name, content_type, size, sha256, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&u.id)
        .bind(owner_id)
        .bind(homework_id.unwrap_or(&u.homework_id))
        .bind(u.kind.as_str())
        .bind(&u.file_name)
        .bind(&u.content_type)
        .bind(u.length as i64)
        .bind(&u.sha256)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        out.push(Attachment {
            id: u.id,
            kind: u.kind,
            file_name: u.file_name,
            content_type: u.content_type,
            size: u.length,
            sha256: u.sha256,
        });
    }
    Ok(out)
}

/// Deletes unfinished uploads past their expiry, with their bytes. (Finished ones wait for
/// the hand-in that claims them.)
pub async fn remove_expired(db: &crate::db::Db, blobs: &Blobs) -> sqlx::Result<u64> {
    let now = now_ms();
    let ids: Vec<String> =
        sqlx::query_scalar("SELECT id FROM uploads WHERE expires_at < $1 AND completed_at IS NULL")
            .bind(now)
            .fetch_all(db.pool())
            .await?;
    let mut removed = 0;
    for id in &ids {
        // Checked again: a PATCH may have moved the expiry since the SELECT.
        let deleted = sqlx::query(
            "DELETE FROM uploads WHERE id = $1 AND expires_at < $2 AND completed_at IS NULL",
        )
        .bind(id)
        .bind(now)
        .execute(db.pool())
        .await?;
        if deleted.rows_affected() > 0 {
            blobs.remove(id).await;
            removed += 1;
        }
    }
    Ok(removed)
}
