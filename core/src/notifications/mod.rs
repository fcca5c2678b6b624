//! Push notifications on the phone: this install's registration for every signed-in account
//! ([`Devices`], from `accounts.devices()`), what happens when a push arrives or is tapped,
//! and each account's badge ([`Notifications`], from `client.notifications()`).
//!
//! A device id is made once per install and shared by every account on the phone; each
//! account keeps its own registration, settings and badge.

mod badges;
mod devices;
mod store;

use std::collections::BTreeMap;

use lianxiao_protocol::{Millis, PushData, PushKind, PushProvider, RegisterDevice};

pub use badges::{BadgeListener, Notifications};
pub(crate) use devices::{Install, follow_network, signed_in, signing_out};

use crate::{Accounts, Error, Result, store as account_store};

/// Where an account's registration with the server stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegistrationState {
    /// The shell has not handed over a push token yet.
    WaitingForToken,
    /// To be sent (offline, or just changed); retried with backoff, kept across restarts.
    Pending,
    /// The server has this install's current token for the account.
    Registered,
    /// The server refused it for good (`error_code`); tried again on a new token or sign-in.
    Failed,
    /// Pushes turned off for this account here ([`Devices::unregister`]); on again at the
    /// next sign-in.
    Off,
}

/// One signed-in account's push registration on this install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRegistration {
    pub user_id: String,
    pub state: RegistrationState,
    /// The provider of the token last accepted for this account.
    pub provider: Option<PushProvider>,
    /// Local clock, Unix ms: when the server last accepted it.
    pub registered_at: Option<Millis>,
    pub error_code: Option<String>,
    pub attempts: u32,
}

/// Where tapping a push leads: the shell opens this screen for this account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushTarget {
    pub account_id: String,
    pub kind: PushKind,
    /// The notice's (homework's, lesson's) id.
    pub id: String,
    /// The item is in the account's local store (false: offline and not synced yet; the
    /// screen shows it once sync brings it).
    pub in_store: bool,
}

/// This install's push registration and incoming pushes. Cheap to clone.
#[derive(Clone)]
pub struct Devices {
    accounts: Accounts,
}

impl std::fmt::Debug for Devices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Devices").finish_non_exhaustive()
    }
}

impl Devices {
    pub(crate) fn new(accounts: Accounts) -> Devices {
        Devices { accounts }
    }

    /// This install's device id: made once, the same for every account on the phone.
    pub async fn device_id(&self) -> Result<String> {
        self.accounts
            .install()
            .db
            .run(|c| store::device_id(c))
            .await
    }

    /// The platform gave the app a push token (first launch, or a new one): register it for
    /// every signed-in account, now or when the network allows. Handing over the same token
    /// again changes nothing.
    pub async fn set_push_token(&self, registration: RegisterDevice) -> Result<()> {
        let token_ok = !registration.token.is_empty()
            && registration.token.len() <= lianxiao_protocol::MAX_PUSH_TOKEN
            && registration.token.bytes().all(|b| b.is_ascii_graphic());
        if !token_ok {
            return Err(Error::Validation {
                field: Some("token".into()),
                message: "a push token is 1 to 4096 printable characters".into(),
            });
        }
        let changed = self
            .accounts
            .install()
            .db
            .run(move |c| store::set_current(c, &registration))
            .await?;
        if changed {
            tracing::info!("push token handed over; registering");
            self.accounts.install().wake();
        }
        Ok(())
    }

    /// Each signed-in account's registration.
    pub async fn registrations(&self) -> Result<Vec<DeviceRegistration>> {
        let (current, rows) = self
            .accounts
            .install()
            .db
            .run(|c| Ok((store::current(c)?, store::registrations(c)?)))
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let registered: Option<RegisterDevice> = r
                    .registered
                    .as_deref()
                    .and_then(|s| serde_json::from_str(s).ok());
                let state = match r.state.as_str() {
                    "registered" => RegistrationState::Registered,
                    "failed" => RegistrationState::Failed,
                    "off" | "unlinking" => RegistrationState::Off,
                    _ if current.is_none() => RegistrationState::WaitingForToken,
                    _ => RegistrationState::Pending,
                };
                DeviceRegistration {
                    user_id: r.user_id,
                    state,
                    provider: registered.map(|r| r.provider),
                    registered_at: r.registered_at,
                    error_code: r.error_code,
                    attempts: r.attempts,
                }
            })
            .collect())
    }

    /// No more pushes to this signed-in account on this phone (the server unlinks it, now or
    /// once online); signing in again turns them back on. Signing out unlinks by itself.
    pub async fn unregister(&self, user_id: String) -> Result<()> {
        let id = user_id.clone();
        let found = self
            .accounts
            .install()
            .db
            .run(move |c| store::unregister(c, &id))
            .await?;
        if !found {
            return Err(Error::NotFound(format!("account {user_id}")));
        }
        self.accounts.install().wake();
        Ok(())
    }

    /// Sends everything pending now (registrations, unlinks, push reports), ignoring retry
    /// times. Returns how many are still pending (offline: all of them).
    pub async fn flush(&self) -> Result<usize> {
        devices::send_due(&self.accounts, true).await
    }

    /// The phone's network came back (or went): pending registrations, unlinks and reports go
    /// at once instead of waiting out their backoff. Call it with `client.network_changed`.
    pub fn network_changed(&self, available: bool) {
        if !available {
            return;
        }
        let accounts = self.accounts.clone();
        self.accounts.install().spawn(async move {
            let _ = accounts.install().db.run(|c| store::all_due_now(c)).await;
            accounts.install().wake();
        });
    }

    /// A push arrived (the shell's notification handler passes the provider's data as
    /// strings): the account it is for syncs, and the server is told it reached this phone.
    /// Offline, the report waits. Malformed data or an account not signed in here is a
    /// validation error.
    pub async fn push_received(&self, data: BTreeMap<String, String>) -> Result<PushTarget> {
        self.arrived(data, false).await
    }

    /// The user tapped a push: as [`Devices::push_received`], and returns the screen to open
    /// once the item is in the account's store (synced first if it was missing; offline the
    /// target is returned all the same).
    pub async fn push_opened(&self, data: BTreeMap<String, String>) -> Result<PushTarget> {
        self.arrived(data, true).await
    }

    async fn arrived(&self, data: BTreeMap<String, String>, opened: bool) -> Result<PushTarget> {
        let push = PushData::from_strings(&data).ok_or_else(|| Error::Validation {
            field: Some("data".into()),
            message: "not a Lianxiao push: kind, id, account_id and badge are needed".into(),
        })?;
        let signed_in = self
            .accounts
            .list()
            .await?
            .iter()
            .any(|a| a.user_id == push.account_id);
        if !signed_in || push.id.is_empty() {
            return Err(Error::Validation {
                field: Some("account_id".into()),
                message: "the push is for an account not signed in on this phone".into(),
            });
        }
        let (user, kind, id) = (push.account_id.clone(), push.kind, push.id.clone());
        self.accounts
            .install()
            .db
            .run(move |c| store::add_report(c, &user, kind, &id, opened))
            .await?;
        self.accounts.install().wake();
        let client = self.accounts.client(push.account_id.clone()).await?;
        if let Err(e) = client.sync_now().await {
            tracing::info!(
                code = e.code_str(),
                "sync after a push failed; it runs again later"
            );
        }
        let (kind, id) = (push.kind, push.id.clone());
        let in_store = client
            .shared()
            .store
            .read(move |c| {
                Ok(match kind {
                    PushKind::Notice => account_store::notices::get(c, &id)?.is_some(),
                    PushKind::Homework => account_store::homework::get(c, &id)?.is_some(),
                    PushKind::Lesson => account_store::lessons::get(c, &id)?.is_some(),
                })
            })
            .await?;
        Ok(PushTarget {
            account_id: push.account_id,
            kind: push.kind,
            id: push.id,
            in_store,
        })
    }
}
