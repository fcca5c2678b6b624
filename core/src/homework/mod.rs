//! Homework (`client.homework()`).
//!
//! Students write drafts on the phone (text, photos, audio, video, files; they survive
//! restarts), then hand them in: the files go up through the resumable uploader and the
//! hand-in itself through the outbox with an idempotency key, so it reaches the teacher
//! exactly once whatever the network does. Parents see their children's work and sign it
//! off; teachers assign, follow who has handed in, grade (with voice feedback) and return
//! work. Screens read from the store and work offline.

mod drafts;
pub mod photos;
mod teaching;

use std::sync::Arc;

use lianxiao_protocol::{
    Homework, HomeworkSummary, Millis, Submission, SubmissionStatus, WorkKind,
};
use serde::{Deserialize, Serialize};

use crate::{Client, Result, TaskHandle, store};

pub use drafts::PhotoSize;
pub use teaching::NewHomework;
pub(crate) use teaching::review_batch;

/// One file of a draft (or of a hand-in), stored under the account's data directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftFile {
    pub id: i64,
    pub kind: WorkKind,
    pub file_name: String,
    pub content_type: String,
    pub size: u64,
    /// Local path of the copy that will be sent.
    pub path: String,
}

/// Unsent work for one homework.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub homework_id: String,
    pub text: String,
    pub files: Vec<DraftFile>,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandinState {
    /// On the phone, waiting for the network.
    Queued,
    /// Files are going up: see `sent_bytes` / `total_bytes`.
    Uploading,
    /// The server has it: `submission_id`, `attempt` and `received_at` are its receipt.
    Delivered,
    /// The server refused it for good (`error`); the work is back in the draft.
    Failed,
}

/// Work handed in on this device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handin {
    /// Local id.
    pub id: String,
    pub homework_id: String,
    pub text: String,
    pub files: Vec<DraftFile>,
    pub state: HandinState,
    pub created_at: Millis,
    pub submission_id: Option<String>,
    pub attempt: Option<u32>,
    /// Server time the server received it.
    pub received_at: Option<Millis>,
    pub error: Option<String>,
    pub sent_bytes: u64,
    pub total_bytes: u64,
}

/// Where one student's work on one homework stands, as the screens say it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkState {
    NotStarted,
    /// A draft exists on this phone.
    Draft,
    /// Handed in on this phone, not sent yet.
    OnDevice,
    Uploading {
        sent_bytes: u64,
        total_bytes: u64,
    },
    /// The server has it, at this server time.
    Delivered {
        received_at: Millis,
        attempt: u32,
        late: bool,
    },
    /// The teacher sent it back for redo.
    Returned {
        reason: String,
    },
    Graded {
        score: u32,
        max_score: u32,
    },
    /// The last hand-in was refused; the work is back in the draft.
    Failed {
        message: String,
    },
}

/// One student's work (the caller's own, or a child's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StudentWork {
    pub student_id: String,
    pub state: WorkState,
    pub submission: Option<Submission>,
    /// This device's latest hand-in (students).
    pub handin: Option<Handin>,
    pub draft: Option<Draft>,
    /// Past due and not handed in.
    pub overdue: bool,
    /// The homework asks for a parent's sign-off that is still missing.
    pub needs_sign_off: bool,
}

/// A homework with what the caller needs to see about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HomeworkView {
    pub homework: Homework,
    /// Students: one entry, their own. Parents: one per child the homework was given to.
    /// Teachers: empty (see `summary`, `report`, `submissions`).
    pub work: Vec<StudentWork>,
    /// Teachers: counts per class, synced.
    pub summary: Option<HomeworkSummary>,
}

pub trait HomeworkListener: Send + Sync {
    fn on_homework(&self, homework: Vec<HomeworkView>);
}

/// The homework of one account. Cheap to clone.
#[derive(Clone, Debug)]
pub struct HomeworkHandle {
    client: Client,
}

impl HomeworkHandle {
    pub(crate) fn new(client: Client) -> Self {
        HomeworkHandle { client }
    }

    fn shared(&self) -> &Arc<crate::client::Shared> {
        self.client.shared()
    }

    /// Every homework the account sees, latest due first, from the store.
    pub async fn list(&self) -> Result<Vec<HomeworkView>> {
        let s = self.shared();
        let (me, now) = (s.user_id.clone(), s.api.clock.now());
        s.store.read(move |c| views(c, &me, now, None)).await
    }

    pub async fn get(&self, homework_id: String) -> Result<HomeworkView> {
        let s = self.shared();
        let (me, now) = (s.user_id.clone(), s.api.clock.now());
        let id = homework_id.clone();
        s.store
            .read(move |c| views(c, &me, now, Some(&id)))
            .await?
            .pop()
            .ok_or_else(|| crate::Error::NotFound(format!("homework {homework_id}")))
    }

    /// Sends the current list, then again whenever homework, drafts or uploads change,
    /// until the handle is dropped.
    pub fn subscribe(&self, listener: Arc<dyn HomeworkListener>) -> TaskHandle {
        let shared = self.shared().clone();
        let mut changes = shared.homework_watch();
        changes.borrow_and_update();
        let owner = shared.clone();
        crate::client::spawn_listener(&owner, "homework listener", async move {
            loop {
                let (me, now) = (shared.user_id.clone(), shared.api.clock.now());
                match shared.store.read(move |c| views(c, &me, now, None)).await {
                    Ok(list) => listener.on_homework(list),
                    Err(e) => tracing::warn!(code = e.code_str(), "homework list failed"),
                }
                if changes.changed().await.is_err() {
                    return;
                }
                changes.borrow_and_update();
            }
        })
    }

    /// The submissions of a homework in the store: a student's own, a parent's children's,
    /// and for teachers those synced to them.
    pub async fn stored_submissions(&self, homework_id: String) -> Result<Vec<Submission>> {
        self.shared()
            .store
            .read(move |c| store::homework::submissions(c, &homework_id))
            .await
    }

    pub async fn submission(&self, submission_id: String) -> Result<Submission> {
        let id = submission_id.clone();
        self.shared()
            .store
            .read(move |c| store::homework::submission(c, &id))
            .await?
            .ok_or_else(|| crate::Error::NotFound(format!("submission {submission_id}")))
    }
}

/// Builds the views from the store. `only` narrows to one homework.
fn views(
    c: &rusqlite::Connection,
    me: &str,
    now: Millis,
    only: Option<&str>,
) -> Result<Vec<HomeworkView>> {
    let list = match only {
        Some(id) => store::homework::get(c, id)?.into_iter().collect(),
        None => store::homework::list(c)?,
    };
    let children = store::org::children(c)?;
    let mut out = Vec::with_capacity(list.len());
    for homework in list {
        let submissions = store::homework::submissions(c, &homework.id)?;
        let in_classes = |class_id: &str| homework.classes.iter().any(|k| k.class_id == class_id);
        let mut students: Vec<String> = Vec::new();
        if !homework.authored {
            if children.is_empty() {
                // A student (teachers of the classes get summaries instead, below).
                let teaches = store::homework::summary(c, &homework.id)?.is_some();
                if !teaches {
                    students.push(me.to_owned());
                }
            } else {
                students.extend(
                    children
                        .iter()
                        .filter(|ch| in_classes(&ch.class_id))
                        .map(|ch| ch.id.clone()),
                );
            }
        }
        let mut work = Vec::with_capacity(students.len());
        for student in students {
            let submission = submissions
                .iter()
                .find(|s| s.student.id == student)
                .cloned();
            let mine = student == me;
            let handin = if mine {
                store::homework::latest_handin(c, &homework.id)?
            } else {
                None
            };
            let draft = if mine {
                store::homework::draft(c, &homework.id)?
            } else {
                None
            };
            work.push(student_work(
                &homework, student, submission, handin, draft, now,
            ));
        }
        let summary = store::homework::summary(c, &homework.id)?;
        out.push(HomeworkView {
            homework,
            work,
            summary,
        });
    }
    Ok(out)
}

fn student_work(
    homework: &Homework,
    student_id: String,
    submission: Option<Submission>,
    handin: Option<Handin>,
    draft: Option<Draft>,
    now: Millis,
) -> StudentWork {
    let delivered_state = |s: &Submission| {
        let last = s.attempts.last();
        match (s.status, last.and_then(|a| a.review.as_ref())) {
            (SubmissionStatus::Graded, Some(r)) => WorkState::Graded {
                score: r.score.unwrap_or(0),
                max_score: homework.max_score,
            },
            (SubmissionStatus::Returned, r) => WorkState::Returned {
                reason: r.map(|r| r.feedback.clone()).unwrap_or_default(),
            },
            _ => WorkState::Delivered {
                received_at: last.map(|a| a.submitted_at).unwrap_or_default(),
                attempt: last.map(|a| a.number).unwrap_or(1),
                late: last.is_some_and(|a| a.late),
            },
        }
    };
    // A hand-in this device has not delivered yet says more than the server's copy.
    let state = match (&handin, &submission) {
        (Some(h), _) if h.state == HandinState::Queued => WorkState::OnDevice,
        (Some(h), _) if h.state == HandinState::Uploading => WorkState::Uploading {
            sent_bytes: h.sent_bytes,
            total_bytes: h.total_bytes,
        },
        (Some(h), None) if h.state == HandinState::Failed => WorkState::Failed {
            message: h.error.clone().unwrap_or_default(),
        },
        (_, Some(s)) => delivered_state(s),
        (Some(h), None) if h.state == HandinState::Delivered => WorkState::Delivered {
            received_at: h.received_at.unwrap_or_default(),
            attempt: h.attempt.unwrap_or(1),
            late: false,
        },
        _ if draft.is_some() => WorkState::Draft,
        _ => WorkState::NotStarted,
    };
    let handed_in = submission.is_some()
        || handin
            .as_ref()
            .is_some_and(|h| h.state != HandinState::Failed);
    let needs_sign_off =
        homework.requires_signoff && submission.as_ref().is_some_and(|s| s.sign_off.is_none());
    StudentWork {
        student_id,
        state,
        overdue: !handed_in && now > homework.due_at,
        needs_sign_off,
        submission,
        handin,
        draft,
    }
}
