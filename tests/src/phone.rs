//! A simulated phone: its own data directory and secure storage, the real core, signed in to
//! the real server. Dropping a phone's `Accounts` and opening them again on the same directory
//! is what a killed and restarted app does.

use std::{path::PathBuf, sync::Arc, time::Duration};

use lianxiao_core::{
    Accounts, Client, ClientConfig, FileSecureStorage, NoticeFilter, NoticeListener, NoticeView,
};
use tokio::sync::watch;

use crate::DEMO_PASSWORD;

pub struct Phone {
    pub accounts: Accounts,
    pub client: Client,
    pub dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

/// How long a test waits for something that should take well under a second.
pub const PATIENCE: Duration = Duration::from_secs(20);

pub fn config(server_url: &str, dir: &std::path::Path) -> ClientConfig {
    ClientConfig {
        server_url: server_url.to_owned(),
        data_dir: dir.to_owned(),
        secure_storage: Arc::new(FileSecureStorage::new(dir.join("secure-storage.json"))),
    }
}

impl Phone {
    /// A new phone signed in as `login` with its background tasks running.
    pub async fn sign_in(server_url: &str, login: &str) -> Phone {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().to_owned();
        let accounts = Accounts::open(config(server_url, &dir)).expect("open accounts");
        let client = accounts
            .sign_in(login.to_owned(), DEMO_PASSWORD.to_owned())
            .await
            .expect("sign in");
        client.start();
        Phone {
            accounts,
            client,
            dir,
            _tmp: Some(tmp),
        }
    }

    /// The app killed and started again: everything in memory is gone, the directory stays.
    pub async fn restart_app(self, server_url: &str) -> Phone {
        let Phone {
            accounts,
            client,
            dir,
            _tmp,
        } = self;
        let user_id = client.user_id();
        client.stop();
        drop(client);
        drop(accounts);
        let accounts = Accounts::open(config(server_url, &dir)).expect("reopen accounts");
        let client = accounts
            .client(user_id)
            .await
            .expect("restore the account offline");
        client.start();
        Phone {
            accounts,
            client,
            dir,
            _tmp,
        }
    }

    /// Waits until the outbox has delivered (or given up on) everything queued.
    pub async fn outbox_drained(&self) {
        tokio::time::timeout(PATIENCE, self.client.wait_outbox_empty())
            .await
            .expect("outbox drained in time")
            .expect("outbox readable");
    }

    /// One notice as this phone's store has it.
    pub async fn notice(&self, id: &str) -> NoticeView {
        self.client
            .notices()
            .get(id.to_owned())
            .await
            .expect("notice in the store")
    }

    /// The ids of the classes this account can see (a teacher's: the classes they teach).
    pub async fn class_ids(&self) -> Vec<String> {
        self.client.sync_now().await.expect("sync");
        self.client
            .classes()
            .await
            .expect("classes")
            .into_iter()
            .map(|c| c.id)
            .collect()
    }

    /// Waits until this phone's notice list (as a screen would get it, through a listener)
    /// satisfies `ready`; returns that list.
    pub async fn wait_notices(&self, ready: impl Fn(&[NoticeView]) -> bool) -> Vec<NoticeView> {
        wait_notices(&self.client, ready).await
    }
}

struct Forward(watch::Sender<Vec<NoticeView>>);

impl NoticeListener for Forward {
    fn on_notices(&self, notices: Vec<NoticeView>) {
        let _ = self.0.send(notices);
    }
}

pub async fn wait_notices(
    client: &Client,
    ready: impl Fn(&[NoticeView]) -> bool,
) -> Vec<NoticeView> {
    let (tx, mut rx) = watch::channel(Vec::new());
    let _handle = client
        .notices()
        .subscribe(NoticeFilter::default(), Arc::new(Forward(tx)));
    let waited = tokio::time::timeout(PATIENCE, async {
        loop {
            if rx.changed().await.is_err() {
                panic!("subscription ended");
            }
            let list = rx.borrow_and_update().clone();
            if ready(&list) {
                return list;
            }
        }
    })
    .await;
    match waited {
        Ok(list) => list,
        Err(_) => panic!(
            "condition not met within {PATIENCE:?}; last list: {:#?}",
            rx.borrow()
        ),
    }
}

/// The notice with `id` in a list.
pub fn find<'a>(list: &'a [NoticeView], id: &str) -> Option<&'a NoticeView> {
    list.iter().find(|n| n.notice.id == id)
}
