//! Phones registered for push notifications, and what every push carries.
//!
//! The app generates a device id once per install and registers it with
//! `PUT /v1/devices/{device_id}` for each account signed in on the phone (again whenever the
//! push token changes); `DELETE /v1/devices/{device_id}` when an account signs out.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Millis;

/// Longest accepted device id, push token, app version and locale.
pub const MAX_DEVICE_ID: usize = 128;
pub const MAX_PUSH_TOKEN: usize = 4096;
pub const MAX_APP_VERSION: usize = 64;
pub const MAX_LOCALE: usize = 35;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DevicePlatform {
    Ios,
    Android,
}

impl DevicePlatform {
    pub fn as_str(self) -> &'static str {
        match self {
            DevicePlatform::Ios => "ios",
            DevicePlatform::Android => "android",
        }
    }

    pub fn parse(s: &str) -> Option<DevicePlatform> {
        match s {
            "ios" => Some(DevicePlatform::Ios),
            "android" => Some(DevicePlatform::Android),
            _ => None,
        }
    }
}

/// Who carries a push to the phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PushProvider {
    /// Apple Push Notification service (iOS).
    Apns,
    /// Firebase Cloud Messaging (Android phones with Google services).
    Fcm,
    /// 个推 Getui: reaches Chinese Android phones without Google services through the phone
    /// makers' own push channels (Huawei, Honor, Xiaomi, OPPO, vivo, Meizu).
    Getui,
    /// Written to the server's log: development.
    Log,
}

impl PushProvider {
    pub const ALL: [PushProvider; 4] = [
        PushProvider::Apns,
        PushProvider::Fcm,
        PushProvider::Getui,
        PushProvider::Log,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PushProvider::Apns => "apns",
            PushProvider::Fcm => "fcm",
            PushProvider::Getui => "getui",
            PushProvider::Log => "log",
        }
    }

    pub fn parse(s: &str) -> Option<PushProvider> {
        PushProvider::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// `PUT /v1/devices/{device_id}`: register this phone for the signed-in account, or update
/// it (a new token keeps the device id).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegisterDevice {
    pub platform: DevicePlatform,
    pub provider: PushProvider,
    /// The provider's token for this install (APNs device token, FCM registration token,
    /// Getui client id); the shell hands it over.
    pub token: String,
    /// The app's version, e.g. "1.4.2".
    pub app_version: String,
    /// BCP 47, e.g. "zh-CN".
    pub locale: String,
}

impl std::fmt::Debug for RegisterDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisterDevice")
            .field("platform", &self.platform)
            .field("provider", &self.provider)
            .field("token", &"<redacted>")
            .field("app_version", &self.app_version)
            .field("locale", &self.locale)
            .finish()
    }
}

/// A registered phone as its account sees it (the token is not echoed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Device {
    pub id: String,
    pub platform: DevicePlatform,
    pub provider: PushProvider,
    pub app_version: String,
    pub locale: String,
    pub registered_at: Millis,
    pub updated_at: Millis,
}

/// What a push is about; tapping it opens that screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PushKind {
    Notice,
    Homework,
    Lesson,
}

impl PushKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PushKind::Notice => "notice",
            PushKind::Homework => "homework",
            PushKind::Lesson => "lesson",
        }
    }

    pub fn parse(s: &str) -> Option<PushKind> {
        match s {
            "notice" => Some(PushKind::Notice),
            "homework" => Some(PushKind::Homework),
            "lesson" => Some(PushKind::Lesson),
            _ => None,
        }
    }
}

/// The data every push carries besides its visible text: in APNs next to `aps`, in FCM's and
/// Getui's data as strings (see [`PushData::to_strings`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushData {
    pub kind: PushKind,
    /// The notice's (homework's, lesson's) id.
    pub id: String,
    /// The account it is for: several accounts can be signed in on one phone.
    pub account_id: String,
    /// That account's unread count.
    pub badge: u32,
}

impl PushData {
    /// The same data as a string map (FCM's `data` takes strings only).
    pub fn to_strings(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("kind".to_owned(), self.kind.as_str().to_owned()),
            ("id".to_owned(), self.id.clone()),
            ("account_id".to_owned(), self.account_id.clone()),
            ("badge".to_owned(), self.badge.to_string()),
        ])
    }

    /// Reads the string map back (what the shell hands the core when a push is tapped).
    pub fn from_strings(map: &BTreeMap<String, String>) -> Option<PushData> {
        Some(PushData {
            kind: PushKind::parse(map.get("kind")?)?,
            id: map.get("id")?.clone(),
            account_id: map.get("account_id")?.clone(),
            badge: map.get("badge")?.parse().ok()?,
        })
    }
}

/// How far pushes for one event got to one recipient's phones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PushReach {
    /// No phone registered for push: only the app's own sync will bring it.
    NoDevice,
    /// Queued or being retried.
    Pending,
    /// Handed to the provider for at least one phone.
    Delivered,
    /// The app on at least one phone said the push arrived (`POST /v1/devices/{id}/received`):
    /// it is on the phone, whether or not it has been read.
    OnPhone,
    /// Every push failed, was skipped or found its phone gone.
    NotDelivered,
}

/// What happened to one push.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PushState {
    Queued,
    Sent,
    Failed,
    DeviceRemoved,
    Skipped,
    /// Sent, and the app on the phone said it arrived. Reported only: the queue's rows stay
    /// `sent`, with `received_at` beside.
    Received,
    /// Received, and tapped on the phone.
    Opened,
}

impl PushState {
    pub fn as_str(self) -> &'static str {
        match self {
            PushState::Queued => "queued",
            PushState::Sent => "sent",
            PushState::Failed => "failed",
            PushState::DeviceRemoved => "device_removed",
            PushState::Skipped => "skipped",
            PushState::Received => "received",
            PushState::Opened => "opened",
        }
    }

    pub fn parse(s: &str) -> Option<PushState> {
        [
            PushState::Queued,
            PushState::Sent,
            PushState::Failed,
            PushState::DeviceRemoved,
            PushState::Skipped,
            PushState::Received,
            PushState::Opened,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushOutcome {
    /// The server's own key of the phone, to lay the phone's reports over the outcome. Never
    /// on the wire: a device id is what registering and unlinking a phone take, so the author
    /// of a notice must not learn the recipients' ids.
    #[serde(skip)]
    pub device_id: String,
    pub provider: PushProvider,
    pub state: PushState,
    pub attempts: u32,
    /// Why it failed or was skipped, e.g. "Unregistered", "provider_not_configured".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Millis>,
}

/// `POST /v1/devices/{device_id}/received`: the app on this phone got a push (or the user
/// tapped it). Idempotent: the first time of each is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushReceived {
    pub kind: PushKind,
    /// The notice's (homework's, lesson's) id, as in [`PushData::id`].
    pub id: String,
    /// The user tapped it (also counts as received).
    #[serde(default)]
    pub opened: bool,
}

/// One recipient of a notice and its pushes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecipientPushes {
    pub user_id: String,
    pub reach: PushReach,
    pub pushes: Vec<PushOutcome>,
}

/// `GET /v1/notices/{id}/pushes` (the author): for each recipient, whether a push reached any
/// of their phones, so "not delivered to any device" can be told from "delivered, not read".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NoticePushes {
    pub notice_id: String,
    pub recipients: Vec<RecipientPushes>,
}

/// The default reach of someone the server said nothing about (an older server).
pub fn no_device() -> PushReach {
    PushReach::NoDevice
}
