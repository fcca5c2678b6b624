//! Unsent mutations. Each row carries the idempotency key it was created with, so a resend
//! after a crash or a lost response is the same request to the server.

use lianxiao_protocol::Millis;
use rusqlite::{Connection, OptionalExtension, params};

use crate::{
    Result,
    outbox::{OutboxFailure, OutboxKind},
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OutboxItem {
    pub id: i64,
    pub key: String,
    pub kind: OutboxKind,
    pub notice_id: String,
    pub body: Option<String>,
    pub attempts: u32,
}

/// Queues a mutation with a fresh idempotency key; returns the row id.
pub(crate) fn enqueue(
    conn: &Connection,
    kind: OutboxKind,
    notice_id: &str,
    body: Option<&str>,
    now: Millis,
) -> Result<i64> {
    let key = uuid::Uuid::new_v4().to_string();
    conn.prepare_cached(
        "INSERT INTO outbox (idempotency_key, kind, notice_id, body, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![key, kind.as_str(), notice_id, body, now])?;
    Ok(conn.last_insert_rowid())
}

fn item(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxItem> {
    let kind: String = r.get(2)?;
    Ok(OutboxItem {
        id: r.get(0)?,
        key: r.get(1)?,
        kind: OutboxKind::parse(&kind).unwrap_or(OutboxKind::Read),
        notice_id: r.get(3)?,
        body: r.get(4)?,
        attempts: r.get(5)?,
    })
}

/// The oldest pending item whose retry time has come.
pub(crate) fn next_due(conn: &Connection, now: Millis) -> Result<Option<OutboxItem>> {
    Ok(conn
        .prepare_cached(
            "SELECT id, idempotency_key, kind, notice_id, body, attempts FROM outbox \
             WHERE state = 'pending' AND next_attempt_at <= ?1 AND NOT EXISTS (SELECT 1 FROM uploads u \
               WHERE u.batch IN ('handin:' || outbox.notice_id, 'review:' || outbox.notice_id) AND u.state NOT IN ('done', 'failed')) ORDER BY id LIMIT 1",
        )?
        .query_row([now], item)
        .optional()?)
}

/// Every pending item, due or not, oldest first.
pub(crate) fn pending(conn: &Connection) -> Result<Vec<OutboxItem>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, idempotency_key, kind, notice_id, body, attempts FROM outbox \
         WHERE state = 'pending' ORDER BY id",
    )?;
    let rows = stmt.query_map([], item)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// When the earliest pending item becomes due, if any is pending.
pub(crate) fn next_due_at(conn: &Connection) -> Result<Option<Millis>> {
    Ok(conn
        .prepare_cached(
            "SELECT min(next_attempt_at) FROM outbox WHERE state = 'pending' AND NOT EXISTS \
             (SELECT 1 FROM uploads u WHERE u.batch IN ('handin:' || outbox.notice_id, 'review:' || outbox.notice_id) AND u.state NOT IN ('done', 'failed'))",
        )?
        .query_row([], |r| r.get(0))?)
}

pub(crate) fn pending_count(conn: &Connection) -> Result<usize> {
    let n: i64 = conn
        .prepare_cached("SELECT count(*) FROM outbox WHERE state = 'pending'")?
        .query_row([], |r| r.get(0))?;
    Ok(n as usize)
}

/// Is this item still queued (not sent by someone else, not removed by a tombstone)?
pub(crate) fn is_pending(conn: &Connection, id: i64) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM outbox WHERE id = ?1 AND state = 'pending'")?
        .query_row([id], |_| Ok(()))
        .optional()?
        .is_some())
}

pub(crate) fn retry_later(conn: &Connection, id: i64, attempts: u32, at: Millis) -> Result<()> {
    conn.prepare_cached("UPDATE outbox SET attempts = ?2, next_attempt_at = ?3 WHERE id = ?1")?
        .execute(params![id, attempts, at])?;
    Ok(())
}

/// The network is back: everything pending is due now.
pub(crate) fn all_due_now(conn: &Connection) -> Result<()> {
    conn.prepare_cached("UPDATE outbox SET next_attempt_at = 0 WHERE state = 'pending'")?
        .execute([])?;
    Ok(())
}

pub(crate) fn delivered(conn: &Connection, id: i64) -> Result<()> {
    conn.prepare_cached("DELETE FROM outbox WHERE id = ?1")?
        .execute([id])?;
    Ok(())
}

pub(crate) fn failed(
    conn: &Connection,
    id: i64,
    code: &str,
    message: &str,
    now: Millis,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE outbox SET state = 'failed', error_code = ?2, error_message = ?3, failed_at = ?4 \
         WHERE id = ?1",
    )?
    .execute(params![id, code, message, now])?;
    Ok(())
}

pub(crate) fn failures(conn: &Connection) -> Result<Vec<OutboxFailure>> {
    let mut stmt = conn.prepare_cached(
        "SELECT o.id, o.kind, o.notice_id, json_extract(n.notice, '$.title'), o.error_code, \
                o.error_message, o.failed_at \
         FROM outbox o LEFT JOIN notices n ON n.id = o.notice_id \
         WHERE o.state = 'failed' ORDER BY o.id",
    )?;
    let rows = stmt.query_map([], |r| {
        let kind: String = r.get(1)?;
        Ok(OutboxFailure {
            id: r.get(0)?,
            kind: OutboxKind::parse(&kind).unwrap_or(OutboxKind::Read),
            notice_id: r.get(2)?,
            notice_title: r.get(3)?,
            error_code: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
            message: r.get::<_, Option<String>>(5)?.unwrap_or_default(),
            failed_at: r.get::<_, Option<i64>>(6)?.unwrap_or_default(),
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Removes a failed item; returns what it was about so the caller can clean up after it.
pub(crate) fn dismiss(conn: &Connection, id: i64) -> Result<Option<(OutboxKind, String)>> {
    let row: Option<(String, String)> = conn
        .prepare_cached("SELECT kind, notice_id FROM outbox WHERE id = ?1 AND state = 'failed'")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    conn.prepare_cached("DELETE FROM outbox WHERE id = ?1 AND state = 'failed'")?
        .execute([id])?;
    Ok(row.and_then(|(k, n)| OutboxKind::parse(&k).map(|k| (k, n))))
}
