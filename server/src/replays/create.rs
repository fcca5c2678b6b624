//! New replays: from a teacher's uploaded recording (`POST /v1/replays`), or from a lesson's
//! own recording (a broadcast's, a LiveKit egress's) waiting in `recordings`.

use lianxiao_protocol::{CreateReplay, Replay, ReplaySource, ReplayVisibility};
use sqlx::Row;

use std::sync::Arc;

use super::{Shared, access, commit, store};
use crate::{
    db::{Tx, feed, new_id},
    error::{ApiError, ApiResult},
    lessons::access as lessons,
    uploads::{self, Blobs},
};

/// Claims the caller's finished recording upload and makes a replay of it, in `processing`.
/// The caller queues the job after commit.
pub async fn create_from_upload(
    tx: &mut Tx,
    blobs: &Blobs,
    caller_id: &str,
    req: CreateReplay,
) -> ApiResult<(Replay, i64)> {
    let title = req
        .title
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty());
    if title.is_some_and(|t| t.chars().count() > 200) {
        return Err(ApiError::validation("title", "at most 200 characters"));
    }
    let (lesson, standing) = lessons::visible_lesson(tx, caller_id, &req.lesson_id).await?;
    if !standing.lead && standing.assists.is_empty() {
        return Err(ApiError::forbidden(
            "only the lesson's teachers add its recording",
        ));
    }
    let upload = uploads::claim_recording(tx, caller_id, &req.upload_id, &req.lesson_id).await?;
    let id = new_id();
    let input = blobs.path(&upload.id).display().to_string();
    store::insert(
        tx,
        &store::NewReplay {
            id: &id,
            lesson_id: &lesson.id,
            title: title.unwrap_or(&lesson.title),
            source: ReplaySource::Upload,
            visibility: req.visibility,
            owner_id: caller_id,
            input_path: &input,
            origin_id: &upload.id,
        },
    )
    .await?;
    let seq = feed::next_seq(tx).await?;
    access::publish(tx, seq, &id).await?;
    let replay = store::load(tx, &id)
        .await?
        .ok_or_else(ApiError::internal)?
        .replay;
    Ok((replay, seq))
}

/// Turns the lessons' finished recordings whose file is on this server (a broadcast's own,
/// an egress written to a local path) into replays owned by the lesson's lead, and queues
/// their jobs. Each recording is taken once, even with several servers.
pub(crate) async fn adopt_recordings(shared: &Arc<Shared>) -> anyhow::Result<usize> {
    let (db, hub) = (&shared.db, &shared.hub);
    let pending = sqlx::query(
        "SELECT r.id, r.lesson_id, r.source, r.location, l.title, l.lead_teacher_id \
         FROM recordings r JOIN lessons l ON l.id = r.lesson_id WHERE r.status = 'pending' \
         ORDER BY r.created_at",
    )
    .fetch_all(db.pool())
    .await?;
    let mut adopted = 0;
    for r in pending {
        let recording_id: String = r.try_get("id")?;
        let location: String = r.try_get("location")?;
        let path = location.strip_prefix("file://").unwrap_or(&location);
        let local =
            std::path::Path::new(path).is_absolute() && std::path::Path::new(path).is_file();
        let mut tx = db.begin_write().await?;
        let taken =
            sqlx::query("UPDATE recordings SET status = $2 WHERE id = $1 AND status = 'pending'")
                .bind(&recording_id)
                .bind(if local { "replay" } else { "not_local" })
                .execute(&mut *tx)
                .await?;
        if taken.rows_affected() == 0 || !local {
            tx.commit().await?;
            continue;
        }
        let id = new_id();
        let source = match r.try_get::<String, _>("source")?.as_str() {
            "broadcast" => ReplaySource::Broadcast,
            _ => ReplaySource::Egress,
        };
        let lesson_id: String = r.try_get("lesson_id")?;
        let title: String = r.try_get("title")?;
        let lead: String = r.try_get("lead_teacher_id")?;
        store::insert(
            &mut tx,
            &store::NewReplay {
                id: &id,
                lesson_id: &lesson_id,
                title: &title,
                source,
                visibility: ReplayVisibility::LessonClasses,
                owner_id: &lead,
                input_path: path,
                origin_id: &recording_id,
            },
        )
        .await?;
        let seq = feed::next_seq(&mut tx).await?;
        access::publish(&mut tx, seq, &id).await?;
        commit(tx, db, hub, seq).await?;
        tracing::info!(replay = %id, lesson = %lesson_id, source = store::source_str(source), "recording becomes a replay");
        super::enqueue(shared, &id);
        adopted += 1;
    }
    Ok(adopted)
}
