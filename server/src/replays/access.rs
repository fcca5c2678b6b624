//! Who sees a replay. Its staff (the owner, the lesson's lead, the reviewers: school admins of
//! a school in the lesson and county admins) always do; once approved, its audience does too:
//! the lesson's classes (students, their parents, teachers) or, shared, every class of the
//! lead school's link group. Everyone else is told it does not exist.
//!
//! The rule is one SQL set ([`VIEWERS_SQL`]) used for checks and for the sync feed alike.

use lianxiao_protocol::EntityKind;
use sqlx::AnyConnection;

use crate::db::{Tx, feed};

/// Classes whose people see an approved replay (`$2` = replay id).
const AUDIENCE_CLASSES: &str = "SELECT lc.class_id FROM replays r \
       JOIN lesson_classes lc ON lc.lesson_id = r.lesson_id \
       WHERE r.id = $2 AND r.status = 'approved' \
     UNION SELECT c.id FROM replays r \
       JOIN lesson_classes lc ON lc.lesson_id = r.lesson_id AND lc.lead = 1 \
       JOIN classes lead_class ON lead_class.id = lc.class_id \
       JOIN link_group_schools g ON g.school_id = lead_class.school_id \
       JOIN link_group_schools g2 ON g2.link_group_id = g.link_group_id \
       JOIN classes c ON c.school_id = g2.school_id \
       WHERE r.id = $2 AND r.status = 'approved' AND r.visibility = 'link_group'";

/// The owner, the lesson's lead and the reviewers (`$2` = replay id).
const STAFF_SQL: &str = "SELECT r.owner_id AS user_id FROM replays r WHERE r.id = $2 \
     UNION SELECT l.lead_teacher_id AS user_id FROM replays r JOIN lessons l ON l.id = r.lesson_id \
       WHERE r.id = $2 \
     UNION SELECT m.user_id FROM memberships m WHERE m.role = 'county_admin' \
     UNION SELECT m.user_id FROM replays r JOIN lesson_classes lc ON lc.lesson_id = r.lesson_id \
       JOIN classes c ON c.id = lc.class_id \
       JOIN memberships m ON m.role = 'school_admin' AND m.school_id = c.school_id \
       WHERE r.id = $2";

/// Everyone who sees replay `$2` now: a feed `users_sql`, also used for checks.
pub(crate) fn viewers_sql() -> String {
    format!(
        "{STAFF_SQL} \
         UNION SELECT ls.user_id FROM replays r JOIN lesson_staff ls ON ls.lesson_id = r.lesson_id \
           WHERE r.id = $2 AND r.status = 'approved' \
         UNION SELECT m.user_id FROM memberships m \
           WHERE m.role IN ('student', 'teacher', 'assistant') AND m.class_id IN ({AUDIENCE_CLASSES}) \
         UNION SELECT p.user_id FROM memberships m \
           JOIN memberships p ON p.child_id = m.user_id AND p.role = 'parent' \
           WHERE m.role = 'student' AND m.class_id IN ({AUDIENCE_CLASSES})"
    )
}

async fn member_of(
    conn: &mut AnyConnection,
    users_sql: &str,
    user_id: &str,
    replay_id: &str,
) -> sqlx::Result<bool> {
    let sql = format!("SELECT COUNT(*) FROM ({users_sql}) AS v WHERE v.user_id = $1");
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(user_id)
        .bind(replay_id)
        .fetch_one(&mut *conn)
        .await?;
    Ok(n > 0)
}

/// The caller sees the replay (in whatever state it is in for them).
pub async fn sees(conn: &mut AnyConnection, user_id: &str, replay_id: &str) -> sqlx::Result<bool> {
    member_of(conn, &viewers_sql(), user_id, replay_id).await
}

/// The owner, the lesson's lead or a reviewer: sees it in every state, may preview it.
pub async fn is_staff(
    conn: &mut AnyConnection,
    user_id: &str,
    replay_id: &str,
) -> sqlx::Result<bool> {
    member_of(conn, STAFF_SQL, user_id, replay_id).await
}

/// A county admin, or a school admin of a school in the replay's lesson (学校审核).
pub async fn is_reviewer(
    conn: &mut AnyConnection,
    user_id: &str,
    replay_id: &str,
) -> sqlx::Result<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM memberships m WHERE m.user_id = $1 AND (m.role = 'county_admin' \
         OR (m.role = 'school_admin' AND m.school_id IN (SELECT c.school_id FROM replays r \
           JOIN lesson_classes lc ON lc.lesson_id = r.lesson_id JOIN classes c ON c.id = lc.class_id \
           WHERE r.id = $2)))",
    )
    .bind(user_id)
    .bind(replay_id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(n > 0)
}

/// The lesson's teachers (lead, assistants), the owner and the reviewers: who watched how much.
pub async fn sees_views(
    conn: &mut AnyConnection,
    user_id: &str,
    replay_id: &str,
) -> sqlx::Result<bool> {
    let sql = format!(
        "{STAFF_SQL} UNION SELECT ls.user_id FROM replays r \
         JOIN lesson_staff ls ON ls.lesson_id = r.lesson_id WHERE r.id = $2"
    );
    member_of(conn, &sql, user_id, replay_id).await
}

/// Brings the feed in line with who sees the replay now: everyone who does gets it again, who
/// lost it (rejected, narrowed) gets a tombstone for it and for their watch position, and who
/// regained it their watch position back.
pub async fn publish(tx: &mut Tx, seq: i64, replay_id: &str) -> sqlx::Result<()> {
    let viewers = viewers_sql();
    for kind in [EntityKind::Replay, EntityKind::WatchPosition] {
        let sql = format!(
            "UPDATE feed SET seq = $1, removed = 1 WHERE kind = '{kind}' AND entity_id = $2 \
             AND removed = 0 AND user_id NOT IN ({viewers})",
            kind = kind.as_str()
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(seq)
            .bind(replay_id)
            .execute(&mut **tx)
            .await?;
    }
    feed::touch_many(tx, seq, EntityKind::Replay, replay_id, false, &viewers, &[]).await?;
    // Who sees it again finds their place in it again.
    let sql = format!(
        "UPDATE feed SET seq = $1, removed = 0 WHERE kind = 'watch_position' AND entity_id = $2 \
         AND removed = 1 AND user_id IN ({viewers})"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(seq)
        .bind(replay_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
