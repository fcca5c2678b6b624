//! Notification settings on the phone: which kinds of notification reach this account, per
//! child, and its own quiet hours. They belong to the account, so every phone signed in to it
//! gets them through sync; the screen reads them from the store (offline too). A change shows
//! at once, goes to the server through the outbox (sent once, whenever the network allows),
//! and the server's answer settles it; a refused change falls back to the server's copy and
//! is listed among the outbox failures.
//!
//! Also here, for teachers: the parents of a class whom nothing reaches.

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use lianxiao_protocol::{
    ChildNotifications, NotificationKinds, NotificationSettings, QuietHours, Role,
    UnreachableParent, UpdateNotificationSettings,
};

use crate::{
    Client, Error, Result, TaskHandle,
    api::now_ms,
    client::Shared,
    outbox::OutboxKind,
    store::{
        self,
        notification_settings::{Pending, SettingsPatch, Stored},
    },
};

/// The settings as the screen shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsView {
    pub settings: NotificationSettings,
    /// A change made on this phone is still on its way to the server.
    pub pending: bool,
}

/// Told the settings whenever they change (sync, a change here, the server's answer).
pub trait NotificationSettingsListener: Send + Sync {
    fn on_settings(&self, view: SettingsView);
}

/// `client.notification_settings()`.
#[derive(Clone)]
pub struct NotificationSettingsHandle {
    client: Client,
}

impl NotificationSettingsHandle {
    pub(crate) fn new(client: Client) -> Self {
        NotificationSettingsHandle { client }
    }

    fn shared(&self) -> &Arc<Shared> {
        self.client.shared()
    }

    /// The settings from the store: the phone's unsent change over the server's copy. Before
    /// the first sync brings them, the defaults for the children (or self) the store knows.
    pub async fn get(&self) -> Result<SettingsView> {
        view(self.shared()).await
    }

    /// Replaces the settings (children left out go back to the defaults). Checked here as the
    /// server would (a child this account does not have, named twice: field `children`; quiet
    /// hours outside a day: `quiet_hours`), then shown at once and queued for the server.
    /// Before the first sync the phone does not know the children yet: the server checks them
    /// (a refusal shows among the outbox failures and the screen falls back to its copy).
    pub async fn update(&self, change: UpdateNotificationSettings) -> Result<SettingsView> {
        let (known, current) = known_and_view(self.shared()).await?;
        check(known.then_some(&current.settings), &change)?;
        queue(self.shared(), Pending::Replace(change)).await
    }

    /// Applies `patch` to the settings as shown: the whole settings when the server's copy is
    /// known; before the first sync only what was touched, laid over the server's copy when
    /// it arrives (so a phone signed in a moment ago never resets what another phone set).
    async fn change(&self, patch: SettingsPatch) -> Result<SettingsView> {
        let shared = self.shared();
        let (known, current) = known_and_view(shared).await?;
        let pending = if known {
            Pending::Replace(patch.apply(&current.settings))
        } else {
            match shared
                .store
                .read(store::notification_settings::get)
                .await?
                .pending
            {
                Some(Pending::Replace(whole)) => Pending::Replace(patch.apply(&as_settings(whole))),
                Some(Pending::Patch { patch: earlier }) => Pending::Patch {
                    patch: earlier.then(patch),
                },
                None => Pending::Patch { patch },
            }
        };
        let change = match &pending {
            Pending::Replace(whole) => whole.clone(),
            Pending::Patch { patch } => patch.apply(&NotificationSettings {
                quiet_hours: None,
                children: Vec::new(),
                updated_at: 0,
            }),
        };
        check(known.then_some(&current.settings), &change)?;
        queue(shared, pending).await
    }
}

/// Shows `change` at once and queues it for the server, replacing an unsent earlier one.
async fn queue(shared: &Arc<Shared>, change: Pending) -> Result<SettingsView> {
    {
        let user_id = shared.user_id.clone();
        let body = serde_json::to_string(&change)?;
        shared
            .store
            .write(move |tx| {
                let id = store::outbox::enqueue(
                    tx,
                    OutboxKind::NotificationSettings,
                    &user_id,
                    Some(&body),
                    now_ms(),
                )?;
                store::notification_settings::set_pending(tx, &change, id)
            })
            .await?;
    }
    shared.settings_changed();
    shared.outbox_enqueued();
    view(shared).await
}

impl NotificationSettingsHandle {
    /// Turns kinds on or off for one child (a student or teacher: their own id), keeping the
    /// rest as shown now (before the first sync: as the server has it).
    pub async fn set_kinds(
        &self,
        child_id: &str,
        kinds: NotificationKinds,
    ) -> Result<SettingsView> {
        self.change(SettingsPatch {
            children: vec![ChildNotifications {
                child_id: child_id.to_owned(),
                kinds,
            }],
            ..Default::default()
        })
        .await
    }

    /// Sets or clears this account's own quiet hours, keeping the rest as shown now (before
    /// the first sync: as the server has it).
    pub async fn set_quiet_hours(&self, quiet_hours: Option<QuietHours>) -> Result<SettingsView> {
        self.change(SettingsPatch {
            quiet_hours_set: true,
            quiet_hours,
            children: Vec::new(),
        })
        .await
    }

    /// Asks the server now (sync brings changes anyway; this is for a first screen before the
    /// first sync) and keeps its answer.
    pub async fn refresh(&self) -> Result<SettingsView> {
        let shared = self.shared().clone();
        let settings: NotificationSettings = shared.api.get("/notification-settings", &[]).await?;
        shared
            .store
            .write(move |tx| store::notification_settings::put_synced(tx, &settings))
            .await?;
        shared.settings_changed();
        view(&shared).await
    }

    /// Calls `listener` with the settings now and after every change, until the handle is
    /// dropped.
    pub fn subscribe(&self, listener: Arc<dyn NotificationSettingsListener>) -> TaskHandle {
        let shared = self.shared().clone();
        let mut changes = shared.settings_watch();
        changes.borrow_and_update();
        let owner = shared.clone();
        crate::client::spawn_listener(&owner, "settings listener", async move {
            let mut last = None;
            loop {
                match view(&shared).await {
                    Ok(v) if last.as_ref() != Some(&v) => {
                        listener.on_settings(v.clone());
                        last = Some(v);
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(code = e.code_str(), "notification settings failed"),
                }
                if changes.changed().await.is_err() {
                    return;
                }
                // Changes come in bursts (a sync page, the outbox's answer): one call for them.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    }

    /// For a class's teachers, its school's admin and county admins: the class's parents with
    /// no push accepted and no contact for the server's configured time, with the phone number
    /// to call. Online only.
    pub async fn unreachable_parents(&self, class_id: &str) -> Result<Vec<UnreachableParent>> {
        if class_id.is_empty() {
            return Err(Error::Validation {
                field: Some("class_id".into()),
                message: "name a class".into(),
            });
        }
        let path = format!("/classes/{}/unreachable-parents", segment(class_id));
        self.shared().api.get(&path, &[]).await
    }
}

/// Percent-encodes a path segment (ids are URL-safe today; names typed in a CLI may not be).
fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Settings made of a whole change (the base a later change before the first sync goes on).
fn as_settings(change: UpdateNotificationSettings) -> NotificationSettings {
    NotificationSettings {
        quiet_hours: change.quiet_hours,
        children: change.children,
        updated_at: 0,
    }
}

/// Whether the phone knows which children the account has (a sync has run or brought the
/// server's settings), and the settings as shown.
async fn known_and_view(shared: &Arc<Shared>) -> Result<(bool, SettingsView)> {
    let known = shared
        .store
        .read(|c| {
            Ok(store::notification_settings::get(c)?.synced.is_some()
                || store::sync_state::cursor(c)?.is_some())
        })
        .await?;
    Ok((known, view(shared).await?))
}

/// The server's rules, so a change that would be refused is refused before it is queued.
/// `current` is none before the first sync: which children the account has is the server's
/// to check then.
fn check(
    current: Option<&NotificationSettings>,
    change: &UpdateNotificationSettings,
) -> Result<()> {
    if let Some(q) = change.quiet_hours
        && !q.is_valid()
    {
        return Err(Error::Validation {
            field: Some("quiet_hours".into()),
            message: "quiet hours are minutes after midnight, 0 to 1439".into(),
        });
    }
    let known: Option<BTreeSet<&str>> =
        current.map(|s| s.children.iter().map(|c| c.child_id.as_str()).collect());
    let mut seen = BTreeSet::new();
    for c in &change.children {
        if known
            .as_ref()
            .is_some_and(|k| !k.contains(c.child_id.as_str()))
        {
            return Err(Error::Validation {
                field: Some("children".into()),
                message: format!("{} is not a child of this account", c.child_id),
            });
        }
        if !seen.insert(c.child_id.as_str()) {
            return Err(Error::Validation {
                field: Some("children".into()),
                message: format!("{} is named twice", c.child_id),
            });
        }
    }
    Ok(())
}

async fn view(shared: &Arc<Shared>) -> Result<SettingsView> {
    let user_id = shared.user_id.clone();
    shared
        .store
        .read(move |c| {
            let stored = store::notification_settings::get(c)?;
            let base = match &stored.synced {
                Some(s) => s.clone(),
                None => defaults(c, &user_id)?,
            };
            Ok(overlay(base, stored))
        })
        .await
}

/// Before the server's copy arrives: every kind on for each child in the store, and for the
/// account itself when it is more than a parent.
fn defaults(conn: &rusqlite::Connection, user_id: &str) -> Result<NotificationSettings> {
    let mut ids: BTreeSet<String> = store::org::children(conn)?
        .into_iter()
        .map(|c| c.id)
        .collect();
    let own = store::org::profile(conn)?
        .is_some_and(|u| u.memberships.iter().any(|m| m.role != Role::Parent));
    if own {
        ids.insert(user_id.to_owned());
    }
    Ok(NotificationSettings {
        quiet_hours: None,
        children: ids
            .into_iter()
            .map(|child_id| ChildNotifications {
                child_id,
                kinds: NotificationKinds::default(),
            })
            .collect(),
        updated_at: 0,
    })
}

/// The phone's unsent change over `base`: as the server will store it (children left out
/// back to the defaults).
fn overlay(base: NotificationSettings, stored: Stored) -> SettingsView {
    let change = match stored.pending {
        None => {
            return SettingsView {
                settings: base,
                pending: false,
            };
        }
        Some(Pending::Replace(change)) => change,
        // Only what was touched, over the server's copy (or the defaults until it comes).
        Some(Pending::Patch { patch }) => patch.apply(&base),
    };
    let mut children: Vec<ChildNotifications> = base
        .children
        .iter()
        .map(|c| ChildNotifications {
            child_id: c.child_id.clone(),
            kinds: change
                .children
                .iter()
                .find(|p| p.child_id == c.child_id)
                .map(|p| p.kinds)
                .unwrap_or_default(),
        })
        .collect();
    for c in &change.children {
        if !children.iter().any(|b| b.child_id == c.child_id) {
            children.push(c.clone());
        }
    }
    children.sort_by(|a, b| a.child_id.cmp(&b.child_id));
    SettingsView {
        settings: NotificationSettings {
            quiet_hours: change.quiet_hours,
            children,
            updated_at: base.updated_at,
        },
        pending: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(notices: bool) -> NotificationKinds {
        NotificationKinds {
            notices,
            ..Default::default()
        }
    }

    fn settings(children: &[(&str, bool)]) -> NotificationSettings {
        NotificationSettings {
            quiet_hours: None,
            children: children
                .iter()
                .map(|(id, on)| ChildNotifications {
                    child_id: (*id).into(),
                    kinds: kinds(*on),
                })
                .collect(),
            updated_at: 7,
        }
    }

    #[test]
    fn a_pending_change_replaces_the_whole_settings() {
        let base = settings(&[("a", false), ("b", false)]);
        let change = UpdateNotificationSettings {
            quiet_hours: Some(QuietHours::SCHOOL_DEFAULT),
            children: vec![ChildNotifications {
                child_id: "b".into(),
                kinds: kinds(false),
            }],
        };
        let v = overlay(
            base.clone(),
            Stored {
                synced: Some(base.clone()),
                pending: Some(Pending::Replace(change)),
            },
        );
        assert!(v.pending);
        assert_eq!(v.settings.quiet_hours, Some(QuietHours::SCHOOL_DEFAULT));
        // Left out: back to the defaults, as the server will store it.
        assert_eq!(v.settings.children[0].kinds, NotificationKinds::default());
        assert_eq!(v.settings.children[1].kinds, kinds(false));
        let plain = overlay(base.clone(), Stored::default());
        assert!(!plain.pending);
        assert_eq!(plain.settings, base);
    }

    #[test]
    fn a_change_before_the_first_sync_touches_only_what_it_names() {
        let patch = SettingsPatch {
            children: vec![ChildNotifications {
                child_id: "b".into(),
                kinds: kinds(false),
            }],
            ..Default::default()
        }
        .then(SettingsPatch {
            quiet_hours_set: true,
            quiet_hours: Some(QuietHours::SCHOOL_DEFAULT),
            children: vec![],
        });
        // The server's copy, set on another phone: a's notices off, no quiet hours.
        let server = settings(&[("a", false), ("b", true)]);
        let v = overlay(
            server.clone(),
            Stored {
                synced: Some(server),
                pending: Some(Pending::Patch { patch }),
            },
        );
        assert!(v.pending);
        assert_eq!(v.settings.quiet_hours, Some(QuietHours::SCHOOL_DEFAULT));
        assert_eq!(
            v.settings.children[0].kinds,
            kinds(false),
            "a kept as the server has it"
        );
        assert_eq!(
            v.settings.children[1].kinds,
            kinds(false),
            "b as changed here"
        );
        // Children are the server's to check before the first sync; the rest is checked here.
        let change = UpdateNotificationSettings {
            quiet_hours: None,
            children: vec![ChildNotifications {
                child_id: "unknown-yet".into(),
                kinds: kinds(true),
            }],
        };
        assert!(check(None, &change).is_ok());
        let night = UpdateNotificationSettings {
            quiet_hours: Some(QuietHours {
                start_minute: 1440,
                end_minute: 0,
            }),
            children: vec![],
        };
        assert!(check(None, &night).is_err());
        // Stored by an earlier version: a whole change.
        let old: Pending = serde_json::from_str(r#"{"children":[]}"#).unwrap();
        assert!(matches!(old, Pending::Replace(_)));
        let round: Pending = serde_json::from_str(
            &serde_json::to_string(&Pending::Patch {
                patch: SettingsPatch::default(),
            })
            .unwrap(),
        )
        .unwrap();
        assert!(matches!(round, Pending::Patch { .. }));
    }

    #[test]
    fn changes_the_server_would_refuse_are_refused_here() {
        let current = settings(&[("a", true)]);
        let child = |id: &str| ChildNotifications {
            child_id: id.into(),
            kinds: kinds(true),
        };
        let field = |r: Result<()>| match r {
            Err(Error::Validation { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        let stranger = UpdateNotificationSettings {
            quiet_hours: None,
            children: vec![child("z")],
        };
        assert_eq!(
            field(check(Some(&current), &stranger)).as_deref(),
            Some("children")
        );
        let twice = UpdateNotificationSettings {
            quiet_hours: None,
            children: vec![child("a"), child("a")],
        };
        assert_eq!(
            field(check(Some(&current), &twice)).as_deref(),
            Some("children")
        );
        let night = UpdateNotificationSettings {
            quiet_hours: Some(QuietHours {
                start_minute: 1440,
                end_minute: 0,
            }),
            children: vec![],
        };
        assert_eq!(
            field(check(Some(&current), &night)).as_deref(),
            Some("quiet_hours")
        );
        assert!(
            check(
                Some(&current),
                &UpdateNotificationSettings {
                    quiet_hours: None,
                    children: vec![child("a")]
                }
            )
            .is_ok()
        );
    }
}
