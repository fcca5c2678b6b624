//! What one account may upload, and what happens to uploads nothing uses. One student
//! announcing 2,000 uploads of 20 MiB in ten seconds must be stopped at the account's quota
//! (a burst in parallel cannot slip past the check), the number of unfinished uploads at a
//! time is bounded, and finished uploads never handed in, like expired unfinished ones, are
//! deleted with their bytes, also across a restart.

use std::time::{Duration, Instant};

use futures::future::join_all;
use lianxiao_tests::{Backend, TestServer, api::Api, logins::*};
use reqwest::StatusCode;
use serde_json::json;

const MIB: u64 = 1 << 20;

fn doc(name: &str) -> [(&str, &str); 3] {
    [
        ("purpose", "instructions"),
        ("kind", "file"),
        ("name", name),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_uploads_stops_at_the_accounts_quota() {
    let server = TestServer::start_with_env(
        &Backend::from_env(),
        &[
            ("LIANXIAO_UPLOAD_PENDING_QUOTA_MB", "100"),
            ("LIANXIAO_UPLOAD_MAX_UNFINISHED", "8"),
        ],
    );
    server.import_demo_roster();
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let other = Api::login(&base, BRANCH_TEACHER).await;
    let (big, small) = (doc("big.pdf"), doc("small.pdf"));

    // 30 uploads of 20 MiB at once: 100 MiB of them fit, all the rest are refused.
    let burst = join_all((0..30).map(|_| lead.tus_create(20 * MIB, &big))).await;
    let created: Vec<_> = burst
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .collect();
    assert_eq!(
        created.len(),
        5,
        "{:?}",
        burst.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for r in burst.iter().filter(|r| r.status != StatusCode::CREATED) {
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{:?}", r.body);
        assert_eq!(r.code(), "quota_exceeded", "{:?}", r.body);
    }
    // Another account's quota is its own.
    assert_eq!(
        other.tus_create(20 * MIB, &doc("big.pdf")).await.status,
        StatusCode::CREATED
    );
    // Giving one up makes room for one more.
    let location = created[0].headers["location"].to_str().unwrap().to_owned();
    let r = lead
        .http
        .delete(format!("{base}{location}"))
        .bearer_auth(&lead.access)
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        lead.tus_create(20 * MIB, &doc("big.pdf")).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        lead.tus_create(MIB, &doc("small.pdf")).await.code(),
        "quota_exceeded"
    );

    // Small files: at most 8 unfinished at a time (429, the phone tries again later).
    let burst = join_all((0..30).map(|_| other.tus_create(1000, &small))).await;
    let created: Vec<_> = burst
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .collect();
    // The 20 MiB one above is unfinished too.
    assert_eq!(
        created.len(),
        7,
        "{:?}",
        burst.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for r in burst.iter().filter(|r| r.status != StatusCode::CREATED) {
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", r.body);
        assert_eq!(r.code(), "quota_exceeded", "{:?}", r.body);
    }
    // One finished makes room for another.
    let location = created[0].headers["location"].to_str().unwrap().to_owned();
    let r = other.tus_patch(&location, 0, &[7u8; 1000], None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    assert_eq!(
        other.tus_create(1000, &doc("small.pdf")).await.status,
        StatusCode::CREATED
    );
}

/// Waits until `GET /v1/uploads/{id}` answers 404 (gone, not merely expired).
async fn until_gone(server: &TestServer, api: &Api, id: &str) {
    // The sweep runs in the background of a loaded machine: generous, and it is the event
    // that ends the wait, not the time.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let r = api.get(&format!("/v1/uploads/{id}")).await;
        if r.status == StatusCode::NOT_FOUND {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "upload {id} still {}; server log:\n{}",
            r.status,
            server.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Creates an upload with its first bytes in the same request (so even a one-second expiry
/// cannot fall between two requests); its id.
async fn create_with(api: &Api, length: u64, name: &str, body: &[u8]) -> String {
    use base64::Engine;
    let meta: Vec<String> = doc(name)
        .iter()
        .map(|(k, v)| {
            format!(
                "{k} {}",
                base64::engine::general_purpose::STANDARD.encode(v)
            )
        })
        .collect();
    let r = api
        .http
        .post(format!("{}/v1/uploads", api.base))
        .bearer_auth(&api.access)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", length.to_string())
        .header("Upload-Metadata", meta.join(","))
        .header("Content-Type", "application/offset+octet-stream")
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let offset = r.headers()["upload-offset"].to_str().unwrap().to_owned();
    assert_eq!(offset, body.len().to_string());
    let location = r.headers()["location"].to_str().unwrap();
    location.rsplit('/').next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_nothing_uses_are_deleted_with_their_bytes_also_across_a_restart() {
    // A one-second grace, a two-second expiry; the sweep runs at start and then only hourly, so what
    // goes here goes in the sweep the restart runs.
    let mut server = TestServer::start_with_env(
        &Backend::from_env(),
        &[
            ("LIANXIAO_UNUSED_UPLOAD_GRACE_SECS", "1"),
            ("LIANXIAO_UPLOAD_TTL_SECS", "2"),
            ("LIANXIAO_UPLOAD_SWEEP_SECS", "3600"),
        ],
    );
    server.import_demo_roster();
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let blobs = server.data_dir().join("blobs");
    let blob = |id: &str| blobs.join(id);

    let used = create_with(&lead, 13, "sheet.pdf", b"the worksheet").await;
    let r = lead
        .post(
            "/v1/homework",
            json!({
                "title": "读一读", "instructions": "Read the sheet.",
                "attachment_upload_ids": [used], "class_ids": lead.taught_classes(),
                "due_at": (std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64) + 86_400_000,
                "accepted_kinds": ["text"], "max_score": 10,
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let unused = create_with(&lead, 15, "draft.pdf", b"never handed in").await;
    let half = create_with(&lead, 1000, "half.pdf", &[1u8; 10]).await;
    for id in [&used, &unused, &half] {
        assert!(blob(id).exists(), "{id}");
    }
    // The half-done upload expires (410) two seconds after its last byte, which came after
    // the unused one finished: its one-second grace is over too.
    let deadline = Instant::now() + Duration::from_secs(120);
    while lead.get(&format!("/v1/uploads/{half}")).await.status != StatusCode::GONE {
        assert!(
            Instant::now() < deadline,
            "the unfinished upload never expired"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    server.restart();
    let lead = Api::login(&server.url(), LEAD_TEACHER).await;
    until_gone(&server, &lead, &unused).await;
    until_gone(&server, &lead, &half).await;
    assert!(
        !blob(&unused).exists(),
        "the unused upload's bytes are deleted"
    );
    assert!(
        !blob(&half).exists(),
        "the expired upload's bytes are deleted"
    );
    // What a homework uses stays.
    assert!(blob(&used).exists());
    let r = lead
        .http
        .get(format!("{}/v1/attachments/{used}", server.url()))
        .bearer_auth(&lead.access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"the worksheet");
}

/// What an account has stored counts too, handed in or not: past it, nothing more is taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_files_count_against_the_accounts_quota() {
    let server = TestServer::start_with_env(
        &Backend::from_env(),
        &[("LIANXIAO_UPLOAD_STORED_QUOTA_MB", "1")],
    );
    server.import_demo_roster();
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let sheet = create_with(&lead, 600_000, "sheet.pdf", &[3u8; 600_000]).await;
    let r = lead
        .post(
            "/v1/homework",
            json!({
                "title": "读一读", "instructions": "Read the sheet.",
                "attachment_upload_ids": [sheet], "class_ids": lead.taught_classes(),
                "due_at": (std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64) + 86_400_000,
                "accepted_kinds": ["text"], "max_score": 10,
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = lead.tus_create(600_000, &doc("more.pdf")).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{:?}", r.body);
    assert_eq!(r.code(), "quota_exceeded");
    assert!(r.headers.get("location").is_none());
    // What still fits is taken.
    assert_eq!(
        lead.tus_create(400_000, &doc("small.pdf")).await.status,
        StatusCode::CREATED
    );
}
