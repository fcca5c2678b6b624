//! Replays through the core against the real server and a real ffmpeg (issue 5): a teacher's
//! phone uploads a classroom recording, a school admin approves it, a student's phone lists
//! it, downloads the low rendition across a network interruption and an app restart, plays
//! the local copy (ffprobe reads it whole), watches offline, and that time reaches the server
//! once; deleting the download frees its files. Waits are generous deadlines, never asserted.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::Arc,
    time::Duration,
};

use lianxiao_core::{
    DownloadState, ErrorCode, NewRecording, ReplayFilter, ReplayListener, ReplayView,
    protocol::{ReplayStatus, ReplayVisibility},
};
use lianxiao_tests::{
    Backend, TestServer,
    api::Api,
    logins::*,
    phone::{PATIENCE, Phone},
    proxy::Proxy,
};
use reqwest::StatusCode;
use serde_json::json;
use tokio::sync::watch;

/// Transcoding and downloading on a busy 2-core machine.
const SLOW: Duration = Duration::from_secs(300);
const HOUR: i64 = 3_600_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// An MP4 of `secs` seconds (test picture and a tone) made with ffmpeg's lavfi, in `dir`.
fn mp4(dir: &Path, secs: u32) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("第一课.mp4");
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args([
            "-f",
            "lavfi",
            "-i",
            &format!("testsrc=size=320x240:rate=15:duration={secs}"),
        ])
        .args([
            "-f",
            "lavfi",
            "-i",
            &format!("sine=frequency=440:duration={secs}"),
        ])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .args(["-c:a", "aac", "-shortest"])
        .arg(&path)
        .stdin(Stdio::null())
        .status()
        .expect("ffmpeg is installed");
    assert!(status.success());
    path
}

/// What ffprobe finds in a local playlist: the streams' codecs and the duration in ms.
fn ffprobe(path: &str) -> (Vec<String>, i64) {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name:format=duration",
        ])
        .args(["-of", "default=noprint_wrappers=1:nokey=1"])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .expect("ffprobe comes with ffmpeg");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut codecs = Vec::new();
    let mut duration = -1;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        match line.parse::<f64>() {
            Ok(secs) => duration = (secs * 1000.0) as i64,
            Err(_) => codecs.push(line.to_owned()),
        }
    }
    // The HLS demuxer lists each stream under its program too.
    codecs.sort();
    codecs.dedup();
    (codecs, duration)
}

/// Decodes the whole local copy: anything missing or damaged is an error on stderr.
fn decodes_cleanly(path: &str) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-v", "error", "-i", path, "-f", "null", "-"])
        .stdin(Stdio::null())
        .output()
        .expect("ffmpeg is installed");
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && errors.trim().is_empty(), "{errors}");
}

/// A 语文 lesson tomorrow from the lead's main class 1 (s_li01's) to 石桥 (assistant a_zhou).
async fn lesson(base: &str) -> String {
    let lead = Api::login(base, LEAD_TEACHER).await;
    let class = Api::login(base, STUDENT_MAIN_1A).await.student_class();
    let zhou = Api::login(base, ASSISTANT_SHIQIAO).await;
    let start = (now_ms() / HOUR + 24) * HOUR;
    let r = lead
        .post(
            "/v1/lessons",
            json!({
                "subject": "语文", "title": "古诗两首", "starts_at": start,
                "ends_at": start + 40 * 60_000, "mode": "interactive", "lead_class_id": class,
                "receiving": [{"class_id": zhou.taught_classes()[0], "assistant_id": zhou.user_id()}],
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.body["lessons"][0]["id"].as_str().unwrap().to_owned()
}

struct Forward(watch::Sender<Vec<ReplayView>>);

impl ReplayListener for Forward {
    fn on_replays(&self, replays: Vec<ReplayView>) {
        let _ = self.0.send(replays);
    }
}

/// Waits (through a subscription, as a screen would) until replay `id` satisfies `ready`;
/// every view seen on the way goes to `seen`.
async fn wait_view(
    phone: &Phone,
    id: &str,
    patience: Duration,
    seen: &mut Vec<ReplayView>,
    ready: impl Fn(&ReplayView) -> bool,
) -> ReplayView {
    let (tx, mut rx) = watch::channel(Vec::new());
    let _handle = phone
        .client
        .replays()
        .subscribe(ReplayFilter::default(), Arc::new(Forward(tx)));
    let found = tokio::time::timeout(patience, async {
        loop {
            if let Some(v) = rx.borrow_and_update().iter().find(|v| v.replay.id == id) {
                seen.push(v.clone());
                if ready(v) {
                    return v.clone();
                }
            }
            rx.changed().await.expect("subscription ended");
        }
    })
    .await;
    match found {
        Ok(v) => v,
        Err(_) => panic!(
            "replay {id} not as expected in time; last: {:#?}",
            rx.borrow().iter().find(|v| v.replay.id == id)
        ),
    }
}

fn download_state(v: &ReplayView) -> Option<DownloadState> {
    v.download.as_ref().map(|d| d.state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_goes_up_is_approved_downloaded_across_a_break_and_watched_offline() {
    let server = TestServer::start(&Backend::from_env());
    server.import_demo_roster();
    let base = server.url();
    let lesson_id = lesson(&base).await;

    // The teacher's phone uploads the recording (tus, resumable) and makes it the replay.
    let teacher = Phone::sign_in(&base, LEAD_TEACHER).await;
    let recording = mp4(&teacher.dir.join("recordings"), 32);
    let created = tokio::time::timeout(
        SLOW,
        teacher.client.replays().upload_recording(NewRecording {
            lesson_id: lesson_id.clone(),
            path: recording.clone(),
            title: None,
            visibility: ReplayVisibility::LessonClasses,
        }),
    )
    .await
    .expect("uploaded in time")
    .expect("recording accepted");
    let id = created.id.clone();
    assert_eq!(created.lesson_id, lesson_id);
    // Asked again (as after a failure), the same upload makes the same replay.
    let again = teacher
        .client
        .replays()
        .upload_recording(NewRecording {
            lesson_id: lesson_id.clone(),
            path: recording.clone(),
            title: None,
            visibility: ReplayVisibility::LessonClasses,
        })
        .await
        .expect("the same recording again");
    assert_eq!(again.id, id);
    assert_eq!(teacher.client.uploads().list().await.unwrap().len(), 1);
    assert_eq!(created.title, "古诗两首");

    // Transcoded; the school admin approves it through the API.
    let admin = Api::login(&base, SCHOOL_ADMIN).await;
    let deadline = tokio::time::Instant::now() + SLOW;
    loop {
        let r = admin.get(&format!("/v1/replays/{id}")).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        if r.body["status"] == "pending_review" {
            break;
        }
        assert_eq!(r.body["status"], "processing", "{:?}", r.body);
        assert!(tokio::time::Instant::now() < deadline, "still processing");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let r = admin
        .post(
            &format!("/v1/replays/{id}/review"),
            json!({"approve": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    // The parent sees it under their child (from the synced timetable), not under another.
    let parent = Phone::sign_in(&base, PARENT_ONE_CHILD).await;
    parent.client.sync_now().await.expect("sync");
    let child = parent.client.children().await.unwrap()[0].id.clone();
    let listed = |filter: ReplayFilter| {
        let replays = parent.client.replays();
        async move {
            let list = replays.list(filter).await.unwrap();
            list.into_iter().map(|v| v.replay.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(listed(ReplayFilter::default()).await, [id.as_str()]);
    let for_child = ReplayFilter {
        child_id: Some(child),
    };
    assert_eq!(listed(for_child).await, [id.as_str()]);
    let for_nobody = ReplayFilter {
        child_id: Some("someone-else".into()),
    };
    assert!(listed(for_nobody).await.is_empty());
    drop(parent);

    // A student's phone, behind a link that will break, lists it from sync.
    let proxy = Proxy::to_url(&base).await;
    let mut student = Phone::sign_in(&proxy.url(), STUDENT_MAIN_1A).await;
    student.client.sync_now().await.expect("sync");
    let mut seen = Vec::new();
    let view = wait_view(&student, &id, PATIENCE, &mut seen, |v| {
        v.replay.status == ReplayStatus::Approved
    })
    .await;
    let low = view
        .replay
        .renditions
        .iter()
        .find(|r| r.name == "low")
        .expect("a low rendition")
        .clone();
    assert!(low.size_bytes > 0);
    let replays = student.client.replays();

    // A cap too small for it refuses the download before anything is fetched.
    replays
        .set_storage_cap_bytes(low.size_bytes / 2)
        .await
        .unwrap();
    let refused = replays
        .download(id.clone(), "low".into())
        .await
        .expect_err("over the cap");
    assert_eq!(
        refused.code(),
        ErrorCode::Validation {
            field: Some("storage_cap".into())
        }
    );
    assert!(replays.download_status(id.clone()).await.unwrap().is_none());
    replays
        .set_storage_cap_bytes(lianxiao_core::DEFAULT_DOWNLOAD_CAP_BYTES)
        .await
        .unwrap();

    // Slow enough that the break comes mid-download.
    proxy.set_rate_down(Some(300_000));
    let started = replays.download(id.clone(), "low".into()).await.unwrap();
    assert_eq!(started.bytes_total, low.size_bytes);
    let storage = replays.storage().await.unwrap();
    assert_eq!(storage.reserved_bytes, low.size_bytes);
    let mid = wait_view(&student, &id, SLOW, &mut seen, |v| {
        v.download.as_ref().is_some_and(|d| d.segments_done >= 2)
    })
    .await;
    let total = mid.download.as_ref().unwrap().segments_total.unwrap();
    assert!(total > 3, "{total} segments");

    // The network goes: connections cut, the server unreachable. The download keeps what
    // it has and retries.
    proxy.set_refusing(true);
    proxy.drop_all();
    let broken = wait_view(&student, &id, SLOW, &mut seen, |v| {
        v.download
            .as_ref()
            .is_some_and(|d| d.state == DownloadState::Queued && d.attempts >= 2)
    })
    .await;
    let kept = broken.download.as_ref().unwrap().segments_done;
    assert!(kept >= 2 && kept < total, "{kept} of {total}");
    student.client.network_changed(false);

    // The app is killed and opened again, still offline: nothing on disk is lost.
    student = student.restart_app(&proxy.url()).await;
    student.client.network_changed(false);
    let after = student
        .client
        .replays()
        .download_status(id.clone())
        .await
        .unwrap()
        .unwrap();
    assert!(after.segments_done >= kept, "{after:?}");

    // The network comes back: it goes on from there to the end.
    proxy.set_rate_down(None);
    proxy.set_refusing(false);
    student.client.network_changed(true);
    let done = wait_view(&student, &id, SLOW, &mut seen, |v| {
        download_state(v) == Some(DownloadState::Done)
    })
    .await;
    let d = done.download.unwrap();
    assert_eq!((d.segments_done, d.segments_total), (total, Some(total)));
    // Segments never started over: the count only grew.
    let counts: Vec<u32> = seen
        .iter()
        .filter_map(|v| v.download.as_ref().map(|d| d.segments_done))
        .collect();
    assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");

    // The local copy plays from files: ffprobe reads the whole lesson from its playlist.
    let replays = student.client.replays();
    let playback = replays.play(id.clone()).await.unwrap();
    assert!(playback.local, "{playback:?}");
    let path = playback.path.clone().unwrap();
    assert!(!std::fs::read_to_string(&path).unwrap().contains("sig="));
    let (codecs, duration) = ffprobe(&path);
    assert_eq!(codecs, ["aac", "h264"], "{codecs:?}");
    decodes_cleanly(&path);
    let expected = done.replay.duration_ms.unwrap();
    assert!(
        (duration - expected).abs() <= 1_500,
        "{duration} ms of {expected}"
    );

    // Watched offline, the app killed before the network returns: the time is kept and
    // reaches the server once, marked offline.
    proxy.set_refusing(true);
    proxy.drop_all();
    student.client.network_changed(false);
    replays
        .report_progress(id.clone(), 5_000, 5_000)
        .await
        .unwrap();
    replays
        .report_progress(id.clone(), 12_000, 7_000)
        .await
        .unwrap();
    let place = replays.place(id.clone()).await.unwrap().unwrap();
    assert_eq!(
        (place.position_ms, place.unsent_watched_ms),
        (12_000, 12_000)
    );
    student = student.restart_app(&proxy.url()).await;
    student.client.network_changed(false);
    assert_eq!(student.client.outbox_pending().await.unwrap(), 1);
    proxy.set_refusing(false);
    student.client.network_changed(true);
    student.outbox_drained().await;
    // Sent again by hand: nothing is left to send, nothing counted twice.
    assert_eq!(student.client.flush_outbox().await.unwrap(), 0);
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let views = lead.get(&format!("/v1/replays/{id}/views")).await;
    assert_eq!(views.status, StatusCode::OK, "{:?}", views.body);
    let me = Api::login(&base, STUDENT_MAIN_1A).await.user_id();
    let mine: Vec<_> = views
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["user"]["id"] == me.as_str())
        .collect();
    assert_eq!(mine.len(), 1, "{:?}", views.body);
    assert_eq!(mine[0]["watched_ms"], 12_000);
    assert_eq!(mine[0]["offline_ms"], 12_000);

    // The student's other device picks up where they stopped.
    let tablet = Phone::sign_in(&base, STUDENT_MAIN_1A).await;
    tablet.client.sync_now().await.unwrap();
    let there = tablet
        .client
        .replays()
        .place(id.clone())
        .await
        .unwrap()
        .expect("the position synced");
    assert_eq!((there.position_ms, there.watched_ms), (12_000, 12_000));
    let stream = tablet.client.replays().play(id.clone()).await.unwrap();
    assert!(!stream.local && stream.url.starts_with(&base), "{stream:?}");
    assert_eq!(stream.position_ms, 12_000);

    // Deleting the download frees its files and its share of the cap.
    let replays = student.client.replays();
    let dir = Path::new(&path).parent().unwrap().to_owned();
    assert!(dir.exists());
    replays.delete_download(id.clone()).await.unwrap();
    assert!(!dir.exists(), "{dir:?} still there");
    assert_eq!(replays.storage().await.unwrap().reserved_bytes, 0);
    assert!(replays.download_status(id.clone()).await.unwrap().is_none());
    let playback = replays.play(id.clone()).await.unwrap();
    assert!(!playback.local);
}
