//! Incremental sync: pages from `GET /v1/sync?since=CURSOR`, each applied in one transaction
//! together with its cursor, so a crash mid-sync resumes from the last whole page.
//!
//! One sync runs at a time per account. A request that arrives while one runs causes exactly
//! one more run after it (it may have been triggered by a change the running one missed);
//! any number of requests during a run share that one extra run.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicU64, Ordering},
};

use lianxiao_protocol::{EntityKind, SyncItem, SyncPage};
use rusqlite::Connection;

use crate::{Error, Result, client::Shared, store};

#[derive(Default)]
pub(crate) struct SyncState {
    lock: tokio::sync::Mutex<()>,
    requested: AtomicU64,
    completed: AtomicU64,
    last_error: Mutex<Option<Error>>,
    runs: AtomicU64,
}

impl SyncState {
    /// How many syncs have run (for tests and diagnostics).
    pub(crate) fn runs(&self) -> u64 {
        self.runs.load(Ordering::Relaxed)
    }
}

/// What a page changed, to wake the right listeners.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Changed {
    pub notices: bool,
    pub org: bool,
    pub homework: bool,
    pub timetable: bool,
    pub replays: bool,
    /// The account's notification settings.
    pub settings: bool,
    /// Replays whose downloads went with them: their files are deleted after the commit.
    pub removed_downloads: Vec<String>,
    /// Local files (drafts of deleted homework) to delete once the page is committed.
    pub orphaned_files: Vec<String>,
}

/// Applies one page. The caller runs it in one transaction with the cursor update.
pub(crate) fn apply_page(conn: &Connection, page: &SyncPage) -> Result<Changed> {
    let mut changed = Changed::default();
    for item in &page.items {
        match item {
            SyncItem::Notice { notice } => {
                store::notices::upsert(conn, notice)?;
                changed.notices = true;
            }
            SyncItem::ReceiptSummary { summary } => {
                store::notices::put_summary(conn, summary)?;
                changed.notices = true;
            }
            SyncItem::Profile { user } => {
                store::org::put_profile(conn, user)?;
                changed.org = true;
            }
            SyncItem::Class { class } => {
                store::org::put_class(conn, class)?;
                changed.org = true;
            }
            SyncItem::LinkGroup { link_group } => {
                store::org::put_link_group(conn, link_group)?;
                changed.org = true;
            }
            SyncItem::Child { child } => {
                store::org::put_child(conn, child)?;
                changed.org = true;
            }
            SyncItem::Homework { homework } => {
                store::homework::upsert(conn, homework)?;
                changed.homework = true;
            }
            SyncItem::Submission { submission } => {
                store::homework::put_submission(conn, submission)?;
                changed.homework = true;
            }
            SyncItem::HomeworkSummary { summary } => {
                store::homework::put_summary(conn, summary)?;
                changed.homework = true;
            }
            SyncItem::Lesson { lesson } => {
                store::lessons::upsert(conn, lesson)?;
                changed.timetable = true;
            }
            SyncItem::Replay { replay } => {
                store::replays::upsert(conn, replay)?;
                changed.replays = true;
            }
            SyncItem::WatchPosition { position } => {
                store::replays::put_synced_position(conn, position)?;
                changed.replays = true;
            }
            SyncItem::NotificationSettings { settings } => {
                store::notification_settings::put_synced(conn, settings)?;
                changed.settings = true;
            }
            SyncItem::Removed { kind, id } => match kind {
                EntityKind::Notice => {
                    store::notices::remove(conn, id)?;
                    changed.notices = true;
                }
                EntityKind::ReceiptSummary => {
                    store::notices::remove_summary(conn, id)?;
                    changed.notices = true;
                }
                EntityKind::Class => {
                    store::org::remove(conn, "classes", id)?;
                    changed.org = true;
                }
                EntityKind::LinkGroup => {
                    store::org::remove(conn, "link_groups", id)?;
                    changed.org = true;
                }
                EntityKind::Child => {
                    store::org::remove(conn, "children", id)?;
                    changed.org = true;
                }
                EntityKind::Profile => {
                    store::org::remove(conn, "profile", id)?;
                    changed.org = true;
                }
                EntityKind::Homework => {
                    changed
                        .orphaned_files
                        .extend(store::homework::remove(conn, id)?);
                    changed.homework = true;
                }
                EntityKind::Submission => {
                    store::homework::remove_submission(conn, id)?;
                    changed.homework = true;
                }
                EntityKind::HomeworkSummary => {
                    store::homework::remove_summary(conn, id)?;
                    changed.homework = true;
                }
                EntityKind::Lesson => {
                    store::lessons::remove(conn, id)?;
                    changed.timetable = true;
                }
                EntityKind::Replay => {
                    if store::replays::remove(conn, id)? {
                        changed.removed_downloads.push(id.clone());
                    }
                    changed.replays = true;
                }
                EntityKind::WatchPosition => {
                    store::replays::remove_position(conn, id)?;
                    changed.replays = true;
                }
                EntityKind::NotificationSettings => {
                    store::notification_settings::remove_synced(conn)?;
                    changed.settings = true;
                }
            },
        }
    }
    store::sync_state::set_cursor(conn, &page.cursor, page.server_time)?;
    Ok(changed)
}

/// Items per page asked of the server: few round trips on a first sync, small enough that a
/// cheap phone applies a page in one short transaction.
const PAGE_SIZE: u32 = 1000;

async fn fetch(shared: Arc<Shared>, cursor: Option<String>) -> Result<SyncPage> {
    let mut query: Vec<(&str, String)> = vec![("limit", PAGE_SIZE.to_string())];
    query.extend(cursor.map(|c| ("since", c)));
    shared.api.get("/sync", &query).await
}

async fn run(shared: &Arc<Shared>) -> Result<()> {
    let cursor = shared.store.read(store::sync_state::cursor).await?;
    let mut page = fetch(shared.clone(), cursor).await?;
    loop {
        // Fetch the next page while this one is written: the network and the disk overlap.
        // The cursor is stored with each page, so a failure anywhere resumes from the last
        // page applied.
        let next = page
            .has_more
            .then(|| tokio::spawn(fetch(shared.clone(), Some(page.cursor.clone()))));
        let items = page.items.len();
        let has_more = page.has_more;
        let user_id = shared.user_id.clone();
        let changed = shared
            .store
            .write(move |tx| {
                let changed = apply_page(tx, &page)?;
                // Applied, not yet committed: a killed app must find none of it applied.
                crate::hooks::reached(&user_id, "sync.applied");
                Ok(changed)
            })
            .await;
        let changed = match changed {
            Ok(changed) => changed,
            Err(e) => {
                if let Some(next) = next {
                    next.abort();
                }
                return Err(e);
            }
        };
        tracing::debug!(items, has_more, "sync page applied");
        if changed.notices {
            shared.notices_changed();
        }
        if changed.org {
            shared.org_changed();
        }
        if changed.homework {
            shared.homework_changed();
        }
        if changed.timetable {
            shared.timetable_changed();
        }
        if changed.replays {
            shared.replays_changed();
        }
        if changed.settings {
            shared.settings_changed();
        }
        for replay_id in changed.removed_downloads {
            crate::replays::forget_download(shared, &replay_id).await;
        }
        for path in changed.orphaned_files {
            let _ = std::fs::remove_file(path);
        }
        match next {
            Some(next) => {
                page = next.await.map_err(Error::from)??;
            }
            None => return Ok(()),
        }
    }
}

/// Syncs now, or waits for the run that will include this request.
pub(crate) async fn sync_now(shared: &Arc<Shared>) -> Result<()> {
    let state = &shared.sync;
    let mine = state.requested.fetch_add(1, Ordering::SeqCst) + 1;
    let _lock = state.lock.lock().await;
    if state.completed.load(Ordering::SeqCst) >= mine {
        let last = state.last_error.lock().unwrap_or_else(|e| e.into_inner());
        return match last.clone() {
            Some(e) => Err(e),
            None => Ok(()),
        };
    }
    let covers = state.requested.load(Ordering::SeqCst);
    state.runs.fetch_add(1, Ordering::Relaxed);
    let result = run(shared).await;
    if let Err(e) = &result {
        tracing::info!(code = e.code_str(), "sync failed");
    }
    *state.last_error.lock().unwrap_or_else(|e| e.into_inner()) = result.clone().err();
    state.completed.store(covers, Ordering::SeqCst);
    result
}

/// The background sync loop: runs a sync each time one is requested (requests made while one
/// runs coalesce into one more run).
pub(crate) async fn run_requested(shared: Arc<Shared>) {
    loop {
        shared.sync_wake.notified().await;
        crate::hooks::reached(&shared.user_id, "sync.background");
        let _ = sync_now(&shared).await;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use lianxiao_protocol::{
        Child, ClassInfo, MyReceipt, Notice, PersonRef, ReceiptSummary, Role, School, SchoolKind,
    };

    use super::*;
    use crate::{notices::NoticeFilter, store::tests::temp_store};

    pub(crate) fn notice(id: &str, posted_at: i64, child: Option<&str>) -> Notice {
        Notice {
            id: id.into(),
            title: format!("title {id}"),
            body: "body".into(),
            author: PersonRef {
                id: "t1".into(),
                name: "Teacher".into(),
            },
            audience_label: "Class 1".into(),
            include_students: false,
            requires_ack: true,
            ack_deadline: None,
            posted_at,
            urgent: false,
            authored: false,
            receipt: Some(MyReceipt {
                role: Role::Parent,
                children: child
                    .map(|c| {
                        vec![PersonRef {
                            id: c.into(),
                            name: "Kid".into(),
                        }]
                    })
                    .unwrap_or_default(),
                read_at: None,
                acked_at: None,
                reminded_at: None,
            }),
        }
    }

    fn page(items: Vec<SyncItem>, cursor: &str) -> SyncPage {
        SyncPage {
            items,
            cursor: cursor.into(),
            has_more: false,
            server_time: 1,
        }
    }

    #[test]
    fn page_upserts_and_tombstones_and_stores_cursor() {
        let (_dir, store) = temp_store();
        let class = ClassInfo {
            id: "c1".into(),
            name: "一班".into(),
            grade: "3".into(),
            school: School {
                id: "s1".into(),
                name: "S".into(),
                kind: SchoolKind::Main,
            },
        };
        let p1 = page(
            vec![
                SyncItem::Class { class },
                SyncItem::Child {
                    child: Child {
                        id: "k1".into(),
                        name: "Kid".into(),
                        class_id: "c1".into(),
                    },
                },
                SyncItem::Notice {
                    notice: notice("n1", 10, Some("k1")),
                },
                SyncItem::Notice {
                    notice: notice("n2", 20, None),
                },
                SyncItem::ReceiptSummary {
                    summary: ReceiptSummary {
                        notice_id: "n2".into(),
                        recipients: 3,
                        read: 1,
                        acknowledged: 0,
                        requires_ack: true,
                        last_reminded_at: None,
                        classes: vec![],
                    },
                },
            ],
            "cur1",
        );
        let changed = store.write_blocking(|tx| apply_page(tx, &p1)).unwrap();
        assert!(changed.notices && changed.org);
        store
            .read_blocking(|c| {
                assert_eq!(store::sync_state::cursor(c)?.as_deref(), Some("cur1"));
                let all = store::notices::list(c, &NoticeFilter::default())?;
                assert_eq!(
                    all.iter().map(|v| v.notice.id.as_str()).collect::<Vec<_>>(),
                    ["n2", "n1"]
                );
                assert!(all[0].summary.is_some());
                let for_kid = store::notices::list(
                    c,
                    &NoticeFilter {
                        child_id: Some("k1".into()),
                        unread_first: false,
                    },
                )?;
                assert_eq!(for_kid.len(), 1);
                assert_eq!(store::org::classes(c)?.len(), 1);
                assert_eq!(store::org::children(c)?.len(), 1);
                Ok(())
            })
            .unwrap();

        // An edit replaces, a tombstone removes (with its summary), the cursor moves on.
        let mut edited = notice("n1", 10, Some("k1"));
        edited.title = "edited".into();
        let p2 = page(
            vec![
                SyncItem::Notice { notice: edited },
                SyncItem::Removed {
                    kind: EntityKind::Notice,
                    id: "n2".into(),
                },
                SyncItem::Removed {
                    kind: EntityKind::Child,
                    id: "k1".into(),
                },
            ],
            "cur2",
        );
        store.write_blocking(|tx| apply_page(tx, &p2)).unwrap();
        store
            .read_blocking(|c| {
                assert_eq!(store::sync_state::cursor(c)?.as_deref(), Some("cur2"));
                let all = store::notices::list(c, &NoticeFilter::default())?;
                assert_eq!(all.len(), 1);
                assert_eq!(all[0].notice.title, "edited");
                assert!(store::notices::summary(c, "n2")?.is_none());
                assert!(store::org::children(c)?.is_empty());
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn a_failed_page_leaves_the_cursor_where_it_was() {
        let (_dir, store) = temp_store();
        store
            .write_blocking(|tx| apply_page(tx, &page(vec![], "cur1")))
            .unwrap();
        let p = page(
            vec![SyncItem::Notice {
                notice: notice("n1", 1, None),
            }],
            "cur2",
        );
        let r: Result<()> = store.write_blocking(|tx| {
            apply_page(tx, &p)?;
            Err(Error::Internal("crash before commit".into()))
        });
        assert!(r.is_err());
        store
            .read_blocking(|c| {
                assert_eq!(store::sync_state::cursor(c)?.as_deref(), Some("cur1"));
                assert!(store::notices::get(c, "n1")?.is_none());
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn a_local_read_survives_a_sync_of_the_same_notice() {
        let (_dir, store) = temp_store();
        let p = page(
            vec![SyncItem::Notice {
                notice: notice("n1", 1, None),
            }],
            "c1",
        );
        store.write_blocking(|tx| apply_page(tx, &p)).unwrap();
        store
            .write_blocking(|tx| store::notices::mark_read_local(tx, "n1", 5))
            .unwrap();
        store.write_blocking(|tx| apply_page(tx, &p)).unwrap();
        let v = store
            .read_blocking(|c| store::notices::get(c, "n1"))
            .unwrap()
            .unwrap();
        assert_eq!(v.read, crate::DeliveryState::Pending);
        assert_eq!(v.read_at, Some(5));
        assert!(!v.unread);
    }
}

#[cfg(test)]
mod bench {
    use std::time::Instant;

    use super::*;
    use crate::store::tests::temp_store;

    /// `cargo test -p lianxiao-core --release -- --ignored --nocapture apply_speed`
    #[test]
    #[ignore]
    fn apply_speed_against_raw_inserts() {
        let n = 20_000;
        let notices: Vec<_> = (0..n)
            .map(|i| tests::notice(&format!("n{i}"), i as i64, Some("k1")))
            .collect();
        let page = SyncPage {
            items: notices
                .iter()
                .cloned()
                .map(|notice| SyncItem::Notice { notice })
                .collect(),
            cursor: "c".into(),
            has_more: false,
            server_time: 0,
        };
        let (_d1, store) = temp_store();
        let t = Instant::now();
        store.write_blocking(|tx| apply_page(tx, &page)).unwrap();
        let ours = t.elapsed();

        let (_d2, raw) = temp_store();
        let t = Instant::now();
        raw.write_blocking(|tx| {
            let mut stmt = tx.prepare(
                "INSERT INTO notices (id, posted_at, notice, is_recipient) VALUES (?1, ?2, ?3, 1)",
            )?;
            for n in &notices {
                stmt.execute(rusqlite::params![n.id, n.posted_at, n.body])?;
            }
            Ok(())
        })
        .unwrap();
        let raw_time = t.elapsed();
        println!(
            "apply {:.0}/s, raw {:.0}/s, ratio {:.2}",
            n as f64 / ours.as_secs_f64(),
            n as f64 / raw_time.as_secs_f64(),
            raw_time.as_secs_f64() / ours.as_secs_f64()
        );
    }
}
