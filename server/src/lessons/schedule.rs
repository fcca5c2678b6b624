//! Scheduling, moving and cancelling lessons. Each write takes the feed's sequence lock before
//! it looks for clashes, so two schedulers racing for one class cannot both win.

use std::collections::BTreeSet;

use lianxiao_protocol::{
    CancelLesson, EntityKind, Lesson, LessonClash, LessonStatus, MAX_LESSONS_PER_SERIES,
    MoveLesson, ScheduleLesson, ScheduledLessons,
};
use sqlx::{AnyConnection, Row};

use super::{AUDIENCE_SQL, access, view};
use crate::{
    db::{Tx, feed, new_id, now_ms},
    error::{ApiError, ApiResult},
    org,
};

const MAX_SUBJECT: usize = 50;
const MAX_TITLE: usize = 200;
const MAX_REASON: usize = 500;
/// Receiving classes in one lesson: the seeds' largest county lesson has 54 classes.
const MAX_RECEIVING: usize = 100;
const MAX_LESSON_MS: i64 = 4 * 3600 * 1000;
const WEEK_MS: i64 = 7 * 24 * 3600 * 1000;

/// How far ahead a lesson may be put: a timetable is planned a term or a year ahead. Also
/// what keeps every later sum of lesson times (repeats, join windows) far from overflowing.
const MAX_AHEAD_MS: i64 = 5 * 366 * 24 * 3600 * 1000;

fn validate_times(starts_at: i64, ends_at: i64, now: i64) -> ApiResult<()> {
    if starts_at <= now {
        return Err(ApiError::validation(
            "starts_at",
            "the lesson must start in the future",
        ));
    }
    if starts_at - now > MAX_AHEAD_MS {
        return Err(ApiError::validation(
            "starts_at",
            "a lesson starts at most five years ahead",
        ));
    }
    let length = ends_at.checked_sub(starts_at).unwrap_or(i64::MAX);
    if length <= 0 || length > MAX_LESSON_MS {
        return Err(ApiError::validation(
            "ends_at",
            "a lesson ends after it starts and lasts at most 4 hours",
        ));
    }
    Ok(())
}

fn text(field: &str, value: &str, max: usize) -> ApiResult<String> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > max {
        return Err(ApiError::validation(
            field,
            format!("{field} must be 1 to {max} characters"),
        ));
    }
    Ok(v.to_owned())
}

/// The starts of a lesson and its weekly repeats.
fn occurrences(starts_at: i64, weekly_until: Option<i64>) -> ApiResult<Vec<i64>> {
    let Some(until) = weekly_until else {
        return Ok(vec![starts_at]);
    };
    if until <= starts_at {
        return Err(ApiError::validation(
            "weekly_until",
            "the series must end after its first lesson starts",
        ));
    }
    // Checked: `starts_at` is bounded by `validate_times`, but the series must not count on it.
    let starts: Vec<i64> = (0..=MAX_LESSONS_PER_SERIES as i64)
        .map_while(|k| starts_at.checked_add(k.checked_mul(WEEK_MS)?))
        .take_while(|s| *s < until)
        .collect();
    if starts.len() > MAX_LESSONS_PER_SERIES {
        return Err(ApiError::validation(
            "weekly_until",
            format!("a series holds at most {MAX_LESSONS_PER_SERIES} lessons"),
        ));
    }
    Ok(starts)
}

async fn class_school(conn: &mut AnyConnection, class_id: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT school_id FROM classes WHERE id = $1")
        .bind(class_id)
        .fetch_optional(conn)
        .await
}

async fn holds(
    conn: &mut AnyConnection,
    user_id: &str,
    class_id: &str,
    roles: &str,
) -> sqlx::Result<bool> {
    let sql = format!(
        "SELECT COUNT(*) FROM memberships WHERE user_id = $1 AND class_id = $2 AND role IN ({roles})"
    );
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(user_id)
        .bind(class_id)
        .fetch_one(conn)
        .await?;
    Ok(n > 0)
}

/// Schedules a lesson or a weekly series; refuses any occurrence that double-books a class or
/// a teacher, naming the lesson in the way.
pub async fn schedule(
    tx: &mut Tx,
    caller_id: &str,
    req: ScheduleLesson,
) -> ApiResult<(ScheduledLessons, i64)> {
    let now = crate::clock::now_ms();
    let subject = text("subject", &req.subject, MAX_SUBJECT)?;
    let title = text("title", &req.title, MAX_TITLE)?;
    validate_times(req.starts_at, req.ends_at, now)?;
    let starts = occurrences(req.starts_at, req.weekly_until)?;

    // Someone with no business with the lead class hears the same whether it exists or not,
    // so class ids cannot be probed; only an admin learns that it does not.
    let lead_school = class_school(tx, &req.lead_class_id).await?;
    let lead_teacher = req.lead_teacher_id.as_deref().unwrap_or(caller_id);
    let admin = access::is_admin_of(tx, caller_id, lead_school.as_deref().unwrap_or("")).await?;
    if lead_teacher != caller_id && !admin {
        return Err(ApiError::forbidden(
            "only a school admin schedules lessons for another teacher",
        ));
    }
    if lead_school.is_none() {
        return Err(match admin {
            true => ApiError::validation("lead_class_id", "the lead class does not exist"),
            false => ApiError::forbidden("you do not teach the lead class"),
        });
    }
    if !holds(tx, lead_teacher, &req.lead_class_id, "'teacher'").await? {
        return Err(if lead_teacher == caller_id && !admin {
            ApiError::forbidden("you do not teach the lead class")
        } else {
            ApiError::validation("lead_teacher_id", "name a teacher of the lead class")
        });
    }

    if req.receiving.len() > MAX_RECEIVING {
        return Err(ApiError::validation(
            "receiving",
            format!("at most {MAX_RECEIVING} receiving classes"),
        ));
    }
    let mut seen = BTreeSet::from([req.lead_class_id.clone()]);
    let receivers = org::receiving_classes(tx, &req.lead_class_id).await?;
    for r in &req.receiving {
        if !seen.insert(r.class_id.clone()) {
            return Err(ApiError::validation(
                "receiving",
                format!("class {} is named twice", r.class_id),
            ));
        }
        // The same answer for a class that does not exist.
        if !receivers.contains(&r.class_id) {
            return Err(ApiError::forbidden(format!(
                "class {} is not a receiving class of the lead class (the same grade in the \
                 link group's branch schools and teaching points)",
                r.class_id
            )));
        }
        if let Some(a) = &r.assistant_id
            && !holds(tx, a, &r.class_id, "'assistant', 'teacher'").await?
        {
            return Err(ApiError::validation(
                "receiving",
                format!(
                    "the assistant named for class {} does not teach there",
                    r.class_id
                ),
            ));
        }
    }

    let series_id = new_id();
    let mut ids = Vec::with_capacity(starts.len());
    for (k, start) in starts.iter().enumerate() {
        // A single lesson's id is its series id, so a lesson is always its own series.
        let id = if k == 0 { series_id.clone() } else { new_id() };
        sqlx::query(
            "INSERT INTO lessons (id, series_id, subject, title, starts_at, ends_at, mode, status, \
             lead_teacher_id, scheduled_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'scheduled', $8, $9, $10, $10)",
        )
        .bind(&id)
        .bind(&series_id)
        .bind(&subject)
        .bind(&title)
        .bind(*start)
        .bind(*start + (req.ends_at - req.starts_at))
        .bind(req.mode.as_str())
        .bind(lead_teacher)
        .bind(caller_id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        insert_class(tx, &id, &req.lead_class_id, true, "").await?;
        let mut staff = BTreeSet::from([lead_teacher.to_owned()]);
        for r in &req.receiving {
            let assistant = r.assistant_id.as_deref().unwrap_or("");
            insert_class(tx, &id, &r.class_id, false, assistant).await?;
            if !assistant.is_empty() {
                staff.insert(assistant.to_owned());
            }
        }
        for user in &staff {
            sqlx::query("INSERT INTO lesson_staff (lesson_id, user_id) VALUES ($1, $2)")
                .bind(&id)
                .bind(user)
                .execute(&mut **tx)
                .await?;
        }
        ids.push(id);
    }

    let seq = feed::next_seq(tx).await?;
    for id in &ids {
        refuse_clash(tx, id).await?;
        feed::touch_many(tx, seq, EntityKind::Lesson, id, false, AUDIENCE_SQL, &[id]).await?;
    }
    let mut lessons = Vec::with_capacity(ids.len());
    for id in &ids {
        lessons.push(view::build(tx, id).await?);
    }
    Ok((ScheduledLessons { series_id, lessons }, seq))
}

async fn insert_class(
    tx: &mut Tx,
    lesson_id: &str,
    class_id: &str,
    lead: bool,
    assistant_id: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO lesson_classes (lesson_id, class_id, lead, assistant_id) VALUES ($1, $2, $3, $4)",
    )
    .bind(lesson_id)
    .bind(class_id)
    .bind(lead as i64)
    .bind(assistant_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// 409 naming the first lesson that shares a class or a teacher with `lesson_id` at an
/// overlapping time. Call with the sequence lock held.
async fn refuse_clash(tx: &mut Tx, lesson_id: &str) -> ApiResult<()> {
    const OVERLAP: &str =
        "o.status <> 'cancelled' AND o.starts_at < n.ends_at AND o.ends_at > n.starts_at";
    let by_class = format!(
        "SELECT o.id, o.title, o.starts_at, o.ends_at, n.starts_at AS requested, b.class_id AS what \
         FROM lessons n JOIN lesson_classes a ON a.lesson_id = n.id \
         JOIN lesson_classes b ON b.class_id = a.class_id AND b.lesson_id <> n.id \
         JOIN lessons o ON o.id = b.lesson_id WHERE n.id = $1 AND {OVERLAP} ORDER BY o.starts_at LIMIT 1"
    );
    let by_teacher = format!(
        "SELECT o.id, o.title, o.starts_at, o.ends_at, n.starts_at AS requested, b.user_id AS what \
         FROM lessons n JOIN lesson_staff a ON a.lesson_id = n.id \
         JOIN lesson_staff b ON b.user_id = a.user_id AND b.lesson_id <> n.id \
         JOIN lessons o ON o.id = b.lesson_id WHERE n.id = $1 AND {OVERLAP} ORDER BY o.starts_at LIMIT 1"
    );
    for (sql, is_class) in [(by_class, true), (by_teacher, false)] {
        let Some(r) = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(lesson_id)
            .fetch_optional(&mut **tx)
            .await?
        else {
            continue;
        };
        let what: String = r.try_get("what")?;
        let clash = LessonClash {
            lesson_id: r.try_get("id")?,
            title: r.try_get("title")?,
            starts_at: r.try_get("starts_at")?,
            ends_at: r.try_get("ends_at")?,
            class_id: is_class.then(|| what.clone()),
            teacher_id: (!is_class).then_some(what),
            requested_start: r.try_get("requested")?,
        };
        let mut e = ApiError::conflict(format!(
            "{} is already booked for lesson {} (\"{}\") at that time",
            if is_class { "a class" } else { "a teacher" },
            clash.lesson_id,
            clash.title,
        ));
        e.body.field = Some("starts_at".into());
        e.body.clash = Some(Box::new(clash));
        return Err(e);
    }
    Ok(())
}

async fn managed(tx: &mut Tx, caller_id: &str, id: &str) -> ApiResult<access::LessonRow> {
    let (row, standing) = access::visible_lesson(tx, caller_id, id).await?;
    if !standing.manages() {
        return Err(ApiError::forbidden(
            "only the lead teacher or an admin changes a lesson",
        ));
    }
    Ok(row)
}

/// Moves a lesson that has not started to another time, if nothing clashes there.
pub async fn move_lesson(
    tx: &mut Tx,
    caller_id: &str,
    id: &str,
    req: MoveLesson,
) -> ApiResult<(Lesson, i64)> {
    let row = managed(tx, caller_id, id).await?;
    if row.status != LessonStatus::Scheduled {
        return Err(ApiError::conflict(format!(
            "a {} lesson cannot be moved",
            row.status.as_str()
        )));
    }
    let now = crate::clock::now_ms();
    validate_times(req.starts_at, req.ends_at, now)?;
    if (req.starts_at, req.ends_at) == (row.starts_at, row.ends_at) {
        let seq = feed::next_seq(tx).await?;
        return Ok((view::build(tx, id).await?, seq));
    }
    sqlx::query(
        "UPDATE lessons SET starts_at = $2, ends_at = $3, moved_from = $4, updated_at = $5 WHERE id = $1",
    )
    .bind(id)
    .bind(req.starts_at)
    .bind(req.ends_at)
    .bind(row.starts_at)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    let seq = feed::next_seq(tx).await?;
    refuse_clash(tx, id).await?;
    feed::touch_many(tx, seq, EntityKind::Lesson, id, false, AUDIENCE_SQL, &[id]).await?;
    Ok((view::build(tx, id).await?, seq))
}

/// Cancels a lesson (and, when asked, the series' later ones that have not started).
/// Cancelling a cancelled lesson changes nothing.
pub async fn cancel(
    tx: &mut Tx,
    caller_id: &str,
    id: &str,
    req: CancelLesson,
) -> ApiResult<(Vec<Lesson>, i64)> {
    let row = managed(tx, caller_id, id).await?;
    if matches!(row.status, LessonStatus::Ended) {
        return Err(ApiError::conflict("an ended lesson cannot be cancelled"));
    }
    let reason = req.reason.trim();
    if reason.chars().count() > MAX_REASON {
        return Err(ApiError::validation(
            "reason",
            format!("reason must be at most {MAX_REASON} characters"),
        ));
    }
    let mut ids: Vec<String> = Vec::new();
    if row.status != LessonStatus::Cancelled {
        ids.push(row.id.clone());
    }
    if req.and_following {
        ids.extend(
            sqlx::query_scalar::<_, String>(
                "SELECT id FROM lessons WHERE series_id = $1 AND starts_at > $2 \
                 AND status = 'scheduled' ORDER BY starts_at",
            )
            .bind(&row.series_id)
            .bind(row.starts_at)
            .fetch_all(&mut **tx)
            .await?,
        );
    }
    let now = now_ms();
    for lesson in &ids {
        sqlx::query(
            "UPDATE lessons SET status = 'cancelled', cancelled_at = $2, cancel_reason = $3, \
             updated_at = $2 WHERE id = $1",
        )
        .bind(lesson)
        .bind(now)
        .bind(reason)
        .execute(&mut **tx)
        .await?;
    }
    let seq = feed::next_seq(tx).await?;
    for lesson in &ids {
        feed::touch_many(
            tx,
            seq,
            EntityKind::Lesson,
            lesson,
            false,
            AUDIENCE_SQL,
            &[lesson],
        )
        .await?;
    }
    let mut out = vec![view::build(tx, id).await?];
    for lesson in ids.iter().filter(|l| *l != id) {
        out.push(view::build(tx, lesson).await?);
    }
    Ok((out, seq))
}
