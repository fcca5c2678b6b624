//! Files waiting to go up (tus). A row holds everything needed to resume after a crash: the
//! file's path, length and hash, the upload's URL once the server created it, and the last
//! offset the server confirmed. Rows of one `batch` are what one outbox item waits for.

use std::path::PathBuf;

use lianxiao_protocol::{Millis, UploadPurpose, homework::WorkKind};
use rusqlite::{Connection, OptionalExtension, params};

use crate::Result;

/// What is stored in `state`. "Uploading" is not stored: it is whatever the engine is
/// working on right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoredState {
    Pending,
    Done,
    Failed,
}

impl StoredState {
    fn parse(s: &str) -> StoredState {
        match s {
            "done" => StoredState::Done,
            "failed" => StoredState::Failed,
            _ => StoredState::Pending,
        }
    }
}

/// A file to queue; see [`add`].
#[derive(Debug, Clone)]
pub(crate) struct NewUpload {
    /// '' for none; e.g. `handin:<local id>`.
    pub batch: String,
    pub file_path: PathBuf,
    pub purpose: UploadPurpose,
    pub homework_id: Option<String>,
    pub kind: WorkKind,
    pub file_name: String,
    pub content_type: String,
    pub length: u64,
    /// Hex sha256 of the whole file.
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UploadRow {
    pub id: i64,
    pub batch: String,
    pub file_path: PathBuf,
    pub purpose: UploadPurpose,
    pub homework_id: Option<String>,
    pub kind: WorkKind,
    pub file_name: String,
    pub content_type: String,
    pub length: u64,
    pub sha256: String,
    pub url: Option<String>,
    pub confirmed: u64,
    pub state: StoredState,
    pub server_id: Option<String>,
    pub attempts: u32,
    pub next_attempt_at: Millis,
    /// (stable error code, message) of a failed upload.
    pub error: Option<(String, String)>,
}

const COLUMNS: &str = "id, batch, file_path, purpose, homework_id, kind, file_name, content_type, \
     length, sha256, url, confirmed, state, server_id, attempts, next_attempt_at, error_code, \
     error_message";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UploadRow> {
    let purpose: String = r.get(3)?;
    let homework_id: String = r.get(4)?;
    let kind: String = r.get(5)?;
    let state: String = r.get(12)?;
    let code: Option<String> = r.get(16)?;
    let message: Option<String> = r.get(17)?;
    Ok(UploadRow {
        id: r.get(0)?,
        batch: r.get(1)?,
        file_path: PathBuf::from(r.get::<_, String>(2)?),
        purpose: UploadPurpose::parse(&purpose).unwrap_or(UploadPurpose::Submission),
        homework_id: (!homework_id.is_empty()).then_some(homework_id),
        kind: WorkKind::parse(&kind).unwrap_or(WorkKind::File),
        file_name: r.get(6)?,
        content_type: r.get(7)?,
        length: r.get::<_, i64>(8)? as u64,
        sha256: r.get(9)?,
        url: r.get(10)?,
        confirmed: r.get::<_, i64>(11)? as u64,
        state: StoredState::parse(&state),
        server_id: r.get(13)?,
        attempts: r.get(14)?,
        next_attempt_at: r.get(15)?,
        error: code.map(|c| (c, message.unwrap_or_default())),
    })
}

/// Queues a file; returns the local id. Runs inside the caller's transaction, so a
/// submission and its files are recorded together. Wake the engine afterwards
/// (`Shared::uploads_enqueued`).
pub(crate) fn add(conn: &Connection, new: &NewUpload, now: Millis) -> Result<i64> {
    conn.prepare_cached(
        "INSERT INTO uploads (batch, file_path, purpose, homework_id, kind, file_name, \
         content_type, length, sha256, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
    )?
    .execute(params![
        new.batch,
        new.file_path.to_string_lossy(),
        new.purpose.as_str(),
        new.homework_id.as_deref().unwrap_or(""),
        new.kind.as_str(),
        new.file_name,
        new.content_type,
        new.length as i64,
        new.sha256,
        now,
    ])?;
    Ok(conn.last_insert_rowid())
}

pub(crate) fn get(conn: &Connection, id: i64) -> Result<Option<UploadRow>> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM uploads WHERE id = ?1"))?
        .query_row([id], row)
        .optional()?)
}

/// Every upload, oldest first.
pub(crate) fn list(conn: &Connection) -> Result<Vec<UploadRow>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM uploads ORDER BY id"))?;
    let rows = stmt.query_map([], row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The oldest pending upload whose retry time has come.
pub(crate) fn next_due(conn: &Connection, now: Millis) -> Result<Option<UploadRow>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM uploads WHERE state = 'pending' AND next_attempt_at <= ?1 \
             ORDER BY id LIMIT 1"
        ))?
        .query_row([now], row)
        .optional()?)
}

/// When the earliest pending upload becomes due, if any is pending.
pub(crate) fn next_due_at(conn: &Connection) -> Result<Option<Millis>> {
    Ok(conn
        .prepare_cached("SELECT min(next_attempt_at) FROM uploads WHERE state = 'pending'")?
        .query_row([], |r| r.get(0))?)
}

/// The network came back: every pending upload may go now.
pub(crate) fn all_due_now(conn: &Connection) -> Result<()> {
    conn.prepare_cached(
        "UPDATE uploads SET next_attempt_at = 0 WHERE state = 'pending' AND next_attempt_at > 0",
    )?
    .execute([])?;
    Ok(())
}

/// The server created the upload at `url`.
pub(crate) fn set_url(conn: &Connection, id: i64, url: &str, now: Millis) -> Result<()> {
    conn.prepare_cached(
        "UPDATE uploads SET url = ?2, confirmed = 0, updated_at = ?3 WHERE id = ?1",
    )?
    .execute(params![id, url, now])?;
    Ok(())
}

/// The server no longer knows the upload (expired or removed): start again from zero.
pub(crate) fn forget_url(conn: &Connection, id: i64, now: Millis) -> Result<()> {
    conn.prepare_cached(
        "UPDATE uploads SET url = NULL, confirmed = 0, updated_at = ?2 WHERE id = ?1",
    )?
    .execute(params![id, now])?;
    Ok(())
}

/// The server holds `offset` bytes. Progress resets the failure count.
pub(crate) fn confirmed(conn: &Connection, id: i64, offset: u64, now: Millis) -> Result<()> {
    conn.prepare_cached(
        "UPDATE uploads SET confirmed = ?2, attempts = 0, updated_at = ?3 WHERE id = ?1",
    )?
    .execute(params![id, offset as i64, now])?;
    Ok(())
}

pub(crate) fn done(conn: &Connection, id: i64, server_id: &str, now: Millis) -> Result<()> {
    conn.prepare_cached(
        "UPDATE uploads SET state = 'done', server_id = ?2, confirmed = length, attempts = 0, \
         error_code = NULL, error_message = NULL, updated_at = ?3 WHERE id = ?1",
    )?
    .execute(params![id, server_id, now])?;
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
        "UPDATE uploads SET state = 'failed', error_code = ?2, error_message = ?3, \
         updated_at = ?4 WHERE id = ?1 AND state = 'pending'",
    )?
    .execute(params![id, code, message, now])?;
    Ok(())
}

pub(crate) fn retry_later(
    conn: &Connection,
    id: i64,
    attempts: u32,
    at: Millis,
    now: Millis,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE uploads SET attempts = ?2, next_attempt_at = ?3, updated_at = ?4 \
         WHERE id = ?1 AND state = 'pending'",
    )?
    .execute(params![id, attempts, at, now])?;
    Ok(())
}

/// A failed upload goes back in the queue, due now. False when it was not failed.
pub(crate) fn retry(conn: &Connection, id: i64, now: Millis) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "UPDATE uploads SET state = 'pending', attempts = 0, next_attempt_at = 0, \
             error_code = NULL, error_message = NULL, updated_at = ?2 \
             WHERE id = ?1 AND state = 'failed'",
        )?
        .execute(params![id, now])?;
    Ok(n == 1)
}

/// Removes a row; returns it as it was.
pub(crate) fn remove(conn: &Connection, id: i64) -> Result<Option<UploadRow>> {
    let old = get(conn, id)?;
    if old.is_some() {
        conn.prepare_cached("DELETE FROM uploads WHERE id = ?1")?
            .execute([id])?;
    }
    Ok(old)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::temp_store;

    fn new(batch: &str, name: &str) -> NewUpload {
        NewUpload {
            batch: batch.into(),
            file_path: PathBuf::from(format!("/data/{name}")),
            purpose: UploadPurpose::Submission,
            homework_id: Some("hw1".into()),
            kind: WorkKind::Photo,
            file_name: name.into(),
            content_type: "image/jpeg".into(),
            length: 10,
            sha256: "00".into(),
        }
    }

    #[test]
    fn a_row_round_trips_and_moves_through_its_states() {
        let (_dir, store) = temp_store();
        store
            .write_blocking(|tx| {
                let id = add(tx, &new("", "a.jpg"), 1)?;
                let r = get(tx, id)?.unwrap();
                assert_eq!(r.state, StoredState::Pending);
                assert_eq!(r.homework_id.as_deref(), Some("hw1"));
                assert_eq!(r.kind, WorkKind::Photo);
                assert_eq!(next_due(tx, 0)?.map(|r| r.id), Some(id));
                set_url(tx, id, "http://h/v1/uploads/u1", 2)?;
                confirmed(tx, id, 4, 3)?;
                retry_later(tx, id, 2, 1000, 3)?;
                assert_eq!(next_due(tx, 999)?, None);
                assert_eq!(next_due_at(tx)?, Some(1000));
                let r = get(tx, id)?.unwrap();
                assert_eq!((r.confirmed, r.attempts), (4, 2));
                all_due_now(tx)?;
                assert!(next_due(tx, 0)?.is_some());
                failed(tx, id, "validation", "too large", 4)?;
                let r = get(tx, id)?.unwrap();
                assert_eq!(r.state, StoredState::Failed);
                assert_eq!(r.error, Some(("validation".into(), "too large".into())));
                assert!(retry(tx, id, 5)?);
                assert!(!retry(tx, id, 5)?);
                forget_url(tx, id, 6)?;
                assert_eq!(get(tx, id)?.unwrap().url, None);
                done(tx, id, "u2", 7)?;
                let r = get(tx, id)?.unwrap();
                assert_eq!(
                    (r.state, r.server_id.as_deref()),
                    (StoredState::Done, Some("u2"))
                );
                assert!(remove(tx, id)?.is_some());
                assert!(get(tx, id)?.is_none());
                Ok(())
            })
            .unwrap();
    }
}
