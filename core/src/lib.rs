//! Lianxiao (联校) client core: plain async Rust, no FFI types.
//!
//! `Accounts` holds the accounts signed in on a device; each has a `Client` with its own
//! SQLite store (screens read from it, so the app works offline), a sync engine fed by a
//! realtime connection, and an outbox that delivers every mutation with an idempotency key
//! and survives restarts. Feature areas hang off the client (`client.notices()`).

mod accounts;
mod api;
mod client;
mod due_queue;
mod error;
mod homework;
pub mod hooks;
mod live;
mod notices;
mod notification_settings;
mod notifications;
mod outbox;
mod realtime;
mod replays;
mod secure_storage;
mod store;
mod sync;
mod timetable;
mod uploads;

pub use accounts::{AccountInfo, Accounts, ClientConfig};
pub use client::{
    Client, ClientState, StateListener, TaskFailure, TaskFailureListener, TaskHandle,
    TokenRefreshes,
};
pub use error::{Error, ErrorCode, Result, RetryClass};
pub use homework::{
    Draft, DraftFile, Handin, HandinState, HomeworkHandle, HomeworkListener, HomeworkView,
    NewHomework, PhotoSize, StudentWork, WorkState,
};
pub use live::{
    ConnectionQuality, DisconnectReason, EndCause, Live, LiveListener, LiveRoom, LiveSession,
    LiveState, MediaEvent, MediaSession, PolicyConfig, RenditionChoice, RenditionReason,
    UnsentChat, VideoQuality,
};
pub use notices::{
    DeliveryState, LOCAL_ID_PREFIX, NoticeFilter, NoticeListener, NoticeView, Notices,
};
pub use notification_settings::{
    NotificationSettingsHandle, NotificationSettingsListener, SettingsView,
};
pub use notifications::{
    BadgeListener, DeviceRegistration, Devices, Notifications, PushTarget, RegistrationState,
};
pub use outbox::{OutboxFailure, OutboxKind};
pub use replays::{
    DEFAULT_DOWNLOAD_CAP_BYTES, DownloadError, DownloadState, DownloadStatus, NewRecording,
    Playback, ReplayFilter, ReplayListener, ReplayView, Replays, StorageUse, WatchPlace,
};
pub use secure_storage::{
    FileSecureStorage, MemorySecureStorage, SecureStorage, SecureStorageError,
};
pub use timetable::{
    ChangeKind as LessonChangeKind, DEFAULT_REMINDER_LEAD_SECS, DEFAULT_UTC_OFFSET_MINUTES,
    LessonChange, LessonReminder, ReminderListener, Timetable, TimetableListener,
    TimetableSnapshot,
};
pub use uploads::{
    DEFAULT_STALL_TIMEOUT, UploadError, UploadLink, UploadListener, UploadRequest, UploadState,
    UploadStatus, Uploads,
};

/// The wire types, re-exported so apps and tests need one dependency.
pub use lianxiao_protocol as protocol;
