//! Attendance heartbeats: queued in the account's store while in a lesson, so a heartbeat
//! made with no network is delivered later and still counts at the time it was made. Each is
//! sent to `POST /v1/lessons/{id}/heartbeat` with its own idempotency key; a refusal for good
//! (lesson gone, cancelled, outside its time) drops it. The queue is the `live_heartbeats`
//! table (store migration 0005).

use std::sync::Arc;

use lianxiao_protocol::{AttendanceInterval, Millis};
use rusqlite::params;

use crate::{Result, RetryClass, client::Shared};

/// One sender at a time, so a heartbeat is never in flight twice.
static SENDING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub(crate) async fn queue(shared: &Arc<Shared>, lesson_id: &str, at: Millis) -> Result<()> {
    let lesson_id = lesson_id.to_owned();
    shared
        .store
        .write(move |tx| {
            tx.execute(
                "INSERT INTO live_heartbeats (idempotency_key, lesson_id, at) VALUES (?1, ?2, ?3)",
                params![uuid::Uuid::new_v4().to_string(), lesson_id, at],
            )?;
            Ok(())
        })
        .await
}

pub(crate) async fn pending_count(shared: &Arc<Shared>) -> Result<usize> {
    shared
        .store
        .write(|tx| {
            let n: i64 = tx.query_row("SELECT count(*) FROM live_heartbeats", [], |r| r.get(0))?;
            Ok(n as usize)
        })
        .await
}

/// Sends every queued heartbeat, oldest first, stopping at the first that may pass (no
/// network); returns how many are still queued.
pub(crate) async fn send_pending(shared: &Arc<Shared>) -> Result<usize> {
    let _sending = SENDING.lock().await;
    send_queued(shared).await
}

/// `send_pending` from the session's timer: when a send is already under way (slow or no
/// network), this one is skipped rather than queued behind it; the next heartbeat tries again.
pub(crate) async fn send_pending_unless_busy(shared: &Arc<Shared>) -> Result<usize> {
    let Ok(_sending) = SENDING.try_lock() else {
        return Ok(0);
    };
    send_queued(shared).await
}

async fn send_queued(shared: &Arc<Shared>) -> Result<usize> {
    let queued: Vec<(i64, String, String, Millis)> = shared
        .store
        .write(|tx| {
            let mut stmt = tx.prepare(
                "SELECT id, idempotency_key, lesson_id, at FROM live_heartbeats ORDER BY id",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await?;
    let mut left = queued.len();
    for (id, key, lesson_id, at) in queued {
        let body = serde_json::to_vec(&serde_json::json!({ "at": at }))?;
        let sent: Result<AttendanceInterval> = shared
            .api
            .post(
                &format!("/lessons/{lesson_id}/heartbeat"),
                Some(&body),
                &key,
            )
            .await;
        match sent {
            Ok(_) => {}
            Err(e) if e.retry_class() == RetryClass::Permanent => {
                tracing::info!(code = e.code_str(), "attendance heartbeat refused; dropped");
            }
            Err(e) => {
                tracing::debug!(code = e.code_str(), "attendance heartbeat kept for later");
                return Ok(left);
            }
        }
        shared
            .store
            .write(move |tx| {
                tx.execute("DELETE FROM live_heartbeats WHERE id = ?1", [id])?;
                Ok(())
            })
            .await?;
        left -= 1;
    }
    Ok(left)
}
