//! Replays (异步点播): a lesson's recording, packaged as HLS, reviewed by the school (学校审核)
//! before anyone but its teachers and reviewers can see it.
//!
//! A replay comes from a broadcast's own recording, a LiveKit egress, or a classroom
//! recording a teacher uploads through tus (purpose [`crate::UploadPurpose::Recording`]).
//! The server transcodes it into the same ladder as live broadcasts (a 360p rendition and an
//! audio-only one) and the replay waits for review. Replays and each person's own watch
//! position reach phones through sync.

use serde::{Deserialize, Serialize};

use crate::{HlsTicket, Millis, PersonRef};

/// Where a replay's video came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReplaySource {
    /// Kept from the lesson's own broadcast (RTMP/SRT ingest).
    Broadcast,
    /// A LiveKit egress of the interactive room.
    Egress,
    /// A file a teacher uploaded (a 录播教室 recording).
    Upload,
}

/// Where a replay is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReplayStatus {
    /// Being transcoded; see [`Replay::progress_percent`].
    Processing,
    /// Transcoding failed; see [`Replay::problem`]. Nothing was published.
    Failed,
    /// Ready, waiting for a school admin.
    PendingReview,
    /// Visible to its audience.
    Approved,
    /// Not published; see [`ReplayReview::reason`].
    Rejected,
}

/// Why a recording could not become a replay. Stable codes the UI can explain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReplayProblem {
    /// Not a media file, or a damaged one (ffprobe cannot read it).
    Unreadable,
    /// A media file without any video or audio stream to play.
    NoPlayableStream,
    /// The encoder stopped part-way (damaged in the middle, or an unsupported codec).
    TranscodeFailed,
}

/// Who may watch an approved replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReplayVisibility {
    /// The lesson's own classes (lead and receiving), their teachers and parents.
    #[default]
    LessonClasses,
    /// Every class of the lesson's link group (shared by the school).
    LinkGroup,
}

/// A school admin's decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplayReview {
    pub reviewer: PersonRef,
    pub approved: bool,
    /// Required when rejecting; shown to the teacher.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub decided_at: Millis,
}

/// One rendition of a finished replay, for choosing what to download.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplayRendition {
    /// `low` (360p video and audio) or `audio`, as in [`crate::HlsRendition::name`].
    pub name: String,
    /// Bits per second, as the master playlist announces it.
    pub bandwidth: u64,
    /// Bytes of all its segments: what a download of it needs on the phone.
    pub size_bytes: u64,
    #[serde(default)]
    pub audio_only: bool,
}

/// A replay as its audience sees it (sync item and `GET /v1/replays/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Replay {
    pub id: String,
    pub lesson_id: String,
    /// The lesson's subject and title unless the uploader gave another title.
    pub subject: String,
    pub title: String,
    /// When the recorded lesson started.
    pub lesson_starts_at: Millis,
    pub source: ReplaySource,
    pub status: ReplayStatus,
    /// 0–100 while processing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_percent: Option<u8>,
    /// Why processing failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<ReplayProblem>,
    pub visibility: ReplayVisibility,
    /// Known once transcoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<i64>,
    /// Empty until transcoded; highest bandwidth first, audio only last.
    #[serde(default)]
    pub renditions: Vec<ReplayRendition>,
    /// The teacher who uploaded it, or the lesson's lead for recordings of the lesson itself.
    pub owner: PersonRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<ReplayReview>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// `POST /v1/replays`: turn a finished upload (purpose `recording`) into a replay of a lesson.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateReplay {
    pub lesson_id: String,
    pub upload_id: String,
    /// Instead of the lesson's title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default)]
    pub visibility: ReplayVisibility,
}

/// `POST /v1/replays/{id}/review` (school admin): approve or reject a replay pending review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReviewReplay {
    pub approve: bool,
    /// Required to reject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Changes who may watch, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<ReplayVisibility>,
}

/// `POST /v1/replays/{id}/play`: signed URLs of an approved replay's HLS (video on demand:
/// every playlist ends with `#EXT-X-ENDLIST`), for streaming or for downloading one rendition.
pub type ReplayTicket = HlsTicket;

/// `POST /v1/replays/{id}/watch` with an idempotency key: where the person is in the replay
/// and how much they watched since their last report. Sent from the phone's outbox, so time
/// watched offline (a downloaded copy) arrives later and is counted once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WatchReport {
    pub position_ms: i64,
    /// Newly watched time since the previous report from this device (added up, not replaced).
    pub watched_ms: i64,
    /// When the phone's player was at `position_ms` (the phone's clock, corrected by the
    /// server time it last saw): a later report wins the position across devices.
    pub at: Millis,
    /// Watched from a downloaded copy.
    #[serde(default)]
    pub offline: bool,
}

/// One person's place in one replay, synced to all their devices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WatchPosition {
    pub replay_id: String,
    pub position_ms: i64,
    /// Total watched, from every device, online and offline.
    pub watched_ms: i64,
    /// The `at` of the report that set the position.
    pub at: Millis,
}

/// `GET /v1/replays/{id}/views` (the lesson's teachers, admins): who watched how much.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplayViewer {
    pub user: PersonRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_id: Option<String>,
    pub watched_ms: i64,
    pub offline_ms: i64,
    pub last_at: Millis,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watch_report_without_offline_reads_as_online() {
        let report: WatchReport =
            serde_json::from_str(r#"{"position_ms":5,"watched_ms":5,"at":1}"#).unwrap();
        assert!(!report.offline);
    }

    #[test]
    fn a_processing_replay_has_no_renditions_yet() {
        let text = r#"{"id":"r","lesson_id":"l","subject":"数学","title":"t",
            "lesson_starts_at":1,"source":"upload","status":"processing","progress_percent":40,
            "visibility":"lesson_classes","owner":{"id":"u","name":"n"},"created_at":1,
            "updated_at":2}"#;
        let replay: Replay = serde_json::from_str(text).unwrap();
        assert_eq!(replay.progress_percent, Some(40));
        assert!(replay.renditions.is_empty());
    }
}
