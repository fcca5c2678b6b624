//! The account's notification settings as synced, and the change waiting in the outbox.

use lianxiao_protocol::{NotificationSettings, UpdateNotificationSettings};
use rusqlite::{Connection, OptionalExtension, params};

use super::from_json;
use crate::{Result, outbox::OutboxKind};

/// What the store holds: the server's copy and the unconfirmed change, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Stored {
    pub synced: Option<NotificationSettings>,
    pub pending: Option<UpdateNotificationSettings>,
}

pub(crate) fn get(conn: &Connection) -> Result<Stored> {
    let row: Option<(Option<String>, Option<String>)> = conn
        .query_row(
            "SELECT synced, pending FROM notification_settings WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((synced, pending)) = row else {
        return Ok(Stored::default());
    };
    Ok(Stored {
        synced: synced.as_deref().map(from_json).transpose()?,
        pending: pending.as_deref().map(from_json).transpose()?,
    })
}

/// Keeps the server's copy unless the stored one is newer (an outbox answer that arrives
/// after a sync of a later change must not take the phone back).
pub(crate) fn put_synced(conn: &Connection, settings: &NotificationSettings) -> Result<()> {
    if let Some(stored) = get(conn)?.synced
        && stored.updated_at > settings.updated_at
    {
        return Ok(());
    }
    conn.prepare_cached(
        "INSERT INTO notification_settings (id, synced) VALUES (1, ?1) \
         ON CONFLICT(id) DO UPDATE SET synced = excluded.synced",
    )?
    .execute([serde_json::to_string(settings)?])?;
    Ok(())
}

/// The server no longer has settings for this account: forget its copy.
pub(crate) fn remove_synced(conn: &Connection) -> Result<()> {
    conn.prepare_cached("UPDATE notification_settings SET synced = NULL WHERE id = 1")?
        .execute([])?;
    Ok(())
}

/// A change made on this phone, sent by outbox item `outbox_id`. Earlier changes not yet
/// sent are dropped from the outbox: each change replaces the whole settings, so only the
/// last needs to go (one that is being sent right now finishes, and its answer is kept only
/// if nothing newer is).
pub(crate) fn set_pending(
    conn: &Connection,
    change: &UpdateNotificationSettings,
    outbox_id: i64,
) -> Result<()> {
    conn.prepare_cached("DELETE FROM outbox WHERE kind = ?1 AND state = 'pending' AND id <> ?2")?
        .execute(params![
            OutboxKind::NotificationSettings.as_str(),
            outbox_id
        ])?;
    conn.prepare_cached(
        "INSERT INTO notification_settings (id, pending, outbox_id) VALUES (1, ?1, ?2) \
         ON CONFLICT(id) DO UPDATE SET pending = excluded.pending, outbox_id = excluded.outbox_id",
    )?
    .execute(params![serde_json::to_string(change)?, outbox_id])?;
    Ok(())
}

/// Outbox item `outbox_id` is done: the server's answer (none when it was refused) becomes
/// the synced copy, and the phone's change stops showing if it was this item's.
pub(crate) fn settle(
    conn: &Connection,
    outbox_id: i64,
    answer: Option<&NotificationSettings>,
) -> Result<()> {
    if let Some(settings) = answer {
        put_synced(conn, settings)?;
    }
    conn.prepare_cached(
        "UPDATE notification_settings SET pending = NULL, outbox_id = NULL \
         WHERE id = 1 AND outbox_id = ?1",
    )?
    .execute([outbox_id])?;
    Ok(())
}
