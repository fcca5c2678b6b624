//! Homework (同步作业): the lead teacher assigns it to her classes, a student drafts text and a
//! photo on the phone and hands it in, the teacher sees who is missing and grades it, and the
//! parent sees the grade and signs it off (家长签字).

use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, bail, ensure};
use lianxiao_core::{HomeworkListener, HomeworkView, NewHomework, WorkState};
use lianxiao_protocol::WorkKind;
use lianxiao_tests::{
    DEMO_PASSWORD,
    logins::{LEAD_TEACHER, PARENT_ONE_CHILD, STUDENT_MAIN_1A},
};
use tokio::sync::watch;

use super::{World, beijing_time};
use crate::phone::{PATIENCE, Phone};

const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;

/// The homework chapter: assign, draft, hand in, report, grade, sign off.
pub async fn round_trip(w: &mut World) -> anyhow::Result<()> {
    w.chapter(
        "同步作业：布置、提交、批改、签字",
        "Homework: assign, hand in, grade, sign off",
    );

    // The teacher assigns, due tomorrow at 20:00 Beijing time, with a parent's sign-off.
    let teacher = w.phone(LEAD_TEACHER)?;
    let class_ids: Vec<String> = teacher.classes().await?.into_iter().map(|c| c.id).collect();
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
    let due_at = ((now + 8 * HOUR_MS).div_euclid(DAY_MS) + 1) * DAY_MS + 12 * HOUR_MS;
    let hw = teacher
        .client
        .homework()
        .assign(NewHomework {
            title: "看图写话".into(),
            instructions: "看图写三句话，拍下作业本上的这一页。".into(),
            attachments: Vec::new(),
            class_ids,
            due_at,
            accepts_late: true,
            accepted_kinds: vec![WorkKind::Text, WorkKind::Photo],
            max_score: 100,
            requires_signoff: true,
            max_submission_bytes: None,
        })
        .await
        .context("assigning the homework failed")?;
    let classes: Vec<&str> = hw.classes.iter().map(|c| c.class_name.as_str()).collect();
    w.say.phone(
        &teacher.who,
        &format!(
            "布置「{}」给 {}，明天 {} 截止，需家长签字",
            hw.title,
            classes.join("、"),
            &beijing_time(hw.due_at)[..5]
        ),
        &format!(
            "assigned to {} classes, due tomorrow {} (Beijing), parent sign-off",
            hw.classes.len(),
            &beijing_time(hw.due_at)[..5]
        ),
    );

    // The student's own phone.
    let url = w.server.url();
    if w.phone(STUDENT_MAIN_1A).is_err() {
        let dir = w.phone_dir(STUDENT_MAIN_1A);
        let phone = Phone::sign_in(&url, &dir, STUDENT_MAIN_1A, DEMO_PASSWORD).await?;
        w.add_phone(phone);
    }
    let student = w.phone(STUDENT_MAIN_1A)?;
    let sh = student.client.homework();
    let view = until(&format!("{STUDENT_MAIN_1A}: the homework"), async || {
        student.client.sync_now().await?;
        Ok(sh.get(hw.id.clone()).await.ok())
    })
    .await?;
    w.say.phone(
        &student.who,
        &format!(
            "收到作业「{}」（{}）",
            view.homework.title, view.homework.author.name
        ),
        "the homework arrives, not started",
    );
    ensure!(
        view.work.first().map(|w| &w.state) == Some(&WorkState::NotStarted),
        "the student's new homework should be NotStarted"
    );

    // A draft on the phone: text and a photo of the page.
    sh.set_draft_text(
        hw.id.clone(),
        "图上有一只小猫。它在追蝴蝶。蝴蝶飞走了。".into(),
    )
    .await?;
    let photo = w.phone_dir(STUDENT_MAIN_1A).join("IMG_0001.png");
    std::fs::write(&photo, worksheet_png(48, 32)).context("cannot write the photo")?;
    let draft = sh
        .add_draft_file(
            hw.id.clone(),
            photo.to_string_lossy().into_owned(),
            WorkKind::Photo,
        )
        .await?;
    w.say.phone(
        &student.who,
        &format!("写好草稿：三句话 + {} 张照片", draft.files.len()),
        "draft on the phone: text and a photo (kept across restarts)",
    );

    // Hand in, and watch the state as the screen gets it.
    let (tx, mut rx) = watch::channel(Vec::new());
    let _screen = sh.subscribe(Arc::new(Screen {
        homework_id: hw.id.clone(),
        states: tx,
    }));
    sh.hand_in(hw.id.clone()).await?;
    let delivered = |s: &[WorkState]| matches!(s.last(), Some(WorkState::Delivered { .. }));
    let states = match tokio::time::timeout(PATIENCE, rx.wait_for(|s| delivered(s))).await {
        Ok(states) => states?.clone(),
        Err(_) => bail!("{STUDENT_MAIN_1A}: the hand-in was not delivered after {PATIENCE:?}"),
    };
    let path: Vec<String> = states
        .iter()
        .filter(|s| !matches!(s, WorkState::NotStarted | WorkState::Draft))
        .map(state_label)
        .collect();
    let Some(WorkState::Delivered { received_at, .. }) = states.last().cloned() else {
        bail!("not delivered");
    };
    w.say.phone(
        &student.who,
        &format!("提交：{}", path.join(" → ")),
        &format!(
            "handed in, receipt at server time {}",
            beijing_time(received_at)
        ),
    );
    w.say.detail(
        "照片先上传（可续传），再由发件箱送出交作业，只送一次 · the photo goes up first (resumable), then the hand-in leaves the outbox, exactly once",
    );

    // The teacher: who is missing, then the grade.
    let teacher = w.phone(LEAD_TEACHER)?;
    let th = teacher.client.homework();
    let report = th.report(hw.id.clone()).await?;
    w.say.phone(
        &teacher.who,
        "查看作业统计",
        "the report: who has not handed in",
    );
    let mut missing = 0;
    for class in &report.classes {
        let absent: Vec<&str> = class
            .students
            .iter()
            .filter(|s| s.submission_id.is_none())
            .map(|s| s.student.name.as_str())
            .collect();
        missing += absent.len();
        w.say.detail(&format!(
            "{}: 已交 handed in {}/{}; 未交 missing: {}",
            class.class_name,
            class.students.len() - absent.len(),
            class.students.len(),
            absent.join("、")
        ));
    }
    let subs = th.fetch_submissions(hw.id.clone(), None).await?;
    let sub = subs
        .iter()
        .find(|s| s.student.id == student.client.user_id())
        .context("the student's work is not among the submissions")?;
    let (score, feedback) = (95, "句子通顺，观察仔细，继续加油！");
    th.grade(sub.id.clone(), score, feedback.into(), None)
        .await?;
    teacher.outbox_drained().await?;
    w.say.phone(
        &teacher.who,
        &format!("批改 {}：{score} 分，评语「{feedback}」", sub.student.name),
        &format!("graded {score}/{} with text feedback", hw.max_score),
    );

    // The parent sees the grade and signs off.
    let parent = w.phone(PARENT_ONE_CHILD)?;
    let ph = parent.client.homework();
    let seen = until(&format!("{PARENT_ONE_CHILD}: the grade"), async || {
        parent.client.sync_now().await?;
        let v = ph.get(hw.id.clone()).await.ok();
        Ok(v.filter(|v| {
            v.work
                .first()
                .is_some_and(|work| matches!(work.state, WorkState::Graded { .. }))
        }))
    })
    .await?;
    let work = &seen.work[0];
    let submission = work
        .submission
        .clone()
        .context("graded without a submission")?;
    let review = submission
        .attempts
        .last()
        .and_then(|a| a.review.clone())
        .context("graded without a review")?;
    ensure!(
        work.needs_sign_off,
        "the parent should be asked to sign off"
    );
    w.say.phone(
        &parent.who,
        &format!(
            "看到{}的成绩：{} 分，「{}」，待签字",
            submission.student.name,
            review.score.unwrap_or(0),
            review.feedback
        ),
        &format!(
            "sees the grade {}/{} and the feedback; sign-off needed",
            review.score.unwrap_or(0),
            seen.homework.max_score
        ),
    );
    ph.sign_off(submission.id.clone(), "已检查".into()).await?;
    parent.outbox_drained().await?;
    let report = th.report(hw.id.clone()).await?;
    let signed: u32 = report.summary.classes.iter().map(|c| c.signed_off).sum();
    ensure!(signed == 1, "the teacher sees {signed} sign-off(s), not 1");
    w.say.phone(
        &parent.who,
        "家长签字：已检查",
        "signed off; the teacher's report counts it",
    );

    w.recap.push(format!(
        "作业「{}」 homework: 李明 交了文字和照片 text + photo handed in ({} 送达 delivered), {missing} 人未交 missing, {score} 分 graded, 家长已签字 signed off",
        hw.title,
        beijing_time(received_at)
    ));
    Ok(())
}

/// What the homework screen shows, as a list of states (a new entry when the kind changes).
struct Screen {
    homework_id: String,
    states: watch::Sender<Vec<WorkState>>,
}

impl HomeworkListener for Screen {
    fn on_homework(&self, homework: Vec<HomeworkView>) {
        let Some(state) = homework
            .into_iter()
            .find(|v| v.homework.id == self.homework_id)
            .and_then(|v| v.work.into_iter().next())
            .map(|w| w.state)
        else {
            return;
        };
        self.states.send_if_modified(|states| {
            let same = states
                .last()
                .is_some_and(|l| std::mem::discriminant(l) == std::mem::discriminant(&state));
            if !same {
                states.push(state);
            }
            !same
        });
    }
}

fn state_label(state: &WorkState) -> String {
    match state {
        WorkState::NotStarted => "未开始 NotStarted".into(),
        WorkState::Draft => "草稿 Draft".into(),
        WorkState::OnDevice => "在手机上 OnDevice".into(),
        WorkState::Uploading {
            sent_bytes,
            total_bytes,
        } => format!("上传中 Uploading {sent_bytes}/{total_bytes} B"),
        WorkState::Delivered { received_at, .. } => {
            format!("已送达 Delivered {}", beijing_time(*received_at))
        }
        WorkState::Returned { .. } => "退回 Returned".into(),
        WorkState::Graded { score, max_score } => format!("已批改 Graded {score}/{max_score}"),
        WorkState::Failed { message } => format!("被拒绝 Failed: {message}"),
    }
}

/// Polls `check` until it gives a value, for at most [`PATIENCE`].
async fn until<T>(
    what: &str,
    mut check: impl AsyncFnMut() -> anyhow::Result<Option<T>>,
) -> anyhow::Result<T> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("timed out after {PATIENCE:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A small photo of a ruled worksheet page, as a PNG written by hand (stored deflate).
fn worksheet_png(width: u32, height: u32) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
            }
        }
        !crc
    }
    fn chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let start = png.len();
        png.extend_from_slice(kind);
        png.extend_from_slice(data);
        let crc = crc32(&png[start..]);
        png.extend_from_slice(&crc.to_be_bytes());
    }
    // Rows of RGB pixels, each after filter byte 0: white paper, a blue line every 8 rows.
    let mut raw = Vec::new();
    for y in 0..height {
        raw.push(0);
        for x in 0..width {
            let pixel = if y % 8 == 7 {
                [90, 120, 220]
            } else if (x + 2 * y) % 13 == 0 {
                [40, 40, 40]
            } else {
                [250, 248, 240]
            };
            raw.extend_from_slice(&pixel);
        }
    }
    assert!(raw.len() <= 0xFFFF, "one stored deflate block");
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in &raw {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    let len = raw.len() as u16;
    let mut zlib = vec![0x78, 0x01, 0x01];
    zlib.extend_from_slice(&len.to_le_bytes());
    zlib.extend_from_slice(&(!len).to_le_bytes());
    zlib.extend_from_slice(&raw);
    zlib.extend_from_slice(&((b << 16) | a).to_be_bytes());

    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB, no interlace
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &zlib);
    chunk(&mut png, b"IEND", &[]);
    png
}
