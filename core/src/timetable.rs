//! The timetable (排课) on the phone: each person's lessons, synced into the store, answered
//! offline ("today", "now", "next"), with reminders before a lesson starts and a list of
//! lessons that were moved or cancelled since the person last looked. Teachers and admins
//! schedule, move and cancel online.
//!
//! Times come from the server's clock (the phone's may be wrong); "today" is a calendar day
//! in the school's time zone, China Standard Time unless the app says otherwise.

use std::{sync::Arc, time::Duration};

use lianxiao_protocol::{
    CancelLesson, Lesson, LessonStatus, Millis, MoveLesson, ScheduleLesson, ScheduledLessons,
};

use crate::{
    Client, Error, Result, TaskHandle,
    client::Shared,
    store::{self, lessons::LessonChangeKind},
};

pub use store::lessons::LessonChangeKind as ChangeKind;

const DAY_MS: i64 = 24 * 3600 * 1000;
const SETTING_UTC_OFFSET: &str = "timetable.utc_offset_minutes";
const SETTING_REMINDER_LEAD: &str = "timetable.reminder_lead_secs";
/// China Standard Time.
pub const DEFAULT_UTC_OFFSET_MINUTES: i32 = 8 * 60;
pub const DEFAULT_REMINDER_LEAD_SECS: u32 = 10 * 60;
/// Longest sleep of the watchers, so a corrected server clock is noticed.
const RECHECK: Duration = Duration::from_secs(60);

/// A lesson that was moved or cancelled since the person last looked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LessonChange {
    pub lesson: Lesson,
    pub kind: LessonChangeKind,
    pub at: Millis,
}

/// What a timetable screen shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimetableSnapshot {
    /// Today's lessons (cancelled ones included, to show them struck through).
    pub today: Vec<Lesson>,
    /// The lesson under way, if any.
    pub now: Option<Lesson>,
    /// The next lesson that will take place.
    pub next: Option<Lesson>,
    pub changes: Vec<LessonChange>,
    pub server_time: Millis,
}

/// A reminder the shell can hand to the OS (AlarmManager, UNUserNotificationCenter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LessonReminder {
    pub lesson: Lesson,
    pub remind_at: Millis,
}

pub trait TimetableListener: Send + Sync {
    fn on_timetable(&self, snapshot: TimetableSnapshot);
}

pub trait ReminderListener: Send + Sync {
    /// Called once per lesson start, `lead` before it (or at once if the app opens later).
    fn on_reminder(&self, reminder: LessonReminder);
}

/// `client.timetable()`.
#[derive(Clone)]
pub struct Timetable {
    client: Client,
}

impl Timetable {
    pub(crate) fn new(client: Client) -> Self {
        Timetable { client }
    }

    fn shared(&self) -> &Arc<Shared> {
        self.client.shared()
    }

    /// Stored lessons overlapping `[from, to)`, in start order.
    pub async fn lessons(&self, from: Millis, to: Millis) -> Result<Vec<Lesson>> {
        self.shared()
            .store
            .read(move |c| store::lessons::between(c, from, to))
            .await
    }

    pub async fn lesson(&self, lesson_id: String) -> Result<Lesson> {
        let id = lesson_id.clone();
        self.shared()
            .store
            .read(move |c| store::lessons::get(c, &id))
            .await?
            .ok_or_else(|| Error::NotFound(format!("lesson {lesson_id}")))
    }

    /// Today, now and next, from the store.
    pub async fn snapshot(&self) -> Result<TimetableSnapshot> {
        snapshot(self.shared()).await
    }

    /// Sends the snapshot now, then whenever the timetable changes or a lesson starts or
    /// ends, until the handle is dropped.
    pub fn subscribe(&self, listener: Arc<dyn TimetableListener>) -> TaskHandle {
        let shared = self.shared().clone();
        let mut changes = shared.timetable_watch();
        changes.borrow_and_update();
        let owner = shared.clone();
        crate::client::spawn_listener(&owner, "timetable listener", async move {
            loop {
                let wait = match snapshot(&shared).await {
                    Ok(snap) => {
                        let wait = until_next_boundary(&snap);
                        listener.on_timetable(snap);
                        wait
                    }
                    Err(e) => {
                        tracing::warn!(code = e.code_str(), "timetable snapshot failed");
                        RECHECK
                    }
                };
                tokio::select! {
                    r = changes.changed() => if r.is_err() { return },
                    _ = tokio::time::sleep(wait) => {}
                }
                changes.borrow_and_update();
            }
        })
    }

    /// Forget the moved/cancelled list (the person has seen it).
    pub async fn acknowledge_changes(&self) -> Result<()> {
        self.shared()
            .store
            .write(|tx| store::lessons::clear_changes(tx))
            .await?;
        self.shared().timetable_changed();
        Ok(())
    }

    /// The offset of the school's time zone from UTC, for "today".
    pub async fn utc_offset_minutes(&self) -> Result<i32> {
        read_setting(
            self.shared(),
            SETTING_UTC_OFFSET,
            DEFAULT_UTC_OFFSET_MINUTES,
        )
        .await
    }

    pub async fn set_utc_offset_minutes(&self, minutes: i32) -> Result<()> {
        if !(-14 * 60..=14 * 60).contains(&minutes) {
            return Err(Error::Validation {
                field: Some("utc_offset_minutes".into()),
                message: "a UTC offset is between -14 and +14 hours".into(),
            });
        }
        write_setting(self.shared(), SETTING_UTC_OFFSET, minutes.to_string()).await
    }

    /// How long before a lesson the reminder comes.
    pub async fn reminder_lead_secs(&self) -> Result<u32> {
        reminder_lead(self.shared()).await
    }

    pub async fn set_reminder_lead_secs(&self, secs: u32) -> Result<()> {
        if secs > 24 * 3600 {
            return Err(Error::Validation {
                field: Some("reminder_lead_secs".into()),
                message: "remind at most a day before".into(),
            });
        }
        write_setting(self.shared(), SETTING_REMINDER_LEAD, secs.to_string()).await
    }

    /// Reminders due within `horizon_ms` from now (server time), for the shell to schedule
    /// with the OS while the app is not running.
    pub async fn upcoming_reminders(&self, horizon_ms: i64) -> Result<Vec<LessonReminder>> {
        let s = self.shared();
        let lead = reminder_lead(s).await? as i64 * 1000;
        let now = s.api.clock.now();
        let lessons = s
            .store
            .read(move |c| store::lessons::between(c, now, now + horizon_ms + lead))
            .await?;
        Ok(lessons
            .into_iter()
            .filter(|l| l.status == LessonStatus::Scheduled && l.starts_at > now)
            .map(|lesson| LessonReminder {
                remind_at: lesson.starts_at - lead,
                lesson,
            })
            .filter(|r| r.remind_at <= now + horizon_ms)
            .collect())
    }

    /// Calls `listener` for each lesson about to start, once per lesson (also across
    /// restarts), while the handle lives.
    pub fn watch_reminders(&self, listener: Arc<dyn ReminderListener>) -> TaskHandle {
        let shared = self.shared().clone();
        let mut changes = shared.timetable_watch();
        changes.borrow_and_update();
        let owner = shared.clone();
        crate::client::spawn_listener(&owner, "reminder listener", async move {
            loop {
                let wait = match due_reminder(&shared).await {
                    Ok(Due::Now(reminder)) => {
                        listener.on_reminder(*reminder);
                        continue;
                    }
                    Ok(Due::At(wait)) => wait,
                    Err(e) => {
                        tracing::warn!(code = e.code_str(), "reminder check failed");
                        RECHECK
                    }
                };
                tokio::select! {
                    r = changes.changed() => if r.is_err() { return },
                    _ = tokio::time::sleep(wait) => {}
                }
                changes.borrow_and_update();
            }
        })
    }

    /// Schedule a lesson or a weekly series (lead teachers, admins). Online: a clash must be
    /// refused while the teacher is still looking at the form.
    pub async fn schedule(&self, req: ScheduleLesson) -> Result<ScheduledLessons> {
        let s = self.shared();
        let json = serde_json::to_vec(&req)?;
        let key = uuid::Uuid::new_v4().to_string();
        let scheduled: ScheduledLessons = s.api.post("/lessons", Some(&json), &key).await?;
        self.store_lessons(scheduled.lessons.clone()).await?;
        Ok(scheduled)
    }

    pub async fn move_lesson(&self, lesson_id: String, req: MoveLesson) -> Result<Lesson> {
        let s = self.shared();
        let json = serde_json::to_vec(&req)?;
        let key = uuid::Uuid::new_v4().to_string();
        let lesson: Lesson = s
            .api
            .post(&format!("/lessons/{lesson_id}/move"), Some(&json), &key)
            .await?;
        self.store_lessons(vec![lesson.clone()]).await?;
        Ok(lesson)
    }

    pub async fn cancel(&self, lesson_id: String, req: CancelLesson) -> Result<Vec<Lesson>> {
        let s = self.shared();
        let json = serde_json::to_vec(&req)?;
        let key = uuid::Uuid::new_v4().to_string();
        let lessons: Vec<Lesson> = s
            .api
            .post(&format!("/lessons/{lesson_id}/cancel"), Some(&json), &key)
            .await?;
        self.store_lessons(lessons.clone()).await?;
        Ok(lessons)
    }

    async fn store_lessons(&self, lessons: Vec<Lesson>) -> Result<()> {
        self.shared()
            .store
            .write(move |tx| {
                for l in &lessons {
                    store::lessons::upsert(tx, l)?;
                }
                // The author's own change is not news to them.
                for l in &lessons {
                    store::lessons::forget_changes(tx, &l.id)?;
                }
                Ok(())
            })
            .await?;
        self.shared().timetable_changed();
        Ok(())
    }
}

async fn reminder_lead(s: &Arc<Shared>) -> Result<u32> {
    read_setting(s, SETTING_REMINDER_LEAD, DEFAULT_REMINDER_LEAD_SECS).await
}

/// A timetable setting from the store, or its default when unset or unreadable.
async fn read_setting<T: std::str::FromStr>(
    s: &Arc<Shared>,
    key: &'static str,
    default: T,
) -> Result<T> {
    Ok(s.store
        .read(move |c| store::homework::setting(c, key))
        .await?
        .and_then(|v| v.parse().ok())
        .unwrap_or(default))
}

/// Stores a timetable setting and redraws the timetable (reminders and "today" depend on it).
async fn write_setting(s: &Arc<Shared>, key: &'static str, value: String) -> Result<()> {
    s.store
        .write(move |tx| store::homework::set_setting(tx, key, &value))
        .await?;
    s.timetable_changed();
    Ok(())
}

/// Start of the calendar day holding `now`, in a zone `offset_min` from UTC.
pub(crate) fn day_start(now: Millis, offset_min: i32) -> Millis {
    let off = offset_min as i64 * 60_000;
    (now + off).div_euclid(DAY_MS) * DAY_MS - off
}

async fn snapshot(s: &Arc<Shared>) -> Result<TimetableSnapshot> {
    let offset = read_setting(s, SETTING_UTC_OFFSET, DEFAULT_UTC_OFFSET_MINUTES).await?;
    let now = s.api.clock.now();
    s.store
        .read(move |c| {
            let start = day_start(now, offset);
            let today = store::lessons::between(c, start, start + DAY_MS)?;
            let current = store::lessons::between(c, now, now + 1)?
                .into_iter()
                .find(|l| l.status != LessonStatus::Cancelled && l.starts_at <= now);
            let next = store::lessons::next_starting(c, now + 1)?;
            let mut changes = Vec::new();
            for (id, kind, at) in store::lessons::changes(c)? {
                if let Some(lesson) = store::lessons::get(c, &id)? {
                    changes.push(LessonChange { lesson, kind, at });
                }
            }
            Ok(TimetableSnapshot {
                today,
                now: current,
                next,
                changes,
                server_time: now,
            })
        })
        .await
}

/// Until the snapshot's "now" or "next" changes by the clock alone.
fn until_next_boundary(snap: &TimetableSnapshot) -> Duration {
    let now = snap.server_time;
    let mut at = now + RECHECK.as_millis() as i64;
    if let Some(l) = &snap.now {
        at = at.min(l.ends_at);
    }
    if let Some(l) = &snap.next {
        at = at.min(l.starts_at);
    }
    // Midnight changes "today".
    Duration::from_millis((at - now).clamp(50, RECHECK.as_millis() as i64) as u64)
}

enum Due {
    Now(Box<LessonReminder>),
    At(Duration),
}

/// The next reminder: due now (and recorded as given), or how long until one may be.
async fn due_reminder(s: &Arc<Shared>) -> Result<Due> {
    let lead = reminder_lead(s).await? as i64 * 1000;
    let now = s.api.clock.now();
    s.store
        .write(move |tx| {
            let upcoming =
                store::lessons::between(tx, now, now + lead + RECHECK.as_millis() as i64)?;
            let mut wait = RECHECK;
            for lesson in upcoming {
                if lesson.status != LessonStatus::Scheduled || lesson.starts_at <= now {
                    continue;
                }
                if store::lessons::was_reminded(tx, &lesson.id, lesson.starts_at)? {
                    continue;
                }
                let remind_at = lesson.starts_at - lead;
                if remind_at <= now {
                    store::lessons::mark_reminded(tx, &lesson.id, lesson.starts_at)?;
                    return Ok(Due::Now(Box::new(LessonReminder { lesson, remind_at })));
                }
                wait = wait.min(Duration::from_millis((remind_at - now) as u64));
            }
            Ok(Due::At(wait))
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_starts_at_local_midnight() {
        // 2026-12-01 01:30 in Beijing is 2026-11-30 17:30 UTC.
        let now = 1_796_059_800_000; // 2026-11-30T17:30:00Z
        let start = day_start(now, 480);
        assert_eq!(start, 1_796_054_400_000); // 2026-11-30T16:00:00Z = Beijing midnight
        assert_eq!(day_start(now, 0), 1_795_996_800_000); // UTC midnight
        assert_eq!(day_start(start, 480), start);
    }
}
