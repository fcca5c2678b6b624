//! One signed-in account: its store, its server access, and the background tasks (realtime,
//! outbox sender, sync). Cheap to clone; the tasks stop when `stop()` is called or the last
//! handle is dropped.

use std::{
    future::Future,
    panic::AssertUnwindSafe,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::FutureExt;

use lianxiao_protocol::{Child, ClassInfo, LinkGroup, Millis, User};
use tokio::{
    runtime::Handle,
    sync::{Notify, watch},
    task::JoinHandle,
};

use crate::{
    Result,
    api::Api,
    homework::HomeworkHandle,
    notices::Notices,
    outbox::{self, OutboxFailure, OutboxKind},
    realtime,
    store::{self, Store},
    sync::{self, SyncState},
};

/// Connection and sign-in state, for the status bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientState {
    Offline,
    Connecting,
    /// The realtime connection is up: changes arrive within a second.
    Online,
    /// The server refused our session (signed out remotely): sign in again. Local data and
    /// unsent work are kept.
    AuthExpired,
}

pub trait StateListener: Send + Sync {
    fn on_state(&self, state: ClientState);
}

/// A background task of the core that panicked: a bug, reported here rather than lost. The
/// client's own tasks (sync, outbox, realtime, uploads, replays) are started again after a
/// pause; a listener's subscription ends (its handle reports `is_finished`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskFailure {
    /// `sync`, `outbox`, `realtime`, `uploads`, `replays`, or the listener's feature, e.g.
    /// `notices listener`.
    pub task: String,
    /// The panic's message (for logs and bug reports).
    pub message: String,
    /// The task was started again.
    pub restarted: bool,
    /// Local clock, Unix ms.
    pub at: Millis,
}

/// Told the client's task failures: the list so far first, then the list after each new one.
pub trait TaskFailureListener: Send + Sync {
    fn on_task_failures(&self, failures: Vec<TaskFailure>);
}

/// Token refreshes made by one client (diagnostics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TokenRefreshes {
    /// Before the access token expired (the usual case).
    pub ahead: u64,
    /// After the server refused the access token (it ended early, or the clock jumped).
    pub after_refusal: u64,
}

/// The most recent failures kept per client.
const KEPT_FAILURES: usize = 20;

/// The text of a panic's payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_owned()
    }
}

/// Runs one of the client's background tasks, starting it again (after a growing pause, so a
/// panic that repeats does not spin) whenever it panics, and reporting each panic.
async fn supervise<F, Fut>(shared: Arc<Shared>, task: &'static str, make: F)
where
    F: Fn(Arc<Shared>) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut panics = 0;
    loop {
        match AssertUnwindSafe(make(shared.clone())).catch_unwind().await {
            Ok(()) => return,
            Err(payload) => {
                shared.task_failed(task, panic_message(payload.as_ref()), true);
                tokio::time::sleep(outbox::retry_delay(panics)).await;
                panics += 1;
            }
        }
    }
}

/// Spawns a listener's task: a panic in it (in the core, or thrown by the app's listener) is
/// reported as a task failure and ends the subscription instead of vanishing.
pub(crate) fn spawn_listener(
    shared: &Arc<Shared>,
    task: &'static str,
    work: impl Future<Output = ()> + Send + 'static,
) -> TaskHandle {
    TaskHandle::new(spawn_reported(shared, task, work))
}

/// Spawns a task whose panic is reported as a task failure (it is not started again).
pub(crate) fn spawn_reported(
    shared: &Arc<Shared>,
    task: &'static str,
    work: impl Future<Output = ()> + Send + 'static,
) -> JoinHandle<()> {
    let weak = Arc::downgrade(shared);
    shared.runtime.spawn(async move {
        if let Err(payload) = AssertUnwindSafe(work).catch_unwind().await
            && let Some(shared) = weak.upgrade()
        {
            shared.task_failed(task, panic_message(payload.as_ref()), false);
        }
    })
}

/// A running subscription; dropping it (or `cancel()`) stops it.
pub struct TaskHandle {
    task: Option<JoinHandle<()>>,
}

impl TaskHandle {
    pub(crate) fn new(task: JoinHandle<()>) -> Self {
        TaskHandle { task: Some(task) }
    }

    pub fn cancel(&self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }

    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(|t| t.is_finished())
    }
}

impl Drop for TaskHandle {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

impl std::fmt::Debug for TaskHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskHandle").finish_non_exhaustive()
    }
}

/// State shared by the client's handles and its background tasks. Tasks hold this, not the
/// `Client`, so they never keep the client alive.
pub(crate) struct Shared {
    pub(crate) user_id: String,
    pub(crate) data_dir: PathBuf,
    pub(crate) runtime: Handle,
    pub(crate) store: Store,
    pub(crate) api: Arc<Api>,
    pub(crate) sync: SyncState,
    pub(crate) sync_wake: Notify,
    pub(crate) outbox_wake: Notify,
    pub(crate) outbox_send: tokio::sync::Mutex<()>,
    pub(crate) reconnect_now: Notify,
    pub(crate) network: watch::Sender<bool>,
    connection: watch::Sender<ClientState>,
    notices_version: watch::Sender<u64>,
    org_version: watch::Sender<u64>,
    outbox_version: watch::Sender<u64>,
    homework_version: watch::Sender<u64>,
    timetable_version: watch::Sender<u64>,
    replays_version: watch::Sender<u64>,
    settings_version: watch::Sender<u64>,
    /// Background tasks that panicked, most recent last.
    failures: watch::Sender<Vec<TaskFailure>>,
    /// The replay downloader's progress and settings.
    pub(crate) replays: crate::replays::DownloadsState,
    /// Wakes the uploader: files were queued or the network came back.
    pub(crate) uploads_wake: Notify,
    /// The uploader's progress and settings.
    pub(crate) uploads: crate::uploads::UploadsState,
    /// Live-room events from the realtime channel, for the lesson's running session.
    pub(crate) rooms: tokio::sync::broadcast::Sender<(String, lianxiao_protocol::RoomEvent)>,
}

impl Shared {
    /// A background task panicked: logged and told to the failure listeners.
    pub(crate) fn task_failed(&self, task: &str, message: String, restarted: bool) {
        tracing::error!(task, message = %message, restarted, "background task panicked");
        let failure = TaskFailure {
            task: task.to_owned(),
            message,
            restarted,
            at: crate::api::now_ms(),
        };
        self.failures.send_modify(|list| {
            list.push(failure);
            let excess = list.len().saturating_sub(KEPT_FAILURES);
            list.drain(..excess);
        });
    }

    pub(crate) fn notices_changed(&self) {
        self.notices_version.send_modify(|v| *v += 1);
    }

    pub(crate) fn notices_watch(&self) -> watch::Receiver<u64> {
        self.notices_version.subscribe()
    }

    pub(crate) fn org_changed(&self) {
        self.org_version.send_modify(|v| *v += 1);
    }

    pub(crate) fn homework_changed(&self) {
        self.homework_version.send_modify(|v| *v += 1);
    }

    pub(crate) fn homework_watch(&self) -> watch::Receiver<u64> {
        self.homework_version.subscribe()
    }

    pub(crate) fn timetable_changed(&self) {
        self.timetable_version.send_modify(|v| *v += 1);
    }

    pub(crate) fn timetable_watch(&self) -> watch::Receiver<u64> {
        self.timetable_version.subscribe()
    }

    /// Replays, watch positions or downloads changed.
    pub(crate) fn replays_changed(&self) {
        self.replays_version.send_modify(|v| *v += 1);
    }

    pub(crate) fn replays_watch(&self) -> watch::Receiver<u64> {
        self.replays_version.subscribe()
    }

    /// The account's notification settings changed (sync, a change here, the server's answer).
    pub(crate) fn settings_changed(&self) {
        self.settings_version.send_modify(|v| *v += 1);
    }

    pub(crate) fn settings_watch(&self) -> watch::Receiver<u64> {
        self.settings_version.subscribe()
    }

    /// Files were queued for upload: start now.
    pub(crate) fn uploads_enqueued(&self) {
        self.uploads_wake.notify_one();
    }

    pub(crate) fn outbox_changed(&self) {
        self.outbox_version.send_modify(|v| *v += 1);
    }

    /// Something new was queued: send it now.
    pub(crate) fn outbox_enqueued(&self) {
        self.outbox_changed();
        self.outbox_wake.notify_one();
    }

    pub(crate) fn room_event(&self, lesson_id: String, event: lianxiao_protocol::RoomEvent) {
        // No session listening is fine: a session reads the whole room when it starts.
        let _ = self.rooms.send((lesson_id, event));
    }

    pub(crate) fn request_sync(&self) {
        self.sync_wake.notify_one();
    }

    /// The realtime connection's state (a live session reads its room again on reconnect).
    pub(crate) fn connection_watch(&self) -> watch::Receiver<ClientState> {
        self.connection.subscribe()
    }

    pub(crate) fn set_connection(&self, state: ClientState) {
        self.connection.send_if_modified(|s| {
            let changed = *s != state;
            *s = state;
            changed
        });
    }

    pub(crate) fn state(&self) -> ClientState {
        if self.api.is_auth_expired() {
            ClientState::AuthExpired
        } else {
            *self.connection.borrow()
        }
    }
}

struct ClientHandle {
    shared: Arc<Shared>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for ClientHandle {
    fn drop(&mut self) {
        for t in self
            .tasks
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            t.abort();
        }
    }
}

/// One account. Reads always come from the local store, so they work offline.
#[derive(Clone)]
pub struct Client {
    inner: Arc<ClientHandle>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("user_id", &self.inner.shared.user_id)
            .finish_non_exhaustive()
    }
}

/// A weak reference, so `Accounts` can hand out the same client without keeping it alive.
#[derive(Clone)]
pub(crate) struct WeakClient(std::sync::Weak<ClientHandle>);

impl WeakClient {
    pub(crate) fn upgrade(&self) -> Option<Client> {
        self.0.upgrade().map(|inner| Client { inner })
    }
}

impl Client {
    pub(crate) fn new(
        user_id: String,
        data_dir: PathBuf,
        runtime: Handle,
        store: Store,
        api: Arc<Api>,
    ) -> Client {
        let shared = Arc::new(Shared {
            user_id,
            data_dir,
            runtime,
            store,
            api,
            sync: SyncState::default(),
            sync_wake: Notify::new(),
            outbox_wake: Notify::new(),
            outbox_send: tokio::sync::Mutex::new(()),
            reconnect_now: Notify::new(),
            network: watch::channel(true).0,
            connection: watch::channel(ClientState::Offline).0,
            notices_version: watch::channel(0).0,
            org_version: watch::channel(0).0,
            outbox_version: watch::channel(0).0,
            homework_version: watch::channel(0).0,
            timetable_version: watch::channel(0).0,
            replays_version: watch::channel(0).0,
            settings_version: watch::channel(0).0,
            failures: watch::channel(Vec::new()).0,
            replays: Default::default(),
            rooms: tokio::sync::broadcast::channel(256).0,
            uploads_wake: Notify::new(),
            uploads: Default::default(),
        });
        Client {
            inner: Arc::new(ClientHandle {
                shared,
                tasks: Mutex::new(Vec::new()),
            }),
        }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.inner.shared
    }

    pub(crate) fn downgrade(&self) -> WeakClient {
        WeakClient(Arc::downgrade(&self.inner))
    }

    pub fn user_id(&self) -> String {
        self.inner.shared.user_id.clone()
    }

    /// Starts the realtime connection, the outbox sender and sync. Idempotent.
    pub fn start(&self) {
        let mut tasks = self.inner.tasks.lock().unwrap_or_else(|e| e.into_inner());
        tasks.retain(|t| !t.is_finished());
        if !tasks.is_empty() {
            return;
        }
        let s = &self.inner.shared;
        tasks.push(
            s.runtime
                .spawn(supervise(s.clone(), "realtime", realtime::run)),
        );
        tasks.push(s.runtime.spawn(supervise(s.clone(), "outbox", outbox::run)));
        tasks.push(
            s.runtime
                .spawn(supervise(s.clone(), "sync", sync::run_requested)),
        );
        tasks.push(
            s.runtime
                .spawn(supervise(s.clone(), "uploads", crate::uploads::run)),
        );
        tasks.push(
            s.runtime
                .spawn(supervise(s.clone(), "replays", crate::replays::run)),
        );
        // Sync once at start even if the realtime connection cannot be made.
        s.request_sync();
    }

    /// Stops the background tasks; reading and queueing still work.
    pub fn stop(&self) {
        let mut tasks = self.inner.tasks.lock().unwrap_or_else(|e| e.into_inner());
        for t in tasks.drain(..) {
            t.abort();
        }
        self.inner.shared.set_connection(ClientState::Offline);
    }

    pub fn is_started(&self) -> bool {
        let tasks = self.inner.tasks.lock().unwrap_or_else(|e| e.into_inner());
        tasks.iter().any(|t| !t.is_finished())
    }

    /// How often this client refreshed its access token (diagnostics).
    pub fn token_refreshes(&self) -> TokenRefreshes {
        let (ahead, after_refusal) = self.inner.shared.api.refreshes();
        TokenRefreshes {
            ahead,
            after_refusal,
        }
    }

    /// The server's clock now (Unix ms), correct even when the phone's clock is wrong.
    pub fn server_now(&self) -> Millis {
        self.inner.shared.api.clock.now()
    }

    pub fn state(&self) -> ClientState {
        self.inner.shared.state()
    }

    /// Sends the current state, then every change, until the handle is dropped.
    pub fn subscribe_state(&self, listener: Arc<dyn StateListener>) -> TaskHandle {
        let shared = self.inner.shared.clone();
        let mut connection = shared.connection.subscribe();
        let mut auth = shared.api.auth_expired();
        connection.borrow_and_update();
        auth.borrow_and_update();
        let work = async move {
            let mut last = None;
            loop {
                let state = shared.state();
                if last != Some(state) {
                    listener.on_state(state);
                    last = Some(state);
                }
                tokio::select! {
                    r = connection.changed() => if r.is_err() { return },
                    r = auth.changed() => if r.is_err() { return },
                }
            }
        };
        spawn_listener(&self.inner.shared, "state listener", work)
    }

    /// Background tasks that panicked (bugs), most recent last; kept for this client's life.
    pub fn task_failures(&self) -> Vec<TaskFailure> {
        self.inner.shared.failures.borrow().clone()
    }

    /// Sends the failures so far, then the list after each new one, until the handle is
    /// dropped. A panic in a background task reaches the app here instead of killing it or
    /// vanishing.
    pub fn subscribe_task_failures(&self, listener: Arc<dyn TaskFailureListener>) -> TaskHandle {
        let mut changes = self.inner.shared.failures.subscribe();
        let first = changes.borrow_and_update().clone();
        TaskHandle::new(self.inner.shared.runtime.spawn(async move {
            listener.on_task_failures(first);
            while changes.changed().await.is_ok() {
                let list = changes.borrow_and_update().clone();
                listener.on_task_failures(list);
            }
        }))
    }

    /// Tells the core whether the phone has a network. When it comes back, the realtime
    /// connection and the outbox try again at once instead of waiting out their backoff.
    pub fn network_changed(&self, available: bool) {
        let s = self.inner.shared.clone();
        s.network.send_replace(available);
        if available {
            s.reconnect_now.notify_one();
            let s2 = s.clone();
            spawn_reported(&s, "network change", async move {
                if let Err(e) = s2.store.write(|tx| store::outbox::all_due_now(tx)).await {
                    tracing::warn!(code = e.code_str(), "could not reschedule the outbox");
                }
                s2.outbox_wake.notify_one();
                s2.request_sync();
            });
        } else {
            s.set_connection(ClientState::Offline);
        }
    }

    /// Syncs now and returns when the store is up to date (or the sync failed).
    pub async fn sync_now(&self) -> Result<()> {
        sync::sync_now(&self.inner.shared).await
    }

    /// How many sync runs have started since this client was opened.
    pub fn sync_runs(&self) -> u64 {
        self.inner.shared.sync.runs()
    }

    pub fn homework(&self) -> HomeworkHandle {
        HomeworkHandle::new(self.clone())
    }

    /// Attachments going up (resumable, in the background).
    pub fn uploads(&self) -> crate::uploads::Uploads {
        crate::uploads::Uploads::new(self.clone())
    }

    /// The timetable: lessons, today / now / next, reminders; scheduling for teachers.
    pub fn timetable(&self) -> crate::timetable::Timetable {
        crate::timetable::Timetable::new(self.clone())
    }

    /// Live lessons: join one and keep the session going.
    pub fn live(&self) -> crate::live::Live {
        crate::live::Live::new(self.clone())
    }

    /// Replays: the list, playback, watch position, offline downloads.
    pub fn replays(&self) -> crate::replays::Replays {
        crate::replays::Replays::new(self.clone())
    }

    /// What this account wants pushed (per child) and its quiet hours; unreachable parents.
    pub fn notification_settings(
        &self,
    ) -> crate::notification_settings::NotificationSettingsHandle {
        crate::notification_settings::NotificationSettingsHandle::new(self.clone())
    }

    pub fn notices(&self) -> Notices {
        Notices::new(self.clone())
    }

    /// This account's badge (unread notices); push registration is `accounts.devices()`.
    pub fn notifications(&self) -> crate::notifications::Notifications {
        crate::notifications::Notifications::new(self.clone())
    }

    pub async fn profile(&self) -> Result<Option<User>> {
        self.inner.shared.store.read(store::org::profile).await
    }

    pub async fn children(&self) -> Result<Vec<Child>> {
        self.inner.shared.store.read(store::org::children).await
    }

    pub async fn classes(&self) -> Result<Vec<ClassInfo>> {
        self.inner.shared.store.read(store::org::classes).await
    }

    pub async fn link_groups(&self) -> Result<Vec<LinkGroup>> {
        self.inner.shared.store.read(store::org::link_groups).await
    }

    /// Mutations queued and not yet confirmed by the server.
    pub async fn outbox_pending(&self) -> Result<usize> {
        self.inner
            .shared
            .store
            .read(store::outbox::pending_count)
            .await
    }

    /// Sends every pending mutation once now, ignoring retry times; returns how many are
    /// still pending (transient failures).
    pub async fn flush_outbox(&self) -> Result<usize> {
        outbox::flush(&self.inner.shared).await
    }

    /// Returns when nothing is pending in the outbox (sent or failed for good). Wrap it in a
    /// timeout: offline, it waits for the network.
    pub async fn wait_outbox_empty(&self) -> Result<()> {
        let shared = &self.inner.shared;
        let mut changes = shared.outbox_version.subscribe();
        loop {
            changes.borrow_and_update();
            if shared.store.read(store::outbox::pending_count).await? == 0 {
                return Ok(());
            }
            // The watch covers our own sender; the timeout covers items removed by sync.
            let _ = tokio::time::timeout(Duration::from_millis(500), changes.changed()).await;
        }
    }

    /// Mutations the server rejected for good, oldest first.
    pub async fn outbox_failures(&self) -> Result<Vec<OutboxFailure>> {
        self.inner.shared.store.read(store::outbox::failures).await
    }

    /// Forgets a failed mutation (and, for a post that never reached the server, its local
    /// copy).
    pub async fn dismiss_failure(&self, id: i64) -> Result<()> {
        let shared = &self.inner.shared;
        shared
            .store
            .write(move |tx| {
                if let Some((OutboxKind::PostNotice, local_id)) = store::outbox::dismiss(tx, id)? {
                    store::notices::remove_failed_post(tx, &local_id)?;
                }
                Ok(())
            })
            .await?;
        shared.outbox_changed();
        shared.notices_changed();
        Ok(())
    }

    /// This account's data directory (store and future downloads).
    pub fn data_dir(&self) -> PathBuf {
        self.inner.shared.data_dir.clone()
    }
}
