//! Push notifications. Phones register per account ([`devices`]); posting a notice queues one
//! push per (recipient, phone) in the notice's own transaction ([`queue`]); the [`Gateway`]
//! here claims due pushes, hands each to its phone's provider (APNs, FCM, Getui, the log) with
//! bounded concurrency, and records what happened: sent, retried later (throttling, provider
//! down), device removed (dead token), failed, or skipped (provider not configured here).

mod apns;
mod config;
pub mod devices;
mod digest;
mod fcm;
mod getui;
mod log;
pub mod policy;
pub mod prefs;
pub mod queue;
pub mod schedule;
pub mod unreachable;

use std::{collections::HashMap, sync::Arc, time::Duration};

use backon::BackoffBuilder;
use futures::future::BoxFuture;
use lianxiao_protocol::{PushData, PushKind, PushProvider, PushState};
use tokio::{
    sync::{Notify, Semaphore},
    task::JoinSet,
};

pub use config::{ApnsConfig, FcmConfig, GetuiConfig, PushConfig};

use crate::{
    clock::Clock,
    db::{Db, new_id},
};

/// One push, ready for a provider.
#[derive(Debug, Clone)]
pub struct Message {
    /// Stable across retries: APNs' `apns-id`, Getui's `request_id`.
    pub uuid: uuid::Uuid,
    pub title: String,
    pub body: String,
    pub data: PushData,
    /// Pushes with one key replace each other on the phone (`apns-collapse-id`,
    /// `android.collapse_key`).
    pub collapse_key: String,
    pub urgent: bool,
    /// How long the provider keeps it for a phone that is off.
    pub ttl: Duration,
}

/// Why a provider did not take a push, sorted by what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// Throttled, provider unavailable, network trouble: try again, after `after` when the
    /// provider said so, else with exponential backoff and jitter.
    Retry {
        after: Option<Duration>,
        reason: String,
    },
    /// The provider says the token is dead (uninstalled, expired, not ours): remove the device.
    BadToken { reason: String },
    /// Retrying will not help (payload refused, credentials wrong).
    Failed { reason: String },
}

/// A push service. Reasons in errors are the provider's codes, never tokens or content.
pub trait Provider: Send + Sync {
    fn send<'a>(
        &'a self,
        token: &'a str,
        message: &'a Message,
    ) -> BoxFuture<'a, Result<(), SendError>>;
}

/// An HTTP client for providers; `prior_knowledge` speaks HTTP/2 without TLS negotiation
/// (APNs' local test endpoint; the real APNs negotiates HTTP/2 through ALPN).
pub(crate) fn http_client(timeout: Duration, http2_only: bool) -> anyhow::Result<reqwest::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)));
    if http2_only {
        builder = builder.http2_prior_knowledge();
    }
    Ok(builder.build()?)
}

/// `Retry-After` in seconds (the form providers use); dates are ignored.
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// The DER inside a PEM block with this label (`PRIVATE KEY` for PKCS#8).
pub(crate) fn pem_der(pem: &str, label: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)? + begin.len();
    let stop = start + pem[start..].find(&end)?;
    let b64: String = pem[start..stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

/// Percent-encodes everything but RFC 3986's unreserved characters (a path segment, a form
/// value, an intent extra).
pub(crate) fn form_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(crate) fn path_segment(s: &str) -> String {
    form_value(s)
}

/// A network error as a reason: its kind only (URLs can hold tokens).
pub(crate) fn transport_error(e: &reqwest::Error) -> SendError {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else {
        "network"
    };
    SendError::Retry {
        after: None,
        reason: kind.to_owned(),
    }
}

/// Delay before attempt `attempt + 1` when the provider named none: 1 s doubling to 10 min,
/// with jitter so a throttled burst does not come back as one.
fn backoff(attempt: u32) -> Duration {
    backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_secs(1))
        .with_max_delay(Duration::from_secs(600))
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .with_total_delay(None)
        .build()
        .nth(attempt.saturating_sub(1) as usize)
        .unwrap_or(Duration::from_secs(600))
}

/// A database error as a reason: its kind, never row values.
fn db_kind(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(d) => format!("database error code {:?}", d.code()),
        sqlx::Error::PoolTimedOut => "pool timed out".into(),
        _ => "database error".into(),
    }
}

/// Sends queued pushes; one per server process.
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    clock: Clock,
    providers: HashMap<PushProvider, Arc<dyn Provider>>,
    config: PushConfig,
    wake: Notify,
    task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    scheduler: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Pushes a provider accepted, for the recorder to write in batches.
    sent: tokio::sync::mpsc::UnboundedSender<queue::SentRecord>,
    recorder: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// How often the sender looks for due pushes without being woken (pushes queued by another
/// instance, retries coming due).
const POLL: Duration = Duration::from_millis(500);

impl Gateway {
    /// Sets up the configured providers and starts sending.
    pub fn start(config: &PushConfig, db: Db, clock: Clock) -> anyhow::Result<Gateway> {
        policy::set_deployment_default(config.default_policy.clone());
        let mut providers: HashMap<PushProvider, Arc<dyn Provider>> = HashMap::new();
        if let Some(apns) = &config.apns {
            providers.insert(
                PushProvider::Apns,
                Arc::new(apns::Apns::new(apns, config.timeout)?),
            );
        }
        if let Some(fcm) = &config.fcm {
            providers.insert(
                PushProvider::Fcm,
                Arc::new(fcm::Fcm::new(fcm, config.timeout)?),
            );
        }
        if let Some(getui) = &config.getui {
            providers.insert(
                PushProvider::Getui,
                Arc::new(getui::Getui::new(getui, config.timeout)?),
            );
        }
        if config.log {
            providers.insert(PushProvider::Log, Arc::new(log::LogSink));
        }
        let configured: Vec<&str> = PushProvider::ALL
            .iter()
            .filter(|p| providers.contains_key(p))
            .map(|p| p.as_str())
            .collect();
        tracing::info!(providers = ?configured, "push gateway");
        let (sent, sent_rx) = tokio::sync::mpsc::unbounded_channel();
        let recorder = tokio::spawn(record_sent(db.clone(), sent_rx));
        let gateway = Gateway {
            inner: Arc::new(Inner {
                db,
                clock,
                providers,
                config: config.clone(),
                wake: Notify::new(),
                task: std::sync::Mutex::new(None),
                scheduler: std::sync::Mutex::new(None),
                sent,
                recorder: std::sync::Mutex::new(Some(recorder)),
            }),
        };
        let task = tokio::spawn(run(gateway.inner.clone()));
        *gateway.inner.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
        let scheduler = tokio::spawn(scheduler(gateway.inner.clone()));
        *gateway
            .inner
            .scheduler
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(scheduler);
        Ok(gateway)
    }

    /// Something was queued (after its transaction committed): look now, not at the next poll.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Stops sending; pushes in flight are claimed and will be sent again once their claim
    /// runs out (by this process after a restart, or by another instance).
    pub fn shutdown(&self) {
        for slot in [
            &self.inner.task,
            &self.inner.scheduler,
            &self.inner.recorder,
        ] {
            if let Some(task) = slot.lock().unwrap_or_else(|e| e.into_inner()).take() {
                task.abort();
            }
        }
    }
}

/// Writes accepted pushes as sent, many to a transaction: on SQLite one commit per push was
/// most of the sender's time in a county-wide fan-out. A push accepted but not yet written
/// when the process dies is sent again once its claim runs out, as before (the window grows
/// by the few milliseconds a batch gathers).
async fn record_sent(db: Db, mut rx: tokio::sync::mpsc::UnboundedReceiver<queue::SentRecord>) {
    const MOST: usize = 500;
    let mut batch = Vec::with_capacity(MOST);
    while rx.recv_many(&mut batch, MOST).await > 0 {
        // SQLite answers "busy" while another writer holds the lock: try again a while before
        // letting the claims run out (and the pushes go again).
        for attempt in 1..=20 {
            match queue::finish_sent(&db, &batch).await {
                Ok(()) => break,
                Err(e) if attempt == 20 => {
                    tracing::warn!(pushes = batch.len(), error = %db_kind(&e), "recording sent pushes failed");
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50 * attempt)).await,
            }
        }
        batch.clear();
    }
}

/// The scheduler ([`schedule`]): looks for passed homework deadlines and lessons about to
/// start by the server clock, and wakes the sender when it queued something.
async fn scheduler(inner: Arc<Inner>) {
    let lead = inner.config.lesson_lead.as_millis() as i64;
    loop {
        match schedule::tick(&inner.db, inner.clock.now_ms(), lead).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(pushes = n, "scheduled pushes queued");
                inner.wake.notify_one();
            }
            Err(e) => tracing::warn!(error = %db_kind(&e), "push scheduler failed"),
        }
        tokio::time::sleep(inner.config.schedule_every).await;
    }
}

/// The sender: claim as many due pushes as there are free slots, send each in a task of its
/// own, repeat. Dropping the task (shutdown) drops the sends in flight with it.
async fn run(inner: Arc<Inner>) {
    let slots = Arc::new(Semaphore::new(inner.config.concurrency));
    let mut sending = JoinSet::new();
    // A claim outlives the longest send (an OAuth or auth refresh, then the push itself).
    let lease_ms = (inner.config.timeout.as_millis() as i64) * 3 + 1000;
    loop {
        while sending.try_join_next().is_some() {}
        let free = slots.available_permits();
        if free == 0 {
            if let Ok(permit) = slots.clone().acquire_owned().await {
                drop(permit);
            }
            continue;
        }
        let claim = new_id();
        let batch = match queue::claim(
            &inner.db,
            &claim,
            inner.clock.now_ms(),
            lease_ms,
            free.min(200),
        )
        .await
        {
            Ok(batch) => batch,
            Err(e) => {
                tracing::warn!(error = %db_kind(&e), "claiming pushes failed");
                tokio::time::sleep(POLL).await;
                continue;
            }
        };
        if batch.is_empty() {
            tokio::select! {
                _ = inner.wake.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
            continue;
        }
        let window_ms = inner.config.digest_window.as_millis() as i64;
        let due =
            match digest::hold_and_group(&inner.db, batch, inner.clock.now_ms(), window_ms).await {
                Ok(due) => due,
                Err(e) => {
                    // The claims run out and the pushes are looked at again.
                    tracing::warn!(error = %db_kind(&e), "holding pushes failed");
                    tokio::time::sleep(POLL).await;
                    continue;
                }
            };
        for phone in due.phones {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return;
            };
            let inner = inner.clone();
            sending.spawn(async move {
                deliver_phone(&inner, phone).await;
                drop(permit);
            });
        }
    }
}

/// Sends what one phone has due: one push as itself, several as one digest.
async fn deliver_phone(inner: &Inner, mut pushes: Vec<queue::Claimed>) {
    if pushes.len() <= 1 {
        if let Some(push) = pushes.pop() {
            deliver(inner, push).await;
        }
        return;
    }
    let db = &inner.db;
    // Withdrawn items (retracted notice, handed-in homework, cancelled lesson) drop out.
    let mut live = Vec::with_capacity(pushes.len());
    for push in pushes {
        match queue::content(db, &push).await {
            Ok(Some(content)) => live.push((push, content)),
            Ok(None) => {
                let now = inner.clock.now_ms();
                if let Err(e) =
                    queue::finish(db, &push, PushState::Skipped, Some("withdrawn"), now).await
                {
                    tracing::warn!(push = %push.id, error = %db_kind(&e), "recording a push outcome failed");
                }
            }
            // The claim runs out and it is looked at again.
            Err(e) => {
                tracing::warn!(push = %push.id, error = %db_kind(&e), "reading a push failed")
            }
        }
    }
    if live.len() <= 1 {
        if let Some((push, _)) = live.pop() {
            deliver(inner, push).await;
        }
        return;
    }
    let count = live.len();
    let all_notices = live.iter().all(|(p, _)| p.kind == PushKind::Notice);
    let Some((lead, newest)) = live.pop() else {
        return;
    };
    let carried: Vec<&queue::Claimed> = live.iter().map(|(p, _)| p).collect();
    let school = match digest::one_school(
        live.iter()
            .map(|(p, _)| p.school_id.as_deref())
            .chain([lead.school_id.as_deref()]),
    ) {
        Some(id) => queue::school_name(db, id).await.ok().flatten(),
        None => None,
    };
    let (title, body) = digest::digest_text(school.as_deref(), count, all_notices, &newest.title);
    let message = Message {
        uuid: lead.uuid(),
        title,
        body,
        data: PushData {
            kind: lead.kind,
            id: lead.item_id.clone(),
            account_id: lead.user_id.clone(),
            badge: newest.badge,
        },
        collapse_key: format!("digest:{}", lead.user_id),
        urgent: false,
        ttl: inner.config.ttl,
    };
    let outcome = match route(inner, &lead) {
        Ok((provider, token)) => provider.send(token, &message).await.map_err(Outcome::Send),
        Err(skip) => Err(skip),
    };
    let now = inner.clock.now_ms();
    let result = async {
        match &outcome {
            Ok(()) => {
                queue::finish(db, &lead, PushState::Sent, None, now).await?;
                queue::finish_carried(db, &lead, &carried, now).await
            }
            Err(Outcome::Send(SendError::Retry { after, reason }))
                if lead.attempts + 1 < inner.config.max_attempts =>
            {
                let delay = after.unwrap_or_else(|| backoff(lead.attempts + 1));
                let at = now + delay.as_millis() as i64;
                for p in std::iter::once(&lead).chain(carried.iter().copied()) {
                    queue::retry(db, p, at, reason).await?;
                }
                Ok(())
            }
            Err(Outcome::Send(SendError::BadToken { reason })) => {
                queue::remove_device(db, &lead, reason, now).await?;
                for p in &carried {
                    queue::finish(db, p, PushState::DeviceRemoved, Some(reason), now).await?;
                }
                Ok(())
            }
            Err(other) => {
                let (state, reason) = match other {
                    Outcome::Skip(reason) => (PushState::Skipped, (*reason).to_owned()),
                    Outcome::Send(
                        SendError::Retry { reason, .. }
                        | SendError::Failed { reason }
                        | SendError::BadToken { reason },
                    ) => (PushState::Failed, reason.clone()),
                };
                for p in std::iter::once(&lead).chain(carried.iter().copied()) {
                    queue::finish(db, p, state, Some(&reason), now).await?;
                }
                Ok(())
            }
        }
    }
    .await;
    match result {
        Ok(()) => {
            tracing::info!(push = %lead.id, carried = carried.len(), ok = outcome.is_ok(), "digest")
        }
        Err(e) => {
            tracing::warn!(push = %lead.id, error = %db_kind(&e), "recording a digest's outcome failed")
        }
    }
}

/// Sends one claimed push and records the outcome.
async fn deliver(inner: &Inner, push: queue::Claimed) {
    let db = &inner.db;
    let outcome = attempt(inner, &push).await;
    let now = inner.clock.now_ms();
    let result = match outcome {
        Ok(()) => {
            let record = queue::SentRecord::of(&push, now);
            if let Err(tokio::sync::mpsc::error::SendError(record)) = inner.sent.send(record) {
                queue::finish_sent(db, &[record]).await
            } else {
                Ok(())
            }
        }
        Err(Outcome::Skip(reason)) => {
            queue::finish(db, &push, PushState::Skipped, Some(reason), now).await
        }
        Err(Outcome::Send(SendError::BadToken { reason })) => {
            tracing::info!(push = %push.id, device = %push.device_id, reason = %reason, "device removed: its token is dead");
            queue::remove_device(db, &push, &reason, now).await
        }
        Err(Outcome::Send(SendError::Failed { reason })) => {
            tracing::warn!(push = %push.id, reason = %reason, "push failed");
            queue::finish(db, &push, PushState::Failed, Some(&reason), now).await
        }
        Err(Outcome::Send(SendError::Retry { after, reason })) => {
            let attempts = push.attempts + 1;
            if attempts >= inner.config.max_attempts {
                tracing::warn!(push = %push.id, attempts, reason = %reason, "push gave up");
                queue::finish(db, &push, PushState::Failed, Some(&reason), now).await
            } else {
                let delay = after.unwrap_or_else(|| backoff(attempts));
                tracing::info!(push = %push.id, attempts, reason = %reason, delay_ms = delay.as_millis() as u64, "push will be retried");
                queue::retry(db, &push, now + delay.as_millis() as i64, &reason).await
            }
        }
    };
    if let Err(e) = result {
        // The claim runs out and the push is tried again.
        tracing::warn!(push = %push.id, error = %db_kind(&e), "recording a push outcome failed");
    }
}

enum Outcome {
    Skip(&'static str),
    Send(SendError),
}

/// The provider and token a push goes through, or why it is not sent.
fn route<'a>(
    inner: &'a Inner,
    push: &'a queue::Claimed,
) -> Result<(&'a Arc<dyn Provider>, &'a str), Outcome> {
    let Some(device) = &push.device else {
        return Err(Outcome::Skip("device_unregistered"));
    };
    if !push.linked {
        return Err(Outcome::Skip("account_signed_out"));
    }
    let Some(provider) = inner.providers.get(&device.provider) else {
        return Err(Outcome::Skip("provider_not_configured"));
    };
    Ok((provider, device.token.as_str()))
}

async fn attempt(inner: &Inner, push: &queue::Claimed) -> Result<(), Outcome> {
    let (provider, token) = route(inner, push)?;
    let content = match queue::content(&inner.db, push).await {
        Ok(Some(content)) => content,
        Ok(None) => return Err(Outcome::Skip("withdrawn")),
        Err(e) => {
            return Err(Outcome::Send(SendError::Retry {
                after: None,
                reason: db_kind(&e),
            }));
        }
    };
    let message = Message {
        uuid: push.uuid(),
        title: content.title,
        body: content.body,
        data: PushData {
            kind: push.kind,
            id: push.item_id.clone(),
            account_id: push.user_id.clone(),
            badge: content.badge,
        },
        collapse_key: push.collapse_key.clone(),
        urgent: push.urgent,
        ttl: inner.config.ttl,
    };
    provider.send(token, &message).await.map_err(Outcome::Send)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_bounded() {
        // Jitter adds up to the delay itself: attempt n waits between 2^(n-1) and 2^n seconds.
        let first = backoff(1);
        assert!(first >= Duration::from_secs(1) && first <= Duration::from_secs(2));
        let fourth = backoff(4);
        assert!(fourth >= Duration::from_secs(8) && fourth <= Duration::from_secs(16));
        assert!(backoff(40) <= Duration::from_secs(1200));
    }
}
