//! The device's accounts, the app-supplied secure storage, and the config that ties them.

use std::sync::Arc;

use crate::{Client, RUNTIME, Result, SecureStorageError, read, write};
use lianxiao_core::AccountInfo;

/// Where tokens live: the app's Keychain / Keystore. Calls are short and may block briefly;
/// they arrive on the core's worker threads. Errors carry no keys or values.
#[uniffi::export(foreign)]
pub trait SecureStorage: Send + Sync {
    fn get(&self, key: String) -> Result<Option<String>, SecureStorageError>;
    fn set(&self, key: String, value: String) -> Result<(), SecureStorageError>;
    fn delete(&self, key: String) -> Result<(), SecureStorageError>;
}

/// The app's storage as the core sees it.
struct StorageBridge(Arc<dyn SecureStorage>);

impl lianxiao_core::SecureStorage for StorageBridge {
    fn get(&self, key: String) -> Result<Option<String>, lianxiao_core::SecureStorageError> {
        self.0.get(key).map_err(Into::into)
    }

    fn set(&self, key: String, value: String) -> Result<(), lianxiao_core::SecureStorageError> {
        self.0.set(key, value).map_err(Into::into)
    }

    fn delete(&self, key: String) -> Result<(), lianxiao_core::SecureStorageError> {
        self.0.delete(key).map_err(Into::into)
    }
}

/// How to reach the server and where to keep data.
#[derive(uniffi::Record)]
pub struct ClientConfig {
    /// e.g. `https://lianxiao.example.cn` (with or without `/v1`).
    pub server_url: String,
    /// The app's private data directory (a path).
    pub data_dir: String,
    pub secure_storage: Arc<dyn SecureStorage>,
}

/// The accounts signed in on this device (a shared family phone may hold several) and the
/// `Client` of each. Make one per process.
#[derive(uniffi::Object)]
pub struct Accounts {
    pub(crate) inner: lianxiao_core::Accounts,
}

#[uniffi::export(async_runtime = "tokio")]
impl Accounts {
    /// Opens the device database under `config.data_dir`.
    #[uniffi::constructor]
    pub fn new(config: ClientConfig) -> Result<Arc<Self>> {
        let config = lianxiao_core::ClientConfig {
            server_url: config.server_url,
            data_dir: config.data_dir.into(),
            secure_storage: Arc::new(StorageBridge(config.secure_storage)),
        };
        // The clients' background tasks run on the runtime current at opening: ours.
        let _guard = RUNTIME.enter();
        let inner = lianxiao_core::Accounts::open(config)?;
        Ok(Arc::new(Accounts { inner }))
    }

    /// Signs in (or again) and makes the account active. Call `start()` on the client.
    pub async fn sign_in(&self, login: String, password: String) -> Result<Arc<Client>> {
        let a = self.inner.clone();
        write(async move { a.sign_in(login, password).await })
            .await
            .map(Client::wrap)
    }

    /// Signed-in accounts, most recently used first.
    pub async fn list(&self) -> Result<Vec<AccountInfo>> {
        let a = self.inner.clone();
        read(async move { a.list().await }).await
    }

    /// The active account's client, if one is signed in.
    pub async fn active(&self) -> Result<Option<Arc<Client>>> {
        let a = self.inner.clone();
        read(async move { a.active().await })
            .await
            .map(|c| c.map(Client::wrap))
    }

    /// Makes another signed-in account the active one, signing no one out.
    pub async fn switch_to(&self, user_id: String) -> Result<Arc<Client>> {
        let a = self.inner.clone();
        write(async move { a.switch_to(user_id).await })
            .await
            .map(Client::wrap)
    }

    /// A signed-in account's client, from the device (no network needed).
    pub async fn client(&self, user_id: String) -> Result<Arc<Client>> {
        let a = self.inner.clone();
        read(async move { a.client(user_id).await })
            .await
            .map(Client::wrap)
    }

    /// Signs an account out of this device and wipes its data, unsent work included.
    pub async fn sign_out(&self, user_id: String) -> Result<()> {
        let a = self.inner.clone();
        write(async move { a.sign_out(user_id).await }).await
    }
}
