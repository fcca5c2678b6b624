//! Homework (同步作业): one assignment for several classes, possibly in linked schools;
//! submissions with attachments and a history of attempts; grades, returns and parents'
//! sign-off (家长签字).

use serde::{Deserialize, Serialize};

use crate::{Millis, org::PersonRef};

/// What a student may hand in, and what an attachment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum WorkKind {
    Text,
    Photo,
    Audio,
    Video,
    File,
}

impl WorkKind {
    pub const ALL: [WorkKind; 5] = [
        WorkKind::Text,
        WorkKind::Photo,
        WorkKind::Audio,
        WorkKind::Video,
        WorkKind::File,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WorkKind::Text => "text",
            WorkKind::Photo => "photo",
            WorkKind::Audio => "audio",
            WorkKind::Video => "video",
            WorkKind::File => "file",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        WorkKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Largest single file of this kind the server accepts, in bytes.
    pub fn max_file_bytes(self) -> u64 {
        match self {
            WorkKind::Text => 0,
            WorkKind::Photo => 20 * MIB,
            WorkKind::Audio => 50 * MIB,
            WorkKind::Video => 500 * MIB,
            WorkKind::File => 50 * MIB,
        }
    }
}

const MIB: u64 = 1024 * 1024;

/// Default for [`AssignHomework::max_submission_bytes`]: all attachments of one attempt.
pub const DEFAULT_MAX_SUBMISSION_BYTES: u64 = 200 * MIB;

/// A stored file. Download it from `GET /v1/attachments/{id}` with the caller's token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Attachment {
    pub id: String,
    pub kind: WorkKind,
    pub file_name: String,
    pub content_type: String,
    pub size: u64,
    /// Lower-case hex SHA-256 of the content.
    pub sha256: String,
}

/// `POST /v1/homework`: assign one homework to one or more classes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AssignHomework {
    /// 1..=200 characters.
    pub title: String,
    /// 0..=20000 characters.
    #[serde(default)]
    pub instructions: String,
    /// Finished uploads (purpose `instructions`) to attach, in this order.
    #[serde(default)]
    pub attachment_upload_ids: Vec<String>,
    /// Classes the caller teaches; receiving classes of linked schools included.
    pub class_ids: Vec<String>,
    /// Must be in the future.
    pub due_at: Millis,
    /// Accept work after `due_at` (marked late). When false, late work is refused.
    #[serde(default = "yes")]
    pub accepts_late: bool,
    /// At least one.
    pub accepted_kinds: Vec<WorkKind>,
    /// 1..=1000.
    pub max_score: u32,
    /// A parent must sign the work off (家长签字).
    #[serde(default)]
    pub requires_signoff: bool,
    /// Cap on all attachments of one attempt; default 200 MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_submission_bytes: Option<u64>,
}

fn yes() -> bool {
    true
}

/// `PATCH /v1/homework/{id}`: change what is given; students are told it was edited.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EditHomework {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// Replaces the instruction attachments: ids of attachments already on the assignment or
    /// of finished uploads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepts_late: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_kinds: Option<Vec<WorkKind>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_score: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_signoff: Option<bool>,
}

/// One class an assignment was given to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AssignedClass {
    pub class_id: String,
    pub class_name: String,
    pub school_name: String,
}

/// An assignment as one person sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Homework {
    pub id: String,
    pub title: String,
    pub instructions: String,
    pub attachments: Vec<Attachment>,
    pub author: PersonRef,
    pub classes: Vec<AssignedClass>,
    pub due_at: Millis,
    pub accepts_late: bool,
    pub accepted_kinds: Vec<WorkKind>,
    pub max_score: u32,
    pub requires_signoff: bool,
    pub max_submission_bytes: u64,
    pub assigned_at: Millis,
    /// Set when the assignment was edited after it was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<Millis>,
    /// True for its author.
    pub authored: bool,
    /// For a student, or a parent about a child: last time the teacher reminded them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminded_at: Option<Millis>,
}

/// `POST /v1/homework/{id}/submissions`: hand in (again).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SubmitWork {
    #[serde(default)]
    pub text: String,
    /// Finished uploads (purpose `submission`) in display order.
    #[serde(default)]
    pub upload_ids: Vec<String>,
}

/// Where a student's work stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SubmissionStatus {
    /// Handed in, waiting for the teacher. The student may still hand in again.
    Submitted,
    /// Sent back for redo; the student hands in again.
    Returned,
    Graded,
}

impl SubmissionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SubmissionStatus::Submitted => "submitted",
            SubmissionStatus::Returned => "returned",
            SubmissionStatus::Graded => "graded",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "submitted" => Some(SubmissionStatus::Submitted),
            "returned" => Some(SubmissionStatus::Returned),
            "graded" => Some(SubmissionStatus::Graded),
            _ => None,
        }
    }
}

/// The teacher's verdict on one attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Review {
    pub by: PersonRef,
    pub at: Millis,
    /// For a grade; absent when the work was returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<u32>,
    /// Text feedback, or the reason for returning it.
    pub feedback: String,
    /// Voice feedback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<Attachment>,
}

/// One hand-in. Later attempts never overwrite earlier ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Attempt {
    /// 1, 2, ...
    pub number: u32,
    pub text: String,
    pub attachments: Vec<Attachment>,
    /// Server time it was received: the receipt.
    pub submitted_at: Millis,
    pub late: bool,
    /// Present once graded or returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<Review>,
}

/// A parent's sign-off (家长签字).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignOff {
    pub by: PersonRef,
    pub at: Millis,
    #[serde(default)]
    pub note: String,
}

/// One student's work on one assignment: every attempt, the current status, the sign-off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Submission {
    pub id: String,
    pub homework_id: String,
    pub student: PersonRef,
    pub class_id: String,
    pub status: SubmissionStatus,
    /// Oldest first; the last is the current one.
    pub attempts: Vec<Attempt>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_off: Option<SignOff>,
    pub updated_at: Millis,
}

/// `POST /v1/submissions/{id}/grade`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GradeWork {
    pub score: u32,
    #[serde(default)]
    pub feedback: String,
    /// A finished upload (purpose `feedback`, kind audio).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice_upload_id: Option<String>,
}

/// `POST /v1/submissions/{id}/return`: send back for redo.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReturnWork {
    /// Why, 1..=2000 characters.
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice_upload_id: Option<String>,
}

/// `POST /v1/submissions/{id}/sign-off` (parents).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignOffWork {
    #[serde(default)]
    pub note: String,
}

/// Counts for teachers, per class; synced to the author and the classes' teachers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HomeworkSummary {
    pub homework_id: String,
    pub classes: Vec<ClassProgress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reminded_at: Option<Millis>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClassProgress {
    pub class_id: String,
    pub class_name: String,
    pub school_name: String,
    pub students: u32,
    pub submitted: u32,
    pub late: u32,
    pub graded: u32,
    pub returned: u32,
    pub signed_off: u32,
}

/// `GET /v1/homework/{id}/report`: who has and has not handed in, per class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HomeworkReport {
    pub summary: HomeworkSummary,
    pub classes: Vec<ClassWork>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClassWork {
    pub class_id: String,
    pub class_name: String,
    pub students: Vec<StudentWork>,
}

/// One student's line in a report. `submission_id` is absent while nothing was handed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StudentWork {
    pub student: PersonRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submission_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<SubmissionStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_at: Option<Millis>,
    pub late: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<u32>,
    pub signed_off: bool,
}

/// `DELETE /v1/homework/{id}` answers 409 `conflict` with `field = "confirm"` when
/// submissions exist and the request did not say `?confirm=true`.
pub const CONFIRM_FIELD: &str = "confirm";
