//! Homework as this account sees it, plus this device's drafts, hand-ins and reviews that the
//! server has not confirmed yet.

use lianxiao_protocol::{Homework, HomeworkSummary, Millis, Submission, WorkKind};
use rusqlite::{Connection, OptionalExtension, params};

use super::from_json;
use crate::{
    Result,
    homework::{Draft, DraftFile, Handin, HandinState},
};

pub(crate) fn upsert(conn: &Connection, h: &Homework) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO homework (id, due_at, homework) VALUES (?1, ?2, ?3) \
         ON CONFLICT(id) DO UPDATE SET due_at = excluded.due_at, homework = excluded.homework",
    )?
    .execute(params![h.id, h.due_at, serde_json::to_string(h)?])?;
    Ok(())
}

/// The homework is gone (deleted, or no longer visible): forget it and its work here.
/// Returns the paths of local files that nothing refers to any more.
pub(crate) fn remove(conn: &Connection, id: &str) -> Result<Vec<String>> {
    let paths = draft_paths(conn, id)?;
    conn.prepare_cached("DELETE FROM homework WHERE id = ?1")?
        .execute([id])?;
    conn.prepare_cached("DELETE FROM homework_summaries WHERE homework_id = ?1")?
        .execute([id])?;
    conn.prepare_cached("DELETE FROM submissions WHERE homework_id = ?1")?
        .execute([id])?;
    conn.prepare_cached("DELETE FROM drafts WHERE homework_id = ?1")?
        .execute([id])?;
    Ok(paths)
}

fn draft_paths(conn: &Connection, homework_id: &str) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached("SELECT path FROM draft_files WHERE homework_id = ?1")?;
    let rows = stmt.query_map([homework_id], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn list(conn: &Connection) -> Result<Vec<Homework>> {
    let mut stmt = conn.prepare_cached("SELECT homework FROM homework ORDER BY due_at DESC, id")?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    rows.map(|r| from_json(&r?)).collect()
}

pub(crate) fn get(conn: &Connection, id: &str) -> Result<Option<Homework>> {
    let text: Option<String> = conn
        .prepare_cached("SELECT homework FROM homework WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    text.map(|t| from_json(&t)).transpose()
}

pub(crate) fn put_submission(conn: &Connection, s: &Submission) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO submissions (id, homework_id, student_id, class_id, submission) \
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(id) DO UPDATE SET submission = excluded.submission, \
         class_id = excluded.class_id",
    )?
    .execute(params![
        s.id,
        s.homework_id,
        s.student.id,
        s.class_id,
        serde_json::to_string(s)?
    ])?;
    Ok(())
}

pub(crate) fn remove_submission(conn: &Connection, id: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM submissions WHERE id = ?1")?
        .execute([id])?;
    Ok(())
}

pub(crate) fn submissions(conn: &Connection, homework_id: &str) -> Result<Vec<Submission>> {
    let mut stmt = conn.prepare_cached(
        "SELECT submission FROM submissions WHERE homework_id = ?1 ORDER BY student_id",
    )?;
    let rows = stmt.query_map([homework_id], |r| r.get::<_, String>(0))?;
    rows.map(|r| from_json(&r?)).collect()
}

pub(crate) fn submission(conn: &Connection, id: &str) -> Result<Option<Submission>> {
    let text: Option<String> = conn
        .prepare_cached("SELECT submission FROM submissions WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    text.map(|t| from_json(&t)).transpose()
}

pub(crate) fn put_summary(conn: &Connection, s: &HomeworkSummary) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO homework_summaries (homework_id, summary) VALUES (?1, ?2) \
         ON CONFLICT(homework_id) DO UPDATE SET summary = excluded.summary",
    )?
    .execute(params![s.homework_id, serde_json::to_string(s)?])?;
    Ok(())
}

pub(crate) fn remove_summary(conn: &Connection, id: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM homework_summaries WHERE homework_id = ?1")?
        .execute([id])?;
    Ok(())
}

pub(crate) fn summary(conn: &Connection, homework_id: &str) -> Result<Option<HomeworkSummary>> {
    let text: Option<String> = conn
        .prepare_cached("SELECT summary FROM homework_summaries WHERE homework_id = ?1")?
        .query_row([homework_id], |r| r.get(0))
        .optional()?;
    text.map(|t| from_json(&t)).transpose()
}

// --- drafts -------------------------------------------------------------------------------

pub(crate) fn draft(conn: &Connection, homework_id: &str) -> Result<Option<Draft>> {
    let row: Option<(String, Millis)> = conn
        .prepare_cached("SELECT text, updated_at FROM drafts WHERE homework_id = ?1")?
        .query_row([homework_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((text, updated_at)) = row else {
        return Ok(None);
    };
    let mut stmt = conn.prepare_cached(
        "SELECT id, kind, path, file_name, content_type, size FROM draft_files \
         WHERE homework_id = ?1 ORDER BY position, id",
    )?;
    let files = stmt
        .query_map([homework_id], |r| {
            Ok(DraftFile {
                id: r.get(0)?,
                kind: WorkKind::parse(&r.get::<_, String>(1)?).unwrap_or(WorkKind::File),
                path: r.get(2)?,
                file_name: r.get(3)?,
                content_type: r.get(4)?,
                size: r.get::<_, i64>(5)? as u64,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Some(Draft {
        homework_id: homework_id.to_owned(),
        text,
        files,
        updated_at,
    }))
}

fn ensure_draft(conn: &Connection, homework_id: &str, now: Millis) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO drafts (homework_id, updated_at) VALUES (?1, ?2) \
         ON CONFLICT(homework_id) DO UPDATE SET updated_at = excluded.updated_at",
    )?
    .execute(params![homework_id, now])?;
    Ok(())
}

pub(crate) fn set_text(
    conn: &Connection,
    homework_id: &str,
    text: &str,
    now: Millis,
) -> Result<()> {
    ensure_draft(conn, homework_id, now)?;
    conn.prepare_cached("UPDATE drafts SET text = ?2 WHERE homework_id = ?1")?
        .execute(params![homework_id, text])?;
    Ok(())
}

pub(crate) fn add_file(
    conn: &Connection,
    homework_id: &str,
    f: &DraftFile,
    now: Millis,
) -> Result<i64> {
    ensure_draft(conn, homework_id, now)?;
    conn.prepare_cached(
        "INSERT INTO draft_files (homework_id, position, kind, path, file_name, content_type, size) \
         VALUES (?1, (SELECT COALESCE(MAX(position), -1) + 1 FROM draft_files WHERE homework_id = ?1), \
         ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        homework_id,
        f.kind.as_str(),
        f.path,
        f.file_name,
        f.content_type,
        f.size as i64
    ])?;
    Ok(conn.last_insert_rowid())
}

/// Removes a file from a draft; returns its local path so the caller can delete it.
pub(crate) fn remove_file(
    conn: &Connection,
    homework_id: &str,
    file_id: i64,
    now: Millis,
) -> Result<Option<String>> {
    let path: Option<String> = conn
        .prepare_cached("SELECT path FROM draft_files WHERE id = ?1 AND homework_id = ?2")?
        .query_row(params![file_id, homework_id], |r| r.get(0))
        .optional()?;
    if path.is_some() {
        conn.prepare_cached("DELETE FROM draft_files WHERE id = ?1")?
            .execute([file_id])?;
        ensure_draft(conn, homework_id, now)?;
    }
    Ok(path)
}

/// Puts the draft's files in the given order (ids not named keep their relative order after).
pub(crate) fn reorder(
    conn: &Connection,
    homework_id: &str,
    order: &[i64],
    now: Millis,
) -> Result<()> {
    let mut ids: Vec<i64> = order.to_vec();
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM draft_files WHERE homework_id = ?1 ORDER BY position, id",
    )?;
    let existing: Vec<i64> = stmt
        .query_map([homework_id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    ids.retain(|id| existing.contains(id));
    ids.dedup();
    for id in existing {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    for (position, id) in ids.iter().enumerate() {
        conn.prepare_cached("UPDATE draft_files SET position = ?2 WHERE id = ?1")?
            .execute(params![id, position as i64])?;
    }
    ensure_draft(conn, homework_id, now)?;
    Ok(())
}

pub(crate) fn delete_draft(conn: &Connection, homework_id: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM drafts WHERE homework_id = ?1")?
        .execute([homework_id])?;
    Ok(())
}

// --- hand-ins -----------------------------------------------------------------------------

pub(crate) fn insert_handin(conn: &Connection, h: &Handin) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO handins (id, homework_id, text, files, state, created_at) \
         VALUES (?1, ?2, ?3, ?4, 'queued', ?5)",
    )?
    .execute(params![
        h.id,
        h.homework_id,
        h.text,
        serde_json::to_string(&FilesJson::from(&h.files))?,
        h.created_at
    ])?;
    Ok(())
}

fn handin_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Handin, String)> {
    let state: String = r.get(4)?;
    let files: String = r.get(3)?;
    Ok((
        Handin {
            id: r.get(0)?,
            homework_id: r.get(1)?,
            text: r.get(2)?,
            files: serde_json::from_str::<FilesJson>(&files)
                .map(|f| f.0)
                .unwrap_or_default(),
            state: match state.as_str() {
                "delivered" => HandinState::Delivered,
                "failed" => HandinState::Failed,
                _ => HandinState::Queued,
            },
            created_at: r.get(5)?,
            submission_id: r.get(6)?,
            attempt: r.get::<_, Option<i64>>(7)?.map(|n| n as u32),
            received_at: r.get(8)?,
            error: r.get(9)?,
            sent_bytes: 0,
            total_bytes: 0,
        },
        state,
    ))
}

const HANDIN_COLUMNS: &str = "id, homework_id, text, files, state, created_at, submission_id, attempt, received_at, error_message";

pub(crate) fn handin(conn: &Connection, id: &str) -> Result<Option<Handin>> {
    let sql = format!("SELECT {HANDIN_COLUMNS} FROM handins WHERE id = ?1");
    let found = conn
        .prepare_cached(&sql)?
        .query_row([id], handin_row)
        .optional()?;
    found.map(|(h, _)| with_progress(conn, h)).transpose()
}

/// The most recent hand-in of a homework from this device.
pub(crate) fn latest_handin(conn: &Connection, homework_id: &str) -> Result<Option<Handin>> {
    let sql = format!(
        "SELECT {HANDIN_COLUMNS} FROM handins WHERE homework_id = ?1 ORDER BY created_at DESC, id DESC LIMIT 1"
    );
    let found = conn
        .prepare_cached(&sql)?
        .query_row([homework_id], handin_row)
        .optional()?;
    found.map(|(h, _)| with_progress(conn, h)).transpose()
}

/// Adds upload progress (bytes the server confirmed, of all bytes) to a queued hand-in.
fn with_progress(conn: &Connection, mut h: Handin) -> Result<Handin> {
    let (sent, total): (i64, i64) = conn
        .prepare_cached(
            "SELECT COALESCE(SUM(confirmed), 0), COALESCE(SUM(length), 0) FROM uploads WHERE batch = ?1",
        )?
        .query_row([handin_batch(&h.id)], |r| Ok((r.get(0)?, r.get(1)?)))?;
    h.sent_bytes = sent as u64;
    h.total_bytes = total as u64;
    if h.state == HandinState::Queued && total > 0 && sent < total {
        h.state = HandinState::Uploading;
    }
    Ok(h)
}

/// The upload batch of a hand-in's files.
pub(crate) fn handin_batch(handin_id: &str) -> String {
    format!("handin:{handin_id}")
}

pub(crate) fn handin_delivered(conn: &Connection, id: &str, s: &Submission) -> Result<()> {
    put_submission(conn, s)?;
    let last = s.attempts.last();
    conn.prepare_cached(
        "UPDATE handins SET state = 'delivered', submission_id = ?2, attempt = ?3, received_at = ?4, \
         error_code = NULL, error_message = NULL WHERE id = ?1",
    )?
    .execute(params![
        id,
        s.id,
        last.map(|a| a.number as i64),
        last.map(|a| a.submitted_at)
    ])?;
    Ok(())
}

/// The server refused the hand-in for good: mark it, and put the work back into the draft
/// (unless a newer draft exists) so nothing the student did is lost.
pub(crate) fn handin_failed(
    conn: &Connection,
    id: &str,
    code: &str,
    message: &str,
    now: Millis,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE handins SET state = 'failed', error_code = ?2, error_message = ?3 WHERE id = ?1",
    )?
    .execute(params![id, code, message])?;
    let Some(h) = handin(conn, id)? else {
        return Ok(());
    };
    if draft(conn, &h.homework_id)?.is_none() {
        set_text(conn, &h.homework_id, &h.text, now)?;
        for f in &h.files {
            add_file(conn, &h.homework_id, f, now)?;
        }
    }
    Ok(())
}

#[derive(serde::Serialize, serde::Deserialize, Default)]
struct FilesJson(Vec<DraftFile>);

impl From<&Vec<DraftFile>> for FilesJson {
    fn from(v: &Vec<DraftFile>) -> Self {
        FilesJson(v.clone())
    }
}

// --- reviews and sign-offs ----------------------------------------------------------------

pub(crate) fn insert_review(
    conn: &Connection,
    id: &str,
    submission_id: &str,
    action: &str,
    body: &str,
    now: Millis,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO reviews (id, submission_id, action, body, state, created_at) VALUES (?1, ?2, ?3, ?4, 'queued', ?5)",
    )?
    .execute(params![id, submission_id, action, body, now])?;
    Ok(())
}

/// (submission id, action, JSON body) of a queued review.
pub(crate) fn review(conn: &Connection, id: &str) -> Result<Option<(String, String, String)>> {
    Ok(conn
        .prepare_cached("SELECT submission_id, action, body FROM reviews WHERE id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?)
}

pub(crate) fn review_done(conn: &Connection, id: &str, s: &Submission) -> Result<()> {
    put_submission(conn, s)?;
    conn.prepare_cached("DELETE FROM reviews WHERE id = ?1")?
        .execute([id])?;
    Ok(())
}

pub(crate) fn review_failed(conn: &Connection, id: &str, message: &str) -> Result<()> {
    conn.prepare_cached("UPDATE reviews SET state = 'failed', error_message = ?2 WHERE id = ?1")?
        .execute(params![id, message])?;
    Ok(())
}

// --- settings -----------------------------------------------------------------------------

pub(crate) fn setting(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT value FROM settings WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?)
}

pub(crate) fn set_setting(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![key, value])?;
    Ok(())
}

/// Where the uploads of one batch stand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BatchState {
    /// Some are still going up.
    Waiting,
    /// All done: the server's upload ids in the order they were added.
    Ready(Vec<String>),
    /// One was refused for good.
    Failed { code: String, message: String },
}

pub(crate) fn batch_state(conn: &Connection, batch: &str) -> Result<BatchState> {
    let mut stmt = conn.prepare_cached(
        "SELECT state, server_id, error_code, error_message FROM uploads WHERE batch = ?1 ORDER BY id",
    )?;
    let rows = stmt
        .query_map([batch], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut ids = Vec::with_capacity(rows.len());
    for (state, server_id, code, message) in rows {
        match (state.as_str(), server_id) {
            ("done", Some(id)) => ids.push(id),
            ("done", None) => {
                return Ok(BatchState::Failed {
                    code: "internal".into(),
                    message: "an upload finished without a server id".into(),
                });
            }
            ("failed", _) => {
                return Ok(BatchState::Failed {
                    code: code.unwrap_or_else(|| "validation".into()),
                    message: message.unwrap_or_else(|| "a file could not be uploaded".into()),
                });
            }
            _ => return Ok(BatchState::Waiting),
        }
    }
    Ok(BatchState::Ready(ids))
}
