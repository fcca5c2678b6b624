//! Where each person is in a replay and how much they watched. Reports come from the phones'
//! outboxes (each once, by its idempotency key): the latest `at` sets the position across
//! devices, watched time adds up, time watched from a downloaded copy is also counted apart.
//! A person's position reaches only their own devices.

use lianxiao_protocol::{EntityKind, PersonRef, ReplayViewer, WatchPosition, WatchReport};
use sqlx::{AnyConnection, Row};

use super::access;
use crate::{
    db::{Tx, feed, now_ms},
    error::{ApiError, ApiResult},
};

/// A report may claim at most this much newly watched time (a day of lessons offline).
const MAX_WATCHED_MS: i64 = 24 * 3600 * 1000;

pub async fn report(
    tx: &mut Tx,
    user_id: &str,
    replay_id: &str,
    r: &WatchReport,
) -> ApiResult<(WatchPosition, i64)> {
    if !access::sees(tx, user_id, replay_id).await? {
        return Err(ApiError::not_found("replay"));
    }
    if r.position_ms < 0 {
        return Err(ApiError::validation("position_ms", "cannot be negative"));
    }
    if !(0..=MAX_WATCHED_MS).contains(&r.watched_ms) {
        return Err(ApiError::validation(
            "watched_ms",
            "between 0 and a day, in milliseconds",
        ));
    }
    // A phone whose clock runs ahead cannot pin the position for ever.
    let at = r.at.min(now_ms());
    let offline_ms = if r.offline { r.watched_ms } else { 0 };
    let now = now_ms();
    sqlx::query(
        "INSERT INTO replay_watch (replay_id, user_id, position_ms, position_at, watched_ms, offline_ms, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (replay_id, user_id) DO UPDATE SET \
           position_ms = CASE WHEN excluded.position_at > replay_watch.position_at \
             THEN excluded.position_ms ELSE replay_watch.position_ms END, \
           position_at = CASE WHEN excluded.position_at > replay_watch.position_at \
             THEN excluded.position_at ELSE replay_watch.position_at END, \
           watched_ms = replay_watch.watched_ms + excluded.watched_ms, \
           offline_ms = replay_watch.offline_ms + excluded.offline_ms, \
           updated_at = excluded.updated_at",
    )
    .bind(replay_id)
    .bind(user_id)
    .bind(r.position_ms)
    .bind(at)
    .bind(r.watched_ms)
    .bind(offline_ms)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    let seq = feed::next_seq(tx).await?;
    feed::touch(
        tx,
        seq,
        user_id,
        EntityKind::WatchPosition,
        replay_id,
        false,
    )
    .await?;
    let position = load_position(tx, user_id, replay_id)
        .await?
        .ok_or_else(ApiError::internal)?;
    Ok((position, seq))
}

/// The person's own place in a replay (sync item), if they have one and still see it.
pub async fn load_position(
    conn: &mut AnyConnection,
    user_id: &str,
    replay_id: &str,
) -> ApiResult<Option<WatchPosition>> {
    if !access::sees(conn, user_id, replay_id).await? {
        return Ok(None);
    }
    let Some(r) = sqlx::query(
        "SELECT position_ms, position_at, watched_ms FROM replay_watch \
         WHERE replay_id = $1 AND user_id = $2",
    )
    .bind(replay_id)
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    Ok(Some(WatchPosition {
        replay_id: replay_id.to_owned(),
        position_ms: r.try_get("position_ms")?,
        watched_ms: r.try_get("watched_ms")?,
        at: r.try_get("position_at")?,
    }))
}

/// `GET /v1/replays/{id}/views`: who watched how much, for the lesson's teachers and admins.
pub async fn views(
    conn: &mut AnyConnection,
    user_id: &str,
    replay_id: &str,
) -> ApiResult<Vec<ReplayViewer>> {
    if !access::sees(conn, user_id, replay_id).await? {
        return Err(ApiError::not_found("replay"));
    }
    if !access::sees_views(conn, user_id, replay_id).await? {
        return Err(ApiError::forbidden(
            "only the lesson's teachers and admins see who watched",
        ));
    }
    // The class: the viewer's own class among the lesson's, if they are a student of one.
    let rows = sqlx::query(
        "SELECT w.user_id, u.name, w.watched_ms, w.offline_ms, w.updated_at, \
         (SELECT MIN(m.class_id) FROM memberships m JOIN lesson_classes lc ON lc.class_id = m.class_id \
          JOIN replays r ON r.lesson_id = lc.lesson_id \
          WHERE r.id = w.replay_id AND m.user_id = w.user_id AND m.role = 'student') AS class_id \
         FROM replay_watch w JOIN users u ON u.id = w.user_id WHERE w.replay_id = $1 \
         ORDER BY w.watched_ms DESC, w.user_id",
    )
    .bind(replay_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(ReplayViewer {
                user: PersonRef {
                    id: r.try_get("user_id")?,
                    name: r.try_get("name")?,
                },
                class_id: r.try_get("class_id")?,
                watched_ms: r.try_get("watched_ms")?,
                offline_ms: r.try_get("offline_ms")?,
                last_at: r.try_get("updated_at")?,
            })
        })
        .collect()
}
