//! The timetable through the core on phones against the real server: a lead teacher schedules
//! a linked lesson, students and parents get it by sync, the phone answers "now" and "next"
//! with the server gone, reminds once (also across an app restart), and lists moves and
//! cancellations; a clash comes back to the teacher naming the lesson in the way.

use std::sync::{Arc, Mutex};

use lianxiao_core::{
    ErrorCode, LessonChangeKind, LessonReminder, ReminderListener, TimetableListener,
    TimetableSnapshot,
    protocol::{
        CancelLesson, LessonMode, LessonStatus, MoveLesson, ReceivingClassRequest, ScheduleLesson,
    },
};
use lianxiao_tests::{
    Backend, TestServer,
    api::Api,
    logins::*,
    phone::{PATIENCE, Phone},
};
use tokio::sync::watch;

const MINUTE: i64 = 60_000;
const DAY: i64 = 24 * 60 * MINUTE;

struct Snapshots(watch::Sender<Option<TimetableSnapshot>>);

impl TimetableListener for Snapshots {
    fn on_timetable(&self, snapshot: TimetableSnapshot) {
        let _ = self.0.send(Some(snapshot));
    }
}

/// Waits until the phone's timetable, as a screen gets it, satisfies `ready`.
async fn wait_timetable(
    phone: &Phone,
    what: &str,
    ready: impl Fn(&TimetableSnapshot) -> bool,
) -> TimetableSnapshot {
    let (tx, mut rx) = watch::channel(None);
    let _handle = phone.client.timetable().subscribe(Arc::new(Snapshots(tx)));
    tokio::time::timeout(PATIENCE, async {
        loop {
            if let Some(s) = rx.borrow_and_update().clone()
                && ready(&s)
            {
                return s;
            }
            rx.changed().await.expect("subscription alive");
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timetable never showed {what}"))
}

/// Waits until the phone's store holds `n` lessons in the coming month.
async fn wait_lessons(phone: &Phone, n: usize) {
    let now = phone.client.server_now();
    tokio::time::timeout(PATIENCE, async {
        loop {
            let lessons = phone
                .client
                .timetable()
                .lessons(now - DAY, now + 30 * DAY)
                .await;
            if lessons.expect("store readable").len() == n {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the phone never had {n} lessons"));
}

#[derive(Default)]
struct Reminders(Mutex<Vec<LessonReminder>>);

impl ReminderListener for Reminders {
    fn on_reminder(&self, reminder: LessonReminder) {
        self.0.lock().unwrap().push(reminder);
    }
}

fn lesson(lead_class: &str, shiqiao: &str, assistant: &str, start: i64) -> ScheduleLesson {
    ScheduleLesson {
        subject: "语文".into(),
        title: "古诗两首".into(),
        starts_at: start,
        ends_at: start + 40 * MINUTE,
        mode: LessonMode::Interactive,
        lead_class_id: lead_class.into(),
        receiving: vec![ReceivingClassRequest {
            class_id: shiqiao.into(),
            assistant_id: Some(assistant.into()),
        }],
        lead_teacher_id: None,
        weekly_until: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timetable_is_known_offline_reminds_once_and_tells_of_changes() {
    let mut server = TestServer::start(&Backend::from_env());
    server.import_demo_roster();
    let url = server.url();
    let main_1 = Api::login(&url, STUDENT_MAIN_1A).await.student_class();
    let zhou = Api::login(&url, ASSISTANT_SHIQIAO).await;
    let shiqiao = zhou.taught_classes()[0].clone();

    let lead = Phone::sign_in(&url, LEAD_TEACHER).await;
    let student = Phone::sign_in(&url, STUDENT_SHIQIAO_A).await;
    let parent = Phone::sign_in(&url, PARENT_ONE_CHILD).await;
    let timetable = lead.client.timetable();

    // One lesson about to start, and a weekly one from tomorrow for three weeks.
    let now = lead.client.server_now();
    let soon = timetable
        .schedule(lesson(&main_1, &shiqiao, &zhou.user_id(), now + 8_000))
        .await
        .expect("schedule the lesson about to start");
    let soon = soon.lessons[0].clone();
    let mut weekly = lesson(&main_1, &shiqiao, &zhou.user_id(), now + DAY);
    weekly.weekly_until = Some(now + DAY + 15 * DAY);
    let weekly = timetable
        .schedule(weekly)
        .await
        .expect("schedule the series");
    assert_eq!(weekly.lessons.len(), 3);

    // A clash comes back to the teacher's form, naming the lesson in the way.
    let clash = timetable
        .schedule(lesson(
            &main_1,
            &shiqiao,
            &zhou.user_id(),
            now + DAY + 10 * MINUTE,
        ))
        .await
        .expect_err("double-booked");
    assert_eq!(clash.code(), ErrorCode::Conflict);
    assert!(clash.to_string().contains(&weekly.lessons[0].id), "{clash}");

    // The student's phone learns both by sync; the reminder comes once, an hour ahead.
    wait_timetable(&student, "the lesson as next", |s| {
        s.next.as_ref().map(|l| &l.id) == Some(&soon.id)
    })
    .await;
    wait_lessons(&student, 4).await;
    wait_lessons(&parent, 4).await;
    student
        .client
        .timetable()
        .set_reminder_lead_secs(3600)
        .await
        .unwrap();
    let reminders = Arc::new(Reminders::default());
    let watch = student
        .client
        .timetable()
        .watch_reminders(reminders.clone());
    tokio::time::timeout(PATIENCE, async {
        while reminders.0.lock().unwrap().is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("a reminder for the lesson about to start");
    drop(watch);
    let given = reminders.0.lock().unwrap().clone();
    assert_eq!(given.len(), 1, "only the lesson within the hour");
    assert_eq!(given[0].lesson.id, soon.id);
    let upcoming = student
        .client
        .timetable()
        .upcoming_reminders(2 * DAY)
        .await
        .unwrap();
    assert!(upcoming.iter().any(|r| r.lesson.id == weekly.lessons[0].id));

    // The server goes away; the lesson starts; the phone still knows what is on now.
    server.stop();
    let student = student.restart_app(&url).await;
    let snap = wait_timetable(&student, "the lesson under way", |s| {
        s.now.as_ref().map(|l| &l.id) == Some(&soon.id)
    })
    .await;
    assert_eq!(
        snap.next.as_ref().map(|l| &l.id),
        Some(&weekly.lessons[0].id)
    );
    assert!(snap.today.iter().any(|l| l.id == soon.id));
    // Reminded already, before the restart: not again.
    let again = Arc::new(Reminders::default());
    let _watch = student.client.timetable().watch_reminders(again.clone());
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(again.0.lock().unwrap().is_empty(), "reminded twice");

    // Back online: the lead moves week one and cancels the rest; the parent is told.
    server.restart();
    let moved_to = weekly.lessons[0].starts_at + 60 * MINUTE;
    timetable
        .move_lesson(
            weekly.lessons[0].id.clone(),
            MoveLesson {
                starts_at: moved_to,
                ends_at: moved_to + 40 * MINUTE,
            },
        )
        .await
        .expect("move");
    let cancelled = timetable
        .cancel(
            weekly.lessons[1].id.clone(),
            CancelLesson {
                reason: "运动会".into(),
                and_following: true,
            },
        )
        .await
        .expect("cancel");
    assert_eq!(cancelled.len(), 2);
    // The lead's own changes are not news to the lead.
    assert!(timetable.snapshot().await.unwrap().changes.is_empty());

    let snap = wait_timetable(&parent, "the move and the cancellations", |s| {
        s.changes.len() == 3
    })
    .await;
    let kind_of = |id: &str| {
        snap.changes
            .iter()
            .find(|c| c.lesson.id == id)
            .map(|c| c.kind)
    };
    assert_eq!(
        kind_of(&weekly.lessons[0].id),
        Some(LessonChangeKind::Moved)
    );
    assert_eq!(
        kind_of(&weekly.lessons[2].id),
        Some(LessonChangeKind::Cancelled)
    );
    let stored = parent
        .client
        .timetable()
        .lesson(weekly.lessons[2].id.clone())
        .await
        .unwrap();
    assert_eq!(stored.status, LessonStatus::Cancelled);
    assert_eq!(stored.cancel_reason, "运动会");
    parent
        .client
        .timetable()
        .acknowledge_changes()
        .await
        .unwrap();
    assert!(
        parent
            .client
            .timetable()
            .snapshot()
            .await
            .unwrap()
            .changes
            .is_empty()
    );
}
