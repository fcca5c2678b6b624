//! This install's push registration with the server, for every account signed in on it.
//!
//! The shell hands over the platform's push token whenever it gets one; the core keeps it in
//! the install's database and registers it (`PUT /v1/devices/{id}`) for each signed-in
//! account, again after a token change and on every sign-in, retrying while offline; what is
//! pending survives a restart. At sign-out the device is unlinked (`DELETE`) before the
//! session ends; offline, a *farewell* keeps the session's tokens in secure storage under a
//! key of their own and sends the unlink and the sign-out once the network is back.

use std::{sync::Arc, time::Duration};

use lianxiao_protocol::{Device, PushReceived, RegisterDevice};
use reqwest::Method;
use tokio::{sync::Notify, task::JoinHandle};

use super::store::{self, InstallDb};
use crate::{
    Accounts, Client, Error, Result, RetryClass, SecureStorage, SecureStorageError,
    accounts::WeakAccounts,
    api::{Tokens, now_ms},
    outbox::retry_delay,
};

/// How long a sign-out waits for the server before leaving the unlink to a farewell.
const SIGN_OUT_PATIENCE: Duration = Duration::from_secs(5);
/// Signed out remotely: wait for a new sign-in (which makes the account due at once).
const PAUSED: Duration = Duration::from_secs(3600);

/// The install's push state, owned by `Accounts`.
pub(crate) struct Install {
    pub(crate) db: InstallDb,
    wake: Arc<Notify>,
    /// One sender at a time, so one registration or report is never sent twice at once, and a
    /// sign-out's unlink cannot be overtaken by a registration for the same account.
    send_lock: Arc<tokio::sync::Mutex<()>>,
    task: std::sync::Mutex<Option<JoinHandle<()>>>,
    /// The accounts' runtime, for work started from the shell's threads.
    runtime: std::sync::OnceLock<tokio::runtime::Handle>,
}

impl Install {
    pub(crate) fn open(dir: &std::path::Path) -> Result<Install> {
        Ok(Install {
            db: InstallDb::open(dir)?,
            wake: Arc::new(Notify::new()),
            send_lock: Arc::new(tokio::sync::Mutex::new(())),
            task: std::sync::Mutex::new(None),
            runtime: std::sync::OnceLock::new(),
        })
    }

    /// Starts the background sender; it holds the accounts weakly and stops with them.
    pub(crate) fn start(&self, runtime: &tokio::runtime::Handle, accounts: WeakAccounts) {
        let wake = self.wake.clone();
        let _ = self.runtime.set(runtime.clone());
        let task = runtime.spawn(run(accounts, wake));
        *self.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
    }

    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    pub(crate) fn spawn(&self, work: impl std::future::Future<Output = ()> + Send + 'static) {
        if let Some(rt) = self.runtime.get() {
            rt.spawn(work);
        }
    }
}

impl Drop for Install {
    fn drop(&mut self) {
        if let Some(t) = self
            .task
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            t.abort();
        }
    }
}

/// Secure storage seen through a prefix: a farewell's tokens, refreshed and rotated by an
/// ordinary `Api`, never land under the key a new sign-in of the same account uses.
struct FarewellStorage(Arc<dyn SecureStorage>);

const FAREWELL_PREFIX: &str = "push-farewell/";

impl SecureStorage for FarewellStorage {
    fn get(&self, key: String) -> std::result::Result<Option<String>, SecureStorageError> {
        self.0.get(format!("{FAREWELL_PREFIX}{key}"))
    }

    fn set(&self, key: String, value: String) -> std::result::Result<(), SecureStorageError> {
        self.0.set(format!("{FAREWELL_PREFIX}{key}"), value)
    }

    fn delete(&self, key: String) -> std::result::Result<(), SecureStorageError> {
        self.0.delete(format!("{FAREWELL_PREFIX}{key}"))
    }
}

/// When a client hears the network is back (the shell's `client.network_changed(true)`), the
/// install's pending registrations, unlinks and reports go at once too. Ends with the client.
pub(crate) fn follow_network(accounts: &Accounts, client: &Client) {
    let mut network = client.shared().network.subscribe();
    let weak = accounts.downgrade();
    accounts.install().spawn(async move {
        while network.changed().await.is_ok() {
            if !*network.borrow_and_update() {
                continue;
            }
            let Some(accounts) = weak.upgrade() else {
                return;
            };
            accounts.devices().network_changed(true);
        }
    });
}

/// An account signed in: register this install for it (now, if a token is known).
pub(crate) async fn signed_in(accounts: &Accounts, user_id: &str) {
    let id = user_id.to_owned();
    if let Err(e) = accounts
        .install()
        .db
        .run(move |c| store::signed_in(c, &id))
        .await
    {
        tracing::warn!(code = e.code_str(), "could not queue the push registration");
    }
    accounts.install().wake();
}

/// An account signs out: unlink this device on the server while the session still works.
/// Returns `true` when that could not be done now and a farewell will do it (and end the
/// session) later: the caller must then keep the session's tokens alive, not log out.
pub(crate) async fn signing_out(accounts: &Accounts, client: &Client) -> bool {
    let install = accounts.install();
    let _sending = install.send_lock.lock().await;
    let user_id = client.user_id();
    let id = user_id.clone();
    let linked = install
        .db
        .run(move |c| store::forget_account(c, &id))
        .await
        .unwrap_or(true);
    let api = &client.shared().api;
    let Some(tokens) = api.tokens().filter(|_| linked && !api.is_auth_expired()) else {
        return false;
    };
    let Ok(device_id) = install.db.run(|c| store::device_id(c)).await else {
        return false;
    };
    let key = uuid::Uuid::new_v4().to_string();
    let path = format!("/devices/{device_id}");
    let sent = tokio::time::timeout(
        SIGN_OUT_PATIENCE,
        api.send_empty(Method::DELETE, &path, &key),
    )
    .await;
    match sent {
        Ok(Ok(())) => return false,
        Ok(Err(e)) if !matches!(e.retry_class(), RetryClass::Transient { .. }) => return false,
        _ => {}
    }
    let storage = FarewellStorage(accounts.storage());
    if let Err(e) = tokens.save(&storage, &user_id) {
        tracing::warn!(code = e.code_str(), "cannot keep the farewell's tokens");
        return false;
    }
    let at = now_ms();
    let queued = install
        .db
        .run(move |c| store::add_farewell(c, &user_id, &device_id, at))
        .await;
    if let Err(e) = queued {
        tracing::warn!(code = e.code_str(), "cannot queue the farewell");
        return false;
    }
    tracing::info!("offline at sign-out: the device is unlinked when the network is back");
    install.wake();
    true
}

/// Sends whatever is due (`force`: everything pending, ignoring retry times). Returns how
/// many items are still pending.
pub(crate) async fn send_due(accounts: &Accounts, force: bool) -> Result<usize> {
    let install = accounts.install();
    let _sending = install.send_lock.lock().await;
    let now = now_ms();
    let (device_id, current, registrations, farewells, reports) = install
        .db
        .run(move |c| {
            Ok((
                store::device_id(c)?,
                store::current(c)?,
                store::due_registrations(c, now, force)?,
                store::due_farewells(c, now, force)?,
                store::due_reports(c, now, force)?,
            ))
        })
        .await?;
    for (user_id, unlink, attempts) in registrations {
        match (&current, unlink) {
            (_, true) => unlink_account(accounts, &device_id, &user_id, attempts).await?,
            (Some(current), false) => {
                register(accounts, &device_id, current, &user_id, attempts).await?
            }
            (None, false) => {}
        }
    }
    for farewell in farewells {
        farewell_once(accounts, farewell).await?;
    }
    for report in reports {
        report_once(accounts, &device_id, report).await?;
    }
    install.db.run(|c| store::pending_count(c)).await
}

/// The client of a signed-in account, or `None` when it has signed out meanwhile.
async fn client_of(accounts: &Accounts, user_id: &str) -> Result<Option<Client>> {
    match accounts.client(user_id.to_owned()).await {
        Ok(c) => Ok(Some(c)),
        Err(Error::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// When to try again after `e`, or `None` when retrying will not help.
fn retry_at(e: &Error, attempts: u32) -> Option<i64> {
    let after = match e.retry_class() {
        RetryClass::Transient { after } => after.unwrap_or_else(|| retry_delay(attempts)),
        RetryClass::Paused => PAUSED,
        RetryClass::Permanent => return None,
    };
    Some(now_ms() + after.as_millis() as i64)
}

async fn register(
    accounts: &Accounts,
    device_id: &str,
    current: &RegisterDevice,
    user_id: &str,
    attempts: u32,
) -> Result<()> {
    let db = &accounts.install().db;
    let Some(client) = client_of(accounts, user_id).await? else {
        let id = user_id.to_owned();
        db.run(move |c| store::forget_account(c, &id).map(|_| ()))
            .await?;
        return Ok(());
    };
    let body = serde_json::to_vec(current)?;
    let key = uuid::Uuid::new_v4().to_string();
    let sent: Result<Device> = client
        .shared()
        .api
        .send_json(
            Method::PUT,
            &format!("/devices/{device_id}"),
            Some(&body),
            &key,
        )
        .await;
    let (id, fingerprint) = (user_id.to_owned(), store::fingerprint(current));
    match sent {
        Ok(_) => {
            tracing::info!(user = %id, provider = current.provider.as_str(), "push registration sent");
            db.run(move |c| store::registered(c, &id, &fingerprint, now_ms()))
                .await
        }
        Err(e) => match retry_at(&e, attempts) {
            Some(at) => {
                db.run(move |c| store::registration_retry(c, &id, attempts + 1, at))
                    .await
            }
            None => {
                tracing::warn!(user = %id, code = e.code_str(), "push registration refused");
                let code = e.code_str();
                db.run(move |c| store::registration_failed(c, &id, code))
                    .await
            }
        },
    }
}

/// Pushes turned off for a signed-in account: `DELETE` the link, keep the account off.
async fn unlink_account(
    accounts: &Accounts,
    device_id: &str,
    user_id: &str,
    attempts: u32,
) -> Result<()> {
    let db = &accounts.install().db;
    let id = user_id.to_owned();
    let Some(client) = client_of(accounts, user_id).await? else {
        return db
            .run(move |c| store::forget_account(c, &id).map(|_| ()))
            .await;
    };
    let key = uuid::Uuid::new_v4().to_string();
    let sent = client
        .shared()
        .api
        .send_empty(Method::DELETE, &format!("/devices/{device_id}"), &key)
        .await;
    match sent.as_ref().map_err(|e| retry_at(e, attempts)) {
        Ok(()) | Err(None) => db.run(move |c| store::unlinked(c, &id)).await,
        Err(Some(at)) => {
            db.run(move |c| store::registration_retry(c, &id, attempts + 1, at))
                .await
        }
    }
}

async fn farewell_once(accounts: &Accounts, farewell: store::Farewell) -> Result<()> {
    let db = &accounts.install().db;
    let storage: Arc<dyn SecureStorage> = Arc::new(FarewellStorage(accounts.storage()));
    let user_id = farewell.user_id.clone();
    let done = |db: &InstallDb, storage: &Arc<dyn SecureStorage>| {
        let _ = storage.delete(Tokens::storage_key(&user_id));
        let id = user_id.clone();
        let db = db.clone();
        async move { db.run(move |c| store::farewell_done(c, &id)).await }
    };
    let Some(tokens) = Tokens::load(storage.as_ref(), &user_id)? else {
        return done(db, &storage).await;
    };
    let api = accounts.detached_api(&user_id, storage.clone(), tokens);
    if farewell.unlink {
        let key = uuid::Uuid::new_v4().to_string();
        let path = format!("/devices/{}", farewell.device_id);
        if let Err(e) = api.send_empty(Method::DELETE, &path, &key).await {
            match e.retry_class() {
                RetryClass::Transient { after } => {
                    let attempts = farewell.attempts + 1;
                    let at = now_ms()
                        + after
                            .unwrap_or_else(|| retry_delay(farewell.attempts))
                            .as_millis() as i64;
                    let id = user_id.clone();
                    return db
                        .run(move |c| store::farewell_retry(c, &id, attempts, at))
                        .await;
                }
                // The session ended some other way: nothing more can be said for it.
                _ => {
                    tracing::info!(code = e.code_str(), "farewell refused; dropped");
                    return done(db, &storage).await;
                }
            }
        }
        tracing::info!(user = %user_id, "device unlinked after an offline sign-out");
    }
    api.logout().await;
    done(db, &storage).await
}

async fn report_once(accounts: &Accounts, device_id: &str, report: store::Report) -> Result<()> {
    let db = &accounts.install().db;
    let Some(client) = client_of(accounts, &report.user_id).await? else {
        return db.run(move |c| store::report_done(c, &report)).await;
    };
    let body = serde_json::to_vec(&PushReceived {
        kind: report.kind,
        id: report.event_id.clone(),
        opened: report.opened,
    })?;
    let key = uuid::Uuid::new_v4().to_string();
    let sent = client
        .shared()
        .api
        .post_no_content(&format!("/devices/{device_id}/received"), &body, &key)
        .await;
    match sent {
        Ok(()) => db.run(move |c| store::report_done(c, &report)).await,
        Err(e) => match retry_at(&e, report.attempts) {
            Some(at) => db.run(move |c| store::report_retry(c, &report, at)).await,
            // Not a push the server knows for this phone (e.g. sent before it registered).
            None => db.run(move |c| store::report_done(c, &report)).await,
        },
    }
}

/// The background sender: sends what is due, then sleeps until the next item is due or
/// something new is queued. Stops when the accounts are dropped.
async fn run(accounts: WeakAccounts, wake: Arc<Notify>) {
    loop {
        let woken = wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let Some(strong) = accounts.upgrade() else {
            return;
        };
        if let Err(e) = send_due(&strong, false).await {
            tracing::warn!(
                code = e.code_str(),
                "push registration sender failed; retrying"
            );
        }
        let next = strong
            .install()
            .db
            .run(|c| store::next_due_at(c))
            .await
            .ok()
            .flatten();
        drop(strong);
        let sleep = match next {
            Some(at) => Duration::from_millis((at - now_ms()).clamp(200, 3_600_000) as u64),
            None => Duration::from_secs(3600),
        };
        tokio::select! {
            _ = woken => {}
            _ = tokio::time::sleep(sleep) => {}
        }
    }
}
