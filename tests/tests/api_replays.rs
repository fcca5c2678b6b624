//! Replays (异步点播) against the real server and a real ffmpeg: a teacher uploads a classroom
//! recording with tus, the server transcodes it (progress synced), a school admin reviews it
//! (学校审核), and only then its audience sees and plays it through signed URLs; watch
//! reports count once and the latest position wins; a corrupt file fails clearly; a job cut
//! by a restart finishes. Times are polled with generous deadlines, never asserted.

use std::{
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use lianxiao_tests::{
    Backend, Place, RosterBuilder, TestServer,
    api::{Api, Reply},
    logins::*,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const HOUR: i64 = 3_600_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The demo county, plus a school of another link group with one student.
fn server(env: &[(&str, &str)]) -> TestServer {
    let server = TestServer::start_with_env(&Backend::from_env(), env);
    server.import_demo_roster();
    let far = Place::class("远山小学", "main", "三年级(1)班", "3").in_link_group("远山联校");
    server
        .import_roster(
            &RosterBuilder::new()
                .student(far, OUTSIDER, "钱多多")
                .to_csv(),
        )
        .expect("the other link group imports");
    server
}

/// A student of another link group.
const OUTSIDER: &str = "s_qian09";

/// An MP4 of `secs` seconds (test picture and a tone), made with ffmpeg's lavfi.
fn mp4(dir: &Path, secs: u32) -> Vec<u8> {
    let path = dir.join(format!("lesson-{secs}s.mp4"));
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
    std::fs::read(&path).unwrap()
}

struct Lesson {
    id: String,
    lead: Api,
}

/// A 语文 lesson tomorrow from main class 1 to 石桥 (assistant a_zhou).
async fn lesson(base: &str) -> Lesson {
    let lead = Api::login(base, LEAD_TEACHER).await;
    let main_1 = Api::login(base, STUDENT_MAIN_1A).await.student_class();
    let zhou = Api::login(base, ASSISTANT_SHIQIAO).await;
    let start = (now_ms() / HOUR + 24) * HOUR;
    let r = lead
        .post(
            "/v1/lessons",
            json!({
                "subject": "语文", "title": "古诗两首", "starts_at": start,
                "ends_at": start + 40 * 60_000, "mode": "interactive", "lead_class_id": main_1,
                "receiving": [{"class_id": zhou.taught_classes()[0], "assistant_id": zhou.user_id()}],
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    Lesson {
        id: r.body["lessons"][0]["id"].as_str().unwrap().to_owned(),
        lead,
    }
}

fn recording_meta<'a>(lesson_id: &'a str, name: &'a str) -> [(&'a str, &'a str); 4] {
    [
        ("purpose", "recording"),
        ("kind", "video"),
        ("name", name),
        ("lesson_id", lesson_id),
    ]
}

/// Uploads `data` as a recording of the lesson and makes a replay of it; returns the replay.
async fn create(api: &Api, lesson_id: &str, data: &[u8], name: &str) -> Value {
    let upload = api.upload(data, &recording_meta(lesson_id, name)).await;
    let body = json!({"lesson_id": lesson_id, "upload_id": upload});
    let r = api
        .call(
            Method::POST,
            "/v1/replays",
            Some(body.clone()),
            Some(&upload),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["status"], "processing");
    assert_eq!(r.body["source"], "upload");
    // The phone's outbox resending is answered with the same replay.
    let again = api
        .call(Method::POST, "/v1/replays", Some(body), Some(&upload))
        .await;
    assert_eq!(again.body["id"], r.body["id"]);
    r.body
}

/// Polls the replay until it is no longer processing; returns it and the progress seen.
async fn processed(api: &Api, id: &str) -> (Value, Vec<u64>) {
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut seen = Vec::new();
    loop {
        let r = api.get(&format!("/v1/replays/{id}")).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        if r.body["status"] != "processing" {
            return (r.body, seen);
        }
        if let Some(p) = r.body["progress_percent"].as_u64()
            && seen.last() != Some(&p)
        {
            seen.push(p);
        }
        assert!(Instant::now() < deadline, "still processing: {:?}", r.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn review(api: &Api, id: &str, body: Value) -> Reply {
    api.post(&format!("/v1/replays/{id}/review"), body).await
}

async fn fetch(base: &str, url: &str, range: Option<&str>) -> (StatusCode, Vec<u8>) {
    let mut req = lianxiao_tests::api::http().get(format!("{base}{url}"));
    if let Some(r) = range {
        req = req.header("Range", r);
    }
    let res = req.send().await.unwrap();
    (res.status(), res.bytes().await.unwrap().to_vec())
}

/// What a real HLS player (ffprobe) finds behind a URL: `codec,type[,height]` lines.
fn ffprobe(url: &str) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-rw_timeout", "10000000", "-show_entries"])
        .args(["stream=codec_name,codec_type,height", "-of", "csv=p=0"])
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .expect("ffprobe comes with ffmpeg");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn replay_items<'a>(items: &'a [Value], id: &str) -> Vec<&'a Value> {
    items
        .iter()
        .filter(|i| {
            (i["type"] == "replay" && i["replay"]["id"] == id)
                || (i["type"] == "removed" && i["kind"] == "replay" && i["id"] == id)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uploaded_recording_is_transcoded_reviewed_then_shown_to_its_audience() {
    let server = server(&[("LIANXIAO_TRANSCODE_REALTIME", "true")]);
    let base = server.url();
    let Lesson {
        id: lesson_id,
        lead,
    } = lesson(&base).await;
    let student = Api::login(&base, STUDENT_MAIN_1A).await;
    let parent = Api::login(&base, PARENT_ONE_CHILD).await;
    let other_class = Api::login(&base, STUDENT_MAIN_2A).await;
    let outsider = Api::login(&base, OUTSIDER).await;
    let admin = Api::login(&base, SCHOOL_ADMIN).await;
    let data = mp4(server.data_dir(), 6);

    // Only the lesson's teachers upload its recording.
    let r = student
        .tus_create(data.len() as u64, &recording_meta(&lesson_id, "l.mp4"))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    let r = outsider
        .tus_create(data.len() as u64, &recording_meta(&lesson_id, "l.mp4"))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.body);

    let (_, student_cursor) = student.sync_all(None).await;
    let created = create(&lead, &lesson_id, &data, "第一课.mp4").await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["title"], "古诗两首");
    assert_eq!(created["owner"]["id"], lead.user_id());
    // Its progress reaches the teacher's phones through sync.
    let (items, _) = lead.sync_all(None).await;
    let item = replay_items(&items, &id);
    assert_eq!(item.len(), 1, "{items:?}");
    assert_eq!(item[0]["replay"]["status"], "processing");
    assert!(item[0]["replay"]["progress_percent"].is_u64());

    // While it is processing (and waiting for review) its audience does not see it.
    assert_eq!(
        student.get(&format!("/v1/replays/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
    let (replay, progress) = processed(&lead, &id).await;
    assert_eq!(replay["status"], "pending_review", "{replay:?}");
    assert!(
        progress.iter().any(|p| *p > 0 && *p < 100) && progress.windows(2).all(|w| w[0] < w[1]),
        "progress rises: {progress:?}"
    );
    assert!(replay.get("progress_percent").is_none());
    let duration = replay["duration_ms"].as_i64().unwrap();
    assert!((5_500..=6_500).contains(&duration), "{duration}");
    let renditions = replay["renditions"].as_array().unwrap();
    let names: Vec<_> = renditions
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["low", "audio"]);
    assert!(
        renditions
            .iter()
            .all(|r| r["size_bytes"].as_u64().unwrap() > 0)
    );
    assert_eq!(renditions[1]["audio_only"], true);
    assert!(
        renditions[0]["bandwidth"].as_u64().unwrap() > renditions[1]["bandwidth"].as_u64().unwrap()
    );
    assert_eq!(
        student.get(&format!("/v1/replays/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        student
            .post(&format!("/v1/replays/{id}/play"), json!({}))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let (items, _) = student.sync_all(Some(&student_cursor)).await;
    assert!(replay_items(&items, &id).is_empty(), "{items:?}");

    // The admin finds it waiting; the teacher may preview but not review it.
    let waiting = admin.get("/v1/replays?status=pending_review").await;
    assert_eq!(waiting.status, StatusCode::OK);
    assert!(
        waiting
            .body
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == id)
    );
    let preview = lead
        .post(&format!("/v1/replays/{id}/play"), json!({}))
        .await;
    assert_eq!(preview.status, StatusCode::OK, "{:?}", preview.body);
    let r = review(&lead, &id, json!({"approve": true})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    let r = review(&admin, &id, json!({"approve": false})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert_eq!(r.body["field"], "reason");
    let r = review(&outsider, &id, json!({"approve": true})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Approved: the lesson's classes see it, other classes and link groups do not.
    let r = review(&admin, &id, json!({"approve": true})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["status"], "approved");
    assert_eq!(r.body["review"]["approved"], true);
    for api in [&student, &parent] {
        let r = api.get(&format!("/v1/replays/{id}")).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    }
    for api in [&other_class, &outsider] {
        assert_eq!(
            api.get(&format!("/v1/replays/{id}")).await.status,
            StatusCode::NOT_FOUND
        );
    }
    let (items, cursor) = student.sync_all(Some(&student_cursor)).await;
    let mine = replay_items(&items, &id);
    assert_eq!(mine.len(), 1, "{items:?}");
    assert_eq!(mine[0]["replay"]["status"], "approved");

    // Playback: signed URLs, every playlist entry signed, a VOD playlist, segments by range.
    let ticket = student
        .post(&format!("/v1/replays/{id}/play"), json!({}))
        .await;
    assert_eq!(ticket.status, StatusCode::OK, "{:?}", ticket.body);
    let master = ticket.body["master_url"].as_str().unwrap().to_owned();
    let low = ticket.body["renditions"][0]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = fetch(&base, &low, None).await;
    assert_eq!(status, StatusCode::OK);
    let playlist = String::from_utf8(body).unwrap();
    assert!(playlist.contains("#EXT-X-ENDLIST"), "{playlist}");
    let segments: Vec<&str> = playlist
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert!(!segments.is_empty());
    assert!(segments.iter().all(|s| s.contains("sig=")), "{playlist}");
    let segment_url = format!(
        "{}{}",
        low.rsplit_once('/').unwrap().0,
        format_args!("/{}", segments[0])
    );
    let (status, part) = fetch(&base, &segment_url, Some("bytes=0-187")).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.len(), 188);
    assert_eq!(part[0], 0x47, "an MPEG-TS packet");
    let streams = ffprobe(&format!("{base}{master}"));
    assert!(
        streams.contains("h264,video,360") && streams.contains("aac,audio"),
        "{streams}"
    );
    let sig_at = master.find("sig=").unwrap() + 4;
    let mut tampered = master.clone().into_bytes();
    tampered[sig_at] = if tampered[sig_at] == b'0' { b'1' } else { b'0' };
    let tampered = String::from_utf8(tampered).unwrap();
    let unsigned = master.split_once('?').unwrap().0.to_owned();
    let other_user = master.replace(&student.user_id(), &lead.user_id());
    for url in [&tampered, &unsigned, &other_user] {
        assert_eq!(
            fetch(&base, url, None).await.0,
            StatusCode::FORBIDDEN,
            "{url}"
        );
    }

    // Shared with the link group: the other class sees it, another link group still not.
    let r = review(
        &admin,
        &id,
        json!({"approve": true, "visibility": "link_group"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["visibility"], "link_group");
    assert_eq!(
        other_class.get(&format!("/v1/replays/{id}")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        outsider.get(&format!("/v1/replays/{id}")).await.status,
        StatusCode::NOT_FOUND
    );

    // Rejected after all: it leaves its audience's phones; the teacher sees why.
    let (_, cursor2) = other_class.sync_all(None).await;
    let r = review(
        &admin,
        &id,
        json!({"approve": false, "reason": "画面里有学生的家庭住址"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["status"], "rejected");
    let (items, _) = student.sync_all(Some(&cursor)).await;
    let mine = replay_items(&items, &id);
    assert_eq!(mine.len(), 1, "{items:?}");
    assert_eq!(mine[0]["type"], "removed");
    let (items, _) = other_class.sync_all(Some(&cursor2)).await;
    assert_eq!(replay_items(&items, &id)[0]["type"], "removed");
    assert_eq!(
        student.get(&format!("/v1/replays/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
    let own = lead.get(&format!("/v1/replays/{id}")).await;
    assert_eq!(own.body["status"], "rejected");
    assert_eq!(own.body["review"]["reason"], "画面里有学生的家庭住址");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_reports_count_once_and_the_latest_position_wins() {
    let server = server(&[]);
    let base = server.url();
    let Lesson {
        id: lesson_id,
        lead,
    } = lesson(&base).await;
    let student = Api::login(&base, STUDENT_MAIN_1A).await;
    let classmate = Api::login(&base, STUDENT_MAIN_1B).await;
    let outsider = Api::login(&base, OUTSIDER).await;
    let admin = Api::login(&base, SCHOOL_ADMIN).await;
    // The assistant of the receiving class may upload the lesson's recording too.
    let assistant = Api::login(&base, ASSISTANT_SHIQIAO).await;
    let data = mp4(server.data_dir(), 2);
    let created = create(&assistant, &lesson_id, &data, "录播.mp4").await;
    let id = created["id"].as_str().unwrap().to_owned();
    let (replay, _) = processed(&lead, &id).await;
    assert_eq!(replay["status"], "pending_review", "{replay:?}");
    assert_eq!(
        review(&admin, &id, json!({"approve": true})).await.status,
        StatusCode::OK
    );

    let path = format!("/v1/replays/{id}/watch");
    let t = now_ms() - 60_000;
    let report = |position: i64, watched: i64, at: i64, offline: bool| json!({"position_ms": position, "watched_ms": watched, "at": at, "offline": offline});
    let r = student.post(&path, report(1_000, 1_000, t, false)).await;
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a key is required"
    );
    let first = student
        .call(
            Method::POST,
            &path,
            Some(report(1_000, 1_000, t, false)),
            Some("w1"),
        )
        .await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    let again = student
        .call(
            Method::POST,
            &path,
            Some(report(1_000, 1_000, t, false)),
            Some("w1"),
        )
        .await;
    assert_eq!(again.body, first.body);
    assert_eq!(
        again.body["watched_ms"], 1_000,
        "the same report counts once"
    );
    let reused = student
        .call(
            Method::POST,
            &path,
            Some(report(9, 9, t, false)),
            Some("w1"),
        )
        .await;
    assert_eq!(reused.status, StatusCode::CONFLICT);
    // An older report from another device adds its time but not its position.
    let r = student
        .call(
            Method::POST,
            &path,
            Some(report(500, 500, t - 10_000, false)),
            Some("w2"),
        )
        .await;
    assert_eq!(
        (
            r.body["position_ms"].as_i64(),
            r.body["watched_ms"].as_i64()
        ),
        (Some(1_000), Some(1_500))
    );
    // Watched offline from a download, reported later: a newer position.
    let r = student
        .call(
            Method::POST,
            &path,
            Some(report(1_800, 2_000, t + 1_000, true)),
            Some("w3"),
        )
        .await;
    assert_eq!(
        (
            r.body["position_ms"].as_i64(),
            r.body["watched_ms"].as_i64()
        ),
        (Some(1_800), Some(3_500))
    );
    let r = outsider
        .call(Method::POST, &path, Some(report(1, 1, t, false)), Some("x"))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // The position reaches the student's devices only.
    let (items, _) = student.sync_all(None).await;
    let position = items
        .iter()
        .find(|i| i["type"] == "watch_position" && i["position"]["replay_id"] == id)
        .unwrap_or_else(|| panic!("{items:?}"));
    assert_eq!(position["position"]["position_ms"], 1_800);
    let (items, _) = classmate.sync_all(None).await;
    assert!(
        !items.iter().any(|i| i["type"] == "watch_position"),
        "{items:?}"
    );

    // Withdrawn, the replay and the student's place in it leave their phone; approved again,
    // both come back.
    let (_, cursor) = student.sync_all(None).await;
    let r = review(&admin, &id, json!({"approve": false, "reason": "声音太小"})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let (items, cursor) = student.sync_all(Some(&cursor)).await;
    let mut removed: Vec<&str> = items
        .iter()
        .filter(|i| i["type"] == "removed" && i["id"] == id)
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    removed.sort();
    assert_eq!(removed, ["replay", "watch_position"], "{items:?}");
    assert_eq!(
        review(&admin, &id, json!({"approve": true})).await.status,
        StatusCode::OK
    );
    let (items, _) = student.sync_all(Some(&cursor)).await;
    let mut back: Vec<&str> = items
        .iter()
        .map(|i| i["type"].as_str().unwrap())
        .filter(|t| *t == "replay" || *t == "watch_position")
        .collect();
    back.sort();
    assert_eq!(back, ["replay", "watch_position"], "{items:?}");

    // Who watched how much: for the lesson's teachers and admins.
    let views = lead.get(&format!("/v1/replays/{id}/views")).await;
    assert_eq!(views.status, StatusCode::OK, "{:?}", views.body);
    let views = views.body.as_array().unwrap();
    assert_eq!(views.len(), 1);
    assert_eq!(views[0]["user"]["id"], student.user_id());
    assert_eq!(views[0]["watched_ms"], 3_500);
    assert_eq!(views[0]["offline_ms"], 2_000);
    assert_eq!(views[0]["class_id"], student.student_class());
    assert_eq!(
        admin.get(&format!("/v1/replays/{id}/views")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        student.get(&format!("/v1/replays/{id}/views")).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        outsider
            .get(&format!("/v1/replays/{id}/views"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_recording_fails_as_unreadable_and_a_sound_only_one_gets_audio_only() {
    let server = server(&[]);
    let base = server.url();
    let Lesson {
        id: lesson_id,
        lead,
    } = lesson(&base).await;
    let admin = Api::login(&base, SCHOOL_ADMIN).await;
    let junk: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let created = create(&lead, &lesson_id, &junk, "坏文件.mp4").await;
    let id = created["id"].as_str().unwrap().to_owned();
    let (replay, _) = processed(&lead, &id).await;
    assert_eq!(replay["status"], "failed", "{replay:?}");
    assert_eq!(replay["problem"], "unreadable");
    assert!(replay["renditions"].as_array().unwrap().is_empty());
    assert!(!server.data_dir().join("replays").join(&id).exists());
    let r = lead
        .post(&format!("/v1/replays/{id}/play"), json!({}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = review(&admin, &id, json!({"approve": true})).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    // Every replay route is in the OpenAPI document the core's developers read.
    let doc = lead.get("/v1/openapi.json").await;
    let paths = doc.body["paths"].as_object().unwrap();
    for (path, method) in [
        ("/v1/replays", "get"),
        ("/v1/replays", "post"),
        ("/v1/replays/{id}", "get"),
        ("/v1/replays/{id}/review", "post"),
        ("/v1/replays/{id}/play", "post"),
        ("/v1/replays/{id}/watch", "post"),
        ("/v1/replays/{id}/views", "get"),
        ("/v1/replays/{id}/hls/{file}", "get"),
        ("/v1/replays/{id}/hls/{rendition}/{file}", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path}"
        );
    }

    // A sound-only recording gets the audio rendition only.
    let m4a = server.data_dir().join("lecture.m4a");
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args([
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=330:duration=2",
            "-c:a",
            "aac",
        ])
        .arg(&m4a)
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let upload = lead
        .upload(
            &std::fs::read(&m4a).unwrap(),
            &[
                ("purpose", "recording"),
                ("kind", "audio"),
                ("name", "讲座.m4a"),
                ("lesson_id", &lesson_id),
            ],
        )
        .await;
    let r = lead
        .post(
            "/v1/replays",
            json!({"lesson_id": lesson_id, "upload_id": upload}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let (replay, _) = processed(&lead, r.body["id"].as_str().unwrap()).await;
    assert_eq!(replay["status"], "pending_review", "{replay:?}");
    let renditions = replay["renditions"].as_array().unwrap();
    assert_eq!(renditions.len(), 1, "{replay:?}");
    assert_eq!(renditions[0]["name"], "audio");
    assert_eq!(renditions[0]["audio_only"], true);

    // An upload is made into one replay only.
    let upload = lead
        .upload(&junk, &recording_meta(&lesson_id, "x.mp4"))
        .await;
    let body = json!({"lesson_id": lesson_id, "upload_id": upload});
    assert_eq!(
        lead.post("/v1/replays", body.clone()).await.status,
        StatusCode::CREATED
    );
    let r = lead.post("/v1/replays", body).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert_eq!(r.body["field"], "upload_id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_mid_transcode_finishes_the_job() {
    let mut server = server(&[("LIANXIAO_TRANSCODE_REALTIME", "true")]);
    let base = server.url();
    let Lesson {
        id: lesson_id,
        lead,
    } = lesson(&base).await;
    let data = mp4(server.data_dir(), 12);
    let created = create(&lead, &lesson_id, &data, "长课.mp4").await;
    let id = created["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let r = lead.get(&format!("/v1/replays/{id}")).await;
        assert_eq!(
            r.body["status"], "processing",
            "finished before the restart: {:?}",
            r.body
        );
        if r.body["progress_percent"].as_u64().unwrap_or(0) >= 10 {
            break;
        }
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.restart();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let (replay, _) = processed(&lead, &id).await;
    assert_eq!(replay["status"], "pending_review", "{replay:?}");
    let duration = replay["duration_ms"].as_i64().unwrap();
    assert!((11_500..=12_500).contains(&duration), "{duration}");
    let ticket = lead
        .post(&format!("/v1/replays/{id}/play"), json!({}))
        .await;
    let low = ticket.body["renditions"][0]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, body) = fetch(&base, &low, None).await;
    let playlist = String::from_utf8(body).unwrap();
    assert!(playlist.contains("#EXT-X-ENDLIST"), "{playlist}");
    let streams = ffprobe(&format!(
        "{base}{}",
        ticket.body["master_url"].as_str().unwrap()
    ));
    assert!(streams.contains("h264,video"), "{streams}");
}

/// A LiveKit egress that wrote the room's recording to this server's disk: its
/// `egress_ended` webhook makes a replay (source `egress`, owned by the lead) that goes
/// through the same transcoding and review; a recording elsewhere (object storage) does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_egress_recording_on_this_server_becomes_a_replay() {
    use base64::Engine;
    use livekit_api::access_token::AccessToken;
    use sha2::Digest;
    const KEY: &str = "APIlianxiaoTest";
    const SECRET: &str = "a-test-secret-that-is-long-enough-for-hs256";
    // No LiveKit server runs here: only its webhooks are sent, signed with the key pair.
    let server = server(&[
        ("LIANXIAO_LIVEKIT_URL", "ws://127.0.0.1:9"),
        ("LIVEKIT_API_KEY", KEY),
        ("LIVEKIT_API_SECRET", SECRET),
    ]);
    let base = server.url();
    let Lesson {
        id: lesson_id,
        lead,
    } = lesson(&base).await;
    let admin = Api::login(&base, SCHOOL_ADMIN).await;
    let student = Api::login(&base, STUDENT_MAIN_1A).await;
    let file = server.data_dir().join("egress-room.mp4");
    std::fs::write(&file, mp4(server.data_dir(), 3)).unwrap();
    let room = format!("lesson-{lesson_id}");
    let send = |id: &str, location: &str| {
        let body = json!({
            "event": "egress_ended", "id": id, "createdAt": now_ms() / 1000,
            "room": {"name": room},
            "egressInfo": {"roomName": room, "fileResults": [{"location": location}]},
        })
        .to_string();
        let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&body));
        let token = AccessToken::with_api_key(KEY, SECRET)
            .with_sha256(&hash)
            .to_jwt()
            .unwrap();
        let base = base.clone();
        async move {
            let status = lianxiao_tests::api::http()
                .post(format!("{base}/v1/livekit/webhook"))
                .header("content-type", "application/webhook+json")
                .header("authorization", token)
                .body(body)
                .send()
                .await
                .unwrap()
                .status();
            assert!(status.is_success(), "{status}");
        }
    };
    send("EV_remote", "s3://recordings/room.mp4").await;
    send("EV_local", &file.display().to_string()).await;
    send("EV_local", &file.display().to_string()).await;

    let deadline = Instant::now() + Duration::from_secs(120);
    let replays = loop {
        let r = lead
            .get(&format!("/v1/replays?lesson_id={lesson_id}"))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        if !r.body.as_array().unwrap().is_empty() {
            break r.body;
        }
        assert!(Instant::now() < deadline, "no replay from the egress");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(replays[0]["source"], "egress");
    assert_eq!(replays[0]["owner"]["id"], lead.user_id());
    let id = replays[0]["id"].as_str().unwrap().to_owned();
    let (replay, _) = processed(&lead, &id).await;
    assert_eq!(replay["status"], "pending_review", "{replay:?}");
    assert!(file.exists(), "LiveKit's file is left alone");
    assert_eq!(
        review(&admin, &id, json!({"approve": true})).await.status,
        StatusCode::OK
    );
    assert_eq!(
        student.get(&format!("/v1/replays/{id}")).await.status,
        StatusCode::OK
    );
    // Later looks find nothing more: one replay for the one local recording.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let r = lead
        .get(&format!("/v1/replays?lesson_id={lesson_id}"))
        .await;
    assert_eq!(r.body.as_array().unwrap().len(), 1, "{:?}", r.body);
}

/// A broadcast lesson's push is kept as it came; when the lesson ends (here LiveKit's
/// `room_finished`, signed; otherwise its window closing) the recording becomes a replay of
/// source `broadcast`, transcoded and waiting for review like an upload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_lessons_push_becomes_its_replay_when_it_ends() {
    use base64::Engine;
    use livekit_api::access_token::AccessToken;
    use sha2::Digest;
    const KEY: &str = "APIlianxiaoTest";
    const SECRET: &str = "a-test-secret-that-is-long-enough-for-hs256";
    let rtmp_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ports = format!("{rtmp_port}-{rtmp_port}");
    let server = server(&[
        ("LIANXIAO_RTMP_LISTEN", "127.0.0.1"),
        ("LIANXIAO_RTMP_PORTS", &ports),
        ("LIANXIAO_HLS_SEGMENT_SECS", "1"),
        ("LIANXIAO_LIVEKIT_URL", "ws://127.0.0.1:9"),
        ("LIVEKIT_API_KEY", KEY),
        ("LIVEKIT_API_SECRET", SECRET),
    ]);
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let main_1 = Api::login(&base, STUDENT_MAIN_1A).await.student_class();
    let start = now_ms() + 5 * 60_000;
    let r = lead
        .post(
            "/v1/lessons",
            json!({
                "subject": "家庭教育", "title": "怎样陪孩子读书", "mode": "broadcast",
                "starts_at": start, "ends_at": start + 40 * 60_000, "lead_class_id": main_1,
                "receiving": [],
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let lesson_id = r.body["lessons"][0]["id"].as_str().unwrap().to_owned();
    let r = lead.get(&format!("/v1/lessons/{lesson_id}/ingest")).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let url = r.body["publish_url"].as_str().unwrap().to_owned();

    // Push a few seconds (again if the listener was not up yet) until the lesson went live.
    let push = || {
        Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-re"])
            .args(["-f", "lavfi", "-i", "testsrc=size=640x360:rate=25"])
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
            .args([
                "-t",
                "5",
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-g",
                "25",
            ])
            .args(["-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "flv", &url])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ffmpeg is installed")
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut encoder = push();
    let mut went_live = false;
    loop {
        let status = lead.get(&format!("/v1/lessons/{lesson_id}")).await.body["status"].clone();
        went_live |= status == "live";
        if let Some(exit) = encoder.try_wait().unwrap() {
            if went_live {
                assert!(exit.success());
                break;
            }
            encoder = push();
        }
        assert!(Instant::now() < deadline, "{}", server.log_tail(30));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The room (and so the lesson) finishes.
    let room = format!("lesson-{lesson_id}");
    let body = json!({"event": "room_finished", "id": "EV_end", "createdAt": now_ms() / 1000,
        "room": {"name": room}})
    .to_string();
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&body));
    let token = AccessToken::with_api_key(KEY, SECRET)
        .with_sha256(&hash)
        .to_jwt()
        .unwrap();
    let status = lianxiao_tests::api::http()
        .post(format!("{base}/v1/livekit/webhook"))
        .header("content-type", "application/webhook+json")
        .header("authorization", token)
        .body(body)
        .send()
        .await
        .unwrap()
        .status();
    assert!(status.is_success(), "{status}");

    let deadline = Instant::now() + Duration::from_secs(120);
    let replays = loop {
        let r = lead
            .get(&format!("/v1/replays?lesson_id={lesson_id}"))
            .await;
        if !r.body.as_array().unwrap().is_empty() {
            break r.body;
        }
        assert!(
            Instant::now() < deadline,
            "no replay of the broadcast:\n{}",
            server.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(replays[0]["source"], "broadcast");
    assert_eq!(replays[0]["title"], "怎样陪孩子读书");
    let id = replays[0]["id"].as_str().unwrap().to_owned();
    let (replay, _) = processed(&lead, &id).await;
    assert_eq!(replay["status"], "pending_review", "{replay:?}");
    let duration = replay["duration_ms"].as_i64().unwrap();
    assert!(
        duration >= 2_000,
        "most of the five seconds pushed: {duration}"
    );
    let names: Vec<_> = replay["renditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["low", "audio"]);
}

/// Two servers on one PostgreSQL: a job runs on one of them only, and when that server dies
/// mid-transcode the other takes the job up and finishes it. (PostgreSQL only.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_server_takes_up_the_job_of_one_that_died() {
    let backend = Backend::from_env();
    if !backend.is_postgres() {
        eprintln!("skipped: several servers need PostgreSQL (LIANXIAO_TEST_BACKEND=postgres)");
        return;
    }
    let mut first = server(&[("LIANXIAO_TRANSCODE_REALTIME", "true")]);
    let second = first.second_instance();
    let Lesson {
        id: lesson_id,
        lead,
    } = lesson(&first.url()).await;
    let data = mp4(first.data_dir(), 10);
    let created = create(&lead, &lesson_id, &data, "两台服务器.mp4").await;
    let id = created["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let r = lead.get(&format!("/v1/replays/{id}")).await;
        assert_eq!(r.body["status"], "processing", "{:?}", r.body);
        if r.body["progress_percent"].as_u64().unwrap_or(0) >= 10 {
            break;
        }
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    first.stop();
    let lead = Api::login(&second.url(), LEAD_TEACHER).await;
    let (replay, _) = processed(&lead, &id).await;
    assert_eq!(replay["status"], "pending_review", "{replay:?}");
    assert_eq!(replay["renditions"].as_array().unwrap().len(), 2);
}
