//! The accounts signed in on this device (a shared family phone may hold a parent's and two
//! children's), which one is active, and the `Client` of each. Tokens live only in the
//! platform's secure storage; this device database holds ids, logins and display names.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, LazyLock, Mutex},
};

use lianxiao_protocol::Millis;
use rusqlite::{Connection, OptionalExtension, params};
use rusqlite_migration::{M, Migrations};
use tokio::runtime::Handle;

use crate::{
    Client, Error, Result, SecureStorage,
    api::{self, Api, ServerClock, Tokens, now_ms},
    client::WeakClient,
    store::{self, Store},
};

static MIGRATIONS: LazyLock<Migrations<'static>> = LazyLock::new(|| {
    Migrations::new(vec![M::up(
        "CREATE TABLE accounts (
            user_id TEXT PRIMARY KEY,
            login TEXT NOT NULL,
            display_name TEXT NOT NULL,
            last_used_at INTEGER NOT NULL,
            active INTEGER NOT NULL DEFAULT 0
        );
        CREATE UNIQUE INDEX one_active_account ON accounts (active) WHERE active = 1;",
    )])
});

/// How to reach the server and where to keep data.
#[derive(Clone)]
pub struct ClientConfig {
    /// e.g. `https://lianxiao.example.cn` (with or without `/v1`).
    pub server_url: String,
    /// The app's private data directory.
    pub data_dir: PathBuf,
    pub secure_storage: Arc<dyn SecureStorage>,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("server_url", &self.server_url)
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

/// An account signed in on this device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountInfo {
    pub user_id: String,
    pub login: String,
    pub display_name: String,
    /// Local clock, Unix ms.
    pub last_used_at: Millis,
    pub active: bool,
}

/// The device's accounts. Cheap to clone.
#[derive(Clone)]
pub struct Accounts {
    inner: Arc<Inner>,
}

struct Inner {
    base: String,
    data_dir: PathBuf,
    storage: Arc<dyn SecureStorage>,
    http: reqwest::Client,
    runtime: Handle,
    db: Arc<Mutex<Connection>>,
    /// Open clients, so one account never has two (two refreshers would revoke the session).
    clients: tokio::sync::Mutex<HashMap<String, WeakClient>>,
    clock: ServerClock,
    /// This install's push registration, shared by every account (notifications).
    push: crate::notifications::Install,
}

/// A weak reference, so the push sender never keeps the accounts alive.
#[derive(Clone)]
pub(crate) struct WeakAccounts(std::sync::Weak<Inner>);

impl WeakAccounts {
    pub(crate) fn upgrade(&self) -> Option<Accounts> {
        self.0.upgrade().map(|inner| Accounts { inner })
    }
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accounts")
            .field("data_dir", &self.inner.data_dir)
            .finish_non_exhaustive()
    }
}

/// A directory name for a user id: the id itself when it is plain, else its hex.
fn dir_name(user_id: &str) -> String {
    if !user_id.is_empty()
        && user_id.len() <= 64
        && user_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        user_id.to_owned()
    } else {
        user_id.bytes().map(|b| format!("{b:02x}")).collect()
    }
}

fn account_dir(data_dir: &Path, user_id: &str) -> PathBuf {
    data_dir.join("accounts").join(dir_name(user_id))
}

/// The file locked around a token refresh, by every process using this data directory. Not
/// in the account's directory, which signing out deletes while another process may hold it.
fn refresh_lock_path(data_dir: &Path, user_id: &str) -> PathBuf {
    data_dir
        .join("locks")
        .join(format!("{}.refresh.lock", dir_name(user_id)))
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AccountInfo> {
    Ok(AccountInfo {
        user_id: r.get(0)?,
        login: r.get(1)?,
        display_name: r.get(2)?,
        last_used_at: r.get(3)?,
        active: r.get(4)?,
    })
}

const SELECT: &str = "SELECT user_id, login, display_name, last_used_at, active FROM accounts";

impl Accounts {
    /// Opens the device database. Call within a tokio runtime: the clients' background tasks
    /// run on it.
    pub fn open(config: ClientConfig) -> Result<Accounts> {
        let runtime = Handle::try_current()
            .map_err(|_| Error::Internal("Accounts::open needs a tokio runtime".into()))?;
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| Error::Storage(format!("cannot create data dir: {}", e.kind())))?;
        let mut db = Connection::open(config.data_dir.join("accounts.sqlite3"))?;
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.busy_timeout(std::time::Duration::from_secs(5))?;
        MIGRATIONS.to_latest(&mut db)?;
        let push = crate::notifications::Install::open(&config.data_dir)?;
        let accounts = Accounts {
            inner: Arc::new(Inner {
                base: api::normalise_base(&config.server_url),
                data_dir: config.data_dir,
                storage: config.secure_storage,
                http: api::http_client()?,
                runtime,
                db: Arc::new(Mutex::new(db)),
                clients: tokio::sync::Mutex::new(HashMap::new()),
                clock: ServerClock::default(),
                push,
            }),
        };
        accounts
            .inner
            .push
            .start(&accounts.inner.runtime, accounts.downgrade());
        Ok(accounts)
    }

    /// This install's push registration and incoming pushes.
    pub fn devices(&self) -> crate::notifications::Devices {
        crate::notifications::Devices::new(self.clone())
    }

    pub(crate) fn downgrade(&self) -> WeakAccounts {
        WeakAccounts(Arc::downgrade(&self.inner))
    }

    pub(crate) fn install(&self) -> &crate::notifications::Install {
        &self.inner.push
    }

    pub(crate) fn storage(&self) -> Arc<dyn SecureStorage> {
        self.inner.storage.clone()
    }

    /// Server access for a session no account here uses any more (a farewell's).
    pub(crate) fn detached_api(
        &self,
        user_id: &str,
        storage: Arc<dyn SecureStorage>,
        tokens: Tokens,
    ) -> Arc<Api> {
        let inner = &self.inner;
        Api::new(
            inner.http.clone(),
            inner.base.clone(),
            user_id.to_owned(),
            storage,
            Some(tokens),
            None,
        )
    }

    async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let db = self.inner.db.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = db.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut conn)
        })
        .await?
    }

    /// Signs in (or signs in again) and makes the account active. The client is not
    /// started: call `start()`.
    pub async fn sign_in(&self, login: String, password: String) -> Result<Client> {
        let inner = &self.inner;
        let resp = api::login(&inner.http, &inner.base, &inner.clock, &login, &password).await?;
        let user = resp.user.clone();
        let tokens = Tokens::from(&resp);
        tokens.save(inner.storage.as_ref(), &user.id)?;
        tracing::info!(user = %user.id, "signed in");
        let (user_id, login, name) = (user.id.clone(), user.login.clone(), user.name.clone());
        self.db(move |conn| {
            let tx = conn.transaction()?;
            tx.execute("UPDATE accounts SET active = 0 WHERE active = 1", [])?;
            tx.execute(
                "INSERT INTO accounts (user_id, login, display_name, last_used_at, active) \
                 VALUES (?1, ?2, ?3, ?4, 1) ON CONFLICT(user_id) DO UPDATE SET \
                 login = excluded.login, display_name = excluded.display_name, \
                 last_used_at = excluded.last_used_at, active = 1",
                params![user_id, login, name, now_ms()],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await?;
        let client = self.open_client(&user.id).await?;
        let shared = client.shared();
        shared.api.clock.observe(resp.server_time);
        shared.api.set_tokens(tokens)?;
        shared
            .store
            .write(move |tx| store::org::put_profile(tx, &user))
            .await?;
        shared.org_changed();
        crate::notifications::signed_in(self, &client.user_id()).await;
        Ok(client)
    }

    pub async fn list(&self) -> Result<Vec<AccountInfo>> {
        self.db(|conn| {
            let mut stmt =
                conn.prepare(&format!("{SELECT} ORDER BY last_used_at DESC, user_id"))?;
            let rows = stmt.query_map([], row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn info(&self, user_id: &str) -> Result<Option<AccountInfo>> {
        let id = user_id.to_owned();
        self.db(move |conn| {
            Ok(conn
                .query_row(&format!("{SELECT} WHERE user_id = ?1"), [id], row)
                .optional()?)
        })
        .await
    }

    /// The active account's client, if one is signed in.
    pub async fn active(&self) -> Result<Option<Client>> {
        let active = self
            .db(|conn| {
                Ok(conn
                    .query_row("SELECT user_id FROM accounts WHERE active = 1", [], |r| {
                        r.get::<_, String>(0)
                    })
                    .optional()?)
            })
            .await?;
        match active {
            Some(id) => Ok(Some(self.client(id).await?)),
            None => Ok(None),
        }
    }

    /// Makes another signed-in account the active one, without signing anyone out.
    pub async fn switch_to(&self, user_id: String) -> Result<Client> {
        let id = user_id.clone();
        let found = self
            .db(move |conn| {
                let tx = conn.transaction()?;
                tx.execute("UPDATE accounts SET active = 0 WHERE active = 1", [])?;
                let n = tx.execute(
                    "UPDATE accounts SET active = 1, last_used_at = ?2 WHERE user_id = ?1",
                    params![id, now_ms()],
                )?;
                if n == 1 {
                    tx.commit()?;
                }
                Ok(n == 1)
            })
            .await?;
        if !found {
            return Err(Error::NotFound(format!("account {user_id}")));
        }
        self.client(user_id).await
    }

    /// The client of a signed-in account, restored from the device (no network needed).
    /// Without stored tokens it opens in the `AuthExpired` state, with its data readable.
    pub async fn client(&self, user_id: String) -> Result<Client> {
        if self.info(&user_id).await?.is_none() {
            return Err(Error::NotFound(format!("account {user_id}")));
        }
        self.open_client(&user_id).await
    }

    async fn open_client(&self, user_id: &str) -> Result<Client> {
        let inner = &self.inner;
        let mut clients = inner.clients.lock().await;
        if let Some(c) = clients.get(user_id).and_then(WeakClient::upgrade) {
            return Ok(c);
        }
        let tokens = Tokens::load(inner.storage.as_ref(), user_id)?;
        let dir = account_dir(&inner.data_dir, user_id);
        let store = Store::open_async(dir.join("store.sqlite3")).await?;
        let api = Api::new(
            inner.http.clone(),
            inner.base.clone(),
            user_id.to_owned(),
            inner.storage.clone(),
            tokens,
            Some(refresh_lock_path(&inner.data_dir, user_id)),
        );
        let client = Client::new(user_id.to_owned(), dir, inner.runtime.clone(), store, api);
        clients.insert(user_id.to_owned(), client.downgrade());
        crate::notifications::follow_network(self, &client);
        Ok(client)
    }

    /// Signs an account out of this device: unlinks the device from its pushes and tells the
    /// server (later, if offline now), deletes its tokens and wipes its local data, unsent
    /// work included. When it was the active account, the most recently used of the others
    /// becomes active (`active()`), so a shared phone goes on with the next person.
    pub async fn sign_out(&self, user_id: String) -> Result<()> {
        let inner = &self.inner;
        if self.info(&user_id).await?.is_some() {
            let client = self.open_client(&user_id).await?;
            client.stop();
            // The device is unlinked first, while the session works; offline, a farewell
            // keeps the session to do both later.
            if crate::notifications::signing_out(self, &client).await {
                client.shared().api.forget();
            } else {
                client.shared().api.logout().await;
            }
        }
        inner.storage.delete(Tokens::storage_key(&user_id))?;
        inner.clients.lock().await.remove(&user_id);
        let id = user_id.clone();
        self.db(move |conn| {
            let tx = conn.transaction()?;
            let was_active = tx.execute(
                "DELETE FROM accounts WHERE user_id = ?1 AND active = 1",
                [&id],
            )? > 0;
            tx.execute("DELETE FROM accounts WHERE user_id = ?1", [&id])?;
            // The phone goes on with the account used most recently, not with none.
            if was_active {
                tx.execute(
                    "UPDATE accounts SET active = 1 WHERE user_id = \
                     (SELECT user_id FROM accounts ORDER BY last_used_at DESC, user_id LIMIT 1)",
                    [],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
        .await?;
        let dir = account_dir(&inner.data_dir, &user_id);
        tokio::task::spawn_blocking(move || match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::Storage(format!(
                "cannot wipe account data: {}",
                e.kind()
            ))),
        })
        .await??;
        tracing::info!(user = %user_id, "signed out");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemorySecureStorage;

    /// Registers an account as if it had signed in (no server in unit tests).
    async fn add(accounts: &Accounts, id: &str, name: &str, at: i64, tokens: bool) {
        if tokens {
            Tokens {
                access_token: format!("a-{id}"),
                refresh_token: format!("r-{id}"),
                refresh_at: None,
            }
            .save(accounts.inner.storage.as_ref(), id)
            .unwrap();
        }
        let (id, name) = (id.to_owned(), name.to_owned());
        accounts
            .db(move |c| {
                c.execute(
                    "INSERT INTO accounts (user_id, login, display_name, last_used_at) VALUES (?1, ?1, ?2, ?3)",
                    params![id, name, at],
                )?;
                Ok(())
            })
            .await
            .unwrap();
    }

    fn config(dir: &Path) -> ClientConfig {
        ClientConfig {
            server_url: "http://127.0.0.1:9/".into(),
            data_dir: dir.to_owned(),
            secure_storage: Arc::new(MemorySecureStorage::new()),
        }
    }

    #[tokio::test]
    async fn list_switch_and_restore_without_network() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = Accounts::open(config(dir.path())).unwrap();
        add(&accounts, "parent", "妈妈", 1, true).await;
        add(&accounts, "kid", "小明", 2, false).await;
        assert!(accounts.active().await.unwrap().is_none());

        let c = accounts.switch_to("parent".into()).await.unwrap();
        assert_eq!(c.user_id(), "parent");
        assert_eq!(c.state(), crate::ClientState::Offline);
        let list = accounts.list().await.unwrap();
        assert_eq!(list[0].user_id, "parent");
        assert!(list[0].active && !list[1].active);

        let kid = accounts.switch_to("kid".into()).await.unwrap();
        // No tokens stored: readable, but signed out.
        assert_eq!(kid.state(), crate::ClientState::AuthExpired);
        let active = accounts.active().await.unwrap().unwrap();
        assert_eq!(active.user_id(), "kid");
        let list = accounts.list().await.unwrap();
        assert_eq!(list.iter().filter(|a| a.active).count(), 1);

        // The same account is never opened twice while a handle lives.
        let again = accounts.client("parent".into()).await.unwrap();
        assert!(Arc::ptr_eq(c.shared(), again.shared()));
        assert!(accounts.switch_to("nobody".into()).await.is_err());
        assert!(accounts.client("nobody".into()).await.is_err());
    }

    #[tokio::test]
    async fn signing_out_the_active_account_makes_the_last_used_other_one_active() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = Accounts::open(config(dir.path())).unwrap();
        add(&accounts, "mother", "M", 1, true).await;
        add(&accounts, "kid", "K", 2, true).await;
        add(&accounts, "father", "F", 3, true).await;
        accounts.switch_to("kid".into()).await.unwrap();
        accounts.switch_to("mother".into()).await.unwrap(); // the kid was used before her
        accounts.sign_out("mother".into()).await.unwrap();
        let active = accounts
            .active()
            .await
            .unwrap()
            .expect("another account is active");
        assert_eq!(active.user_id(), "kid");
        let list = accounts.list().await.unwrap();
        assert_eq!(list.iter().filter(|a| a.active).count(), 1);

        // Signing out one that is not active leaves the active one alone.
        accounts.sign_out("father".into()).await.unwrap();
        assert_eq!(accounts.active().await.unwrap().unwrap().user_id(), "kid");
        accounts.sign_out("kid".into()).await.unwrap();
        assert!(accounts.active().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn sign_out_wipes_tokens_and_data_even_offline() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = Accounts::open(config(dir.path())).unwrap();
        add(&accounts, "parent", "P", 1, true).await;
        let c = accounts.switch_to("parent".into()).await.unwrap();
        let data = c.data_dir();
        assert!(data.join("store.sqlite3").exists());
        drop(c);
        accounts.sign_out("parent".into()).await.unwrap();
        assert!(!data.exists());
        assert!(accounts.list().await.unwrap().is_empty());
        assert!(
            accounts
                .inner
                .storage
                .get(Tokens::storage_key("parent"))
                .unwrap()
                .is_none()
        );
    }

    struct Failures(tokio::sync::watch::Sender<Vec<crate::TaskFailure>>);

    impl crate::TaskFailureListener for Failures {
        fn on_task_failures(&self, failures: Vec<crate::TaskFailure>) {
            let _ = self.0.send(failures);
        }
    }

    struct PanickingList;

    impl crate::NoticeListener for PanickingList {
        fn on_notices(&self, _: Vec<crate::NoticeView>) {
            panic!("the app's listener threw");
        }
    }

    /// Generous: the machine running the tests may be busy; each wait ends on the event.
    const PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panic_in_a_background_task_is_reported_and_the_task_started_again() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = Accounts::open(config(dir.path())).unwrap();
        add(&accounts, "panicky", "P", 1, true).await;
        let c = accounts.switch_to("panicky".into()).await.unwrap();
        let (tx, mut rx) = tokio::sync::watch::channel(Vec::new());
        let _failures = c.subscribe_task_failures(Arc::new(Failures(tx)));
        crate::hooks::panic_once("panicky", "sync.background");
        c.start(); // asks for a sync at once: the sync task panics
        let failures = tokio::time::timeout(PATIENCE, rx.wait_for(|f| !f.is_empty()))
            .await
            .expect("the panic is reported")
            .unwrap()
            .clone();
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].task, "sync");
        assert!(failures[0].restarted);
        assert!(
            failures[0]
                .message
                .contains("injected panic at sync.background"),
            "{:?}",
            failures[0].message
        );
        assert_eq!(c.task_failures(), failures);

        // The sync task runs again: a request is served (the sync itself fails offline).
        let runs = c.sync_runs();
        tokio::time::timeout(PATIENCE, async {
            while c.sync_runs() == runs {
                c.shared().request_sync();
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        })
        .await
        .expect("the restarted sync task serves requests");

        // A listener that panics (an app's callback that threw) ends its subscription and is
        // reported, the client carrying on.
        let handle = c
            .notices()
            .subscribe(crate::NoticeFilter::default(), Arc::new(PanickingList));
        let failures = tokio::time::timeout(PATIENCE, rx.wait_for(|f| f.len() == 2))
            .await
            .expect("the listener's panic is reported")
            .unwrap()
            .clone();
        assert_eq!(failures[1].task, "notices listener");
        assert!(!failures[1].restarted);
        tokio::time::timeout(PATIENCE, async {
            while !handle.is_finished() {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the subscription ended");
        assert!(c.is_started());
    }

    #[test]
    fn odd_user_ids_make_safe_directory_names() {
        assert_eq!(dir_name("u_123-a"), "u_123-a");
        assert_eq!(dir_name("../x"), "2e2e2f78");
        assert_eq!(dir_name(""), "");
    }
}
