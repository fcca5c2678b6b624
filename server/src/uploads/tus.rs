//! The tus 1.0 mechanics: metadata, checksums, and writing one PATCH body at its offset.
//!
//! A body is streamed to the blob file as it arrives. Without a checksum, the bytes that
//! arrived before a broken connection are kept (so the client resumes from there); with one,
//! the whole chunk is discarded unless it arrived complete and matched.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use axum::body::Body;
use base64::Engine;
use futures::StreamExt;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::{Blobs, Upload};
use crate::{
    db::{Db, now_ms},
    error::{ApiError, ApiResult},
};

/// `Upload-Metadata`: comma-separated `key base64value` pairs (the value may be absent).
pub fn parse_metadata(header: &str) -> Result<HashMap<String, String>, String> {
    let mut out = HashMap::new();
    for pair in header.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut parts = pair.splitn(2, ' ');
        let key = parts.next().unwrap_or_default().trim();
        if key.is_empty() {
            return Err("empty metadata key".into());
        }
        let value = match parts.next().map(str::trim) {
            Some(v) if !v.is_empty() => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(v)
                    .map_err(|_| format!("metadata {key} is not base64"))?;
                String::from_utf8(bytes).map_err(|_| format!("metadata {key} is not UTF-8"))?
            }
            _ => String::new(),
        };
        out.insert(key.to_owned(), value);
    }
    Ok(out)
}

/// A checksum the client asked us to verify.
pub enum Checksum {
    Sha1(Sha1, Vec<u8>),
    Sha256(Sha256, Vec<u8>),
}

impl Checksum {
    /// `Upload-Checksum: <algorithm> <base64>`; `Err` for an unknown algorithm.
    pub fn parse(header: &str) -> ApiResult<Checksum> {
        let (algo, value) = header.trim().split_once(' ').ok_or_else(|| {
            ApiError::bad_request("Upload-Checksum must be '<algorithm> <base64>'")
        })?;
        let expected = base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .map_err(|_| ApiError::bad_request("Upload-Checksum value is not base64"))?;
        match algo {
            "sha1" => Ok(Checksum::Sha1(Sha1::new(), expected)),
            "sha256" => Ok(Checksum::Sha256(Sha256::new(), expected)),
            other => Err(ApiError::bad_request(format!(
                "checksum algorithm {other} is not supported; use sha1 or sha256"
            ))),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Checksum::Sha1(h, _) => h.update(data),
            Checksum::Sha256(h, _) => h.update(data),
        }
    }

    fn matches(self) -> bool {
        match self {
            Checksum::Sha1(h, e) => h.finalize()[..] == e[..],
            Checksum::Sha256(h, e) => h.finalize()[..] == e[..],
        }
    }
}

/// One writer per upload in this process; the database's conditional update guards against
/// other processes.
#[derive(Default)]
pub struct Locks {
    inner: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Locks {
    pub fn get(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, m| Arc::strong_count(m) > 1);
        map.entry(id.to_owned()).or_default().clone()
    }
}

/// What became of a PATCH body.
pub enum Written {
    /// The new offset.
    Done(u64),
    /// The checksum did not match; nothing was kept.
    Mismatch,
    /// The body broke off; the offset the upload now has.
    Broken(u64),
    /// More bytes than the upload has room for; nothing was kept.
    TooLong,
}

/// Streams `body` into the upload's blob at `upload.offset`, then records the new offset
/// (and, at the end, the file's SHA-256). The caller holds the upload's lock.
pub async fn write(
    db: &Db,
    blobs: &Blobs,
    upload: &Upload,
    body: Body,
    mut checksum: Option<Checksum>,
    ttl_ms: i64,
) -> ApiResult<Written> {
    let path = blobs.path(&upload.id);
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .await
        .map_err(|e| anyhow::anyhow!("open blob: {e}"))?;
    file.seek(std::io::SeekFrom::Start(upload.offset))
        .await
        .map_err(|e| anyhow::anyhow!("seek blob: {e}"))?;
    let room = upload.length - upload.offset;
    let mut written: u64 = 0;
    let mut stream = body.into_data_stream();
    let mut broken = false;
    let mut too_long = false;
    while let Some(frame) = stream.next().await {
        let Ok(data) = frame else {
            broken = true;
            break;
        };
        if written + data.len() as u64 > room {
            too_long = true;
            break;
        }
        if let Some(c) = checksum.as_mut() {
            c.update(&data);
        }
        file.write_all(&data)
            .await
            .map_err(|e| anyhow::anyhow!("write blob: {e}"))?;
        written += data.len() as u64;
    }
    file.flush()
        .await
        .map_err(|e| anyhow::anyhow!("flush blob: {e}"))?;
    file.sync_data()
        .await
        .map_err(|e| anyhow::anyhow!("sync blob: {e}"))?;
    drop(file);

    let keep = if too_long {
        0
    } else if broken {
        if checksum.is_some() { 0 } else { written }
    } else if let Some(c) = checksum {
        if c.matches() {
            written
        } else {
            return Ok(Written::Mismatch);
        }
    } else {
        written
    };
    if too_long {
        return Ok(Written::TooLong);
    }
    let new_offset = upload.offset + keep;
    if keep > 0 {
        let complete = new_offset == upload.length;
        let sha256 = if complete {
            hash_file(&path).await?
        } else {
            String::new()
        };
        let now = now_ms();
        let updated = sqlx::query(
            "UPDATE uploads SET upload_offset = $2, expires_at = $3, sha256 = $4, \
             completed_at = CASE WHEN $5 = 1 THEN $6 ELSE NULL END \
             WHERE id = $1 AND upload_offset = $7",
        )
        .bind(&upload.id)
        .bind(new_offset as i64)
        .bind(now + ttl_ms)
        .bind(&sha256)
        .bind(complete as i64)
        .bind(now)
        .bind(upload.offset as i64)
        .execute(db.pool())
        .await?;
        if updated.rows_affected() == 0 {
            return Err(ApiError::conflict(
                "the upload was changed by another request",
            ));
        }
    }
    Ok(if broken {
        Written::Broken(new_offset)
    } else {
        Written::Done(new_offset)
    })
}

async fn hash_file(path: &std::path::Path) -> ApiResult<String> {
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| anyhow::anyhow!("open blob: {e}"))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file
            .read(&mut buf)
            .await
            .map_err(|e| anyhow::anyhow!("read blob: {e}"))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_pairs_decode_and_values_may_be_absent() {
        let m = parse_metadata(
            "filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==,is_confidential, kind cGhvdG8=",
        )
        .unwrap();
        assert_eq!(m["filename"], "world_domination_plan.pdf");
        assert_eq!(m["is_confidential"], "");
        assert_eq!(m["kind"], "photo");
        assert!(parse_metadata("name !!!").is_err());
    }

    #[test]
    fn checksums_parse_known_algorithms_only() {
        assert!(Checksum::parse("sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=").is_ok());
        assert!(Checksum::parse("sha256 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=").is_ok());
        assert!(Checksum::parse("md5 1B2M2Y8AsgTpgAmY7PhCfg==").is_err());
        let mut c = Checksum::parse("sha256 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=").unwrap();
        c.update(b"");
        assert!(c.matches());
    }
}
