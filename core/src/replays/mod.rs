//! Replays (异步点播) on the phone (`client.replays()`): the list as synced (newest lesson
//! first, per child for parents), playback from the downloaded copy or the signed stream,
//! the watch position shared across the person's devices, and offline downloads of one
//! rendition (`downloads`). Teachers upload a classroom recording; school admins review.
//!
//! Watch time goes through the outbox (`watch`): recorded at once, offline too, and delivered
//! once. Screens read from the store and work offline.

mod downloads;
mod hls;
mod watch;

use std::{path::PathBuf, sync::Arc, time::Duration};

use lianxiao_protocol::{
    CreateReplay, Millis, Replay, ReplayStatus, ReplayTicket, ReplayVisibility, ReviewReplay,
    UploadPurpose, WorkKind,
};

use crate::{Client, Error, Result, TaskHandle, UploadRequest, UploadState, client::Shared, store};

pub use downloads::{
    DEFAULT_DOWNLOAD_CAP_BYTES, DownloadError, DownloadState, DownloadStatus, StorageUse,
};
pub(crate) use downloads::{DownloadsState, run};

/// Where the person is in a replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchPlace {
    pub position_ms: i64,
    /// When the player was there (server time): the latest from any device wins.
    pub at: Millis,
    /// Watched in all, from every device, this phone's unsent time included.
    pub watched_ms: i64,
    /// Watched on this phone and not yet delivered (offline, or waiting for the outbox).
    pub unsent_watched_ms: i64,
}

/// A replay with what this phone knows about it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayView {
    pub replay: Replay,
    pub place: Option<WatchPlace>,
    pub download: Option<DownloadStatus>,
}

/// Which replays a list shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayFilter {
    /// Parents: those of one child's lessons (and those shared with the link group).
    pub child_id: Option<String>,
}

pub trait ReplayListener: Send + Sync {
    fn on_replays(&self, replays: Vec<ReplayView>);
}

/// What the player opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Playback {
    /// A `file://` URL of the downloaded copy's playlist, or the signed master playlist
    /// (absolute) to stream.
    pub url: String,
    /// The downloaded copy: watch time is reported as offline.
    pub local: bool,
    /// The local playlist's path, for a player that takes paths.
    pub path: Option<String>,
    /// When a stream's signature runs out (server time); ask again after it.
    pub expires_at: Option<Millis>,
    /// Where to start: the person's last place, from any device.
    pub position_ms: i64,
}

/// A classroom recording a teacher uploads as a lesson's replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecording {
    pub lesson_id: String,
    /// An MP4 (or other video) under the account's data directory; it must stay there until
    /// the upload is done.
    pub path: PathBuf,
    /// Instead of the lesson's title.
    pub title: Option<String>,
    pub visibility: ReplayVisibility,
}

/// The directory of one replay's download under the account's data directory.
pub(crate) fn download_dir(data_dir: &std::path::Path, replay_id: &str) -> PathBuf {
    // Replay ids are the server's; keep only what is safe in a file name.
    let safe: String = replay_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    data_dir.join("downloads").join("replays").join(safe)
}

/// `client.replays()`. Cheap to clone.
#[derive(Clone)]
pub struct Replays {
    client: Client,
}

impl Replays {
    pub(crate) fn new(client: Client) -> Self {
        Replays { client }
    }

    fn shared(&self) -> &Arc<Shared> {
        self.client.shared()
    }

    /// Replays from the store, newest lesson first.
    pub async fn list(&self, filter: ReplayFilter) -> Result<Vec<ReplayView>> {
        views(self.shared(), filter.child_id, None).await
    }

    pub async fn get(&self, replay_id: String) -> Result<ReplayView> {
        views(self.shared(), None, Some(replay_id.clone()))
            .await?
            .pop()
            .ok_or_else(|| Error::NotFound(format!("replay {replay_id}")))
    }

    /// Sends the list now, then whenever replays, positions or downloads change (progress a
    /// few times a second at most), until the handle is dropped.
    pub fn subscribe(&self, filter: ReplayFilter, listener: Arc<dyn ReplayListener>) -> TaskHandle {
        let shared = self.shared().clone();
        let mut changes = shared.replays_watch();
        changes.borrow_and_update();
        let owner = shared.clone();
        crate::client::spawn_listener(&owner, "replays listener", async move {
            let mut last = None;
            loop {
                match views(&shared, filter.child_id.clone(), None).await {
                    Ok(list) if last.as_ref() != Some(&list) => {
                        listener.on_replays(list.clone());
                        last = Some(list);
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(code = e.code_str(), "replay list failed"),
                }
                if changes.changed().await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                changes.borrow_and_update();
            }
        })
    }

    /// What to play: the downloaded copy when it is complete, else the signed stream (asks
    /// the server, so it needs the network).
    pub async fn play(&self, replay_id: String) -> Result<Playback> {
        let s = self.shared();
        let id = replay_id.clone();
        let (download, place) = s
            .store
            .read(move |c| {
                Ok((
                    store::replays::download(c, &id)?,
                    store::replays::position(c, &id)?,
                ))
            })
            .await?;
        let position_ms = place.map(|p| p.position_ms).unwrap_or(0);
        if let Some(d) = download
            && d.state == store::replays::StoredDownload::Done
        {
            let path = download_dir(&s.data_dir, &replay_id).join(hls::LOCAL_PLAYLIST);
            if tokio::fs::metadata(&path).await.is_ok() {
                // Percent-encoded: account directories may hold spaces or non-ASCII.
                let url = reqwest::Url::from_file_path(&path)
                    .map(String::from)
                    .map_err(|_| Error::Internal("the download's path is not absolute".into()))?;
                let path = path.to_string_lossy().into_owned();
                return Ok(Playback {
                    url,
                    local: true,
                    path: Some(path),
                    expires_at: None,
                    position_ms,
                });
            }
        }
        let ticket = self.ticket(replay_id).await?;
        Ok(Playback {
            url: format!("{}{}", s.api.base(), ticket.master_url),
            local: false,
            path: None,
            expires_at: Some(ticket.expires_at),
            position_ms,
        })
    }

    /// The signed HLS URLs of an approved replay (relative to the server, as sent).
    pub async fn ticket(&self, replay_id: String) -> Result<ReplayTicket> {
        downloads::fetch_ticket(self.shared(), &replay_id).await
    }

    /// The player's progress, every few seconds and when it stops: where it is and how much
    /// was played since the last call. Recorded at once (offline too) and delivered through
    /// the outbox, counted once; time played from the downloaded copy is marked offline.
    pub async fn report_progress(
        &self,
        replay_id: String,
        position_ms: i64,
        played_ms: i64,
    ) -> Result<()> {
        watch::report(self.shared(), replay_id, position_ms, played_ms).await
    }

    /// Where the person is in a replay, from the store.
    pub async fn place(&self, replay_id: String) -> Result<Option<WatchPlace>> {
        self.shared()
            .store
            .read(move |c| store::replays::position(c, &replay_id))
            .await
            .map(|p| p.map(watch::place))
    }

    /// Teachers: uploads a classroom recording (resumably, in the background) and, once it is
    /// up, makes it the lesson's replay; it then waits for transcoding and review. Waits for
    /// the whole upload: wrap it in a timeout or run it in the background. Safe to call again
    /// with the same file after a failure: it goes on with the same upload and makes one
    /// replay.
    pub async fn upload_recording(&self, recording: NewRecording) -> Result<Replay> {
        let file_name = recording
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "recording.mp4".into());
        let uploads = self.client.uploads();
        // Called again (the app was killed, or creating the replay failed offline), it goes
        // on with the same upload and the same key instead of sending the file twice.
        let length = tokio::fs::metadata(&recording.path)
            .await
            .map_err(|e| Error::Storage(format!("cannot read the recording: {}", e.kind())))?
            .len();
        let earlier = uploads.list().await?.into_iter().find(|u| {
            u.purpose == UploadPurpose::Recording
                && u.homework_id.as_deref() == Some(recording.lesson_id.as_str())
                && u.file_name == file_name
                && u.total == length
                && u.state != UploadState::Failed
        });
        let local = match earlier {
            Some(u) => u.id,
            None => {
                uploads
                    .enqueue(UploadRequest {
                        path: recording.path,
                        purpose: UploadPurpose::Recording,
                        // A recording's subject is its lesson (sent as the tus `lesson_id`).
                        homework_id: Some(recording.lesson_id.clone()),
                        kind: WorkKind::Video,
                        content_type: if file_name.to_ascii_lowercase().ends_with(".mp4") {
                            "video/mp4".into()
                        } else {
                            "application/octet-stream".into()
                        },
                        file_name,
                        batch: None,
                    })
                    .await?
            }
        };
        let upload_id = uploads.wait(local).await?;
        let body = serde_json::to_vec(&CreateReplay {
            lesson_id: recording.lesson_id,
            upload_id,
            title: recording.title,
            visibility: recording.visibility,
        })?;
        // One key for this recording, so a retry after a lost answer makes no second replay.
        let key = format!("recording-{local}-{}", self.shared().user_id);
        let replay: Replay = self
            .shared()
            .api
            .post("/replays", Some(&body), &key)
            .await?;
        self.store_replay(replay).await
    }

    /// School admins: approve a replay (optionally changing who may watch it) or reject it
    /// with a reason. Online.
    pub async fn review(
        &self,
        replay_id: String,
        approve: bool,
        reason: Option<String>,
        visibility: Option<ReplayVisibility>,
    ) -> Result<Replay> {
        if !approve && reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
            return Err(Error::Validation {
                field: Some("reason".into()),
                message: "a rejection needs a reason".into(),
            });
        }
        let body = serde_json::to_vec(&ReviewReplay {
            approve,
            reason,
            visibility,
        })?;
        let key = uuid::Uuid::new_v4().to_string();
        let replay: Replay = self
            .shared()
            .api
            .post(&format!("/replays/{replay_id}/review"), Some(&body), &key)
            .await?;
        self.store_replay(replay).await
    }

    async fn store_replay(&self, replay: Replay) -> Result<Replay> {
        let s = self.shared();
        let stored = replay.clone();
        s.store
            .write(move |tx| store::replays::upsert(tx, &stored))
            .await?;
        s.replays_changed();
        Ok(replay)
    }

    /// Starts downloading one rendition (`low`, `audio`) for offline viewing, in the
    /// background. Refused before anything is fetched if it would pass the storage cap
    /// (`Validation` on field `storage_cap`). Asking again for a paused or failed download
    /// of the same rendition resumes it.
    pub async fn download(&self, replay_id: String, rendition: String) -> Result<DownloadStatus> {
        downloads::start(self.shared(), replay_id, rendition).await
    }

    /// Stops a download, keeping what is on disk.
    pub async fn pause_download(&self, replay_id: String) -> Result<()> {
        downloads::pause(self.shared(), replay_id).await
    }

    /// Goes on with a paused or failed download from where it stopped.
    pub async fn resume_download(&self, replay_id: String) -> Result<()> {
        downloads::resume(self.shared(), replay_id).await
    }

    /// Deletes a download, its files and its rows.
    pub async fn delete_download(&self, replay_id: String) -> Result<()> {
        downloads::delete(self.shared(), replay_id).await
    }

    pub async fn download_status(&self, replay_id: String) -> Result<Option<DownloadStatus>> {
        downloads::status(self.shared(), replay_id).await
    }

    /// Every download, oldest first.
    pub async fn downloads(&self) -> Result<Vec<DownloadStatus>> {
        downloads::list(self.shared()).await
    }

    /// How much of the cap the downloads hold (finished ones their size, others what they
    /// will need).
    pub async fn storage(&self) -> Result<StorageUse> {
        downloads::storage(self.shared()).await
    }

    /// The most all downloads together may take (default [`DEFAULT_DOWNLOAD_CAP_BYTES`]).
    pub async fn set_storage_cap_bytes(&self, bytes: u64) -> Result<()> {
        downloads::set_cap(self.shared(), bytes).await
    }

    /// How long a download connection may go without a byte before it is dropped and tried
    /// again.
    pub fn set_stall_timeout(&self, timeout: Duration) {
        self.shared().replays.set_stall_timeout(timeout);
    }
}

/// The views of the stored replays (one, with `only`).
async fn views(
    shared: &Arc<Shared>,
    child_id: Option<String>,
    only: Option<String>,
) -> Result<Vec<ReplayView>> {
    let rows = shared
        .store
        .read(move |c| {
            let replays = match &only {
                Some(id) => store::replays::get(c, id)?.into_iter().collect(),
                None => store::replays::list(c, child_id.as_deref())?,
            };
            replays
                .into_iter()
                .map(|r| {
                    let p = store::replays::position(c, &r.id)?;
                    let d = store::replays::download(c, &r.id)?;
                    Ok((r, p, d))
                })
                .collect::<Result<Vec<_>>>()
        })
        .await?;
    Ok(rows
        .into_iter()
        .map(|(replay, p, d)| ReplayView {
            replay,
            place: p.map(watch::place),
            download: d.map(|d| shared.replays.status(d)),
        })
        .collect())
}

/// A replay went away (tombstone) with its download: stop fetching it, delete its files.
pub(crate) async fn forget_download(shared: &Arc<Shared>, replay_id: &str) {
    downloads::forget(shared, replay_id).await;
}

/// Whether a replay can be played or downloaded now, as far as the store knows.
pub(crate) fn playable(replay: &Replay) -> Result<()> {
    if replay.status == ReplayStatus::Approved {
        Ok(())
    } else {
        Err(Error::Conflict(format!(
            "replay {} is not published",
            replay.id
        )))
    }
}
