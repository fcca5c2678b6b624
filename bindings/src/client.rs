//! One signed-in account, its connection state, and the handle of a running subscription.

use std::sync::Arc;

use lianxiao_core::{
    ClientState, OutboxFailure, TaskFailure,
    protocol::{Child, ClassInfo, LinkGroup, User},
};

use crate::{HomeworkHandle, Notices, Result, Uploads, read, sync, write};

/// Receives the connection state: the current one first, then each change. Called on the
/// core's worker threads: hop to the main thread to draw.
#[uniffi::export(foreign)]
pub trait StateListener: Send + Sync {
    fn on_state(&self, state: ClientState);
}

struct StateBridge(Arc<dyn StateListener>);

/// Receives the client's background-task failures (panics, i.e. bugs): the list so far
/// first, then the list after each new one. Log or report them; the core has already started
/// the task again (`restarted`) or ended the subscription whose listener failed.
#[uniffi::export(foreign)]
pub trait TaskFailureListener: Send + Sync {
    fn on_task_failures(&self, failures: Vec<TaskFailure>);
}

struct TaskFailureBridge(Arc<dyn TaskFailureListener>);

impl lianxiao_core::TaskFailureListener for TaskFailureBridge {
    fn on_task_failures(&self, failures: Vec<TaskFailure>) {
        self.0.on_task_failures(failures)
    }
}

impl lianxiao_core::StateListener for StateBridge {
    fn on_state(&self, state: ClientState) {
        self.0.on_state(state)
    }
}

/// A running subscription. `cancel()` or dropping it (Kotlin `close()`) stops it.
#[derive(uniffi::Object)]
pub struct TaskHandle {
    inner: lianxiao_core::TaskHandle,
}

impl TaskHandle {
    pub(crate) fn wrap(inner: lianxiao_core::TaskHandle) -> Arc<Self> {
        Arc::new(TaskHandle { inner })
    }
}

#[uniffi::export]
impl TaskHandle {
    pub fn cancel(&self) {
        self.inner.cancel()
    }

    pub fn is_finished(&self) -> bool {
        self.inner.is_finished()
    }
}

/// One account. Reads come from the phone's store, so they work offline.
#[derive(uniffi::Object)]
pub struct Client {
    pub(crate) inner: lianxiao_core::Client,
}

impl Client {
    pub(crate) fn wrap(inner: lianxiao_core::Client) -> Arc<Self> {
        Arc::new(Client { inner })
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl Client {
    pub fn user_id(&self) -> String {
        self.inner.user_id()
    }

    /// Starts the realtime connection, the outbox sender and sync. Idempotent.
    pub fn start(&self) {
        sync(|| self.inner.start())
    }

    /// Stops the background tasks; reading and queueing still work.
    pub fn stop(&self) {
        sync(|| self.inner.stop())
    }

    pub fn state(&self) -> ClientState {
        self.inner.state()
    }

    /// The current state at once, then every change, until the handle is dropped.
    pub fn subscribe_state(&self, listener: Arc<dyn StateListener>) -> Arc<TaskHandle> {
        TaskHandle::wrap(sync(|| {
            self.inner.subscribe_state(Arc::new(StateBridge(listener)))
        }))
    }

    /// Background tasks that panicked (bugs), most recent last.
    pub fn task_failures(&self) -> Vec<TaskFailure> {
        self.inner.task_failures()
    }

    /// The failures so far at once, then the list after each new one, until the handle is
    /// dropped.
    pub fn subscribe_task_failures(
        &self,
        listener: Arc<dyn TaskFailureListener>,
    ) -> Arc<TaskHandle> {
        TaskHandle::wrap(sync(|| {
            self.inner
                .subscribe_task_failures(Arc::new(TaskFailureBridge(listener)))
        }))
    }

    /// The phone's network came or went; when it comes back the core retries at once.
    pub fn network_changed(&self, available: bool) {
        sync(|| self.inner.network_changed(available))
    }

    /// Syncs now; returns when the phone's store is up to date.
    pub async fn sync_now(&self) -> Result<()> {
        let c = self.inner.clone();
        read(async move { c.sync_now().await }).await
    }

    pub fn notices(&self) -> Arc<Notices> {
        Notices::wrap(self.inner.notices())
    }

    /// Homework: the list, drafts and hand-in; assigning and grading for teachers.
    pub fn homework(&self) -> Arc<HomeworkHandle> {
        HomeworkHandle::wrap(self.inner.homework())
    }

    /// The timetable: lessons, today / now / next, reminders; scheduling for teachers.
    pub fn timetable(&self) -> Arc<crate::timetable::Timetable> {
        crate::timetable::Timetable::wrap(self.inner.timetable())
    }

    /// Live lessons: join one, the broadcast's data saver, attendance heartbeats.
    pub fn live(&self) -> Arc<crate::live::Live> {
        crate::live::Live::wrap(self.inner.live())
    }

    /// Notification settings (per child, quiet hours) and, for teachers, unreachable parents.
    pub fn notification_settings(
        &self,
    ) -> Arc<crate::notification_settings::NotificationSettingsHandle> {
        crate::notification_settings::NotificationSettingsHandle::wrap(
            self.inner.notification_settings(),
        )
    }

    /// Replays: the list, playback, watch progress, offline downloads; uploading and
    /// reviewing recordings for teachers and school admins.
    pub fn replays(&self) -> Arc<crate::replays::Replays> {
        crate::replays::Replays::wrap(self.inner.replays())
    }

    /// The files this account is sending, with their progress.
    pub fn uploads(&self) -> Arc<Uploads> {
        Uploads::wrap(self.inner.uploads())
    }

    /// The signed-in person, once synced.
    pub async fn profile(&self) -> Result<Option<User>> {
        let c = self.inner.clone();
        read(async move { c.profile().await }).await
    }

    /// A parent's children.
    pub async fn children(&self) -> Result<Vec<Child>> {
        let c = self.inner.clone();
        read(async move { c.children().await }).await
    }

    pub async fn classes(&self) -> Result<Vec<ClassInfo>> {
        let c = self.inner.clone();
        read(async move { c.classes().await }).await
    }

    pub async fn link_groups(&self) -> Result<Vec<LinkGroup>> {
        let c = self.inner.clone();
        read(async move { c.link_groups().await }).await
    }

    /// Mutations done on this phone and not yet confirmed by the server.
    pub async fn outbox_pending(&self) -> Result<u64> {
        let c = self.inner.clone();
        read(async move { c.outbox_pending().await.map(|n| n as u64) }).await
    }

    /// Mutations the server rejected for good, oldest first: show them to the user.
    pub async fn outbox_failures(&self) -> Result<Vec<OutboxFailure>> {
        let c = self.inner.clone();
        read(async move { c.outbox_failures().await }).await
    }

    pub async fn dismiss_failure(&self, id: i64) -> Result<()> {
        let c = self.inner.clone();
        write(async move { c.dismiss_failure(id).await }).await
    }

    /// The server's clock now (Unix ms), right even when the phone's clock is wrong.
    pub fn server_now(&self) -> i64 {
        self.inner.server_now()
    }
}
