//! Replays (异步点播): a lesson's recording (a teacher's upload, a broadcast's own recording
//! or a LiveKit egress) transcoded with ffmpeg into the broadcasts' ladder as HLS video on
//! demand, reviewed by the school (学校审核) before its audience sees it, played through
//! signed URLs, and each person's place in it kept across their devices.
//!
//! [`access`] decides who sees what; [`transcode`] runs the jobs (a few at a time, restarted
//! after a server restart); [`create`], [`review`] and [`watch`] are the services behind the
//! routes.

pub mod access;
pub mod create;
pub mod review;
mod store;
pub mod transcode;
pub mod watch;

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use lianxiao_protocol::{HlsRendition, HlsTicket, Replay, ReplayStatus};
use sqlx::AnyConnection;

pub use create::create_from_upload;
pub use review::review;

use crate::{
    broadcast::sign::UrlSigner,
    db::{Db, Tx, feed, now_ms},
    error::{ApiError, ApiResult},
    realtime::Hub,
};

/// How recordings are transcoded.
#[derive(Debug, Clone)]
pub struct ReplayConfig {
    pub ffmpeg: PathBuf,
    pub ffprobe: PathBuf,
    /// Transcoding jobs at a time (one suits a small server that also runs live lessons).
    pub jobs: usize,
    /// Read recordings at their own speed (`ffmpeg -re`): a job takes as long as the
    /// recording, and leaves the CPU to live broadcasts.
    pub realtime: bool,
}

impl Default for ReplayConfig {
    fn default() -> Self {
        ReplayConfig {
            ffmpeg: PathBuf::from("ffmpeg"),
            ffprobe: PathBuf::from("ffprobe"),
            jobs: 1,
            realtime: false,
        }
    }
}

/// Signed replay URLs stay good this long (long enough to download a lesson on slow Wi-Fi).
pub const TICKET_TTL_MS: i64 = 6 * 3600 * 1000;

/// The running transcoding jobs.
pub struct Replays {
    inner: Arc<Shared>,
}

pub(crate) struct Shared {
    pub config: ReplayConfig,
    pub db: Db,
    pub hub: Arc<Hub>,
    /// `<data_dir>/replays`: one directory per finished replay.
    pub root: PathBuf,
    slots: tokio::sync::Semaphore,
    running: Mutex<HashMap<String, tokio::task::JoinHandle<()>>>,
    adopter: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Replays {
    /// Starts again every job a stopped server left half done.
    pub async fn open(
        config: &ReplayConfig,
        data_dir: &Path,
        db: Db,
        hub: Arc<Hub>,
    ) -> anyhow::Result<Replays> {
        let root = data_dir.join("replays");
        std::fs::create_dir_all(&root)?;
        let replays = Replays {
            inner: Arc::new(Shared {
                config: config.clone(),
                db,
                hub,
                root,
                slots: tokio::sync::Semaphore::new(config.jobs.max(1)),
                running: Mutex::new(HashMap::new()),
                adopter: Mutex::new(None),
            }),
        };
        for id in store::processing_ids(replays.inner.db.pool()).await? {
            tracing::info!(replay = %id, "transcoding resumes");
            replays.enqueue(&id);
        }
        let adopter = tokio::spawn(adopt_now_and_then(replays.inner.clone()));
        *replays.inner.adopter.lock().expect("adopter") = Some(adopter);
        Ok(replays)
    }

    /// Queues the replay's transcoding (once, however often it is asked).
    pub fn enqueue(&self, id: &str) {
        enqueue(&self.inner, id);
    }

    /// Where a finished replay's HLS files are.
    pub fn dir(&self, id: &str) -> PathBuf {
        self.inner.root.join(id)
    }

    /// Stops every job (their ffmpeg processes are killed with them).
    pub fn shutdown(&self) {
        let mut running = self.inner.running.lock().expect("replay jobs");
        for (_, task) in running.drain() {
            task.abort();
        }
        if let Some(task) = self.inner.adopter.lock().expect("adopter").take() {
            task.abort();
        }
    }
}

fn enqueue(shared: &Arc<Shared>, id: &str) {
    let mut running = shared.running.lock().expect("replay jobs");
    running.retain(|_, task| !task.is_finished());
    if running.contains_key(id) {
        return;
    }
    let job = shared.clone();
    let replay_id = id.to_owned();
    let task = tokio::spawn(async move {
        let Ok(_slot) = job.slots.acquire().await else {
            return;
        };
        transcode::run(&job, &replay_id).await;
    });
    running.insert(id.to_owned(), task);
}

/// Looks for lessons' recordings to turn into replays, and for jobs nobody runs, now and then.
async fn adopt_now_and_then(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(ADOPT_EVERY);
    loop {
        tick.tick().await;
        match create::adopt_recordings(&shared).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(recordings = n, "recordings queued as replays"),
            Err(e) => tracing::warn!(error = %e, "recordings not adopted"),
        }
        // A job whose server died (another one sharing the database) or that could not
        // record its outcome is taken up again; one running here or elsewhere is left be.
        match store::processing_ids(shared.db.pool()).await {
            Ok(ids) => ids.iter().for_each(|id| enqueue(&shared, id)),
            Err(e) => tracing::warn!(error = %e, "unfinished replays not looked for"),
        }
    }
}

/// How often finished recordings are looked for.
const ADOPT_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Commits a change to replays and tells connected devices.
pub(crate) async fn commit(mut tx: Tx, db: &Db, hub: &Hub, seq: i64) -> sqlx::Result<()> {
    feed::announce(&mut tx, db.backend(), seq).await?;
    tx.commit().await?;
    hub.committed(db.backend(), seq);
    Ok(())
}

/// The replay as `user_id` sees it; `None` when they may not.
pub async fn load_for(
    conn: &mut AnyConnection,
    user_id: &str,
    id: &str,
) -> ApiResult<Option<Replay>> {
    if !access::sees(conn, user_id, id).await? {
        return Ok(None);
    }
    Ok(store::load(conn, id).await?.map(|s| s.replay))
}

/// `GET /v1/replays`: what the caller sees, newest first; admins ask for `pending_review`.
pub async fn list(
    conn: &mut AnyConnection,
    user_id: &str,
    status: Option<ReplayStatus>,
    lesson_id: Option<&str>,
) -> ApiResult<Vec<Replay>> {
    let ids = store::visible_ids(conn, user_id, status, lesson_id).await?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(stored) = store::load(conn, &id).await? {
            out.push(stored.replay);
        }
    }
    Ok(out)
}

/// Where a replay's files are served, the scope its signatures cover.
pub fn scope(replay_id: &str) -> String {
    format!("/v1/replays/{replay_id}/hls/")
}

/// `POST /v1/replays/{id}/play`: signed URLs for whoever may watch. The audience plays
/// approved replays; the staff may preview one waiting for review (or rejected).
pub async fn ticket(
    conn: &mut AnyConnection,
    signer: &UrlSigner,
    user_id: &str,
    id: &str,
) -> ApiResult<HlsTicket> {
    let replay = load_for(conn, user_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("replay"))?;
    match replay.status {
        ReplayStatus::Approved | ReplayStatus::PendingReview | ReplayStatus::Rejected => {}
        ReplayStatus::Processing => {
            return Err(ApiError::conflict("the replay is still being prepared"));
        }
        ReplayStatus::Failed => {
            return Err(ApiError::conflict(
                "the recording could not be made into a replay",
            ));
        }
    }
    let expires = (now_ms() + TICKET_TTL_MS) / 1000;
    let base = scope(id);
    let grant = signer.grant_in(&base, user_id, expires);
    let query = grant.query();
    Ok(HlsTicket {
        master_url: format!("{base}master.m3u8?{query}"),
        renditions: replay
            .renditions
            .iter()
            .map(|r| HlsRendition {
                name: r.name.clone(),
                bandwidth: r.bandwidth,
                url: format!("{base}{}/index.m3u8?{query}", r.name),
                audio_only: r.audio_only,
            })
            .collect(),
        expires_at: expires * 1000,
    })
}
