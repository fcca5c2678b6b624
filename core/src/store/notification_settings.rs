//! The account's notification settings as synced, and the change waiting in the outbox.

use lianxiao_protocol::{
    ChildNotifications, NotificationSettings, QuietHours, UpdateNotificationSettings,
};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::from_json;
use crate::{Result, outbox::OutboxKind};

/// A change made on this phone and not yet confirmed. Also the body of its outbox item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum Pending {
    /// Only what the person touched, made before the phone had the server's copy (before the
    /// first sync): laid over that copy once it is known — on the screen after a sync, and
    /// on the wire, where the sender asks the server's copy first.
    Patch { patch: SettingsPatch },
    /// The whole settings, as the server will store them (stored so by earlier versions too).
    Replace(UpdateNotificationSettings),
}

/// What a change made before the first sync touched.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SettingsPatch {
    /// The quiet hours were set (to `quiet_hours`, none = cleared).
    #[serde(default)]
    pub quiet_hours_set: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<QuietHours>,
    /// Children whose kinds were set.
    #[serde(default)]
    pub children: Vec<ChildNotifications>,
}

impl SettingsPatch {
    /// `later` laid over this one.
    pub(crate) fn then(mut self, later: SettingsPatch) -> SettingsPatch {
        if later.quiet_hours_set {
            self.quiet_hours_set = true;
            self.quiet_hours = later.quiet_hours;
        }
        for c in later.children {
            match self.children.iter_mut().find(|m| m.child_id == c.child_id) {
                Some(mine) => mine.kinds = c.kinds,
                None => self.children.push(c),
            }
        }
        self
    }

    /// The whole settings this patch makes of `base` (the server's copy).
    pub(crate) fn apply(&self, base: &NotificationSettings) -> UpdateNotificationSettings {
        let mut children = base.children.clone();
        for c in &self.children {
            match children.iter_mut().find(|b| b.child_id == c.child_id) {
                Some(b) => b.kinds = c.kinds,
                None => children.push(c.clone()),
            }
        }
        children.sort_by(|a, b| a.child_id.cmp(&b.child_id));
        UpdateNotificationSettings {
            quiet_hours: if self.quiet_hours_set {
                self.quiet_hours
            } else {
                base.quiet_hours
            },
            children,
        }
    }
}

/// What the store holds: the server's copy and the unconfirmed change, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Stored {
    pub synced: Option<NotificationSettings>,
    pub pending: Option<Pending>,
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
pub(crate) fn set_pending(conn: &Connection, change: &Pending, outbox_id: i64) -> Result<()> {
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
