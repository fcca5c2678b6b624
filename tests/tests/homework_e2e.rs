//! Homework end to end through the core on phones against the real server: 同步作业 to three
//! classes in two schools, a student's draft with a photo and a recording handed in, graded
//! with voice feedback, seen and signed off by the parent; and work handed in offline that
//! reaches the teacher exactly once after the server comes back.

use std::time::Duration;

use lianxiao_core::{HandinState, NewHomework, WorkState, protocol::WorkKind};
use lianxiao_tests::{
    Backend, TestServer,
    api::Api,
    logins::*,
    phone::{PATIENCE, Phone},
};

fn server() -> TestServer {
    let server = TestServer::start(&Backend::from_env());
    server.import_demo_roster();
    server
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A 2400×1800 photo of a worksheet, as a phone camera would hand it over.
fn photo(dir: &std::path::Path) -> String {
    let path = dir.join("IMG_0001.png");
    image::RgbImage::from_fn(2400, 1800, |x, y| {
        image::Rgb([
            (x / 10 % 256) as u8,
            (y / 10 % 256) as u8,
            ((x + y) % 256) as u8,
        ])
    })
    .save(&path)
    .unwrap();
    path.to_string_lossy().into_owned()
}

fn recording(dir: &std::path::Path, name: &str, bytes: usize) -> String {
    let path = dir.join(name);
    let data: Vec<u8> = (0..bytes).map(|i| (i * 7 % 253) as u8).collect();
    std::fs::write(&path, data).unwrap();
    path.to_string_lossy().into_owned()
}

async fn until<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn assign(server: &TestServer, lead: &Phone) -> String {
    let shiqiao_class = Api::login(&server.url(), STUDENT_SHIQIAO_A)
        .await
        .student_class();
    let mut classes = lead.class_ids().await;
    assert_eq!(classes.len(), 2);
    classes.push(shiqiao_class);
    let sheet = recording(&lead.dir, "worksheet.pdf", 40_000);
    let hw = lead
        .client
        .homework()
        .assign(NewHomework {
            title: "看图写话".into(),
            instructions: "Photograph your page and read it aloud.".into(),
            attachments: vec![(sheet, WorkKind::File)],
            class_ids: classes,
            due_at: now_ms() + 86_400_000,
            accepts_late: true,
            accepted_kinds: vec![WorkKind::Text, WorkKind::Photo, WorkKind::Audio],
            max_score: 100,
            requires_signoff: true,
            max_submission_bytes: None,
        })
        .await
        .expect("assign");
    assert_eq!(hw.classes.len(), 3);
    assert_eq!(hw.attachments.len(), 1);
    hw.id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn homework_goes_round_from_teacher_to_student_to_parent() {
    let server = server();
    let url = server.url();
    let lead = Phone::sign_in(&url, LEAD_TEACHER).await;
    let student = Phone::sign_in(&url, STUDENT_MAIN_1A).await;
    let parent = Phone::sign_in(&url, PARENT_ONE_CHILD).await;
    let branch = Phone::sign_in(&url, STUDENT_SHIQIAO_A).await;
    let hw_id = assign(&server, &lead).await;

    // Students of the main school and of the branch school get it through sync.
    for phone in [&student, &branch] {
        let hw = phone.client.homework();
        let view = until("homework synced", async || {
            phone.client.sync_now().await.ok()?;
            hw.get(hw_id.clone()).await.ok()
        })
        .await;
        assert_eq!(view.work.len(), 1);
        assert_eq!(view.work[0].state, WorkState::NotStarted);
    }
    // The instructions' attachment opens on the student's phone.
    let hw = student.client.homework();
    let view = hw.get(hw_id.clone()).await.unwrap();
    let sheet = hw
        .open_attachment(view.homework.attachments[0].id.clone())
        .await
        .expect("instructions download");
    assert_eq!(std::fs::metadata(&sheet).unwrap().len(), 40_000);

    // A draft: text, a photo and a recording; reordered; it survives a restart.
    hw.set_draft_text(hw_id.clone(), "图上有一只小猫。".into())
        .await
        .unwrap();
    let draft = hw
        .add_draft_file(hw_id.clone(), photo(&student.dir), WorkKind::Photo)
        .await
        .unwrap();
    assert!(
        draft.files[0].size < 1_500_000,
        "photo was shrunk: {}",
        draft.files[0].size
    );
    let draft = hw
        .add_draft_file(
            hw_id.clone(),
            recording(&student.dir, "read.m4a", 300_000),
            WorkKind::Audio,
        )
        .await
        .unwrap();
    let ids: Vec<i64> = draft.files.iter().rev().map(|f| f.id).collect();
    hw.reorder_draft_files(hw_id.clone(), ids.clone())
        .await
        .unwrap();
    // A kind the homework does not take is refused at once.
    let refused = hw
        .add_draft_file(
            hw_id.clone(),
            recording(&student.dir, "clip.mp4", 1000),
            WorkKind::Video,
        )
        .await;
    assert!(refused.is_err());
    let student = student.restart_app(&url).await;
    let hw = student.client.homework();
    let draft = hw.draft(hw_id.clone()).await.unwrap().expect("draft kept");
    assert_eq!(draft.files.iter().map(|f| f.id).collect::<Vec<_>>(), ids);
    assert_eq!(draft.files[0].kind, WorkKind::Audio);

    let handin = hw.hand_in(hw_id.clone()).await.expect("hand in");
    assert_ne!(handin.state, HandinState::Failed);
    student.outbox_drained().await;
    let view = hw.get(hw_id.clone()).await.unwrap();
    let WorkState::Delivered {
        received_at,
        attempt,
        late,
    } = view.work[0].state.clone()
    else {
        panic!("not delivered: {:?}", view.work[0].state);
    };
    assert!(received_at > 0 && attempt == 1 && !late);
    assert!(hw.draft(hw_id.clone()).await.unwrap().is_none());

    // The teacher opens it, hears the recording, grades with voice feedback.
    let th = lead.client.homework();
    let subs = th.fetch_submissions(hw_id.clone(), None).await.unwrap();
    assert_eq!(subs.len(), 1);
    let files = &subs[0].attempts[0].attachments;
    assert_eq!(files.len(), 2);
    assert_eq!(files[0].kind, WorkKind::Audio);
    let photo_copy = th.open_attachment(files[1].id.clone()).await.unwrap();
    let (w, h) = image::ImageReader::open(&photo_copy)
        .unwrap()
        .with_guessed_format()
        .unwrap()
        .into_dimensions()
        .unwrap();
    assert_eq!((w, h), (1600, 1200));
    th.grade(
        subs[0].id.clone(),
        95,
        "写得很好".into(),
        Some(recording(&lead.dir, "feedback.m4a", 50_000)),
    )
    .await
    .unwrap();
    lead.outbox_drained().await;

    // The student sees the grade; the parent sees it, hears the feedback and signs off.
    let graded = until("grade synced", async || {
        student.client.sync_now().await.ok()?;
        let v = hw.get(hw_id.clone()).await.ok()?;
        matches!(v.work[0].state, WorkState::Graded { .. }).then_some(v)
    })
    .await;
    assert_eq!(
        graded.work[0].state,
        WorkState::Graded {
            score: 95,
            max_score: 100
        }
    );
    let ph = parent.client.homework();
    let seen = until("parent sees the grade", async || {
        parent.client.sync_now().await.ok()?;
        let v = ph.get(hw_id.clone()).await.ok()?;
        matches!(v.work.first()?.state, WorkState::Graded { .. }).then_some(v)
    })
    .await;
    assert!(seen.work[0].needs_sign_off);
    let sub = seen.work[0].submission.clone().unwrap();
    let voice = sub.attempts[0]
        .review
        .as_ref()
        .unwrap()
        .voice
        .clone()
        .expect("voice feedback");
    let heard = ph.open_attachment(voice.id).await.unwrap();
    assert_eq!(std::fs::metadata(heard).unwrap().len(), 50_000);
    ph.sign_off(sub.id.clone(), "已检查".into()).await.unwrap();
    parent.outbox_drained().await;
    let report = th.report(hw_id.clone()).await.unwrap();
    let signed: u32 = report.summary.classes.iter().map(|c| c.signed_off).sum();
    assert_eq!(signed, 1);
    let main1 = report
        .classes
        .iter()
        .find(|c| c.students.iter().any(|s| s.submission_id.is_some()))
        .unwrap();
    assert_eq!(
        main1
            .students
            .iter()
            .filter(|s| s.submission_id.is_none())
            .count(),
        main1.students.len() - 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_handed_in_offline_arrives_once_after_the_server_returns() {
    let mut server = server();
    let url = server.url();
    let lead = Phone::sign_in(&url, LEAD_TEACHER).await;
    let student = Phone::sign_in(&url, STUDENT_MAIN_1A).await;
    let hw_id = assign(&server, &lead).await;
    let hw = student.client.homework();
    until("homework synced", async || {
        student.client.sync_now().await.ok()?;
        hw.get(hw_id.clone()).await.ok()
    })
    .await;

    server.stop();
    hw.set_draft_text(hw_id.clone(), "离线写的".into())
        .await
        .unwrap();
    hw.add_draft_file(hw_id.clone(), photo(&student.dir), WorkKind::Photo)
        .await
        .unwrap();
    hw.hand_in(hw_id.clone()).await.unwrap();
    let view = hw.get(hw_id.clone()).await.unwrap();
    assert!(
        matches!(
            view.work[0].state,
            WorkState::OnDevice | WorkState::Uploading { .. }
        ),
        "{:?}",
        view.work[0].state
    );
    // The app is killed while the server is away; nothing is lost.
    let student = student.restart_app(&url).await;
    server.restart();
    student.client.network_changed(true);
    let hw = student.client.homework();
    until("delivered after the server came back", async || {
        let v = hw.get(hw_id.clone()).await.ok()?;
        matches!(v.work[0].state, WorkState::Delivered { .. }).then_some(())
    })
    .await;
    student.outbox_drained().await;
    let teacher = Api::login(&url, LEAD_TEACHER).await;
    let subs = teacher
        .get(&format!("/v1/homework/{hw_id}/submissions"))
        .await;
    let subs = subs.body.as_array().unwrap();
    assert_eq!(subs.len(), 1);
    assert_eq!(
        subs[0]["attempts"].as_array().unwrap().len(),
        1,
        "delivered exactly once"
    );
    assert_eq!(
        subs[0]["attempts"][0]["attachments"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
