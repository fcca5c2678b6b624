//! The downloader against a small HLS server in the test (axum): a video-on-demand playlist
//! with signed URIs and segments that honour Range, which can cut a segment off half-way,
//! ignore Range, or refuse an expired signature. Checks what the resume logic promises:
//! whole segments are never fetched twice, a cut segment goes on from its `.part`, a new
//! ticket is asked for when the signature is refused, and the local playlist is written.

use std::{
    collections::HashMap,
    path::Path,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU32, Ordering},
    },
    time::Duration,
};

use axum::{
    Json, Router,
    body::Body,
    extract::{Path as UrlPath, Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use lianxiao_protocol::{
    HlsRendition, HlsTicket, PersonRef, Replay, ReplayRendition, ReplaySource, ReplayStatus,
    ReplayVisibility, SyncItem, SyncPage,
};

use crate::{
    Accounts, Client, ClientConfig, DownloadState, MemorySecureStorage, SecureStorage, api::Tokens,
};

const SEGMENTS: usize = 4;

fn segment(seq: usize) -> Vec<u8> {
    (0..50_000u32)
        .map(|i| (i as usize * 31 + seq * 7) as u8)
        .collect()
}

#[derive(Default)]
struct Hls {
    /// Which signature is good now (the ticket hands out `sig=<this>`).
    sig: AtomicU32,
    tickets: AtomicU32,
    /// Segment requests: (seq, Range header).
    requests: Mutex<Vec<(usize, Option<String>)>>,
    /// Cut the first answer for this segment half-way.
    cut: Mutex<Option<usize>>,
    ignore_range: AtomicBool,
    /// Segments from the third on are held (a slow link) while this is set.
    hold: AtomicBool,
    /// The signatures change when this segment is asked for (the ticket ran out).
    expire_at: Mutex<Option<usize>>,
}

async fn play(State(hls): State<Arc<Hls>>) -> Json<HlsTicket> {
    hls.tickets.fetch_add(1, Ordering::SeqCst);
    let sig = hls.sig.load(Ordering::SeqCst);
    Json(HlsTicket {
        master_url: format!("/v1/replays/r1/hls/master.m3u8?sig={sig}"),
        renditions: vec![HlsRendition {
            name: "low".into(),
            bandwidth: 400_000,
            url: format!("/v1/replays/r1/hls/low/index.m3u8?sig={sig}"),
            audio_only: false,
        }],
        expires_at: i64::MAX / 2,
    })
}

async fn media(
    State(hls): State<Arc<Hls>>,
    UrlPath(file): UrlPath<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let expiring = format!(
        "seg_{}.ts",
        hls.expire_at.lock().unwrap().unwrap_or(usize::MAX)
    );
    if file == expiring {
        hls.expire_at.lock().unwrap().take();
        hls.sig.fetch_add(1, Ordering::SeqCst);
    }
    if q.get("sig").map(String::as_str) != Some(&hls.sig.load(Ordering::SeqCst).to_string()) {
        return StatusCode::FORBIDDEN.into_response();
    }
    let sig = q["sig"].clone();
    if file == "index.m3u8" {
        let mut text = String::from(
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n#EXT-X-PLAYLIST-TYPE:VOD\n",
        );
        for seq in 0..SEGMENTS {
            text.push_str(&format!("#EXTINF:4.000000,\nseg_{seq}.ts?sig={sig}\n"));
        }
        text.push_str("#EXT-X-ENDLIST\n");
        return text.into_response();
    }
    let Some(seq) = file
        .strip_prefix("seg_")
        .and_then(|f| f.strip_suffix(".ts"))
        .and_then(|n| n.parse::<usize>().ok())
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    hls.requests.lock().unwrap().push((seq, range.clone()));
    if seq >= 2 && hls.hold.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
    let data = segment(seq);
    if hls.cut.lock().unwrap().take_if(|c| *c == seq).is_some() {
        // Announce the whole segment, send half, then break the connection.
        let half = data[..data.len() / 2].to_vec();
        // The half goes out on the wire before the break.
        let stream = futures::stream::unfold(Some(half), |half| async move {
            match half {
                Some(h) => Some((Ok::<_, std::io::Error>(h), None)),
                None => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    Some((Err(std::io::Error::other("cut")), None))
                }
            }
        });
        return (
            [(header::CONTENT_LENGTH, data.len().to_string())],
            Body::from_stream(stream),
        )
            .into_response();
    }
    let from = range
        .filter(|_| !hls.ignore_range.load(Ordering::SeqCst))
        .and_then(|r| {
            r.strip_prefix("bytes=")?
                .strip_suffix('-')?
                .parse::<usize>()
                .ok()
        });
    match from {
        Some(from) if from < data.len() => (
            StatusCode::PARTIAL_CONTENT,
            [(
                header::CONTENT_RANGE,
                format!("bytes {from}-{}/{}", data.len() - 1, data.len()),
            )],
            data[from..].to_vec(),
        )
            .into_response(),
        _ => data.into_response(),
    }
}

async fn serve(hls: Arc<Hls>) -> String {
    let app = Router::new()
        .route("/v1/replays/r1/play", post(play))
        .route("/v1/replays/r1/hls/low/{file}", get(media))
        .with_state(hls);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// A signed-in client of `server` with replay `r1` in its store; its background tasks run
/// only where a test starts them.
async fn signed_in(
    dir: &Path,
    server: &str,
    storage: Arc<MemorySecureStorage>,
) -> (Accounts, Client) {
    let accounts = Accounts::open(ClientConfig {
        server_url: server.into(),
        data_dir: dir.to_owned(),
        secure_storage: storage.clone(),
    })
    .unwrap();
    Tokens {
        access_token: "a".into(),
        refresh_token: "r".into(),
        refresh_at: None,
    }
    .save(storage.as_ref() as &dyn SecureStorage, "u1")
    .unwrap();
    rusqlite::Connection::open(dir.join("accounts.sqlite3"))
        .unwrap()
        .execute(
            "INSERT OR IGNORE INTO accounts (user_id, login, display_name, last_used_at) VALUES ('u1', 'u1', 'u1', 0)",
            [],
        )
        .unwrap();
    let client = accounts.switch_to("u1".into()).await.unwrap();
    let replay = Replay {
        id: "r1".into(),
        lesson_id: "l1".into(),
        subject: "语文".into(),
        title: "古诗两首".into(),
        lesson_starts_at: 1,
        source: ReplaySource::Upload,
        status: ReplayStatus::Approved,
        progress_percent: None,
        problem: None,
        visibility: ReplayVisibility::LessonClasses,
        duration_ms: Some(16_000),
        renditions: vec![ReplayRendition {
            name: "low".into(),
            bandwidth: 400_000,
            size_bytes: (SEGMENTS * segment(0).len()) as u64,
            audio_only: false,
        }],
        owner: PersonRef {
            id: "t1".into(),
            name: "T".into(),
        },
        review: None,
        created_at: 1,
        updated_at: 1,
    };
    let page = SyncPage {
        items: vec![SyncItem::Replay { replay }],
        cursor: "c".into(),
        has_more: false,
        server_time: 1,
    };
    client
        .shared()
        .store
        .write(move |tx| crate::sync::apply_page(tx, &page))
        .await
        .unwrap();
    (accounts, client)
}

/// Runs the worker until the download is done (or panics with what it saw).
async fn downloaded(client: &Client) {
    let shared = client.shared().clone();
    let worker = tokio::spawn(super::run(shared));
    let replays = client.replays();
    let done = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let s = replays.download_status("r1".into()).await.unwrap().unwrap();
            if s.state == DownloadState::Done || s.state == DownloadState::Failed {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    worker.abort();
    let status = done.expect("download finished in time");
    assert_eq!(status.state, DownloadState::Done, "{status:?}");
    assert_eq!(status.segments_done, SEGMENTS as u32);
    assert_eq!(status.bytes_done, (SEGMENTS * segment(0).len()) as u64);
}

fn assert_local_copy(client: &Client) {
    let dir = super::download_dir(&client.data_dir(), "r1");
    for seq in 0..SEGMENTS {
        let file = dir.join(format!("seg_{seq:05}.ts"));
        assert_eq!(std::fs::read(&file).unwrap(), segment(seq), "{file:?}");
        assert!(!dir.join(format!("seg_{seq:05}.ts.part")).exists());
    }
    let playlist = std::fs::read_to_string(dir.join("index.m3u8")).unwrap();
    assert!(playlist.contains("seg_00003.ts\n") && !playlist.contains("sig="));
}

fn fetches(hls: &Hls) -> Vec<(usize, Option<String>)> {
    hls.requests.lock().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_segment_cut_half_way_goes_on_from_its_part_and_whole_ones_are_not_fetched_again() {
    let hls = Arc::new(Hls::default());
    *hls.cut.lock().unwrap() = Some(2);
    let server = serve(hls.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let (_accounts, client) = signed_in(dir.path(), &server, Default::default()).await;
    client
        .replays()
        .download("r1".into(), "low".into())
        .await
        .unwrap();
    downloaded(&client).await;
    assert_local_copy(&client);
    let half = segment(2).len() / 2;
    assert_eq!(
        fetches(&hls),
        [
            (0, None),
            (1, None),
            (2, None),
            (2, Some(format!("bytes={half}-"))),
            (3, None)
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_ignores_range_gets_the_segment_written_again_from_the_start() {
    let hls = Arc::new(Hls::default());
    *hls.cut.lock().unwrap() = Some(1);
    hls.ignore_range.store(true, Ordering::SeqCst);
    let server = serve(hls.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let (_accounts, client) = signed_in(dir.path(), &server, Default::default()).await;
    client
        .replays()
        .download("r1".into(), "low".into())
        .await
        .unwrap();
    downloaded(&client).await;
    // The second answer was the whole file: the part was not appended to.
    assert_local_copy(&client);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_download_resumes_after_a_restart_with_new_signatures_keeping_its_segments() {
    let hls = Arc::new(Hls::default());
    hls.hold.store(true, Ordering::SeqCst);
    let server = serve(hls.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(MemorySecureStorage::new());
    let (accounts, client) = signed_in(dir.path(), &server, storage.clone()).await;
    let replays = client.replays();
    replays.download("r1".into(), "low".into()).await.unwrap();

    // Two segments on disk, the third held up by a slow link; paused, then the app killed.
    let worker = tokio::spawn(super::run(client.shared().clone()));
    tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let s = replays.download_status("r1".into()).await.unwrap().unwrap();
            if s.segments_done >= 2 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("two segments in time");
    replays.pause_download("r1".into()).await.unwrap();
    worker.abort();
    let kept = replays.download_status("r1".into()).await.unwrap().unwrap();
    assert_eq!(kept.state, DownloadState::Paused);
    assert_eq!(kept.segments_done, 2);
    let before = fetches(&hls).len();
    drop((replays, client, accounts));

    // Meanwhile the signatures changed; the new app resumes with a new ticket.
    hls.hold.store(false, Ordering::SeqCst);
    hls.sig.store(7, Ordering::SeqCst);
    let (_accounts, client) = signed_in(dir.path(), &server, storage).await;
    client.replays().resume_download("r1".into()).await.unwrap();
    downloaded(&client).await;
    assert_local_copy(&client);
    let after: Vec<usize> = fetches(&hls)[before..].iter().map(|(s, _)| *s).collect();
    assert!(
        after.iter().all(|s| *s >= 2),
        "whole segments fetched again: {after:?}"
    );
    assert!(hls.tickets.load(Ordering::SeqCst) >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_signature_mid_download_brings_a_new_ticket() {
    let hls = Arc::new(Hls::default());
    *hls.expire_at.lock().unwrap() = Some(1);
    let server = serve(hls.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let (_accounts, client) = signed_in(dir.path(), &server, Default::default()).await;
    client
        .replays()
        .download("r1".into(), "low".into())
        .await
        .unwrap();
    downloaded(&client).await;
    assert_local_copy(&client);
    assert_eq!(hls.tickets.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_that_stops_being_visible_takes_its_download_with_it() {
    let hls = Arc::new(Hls::default());
    let server = serve(hls.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let (_accounts, client) = signed_in(dir.path(), &server, Default::default()).await;
    client
        .replays()
        .download("r1".into(), "low".into())
        .await
        .unwrap();
    downloaded(&client).await;
    let files = super::download_dir(&client.data_dir(), "r1");
    assert!(files.join("index.m3u8").exists());

    let page = SyncPage {
        items: vec![SyncItem::Removed {
            kind: lianxiao_protocol::EntityKind::Replay,
            id: "r1".into(),
        }],
        cursor: "c2".into(),
        has_more: false,
        server_time: 2,
    };
    let changed = client
        .shared()
        .store
        .write(move |tx| crate::sync::apply_page(tx, &page))
        .await
        .unwrap();
    assert!(changed.replays);
    assert_eq!(changed.removed_downloads, ["r1"]);
    crate::replays::forget_download(client.shared(), "r1").await;
    assert!(!files.exists());
    let replays = client.replays();
    assert!(
        replays
            .download_status("r1".into())
            .await
            .unwrap()
            .is_none()
    );
    assert!(replays.list(Default::default()).await.unwrap().is_empty());
    assert_eq!(replays.storage().await.unwrap().reserved_bytes, 0);
}
