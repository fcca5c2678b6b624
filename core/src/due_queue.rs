//! The loop behind the phone's background queues (uploads, replay downloads): take the next
//! row that is due from the store, drive it, and otherwise sleep until the next one falls due,
//! something wakes the queue, the network comes back or a new sign-in arrives.
//!
//! Each queue keeps its own table and its own `drive`; what they share is when to work. While
//! signed out remotely or offline nothing runs, and coming back online makes every row that
//! waits out a backoff due at once, so a reconnect is not followed by minutes of idling.

use std::{future::Future, sync::Arc, time::Duration};

use lianxiao_protocol::Millis;
use rusqlite::Connection;
use tokio::sync::Notify;

use crate::{Result, api::now_ms, client::Shared};

/// One persistent queue of work in the store.
pub(crate) trait DueQueue: 'static {
    type Row: Send + 'static;
    /// What the queue holds, for logs: "upload", "download".
    const WHAT: &'static str;
    /// Notified when a row is added or changed by a call.
    fn wake(shared: &Shared) -> &Notify;
    /// Every row waiting out a backoff becomes due now.
    fn all_due_now(conn: &Connection) -> Result<()>;
    /// The next row due at `now`, if any.
    fn next_due(conn: &Connection, now: Millis) -> Result<Option<Self::Row>>;
    /// When the next row falls due, if any waits.
    fn next_due_at(conn: &Connection) -> Result<Option<Millis>>;
    /// Works on one row until it is done, paused, failed or scheduled for later; an error
    /// here is the store's or the queue's own, not the network's.
    fn drive(shared: &Arc<Shared>, row: Self::Row) -> impl Future<Output = Result<()>> + Send;
}

/// Longest sleep with nothing due: a safety net, the queue is woken whenever work arrives.
const IDLE: Duration = Duration::from_secs(3600);

/// Runs the queue until its task is aborted or the client goes away.
pub(crate) async fn run<Q: DueQueue>(shared: Arc<Shared>) {
    let mut auth = shared.api.auth_expired();
    let mut network = shared.network.subscribe();
    // Whether the network may have come back since we last looked.
    let mut network_moved = false;
    loop {
        // Signed out remotely: keep everything, wait for a new sign-in. No network: wait.
        while *auth.borrow_and_update() || !*network.borrow_and_update() {
            tokio::select! {
                r = auth.changed() => if r.is_err() { return },
                r = network.changed() => if r.is_err() { return } else { network_moved = true },
            }
        }
        if std::mem::take(&mut network_moved)
            && let Err(e) = shared.store.write(|tx| Q::all_due_now(tx)).await
        {
            tracing::warn!(queue = Q::WHAT, code = e.code_str(), "could not reschedule");
        }
        let wake = Q::wake(&shared).notified();
        let now = now_ms();
        match shared.store.read(move |c| Q::next_due(c, now)).await {
            Ok(Some(row)) => {
                if let Err(e) = Q::drive(&shared, row).await {
                    tracing::warn!(
                        queue = Q::WHAT,
                        code = e.code_str(),
                        "worker failed; retrying"
                    );
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                continue;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(
                    queue = Q::WHAT,
                    code = e.code_str(),
                    "worker failed; retrying"
                );
                tokio::select! {
                    _ = wake => {}
                    _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                }
                continue;
            }
        }
        let next = shared
            .store
            .read(|c| Q::next_due_at(c))
            .await
            .ok()
            .flatten();
        let sleep = match next {
            Some(at) => Duration::from_millis((at - now_ms()).clamp(0, 3_600_000) as u64),
            None => IDLE,
        };
        tokio::select! {
            _ = wake => {}
            _ = tokio::time::sleep(sleep) => {}
            _ = auth.changed() => {}
            _ = network.changed() => network_moved = true,
        }
    }
}
