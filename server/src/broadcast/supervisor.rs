//! One ffmpeg per open ingest, started, watched and restarted here.
//!
//! ffmpeg listens for one RTMP push (`-listen 1`) and exits when it ends, so each push is one
//! run: the first segment a run writes makes the lesson Live, the run's end makes it
//! Interrupted, and the next run appends to the same playlists (`append_list`: the media
//! sequence continues after a discontinuity). ffmpeg only warns when a push names another
//! stream key, so that warning ends the run before any of its media is published.
//!
//! Each run also keeps the push as it came (`recording/<start>.ts`, stream copy, no extra
//! encoding); when the lesson is over the runs are joined into one recording that becomes the
//! lesson's replay (see `replays`).
//!
//! An SRT push reaches the same ffmpeg through a relay into its RTMP listener ([`super::srt`]),
//! which runs beside it for as long as the ingest is open.
//!
//! ffmpeg runs under a small `sh` watchdog that kills it when our end of its stdin closes, so
//! a server that dies (even by SIGKILL) leaves no listener behind.
//!
//! The stream key never appears in a command line (anyone on the machine reads those in `ps`):
//! the listener's URL names a placeholder stream, so ffmpeg logs the name each push gives
//! ("Unexpected stream <name>, expecting <placeholder>"), and the run goes on only when that
//! name is the lesson's key. A push naming the placeholder itself is cut off like a wrong key.
//! The SRT relay reads its passphrase and the key it publishes with from files only the
//! server's user can read ([`SecretFile`]).

use std::{process::Stdio, sync::Arc, time::Duration};

use lianxiao_protocol::LessonStatus;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::Command,
};

use super::{Ingest, Shared};
use crate::{db::now_ms, error::ApiResult};

/// Kills ffmpeg (`$0 "$@"`) once stdin reaches its end; exits with ffmpeg's status.
pub(crate) const WATCHDOG: &str = r#"exec 3<&0
"$0" "$@" </dev/null &
p=$!
{ read -r _ <&3; kill $p 2>/dev/null; } &
w=$!
wait $p
s=$?
kill $w 2>/dev/null
exit $s"#;

/// How a run of ffmpeg ended.
#[derive(Debug, Default)]
struct Run {
    went_live: bool,
    wrong_key: bool,
    /// ffmpeg named the push's stream, and it was the lesson's key.
    key_ok: bool,
}

/// The stream the RTMP listener is told to expect; no push may use it (see the module).
const PLACEHOLDER_STREAM: &str = "lianxiao-key-checked-by-server";

/// The stream name a push gave, from ffmpeg's warning that it is not the placeholder.
fn pushed_stream(line: &str) -> Option<&str> {
    let rest = &line[line.find("Unexpected stream ")? + "Unexpected stream ".len()..];
    let end = rest.rfind(&format!(", expecting {PLACEHOLDER_STREAM}"))?;
    Some(&rest[..end])
}

/// A file only the server's user may read (a secret handed to ffmpeg), removed when dropped.
pub(crate) struct SecretFile {
    pub path: std::path::PathBuf,
}

impl SecretFile {
    /// Writes `contents` to `<data_dir>/ingest/<name>` (the directory 0700, the file 0600).
    pub(crate) fn write(shared: &Shared, name: &str, contents: &str) -> std::io::Result<Self> {
        use std::{
            io::Write,
            os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt},
        };
        let dir = shared.hls_root.with_file_name("ingest");
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        let path = dir.join(name);
        let _ = std::fs::remove_file(&path);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        file.write_all(contents.as_bytes())?;
        Ok(SecretFile { path })
    }
}

impl Drop for SecretFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

pub(super) async fn supervise(shared: Arc<Shared>, ingest: Ingest) {
    let dir = shared.hls_root.join(&ingest.lesson_id);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        tracing::error!(error = %e, lesson = %ingest.lesson_id, "cannot make the HLS directory");
        return;
    }
    let opens_in = (ingest.opens_at - now_ms()).max(0) as u64;
    tokio::time::sleep(Duration::from_millis(opens_in)).await;
    // SRT pushes come in through the lesson's RTMP listener (see `srt`), for as long as it runs.
    let relay = async {
        if let Some(listen) = shared.config.srt_listen {
            super::srt::relay(shared.clone(), ingest.clone(), listen).await;
        }
        std::future::pending::<bool>().await
    };
    let package = async {
        let mut failures = 0u32;
        loop {
            if now_ms() >= ingest.closes_at {
                break;
            }
            match status_of(&shared, &ingest.lesson_id).await {
                Ok(Some(LessonStatus::Ended)) => break,
                Ok(Some(LessonStatus::Cancelled)) | Ok(None) => return false,
                _ => {}
            }
            let run = match run_once(&shared, &ingest, &dir).await {
                Ok(run) => run,
                Err(e) => {
                    tracing::error!(error = %e, lesson = %ingest.lesson_id, "ffmpeg could not run");
                    Run::default()
                }
            };
            if run.went_live {
                failures = 0;
                if ingest.push_sets_status {
                    change_status(
                        &shared,
                        &ingest.lesson_id,
                        LessonStatus::Interrupted,
                        &[LessonStatus::Live],
                    )
                    .await;
                }
            } else if run.wrong_key {
                tracing::warn!(lesson = %ingest.lesson_id, "a push with the wrong stream key was refused");
            } else {
                failures += 1;
            }
            // A listener that dies at once (port taken, ffmpeg missing) is retried ever more slowly.
            let pause = Duration::from_millis(200 * u64::from(failures.min(25)).max(1));
            tokio::time::sleep(pause).await;
        }
        true
    };
    let over = tokio::select! {
        over = package => over,
        never = relay => never,
    };
    if !over {
        return;
    }
    // The lesson's window closed: a broadcast that went out is over.
    change_status(
        &shared,
        &ingest.lesson_id,
        LessonStatus::Ended,
        &[LessonStatus::Live, LessonStatus::Interrupted],
    )
    .await;
    if let Err(e) = keep_recording(&shared, &ingest.lesson_id, &dir).await {
        tracing::error!(error = %e, lesson = %ingest.lesson_id, "the broadcast's recording was not kept");
    }
}

/// Joins the runs' recordings (MPEG-TS joins end to end) into `<data>/recordings/<lesson>.ts`
/// and registers it for replay processing.
async fn keep_recording(
    shared: &Shared,
    lesson_id: &str,
    dir: &std::path::Path,
) -> anyhow::Result<()> {
    let mut runs = Vec::new();
    if let Ok(mut entries) = tokio::fs::read_dir(dir.join("recording")).await {
        while let Some(e) = entries.next_entry().await? {
            if e.file_name().to_string_lossy().ends_with(".ts") && e.metadata().await?.len() > 0 {
                runs.push(e.path());
            }
        }
    }
    if runs.is_empty() {
        return Ok(());
    }
    runs.sort();
    let root = shared.hls_root.with_file_name("recordings");
    tokio::fs::create_dir_all(&root).await?;
    let path = root.join(format!("{lesson_id}.ts"));
    let mut out = tokio::fs::File::create(&path).await?;
    for run in &runs {
        let mut input = tokio::fs::File::open(run).await?;
        tokio::io::copy(&mut input, &mut out).await?;
    }
    tokio::io::AsyncWriteExt::flush(&mut out).await?;
    drop(out);
    sqlx::query(
        "INSERT INTO recordings (id, lesson_id, source, location, status, created_at) \
         VALUES ($1, $2, 'broadcast', $3, 'pending', $4)",
    )
    .bind(crate::db::new_id())
    .bind(lesson_id)
    .bind(path.display().to_string())
    .bind(now_ms())
    .execute(shared.db.pool())
    .await?;
    let _ = tokio::fs::remove_dir_all(dir.join("recording")).await;
    tracing::info!(lesson = %lesson_id, runs = runs.len(), "broadcast recording kept for its replay");
    Ok(())
}

fn ffmpeg_args(
    shared: &Shared,
    ingest: &Ingest,
    dir: &std::path::Path,
    recording: &std::path::Path,
) -> Vec<String> {
    let c = &shared.config;
    let seg = c.segment_secs.max(1);
    let listen = match c.rtmp_listen {
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    let out = dir.display();
    #[rustfmt::skip]
    let args = [
        "-hide_banner", "-nostats", "-nostdin", "-y", "-loglevel", "info",
        "-listen", "1",
        "-i", &format!("rtmp://{listen}:{}/live/{PLACEHOLDER_STREAM}", ingest.port),
        // One video for the low rendition, the audio twice (with it, and alone).
        "-map", "0:v:0", "-map", "0:a:0", "-map", "0:a:0",
        "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency",
        "-profile:v", "main", "-pix_fmt", "yuv420p", "-vf", "scale=-2:360",
        "-b:v", "500k", "-maxrate", "600k", "-bufsize", "1000k",
        // A keyframe at every segment boundary, whatever the encoder's GOP.
        "-force_key_frames", &format!("expr:gte(t,n_forced*{seg})"), "-sc_threshold", "0",
        "-c:a", "aac", "-ac", "2", "-ar", "44100", "-b:a:0", "64k", "-b:a:1", "48k",
        "-f", "hls", "-hls_time", &seg.to_string(), "-hls_list_size", "10",
        "-hls_segment_type", "mpegts",
        "-hls_flags", "append_list+omit_endlist+delete_segments+independent_segments+temp_file",
        "-master_pl_name", "master.m3u8",
        "-var_stream_map", "v:0,a:0,name:low a:1,name:audio",
        "-hls_segment_filename", &format!("{out}/%v/seg_%d.ts"),
        &format!("{out}/%v/index.m3u8"),
        // The push as it came, for the replay.
        "-map", "0:v:0", "-map", "0:a:0", "-c", "copy", "-f", "mpegts",
        &recording.display().to_string(),
    ];
    args.iter().map(|a| a.to_string()).collect()
}

/// One ffmpeg listener, from start until its push ends (or the lesson's window closes).
async fn run_once(shared: &Shared, ingest: &Ingest, dir: &std::path::Path) -> anyhow::Result<Run> {
    tokio::fs::create_dir_all(dir.join("recording")).await?;
    let recording = dir.join("recording").join(format!("{:015}.ts", now_ms()));
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(WATCHDOG)
        .arg(&shared.config.ffmpeg)
        .args(ffmpeg_args(shared, ingest, dir, &recording))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    // Dropping it stops ffmpeg (see WATCHDOG).
    let mut stdin = child.stdin.take();
    let mut lines = BufReader::new(child.stderr.take().expect("piped stderr")).lines();
    let mut run = Run::default();
    let seg = Duration::from_secs(u64::from(shared.config.segment_secs.max(1)));
    // A push that goes quiet without closing its connection is a stopped push.
    let stall = seg * 5 + Duration::from_secs(5);
    let closes_in = Duration::from_millis((ingest.closes_at - now_ms()).max(0) as u64);
    let window = tokio::time::sleep(closes_in);
    tokio::pin!(window);
    let mut last_segment = tokio::time::Instant::now();
    // A lesson cancelled or ended by its teacher stops taking the push.
    let mut recheck = tokio::time::interval(Duration::from_secs(5));
    loop {
        let watchdog = tokio::time::sleep_until(last_segment + stall);
        tokio::select! {
            line = lines.next_line() => match line {
                Ok(Some(line)) => {
                    if let Some(stream) = pushed_stream(&line) {
                        if stream == ingest.stream_key {
                            run.key_ok = true;
                        } else {
                            run.wrong_key = true;
                            stdin.take();
                        }
                    } else if line.contains("Opening '") && line.contains(".ts.tmp' for writing") {
                        last_segment = tokio::time::Instant::now();
                        if !run.key_ok && !run.wrong_key {
                            // The push named the placeholder: no key was given.
                            run.wrong_key = true;
                            stdin.take();
                        }
                        if !run.went_live && !run.wrong_key {
                            run.went_live = true;
                            tracing::info!(lesson = %ingest.lesson_id, "broadcast push arriving");
                            if ingest.push_sets_status {
                                change_status(shared, &ingest.lesson_id, LessonStatus::Live,
                                    &[LessonStatus::Scheduled, LessonStatus::Interrupted]).await;
                            }
                        }
                    } else if line.contains("rror") {
                        // ffmpeg's lines name the input URL: keep the key out of the log.
                        let line = line.replace(&ingest.stream_key, "<key>");
                        tracing::debug!(lesson = %ingest.lesson_id, ffmpeg = %line);
                    }
                }
                _ => break,
            },
            _ = watchdog, if run.went_live => {
                tracing::warn!(lesson = %ingest.lesson_id, "broadcast push stalled");
                stdin.take();
                last_segment = tokio::time::Instant::now() + Duration::from_secs(3600);
            }
            _ = &mut window => {
                stdin.take();
                break;
            }
            _ = recheck.tick() => {
                if let Ok(Some(LessonStatus::Ended | LessonStatus::Cancelled)) =
                    status_of(shared, &ingest.lesson_id).await
                {
                    stdin.take();
                    break;
                }
            }
        }
    }
    drop(stdin);
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
    if let Ok(Ok(status)) = status {
        tracing::info!(lesson = %ingest.lesson_id, live = run.went_live, %status, "ffmpeg run ended");
    }
    if run.wrong_key || !run.went_live {
        // Nothing of it was published: nothing of it is kept either.
        let _ = tokio::fs::remove_file(&recording).await;
    }
    Ok(run)
}

pub(super) async fn status_of(
    shared: &Shared,
    lesson_id: &str,
) -> sqlx::Result<Option<LessonStatus>> {
    let status: Option<String> = sqlx::query_scalar("SELECT status FROM lessons WHERE id = $1")
        .bind(lesson_id)
        .fetch_optional(shared.db.pool())
        .await?;
    Ok(status.as_deref().and_then(LessonStatus::parse))
}

/// Moves the lesson to `to` if it is in one of `from`, and tells everyone in it through sync.
pub(super) async fn change_status(
    shared: &Shared,
    lesson_id: &str,
    to: LessonStatus,
    from: &[LessonStatus],
) {
    if let Err(e) = try_change_status(shared, lesson_id, to, from).await {
        tracing::error!(error = ?e, lesson = %lesson_id, to = to.as_str(), "lesson status not changed");
    }
}

async fn try_change_status(
    shared: &Shared,
    lesson_id: &str,
    to: LessonStatus,
    from: &[LessonStatus],
) -> ApiResult<()> {
    let mut tx = shared.db.begin_write().await?;
    let status: Option<String> = sqlx::query_scalar("SELECT status FROM lessons WHERE id = $1")
        .bind(lesson_id)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(current) = status.as_deref().and_then(LessonStatus::parse) else {
        return Ok(());
    };
    if !from.contains(&current) {
        return Ok(());
    }
    let seq = crate::live::set_status(&mut tx, lesson_id, to).await?;
    tx.commit().await?;
    shared.hub.committed(shared.db.backend(), seq);
    tracing::info!(lesson = %lesson_id, status = to.as_str(), "broadcast lesson status");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pushed_stream_name_is_read_from_ffmpegs_warning() {
        let line = format!(
            "[rtmp @ 0x5617174351c0] Unexpected stream 0af3, expecting {PLACEHOLDER_STREAM}"
        );
        assert_eq!(pushed_stream(&line), Some("0af3"));
        // A name made to look like the warning is still the whole name.
        let line = format!(
            "[rtmp @ 0x1] Unexpected stream a, expecting b, expecting {PLACEHOLDER_STREAM}"
        );
        assert_eq!(pushed_stream(&line), Some("a, expecting b"));
        assert_eq!(pushed_stream("Opening 'x.ts.tmp' for writing"), None);
    }
}
