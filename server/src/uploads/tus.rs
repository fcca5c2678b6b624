//! The tus 1.0 mechanics: metadata, checksums, and writing one PATCH body at its offset.
//!
//! A body is streamed to the blob file as it arrives. Without a checksum, the bytes that
//! arrived before a broken connection are kept (so the client resumes from there); with one,
//! the whole chunk is discarded unless it arrived complete and matched.
//!
//! Mobile connections often die without closing: the server then hears nothing, neither
//! bytes nor an end. Such a body is given up after [`IDLE_TIMEOUT`], and sooner when the
//! client comes back with a new request for the same upload (it takes the upload over).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::body::Body;
use base64::Engine;
use futures::StreamExt;
use lianxiao_protocol::MAX_CHUNK_BYTES;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use tokio::{
    io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt},
    sync::{OwnedMutexGuard, watch},
};

use super::{Blobs, Upload};
use crate::{
    db::{Db, now_ms},
    error::{ApiError, ApiResult},
};

/// A PATCH body that sends nothing for this long is treated as broken. Longer than the
/// core's stall timeout, so a slow but moving link is never cut by the server first.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

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
    inner: Mutex<HashMap<String, Arc<Slot>>>,
}

struct Slot {
    lock: Arc<tokio::sync::Mutex<()>>,
    /// Bumped by every request that wants the upload; the holder stops when it changes.
    takeover: watch::Sender<u64>,
}

/// The right to write one upload, until dropped.
pub struct Held {
    _slot: Arc<Slot>,
    _guard: OwnedMutexGuard<()>,
    takeover: watch::Receiver<u64>,
}

impl Locks {
    /// Waits for the upload, asking whoever holds it to stop first: the newest request is
    /// the one a client is waiting on.
    pub async fn acquire(&self, id: &str) -> Held {
        let slot = {
            let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            map.retain(|_, s| Arc::strong_count(s) > 1);
            map.entry(id.to_owned())
                .or_insert_with(|| {
                    Arc::new(Slot {
                        lock: Arc::default(),
                        takeover: watch::Sender::new(0),
                    })
                })
                .clone()
        };
        slot.takeover.send_modify(|n| *n += 1);
        let takeover = slot.takeover.subscribe();
        let guard = slot.lock.clone().lock_owned().await;
        Held {
            _slot: slot,
            _guard: guard,
            takeover,
        }
    }
}

/// What became of a PATCH body.
pub enum Written {
    /// The new offset.
    Done(u64),
    /// The checksum did not match; nothing was kept.
    Mismatch,
    /// The body broke off or went quiet; the offset the upload now has.
    Broken(u64),
    /// A newer request for this upload made this one stop; the offset the upload now has.
    TakenOver(u64),
    /// More bytes than the upload has room for, or than one chunk may hold; nothing was kept.
    TooLong,
}

/// Streams `body` into the upload's blob at `upload.offset`, then records the new offset
/// (and, at the end, the file's SHA-256). The blob is synced before the row moves, so an
/// offset never counts bytes that are not on disk.
pub async fn write(
    db: &Db,
    blobs: &Blobs,
    upload: &Upload,
    held: &mut Held,
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
    let room = (upload.length - upload.offset).min(MAX_CHUNK_BYTES);
    let mut written: u64 = 0;
    let mut stream = body.into_data_stream();
    let (mut broken, mut taken_over, mut too_long) = (false, false, false);
    loop {
        let frame = tokio::select! {
            biased;
            _ = held.takeover.changed() => {
                taken_over = true;
                break;
            }
            frame = tokio::time::timeout(IDLE_TIMEOUT, stream.next()) => frame,
        };
        let data = match frame {
            Ok(None) => break,
            Ok(Some(Ok(data))) => data,
            // The connection broke, or went quiet for too long.
            Ok(Some(Err(_))) | Err(_) => {
                broken = true;
                break;
            }
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
    if too_long {
        return Ok(Written::TooLong);
    }
    file.flush()
        .await
        .map_err(|e| anyhow::anyhow!("flush blob: {e}"))?;
    file.sync_data()
        .await
        .map_err(|e| anyhow::anyhow!("sync blob: {e}"))?;
    drop(file);

    let keep = match checksum {
        // A chunk that did not arrive whole cannot be verified.
        Some(_) if broken || taken_over => 0,
        Some(c) => {
            if !c.matches() {
                return Ok(Written::Mismatch);
            }
            written
        }
        None => written,
    };
    let new_offset = upload.offset + keep;
    // A request that ended normally extends the expiry even when it carried no bytes, so
    // the Upload-Expires it answers with is true.
    if keep > 0 || !(broken || taken_over || upload.completed) {
        let complete = new_offset == upload.length;
        let (sha256, content_type) = if complete {
            // What the file is, from its bytes (never the type the client declared); a
            // mismatch with its kind is kept as found, and refused when it is handed in.
            let head = super::content::head_of(&path)
                .await
                .map_err(|e| anyhow::anyhow!("read blob: {e}"))?;
            let found = super::content::check(upload.kind, &head).unwrap_or_else(|found| found);
            (hash_file(&path).await?, found.to_owned())
        } else {
            (String::new(), upload.content_type.clone())
        };
        let now = now_ms();
        let updated = sqlx::query(
            "UPDATE uploads SET upload_offset = $2, expires_at = $3, sha256 = $4, \
             completed_at = CASE WHEN $5 = 1 THEN $6 ELSE NULL END, content_type = $8 \
             WHERE id = $1 AND upload_offset = $7",
        )
        .bind(&upload.id)
        .bind(new_offset as i64)
        .bind(now + ttl_ms)
        .bind(&sha256)
        .bind(complete as i64)
        .bind(now)
        .bind(upload.offset as i64)
        .bind(&content_type)
        .execute(db.pool())
        .await?;
        if updated.rows_affected() == 0 {
            return Err(ApiError::conflict(
                "the upload was changed by another request",
            ));
        }
    }
    Ok(if taken_over {
        Written::TakenOver(new_offset)
    } else if broken {
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
