//! The student's side: drafts on the phone, and handing them in.

use std::path::{Path, PathBuf};

use lianxiao_protocol::{UploadPurpose, WorkKind};

use super::{Draft, DraftFile, Handin, HandinState, HomeworkHandle, photos};
use crate::{Error, Result, api::now_ms, outbox::OutboxKind, store};

const SETTING_MAX_PHOTO_PX: &str = "homework.max_photo_px";

/// What to do with photos before they are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhotoSize {
    /// Send the file as it is.
    Original,
    /// Shrink so the longest side is at most this many pixels (JPEG).
    MaxPixels(u32),
}

impl Default for PhotoSize {
    fn default() -> Self {
        PhotoSize::MaxPixels(photos::DEFAULT_MAX_PHOTO_PX)
    }
}

fn invalid(field: &str, message: impl Into<String>) -> Error {
    Error::Validation {
        field: Some(field.into()),
        message: message.into(),
    }
}

impl HomeworkHandle {
    /// The draft of a homework, if one was started on this phone.
    pub async fn draft(&self, homework_id: String) -> Result<Option<Draft>> {
        self.shared()
            .store
            .read(move |c| store::homework::draft(c, &homework_id))
            .await
    }

    /// Replaces the draft's text.
    pub async fn set_draft_text(&self, homework_id: String, text: String) -> Result<Draft> {
        if text.chars().count() > 20_000 {
            return Err(invalid("text", "text must be at most 20000 characters"));
        }
        self.change_draft(homework_id, move |tx, id, now| {
            store::homework::set_text(tx, id, &text, now)
        })
        .await
    }

    /// Adds a file the shell handed over (a photo, a recording, a video, a document). The
    /// file is copied into the account's data directory at once, photos shrunk unless
    /// [`PhotoSize::Original`] is set, so the shell may delete its own copy.
    pub async fn add_draft_file(
        &self,
        homework_id: String,
        path: String,
        kind: WorkKind,
    ) -> Result<Draft> {
        let s = self.shared().clone();
        let hw_id = homework_id.clone();
        let homework = s
            .store
            .read(move |c| store::homework::get(c, &hw_id))
            .await?
            .ok_or_else(|| Error::NotFound(format!("homework {homework_id}")))?;
        if kind == WorkKind::Text {
            return Err(invalid(
                "kind",
                "text goes in the draft's text, not as a file",
            ));
        }
        if !homework.accepted_kinds.contains(&kind) {
            return Err(invalid(
                "kind",
                format!("this homework does not accept {} files", kind.as_str()),
            ));
        }
        let src = PathBuf::from(&path);
        let meta = std::fs::metadata(&src)
            .map_err(|e| invalid("path", format!("cannot read the file: {}", e.kind())))?;
        if !meta.is_file() {
            return Err(invalid("path", "not a file"));
        }
        let photo_size = self.photo_size().await?;
        let dir = s.data_dir.join("homework-files");
        let file_name = src
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".to_owned());
        let (copy, size, file_name, content_type) =
            tokio::task::spawn_blocking(move || copy_in(&src, &dir, &file_name, kind, photo_size))
                .await??;
        if size > kind.max_file_bytes() {
            let _ = std::fs::remove_file(&copy);
            return Err(invalid(
                "path",
                format!(
                    "{} files can be at most {} MB",
                    kind.as_str(),
                    kind.max_file_bytes() >> 20
                ),
            ));
        }
        let file = DraftFile {
            id: 0,
            kind,
            file_name,
            content_type,
            size,
            path: copy.to_string_lossy().into_owned(),
        };
        self.change_draft(homework_id, move |tx, id, now| {
            store::homework::add_file(tx, id, &file, now).map(|_| ())
        })
        .await
    }

    pub async fn remove_draft_file(&self, homework_id: String, file_id: i64) -> Result<Draft> {
        let removed = std::sync::Arc::new(std::sync::Mutex::new(None));
        let slot = removed.clone();
        let draft = self
            .change_draft(homework_id, move |tx, id, now| {
                *slot.lock().unwrap_or_else(|e| e.into_inner()) =
                    store::homework::remove_file(tx, id, file_id, now)?;
                Ok(())
            })
            .await?;
        if let Some(path) = removed.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = std::fs::remove_file(path);
        }
        Ok(draft)
    }

    /// Puts the draft's files in this order (by file id).
    pub async fn reorder_draft_files(
        &self,
        homework_id: String,
        file_ids: Vec<i64>,
    ) -> Result<Draft> {
        self.change_draft(homework_id, move |tx, id, now| {
            store::homework::reorder(tx, id, &file_ids, now)
        })
        .await
    }

    /// Throws the draft away, with its files.
    pub async fn discard_draft(&self, homework_id: String) -> Result<()> {
        let s = self.shared();
        let id = homework_id.clone();
        let draft = s
            .store
            .write(move |tx| {
                let d = store::homework::draft(tx, &id)?;
                store::homework::delete_draft(tx, &id)?;
                Ok(d)
            })
            .await?;
        for f in draft.map(|d| d.files).unwrap_or_default() {
            let _ = std::fs::remove_file(f.path);
        }
        s.homework_changed();
        Ok(())
    }

    async fn change_draft(
        &self,
        homework_id: String,
        f: impl FnOnce(&rusqlite::Transaction<'_>, &str, i64) -> Result<()> + Send + 'static,
    ) -> Result<Draft> {
        let s = self.shared();
        let now = now_ms();
        let draft = s
            .store
            .write(move |tx| {
                f(tx, &homework_id, now)?;
                store::homework::draft(tx, &homework_id)
            })
            .await?
            .ok_or_else(|| Error::Internal("draft vanished".into()))?;
        s.homework_changed();
        Ok(draft)
    }

    /// How photos are sized before sending (default: at most 1600 px on the long side).
    pub async fn photo_size(&self) -> Result<PhotoSize> {
        let value = self
            .shared()
            .store
            .read(|c| store::homework::setting(c, SETTING_MAX_PHOTO_PX))
            .await?;
        Ok(match value.as_deref() {
            None => PhotoSize::default(),
            Some("0") => PhotoSize::Original,
            Some(v) => v.parse().map(PhotoSize::MaxPixels).unwrap_or_default(),
        })
    }

    pub async fn set_photo_size(&self, size: PhotoSize) -> Result<()> {
        let value = match size {
            PhotoSize::Original => "0".to_owned(),
            PhotoSize::MaxPixels(px) if px >= 320 => px.to_string(),
            PhotoSize::MaxPixels(_) => {
                return Err(invalid("max_pixels", "photos need at least 320 pixels"));
            }
        };
        self.shared()
            .store
            .write(move |tx| store::homework::set_setting(tx, SETTING_MAX_PHOTO_PX, &value))
            .await
    }

    /// Hands the draft in. It leaves the draft at once and is delivered in the background:
    /// files through the resumable uploader, then the hand-in through the outbox, exactly
    /// once. Checks that need no server are made now; lateness is the server's decision.
    pub async fn hand_in(&self, homework_id: String) -> Result<Handin> {
        let s = self.shared().clone();
        let now = s.api.clock.now();
        let created = now_ms();
        let handin_id = format!("{}{}", crate::LOCAL_ID_PREFIX, uuid::Uuid::now_v7());
        let id = handin_id.clone();
        let batch = store::homework::handin_batch(&id);
        // Hash the files before taking the writer: a big video must not hold the store.
        let hw_id = homework_id.clone();
        let files = s
            .store
            .read(move |c| store::homework::draft(c, &hw_id))
            .await?
            .map(|d| d.files)
            .unwrap_or_default();
        let mut uploads = Vec::with_capacity(files.len());
        for f in &files {
            uploads.push(
                crate::uploads::prepare(crate::UploadRequest {
                    path: f.path.clone().into(),
                    purpose: UploadPurpose::Submission,
                    homework_id: Some(homework_id.clone()),
                    kind: f.kind,
                    file_name: f.file_name.clone(),
                    content_type: f.content_type.clone(),
                    batch: Some(batch.clone()),
                })
                .await?,
            );
        }
        s.store
            .write(move |tx| {
                let homework = store::homework::get(tx, &homework_id)?
                    .ok_or_else(|| Error::NotFound(format!("homework {homework_id}")))?;
                let draft = store::homework::draft(tx, &homework_id)?
                    .ok_or_else(|| invalid("draft", "there is nothing to hand in"))?;
                let text = draft.text.trim().to_owned();
                if text.is_empty() && draft.files.is_empty() {
                    return Err(invalid("draft", "there is nothing to hand in"));
                }
                if !text.is_empty() && !homework.accepted_kinds.contains(&WorkKind::Text) {
                    return Err(invalid(
                        "text",
                        "this homework does not accept text answers",
                    ));
                }
                let total: u64 = draft.files.iter().map(|f| f.size).sum();
                if total > homework.max_submission_bytes {
                    return Err(invalid(
                        "files",
                        format!(
                            "the files add up to {} MB; this homework takes at most {} MB",
                            total.div_ceil(1 << 20),
                            homework.max_submission_bytes >> 20
                        ),
                    ));
                }
                if now > homework.due_at && !homework.accepts_late {
                    return Err(Error::Conflict(
                        "the due time has passed and this homework does not accept late work"
                            .into(),
                    ));
                }
                let handin = Handin {
                    id: id.clone(),
                    homework_id: homework_id.clone(),
                    text,
                    files: draft.files.clone(),
                    state: HandinState::Queued,
                    created_at: created,
                    submission_id: None,
                    attempt: None,
                    received_at: None,
                    error: None,
                    sent_bytes: 0,
                    total_bytes: total,
                };
                store::homework::insert_handin(tx, &handin)?;
                if draft.files != files {
                    return Err(Error::Conflict(
                        "the draft changed while it was being handed in; hand it in again".into(),
                    ));
                }
                for upload in &uploads {
                    store::uploads::add(tx, upload, created)?;
                }
                store::homework::delete_draft(tx, &homework_id)?;
                store::outbox::enqueue(tx, OutboxKind::HandIn, &id, None, created)?;
                Ok(())
            })
            .await?;
        s.uploads_enqueued();
        s.homework_changed();
        s.outbox_enqueued();
        s.store
            .read(move |c| store::homework::handin(c, &handin_id))
            .await?
            .ok_or_else(|| Error::Internal("hand-in vanished".into()))
    }
}

/// Copies a file into `dir` under a fresh name, shrinking photos. Returns (path, size,
/// display name, content type).
pub(super) fn copy_in(
    src: &Path,
    dir: &Path,
    file_name: &str,
    kind: WorkKind,
    photo_size: PhotoSize,
) -> Result<(PathBuf, u64, String, String)> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::Storage(format!("cannot create the files folder: {}", e.kind())))?;
    let stem = uuid::Uuid::now_v7().simple().to_string();
    let ext = Path::new(file_name)
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    if let (WorkKind::Photo, PhotoSize::MaxPixels(px)) = (kind, photo_size) {
        let dest = dir.join(format!("{stem}.jpg"));
        let size = photos::downscale(src, &dest, px)?;
        let name = Path::new(file_name)
            .with_extension("jpg")
            .to_string_lossy()
            .into_owned();
        return Ok((dest, size, name, "image/jpeg".to_owned()));
    }
    let dest = dir.join(if ext.is_empty() {
        stem
    } else {
        format!("{stem}.{ext}")
    });
    let size = std::fs::copy(src, &dest)
        .map_err(|e| Error::Storage(format!("cannot copy the file: {}", e.kind())))?;
    Ok((
        dest,
        size,
        file_name.to_owned(),
        content_type_of(&ext, kind),
    ))
}

fn content_type_of(ext: &str, kind: WorkKind) -> String {
    let t = match ext {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "heic" => "image/heic",
        "webp" => "image/webp",
        "m4a" | "aac" => "audio/mp4",
        "mp3" => "audio/mpeg",
        "ogg" | "opus" => "audio/ogg",
        "wav" => "audio/wav",
        "amr" => "audio/amr",
        "mp4" => "video/mp4",
        "mov" => "video/quicktime",
        "3gp" => "video/3gpp",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        _ => match kind {
            WorkKind::Photo => "image/jpeg",
            WorkKind::Audio => "audio/mp4",
            WorkKind::Video => "video/mp4",
            _ => "application/octet-stream",
        },
    };
    t.to_owned()
}
