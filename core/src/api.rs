//! HTTP to the server: `/v1/...` with the account's Bearer token, one refresh at a time, the
//! server's clock from every response.
//!
//! The access token is refreshed ahead of its expiry (and after a 401 for one the server
//! ended early). Refresh is single-flight, within the process and across processes on one
//! data directory (the app and its push service, a terminal client run twice): the first
//! caller takes an in-process lock and then a file lock in the data directory, reads the
//! stored tokens again under it (another process may have rotated them; using the old
//! refresh token again would make the server revoke the session as stolen), and refreshes only
//! if nobody did. The refresh runs in its own task so a cancelled caller can never lose a
//! rotated refresh token.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use lianxiao_protocol::{
    LoginRequest, LogoutRequest, Millis, RefreshRequest, SERVER_TIME_HEADER, TokenResponse,
};
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use tokio::sync::watch;

use crate::{Error, Result, SecureStorage};

/// The access and refresh token of one account. `Debug` hides them.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
    /// When to refresh, ahead of the access token's expiry (local clock, Unix ms). Absent in
    /// tokens stored by older versions: those are refreshed after a 401.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_at: Option<Millis>,
}

/// How long before its expiry an access token is refreshed: a minute, or half its life when
/// that is shorter (tests run with tokens of a second or two).
fn refresh_margin_ms(lifetime_ms: Millis) -> Millis {
    (lifetime_ms / 2).min(60_000)
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokens(..)")
    }
}

impl Tokens {
    pub(crate) fn storage_key(user_id: &str) -> String {
        format!("lianxiao.tokens.{user_id}")
    }

    pub(crate) fn load(storage: &dyn SecureStorage, user_id: &str) -> Result<Option<Tokens>> {
        match storage.get(Self::storage_key(user_id))? {
            Some(text) => Ok(serde_json::from_str(&text).ok()),
            None => Ok(None),
        }
    }

    pub(crate) fn save(&self, storage: &dyn SecureStorage, user_id: &str) -> Result<()> {
        let text = serde_json::to_string(self)?;
        Ok(storage.set(Self::storage_key(user_id), text)?)
    }
}

impl From<&TokenResponse> for Tokens {
    fn from(t: &TokenResponse) -> Self {
        let lifetime = (t.expires_in.min(i64::MAX as u64 / 2_000) as Millis) * 1000;
        Tokens {
            access_token: t.access_token.clone(),
            refresh_token: t.refresh_token.clone(),
            refresh_at: Some(now_ms() + lifetime - refresh_margin_ms(lifetime)),
        }
    }
}

impl Tokens {
    /// The access token is near its expiry (or past it).
    fn due(&self) -> bool {
        self.refresh_at.is_some_and(|at| now_ms() >= at)
    }
}

/// Takes the cross-process refresh lock of one account: an exclusive lock on a file in the
/// data directory, held until the returned file is dropped (the system lets go of it when
/// the process dies, so a killed app never leaves it taken). Blocking.
fn lock_file(path: &std::path::Path) -> Result<std::fs::File> {
    let io = |e: std::io::Error| Error::Storage(format!("refresh lock: {}", e.kind()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(io)?;
    file.lock().map_err(io)?;
    Ok(file)
}

pub(crate) fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}

/// The server's clock as offset from ours, learned from `X-Server-Time`.
#[derive(Default)]
pub(crate) struct ServerClock {
    offset_ms: AtomicI64,
}

impl ServerClock {
    pub(crate) fn observe(&self, server_ms: Millis) {
        self.offset_ms
            .store(server_ms - now_ms(), Ordering::Relaxed);
    }

    pub(crate) fn now(&self) -> Millis {
        now_ms() + self.offset_ms.load(Ordering::Relaxed)
    }

    fn observe_headers(&self, headers: &reqwest::header::HeaderMap) {
        if let Some(ms) = headers
            .get(SERVER_TIME_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<Millis>().ok())
        {
            self.observe(ms);
        }
    }
}

/// The shared HTTP client with the ring crypto provider, so mobile builds need no cmake.
pub(crate) fn http_client() -> Result<reqwest::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|_| Error::Internal("could not build the HTTP client".into()))
}

/// `http://host:port` without a trailing slash.
pub(crate) fn normalise_base(url: &str) -> String {
    url.trim_end_matches('/').trim_end_matches("/v1").to_owned()
}

struct Reply {
    status: StatusCode,
    retry_after: Option<u64>,
    body: Vec<u8>,
}

async fn execute(clock: &ServerClock, req: reqwest::RequestBuilder) -> Result<Reply> {
    let resp = req.send().await?;
    clock.observe_headers(resp.headers());
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    let body = resp.bytes().await?.to_vec();
    Ok(Reply {
        status,
        retry_after,
        body,
    })
}

fn into_result(reply: Reply) -> Result<Vec<u8>> {
    if reply.status.is_success() {
        Ok(reply.body)
    } else {
        Err(Error::from_response(
            reply.status.as_u16(),
            &reply.body,
            reply.retry_after,
        ))
    }
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|_| Error::Internal("malformed response".into()))
}

/// Signs in without an account yet.
pub(crate) async fn login(
    http: &reqwest::Client,
    base: &str,
    clock: &ServerClock,
    login: &str,
    password: &str,
) -> Result<TokenResponse> {
    let req = http
        .post(format!("{base}/v1/auth/login"))
        .json(&LoginRequest {
            login: login.to_owned(),
            password: password.to_owned(),
        });
    let body = into_result(execute(clock, req).await?)?;
    parse(&body)
}

/// One account's authenticated access to the server.
pub(crate) struct Api {
    http: reqwest::Client,
    base: String,
    user_id: String,
    storage: Arc<dyn SecureStorage>,
    tokens: Mutex<Option<Tokens>>,
    refresh_lock: Arc<tokio::sync::Mutex<()>>,
    /// The file locked around a refresh, shared with other processes on the data directory;
    /// none for a farewell's session, which only this process uses.
    refresh_lock_file: Option<std::path::PathBuf>,
    /// Refreshes made, ahead of expiry and after a 401 (diagnostics and tests).
    refreshes_ahead: std::sync::atomic::AtomicU64,
    refreshes_after_401: std::sync::atomic::AtomicU64,
    pub(crate) clock: ServerClock,
    /// True once the server refused our refresh token: signed out remotely.
    auth_expired: watch::Sender<bool>,
}

impl Api {
    pub(crate) fn new(
        http: reqwest::Client,
        base: String,
        user_id: String,
        storage: Arc<dyn SecureStorage>,
        tokens: Option<Tokens>,
        refresh_lock_file: Option<std::path::PathBuf>,
    ) -> Arc<Api> {
        let expired = tokens.is_none();
        Arc::new(Api {
            http,
            base,
            user_id,
            storage,
            tokens: Mutex::new(tokens),
            refresh_lock: Arc::new(tokio::sync::Mutex::new(())),
            refresh_lock_file,
            refreshes_ahead: Default::default(),
            refreshes_after_401: Default::default(),
            clock: ServerClock::default(),
            auth_expired: watch::channel(expired).0,
        })
    }

    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    pub(crate) fn auth_expired(&self) -> watch::Receiver<bool> {
        self.auth_expired.subscribe()
    }

    pub(crate) fn is_auth_expired(&self) -> bool {
        *self.auth_expired.borrow()
    }

    /// New tokens from a sign-in: persisted, then in use.
    pub(crate) fn set_tokens(&self, tokens: Tokens) -> Result<()> {
        tokens.save(self.storage.as_ref(), &self.user_id)?;
        *self.tokens.lock().unwrap_or_else(|e| e.into_inner()) = Some(tokens);
        self.auth_expired.send_replace(false);
        Ok(())
    }

    pub(crate) fn tokens(&self) -> Option<Tokens> {
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The access token to use now, or `Unauthorized` when there is none that can work.
    pub(crate) fn access_token(&self) -> Result<String> {
        if self.is_auth_expired() {
            return Err(Error::Unauthorized);
        }
        self.tokens()
            .map(|t| t.access_token)
            .ok_or(Error::Unauthorized)
    }

    /// The access token to use now, refreshed first when it is near its expiry. A refresh
    /// that fails for a passing reason (offline) leaves the current token in use: it may
    /// still work, and a 401 refreshes again.
    pub(crate) async fn fresh_access_token(self: &Arc<Self>) -> Result<String> {
        let access = self.access_token()?;
        if self.tokens().is_some_and(|t| t.due()) {
            match self.refresh_tokens(&access, true).await {
                Ok(()) => return self.access_token(),
                Err(Error::Unauthorized) => return Err(Error::Unauthorized),
                Err(e) => {
                    tracing::debug!(code = e.code_str(), "refresh ahead of expiry failed")
                }
            }
        }
        Ok(access)
    }

    /// Called after a 401 for `used`. Refreshes unless someone already replaced that token.
    pub(crate) async fn refresh_after(self: &Arc<Self>, used: &str) -> Result<()> {
        self.refresh_tokens(used, false).await
    }

    /// Refreshes unless the token in use is no longer `used` or, under the cross-process
    /// lock, secure storage holds tokens newer than ours (another process refreshed: those
    /// are taken instead).
    async fn refresh_tokens(self: &Arc<Self>, used: &str, ahead: bool) -> Result<()> {
        let guard = self.refresh_lock.clone().lock_owned().await;
        if self.is_auth_expired() {
            return Err(Error::Unauthorized);
        }
        let Some(current) = self.tokens() else {
            return Err(Error::Unauthorized);
        };
        if current.access_token != used {
            return Ok(());
        }
        let api = self.clone();
        // Its own task: the rotated token must be kept even if our caller gives up.
        tokio::spawn(async move {
            let _guard = guard;
            let _file = match api.refresh_lock_file.clone() {
                Some(path) => Some(tokio::task::spawn_blocking(move || lock_file(&path)).await??),
                None => None,
            };
            if let Some(stored) = Tokens::load(api.storage.as_ref(), &api.user_id)?
                && stored.refresh_token != current.refresh_token
            {
                tracing::debug!(user = %api.user_id, "tokens refreshed by another process");
                *api.tokens.lock().unwrap_or_else(|e| e.into_inner()) = Some(stored);
                return Ok(());
            }
            let counter = if ahead {
                &api.refreshes_ahead
            } else {
                &api.refreshes_after_401
            };
            counter.fetch_add(1, Ordering::Relaxed);
            api.refresh(current.refresh_token).await
        })
        .await?
    }

    /// Refreshes made so far: (ahead of expiry, after a 401).
    pub(crate) fn refreshes(&self) -> (u64, u64) {
        (
            self.refreshes_ahead.load(Ordering::Relaxed),
            self.refreshes_after_401.load(Ordering::Relaxed),
        )
    }

    async fn refresh(&self, refresh_token: String) -> Result<()> {
        let req = self
            .http
            .post(format!("{}/v1/auth/refresh", self.base))
            .json(&RefreshRequest { refresh_token });
        match execute(&self.clock, req).await.and_then(into_result) {
            Ok(body) => {
                let resp: TokenResponse = parse(&body)?;
                let tokens = Tokens::from(&resp);
                *self.tokens.lock().unwrap_or_else(|e| e.into_inner()) = Some(tokens.clone());
                if let Err(e) = tokens.save(self.storage.as_ref(), &self.user_id) {
                    tracing::error!(user = %self.user_id, error = %e, "could not persist rotated tokens");
                }
                tracing::debug!(user = %self.user_id, "access token refreshed");
                Ok(())
            }
            Err(Error::Unauthorized) => {
                tracing::warn!(user = %self.user_id, "refresh refused: signed out remotely");
                self.auth_expired.send_replace(true);
                Err(Error::Unauthorized)
            }
            Err(e) => Err(e),
        }
    }

    /// One authenticated request, refreshing once on a 401.
    async fn send(
        self: &Arc<Self>,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&[u8]>,
        idempotency_key: Option<&str>,
    ) -> Result<Vec<u8>> {
        let mut refreshed = false;
        loop {
            let access = self.fresh_access_token().await?;
            let mut req = self
                .http
                .request(method.clone(), format!("{}/v1{path}", self.base))
                .bearer_auth(&access);
            if !query.is_empty() {
                req = req.query(query);
            }
            if let Some(key) = idempotency_key {
                req = req.header(lianxiao_protocol::IDEMPOTENCY_KEY_HEADER, key);
            }
            if let Some(body) = body {
                req = req
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.to_vec());
            }
            let reply = execute(&self.clock, req).await?;
            if reply.status == StatusCode::UNAUTHORIZED && !refreshed {
                refreshed = true;
                self.refresh_after(&access).await?;
                continue;
            }
            return into_result(reply);
        }
    }

    pub(crate) async fn get<T: DeserializeOwned>(
        self: &Arc<Self>,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T> {
        parse(&self.send(Method::GET, path, query, None, None).await?)
    }

    /// POST with an optional JSON body (raw, as stored in the outbox) and an idempotency key.
    pub(crate) async fn post<T: DeserializeOwned>(
        self: &Arc<Self>,
        path: &str,
        body: Option<&[u8]>,
        idempotency_key: &str,
    ) -> Result<T> {
        parse(
            &self
                .send(Method::POST, path, &[], body, Some(idempotency_key))
                .await?,
        )
    }

    /// Forgets the tokens here without ending the session on the server (a farewell carries
    /// them on to unlink the device first).
    pub(crate) fn forget(&self) {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner()).take();
        self.auth_expired.send_replace(true);
    }

    /// Best-effort sign-out on the server; forgets the tokens here either way.
    pub(crate) async fn logout(&self) {
        let tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner()).take();
        self.auth_expired.send_replace(true);
        if let Some(t) = tokens {
            let req = self
                .http
                .post(format!("{}/v1/auth/logout", self.base))
                .timeout(Duration::from_secs(5))
                .json(&LogoutRequest {
                    refresh_token: t.refresh_token,
                });
            if let Err(e) = execute(&self.clock, req).await.and_then(into_result) {
                tracing::info!(user = %self.user_id, code = e.code_str(), "server sign-out failed; tokens forgotten locally");
            }
        }
    }
}

/// Calls beyond GET and POST, and file downloads.
impl Api {
    /// Any method with an optional JSON body and an idempotency key; parses the answer.
    pub(crate) async fn send_json<T: DeserializeOwned>(
        self: &Arc<Self>,
        method: Method,
        path: &str,
        body: Option<&[u8]>,
        idempotency_key: &str,
    ) -> Result<T> {
        parse(
            &self
                .send(method, path, &[], body, Some(idempotency_key))
                .await?,
        )
    }

    /// A POST with a JSON body whose answer has no body (204).
    pub(crate) async fn post_no_content(
        self: &Arc<Self>,
        path: &str,
        body: &[u8],
        idempotency_key: &str,
    ) -> Result<()> {
        self.send(Method::POST, path, &[], Some(body), Some(idempotency_key))
            .await
            .map(|_| ())
    }

    /// A call whose answer has no body (204). `path` may carry a query string.
    pub(crate) async fn send_empty(
        self: &Arc<Self>,
        method: Method,
        path: &str,
        idempotency_key: &str,
    ) -> Result<()> {
        self.send(method, path, &[], None, Some(idempotency_key))
            .await
            .map(|_| ())
    }

    /// Streams a file to `dest` (through a `.part` file, so a broken download never looks
    /// complete), resuming a part left by an earlier attempt with a Range request.
    pub(crate) async fn download(
        self: &Arc<Self>,
        path: &str,
        dest: &std::path::Path,
    ) -> Result<()> {
        use futures::StreamExt;
        use tokio::io::AsyncWriteExt;
        let part = dest.with_extension("part");
        let storage =
            |e: std::io::Error| Error::Storage(format!("cannot write the file: {}", e.kind()));
        let mut refreshed = false;
        loop {
            let have = tokio::fs::metadata(&part)
                .await
                .map(|m| m.len())
                .unwrap_or(0);
            let access = self.fresh_access_token().await?;
            let mut req = self
                .http
                .get(format!("{}/v1{path}", self.base))
                .bearer_auth(&access);
            if have > 0 {
                req = req.header(reqwest::header::RANGE, format!("bytes={have}-"));
            }
            let resp = req.send().await?;
            self.clock.observe_headers(resp.headers());
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED && !refreshed {
                refreshed = true;
                self.refresh_after(&access).await?;
                continue;
            }
            if status == StatusCode::RANGE_NOT_SATISFIABLE {
                // The part is already whole (or stale): start again.
                let _ = tokio::fs::remove_file(&part).await;
                if have == 0 {
                    return Err(Error::Server {
                        status: 416,
                        message: "range refused".into(),
                    });
                }
                continue;
            }
            if !status.is_success() {
                let body = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
                return Err(Error::from_response(status.as_u16(), &body, None));
            }
            let append = status == StatusCode::PARTIAL_CONTENT;
            let mut file = tokio::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .append(append)
                .truncate(!append)
                .open(&part)
                .await
                .map_err(storage)?;
            let mut body = resp.bytes_stream();
            while let Some(chunk) = body.next().await {
                file.write_all(&chunk?).await.map_err(storage)?;
            }
            file.flush().await.map_err(storage)?;
            file.sync_all().await.map_err(storage)?;
            drop(file);
            tokio::fs::rename(&part, dest).await.map_err(storage)?;
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_is_normalised() {
        assert_eq!(normalise_base("http://h:1/"), "http://h:1");
        assert_eq!(normalise_base("http://h:1/v1/"), "http://h:1");
        assert_eq!(normalise_base("https://h"), "https://h");
    }

    #[test]
    fn server_clock_applies_offset() {
        let c = ServerClock::default();
        c.observe(now_ms() + 3_600_000);
        let diff = c.now() - now_ms();
        assert!((3_599_000..=3_601_000).contains(&diff), "{diff}");
    }

    #[test]
    fn tokens_debug_hides_secrets() {
        let t = Tokens {
            access_token: "secret-a".into(),
            refresh_token: "secret-r".into(),
            refresh_at: None,
        };
        assert!(!format!("{t:?}").contains("secret"));
    }
}
