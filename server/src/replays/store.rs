//! The replay as stored: the one place its rows are read and written.

use lianxiao_protocol::{
    PersonRef, Replay, ReplayProblem, ReplayRendition, ReplayReview, ReplaySource, ReplayStatus,
    ReplayVisibility,
};
use sqlx::{AnyConnection, Row};

use crate::db::{Tx, now_ms};

pub(crate) fn status_str(s: ReplayStatus) -> &'static str {
    match s {
        ReplayStatus::Processing => "processing",
        ReplayStatus::Failed => "failed",
        ReplayStatus::PendingReview => "pending_review",
        ReplayStatus::Approved => "approved",
        ReplayStatus::Rejected => "rejected",
    }
}

pub(crate) fn parse_status(s: &str) -> Option<ReplayStatus> {
    [
        ReplayStatus::Processing,
        ReplayStatus::Failed,
        ReplayStatus::PendingReview,
        ReplayStatus::Approved,
        ReplayStatus::Rejected,
    ]
    .into_iter()
    .find(|x| status_str(*x) == s)
}

pub(crate) fn source_str(s: ReplaySource) -> &'static str {
    match s {
        ReplaySource::Broadcast => "broadcast",
        ReplaySource::Egress => "egress",
        ReplaySource::Upload => "upload",
    }
}

fn parse_source(s: &str) -> ReplaySource {
    match s {
        "broadcast" => ReplaySource::Broadcast,
        "egress" => ReplaySource::Egress,
        _ => ReplaySource::Upload,
    }
}

pub(crate) fn visibility_str(v: ReplayVisibility) -> &'static str {
    match v {
        ReplayVisibility::LessonClasses => "lesson_classes",
        ReplayVisibility::LinkGroup => "link_group",
    }
}

pub(crate) fn problem_str(p: ReplayProblem) -> &'static str {
    match p {
        ReplayProblem::Unreadable => "unreadable",
        ReplayProblem::NoPlayableStream => "no_playable_stream",
        ReplayProblem::TranscodeFailed => "transcode_failed",
    }
}

fn parse_problem(s: &str) -> Option<ReplayProblem> {
    [
        ReplayProblem::Unreadable,
        ReplayProblem::NoPlayableStream,
        ReplayProblem::TranscodeFailed,
    ]
    .into_iter()
    .find(|p| problem_str(*p) == s)
}

/// A new replay, about to be transcoded.
pub(crate) struct NewReplay<'a> {
    pub id: &'a str,
    pub lesson_id: &'a str,
    pub title: &'a str,
    pub source: ReplaySource,
    pub visibility: ReplayVisibility,
    pub owner_id: &'a str,
    pub input_path: &'a str,
    pub origin_id: &'a str,
}

pub(crate) async fn insert(tx: &mut Tx, r: &NewReplay<'_>) -> sqlx::Result<()> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO replays (id, lesson_id, title, source, status, progress_percent, visibility, \
         owner_id, input_path, origin_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 'processing', 0, $5, $6, $7, $8, $9, $9)",
    )
    .bind(r.id)
    .bind(r.lesson_id)
    .bind(r.title)
    .bind(source_str(r.source))
    .bind(visibility_str(r.visibility))
    .bind(r.owner_id)
    .bind(r.input_path)
    .bind(r.origin_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A replay and the file it is made from.
pub(crate) struct Stored {
    pub replay: Replay,
    pub input_path: String,
}

/// The replay as stored, for someone already known to see it.
pub(crate) async fn load(conn: &mut AnyConnection, id: &str) -> sqlx::Result<Option<Stored>> {
    let Some(r) = sqlx::query(
        "SELECT r.id, r.lesson_id, r.title, r.source, r.status, r.progress_percent, r.problem, \
         r.visibility, r.duration_ms, r.renditions, r.owner_id, o.name AS owner_name, r.input_path, \
         r.reviewer_id, rv.name AS reviewer_name, r.review_approved, r.review_reason, r.reviewed_at, \
         r.created_at, r.updated_at, l.subject, l.starts_at \
         FROM replays r JOIN lessons l ON l.id = r.lesson_id JOIN users o ON o.id = r.owner_id \
         LEFT JOIN users rv ON rv.id = r.reviewer_id WHERE r.id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let status = parse_status(&r.try_get::<String, _>("status")?).unwrap_or(ReplayStatus::Failed);
    let review = match r.try_get::<Option<String>, _>("reviewer_id")? {
        Some(reviewer_id) => Some(ReplayReview {
            reviewer: PersonRef {
                id: reviewer_id,
                name: r
                    .try_get::<Option<String>, _>("reviewer_name")?
                    .unwrap_or_default(),
            },
            approved: r.try_get::<Option<i64>, _>("review_approved")?.unwrap_or(0) != 0,
            reason: r
                .try_get::<Option<String>, _>("review_reason")?
                .filter(|s| !s.is_empty()),
            decided_at: r.try_get::<Option<i64>, _>("reviewed_at")?.unwrap_or(0),
        }),
        None => None,
    };
    let renditions: Vec<ReplayRendition> =
        serde_json::from_str(&r.try_get::<String, _>("renditions")?).unwrap_or_default();
    let replay = Replay {
        id: r.try_get("id")?,
        lesson_id: r.try_get("lesson_id")?,
        subject: r.try_get("subject")?,
        title: r.try_get("title")?,
        lesson_starts_at: r.try_get("starts_at")?,
        source: parse_source(&r.try_get::<String, _>("source")?),
        status,
        progress_percent: match status {
            ReplayStatus::Processing => Some(
                r.try_get::<Option<i64>, _>("progress_percent")?
                    .unwrap_or(0)
                    .clamp(0, 100) as u8,
            ),
            _ => None,
        },
        problem: parse_problem(&r.try_get::<String, _>("problem")?),
        visibility: match r.try_get::<String, _>("visibility")?.as_str() {
            "link_group" => ReplayVisibility::LinkGroup,
            _ => ReplayVisibility::LessonClasses,
        },
        duration_ms: r.try_get("duration_ms")?,
        renditions,
        owner: PersonRef {
            id: r.try_get("owner_id")?,
            name: r.try_get("owner_name")?,
        },
        review,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    };
    Ok(Some(Stored {
        replay,
        input_path: r.try_get("input_path")?,
    }))
}

/// Ids of the replays the caller sees now, newest first, maybe of one status or one lesson.
pub(crate) async fn visible_ids(
    conn: &mut AnyConnection,
    user_id: &str,
    status: Option<ReplayStatus>,
    lesson_id: Option<&str>,
) -> sqlx::Result<Vec<String>> {
    // The viewers rule, correlated to each candidate instead of bound to one replay.
    let viewers = super::access::viewers_sql().replace("$2", "cand.id");
    let sql = format!(
        "SELECT cand.id FROM replays cand WHERE ($2 = '' OR cand.status = $2) \
         AND ($3 = '' OR cand.lesson_id = $3) AND $1 IN ({viewers}) \
         ORDER BY cand.created_at DESC, cand.id"
    );
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(user_id)
        .bind(status.map(status_str).unwrap_or(""))
        .bind(lesson_id.unwrap_or(""))
        .fetch_all(&mut *conn)
        .await
}

/// Replays left processing (by a server that stopped): their jobs start again.
pub(crate) async fn processing_ids(pool: &sqlx::AnyPool) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar("SELECT id FROM replays WHERE status = 'processing' ORDER BY created_at")
        .fetch_all(pool)
        .await
}

pub(crate) async fn set_progress(tx: &mut Tx, id: &str, percent: u8) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE replays SET progress_percent = $2, updated_at = $3 \
         WHERE id = $1 AND status = 'processing'",
    )
    .bind(id)
    .bind(i64::from(percent))
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn set_failed(
    tx: &mut Tx,
    id: &str,
    problem: ReplayProblem,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE replays SET status = 'failed', problem = $2, progress_percent = NULL, updated_at = $3 \
         WHERE id = $1 AND status = 'processing'",
    )
    .bind(id)
    .bind(problem_str(problem))
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn set_transcoded(
    tx: &mut Tx,
    id: &str,
    duration_ms: i64,
    renditions: &[ReplayRendition],
) -> sqlx::Result<bool> {
    let json = serde_json::to_string(renditions).unwrap_or_else(|_| "[]".into());
    let done = sqlx::query(
        "UPDATE replays SET status = 'pending_review', progress_percent = NULL, duration_ms = $2, \
         renditions = $3, updated_at = $4 WHERE id = $1 AND status = 'processing'",
    )
    .bind(id)
    .bind(duration_ms)
    .bind(json)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Records a review decision on a replay pending (or already past) review.
pub(crate) async fn set_review(
    tx: &mut Tx,
    id: &str,
    reviewer_id: &str,
    approve: bool,
    reason: Option<&str>,
    visibility: Option<ReplayVisibility>,
) -> sqlx::Result<()> {
    let now = now_ms();
    sqlx::query(
        "UPDATE replays SET status = $2, reviewer_id = $3, review_approved = $4, review_reason = $5, \
         reviewed_at = $6, visibility = COALESCE($7, visibility), updated_at = $6 WHERE id = $1",
    )
    .bind(id)
    .bind(if approve { "approved" } else { "rejected" })
    .bind(reviewer_id)
    .bind(approve as i64)
    .bind(reason.unwrap_or(""))
    .bind(now)
    .bind(visibility.map(visibility_str))
    .execute(&mut **tx)
    .await?;
    Ok(())
}
