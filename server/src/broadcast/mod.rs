//! Broadcast lessons (同步直播): one publisher, many viewers on HLS.
//!
//! The lead teacher's encoder (OBS, a classroom recording system 录播教室) pushes RTMP with a
//! per-lesson stream key. For each lesson with an open ingest the server runs one ffmpeg as
//! an RTMP listener on the lesson's own port ([`supervisor`]); ffmpeg transcodes the push into
//! HLS under `<data_dir>/hls/<lesson>/` (a 360p rendition and an audio-only one, short MPEG-TS
//! segments, a master playlist). A push that stops makes the lesson Interrupted, the next
//! push resumes it (Live) and its segments continue the same playlists.
//!
//! An SRT push with the same stream key (as passphrase) is taken too, on the same port number
//! over UDP, and fed into the lesson's RTMP listener ([`srt`]).
//!
//! Viewers get signed, expiring URLs in their join ticket ([`sign`]); fetching a playlist or
//! a segment counts as watching ([`viewers`]).

pub mod sign;
mod srt;
pub(crate) mod supervisor;
pub mod viewers;

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use lianxiao_protocol::{HlsRendition, HlsTicket, IngestTicket, LessonMode, LessonStatus, Millis};
use sqlx::{AnyConnection, Row};

use crate::{
    db::{Db, now_ms},
    error::{ApiError, ApiResult},
    lessons::access::{self, LessonRow},
    realtime::Hub,
};
use sign::UrlSigner;

/// How broadcast lessons are ingested and packaged.
#[derive(Debug, Clone)]
pub struct BroadcastConfig {
    /// The ffmpeg to run (a path, or a name looked up in `PATH`).
    pub ffmpeg: PathBuf,
    /// Where the RTMP listeners bind.
    pub rtmp_listen: IpAddr,
    /// Ports handed to lessons, one per lesson with an open ingest.
    pub rtmp_ports: (u16, u16),
    /// The host encoders push to; the API request's host when absent.
    pub rtmp_public_host: Option<String>,
    /// The host LiveKit's egress workers push interactive lessons' rooms to (this server's
    /// RTMP ingest as they reach it). Interactive lessons are not on HLS when absent.
    pub egress_rtmp_host: Option<String>,
    /// Where LiveKit's egress writes room recordings this server may read (a shared volume,
    /// `LIANXIAO_EGRESS_DIR`). An `egress_ended` webhook naming a file elsewhere (but in the
    /// data directory) is refused.
    pub egress_dir: Option<PathBuf>,
    /// Where the SRT listeners bind (UDP, each on its lesson's RTMP port number); no SRT
    /// ingest when absent.
    pub srt_listen: Option<IpAddr>,
    /// Length of an HLS segment in seconds (short: viewers lag the teacher by about three).
    pub segment_secs: u32,
}

impl Default for BroadcastConfig {
    fn default() -> Self {
        BroadcastConfig {
            ffmpeg: PathBuf::from("ffmpeg"),
            rtmp_listen: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            rtmp_ports: DEFAULT_RTMP_PORTS,
            rtmp_public_host: None,
            srt_listen: Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            egress_rtmp_host: None,
            egress_dir: None,
            segment_secs: DEFAULT_SEGMENT_SECS,
        }
    }
}

pub const DEFAULT_RTMP_PORTS: (u16, u16) = (19350, 19449);
pub const DEFAULT_SEGMENT_SECS: u32 = 2;

/// After the lesson's end its ingest and URLs stay good this long (lessons overrun).
pub const OVERRUN_MS: i64 = 10 * 60 * 1000;

/// The renditions ffmpeg makes: name, bits per second as its master playlist announces them
/// ((video + audio) × 1.1), audio only.
pub(crate) const RENDITIONS: [(&str, u64, bool); 2] =
    [("low", 620_400, false), ("audio", 52_800, true)];

/// Parses `19350-19449` (or one port).
pub fn parse_ports(s: &str) -> Result<(u16, u16), String> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let a: u16 = a.trim().parse().map_err(|_| format!("not a port: {a}"))?;
    let b: u16 = b.trim().parse().map_err(|_| format!("not a port: {b}"))?;
    if a == 0 || b < a {
        return Err(format!("not a port range: {s}"));
    }
    Ok((a, b))
}

/// Parses `LIANXIAO_SRT_LISTEN`: an address, or `off` for no SRT ingest.
pub fn parse_srt_listen(s: &str) -> Result<Option<IpAddr>, String> {
    match s.trim() {
        "off" | "none" | "" => Ok(None),
        ip => ip
            .parse()
            .map(Some)
            .map_err(|_| format!("not an address (or `off`): {ip}")),
    }
}

/// The running ingests and what viewers are seen doing.
pub struct Broadcasts {
    inner: Arc<Shared>,
}

pub(crate) struct Shared {
    pub config: BroadcastConfig,
    pub hls_root: PathBuf,
    pub db: Db,
    pub hub: Arc<Hub>,
    pub signer: UrlSigner,
    /// How long before a lesson starts its listener opens (the lesson's join window).
    open_early_secs: u64,
    running: Mutex<HashMap<String, tokio::task::JoinHandle<()>>>,
    pub viewers: viewers::Viewers,
}

impl Broadcasts {
    /// Loads the URL-signing secret (created on the first start) and restarts the ingests
    /// of lessons whose window is still open. Listeners open `open_early_secs` before their
    /// lesson starts.
    pub async fn open(
        config: &BroadcastConfig,
        open_early_secs: u64,
        data_dir: &Path,
        db: Db,
        hub: Arc<Hub>,
    ) -> anyhow::Result<Broadcasts> {
        let hls_root = data_dir.join("hls");
        std::fs::create_dir_all(&hls_root)?;
        let candidate = hex::encode(rand::random::<[u8; 32]>());
        sqlx::query(
            "INSERT INTO server_secrets (name, value) VALUES ('hls', $1) ON CONFLICT (name) DO NOTHING",
        )
        .bind(candidate)
        .execute(db.pool())
        .await?;
        let secret: String = sqlx::query("SELECT value FROM server_secrets WHERE name = 'hls'")
            .fetch_one(db.pool())
            .await?
            .try_get(0)?;
        let broadcasts = Broadcasts {
            inner: Arc::new(Shared {
                config: config.clone(),
                hls_root,
                db: db.clone(),
                hub,
                signer: UrlSigner::new(secret),
                open_early_secs,
                running: Mutex::new(HashMap::new()),
                viewers: viewers::Viewers::default(),
            }),
        };
        let open = sqlx::query(
            "SELECT b.lesson_id, b.stream_key, b.port, l.starts_at, l.ends_at, l.mode FROM broadcast_ingests b \
             JOIN lessons l ON l.id = b.lesson_id \
             WHERE l.ends_at > $1 AND l.status NOT IN ('ended', 'cancelled')",
        )
        .bind(now_ms() - OVERRUN_MS)
        .fetch_all(db.pool())
        .await?;
        for r in open {
            let ingest = Ingest {
                lesson_id: r.try_get("lesson_id")?,
                stream_key: r.try_get("stream_key")?,
                port: r.try_get::<i64, _>("port")? as u16,
                opens_at: r.try_get::<i64, _>("starts_at")? - open_early_secs as i64 * 1000,
                closes_at: r.try_get::<i64, _>("ends_at")? + OVERRUN_MS,
                push_sets_status: r.try_get::<String, _>("mode")? == LessonMode::Broadcast.as_str(),
            };
            // A fresh listener has no push yet: a lesson left Live by a server that died is not.
            if ingest.push_sets_status {
                supervisor::change_status(
                    &broadcasts.inner,
                    &ingest.lesson_id,
                    LessonStatus::Interrupted,
                    &[LessonStatus::Live],
                )
                .await;
            }
            broadcasts.ensure_running(ingest);
        }
        Ok(broadcasts)
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.inner
    }

    pub fn signer(&self) -> &UrlSigner {
        &self.inner.signer
    }

    /// The directory a lesson's HLS files are written to.
    pub fn lesson_dir(&self, lesson_id: &str) -> PathBuf {
        self.inner.hls_root.join(lesson_id)
    }

    fn ensure_running(&self, ingest: Ingest) {
        let mut running = self.inner.running.lock().expect("ingest registry");
        if running
            .get(&ingest.lesson_id)
            .is_some_and(|task| !task.is_finished())
        {
            return;
        }
        let lesson_id = ingest.lesson_id.clone();
        let task = tokio::spawn(supervisor::supervise(self.inner.clone(), ingest));
        running.insert(lesson_id, task);
    }

    /// `GET /v1/lessons/{id}/ingest`: the lead teacher's RTMP (and SRT) address and stream
    /// key; the first call makes the key; the listeners open with the lesson's join window.
    pub async fn ingest(
        &self,
        conn: &mut AnyConnection,
        caller_id: &str,
        lesson_id: &str,
        request_host: Option<&str>,
    ) -> ApiResult<IngestTicket> {
        let (lesson, standing) = access::visible_lesson(conn, caller_id, lesson_id).await?;
        if !standing.lead {
            return Err(ApiError::forbidden(
                "only the lead teacher pushes a broadcast lesson",
            ));
        }
        if lesson.mode != LessonMode::Broadcast {
            return Err(ApiError::conflict(
                "the lesson is interactive: join its room instead",
            ));
        }
        let closes_at = lesson.ends_at + OVERRUN_MS;
        if matches!(lesson.status, LessonStatus::Ended | LessonStatus::Cancelled)
            || now_ms() >= closes_at
        {
            return Err(ApiError::conflict("the lesson is over"));
        }
        let ingest = self.ingest_row(&lesson, closes_at).await?;
        let host = self
            .inner
            .config
            .rtmp_public_host
            .clone()
            .or_else(|| request_host.map(host_only))
            .unwrap_or_else(|| "127.0.0.1".to_owned());
        let rtmp_url = format!("rtmp://{host}:{}/live", ingest.port);
        let ticket = IngestTicket {
            publish_url: format!("{rtmp_url}/{}", ingest.stream_key),
            rtmp_url,
            srt_url: self
                .inner
                .config
                .srt_listen
                .map(|_| srt::publish_url(&host, ingest.port, &ingest.stream_key)),
            stream_key: ingest.stream_key.clone(),
            status: lesson.status,
        };
        self.ensure_running(ingest);
        Ok(ticket)
    }

    /// The lesson's ingest, made on first use with a fresh key and a free port.
    async fn ingest_row(&self, lesson: &LessonRow, closes_at: Millis) -> ApiResult<Ingest> {
        let db = &self.inner.db;
        let opens_at = lesson.starts_at - self.inner.open_early_secs as i64 * 1000;
        let mut tx = db.begin_write().await?;
        let existing =
            sqlx::query("SELECT stream_key, port FROM broadcast_ingests WHERE lesson_id = $1")
                .bind(&lesson.id)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(r) = existing {
            return Ok(Ingest {
                lesson_id: lesson.id.clone(),
                stream_key: r.try_get("stream_key")?,
                port: r.try_get::<i64, _>("port")? as u16,
                opens_at,
                closes_at,
                push_sets_status: lesson.mode == LessonMode::Broadcast,
            });
        }
        let taken: Vec<i64> = sqlx::query_scalar(
            "SELECT b.port FROM broadcast_ingests b JOIN lessons l ON l.id = b.lesson_id \
             WHERE l.ends_at > $1 AND l.status NOT IN ('ended', 'cancelled')",
        )
        .bind(now_ms() - OVERRUN_MS)
        .fetch_all(&mut *tx)
        .await?;
        let (first, last) = self.inner.config.rtmp_ports;
        let port = (first..=last)
            .find(|p| !taken.contains(&i64::from(*p)))
            .ok_or_else(|| {
                ApiError::unavailable("every broadcast ingest port is in use; try again later")
            })?;
        let stream_key = hex::encode(rand::random::<[u8; 16]>());
        sqlx::query(
            "INSERT INTO broadcast_ingests (lesson_id, stream_key, port, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&lesson.id)
        .bind(&stream_key)
        .bind(i64::from(port))
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(lesson = %lesson.id, port, "broadcast ingest opened");
        Ok(Ingest {
            lesson_id: lesson.id.clone(),
            stream_key,
            port,
            opens_at,
            closes_at,
            push_sets_status: lesson.mode == LessonMode::Broadcast,
        })
    }

    /// Opens an interactive lesson's ingest for LiveKit's egress of its room (see
    /// `live::egress`): its key and port, and its listener from now until the window closes.
    /// Returns the stream key and port.
    pub async fn open_for_room(&self, lesson: &LessonRow) -> ApiResult<(String, u16)> {
        let ingest = self.ingest_row(lesson, lesson.ends_at + OVERRUN_MS).await?;
        let opened = (ingest.stream_key.clone(), ingest.port);
        self.ensure_running(ingest);
        Ok(opened)
    }

    /// Stops every ingest (their ffmpeg processes are killed with them).
    pub fn shutdown(&self) {
        let mut running = self.inner.running.lock().expect("ingest registry");
        for (_, task) in running.drain() {
            task.abort();
        }
    }
}

/// One lesson's ingest: where its push arrives and until when.
#[derive(Debug, Clone)]
pub(crate) struct Ingest {
    pub lesson_id: String,
    pub stream_key: String,
    pub port: u16,
    /// The listener starts then: a key fetched days ahead holds no process until the lesson.
    pub opens_at: Millis,
    pub closes_at: Millis,
    /// A broadcast lesson is Live while its push arrives and Interrupted when it stops; an
    /// interactive lesson's push is LiveKit's egress of its room, whose own webhooks say
    /// when the lesson is live, so its push leaves the status alone.
    pub push_sets_status: bool,
}

/// `example.cn:8080` → `example.cn`; `[::1]:8080` → `[::1]`.
fn host_only(host: &str) -> String {
    match host.rsplit_once(':') {
        Some((h, port)) if !h.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            h.to_owned()
        }
        _ => host.to_owned(),
    }
}

/// The HLS part of a broadcast lesson's join ticket: URLs signed for this viewer until the
/// lesson's window closes. The secret is read here so joining needs no more than a connection.
pub async fn hls_ticket(
    conn: &mut AnyConnection,
    lesson: &LessonRow,
    user_id: &str,
) -> ApiResult<HlsTicket> {
    let secret: String = sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = 'hls'")
        .fetch_one(&mut *conn)
        .await?;
    let expires_at = lesson.ends_at + OVERRUN_MS;
    let grant = UrlSigner::new(secret).grant(&lesson.id, user_id, expires_at / 1000);
    let base = sign::scope(&lesson.id);
    let query = grant.query();
    Ok(HlsTicket {
        master_url: format!("{base}master.m3u8?{query}"),
        renditions: RENDITIONS
            .iter()
            .map(|(name, bandwidth, audio_only)| HlsRendition {
                name: (*name).to_owned(),
                bandwidth: *bandwidth,
                url: format!("{base}{name}/index.m3u8?{query}"),
                audio_only: *audio_only,
            })
            .collect(),
        expires_at: grant.expires * 1000,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges_and_hosts() {
        assert_eq!(parse_ports("19350-19449"), Ok((19350, 19449)));
        assert_eq!(parse_ports("1935"), Ok((1935, 1935)));
        assert!(parse_ports("20-10").is_err());
        assert_eq!(host_only("school.example.cn:8080"), "school.example.cn");
        assert_eq!(host_only("[::1]:8080"), "[::1]");
        assert_eq!(host_only("school.example.cn"), "school.example.cn");
        assert_eq!(parse_srt_listen("off"), Ok(None));
        assert_eq!(
            parse_srt_listen("127.0.0.1"),
            Ok(Some(IpAddr::V4(Ipv4Addr::LOCALHOST)))
        );
        assert!(parse_srt_listen("here").is_err());
    }
}
