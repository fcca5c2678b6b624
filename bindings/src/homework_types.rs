//! The homework and upload records and enums the apps see, declared to UniFFI with
//! `#[uniffi::remote]` like those in `types.rs`: each repeats the original's fields and the
//! compiler checks they match. Times are Unix milliseconds of the server's clock (`i64`),
//! sizes are bytes, files are local paths.

use lianxiao_core::{
    Draft, DraftFile, Handin, HandinState, HomeworkView, PhotoSize, StudentWork, UploadError,
    UploadLink, UploadState, UploadStatus, WorkState,
    protocol::{
        AssignedClass, Attachment, Attempt, ClassProgress, ClassWork, EditHomework, Homework,
        HomeworkReport, HomeworkSummary, PersonRef, Review, SignOff, Submission, SubmissionStatus,
        UploadPurpose, WorkKind,
    },
};

// --- protocol: homework ---------------------------------------------------------------------

#[uniffi::remote(Enum)]
pub enum WorkKind {
    Text,
    Photo,
    Audio,
    Video,
    File,
}

#[uniffi::remote(Record)]
pub struct Attachment {
    pub id: String,
    pub kind: WorkKind,
    pub file_name: String,
    pub content_type: String,
    pub size: u64,
    pub sha256: String,
}

#[uniffi::remote(Record)]
pub struct AssignedClass {
    pub class_id: String,
    pub class_name: String,
    pub school_name: String,
}

#[uniffi::remote(Record)]
pub struct Homework {
    pub id: String,
    pub title: String,
    pub instructions: String,
    pub attachments: Vec<Attachment>,
    pub author: PersonRef,
    pub classes: Vec<AssignedClass>,
    pub due_at: i64,
    pub accepts_late: bool,
    pub accepted_kinds: Vec<WorkKind>,
    pub max_score: u32,
    pub requires_signoff: bool,
    pub max_submission_bytes: u64,
    pub assigned_at: i64,
    pub edited_at: Option<i64>,
    pub authored: bool,
    pub reminded_at: Option<i64>,
}

/// What to change in a homework; fields left out stay as they are.
#[uniffi::remote(Record)]
pub struct EditHomework {
    #[uniffi(default = None)]
    pub title: Option<String>,
    #[uniffi(default = None)]
    pub instructions: Option<String>,
    /// Replaces the instruction attachments (ids already on the homework, or of finished
    /// uploads).
    #[uniffi(default = None)]
    pub attachment_ids: Option<Vec<String>>,
    #[uniffi(default = None)]
    pub due_at: Option<i64>,
    #[uniffi(default = None)]
    pub accepts_late: Option<bool>,
    #[uniffi(default = None)]
    pub accepted_kinds: Option<Vec<WorkKind>>,
    #[uniffi(default = None)]
    pub max_score: Option<u32>,
    #[uniffi(default = None)]
    pub requires_signoff: Option<bool>,
}

#[uniffi::remote(Enum)]
pub enum SubmissionStatus {
    Submitted,
    Returned,
    Graded,
}

#[uniffi::remote(Record)]
pub struct Review {
    pub by: PersonRef,
    pub at: i64,
    pub score: Option<u32>,
    pub feedback: String,
    pub voice: Option<Attachment>,
}

#[uniffi::remote(Record)]
pub struct Attempt {
    pub number: u32,
    pub text: String,
    pub attachments: Vec<Attachment>,
    pub submitted_at: i64,
    pub late: bool,
    pub review: Option<Review>,
}

#[uniffi::remote(Record)]
pub struct SignOff {
    pub by: PersonRef,
    pub at: i64,
    pub note: String,
}

#[uniffi::remote(Record)]
pub struct Submission {
    pub id: String,
    pub homework_id: String,
    pub student: PersonRef,
    pub class_id: String,
    pub status: SubmissionStatus,
    pub attempts: Vec<Attempt>,
    pub sign_off: Option<SignOff>,
    pub updated_at: i64,
}

#[uniffi::remote(Record)]
pub struct HomeworkSummary {
    pub homework_id: String,
    pub classes: Vec<ClassProgress>,
    pub last_reminded_at: Option<i64>,
}

#[uniffi::remote(Record)]
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

#[uniffi::remote(Record)]
pub struct HomeworkReport {
    pub summary: HomeworkSummary,
    pub classes: Vec<ClassWork>,
}

#[uniffi::remote(Record)]
pub struct ClassWork {
    pub class_id: String,
    pub class_name: String,
    pub students: Vec<lianxiao_core::protocol::StudentWork>,
}

/// One student's line in a teacher's report: the protocol's `StudentWork`, renamed because
/// `StudentWork` is the core's view of one student's own work. Its own module so the two
/// names do not meet.
mod report {
    use lianxiao_core::protocol::{PersonRef, StudentWork, SubmissionStatus};

    #[uniffi::remote(Record)]
    #[uniffi(name = "StudentReportLine")]
    pub struct StudentWork {
        pub student: PersonRef,
        pub submission_id: Option<String>,
        pub status: Option<SubmissionStatus>,
        pub submitted_at: Option<i64>,
        pub late: bool,
        pub score: Option<u32>,
        pub signed_off: bool,
    }
}

// --- core: homework on the phone ------------------------------------------------------------

#[uniffi::remote(Record)]
pub struct DraftFile {
    pub id: i64,
    pub kind: WorkKind,
    pub file_name: String,
    pub content_type: String,
    pub size: u64,
    pub path: String,
}

#[uniffi::remote(Record)]
pub struct Draft {
    pub homework_id: String,
    pub text: String,
    pub files: Vec<DraftFile>,
    /// Phone clock.
    pub updated_at: i64,
}

#[uniffi::remote(Enum)]
pub enum HandinState {
    Queued,
    Uploading,
    Delivered,
    Failed,
}

#[uniffi::remote(Record)]
pub struct Handin {
    pub id: String,
    pub homework_id: String,
    pub text: String,
    pub files: Vec<DraftFile>,
    pub state: HandinState,
    pub created_at: i64,
    pub submission_id: Option<String>,
    pub attempt: Option<u32>,
    pub received_at: Option<i64>,
    pub error: Option<String>,
    pub sent_bytes: u64,
    pub total_bytes: u64,
}

#[uniffi::remote(Enum)]
pub enum WorkState {
    NotStarted,
    Draft,
    OnDevice,
    Uploading {
        sent_bytes: u64,
        total_bytes: u64,
    },
    Delivered {
        received_at: i64,
        attempt: u32,
        late: bool,
    },
    Returned {
        reason: String,
    },
    Graded {
        score: u32,
        max_score: u32,
    },
    Failed {
        message: String,
    },
}

#[uniffi::remote(Record)]
pub struct StudentWork {
    pub student_id: String,
    pub state: WorkState,
    pub submission: Option<Submission>,
    pub handin: Option<Handin>,
    pub draft: Option<Draft>,
    pub overdue: bool,
    pub needs_sign_off: bool,
}

#[uniffi::remote(Record)]
pub struct HomeworkView {
    pub homework: Homework,
    pub work: Vec<StudentWork>,
    pub summary: Option<HomeworkSummary>,
}

#[uniffi::remote(Enum)]
pub enum PhotoSize {
    Original,
    MaxPixels(u32),
}

// --- uploads --------------------------------------------------------------------------------

#[uniffi::remote(Enum)]
pub enum UploadPurpose {
    Submission,
    Instructions,
    Feedback,
    Recording,
}

#[uniffi::remote(Enum)]
pub enum UploadState {
    Pending,
    Uploading,
    Done,
    Failed,
}

/// Why an upload failed: the stable code (`forbidden`, `validation`, ...) and a message for
/// logs.
#[uniffi::remote(Record)]
pub struct UploadError {
    pub code: String,
    pub message: String,
}

#[uniffi::remote(Record)]
pub struct UploadStatus {
    pub id: i64,
    pub state: UploadState,
    pub sent: u64,
    pub total: u64,
    pub server_id: Option<String>,
    pub file_name: String,
    pub purpose: UploadPurpose,
    pub kind: WorkKind,
    pub homework_id: Option<String>,
    pub batch: Option<String>,
    pub attempts: u32,
    pub error: Option<UploadError>,
}

#[uniffi::remote(Record)]
pub struct UploadLink {
    pub next_chunk: u64,
    pub bytes_per_sec: Option<u64>,
    pub secs_between_drops: Option<f64>,
}
