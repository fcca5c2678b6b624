//! Between claiming due pushes and sending them: hold what quiet hours or the digest window
//! keep back, and send what one phone has due together as one push.
//!
//! - **Quiet hours**: a non-urgent push to someone inside their school's quiet hours or their
//!   own (`prefs::quiet_hours`, read in the school's local time) goes back in the queue until
//!   they end (`deliver_after`). The rows stay in the database, so a restart loses nothing.
//!   A push about children in several schools (a county notice, a linked lesson, to a parent
//!   of two) waits until none of those schools' quiet hours holds it; a push about one child
//!   follows that child's school, whatever schools the parent's other children are in.
//! - **Digest window**: a phone that got a non-urgent push less than `digest_window` ago gets
//!   the next ones when the window has passed, together.
//! - **Digests**: pushes one phone has due at once (held overnight, or within the window) go
//!   as one message, "来自外沙学校的3条新通知", carrying the newest item's kind and id and the
//!   account's badge. The others are recorded as sent in that digest (`digest_of`), in the
//!   same way as the one it went as, so none is sent again.
//!
//! Urgent pushes skip all of this: each goes at once, on its own.

use std::collections::{BTreeMap, HashMap};

use lianxiao_protocol::{PushPolicy, QuietHours};
use sqlx::Row;

use super::{policy, queue::Claimed};
use crate::db::{Db, placeholders};

/// What is due now, by phone; what is not due was put back in the queue.
pub struct Due {
    /// Each entry: one phone of one account, oldest push first.
    pub phones: Vec<Vec<Claimed>>,
}

/// Splits a claimed batch: non-urgent pushes inside quiet hours or the digest window go back
/// in the queue until they may go; the rest is grouped per (account, phone).
pub async fn hold_and_group(
    db: &Db,
    batch: Vec<Claimed>,
    now: i64,
    window_ms: i64,
) -> sqlx::Result<Due> {
    let calm: Vec<&Claimed> = batch.iter().filter(|p| !p.urgent).collect();
    let mut release: HashMap<String, i64> = HashMap::new();
    if let Some(first) = calm.first() {
        let concerned = super::queue::concerned_schools(db, first.claim()).await?;
        let mut schools: Vec<String> = calm
            .iter()
            .filter_map(|p| p.school_id.clone())
            .chain(concerned.values().flatten().cloned())
            .collect();
        schools.sort_unstable();
        schools.dedup();
        let mut users: Vec<&str> = calm.iter().map(|p| p.user_id.as_str()).collect();
        users.sort_unstable();
        users.dedup();
        let (policies, own) = {
            let mut conn = db.pool().acquire().await?;
            (
                policy::load_many(&mut conn, &schools).await?,
                own_quiet_hours(db, &users).await?,
            )
        };
        let recent = match (window_ms > 0, batch.first()) {
            (true, Some(first)) => {
                super::queue::last_sent(db, first.claim(), now - window_ms).await?
            }
            _ => HashMap::new(),
        };
        let default = policy::deployment_default();
        for p in &calm {
            let mut ids: Vec<&String> = concerned.get(&p.id).into_iter().flatten().collect();
            ids.extend(&p.school_id);
            ids.sort_unstable();
            ids.dedup();
            let mut held_by: Vec<&PushPolicy> = ids
                .into_iter()
                .map(|s| policies.get(s).unwrap_or(&default))
                .collect();
            if held_by.is_empty() {
                held_by.push(&default);
            }
            let mut at = policy::release_at_all(&held_by, own.get(&p.user_id).copied(), now);
            if let Some(last) = recent.get(&(p.user_id.clone(), p.device_id.clone())) {
                at = at.max(last + window_ms);
            }
            if at > now {
                release.insert(p.id.clone(), at);
            }
        }
    }
    // Put back what must wait, one statement per release time.
    let mut by_time: BTreeMap<i64, Vec<&str>> = BTreeMap::new();
    for (id, at) in &release {
        by_time.entry(*at).or_default().push(id.as_str());
    }
    if let Some(first) = batch.first() {
        for (at, ids) in by_time {
            super::queue::defer(db, first.claim(), &ids, at).await?;
        }
    }
    // Group what goes now: urgent ones alone, the rest per phone.
    let mut phones: Vec<Vec<Claimed>> = Vec::new();
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    let mut batch = batch;
    batch.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    for p in batch {
        if release.contains_key(&p.id) {
            continue;
        }
        if p.urgent {
            phones.push(vec![p]);
            continue;
        }
        let key = (p.user_id.clone(), p.device_id.clone());
        match index.get(&key) {
            Some(&i) => phones[i].push(p),
            None => {
                index.insert(key, phones.len());
                phones.push(vec![p]);
            }
        }
    }
    Ok(Due { phones })
}

/// The accounts' own quiet hours, for many at once (the settings' table, migration 0009; see
/// `prefs::quiet_hours` for one).
async fn own_quiet_hours(db: &Db, users: &[&str]) -> sqlx::Result<HashMap<String, QuietHours>> {
    let mut out = HashMap::new();
    for chunk in users.chunks(500) {
        let sql = format!(
            "SELECT user_id, quiet_start, quiet_end FROM notification_settings \
             WHERE quiet_start IS NOT NULL AND quiet_end IS NOT NULL AND user_id IN ({})",
            placeholders(1, chunk.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for u in chunk {
            q = q.bind(*u);
        }
        for r in q.fetch_all(db.pool()).await? {
            let (Ok(start), Ok(end)) = (
                u16::try_from(r.try_get::<i64, _>("quiet_start")?),
                u16::try_from(r.try_get::<i64, _>("quiet_end")?),
            ) else {
                continue;
            };
            let q = QuietHours {
                start_minute: start,
                end_minute: end,
            };
            if q.is_valid() && start != end {
                out.insert(r.try_get("user_id")?, q);
            }
        }
    }
    Ok(out)
}

/// The school a digest may name: the one every item comes from, or none when the items are
/// about children of different schools (a parent with a child in each must not read that all
/// of it came from one).
pub fn one_school<'a>(mut schools: impl Iterator<Item = Option<&'a str>>) -> Option<&'a str> {
    let first = schools.next()??;
    schools.all(|s| s == Some(first)).then_some(first)
}

/// A digest's words: "来自外沙学校的3条新通知", and the newest item's title below.
pub fn digest_text(
    school: Option<&str>,
    count: usize,
    all_notices: bool,
    newest_title: &str,
) -> (String, String) {
    let what = if all_notices {
        "新通知"
    } else {
        "新消息"
    };
    let title = match school {
        Some(name) => format!("来自{name}的{count}条{what}"),
        None => format!("{count}条{what}"),
    };
    (title, format!("最新：{newest_title}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_says_how_many_and_from_where() {
        let (title, body) = digest_text(Some("外沙学校"), 3, true, "春游通知");
        assert_eq!(title, "来自外沙学校的3条新通知");
        assert_eq!(body, "最新：春游通知");
        assert_eq!(digest_text(None, 2, false, "x").0, "2条新消息");
    }

    #[test]
    fn a_digest_names_a_school_only_when_every_item_comes_from_it() {
        let one = [Some("s1"), Some("s1"), Some("s1")];
        assert_eq!(one_school(one.into_iter()), Some("s1"));
        let two = [Some("s1"), Some("s2"), Some("s1")];
        assert_eq!(one_school(two.into_iter()), None);
        let unknown = [Some("s1"), None];
        assert_eq!(one_school(unknown.into_iter()), None);
        assert_eq!(one_school([None, None].into_iter()), None);
    }
}
