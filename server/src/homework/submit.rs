//! Handing in work. Each hand-in is a new attempt; earlier attempts stay as they were.
//! Lateness is decided by the server's clock when the request arrives.

use lianxiao_protocol::{
    EntityKind, Submission, SubmissionStatus, SubmitWork, UploadPurpose, WorkKind,
};

use super::{STAFF_SQL, SUBMISSION_AUDIENCE_SQL, access};
use crate::{
    db::{Tx, feed, new_id},
    error::{ApiError, ApiResult},
    uploads,
};

const MAX_TEXT: usize = 20_000;
const MAX_FILES: usize = 30;

pub async fn submit(
    tx: &mut Tx,
    student_id: &str,
    homework_id: &str,
    req: SubmitWork,
) -> ApiResult<(Submission, i64)> {
    let (homework, standing) = access::visible_homework(tx, student_id, homework_id).await?;
    let Some(class_id) = standing.student_class else {
        return Err(ApiError::forbidden(
            "only the homework's students hand in work",
        ));
    };
    let now = crate::clock::now_ms();
    let late = now > homework.due_at;
    if late && !homework.accepts_late {
        return Err(ApiError::conflict(
            "the due time has passed and this homework does not accept late work",
        ));
    }
    let text = req.text.trim();
    if text.is_empty() && req.upload_ids.is_empty() {
        return Err(ApiError::validation(
            "text",
            "hand in some text or at least one file",
        ));
    }
    if !text.is_empty() && !homework.accepted_kinds.contains(&WorkKind::Text) {
        return Err(ApiError::validation(
            "text",
            "this homework does not accept text answers",
        ));
    }
    if text.chars().count() > MAX_TEXT {
        return Err(ApiError::validation(
            "text",
            format!("text must be at most {MAX_TEXT} characters"),
        ));
    }
    if req.upload_ids.len() > MAX_FILES {
        return Err(ApiError::validation(
            "upload_ids",
            format!("at most {MAX_FILES} files"),
        ));
    }

    let existing: Option<(String, String, i64)> = sqlx::query_as(
        "SELECT id, status, attempts FROM submissions WHERE homework_id = $1 AND student_id = $2",
    )
    .bind(homework_id)
    .bind(student_id)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some((_, status, _)) = &existing
        && status == SubmissionStatus::Graded.as_str()
    {
        return Err(ApiError::conflict(
            "this work is already graded; the teacher can return it for redo",
        ));
    }

    let files = uploads::claim(
        tx,
        student_id,
        &req.upload_ids,
        UploadPurpose::Submission,
        Some(homework_id),
        "upload_ids",
    )
    .await?;
    for f in &files {
        if !homework.accepted_kinds.contains(&f.kind) {
            return Err(ApiError::validation(
                "upload_ids",
                format!("this homework does not accept {} files", f.kind.as_str()),
            ));
        }
    }
    let total: u64 = files.iter().map(|f| f.size).sum();
    if total > homework.max_submission_bytes {
        return Err(ApiError::new(
            lianxiao_protocol::ErrorCode::PayloadTooLarge,
            format!(
                "the files add up to {} MB; this homework takes at most {} MB",
                total.div_ceil(1 << 20),
                homework.max_submission_bytes >> 20
            ),
        ));
    }

    let (id, number) = match existing {
        Some((id, _, attempts)) => {
            sqlx::query(
                "UPDATE submissions SET status = $2, attempts = $3, updated_at = $4 WHERE id = $1",
            )
            .bind(&id)
            .bind(SubmissionStatus::Submitted.as_str())
            .bind(attempts + 1)
            .bind(now)
            .execute(&mut **tx)
            .await?;
            (id, attempts + 1)
        }
        None => {
            let id = new_id();
            sqlx::query(
                "INSERT INTO submissions (id, homework_id, student_id, class_id, status, attempts, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, 1, $6)",
            )
            .bind(&id)
            .bind(homework_id)
            .bind(student_id)
            .bind(&class_id)
            .bind(SubmissionStatus::Submitted.as_str())
            .bind(now)
            .execute(&mut **tx)
            .await?;
            (id, 1)
        }
    };
    sqlx::query(
        "INSERT INTO submission_attempts (submission_id, number, body, submitted_at, late) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&id)
    .bind(number)
    .bind(text)
    .bind(now)
    .bind(late as i64)
    .execute(&mut **tx)
    .await?;
    for (position, f) in files.iter().enumerate() {
        sqlx::query(
            "INSERT INTO attempt_attachments (submission_id, number, attachment_id, position) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&id)
        .bind(number)
        .bind(&f.id)
        .bind(position as i64)
        .execute(&mut **tx)
        .await?;
    }

    let seq = feed::next_seq(tx).await?;
    feed::touch_many(
        tx,
        seq,
        EntityKind::Submission,
        &id,
        false,
        SUBMISSION_AUDIENCE_SQL,
        &[&id],
    )
    .await?;
    feed::touch_many(
        tx,
        seq,
        EntityKind::HomeworkSummary,
        homework_id,
        false,
        STAFF_SQL,
        &[homework_id],
    )
    .await?;
    let submission = super::view::read_submission(tx, &id).await?;
    Ok((submission, seq))
}
