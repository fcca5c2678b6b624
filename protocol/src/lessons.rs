//! Live lessons and the timetable (排课): a lead teacher's class teaches, receiving classes in
//! the link group follow, each with its assistant teacher.

use serde::{Deserialize, Serialize};

use crate::{Millis, org::PersonRef};

/// 同步互动 (everyone in a LiveKit room) or 同步直播 (one publisher, many HLS viewers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum LessonMode {
    Interactive,
    Broadcast,
}

impl LessonMode {
    pub fn as_str(self) -> &'static str {
        match self {
            LessonMode::Interactive => "interactive",
            LessonMode::Broadcast => "broadcast",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "interactive" => Some(LessonMode::Interactive),
            "broadcast" => Some(LessonMode::Broadcast),
            _ => None,
        }
    }
}

/// A receiving class and who assists in it, as asked for when scheduling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReceivingClassRequest {
    pub class_id: String,
    /// 助课教师: must teach or assist in that class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assistant_id: Option<String>,
}

/// `POST /v1/lessons`: schedule a lesson, or a weekly series of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScheduleLesson {
    pub subject: String,
    pub title: String,
    pub starts_at: Millis,
    pub ends_at: Millis,
    pub mode: LessonMode,
    /// The lead teacher's own class, which the lesson is taught in.
    pub lead_class_id: String,
    #[serde(default)]
    pub receiving: Vec<ReceivingClassRequest>,
    /// Who teaches: defaults to the caller. An admin scheduling for a teacher names them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_teacher_id: Option<String>,
    /// Repeat every week at the same time while the start is before this (the end of term).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekly_until: Option<Millis>,
}

/// Most lessons one weekly series may hold (a long term and some).
pub const MAX_LESSONS_PER_SERIES: usize = 30;

/// `POST /v1/lessons/{id}/move`: the same lesson at another time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MoveLesson {
    pub starts_at: Millis,
    pub ends_at: Millis,
}

/// `POST /v1/lessons/{id}/cancel`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CancelLesson {
    #[serde(default)]
    pub reason: String,
    /// Also cancel the series' later lessons.
    #[serde(default)]
    pub and_following: bool,
}

/// What a scheduling call created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScheduledLessons {
    /// Shared by the lessons of one weekly series; equals the only lesson's id otherwise.
    pub series_id: String,
    pub lessons: Vec<Lesson>,
}

/// Where a lesson stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum LessonStatus {
    Scheduled,
    Live,
    /// The source stopped mid-lesson (a push dropped); a new push resumes it.
    Interrupted,
    Ended,
    Cancelled,
}

impl LessonStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LessonStatus::Scheduled => "scheduled",
            LessonStatus::Live => "live",
            LessonStatus::Interrupted => "interrupted",
            LessonStatus::Ended => "ended",
            LessonStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "scheduled" => Some(LessonStatus::Scheduled),
            "live" => Some(LessonStatus::Live),
            "interrupted" => Some(LessonStatus::Interrupted),
            "ended" => Some(LessonStatus::Ended),
            "cancelled" => Some(LessonStatus::Cancelled),
            _ => None,
        }
    }
}

/// One class taking part in a lesson.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LessonClass {
    pub class_id: String,
    pub class_name: String,
    pub school_name: String,
    /// The lead teacher's class (true) or a receiving class.
    pub lead: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assistant: Option<PersonRef>,
}

/// A lesson as one person sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Lesson {
    pub id: String,
    pub series_id: String,
    pub subject: String,
    pub title: String,
    pub starts_at: Millis,
    pub ends_at: Millis,
    pub mode: LessonMode,
    pub status: LessonStatus,
    pub lead_teacher: PersonRef,
    /// The lead class first, then the receiving classes.
    pub classes: Vec<LessonClass>,
    /// Set when the lesson was moved: its start before the (last) move.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moved_from: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_at: Option<Millis>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cancel_reason: String,
    pub updated_at: Millis,
}

/// Why a lesson cannot be scheduled at a time: the lesson already there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LessonClash {
    pub lesson_id: String,
    pub title: String,
    pub starts_at: Millis,
    pub ends_at: Millis,
    /// The double-booked class, when a class clashes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_id: Option<String>,
    /// The double-booked teacher, when a teacher clashes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher_id: Option<String>,
    /// Which lesson of the requested series clashes (its start).
    pub requested_start: Millis,
}

/// How someone takes part in a lesson, which decides what they may do in its room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum LessonRole {
    /// 主讲: publishes, runs the room.
    Lead,
    /// 助课 in a receiving class: watches; speaks for the class when brought on stage.
    Assistant,
    Student,
    /// Follows a child's lesson from home; not shown in the room.
    Parent,
    /// A school or county admin looking in; not shown in the room.
    Observer,
}

impl LessonRole {
    pub fn as_str(self) -> &'static str {
        match self {
            LessonRole::Lead => "lead",
            LessonRole::Assistant => "assistant",
            LessonRole::Student => "student",
            LessonRole::Parent => "parent",
            LessonRole::Observer => "observer",
        }
    }
}

/// What a LiveKit SDK needs to connect to an interactive lesson's room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LiveKitTicket {
    /// The LiveKit server, `wss://…`.
    pub url: String,
    /// Access token (JWT) for this person and room; valid until `expires_at`.
    pub token: String,
    pub room: String,
    pub expires_at: Millis,
}

/// `POST /v1/lessons/{id}/join`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JoinTicket {
    pub lesson_id: String,
    pub mode: LessonMode,
    pub role: LessonRole,
    /// The class the person follows in (students, assistants, the lead's own class).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_id: Option<String>,
    pub starts_at: Millis,
    pub ends_at: Millis,
    /// For interactive lessons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub livekit: Option<LiveKitTicket>,
    /// For broadcast lessons: where to watch (HLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hls: Option<HlsTicket>,
    pub server_time: Millis,
}

/// What a player needs to watch a broadcast lesson. The URLs are relative to the server's
/// URL and signed for this viewer until `expires_at`; the playlists they lead to carry the
/// same signature on every entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HlsTicket {
    /// The master playlist: every rendition, for the player to choose from.
    pub master_url: String,
    /// Highest bandwidth first; the last is audio only, for the weakest networks.
    pub renditions: Vec<HlsRendition>,
    pub expires_at: Millis,
}

/// One rendition of a broadcast, with its own media playlist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HlsRendition {
    /// `low` (360p video and audio) or `audio`.
    pub name: String,
    /// Bits per second, as the master playlist announces it.
    pub bandwidth: u64,
    pub url: String,
    #[serde(default)]
    pub audio_only: bool,
}

/// `GET /v1/lessons/{id}/ingest`: where the lead teacher's encoder (OBS, a classroom recording
/// system) pushes a broadcast lesson. Whoever holds the key can publish: keep it secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IngestTicket {
    /// The encoder's "server", `rtmp://host:port/live`.
    pub rtmp_url: String,
    /// The encoder's "stream key".
    pub stream_key: String,
    /// Both in one URL, for encoders that take a single address.
    pub publish_url: String,
    /// The same ingest over SRT, for encoders that push it (MPEG-TS with H.264 and AAC):
    /// `srt://host:port?streamid=<key>&passphrase=<key>` (the key is the SRT passphrase).
    /// Absent when the server takes no SRT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub srt_url: Option<String>,
    /// The lesson's status now (`live` while a push is arriving).
    pub status: LessonStatus,
}

/// `POST /v1/lessons/{id}/stage`: bring a participant on stage (may publish) or take them off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StageChange {
    /// The participant's user id (their LiveKit identity).
    pub user_id: String,
    pub on_stage: bool,
}

/// The room name of a lesson in LiveKit.
pub fn lesson_room(lesson_id: &str) -> String {
    format!("lesson-{lesson_id}")
}

/// The lesson of a LiveKit room name, if it is one of ours.
pub fn room_lesson(room: &str) -> Option<&str> {
    room.strip_prefix("lesson-").filter(|id| !id.is_empty())
}

/// One stretch of time someone was in a lesson.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttendanceInterval {
    /// `livekit` (in the room), `hls` (fetching the broadcast's segments), `app` (the app's
    /// heartbeats, in the room or watching the broadcast), or `app+hls` where the app's
    /// heartbeats and its fetches cover one stretch (listed once).
    pub source: String,
    pub joined_at: Millis,
    /// Absent while still there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_at: Option<Millis>,
}

/// `GET /v1/lessons/{id}/attendance`: one person's presence in a lesson.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Attendance {
    pub user: PersonRef,
    /// Their class among the lesson's, for students.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_id: Option<String>,
    pub intervals: Vec<AttendanceInterval>,
    /// Time present, overlapping intervals counted once (an open one up to now or the end).
    pub total_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_from_a_server_without_broadcasts_still_reads() {
        let old = r#"{"lesson_id":"L","mode":"interactive","role":"student","starts_at":1,
            "ends_at":2,"server_time":1}"#;
        let ticket: JoinTicket = serde_json::from_str(old).unwrap();
        assert_eq!(ticket.hls, None);
        let text = serde_json::to_string(&ticket).unwrap();
        assert!(!text.contains("hls"), "absent, not null: {text}");
    }
}
