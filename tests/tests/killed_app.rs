//! "Nothing a user did is lost to a killed app", with the app really killed: a phone process
//! (this test binary started again, see `PhoneProcess`) is stopped dead at a named point of the
//! core (core/src/hooks.rs) and sent SIGKILL there — no destructor, no flush. Started again on
//! the same data directory, the phone must lose nothing and the server must count everything
//! once: mid-outbox-send (the server has the post, the phone does not know), mid-sync-apply
//! (a page applied but not committed) and mid-upload (a chunk the server has, the phone has not
//! recorded).

use std::time::Duration;

use lianxiao_core::{
    Accounts, Client, DeliveryState, LOCAL_ID_PREFIX, NewHomework, NoticeFilter, WorkState,
    hooks::STOP_AT_ENV, protocol::WorkKind,
};
use lianxiao_tests::{
    Backend, TestServer,
    api::Api,
    logins::*,
    phone::{PATIENCE, Phone, PhoneProcess, config},
};

/// The phone process the tests start (ignored in normal runs).
#[test]
#[ignore = "a phone process the other tests start themselves"]
fn phone_process() {
    lianxiao_tests::phone::run_phone_process();
}

fn server() -> TestServer {
    let server = TestServer::start(&Backend::from_env());
    server.import_demo_roster();
    server
}

/// A phone process on `dir` that stops dead at `point`.
async fn phone_stopping_at(url: &str, dir: &std::path::Path, point: &str) -> PhoneProcess {
    let mut phone = PhoneProcess::spawn("phone_process", &[(STOP_AT_ENV, point)]);
    phone.ok(&format!("open {url} {}", dir.display())).await;
    phone
}

/// The app started again on the same directory, in this process, its tasks running.
async fn restart(url: &str, dir: &std::path::Path) -> (Accounts, Client) {
    let accounts = Accounts::open(config(url, dir)).expect("reopen");
    let client = accounts
        .active()
        .await
        .expect("accounts")
        .expect("the account is still signed in");
    client.start();
    (accounts, client)
}

async fn drained(client: &Client) {
    tokio::time::timeout(PATIENCE, client.wait_outbox_empty())
        .await
        .expect("outbox drained in time")
        .unwrap();
    assert_eq!(client.outbox_failures().await.unwrap(), vec![]);
}

/// How many notices titled `title` the lead sees on the server.
async fn on_server(lead: &Api, title: &str) -> usize {
    let r = lead.get("/v1/notices?limit=500").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["notices"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["title"] == title)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_outbox_send_the_notice_is_posted_once() {
    let server = server();
    let url = server.url();
    let lead = Api::login(&url, LEAD_TEACHER).await;
    let class = lead.taught_classes()[0].clone();
    let dir = tempfile::tempdir().unwrap();
    let title = "明天停电";

    let mut phone = phone_stopping_at(&url, dir.path(), "outbox.sent").await;
    phone.ok(&format!("sign_in {LEAD_TEACHER}")).await;
    phone.ok("sync").await;
    let local = phone.ok(&format!("post_notice {class} {title}")).await;
    assert!(local.starts_with(LOCAL_ID_PREFIX), "queued first: {local}");
    phone.send("start");
    phone.stopped_at("outbox.sent").await;
    assert_eq!(on_server(&lead, title).await, 1, "the server has it");
    phone.kill();

    let (_accounts, client) = restart(&url, dir.path()).await;
    drained(&client).await;
    assert_eq!(on_server(&lead, title).await, 1, "posted once, not twice");
    client.sync_now().await.unwrap();
    let mine: Vec<_> = client
        .notices()
        .list(NoticeFilter::default())
        .await
        .unwrap()
        .into_iter()
        .filter(|v| v.notice.title == title)
        .collect();
    assert_eq!(mine.len(), 1, "one copy on the phone: {mine:#?}");
    assert!(!mine[0].notice.id.starts_with(LOCAL_ID_PREFIX));
    assert_eq!(mine[0].post, DeliveryState::Delivered);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_sync_apply_nothing_is_half_applied_or_lost() {
    let server = server();
    let url = server.url();
    let lead = Api::login(&url, LEAD_TEACHER).await;
    let classes = lead.taught_classes();
    let id = |r: lianxiao_tests::api::Reply| r.body["id"].as_str().unwrap().to_owned();
    let first = id(lead.post_notice(&classes, "家长会", true, false).await);
    let dir = tempfile::tempdir().unwrap();

    // The parent's phone syncs once and acknowledges; the acknowledgment waits in the outbox.
    {
        let accounts = Accounts::open(config(&url, dir.path())).unwrap();
        let parent = accounts
            .sign_in(
                PARENT_ONE_CHILD.into(),
                lianxiao_tests::DEMO_PASSWORD.into(),
            )
            .await
            .unwrap();
        parent.sync_now().await.unwrap();
        parent.notices().acknowledge(first.clone()).await.unwrap();
    }
    let later = [
        id(lead.post_notice(&classes, "运动会", false, false).await),
        id(lead.post_notice(&classes, "春游", true, false).await),
    ];

    let mut phone = phone_stopping_at(&url, dir.path(), "sync.applied").await;
    phone.ok("active").await;
    phone.send("sync");
    phone.stopped_at("sync.applied").await;
    phone.kill();

    let accounts = Accounts::open(config(&url, dir.path())).unwrap();
    let client = accounts.active().await.unwrap().unwrap();
    let ids = |list: Vec<lianxiao_core::NoticeView>| {
        let mut ids: Vec<String> = list.into_iter().map(|v| v.notice.id).collect();
        ids.sort();
        ids
    };
    assert_eq!(
        ids(client
            .notices()
            .list(NoticeFilter::default())
            .await
            .unwrap()),
        vec![first.clone()],
        "the killed page left nothing behind"
    );
    assert_eq!(client.outbox_pending().await.unwrap(), 1, "the ack is kept");

    client.start();
    drained(&client).await;
    client.sync_now().await.unwrap();
    let mut all = vec![first.clone(), later[0].clone(), later[1].clone()];
    all.sort();
    assert_eq!(
        ids(client
            .notices()
            .list(NoticeFilter::default())
            .await
            .unwrap()),
        all,
        "every notice once"
    );
    let view = client.notices().get(first.clone()).await.unwrap();
    assert_eq!(view.acknowledged, DeliveryState::Delivered);
    let report = lead.get(&format!("/v1/notices/{first}/receipts")).await;
    assert_eq!(report.status, 200, "{:?}", report.body);
    assert_eq!(report.body["summary"]["acknowledged"], 1);
}

/// A short recording as a phone writes it: a WAV header and `seconds` of 16 kHz mono samples
/// (more than one upload chunk).
fn recording(dir: &std::path::Path, seconds: u32) -> std::path::PathBuf {
    let samples = 16_000 * seconds;
    let data_len = samples * 2;
    let mut wav = Vec::with_capacity(44 + data_len as usize);
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&16_000u32.to_le_bytes());
    wav.extend_from_slice(&32_000u32.to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    for i in 0..samples {
        let s = ((i as f64 * 0.05).sin() * 8_000.0) as i16
            ^ (i.wrapping_mul(2_654_435_761) >> 24) as i16;
        wav.extend_from_slice(&s.to_le_bytes());
    }
    let path = dir.join("朗读.wav");
    std::fs::write(&path, wav).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_upload_the_work_arrives_once_and_whole() {
    let server = server();
    let url = server.url();
    let teacher = Phone::sign_in(&url, LEAD_TEACHER).await;
    let homework = teacher
        .client
        .homework()
        .assign(NewHomework {
            title: "朗读课文".into(),
            instructions: "Read the text aloud.".into(),
            attachments: vec![],
            class_ids: teacher.class_ids().await,
            due_at: teacher.client.server_now() + 86_400_000,
            accepts_late: true,
            accepted_kinds: vec![WorkKind::Audio],
            max_score: 100,
            requires_signoff: false,
            max_submission_bytes: None,
        })
        .await
        .expect("assign");
    let files = tempfile::tempdir().unwrap();
    let file = recording(files.path(), 60);
    let bytes = std::fs::read(&file).unwrap();
    let dir = tempfile::tempdir().unwrap();

    let mut phone = phone_stopping_at(&url, dir.path(), "upload.patched").await;
    phone.ok(&format!("sign_in {STUDENT_MAIN_1A}")).await;
    phone.ok("sync").await;
    phone
        .ok(&format!("hand_in {} {} audio", homework.id, file.display()))
        .await;
    phone.send("start");
    phone.stopped_at("upload.patched").await;
    phone.kill();

    let (_accounts, client) = restart(&url, dir.path()).await;
    let hw = client.homework();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let view = hw.get(homework.id.clone()).await.unwrap();
        if matches!(view.work[0].state, WorkState::Delivered { .. }) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not delivered after the restart: {:?}",
            view.work[0].state
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drained(&client).await;

    let lead = Api::login(&url, LEAD_TEACHER).await;
    let subs = lead
        .get(&format!("/v1/homework/{}/submissions", homework.id))
        .await;
    assert_eq!(subs.status, 200, "{:?}", subs.body);
    let subs = subs.body.as_array().unwrap();
    assert_eq!(subs.len(), 1, "one submission");
    let attempts = subs[0]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "handed in once");
    let attachments = attempts[0]["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 1);
    assert_eq!(attachments[0]["size"], bytes.len() as u64);
    use sha2::Digest;
    assert_eq!(
        attachments[0]["sha256"],
        hex::encode(sha2::Sha256::digest(&bytes)),
        "the file arrived whole, resumed where the server had it"
    );
}
