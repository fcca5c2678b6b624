//! `GET /v1/sync`: a page of what changed for the caller after their cursor, each thing in its
//! current state or as a tombstone.
//!
//! The cursor is the (seq, kind, id) of the last item handed out, so a page boundary may fall
//! inside one transaction's changes without skipping or repeating any.

use std::collections::HashMap;

use lianxiao_protocol::{EntityKind, SyncItem, SyncPage};
use sqlx::{AnyConnection, Row};

use crate::{
    clock::now_ms,
    error::{ApiError, ApiResult},
    homework, lessons, notices, org, push, replays,
};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Cursor {
    seq: i64,
    kind: String,
    id: String,
}

impl Cursor {
    fn parse(s: &str) -> Option<Cursor> {
        let mut parts = s.splitn(3, ':');
        let seq = parts.next()?.parse().ok()?;
        let kind = parts.next().unwrap_or("").to_owned();
        let id = parts.next().unwrap_or("").to_owned();
        (seq >= 0).then_some(Cursor { seq, kind, id })
    }

    fn encode(&self) -> String {
        format!("{}:{}:{}", self.seq, self.kind, self.id)
    }
}

pub async fn page(
    conn: &mut AnyConnection,
    user_id: &str,
    since: Option<&str>,
    limit: u32,
) -> ApiResult<SyncPage> {
    let cursor = match since.filter(|s| !s.is_empty()) {
        Some(s) => {
            Cursor::parse(s).ok_or_else(|| ApiError::validation("since", "cursor is not valid"))?
        }
        None => Cursor::default(),
    };
    let initial = cursor.seq == 0;
    let limit = limit.clamp(1, lianxiao_protocol::SYNC_PAGE_MAX) as i64;
    let rows = sqlx::query(
        "SELECT kind, entity_id, seq, removed FROM feed WHERE user_id = $1 \
         AND (seq > $2 OR (seq = $2 AND (kind > $3 OR (kind = $3 AND entity_id > $4)))) \
         AND (removed = 0 OR $5 = 1) ORDER BY seq, kind, entity_id LIMIT $6",
    )
    .bind(user_id)
    .bind(cursor.seq)
    .bind(&cursor.kind)
    .bind(&cursor.id)
    .bind(if initial { 0_i64 } else { 1 })
    .bind(limit + 1)
    .fetch_all(&mut *conn)
    .await?;
    let has_more = rows.len() as i64 > limit;
    let mut entries = Vec::with_capacity(rows.len());
    for r in rows.into_iter().take(limit as usize) {
        let kind: String = r.try_get(0)?;
        entries.push((
            EntityKind::parse(&kind),
            Cursor {
                kind,
                id: r.try_get(1)?,
                seq: r.try_get(2)?,
            },
            r.try_get::<i64, _>(3)? != 0,
        ));
    }
    let next = entries.last().map(|(_, c, _)| c.clone()).unwrap_or(cursor);

    // Notices load in batches; the rest of the organisation is small.
    let notice_ids: Vec<String> = entries
        .iter()
        .filter(|(k, _, removed)| *k == Some(EntityKind::Notice) && !removed)
        .map(|(_, c, _)| c.id.clone())
        .collect();
    let mut notices: HashMap<String, _> = notices::load_for_user(conn, user_id, &notice_ids)
        .await?
        .into_iter()
        .map(|n| (n.id.clone(), n))
        .collect();

    let mut items = Vec::with_capacity(entries.len());
    for (kind, c, removed) in entries {
        let Some(kind) = kind else { continue };
        let removed_item = || SyncItem::Removed {
            kind,
            id: c.id.clone(),
        };
        if removed {
            items.push(removed_item());
            continue;
        }
        let item = match kind {
            EntityKind::Notice => notices
                .remove(&c.id)
                .map(|notice| SyncItem::Notice { notice }),
            EntityKind::ReceiptSummary => notices::summary(conn, &c.id)
                .await?
                .map(|summary| SyncItem::ReceiptSummary { summary }),
            EntityKind::Profile => org::load_user_conn(conn, &c.id)
                .await?
                .map(|user| SyncItem::Profile { user }),
            EntityKind::Class => org::load_class(conn, &c.id)
                .await?
                .map(|class| SyncItem::Class { class }),
            EntityKind::LinkGroup => org::load_link_group(conn, &c.id)
                .await?
                .map(|link_group| SyncItem::LinkGroup { link_group }),
            EntityKind::Child => org::load_child(conn, user_id, &c.id)
                .await?
                .map(|child| SyncItem::Child { child }),
            EntityKind::Homework => homework::load_homework(conn, user_id, &c.id)
                .await?
                .map(|homework| SyncItem::Homework { homework }),
            EntityKind::Submission => homework::load_submission(conn, user_id, &c.id)
                .await?
                .map(|submission| SyncItem::Submission { submission }),
            EntityKind::HomeworkSummary => homework::summary(conn, &c.id)
                .await?
                .map(|summary| SyncItem::HomeworkSummary { summary }),
            EntityKind::Lesson => lessons::load_lesson(conn, user_id, &c.id)
                .await?
                .map(|lesson| SyncItem::Lesson { lesson }),
            EntityKind::Replay => replays::load_for(conn, user_id, &c.id)
                .await?
                .map(|replay| SyncItem::Replay { replay }),
            EntityKind::WatchPosition => replays::watch::load_position(conn, user_id, &c.id)
                .await?
                .map(|position| SyncItem::WatchPosition { position }),
            // One per account, under the account's own id.
            EntityKind::NotificationSettings if c.id == user_id => {
                Some(SyncItem::NotificationSettings {
                    settings: push::prefs::load(conn, user_id).await?,
                })
            }
            EntityKind::NotificationSettings => None,
        };
        items.push(item.unwrap_or_else(removed_item));
    }
    Ok(SyncPage {
        items,
        cursor: next.encode(),
        has_more,
        server_time: now_ms(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let c = Cursor {
            seq: 42,
            kind: "notice".into(),
            id: "abc".into(),
        };
        assert_eq!(Cursor::parse(&c.encode()), Some(c));
        assert_eq!(Cursor::parse("7").map(|c| c.seq), Some(7));
        assert_eq!(Cursor::parse("x:y:z"), None);
        assert_eq!(Cursor::parse("-3::"), None);
    }
}
