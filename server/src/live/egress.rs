//! An interactive lesson's room on the broadcast path too: LiveKit's egress pushes the room,
//! composed, into the lesson's own RTMP ingest, and the server packages it into the same
//! signed HLS as a broadcast lesson. Phones that drop from WebRTC to HLS (a weak link) and
//! viewers who are not in the room (parents) watch that, as thousands would a broadcast.
//!
//! Only where it is set up: `LIANXIAO_EGRESS_RTMP_HOST` names the host LiveKit's egress
//! workers reach this server's RTMP ingest at (they run elsewhere, so loopback would not do).
//! Then:
//! - `room_started` (LiveKit's webhook, when the first participant, normally the lead, opens
//!   the room): the lesson's ingest opens (its key and port, as for a broadcast lesson) and
//!   the server asks LiveKit's Egress service (Twirp, `StartRoomCompositeEgress`) for a
//!   RoomComposite egress with one RTMP stream output, `rtmp://<host>:<port>/live/<key>`.
//!   The egress id is kept (`lesson_egress`), so any server that hears the end can stop it.
//! - `room_finished`: `StopEgress` for that id (LiveKit would also end it with the room; the
//!   call makes sure nothing keeps pushing into a finished lesson).
//!
//! The room, not the push, says whether an interactive lesson is live: an egress that stops
//! leaves the lesson's status alone. The calls run after the webhook is committed and
//! answered; a failure is logged, and the room goes on without HLS.

use lianxiao_protocol::{LessonMode, LessonStatus, lesson_room};
use livekit_api::services::egress::{
    EgressClient, EgressOutput, RoomCompositeOptions, encoding::H264_720P_30,
};
use livekit_protocol::{StreamOutput, StreamProtocol};

use std::path::{Component, Path, PathBuf};

use crate::{
    app::AppState,
    db::now_ms,
    error::{ApiError, ApiResult},
    lessons::access,
};

/// What a webhook asks of the egress once it is committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomChange {
    Started(String),
    Finished(String),
}

/// Whether interactive lessons are fed to HLS on this server.
pub fn enabled(state: &AppState) -> bool {
    state.config().livekit.is_some() && state.config().broadcast.egress_rtmp_host.is_some()
}

/// Starts or stops the room's egress; logs what fails.
pub async fn follow(state: AppState, change: RoomChange) {
    if !enabled(&state) {
        return;
    }
    let result = match &change {
        RoomChange::Started(lesson) => start(&state, lesson).await,
        RoomChange::Finished(lesson) => stop(&state, lesson).await,
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, change = ?change, "LiveKit egress not changed");
    }
}

fn client(state: &AppState) -> anyhow::Result<EgressClient> {
    let lk = state
        .config()
        .livekit
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("LiveKit is not set up"))?;
    Ok(EgressClient::with_api_key(
        &lk.api_base(),
        &lk.api_key,
        &lk.api_secret,
    ))
}

async fn start(state: &AppState, lesson_id: &str) -> anyhow::Result<()> {
    let Some(host) = state.config().broadcast.egress_rtmp_host.clone() else {
        return Ok(());
    };
    let mut conn = state.db().pool().acquire().await?;
    let Some(lesson) = access::lesson_row(&mut conn, lesson_id).await? else {
        return Ok(());
    };
    drop(conn);
    if lesson.mode != LessonMode::Interactive
        || matches!(lesson.status, LessonStatus::Ended | LessonStatus::Cancelled)
    {
        return Ok(());
    }
    let running: Option<String> = sqlx::query_scalar(
        "SELECT egress_id FROM lesson_egress WHERE lesson_id = $1 AND stopped_at IS NULL",
    )
    .bind(&lesson.id)
    .fetch_optional(state.db().pool())
    .await?;
    if running.is_some() {
        return Ok(());
    }
    let (key, port) = state
        .broadcasts()
        .open_for_room(&lesson)
        .await
        .map_err(|e| anyhow::anyhow!("the ingest did not open: {e}"))?;
    let output = StreamOutput {
        protocol: StreamProtocol::Rtmp as i32,
        urls: vec![format!("rtmp://{host}:{port}/live/{key}")],
    };
    let info = client(state)?
        .start_room_composite_egress(
            &lesson_room(&lesson.id),
            vec![EgressOutput::Stream(output)],
            RoomCompositeOptions {
                // The lead large, whoever is on stage beside: what a class watches.
                layout: "speaker".into(),
                // The ingest makes the 360p rendition from it.
                encoding: H264_720P_30,
                ..Default::default()
            },
        )
        .await?;
    let now = now_ms();
    sqlx::query(
        "INSERT INTO lesson_egress (lesson_id, egress_id, started_at) VALUES ($1, $2, $3) \
         ON CONFLICT (lesson_id) DO UPDATE SET egress_id = $2, started_at = $3, stopped_at = NULL",
    )
    .bind(&lesson.id)
    .bind(&info.egress_id)
    .bind(now)
    .execute(state.db().pool())
    .await?;
    tracing::info!(lesson = %lesson.id, egress = %info.egress_id, "the room is egressed to HLS");
    Ok(())
}

async fn stop(state: &AppState, lesson_id: &str) -> anyhow::Result<()> {
    let running: Option<String> = sqlx::query_scalar(
        "SELECT egress_id FROM lesson_egress WHERE lesson_id = $1 AND stopped_at IS NULL",
    )
    .bind(lesson_id)
    .fetch_optional(state.db().pool())
    .await?;
    let Some(egress_id) = running else {
        return Ok(());
    };
    // Marked first: a second server hearing the same end does not stop it again.
    let claimed = sqlx::query(
        "UPDATE lesson_egress SET stopped_at = $2 WHERE lesson_id = $1 AND stopped_at IS NULL",
    )
    .bind(lesson_id)
    .bind(now_ms())
    .execute(state.db().pool())
    .await?
    .rows_affected();
    if claimed == 0 {
        return Ok(());
    }
    client(state)?.stop_egress(&egress_id).await?;
    tracing::info!(lesson = %lesson_id, egress = %egress_id, "the room's egress is stopped");
    Ok(())
}

/// Where a finished egress's file may be read from: the configured egress directory (a volume
/// LiveKit's egress writes to) and this server's data directory, outside its upload blobs
/// (people's homework is never made a lesson's replay).
#[derive(Debug, Clone)]
pub struct EgressFiles {
    pub data_dir: PathBuf,
    pub egress_dir: Option<PathBuf>,
}

impl EgressFiles {
    pub fn of(state: &AppState) -> EgressFiles {
        EgressFiles {
            data_dir: state.config().data_dir.clone(),
            egress_dir: state.config().broadcast.egress_dir.clone(),
        }
    }

    /// What an `egress_ended` webhook's file location is recorded as. A local path (or
    /// `file://` URL) must be absolute, without `..`, and really (symlinks resolved) a regular
    /// file under one of the places; it is recorded as that real path, so ffprobe reads that
    /// file and no other. Another scheme (`s3://`, `https://`) is not on this server and is kept
    /// as it is, never read. Anything else is refused before anything is written.
    pub async fn location(&self, location: &str) -> ApiResult<String> {
        let refused = || {
            ApiError::validation(
                "egressInfo.fileResults.location",
                "the egress file is not in this server's egress directory",
            )
        };
        let path = match location.split_once("://") {
            Some(("file", path)) => path,
            Some((scheme, _))
                if !scheme.is_empty()
                    && scheme
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
            {
                return Ok(location.to_owned());
            }
            _ => location,
        };
        let path = Path::new(path);
        if !path.is_absolute() || path.components().any(|c| c == Component::ParentDir) {
            return Err(refused());
        }
        let real = tokio::fs::canonicalize(path).await.map_err(|_| refused())?;
        let is_file = tokio::fs::metadata(&real)
            .await
            .map(|m| m.is_file())
            .unwrap_or(false);
        if !is_file {
            return Err(refused());
        }
        let real_root = |dir: &Path| std::fs::canonicalize(dir).ok();
        let in_egress_dir = self
            .egress_dir
            .as_deref()
            .and_then(real_root)
            .is_some_and(|root| real.starts_with(root));
        let in_data_dir = real_root(&self.data_dir).is_some_and(|root| {
            real.starts_with(&root) && !real.starts_with(root.join(crate::uploads::BLOBS_DIR))
        });
        if !(in_egress_dir || in_data_dir) {
            return Err(refused());
        }
        Ok(real.display().to_string())
    }
}
