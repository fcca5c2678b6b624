//! Replays through the `lianxiao` binary against the real server and a real ffmpeg, on one
//! device with four accounts: the lead teacher uploads a classroom recording of a lesson, the
//! school admin cannot reject it without a reason and approves it, the parent lists it under
//! their child, the student streams it, reports progress, queues a download, pauses and
//! resumes it to the end, plays the local copy, sets the storage cap and deletes the download;
//! with the server down a new download exits 3 and stays queued until the server is back.
//! Transcoding gets a generous deadline that is never asserted as a time.

mod common;

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use chrono::Utc;
use common::{Device, as_str, login, with};
use lianxiao_tests::{
    Backend, TestServer,
    logins::{LEAD_TEACHER, PARENT_ONE_CHILD, SCHOOL_ADMIN, STUDENT_MAIN_1A},
    places::CLASS_1,
};

/// A few seconds of test picture and tone, as a classroom recorder leaves it.
fn recording(dir: &std::path::Path) -> String {
    let path = dir.join("第一课.mp4");
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args([
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=15:duration=5",
        ])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:duration=5"])
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
    path.to_string_lossy().into_owned()
}

#[test]
fn replays_through_the_terminal_client() {
    let mut server = TestServer::start(&Backend::from_env());
    server.import_demo_roster();
    let dir = tempfile::tempdir().unwrap();
    let device = Device {
        dir: dir.path(),
        server: server.url(),
    };
    for l in [
        SCHOOL_ADMIN,
        PARENT_ONE_CHILD,
        STUDENT_MAIN_1A,
        LEAD_TEACHER,
    ] {
        login(&device, l);
    }
    let admin = ["--account", SCHOOL_ADMIN];
    let parent = ["--account", PARENT_ONE_CHILD];
    let student = ["--account", STUDENT_MAIN_1A];

    // A lesson of 三年级(1)班 tomorrow, and its recording uploaded by the lead teacher.
    let start = (Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let scheduled = device
        .ok(&[
            "lessons",
            "schedule",
            "--class",
            CLASS_1,
            "--subject",
            "语文",
            "--title",
            "古诗两首",
            "--start",
            &start,
            "--mode",
            "interactive",
            "--json",
        ])
        .json();
    let lesson = as_str(&scheduled["lessons"][0]["id"]).to_owned();
    let file = recording(dir.path());
    let uploaded = device
        .ok(&["replays", "upload", &file, "--lesson", &lesson, "--json"])
        .json();
    let id = as_str(&uploaded["id"]).to_owned();
    assert_eq!(uploaded["lesson_id"], lesson.as_str());
    assert_eq!(uploaded["title"], "古诗两首");
    assert_eq!(uploaded["source"], "upload");
    // A file that is not there is a usage error, and nothing is sent.
    device.expect(
        7,
        &["replays", "upload", "/no/such.mp4", "--lesson", &lesson],
    );

    // The school admin sees it once transcoded.
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        device.ok(&with(&admin, &["sync"]));
        let shown = device.run(&with(&admin, &["replays", "show", &id, "--json"]));
        if shown.code == 0 {
            let status = shown.json()["status"].clone();
            if status == "pending_review" {
                break;
            }
            assert_eq!(status, "processing", "{}", shown.stdout);
        }
        assert!(Instant::now() < deadline, "still not transcoded");
        std::thread::sleep(Duration::from_millis(500));
    }
    // A rejection needs a reason: refused on the device, the replay still waits.
    device.expect(7, &with(&admin, &["replays", "review", &id, "reject"]));
    let shown = device
        .ok(&with(&admin, &["replays", "show", &id, "--json"]))
        .json();
    assert_eq!(shown["status"], "pending_review");
    // A teacher is no reviewer.
    device.expect(5, &["replays", "review", &id, "approve"]);
    let approved = device
        .ok(&with(
            &admin,
            &["replays", "review", &id[..8], "approve", "--json"],
        ))
        .json();
    assert_eq!(approved["status"], "approved");
    assert_eq!(approved["review"]["approved"], true);

    // The parent lists it under their child (by the child's login, signed in here).
    device.ok(&with(&parent, &["sync"]));
    let listed = device
        .ok(&with(
            &parent,
            &["replays", "list", "--child", STUDENT_MAIN_1A, "--json"],
        ))
        .json();
    let listed: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|v| as_str(&v["id"]))
        .collect();
    assert_eq!(listed, [id.as_str()]);
    let text = device.ok(&with(&parent, &["replays", "list"])).stdout;
    assert!(
        text.contains("古诗两首") && text.contains("approved"),
        "{text}"
    );

    // The student streams it and reports progress; the place is kept and sent.
    device.ok(&with(&student, &["sync"]));
    let play = device
        .ok(&with(&student, &["replays", "play", &id, "--json"]))
        .json();
    assert_eq!(play["local"], false);
    let url = as_str(&play["url"]);
    assert!(
        url.starts_with(&device.server) && url.contains("sig="),
        "{url}"
    );
    device.ok(&with(
        &student,
        &[
            "replays",
            "watch-progress",
            &id,
            "--position",
            "3",
            "--played",
            "3",
        ],
    ));
    let shown = device
        .ok(&with(&student, &["replays", "show", &id, "--json"]))
        .json();
    assert_eq!(shown["place"]["position_ms"], 3000);
    assert_eq!(shown["place"]["unsent_watched_ms"], 0);

    // Queued, paused, resumed to the end.
    let queued = device
        .ok(&with(
            &student,
            &["replays", "download", &id, "--detach", "--json"],
        ))
        .json();
    assert_eq!(queued["state"], "queued");
    assert_eq!(queued["rendition"], "low");
    let total = queued["bytes_total"].as_u64().unwrap();
    assert!(total > 0);
    let paused = device
        .ok(&with(&student, &["replays", "pause", &id]))
        .stdout;
    assert!(paused.contains("paused"), "{paused}");
    let storage = device
        .ok(&with(&student, &["replays", "storage", "--json"]))
        .json();
    assert_eq!(storage["reserved_bytes"], total);
    assert_eq!(storage["downloads"][0]["state"], "paused");
    let done = device
        .ok(&with(&student, &["replays", "resume", &id, "--json"]))
        .json();
    assert_eq!(done["state"], "done");
    assert_eq!(done["bytes_done"], total);
    let local = device
        .ok(&with(&student, &["replays", "play", &id, "--json"]))
        .json();
    assert_eq!(local["local"], true);
    assert_eq!(local["position_ms"], 3000);
    let path = as_str(&local["path"]).to_owned();
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .starts_with("#EXTM3U")
    );

    // The cap, then the download deleted: its files go, the cap is free again.
    let capped = device
        .ok(&with(
            &student,
            &["replays", "storage", "--cap", "1", "--json"],
        ))
        .json();
    assert_eq!(capped["cap_bytes"], 1024 * 1024);
    device.expect(7, &with(&student, &["replays", "storage", "--cap", "0"]));
    device.ok(&with(&student, &["replays", "delete", &id]));
    assert!(!std::path::Path::new(&path).exists());
    let storage = device
        .ok(&with(&student, &["replays", "storage", "--json"]))
        .json();
    assert_eq!(storage["reserved_bytes"], 0);
    assert_eq!(storage["downloads"], serde_json::json!([]));
    device.expect(6, &with(&student, &["replays", "pause", &id]));
    device.expect(6, &with(&student, &["replays", "show", "no-such-replay"]));

    // With the server down a download cannot be followed: exit 3, and it stays queued for a
    // later `resume`; the server back, it goes on to the end.
    server.stop();
    let stuck = device.expect(3, &with(&student, &["replays", "download", &id]));
    assert!(stuck.stderr.contains("replays resume"), "{}", stuck.stderr);
    let storage = device
        .ok(&with(&student, &["replays", "storage", "--json"]))
        .json();
    assert_eq!(storage["downloads"][0]["state"], "queued");
    assert_eq!(storage["reserved_bytes"], total);
    server.restart();
    let done = device
        .ok(&with(&student, &["replays", "resume", &id, "--json"]))
        .json();
    assert_eq!(done["state"], "done");
}
