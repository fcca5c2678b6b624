//! School notices (`client.notices()`): the list and detail from the store, read and 回执
//! acknowledgment through the outbox (instant locally), and for authors posting (also through
//! the outbox, so a notice written offline is not lost), receipts and reminders.

use std::sync::Arc;

use lianxiao_protocol::{
    Millis, Notice, NoticeAllowance, NoticeAudience, PersonRef, PostNotice, ReceiptReport,
    ReceiptSummary, RemindResult,
};

use crate::{Client, Error, Result, TaskHandle, api::now_ms, outbox::OutboxKind, store};

/// Whether this device's action has reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryState {
    /// Not done.
    None,
    /// Done on this phone, waiting to be sent.
    Pending,
    /// The server confirmed it.
    Delivered,
    /// The server rejected it for good (see `Client::outbox_failures`).
    Failed,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoticeFilter {
    /// Only notices concerning this child (parents).
    pub child_id: Option<String>,
    /// Unread first, then newest first.
    pub unread_first: bool,
}

/// A notice as the screens show it: the server's notice plus this device's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeView {
    pub notice: Notice,
    /// A recipient who has not read it (locally or on the server).
    pub unread: bool,
    pub read: DeliveryState,
    /// The server's time when delivered, this phone's server-clock time while pending.
    pub read_at: Option<Millis>,
    pub acknowledged: DeliveryState,
    pub acked_at: Option<Millis>,
    /// For a notice written on this device: `Pending` until the server accepted it.
    pub post: DeliveryState,
    /// The author reminded (the recipient's view) or has reminded (the author's view).
    pub reminded: bool,
    /// For the author: read / acknowledged counts, synced.
    pub summary: Option<ReceiptSummary>,
}

pub trait NoticeListener: Send + Sync {
    fn on_notices(&self, notices: Vec<NoticeView>);
}

/// The notices of one account. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Notices {
    client: Client,
}

/// Prefix of ids of notices written on this device that the server has not accepted yet.
pub const LOCAL_ID_PREFIX: &str = "local-";

impl Notices {
    pub(crate) fn new(client: Client) -> Self {
        Notices { client }
    }

    pub async fn list(&self, filter: NoticeFilter) -> Result<Vec<NoticeView>> {
        self.client
            .shared()
            .store
            .read(move |c| store::notices::list(c, &filter))
            .await
    }

    pub async fn get(&self, id: String) -> Result<NoticeView> {
        let id2 = id.clone();
        self.client
            .shared()
            .store
            .read(move |c| store::notices::get(c, &id2))
            .await?
            .ok_or_else(|| Error::NotFound(format!("notice {id}")))
    }

    /// Sends the current list, then the new list whenever notices change, until the handle
    /// is dropped.
    pub fn subscribe(&self, filter: NoticeFilter, listener: Arc<dyn NoticeListener>) -> TaskHandle {
        let shared = self.client.shared().clone();
        // Subscribe before the snapshot: a change between the two is then never missed.
        let mut changes = shared.notices_watch();
        changes.borrow_and_update();
        let owner = shared.clone();
        crate::client::spawn_listener(&owner, "notices listener", async move {
            loop {
                let f = filter.clone();
                match shared
                    .store
                    .read(move |c| store::notices::list(c, &f))
                    .await
                {
                    Ok(list) => listener.on_notices(list),
                    Err(e) => tracing::warn!(code = e.code_str(), "notice list failed"),
                }
                if changes.changed().await.is_err() {
                    return;
                }
                changes.borrow_and_update();
            }
        })
    }

    /// Marks read now; the server hears of it through the outbox.
    pub async fn mark_read(&self, id: String) -> Result<NoticeView> {
        self.receipt(id, OutboxKind::Read).await
    }

    /// Acknowledges (回执) now; the server hears of it through the outbox. Acknowledging
    /// twice queues nothing the second time.
    pub async fn acknowledge(&self, id: String) -> Result<NoticeView> {
        self.receipt(id, OutboxKind::Ack).await
    }

    async fn receipt(&self, id: String, kind: OutboxKind) -> Result<NoticeView> {
        let shared = self.client.shared();
        let now = shared.api.clock.now();
        let created = now_ms();
        let id2 = id.clone();
        let queued = shared
            .store
            .write(move |tx| {
                let queue = match kind {
                    OutboxKind::Ack => store::notices::ack_local(tx, &id2, now)?,
                    _ => store::notices::mark_read_local(tx, &id2, now)?,
                };
                if queue {
                    store::outbox::enqueue(tx, kind, &id2, None, created)?;
                }
                Ok(queue)
            })
            .await?;
        if queued {
            shared.notices_changed();
            shared.outbox_enqueued();
        }
        self.get(id).await
    }

    /// How many more non-urgent notices each class may send its parents today, by the
    /// school's daily cap (online; for the class's teachers). Ask before composing: a notice
    /// past the cap is refused.
    pub async fn allowance(&self, class_ids: Vec<String>) -> Result<Vec<NoticeAllowance>> {
        let shared = self.client.shared();
        let mut out = Vec::with_capacity(class_ids.len());
        for class_id in class_ids {
            out.push(
                shared
                    .api
                    .get(&format!("/classes/{class_id}/notice-allowance"), &[])
                    .await?,
            );
        }
        Ok(out)
    }

    /// Posts a notice. It appears at once (with a local id and `post == Pending`) and is
    /// sent through the outbox; when the server accepts it, its copy replaces the local one.
    ///
    /// A non-urgent notice to classes is first checked against their daily cap when the
    /// server can be asked: a class with no notice left today refuses it here with
    /// `DailyNoticeCap` naming the class, and nothing is queued. Offline it is queued, and a refusal
    /// later shows among the outbox failures with the same message.
    pub async fn post(&self, notice: PostNotice) -> Result<NoticeView> {
        validate(&notice)?;
        if let (false, NoticeAudience::Classes { class_ids }) = (notice.urgent, &notice.audience) {
            match self.allowance(class_ids.clone()).await {
                Ok(allowances) => {
                    if let Some(full) = allowances.iter().find(|a| a.remaining == Some(0)) {
                        return Err(Error::DailyNoticeCap {
                            class_id: Some(full.class_id.clone()),
                            message: format!(
                                "class {} has had its {} notice(s) for today; nothing was posted",
                                full.class_id,
                                full.daily_cap.unwrap_or(0)
                            ),
                        });
                    }
                }
                // The server decides when the notice reaches it.
                Err(e) => tracing::debug!(error = %e.code_str(), "notice allowance not known"),
            }
        }
        let shared = self.client.shared();
        let local_id = format!("{LOCAL_ID_PREFIX}{}", uuid::Uuid::now_v7());
        let posted_at = shared.api.clock.now();
        let body = serde_json::to_string(&notice)?;
        let user_id = shared.user_id.clone();
        let id = local_id.clone();
        shared
            .store
            .write(move |tx| {
                let author = store::org::profile(tx)?
                    .map(|u| PersonRef {
                        id: u.id,
                        name: u.name,
                    })
                    .unwrap_or(PersonRef {
                        id: user_id,
                        name: String::new(),
                    });
                let local = Notice {
                    id: id.clone(),
                    title: notice.title.clone(),
                    body: notice.body.clone(),
                    author,
                    audience_label: audience_label(tx, &notice.audience)?,
                    include_students: notice.include_students,
                    requires_ack: notice.requires_ack,
                    ack_deadline: notice.ack_deadline,
                    posted_at,
                    urgent: notice.urgent,
                    authored: true,
                    receipt: None,
                };
                store::notices::insert_local_post(tx, &local)?;
                store::outbox::enqueue(tx, OutboxKind::PostNotice, &id, Some(&body), now_ms())?;
                Ok(())
            })
            .await?;
        shared.notices_changed();
        shared.outbox_enqueued();
        self.get(local_id).await
    }

    /// The synced read / acknowledged counts of a notice this account wrote (offline).
    pub async fn receipt_summary(&self, notice_id: String) -> Result<Option<ReceiptSummary>> {
        self.client
            .shared()
            .store
            .read(move |c| store::notices::summary(c, &notice_id))
            .await
    }

    /// Who has not read or acknowledged, per class (online).
    pub async fn receipts(&self, notice_id: String) -> Result<ReceiptReport> {
        check_sent(&notice_id)?;
        let shared = self.client.shared();
        let report: ReceiptReport = shared
            .api
            .get(&format!("/notices/{notice_id}/receipts"), &[])
            .await?;
        let summary = report.summary.clone();
        shared
            .store
            .write(move |tx| store::notices::put_summary(tx, &summary))
            .await?;
        shared.notices_changed();
        Ok(report)
    }

    /// Reminds everyone who has not acted yet (online). At most once an hour per notice:
    /// the server answers `RateLimited` with the seconds to wait.
    pub async fn remind(&self, notice_id: String) -> Result<RemindResult> {
        check_sent(&notice_id)?;
        let shared = self.client.shared();
        let key = uuid::Uuid::new_v4().to_string();
        let result: RemindResult = shared
            .api
            .post(&format!("/notices/{notice_id}/remind"), None, &key)
            .await?;
        let at = result.reminded_at;
        shared
            .store
            .write(move |tx| store::notices::set_last_reminded(tx, &notice_id, at))
            .await?;
        shared.notices_changed();
        Ok(result)
    }
}

fn check_sent(notice_id: &str) -> Result<()> {
    if notice_id.starts_with(LOCAL_ID_PREFIX) {
        return Err(Error::Validation {
            field: Some("notice_id".into()),
            message: "this notice has not reached the server yet".into(),
        });
    }
    Ok(())
}

/// The checks the server would make that need no server: a notice that can never be
/// accepted is refused now rather than failing later in the outbox.
fn validate(n: &PostNotice) -> Result<()> {
    let invalid = |field: &str, message: &str| {
        Err(Error::Validation {
            field: Some(field.into()),
            message: message.into(),
        })
    };
    let title = n.title.trim().chars().count();
    if title == 0 || title > 200 {
        return invalid("title", "title must be 1 to 200 characters");
    }
    let body = n.body.trim().chars().count();
    if body == 0 || body > 20_000 {
        return invalid("body", "body must be 1 to 20000 characters");
    }
    if let NoticeAudience::Classes { class_ids } = &n.audience
        && class_ids.is_empty()
    {
        return invalid("audience.class_ids", "choose at least one class");
    }
    if n.ack_deadline.is_some() && !n.requires_ack {
        return invalid(
            "ack_deadline",
            "an acknowledgment deadline needs requires_ack",
        );
    }
    Ok(())
}

/// A local stand-in for the server's audience label until it answers.
/// The label a notice written on this phone shows until the server's copy replaces it, in the
/// server's words ("school · class", the school, the link group).
fn audience_label(conn: &rusqlite::Connection, audience: &NoticeAudience) -> Result<String> {
    let classes = store::org::classes(conn)?;
    Ok(match audience {
        NoticeAudience::Classes { class_ids } => class_ids
            .iter()
            .map(|id| {
                classes
                    .iter()
                    .find(|c| &c.id == id)
                    .map(|c| format!("{} · {}", c.school.name, c.name))
                    .unwrap_or_else(|| id.clone())
            })
            .collect::<Vec<_>>()
            .join(", "),
        NoticeAudience::School { school_id } => classes
            .iter()
            .find(|c| &c.school.id == school_id)
            .map(|c| c.school.name.clone())
            .unwrap_or_else(|| school_id.clone()),
        NoticeAudience::LinkGroup { link_group_id } => store::org::link_groups(conn)?
            .into_iter()
            .find(|g| &g.id == link_group_id)
            .map(|g| g.name)
            .unwrap_or_else(|| link_group_id.clone()),
        NoticeAudience::County => "全县 (county)".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use std::{
        path::Path,
        sync::{Arc, Mutex},
        time::Duration,
    };

    use lianxiao_protocol::{MyReceipt, PersonRef, Role, SyncItem, SyncPage};
    use rusqlite::params;

    use super::*;
    use crate::{Accounts, ClientConfig, MemorySecureStorage, SecureStorage, api::Tokens};

    fn notice(id: &str, posted_at: i64) -> Notice {
        Notice {
            id: id.into(),
            title: format!("title {id}"),
            body: "body".into(),
            author: PersonRef {
                id: "t1".into(),
                name: "T".into(),
            },
            audience_label: "1班".into(),
            include_students: false,
            requires_ack: true,
            ack_deadline: None,
            posted_at,
            urgent: false,
            authored: false,
            receipt: Some(MyReceipt {
                role: Role::Parent,
                children: vec![],
                read_at: None,
                acked_at: None,
                reminded_at: None,
            }),
        }
    }

    /// A client of an account that "signed in" earlier, with a server that is not there
    /// (port 9 refuses connections), so everything runs offline.
    async fn offline_client(dir: &Path, storage: Arc<MemorySecureStorage>) -> (Accounts, Client) {
        let accounts = Accounts::open(ClientConfig {
            server_url: "http://127.0.0.1:9".into(),
            data_dir: dir.to_owned(),
            secure_storage: storage.clone(),
        })
        .unwrap();
        if storage.get(Tokens::storage_key("p1")).unwrap().is_none() {
            Tokens {
                access_token: "a".into(),
                refresh_token: "r".into(),
                refresh_at: None,
            }
            .save(storage.as_ref(), "p1")
            .unwrap();
            let db = Connection::open(dir.join("accounts.sqlite3")).unwrap();
            db.execute(
                "INSERT INTO accounts (user_id, login, display_name, last_used_at) VALUES (?1, ?1, ?1, 0)",
                params!["p1"],
            )
            .unwrap();
        }
        let client = accounts.switch_to("p1".into()).await.unwrap();
        (accounts, client)
    }
    use rusqlite::Connection;

    async fn seed(client: &Client, notices: Vec<Notice>) {
        let page = SyncPage {
            items: notices
                .into_iter()
                .map(|notice| SyncItem::Notice { notice })
                .collect(),
            cursor: "c".into(),
            has_more: false,
            server_time: 0,
        };
        let shared = client.shared();
        shared
            .store
            .write(move |tx| crate::sync::apply_page(tx, &page))
            .await
            .unwrap();
        shared.notices_changed();
    }

    async fn outbox_keys(client: &Client) -> Vec<(String, String)> {
        client
            .shared()
            .store
            .read(|c| {
                let mut s = c.prepare("SELECT kind, idempotency_key FROM outbox ORDER BY id")?;
                let rows = s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn acknowledging_offline_is_instant_queued_once_and_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Arc::new(MemorySecureStorage::new());
        let (accounts, client) = offline_client(dir.path(), storage.clone()).await;
        seed(&client, vec![notice("n1", 1), notice("n2", 2)]).await;
        let notices = client.notices();

        let v = notices.acknowledge("n1".into()).await.unwrap();
        assert_eq!(v.acknowledged, DeliveryState::Pending);
        assert_eq!(
            v.read,
            DeliveryState::Pending,
            "an acknowledgment implies read"
        );
        assert!(v.acked_at.is_some() && !v.unread);
        // A second tap, and a read after the acknowledgment, queue nothing more.
        notices.acknowledge("n1".into()).await.unwrap();
        notices.mark_read("n1".into()).await.unwrap();
        notices.mark_read("n2".into()).await.unwrap();
        notices.mark_read("n2".into()).await.unwrap();
        assert_eq!(client.outbox_pending().await.unwrap(), 2);
        let keys = outbox_keys(&client).await;
        assert_eq!(
            keys.iter().map(|k| k.0.as_str()).collect::<Vec<_>>(),
            ["ack", "read"]
        );

        // The server cannot be reached: a transient failure, the items stay queued.
        assert_eq!(client.flush_outbox().await.unwrap(), 2);
        assert!(client.outbox_failures().await.unwrap().is_empty());

        // Process death: everything comes back with the same keys.
        drop((notices, client, accounts));
        let (_accounts, client) = offline_client(dir.path(), storage).await;
        assert_eq!(client.outbox_pending().await.unwrap(), 2);
        assert_eq!(outbox_keys(&client).await, keys);
        let v = client.notices().get("n1".into()).await.unwrap();
        assert_eq!(v.acknowledged, DeliveryState::Pending);
        let attempts: i64 = client
            .shared()
            .store
            .read(|c| Ok(c.query_row("SELECT min(attempts) FROM outbox", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(attempts, 1);
    }

    #[tokio::test]
    async fn rejected_acknowledgment_is_undone_flagged_and_dismissable() {
        let dir = tempfile::tempdir().unwrap();
        let (_accounts, client) =
            offline_client(dir.path(), Arc::new(MemorySecureStorage::new())).await;
        seed(&client, vec![notice("n1", 1)]).await;
        client.notices().acknowledge("n1".into()).await.unwrap();
        // What the sender records for a 403.
        client
            .shared()
            .store
            .write(|tx| {
                let item = store::outbox::next_due(tx, i64::MAX)?.unwrap();
                store::outbox::failed(tx, item.id, "forbidden", "no", 5)?;
                store::notices::ack_failed(tx, &item.notice_id)
            })
            .await
            .unwrap();
        let v = client.notices().get("n1".into()).await.unwrap();
        assert_eq!(v.acknowledged, DeliveryState::Failed);
        assert_eq!(v.acked_at, None);
        assert_eq!(v.read, DeliveryState::None);
        assert!(v.unread);
        assert_eq!(client.outbox_pending().await.unwrap(), 0);
        let failures = client.outbox_failures().await.unwrap();
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].kind, OutboxKind::Ack);
        assert_eq!(failures[0].notice_title.as_deref(), Some("title n1"));
        // The user may try again after a failure.
        let v = client.notices().acknowledge("n1".into()).await.unwrap();
        assert_eq!(v.acknowledged, DeliveryState::Pending);
        client.dismiss_failure(failures[0].id).await.unwrap();
        assert!(client.outbox_failures().await.unwrap().is_empty());
        assert_eq!(client.outbox_pending().await.unwrap(), 1);
    }

    #[tokio::test]
    async fn a_notice_written_offline_is_shown_and_queued() {
        let dir = tempfile::tempdir().unwrap();
        let (_accounts, client) =
            offline_client(dir.path(), Arc::new(MemorySecureStorage::new())).await;
        let post = PostNotice {
            title: "明天停课".into(),
            body: "因大雪".into(),
            audience: NoticeAudience::Classes {
                class_ids: vec!["c1".into()],
            },
            include_students: false,
            requires_ack: true,
            ack_deadline: None,
            urgent: false,
        };
        let v = client.notices().post(post.clone()).await.unwrap();
        assert!(v.notice.id.starts_with(LOCAL_ID_PREFIX));
        assert_eq!(v.post, DeliveryState::Pending);
        assert!(v.notice.authored && !v.unread);
        assert_eq!(client.outbox_pending().await.unwrap(), 1);
        let bad = PostNotice {
            title: " ".into(),
            ..post
        };
        let e = client.notices().post(bad).await.unwrap_err();
        assert_eq!(
            e.code(),
            crate::ErrorCode::Validation {
                field: Some("title".into())
            }
        );
        assert_eq!(client.outbox_pending().await.unwrap(), 1);
    }

    struct Recorder(Mutex<Vec<Vec<NoticeView>>>);

    impl NoticeListener for Recorder {
        fn on_notices(&self, notices: Vec<NoticeView>) {
            self.0.lock().unwrap().push(notices);
        }
    }

    async fn wait_for(rec: &Recorder, n: usize) {
        for _ in 0..200 {
            if rec.0.lock().unwrap().len() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "listener got {} updates, wanted {n}",
            rec.0.lock().unwrap().len()
        );
    }

    #[tokio::test]
    async fn subscription_sends_snapshot_then_changes_and_stops_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let (_accounts, client) =
            offline_client(dir.path(), Arc::new(MemorySecureStorage::new())).await;
        seed(&client, vec![notice("n1", 1)]).await;
        let rec = Arc::new(Recorder(Mutex::new(Vec::new())));
        let handle = client
            .notices()
            .subscribe(NoticeFilter::default(), rec.clone());
        wait_for(&rec, 1).await;
        assert_eq!(rec.0.lock().unwrap()[0].len(), 1);

        client.notices().mark_read("n1".into()).await.unwrap();
        wait_for(&rec, 2).await;
        let last = rec.0.lock().unwrap().last().unwrap().clone();
        assert_eq!(last[0].read, DeliveryState::Pending);

        seed(&client, vec![notice("n2", 2)]).await;
        wait_for(&rec, 3).await;
        assert_eq!(rec.0.lock().unwrap().last().unwrap().len(), 2);

        drop(handle);
        let seen = rec.0.lock().unwrap().len();
        seed(&client, vec![notice("n3", 3)]).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(rec.0.lock().unwrap().len(), seen);
    }

    #[tokio::test]
    async fn unread_first_and_child_filter() {
        let dir = tempfile::tempdir().unwrap();
        let (_accounts, client) =
            offline_client(dir.path(), Arc::new(MemorySecureStorage::new())).await;
        let mut old = notice("old", 1);
        old.receipt.as_mut().unwrap().children = vec![PersonRef {
            id: "k1".into(),
            name: "K".into(),
        }];
        seed(&client, vec![old, notice("new", 2)]).await;
        client.notices().mark_read("new".into()).await.unwrap();
        let ids = |v: Vec<NoticeView>| v.into_iter().map(|n| n.notice.id).collect::<Vec<_>>();
        let n = client.notices();
        assert_eq!(
            ids(n.list(NoticeFilter::default()).await.unwrap()),
            ["new", "old"]
        );
        let unread_first = NoticeFilter {
            child_id: None,
            unread_first: true,
        };
        assert_eq!(ids(n.list(unread_first).await.unwrap()), ["old", "new"]);
        let k1 = NoticeFilter {
            child_id: Some("k1".into()),
            unread_first: false,
        };
        assert_eq!(ids(n.list(k1).await.unwrap()), ["old"]);
    }
}
