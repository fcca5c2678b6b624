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

/// How long a test waits for something that should take well under a second: generous, because
/// CI shares its machine with other builds and a slow answer is not what these tests are about.
pub const PATIENCE: Duration = Duration::from_secs(60);

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

/// A phone as a process of its own, to be killed (SIGKILL) or run beside another on one data
/// directory: this test binary started again to run one test, ignored in normal runs, that
/// calls [`run_phone_process`]. It takes orders on stdin, one a line, and answers each on
/// stdout with `ok <order> [result]` or `err <order> <error code>`. A core test hook
/// (`LIANXIAO_TEST_STOP_AT`, core/src/hooks.rs) makes it stop dead at a named point and say so
/// on stderr; the test then kills it there.
pub struct PhoneProcess {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    /// Everything it wrote, for the message when it does not answer.
    seen: Vec<String>,
}

impl PhoneProcess {
    /// Starts this test binary again running only `entry` (the ignored test that calls
    /// [`run_phone_process`]), with `env` added.
    pub fn spawn(entry: &str, env: &[(&str, &str)]) -> PhoneProcess {
        use std::process::{Command, Stdio};
        let exe = std::env::current_exe().expect("the test executable");
        let mut child = Command::new(exe)
            .args([
                entry,
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .envs(env.iter().copied())
            .env(PHONE_PROCESS_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the phone process");
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        for stream in [
            Box::new(stdout) as Box<dyn std::io::Read + Send>,
            Box::new(stderr),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                use std::io::BufRead;
                for line in std::io::BufReader::new(stream).lines() {
                    let Ok(line) = line else { return };
                    if tx.send(line).is_err() {
                        return;
                    }
                }
            });
        }
        let stdin = child.stdin.take().expect("stdin");
        PhoneProcess {
            child,
            stdin,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a line starting with `prefix` and returns it.
    pub async fn wait_for(&mut self, prefix: &str) -> String {
        let found = tokio::time::timeout(PATIENCE, async {
            while let Some(line) = self.lines.recv().await {
                let hit = line.starts_with(prefix);
                self.seen.push(line.clone());
                if hit {
                    return Some(line);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(line)) => line,
            Ok(None) => panic!(
                "the phone process ended without {prefix:?}; it wrote:\n{}",
                self.seen.join("\n")
            ),
            Err(_) => panic!(
                "no {prefix:?} from the phone process within {PATIENCE:?}; it wrote:\n{}",
                self.seen.join("\n")
            ),
        }
    }

    /// Sends one order and returns its answer (`ok ...` or `err ...`).
    pub async fn order(&mut self, order: &str) -> String {
        self.send(order);
        self.answer(order.split(' ').next().unwrap_or(order)).await
    }

    /// The answer to the last order `verb` sent with [`PhoneProcess::send`].
    pub async fn answer(&mut self, verb: &str) -> String {
        let answer = tokio::time::timeout(PATIENCE, async {
            while let Some(line) = self.lines.recv().await {
                self.seen.push(line.clone());
                let mut words = line.split(' ');
                if matches!(words.next(), Some("ok" | "err")) && words.next() == Some(verb) {
                    return Some(line);
                }
            }
            None
        })
        .await;
        match answer {
            Ok(Some(line)) => line,
            _ => panic!(
                "no answer to {verb:?}; the phone process wrote:\n{}",
                self.seen.join("\n")
            ),
        }
    }

    /// Like [`PhoneProcess::order`], and the answer must be `ok`: returns what follows.
    pub async fn ok(&mut self, order: &str) -> String {
        let answer = self.order(order).await;
        assert!(answer.starts_with("ok "), "{order:?} answered {answer:?}");
        let verb = order.split(' ').next().unwrap_or(order);
        answer[3 + verb.len()..].trim().to_owned()
    }

    /// Sends an order without waiting for its answer (it may stop at a test hook).
    pub fn send(&mut self, order: &str) {
        use std::io::Write;
        writeln!(self.stdin, "{order}").expect("the phone process takes orders");
        self.stdin.flush().expect("flush orders");
    }

    /// Waits until the process stopped at the test hook `point` (core/src/hooks.rs).
    pub async fn stopped_at(&mut self, point: &str) {
        self.wait_for(&format!("{}{point}", lianxiao_core::hooks::STOPPED_LINE))
            .await;
    }

    /// SIGKILL, as the system kills an app: no destructor, no flush, no goodbye.
    pub fn kill(mut self) {
        self.child.kill().expect("kill the phone process");
        let status = self.child.wait().expect("reap the phone process");
        assert!(!status.success(), "it was killed, not ended: {status:?}");
    }

    /// Asks it to end and waits.
    pub async fn quit(mut self) {
        self.send("quit");
        let _ = self.wait_for("bye").await;
        let _ = self.child.wait();
    }
}

impl Drop for PhoneProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Set in a phone process's environment; [`run_phone_process`] does nothing without it.
const PHONE_PROCESS_ENV: &str = "LIANXIAO_PHONE_PROCESS";

/// The body of a phone process (see [`PhoneProcess`]): call it from an ignored test.
/// Orders: `open <server url> <data dir>`, `sign_in <login>`, `active` (restores the active
/// account), `start`, `sync`, `state`, `user_id`, `post_notice <class id> <title>`,
/// `hand_in <homework id> <file> <kind: audio|photo|video>`, `outbox_pending`, `quit`.
pub fn run_phone_process() {
    if std::env::var_os(PHONE_PROCESS_ENV).is_none() {
        return;
    }
    // The test harness has written `test phone_process ... ` with no line end: end it, so
    // every answer starts a line.
    println!();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut accounts: Option<Accounts> = None;
        let mut client: Option<Client> = None;
        let stdin = std::io::stdin();
        let mut line = String::new();
        loop {
            line.clear();
            if stdin.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            let Some((&verb, args)) = words.split_first() else {
                continue;
            };
            if verb == "quit" {
                println!("bye");
                return;
            }
            let answer = phone_order(verb, args, &mut accounts, &mut client).await;
            match answer {
                Ok(out) => println!("ok {verb} {out}"),
                Err(e) => println!("err {verb} {}", e.code_str()),
            }
        }
    });
}

async fn phone_order(
    verb: &str,
    args: &[&str],
    accounts: &mut Option<Accounts>,
    client: &mut Option<Client>,
) -> lianxiao_core::Result<String> {
    use lianxiao_core::{Error, protocol::WorkKind};
    let arg = |i: usize| args.get(i).copied().unwrap_or_default().to_owned();
    let client_now = |client: &Option<Client>| {
        client
            .clone()
            .ok_or_else(|| Error::Internal("no account open".into()))
    };
    match verb {
        "open" => {
            *accounts = Some(Accounts::open(config(
                &arg(0),
                std::path::Path::new(&arg(1)),
            ))?);
            Ok(String::new())
        }
        "sign_in" => {
            let a = accounts.as_ref().expect("open first");
            let c = a.sign_in(arg(0), DEMO_PASSWORD.to_owned()).await?;
            let id = c.user_id();
            *client = Some(c);
            Ok(id)
        }
        "active" => {
            let a = accounts.as_ref().expect("open first");
            let c = a
                .active()
                .await?
                .ok_or_else(|| Error::NotFound("no active account".into()))?;
            let id = c.user_id();
            *client = Some(c);
            Ok(id)
        }
        "start" => {
            client_now(client)?.start();
            Ok(String::new())
        }
        "sync" => client_now(client)?.sync_now().await.map(|()| String::new()),
        "state" => Ok(format!("{:?}", client_now(client)?.state())),
        "user_id" => Ok(client_now(client)?.user_id()),
        "outbox_pending" => Ok(client_now(client)?.outbox_pending().await?.to_string()),
        "post_notice" => {
            let view = client_now(client)?
                .notices()
                .post(lianxiao_core::protocol::PostNotice {
                    title: arg(1),
                    body: "from a phone that is about to be killed".into(),
                    audience: lianxiao_core::protocol::NoticeAudience::Classes {
                        class_ids: vec![arg(0)],
                    },
                    include_students: false,
                    requires_ack: false,
                    ack_deadline: None,
                    urgent: false,
                })
                .await?;
            Ok(view.notice.id)
        }
        "hand_in" => {
            let kind = match arg(2).as_str() {
                "photo" => WorkKind::Photo,
                "video" => WorkKind::Video,
                _ => WorkKind::Audio,
            };
            let hw = client_now(client)?.homework();
            hw.add_draft_file(arg(0), arg(1), kind).await?;
            hw.hand_in(arg(0)).await?;
            Ok(String::new())
        }
        other => Err(Error::Validation {
            field: None,
            message: format!("unknown order {other}"),
        }),
    }
}
