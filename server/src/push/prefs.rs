//! What each account wants pushed: per child (for parents) which kinds of notification, and
//! the account's own quiet hours. Stored sparsely (migration 0009): an account that never
//! changed anything has no rows and gets the defaults, every kind on and no quiet hours of
//! its own.
//!
//! Two ways in for the push queue: [`wants`] and [`quiet_hours`] for one account at a time,
//! and [`wants_sql`] / [`notice_wanted_sql`], conditions to put inside set-based statements, so
//! queuing a county-wide notice stays a handful of statements whatever the settings.

use std::collections::BTreeSet;

use lianxiao_protocol::{
    ChildNotifications, EntityKind, NotificationKinds, NotificationSettings, QuietHours,
    UpdateNotificationSettings,
};
use sqlx::{AnyConnection, Row};

use crate::{
    db::{Tx, feed, now_ms},
    error::{ApiError, ApiResult},
};

/// One kind of notification a parent can turn off, as the queue asks about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrefKind {
    Notices,
    HomeworkGraded,
    HomeworkMissing,
    LessonStarting,
}

impl PrefKind {
    /// Its column in `notification_kinds`.
    fn column(self) -> &'static str {
        match self {
            PrefKind::Notices => "notices",
            PrefKind::HomeworkGraded => "homework_graded",
            PrefKind::HomeworkMissing => "homework_missing",
            PrefKind::LessonStarting => "lesson_starting",
        }
    }
}

/// Whether `user_id` wants pushes of `kind` about `child_id` (their own id for students and
/// teachers). Urgent notices are not asked about: they always come.
pub async fn wants(
    conn: &mut AnyConnection,
    user_id: &str,
    child_id: &str,
    kind: PrefKind,
) -> sqlx::Result<bool> {
    let sql = format!(
        "SELECT {} FROM notification_kinds WHERE user_id = $1 AND child_id = $2",
        kind.column()
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(user_id)
        .bind(child_id)
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        Some(row) => Ok(row.try_get::<i64, _>(0)? != 0),
        None => Ok(true),
    }
}

/// The account's own quiet hours (kept on top of its school's), if it set any.
pub async fn quiet_hours(
    conn: &mut AnyConnection,
    user_id: &str,
) -> sqlx::Result<Option<QuietHours>> {
    let row = sqlx::query(
        "SELECT quiet_start, quiet_end FROM notification_settings WHERE user_id = $1 \
         AND quiet_start IS NOT NULL AND quiet_end IS NOT NULL",
    )
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match row {
        Some(row) => quiet(row.try_get("quiet_start")?, row.try_get("quiet_end")?),
        None => None,
    })
}

/// A SQL condition, true when the account `user_expr` wants `kind` about child `child_expr`
/// (both SQL expressions, e.g. column names of the surrounding statement).
pub fn wants_sql(kind: PrefKind, user_expr: &str, child_expr: &str) -> String {
    format!(
        "COALESCE((SELECT nk.{col} FROM notification_kinds nk WHERE nk.user_id = {user_expr} \
         AND nk.child_id = {child_expr}), 1) <> 0",
        col = kind.column()
    )
}

/// A SQL condition on a notice receipt (alias `r`, with `r.notice_id` and `r.user_id`): true
/// when its recipient wants notices about at least one child the notice concerns (a student
/// recipient is asked about themself). A parent of two children in different classes gets a
/// notice to both classes if either child's notices are on.
pub fn notice_wanted_sql(r: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM notice_targets nt WHERE nt.notice_id = {r}.notice_id \
         AND nt.user_id = {r}.user_id AND {wanted})",
        wanted = wants_sql(
            PrefKind::Notices,
            "nt.user_id",
            "CASE WHEN nt.child_id = '' THEN nt.user_id ELSE nt.child_id END"
        )
    )
}

/// Why a push was not sent to someone who turned its kind off (the push's `reason`).
pub const TURNED_OFF: &str = "turned_off";

/// Right after a notice's pushes are queued (same transaction): the pushes to recipients who
/// turned notices off for every child it concerns are finished as skipped, `turned_off`, so
/// the author's view says why. Urgent notices always come. Only accounts with some kind
/// turned off are looked at, so this costs nothing for families on the defaults.
pub async fn skip_unwanted_notice(
    tx: &mut Tx,
    notice_id: &str,
    urgent: bool,
    now: i64,
) -> sqlx::Result<u64> {
    if urgent {
        return Ok(0);
    }
    let sql = format!(
        "UPDATE pushes SET state = 'skipped', reason = $3, finished_at = $2 \
         WHERE event_kind = 'notice' AND event_id = $1 AND state = 'queued' \
         AND user_id IN (SELECT user_id FROM notification_kinds WHERE notices = 0) \
         AND NOT EXISTS (SELECT 1 FROM notice_receipts r WHERE r.notice_id = $1 \
           AND r.user_id = pushes.user_id AND {})",
        notice_wanted_sql("r")
    );
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(notice_id)
        .bind(now)
        .bind(TURNED_OFF)
        .execute(&mut **tx)
        .await?
        .rows_affected())
}

fn quiet(start: Option<i64>, end: Option<i64>) -> Option<QuietHours> {
    let q = QuietHours {
        start_minute: u16::try_from(start?).ok()?,
        end_minute: u16::try_from(end?).ok()?,
    };
    (q.is_valid() && q.start_minute != q.end_minute).then_some(q)
}

/// Whom an account's settings are about: a parent's children, and the account itself when it
/// holds any other role (a student, a teacher, a teacher who is also a parent).
pub async fn subjects(conn: &mut AnyConnection, user_id: &str) -> sqlx::Result<Vec<String>> {
    let rows = sqlx::query(
        "SELECT child_id AS id FROM memberships WHERE user_id = $1 AND role = 'parent' \
         AND child_id <> '' \
         UNION SELECT user_id AS id FROM memberships WHERE user_id = $1 AND role <> 'parent'",
    )
    .bind(user_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut ids: Vec<String> = rows
        .into_iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<sqlx::Result<_>>()?;
    ids.sort();
    Ok(ids)
}

/// The account's settings: one entry per child it may see (defaults filled in).
pub async fn load(conn: &mut AnyConnection, user_id: &str) -> sqlx::Result<NotificationSettings> {
    let head = sqlx::query(
        "SELECT quiet_start, quiet_end, updated_at FROM notification_settings WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await?;
    let (quiet_hours, updated_at) = match head {
        Some(r) => (
            quiet(r.try_get("quiet_start")?, r.try_get("quiet_end")?),
            r.try_get("updated_at")?,
        ),
        None => (None, 0),
    };
    let rows = sqlx::query(
        "SELECT child_id, notices, homework_graded, homework_missing, lesson_starting \
         FROM notification_kinds WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut stored = std::collections::HashMap::new();
    for r in rows {
        let on = |c: &str| r.try_get::<i64, _>(c).map(|v| v != 0);
        stored.insert(
            r.try_get::<String, _>("child_id")?,
            NotificationKinds {
                notices: on("notices")?,
                homework_graded: on("homework_graded")?,
                homework_missing: on("homework_missing")?,
                lesson_starting: on("lesson_starting")?,
            },
        );
    }
    let children = subjects(conn, user_id)
        .await?
        .into_iter()
        .map(|child_id| ChildNotifications {
            kinds: stored.remove(&child_id).unwrap_or_default(),
            child_id,
        })
        .collect();
    Ok(NotificationSettings {
        quiet_hours,
        children,
        updated_at,
    })
}

/// Replaces the account's settings (children left out go back to the defaults) and tells every
/// phone of the account through sync. Refuses, changing nothing, a child the account may not
/// see or names twice (`children`) and quiet hours outside a day (`quiet_hours`). Returns the
/// settings as now stored and the feed sequence.
pub async fn update(
    tx: &mut Tx,
    user_id: &str,
    req: &UpdateNotificationSettings,
) -> ApiResult<(NotificationSettings, i64)> {
    if let Some(q) = req.quiet_hours
        && !q.is_valid()
    {
        return Err(ApiError::validation(
            "quiet_hours",
            "quiet hours are minutes after midnight, 0 to 1439",
        ));
    }
    let allowed: BTreeSet<String> = subjects(tx, user_id).await?.into_iter().collect();
    let mut seen = BTreeSet::new();
    for c in &req.children {
        if !allowed.contains(&c.child_id) {
            return Err(ApiError::validation(
                "children",
                format!("{} is not a child of this account", c.child_id),
            ));
        }
        if !seen.insert(c.child_id.as_str()) {
            return Err(ApiError::validation(
                "children",
                format!("{} is named twice", c.child_id),
            ));
        }
    }
    let now = now_ms();
    // Equal bounds mean no quiet hours: stored as none.
    let q = req.quiet_hours.filter(|q| q.start_minute != q.end_minute);
    sqlx::query(
        "INSERT INTO notification_settings (user_id, quiet_start, quiet_end, updated_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (user_id) DO UPDATE SET \
         quiet_start = excluded.quiet_start, quiet_end = excluded.quiet_end, \
         updated_at = excluded.updated_at",
    )
    .bind(user_id)
    .bind(q.map(|q| i64::from(q.start_minute)))
    .bind(q.map(|q| i64::from(q.end_minute)))
    .bind(now)
    .execute(&mut **tx)
    .await?;
    sqlx::query("DELETE FROM notification_kinds WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    for c in req
        .children
        .iter()
        .filter(|c| c.kinds != NotificationKinds::default())
    {
        sqlx::query(
            "INSERT INTO notification_kinds (user_id, child_id, notices, homework_graded, \
             homework_missing, lesson_starting) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(user_id)
        .bind(&c.child_id)
        .bind(i64::from(c.kinds.notices))
        .bind(i64::from(c.kinds.homework_graded))
        .bind(i64::from(c.kinds.homework_missing))
        .bind(i64::from(c.kinds.lesson_starting))
        .execute(&mut **tx)
        .await?;
    }
    let seq = feed::next_seq(tx).await?;
    feed::touch(
        tx,
        seq,
        user_id,
        EntityKind::NotificationSettings,
        user_id,
        false,
    )
    .await?;
    Ok((load(tx, user_id).await?, seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_quiet_hours_outside_a_day_or_empty_are_none() {
        assert_eq!(
            quiet(Some(1320), Some(390)),
            Some(QuietHours {
                start_minute: 1320,
                end_minute: 390
            })
        );
        assert_eq!(quiet(Some(600), Some(600)), None);
        assert_eq!(quiet(Some(1440), Some(0)), None);
        assert_eq!(quiet(Some(-1), Some(0)), None);
        assert_eq!(quiet(None, Some(0)), None);
    }

    #[test]
    fn the_conditions_name_the_columns() {
        let sql = wants_sql(PrefKind::HomeworkGraded, "s.parent_id", "s.student_id");
        assert!(sql.contains("nk.homework_graded"));
        assert!(sql.contains("nk.user_id = s.parent_id"));
        assert!(notice_wanted_sql("r").contains("nt.notice_id = r.notice_id"));
    }
}
