//! The background sender: one upload at a time (a school's link is thin), chunk by chunk,
//! each chunk with its sha256 so the server discards a broken one. After every confirmed
//! chunk the offset is stored; after any break the server's offset (HEAD) decides where to
//! go on. Connections that stop moving are dropped after the stall timeout.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use lianxiao_protocol::{Millis, SERVER_TIME_HEADER, TUS_VERSION, UPLOADS_PATH};
use reqwest::StatusCode;
use tokio::{
    io::{AsyncReadExt, AsyncSeekExt},
    sync::Notify,
};

use super::tus;
use crate::{
    Error, Result, RetryClass,
    api::now_ms,
    client::Shared,
    due_queue::{self, DueQueue},
    outbox::retry_delay,
    store::{self, uploads::UploadRow},
};

/// The HTTP client for uploads: no overall timeout (a big chunk on a slow link takes what it
/// takes); stalls are caught by watching progress instead.
pub(super) fn http_client() -> Option<reqwest::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .tcp_keepalive(Duration::from_secs(15))
        .pool_idle_timeout(Duration::from_secs(30))
        .build()
        .ok()
}

fn http(shared: &Shared) -> Result<&reqwest::Client> {
    shared
        .uploads
        .http
        .as_ref()
        .ok_or_else(|| Error::Internal("could not build the HTTP client".into()))
}

/// Why one step of an upload did not go through.
#[derive(Debug)]
enum Fail {
    /// 404/410: the server does not know the upload (any more): start again from zero.
    Gone,
    /// 460: the chunk arrived damaged and was discarded.
    Checksum,
    /// 409: our offset is not the server's: ask again.
    Offset,
    /// The connection broke or stalled after `after` of sending.
    Broken {
        error: Error,
        after: Duration,
    },
    Error(Error),
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail::Error(e)
    }
}

fn storage(e: std::io::Error) -> Error {
    Error::Storage(format!("cannot read the file: {}", e.kind()))
}

/// Sends one authenticated tus request built by `build`, refreshing the token once on 401.
/// Time limits are the caller's.
async fn send(
    shared: &Shared,
    build: impl Fn(&str) -> reqwest::RequestBuilder,
) -> Result<reqwest::Response> {
    let mut refreshed = false;
    loop {
        let access = shared.api.fresh_access_token().await?;
        let resp = build(&access)
            .bearer_auth(&access)
            .header(tus::TUS_RESUMABLE, TUS_VERSION)
            .send()
            .await?;
        if let Some(ms) = resp
            .headers()
            .get(SERVER_TIME_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<Millis>().ok())
        {
            shared.api.clock.observe(ms);
        }
        if resp.status() == StatusCode::UNAUTHORIZED && !refreshed {
            refreshed = true;
            shared.api.refresh_after(&access).await?;
            continue;
        }
        return Ok(resp);
    }
}

/// A non-success answer as a `Fail`.
async fn refusal(resp: reqwest::Response) -> Fail {
    let status = resp.status().as_u16();
    match status {
        404 | 410 => return Fail::Gone,
        409 => return Fail::Offset,
        tus::CHECKSUM_MISMATCH => return Fail::Checksum,
        _ => {}
    }
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    let body = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
    Fail::Error(Error::from_response(status, &body, retry_after))
}

fn header_u64(resp: &reqwest::Response, name: &str) -> Option<u64> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

async fn within<T>(
    limit: Duration,
    f: impl Future<Output = std::result::Result<T, Fail>>,
) -> std::result::Result<T, Fail> {
    let started = Instant::now();
    match tokio::time::timeout(limit, f).await {
        Ok(r) => r,
        Err(_) => Err(Fail::Broken {
            error: Error::Offline("timed out".into()),
            after: started.elapsed(),
        }),
    }
}

/// POST: creates the upload; returns its URL.
async fn create(shared: &Shared, row: &UploadRow) -> std::result::Result<String, Fail> {
    let http = http(shared)?;
    let base = shared.api.base().to_owned();
    let metadata = tus::upload_metadata(
        row.purpose.as_str(),
        row.homework_id.as_deref(),
        row.kind.as_str(),
        &row.file_name,
        &row.content_type,
    );
    let resp = within(shared.uploads.stall_timeout(), async {
        send(shared, |_| {
            http.post(format!("{base}{UPLOADS_PATH}"))
                .header(tus::UPLOAD_LENGTH, row.length)
                .header(tus::UPLOAD_METADATA, &metadata)
        })
        .await
        .map_err(Fail::Error)
    })
    .await?;
    if !resp.status().is_success() {
        return Err(match refusal(resp).await {
            // Not the upload but the collection is missing: a server without uploads.
            Fail::Gone => Fail::Error(Error::NotFound("the server takes no uploads".into())),
            other => other,
        });
    }
    let location = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| Error::Server {
            status: resp.status().as_u16(),
            message: "upload created without a Location".into(),
        })?;
    Ok(tus::resolve_location(&base, location))
}

/// HEAD: the server's offset and length.
async fn offset(shared: &Shared, url: &str) -> std::result::Result<(u64, Option<u64>), Fail> {
    let http = http(shared)?;
    let started = Instant::now();
    let resp = within(shared.uploads.stall_timeout(), async {
        send(shared, |_| http.head(url)).await.map_err(Fail::Error)
    })
    .await?;
    shared.uploads.sizer().round_trip(started.elapsed());
    if !resp.status().is_success() {
        return Err(refusal(resp).await);
    }
    let offset = header_u64(&resp, tus::UPLOAD_OFFSET).ok_or_else(|| Error::Server {
        status: resp.status().as_u16(),
        message: "no Upload-Offset".into(),
    })?;
    Ok((offset, header_u64(&resp, tus::UPLOAD_LENGTH)))
}

/// The sha256 of `len` bytes of the file at `offset`.
async fn chunk_digest(path: std::path::PathBuf, offset: u64, len: u64) -> Result<[u8; 32]> {
    tokio::task::spawn_blocking(move || {
        use sha2::Digest;
        use std::io::{Read, Seek, SeekFrom};
        let mut file = std::fs::File::open(&path).map_err(storage)?;
        file.seek(SeekFrom::Start(offset)).map_err(storage)?;
        let mut hasher = sha2::Sha256::new();
        let mut left = len;
        let mut buf = vec![0u8; 64 * 1024];
        while left > 0 {
            let want = buf.len().min(left as usize);
            let n = file.read(&mut buf[..want]).map_err(storage)?;
            if n == 0 {
                return Err(Error::Storage("the file got shorter".into()));
            }
            hasher.update(&buf[..n]);
            left -= n as u64;
        }
        Ok(hasher.finalize().into())
    })
    .await?
}

/// The bytes `offset..offset+len` of the file as a body stream, counting what was handed to
/// the connection in `sent`.
async fn chunk_body(
    path: &std::path::Path,
    offset: u64,
    len: u64,
    sent: Arc<AtomicU64>,
) -> Result<reqwest::Body> {
    let mut file = tokio::fs::File::open(path).await.map_err(storage)?;
    file.seek(std::io::SeekFrom::Start(offset))
        .await
        .map_err(storage)?;
    let reader = file.take(len);
    let stream = futures::stream::unfold(Some((reader, sent)), |state| async move {
        let (mut reader, sent) = state?;
        let mut buf = vec![0u8; 64 * 1024];
        match reader.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                sent.fetch_add(n as u64, Ordering::Relaxed);
                Some((Ok(buf), Some((reader, sent))))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    Ok(reqwest::Body::wrap_stream(stream))
}

/// PATCH one chunk; returns the server's new offset. Reports progress while it goes and
/// gives up when nothing moved for the stall timeout.
async fn patch(
    shared: &Shared,
    row: &UploadRow,
    url: &str,
    offset: u64,
    len: u64,
) -> std::result::Result<u64, Fail> {
    let http = http(shared)?;
    let digest = chunk_digest(row.file_path.clone(), offset, len).await?;
    let checksum = tus::checksum_header(&digest);
    let sent = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let request = async {
        let mut refreshed = false;
        loop {
            // The body is a stream: build it anew for a retry after a refresh.
            sent.store(0, Ordering::Relaxed);
            let body = chunk_body(&row.file_path, offset, len, sent.clone()).await?;
            let access = shared.api.fresh_access_token().await?;
            let resp = http
                .patch(url)
                .bearer_auth(&access)
                .header(tus::TUS_RESUMABLE, TUS_VERSION)
                .header(reqwest::header::CONTENT_TYPE, tus::OFFSET_OCTET_STREAM)
                .header(reqwest::header::CONTENT_LENGTH, len)
                .header(tus::UPLOAD_OFFSET, offset)
                .header(tus::UPLOAD_CHECKSUM, &checksum)
                .body(body)
                .send()
                .await?;
            if resp.status() == StatusCode::UNAUTHORIZED && !refreshed {
                refreshed = true;
                shared.api.refresh_after(&access).await?;
                continue;
            }
            return Ok::<_, Error>(resp);
        }
    };
    tokio::pin!(request);
    let stall = shared.uploads.stall_timeout();
    let tick = (stall / 4).clamp(Duration::from_millis(10), Duration::from_millis(250));
    let mut seen = 0;
    let mut moved_at = Instant::now();
    let resp = loop {
        tokio::select! {
            r = &mut request => break r,
            _ = tokio::time::sleep(tick) => {
                let now_sent = sent.load(Ordering::Relaxed);
                if now_sent != seen {
                    seen = now_sent;
                    moved_at = Instant::now();
                    shared.uploads.set_progress(row.id, offset + now_sent.min(len));
                } else if moved_at.elapsed() >= stall {
                    return Err(Fail::Broken {
                        error: Error::Offline("the connection stalled".into()),
                        after: started.elapsed(),
                    });
                }
            }
        }
    };
    let resp = match resp {
        Ok(resp) => resp,
        Err(error @ Error::Offline(_)) => {
            return Err(Fail::Broken {
                error,
                after: started.elapsed(),
            });
        }
        Err(e) => return Err(Fail::Error(e)),
    };
    if !resp.status().is_success() {
        return Err(refusal(resp).await);
    }
    let new_offset = header_u64(&resp, tus::UPLOAD_OFFSET).ok_or_else(|| Error::Server {
        status: resp.status().as_u16(),
        message: "no Upload-Offset".into(),
    })?;
    Ok(new_offset)
}

/// DELETE (termination).
pub(super) async fn terminate(shared: &Shared, url: &str) -> Result<()> {
    let http = http(shared)?;
    let resp = tokio::time::timeout(
        shared.uploads.stall_timeout(),
        send(shared, |_| http.delete(url)),
    )
    .await
    .map_err(|_| Error::Offline("timed out".into()))??;
    let status = resp.status();
    if status.is_success() || status == StatusCode::NOT_FOUND || status == StatusCode::GONE {
        return Ok(());
    }
    let body = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
    Err(Error::from_response(status.as_u16(), &body, None))
}

/// How many damaged chunks in a row before the upload is given up.
const MAX_CHECKSUM_FAILURES: u32 = 3;

/// Sends one upload to the end. `progressed` tells whether any chunk was confirmed.
async fn upload(
    shared: &Shared,
    row: &UploadRow,
    progressed: &mut bool,
) -> std::result::Result<String, Fail> {
    match tokio::fs::metadata(&row.file_path).await {
        Ok(m) if m.len() == row.length => {}
        Ok(_) => {
            return Err(Fail::Error(Error::Validation {
                field: Some("file".into()),
                message: "the file changed after it was queued".into(),
            }));
        }
        Err(e) => return Err(Fail::Error(storage(e))),
    }
    let id = row.id;
    let mut url = row.url.clone();
    let mut checksum_failures = 0;
    loop {
        let (url_now, mut offset) = match url.take() {
            Some(u) => match offset(shared, &u).await {
                Ok((offset, length))
                    if offset <= row.length && length.is_none_or(|l| l == row.length) =>
                {
                    (u, offset)
                }
                Ok(_) | Err(Fail::Gone) => {
                    // Expired, removed, or not the file we have: start again from zero.
                    tracing::info!(upload = id, "the server lost the upload; starting again");
                    shared
                        .store
                        .write(move |tx| store::uploads::forget_url(tx, id, now_ms()))
                        .await?;
                    shared.uploads.set_progress(id, 0);
                    continue;
                }
                Err(e) => return Err(e),
            },
            None => {
                let u = create(shared, row).await?;
                let stored = u.clone();
                shared
                    .store
                    .write(move |tx| store::uploads::set_url(tx, id, &stored, now_ms()))
                    .await?;
                (u, 0)
            }
        };
        shared.uploads.set_progress(id, offset);
        loop {
            if offset == row.length {
                return Ok(url_now);
            }
            let len = shared.uploads.sizer().next(row.length - offset);
            let started = Instant::now();
            match patch(shared, row, &url_now, offset, len).await {
                Ok(new) if new > offset && new <= row.length => {
                    // The server has the chunk, the store does not know yet.
                    crate::hooks::reached(&shared.user_id, "upload.patched");
                    if new == offset + len {
                        shared.uploads.sizer().chunk_sent(len, started.elapsed());
                    }
                    offset = new;
                    checksum_failures = 0;
                    *progressed = true;
                    shared
                        .store
                        .write(move |tx| store::uploads::confirmed(tx, id, new, now_ms()))
                        .await?;
                    shared.uploads.set_progress(id, new);
                    if !row.batch.is_empty() {
                        // Homework screens show their files' progress from the store.
                        shared.homework_changed();
                    }
                }
                Ok(_) | Err(Fail::Offset) => {
                    url = Some(url_now);
                    break;
                }
                Err(Fail::Checksum) => {
                    checksum_failures += 1;
                    tracing::info!(upload = id, offset, "chunk damaged on the way; resending");
                    if checksum_failures >= MAX_CHECKSUM_FAILURES {
                        return Err(Fail::Error(Error::Validation {
                            field: Some("file".into()),
                            message: "the file keeps arriving damaged".into(),
                        }));
                    }
                    url = Some(url_now);
                    break;
                }
                Err(Fail::Gone) => break,
                Err(Fail::Broken { error, after }) => {
                    shared.uploads.sizer().dropped(after);
                    return Err(Fail::Broken { error, after });
                }
                Err(e) => return Err(e),
            }
        }
        if url.is_none() {
            tracing::info!(upload = id, "the server lost the upload; starting again");
            shared
                .store
                .write(move |tx| store::uploads::forget_url(tx, id, now_ms()))
                .await?;
        }
    }
}

/// How long to wait after the `attempts`-th failure in a row without progress. The first
/// follows a connection that was moving bytes: come back at once (with a little jitter, so
/// a school's phones do not return in the same millisecond).
fn upload_retry_delay(attempts: u32) -> Duration {
    if attempts <= 1 {
        Duration::from_millis(rand::random_range(20..120))
    } else {
        retry_delay(attempts - 2).min(Duration::from_secs(60))
    }
}

/// Stops the upload `id` if it is being sent.
pub(super) fn abort(shared: &Shared, id: i64) {
    let active = shared
        .uploads
        .active
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some((active_id, stop)) = active.as_ref()
        && *active_id == id
    {
        stop.notify_one();
    }
}

/// Sends one upload and records how it went.
async fn drive(shared: &Arc<Shared>, row: UploadRow) -> Result<()> {
    let id = row.id;
    let stop = Arc::new(Notify::new());
    *shared
        .uploads
        .active
        .lock()
        .unwrap_or_else(|e| e.into_inner()) = Some((id, stop.clone()));
    shared.uploads.set_progress(id, row.confirmed);
    let mut progressed = false;
    let result = tokio::select! {
        r = upload(shared, &row, &mut progressed) => Some(r),
        _ = stop.notified() => None,
    };
    *shared
        .uploads
        .active
        .lock()
        .unwrap_or_else(|e| e.into_inner()) = None;
    shared
        .uploads
        .progress
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&id);
    let Some(result) = result else {
        // Cancelled: the row is gone already.
        shared.uploads.changed();
        return Ok(());
    };
    let now = now_ms();
    match result {
        Ok(url) => {
            let server_id = tus::server_id(&url);
            tracing::debug!(upload = id, "upload done");
            shared
                .store
                .write(move |tx| store::uploads::done(tx, id, &server_id, now))
                .await?;
            // Work waiting for this batch may go now.
            shared.outbox_wake.notify_one();
        }
        Err(fail) => {
            let error = match fail {
                Fail::Broken { error, .. } | Fail::Error(error) => error,
                Fail::Gone | Fail::Offset | Fail::Checksum => Error::Server {
                    status: 500,
                    message: "unexpected answer".into(),
                },
            };
            match error.retry_class() {
                RetryClass::Paused if shared.api.is_auth_expired() => {
                    // Signed out: keep everything as it is until a new sign-in.
                }
                RetryClass::Transient { .. } | RetryClass::Paused => {
                    let attempts = if progressed { 1 } else { row.attempts + 1 };
                    let delay = match error.retry_class() {
                        RetryClass::Transient { after: Some(after) } => after,
                        _ => upload_retry_delay(attempts),
                    };
                    let at = now + delay.as_millis() as Millis;
                    tracing::debug!(
                        upload = id,
                        attempts,
                        code = error.code_str(),
                        "upload will be retried"
                    );
                    shared
                        .store
                        .write(move |tx| store::uploads::retry_later(tx, id, attempts, at, now))
                        .await?;
                }
                RetryClass::Permanent => {
                    tracing::warn!(upload = id, code = error.code_str(), "upload refused");
                    let (code, message) = (error.code_str(), error.to_string());
                    shared
                        .store
                        .write(move |tx| store::uploads::failed(tx, id, code, &message, now))
                        .await?;
                    shared.outbox_wake.notify_one();
                }
            }
        }
    }
    shared.uploads.changed();
    if !row.batch.is_empty() {
        shared.homework_changed();
    }
    Ok(())
}

/// The background worker. Runs until its task is aborted.
pub(crate) async fn run(shared: Arc<Shared>) {
    due_queue::run::<Uploads>(shared).await
}

/// The uploads as a [`DueQueue`]: one upload at a time, the earliest due first.
pub(crate) struct Uploads;

impl DueQueue for Uploads {
    type Row = UploadRow;
    const WHAT: &'static str = "upload";

    fn wake(shared: &Shared) -> &Notify {
        &shared.uploads_wake
    }

    fn all_due_now(conn: &rusqlite::Connection) -> Result<()> {
        store::uploads::all_due_now(conn)
    }

    fn next_due(conn: &rusqlite::Connection, now: Millis) -> Result<Option<UploadRow>> {
        store::uploads::next_due(conn, now)
    }

    fn next_due_at(conn: &rusqlite::Connection) -> Result<Option<Millis>> {
        store::uploads::next_due_at(conn)
    }

    fn drive(
        shared: &Arc<Shared>,
        row: UploadRow,
    ) -> impl std::future::Future<Output = Result<()>> + Send {
        drive(shared, row)
    }
}
