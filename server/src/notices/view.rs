//! Notices as one person sees them: the author's view, or a recipient's with their receipt
//! and the children it concerns.

use std::collections::HashMap;

use lianxiao_protocol::{MyReceipt, Notice, PersonRef, Role};
use sqlx::{AnyConnection, Row};

use crate::{
    db::placeholders,
    error::{ApiError, ApiResult},
};

use super::flag;

#[derive(Debug, Default, Clone)]
pub struct NoticeQuery {
    pub child_id: Option<String>,
    pub unread_first: bool,
    pub limit: u32,
}

/// The notices among `ids` that `user_id` wrote or received, in the order of `ids`.
/// Retracted ones and ones they cannot see are left out.
pub async fn load_for_user(
    conn: &mut AnyConnection,
    user_id: &str,
    ids: &[String],
) -> sqlx::Result<Vec<Notice>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(400) {
        out.extend(load_chunk(conn, user_id, chunk).await?);
    }
    Ok(out)
}

async fn load_chunk(
    conn: &mut AnyConnection,
    user_id: &str,
    ids: &[String],
) -> sqlx::Result<Vec<Notice>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = placeholders(2, ids.len());
    let bind_all = |sql: String| {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(user_id.to_owned());
        for id in ids {
            q = q.bind(id.clone());
        }
        q
    };

    let mut receipts: HashMap<String, MyReceipt> = HashMap::new();
    let rows = bind_all(format!(
        "SELECT notice_id, role, read_at, acked_at, reminded_at FROM notice_receipts \
         WHERE user_id = $1 AND notice_id IN ({list})"
    ))
    .fetch_all(&mut *conn)
    .await?;
    for r in rows {
        receipts.insert(
            r.try_get("notice_id")?,
            MyReceipt {
                role: Role::parse(&r.try_get::<String, _>("role")?).unwrap_or(Role::Parent),
                children: Vec::new(),
                read_at: r.try_get("read_at")?,
                acked_at: r.try_get("acked_at")?,
                reminded_at: r.try_get("reminded_at")?,
            },
        );
    }
    let rows = bind_all(format!(
        "SELECT DISTINCT t.notice_id, t.child_id, u.name FROM notice_targets t JOIN users u ON u.id = t.child_id \
         WHERE t.user_id = $1 AND t.child_id <> '' AND t.notice_id IN ({list}) ORDER BY u.name"
    ))
    .fetch_all(&mut *conn)
    .await?;
    for r in rows {
        let notice_id: String = r.try_get(0)?;
        if let Some(receipt) = receipts.get_mut(&notice_id) {
            receipt.children.push(PersonRef {
                id: r.try_get(1)?,
                name: r.try_get(2)?,
            });
        }
    }

    let rows = bind_all(format!(
        "SELECT n.id, n.title, n.body, n.author_id, u.name AS author_name, n.audience_label, n.include_students, \
         n.requires_ack, n.ack_deadline, n.posted_at, n.urgent FROM notices n JOIN users u ON u.id = n.author_id \
         WHERE n.retracted_at IS NULL AND n.id IN ({list})"
    ))
    .fetch_all(&mut *conn)
    .await?;
    let mut by_id = HashMap::new();
    for r in rows {
        let id: String = r.try_get("id")?;
        let author_id: String = r.try_get("author_id")?;
        let authored = author_id == user_id;
        let receipt = receipts.remove(&id);
        if !authored && receipt.is_none() {
            continue;
        }
        by_id.insert(
            id.clone(),
            Notice {
                id,
                title: r.try_get("title")?,
                body: r.try_get("body")?,
                author: PersonRef {
                    id: author_id,
                    name: r.try_get("author_name")?,
                },
                audience_label: r.try_get("audience_label")?,
                include_students: flag(r.try_get("include_students")?),
                requires_ack: flag(r.try_get("requires_ack")?),
                ack_deadline: r.try_get("ack_deadline")?,
                posted_at: r.try_get("posted_at")?,
                urgent: flag(r.try_get("urgent")?),
                authored,
                receipt,
            },
        );
    }
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

/// One notice, if the caller wrote or received it. Others' notices are "not found", so their
/// existence does not leak.
pub async fn get(conn: &mut AnyConnection, user_id: &str, notice_id: &str) -> ApiResult<Notice> {
    load_for_user(conn, user_id, &[notice_id.to_owned()])
        .await?
        .pop()
        .ok_or_else(|| ApiError::not_found("notice"))
}

/// The caller's notices, newest first (unread first when asked), optionally only those that
/// concern one of their children.
pub async fn list(
    conn: &mut AnyConnection,
    user_id: &str,
    query: &NoticeQuery,
) -> ApiResult<Vec<Notice>> {
    let limit = query.limit.clamp(1, 500) as i64;
    let rows = match &query.child_id {
        Some(child_id) => {
            sqlx::query(
                "SELECT n.id FROM notices n WHERE n.retracted_at IS NULL AND EXISTS \
                 (SELECT 1 FROM notice_targets t WHERE t.notice_id = n.id AND t.user_id = $1 AND t.child_id = $2) \
                 ORDER BY n.posted_at DESC LIMIT $3",
            )
            .bind(user_id)
            .bind(child_id)
            .bind(limit)
            .fetch_all(&mut *conn)
            .await?
        }
        None => {
            sqlx::query(
                "SELECT n.id FROM notices n WHERE n.retracted_at IS NULL AND (n.author_id = $1 OR EXISTS \
                 (SELECT 1 FROM notice_receipts r WHERE r.notice_id = n.id AND r.user_id = $1)) \
                 ORDER BY n.posted_at DESC LIMIT $2",
            )
            .bind(user_id)
            .bind(limit)
            .fetch_all(&mut *conn)
            .await?
        }
    };
    let ids = rows
        .into_iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<sqlx::Result<Vec<_>>>()?;
    let mut notices = load_for_user(conn, user_id, &ids).await?;
    if query.unread_first {
        // Stable: keeps newest-first within the unread and the read.
        notices.sort_by_key(|n| n.receipt.as_ref().is_none_or(|r| r.read_at.is_some()));
    }
    Ok(notices)
}
