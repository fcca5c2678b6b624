//! School notices (`client.notices()`): the list and detail from the store, read and 回执
//! acknowledgment through the outbox (instant locally), and for authors posting (also through
//! the outbox, so a notice written offline is not lost), receipts and reminders.

use std::sync::Arc;

use lianxiao_protocol::{
    Millis, Notice, NoticeAudience, PersonRef, PostNotice, ReceiptReport, ReceiptSummary,
    RemindResult,
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
        let runtime = shared.runtime.clone();
        TaskHandle::new(runtime.spawn(async move {
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
        }))
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

    /// Posts a notice. It appears at once (with a local id and `post == Pending`) and is
    /// sent through the outbox; when the server accepts it, its copy replaces the local one.
    pub async fn post(&self, notice: PostNotice) -> Result<NoticeView> {
        validate(&notice)?;
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
fn audience_label(conn: &rusqlite::Connection, audience: &NoticeAudience) -> Result<String> {
    Ok(match audience {
        NoticeAudience::Classes { class_ids } => {
            let classes = store::org::classes(conn)?;
            class_ids
                .iter()
                .map(|id| {
                    classes
                        .iter()
                        .find(|c| &c.id == id)
                        .map(|c| c.name.clone())
                        .unwrap_or_else(|| id.clone())
                })
                .collect::<Vec<_>>()
                .join(", ")
        }
        NoticeAudience::School { school_id } => school_id.clone(),
        NoticeAudience::LinkGroup { link_group_id } => link_group_id.clone(),
        NoticeAudience::County => String::new(),
    })
}
