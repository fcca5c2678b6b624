//! Broadcast lessons (同步直播) end to end with a real ffmpeg: the lead's encoder pushes RTMP
//! with the lesson's stream key, the server packages it into HLS, a viewer follows the
//! signed playlists and segments. The push drops (the lesson is Interrupted) and comes back
//! (Live again, the same playlists continue); a wrong key, a tampered or an expired
//! signature get nothing.

use std::{
    collections::BTreeSet,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use lianxiao_server::broadcast::sign::UrlSigner;
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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// What a classroom recording system sends: 640x360 test video and a tone, in real time.
fn push(url: &str, secs: u32) -> Child {
    Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc=size=640x360:rate=25"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
        .args(["-t", &secs.to_string()])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
        ])
        .args([
            "-g", "25", "-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "flv", url,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ffmpeg must be installed (scripts/test.sh installs it)")
}

/// Pushes until the lesson is live, starting the encoder again if it gave up (as encoders
/// do when the listener is not up yet).
async fn push_until_live(url: &str, api: &Api, id: &str, server: &TestServer) -> Child {
    let start = Instant::now();
    let mut encoder = push(url, 60);
    loop {
        if status(api, id).await == "live" {
            return encoder;
        }
        if encoder.try_wait().unwrap().is_some() {
            encoder = push(url, 60);
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the push never went live; server log:\n{}",
            server.log_tail(40)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Fetches without credentials: the signature in the URL is all a player has.
async fn fetch(base: &str, url: &str) -> (StatusCode, Vec<u8>) {
    let r = lianxiao_tests::api::http()
        .get(format!("{base}{url}"))
        .send()
        .await
        .expect("server reachable");
    let status = r.status();
    (status, r.bytes().await.unwrap().to_vec())
}

/// `/v1/hls/L/low/index.m3u8?q` + `seg_3.ts?q` → `/v1/hls/L/low/seg_3.ts?q`.
fn resolve(playlist_url: &str, uri: &str) -> String {
    let path = playlist_url.split('?').next().unwrap();
    format!("{}/{uri}", &path[..path.rfind('/').unwrap()])
}

/// A media playlist: its media sequence and its segments (number, URI), and whether a
/// discontinuity is marked.
struct MediaPlaylist {
    sequence: u64,
    segments: Vec<(u64, String)>,
    discontinuity: bool,
}

fn parse_media(text: &str) -> MediaPlaylist {
    let mut sequence = None;
    let mut segments = Vec::new();
    for line in text.lines() {
        if let Some(n) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            sequence = Some(n.trim().parse().unwrap());
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            let name = line.split('?').next().unwrap();
            let n = name
                .strip_prefix("seg_")
                .and_then(|s| s.strip_suffix(".ts"))
                .unwrap_or_else(|| panic!("unexpected segment {name}"))
                .parse()
                .unwrap();
            segments.push((n, line.to_owned()));
        }
    }
    MediaPlaylist {
        sequence: sequence.expect("EXT-X-MEDIA-SEQUENCE"),
        segments,
        discontinuity: text.contains("#EXT-X-DISCONTINUITY"),
    }
}

async fn status(api: &Api, id: &str) -> String {
    let r = api.get(&format!("/v1/lessons/{id}")).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["status"].as_str().unwrap().to_owned()
}

async fn wait_status(api: &Api, id: &str, want: &str, within: Duration) {
    let start = Instant::now();
    loop {
        let now = status(api, id).await;
        if now == want {
            return;
        }
        assert!(
            start.elapsed() < within,
            "the lesson stayed {now}, expected {want}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Follows a media playlist while the push runs: every segment it lists is checked to
/// continue the numbering (media sequence = first segment's number, no gaps), and the
/// newest segment is fetched. Returns every segment number seen.
async fn follow(base: &str, url: &str, for_secs: u64, seen: &mut BTreeSet<u64>) -> MediaPlaylist {
    let start = Instant::now();
    loop {
        let (s, body) = fetch(base, url).await;
        assert_eq!(s, StatusCode::OK);
        let text = String::from_utf8(body).unwrap();
        let p = parse_media(&text);
        for (i, (n, _)) in p.segments.iter().enumerate() {
            assert_eq!(*n, p.sequence + i as u64, "numbering continues:\n{text}");
        }
        if let Some(&last_seen) = seen.iter().next_back()
            && let Some((first, _)) = p.segments.first()
        {
            assert!(*first <= last_seen + 1, "no segment skipped:\n{text}");
        }
        seen.extend(p.segments.iter().map(|(n, _)| *n));
        if let Some((_, uri)) = p.segments.last() {
            let (s, ts) = fetch(base, &resolve(url, uri)).await;
            assert_eq!(s, StatusCode::OK);
            assert_eq!(ts.first(), Some(&0x47), "an MPEG-TS segment");
        }
        if start.elapsed() >= Duration::from_secs(for_secs) {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
}

async fn hls_secret(server: &TestServer) -> String {
    sqlx::any::install_default_drivers();
    let url = server.database_url().unwrap_or_else(|| {
        format!(
            "sqlite://{}",
            server.data_dir().join("lianxiao.sqlite3").display()
        )
    });
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let secret: String = sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = 'hls'")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    secret
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
