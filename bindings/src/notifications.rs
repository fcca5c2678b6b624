//! Push notifications (`accounts.devices()`, `client.notifications()`): this install's push
//! registration for every signed-in account, the shell's push handlers (`push_received`,
//! `push_opened` → where to navigate), and each account's badge.

use std::{collections::HashMap, sync::Arc};

use lianxiao_core::{
    DeviceRegistration, PushTarget, RegistrationState,
    protocol::{DevicePlatform, PushKind, PushProvider, PushReach, RegisterDevice},
};

use crate::{Accounts, Client, Result, TaskHandle, read, sync, write};

// --- records ------------------------------------------------------------------------------

#[uniffi::remote(Enum)]
pub enum DevicePlatform {
    Ios,
    Android,
}

#[uniffi::remote(Enum)]
pub enum PushProvider {
    Apns,
    Fcm,
    Getui,
    Log,
}

#[uniffi::remote(Enum)]
pub enum PushKind {
    Notice,
    Homework,
    Lesson,
}

#[uniffi::remote(Enum)]
pub enum PushReach {
    NoDevice,
    Pending,
    Delivered,
    OnPhone,
    NotDelivered,
}

#[uniffi::remote(Enum)]
pub enum RegistrationState {
    WaitingForToken,
    Pending,
    Registered,
    Failed,
    Off,
}

/// What the shell hands over when the platform gives it a push token.
#[uniffi::remote(Record)]
pub struct RegisterDevice {
    pub platform: DevicePlatform,
    pub provider: PushProvider,
    pub token: String,
    pub app_version: String,
    pub locale: String,
}

#[uniffi::remote(Record)]
pub struct DeviceRegistration {
    pub user_id: String,
    pub state: RegistrationState,
    pub provider: Option<PushProvider>,
    pub registered_at: Option<i64>,
    pub error_code: Option<String>,
    pub attempts: u32,
}

#[uniffi::remote(Record)]
pub struct PushTarget {
    pub account_id: String,
    pub kind: PushKind,
    pub id: String,
    pub in_store: bool,
}

// --- devices --------------------------------------------------------------------------------

/// This install's push registration, shared by every account on the phone.
#[derive(uniffi::Object)]
pub struct Devices {
    inner: lianxiao_core::Devices,
}

#[uniffi::export]
impl Accounts {
    /// This install's push registration and the handlers for incoming pushes.
    pub fn devices(&self) -> Arc<Devices> {
        Arc::new(Devices {
            inner: self.inner.devices(),
        })
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl Devices {
    /// This install's id: made once, shared by every account on the phone.
    pub async fn device_id(&self) -> Result<String> {
        let d = self.inner.clone();
        read(async move { d.device_id().await }).await
    }

    /// The platform gave a push token (APNs device token as hex, FCM registration token,
    /// Getui client id): registered for every signed-in account, now or once online.
    pub async fn set_push_token(&self, registration: RegisterDevice) -> Result<()> {
        let d = self.inner.clone();
        write(async move { d.set_push_token(registration).await }).await
    }

    pub async fn registrations(&self) -> Result<Vec<DeviceRegistration>> {
        let d = self.inner.clone();
        read(async move { d.registrations().await }).await
    }

    /// No more pushes to this signed-in account here (on again at its next sign-in).
    pub async fn unregister(&self, user_id: String) -> Result<()> {
        let d = self.inner.clone();
        write(async move { d.unregister(user_id).await }).await
    }

    /// Sends what is pending now; returns how many are still pending.
    pub async fn flush(&self) -> Result<u64> {
        let d = self.inner.clone();
        write(async move { d.flush().await.map(|n| n as u64) }).await
    }

    pub fn network_changed(&self, available: bool) {
        sync(|| self.inner.network_changed(available))
    }

    /// A push arrived: pass the provider's data map (values as strings).
    pub async fn push_received(&self, data: HashMap<String, String>) -> Result<PushTarget> {
        let d = self.inner.clone();
        write(async move { d.push_received(data.into_iter().collect()).await }).await
    }

    /// The user tapped a push: returns the account and screen to open.
    pub async fn push_opened(&self, data: HashMap<String, String>) -> Result<PushTarget> {
        let d = self.inner.clone();
        write(async move { d.push_opened(data.into_iter().collect()).await }).await
    }
}

// --- badge ----------------------------------------------------------------------------------

/// Gets an account's unread count: the current one first, then every change. Called on the
/// core's worker threads.
#[uniffi::export(foreign)]
pub trait BadgeListener: Send + Sync {
    fn on_badge(&self, account_id: String, unread: u32);
}

struct BadgeBridge(Arc<dyn BadgeListener>);

impl lianxiao_core::BadgeListener for BadgeBridge {
    fn on_badge(&self, account_id: String, unread: u32) {
        self.0.on_badge(account_id, unread)
    }
}

/// One account's badge.
#[derive(uniffi::Object)]
pub struct Notifications {
    inner: lianxiao_core::Notifications,
}

#[uniffi::export]
impl Client {
    /// This account's badge (unread notices).
    pub fn notifications(&self) -> Arc<Notifications> {
        Arc::new(Notifications {
            inner: self.inner.notifications(),
        })
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl Notifications {
    /// Unread notices of this account, the number the server's pushes carry as `badge`.
    pub async fn badge(&self) -> Result<u32> {
        let n = self.inner.clone();
        read(async move { n.badge().await }).await
    }

    pub fn subscribe_badge(&self, listener: Arc<dyn BadgeListener>) -> Arc<TaskHandle> {
        TaskHandle::wrap(sync(|| {
            self.inner.subscribe_badge(Arc::new(BadgeBridge(listener)))
        }))
    }
}
