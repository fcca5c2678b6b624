//! The server as one value: configuration, database, token keys, login limits, realtime hub.

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use crate::{
    auth::{LoginLimiter, TokenKeys},
    broadcast::{BroadcastConfig, Broadcasts},
    clock::Clock,
    db::{Db, now_ms},
    push::{Gateway, PushConfig},
    realtime::Hub,
    replays::{ReplayConfig, Replays},
    uploads::{self, Blobs, tus},
};

/// How a server is set up; the CLI and the tests fill it.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// A `postgres://` URL; SQLite in `data_dir` when absent.
    pub database_url: Option<String>,
    pub access_ttl_secs: u64,
    /// How long an unfinished upload is kept after its last activity.
    pub upload_ttl_secs: u64,
    /// The LiveKit deployment for interactive lessons; joining one answers 503 without it.
    pub livekit: Option<LiveKitConfig>,
    /// How long before a lesson starts its room may be joined.
    pub join_early_secs: u64,
    /// RTMP ingest and HLS packaging of broadcast lessons.
    pub broadcast: BroadcastConfig,
    /// Transcoding recordings into replays.
    pub replays: ReplayConfig,
    /// Push providers (APNs, FCM, Getui, the log sink).
    pub push: PushConfig,
    /// How long a parent may go without contact or an accepted push before teachers see them
    /// as unreachable (`LIANXIAO_UNREACHABLE_AFTER_HOURS`).
    pub unreachable_after: Duration,
    /// Serve `PUT /v1/test/clock` (end-to-end tests only; see [`crate::clock`]).
    pub test_clock: bool,
    /// Upload quotas per account and the clean-up of uploads nothing uses.
    pub uploads: uploads::UploadLimits,
    /// Password checks at once, realtime sockets per account, header and idle timeouts.
    pub limits: crate::auth::Limits,
}

/// Where LiveKit runs and the key pair our server signs with.
#[derive(Clone)]
pub struct LiveKitConfig {
    /// What the apps connect to, `wss://…`.
    pub url: String,
    /// Where the server calls LiveKit's Twirp API (`https://…`); derived from `url` if empty.
    pub api_url: String,
    pub api_key: String,
    pub api_secret: String,
}

impl LiveKitConfig {
    /// The Twirp base URL: `api_url`, or `url` with its scheme turned into HTTP(S).
    pub fn api_base(&self) -> String {
        if !self.api_url.is_empty() {
            return self.api_url.clone();
        }
        if let Some(rest) = self.url.strip_prefix("wss://") {
            format!("https://{rest}")
        } else if let Some(rest) = self.url.strip_prefix("ws://") {
            format!("http://{rest}")
        } else {
            self.url.clone()
        }
    }
}

impl std::fmt::Debug for LiveKitConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveKitConfig")
            .field("url", &self.url)
            .field("api_url", &self.api_url)
            .field("api_key", &self.api_key)
            .field("api_secret", &"<redacted>")
            .finish()
    }
}

impl ServerConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        ServerConfig {
            data_dir: data_dir.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: None,
            access_ttl_secs: 15 * 60,
            upload_ttl_secs: lianxiao_protocol::DEFAULT_UPLOAD_TTL_SECS,
            livekit: None,
            join_early_secs: DEFAULT_JOIN_EARLY_SECS,
            broadcast: BroadcastConfig::default(),
            replays: ReplayConfig::default(),
            push: PushConfig::default(),
            unreachable_after: crate::push::unreachable::DEFAULT_UNREACHABLE_AFTER,
            test_clock: false,
            uploads: uploads::UploadLimits::default(),
            limits: crate::auth::Limits::default(),
        }
    }
}

/// Rooms open a quarter of an hour before the lesson, for the teacher to set up.
pub const DEFAULT_JOIN_EARLY_SECS: u64 = 15 * 60;

#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    config: ServerConfig,
    db: Db,
    keys: TokenKeys,
    limiter: LoginLimiter,
    hub: Arc<Hub>,
    blobs: Blobs,
    upload_locks: tus::Locks,
    broadcasts: Broadcasts,
    replays: Replays,
    push: Gateway,
    clock: Clock,
    contacts: crate::push::unreachable::Contacts,
    housekeeping: tokio::task::JoinHandle<()>,
}

impl AppState {
    /// Opens the database (running migrations) and starts the background tasks.
    pub async fn open(config: &ServerConfig) -> anyhow::Result<AppState> {
        let db = Db::open(&config.data_dir, config.database_url.as_deref()).await?;
        let keys = TokenKeys::load(&db, config.access_ttl_secs).await?;
        let hub = Hub::new();
        hub.start(db.clone());
        let blobs = Blobs::under(&config.data_dir)?;
        let broadcasts = Broadcasts::open(
            &config.broadcast,
            config.join_early_secs,
            &config.data_dir,
            db.clone(),
            hub.clone(),
        )
        .await?;
        let replays =
            Replays::open(&config.replays, &config.data_dir, db.clone(), hub.clone()).await?;
        let clock = if config.test_clock {
            tracing::warn!(
                "TEST CLOCK ENABLED ({}=1): PUT /v1/test/clock can move this server's clock; never run a school on it",
                crate::clock::TEST_CLOCK_ENV
            );
            Clock::settable()
        } else {
            Clock::system()
        };
        let push = Gateway::start(&config.push, db.clone(), clock.clone())?;
        let housekeeping = tokio::spawn(housekeeping(
            db.clone(),
            blobs.clone(),
            config.uploads.clone(),
        ));
        Ok(AppState {
            inner: Arc::new(Inner {
                config: config.clone(),
                db,
                keys,
                limiter: LoginLimiter::new(&config.limits),
                hub,
                blobs,
                upload_locks: tus::Locks::default(),
                broadcasts,
                replays,
                push,
                clock,
                contacts: Default::default(),
                housekeeping,
            }),
        })
    }

    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    pub fn keys(&self) -> &TokenKeys {
        &self.inner.keys
    }

    pub fn limiter(&self) -> &LoginLimiter {
        &self.inner.limiter
    }

    /// Where uploads and attachments keep their bytes.
    pub fn blobs(&self) -> &Blobs {
        &self.inner.blobs
    }

    pub fn upload_locks(&self) -> &tus::Locks {
        &self.inner.upload_locks
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.inner.hub
    }

    /// Broadcast lessons: their ingests (ffmpeg) and HLS viewers.
    pub fn broadcasts(&self) -> &Broadcasts {
        &self.inner.broadcasts
    }

    /// Replays: their transcoding jobs and files.
    pub fn replays(&self) -> &Replays {
        &self.inner.replays
    }

    /// The push gateway: wake it after committing queued pushes.
    pub fn push(&self) -> &Gateway {
        &self.inner.push
    }

    /// The clock quiet hours, caps and deadlines go by (movable in end-to-end tests).
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// Records that the caller's app was in touch (sync, realtime), at most once a minute each.
    pub fn contact(&self, user_id: &str) {
        self.inner
            .contacts
            .touch(&self.inner.db, user_id, self.inner.clock.now_ms());
    }

    /// Stops the background tasks and closes realtime sockets, then the database pool.
    pub async fn shutdown(&self) {
        self.inner.hub.shutdown();
        self.inner.broadcasts.shutdown();
        self.inner.replays.shutdown();
        self.inner.push.shutdown();
        self.inner.housekeeping.abort();
        self.inner.db.pool().close().await;
    }
}

/// Idempotency keys outlive the clients' retry horizon (a phone may stay offline for days).
pub const IDEMPOTENCY_RETENTION_MS: i64 = 14 * 24 * 60 * 60 * 1000;

async fn housekeeping(db: Db, blobs: Blobs, limits: uploads::UploadLimits) {
    // Uploads are swept on their own schedule (see `uploads::sweep`).
    let uploads = uploads::sweep(db.clone(), blobs, limits);
    let keys = idempotency_keys(db);
    tokio::join!(uploads, keys);
}

async fn idempotency_keys(db: Db) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let cutoff = now_ms() - IDEMPOTENCY_RETENTION_MS;
        let result = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
            .bind(cutoff)
            .execute(db.pool())
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "idempotency key clean-up failed");
        }
    }
}
