//! Resumable uploads: the server's tus 1.0 endpoint at `/v1/uploads`.
//!
//! Supported extensions: `creation`, `creation-with-upload`, `termination`, `checksum`
//! (`sha1`, `sha256`) and `expiration`. Any standard tus client can upload; the metadata
//! below says what the file is for, and the server checks it at creation.

use serde::{Deserialize, Serialize};

use crate::{Millis, homework::WorkKind};

/// The collection: `POST` creates an upload, `OPTIONS` describes the server.
pub const UPLOADS_PATH: &str = "/v1/uploads";

pub const TUS_VERSION: &str = "1.0.0";
pub const TUS_EXTENSIONS: &str = "creation,creation-with-upload,termination,checksum,expiration";
pub const TUS_CHECKSUM_ALGORITHMS: &str = "sha1,sha256";

/// Largest upload of any kind (a classroom recording); per-kind limits are lower.
pub const TUS_MAX_SIZE: u64 = 4 * 1024 * 1024 * 1024;

/// Largest PATCH body the server reads in one request.
pub const MAX_CHUNK_BYTES: u64 = 16 * 1024 * 1024;

/// How long an unfinished upload is kept after its last byte arrived, by default.
pub const DEFAULT_UPLOAD_TTL_SECS: u64 = 24 * 60 * 60;

/// `Upload-Metadata` keys (values base64 as tus requires).
pub mod meta {
    /// Required: what the file is for, see [`super::UploadPurpose`].
    pub const PURPOSE: &str = "purpose";
    /// Required for homework purposes: the assignment.
    pub const HOMEWORK_ID: &str = "homework_id";
    /// Required for a recording: the lesson it records.
    pub const LESSON_ID: &str = "lesson_id";
    /// Required: see [`super::WorkKind`] (not `text`).
    pub const KIND: &str = "kind";
    /// The original file name; also accepted as `filename` (what most tus clients send).
    pub const FILE_NAME: &str = "name";
    pub const FILE_NAME_ALT: &str = "filename";
    /// MIME type; also accepted as `filetype`.
    pub const CONTENT_TYPE: &str = "content_type";
    pub const CONTENT_TYPE_ALT: &str = "filetype";
}

/// What an upload will become once finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum UploadPurpose {
    /// A student's work for an assignment.
    Submission,
    /// A teacher's attachment to an assignment's instructions.
    Instructions,
    /// A teacher's voice feedback on a submission.
    Feedback,
    /// A teacher's classroom recording of a lesson, to become a replay (kind `video`).
    Recording,
}

impl UploadPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            UploadPurpose::Submission => "submission",
            UploadPurpose::Instructions => "instructions",
            UploadPurpose::Feedback => "feedback",
            UploadPurpose::Recording => "recording",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "submission" => Some(UploadPurpose::Submission),
            "instructions" => Some(UploadPurpose::Instructions),
            "feedback" => Some(UploadPurpose::Feedback),
            "recording" => Some(UploadPurpose::Recording),
            _ => None,
        }
    }
}

/// What the server knows about an upload, for clients that want JSON rather than tus
/// headers: `GET /v1/uploads/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UploadInfo {
    pub id: String,
    pub purpose: UploadPurpose,
    pub kind: WorkKind,
    pub length: u64,
    pub offset: u64,
    pub expires_at: Millis,
    pub complete: bool,
    /// Hex SHA-256 of the whole file, once complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}
