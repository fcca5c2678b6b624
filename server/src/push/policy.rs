//! What a school allows to be pushed and when: its quiet hours, the daily cap on each class's
//! non-urgent notices, and its offset from UTC (migration 0010; a school without a row keeps
//! `PushPolicy::default()`, 21:30–07:00 in UTC+8, no cap).
//!
//! The time arithmetic is pure and unit-tested here; storage and the cap's count are the SQL
//! below. Quiet hours and days are the school's local ones: a county's schools share one time
//! zone in practice, but a policy says its own offset so nothing assumes it.

use std::collections::HashMap;

use lianxiao_protocol::{NoticeAllowance, PushPolicy, QuietHours, Role};
use sqlx::{AnyConnection, Row};

use crate::{
    db::{Backend, Tx, placeholders},
    error::{ApiError, ApiResult},
    org,
};

/// The policy of schools that set none: `PushPolicy::default()` unless the deployment says
/// otherwise (`LIANXIAO_PUSH_QUIET_HOURS`). Process-wide: one server per process.
static DEPLOYMENT_DEFAULT: std::sync::RwLock<Option<PushPolicy>> = std::sync::RwLock::new(None);

/// Sets the policy of schools that set none (at start-up).
pub fn set_deployment_default(policy: PushPolicy) {
    *DEPLOYMENT_DEFAULT
        .write()
        .unwrap_or_else(|e| e.into_inner()) = Some(policy);
}

/// The policy of schools that set none.
pub fn deployment_default() -> PushPolicy {
    DEPLOYMENT_DEFAULT
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .unwrap_or_default()
}

/// Parses `21:30-07:00` (quiet hours) or `none`.
pub fn parse_quiet_hours(text: &str) -> Option<QuietHours> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("none") {
        return Some(QuietHours {
            start_minute: 0,
            end_minute: 0,
        });
    }
    let minute = |t: &str| -> Option<u16> {
        let (h, m) = t.trim().split_once(':')?;
        let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60).then_some(h * 60 + m)
    };
    let (start, end) = text.split_once('-')?;
    Some(QuietHours {
        start_minute: minute(start)?,
        end_minute: minute(end)?,
    })
}

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 24 * 60 * MINUTE_MS;

/// The local time of day (minutes after midnight) of `at` in a zone `offset_minutes` from UTC.
pub fn local_minute(at: i64, offset_minutes: i32) -> u16 {
    let local = at + i64::from(offset_minutes) * MINUTE_MS;
    (local.rem_euclid(DAY_MS) / MINUTE_MS) as u16
}

/// When the local day containing `at` began, as a Unix instant.
pub fn local_day_start(at: i64, offset_minutes: i32) -> i64 {
    let offset = i64::from(offset_minutes) * MINUTE_MS;
    (at + offset).div_euclid(DAY_MS) * DAY_MS - offset
}

/// When quiet hours that contain `at` end (the next local `end_minute`); `None` when `at` is
/// outside them.
pub fn quiet_until(quiet: QuietHours, at: i64, offset_minutes: i32) -> Option<i64> {
    let minute = local_minute(at, offset_minutes);
    if !quiet.is_valid() || !quiet.contains(minute) {
        return None;
    }
    let day = local_day_start(at, offset_minutes);
    let end_today = day + i64::from(quiet.end_minute) * MINUTE_MS;
    Some(if end_today > at {
        end_today
    } else {
        end_today + DAY_MS
    })
}

/// When a non-urgent push due at `at` may go: after the school's quiet hours and the
/// account's own (both in the school's local time), whichever ends last. `at` if neither holds
/// it. The account's hours may start inside the school's, so both are followed until neither
/// contains the moment.
pub fn release_at(policy: &PushPolicy, own: Option<QuietHours>, at: i64) -> i64 {
    release_at_all(&[policy], own, at)
}

/// [`release_at`] for a push about children in several schools: it waits until none of their
/// schools' quiet hours holds it (each in its own local time), nor the account's own (read
/// in each school's local time). Give at least one policy (the deployment default for a push
/// that names no school): with none, nothing holds the push.
pub fn release_at_all(policies: &[&PushPolicy], own: Option<QuietHours>, at: i64) -> i64 {
    let mut t = at;
    // Spans can chain a few times within a day; the bound only guards odd input.
    for _ in 0..4 * (policies.len() + 1) {
        let held = policies.iter().flat_map(|p| {
            let school = quiet_until(p.quiet_hours, t, p.utc_offset_minutes);
            let mine = own.and_then(|q| quiet_until(q, t, p.utc_offset_minutes));
            school.into_iter().chain(mine)
        });
        match held.max() {
            Some(later) => t = later,
            None => return t,
        }
    }
    t
}

/// Checks a policy a school admin sent.
pub fn validate(policy: &PushPolicy) -> ApiResult<()> {
    if !policy.quiet_hours.is_valid() {
        return Err(ApiError::validation(
            "quiet_hours",
            "quiet hours are minutes after midnight, 0 to 1439",
        ));
    }
    if !(-12 * 60..=14 * 60).contains(&policy.utc_offset_minutes) {
        return Err(ApiError::validation(
            "utc_offset_minutes",
            "the offset from UTC must be between -720 and 840 minutes",
        ));
    }
    if policy.daily_notice_cap.is_some_and(|c| c > 1000) {
        return Err(ApiError::validation(
            "daily_notice_cap",
            "a daily cap above 1000 is no cap; leave it out instead",
        ));
    }
    Ok(())
}

/// A school's policy (the deployment's default when it set none).
pub async fn load(conn: &mut AnyConnection, school_id: &str) -> sqlx::Result<PushPolicy> {
    Ok(load_many(conn, &[school_id.to_owned()])
        .await?
        .remove(school_id)
        .unwrap_or_else(deployment_default))
}

/// Several schools' policies; schools without a row are left out (they keep the default).
pub async fn load_many(
    conn: &mut AnyConnection,
    school_ids: &[String],
) -> sqlx::Result<HashMap<String, PushPolicy>> {
    if school_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!(
        "SELECT school_id, quiet_start, quiet_end, daily_notice_cap, utc_offset_minutes \
         FROM push_policies WHERE school_id IN ({})",
        placeholders(1, school_ids.len())
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for id in school_ids {
        q = q.bind(id);
    }
    let mut out = HashMap::new();
    for r in q.fetch_all(&mut *conn).await? {
        let policy = PushPolicy {
            quiet_hours: QuietHours {
                start_minute: r.try_get::<i64, _>("quiet_start")?.clamp(0, 1439) as u16,
                end_minute: r.try_get::<i64, _>("quiet_end")?.clamp(0, 1439) as u16,
            },
            daily_notice_cap: r
                .try_get::<Option<i64>, _>("daily_notice_cap")?
                .map(|c| c.clamp(0, i64::from(u32::MAX)) as u32),
            utc_offset_minutes: r.try_get::<i64, _>("utc_offset_minutes")? as i32,
        };
        out.insert(r.try_get("school_id")?, policy);
    }
    Ok(out)
}

/// May this account read and change the school's policy: its school admin, or a county admin.
pub async fn may_manage(
    conn: &mut AnyConnection,
    user_id: &str,
    school_id: &str,
) -> sqlx::Result<bool> {
    Ok(
        org::has_role(conn, user_id, Role::SchoolAdmin, Some(school_id)).await?
            || org::has_role(conn, user_id, Role::CountyAdmin, None).await?,
    )
}

/// Whether the school exists.
pub async fn school_exists(conn: &mut AnyConnection, school_id: &str) -> sqlx::Result<bool> {
    Ok(sqlx::query("SELECT 1 FROM schools WHERE id = $1")
        .bind(school_id)
        .fetch_optional(&mut *conn)
        .await?
        .is_some())
}

/// Replaces a school's policy.
pub async fn store(
    tx: &mut Tx,
    school_id: &str,
    policy: &PushPolicy,
    by: &str,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO push_policies (school_id, quiet_start, quiet_end, daily_notice_cap, \
         utc_offset_minutes, updated_by, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (school_id) DO UPDATE SET quiet_start = excluded.quiet_start, \
         quiet_end = excluded.quiet_end, daily_notice_cap = excluded.daily_notice_cap, \
         utc_offset_minutes = excluded.utc_offset_minutes, updated_by = excluded.updated_by, \
         updated_at = excluded.updated_at",
    )
    .bind(school_id)
    .bind(i64::from(policy.quiet_hours.start_minute))
    .bind(i64::from(policy.quiet_hours.end_minute))
    .bind(policy.daily_notice_cap.map(i64::from))
    .bind(i64::from(policy.utc_offset_minutes))
    .bind(by)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A class's school and that school's policy; `None` when there is no such class.
async fn class_policy(
    conn: &mut AnyConnection,
    class_id: &str,
) -> sqlx::Result<Option<PushPolicy>> {
    let Some(row) = sqlx::query("SELECT school_id FROM classes WHERE id = $1")
        .bind(class_id)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    let school: String = row.try_get(0)?;
    Ok(Some(load(conn, &school).await?))
}

/// How many more non-urgent notices the class may send its parents today (local day of its
/// school). Every non-urgent notice that reached the class counts, retracted ones too: the
/// parents were disturbed all the same.
pub async fn allowance(
    conn: &mut AnyConnection,
    class_id: &str,
    now: i64,
) -> ApiResult<NoticeAllowance> {
    let Some(policy) = class_policy(conn, class_id).await? else {
        return Err(ApiError::not_found("class"));
    };
    let since = local_day_start(now, policy.utc_offset_minutes);
    let sent: i64 = sqlx::query(
        "SELECT COUNT(*) FROM notice_classes nc JOIN notices n ON n.id = nc.notice_id \
         WHERE nc.class_id = $1 AND n.urgent = 0 AND n.posted_at >= $2",
    )
    .bind(class_id)
    .bind(since)
    .fetch_one(&mut *conn)
    .await?
    .try_get(0)?;
    let sent_today = u32::try_from(sent).unwrap_or(u32::MAX);
    Ok(NoticeAllowance {
        class_id: class_id.to_owned(),
        daily_cap: policy.daily_notice_cap,
        sent_today,
        remaining: policy
            .daily_notice_cap
            .map(|cap| cap.saturating_sub(sent_today)),
    })
}

/// Before a non-urgent notice to `class_ids` is written: refuses it (409 `daily_notice_cap`,
/// naming the first class at its cap) when any of them has no notice left today. On
/// PostgreSQL the classes' rows are locked first, so two teachers posting at once cannot both
/// take the last one; SQLite's writer lock does the same.
pub async fn check_cap(
    tx: &mut Tx,
    backend: Backend,
    class_ids: &[String],
    now: i64,
) -> ApiResult<()> {
    if backend == Backend::Postgres && !class_ids.is_empty() {
        let sql = format!(
            "SELECT id FROM classes WHERE id IN ({}) ORDER BY id FOR UPDATE",
            placeholders(1, class_ids.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in class_ids {
            q = q.bind(id);
        }
        q.fetch_all(&mut **tx).await?;
    }
    for class_id in class_ids {
        let a = allowance(tx, class_id, now).await?;
        if a.remaining == Some(0) {
            return Err(ApiError::daily_notice_cap(
                class_id,
                a.daily_cap.unwrap_or(0),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-01 00:00 in UTC+8, as a Unix instant.
    const MIDNIGHT_CST: i64 = 1_796_054_400_000;
    const CST: i32 = 480;

    fn at(hour: i64, minute: i64) -> i64 {
        MIDNIGHT_CST + hour * 3_600_000 + minute * MINUTE_MS
    }

    #[test]
    fn local_time_follows_the_school_offset() {
        assert_eq!(local_minute(at(21, 45), CST), 21 * 60 + 45);
        assert_eq!(local_day_start(at(23, 59), CST), MIDNIGHT_CST);
        assert_eq!(local_day_start(at(0, 0), CST), MIDNIGHT_CST);
        assert_eq!(local_minute(at(0, 30), 0), 16 * 60 + 30);
    }

    #[test]
    fn evening_pushes_wait_for_seven_next_morning() {
        let p = PushPolicy::default();
        assert_eq!(release_at(&p, None, at(21, 45)), at(31, 0));
        assert_eq!(release_at(&p, None, at(3, 0)), at(7, 0));
        assert_eq!(release_at(&p, None, at(7, 0)), at(7, 0));
        assert_eq!(release_at(&p, None, at(12, 0)), at(12, 0));
        assert_eq!(release_at(&p, None, at(21, 29)), at(21, 29));
    }

    #[test]
    fn a_parents_own_quiet_hours_add_to_the_schools() {
        let p = PushPolicy::default();
        // 20:00–07:30: held from 20:00, and past the school's 07:00.
        let own = QuietHours {
            start_minute: 20 * 60,
            end_minute: 7 * 60 + 30,
        };
        assert_eq!(release_at(&p, Some(own), at(20, 15)), at(31, 30));
        assert_eq!(release_at(&p, Some(own), at(7, 10)), at(7, 30));
        // A nap at noon, outside the school's.
        let nap = QuietHours {
            start_minute: 12 * 60,
            end_minute: 13 * 60,
        };
        assert_eq!(release_at(&p, Some(nap), at(12, 30)), at(13, 0));
        // Own hours from 06:30 to 08:00 chain onto the school's that end at 07:00.
        let morning = QuietHours {
            start_minute: 6 * 60 + 30,
            end_minute: 8 * 60,
        };
        assert_eq!(release_at(&p, Some(morning), at(23, 0)), at(32, 0));
    }

    #[test]
    fn a_push_about_children_of_two_schools_waits_for_both() {
        let evening = PushPolicy::default(); // 21:30–07:00
        let none = PushPolicy {
            quiet_hours: QuietHours {
                start_minute: 0,
                end_minute: 0,
            },
            ..PushPolicy::default()
        };
        let late_morning = PushPolicy {
            quiet_hours: QuietHours {
                start_minute: 23 * 60,
                end_minute: 8 * 60,
            },
            ..PushPolicy::default()
        };
        // Whichever school comes first, the one whose quiet hours hold it decides.
        assert_eq!(
            release_at_all(&[&none, &evening], None, at(22, 0)),
            at(31, 0)
        );
        assert_eq!(
            release_at_all(&[&evening, &none], None, at(22, 0)),
            at(31, 0)
        );
        assert_eq!(
            release_at_all(&[&evening, &late_morning], None, at(22, 0)),
            at(32, 0)
        );
        assert_eq!(release_at_all(&[&none, &none], None, at(22, 0)), at(22, 0));
        // The account's own hours still apply on top.
        let own = QuietHours {
            start_minute: 7 * 60,
            end_minute: 7 * 60 + 30,
        };
        assert_eq!(
            release_at_all(&[&none, &evening], Some(own), at(22, 0)),
            at(31, 30)
        );
        // A school in another zone is read in its own local time: 22:00 in UTC+8 is 23:00
        // in UTC+9, inside that school's 23:00–08:00 until 08:00 there, 07:00 here.
        let east = PushPolicy {
            utc_offset_minutes: 9 * 60,
            ..late_morning
        };
        assert_eq!(release_at_all(&[&none, &east], None, at(22, 0)), at(31, 0));
    }

    #[test]
    fn no_quiet_hours_hold_nothing() {
        let p = PushPolicy {
            quiet_hours: QuietHours {
                start_minute: 0,
                end_minute: 0,
            },
            ..PushPolicy::default()
        };
        assert_eq!(release_at(&p, None, at(23, 0)), at(23, 0));
    }

    #[test]
    fn quiet_hours_from_the_environment() {
        assert_eq!(
            parse_quiet_hours("21:30-07:00"),
            Some(QuietHours::SCHOOL_DEFAULT)
        );
        assert_eq!(
            parse_quiet_hours("none").map(|q| q.start_minute == q.end_minute),
            Some(true)
        );
        assert_eq!(parse_quiet_hours("25:00-07:00"), None);
        assert_eq!(parse_quiet_hours("22:00"), None);
    }

    #[test]
    fn policies_are_checked() {
        assert!(validate(&PushPolicy::default()).is_ok());
        let mut bad = PushPolicy::default();
        bad.quiet_hours.start_minute = 1440;
        assert_eq!(
            validate(&bad).unwrap_err().body.field.as_deref(),
            Some("quiet_hours")
        );
        let bad = PushPolicy {
            utc_offset_minutes: 15 * 60,
            ..PushPolicy::default()
        };
        assert!(validate(&bad).is_err());
    }
}
