//! Broadcast lessons as the tests drive them: a real ffmpeg pushing a generated test stream
//! (RTMP or SRT), the lesson's status, and a viewer following the signed HLS playlists.

use std::{
    collections::BTreeSet,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use reqwest::StatusCode;

use crate::{TestServer, api::Api};

/// A port free for both TCP (RTMP) and UDP (SRT listens on the same number).
pub fn free_port() -> u16 {
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// What a classroom recording system sends: 640x360 test video and a tone, in real time, as
/// FLV over RTMP, or MPEG-TS over SRT for an `srt://` URL.
pub fn push(url: &str, secs: u32) -> Child {
    let format = if url.starts_with("srt://") {
        "mpegts"
    } else {
        "flv"
    };
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
            "-g", "25", "-pix_fmt", "yuv420p", "-c:a", "aac", "-f", format, url,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ffmpeg must be installed (scripts/test.sh installs it)")
}

/// Pushes until the lesson is live, starting the encoder again if it gave up (as encoders
/// do when the listener is not up yet).
pub async fn push_until_live(url: &str, api: &Api, id: &str, server: &TestServer) -> Child {
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
pub async fn fetch(base: &str, url: &str) -> (StatusCode, Vec<u8>) {
    let r = crate::api::http()
        .get(format!("{base}{url}"))
        .send()
        .await
        .expect("server reachable");
    let status = r.status();
    (status, r.bytes().await.unwrap().to_vec())
}

/// `/v1/hls/L/low/index.m3u8?q` + `seg_3.ts?q` → `/v1/hls/L/low/seg_3.ts?q`.
pub fn resolve(playlist_url: &str, uri: &str) -> String {
    let path = playlist_url.split('?').next().unwrap();
    format!("{}/{uri}", &path[..path.rfind('/').unwrap()])
}

/// A media playlist: its media sequence and its segments (number, URI), and whether a
/// discontinuity is marked.
pub struct MediaPlaylist {
    pub sequence: u64,
    pub segments: Vec<(u64, String)>,
    pub discontinuity: bool,
}

pub fn parse_media(text: &str) -> MediaPlaylist {
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

pub async fn status(api: &Api, id: &str) -> String {
    let r = api.get(&format!("/v1/lessons/{id}")).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["status"].as_str().unwrap().to_owned()
}

pub async fn wait_status(api: &Api, id: &str, want: &str, within: Duration) {
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
pub async fn follow(
    base: &str,
    url: &str,
    for_secs: u64,
    seen: &mut BTreeSet<u64>,
) -> MediaPlaylist {
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

pub async fn hls_secret(server: &TestServer) -> String {
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
