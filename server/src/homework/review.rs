//! The teacher's side of a submission (grade, return for redo) and the parent's sign-off.

use lianxiao_protocol::{
    EntityKind, GradeWork, ReturnWork, SignOffWork, Submission, SubmissionStatus, UploadPurpose,
    WorkKind,
};

use super::{
    STAFF_SQL, SUBMISSION_AUDIENCE_SQL,
    access::{self, Viewer},
};
use crate::{
    db::{Tx, feed, now_ms},
    error::{ApiError, ApiResult},
    uploads,
};

const MAX_FEEDBACK: usize = 5_000;

async fn as_teacher(
    tx: &mut Tx,
    user_id: &str,
    id: &str,
) -> ApiResult<(access::SubmissionRow, access::HomeworkRow)> {
    let (sub, homework, viewer) = access::visible_submission(tx, user_id, id).await?;
    if viewer != Viewer::Teacher {
        return Err(ApiError::forbidden("only the class's teachers review work"));
    }
    Ok((sub, homework))
}

async fn voice(
    tx: &mut Tx,
    user_id: &str,
    homework_id: &str,
    upload_id: Option<&String>,
) -> ApiResult<Option<String>> {
    let Some(upload_id) = upload_id else {
        return Ok(None);
    };
    let files = uploads::claim(
        tx,
        user_id,
        std::slice::from_ref(upload_id),
        UploadPurpose::Feedback,
        Some(homework_id),
        "voice_upload_id",
    )
    .await?;
    match files.first() {
        Some(f) if f.kind == WorkKind::Audio => Ok(Some(f.id.clone())),
        _ => Err(ApiError::validation(
            "voice_upload_id",
            "voice feedback must be an audio upload",
        )),
    }
}

async fn review(
    tx: &mut Tx,
    user_id: &str,
    sub: &access::SubmissionRow,
    status: SubmissionStatus,
    score: Option<u32>,
    feedback: &str,
    voice_id: Option<String>,
) -> ApiResult<(Submission, i64)> {
    let now = now_ms();
    sqlx::query(
        "UPDATE submission_attempts SET reviewed_by = $3, reviewed_at = $4, score = $5, feedback = $6, \
         voice_attachment_id = $7 WHERE submission_id = $1 AND number = $2",
    )
    .bind(&sub.id)
    .bind(sub.attempts)
    .bind(user_id)
    .bind(now)
    .bind(score.map(i64::from))
    .bind(feedback)
    .bind(voice_id)
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE submissions SET status = $2, updated_at = $3 WHERE id = $1")
        .bind(&sub.id)
        .bind(status.as_str())
        .bind(now)
        .execute(&mut **tx)
        .await?;
    finish(tx, sub).await
}

async fn finish(tx: &mut Tx, sub: &access::SubmissionRow) -> ApiResult<(Submission, i64)> {
    let seq = feed::next_seq(tx).await?;
    feed::touch_many(
        tx,
        seq,
        EntityKind::Submission,
        &sub.id,
        false,
        SUBMISSION_AUDIENCE_SQL,
        &[&sub.id],
    )
    .await?;
    feed::touch_many(
        tx,
        seq,
        EntityKind::HomeworkSummary,
        &sub.homework_id,
        false,
        STAFF_SQL,
        &[&sub.homework_id],
    )
    .await?;
    Ok((super::view::read_submission(tx, &sub.id).await?, seq))
}

fn check_feedback(field: &str, text: &str, required: bool) -> ApiResult<()> {
    let n = text.trim().chars().count();
    if n > MAX_FEEDBACK || (required && n == 0) {
        return Err(ApiError::validation(
            field,
            format!(
                "{field} must be {} to {MAX_FEEDBACK} characters",
                if required { 1 } else { 0 }
            ),
        ));
    }
    Ok(())
}

/// Grades the current attempt (again, if it was graded already).
pub async fn grade(
    tx: &mut Tx,
    user_id: &str,
    id: &str,
    req: GradeWork,
) -> ApiResult<(Submission, i64)> {
    let (sub, homework) = as_teacher(tx, user_id, id).await?;
    if sub.status == SubmissionStatus::Returned.as_str() {
        return Err(ApiError::conflict(
            "this work was returned for redo; wait for the student to hand it in again",
        ));
    }
    if req.score > homework.max_score {
        return Err(ApiError::validation(
            "score",
            format!("score must be 0 to {}", homework.max_score),
        ));
    }
    check_feedback("feedback", &req.feedback, false)?;
    let voice_id = voice(tx, user_id, &homework.id, req.voice_upload_id.as_ref()).await?;
    review(
        tx,
        user_id,
        &sub,
        SubmissionStatus::Graded,
        Some(req.score),
        req.feedback.trim(),
        voice_id,
    )
    .await
}

/// Sends the current attempt back for redo, with the reason.
pub async fn return_work(
    tx: &mut Tx,
    user_id: &str,
    id: &str,
    req: ReturnWork,
) -> ApiResult<(Submission, i64)> {
    let (sub, homework) = as_teacher(tx, user_id, id).await?;
    if sub.status == SubmissionStatus::Returned.as_str() {
        return Err(ApiError::conflict("this work was already returned"));
    }
    check_feedback("reason", &req.reason, true)?;
    let voice_id = voice(tx, user_id, &homework.id, req.voice_upload_id.as_ref()).await?;
    review(
        tx,
        user_id,
        &sub,
        SubmissionStatus::Returned,
        None,
        req.reason.trim(),
        voice_id,
    )
    .await
}

/// A parent signs their child's work off (家长签字). Signing again keeps the first signature.
pub async fn sign_off(
    tx: &mut Tx,
    user_id: &str,
    id: &str,
    req: SignOffWork,
) -> ApiResult<(Submission, i64)> {
    let (sub, _, viewer) = access::visible_submission(tx, user_id, id).await?;
    if viewer != Viewer::Parent {
        return Err(ApiError::forbidden(
            "only the student's parent signs work off",
        ));
    }
    check_feedback("note", &req.note, false)?;
    sqlx::query(
        "UPDATE submissions SET signed_off_by = $2, signed_off_at = $3, sign_off_note = $4, updated_at = $3 \
         WHERE id = $1 AND signed_off_at IS NULL",
    )
    .bind(&sub.id)
    .bind(user_id)
    .bind(now_ms())
    .bind(req.note.trim())
    .execute(&mut **tx)
    .await?;
    finish(tx, &sub).await
}
