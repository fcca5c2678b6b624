//! SRT ingest beside RTMP: what newer classroom recording systems and OBS send over lossy
//! links (SRT retransmits within a latency budget where RTMP over TCP stalls).
//!
//! Each lesson with an open ingest also has an SRT listener, on the same port number as its
//! RTMP listener but over UDP. The lesson's stream key is the SRT passphrase, so a caller
//! without it is refused in SRT's own handshake, before any media flows; ffmpeg's SRT
//! listener does not check the `streamid` a caller sends, the passphrase does. An encoder
//! pushes MPEG-TS (H.264 and AAC, what encoders send by default) to
//! `srt://host:port?streamid=<key>&passphrase=<key>`.
//!
//! The SRT push is not packaged here: one ffmpeg per push copies it, without re-encoding, into
//! the lesson's own RTMP listener on loopback. So an SRT push is packaged by the same ffmpeg,
//! with the same renditions, the same Live / Interrupted / resumed transitions and the same
//! recording for the replay as an RTMP push, and only one push (RTMP or SRT) feeds a lesson
//! at a time: the RTMP listener takes one connection. Streams RTMP cannot carry (HEVC) are
//! not accepted over SRT either. The key (passphrase, and the stream the relay publishes
//! under) reaches ffmpeg through files only the server's user reads, never its command line.

use std::{net::IpAddr, process::Stdio, sync::Arc, time::Duration};

use lianxiao_protocol::LessonStatus;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::Command,
};

use super::{
    Ingest, Shared,
    supervisor::{self, SecretFile},
};
use crate::db::now_ms;

/// The address an encoder is given for a lesson's SRT ingest.
pub(super) fn publish_url(host: &str, port: u16, stream_key: &str) -> String {
    format!("srt://{host}:{port}?streamid={stream_key}&passphrase={stream_key}")
}

/// Where the relay reaches the lesson's RTMP listener: loopback when it listens everywhere.
fn rtmp_host(listen: IpAddr) -> String {
    match listen {
        IpAddr::V4(ip) if ip.is_unspecified() => "127.0.0.1".to_owned(),
        IpAddr::V6(ip) if ip.is_unspecified() => "[::1]".to_owned(),
        IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    }
}

/// The relay's secrets, in files only the server's user reads (never in its command line):
/// an ffconcat script whose one entry is the SRT listener with the key as its passphrase
/// (AES-128; callers without it are refused), and a preset that publishes to the RTMP
/// listener under the key.
struct Secrets {
    input: SecretFile,
    output: SecretFile,
}

fn secrets(shared: &Shared, listen: IpAddr, ingest: &Ingest) -> std::io::Result<Secrets> {
    let listen = match listen {
        IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    let key = &ingest.stream_key;
    let input = format!(
        "ffconcat version 1.0\nfile 'srt://{listen}:{}?mode=listener'\n\
         option passphrase {key}\noption pbkeylen 16\n",
        ingest.port
    );
    Ok(Secrets {
        input: SecretFile::write(
            shared,
            &format!("{}-srt.ffconcat", ingest.lesson_id),
            &input,
        )?,
        output: SecretFile::write(
            shared,
            &format!("{}-srt.ffpreset", ingest.lesson_id),
            &format!("rtmp_playpath={key}\n"),
        )?,
    })
}

fn ffmpeg_args(shared: &Shared, ingest: &Ingest, secrets: &Secrets) -> Vec<String> {
    let port = ingest.port;
    #[rustfmt::skip]
    let args = [
        "-hide_banner", "-nostats", "-nostdin", "-loglevel", "info",
        "-f", "concat", "-safe", "0", "-protocol_whitelist", "file,srt,udp",
        "-i", &secrets.input.path.display().to_string(),
        "-map", "0:v:0", "-map", "0:a:0", "-c", "copy",
        "-fpre", &secrets.output.path.display().to_string(),
        "-f", "flv", &format!("rtmp://{}:{port}/live", rtmp_host(shared.config.rtmp_listen)),
    ];
    args.iter().map(|a| a.to_string()).collect()
}

/// Keeps an SRT listener open for the lesson until its window closes or it ends: one ffmpeg
/// per push, started again after each.
pub(super) async fn relay(shared: Arc<Shared>, ingest: Ingest, listen: IpAddr) {
    let mut failures = 0u32;
    loop {
        if now_ms() >= ingest.closes_at {
            return;
        }
        if let Ok(Some(LessonStatus::Ended | LessonStatus::Cancelled) | None) =
            supervisor::status_of(&shared, &ingest.lesson_id).await
        {
            return;
        }
        match run_once(&shared, &ingest, listen).await {
            Ok(true) => failures = 0,
            Ok(false) => failures += 1,
            Err(e) => {
                tracing::error!(error = %e, lesson = %ingest.lesson_id, "the SRT listener could not run");
                failures += 1;
            }
        }
        let pause = Duration::from_millis(200 * u64::from(failures.min(25)).max(1));
        tokio::time::sleep(pause).await;
    }
}

/// One SRT listener until its push ends. True when a push came through.
async fn run_once(shared: &Shared, ingest: &Ingest, listen: IpAddr) -> anyhow::Result<bool> {
    // Removed when the run ends.
    let secrets = secrets(shared, listen, ingest)?;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(supervisor::WATCHDOG)
        .arg(&shared.config.ffmpeg)
        .args(ffmpeg_args(shared, ingest, &secrets))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    // Dropping it stops ffmpeg (see the watchdog).
    let mut stdin = child.stdin.take();
    let mut lines = BufReader::new(child.stderr.take().expect("piped stderr")).lines();
    let mut pushed = false;
    let closes_in = Duration::from_millis((ingest.closes_at - now_ms()).max(0) as u64);
    let window = tokio::time::sleep(closes_in);
    tokio::pin!(window);
    let mut recheck = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            line = lines.next_line() => match line {
                Ok(Some(line)) => {
                    if line.contains("Incorrect passphrase") || line.contains("Password required") {
                        tracing::warn!(lesson = %ingest.lesson_id, "an SRT push with the wrong stream key was refused");
                    } else if !pushed && line.starts_with("Input #0") {
                        pushed = true;
                        tracing::info!(lesson = %ingest.lesson_id, "SRT push arriving");
                    } else if line.contains("rror") {
                        // ffmpeg's lines name the URLs: keep the key out of the log.
                        let line = line.replace(&ingest.stream_key, "<key>");
                        tracing::debug!(lesson = %ingest.lesson_id, ffmpeg = %line);
                    }
                }
                _ => break,
            },
            _ = &mut window => {
                stdin.take();
                break;
            }
            _ = recheck.tick() => {
                if let Ok(Some(LessonStatus::Ended | LessonStatus::Cancelled)) =
                    supervisor::status_of(shared, &ingest.lesson_id).await
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
        tracing::info!(lesson = %ingest.lesson_id, pushed, %status, "SRT relay ended");
    }
    Ok(pushed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relays_reach_the_rtmp_listener_on_loopback() {
        assert_eq!(rtmp_host("0.0.0.0".parse().unwrap()), "127.0.0.1");
        assert_eq!(rtmp_host("::".parse().unwrap()), "[::1]");
        assert_eq!(rtmp_host("10.0.0.5".parse().unwrap()), "10.0.0.5");
        assert_eq!(
            publish_url("school.cn", 19350, "k1"),
            "srt://school.cn:19350?streamid=k1&passphrase=k1"
        );
    }
}
