//! Notification settings (`client.notification_settings()`): which kinds of notification reach
//! the account per child, its own quiet hours, read from the phone's store and changed through
//! the outbox (shown at once, settled by the server's answer); and, for teachers, the parents
//! of a class nothing reaches.

use std::sync::Arc;

use lianxiao_core::{
    SettingsView,
    protocol::{
        ChildNotifications, NotificationKinds, NotificationSettings, PersonRef, QuietHours,
        UnreachableParent, UpdateNotificationSettings,
    },
};

use crate::{Result, TaskHandle, read, sync, write};

// --- records --------------------------------------------------------------------------------

/// From `start_minute` to `end_minute` (minutes after midnight, school time); a start after
/// the end spans midnight.
#[uniffi::remote(Record)]
pub struct QuietHours {
    pub start_minute: u16,
    pub end_minute: u16,
}

#[uniffi::remote(Record)]
pub struct NotificationKinds {
    pub notices: bool,
    pub homework_graded: bool,
    pub homework_missing: bool,
    pub lesson_starting: bool,
}

#[uniffi::remote(Record)]
pub struct ChildNotifications {
    pub child_id: String,
    pub kinds: NotificationKinds,
}

#[uniffi::remote(Record)]
pub struct NotificationSettings {
    pub quiet_hours: Option<QuietHours>,
    pub children: Vec<ChildNotifications>,
    pub updated_at: i64,
}

#[uniffi::remote(Record)]
pub struct UpdateNotificationSettings {
    pub quiet_hours: Option<QuietHours>,
    pub children: Vec<ChildNotifications>,
}

#[uniffi::remote(Record)]
pub struct SettingsView {
    pub settings: NotificationSettings,
    pub pending: bool,
}

#[uniffi::remote(Record)]
pub struct UnreachableParent {
    pub parent: PersonRef,
    pub children: Vec<PersonRef>,
    pub phone: Option<String>,
    pub last_seen_at: Option<i64>,
    pub last_push_at: Option<i64>,
}

// --- listener -------------------------------------------------------------------------------

/// Receives the settings at once, then after every change (sync from another phone, a change
/// here, the server's answer). Called on the core's worker threads: hop to the main thread.
#[uniffi::export(foreign)]
pub trait NotificationSettingsListener: Send + Sync {
    fn on_settings(&self, view: SettingsView);
}

struct Bridge(Arc<dyn NotificationSettingsListener>);

impl lianxiao_core::NotificationSettingsListener for Bridge {
    fn on_settings(&self, view: SettingsView) {
        self.0.on_settings(view)
    }
}

// --- object ---------------------------------------------------------------------------------

/// `client.notification_settings()`. Reads work offline; changes are queued and sent once.
#[derive(uniffi::Object)]
pub struct NotificationSettingsHandle {
    inner: lianxiao_core::NotificationSettingsHandle,
}

impl NotificationSettingsHandle {
    pub(crate) fn wrap(inner: lianxiao_core::NotificationSettingsHandle) -> Arc<Self> {
        Arc::new(NotificationSettingsHandle { inner })
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl NotificationSettingsHandle {
    /// The settings from the store, with a change not yet confirmed shown over them.
    pub async fn get(&self) -> Result<SettingsView> {
        let h = self.inner.clone();
        read(async move { h.get().await }).await
    }

    /// Replaces the settings (children left out go back to every kind on). Refused here as
    /// the server would: a child not of this account (`children`), bad quiet hours.
    pub async fn update(&self, change: UpdateNotificationSettings) -> Result<SettingsView> {
        let h = self.inner.clone();
        write(async move { h.update(change).await }).await
    }

    /// Turns kinds on or off for one child (students and teachers: their own id).
    pub async fn set_kinds(
        &self,
        child_id: String,
        kinds: NotificationKinds,
    ) -> Result<SettingsView> {
        let h = self.inner.clone();
        write(async move { h.set_kinds(&child_id, kinds).await }).await
    }

    /// Sets (or with none, clears) the account's own quiet hours.
    pub async fn set_quiet_hours(&self, quiet_hours: Option<QuietHours>) -> Result<SettingsView> {
        let h = self.inner.clone();
        write(async move { h.set_quiet_hours(quiet_hours).await }).await
    }

    /// Asks the server now and keeps its answer (sync brings changes anyway).
    pub async fn refresh(&self) -> Result<SettingsView> {
        let h = self.inner.clone();
        read(async move { h.refresh().await }).await
    }

    /// The settings at once, then after every change, until the handle is dropped.
    pub fn subscribe(&self, listener: Arc<dyn NotificationSettingsListener>) -> Arc<TaskHandle> {
        TaskHandle::wrap(sync(|| self.inner.subscribe(Arc::new(Bridge(listener)))))
    }

    /// Teachers, school and county admins: the class's parents nothing has reached lately
    /// (no accepted push, no app contact), with the phone number to call. Online.
    pub async fn unreachable_parents(&self, class_id: String) -> Result<Vec<UnreachableParent>> {
        let h = self.inner.clone();
        read(async move { h.unreachable_parents(&class_id).await }).await
    }
}
