//! Homework of one account (`client.homework()`): the list and its changes, drafts on the
//! phone, hand-in, and the teachers' and parents' calls. Files cross as local paths.

use std::sync::Arc;

use lianxiao_core::{
    Draft, Handin, HomeworkView, PhotoSize,
    protocol::{EditHomework, Homework, HomeworkReport, RemindResult, Submission, WorkKind},
};

use crate::{Result, TaskHandle, read, sync, write};

/// Receives every homework the account sees: the current list first, then the whole list
/// again after every change (sync, a draft edited, upload progress, delivery). Called on the
/// core's worker threads: hop to the main thread to draw.
#[uniffi::export(foreign)]
pub trait HomeworkListener: Send + Sync {
    fn on_homework(&self, homework: Vec<HomeworkView>);
}

struct HomeworkBridge(Arc<dyn HomeworkListener>);

impl lianxiao_core::HomeworkListener for HomeworkBridge {
    fn on_homework(&self, homework: Vec<HomeworkView>) {
        self.0.on_homework(homework)
    }
}

/// A file on the phone to attach to a homework's instructions.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct InstructionFile {
    pub path: String,
    pub kind: WorkKind,
}

/// A homework to assign (同步作业: one or more classes, linked schools' included).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NewHomework {
    pub title: String,
    pub instructions: String,
    pub class_ids: Vec<String>,
    /// Server time.
    pub due_at: i64,
    pub accepted_kinds: Vec<WorkKind>,
    pub max_score: u32,
    /// Uploaded before the homework is assigned.
    #[uniffi(default)]
    pub attachments: Vec<InstructionFile>,
    #[uniffi(default = true)]
    pub accepts_late: bool,
    #[uniffi(default = false)]
    pub requires_signoff: bool,
    #[uniffi(default = None)]
    pub max_submission_bytes: Option<u64>,
}

impl From<NewHomework> for lianxiao_core::NewHomework {
    fn from(n: NewHomework) -> Self {
        lianxiao_core::NewHomework {
            title: n.title,
            instructions: n.instructions,
            attachments: n
                .attachments
                .into_iter()
                .map(|f| (f.path, f.kind))
                .collect(),
            class_ids: n.class_ids,
            due_at: n.due_at,
            accepts_late: n.accepts_late,
            accepted_kinds: n.accepted_kinds,
            max_score: n.max_score,
            requires_signoff: n.requires_signoff,
            max_submission_bytes: n.max_submission_bytes,
        }
    }
}

/// The homework of one account. Reads come from the phone's store and work offline; calls
/// marked "online" need the server.
#[derive(uniffi::Object)]
pub struct HomeworkHandle {
    inner: lianxiao_core::HomeworkHandle,
}

impl HomeworkHandle {
    pub(crate) fn wrap(inner: lianxiao_core::HomeworkHandle) -> Arc<Self> {
        Arc::new(HomeworkHandle { inner })
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl HomeworkHandle {
    /// Every homework the account sees, latest due first.
    pub async fn list(&self) -> Result<Vec<HomeworkView>> {
        let h = self.inner.clone();
        read(async move { h.list().await }).await
    }

    pub async fn get(&self, homework_id: String) -> Result<HomeworkView> {
        let h = self.inner.clone();
        read(async move { h.get(homework_id).await }).await
    }

    /// The current list at once, then the new list after every change, until the handle is
    /// dropped.
    pub fn subscribe(&self, listener: Arc<dyn HomeworkListener>) -> Arc<TaskHandle> {
        TaskHandle::wrap(sync(|| {
            self.inner.subscribe(Arc::new(HomeworkBridge(listener)))
        }))
    }

    /// The submissions of a homework on this phone: a student's own, a parent's children's,
    /// those a teacher fetched.
    pub async fn stored_submissions(&self, homework_id: String) -> Result<Vec<Submission>> {
        let h = self.inner.clone();
        read(async move { h.stored_submissions(homework_id).await }).await
    }

    pub async fn submission(&self, submission_id: String) -> Result<Submission> {
        let h = self.inner.clone();
        read(async move { h.submission(submission_id).await }).await
    }

    // --- students: drafts and hand-in ---------------------------------------------------------

    /// The draft of a homework, if one was started on this phone.
    pub async fn draft(&self, homework_id: String) -> Result<Option<Draft>> {
        let h = self.inner.clone();
        read(async move { h.draft(homework_id).await }).await
    }

    pub async fn set_draft_text(&self, homework_id: String, text: String) -> Result<Draft> {
        let h = self.inner.clone();
        write(async move { h.set_draft_text(homework_id, text).await }).await
    }

    /// Adds a file (a photo from the picker, a recording...). It is copied in at once, photos
    /// shrunk, so the app may delete its own copy afterwards.
    pub async fn add_draft_file(
        &self,
        homework_id: String,
        path: String,
        kind: WorkKind,
    ) -> Result<Draft> {
        let h = self.inner.clone();
        write(async move { h.add_draft_file(homework_id, path, kind).await }).await
    }

    pub async fn remove_draft_file(&self, homework_id: String, file_id: i64) -> Result<Draft> {
        let h = self.inner.clone();
        write(async move { h.remove_draft_file(homework_id, file_id).await }).await
    }

    /// Puts the draft's files in this order (by `DraftFile.id`).
    pub async fn reorder_draft_files(
        &self,
        homework_id: String,
        file_ids: Vec<i64>,
    ) -> Result<Draft> {
        let h = self.inner.clone();
        write(async move { h.reorder_draft_files(homework_id, file_ids).await }).await
    }

    /// Throws the draft away, with its files.
    pub async fn discard_draft(&self, homework_id: String) -> Result<()> {
        let h = self.inner.clone();
        write(async move { h.discard_draft(homework_id).await }).await
    }

    /// How photos are sized before they are sent (default: 1600 px on the long side).
    pub async fn photo_size(&self) -> Result<PhotoSize> {
        let h = self.inner.clone();
        read(async move { h.photo_size().await }).await
    }

    pub async fn set_photo_size(&self, size: PhotoSize) -> Result<()> {
        let h = self.inner.clone();
        write(async move { h.set_photo_size(size).await }).await
    }

    /// Hands the draft in: it leaves the draft at once and is delivered in the background
    /// (files resumably, then the hand-in exactly once). Follow it in `get()` / `subscribe()`.
    pub async fn hand_in(&self, homework_id: String) -> Result<Handin> {
        let h = self.inner.clone();
        write(async move { h.hand_in(homework_id).await }).await
    }

    // --- teachers ---------------------------------------------------------------------------

    /// Assigns a homework (online); its attachments are uploaded first.
    pub async fn assign(&self, homework: NewHomework) -> Result<Homework> {
        let h = self.inner.clone();
        write(async move { h.assign(homework.into()).await }).await
    }

    /// Changes a homework this account assigned (online).
    pub async fn edit(&self, homework_id: String, edit: EditHomework) -> Result<Homework> {
        let h = self.inner.clone();
        write(async move { h.edit(homework_id, edit).await }).await
    }

    /// Deletes a homework this account assigned (online). With work handed in, the answer is
    /// `Conflict` (field `confirm`) unless `confirm` is set.
    pub async fn delete(&self, homework_id: String, confirm: bool) -> Result<()> {
        let h = self.inner.clone();
        write(async move { h.delete(homework_id, confirm).await }).await
    }

    /// Per class: who handed in, who did not, who was late (online).
    pub async fn report(&self, homework_id: String) -> Result<HomeworkReport> {
        let h = self.inner.clone();
        read(async move { h.report(homework_id).await }).await
    }

    /// Fetches the submissions (optionally of one class) and keeps them for offline use.
    pub async fn fetch_submissions(
        &self,
        homework_id: String,
        class_id: Option<String>,
    ) -> Result<Vec<Submission>> {
        let h = self.inner.clone();
        read(async move { h.fetch_submissions(homework_id, class_id).await }).await
    }

    /// Reminds everyone who has not handed in (online; at most hourly).
    pub async fn remind(&self, homework_id: String) -> Result<RemindResult> {
        let h = self.inner.clone();
        write(async move { h.remind(homework_id).await }).await
    }

    /// Grades a submission; `voice` is the path of an audio file of spoken feedback. Queued
    /// and delivered in the background.
    pub async fn grade(
        &self,
        submission_id: String,
        score: u32,
        feedback: String,
        voice: Option<String>,
    ) -> Result<()> {
        let h = self.inner.clone();
        write(async move { h.grade(submission_id, score, feedback, voice).await }).await
    }

    /// Sends a submission back for redo, saying why (and optionally by voice).
    pub async fn return_work(
        &self,
        submission_id: String,
        reason: String,
        voice: Option<String>,
    ) -> Result<()> {
        let h = self.inner.clone();
        write(async move { h.return_work(submission_id, reason, voice).await }).await
    }

    // --- parents ----------------------------------------------------------------------------

    /// Signs a child's work off (家长签字); delivered in the background.
    pub async fn sign_off(&self, submission_id: String, note: String) -> Result<()> {
        let h = self.inner.clone();
        write(async move { h.sign_off(submission_id, note).await }).await
    }

    // --- everyone ---------------------------------------------------------------------------

    /// Downloads an attachment (instructions, work, voice feedback) once; returns its local
    /// path. Later calls answer from the copy.
    pub async fn open_attachment(&self, attachment_id: String) -> Result<String> {
        let h = self.inner.clone();
        read(async move { h.open_attachment(attachment_id).await }).await
    }
}
