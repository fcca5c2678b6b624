//! Attachments going up: a queue of files in the store and a background engine that sends
//! them with tus 1.0 (creation, checksum, termination), resuming from the server's offset
//! after any break, a killed app or a restarted server. Owns the `uploads` table.
//!
//! The file stays where the caller put it (under the account's data directory) until its
//! upload is done; the row holds its length and hash, the upload's URL and the last offset
//! the server confirmed. Progress in flight is kept in memory and reported through
//! [`Uploads::subscribe`].

mod engine;
pub(crate) mod tus;

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use lianxiao_protocol::{UploadPurpose, homework::WorkKind};
use tokio::sync::{Notify, watch};

use crate::{
    Client, Error, Result, TaskHandle,
    api::now_ms,
    client::Shared,
    store::{
        self,
        uploads::{NewUpload, StoredState, UploadRow},
    },
};

pub(crate) use engine::run;

/// A file to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRequest {
    /// The file, under the account's data directory; it must stay there until the upload is
    /// done.
    pub path: PathBuf,
    pub purpose: UploadPurpose,
    /// The assignment, for homework purposes.
    pub homework_id: Option<String>,
    pub kind: WorkKind,
    pub file_name: String,
    pub content_type: String,
    /// Groups uploads that one piece of work waits for.
    pub batch: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UploadState {
    /// Waiting for its turn, the network, or its retry time.
    Pending,
    /// Being sent now.
    Uploading,
    Done,
    /// Refused for good (see `error`); `retry` puts it back in the queue.
    Failed,
}

/// Why an upload failed: the core's stable error code name (`forbidden`, `validation`, ...)
/// and the server's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadError {
    pub code: String,
    pub message: String,
}

impl UploadError {
    /// The typed error it stands for.
    pub fn to_error(&self) -> Error {
        let message = self.message.clone();
        match self.code.as_str() {
            "offline" => Error::Offline(message),
            "unauthorized" => Error::Unauthorized,
            "forbidden" => Error::Forbidden(message),
            "not_found" => Error::NotFound(message),
            "validation" => Error::Validation {
                field: None,
                message,
            },
            "conflict" => Error::Conflict(message),
            "lesson_not_live" => Error::LessonNotLive(message),
            "rate_limited" => Error::RateLimited {
                retry_after_secs: None,
                message,
            },
            "server" => Error::Server {
                status: 500,
                message,
            },
            "storage" => Error::Storage(message),
            _ => Error::Internal(message),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadStatus {
    /// The local id `enqueue` returned.
    pub id: i64,
    pub state: UploadState,
    /// Bytes the server confirmed plus those of the chunk in flight.
    pub sent: u64,
    pub total: u64,
    /// The server's upload id, once done (what a submission refers to).
    pub server_id: Option<String>,
    pub file_name: String,
    pub purpose: UploadPurpose,
    pub kind: WorkKind,
    pub homework_id: Option<String>,
    pub batch: Option<String>,
    /// Failed tries in a row since the last progress (0 while all goes well): "retrying".
    pub attempts: u32,
    pub error: Option<UploadError>,
}

/// Receives the whole upload list: once at once, then after every change (progress
/// included, a few times a second at most).
pub trait UploadListener: Send + Sync {
    fn on_uploads(&self, uploads: Vec<UploadStatus>);
}

/// What the uploader has learnt about this phone's link (for a diagnostics screen, and
/// benchmarks).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UploadLink {
    /// The size of the next chunk, in bytes.
    pub next_chunk: u64,
    /// Measured throughput, bytes per second, once a chunk went up.
    pub bytes_per_sec: Option<u64>,
    /// Seconds of sending between connection breaks, smoothed, once one was seen.
    pub secs_between_drops: Option<f64>,
}

/// How long the engine waits without a byte moving before it gives up on a connection.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(20);

/// The engine's in-memory state, held in `Shared`.
pub(crate) struct UploadsState {
    version: watch::Sender<u64>,
    /// Bytes sent (confirmed + in flight) of the uploads being sent now.
    progress: Mutex<HashMap<i64, u64>>,
    /// The upload being sent and how to stop it (cancel).
    active: Mutex<Option<(i64, Arc<Notify>)>>,
    stall_timeout_ms: AtomicU64,
    http: Option<reqwest::Client>,
    /// What the engine learnt about the link; kept across uploads (it is the same link).
    sizer: Mutex<tus::ChunkSizer>,
}

impl Default for UploadsState {
    fn default() -> Self {
        UploadsState {
            version: watch::channel(0).0,
            progress: Mutex::new(HashMap::new()),
            active: Mutex::new(None),
            stall_timeout_ms: AtomicU64::new(DEFAULT_STALL_TIMEOUT.as_millis() as u64),
            http: engine::http_client(),
            sizer: Mutex::new(tus::ChunkSizer::default()),
        }
    }
}

impl UploadsState {
    pub(crate) fn changed(&self) {
        self.version.send_modify(|v| *v += 1);
    }

    fn sizer(&self) -> std::sync::MutexGuard<'_, tus::ChunkSizer> {
        self.sizer.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stall_timeout(&self) -> Duration {
        Duration::from_millis(self.stall_timeout_ms.load(Ordering::Relaxed))
    }

    fn set_progress(&self, id: i64, sent: u64) {
        self.progress
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, sent);
        self.changed();
    }

    fn progress_of(&self, id: i64) -> Option<u64> {
        self.progress
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .copied()
    }

    fn status(&self, row: UploadRow) -> UploadStatus {
        let live = self.progress_of(row.id);
        let state = match row.state {
            StoredState::Done => UploadState::Done,
            StoredState::Failed => UploadState::Failed,
            StoredState::Pending if live.is_some() => UploadState::Uploading,
            StoredState::Pending => UploadState::Pending,
        };
        let sent = match state {
            UploadState::Done => row.length,
            _ => live.unwrap_or(row.confirmed).min(row.length),
        };
        UploadStatus {
            id: row.id,
            state,
            sent,
            total: row.length,
            server_id: row.server_id,
            file_name: row.file_name,
            purpose: row.purpose,
            kind: row.kind,
            homework_id: row.homework_id,
            batch: (!row.batch.is_empty()).then_some(row.batch),
            attempts: row.attempts,
            error: row
                .error
                .map(|(code, message)| UploadError { code, message }),
        }
    }
}

/// Length and hex sha256 of a file, read in pieces off the async threads.
pub(crate) async fn file_facts(path: PathBuf) -> Result<(u64, String)> {
    tokio::task::spawn_blocking(move || {
        use sha2::Digest;
        use std::io::Read;
        let io = |e: std::io::Error| Error::Storage(format!("cannot read the file: {}", e.kind()));
        let mut file = std::fs::File::open(&path).map_err(io)?;
        let mut hasher = sha2::Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut length = 0u64;
        loop {
            let n = file.read(&mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            length += n as u64;
        }
        Ok((length, hex::encode(hasher.finalize())))
    })
    .await?
}

/// Checks a request and measures its file: the row to add.
pub(crate) async fn prepare(request: UploadRequest) -> Result<NewUpload> {
    if request.kind == WorkKind::Text {
        return Err(Error::Validation {
            field: Some("kind".into()),
            message: "text is not uploaded as a file".into(),
        });
    }
    let (length, sha256) = file_facts(request.path.clone()).await?;
    let max = request.kind.max_file_bytes();
    if length > max {
        return Err(Error::Validation {
            field: Some("file".into()),
            message: format!("the file is larger than {} MiB", max / (1024 * 1024)),
        });
    }
    Ok(NewUpload {
        batch: request.batch.unwrap_or_default(),
        file_path: request.path,
        purpose: request.purpose,
        homework_id: request.homework_id,
        kind: request.kind,
        file_name: request.file_name,
        content_type: request.content_type,
        length,
        sha256,
    })
}

/// The upload queue of one account: `client.uploads()`.
#[derive(Clone)]
pub struct Uploads {
    client: Client,
}

impl Uploads {
    pub(crate) fn new(client: Client) -> Self {
        Uploads { client }
    }

    fn shared(&self) -> &Arc<Shared> {
        self.client.shared()
    }

    /// Queues a file (measuring and hashing it first); returns its local id. It is sent in
    /// the background, now or when the network allows.
    pub async fn enqueue(&self, request: UploadRequest) -> Result<i64> {
        let new = prepare(request).await?;
        let shared = self.shared();
        let id = shared
            .store
            .write(move |tx| store::uploads::add(tx, &new, now_ms()))
            .await?;
        shared.uploads.changed();
        shared.uploads_enqueued();
        Ok(id)
    }

    pub async fn status(&self, id: i64) -> Result<Option<UploadStatus>> {
        let shared = self.shared().clone();
        let row = shared
            .store
            .read(move |c| store::uploads::get(c, id))
            .await?;
        Ok(row.map(|r| shared.uploads.status(r)))
    }

    /// Every upload, oldest first.
    pub async fn list(&self) -> Result<Vec<UploadStatus>> {
        let shared = self.shared().clone();
        let rows = shared.store.read(store::uploads::list).await?;
        Ok(rows.into_iter().map(|r| shared.uploads.status(r)).collect())
    }

    /// Sends the list now, then after every change, until the handle is dropped.
    pub fn subscribe(&self, listener: Arc<dyn UploadListener>) -> TaskHandle {
        let uploads = self.clone();
        let mut changes = self.shared().uploads.version.subscribe();
        changes.borrow_and_update();
        let work = async move {
            let mut last = None;
            loop {
                match uploads.list().await {
                    Ok(list) if last.as_ref() != Some(&list) => {
                        listener.on_uploads(list.clone());
                        last = Some(list);
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(code = e.code_str(), "could not list uploads"),
                }
                if changes.changed().await.is_err() {
                    return;
                }
                // Progress moves many times a second; a screen needs a few.
                tokio::time::sleep(Duration::from_millis(100)).await;
                changes.borrow_and_update();
            }
        };
        crate::client::spawn_listener(self.shared(), "uploads listener", work)
    }

    /// Returns the server's upload id once the upload is done, or its error once it failed
    /// (`NotFound` if it was cancelled). Waits as long as it takes: wrap it in a timeout.
    pub async fn wait(&self, id: i64) -> Result<String> {
        let shared = self.shared();
        let mut changes = shared.uploads.version.subscribe();
        loop {
            changes.borrow_and_update();
            let row = shared
                .store
                .read(move |c| store::uploads::get(c, id))
                .await?;
            match row {
                None => return Err(Error::NotFound(format!("upload {id}"))),
                Some(r) if r.state == StoredState::Done => {
                    return Ok(r.server_id.unwrap_or_default());
                }
                Some(r) if r.state == StoredState::Failed => {
                    let (code, message) = r.error.unwrap_or_default();
                    return Err(UploadError { code, message }.to_error());
                }
                Some(_) => {}
            }
            if changes.changed().await.is_err() {
                return Err(Error::Internal("the client was closed".into()));
            }
        }
    }

    /// Stops an upload and forgets it, telling the server to drop what it has. A finished
    /// upload that belongs to a batch (its work was handed in) cannot be cancelled.
    pub async fn cancel(&self, id: i64) -> Result<()> {
        let shared = self.shared().clone();
        let removed = shared
            .store
            .write(move |tx| {
                let Some(row) = store::uploads::get(tx, id)? else {
                    return Ok(None);
                };
                if row.state == StoredState::Done && !row.batch.is_empty() {
                    return Err(Error::Conflict(format!(
                        "upload {id} is done and attached to its work"
                    )));
                }
                store::uploads::remove(tx, id)
            })
            .await?;
        let Some(row) = removed else {
            return Err(Error::NotFound(format!("upload {id}")));
        };
        engine::abort(&shared, id);
        shared.uploads.changed();
        shared.outbox_wake.notify_one();
        if let Some(url) = row.url {
            // Best effort: an unfinished upload the server keeps expires there anyway.
            if let Err(e) = engine::terminate(&shared, &url).await {
                tracing::info!(
                    upload = id,
                    code = e.code_str(),
                    "could not terminate upload"
                );
            }
        }
        Ok(())
    }

    /// Puts a failed upload back in the queue.
    pub async fn retry(&self, id: i64) -> Result<()> {
        let shared = self.shared();
        let retried = shared
            .store
            .write(move |tx| store::uploads::retry(tx, id, now_ms()))
            .await?;
        if !retried {
            return Err(Error::Conflict(format!("upload {id} has not failed")));
        }
        shared.uploads.changed();
        shared.uploads_enqueued();
        Ok(())
    }

    pub fn link(&self) -> UploadLink {
        self.shared().uploads.sizer().link()
    }

    /// How long a connection may go without moving a byte before it is dropped and tried
    /// again (default [`DEFAULT_STALL_TIMEOUT`]).
    pub fn set_stall_timeout(&self, timeout: Duration) {
        self.shared()
            .uploads
            .stall_timeout_ms
            .store(timeout.as_millis().max(1) as u64, Ordering::Relaxed);
    }
}
