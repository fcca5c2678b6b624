//! Notices as this account sees them: the server's copy, plus this device's read /
//! acknowledgment / post that the server has not confirmed yet.

use lianxiao_protocol::{Millis, MyReceipt, Notice, ReceiptSummary};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::from_json;
use crate::{
    Error, Result,
    notices::{DeliveryState, NoticeFilter, NoticeView},
};

const STATE_PENDING: &str = "pending";
const STATE_DELIVERED: &str = "delivered";
const STATE_FAILED: &str = "failed";

/// Stores the server's current view of a notice, keeping local delivery state.
pub(crate) fn upsert(conn: &Connection, notice: &Notice) -> Result<()> {
    let receipt = notice.receipt.as_ref();
    conn.prepare_cached(
        "INSERT INTO notices (id, posted_at, notice, is_recipient, server_read_at, server_acked_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         ON CONFLICT(id) DO UPDATE SET posted_at = excluded.posted_at, notice = excluded.notice, \
           is_recipient = excluded.is_recipient, server_read_at = excluded.server_read_at, \
           server_acked_at = excluded.server_acked_at, post_state = 'delivered'",
    )?
    .execute(params![
        notice.id,
        notice.posted_at,
        serde_json::to_string(notice)?,
        receipt.is_some(),
        receipt.and_then(|r| r.read_at),
        receipt.and_then(|r| r.acked_at),
    ])?;
    Ok(())
}

/// The notice stopped being visible: forget it, its summary and any unsent receipt for it
/// (there is nothing left to deliver it to).
pub(crate) fn remove(conn: &Connection, id: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM notices WHERE id = ?1")?
        .execute([id])?;
    conn.prepare_cached("DELETE FROM receipt_summaries WHERE notice_id = ?1")?
        .execute([id])?;
    conn.prepare_cached(
        "DELETE FROM outbox WHERE notice_id = ?1 AND kind IN ('read', 'ack') AND state = 'pending'",
    )?
    .execute([id])?;
    Ok(())
}

pub(crate) fn put_summary(conn: &Connection, summary: &ReceiptSummary) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO receipt_summaries (notice_id, summary) VALUES (?1, ?2) \
         ON CONFLICT(notice_id) DO UPDATE SET summary = excluded.summary",
    )?
    .execute(params![summary.notice_id, serde_json::to_string(summary)?])?;
    Ok(())
}

pub(crate) fn remove_summary(conn: &Connection, notice_id: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM receipt_summaries WHERE notice_id = ?1")?
        .execute([notice_id])?;
    Ok(())
}

pub(crate) fn summary(conn: &Connection, notice_id: &str) -> Result<Option<ReceiptSummary>> {
    let text: Option<String> = conn
        .prepare_cached("SELECT summary FROM receipt_summaries WHERE notice_id = ?1")?
        .query_row([notice_id], |r| r.get(0))
        .optional()?;
    text.map(|t| from_json(&t)).transpose()
}

/// After a reminder: the author's copy shows it at once.
pub(crate) fn set_last_reminded(conn: &Connection, notice_id: &str, at: Millis) -> Result<()> {
    if let Some(mut s) = summary(conn, notice_id)? {
        s.last_reminded_at = Some(at);
        put_summary(conn, &s)?;
    }
    Ok(())
}

const VIEW_SELECT: &str = "SELECT n.notice, n.server_read_at, n.server_acked_at, n.read_state, \
     n.local_read_at, n.ack_state, n.local_acked_at, n.post_state, s.summary, n.is_recipient \
     FROM notices n LEFT JOIN receipt_summaries s ON s.notice_id = n.id";

fn delivery(
    server_at: Option<Millis>,
    state: &str,
    local_at: Option<Millis>,
) -> (DeliveryState, Option<Millis>) {
    if server_at.is_some() {
        return (DeliveryState::Delivered, server_at);
    }
    match state {
        STATE_PENDING => (DeliveryState::Pending, local_at),
        STATE_DELIVERED => (DeliveryState::Delivered, local_at),
        STATE_FAILED => (DeliveryState::Failed, None),
        _ => (DeliveryState::None, None),
    }
}

fn view(row: &Row<'_>) -> Result<NoticeView> {
    let notice: Notice = from_json(&row.get::<_, String>(0)?)?;
    let (read, read_at) = delivery(row.get(1)?, &row.get::<_, String>(3)?, row.get(4)?);
    let (acknowledged, acked_at) = delivery(row.get(2)?, &row.get::<_, String>(5)?, row.get(6)?);
    let post = match row.get::<_, String>(7)?.as_str() {
        STATE_PENDING => DeliveryState::Pending,
        STATE_FAILED => DeliveryState::Failed,
        _ => DeliveryState::Delivered,
    };
    let summary: Option<ReceiptSummary> = row
        .get::<_, Option<String>>(8)?
        .map(|t| from_json(&t))
        .transpose()?;
    let is_recipient: bool = row.get(9)?;
    let reminded = notice
        .receipt
        .as_ref()
        .is_some_and(|r| r.reminded_at.is_some())
        || summary
            .as_ref()
            .is_some_and(|s| s.last_reminded_at.is_some());
    Ok(NoticeView {
        unread: is_recipient && read_at.is_none(),
        notice,
        read,
        read_at,
        acknowledged,
        acked_at,
        post,
        reminded,
        summary,
    })
}

pub(crate) fn list(conn: &Connection, filter: &NoticeFilter) -> Result<Vec<NoticeView>> {
    let mut sql = String::from(VIEW_SELECT);
    if filter.child_id.is_some() {
        sql.push_str(
            " WHERE EXISTS (SELECT 1 FROM json_each(n.notice, '$.receipt.children') c \
              WHERE json_extract(c.value, '$.id') = ?1)",
        );
    }
    if filter.unread_first {
        sql.push_str(
            " ORDER BY (n.is_recipient AND n.server_read_at IS NULL AND n.local_read_at IS NULL) DESC,",
        );
    } else {
        sql.push_str(" ORDER BY");
    }
    sql.push_str(" n.posted_at DESC, n.id");
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = match &filter.child_id {
        Some(child) => stmt.query([child])?,
        None => stmt.query([])?,
    };
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(view(row)?);
    }
    Ok(out)
}

pub(crate) fn get(conn: &Connection, id: &str) -> Result<Option<NoticeView>> {
    let sql = format!("{VIEW_SELECT} WHERE n.id = ?1");
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query([id])?;
    match rows.next()? {
        Some(row) => Ok(Some(view(row)?)),
        None => Ok(None),
    }
}

struct ReceiptRow {
    is_recipient: bool,
    requires_ack: bool,
    server_read_at: Option<Millis>,
    server_acked_at: Option<Millis>,
    read_state: String,
    ack_state: String,
}

fn receipt_row(conn: &Connection, id: &str) -> Result<ReceiptRow> {
    conn.prepare_cached(
        "SELECT is_recipient, json_extract(notice, '$.requires_ack'), server_read_at, \
         server_acked_at, read_state, ack_state FROM notices WHERE id = ?1",
    )?
    .query_row([id], |r| {
        Ok(ReceiptRow {
            is_recipient: r.get(0)?,
            requires_ack: r.get::<_, Option<bool>>(1)?.unwrap_or(false),
            server_read_at: r.get(2)?,
            server_acked_at: r.get(3)?,
            read_state: r.get(4)?,
            ack_state: r.get(5)?,
        })
    })
    .optional()?
    .ok_or_else(|| Error::NotFound(format!("notice {id}")))
}

fn is_done(server_at: Option<Millis>, state: &str) -> bool {
    server_at.is_some() || state == STATE_PENDING || state == STATE_DELIVERED
}

/// Marks a notice read locally. Returns false when there is nothing to send (already read,
/// already on its way, or the caller is not a recipient).
pub(crate) fn mark_read_local(conn: &Connection, id: &str, now: Millis) -> Result<bool> {
    let row = receipt_row(conn, id)?;
    if !row.is_recipient || is_done(row.server_read_at, &row.read_state) {
        return Ok(false);
    }
    conn.prepare_cached(
        "UPDATE notices SET read_state = 'pending', local_read_at = ?2 WHERE id = ?1",
    )?
    .execute(params![id, now])?;
    Ok(true)
}

/// Acknowledges locally (which implies read). Returns false when already acknowledged or on
/// its way, so a second acknowledgment is never queued.
pub(crate) fn ack_local(conn: &Connection, id: &str, now: Millis) -> Result<bool> {
    let row = receipt_row(conn, id)?;
    if !row.is_recipient {
        return Err(Error::Forbidden("not a recipient of this notice".into()));
    }
    if !row.requires_ack {
        return Err(Error::Validation {
            field: Some("requires_ack".into()),
            message: "this notice does not ask for an acknowledgment".into(),
        });
    }
    if is_done(row.server_acked_at, &row.ack_state) {
        return Ok(false);
    }
    conn.prepare_cached(
        "UPDATE notices SET ack_state = 'pending', local_acked_at = ?2, \
           local_read_at = CASE WHEN server_read_at IS NULL AND read_state NOT IN ('pending', 'delivered') \
                           THEN ?2 ELSE local_read_at END, \
           read_state = CASE WHEN server_read_at IS NULL AND read_state NOT IN ('pending', 'delivered') \
                        THEN 'pending' ELSE read_state END \
         WHERE id = ?1",
    )?
    .execute(params![id, now])?;
    Ok(true)
}

/// The server confirmed a read or acknowledgment: keep its receipt and times.
pub(crate) fn receipt_delivered(conn: &Connection, id: &str, receipt: &MyReceipt) -> Result<()> {
    let text: Option<String> = conn
        .prepare_cached("SELECT notice FROM notices WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    let Some(text) = text else {
        return Ok(());
    };
    let mut notice: Notice = from_json(&text)?;
    notice.receipt = Some(receipt.clone());
    conn.prepare_cached(
        "UPDATE notices SET notice = ?2, \
           server_read_at = coalesce(?3, server_read_at), server_acked_at = coalesce(?4, server_acked_at), \
           read_state = CASE WHEN ?3 IS NOT NULL THEN 'delivered' ELSE read_state END, \
           local_read_at = coalesce(?3, local_read_at), \
           ack_state = CASE WHEN ?4 IS NOT NULL THEN 'delivered' ELSE ack_state END, \
           local_acked_at = coalesce(?4, local_acked_at) \
         WHERE id = ?1",
    )?
    .execute(params![
        id,
        serde_json::to_string(&notice)?,
        receipt.read_at,
        receipt.acked_at
    ])?;
    if receipt.read_at.is_some() {
        // An acknowledgment delivered the read too: a queued read has nothing left to say.
        conn.prepare_cached(
            "DELETE FROM outbox WHERE notice_id = ?1 AND kind = 'read' AND state = 'pending'",
        )?
        .execute([id])?;
    }
    Ok(())
}

/// The server rejected a read for good: undo the optimistic change, flag it failed.
pub(crate) fn read_failed(conn: &Connection, id: &str) -> Result<()> {
    conn.prepare_cached(
        "UPDATE notices SET read_state = 'failed', local_read_at = NULL \
         WHERE id = ?1 AND read_state = 'pending'",
    )?
    .execute([id])?;
    Ok(())
}

/// The server rejected an acknowledgment for good. The read it implied is undone too unless
/// a read of its own is still queued.
pub(crate) fn ack_failed(conn: &Connection, id: &str) -> Result<()> {
    conn.prepare_cached(
        "UPDATE notices SET ack_state = 'failed', local_acked_at = NULL WHERE id = ?1",
    )?
    .execute([id])?;
    conn.prepare_cached(
        "UPDATE notices SET read_state = 'none', local_read_at = NULL \
         WHERE id = ?1 AND read_state = 'pending' AND NOT EXISTS \
           (SELECT 1 FROM outbox WHERE notice_id = ?1 AND kind = 'read' AND state = 'pending')",
    )?
    .execute([id])?;
    Ok(())
}

/// A notice written on this device, shown at once, waiting in the outbox.
pub(crate) fn insert_local_post(conn: &Connection, notice: &Notice) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO notices (id, posted_at, notice, is_recipient, post_state) \
         VALUES (?1, ?2, ?3, 0, 'pending')",
    )?
    .execute(params![
        notice.id,
        notice.posted_at,
        serde_json::to_string(notice)?
    ])?;
    Ok(())
}

/// The server accepted a local post: its copy replaces the local one.
pub(crate) fn post_delivered(conn: &Connection, local_id: &str, notice: &Notice) -> Result<()> {
    conn.prepare_cached("DELETE FROM notices WHERE id = ?1")?
        .execute([local_id])?;
    upsert(conn, notice)
}

/// The server rejected a post for good: keep the text on the phone, flagged failed.
pub(crate) fn post_failed(conn: &Connection, local_id: &str) -> Result<()> {
    conn.prepare_cached("UPDATE notices SET post_state = 'failed' WHERE id = ?1")?
        .execute([local_id])?;
    Ok(())
}

/// Forgets a failed local post (the user dismissed it).
pub(crate) fn remove_failed_post(conn: &Connection, local_id: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM notices WHERE id = ?1 AND post_state = 'failed'")?
        .execute([local_id])?;
    Ok(())
}
