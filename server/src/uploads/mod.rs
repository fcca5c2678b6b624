//! Resumable uploads (tus 1.0) and the step that turns a finished upload into an attachment.
//!
//! An upload belongs to the person who created it and says what it is for (a student's
//! work, a teacher's instructions or voice feedback); who may create one is checked against
//! the homework it names, before any byte is stored.

mod blobs;
pub mod content;
pub mod tus;

pub use blobs::{BLOBS_DIR, Blobs};

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
        // Its content type was found from its bytes when it finished (see `tus::write`).
        if !content::fits(u.kind, &u.content_type) {
            return Err(bad(&format!(
                "is not a {} file: its bytes are {}",
                u.kind.as_str(),
                u.content_type
            )));
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
    // Checked again: a PATCH may have moved the expiry since the SELECT.
    delete_each(
        db,
        blobs,
        &ids,
        "DELETE FROM uploads WHERE id = $1 AND expires_at < $2 AND completed_at IS NULL",
        now,
    )
    .await
}

/// Deletes each upload for which `delete` (bound to its id and `bound`) still holds, then its
/// bytes; how many went. One statement per upload, so a hand-in racing the sweep either claims
/// the upload first or finds it gone.
async fn delete_each(
    db: &crate::db::Db,
    blobs: &Blobs,
    ids: &[String],
    delete: &'static str,
    bound: i64,
) -> sqlx::Result<u64> {
    let mut removed = 0;
    for id in ids {
        let deleted = sqlx::query(delete)
            .bind(id)
            .bind(bound)
            .execute(db.pool())
            .await?;
        if deleted.rows_affected() > 0 {
            blobs.remove(id).await;
            removed += 1;
        }
    }
    Ok(removed)
}

/// How much one account may upload, and how long finished uploads nothing uses are kept.
/// Each from the environment (see [`UploadLimits::from_env`]).
#[derive(Debug, Clone)]
pub struct UploadLimits {
    /// Bytes an account's uploads not (yet) part of anything may add up to: unfinished ones
    /// by their announced length, and finished ones not handed in
    /// (`LIANXIAO_UPLOAD_PENDING_QUOTA_MB`). Room for one recording of the largest size.
    pub pending_bytes: u64,
    /// Bytes an account may have stored in all (`LIANXIAO_UPLOAD_STORED_QUOTA_MB`).
    pub stored_bytes: u64,
    /// Unfinished uploads one account may have at a time (`LIANXIAO_UPLOAD_MAX_UNFINISHED`).
    pub max_unfinished: u64,
    /// How long a finished upload nothing refers to is kept before its bytes are deleted
    /// (`LIANXIAO_UNUSED_UPLOAD_GRACE_SECS`): long enough for a phone to hand in work it
    /// finished uploading before going offline for a few days.
    pub unused_grace_secs: u64,
    /// How often expired and unused uploads are looked for (`LIANXIAO_UPLOAD_SWEEP_SECS`).
    pub sweep_secs: u64,
}

const MIB: u64 = 1 << 20;

impl Default for UploadLimits {
    fn default() -> Self {
        UploadLimits {
            pending_bytes: lianxiao_protocol::TUS_MAX_SIZE + 1024 * MIB,
            stored_bytes: 50 * 1024 * MIB,
            max_unfinished: 20,
            unused_grace_secs: 7 * 24 * 3600,
            sweep_secs: 3600,
        }
    }
}

impl UploadLimits {
    /// The defaults, with what the environment sets instead.
    pub fn from_env() -> anyhow::Result<UploadLimits> {
        let mut limits = UploadLimits::default();
        let read = |name: &str| -> anyhow::Result<Option<u64>> {
            match std::env::var(name) {
                Ok(v) if !v.trim().is_empty() => v
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| anyhow::anyhow!("{name} must be a whole number")),
                _ => Ok(None),
            }
        };
        if let Some(mb) = read("LIANXIAO_UPLOAD_PENDING_QUOTA_MB")? {
            limits.pending_bytes = mb.saturating_mul(MIB);
        }
        if let Some(mb) = read("LIANXIAO_UPLOAD_STORED_QUOTA_MB")? {
            limits.stored_bytes = mb.saturating_mul(MIB);
        }
        if let Some(n) = read("LIANXIAO_UPLOAD_MAX_UNFINISHED")? {
            limits.max_unfinished = n;
        }
        if let Some(secs) = read("LIANXIAO_UNUSED_UPLOAD_GRACE_SECS")? {
            limits.unused_grace_secs = secs;
        }
        if let Some(secs) = read("LIANXIAO_UPLOAD_SWEEP_SECS")? {
            limits.sweep_secs = secs.max(1);
        }
        Ok(limits)
    }
}

fn quota_exceeded(message: String) -> ApiError {
    ApiError::new(lianxiao_protocol::ErrorCode::QuotaExceeded, message)
}

/// Records a new upload of `owner_id` if it fits the account's quotas, in one write
/// transaction that holds the account (so a burst of parallel creations cannot all pass the
/// check before any is recorded). 413 `quota_exceeded` when its bytes do not fit; 429
/// `quota_exceeded` when the account has too many unfinished uploads (one finishing or being
/// given up makes room).
pub async fn record_new(
    db: &crate::db::Db,
    limits: &UploadLimits,
    row: &NewRow<'_>,
) -> ApiResult<()> {
    let mut tx = db.begin_write().await?;
    if db.backend() == crate::db::Backend::Postgres {
        sqlx::query("SELECT id FROM users WHERE id = $1 FOR UPDATE")
            .bind(row.owner_id)
            .execute(&mut *tx)
            .await?;
    }
    let now = now_ms();
    // Sums are cast: PostgreSQL's SUM of BIGINT is NUMERIC.
    let usage = sqlx::query(
        "SELECT \
           CAST(COALESCE(SUM(length), 0) AS BIGINT) AS stored, \
           CAST(COALESCE(SUM(CASE WHEN attached_at IS NULL THEN length ELSE 0 END), 0) AS BIGINT) \
             AS pending, \
           CAST(COALESCE(SUM(CASE WHEN completed_at IS NULL THEN 1 ELSE 0 END), 0) AS BIGINT) \
             AS unfinished \
         FROM uploads WHERE owner_id = $1 AND (completed_at IS NOT NULL OR expires_at >= $2)",
    )
    .bind(row.owner_id)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    let stored = usage.try_get::<i64, _>("stored")?.max(0) as u64;
    let pending = usage.try_get::<i64, _>("pending")?.max(0) as u64;
    let unfinished = usage.try_get::<i64, _>("unfinished")?.max(0) as u64;
    let mb = |b: u64| b / MIB;
    if unfinished >= limits.max_unfinished {
        let mut e = quota_exceeded(format!(
            "at most {} uploads may be unfinished at a time; finish or give one up first",
            limits.max_unfinished
        ));
        e.set_status(axum::http::StatusCode::TOO_MANY_REQUESTS);
        return Err(e);
    }
    if pending.saturating_add(row.length) > limits.pending_bytes {
        return Err(quota_exceeded(format!(
            "uploads not yet handed in may add up to {} MB; {} MB are in use",
            mb(limits.pending_bytes),
            mb(pending)
        )));
    }
    if stored.saturating_add(row.length) > limits.stored_bytes {
        return Err(quota_exceeded(format!(
            "an account may store {} MB of files; {} MB are in use",
            mb(limits.stored_bytes),
            mb(stored)
        )));
    }
    sqlx::query(
        "INSERT INTO uploads (id, owner_id, purpose, homework_id, kind, file_name, content_type, length, \
         created_at, expires_at, completed_at, sha256, lesson_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(row.id)
    .bind(row.owner_id)
    .bind(row.new.purpose.as_str())
    .bind(row.new.homework_id.as_deref().unwrap_or(""))
    .bind(row.new.kind.as_str())
    .bind(&row.new.file_name)
    .bind(row.content_type)
    .bind(row.length as i64)
    .bind(row.created_at)
    .bind(row.expires_at)
    .bind(row.completed_at)
    .bind(row.sha256)
    .bind(row.new.lesson_id.as_deref().unwrap_or(""))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A new upload's row.
pub struct NewRow<'a> {
    pub id: &'a str,
    pub owner_id: &'a str,
    pub new: &'a NewUpload,
    pub content_type: &'a str,
    pub length: u64,
    pub created_at: i64,
    pub expires_at: i64,
    pub completed_at: Option<i64>,
    pub sha256: &'a str,
}

/// Deletes finished uploads nothing refers to, once `grace_ms` has passed since they
/// finished, with their bytes. (A hand-in claims its uploads in the transaction that marks
/// them attached, and the delete here is conditional on neither, so one cannot race the
/// other into an attachment without bytes.)
pub async fn remove_unused(db: &crate::db::Db, blobs: &Blobs, grace_ms: i64) -> sqlx::Result<u64> {
    let cutoff = now_ms().saturating_sub(grace_ms);
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM uploads WHERE completed_at IS NOT NULL AND completed_at < $1 \
         AND attached_at IS NULL",
    )
    .bind(cutoff)
    .fetch_all(db.pool())
    .await?;
    delete_each(
        db,
        blobs,
        &ids,
        "DELETE FROM uploads WHERE id = $1 AND completed_at < $2 AND attached_at IS NULL",
        cutoff,
    )
    .await
}

/// Now and every `sweep_secs` (so also right after a restart): expired unfinished uploads and
/// finished ones nothing used within the grace period go, bytes and all.
pub async fn sweep(db: crate::db::Db, blobs: Blobs, limits: UploadLimits) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(limits.sweep_secs.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let grace_ms = (limits.unused_grace_secs as i64).saturating_mul(1000);
    loop {
        tick.tick().await;
        match remove_expired(&db, &blobs).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(uploads = n, "expired uploads removed"),
            Err(e) => tracing::warn!(error = %e, "expired upload clean-up failed"),
        }
        match remove_unused(&db, &blobs, grace_ms).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(uploads = n, "finished uploads nothing used removed"),
            Err(e) => tracing::warn!(error = %e, "unused upload clean-up failed"),
        }
    }
}
