//! Offline downloads of one rendition of a replay: a queue in the store and a background
//! worker that fetches the media playlist and every segment through the signed URLs of the
//! replay's ticket (asked again when it runs out or is refused), one download at a time (a
//! school's link is thin), and writes a local playlist pointing at the files.
//!
//! Every whole segment is recorded in the store, so after a lost network, a pause or a
//! killed app the download goes on with the next one; a segment cut off in the middle is
//! kept as a `.part` file and resumed with an HTTP Range request (or fetched again when the
//! server answers with the whole file). The storage cap is checked before a download starts,
//! counting what unfinished downloads will still need.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use futures::StreamExt;
use lianxiao_protocol::{Millis, ReplayTicket};
use reqwest::StatusCode;
use tokio::{io::AsyncWriteExt, sync::Notify};

use super::{download_dir, hls, playable};
use crate::{
    Error, Result, RetryClass,
    api::now_ms,
    client::Shared,
    due_queue::{self, DueQueue},
    outbox::retry_delay,
    store::{
        self,
        replays::{DownloadRow, StoredDownload},
    },
};

/// The default cap on all downloads together.
pub const DEFAULT_DOWNLOAD_CAP_BYTES: u64 = 2 * 1024 * 1024 * 1024;
const SETTING_CAP: &str = "replays.download_cap_bytes";
/// How long a connection may go without a byte before it is dropped.
const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(20);
/// A ticket this close to its expiry is asked for again before use.
const TICKET_MARGIN_MS: i64 = 30_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DownloadState {
    /// Waiting for its turn, the network or its retry time.
    Queued,
    /// Being fetched now.
    Downloading,
    /// Stopped by the person; what is on disk is kept.
    Paused,
    /// Every segment is on the phone: it plays offline.
    Done,
    /// Refused for good (see `error`); `resume_download` tries again.
    Failed,
}

/// Why a download failed: the core's stable error code name and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadError {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadStatus {
    pub replay_id: String,
    pub rendition: String,
    pub state: DownloadState,
    /// On disk now, the segment in flight included.
    pub bytes_done: u64,
    /// The rendition's size as the server announced it (what it takes once done).
    pub bytes_total: u64,
    pub segments_done: u32,
    /// Known once the playlist was read.
    pub segments_total: Option<u32>,
    /// Failed tries in a row without progress: "retrying".
    pub attempts: u32,
    pub error: Option<DownloadError>,
}

/// The downloads against their cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageUse {
    /// Held by finished downloads plus what unfinished ones will need.
    pub reserved_bytes: u64,
    pub cap_bytes: u64,
}

/// The worker's in-memory state, held in `Shared`.
pub(crate) struct DownloadsState {
    /// Bytes on disk of the download being fetched, the segment in flight included.
    progress: Mutex<HashMap<String, u64>>,
    /// The download being fetched and how to stop it (pause, delete).
    active: Mutex<Option<(String, Arc<Notify>)>>,
    tickets: Mutex<HashMap<String, ReplayTicket>>,
    stall_timeout_ms: AtomicU64,
    http: Option<reqwest::Client>,
    pub(crate) wake: Notify,
}

impl Default for DownloadsState {
    fn default() -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        DownloadsState {
            progress: Mutex::new(HashMap::new()),
            active: Mutex::new(None),
            tickets: Mutex::new(HashMap::new()),
            stall_timeout_ms: AtomicU64::new(DEFAULT_STALL_TIMEOUT.as_millis() as u64),
            // No overall timeout: a segment on a slow link takes what it takes; stalls are
            // caught by watching the bytes instead.
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .tcp_keepalive(Duration::from_secs(15))
                .pool_idle_timeout(Duration::from_secs(30))
                .build()
                .ok(),
            wake: Notify::new(),
        }
    }
}

impl DownloadsState {
    pub(crate) fn set_stall_timeout(&self, timeout: Duration) {
        self.stall_timeout_ms
            .store(timeout.as_millis().max(1) as u64, Ordering::Relaxed);
    }

    fn stall_timeout(&self) -> Duration {
        Duration::from_millis(self.stall_timeout_ms.load(Ordering::Relaxed))
    }

    fn http(&self) -> Result<&reqwest::Client> {
        self.http
            .as_ref()
            .ok_or_else(|| Error::Internal("could not build the HTTP client".into()))
    }

    fn set_progress(&self, id: &str, bytes: u64) {
        self.progress
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_owned(), bytes);
    }

    fn clear_progress(&self, id: &str) {
        self.progress
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }

    fn progress_of(&self, id: &str) -> Option<u64> {
        self.progress
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .copied()
    }

    /// Stops the download of `id` if it is being fetched.
    fn abort(&self, id: &str) {
        let active = self.active.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((active_id, stop)) = active.as_ref()
            && active_id == id
        {
            stop.notify_one();
        }
    }

    pub(crate) fn status(&self, row: DownloadRow) -> DownloadStatus {
        let live = self.progress_of(&row.replay_id);
        let state = match row.state {
            StoredDownload::Done => DownloadState::Done,
            StoredDownload::Failed => DownloadState::Failed,
            StoredDownload::Paused => DownloadState::Paused,
            StoredDownload::Queued if live.is_some() => DownloadState::Downloading,
            StoredDownload::Queued => DownloadState::Queued,
        };
        let bytes_done = live.unwrap_or(row.bytes_done).max(row.bytes_done);
        let bytes_total = if state == DownloadState::Done {
            row.bytes_done
        } else {
            row.expected_bytes.max(bytes_done)
        };
        DownloadStatus {
            replay_id: row.replay_id,
            rendition: row.rendition,
            state,
            bytes_done,
            bytes_total,
            segments_done: row.segments_done,
            segments_total: row.segments_total,
            attempts: row.attempts,
            error: row
                .error
                .map(|(code, message)| DownloadError { code, message }),
        }
    }
}

async fn cap(shared: &Arc<Shared>) -> Result<u64> {
    Ok(shared
        .store
        .read(|c| store::homework::setting(c, SETTING_CAP))
        .await?
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_DOWNLOAD_CAP_BYTES))
}

pub(super) async fn set_cap(shared: &Arc<Shared>, bytes: u64) -> Result<()> {
    shared
        .store
        .write(move |tx| store::homework::set_setting(tx, SETTING_CAP, &bytes.to_string()))
        .await
}

pub(super) async fn storage(shared: &Arc<Shared>) -> Result<StorageUse> {
    Ok(StorageUse {
        reserved_bytes: shared.store.read(store::replays::reserved_bytes).await?,
        cap_bytes: cap(shared).await?,
    })
}

pub(super) async fn status(shared: &Arc<Shared>, id: String) -> Result<Option<DownloadStatus>> {
    let row = shared
        .store
        .read(move |c| store::replays::download(c, &id))
        .await?;
    Ok(row.map(|r| shared.replays.status(r)))
}

pub(super) async fn list(shared: &Arc<Shared>) -> Result<Vec<DownloadStatus>> {
    let rows = shared.store.read(store::replays::downloads).await?;
    Ok(rows.into_iter().map(|r| shared.replays.status(r)).collect())
}

const MIB: u64 = 1024 * 1024;

pub(super) async fn start(
    shared: &Arc<Shared>,
    replay_id: String,
    rendition: String,
) -> Result<DownloadStatus> {
    let cap = cap(shared).await?;
    let id = replay_id.clone();
    shared
        .store
        .write(move |tx| {
            let replay = store::replays::get(tx, &id)?
                .ok_or_else(|| Error::NotFound(format!("replay {id}")))?;
            playable(&replay)?;
            let wanted = replay
                .renditions
                .iter()
                .find(|r| r.name == rendition)
                .ok_or_else(|| Error::Validation {
                    field: Some("rendition".into()),
                    message: format!("replay {id} has no rendition {rendition}"),
                })?;
            let now = now_ms();
            if let Some(existing) = store::replays::download(tx, &id)? {
                if existing.rendition != rendition {
                    return Err(Error::Conflict(format!(
                        "replay {id} is already downloaded as {}: delete it first",
                        existing.rendition
                    )));
                }
                if matches!(
                    existing.state,
                    StoredDownload::Paused | StoredDownload::Failed
                ) {
                    store::replays::set_state(tx, &id, StoredDownload::Queued, now)?;
                }
                return Ok(());
            }
            let reserved = store::replays::reserved_bytes(tx)?;
            if reserved.saturating_add(wanted.size_bytes) > cap {
                return Err(Error::Validation {
                    field: Some("storage_cap".into()),
                    message: format!(
                        "the download needs {} MiB; {} MiB of the {} MiB for downloads are free",
                        wanted.size_bytes.div_ceil(MIB),
                        cap.saturating_sub(reserved) / MIB,
                        cap / MIB
                    ),
                });
            }
            store::replays::add_download(tx, &id, &rendition, wanted.size_bytes, now)
        })
        .await?;
    shared.replays.wake.notify_one();
    shared.replays_changed();
    status(shared, replay_id.clone())
        .await?
        .ok_or_else(|| Error::NotFound(format!("download of {replay_id}")))
}

pub(super) async fn pause(shared: &Arc<Shared>, replay_id: String) -> Result<()> {
    let id = replay_id.clone();
    let paused = shared
        .store
        .write(move |tx| match store::replays::download(tx, &id)? {
            None => Err(Error::NotFound(format!("download of {id}"))),
            Some(d) if d.state == StoredDownload::Done => Ok(false),
            Some(_) => store::replays::set_state(tx, &id, StoredDownload::Paused, now_ms()),
        })
        .await?;
    if paused {
        shared.replays.abort(&replay_id);
        shared.replays_changed();
    }
    Ok(())
}

pub(super) async fn resume(shared: &Arc<Shared>, replay_id: String) -> Result<()> {
    let id = replay_id.clone();
    shared
        .store
        .write(move |tx| match store::replays::download(tx, &id)? {
            None => Err(Error::NotFound(format!("download of {id}"))),
            Some(d) if matches!(d.state, StoredDownload::Paused | StoredDownload::Failed) => {
                store::replays::set_state(tx, &id, StoredDownload::Queued, now_ms()).map(|_| ())
            }
            Some(_) => Ok(()),
        })
        .await?;
    shared.replays.wake.notify_one();
    shared.replays_changed();
    Ok(())
}

pub(super) async fn delete(shared: &Arc<Shared>, replay_id: String) -> Result<()> {
    let id = replay_id.clone();
    let existed = shared
        .store
        .write(move |tx| store::replays::remove_download(tx, &id))
        .await?;
    shared.replays.abort(&replay_id);
    shared.replays.clear_progress(&replay_id);
    remove_files(&shared.data_dir, &replay_id).await;
    shared.replays_changed();
    if existed {
        Ok(())
    } else {
        Err(Error::NotFound(format!("download of {replay_id}")))
    }
}

/// The rows are gone already (the replay was removed by sync).
pub(super) async fn forget(shared: &Arc<Shared>, replay_id: &str) {
    shared.replays.abort(replay_id);
    shared.replays.clear_progress(replay_id);
    remove_files(&shared.data_dir, replay_id).await;
}

/// Deletes a download's directory (best effort: a file still open is gone at its close).
pub(crate) async fn remove_files(data_dir: &Path, replay_id: &str) {
    let dir = download_dir(data_dir, replay_id);
    match tokio::fs::remove_dir_all(&dir).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(replay = replay_id, kind = ?e.kind(), "could not delete a download")
        }
    }
}

/// `POST /v1/replays/{id}/play`: signed URLs for this person. Kept for the downloader.
pub(super) async fn fetch_ticket(shared: &Arc<Shared>, replay_id: &str) -> Result<ReplayTicket> {
    let key = uuid::Uuid::new_v4().to_string();
    let ticket: ReplayTicket = shared
        .api
        .post(&format!("/replays/{replay_id}/play"), None, &key)
        .await?;
    shared
        .replays
        .tickets
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(replay_id.to_owned(), ticket.clone());
    Ok(ticket)
}

/// A ticket that is still good for a while, or a new one.
async fn ticket(shared: &Arc<Shared>, replay_id: &str, renew: bool) -> Result<ReplayTicket> {
    if !renew {
        let cached = shared
            .replays
            .tickets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(replay_id)
            .cloned();
        if let Some(t) = cached
            && t.expires_at - TICKET_MARGIN_MS > shared.api.clock.now()
        {
            return Ok(t);
        }
    }
    fetch_ticket(shared, replay_id).await
}

fn stalled() -> Error {
    Error::Offline("the connection stalled".into())
}

/// A body cut off part-way (reqwest reports it as a decode error, which the core's mapping
/// would take for a bad answer): the link broke, try again.
fn broken() -> Error {
    Error::Offline("the connection broke".into())
}

fn storage_error(e: std::io::Error) -> Error {
    Error::Storage(format!("cannot write the download: {}", e.kind()))
}

/// A whole small body (a playlist), within the stall timeout.
async fn get_bytes(shared: &Shared, url: &reqwest::Url) -> Result<Vec<u8>> {
    let http = shared.replays.http()?;
    let limit = shared.replays.stall_timeout().max(Duration::from_secs(1));
    let resp = tokio::time::timeout(limit, http.get(url.clone()).send())
        .await
        .map_err(|_| stalled())??;
    let status = resp.status();
    let body = tokio::time::timeout(limit, resp.bytes())
        .await
        .map_err(|_| stalled())?
        .map_err(|_| broken())?;
    if !status.is_success() {
        return Err(Error::from_response(status.as_u16(), &body, None));
    }
    Ok(body.to_vec())
}

/// The start of a `Content-Range: bytes START-END/LEN` answer.
fn range_start(resp: &reqwest::Response) -> Option<u64> {
    let v = resp.headers().get(reqwest::header::CONTENT_RANGE)?;
    let v = v.to_str().ok()?.trim().strip_prefix("bytes ")?;
    v.split('-').next()?.trim().parse().ok()
}

/// Fetches one segment to `dest` through `dest.part`, going on from what a cut-off earlier
/// try left there. `progress` is told the bytes of the segment on disk as they come.
async fn get_segment(
    shared: &Shared,
    url: &reqwest::Url,
    dest: &Path,
    progress: impl Fn(u64),
) -> Result<u64> {
    let http = shared.replays.http()?;
    let stall = shared.replays.stall_timeout();
    let part = part_path(dest);
    let mut asked_whole = false;
    loop {
        let have = if asked_whole {
            0
        } else {
            tokio::fs::metadata(&part)
                .await
                .map(|m| m.len())
                .unwrap_or(0)
        };
        let mut req = http.get(url.clone());
        if have > 0 {
            req = req.header(reqwest::header::RANGE, format!("bytes={have}-"));
        }
        let resp = tokio::time::timeout(stall, req.send())
            .await
            .map_err(|_| stalled())??;
        let status = resp.status();
        if status == StatusCode::RANGE_NOT_SATISFIABLE && !asked_whole {
            // What we have does not fit the file (any more): fetch it whole.
            asked_whole = true;
            continue;
        }
        if !status.is_success() {
            let body = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
            return Err(Error::from_response(status.as_u16(), &body, None));
        }
        // A server that ignores Range sends the whole file: start the part again.
        let append = status == StatusCode::PARTIAL_CONTENT && range_start(&resp) == Some(have);
        let mut written = if append { have } else { 0 };
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(&part)
            .await
            .map_err(storage_error)?;
        progress(written);
        let mut body = resp.bytes_stream();
        loop {
            match tokio::time::timeout(stall, body.next()).await {
                Err(_) => return Err(stalled()),
                Ok(None) => break,
                Ok(Some(chunk)) => {
                    let chunk = chunk.map_err(|_| broken())?;
                    file.write_all(&chunk).await.map_err(storage_error)?;
                    written += chunk.len() as u64;
                    progress(written);
                }
            }
        }
        file.flush().await.map_err(storage_error)?;
        file.sync_all().await.map_err(storage_error)?;
        drop(file);
        tokio::fs::rename(&part, dest)
            .await
            .map_err(storage_error)?;
        return Ok(written);
    }
}

fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    dest.with_file_name(name)
}

/// The rendition's media playlist, read through the ticket: its URL (segment URIs are
/// relative to it) and the parsed playlist.
async fn media_playlist(
    shared: &Arc<Shared>,
    replay_id: &str,
    rendition: &str,
    renew: bool,
) -> Result<(reqwest::Url, m3u8_rs::MediaPlaylist)> {
    let ticket = ticket(shared, replay_id, renew).await?;
    let entry = ticket
        .renditions
        .iter()
        .find(|r| r.name == rendition)
        .ok_or_else(|| Error::NotFound(format!("rendition {rendition} of replay {replay_id}")))?;
    let url = reqwest::Url::parse(&format!("{}{}", shared.api.base(), entry.url))
        .map_err(|_| Error::Internal("the ticket's URL is not valid".into()))?;
    let text = get_bytes(shared, &url).await?;
    Ok((url, hls::parse(&text)?))
}

/// Fetches what is missing of one download. `progressed` tells whether a segment was added.
async fn fetch(shared: &Arc<Shared>, row: &DownloadRow, progressed: &mut bool) -> Result<()> {
    let id = row.replay_id.clone();
    let dir = download_dir(&shared.data_dir, &id);
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(storage_error)?;
    let (mut url, mut playlist) = match media_playlist(shared, &id, &row.rendition, false).await {
        Err(Error::Forbidden(_)) => media_playlist(shared, &id, &row.rendition, true).await?,
        r => r?,
    };
    let shape = hls::shape(&playlist)?;
    if row.playlist.as_deref() != Some(shape.as_str()) {
        // First read, or the server's media changed: what is on disk no longer fits.
        let changed = row.playlist.is_some();
        if changed {
            tracing::info!(replay = %id, "the replay changed on the server; downloading again");
            remove_files(&shared.data_dir, &id).await;
            tokio::fs::create_dir_all(&dir)
                .await
                .map_err(storage_error)?;
        }
        let (sid, total) = (id.clone(), playlist.segments.len() as u32);
        shared
            .store
            .write(move |tx| {
                store::replays::set_playlist(tx, &sid, &shape, total, changed, now_ms())
            })
            .await?;
    }
    let sid = id.clone();
    let (done, mut on_disk) = shared
        .store
        .read(move |c| {
            let bytes = store::replays::download(c, &sid)?.map_or(0, |d| d.bytes_done);
            Ok((store::replays::done_segments(c, &sid)?, bytes))
        })
        .await?;
    let mut renewed = false;
    let mut seq = 0;
    while seq < playlist.segments.len() {
        let file = dir.join(hls::segment_file(seq, &playlist.segments[seq].uri));
        if done.binary_search(&(seq as u32)).is_ok() && tokio::fs::metadata(&file).await.is_ok() {
            seq += 1;
            continue;
        }
        let seg_url = url
            .join(&playlist.segments[seq].uri)
            .map_err(|_| Error::Internal("a segment's URL is not valid".into()))?;
        let base = on_disk;
        let got = get_segment(shared, &seg_url, &file, |n| {
            shared.replays.set_progress(&id, base + n);
            shared.replays_changed();
        })
        .await;
        let bytes = match got {
            Ok(bytes) => bytes,
            // The signature ran out (or the ticket was revoked): a new ticket, once per run.
            Err(Error::Forbidden(_)) if !renewed => {
                renewed = true;
                let (u, p) = media_playlist(shared, &id, &row.rendition, true).await?;
                if hls::shape(&p)? != hls::shape(&playlist)? {
                    return Err(Error::Conflict(
                        "the replay changed while downloading".into(),
                    ));
                }
                (url, playlist) = (u, p);
                continue;
            }
            Err(e) => return Err(e),
        };
        let sid = id.clone();
        let kept = shared
            .store
            .write(move |tx| store::replays::segment_done(tx, &sid, seq as u32, bytes, now_ms()))
            .await?;
        if !kept {
            return Err(Error::NotFound(format!("download of {id}")));
        }
        on_disk += bytes;
        *progressed = true;
        renewed = false;
        shared.replays.set_progress(&id, on_disk);
        shared.replays_changed();
        seq += 1;
    }
    let local = hls::local_playlist(&playlist)?;
    let path = dir.join(hls::LOCAL_PLAYLIST);
    let part = part_path(&path);
    tokio::fs::write(&part, local)
        .await
        .map_err(storage_error)?;
    tokio::fs::rename(&part, &path)
        .await
        .map_err(storage_error)?;
    Ok(())
}

/// How long to wait after the `attempts`-th failure in a row without progress. The first
/// follows a connection that was moving bytes: come back at once.
fn download_retry_delay(attempts: u32) -> Duration {
    if attempts <= 1 {
        Duration::from_millis(rand::random_range(20..120))
    } else {
        retry_delay(attempts - 2).min(Duration::from_secs(60))
    }
}

/// Fetches one download and records how it went.
async fn drive(shared: &Arc<Shared>, row: DownloadRow) -> Result<()> {
    let id = row.replay_id.clone();
    let stop = Arc::new(Notify::new());
    *shared
        .replays
        .active
        .lock()
        .unwrap_or_else(|e| e.into_inner()) = Some((id.clone(), stop.clone()));
    shared.replays.set_progress(&id, row.bytes_done);
    shared.replays_changed();
    let mut progressed = false;
    let result = tokio::select! {
        r = fetch(shared, &row, &mut progressed) => Some(r),
        _ = stop.notified() => None,
    };
    *shared
        .replays
        .active
        .lock()
        .unwrap_or_else(|e| e.into_inner()) = None;
    shared.replays.clear_progress(&id);
    let Some(result) = result else {
        // Paused or deleted: the row says so already.
        shared.replays_changed();
        return Ok(());
    };
    let now = now_ms();
    match result {
        Ok(()) => {
            tracing::debug!(replay = %id, "download done");
            shared
                .store
                .write(move |tx| store::replays::finished(tx, &id, now))
                .await?;
        }
        Err(error) => match error.retry_class() {
            RetryClass::Paused if shared.api.is_auth_expired() => {}
            RetryClass::Transient { .. } | RetryClass::Paused => {
                let attempts = if progressed { 1 } else { row.attempts + 1 };
                let delay = match error.retry_class() {
                    RetryClass::Transient { after: Some(after) } => after,
                    _ => download_retry_delay(attempts),
                };
                let at = now + delay.as_millis() as Millis;
                tracing::debug!(replay = %id, attempts, code = error.code_str(), "download will be retried");
                shared
                    .store
                    .write(move |tx| store::replays::retry_later(tx, &id, attempts, at, now))
                    .await?;
            }
            RetryClass::Permanent => {
                tracing::warn!(replay = %id, code = error.code_str(), "download refused");
                let (code, message) = (error.code_str(), error.to_string());
                shared
                    .store
                    .write(move |tx| store::replays::failed(tx, &id, code, &message, now))
                    .await?;
            }
        },
    }
    shared.replays_changed();
    Ok(())
}

/// The background worker. Runs until its task is aborted.
pub(crate) async fn run(shared: Arc<Shared>) {
    due_queue::run::<Downloads>(shared).await
}

/// The replay downloads as a [`DueQueue`]: one download at a time, in the order asked.
pub(crate) struct Downloads;

impl DueQueue for Downloads {
    type Row = DownloadRow;
    const WHAT: &'static str = "download";

    fn wake(shared: &Shared) -> &Notify {
        &shared.replays.wake
    }

    fn all_due_now(conn: &rusqlite::Connection) -> Result<()> {
        store::replays::all_due_now(conn)
    }

    fn next_due(conn: &rusqlite::Connection, now: Millis) -> Result<Option<DownloadRow>> {
        store::replays::next_due(conn, now)
    }

    fn next_due_at(conn: &rusqlite::Connection) -> Result<Option<Millis>> {
        store::replays::next_due_at(conn)
    }

    fn drive(
        shared: &Arc<Shared>,
        row: DownloadRow,
    ) -> impl std::future::Future<Output = Result<()>> + Send {
        drive(shared, row)
    }
}

#[cfg(test)]
#[path = "downloads_tests.rs"]
mod tests;
