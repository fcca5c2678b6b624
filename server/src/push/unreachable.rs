//! Parents nothing reaches. Push is not enough on its own (no registration, a provider down, a
//! phone that never takes pushes), so the server remembers each account's last contact (a sync
//! or a realtime connection) and, from the push queue, the last push a provider accepted for
//! it. A parent with neither for `LIANXIAO_UNREACHABLE_AFTER_HOURS` (default 72) is listed for
//! the class's teachers with the phone number on record, so the school can call.

use std::{collections::HashMap, sync::Mutex, time::Duration};

use lianxiao_protocol::{PersonRef, Role, UnreachableParent};
use sqlx::{AnyConnection, Row};

use crate::{
    db::Db,
    error::{ApiError, ApiResult},
    org,
};

/// How long without contact or an accepted push before a parent is listed.
pub const DEFAULT_UNREACHABLE_AFTER: Duration = Duration::from_secs(72 * 3600);

/// Contact is written at most this often per account: a busy parent's every sync would
/// otherwise be a write.
const CONTACT_EVERY_MS: i64 = 60_000;

/// When this process last wrote each account's contact (the throttle; the database keeps the
/// time itself, so several server instances each write at most once a minute).
#[derive(Default)]
pub struct Contacts {
    written: Mutex<HashMap<String, i64>>,
}

impl Contacts {
    /// Records that `user_id`'s app was in touch at `now` (the server clock), unless this
    /// process did so less than a minute ago. Written in the background: a failed write only
    /// makes the account look quieter than it is, and must not fail the sync.
    pub fn touch(&self, db: &Db, user_id: &str, now: i64) {
        if !self.due(user_id, now) {
            return;
        }
        let db = db.clone();
        let user_id = user_id.to_owned();
        tokio::spawn(async move {
            let result = sqlx::query(
                "INSERT INTO account_contacts (user_id, last_seen_at) VALUES ($1, $2) \
                 ON CONFLICT (user_id) DO UPDATE SET last_seen_at = excluded.last_seen_at \
                 WHERE account_contacts.last_seen_at < excluded.last_seen_at",
            )
            .bind(&user_id)
            .bind(now)
            .execute(db.pool())
            .await;
            if let Err(e) = result {
                tracing::warn!(error = %e, "recording an account's contact failed");
            }
        });
    }
}

impl Contacts {
    /// Whether `user_id`'s contact at `now` is to be written (and, if so, noted as written).
    /// A clock moved back (the test clock) writes again; the database keeps the latest time.
    fn due(&self, user_id: &str, now: i64) -> bool {
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&at) = written.get(user_id)
            && (0..CONTACT_EVERY_MS).contains(&(now - at))
        {
            return false;
        }
        written.insert(user_id.to_owned(), now);
        true
    }
}

/// The class's parents whom nothing reached since `now - after`, for the class's teachers and
/// assistants, its school's admin and county admins (others: forbidden; no such class: not
/// found).
pub async fn list(
    conn: &mut AnyConnection,
    caller_id: &str,
    class_id: &str,
    now: i64,
    after: Duration,
) -> ApiResult<Vec<UnreachableParent>> {
    if org::load_class(conn, class_id).await?.is_none() {
        return Err(ApiError::not_found("class"));
    }
    let allowed = org::teachable_classes(conn, caller_id)
        .await?
        .contains(class_id)
        || org::has_role(conn, caller_id, Role::CountyAdmin, None).await?;
    if !allowed {
        return Err(ApiError::forbidden(
            "only the class's teachers and its school's admins see who cannot be reached",
        ));
    }
    let cutoff = now.saturating_sub(i64::try_from(after.as_millis()).unwrap_or(i64::MAX));
    let rows = sqlx::query(
        "SELECT p.user_id AS parent_id, pu.name AS parent_name, pu.phone AS phone, \
         s.user_id AS child_id, su.name AS child_name, \
         (SELECT c.last_seen_at FROM account_contacts c WHERE c.user_id = p.user_id) AS last_seen_at, \
         (SELECT MAX(x.finished_at) FROM pushes x WHERE x.user_id = p.user_id AND x.state = 'sent') \
           AS last_push_at \
         FROM memberships s \
         JOIN memberships p ON p.child_id = s.user_id AND p.role = 'parent' \
         JOIN users pu ON pu.id = p.user_id JOIN users su ON su.id = s.user_id \
         WHERE s.class_id = $1 AND s.role = 'student' ORDER BY pu.name, p.user_id, su.name",
    )
    .bind(class_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut out: Vec<UnreachableParent> = Vec::new();
    for r in rows {
        let parent_id: String = r.try_get("parent_id")?;
        let child = PersonRef {
            id: r.try_get("child_id")?,
            name: r.try_get("child_name")?,
        };
        if let Some(last) = out.last_mut()
            && last.parent.id == parent_id
        {
            last.children.push(child);
            continue;
        }
        out.push(UnreachableParent {
            parent: PersonRef {
                id: parent_id,
                name: r.try_get("parent_name")?,
            },
            children: vec![child],
            phone: r.try_get("phone")?,
            last_seen_at: r.try_get("last_seen_at")?,
            last_push_at: r.try_get("last_push_at")?,
        });
    }
    out.retain(|p| is_unreachable(p.last_seen_at, p.last_push_at, cutoff));
    Ok(out)
}

/// Nothing since `cutoff`: neither a contact nor an accepted push (never counts as long ago).
fn is_unreachable(last_seen_at: Option<i64>, last_push_at: Option<i64>, cutoff: i64) -> bool {
    last_seen_at.max(last_push_at).is_none_or(|at| at < cutoff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contact_is_written_at_most_once_a_minute_per_account() {
        let contacts = Contacts::default();
        assert!(contacts.due("p_li", 1_000));
        assert!(!contacts.due("p_li", 1_000 + CONTACT_EVERY_MS - 1));
        assert!(contacts.due("p_zhao", 1_500), "each account on its own");
        assert!(contacts.due("p_li", 1_000 + CONTACT_EVERY_MS));
        assert!(contacts.due("p_li", 0), "a clock moved back writes again");
    }

    #[test]
    fn reached_by_either_contact_or_push() {
        assert!(is_unreachable(None, None, 100));
        assert!(is_unreachable(Some(99), Some(50), 100));
        assert!(!is_unreachable(Some(100), None, 100));
        assert!(!is_unreachable(None, Some(150), 100));
        assert!(!is_unreachable(Some(10), Some(150), 100));
    }
}
