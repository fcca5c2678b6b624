//! Queues homework files with the resumable uploader, inside the caller's transaction, so a
//! hand-in and its files are recorded together or not at all.

use lianxiao_protocol::{UploadPurpose, WorkKind};
use rusqlite::{Connection, params};
use sha2::{Digest, Sha256};

use crate::{Error, Result};

pub(crate) struct NewUpload {
    pub batch: String,
    pub path: String,
    pub purpose: UploadPurpose,
    pub homework_id: Option<String>,
    pub kind: WorkKind,
    pub file_name: String,
    pub content_type: String,
}

/// Hashes the file (the uploader checks every chunk and the server the whole) and records it.
pub(crate) fn add(conn: &Connection, u: &NewUpload, now: i64) -> Result<i64> {
    let (length, sha256) = hash_file(std::path::Path::new(&u.path))?;
    conn.prepare_cached(
        "INSERT INTO uploads (batch, file_path, purpose, homework_id, kind, file_name, content_type, \
         length, sha256, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
    )?
    .execute(params![
        u.batch,
        u.path,
        u.purpose.as_str(),
        u.homework_id.as_deref().unwrap_or(""),
        u.kind.as_str(),
        u.file_name,
        u.content_type,
        length as i64,
        sha256,
        now
    ])?;
    Ok(conn.last_insert_rowid())
}

fn hash_file(path: &std::path::Path) -> Result<(u64, String)> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)
        .map_err(|e| Error::Storage(format!("cannot read the file: {}", e.kind())))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut length = 0u64;
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| Error::Storage(format!("cannot read the file: {}", e.kind())))?;
        if n == 0 {
            break;
        }
        length += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((length, hex::encode(hasher.finalize())))
}
