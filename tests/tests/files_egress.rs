//! A signed `egress_ended` webhook names the file LiveKit's egress wrote; the server reads it
//! with ffprobe and ffmpeg. Signed is not enough: only a regular file under the configured
//! egress directory (or the data directory) is taken. `/etc/passwd`, a `../` path, a relative
//! path and a symlink out of the egress directory are refused with 422 before anything is
//! written (the same event id is taken afterwards), and ffprobe never sees them.

use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use lianxiao_tests::livekit_fakes::{self, deliver};
use lianxiao_tests::{Backend, TestServer, api::Api, logins::*};
use reqwest::StatusCode;
use serde_json::json;

const HOUR: i64 = 3600 * 1000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A two-second MP4 (test picture and a tone), as an egress would leave.
fn mp4(path: &Path) {
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args([
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=160x120:rate=10:duration=2",
        ])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:duration=2"])
        .args(["-c:v", "libx264", "-c:a", "aac", "-shortest"])
        .arg(path)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success());
}

fn egress_ended(id: &str, room: &str, location: &str) -> serde_json::Value {
    json!({
        "event": "egress_ended", "id": id, "createdAt": now_ms() / 1000,
        "room": {"name": room},
        "egressInfo": {"roomName": room, "fileResults": [{"location": location}]},
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_egress_webhook_naming_a_file_outside_the_egress_directory_is_refused() {
    let outside = tempfile::tempdir().unwrap();
    let egress_dir = outside.path().join("egress");
    std::fs::create_dir_all(&egress_dir).unwrap();
    // An ffprobe that notes every file it is asked to read, then reads it.
    let probe_log = outside.path().join("ffprobe.log");
    let ffprobe = outside.path().join("ffprobe");
    std::fs::write(
        &ffprobe,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\nexec ffprobe \"$@\"\n",
            probe_log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &ffprobe,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let mut env: Vec<(&str, String)> = livekit_fakes::server_env(9);
    env.push(("LIANXIAO_EGRESS_DIR", egress_dir.display().to_string()));
    env.push(("LIANXIAO_FFPROBE", ffprobe.display().to_string()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = TestServer::start_with_env(&Backend::from_env(), &env);
    server.import_demo_roster();
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let main_1 = Api::login(&base, STUDENT_MAIN_1A).await.student_class();
    let start = (now_ms() / HOUR + 24) * HOUR;
    let r = lead
        .post(
            "/v1/lessons",
            json!({
                "subject": "语文", "title": "古诗两首", "starts_at": start,
                "ends_at": start + 40 * 60_000, "mode": "interactive", "lead_class_id": main_1,
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let lesson_id = r.body["lessons"][0]["id"].as_str().unwrap().to_owned();
    let room = format!("lesson-{lesson_id}");

    // A symlink inside the egress directory that leads out of it.
    let link = egress_dir.join("room.mp4");
    std::os::unix::fs::symlink("/etc/passwd", &link).unwrap();
    let data = server.data_dir().display().to_string();
    let egress = egress_dir.display().to_string();
    let refused = [
        "/etc/passwd".to_owned(),
        "file:///etc/passwd".to_owned(),
        format!("{egress}/../../../../../../etc/passwd"),
        format!("{data}/../../../../../../etc/passwd"),
        "../../../../etc/passwd".to_owned(),
        "etc/passwd".to_owned(),
        link.display().to_string(),
        format!("{egress}/no-such-file.mp4"),
        egress.clone(),
    ];
    for location in &refused {
        let status = deliver(&base, &egress_ended("EV_1", &room, location)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{location}");
    }

    // A real recording in the egress directory, under the same event id: the refusals
    // recorded nothing, not even the event.
    let good = egress_dir.join("good.mp4");
    mp4(&good);
    let status = deliver(
        &base,
        &egress_ended("EV_1", &room, &good.display().to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // Transcoding runs in the background on a loaded machine: minutes, not seconds.
    let deadline = Instant::now() + Duration::from_secs(300);
    let replays = loop {
        let r = lead
            .get(&format!("/v1/replays?lesson_id={lesson_id}"))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let replays = r.body.as_array().unwrap().clone();
        if !replays.is_empty() && replays[0]["status"] != "processing" {
            break replays;
        }
        assert!(Instant::now() < deadline, "no replay: {:?}", r.body);
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(replays.len(), 1, "{replays:?}");
    assert_eq!(replays[0]["status"], "pending_review", "{replays:?}");
    let probed = std::fs::read_to_string(&probe_log).unwrap_or_default();
    assert!(!probed.contains("passwd"), "{probed}");
    assert!(
        probed.lines().all(|l| l.contains("good.mp4")),
        "ffprobe read only the egress's file: {probed}"
    );
}
