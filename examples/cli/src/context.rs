//! What every command shares: the data directory and server, the device's accounts, the
//! selected account's client, and the delivery of queued actions (the outbox) within a short
//! wait.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use lianxiao_core::{
    AccountInfo, Accounts, Client, ClientConfig, ClientState, FileSecureStorage, OutboxKind,
    UploadState,
};
use tokio::time::Instant;

use crate::{
    cli::{Global, Wait},
    exit::{CliResult, Exit, Failure},
    output::Out,
};

pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";
/// The server of the last sign-in, so later commands need no `--server`.
const SERVER_FILE: &str = "server-url";

pub struct Context {
    pub accounts: Accounts,
    pub data_dir: PathBuf,
    pub out: Out,
    account: Option<String>,
    /// `None`: until delivered or refused (`--wait` without a value).
    wait: Option<Duration>,
}

pub fn default_data_dir() -> PathBuf {
    dirs::data_dir()
        .or_else(|| dirs::home_dir().map(|h| h.join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."))
        .join("lianxiao")
}

fn saved_server(data_dir: &Path) -> Option<String> {
    let s = std::fs::read_to_string(data_dir.join(SERVER_FILE)).ok()?;
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// How an action ended after the delivery wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Delivered,
    /// Still on disk, to be sent by a later command.
    Queued,
    /// The server refused it for good; the failure has been taken off the list.
    Rejected(Failure),
}

impl Context {
    pub fn open(global: &Global, out: Out) -> CliResult<Context> {
        let data_dir = global.data_dir.clone().unwrap_or_else(default_data_dir);
        let server_url = global
            .server
            .clone()
            .or_else(|| saved_server(&data_dir))
            .unwrap_or_else(|| DEFAULT_SERVER.to_owned());
        let accounts = Accounts::open(ClientConfig {
            server_url,
            data_dir: data_dir.clone(),
            secure_storage: Arc::new(FileSecureStorage::new(data_dir.join("tokens.json"))),
        })?;
        let wait = match global.wait {
            Wait::Secs(secs) if secs.is_finite() && secs >= 0.0 => {
                Some(Duration::from_secs_f64(secs.min(86_400.0)))
            }
            Wait::Secs(_) => {
                return Err(Failure::validation("--wait must be a number of seconds"));
            }
            Wait::UntilDone => None,
        };
        Ok(Context {
            accounts,
            data_dir,
            out,
            account: global.account.clone(),
            wait,
        })
    }

    /// Remembers the server this data directory signs in to.
    pub fn remember_server(&self, global: &Global) {
        if let Some(url) = &global.server {
            let _ = std::fs::write(self.data_dir.join(SERVER_FILE), url);
        }
    }

    pub async fn find_account(&self, login: &str) -> CliResult<AccountInfo> {
        self.accounts
            .list()
            .await?
            .into_iter()
            .find(|a| a.login == login)
            .ok_or_else(|| {
                Failure::new(
                    Exit::NotFound,
                    "没有这个账号 / no account with that login is signed in on this device \
                     (see `lianxiao accounts`)",
                )
            })
    }

    /// The account a command acts as: `--account`, else the active one.
    pub async fn selected(&self) -> CliResult<AccountInfo> {
        match &self.account {
            Some(login) => self.find_account(login).await,
            None => self
                .accounts
                .list()
                .await?
                .into_iter()
                .find(|a| a.active)
                .ok_or_else(Failure::not_signed_in),
        }
    }

    /// The selected account's client, after sending what earlier commands left queued.
    pub async fn client(&self) -> CliResult<Client> {
        let client = self.client_unsent().await?;
        self.send_queued(&client).await;
        Ok(client)
    }

    /// The selected account's client, without sending anything yet.
    pub async fn client_unsent(&self) -> CliResult<Client> {
        let info = self.selected().await?;
        Ok(self.accounts.client(info.user_id).await?)
    }

    /// How long this command tries (`--wait`); `None`: until done.
    pub fn wait(&self) -> Option<Duration> {
        self.wait
    }

    /// When this command's tries end (`--wait`); `None`: no end.
    pub fn deadline(&self) -> Option<Instant> {
        self.wait.map(|w| Instant::now() + w)
    }

    /// Starts the client's background work: the uploader (only it sends files, and a
    /// hand-in waits for its files), the outbox sender and sync.
    pub fn start(&self, client: &Client) {
        if client.is_started() {
            return;
        }
        client.start();
        // A new command is a new try: what waits out a backoff from an earlier command goes
        // now. The uploader hears network news only once it listens, hence the short delay.
        let client = client.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            client.network_changed(true);
        });
    }

    /// Whether files are waiting to go up (or going up).
    pub async fn uploading(&self, client: &Client) -> bool {
        client.uploads().list().await.is_ok_and(|list| {
            list.iter()
                .any(|u| matches!(u.state, UploadState::Pending | UploadState::Uploading))
        })
    }

    /// Sends what earlier commands left queued, waiting for their files to go up, for up
    /// to the whole wait (`sync`).
    pub async fn send_all_queued(&self, client: &Client) {
        if self.uploading(client).await {
            self.start(client);
        }
        if client.outbox_pending().await.unwrap_or(0) > 0 {
            let all_sent = self
                .out
                .spin(
                    "发送待发操作 / sending queued actions…",
                    self.flush_until(client, self.deadline()),
                )
                .await;
            let left = client.outbox_pending().await.unwrap_or(0);
            if !all_sent && left > 0 {
                self.note_queued(client, left);
            }
        }
        self.report_rejections(client, None).await;
    }

    /// Sends actions queued by earlier commands (best effort, within the wait) and reports
    /// on stderr what was rejected or is still waiting.
    pub async fn send_queued(&self, client: &Client) {
        // Files go up while the command runs; `sync` waits for them.
        if self.uploading(client).await {
            self.start(client);
        }
        let pending = client.outbox_pending().await.unwrap_or(0);
        if pending > 0 {
            let wait = self
                .wait
                .unwrap_or(Duration::MAX)
                .min(Duration::from_secs(3));
            let sent = self
                .out
                .spin("发送待发操作 / sending queued actions…", async {
                    tokio::time::timeout(wait, client.flush_outbox()).await
                })
                .await;
            if let Ok(Ok(left)) = sent
                && left > 0
            {
                self.note_queued(client, left);
            } else if sent.is_err() {
                self.note_queued(client, pending);
            }
        }
        self.report_rejections(client, None).await;
    }

    fn note_queued(&self, client: &Client, n: usize) {
        let why = if client.state() == ClientState::AuthExpired {
            "sign in again to send them"
        } else {
            "will be sent when online"
        };
        self.out.note(
            &format!("{n} 项操作待发送 / {n} action(s) queued: {why}"),
            "33",
        );
    }

    /// Prints (and clears) actions the server rejected for good. The one matching `own`
    /// (kind, and the id it is about when known) is returned instead of printed: the
    /// caller's action.
    pub async fn report_rejections(
        &self,
        client: &Client,
        own: Option<(OutboxKind, Option<&str>)>,
    ) -> Option<Failure> {
        let failures = client.outbox_failures().await.ok()?;
        let mut mine = None;
        for f in failures {
            let failure = Failure::new(
                Exit::from_code_str(&f.error_code),
                format!("被拒绝 / rejected by the server: {}", f.message),
            );
            if mine.is_none()
                && own.is_some_and(|(kind, id)| {
                    kind == f.kind && id.is_none_or(|id| id == f.notice_id)
                })
            {
                mine = Some(failure);
            } else {
                self.out.note(
                    &format!(
                        "一项早先的操作被拒绝 / an earlier action was rejected ({} {}): {}",
                        f.kind.as_str(),
                        f.notice_id,
                        f.message
                    ),
                    "31",
                );
            }
            let _ = client.dismiss_failure(f.id).await;
        }
        mine
    }

    /// Sends the outbox again and again until it is empty (true) or `deadline` passes or
    /// only a sign-in can send it (false).
    pub async fn flush_until(&self, client: &Client, deadline: Option<Instant>) -> bool {
        loop {
            let flushed = match deadline {
                Some(d) => tokio::time::timeout_at(d, client.flush_outbox()).await,
                None => Ok(client.flush_outbox().await),
            };
            match flushed {
                Ok(Ok(0)) => return true,
                Ok(Ok(_)) | Ok(Err(_)) => {}
                Err(_) => return false,
            }
            if client.state() == ClientState::AuthExpired
                || deadline.is_some_and(|d| Instant::now() + Duration::from_millis(500) >= d)
            {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Tries to deliver the outbox for up to the wait, then says how `kind` on `notice_id`
    /// (this command's action) ended.
    pub async fn deliver(&self, client: &Client, kind: OutboxKind, notice_id: &str) -> Delivery {
        let deadline = self.deadline();
        let all_sent = self
            .out
            .spin("发送中 / sending…", self.flush_until(client, deadline))
            .await;
        if let Some(failure) = self
            .report_rejections(client, Some((kind, Some(notice_id))))
            .await
        {
            return Delivery::Rejected(failure);
        }
        if all_sent {
            return Delivery::Delivered;
        }
        // Other items may be what is left; ask about ours.
        match client.notices().get(notice_id.to_owned()).await {
            Ok(view) => {
                let state = match kind {
                    OutboxKind::Read => view.read,
                    OutboxKind::Ack => view.acknowledged,
                    OutboxKind::PostNotice => view.post,
                    // Homework items, replay watch reports and settings are not about a notice.
                    OutboxKind::HandIn
                    | OutboxKind::Review
                    | OutboxKind::Watch
                    | OutboxKind::NotificationSettings => lianxiao_core::DeliveryState::Pending,
                };
                if state == lianxiao_core::DeliveryState::Delivered {
                    Delivery::Delivered
                } else {
                    Delivery::Queued
                }
            }
            // A delivered post is replaced by the server's copy under another id.
            Err(_) if kind == OutboxKind::PostNotice => Delivery::Delivered,
            Err(_) => Delivery::Queued,
        }
    }

    /// The failure for an action left queued: exit 3, or 4 when only a sign-in can send it.
    pub fn queued_failure(&self, client: &Client) -> Failure {
        if client.state() == ClientState::AuthExpired {
            Failure::new(
                Exit::Auth,
                "已保存，登录后发送 / saved: will be sent after you sign in again \
                 (`lianxiao login LOGIN`)",
            )
        } else {
            Failure::new(
                Exit::Queued,
                "已保存，联网后发送 / queued: will be sent when online (any later lianxiao \
                 command sends it)",
            )
        }
    }
}
