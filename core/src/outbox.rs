//! The outbox sender: delivers queued mutations with their idempotency keys, retrying
//! transient failures with backoff and jitter, taking permanent ones out of the queue (and
//! showing them to the user), pausing while the account is signed out remotely.
//!
//! One item is in flight at a time per account (a send lock), so the same key is never sent
//! twice concurrently; an item waiting for its retry time never blocks the items behind it.

use std::{sync::Arc, time::Duration};

use backon::BackoffBuilder;
use lianxiao_protocol::{Millis, Notice, ReceiptAck, Submission, SubmitWork, WatchPosition};

use crate::{
    Error, Result, RetryClass,
    api::now_ms,
    client::Shared,
    store::{self, outbox::OutboxItem},
};

/// What a queued mutation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutboxKind {
    /// Mark a notice read.
    Read,
    /// Acknowledge a notice (回执).
    Ack,
    /// Post a notice written on this device.
    PostNotice,
    /// Hand homework in (its files are uploaded first).
    HandIn,
    /// Grade, return or sign off a submission.
    Review,
    /// Time watched in a replay and where the player was (its `notice_id` is the replay's
    /// id): one report per send, counted once by its key.
    Watch,
    /// The account's notification settings, replaced whole (its `notice_id` is the
    /// account's id).
    NotificationSettings,
}

impl OutboxKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxKind::Read => "read",
            OutboxKind::Ack => "ack",
            OutboxKind::PostNotice => "post_notice",
            OutboxKind::HandIn => "hand_in",
            OutboxKind::Review => "review",
            OutboxKind::Watch => "watch",
            OutboxKind::NotificationSettings => "notification_settings",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "read" => Some(OutboxKind::Read),
            "ack" => Some(OutboxKind::Ack),
            "post_notice" => Some(OutboxKind::PostNotice),
            "hand_in" => Some(OutboxKind::HandIn),
            "review" => Some(OutboxKind::Review),
            "watch" => Some(OutboxKind::Watch),
            "notification_settings" => Some(OutboxKind::NotificationSettings),
            _ => None,
        }
    }
}

/// A mutation the server rejected for good, kept until the user dismisses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxFailure {
    pub id: i64,
    pub kind: OutboxKind,
    /// The notice it was about (a local id for a post that never reached the server).
    pub notice_id: String,
    pub notice_title: Option<String>,
    /// The core error code name, e.g. `forbidden`, `validation`.
    pub error_code: String,
    pub message: String,
    /// Local clock, Unix ms.
    pub failed_at: Millis,
}

/// How long to wait before attempt number `attempts + 1`: exponential from 1 s to 5 min,
/// with jitter so a school's phones do not all come back in the same second.
pub(crate) fn retry_delay(attempts: u32) -> Duration {
    backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_secs(1))
        .with_max_delay(Duration::from_secs(300))
        .with_jitter()
        .without_max_times()
        .build()
        .nth(attempts as usize)
        .unwrap_or(Duration::from_secs(300))
}

/// What happened to one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Delivered,
    RetryLater,
    Failed,
    /// Signed out remotely: nothing was changed; wait for a new sign-in.
    Paused,
    /// Its files are still uploading: nothing was sent.
    Waiting,
}

async fn send(shared: &Arc<Shared>, item: &OutboxItem) -> Result<Delivery> {
    let api = &shared.api;
    let id = &item.notice_id;
    match item.kind {
        OutboxKind::Read => {
            let r: ReceiptAck = api
                .post(&format!("/notices/{id}/read"), None, &item.key)
                .await?;
            Ok(Delivery::Receipt(r))
        }
        OutboxKind::Ack => {
            let r: ReceiptAck = api
                .post(&format!("/notices/{id}/ack"), None, &item.key)
                .await?;
            Ok(Delivery::Receipt(r))
        }
        OutboxKind::PostNotice => {
            let body = item.body.as_deref().unwrap_or("{}").as_bytes();
            let n: Notice = api.post("/notices", Some(body), &item.key).await?;
            Ok(Delivery::Posted(n))
        }
        OutboxKind::HandIn => {
            let handin_id = id.clone();
            let (handin, files) = shared
                .store
                .read(move |c| {
                    let h = store::homework::handin(c, &handin_id)?;
                    let files = store::homework::batch_state(
                        c,
                        &store::homework::handin_batch(&handin_id),
                    )?;
                    Ok((h, files))
                })
                .await?;
            let Some(handin) = handin else {
                return Ok(Delivery::Nothing);
            };
            let upload_ids = match ready(files)? {
                Some(ids) => ids,
                None => return Ok(Delivery::Waiting),
            };
            let body = serde_json::to_vec(&SubmitWork {
                text: handin.text,
                upload_ids,
            })?;
            let s: Submission = api
                .post(
                    &format!("/homework/{}/submissions", handin.homework_id),
                    Some(&body),
                    &item.key,
                )
                .await?;
            Ok(Delivery::HandedIn(s))
        }
        OutboxKind::Review => {
            let review_id = id.clone();
            let (review, voice) = shared
                .store
                .read(move |c| {
                    let r = store::homework::review(c, &review_id)?;
                    let v = store::homework::batch_state(
                        c,
                        &crate::homework::review_batch(&review_id),
                    )?;
                    Ok((r, v))
                })
                .await?;
            let Some((submission_id, action, body)) = review else {
                return Ok(Delivery::Nothing);
            };
            let voice = match ready(voice)? {
                Some(ids) => ids.into_iter().next(),
                None => return Ok(Delivery::Waiting),
            };
            let mut body: serde_json::Value = serde_json::from_str(&body)?;
            if let Some(v) = voice {
                body["voice_upload_id"] = serde_json::Value::String(v);
            }
            let route = match action.as_str() {
                "grade" => "grade",
                "return" => "return",
                _ => "sign-off",
            };
            let body = serde_json::to_vec(&body)?;
            let s: Submission = api
                .post(
                    &format!("/submissions/{submission_id}/{route}"),
                    Some(&body),
                    &item.key,
                )
                .await?;
            Ok(Delivery::Reviewed(s))
        }
        OutboxKind::Watch => {
            // Sealed before it goes: later progress goes into a new report, so this key
            // always stands for this body.
            let item_id = item.id;
            let Some(body) = shared
                .store
                .write(move |tx| store::replays::seal_report(tx, item_id))
                .await?
            else {
                return Ok(Delivery::Nothing);
            };
            let answer: serde_json::Value = api
                .post(
                    &format!("/replays/{id}/watch"),
                    Some(body.as_bytes()),
                    &item.key,
                )
                .await?;
            Ok(Delivery::Watched(serde_json::from_value(answer).ok()))
        }
        OutboxKind::NotificationSettings => {
            use store::notification_settings::Pending;
            let pending: Pending = serde_json::from_str(item.body.as_deref().unwrap_or("{}"))?;
            let whole = match pending {
                Pending::Replace(whole) => whole,
                // Made before the first sync: laid over the server's copy as it is now.
                Pending::Patch { patch } => {
                    let now: lianxiao_protocol::NotificationSettings =
                        api.get("/notification-settings", &[]).await?;
                    patch.apply(&now)
                }
            };
            let body = serde_json::to_vec(&whole)?;
            let s: lianxiao_protocol::NotificationSettings = api
                .send_json(
                    reqwest::Method::PUT,
                    "/notification-settings",
                    Some(&body),
                    &item.key,
                )
                .await?;
            Ok(Delivery::Settings(s))
        }
    }
}

/// The server ids of a batch's uploads when all are done; `None` while some are going up;
/// the upload's own error when one was refused.
fn ready(state: store::homework::BatchState) -> Result<Option<Vec<String>>> {
    match state {
        store::homework::BatchState::Ready(ids) => Ok(Some(ids)),
        store::homework::BatchState::Waiting => Ok(None),
        store::homework::BatchState::Failed { code, message } => Err(match code.as_str() {
            "forbidden" => Error::Forbidden(message),
            "not_found" => Error::NotFound(message),
            "conflict" => Error::Conflict(message),
            _ => Error::Validation {
                field: Some("files".into()),
                message,
            },
        }),
    }
}

enum Delivery {
    Receipt(ReceiptAck),
    Posted(Notice),
    HandedIn(Submission),
    Reviewed(Submission),
    /// The server's view of the person's place, when it answered with one.
    Watched(Option<WatchPosition>),
    /// The settings as the server now keeps them.
    Settings(lianxiao_protocol::NotificationSettings),
    /// What it was about is gone (e.g. the homework was deleted): drop the item.
    Nothing,
    Waiting,
}

/// Sends one item and records the result. The caller holds the send lock.
async fn deliver(shared: &Arc<Shared>, item: OutboxItem) -> Result<Outcome> {
    let item_kind = item.kind;
    let result = send(shared, &item).await;
    let outcome = match result {
        Ok(Delivery::Waiting) => return Ok(Outcome::Waiting),
        Ok(delivery) => {
            // The server has it, the store does not know yet: a killed app sends it again
            // with the same key after its restart.
            crate::hooks::reached(&shared.user_id, "outbox.sent");
            let mut cleanup: Vec<String> = Vec::new();
            if let Delivery::HandedIn(_) = &delivery {
                let id = item.notice_id.clone();
                if let Some(h) = shared
                    .store
                    .read(move |c| store::homework::handin(c, &id))
                    .await?
                {
                    cleanup = h.files.into_iter().map(|f| f.path).collect();
                }
            }
            let item = item.clone();
            shared
                .store
                .write(move |tx| {
                    store::outbox::delivered(tx, item.id)?;
                    match delivery {
                        Delivery::Receipt(r) => {
                            store::notices::receipt_delivered(tx, &item.notice_id, &r.receipt)
                        }
                        Delivery::Posted(n) => {
                            store::notices::post_delivered(tx, &item.notice_id, &n)
                        }
                        Delivery::HandedIn(s) => {
                            store::homework::handin_delivered(tx, &item.notice_id, &s)
                        }
                        Delivery::Reviewed(s) => {
                            store::homework::review_done(tx, &item.notice_id, &s)
                        }
                        Delivery::Watched(Some(p)) => store::replays::put_synced_position(tx, &p),
                        Delivery::Watched(None) => Ok(()),
                        Delivery::Settings(s) => {
                            store::notification_settings::settle(tx, item.id, Some(&s))
                        }
                        Delivery::Nothing | Delivery::Waiting => Ok(()),
                    }
                })
                .await?;
            // The server has the files now; the phone's copies can go.
            for path in cleanup {
                let _ = std::fs::remove_file(path);
            }
            tracing::debug!(
                item = item.id,
                kind = item.kind.as_str(),
                "outbox item delivered"
            );
            Outcome::Delivered
        }
        Err(e) => match e.retry_class() {
            RetryClass::Paused if shared.api.is_auth_expired() => Outcome::Paused,
            RetryClass::Transient { .. } | RetryClass::Paused => {
                let after = match e.retry_class() {
                    RetryClass::Transient { after: Some(after) } => after,
                    _ => retry_delay(item.attempts),
                };
                let at = now_ms() + after.as_millis() as Millis;
                let (id, attempts) = (item.id, item.attempts + 1);
                shared
                    .store
                    .write(move |tx| store::outbox::retry_later(tx, id, attempts, at))
                    .await?;
                tracing::debug!(
                    item = id,
                    attempts,
                    code = e.code_str(),
                    "outbox item will be retried"
                );
                Outcome::RetryLater
            }
            RetryClass::Permanent => {
                let (code, message) = (e.code_str(), e.to_string());
                tracing::warn!(
                    item = item.id,
                    kind = item.kind.as_str(),
                    code,
                    "outbox item rejected"
                );
                shared
                    .store
                    .write(move |tx| {
                        store::outbox::failed(tx, item.id, code, &message, now_ms())?;
                        match item.kind {
                            OutboxKind::Read => store::notices::read_failed(tx, &item.notice_id),
                            OutboxKind::Ack => store::notices::ack_failed(tx, &item.notice_id),
                            OutboxKind::PostNotice => {
                                store::notices::post_failed(tx, &item.notice_id)
                            }
                            OutboxKind::HandIn => store::homework::handin_failed(
                                tx,
                                &item.notice_id,
                                code,
                                &message,
                                now_ms(),
                            ),
                            OutboxKind::Review => {
                                store::homework::review_failed(tx, &item.notice_id, &message)
                            }
                            // The position stays on the phone; the failure is listed.
                            OutboxKind::Watch => Ok(()),
                            // Back to the server's copy; the failure is listed.
                            OutboxKind::NotificationSettings => {
                                store::notification_settings::settle(tx, item.id, None)
                            }
                        }
                    })
                    .await?;
                Outcome::Failed
            }
        },
    };
    if outcome != Outcome::Paused {
        shared.outbox_changed();
        if outcome != Outcome::RetryLater {
            match item_kind {
                OutboxKind::HandIn | OutboxKind::Review => shared.homework_changed(),
                OutboxKind::Watch => shared.replays_changed(),
                OutboxKind::NotificationSettings => shared.settings_changed(),
                _ => shared.notices_changed(),
            }
        }
    }
    Ok(outcome)
}

/// Sends the next due item, if any.
async fn send_next(shared: &Arc<Shared>) -> Result<Option<Outcome>> {
    let _lock = shared.outbox_send.lock().await;
    let now = now_ms();
    let Some(item) = shared
        .store
        .read(move |c| store::outbox::next_due(c, now))
        .await?
    else {
        return Ok(None);
    };
    deliver(shared, item).await.map(Some)
}

/// Sends every pending item once now, ignoring retry times. Returns how many are still
/// pending afterwards.
pub(crate) async fn flush(shared: &Arc<Shared>) -> Result<usize> {
    let items = shared.store.read(store::outbox::pending).await?;
    for item in items {
        let _lock = shared.outbox_send.lock().await;
        let id = item.id;
        if !shared
            .store
            .read(move |c| store::outbox::is_pending(c, id))
            .await?
        {
            continue;
        }
        if deliver(shared, item).await? == Outcome::Paused {
            return Err(Error::Unauthorized);
        }
    }
    shared.store.read(store::outbox::pending_count).await
}

/// The background sender. Runs until its task is aborted.
pub(crate) async fn run(shared: Arc<Shared>) {
    let mut auth = shared.api.auth_expired();
    let mut network = shared.network.subscribe();
    loop {
        // Signed out remotely: keep everything, wait for a new sign-in. No network: wait for
        // it rather than burning attempts.
        while *auth.borrow_and_update() || !*network.borrow_and_update() {
            tokio::select! {
                r = auth.changed() => if r.is_err() { return },
                r = network.changed() => if r.is_err() { return },
            }
        }
        let wake = shared.outbox_wake.notified();
        match send_next(&shared).await {
            Ok(Some(Outcome::Paused)) => continue,
            Ok(Some(Outcome::Waiting)) => {}
            Ok(Some(_)) => continue,
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(code = e.code_str(), "outbox sender failed; retrying");
                tokio::select! {
                    _ = wake => {}
                    _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                }
                continue;
            }
        }
        let next = shared
            .store
            .read(store::outbox::next_due_at)
            .await
            .ok()
            .flatten();
        let sleep = match next {
            Some(at) => Duration::from_millis((at - now_ms()).clamp(0, 3_600_000) as u64),
            None => Duration::from_secs(3600),
        };
        tokio::select! {
            _ = wake => {}
            _ = tokio::time::sleep(sleep) => {}
            _ = auth.changed() => {}
            _ = network.changed() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_grows_and_is_capped() {
        let first = retry_delay(0);
        assert!(
            first >= Duration::from_secs(1) && first <= Duration::from_secs(2),
            "{first:?}"
        );
        let later = retry_delay(4);
        assert!(later >= Duration::from_secs(16), "{later:?}");
        let capped = retry_delay(40);
        assert!(capped <= Duration::from_secs(600), "{capped:?}");
    }

    #[test]
    fn kinds_round_trip() {
        for k in [
            OutboxKind::Read,
            OutboxKind::Ack,
            OutboxKind::PostNotice,
            OutboxKind::HandIn,
            OutboxKind::Review,
            OutboxKind::Watch,
        ] {
            assert_eq!(OutboxKind::parse(k.as_str()), Some(k));
        }
    }
}
