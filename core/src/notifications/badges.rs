//! Each account's badge: how many notices it has not read.
//!
//! What counts is what the server counts for `PushData::badge` (push/queue.rs): notices this
//! account is a recipient of and has not read, retracted ones excluded (sync removes them).
//! A read made on this phone counts at once, before the server has it, so the badge may run
//! ahead of the last push's number, never behind once synced. Homework and lessons are not
//! counted: they have no "unread" state on the server, and the two numbers must agree.

use std::sync::Arc;

use rusqlite::Connection;

use crate::{Client, Result, TaskHandle};

/// Gets the badge of one account: first the current count, then every change.
pub trait BadgeListener: Send + Sync {
    fn on_badge(&self, account_id: String, unread: u32);
}

/// One account's notification state on this phone.
#[derive(Clone)]
pub struct Notifications {
    client: Client,
}

pub(crate) fn unread(conn: &Connection) -> Result<u32> {
    Ok(conn.query_row(
        "SELECT count(*) FROM notices WHERE is_recipient = 1 AND server_read_at IS NULL \
         AND local_read_at IS NULL AND post_state = 'delivered'",
        [],
        |r| r.get(0),
    )?)
}

impl Notifications {
    pub(crate) fn new(client: Client) -> Notifications {
        Notifications { client }
    }

    /// Unread notices of this account (from the store: works offline).
    pub async fn badge(&self) -> Result<u32> {
        self.client.shared().store.read(unread).await
    }

    /// Sends the badge now, then whenever it changes, until the handle is dropped.
    pub fn subscribe_badge(&self, listener: Arc<dyn BadgeListener>) -> TaskHandle {
        let shared = self.client.shared().clone();
        let mut changes = shared.notices_watch();
        changes.borrow_and_update();
        let account = shared.user_id.clone();
        let owner = shared.clone();
        crate::client::spawn_listener(&owner, "badge listener", async move {
            let mut last = None;
            loop {
                if let Ok(n) = shared.store.read(unread).await
                    && last != Some(n)
                {
                    listener.on_badge(account.clone(), n);
                    last = Some(n);
                }
                if changes.changed().await.is_err() {
                    return;
                }
            }
        })
    }
}
