//! One transcoding job: ffprobe reads the recording, ffmpeg turns it into HLS video on demand
//! in the broadcasts' ladder (360p video with audio, and audio only), reporting progress
//! against the probed duration. The files are written to `<id>.part` and renamed into place
//! only when ffmpeg succeeded, so a failed job publishes nothing; a job cut short by a
//! restart starts over.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
};

use lianxiao_protocol::{ReplayProblem, ReplayRendition, ReplaySource};
use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::Command,
};

use super::{Shared, access, commit, store};
use crate::{broadcast::supervisor::WATCHDOG, db::feed};

/// Progress is written to the replay (and synced) in steps of this many percent.
pub const PROGRESS_STEP: u8 = 5;

/// Length of a replay's HLS segments in seconds.
const SEGMENT_SECS: u32 = 4;

/// What ffprobe found in a recording.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub video: bool,
    pub audio: bool,
    pub duration_ms: Option<i64>,
}

/// Reads `ffprobe -show_format -show_streams` JSON.
pub fn parse_probe(json: &str) -> Option<Probe> {
    let v: Value = serde_json::from_str(json).ok()?;
    let streams = v["streams"].as_array()?;
    let has = |kind: &str| streams.iter().any(|s| s["codec_type"] == kind);
    let secs = |x: &Value| x.as_str().and_then(|s| s.parse::<f64>().ok());
    let duration = secs(&v["format"]["duration"]).or_else(|| {
        streams
            .iter()
            .filter_map(|s| secs(&s["duration"]))
            .reduce(f64::max)
    });
    Some(Probe {
        // A cover picture is a "video" stream of one frame: not something to play.
        video: streams.iter().any(|s| {
            s["codec_type"] == "video" && s["disposition"]["attached_pic"].as_i64() != Some(1)
        }),
        audio: has("audio"),
        duration_ms: duration.filter(|d| *d > 0.0).map(|d| (d * 1000.0) as i64),
    })
}

async fn probe(ffprobe: &Path, input: &Path) -> Result<Probe, ReplayProblem> {
    let out = Command::new(ffprobe)
        .args([
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
        ])
        .arg(input)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "ffprobe could not run");
            ReplayProblem::TranscodeFailed
        })?;
    if !out.status.success() {
        return Err(ReplayProblem::Unreadable);
    }
    let probe =
        parse_probe(&String::from_utf8_lossy(&out.stdout)).ok_or(ReplayProblem::Unreadable)?;
    if !probe.video && !probe.audio {
        return Err(ReplayProblem::NoPlayableStream);
    }
    Ok(probe)
}

/// ffmpeg's arguments for a recording with these streams, written under `out`.
pub fn ffmpeg_args(input: &Path, out: &Path, probe: &Probe, realtime: bool) -> Vec<String> {
    let mut a: Vec<String> = [
        "-hide_banner",
        "-nostats",
        "-nostdin",
        "-y",
        "-loglevel",
        "error",
    ]
    .map(String::from)
    .to_vec();
    if realtime {
        a.push("-re".into());
    }
    a.extend(["-i".into(), input.display().to_string()]);
    let mut map = |s: &str| a.extend(["-map".into(), s.into()]);
    let var_stream_map = match (probe.video, probe.audio) {
        (true, true) => {
            map("0:v:0");
            map("0:a:0");
            map("0:a:0");
            "v:0,a:0,name:low a:1,name:audio"
        }
        (true, false) => {
            map("0:v:0");
            "v:0,name:low"
        }
        _ => {
            map("0:a:0");
            "a:0,name:audio"
        }
    };
    if probe.video {
        #[rustfmt::skip]
        a.extend([
            "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "main", "-pix_fmt", "yuv420p",
            "-vf", "scale=-2:360", "-b:v", "500k", "-maxrate", "600k", "-bufsize", "1000k",
            "-force_key_frames", &format!("expr:gte(t,n_forced*{SEGMENT_SECS})"), "-sc_threshold", "0",
        ].map(String::from));
    }
    if probe.audio {
        a.extend(["-c:a", "aac", "-ac", "2", "-ar", "44100"].map(String::from));
        if probe.video {
            a.extend(["-b:a:0", "64k", "-b:a:1", "48k"].map(String::from));
        } else {
            a.extend(["-b:a:0", "48k"].map(String::from));
        }
    }
    let out = out.display();
    #[rustfmt::skip]
    a.extend([
        "-f", "hls", "-hls_time", &SEGMENT_SECS.to_string(), "-hls_list_size", "0",
        "-hls_playlist_type", "vod", "-hls_segment_type", "mpegts",
        "-hls_flags", "independent_segments",
        "-master_pl_name", "master.m3u8", "-var_stream_map", var_stream_map,
        "-hls_segment_filename", &format!("{out}/%v/seg_%d.ts"),
        "-progress", "pipe:1",
        &format!("{out}/%v/index.m3u8"),
    ].map(String::from));
    a
}

/// The microseconds of output written, from one `-progress` line.
fn progress_us(line: &str) -> Option<i64> {
    let (k, v) = line.split_once('=')?;
    // ffmpeg's `out_time_ms` is in microseconds too.
    matches!(k, "out_time_us" | "out_time_ms")
        .then(|| v.trim().parse().ok())
        .flatten()
}

/// Runs the job of one replay to its end (pending review, or failed).
pub(super) async fn run(shared: &Shared, id: &str) {
    let loaded = match shared.db.pool().acquire().await {
        Ok(mut conn) => store::load(&mut conn, id).await,
        Err(e) => Err(e),
    };
    let stored = match loaded {
        Ok(Some(s)) => s,
        Ok(None) => return,
        Err(e) => {
            tracing::error!(error = %e, replay = %id, "replay not loaded");
            return;
        }
    };
    if stored.replay.status != lianxiao_protocol::ReplayStatus::Processing {
        return;
    }
    // Held until the job ends (dropped with it, or with a server that dies).
    let Some(_lock) = job_lock(shared, id).await else {
        return;
    };
    let input = PathBuf::from(&stored.input_path);
    let part = shared.root.join(format!("{id}.part"));
    let done = shared.root.join(id);
    let _ = tokio::fs::remove_dir_all(&part).await;
    let _ = tokio::fs::remove_dir_all(&done).await;
    tracing::info!(replay = %id, "transcoding");
    // A job started again after a restart reports progress only past where it had got.
    let reported = stored.replay.progress_percent.unwrap_or(0);
    let outcome = transcode(shared, id, &input, &part, reported).await;
    let result = match outcome {
        Ok((duration_ms, renditions)) => match tokio::fs::rename(&part, &done).await {
            Ok(()) => finish(shared, id, Ok((duration_ms, renditions))).await,
            Err(e) => {
                tracing::error!(error = %e, replay = %id, "transcoded files not moved into place");
                finish(shared, id, Err(ReplayProblem::TranscodeFailed)).await
            }
        },
        Err(problem) => {
            let _ = tokio::fs::remove_dir_all(&part).await;
            finish(shared, id, Err(problem)).await
        }
    };
    if let Err(e) = result {
        tracing::error!(error = %e, replay = %id, "replay outcome not recorded");
        return;
    }
    // An upload's original, or a broadcast's joined recording, is not needed once the job is
    // over (an egress's file is LiveKit's).
    if stored.replay.source != ReplaySource::Egress {
        let _ = tokio::fs::remove_file(&input).await;
    }
}

/// On PostgreSQL, servers sharing the database run each job once: the job holds an advisory
/// lock on a connection of its own, which PostgreSQL releases when that connection closes (the
/// job ended, or its server died). `None`: another server has the job. SQLite has one server.
async fn job_lock(shared: &Shared, id: &str) -> Option<Option<sqlx::AnyConnection>> {
    if shared.db.backend() != crate::db::Backend::Postgres {
        return Some(None);
    }
    let attempt = async {
        let mut conn = shared.db.pool().acquire().await?.detach();
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext($1))")
            .bind(format!("replay:{id}"))
            .fetch_one(&mut conn)
            .await?;
        Ok::<_, sqlx::Error>(locked.then_some(conn))
    };
    match attempt.await {
        Ok(Some(conn)) => Some(Some(conn)),
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(error = %e, replay = %id, "replay job not locked");
            None
        }
    }
}

async fn transcode(
    shared: &Shared,
    id: &str,
    input: &Path,
    part: &Path,
    reported: u8,
) -> Result<(i64, Vec<ReplayRendition>), ReplayProblem> {
    let probe = probe(&shared.config.ffprobe, input).await?;
    tokio::fs::create_dir_all(part).await.map_err(|e| {
        tracing::error!(error = %e, replay = %id, "no directory for the replay");
        ReplayProblem::TranscodeFailed
    })?;
    let args = ffmpeg_args(input, part, &probe, shared.config.realtime);
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(WATCHDOG)
        .arg(&shared.config.ffmpeg)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            tracing::error!(error = %e, "ffmpeg could not run");
            ReplayProblem::TranscodeFailed
        })?;
    // Held until the end: closing it stops ffmpeg (see WATCHDOG), as does a dying server.
    let stdin = child.stdin.take();
    let mut stderr = child.stderr.take().expect("piped stderr");
    let errors = tokio::spawn(async move {
        let mut text = String::new();
        let _ = tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut text).await;
        text
    });
    let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let mut written = reported;
    let mut out_ms = 0i64;
    while let Ok(Some(line)) = lines.next_line().await {
        let Some(us) = progress_us(&line) else {
            continue;
        };
        out_ms = out_ms.max(us / 1000);
        let Some(total) = probe.duration_ms else {
            continue;
        };
        let percent = (out_ms * 100 / total.max(1)).clamp(0, 99) as u8;
        if percent >= written + PROGRESS_STEP {
            written = percent - percent % PROGRESS_STEP;
            if let Err(e) = write_progress(shared, id, written).await {
                tracing::warn!(error = %e, replay = %id, "progress not recorded");
            }
        }
    }
    let status = child.wait().await;
    drop(stdin);
    let errors = errors.await.unwrap_or_default();
    match status {
        Ok(s) if s.success() => {}
        _ => {
            let last = errors.lines().last().unwrap_or("").to_owned();
            tracing::warn!(replay = %id, ffmpeg = %last, "transcoding failed");
            return Err(ReplayProblem::TranscodeFailed);
        }
    }
    let renditions = renditions(part).await;
    if renditions.is_empty() {
        return Err(ReplayProblem::TranscodeFailed);
    }
    Ok((probe.duration_ms.unwrap_or(out_ms), renditions))
}

/// The renditions written under `dir`, with the bandwidth its master playlist announces and
/// the bytes of their segments; highest bandwidth first, audio only last.
async fn renditions(dir: &Path) -> Vec<ReplayRendition> {
    let master = tokio::fs::read_to_string(dir.join("master.m3u8"))
        .await
        .unwrap_or_default();
    let mut out = Vec::new();
    let mut bandwidth = None;
    for line in master.lines() {
        if let Some(attrs) = line.strip_prefix("#EXT-X-STREAM-INF:") {
            bandwidth = attrs
                .split(',')
                .find_map(|a| a.strip_prefix("BANDWIDTH="))
                .and_then(|b| b.parse::<u64>().ok());
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            let Some(name) = line.split('/').next().map(str::to_owned) else {
                continue;
            };
            let size_bytes = dir_size(&dir.join(&name)).await;
            out.push(ReplayRendition {
                audio_only: name == "audio",
                bandwidth: bandwidth.take().unwrap_or(0),
                name,
                size_bytes,
            });
        }
    }
    out.sort_by_key(|r| (r.audio_only, std::cmp::Reverse(r.bandwidth)));
    out
}

async fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    if let Ok(mut entries) = tokio::fs::read_dir(dir).await {
        while let Ok(Some(e)) = entries.next_entry().await {
            if e.file_name().to_string_lossy().ends_with(".ts")
                && let Ok(m) = e.metadata().await
            {
                total += m.len();
            }
        }
    }
    total
}

async fn write_progress(shared: &Shared, id: &str, percent: u8) -> sqlx::Result<()> {
    let mut tx = shared.db.begin_write().await?;
    if !store::set_progress(&mut tx, id, percent).await? {
        return Ok(());
    }
    let seq = feed::next_seq(&mut tx).await?;
    access::publish(&mut tx, seq, id).await?;
    commit(tx, &shared.db, &shared.hub, seq).await
}

async fn finish(
    shared: &Shared,
    id: &str,
    outcome: Result<(i64, Vec<ReplayRendition>), ReplayProblem>,
) -> sqlx::Result<()> {
    let mut tx = shared.db.begin_write().await?;
    let changed = match &outcome {
        Ok((duration_ms, renditions)) => {
            store::set_transcoded(&mut tx, id, *duration_ms, renditions).await?
        }
        Err(problem) => store::set_failed(&mut tx, id, *problem).await?,
    };
    if !changed {
        return Ok(());
    }
    let seq = feed::next_seq(&mut tx).await?;
    access::publish(&mut tx, seq, id).await?;
    commit(tx, &shared.db, &shared.hub, seq).await?;
    match outcome {
        Ok(_) => tracing::info!(replay = %id, "replay transcoded, waiting for review"),
        Err(p) => tracing::warn!(replay = %id, problem = store::problem_str(p), "replay failed"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_read_streams_and_duration() {
        let p = parse_probe(
            r#"{"streams":[{"codec_type":"video","disposition":{"attached_pic":0}},
                {"codec_type":"audio"}],"format":{"duration":"4.040000"}}"#,
        )
        .unwrap();
        assert_eq!(
            p,
            Probe {
                video: true,
                audio: true,
                duration_ms: Some(4040)
            }
        );
        let cover_only = parse_probe(
            r#"{"streams":[{"codec_type":"video","disposition":{"attached_pic":1}}],"format":{}}"#,
        )
        .unwrap();
        assert!(!cover_only.video && !cover_only.audio);
        assert_eq!(cover_only.duration_ms, None);
        assert_eq!(parse_probe("not json"), None);
    }

    #[test]
    fn progress_lines_and_ladder() {
        assert_eq!(progress_us("out_time_us=1500000"), Some(1_500_000));
        assert_eq!(progress_us("out_time_ms=20"), Some(20));
        assert_eq!(progress_us("out_time_us=N/A"), None);
        assert_eq!(progress_us("frame=10"), None);
        let audio_only = Probe {
            video: false,
            audio: true,
            duration_ms: None,
        };
        let args = ffmpeg_args(Path::new("in"), Path::new("out"), &audio_only, false);
        assert!(args.contains(&"a:0,name:audio".to_owned()));
        assert!(!args.contains(&"libx264".to_owned()));
        assert!(args.contains(&"vod".to_owned()));
    }
}
