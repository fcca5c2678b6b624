//! Giving, changing, deleting and chasing an assignment.

use std::collections::BTreeSet;

use lianxiao_protocol::{
    AssignHomework, DEFAULT_MAX_SUBMISSION_BYTES, EditHomework, EntityKind, Homework,
    REMIND_INTERVAL_MS, RemindResult, UploadPurpose, WorkKind,
};

use super::{AUDIENCE_SQL, STAFF_SQL, access};
use crate::{
    db::{Tx, feed, new_id, now_ms},
    error::{ApiError, ApiResult},
    org, uploads,
};

const MAX_TITLE: usize = 200;
const MAX_INSTRUCTIONS: usize = 20_000;
const MAX_CLASSES: usize = 200;
const MAX_SCORE: u32 = 1000;
const MAX_ATTACHMENTS: usize = 20;
/// Largest `max_submission_bytes` a teacher may allow.
const MAX_SUBMISSION_CAP: u64 = 2 * 1024 * 1024 * 1024;

struct Settings<'a> {
    title: &'a str,
    instructions: &'a str,
    due_at: i64,
    accepted_kinds: &'a [WorkKind],
    max_score: u32,
}

fn validate(s: &Settings<'_>, now: i64, due_must_be_future: bool) -> ApiResult<()> {
    let title = s.title.trim();
    if title.is_empty() || title.chars().count() > MAX_TITLE {
        return Err(ApiError::validation(
            "title",
            format!("title must be 1 to {MAX_TITLE} characters"),
        ));
    }
    if s.instructions.chars().count() > MAX_INSTRUCTIONS {
        return Err(ApiError::validation(
            "instructions",
            format!("instructions must be at most {MAX_INSTRUCTIONS} characters"),
        ));
    }
    if due_must_be_future && s.due_at <= now {
        return Err(ApiError::validation(
            "due_at",
            "the due time must be in the future",
        ));
    }
    if s.accepted_kinds.is_empty() {
        return Err(ApiError::validation(
            "accepted_kinds",
            "accept at least one kind of work",
        ));
    }
    if s.max_score == 0 || s.max_score > MAX_SCORE {
        return Err(ApiError::validation(
            "max_score",
            format!("max_score must be 1 to {MAX_SCORE}"),
        ));
    }
    Ok(())
}

/// Gives an assignment to classes the author teaches; returns it and the feed sequence.
pub async fn assign(
    tx: &mut Tx,
    author_id: &str,
    req: AssignHomework,
) -> ApiResult<(Homework, i64)> {
    let now = crate::clock::now_ms();
    validate(
        &Settings {
            title: &req.title,
            instructions: &req.instructions,
            due_at: req.due_at,
            accepted_kinds: &req.accepted_kinds,
            max_score: req.max_score,
        },
        now,
        true,
    )?;
    let max_bytes = req
        .max_submission_bytes
        .unwrap_or(DEFAULT_MAX_SUBMISSION_BYTES);
    if max_bytes == 0 || max_bytes > MAX_SUBMISSION_CAP {
        return Err(ApiError::validation(
            "max_submission_bytes",
            format!("max_submission_bytes must be 1 to {MAX_SUBMISSION_CAP}"),
        ));
    }
    if req.attachment_upload_ids.len() > MAX_ATTACHMENTS {
        return Err(ApiError::validation(
            "attachment_upload_ids",
            format!("at most {MAX_ATTACHMENTS} attachments"),
        ));
    }
    let class_ids: BTreeSet<&String> = req.class_ids.iter().collect();
    if class_ids.is_empty() || class_ids.len() > MAX_CLASSES {
        return Err(ApiError::validation(
            "class_ids",
            format!("name 1 to {MAX_CLASSES} classes"),
        ));
    }
    let mut teachable = org::teachable_classes(tx, author_id).await?;
    teachable.extend(org::receiving_classes_of_teacher(tx, author_id).await?);
    // One answer for a class of someone else and a class that does not exist, so ids cannot
    // be probed; every class the author may assign to exists.
    for class_id in &class_ids {
        if !teachable.contains(*class_id) {
            return Err(ApiError::forbidden(format!(
                "you do not teach class {class_id}"
            )));
        }
    }

    let id = new_id();
    sqlx::query(
        "INSERT INTO homework (id, author_id, title, instructions, due_at, accepts_late, accepted_kinds, \
         max_score, requires_signoff, max_submission_bytes, assigned_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&id)
    .bind(author_id)
    .bind(req.title.trim())
    .bind(req.instructions.trim())
    .bind(req.due_at)
    .bind(req.accepts_late as i64)
    .bind(access::encode_kinds(&req.accepted_kinds))
    .bind(req.max_score as i64)
    .bind(req.requires_signoff as i64)
    .bind(max_bytes as i64)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    for class_id in &class_ids {
        sqlx::query("INSERT INTO homework_classes (homework_id, class_id) VALUES ($1, $2)")
            .bind(&id)
            .bind(*class_id)
            .execute(&mut **tx)
            .await?;
    }
    sqlx::query(
        "INSERT INTO homework_students (homework_id, student_id, class_id) \
         SELECT DISTINCT hc.homework_id, m.user_id, m.class_id FROM homework_classes hc \
         JOIN memberships m ON m.class_id = hc.class_id AND m.role = 'student' \
         WHERE hc.homework_id = $1",
    )
    .bind(&id)
    .execute(&mut **tx)
    .await?;
    attach_instructions(
        tx,
        author_id,
        &id,
        &req.attachment_upload_ids,
        "attachment_upload_ids",
    )
    .await?;

    let seq = feed::next_seq(tx).await?;
    feed::touch_many(
        tx,
        seq,
        EntityKind::Homework,
        &id,
        false,
        AUDIENCE_SQL,
        &[&id],
    )
    .await?;
    feed::touch_many(
        tx,
        seq,
        EntityKind::HomeworkSummary,
        &id,
        false,
        STAFF_SQL,
        &[&id],
    )
    .await?;
    let homework = super::load_homework(tx, author_id, &id)
        .await?
        .ok_or_else(ApiError::internal)?;
    Ok((homework, seq))
}

/// Turns finished uploads into the assignment's instruction attachments, after those it has.
async fn attach_instructions(
    tx: &mut Tx,
    author_id: &str,
    homework_id: &str,
    upload_ids: &[String],
    field: &str,
) -> ApiResult<()> {
    if upload_ids.is_empty() {
        return Ok(());
    }
    let attached = uploads::claim(
        tx,
        author_id,
        upload_ids,
        UploadPurpose::Instructions,
        None,
        field,
    )
    .await?;
    let start: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM homework_attachments WHERE homework_id = $1")
            .bind(homework_id)
            .fetch_one(&mut **tx)
            .await?;
    for (i, a) in attached.iter().enumerate() {
        sqlx::query("UPDATE attachments SET homework_id = $2 WHERE id = $1")
            .bind(&a.id)
            .bind(homework_id)
            .execute(&mut **tx)
            .await?;
        sqlx::query(
            "INSERT INTO homework_attachments (homework_id, attachment_id, position) VALUES ($1, $2, $3)",
        )
        .bind(homework_id)
        .bind(&a.id)
        .bind(start + i as i64)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// The assignment for its author, or 404 / 403.
async fn authored(tx: &mut Tx, user_id: &str, id: &str) -> ApiResult<access::HomeworkRow> {
    let (row, standing) = access::visible_homework(tx, user_id, id).await?;
    if !standing.author {
        return Err(ApiError::forbidden(
            "only the homework's author may change it",
        ));
    }
    Ok(row)
}

/// Changes what was given. Everyone who sees it gets it again, marked edited.
pub async fn edit(
    tx: &mut Tx,
    user_id: &str,
    id: &str,
    req: EditHomework,
) -> ApiResult<(Homework, i64)> {
    let row = authored(tx, user_id, id).await?;
    let now = crate::clock::now_ms();
    let instructions: String = match &req.instructions {
        Some(s) => s.trim().to_owned(),
        None => {
            sqlx::query_scalar("SELECT instructions FROM homework WHERE id = $1")
                .bind(id)
                .fetch_one(&mut **tx)
                .await?
        }
    };
    let title = req.title.as_deref().unwrap_or(&row.title).trim().to_owned();
    let due_at = req.due_at.unwrap_or(row.due_at);
    let kinds = req
        .accepted_kinds
        .clone()
        .unwrap_or(row.accepted_kinds.clone());
    let max_score = req.max_score.unwrap_or(row.max_score);
    validate(
        &Settings {
            title: &title,
            instructions: &instructions,
            due_at,
            accepted_kinds: &kinds,
            max_score,
        },
        now,
        req.due_at.is_some(),
    )?;
    if max_score < row.max_score {
        let over: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM submission_attempts t JOIN submissions s ON s.id = t.submission_id \
             WHERE s.homework_id = $1 AND t.score > $2",
        )
        .bind(id)
        .bind(max_score as i64)
        .fetch_one(&mut **tx)
        .await?;
        if over > 0 {
            return Err(ApiError::validation(
                "max_score",
                "some work already has a higher score than the new maximum",
            ));
        }
    }
    sqlx::query(
        "UPDATE homework SET title = $2, instructions = $3, due_at = $4, accepts_late = $5, \
         accepted_kinds = $6, max_score = $7, requires_signoff = $8, edited_at = $9 WHERE id = $1",
    )
    .bind(id)
    .bind(&title)
    .bind(&instructions)
    .bind(due_at)
    .bind(req.accepts_late.unwrap_or(row.accepts_late) as i64)
    .bind(access::encode_kinds(&kinds))
    .bind(max_score as i64)
    .bind(req.requires_signoff.unwrap_or(row.requires_signoff) as i64)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    if let Some(keep_or_new) = &req.attachment_ids {
        if keep_or_new.len() > MAX_ATTACHMENTS {
            return Err(ApiError::validation(
                "attachment_ids",
                format!("at most {MAX_ATTACHMENTS} attachments"),
            ));
        }
        let current: Vec<String> = sqlx::query_scalar(
            "SELECT attachment_id FROM homework_attachments WHERE homework_id = $1",
        )
        .bind(id)
        .fetch_all(&mut **tx)
        .await?;
        sqlx::query("DELETE FROM homework_attachments WHERE homework_id = $1")
            .bind(id)
            .execute(&mut **tx)
            .await?;
        // Keep the order asked for: existing attachments stay, new uploads are claimed.
        for (position, aid) in keep_or_new.iter().enumerate() {
            if !current.contains(aid) {
                attach_instructions(tx, user_id, id, std::slice::from_ref(aid), "attachment_ids")
                    .await?;
                sqlx::query(
                    "UPDATE homework_attachments SET position = $3 WHERE homework_id = $1 AND attachment_id = $2",
                )
                .bind(id)
                .bind(aid)
                .bind(position as i64)
                .execute(&mut **tx)
                .await?;
            } else {
                sqlx::query(
                    "INSERT INTO homework_attachments (homework_id, attachment_id, position) VALUES ($1, $2, $3)",
                )
                .bind(id)
                .bind(aid)
                .bind(position as i64)
                .execute(&mut **tx)
                .await?;
            }
        }
    }
    let seq = feed::next_seq(tx).await?;
    feed::touch_many(
        tx,
        seq,
        EntityKind::Homework,
        id,
        false,
        AUDIENCE_SQL,
        &[id],
    )
    .await?;
    let homework = super::load_homework(tx, user_id, id)
        .await?
        .ok_or_else(ApiError::internal)?;
    Ok((homework, seq))
}

/// Deletes an assignment. With submissions, only when `confirm` says so: students' work
/// disappears from every phone.
pub async fn delete(tx: &mut Tx, user_id: &str, id: &str, confirm: bool) -> ApiResult<i64> {
    authored(tx, user_id, id).await?;
    let submissions: Vec<String> =
        sqlx::query_scalar("SELECT id FROM submissions WHERE homework_id = $1")
            .bind(id)
            .fetch_all(&mut **tx)
            .await?;
    if !submissions.is_empty() && !confirm {
        let mut e = ApiError::conflict(format!(
            "{} students have handed in work; delete with confirm=true to remove it too",
            submissions.len()
        ));
        e.body.field = Some(lianxiao_protocol::CONFIRM_FIELD.to_owned());
        return Err(e);
    }
    let seq = feed::next_seq(tx).await?;
    // Tombstones go to everyone who saw it, before the rows that say who that was change.
    feed::touch_many(tx, seq, EntityKind::Homework, id, true, AUDIENCE_SQL, &[id]).await?;
    feed::touch_many(
        tx,
        seq,
        EntityKind::HomeworkSummary,
        id,
        true,
        STAFF_SQL,
        &[id],
    )
    .await?;
    for sid in &submissions {
        feed::touch_many(
            tx,
            seq,
            EntityKind::Submission,
            sid,
            true,
            super::SUBMISSION_AUDIENCE_SQL,
            &[sid],
        )
        .await?;
    }
    sqlx::query("UPDATE homework SET deleted_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now_ms())
        .execute(&mut **tx)
        .await?;
    Ok(seq)
}

/// Reminds every student who has not handed in (or whose work was returned), and their
/// parents. A teacher who is not the author reminds only their own classes.
pub async fn remind(tx: &mut Tx, user_id: &str, id: &str) -> ApiResult<(RemindResult, i64)> {
    let (row, standing) = access::visible_homework(tx, user_id, id).await?;
    if !standing.is_staff() {
        return Err(ApiError::forbidden(
            "only the homework's teachers may remind",
        ));
    }
    let now = now_ms();
    if let Some(last) = row.last_reminded_at
        && now < last + REMIND_INTERVAL_MS
    {
        let wait = ((last + REMIND_INTERVAL_MS - now) / 1000).max(1) as u64;
        return Err(ApiError::rate_limited(wait));
    }
    let pending: Vec<(String, String)> = sqlx::query_as(
        "SELECT hs.student_id, hs.class_id FROM homework_students hs \
         LEFT JOIN submissions s ON s.homework_id = hs.homework_id AND s.student_id = hs.student_id \
         WHERE hs.homework_id = $1 AND (s.id IS NULL OR s.status = 'returned')",
    )
    .bind(id)
    .fetch_all(&mut **tx)
    .await?;
    let students: Vec<&String> = pending
        .iter()
        .filter(|(_, class)| standing.teaches(class))
        .map(|(s, _)| s)
        .collect();
    let seq = feed::next_seq(tx).await?;
    for student in &students {
        sqlx::query(
            "UPDATE homework_students SET reminded_at = $3 WHERE homework_id = $1 AND student_id = $2",
        )
        .bind(id)
        .bind(*student)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        feed::touch_many(
            tx,
            seq,
            EntityKind::Homework,
            id,
            false,
            "SELECT $4 AS user_id UNION SELECT user_id FROM memberships WHERE child_id = $4 AND role = 'parent' AND $3 <> ''",
            &[id, student.as_str()],
        )
        .await?;
    }
    sqlx::query("UPDATE homework SET last_reminded_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    feed::touch_many(
        tx,
        seq,
        EntityKind::HomeworkSummary,
        id,
        false,
        STAFF_SQL,
        &[id],
    )
    .await?;
    Ok((
        RemindResult {
            reminded: students.len() as u32,
            reminded_at: now,
            next_allowed_at: now + REMIND_INTERVAL_MS,
        },
        seq,
    ))
}
