//! Attachments arrive whatever the network does (issue 4): the core's resumable uploader
//! against the real server, through a proxy that cuts, stalls, throttles and refuses.
//!
//! Each test checks what a user would notice (the file arrives whole, nothing starts over)
//! and what the link pays: the bytes sent beyond the file stay within one chunk per break.

use std::{path::PathBuf, sync::Arc, time::Duration};

use lianxiao_core::{
    ErrorCode, UploadListener, UploadRequest, UploadState, UploadStatus, protocol::UploadInfo,
};
use lianxiao_protocol::{UploadPurpose, WorkKind};
use lianxiao_tests::{Backend, TestServer, api::Api, logins::*, phone::Phone, proxy::Proxy};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

const MIB: u64 = 1024 * 1024;
/// The uploader's largest chunk: what one break may cost at most.
const MAX_CHUNK: u64 = 4 * MIB;
/// Request and response headers, sync and realtime traffic on the same link.
const SLACK: u64 = 256 * 1024;
/// Long enough for any upload here on a busy 2-core machine.
const UPLOAD_PATIENCE: Duration = Duration::from_secs(180);

fn server() -> TestServer {
    let server = TestServer::start(&Backend::from_env());
    server.import_demo_roster();
    server
}

/// A file of `len` pseudo-random bytes in the phone's data directory; returns its path and
/// hex sha256.
fn write_file(phone: &Phone, name: &str, len: u64) -> (PathBuf, String) {
    let mut data = Vec::with_capacity(len as usize);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ len;
    while (data.len() as u64) < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    data.truncate(len as usize);
    let dir = phone.dir.join("attachments");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, &data).unwrap();
    (path, hex::encode(Sha256::digest(&data)))
}

fn instructions(path: PathBuf) -> UploadRequest {
    UploadRequest {
        file_name: path.file_name().unwrap().to_string_lossy().into_owned(),
        path,
        purpose: UploadPurpose::Instructions,
        homework_id: None,
        kind: WorkKind::File,
        content_type: "application/octet-stream".into(),
        batch: None,
    }
}

struct Forward(watch::Sender<Vec<UploadStatus>>);

impl UploadListener for Forward {
    fn on_uploads(&self, uploads: Vec<UploadStatus>) {
        let _ = self.0.send(uploads);
    }
}

/// Waits (through a listener, as a screen would) until upload `id` satisfies `ready`.
async fn wait_status(
    phone: &Phone,
    id: i64,
    ready: impl Fn(&UploadStatus) -> bool,
) -> UploadStatus {
    let (tx, mut rx) = watch::channel(Vec::new());
    let _handle = phone.client.uploads().subscribe(Arc::new(Forward(tx)));
    let found = tokio::time::timeout(UPLOAD_PATIENCE, async {
        loop {
            if let Some(s) = rx.borrow_and_update().iter().find(|s| s.id == id)
                && ready(s)
            {
                return s.clone();
            }
            rx.changed().await.expect("subscription ended");
        }
    })
    .await;
    match found {
        Ok(s) => s,
        Err(_) => panic!(
            "upload {id} not as expected in time; last: {:#?}",
            rx.borrow().iter().find(|s| s.id == id)
        ),
    }
}

async fn wait_done(phone: &Phone, id: i64) -> String {
    tokio::time::timeout(UPLOAD_PATIENCE, phone.client.uploads().wait(id))
        .await
        .expect("upload finished in time")
        .expect("upload done")
}

/// What the server says it has, asked directly (not through the proxy).
async fn server_info(server: &TestServer, login: &str, server_id: &str) -> UploadInfo {
    let api = Api::login(&server.url(), login).await;
    let r = api.get(&format!("/v1/uploads/{server_id}")).await;
    assert!(r.status.is_success(), "{:?}", r.body);
    serde_json::from_value(r.body).unwrap()
}

async fn assert_arrived_whole(
    server: &TestServer,
    login: &str,
    server_id: &str,
    len: u64,
    sha: &str,
) {
    let info = server_info(server, login, server_id).await;
    assert!(info.complete, "{info:?}");
    assert_eq!(info.length, len);
    assert_eq!(info.offset, len);
    assert_eq!(
        info.sha256.as_deref(),
        Some(sha),
        "the server has other bytes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_20_mb_file_arrives_whole_through_a_cut_and_a_stall() {
    let server = server();
    let proxy = Proxy::to_url(&server.url()).await;
    proxy.set_rate(Some(40_000_000));
    let phone = Phone::sign_in(&proxy.url(), LEAD_TEACHER).await;
    let uploads = phone.client.uploads();
    uploads.set_stall_timeout(Duration::from_secs(2));
    let len = 20 * 1000 * 1000;
    let (path, sha) = write_file(&phone, "lesson.mp4", len);

    proxy.reset_counters();
    let id = uploads.enqueue(instructions(path)).await.unwrap();
    let s = wait_status(&phone, id, |s| s.sent >= 6 * MIB).await;
    assert_eq!(s.state, UploadState::Uploading);
    assert_eq!(s.total, len);
    proxy.drop_all();

    wait_status(&phone, id, |s| s.sent >= 12 * MIB).await;
    proxy.set_stalled(true);
    // The uploader notices that nothing moves and gives the connection up...
    wait_status(&phone, id, |s| s.attempts >= 1).await;
    // ...and the silent link is finally torn down and comes back.
    proxy.drop_all();
    proxy.set_stalled(false);

    let server_id = wait_done(&phone, id).await;
    let done = uploads.status(id).await.unwrap().unwrap();
    assert_eq!(done.state, UploadState::Done);
    assert_eq!((done.sent, done.total), (len, len));
    assert_eq!(done.server_id.as_deref(), Some(server_id.as_str()));
    assert_arrived_whole(&server, LEAD_TEACHER, &server_id, len, &sha).await;

    let sent = proxy.bytes_up();
    let breaks = 2;
    eprintln!(
        "{sent} bytes sent for {len}: {} beyond the file",
        sent - len
    );
    assert!(
        sent <= len + breaks * MAX_CHUNK + SLACK,
        "{sent} bytes sent for a {len}-byte file and {breaks} breaks"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_app_resumes_from_the_servers_offset() {
    let server = server();
    let proxy = Proxy::to_url(&server.url()).await;
    proxy.set_rate(Some(40_000_000));
    let phone = Phone::sign_in(&proxy.url(), LEAD_TEACHER).await;
    let len = 16 * 1000 * 1000;
    let (path, sha) = write_file(&phone, "recording.mp4", len);

    proxy.reset_counters();
    let id = phone
        .client
        .uploads()
        .enqueue(instructions(path))
        .await
        .unwrap();
    wait_status(&phone, id, |s| s.sent >= 6 * MIB).await;
    let phone = phone.restart_app(&proxy.url()).await;

    // The new process knows what the server confirmed before it died.
    let resumed = phone.client.uploads().status(id).await.unwrap().unwrap();
    assert!(resumed.sent > 0, "{resumed:?}");
    let server_id = wait_done(&phone, id).await;
    assert_arrived_whole(&server, LEAD_TEACHER, &server_id, len, &sha).await;
    let sent = proxy.bytes_up();
    eprintln!(
        "{sent} bytes sent for {len}: {} beyond the file",
        sent - len
    );
    assert!(
        sent <= len + MAX_CHUNK + SLACK,
        "{sent} bytes sent for a {len}-byte file and one restart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_resumes_the_upload() {
    let mut server = server();
    let proxy = Proxy::to_url(&server.url()).await;
    proxy.set_rate(Some(40_000_000));
    let phone = Phone::sign_in(&proxy.url(), LEAD_TEACHER).await;
    let len = 16 * 1000 * 1000;
    let (path, sha) = write_file(&phone, "lesson.mp4", len);

    proxy.reset_counters();
    let id = phone
        .client
        .uploads()
        .enqueue(instructions(path))
        .await
        .unwrap();
    wait_status(&phone, id, |s| s.sent >= 6 * MIB).await;
    tokio::task::block_in_place(|| server.restart());

    let server_id = wait_done(&phone, id).await;
    assert_arrived_whole(&server, LEAD_TEACHER, &server_id, len, &sha).await;
    let sent = proxy.bytes_up();
    eprintln!(
        "{sent} bytes sent for {len}: {} beyond the file",
        sent - len
    );
    assert!(
        sent <= len + MAX_CHUNK + SLACK,
        "{sent} bytes sent for a {len}-byte file and one server restart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_queued_while_the_server_is_unreachable_goes_when_it_is_back() {
    let server = server();
    let proxy = Proxy::to_url(&server.url()).await;
    let phone = Phone::sign_in(&proxy.url(), LEAD_TEACHER).await;
    let len = 3 * 1000 * 1000;
    let (path, sha) = write_file(&phone, "worksheet.pdf", len);

    proxy.set_refusing(true);
    let id = phone
        .client
        .uploads()
        .enqueue(instructions(path))
        .await
        .unwrap();
    // It tries, fails, and keeps the file queued.
    let waiting = wait_status(&phone, id, |s| s.attempts >= 2).await;
    assert_eq!(waiting.state, UploadState::Pending);
    assert_eq!(waiting.sent, 0);
    assert_eq!(waiting.error, None);

    proxy.set_refusing(false);
    let server_id = wait_done(&phone, id).await;
    assert_arrived_whole(&server, LEAD_TEACHER, &server_id, len, &sha).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_upload_fails_for_good_with_its_reason() {
    let server = server();
    let parent = Phone::sign_in(&server.url(), PARENT_ONE_CHILD).await;
    let uploads = parent.client.uploads();
    let (path, _) = write_file(&parent, "not-a-teacher.pdf", 100_000);

    let id = uploads.enqueue(instructions(path)).await.unwrap();
    let err = tokio::time::timeout(UPLOAD_PATIENCE, uploads.wait(id))
        .await
        .expect("settled in time")
        .expect_err("a parent cannot upload instructions");
    assert_eq!(err.code(), ErrorCode::Forbidden);
    let failed = uploads.status(id).await.unwrap().unwrap();
    assert_eq!(failed.state, UploadState::Failed);
    assert_eq!(failed.error.as_ref().unwrap().code, "forbidden");

    // Not retried on its own.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(uploads.status(id).await.unwrap().unwrap(), failed);

    // Retried on request: refused again, for the same reason.
    uploads.retry(id).await.unwrap();
    let err = tokio::time::timeout(UPLOAD_PATIENCE, uploads.wait(id))
        .await
        .expect("settled in time")
        .expect_err("still refused");
    assert_eq!(err.code(), ErrorCode::Forbidden);

    // The user dismisses it.
    uploads.cancel(id).await.unwrap();
    assert_eq!(uploads.status(id).await.unwrap(), None);

    // A file over its kind's limit is refused before anything is sent.
    let big = parent.dir.join("attachments/huge.jpg");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(WorkKind::Photo.max_file_bytes() + 1)
        .unwrap();
    let err = uploads
        .enqueue(UploadRequest {
            kind: WorkKind::Photo,
            ..instructions(big)
        })
        .await
        .expect_err("too large");
    assert!(
        matches!(err.code(), ErrorCode::Validation { .. }),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_upload_stops_and_is_forgotten() {
    let server = server();
    let proxy = Proxy::to_url(&server.url()).await;
    proxy.set_rate(Some(8_000_000));
    let phone = Phone::sign_in(&proxy.url(), LEAD_TEACHER).await;
    let uploads = phone.client.uploads();
    let (path, _) = write_file(&phone, "long.mp4", 10 * 1000 * 1000);
    let (small, sha) = write_file(&phone, "short.pdf", 200_000);

    let id = uploads.enqueue(instructions(path)).await.unwrap();
    let next = uploads.enqueue(instructions(small)).await.unwrap();
    wait_status(&phone, id, |s| s.sent >= MIB).await;
    uploads.cancel(id).await.unwrap();
    assert_eq!(uploads.status(id).await.unwrap(), None);
    let err = uploads.wait(id).await.expect_err("cancelled");
    assert_eq!(err.code(), ErrorCode::NotFound);

    // The queue goes on with the next file.
    let server_id = wait_done(&phone, next).await;
    assert_arrived_whole(&server, LEAD_TEACHER, &server_id, 200_000, &sha).await;
    let list = uploads.list().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].id, next);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_the_server_let_expire_starts_again_from_zero() {
    let server =
        TestServer::start_with_env(&Backend::from_env(), &[("LIANXIAO_UPLOAD_TTL_SECS", "3")]);
    server.import_demo_roster();
    let proxy = Proxy::to_url(&server.url()).await;
    proxy.set_rate(Some(4_000_000));
    let phone = Phone::sign_in(&proxy.url(), LEAD_TEACHER).await;
    let uploads = phone.client.uploads();
    uploads.set_stall_timeout(Duration::from_secs(1));
    let len = 3 * 1000 * 1000;
    let (path, sha) = write_file(&phone, "lesson.pdf", len);

    proxy.reset_counters();
    let id = uploads.enqueue(instructions(path)).await.unwrap();
    wait_status(&phone, id, |s| s.sent >= 2 * MIB).await;
    // The link goes silent for longer than the server keeps an idle upload.
    proxy.set_stalled(true);
    let confirmed = wait_status(&phone, id, |s| s.attempts >= 1).await.sent;
    // More than a chunk at this rate, so starting over shows in the bytes sent.
    assert!(confirmed >= MIB, "{confirmed}");
    tokio::time::sleep(Duration::from_secs(4)).await;
    proxy.drop_all();
    proxy.set_stalled(false);

    let server_id = wait_done(&phone, id).await;
    assert_arrived_whole(&server, LEAD_TEACHER, &server_id, len, &sha).await;
    // What the server had confirmed before the expiry went up again.
    let sent = proxy.bytes_up();
    assert!(
        sent >= len + confirmed,
        "{sent} sent, {confirmed} confirmed before"
    );
}
