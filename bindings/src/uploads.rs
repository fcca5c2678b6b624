//! The upload queue of one account (`client.uploads()`): files sent resumably (tus) in the
//! background, their progress, and the calls to wait for, cancel or retry one. Homework
//! queues its own files; apps use this to show progress and for files of their own.

use std::{sync::Arc, time::Duration};

use lianxiao_core::{
    UploadLink, UploadStatus,
    protocol::{UploadPurpose, WorkKind},
};

use crate::{Result, TaskHandle, read, sync, write};

/// Receives the whole upload list: the current one first, then after every change (progress
/// a few times a second at most). Called on the core's worker threads.
#[uniffi::export(foreign)]
pub trait UploadListener: Send + Sync {
    fn on_uploads(&self, uploads: Vec<UploadStatus>);
}

struct UploadBridge(Arc<dyn UploadListener>);

impl lianxiao_core::UploadListener for UploadBridge {
    fn on_uploads(&self, uploads: Vec<UploadStatus>) {
        self.0.on_uploads(uploads)
    }
}

/// A file to send.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct UploadRequest {
    /// Local path under the app's data directory; the file must stay there until it is done.
    pub path: String,
    pub purpose: UploadPurpose,
    pub kind: WorkKind,
    pub file_name: String,
    pub content_type: String,
    /// The assignment, for homework purposes.
    #[uniffi(default = None)]
    pub homework_id: Option<String>,
    /// Groups the uploads one piece of work waits for.
    #[uniffi(default = None)]
    pub batch: Option<String>,
}

impl From<UploadRequest> for lianxiao_core::UploadRequest {
    fn from(r: UploadRequest) -> Self {
        lianxiao_core::UploadRequest {
            path: r.path.into(),
            purpose: r.purpose,
            homework_id: r.homework_id,
            kind: r.kind,
            file_name: r.file_name,
            content_type: r.content_type,
            batch: r.batch,
        }
    }
}

#[derive(uniffi::Object)]
pub struct Uploads {
    inner: lianxiao_core::Uploads,
}

impl Uploads {
    pub(crate) fn wrap(inner: lianxiao_core::Uploads) -> Arc<Self> {
        Arc::new(Uploads { inner })
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl Uploads {
    /// Queues a file; returns its local id. It is sent now or when the network allows.
    pub async fn enqueue(&self, request: UploadRequest) -> Result<i64> {
        let u = self.inner.clone();
        write(async move { u.enqueue(request.into()).await }).await
    }

    pub async fn status(&self, id: i64) -> Result<Option<UploadStatus>> {
        let u = self.inner.clone();
        read(async move { u.status(id).await }).await
    }

    /// Every upload, oldest first.
    pub async fn list(&self) -> Result<Vec<UploadStatus>> {
        let u = self.inner.clone();
        read(async move { u.list().await }).await
    }

    /// The list at once, then after every change, until the handle is dropped.
    pub fn subscribe(&self, listener: Arc<dyn UploadListener>) -> Arc<TaskHandle> {
        TaskHandle::wrap(sync(|| {
            self.inner.subscribe(Arc::new(UploadBridge(listener)))
        }))
    }

    /// The server's upload id once done, or the upload's error once it failed (`NotFound`
    /// when cancelled). Waits as long as it takes: cancel the call to stop waiting.
    pub async fn wait(&self, id: i64) -> Result<String> {
        let u = self.inner.clone();
        read(async move { u.wait(id).await }).await
    }

    /// Stops an upload and forgets it. A finished upload that belongs to handed-in work
    /// cannot be cancelled (`Conflict`).
    pub async fn cancel(&self, id: i64) -> Result<()> {
        let u = self.inner.clone();
        write(async move { u.cancel(id).await }).await
    }

    /// Puts a failed upload back in the queue.
    pub async fn retry(&self, id: i64) -> Result<()> {
        let u = self.inner.clone();
        write(async move { u.retry(id).await }).await
    }

    /// What the uploader has learnt about this phone's link (chunk size, throughput).
    pub fn link(&self) -> UploadLink {
        self.inner.link()
    }

    /// How long a connection may go without moving a byte before it is dropped and tried
    /// again (default 20 s). Milliseconds, since `java.time.Duration` needs Android 8.
    pub fn set_stall_timeout_ms(&self, timeout_ms: u64) {
        self.inner
            .set_stall_timeout(Duration::from_millis(timeout_ms))
    }
}
