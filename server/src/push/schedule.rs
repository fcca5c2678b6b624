//! Pushes about homework and lessons: graded work (queued with the grade), homework missing
//! at its deadline and a lesson about to start (found by a scheduler that follows the server
//! clock), and what those pushes say.
//!
//! Each scheduled event is handled once across restarts and across servers sharing one
//! PostgreSQL: its key goes into `push_events` in the transaction that queues its pushes, and a
//! server that finds the key already there does nothing. The pushes' own unique key keeps it
//! to one per phone even so. Parents' settings (`prefs::wants_sql`) decide who is asked.

use sqlx::Row;

use super::{
    policy,
    prefs::{PrefKind, wants_sql},
    queue::Claimed,
};
use crate::db::{Db, Tx};

/// A deadline or a start the scheduler finds later than this after it passed is let go: a
/// server that was down for a day does not tell parents about last week.
const CATCH_UP_MS: i64 = 24 * 3_600_000;

/// The columns every push insert names, in order.
const COLUMNS: &str = "id, event_kind, event_id, item_id, user_id, device_id, provider, urgent, \
    collapse_key, deliver_after, state, attempts, next_attempt_at, created_at, school_id";

/// Graded work: a push to the student and to each parent, in the grading transaction.
pub async fn enqueue_graded(tx: &mut Tx, submission_id: &str, now: i64) -> sqlx::Result<u64> {
    let sql = format!(
        "INSERT INTO pushes ({COLUMNS}) \
         SELECT 'homework_graded:' || s.id || ':' || w.user_id || ':' || a.device_id, \
         'homework_graded', s.id, s.homework_id, w.user_id, a.device_id, d.provider, 0, \
         'homework:' || s.homework_id, $2, 'queued', 0, $2, $2, c.school_id \
         FROM submissions s JOIN classes c ON c.id = s.class_id \
         JOIN (SELECT student_id AS user_id, student_id AS child_id FROM submissions WHERE id = $1 \
           UNION SELECT m.user_id, m.child_id FROM memberships m JOIN submissions s2 \
           ON s2.student_id = m.child_id WHERE s2.id = $1 AND m.role = 'parent') w ON 1 = 1 \
         JOIN device_accounts a ON a.user_id = w.user_id JOIN devices d ON d.id = a.device_id \
         WHERE s.id = $1 AND {wanted} ON CONFLICT DO NOTHING",
        wanted = wants_sql(PrefKind::HomeworkGraded, "w.user_id", "w.child_id")
    );
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(submission_id)
        .bind(now)
        .execute(&mut **tx)
        .await?
        .rows_affected())
}

/// Homework whose deadline just passed: a push to the parents of each student who handed
/// nothing in.
async fn enqueue_missing(tx: &mut Tx, homework_id: &str, now: i64) -> sqlx::Result<u64> {
    let sql = format!(
        "INSERT INTO pushes ({COLUMNS}) \
         SELECT 'homework_missing:' || hs.homework_id || ':' || hs.student_id || ':' || m.user_id \
         || ':' || a.device_id, 'homework_missing', hs.homework_id || ':' || hs.student_id, \
         hs.homework_id, m.user_id, a.device_id, d.provider, 0, 'homework:' || hs.homework_id, \
         $2, 'queued', 0, $2, $2, c.school_id \
         FROM homework_students hs JOIN classes c ON c.id = hs.class_id \
         JOIN memberships m ON m.child_id = hs.student_id AND m.role = 'parent' \
         JOIN device_accounts a ON a.user_id = m.user_id JOIN devices d ON d.id = a.device_id \
         WHERE hs.homework_id = $1 AND NOT EXISTS (SELECT 1 FROM submissions s \
           WHERE s.homework_id = hs.homework_id AND s.student_id = hs.student_id) \
         AND {wanted} ON CONFLICT DO NOTHING",
        wanted = wants_sql(PrefKind::HomeworkMissing, "m.user_id", "hs.student_id")
    );
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(homework_id)
        .bind(now)
        .execute(&mut **tx)
        .await?
        .rows_affected())
}

/// A lesson about to start: a push to the students of its classes and their parents.
async fn enqueue_lesson(
    tx: &mut Tx,
    lesson_id: &str,
    starts_at: i64,
    now: i64,
) -> sqlx::Result<u64> {
    let sql = format!(
        "INSERT INTO pushes ({COLUMNS}) \
         SELECT 'lesson_starting:' || w.event_id || ':' || w.user_id || ':' || a.device_id, \
         'lesson_starting', w.event_id, $1, w.user_id, a.device_id, d.provider, 0, \
         'lesson:' || $1, $3, 'queued', 0, $3, $3, MIN(w.school_id) \
         FROM (SELECT $1 || ':' || $2 AS event_id, s.user_id AS user_id, s.user_id AS child_id, \
             c.school_id AS school_id FROM lesson_classes lc JOIN classes c ON c.id = lc.class_id \
             JOIN memberships s ON s.class_id = lc.class_id AND s.role = 'student' \
             WHERE lc.lesson_id = $1 \
           UNION SELECT $1 || ':' || $2, p.user_id, s.user_id, c.school_id FROM lesson_classes lc \
             JOIN classes c ON c.id = lc.class_id \
             JOIN memberships s ON s.class_id = lc.class_id AND s.role = 'student' \
             JOIN memberships p ON p.child_id = s.user_id AND p.role = 'parent' \
             WHERE lc.lesson_id = $1) w \
         JOIN device_accounts a ON a.user_id = w.user_id JOIN devices d ON d.id = a.device_id \
         WHERE {wanted} \
         GROUP BY w.event_id, w.user_id, a.device_id, d.provider ON CONFLICT DO NOTHING",
        wanted = wants_sql(PrefKind::LessonStarting, "w.user_id", "w.child_id")
    );
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(lesson_id)
        .bind(starts_at.to_string())
        .bind(now)
        .execute(&mut **tx)
        .await?
        .rows_affected())
}

/// Claims an event for this server: true once, for the first transaction that commits it.
async fn first_time(tx: &mut Tx, key: &str, now: i64) -> sqlx::Result<bool> {
    Ok(sqlx::query(
        "INSERT INTO push_events (key, handled_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(key)
    .bind(now)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1)
}

/// One look for due events; returns how many pushes it queued.
pub async fn tick(db: &Db, now: i64, lesson_lead_ms: i64) -> sqlx::Result<u64> {
    let mut queued = 0;
    let due_homework = sqlx::query(
        "SELECT h.id FROM homework h WHERE h.deleted_at IS NULL AND h.due_at <= $1 \
         AND h.due_at > $2 AND NOT EXISTS (SELECT 1 FROM push_events e \
         WHERE e.key = 'homework_missing:' || h.id)",
    )
    .bind(now)
    .bind(now - CATCH_UP_MS)
    .fetch_all(db.pool())
    .await?;
    for row in due_homework {
        let id: String = row.try_get(0)?;
        let mut tx = db.begin_write().await?;
        if first_time(&mut tx, &format!("homework_missing:{id}"), now).await? {
            queued += enqueue_missing(&mut tx, &id, now).await?;
        }
        tx.commit().await?;
    }
    let starting = sqlx::query(
        "SELECT l.id, l.starts_at FROM lessons l WHERE l.status <> 'cancelled' \
         AND l.cancelled_at IS NULL AND l.starts_at > $1 AND l.starts_at <= $2",
    )
    .bind(now)
    .bind(now + lesson_lead_ms)
    .fetch_all(db.pool())
    .await?;
    for row in starting {
        let id: String = row.try_get(0)?;
        let starts_at: i64 = row.try_get(1)?;
        let key = format!("lesson_starting:{id}:{starts_at}");
        let exists = sqlx::query("SELECT 1 FROM push_events WHERE key = $1")
            .bind(&key)
            .fetch_optional(db.pool())
            .await?
            .is_some();
        if exists {
            continue;
        }
        let mut tx = db.begin_write().await?;
        if first_time(&mut tx, &key, now).await? {
            queued += enqueue_lesson(&mut tx, &id, starts_at, now).await?;
        }
        tx.commit().await?;
    }
    Ok(queued)
}

/// What a homework or lesson push says; `None` when it no longer applies (the homework was
/// deleted or handed in meanwhile, the lesson cancelled or moved).
pub async fn content(db: &Db, push: &Claimed) -> sqlx::Result<Option<(String, String)>> {
    match push.event_kind.as_str() {
        "homework_graded" => {
            let Some(r) = sqlx::query(
                "SELECT h.title, u.name, s.student_id FROM submissions s \
                 JOIN homework h ON h.id = s.homework_id JOIN users u ON u.id = s.student_id \
                 WHERE s.id = $1 AND h.deleted_at IS NULL AND s.status = 'graded'",
            )
            .bind(&push.event_id)
            .fetch_optional(db.pool())
            .await?
            else {
                return Ok(None);
            };
            let (title, name, student): (String, String, String) =
                (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
            let who = if student == push.user_id {
                "你".to_owned()
            } else {
                name
            };
            Ok(Some((
                "作业已批改".to_owned(),
                format!("{who}的《{title}》已批改，点开看成绩和评语"),
            )))
        }
        "homework_missing" => {
            let Some((homework, student)) = push.event_id.split_once(':') else {
                return Ok(None);
            };
            let Some(r) = sqlx::query(
                "SELECT h.title, u.name FROM homework h JOIN users u ON u.id = $2 \
                 WHERE h.id = $1 AND h.deleted_at IS NULL AND NOT EXISTS (SELECT 1 FROM \
                 submissions s WHERE s.homework_id = h.id AND s.student_id = $2)",
            )
            .bind(homework)
            .bind(student)
            .fetch_optional(db.pool())
            .await?
            else {
                return Ok(None);
            };
            let (title, name): (String, String) = (r.try_get(0)?, r.try_get(1)?);
            Ok(Some((
                "作业未交".to_owned(),
                format!("{name}还没有交《{title}》，截止时间已过"),
            )))
        }
        "lesson_starting" => {
            let Some(r) = sqlx::query(
                "SELECT title, subject, starts_at FROM lessons WHERE id = $1 \
                 AND status <> 'cancelled' AND cancelled_at IS NULL",
            )
            .bind(&push.item_id)
            .fetch_optional(db.pool())
            .await?
            else {
                return Ok(None);
            };
            let (title, subject, starts_at): (String, String, i64) =
                (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
            if !push.event_id.ends_with(&format!(":{starts_at}")) {
                // Moved: the new time is a new event.
                return Ok(None);
            }
            let offset = match &push.school_id {
                Some(school) => {
                    let mut conn = db.pool().acquire().await?;
                    policy::load(&mut conn, school).await?.utc_offset_minutes
                }
                None => policy::deployment_default().utc_offset_minutes,
            };
            let minute = policy::local_minute(starts_at, offset);
            Ok(Some((
                format!("{subject}课快开始了"),
                format!("《{title}》{:02}:{:02}开始", minute / 60, minute % 60),
            )))
        }
        _ => Ok(None),
    }
}
