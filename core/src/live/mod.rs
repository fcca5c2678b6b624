//! Live lessons on the phone (`client.live()`): the session that joins a lesson, drives the
//! shell's media engine (the platform LiveKit SDK, behind `MediaSession`) and decides what to
//! do when the network or the room changes; attendance heartbeats while in the lesson.
//!
//! The decisions live in `policy` (pure, clock-injected, replayable in tests); `session` runs
//! it: it makes the calls, feeds it the shell's media events, the timetable and timer ticks.

mod heartbeats;
mod policy;
mod rendition;
mod room;
mod session;

use std::sync::Arc;

pub use policy::PolicyConfig;
pub use rendition::{RenditionChoice, RenditionReason};
pub use room::{LiveRoom, UnsentChat};
pub use session::LiveSession;

use crate::{Client, Result};

/// Video resolution asked of the SDK (simulcast layer when subscribing, capture when
/// publishing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoQuality {
    Low,
    Medium,
    High,
}

/// LiveKit's view of the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectionQuality {
    Excellent,
    Good,
    Poor,
    Lost,
}

/// Why the SDK left the room.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DisconnectReason {
    /// We asked (`MediaSession::disconnect`).
    ClientInitiated,
    /// Removed from the room by the teacher or the server.
    Kicked,
    /// The room was closed: the lesson is over.
    RoomClosed,
    /// The same person joined from another device.
    DuplicateIdentity,
    /// The SDK gave up reconnecting.
    Network,
    Other {
        message: String,
    },
}

/// What the shell's media engine reports, forwarded with `LiveSession::media_event`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MediaEvent {
    Connected,
    Reconnecting,
    Reconnected,
    Disconnected {
        reason: DisconnectReason,
    },
    /// A subscribed stream was paused for lack of bandwidth.
    StreamPaused,
    TrackSubscribed,
    ConnectionQuality {
        quality: ConnectionQuality,
    },
    /// The server changed what this person may do (brought on or off the stage).
    PermissionsChanged {
        can_publish: bool,
    },
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EndCause {
    LessonOver,
    Cancelled,
    /// Removed from the room.
    Kicked,
    /// The person left.
    Left,
    Failed {
        reason: String,
    },
}

/// Where a session stands, for the lesson screen.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LiveState {
    /// Getting a ticket and connecting for the first time.
    Joining,
    Live {
        quality: VideoQuality,
        /// False: audio only, the network cannot carry video.
        video_enabled: bool,
        /// On stage (or the lead): camera and microphone are published.
        can_publish: bool,
    },
    /// The connection dropped; `attempt` counts fresh joins made since (0: the SDK is
    /// reconnecting on its own).
    Reconnecting {
        attempt: u32,
    },
    /// Watch the lesson's broadcast (HLS master playlist, signed for this person): a
    /// broadcast lesson, or a room that cannot be reached. Absent when the lesson has no
    /// broadcast (an interactive lesson without egress, for now).
    FallbackToBroadcast {
        hls_url: Option<String>,
    },
    Ended {
        cause: EndCause,
    },
}

/// The shell's media engine, implemented on the platform LiveKit SDK. Calls return at once;
/// what happens is reported back through `LiveSession::media_event`.
pub trait MediaSession: Send + Sync {
    fn connect(&self, url: String, token: String);
    fn disconnect(&self);
    fn set_camera(&self, on: bool);
    fn set_microphone(&self, on: bool);
    fn set_video_quality(&self, quality: VideoQuality);
    /// False: receive audio only.
    fn set_video_enabled(&self, enabled: bool);
}

pub trait LiveListener: Send + Sync {
    /// The current state first, then every change.
    fn on_state(&self, state: LiveState);

    /// While in `FallbackToBroadcast`: the rendition to play, at once and whenever the choice
    /// changes. The URL may be the one already playing (only the reason changed): keep it.
    fn on_rendition(&self, choice: RenditionChoice) {
        let _ = choice;
    }

    /// The lesson's live room (hands, stage, chat, quiz): the one last seen at once, then
    /// after every change (room events, this phone's own calls, a fresh read on reconnect).
    fn on_room(&self, room: LiveRoom) {
        let _ = room;
    }
}

/// `client.live()`.
#[derive(Clone)]
pub struct Live {
    client: Client,
}

impl Live {
    pub(crate) fn new(client: Client) -> Self {
        Live { client }
    }

    /// Joins a lesson: asks the server for a ticket, connects `media` to it and keeps the
    /// session going (reconnects, quality, stage, attendance) until it ends or is left.
    pub fn join(
        &self,
        lesson_id: String,
        media: Arc<dyn MediaSession>,
        listener: Arc<dyn LiveListener>,
    ) -> LiveSession {
        self.join_with(lesson_id, PolicyConfig::default(), media, listener)
    }

    /// `join` with other thresholds (tests, or a school on a known network).
    pub fn join_with(
        &self,
        lesson_id: String,
        config: PolicyConfig,
        media: Arc<dyn MediaSession>,
        listener: Arc<dyn LiveListener>,
    ) -> LiveSession {
        LiveSession::start(
            self.client.shared().clone(),
            lesson_id,
            config,
            media,
            listener,
        )
    }

    /// The data saver: on mobile data broadcasts play audio only, on Wi-Fi at most the
    /// lowest video. Off unless turned on; kept per account.
    pub async fn data_saver(&self) -> Result<bool> {
        rendition::data_saver(self.client.shared()).await
    }

    /// Turns the data saver on or off; running sessions follow at once.
    pub async fn set_data_saver(&self, on: bool) -> Result<()> {
        rendition::set_data_saver(self.client.shared(), on).await
    }

    /// Attendance heartbeats queued on this phone and not yet delivered.
    pub async fn pending_heartbeats(&self) -> Result<usize> {
        heartbeats::pending_count(self.client.shared()).await
    }

    /// Sends queued heartbeats now (sessions do this on their own); returns how many are
    /// still queued.
    pub async fn send_heartbeats(&self) -> Result<usize> {
        heartbeats::send_pending(self.client.shared()).await
    }
}
