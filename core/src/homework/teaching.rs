//! The teacher's and the parent's side: assigning (online), following who handed in,
//! grading and returning work and signing it off (through the outbox, so it survives a bad
//! network), and opening attachments.

use std::path::PathBuf;

use lianxiao_protocol::{
    AssignHomework, EditHomework, GradeWork, Homework, HomeworkReport, Millis, RemindResult,
    ReturnWork, SignOffWork, Submission, UploadPurpose, WorkKind,
};

use super::HomeworkHandle;
use crate::{Error, Result, api::now_ms, outbox::OutboxKind, store};

/// A homework to assign. Attachments are local files (path, kind) uploaded first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewHomework {
    pub title: String,
    pub instructions: String,
    pub attachments: Vec<(String, WorkKind)>,
    pub class_ids: Vec<String>,
    pub due_at: Millis,
    pub accepts_late: bool,
    pub accepted_kinds: Vec<WorkKind>,
    pub max_score: u32,
    pub requires_signoff: bool,
    pub max_submission_bytes: Option<u64>,
}

pub(crate) const ACTION_GRADE: &str = "grade";
pub(crate) const ACTION_RETURN: &str = "return";
pub(crate) const ACTION_SIGN_OFF: &str = "sign_off";

/// The upload batch of a review's voice feedback.
pub(crate) fn review_batch(review_id: &str) -> String {
    format!("review:{review_id}")
}

impl HomeworkHandle {
    /// Assigns a homework (online: teachers assign at school). Attachments are uploaded
    /// first, resumably; the assignment itself is sent with an idempotency key.
    pub async fn assign(&self, new: NewHomework) -> Result<Homework> {
        let s = self.shared().clone();
        let batch = format!("assign:{}", uuid::Uuid::now_v7().simple());
        for (path, kind) in &new.attachments {
            self.upload_local_file(path, *kind, UploadPurpose::Instructions, &batch)
                .await?;
        }
        let upload_ids = self.wait_batch(&batch).await?;
        let body = AssignHomework {
            title: new.title,
            instructions: new.instructions,
            attachment_upload_ids: upload_ids,
            class_ids: new.class_ids,
            due_at: new.due_at,
            accepts_late: new.accepts_late,
            accepted_kinds: new.accepted_kinds,
            max_score: new.max_score,
            requires_signoff: new.requires_signoff,
            max_submission_bytes: new.max_submission_bytes,
        };
        let key = uuid::Uuid::new_v4().to_string();
        let json = serde_json::to_vec(&body)?;
        let homework: Homework = s.api.post("/homework", Some(&json), &key).await?;
        let stored = homework.clone();
        s.store
            .write(move |tx| store::homework::upsert(tx, &stored))
            .await?;
        s.homework_changed();
        Ok(homework)
    }

    /// Changes a homework this account assigned (online).
    pub async fn edit(&self, homework_id: String, edit: EditHomework) -> Result<Homework> {
        let s = self.shared();
        let key = uuid::Uuid::new_v4().to_string();
        let json = serde_json::to_vec(&edit)?;
        let homework: Homework = s
            .api
            .send_json(
                reqwest::Method::PATCH,
                &format!("/homework/{homework_id}"),
                Some(&json),
                &key,
            )
            .await?;
        let stored = homework.clone();
        s.store
            .write(move |tx| store::homework::upsert(tx, &stored))
            .await?;
        s.homework_changed();
        Ok(homework)
    }

    /// Deletes a homework this account assigned (online). When students have handed in
    /// work the server answers `Conflict` unless `confirm` is set.
    pub async fn delete(&self, homework_id: String, confirm: bool) -> Result<()> {
        let s = self.shared();
        let key = uuid::Uuid::new_v4().to_string();
        let path = format!("/homework/{homework_id}?confirm={confirm}");
        s.api
            .send_empty(reqwest::Method::DELETE, &path, &key)
            .await?;
        let paths = s
            .store
            .write(move |tx| store::homework::remove(tx, &homework_id))
            .await?;
        for p in paths {
            let _ = std::fs::remove_file(p);
        }
        s.homework_changed();
        Ok(())
    }

    /// Per class: who handed in, who did not, who was late (online; teachers).
    pub async fn report(&self, homework_id: String) -> Result<HomeworkReport> {
        let s = self.shared();
        let report: HomeworkReport = s
            .api
            .get(&format!("/homework/{homework_id}/report"), &[])
            .await?;
        let summary = report.summary.clone();
        s.store
            .write(move |tx| store::homework::put_summary(tx, &summary))
            .await?;
        s.homework_changed();
        Ok(report)
    }

    /// Fetches the submissions the caller may see (optionally one class) and keeps them in
    /// the store, so they can be opened offline later.
    pub async fn fetch_submissions(
        &self,
        homework_id: String,
        class_id: Option<String>,
    ) -> Result<Vec<Submission>> {
        let s = self.shared();
        let query: Vec<(&str, String)> = class_id.map(|c| ("class_id", c)).into_iter().collect();
        let list: Vec<Submission> = s
            .api
            .get(&format!("/homework/{homework_id}/submissions"), &query)
            .await?;
        let stored = list.clone();
        s.store
            .write(move |tx| {
                for sub in &stored {
                    store::homework::put_submission(tx, sub)?;
                }
                Ok(())
            })
            .await?;
        s.homework_changed();
        Ok(list)
    }

    /// Reminds everyone who has not handed in (online; at most once an hour).
    pub async fn remind(&self, homework_id: String) -> Result<RemindResult> {
        let key = uuid::Uuid::new_v4().to_string();
        self.shared()
            .api
            .post(&format!("/homework/{homework_id}/remind"), None, &key)
            .await
    }

    /// Grades a submission; `voice` is a local audio file for voice feedback. Queued and
    /// delivered in the background like a hand-in.
    pub async fn grade(
        &self,
        submission_id: String,
        score: u32,
        feedback: String,
        voice: Option<String>,
    ) -> Result<()> {
        let sub = self.submission(submission_id.clone()).await?;
        let max = self
            .shared()
            .store
            .read({
                let hid = sub.homework_id.clone();
                move |c| store::homework::get(c, &hid)
            })
            .await?
            .map(|h| h.max_score);
        if let Some(max) = max
            && score > max
        {
            return Err(Error::Validation {
                field: Some("score".into()),
                message: format!("score must be 0 to {max}"),
            });
        }
        let body = serde_json::to_string(&GradeWork {
            score,
            feedback,
            voice_upload_id: None,
        })?;
        self.queue_review(sub, ACTION_GRADE, body, voice).await
    }

    /// Returns a submission for redo, with the reason (and optional voice explanation).
    pub async fn return_work(
        &self,
        submission_id: String,
        reason: String,
        voice: Option<String>,
    ) -> Result<()> {
        if reason.trim().is_empty() {
            return Err(Error::Validation {
                field: Some("reason".into()),
                message: "say why the work is returned".into(),
            });
        }
        let sub = self.submission(submission_id).await?;
        let body = serde_json::to_string(&ReturnWork {
            reason,
            voice_upload_id: None,
        })?;
        self.queue_review(sub, ACTION_RETURN, body, voice).await
    }

    /// A parent signs a child's work off (家长签字); delivered through the outbox.
    pub async fn sign_off(&self, submission_id: String, note: String) -> Result<()> {
        let sub = self.submission(submission_id).await?;
        let body = serde_json::to_string(&SignOffWork { note })?;
        self.queue_review(sub, ACTION_SIGN_OFF, body, None).await
    }

    async fn queue_review(
        &self,
        sub: Submission,
        action: &'static str,
        body: String,
        voice: Option<String>,
    ) -> Result<()> {
        let s = self.shared().clone();
        let review_id = format!("{}{}", crate::LOCAL_ID_PREFIX, uuid::Uuid::now_v7());
        let id = review_id.clone();
        let voice = match &voice {
            Some(path) => {
                let (copy, file_name, content_type) =
                    self.copy_for_upload(path, WorkKind::Audio).await?;
                Some(
                    crate::uploads::prepare(crate::UploadRequest {
                        path: copy,
                        purpose: UploadPurpose::Feedback,
                        homework_id: Some(sub.homework_id.clone()),
                        kind: WorkKind::Audio,
                        file_name,
                        content_type,
                        batch: Some(review_batch(&id)),
                    })
                    .await?,
                )
            }
            None => None,
        };
        let created = now_ms();
        s.store
            .write(move |tx| {
                store::homework::insert_review(tx, &id, &sub.id, action, &body, created)?;
                if let Some(voice) = &voice {
                    store::uploads::add(tx, voice, created)?;
                }
                store::outbox::enqueue(tx, OutboxKind::Review, &id, None, created)?;
                Ok(())
            })
            .await?;
        s.uploads_enqueued();
        s.outbox_enqueued();
        Ok(())
    }

    /// Copies a file into the account's folder for upload; (path, display name, type).
    async fn copy_for_upload(
        &self,
        path: &str,
        kind: WorkKind,
    ) -> Result<(PathBuf, String, String)> {
        let src = PathBuf::from(path);
        if !src.is_file() {
            return Err(Error::Validation {
                field: Some("path".into()),
                message: "cannot read the file".into(),
            });
        }
        let dir = self.shared().data_dir.join("homework-files");
        let name = src
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".into());
        let photo_size = self.photo_size().await?;
        let (copy, size, name, content_type) = tokio::task::spawn_blocking(move || {
            super::drafts::copy_in(&src, &dir, &name, kind, photo_size)
        })
        .await??;
        if size > kind.max_file_bytes() {
            let _ = std::fs::remove_file(&copy);
            return Err(Error::Validation {
                field: Some("path".into()),
                message: format!(
                    "{} files can be at most {} MB",
                    kind.as_str(),
                    kind.max_file_bytes() >> 20
                ),
            });
        }
        Ok((copy, name, content_type))
    }

    async fn upload_local_file(
        &self,
        path: &str,
        kind: WorkKind,
        purpose: UploadPurpose,
        batch: &str,
    ) -> Result<()> {
        let (copy, file_name, content_type) = self.copy_for_upload(path, kind).await?;
        let upload = crate::uploads::prepare(crate::UploadRequest {
            path: copy,
            purpose,
            homework_id: None,
            kind,
            file_name,
            content_type,
            batch: Some(batch.to_owned()),
        })
        .await?;
        let s = self.shared();
        s.store
            .write(move |tx| store::uploads::add(tx, &upload, now_ms()).map(|_| ()))
            .await?;
        s.uploads_enqueued();
        Ok(())
    }

    /// Waits until every upload of a batch is done; their server ids in order.
    async fn wait_batch(&self, batch: &str) -> Result<Vec<String>> {
        let s = self.shared();
        loop {
            let b = batch.to_owned();
            let state = s
                .store
                .read(move |c| store::homework::batch_state(c, &b))
                .await?;
            match state {
                store::homework::BatchState::Ready(ids) => return Ok(ids),
                store::homework::BatchState::Failed { message, .. } => {
                    return Err(Error::Validation {
                        field: Some("attachments".into()),
                        message,
                    });
                }
                store::homework::BatchState::Waiting => {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
            }
        }
    }

    /// Downloads an attachment (instructions, handed-in work, voice feedback) once and
    /// returns the local path; later calls answer from the copy.
    pub async fn open_attachment(&self, attachment_id: String) -> Result<String> {
        let s = self.shared();
        if attachment_id.contains(['/', '\\', '.']) {
            return Err(Error::Validation {
                field: Some("attachment_id".into()),
                message: "not an attachment id".into(),
            });
        }
        let dir = s.data_dir.join("attachments");
        let dest = dir.join(&attachment_id);
        if dest.is_file() {
            return Ok(dest.to_string_lossy().into_owned());
        }
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::Storage(format!("cannot create the folder: {}", e.kind())))?;
        s.api
            .download(&format!("/attachments/{attachment_id}"), &dest)
            .await?;
        Ok(dest.to_string_lossy().into_owned())
    }
}
