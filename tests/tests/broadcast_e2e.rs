//! Broadcast lessons (同步直播) end to end with a real ffmpeg: the lead's encoder pushes RTMP
//! with the lesson's stream key, the server packages it into HLS, a viewer follows the
//! signed playlists and segments. The push drops (the lesson is Interrupted) and comes back
//! (Live again, the same playlists continue); a wrong key, a tampered or an expired
//! signature get nothing.

use std::{
    collections::BTreeSet,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use lianxiao_server::broadcast::sign::UrlSigner;
use lianxiao_tests::broadcast::{
    fetch, follow, free_port, hls_secret, push, push_until_live, resolve, status, wait_status,
};
use lianxiao_tests::{Backend, TestServer, api::Api, logins::*};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const MINUTE: i64 = 60_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_lesson_reaches_viewers_on_signed_hls_and_survives_a_dropped_push() {
    let rtmp_port = free_port();
    let ports = format!("{rtmp_port}-{rtmp_port}");
    let mut server = TestServer::start_with_env(
        &Backend::from_env(),
        &[
            ("LIANXIAO_RTMP_LISTEN", "127.0.0.1"),
            ("LIANXIAO_RTMP_PORTS", &ports),
            ("LIANXIAO_HLS_SEGMENT_SECS", "1"),
        ],
    );
    server.import_demo_roster();
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let student = Api::login(&base, STUDENT_MAIN_1A).await;
    let zhou = Api::login(&base, ASSISTANT_SHIQIAO).await;
    let main_1 = student.student_class();
    let shiqiao = zhou.taught_classes()[0].clone();
    let start = now_ms() + 5 * MINUTE;
    let r = lead
        .post(
            "/v1/lessons",
            json!({
                "subject": "家庭教育", "title": "怎样陪孩子读书", "mode": "broadcast",
                "starts_at": start, "ends_at": start + 40 * MINUTE, "lead_class_id": main_1,
                "receiving": [{"class_id": shiqiao, "assistant_id": zhou.user_id()}],
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let id = r.body["lessons"][0]["id"].as_str().unwrap().to_owned();

    // The viewer's ticket: a signed master playlist and each rendition, no LiveKit.
    let r = student
        .call(Method::POST, &format!("/v1/lessons/{id}/join"), None, None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["mode"], "broadcast");
    assert!(r.body.get("livekit").is_none());
    let hls = r.body["hls"].clone();
    let master_url = hls["master_url"].as_str().unwrap().to_owned();
    assert!(master_url.starts_with(&format!("/v1/hls/{id}/master.m3u8?")));
    let names: Vec<&str> = hls["renditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["low", "audio"]);
    assert_eq!(hls["renditions"][1]["audio_only"], true);
    assert_eq!(hls["expires_at"], (start + 50 * MINUTE) / 1000 * 1000);

    // Only the lead gets the stream key.
    let ingest_path = format!("/v1/lessons/{id}/ingest");
    assert_eq!(
        student.get(&ingest_path).await.status,
        StatusCode::FORBIDDEN
    );
    let r = lead.get(&ingest_path).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        r.body["rtmp_url"],
        format!("rtmp://127.0.0.1:{rtmp_port}/live").as_str()
    );
    let key = r.body["stream_key"].as_str().unwrap().to_owned();
    let publish_url = r.body["publish_url"].as_str().unwrap().to_owned();
    assert_eq!(
        publish_url,
        format!("rtmp://127.0.0.1:{rtmp_port}/live/{key}")
    );
    assert_eq!(
        lead.get(&ingest_path).await.body["stream_key"],
        key.as_str()
    );
    // Each open ingest has a port of its own; with the only one taken, another lesson waits.
    let tomorrow = start + 24 * 60 * MINUTE;
    let r = lead
        .post(
            "/v1/lessons",
            json!({
                "subject": "家庭教育", "title": "怎样陪孩子写字", "mode": "broadcast",
                "starts_at": tomorrow, "ends_at": tomorrow + 40 * MINUTE, "lead_class_id": main_1,
            }),
        )
        .await;
    let later = r.body["lessons"][0]["id"].as_str().unwrap().to_owned();
    let r = lead.get(&format!("/v1/lessons/{later}/ingest")).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", r.body);

    // A push with another key is cut off and publishes nothing (tried again until the
    // listener is up and has refused it).
    let wrong_url = format!("rtmp://127.0.0.1:{rtmp_port}/live/not-the-key");
    let t = Instant::now();
    while !server.log_tail(200).contains("wrong stream key") {
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "{}",
            server.log_tail(40)
        );
        let mut wrong = push(&wrong_url, 3);
        let tried = Instant::now();
        while wrong.try_wait().unwrap().is_none() && tried.elapsed() < Duration::from_secs(6) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = wrong.kill();
        let _ = wrong.wait();
    }
    assert_eq!(status(&lead, &id).await, "scheduled");
    assert_eq!(fetch(&base, &master_url).await.0, StatusCode::NOT_FOUND);

    // The push arrives: the lesson goes live for everyone in it.
    let (_, cursor) = student.sync_all(None).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut first = push_until_live(&publish_url, &student, &id, &server).await;
    let (s, master) = fetch(&base, &master_url).await;
    assert_eq!(s, StatusCode::OK);
    let master = String::from_utf8(master).unwrap();
    assert!(master.contains("#EXT-X-STREAM-INF"), "{master}");
    let query = master_url.split_once('?').unwrap().1;
    let low_uri = master
        .lines()
        .find(|l| l.starts_with("low/index.m3u8"))
        .unwrap_or_else(|| panic!("the low rendition: {master}"));
    assert_eq!(
        low_uri,
        format!("low/index.m3u8?{query}"),
        "signed like the master"
    );
    let low_url = resolve(&master_url, low_uri);
    assert_eq!(low_url, hls["renditions"][0]["url"].as_str().unwrap());
    let audio_url = hls["renditions"][1]["url"].as_str().unwrap().to_owned();
    let mut seen = BTreeSet::new();
    follow(&base, &low_url, 4, &mut seen).await;
    assert!(seen.len() >= 3, "segments of the first push: {seen:?}");
    let mut audio_seen = BTreeSet::new();
    follow(&base, &audio_url, 0, &mut audio_seen).await;
    assert!(!audio_seen.is_empty());
    // A real HLS player (ffprobe) opens the signed master URL and follows its entries.
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-rw_timeout", "10000000", "-show_entries"])
        .args(["stream=codec_type,codec_name", "-of", "csv=p=0"])
        .arg(format!("{base}{master_url}"))
        .stdin(Stdio::null())
        .output()
        .expect("ffprobe comes with ffmpeg");
    let streams = String::from_utf8_lossy(&probe.stdout);
    assert!(
        streams.contains("h264,video") && streams.contains("aac,audio"),
        "{streams}\n{}",
        String::from_utf8_lossy(&probe.stderr)
    );

    // Tampered, unsigned, stretched or expired URLs are refused.
    let path = master_url.split_once('?').unwrap().0.to_owned();
    let sig_at = master_url.find("sig=").unwrap() + 4;
    let mut tampered = master_url.clone().into_bytes();
    tampered[sig_at] = if tampered[sig_at] == b'0' { b'1' } else { b'0' };
    let tampered = String::from_utf8(tampered).unwrap();
    let other_user = master_url.replace(&student.user_id(), &lead.user_id());
    let exp: i64 = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("exp="))
        .unwrap()
        .parse()
        .unwrap();
    let stretched = master_url.replace(&format!("exp={exp}"), &format!("exp={}", exp + 3600));
    let other_lesson = master_url.replace(&id, "0000000000000000");
    for url in [&tampered, &path, &other_user, &stretched, &other_lesson] {
        assert_eq!(fetch(&base, url).await.0, StatusCode::FORBIDDEN, "{url}");
    }
    let signer = UrlSigner::new(hls_secret(&server).await);
    let past = signer.grant(&id, &student.user_id(), now_ms() / 1000 - 1);
    let expired = format!("{path}?{}", past.query());
    assert_eq!(fetch(&base, &expired).await.0, StatusCode::FORBIDDEN);
    let fresh = signer.grant(&id, &student.user_id(), now_ms() / 1000 + 60);
    assert_eq!(
        fetch(&base, &format!("{path}?{}", fresh.query())).await.0,
        StatusCode::OK,
        "the same URL before its expiry"
    );

    // The encoder drops mid-lesson: Interrupted, and everyone's phone hears of it.
    first.kill().unwrap();
    first.wait().unwrap();
    wait_status(&lead, &id, "interrupted", Duration::from_secs(15)).await;
    let (items, _) = student.sync_all(Some(&cursor)).await;
    assert!(
        items.iter().any(|i| {
            let text = i.to_string();
            text.contains(&id) && text.contains("\"interrupted\"")
        }),
        "the interruption reached the student through sync: {items:?}"
    );
    let before: u64 = *seen.iter().next_back().unwrap();

    // It pushes again: Live, and the same playlist carries on after a discontinuity.
    let mut second = push_until_live(&publish_url, &student, &id, &server).await;
    let p = follow(&base, &low_url, 3, &mut seen).await;
    assert!(
        p.discontinuity,
        "the resumed push is marked as a discontinuity"
    );
    let after: u64 = *seen.iter().next_back().unwrap();
    assert!(
        after > before + 1,
        "segments continue: {before} then {after}"
    );

    // The server dies mid-push: its ffmpeg goes with it (the port is free again), and the
    // restarted server listens on the same address for the same key.
    server.stop();
    second.kill().unwrap();
    second.wait().unwrap();
    server.restart();
    assert_eq!(
        status(&lead, &id).await,
        "interrupted",
        "no push reaches a fresh listener"
    );
    let mut third = push_until_live(&publish_url, &student, &id, &server).await;
    follow(&base, &low_url, 2, &mut seen).await;
    assert!(*seen.iter().next_back().unwrap() > after);
    let all: Vec<u64> = seen.iter().copied().collect();
    assert!(
        all.windows(2).all(|w| w[1] == w[0] + 1),
        "one numbering across every push: {all:?}"
    );

    // Watching counted as attendance (from the segments the student fetched).
    let r = lead.get(&format!("/v1/lessons/{id}/attendance")).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let me = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["user"]["id"] == student.user_id().as_str())
        .cloned()
        .unwrap_or(Value::Null);
    let watched = &me["intervals"][0];
    assert_eq!(watched["source"], "hls", "{:?}", r.body);
    // From the first fetch to the last one written (at most 10 s behind).
    assert!(watched["joined_at"].as_i64().unwrap() <= watched["left_at"].as_i64().unwrap());

    // The teacher cancels the lesson while the push is still coming: it is cut off.
    let r = lead
        .post(
            &format!("/v1/lessons/{id}/cancel"),
            json!({"reason": "停电"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let t = Instant::now();
    while third.try_wait().unwrap().is_none() {
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "the push to a cancelled lesson goes on"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(status(&lead, &id).await, "cancelled");
    assert_eq!(lead.get(&ingest_path).await.status, StatusCode::CONFLICT);
}

/// The same ingest over SRT, what newer recording systems push over lossy links: the lead's
/// ticket gives an `srt://` address whose passphrase is the stream key; a push with another
/// passphrase is refused in SRT's handshake; the push is packaged into the same signed HLS,
/// drops (Interrupted) and comes back (Live, the same playlists continue), and a cancelled
/// lesson cuts it off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_srt_push_with_the_lesson_key_goes_live_and_resumes_on_the_same_playlists() {
    let port = free_port();
    let ports = format!("{port}-{port}");
    let server = TestServer::start_with_env(
        &Backend::from_env(),
        &[
            ("LIANXIAO_RTMP_LISTEN", "127.0.0.1"),
            ("LIANXIAO_SRT_LISTEN", "127.0.0.1"),
            ("LIANXIAO_RTMP_PORTS", &ports),
            ("LIANXIAO_HLS_SEGMENT_SECS", "1"),
        ],
    );
    server.import_demo_roster();
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let student = Api::login(&base, STUDENT_MAIN_1A).await;
    let start = now_ms() + 5 * MINUTE;
    let r = lead
        .post(
            "/v1/lessons",
            json!({
                "subject": "家庭教育", "title": "怎样陪孩子运动", "mode": "broadcast",
                "starts_at": start, "ends_at": start + 40 * MINUTE,
                "lead_class_id": student.student_class(),
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let id = r.body["lessons"][0]["id"].as_str().unwrap().to_owned();
    let r = student
        .call(Method::POST, &format!("/v1/lessons/{id}/join"), None, None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let low_url = r.body["hls"]["renditions"][0]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let master_url = r.body["hls"]["master_url"].as_str().unwrap().to_owned();

    let ingest_path = format!("/v1/lessons/{id}/ingest");
    let r = lead.get(&ingest_path).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let key = r.body["stream_key"].as_str().unwrap().to_owned();
    let srt_url = r.body["srt_url"]
        .as_str()
        .expect("an SRT address")
        .to_owned();
    assert_eq!(
        srt_url,
        format!("srt://127.0.0.1:{port}?streamid={key}&passphrase={key}")
    );

    // Another passphrase (an old key, say) is refused before any media flows.
    let wrong = format!("srt://127.0.0.1:{port}?streamid={key}&passphrase=not-the-lessons-key");
    let t = Instant::now();
    while !server
        .log_tail(200)
        .contains("SRT push with the wrong stream key")
    {
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "{}",
            server.log_tail(40)
        );
        let mut refused = push(&wrong, 3);
        let tried = Instant::now();
        while refused.try_wait().unwrap().is_none() && tried.elapsed() < Duration::from_secs(6) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = refused.kill();
        let _ = refused.wait();
    }
    assert_eq!(status(&lead, &id).await, "scheduled");
    assert_eq!(fetch(&base, &master_url).await.0, StatusCode::NOT_FOUND);

    // The SRT push goes live on the same HLS ladder.
    let mut first = push_until_live(&srt_url, &student, &id, &server).await;
    let mut seen = BTreeSet::new();
    follow(&base, &low_url, 4, &mut seen).await;
    assert!(seen.len() >= 3, "segments of the SRT push: {seen:?}");
    let (s, master) = fetch(&base, &master_url).await;
    assert_eq!(s, StatusCode::OK);
    let master = String::from_utf8(master).unwrap();
    assert!(
        master.contains("low/index.m3u8") && master.contains("audio/index.m3u8"),
        "{master}"
    );

    // It drops and comes back: Interrupted, then Live with the playlist carrying on.
    first.kill().unwrap();
    first.wait().unwrap();
    wait_status(&lead, &id, "interrupted", Duration::from_secs(20)).await;
    let before = *seen.iter().next_back().unwrap();
    let mut second = push_until_live(&srt_url, &student, &id, &server).await;
    let p = follow(&base, &low_url, 3, &mut seen).await;
    assert!(p.discontinuity, "the resumed push is marked");
    let after = *seen.iter().next_back().unwrap();
    assert!(
        after > before + 1,
        "segments continue: {before} then {after}"
    );
    let all: Vec<u64> = seen.iter().copied().collect();
    assert!(
        all.windows(2).all(|w| w[1] == w[0] + 1),
        "one numbering across both pushes: {all:?}"
    );

    // Cancelled while the SRT push is coming: it is cut off.
    let r = lead
        .post(
            &format!("/v1/lessons/{id}/cancel"),
            json!({"reason": "停电"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let t = Instant::now();
    while second.try_wait().unwrap().is_none() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the SRT push to a cancelled lesson goes on"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every process's command line, but `except`'s (the test's own encoder, which is the
/// teacher's on another machine in real life): `(pid, cmdline)`.
fn command_lines(except: &[u32]) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if except.contains(&pid) {
            continue;
        }
        if let Ok(raw) = std::fs::read(entry.path().join("cmdline")) {
            out.push((pid, String::from_utf8_lossy(&raw).replace('\0', " ")));
        }
    }
    out
}

/// `ps` shows every process's arguments to everyone on the machine: the stream key must not
/// be among them, in the RTMP listener, the SRT relay or anything else the server runs, while
/// the ingest waits and while a push (over SRT, so through both) is live. A push that names
/// the listener's placeholder stream instead of the key is cut off like a wrong key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_key_is_in_no_command_line() {
    let port = free_port();
    let ports = format!("{port}-{port}");
    let server = TestServer::start_with_env(
        &Backend::from_env(),
        &[
            ("LIANXIAO_RTMP_LISTEN", "127.0.0.1"),
            ("LIANXIAO_SRT_LISTEN", "127.0.0.1"),
            ("LIANXIAO_RTMP_PORTS", &ports),
            ("LIANXIAO_HLS_SEGMENT_SECS", "1"),
        ],
    );
    server.import_demo_roster();
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let student = Api::login(&base, STUDENT_MAIN_1A).await;
    let start = now_ms() + 5 * MINUTE;
    let r = lead
        .post(
            "/v1/lessons",
            json!({
                "subject": "家庭教育", "title": "怎样陪孩子睡觉", "mode": "broadcast",
                "starts_at": start, "ends_at": start + 40 * MINUTE,
                "lead_class_id": student.student_class(),
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let id = r.body["lessons"][0]["id"].as_str().unwrap().to_owned();
    let r = lead.get(&format!("/v1/lessons/{id}/ingest")).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let key = r.body["stream_key"].as_str().unwrap().to_owned();
    let srt_url = r.body["srt_url"].as_str().unwrap().to_owned();
    let listeners = |except: &[u32]| {
        command_lines(except)
            .into_iter()
            .filter(|(_, c)| c.contains("ffmpeg") && c.contains(&format!(":{port}")))
            .count()
    };
    let no_key = |except: &[u32]| {
        for (pid, line) in command_lines(except) {
            assert!(!line.contains(&key), "process {pid} shows the key: {line}");
        }
    };

    // The ingest waits: its RTMP listener and its SRT relay run, neither shows the key.
    let t = Instant::now();
    while listeners(&[]) < 2 {
        // ffmpeg starts in the background of a loaded machine.
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "{}",
            server.log_tail(40)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    no_key(&[]);

    // A push naming the placeholder stream gives no key: cut off, nothing goes live.
    let placeholder = format!("rtmp://127.0.0.1:{port}/live/lianxiao-key-checked-by-server");
    let t = Instant::now();
    while !server.log_tail(200).contains("wrong stream key") {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "{}",
            server.log_tail(40)
        );
        let mut wrong = push(&placeholder, 3);
        let tried = Instant::now();
        while wrong.try_wait().unwrap().is_none() && tried.elapsed() < Duration::from_secs(6) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = wrong.kill();
        let _ = wrong.wait();
    }
    assert_eq!(status(&lead, &id).await, "scheduled");

    // Live over SRT: the relay publishes into the listener with the key, from files.
    let mut encoder = push_until_live(&srt_url, &student, &id, &server).await;
    let ours = [encoder.id()];
    assert!(listeners(&ours) >= 2, "the relay and the packager run");
    no_key(&ours);
    let _ = encoder.kill();
    let _ = encoder.wait();
}
