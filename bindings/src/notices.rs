//! School notices of one account: list, read, 回执 acknowledge, post, receipts, remind.

use std::sync::Arc;

use lianxiao_core::{
    NoticeFilter, NoticeView,
    protocol::{NoticeAllowance, PostNotice, ReceiptReport, ReceiptSummary, RemindResult},
};

use crate::{Result, TaskHandle, read, sync, write};

/// Receives the whole matching list: the current one first, then again after every change.
/// Called on the core's worker threads: hop to the main thread to draw.
#[uniffi::export(foreign)]
pub trait NoticeListener: Send + Sync {
    fn on_notices(&self, notices: Vec<NoticeView>);
}

/// How many more non-urgent notices a class may send its parents today.
#[uniffi::remote(Record)]
pub struct NoticeAllowance {
    pub class_id: String,
    pub daily_cap: Option<u32>,
    pub sent_today: u32,
    pub remaining: Option<u32>,
}

struct NoticeBridge(Arc<dyn NoticeListener>);

impl lianxiao_core::NoticeListener for NoticeBridge {
    fn on_notices(&self, notices: Vec<NoticeView>) {
        self.0.on_notices(notices)
    }
}

#[derive(uniffi::Object)]
pub struct Notices {
    inner: lianxiao_core::Notices,
}

impl Notices {
    pub(crate) fn wrap(inner: lianxiao_core::Notices) -> Arc<Self> {
        Arc::new(Notices { inner })
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl Notices {
    pub async fn list(&self, filter: NoticeFilter) -> Result<Vec<NoticeView>> {
        let n = self.inner.clone();
        read(async move { n.list(filter).await }).await
    }

    pub async fn get(&self, id: String) -> Result<NoticeView> {
        let n = self.inner.clone();
        read(async move { n.get(id).await }).await
    }

    /// The current list at once, then the new list after every change, until the handle is
    /// dropped.
    pub fn subscribe(
        &self,
        filter: NoticeFilter,
        listener: Arc<dyn NoticeListener>,
    ) -> Arc<TaskHandle> {
        TaskHandle::wrap(sync(|| {
            self.inner
                .subscribe(filter, Arc::new(NoticeBridge(listener)))
        }))
    }

    /// Marks read at once on the phone; the server hears of it when it can.
    pub async fn mark_read(&self, id: String) -> Result<NoticeView> {
        let n = self.inner.clone();
        write(async move { n.mark_read(id).await }).await
    }

    /// Acknowledges (回执) at once on the phone; delivered when the network allows.
    pub async fn acknowledge(&self, id: String) -> Result<NoticeView> {
        let n = self.inner.clone();
        write(async move { n.acknowledge(id).await }).await
    }

    /// Posts a notice: it shows at once (`post == Pending`) and is delivered when it can be.
    pub async fn post(&self, notice: PostNotice) -> Result<NoticeView> {
        let n = self.inner.clone();
        write(async move { n.post(notice).await }).await
    }

    /// The synced read / acknowledged counts of a notice this account wrote (offline).
    pub async fn receipt_summary(&self, id: String) -> Result<Option<ReceiptSummary>> {
        let n = self.inner.clone();
        read(async move { n.receipt_summary(id).await }).await
    }

    /// Who has not read or acknowledged, per class (needs the network).
    pub async fn receipts(&self, id: String) -> Result<ReceiptReport> {
        let n = self.inner.clone();
        read(async move { n.receipts(id).await }).await
    }

    /// Reminds everyone who has not acted yet (needs the network; at most hourly).
    pub async fn remind(&self, id: String) -> Result<RemindResult> {
        let n = self.inner.clone();
        write(async move { n.remind(id).await }).await
    }

    /// How many more non-urgent notices each class may send today (needs the network).
    /// Ask before composing; `post` refuses a notice past the cap with a conflict.
    pub async fn allowance(&self, class_ids: Vec<String>) -> Result<Vec<NoticeAllowance>> {
        let n = self.inner.clone();
        read(async move { n.allowance(class_ids).await }).await
    }
}
