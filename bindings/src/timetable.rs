//! The timetable of one account (`client.timetable()`): lessons from the phone's store,
//! today / now / next, reminders, moved and cancelled lessons; scheduling for teachers.

use std::sync::Arc;

use lianxiao_core::{
    LessonChange, LessonChangeKind, LessonReminder, TimetableSnapshot,
    protocol::{
        CancelLesson, Lesson, LessonClass, LessonMode, LessonStatus, MoveLesson,
        ReceivingClassRequest, ScheduleLesson, ScheduledLessons,
    },
};

use crate::{Result, TaskHandle, read, sync, write};

// --- records ------------------------------------------------------------------------------

#[uniffi::remote(Enum)]
pub enum LessonMode {
    Interactive,
    Broadcast,
}

#[uniffi::remote(Enum)]
pub enum LessonStatus {
    Scheduled,
    Live,
    Interrupted,
    Ended,
    Cancelled,
}

#[uniffi::remote(Record)]
pub struct LessonClass {
    pub class_id: String,
    pub class_name: String,
    pub school_name: String,
    pub lead: bool,
    pub assistant: Option<lianxiao_core::protocol::PersonRef>,
}

#[uniffi::remote(Record)]
pub struct Lesson {
    pub id: String,
    pub series_id: String,
    pub subject: String,
    pub title: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub mode: LessonMode,
    pub status: LessonStatus,
    pub lead_teacher: lianxiao_core::protocol::PersonRef,
    pub classes: Vec<LessonClass>,
    pub moved_from: Option<i64>,
    pub cancelled_at: Option<i64>,
    pub cancel_reason: String,
    pub updated_at: i64,
}

#[uniffi::remote(Record)]
pub struct ReceivingClassRequest {
    pub class_id: String,
    pub assistant_id: Option<String>,
}

#[uniffi::remote(Record)]
pub struct ScheduleLesson {
    pub subject: String,
    pub title: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub mode: LessonMode,
    pub lead_class_id: String,
    pub receiving: Vec<ReceivingClassRequest>,
    pub lead_teacher_id: Option<String>,
    pub weekly_until: Option<i64>,
}

#[uniffi::remote(Record)]
pub struct ScheduledLessons {
    pub series_id: String,
    pub lessons: Vec<Lesson>,
}

#[uniffi::remote(Record)]
pub struct MoveLesson {
    pub starts_at: i64,
    pub ends_at: i64,
}

#[uniffi::remote(Record)]
pub struct CancelLesson {
    pub reason: String,
    pub and_following: bool,
}

#[uniffi::remote(Enum)]
pub enum LessonChangeKind {
    Moved,
    Cancelled,
}

#[uniffi::remote(Record)]
pub struct LessonChange {
    pub lesson: Lesson,
    pub kind: LessonChangeKind,
    pub at: i64,
}

#[uniffi::remote(Record)]
pub struct TimetableSnapshot {
    pub today: Vec<Lesson>,
    pub now: Option<Lesson>,
    pub next: Option<Lesson>,
    pub changes: Vec<LessonChange>,
    pub server_time: i64,
}

#[uniffi::remote(Record)]
pub struct LessonReminder {
    pub lesson: Lesson,
    pub remind_at: i64,
}

// --- listeners ----------------------------------------------------------------------------

/// Receives the timetable screen's data: now, then after every change and whenever a lesson
/// starts or ends. Called on the core's worker threads.
#[uniffi::export(foreign)]
pub trait TimetableListener: Send + Sync {
    fn on_timetable(&self, snapshot: TimetableSnapshot);
}

/// Called once per lesson start, the configured time before it.
#[uniffi::export(foreign)]
pub trait ReminderListener: Send + Sync {
    fn on_reminder(&self, reminder: LessonReminder);
}

struct TimetableBridge(Arc<dyn TimetableListener>);

impl lianxiao_core::TimetableListener for TimetableBridge {
    fn on_timetable(&self, snapshot: TimetableSnapshot) {
        self.0.on_timetable(snapshot)
    }
}

struct ReminderBridge(Arc<dyn ReminderListener>);

impl lianxiao_core::ReminderListener for ReminderBridge {
    fn on_reminder(&self, reminder: LessonReminder) {
        self.0.on_reminder(reminder)
    }
}

// --- the object -----------------------------------------------------------------------------

/// The timetable. Reads work offline; scheduling, moving and cancelling are online.
#[derive(uniffi::Object)]
pub struct Timetable {
    inner: lianxiao_core::Timetable,
}

impl Timetable {
    pub(crate) fn wrap(inner: lianxiao_core::Timetable) -> Arc<Self> {
        Arc::new(Timetable { inner })
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl Timetable {
    /// Lessons overlapping `[from, to)` (server time, Unix ms), in start order.
    pub async fn lessons(&self, from: i64, to: i64) -> Result<Vec<Lesson>> {
        let t = self.inner.clone();
        read(async move { t.lessons(from, to).await }).await
    }

    pub async fn lesson(&self, lesson_id: String) -> Result<Lesson> {
        let t = self.inner.clone();
        read(async move { t.lesson(lesson_id).await }).await
    }

    /// Today, now, next and the unseen changes.
    pub async fn snapshot(&self) -> Result<TimetableSnapshot> {
        let t = self.inner.clone();
        read(async move { t.snapshot().await }).await
    }

    pub fn subscribe(&self, listener: Arc<dyn TimetableListener>) -> Arc<TaskHandle> {
        TaskHandle::wrap(sync(|| {
            self.inner.subscribe(Arc::new(TimetableBridge(listener)))
        }))
    }

    /// Reminders while the app runs, once per lesson start (also across restarts).
    pub fn watch_reminders(&self, listener: Arc<dyn ReminderListener>) -> Arc<TaskHandle> {
        TaskHandle::wrap(sync(|| {
            self.inner
                .watch_reminders(Arc::new(ReminderBridge(listener)))
        }))
    }

    /// Reminders due within `horizon_ms`, for the app to hand to the OS scheduler.
    pub async fn upcoming_reminders(&self, horizon_ms: i64) -> Result<Vec<LessonReminder>> {
        let t = self.inner.clone();
        read(async move { t.upcoming_reminders(horizon_ms).await }).await
    }

    pub async fn acknowledge_changes(&self) -> Result<()> {
        let t = self.inner.clone();
        write(async move { t.acknowledge_changes().await }).await
    }

    pub async fn reminder_lead_secs(&self) -> Result<u32> {
        let t = self.inner.clone();
        read(async move { t.reminder_lead_secs().await }).await
    }

    pub async fn set_reminder_lead_secs(&self, secs: u32) -> Result<()> {
        let t = self.inner.clone();
        write(async move { t.set_reminder_lead_secs(secs).await }).await
    }

    /// The school's offset from UTC for "today" (China Standard Time, 480, by default).
    pub async fn utc_offset_minutes(&self) -> Result<i32> {
        let t = self.inner.clone();
        read(async move { t.utc_offset_minutes().await }).await
    }

    pub async fn set_utc_offset_minutes(&self, minutes: i32) -> Result<()> {
        let t = self.inner.clone();
        write(async move { t.set_utc_offset_minutes(minutes).await }).await
    }

    /// Online. A clash is a Conflict error whose message names the lesson in the way.
    pub async fn schedule(&self, lesson: ScheduleLesson) -> Result<ScheduledLessons> {
        let t = self.inner.clone();
        write(async move { t.schedule(lesson).await }).await
    }

    pub async fn move_lesson(&self, lesson_id: String, to: MoveLesson) -> Result<Lesson> {
        let t = self.inner.clone();
        write(async move { t.move_lesson(lesson_id, to).await }).await
    }

    pub async fn cancel(&self, lesson_id: String, cancel: CancelLesson) -> Result<Vec<Lesson>> {
        let t = self.inner.clone();
        write(async move { t.cancel(lesson_id, cancel).await }).await
    }
}
