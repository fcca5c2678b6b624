//! A simulated phone: its own data directory and secure storage, the real core, signed in to
//! the embedded server. Waiting helpers return errors (never panic), so a stuck step ends
//! the demo with a message that says what it was waiting for.

use std::{path::Path, sync::Arc, time::Duration};

use anyhow::{Context, bail};
use lianxiao_core::{
    Accounts, Client, ClientConfig, FileSecureStorage, NoticeFilter, NoticeListener, NoticeView,
};
use lianxiao_protocol::{ClassInfo, Notice};
use tokio::sync::watch;

/// How long any step may wait for something that takes well under a second.
pub const PATIENCE: Duration = Duration::from_secs(15);

pub struct Phone {
    pub accounts: Accounts,
    pub client: Client,
    /// "王丽 t_wang": how the story names this phone's owner.
    pub who: String,
    pub login: String,
}

impl Phone {
    /// A phone with its data under `dir`, signed in as `login`, background tasks running
    /// and its store synced once.
    pub async fn sign_in(
        server_url: &str,
        dir: &Path,
        login: &str,
        password: &str,
    ) -> anyhow::Result<Phone> {
        let accounts = Accounts::open(ClientConfig {
            server_url: server_url.to_owned(),
            data_dir: dir.to_owned(),
            secure_storage: Arc::new(FileSecureStorage::new(dir.join("secure-storage.json"))),
        })
        .with_context(|| format!("{login}: cannot open the phone's accounts"))?;
        let client = accounts
            .sign_in(login.to_owned(), password.to_owned())
            .await
            .with_context(|| format!("{login}: sign-in failed"))?;
        client.start();
        client
            .sync_now()
            .await
            .with_context(|| format!("{login}: first sync failed"))?;
        let name = client.profile().await?.map(|u| u.name).unwrap_or_default();
        Ok(Phone {
            accounts,
            client,
            who: format!("{name} {login}"),
            login: login.to_owned(),
        })
    }

    /// Waits until this phone's notice list (as a screen gets it, through a listener)
    /// satisfies `ready`, and returns that list.
    pub async fn wait_notices(
        &self,
        what: &str,
        ready: impl Fn(&[NoticeView]) -> bool,
    ) -> anyhow::Result<Vec<NoticeView>> {
        wait_notices(&self.client, &format!("{}: {what}", self.login), ready).await
    }

    /// Waits for one notice to reach a state; returns it.
    pub async fn wait_notice(
        &self,
        id: &str,
        what: &str,
        ready: impl Fn(&NoticeView) -> bool,
    ) -> anyhow::Result<NoticeView> {
        let list = self
            .wait_notices(what, |l| find(l, id).is_some_and(&ready))
            .await?;
        Ok(find(&list, id).cloned().expect("checked by the wait"))
    }

    /// Waits until the outbox has delivered (or given up on) everything queued.
    pub async fn outbox_drained(&self) -> anyhow::Result<()> {
        match tokio::time::timeout(PATIENCE, self.client.wait_outbox_empty()).await {
            Ok(result) => result.with_context(|| format!("{}: outbox unreadable", self.login)),
            Err(_) => bail!(
                "{}: the outbox still had {} item(s) after {PATIENCE:?}",
                self.login,
                self.client.outbox_pending().await.unwrap_or(0)
            ),
        }
    }

    /// The classes this account sees (a teacher's: the ones they teach).
    pub async fn classes(&self) -> anyhow::Result<Vec<ClassInfo>> {
        Ok(self.client.classes().await?)
    }

    /// "城关中心小学 三年级(1)班" for a class id this phone knows.
    pub async fn class_label(&self, class_id: &str) -> String {
        let classes = self.client.classes().await.unwrap_or_default();
        classes
            .iter()
            .find(|c| c.id == class_id)
            .map(|c| format!("{} {}", c.school.name, c.name))
            .unwrap_or_else(|| class_id.to_owned())
    }

    /// Stops the background tasks (the app goes to the background for good).
    pub fn close(&self) {
        self.client.stop();
    }
}

struct Forward(watch::Sender<Vec<NoticeView>>);

impl NoticeListener for Forward {
    fn on_notices(&self, notices: Vec<NoticeView>) {
        let _ = self.0.send(notices);
    }
}

/// Subscribes like a screen would and waits for a list that satisfies `ready`.
pub async fn wait_notices(
    client: &Client,
    what: &str,
    ready: impl Fn(&[NoticeView]) -> bool,
) -> anyhow::Result<Vec<NoticeView>> {
    let (tx, mut rx) = watch::channel(Vec::new());
    let _subscription = client
        .notices()
        .subscribe(NoticeFilter::default(), Arc::new(Forward(tx)));
    let waited = tokio::time::timeout(PATIENCE, async {
        loop {
            if rx.changed().await.is_err() {
                bail!("the notice subscription ended");
            }
            let list = rx.borrow_and_update().clone();
            if ready(&list) {
                return Ok(list);
            }
        }
    })
    .await;
    match waited {
        Ok(result) => result.with_context(|| format!("while waiting for {what}")),
        Err(_) => bail!(
            "timed out after {PATIENCE:?} waiting for {what} (the phone had {} notice(s))",
            rx.borrow().len()
        ),
    }
}

/// The notice with `id` in a list.
pub fn find<'a>(list: &'a [NoticeView], id: &str) -> Option<&'a NoticeView> {
    list.iter().find(|n| n.notice.id == id)
}

/// The children a notice concerns, as the parent's phone names them: "李明、赵雨涵".
pub fn children_named(notice: &Notice) -> String {
    let names: Vec<&str> = notice
        .receipt
        .iter()
        .flat_map(|r| r.children.iter().map(|c| c.name.as_str()))
        .collect();
    if names.is_empty() {
        "—".to_owned()
    } else {
        names.join("、")
    }
}
