//! Replays (`client.replays()`): the synced list (per child for parents), what the player
//! opens (the downloaded copy or the signed stream), watch progress, offline downloads with
//! their storage cap, and for teachers and school admins uploading and reviewing recordings.
//! `HlsTicket` (a replay's signed URLs) is declared with the live bindings.

use std::{sync::Arc, time::Duration};

use lianxiao_core::{
    DownloadError, DownloadState, DownloadStatus, Playback, ReplayFilter, ReplayView, StorageUse,
    WatchPlace,
    protocol::{
        HlsTicket, PersonRef, Replay, ReplayProblem, ReplayRendition, ReplayReview, ReplaySource,
        ReplayStatus, ReplayVisibility,
    },
};

use crate::{Result, TaskHandle, read, sync, write};

// --- protocol records -----------------------------------------------------------------------

#[uniffi::remote(Enum)]
pub enum ReplaySource {
    Broadcast,
    Egress,
    Upload,
}

#[uniffi::remote(Enum)]
pub enum ReplayStatus {
    Processing,
    Failed,
    PendingReview,
    Approved,
    Rejected,
}

#[uniffi::remote(Enum)]
pub enum ReplayProblem {
    Unreadable,
    NoPlayableStream,
    TranscodeFailed,
}

#[uniffi::remote(Enum)]
pub enum ReplayVisibility {
    LessonClasses,
    LinkGroup,
}

#[uniffi::remote(Record)]
pub struct ReplayReview {
    pub reviewer: PersonRef,
    pub approved: bool,
    pub reason: Option<String>,
    pub decided_at: i64,
}

#[uniffi::remote(Record)]
pub struct ReplayRendition {
    pub name: String,
    pub bandwidth: u64,
    pub size_bytes: u64,
    pub audio_only: bool,
}

#[uniffi::remote(Record)]
pub struct Replay {
    pub id: String,
    pub lesson_id: String,
    pub subject: String,
    pub title: String,
    pub lesson_starts_at: i64,
    pub source: ReplaySource,
    pub status: ReplayStatus,
    pub progress_percent: Option<u8>,
    pub problem: Option<ReplayProblem>,
    pub visibility: ReplayVisibility,
    pub duration_ms: Option<i64>,
    pub renditions: Vec<ReplayRendition>,
    pub owner: PersonRef,
    pub review: Option<ReplayReview>,
    pub created_at: i64,
    pub updated_at: i64,
}

// --- the phone's records --------------------------------------------------------------------

#[uniffi::remote(Record)]
pub struct WatchPlace {
    pub position_ms: i64,
    pub at: i64,
    pub watched_ms: i64,
    pub unsent_watched_ms: i64,
}

#[uniffi::remote(Enum)]
pub enum DownloadState {
    Queued,
    Downloading,
    Paused,
    Done,
    Failed,
}

#[uniffi::remote(Record)]
pub struct DownloadError {
    pub code: String,
    pub message: String,
}

#[uniffi::remote(Record)]
pub struct DownloadStatus {
    pub replay_id: String,
    pub rendition: String,
    pub state: DownloadState,
    pub bytes_done: u64,
    pub bytes_total: u64,
    pub segments_done: u32,
    pub segments_total: Option<u32>,
    pub attempts: u32,
    pub error: Option<DownloadError>,
}

#[uniffi::remote(Record)]
pub struct StorageUse {
    pub reserved_bytes: u64,
    pub cap_bytes: u64,
}

#[uniffi::remote(Record)]
pub struct ReplayView {
    pub replay: Replay,
    pub place: Option<WatchPlace>,
    pub download: Option<DownloadStatus>,
}

#[uniffi::remote(Record)]
pub struct ReplayFilter {
    pub child_id: Option<String>,
}

#[uniffi::remote(Record)]
pub struct Playback {
    pub url: String,
    pub local: bool,
    pub path: Option<String>,
    pub expires_at: Option<i64>,
    pub position_ms: i64,
}

/// A classroom recording a teacher uploads as a lesson's replay.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NewRecording {
    pub lesson_id: String,
    /// A video file under the app's data directory; it must stay there until it is uploaded.
    pub path: String,
    /// Instead of the lesson's title.
    #[uniffi(default = None)]
    pub title: Option<String>,
    pub visibility: ReplayVisibility,
}

impl From<NewRecording> for lianxiao_core::NewRecording {
    fn from(r: NewRecording) -> Self {
        lianxiao_core::NewRecording {
            lesson_id: r.lesson_id,
            path: r.path.into(),
            title: r.title,
            visibility: r.visibility,
        }
    }
}

// --- listener -------------------------------------------------------------------------------

/// Receives the replay list: the current one first, then after every change of a replay, a
/// watch position or a download (progress a few times a second at most). Called on the
/// core's worker threads: hop to the main thread to draw.
#[uniffi::export(foreign)]
pub trait ReplayListener: Send + Sync {
    fn on_replays(&self, replays: Vec<ReplayView>);
}

struct ReplayBridge(Arc<dyn ReplayListener>);

impl lianxiao_core::ReplayListener for ReplayBridge {
    fn on_replays(&self, replays: Vec<ReplayView>) {
        self.0.on_replays(replays)
    }
}

// --- object ---------------------------------------------------------------------------------

/// `client.replays()`. Reads come from the phone's store and work offline; `play` (unless
/// downloaded), `ticket`, `upload_recording` and `review` need the server.
#[derive(uniffi::Object)]
pub struct Replays {
    inner: lianxiao_core::Replays,
}

impl Replays {
    pub(crate) fn wrap(inner: lianxiao_core::Replays) -> Arc<Self> {
        Arc::new(Replays { inner })
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl Replays {
    /// Replays from the store, newest lesson first.
    pub async fn list(&self, filter: ReplayFilter) -> Result<Vec<ReplayView>> {
        let r = self.inner.clone();
        read(async move { r.list(filter).await }).await
    }

    /// One replay (`NotFound` when the store has none by that id).
    pub async fn get(&self, replay_id: String) -> Result<ReplayView> {
        let r = self.inner.clone();
        read(async move { r.get(replay_id).await }).await
    }

    /// The list at once, then after every change, until the handle is dropped.
    pub fn subscribe(
        &self,
        filter: ReplayFilter,
        listener: Arc<dyn ReplayListener>,
    ) -> Arc<TaskHandle> {
        TaskHandle::wrap(sync(|| {
            self.inner
                .subscribe(filter, Arc::new(ReplayBridge(listener)))
        }))
    }

    /// What the player opens: the downloaded copy when it is complete, else the signed
    /// stream, and where to start.
    pub async fn play(&self, replay_id: String) -> Result<Playback> {
        let r = self.inner.clone();
        read(async move { r.play(replay_id).await }).await
    }

    /// The signed HLS URLs of an approved replay, relative to the server.
    pub async fn ticket(&self, replay_id: String) -> Result<HlsTicket> {
        let r = self.inner.clone();
        read(async move { r.ticket(replay_id).await }).await
    }

    /// The player's progress, every few seconds and when it stops: where it is and how much
    /// was played since the last call. Recorded at once, offline too, and counted once.
    pub async fn report_progress(
        &self,
        replay_id: String,
        position_ms: i64,
        played_ms: i64,
    ) -> Result<()> {
        let r = self.inner.clone();
        write(async move { r.report_progress(replay_id, position_ms, played_ms).await }).await
    }

    /// Where the person is in a replay, from the store.
    pub async fn place(&self, replay_id: String) -> Result<Option<WatchPlace>> {
        let r = self.inner.clone();
        read(async move { r.place(replay_id).await }).await
    }

    /// Teachers: uploads a classroom recording (resumably) and makes it the lesson's replay,
    /// which then waits for transcoding and review. Waits for the whole upload; calling it
    /// again with the same file after a failure goes on with the same upload.
    pub async fn upload_recording(&self, recording: NewRecording) -> Result<Replay> {
        let r = self.inner.clone();
        write(async move { r.upload_recording(recording.into()).await }).await
    }

    /// School admins: approve (optionally changing who may watch) or reject with a reason.
    pub async fn review(
        &self,
        replay_id: String,
        approve: bool,
        reason: Option<String>,
        visibility: Option<ReplayVisibility>,
    ) -> Result<Replay> {
        let r = self.inner.clone();
        write(async move { r.review(replay_id, approve, reason, visibility).await }).await
    }

    /// Starts downloading one rendition (`low`, `audio`) in the background. Refused before
    /// anything is fetched if it would pass the storage cap (`Validation`, field
    /// `storage_cap`); asking again for a paused or failed one resumes it.
    pub async fn download(&self, replay_id: String, rendition: String) -> Result<DownloadStatus> {
        let r = self.inner.clone();
        write(async move { r.download(replay_id, rendition).await }).await
    }

    /// Stops a download, keeping what is on disk.
    pub async fn pause_download(&self, replay_id: String) -> Result<()> {
        let r = self.inner.clone();
        write(async move { r.pause_download(replay_id).await }).await
    }

    /// Goes on with a paused or failed download from where it stopped.
    pub async fn resume_download(&self, replay_id: String) -> Result<()> {
        let r = self.inner.clone();
        write(async move { r.resume_download(replay_id).await }).await
    }

    /// Deletes a download, its files and its rows.
    pub async fn delete_download(&self, replay_id: String) -> Result<()> {
        let r = self.inner.clone();
        write(async move { r.delete_download(replay_id).await }).await
    }

    pub async fn download_status(&self, replay_id: String) -> Result<Option<DownloadStatus>> {
        let r = self.inner.clone();
        read(async move { r.download_status(replay_id).await }).await
    }

    /// Every download, oldest first.
    pub async fn downloads(&self) -> Result<Vec<DownloadStatus>> {
        let r = self.inner.clone();
        read(async move { r.downloads().await }).await
    }

    /// How much of the cap the downloads hold.
    pub async fn storage(&self) -> Result<StorageUse> {
        let r = self.inner.clone();
        read(async move { r.storage().await }).await
    }

    /// The most all downloads together may take (default 2 GiB); kept per account.
    pub async fn set_storage_cap_bytes(&self, bytes: u64) -> Result<()> {
        let r = self.inner.clone();
        write(async move { r.set_storage_cap_bytes(bytes).await }).await
    }

    /// How long a download connection may go without a byte before it is dropped and tried
    /// again (default 20 s). Milliseconds, since `java.time.Duration` needs Android 8.
    pub fn set_stall_timeout_ms(&self, timeout_ms: u64) {
        self.inner
            .set_stall_timeout(Duration::from_millis(timeout_ms))
    }
}
