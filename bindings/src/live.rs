//! Live lessons (`client.live()`): the session of one person in one lesson, the shell's media
//! engine behind `MediaSession` (the platform LiveKit SDK), the lesson screen's listener, and
//! the broadcast rendition the core picks for the shell's HLS player.

use std::sync::Arc;

use lianxiao_core::{
    ConnectionQuality, DisconnectReason, EndCause, LiveRoom, LiveState, MediaEvent,
    RenditionChoice, RenditionReason, VideoQuality,
    protocol::{HlsRendition, HlsTicket, JoinTicket, LessonRole, LiveKitTicket},
};

use crate::{Result, read, sync, write};

// --- records ------------------------------------------------------------------------------

#[uniffi::remote(Enum)]
pub enum VideoQuality {
    Low,
    Medium,
    High,
}

#[uniffi::remote(Enum)]
pub enum ConnectionQuality {
    Excellent,
    Good,
    Poor,
    Lost,
}

#[uniffi::remote(Enum)]
pub enum DisconnectReason {
    ClientInitiated,
    Kicked,
    RoomClosed,
    DuplicateIdentity,
    Network,
    Other { message: String },
}

#[uniffi::remote(Enum)]
pub enum MediaEvent {
    Connected,
    Reconnecting,
    Reconnected,
    Disconnected { reason: DisconnectReason },
    StreamPaused,
    TrackSubscribed,
    ConnectionQuality { quality: ConnectionQuality },
    PermissionsChanged { can_publish: bool },
}

#[uniffi::remote(Enum)]
pub enum EndCause {
    LessonOver,
    Cancelled,
    Kicked,
    Left,
    Failed { reason: String },
}

#[uniffi::remote(Enum)]
pub enum LiveState {
    Joining,
    Live {
        quality: VideoQuality,
        video_enabled: bool,
        can_publish: bool,
    },
    Reconnecting {
        attempt: u32,
    },
    FallbackToBroadcast {
        hls_url: Option<String>,
    },
    Ended {
        cause: EndCause,
    },
}

#[uniffi::remote(Enum)]
pub enum RenditionReason {
    Start,
    Throughput,
    DataSaver,
}

#[uniffi::remote(Record)]
pub struct RenditionChoice {
    pub name: String,
    pub url: String,
    pub bandwidth: u64,
    pub audio_only: bool,
    pub reason: RenditionReason,
    pub estimate: Option<u64>,
}

#[uniffi::remote(Enum)]
pub enum LessonRole {
    Lead,
    Assistant,
    Student,
    Parent,
    Observer,
}

#[uniffi::remote(Record)]
pub struct LiveKitTicket {
    pub url: String,
    pub token: String,
    pub room: String,
    pub expires_at: i64,
}

#[uniffi::remote(Record)]
pub struct HlsRendition {
    pub name: String,
    pub bandwidth: u64,
    pub url: String,
    pub audio_only: bool,
}

#[uniffi::remote(Record)]
pub struct HlsTicket {
    pub master_url: String,
    pub renditions: Vec<HlsRendition>,
    pub expires_at: i64,
}

#[uniffi::remote(Record)]
pub struct JoinTicket {
    pub lesson_id: String,
    pub mode: lianxiao_core::protocol::LessonMode,
    pub role: LessonRole,
    pub class_id: Option<String>,
    pub starts_at: i64,
    pub ends_at: i64,
    pub livekit: Option<LiveKitTicket>,
    pub hls: Option<HlsTicket>,
    pub server_time: i64,
}

// --- foreign traits -------------------------------------------------------------------------

/// The shell's media engine, implemented on the platform LiveKit SDK. Calls come on the
/// core's worker threads and must return at once; what happens is reported back through
/// `LiveSession.media_event`.
#[uniffi::export(foreign)]
pub trait MediaSession: Send + Sync {
    fn connect(&self, url: String, token: String);
    fn disconnect(&self);
    fn set_camera(&self, on: bool);
    fn set_microphone(&self, on: bool);
    fn set_video_quality(&self, quality: VideoQuality);
    /// False: receive audio only.
    fn set_video_enabled(&self, enabled: bool);
}

/// The lesson screen. Called on the core's worker threads: hop to the main thread to draw.
#[uniffi::export(foreign)]
pub trait LiveListener: Send + Sync {
    /// The current state first, then every change.
    fn on_state(&self, state: LiveState);
    /// While watching the broadcast: the rendition to play, at once and on every change. The
    /// URL may be the one already playing (only the reason changed): keep playing it.
    fn on_rendition(&self, choice: RenditionChoice);
    /// The lesson's room (hands, stage, chat, quiz): the one last seen at once, then after
    /// every change.
    fn on_room(&self, room: LiveRoom);
}

struct MediaBridge(Arc<dyn MediaSession>);

impl lianxiao_core::MediaSession for MediaBridge {
    fn connect(&self, url: String, token: String) {
        self.0.connect(url, token)
    }
    fn disconnect(&self) {
        self.0.disconnect()
    }
    fn set_camera(&self, on: bool) {
        self.0.set_camera(on)
    }
    fn set_microphone(&self, on: bool) {
        self.0.set_microphone(on)
    }
    fn set_video_quality(&self, quality: VideoQuality) {
        self.0.set_video_quality(quality)
    }
    fn set_video_enabled(&self, enabled: bool) {
        self.0.set_video_enabled(enabled)
    }
}

struct ListenerBridge(Arc<dyn LiveListener>);

impl lianxiao_core::LiveListener for ListenerBridge {
    fn on_state(&self, state: LiveState) {
        self.0.on_state(state)
    }
    fn on_rendition(&self, choice: RenditionChoice) {
        self.0.on_rendition(choice)
    }
    fn on_room(&self, room: LiveRoom) {
        self.0.on_room(room)
    }
}

// --- objects ------------------------------------------------------------------------------

/// `client.live()`: joining lessons, the data saver, attendance heartbeats.
#[derive(uniffi::Object)]
pub struct Live {
    inner: lianxiao_core::Live,
}

impl Live {
    pub(crate) fn wrap(inner: lianxiao_core::Live) -> Arc<Self> {
        Arc::new(Live { inner })
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl Live {
    /// Joins a lesson: gets a ticket, connects `media` and runs the session (reconnects,
    /// quality, stage, fallback to the broadcast, attendance) until it ends or is left.
    pub fn join(
        &self,
        lesson_id: String,
        media: Arc<dyn MediaSession>,
        listener: Arc<dyn LiveListener>,
    ) -> Arc<LiveSession> {
        let inner = sync(|| {
            self.inner.join(
                lesson_id,
                Arc::new(MediaBridge(media)),
                Arc::new(ListenerBridge(listener)),
            )
        });
        Arc::new(LiveSession {
            inner: Arc::new(inner),
        })
    }

    /// The data saver: on mobile data broadcasts play audio only, on Wi-Fi at most the lowest
    /// video. Off unless turned on; kept per account.
    pub async fn data_saver(&self) -> Result<bool> {
        let l = self.inner.clone();
        read(async move { l.data_saver().await }).await
    }

    /// Running sessions follow at once.
    pub async fn set_data_saver(&self, on: bool) -> Result<()> {
        let l = self.inner.clone();
        write(async move { l.set_data_saver(on).await }).await
    }

    /// Attendance heartbeats queued on this phone and not yet delivered.
    pub async fn pending_heartbeats(&self) -> Result<u64> {
        let l = self.inner.clone();
        read(async move { l.pending_heartbeats().await.map(|n| n as u64) }).await
    }

    /// Sends queued heartbeats now (sessions do it on their own); returns how many are left.
    pub async fn send_heartbeats(&self) -> Result<u64> {
        let l = self.inner.clone();
        write(async move { l.send_heartbeats().await.map(|n| n as u64) }).await
    }
}

/// One person in one live lesson. `leave()` or dropping it (Kotlin `close()`) leaves. The
/// room's calls (hands, stage, chat, quiz) are in `live_room.rs`.
#[derive(uniffi::Object)]
pub struct LiveSession {
    // Shared with the room's calls while they run on the runtime.
    pub(crate) inner: Arc<lianxiao_core::LiveSession>,
}

#[uniffi::export]
impl LiveSession {
    pub fn lesson_id(&self) -> String {
        self.inner.lesson_id()
    }

    /// What the shell's media engine reports (connected, reconnecting, quality...).
    pub fn media_event(&self, event: MediaEvent) {
        self.inner.media_event(event)
    }

    pub fn leave(&self) {
        self.inner.leave()
    }

    pub fn state(&self) -> LiveState {
        self.inner.state()
    }

    /// The ticket in use (the latest join's), once the server answered.
    pub fn ticket(&self) -> Option<JoinTicket> {
        self.inner.ticket()
    }

    /// The broadcast player's measured throughput, bits per second (per segment, or the
    /// player's own estimate): the core picks the rendition from it.
    pub fn report_throughput(&self, bits_per_second: u64) {
        self.inner.report_throughput(bits_per_second)
    }

    /// True on mobile data, false on Wi-Fi; until told, the session assumes mobile data.
    pub fn set_metered(&self, metered: bool) {
        self.inner.set_metered(metered)
    }

    /// The broadcast rendition to play now (also told to `LiveListener.on_rendition`).
    pub fn rendition(&self) -> Option<RenditionChoice> {
        self.inner.rendition()
    }
}
