//! The timetable (排课): the lead teacher schedules a linked lesson and a weekly series, a
//! double booking is refused naming the lesson in the way, a parent's phone knows what is on
//! now and next, and hears of a cancellation.

use std::sync::Arc;

use anyhow::{Context, bail, ensure};
use lianxiao_core::{
    ErrorCode, LessonChangeKind, TimetableListener, TimetableSnapshot,
    protocol::{CancelLesson, Lesson, LessonMode, ReceivingClassRequest, ScheduleLesson},
};
use lianxiao_tests::logins::{LEAD_TEACHER, PARENT_TWO_CHILDREN};
use tokio::sync::watch;

use super::{World, beijing_time};
use crate::phone::{PATIENCE, Phone};

const MINUTE: i64 = 60_000;
const DAY: i64 = 24 * 60 * MINUTE;

struct Snapshots(watch::Sender<Option<TimetableSnapshot>>);

impl TimetableListener for Snapshots {
    fn on_timetable(&self, snapshot: TimetableSnapshot) {
        let _ = self.0.send(Some(snapshot));
    }
}

/// Waits until the phone's timetable, as its screen gets it, satisfies `ready`.
async fn wait_timetable(
    phone: &Phone,
    what: &str,
    ready: impl Fn(&TimetableSnapshot) -> bool,
) -> anyhow::Result<TimetableSnapshot> {
    let (tx, mut rx) = watch::channel(None);
    let _handle = phone.client.timetable().subscribe(Arc::new(Snapshots(tx)));
    let waited = tokio::time::timeout(PATIENCE, async {
        loop {
            if let Some(s) = rx.borrow_and_update().clone()
                && ready(&s)
            {
                return Ok(s);
            }
            if rx.changed().await.is_err() {
                bail!("the timetable subscription ended");
            }
        }
    })
    .await;
    match waited {
        Ok(result) => result,
        Err(_) => bail!("{}: timetable never showed {what}", phone.who),
    }
}

fn classes(lesson: &Lesson) -> String {
    lesson
        .classes
        .iter()
        .map(|c| format!("{} {}", c.school_name, c.class_name))
        .collect::<Vec<_>>()
        .join("、")
}

/// Chapter: 排课 from the lead teacher's phone to a parent's.
pub async fn lessons_scheduled(w: &mut World) -> anyhow::Result<()> {
    w.chapter("排课：同步课堂", "The timetable: a linked lesson");
    let lead = w.phone(LEAD_TEACHER)?;
    let parent = w.phone(PARENT_TWO_CHILDREN)?;
    // 赵红梅's second child is in 石桥小学, the receiving class.
    let lead_class = lead
        .classes()
        .await?
        .first()
        .context("no class")?
        .id
        .clone();
    let branch_class = parent
        .client
        .children()
        .await?
        .into_iter()
        .map(|c| c.class_id)
        .find(|c| *c != lead_class)
        .context("no child in a branch school")?;

    let now = lead.client.server_now();
    let lesson = |title: &str, start: i64, class: &str, receiving: &[&str]| ScheduleLesson {
        subject: "语文".into(),
        title: title.into(),
        starts_at: start,
        ends_at: start + 40 * MINUTE,
        mode: LessonMode::Interactive,
        lead_class_id: class.into(),
        receiving: receiving
            .iter()
            .map(|c| ReceivingClassRequest {
                class_id: (*c).into(),
                assistant_id: None,
            })
            .collect(),
        lead_teacher_id: None,
        weekly_until: None,
    };
    let timetable = lead.client.timetable();
    let today = timetable
        .schedule(lesson(
            "古诗两首",
            now + 3_000,
            &lead_class,
            &[&branch_class],
        ))
        .await?
        .lessons
        .remove(0);
    let mut weekly = lesson("看图写话", now + DAY, &lead_class, &[&branch_class]);
    weekly.weekly_until = Some(now + DAY + 15 * DAY);
    let series = timetable.schedule(weekly).await?;
    w.say.phone(
        &lead.who,
        &format!(
            "排课：「{}」{} 开始，{}；另排每周「看图写话」共 {} 节",
            today.title,
            beijing_time(today.starts_at),
            classes(&today),
            series.lessons.len()
        ),
        "scheduled a lesson for the main class and a receiving class, and a weekly series",
    );

    // The same teacher cannot be in two classrooms at once.
    let mut clash = lesson("另一课", now + DAY + 10 * MINUTE, &lead_class, &[]);
    clash.subject = "数学".into();
    match timetable.schedule(clash).await {
        Err(e) if e.code() == ErrorCode::Conflict => w.say.phone(
            &lead.who,
            "再排一节同一时间的课：被拒绝，冲突的课已写明",
            &format!("a double booking is refused: {e}"),
        ),
        Err(e) => bail!("a clash should be a conflict, was {e}"),
        Ok(_) => bail!("a double-booked teacher was scheduled"),
    }

    let snap = wait_timetable(parent, "the lesson as next", |s| {
        s.next.as_ref().is_some_and(|l| l.id == today.id)
    })
    .await?;
    w.say.phone(
        &parent.who,
        &format!(
            "课表：下一节「{}」{}",
            today.title,
            beijing_time(today.starts_at)
        ),
        &format!("next lesson known on the phone, {} today", snap.today.len()),
    );
    let snap = wait_timetable(parent, "the lesson under way", |s| {
        s.now.as_ref().is_some_and(|l| l.id == today.id)
    })
    .await?;
    w.say.phone(
        &parent.who,
        &format!(
            "正在上课：「{}」；之后：「{}」",
            today.title,
            snap.next.as_ref().map(|l| l.title.as_str()).unwrap_or("—")
        ),
        "now and next, answered from the phone's own store",
    );

    let second = series.lessons[1].clone();
    timetable
        .cancel(
            second.id.clone(),
            CancelLesson {
                reason: "运动会".into(),
                and_following: false,
            },
        )
        .await?;
    w.say.phone(
        &lead.who,
        &format!(
            "取消 {} 天后的「{}」：运动会",
            (second.starts_at - now + DAY / 2) / DAY,
            second.title
        ),
        "cancelled one lesson of the series",
    );
    let snap = wait_timetable(parent, "the cancellation", |s| {
        s.changes
            .iter()
            .any(|c| c.lesson.id == second.id && c.kind == LessonChangeKind::Cancelled)
    })
    .await?;
    ensure!(
        snap.changes.len() == 1,
        "one change expected: {:?}",
        snap.changes
    );
    w.say.phone(
        &parent.who,
        "收到：下周「看图写话」已取消（运动会）",
        "told of the cancellation",
    );
    w.recap.push(format!(
        "排课 timetable: {} 节课 lessons, 冲突被拒 clash refused, 取消已通知 cancellation reached the parent",
        1 + series.lessons.len()
    ));
    Ok(())
}
