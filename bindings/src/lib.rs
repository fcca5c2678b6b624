//! UniFFI bindings of the Lianxiao core (Kotlin, Swift, Python). No logic lives here: every
//! object is a newtype over a core handle with one-line methods, every record mirrors a core
//! or protocol type.
//!
//! The library owns one tokio runtime ([`RUNTIME`]). Exported async calls run as tasks on it,
//! so the core always finds the runtime it was opened on, whatever thread or executor the
//! app polls from. Dropping an exported future (a cancelled Kotlin coroutine) aborts a read;
//! a mutation (acknowledge, post, sign-in...) runs to the end, because the user's tap must
//! not be half-applied.

use std::{
    future::Future,
    pin::Pin,
    sync::LazyLock,
    task::{Context, Poll},
};

use tokio::runtime::Runtime;

mod accounts;
#[cfg(target_os = "android")]
mod android;
mod client;
mod error;
mod homework;
mod homework_types;
mod live;
mod live_room;
mod logging;
mod notices;
mod notification_settings;
mod notifications;
mod replays;
mod timetable;
mod types;
mod uploads;

pub use accounts::{Accounts, ClientConfig, SecureStorage};
pub use client::{Client, StateListener, TaskFailureListener, TaskHandle};
pub use error::{LianxiaoError, SecureStorageError};
pub use homework::{HomeworkHandle, HomeworkListener, InstructionFile, NewHomework};
pub use live::{Live, LiveListener, LiveSession, MediaSession};
pub use logging::{LogLevel, LogSink, init_logging};
pub use notices::{NoticeListener, Notices};
pub use notification_settings::{NotificationSettingsHandle, NotificationSettingsListener};
pub use notifications::{BadgeListener, Devices, Notifications};
pub use replays::{NewRecording, ReplayListener, Replays};
pub use timetable::{ReminderListener, Timetable, TimetableListener};
pub use uploads::{UploadListener, UploadRequest, Uploads};

uniffi::setup_scaffolding!();

type Result<T, E = LianxiaoError> = std::result::Result<T, E>;

/// The library's runtime: the clients' background tasks (realtime, outbox, sync) and every
/// exported call run on it. Threads are named so they stand out in a phone's thread dump.
static RUNTIME: LazyLock<Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .thread_name("lianxiao")
        .enable_all()
        .build()
        .expect("cannot start the lianxiao runtime")
});

/// Runs a read on the runtime; dropping the returned future aborts it.
async fn read<T, F>(fut: F) -> Result<T>
where
    F: Future<Output = lianxiao_core::Result<T>> + Send + 'static,
    T: Send + 'static,
{
    AbortOnDrop(RUNTIME.spawn(fut)).await
}

/// Runs a mutation on the runtime to its end, even if the caller stops waiting.
async fn write<T, F>(fut: F) -> Result<T>
where
    F: Future<Output = lianxiao_core::Result<T>> + Send + 'static,
    T: Send + 'static,
{
    match RUNTIME.spawn(fut).await {
        Ok(r) => r.map_err(Into::into),
        Err(e) => Err(join_error(e)),
    }
}

struct AbortOnDrop<T>(tokio::task::JoinHandle<lianxiao_core::Result<T>>);

impl<T> Future for AbortOnDrop<T> {
    type Output = Result<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(|r| match r {
            Ok(r) => r.map_err(Into::into),
            Err(e) => Err(join_error(e)),
        })
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn join_error(e: tokio::task::JoinError) -> LianxiaoError {
    LianxiaoError::from(lianxiao_core::Error::from(e))
}

/// Runs a synchronous core call inside the runtime's context (some calls spawn tasks).
fn sync<T>(f: impl FnOnce() -> T) -> T {
    let _guard = RUNTIME.enter();
    f()
}
