//! Local stand-ins for the push providers (APNs, FCM HTTP v1, Getui REST v2), which cannot run
//! here. Each checks what the real one documents before it accepts a push — the transport,
//! the authentication and the message's shape — and refuses anything else, noting why, so a
//! test can assert that nothing was refused. Keys are made when the tests run, never stored.
//!
//! What a test can do with a fake: read what was delivered (per token), count requests
//! (delivered or not), script the next answers for a token (throttled, unregistered), or hold
//! every push unanswered (a provider that hangs), e.g. across a server restart.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};

use axum::{
    Router,
    body::Bytes,
    extract::Request,
    http::{HeaderMap, StatusCode, Version},
    response::{IntoResponse, Response},
};
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const APNS_KEY_ID: &str = "LXKEY12345";
pub const APNS_TEAM_ID: &str = "LXTEAM6789";
pub const APNS_TOPIC: &str = "org.lianxiao.app";
pub const FCM_PROJECT: &str = "lianxiao-test";
pub const FCM_CLIENT_EMAIL: &str = "push@lianxiao-test.iam.gserviceaccount.com";
pub const FCM_KEY_ID: &str = "lxkeyid0001";
pub const FCM_SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
pub const FCM_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
pub const GETUI_APP_ID: &str = "lxAppId01";
pub const GETUI_APP_KEY: &str = "lxAppKey01";
pub const GETUI_MASTER_SECRET: &str = "lxMasterSecret01";

/// A push a fake accepted.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub token: String,
    /// `apns-id`, Getui's `request_id`; empty for FCM (which names the message itself).
    pub push_id: String,
    pub kind: String,
    pub id: String,
    pub account_id: String,
    pub badge: u32,
    pub title: String,
}

/// An answer a test wants a fake to give instead of accepting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scripted {
    /// APNs 429 TooManyRequests; FCM 429 QUOTA_EXCEEDED with Retry-After; Getui 10005.
    Throttle,
    /// APNs 410 Unregistered; FCM 404 UNREGISTERED; Getui 20001 "target user is invalid".
    Unregistered,
    /// APNs 400 BadDeviceToken; FCM 400 INVALID_ARGUMENT about the token; Getui as above.
    BadToken,
}

#[derive(Default)]
struct Shared {
    delivered: Mutex<Vec<Delivered>>,
    /// Token and push id of every push request, answered or not.
    requests: Mutex<Vec<(String, String)>>,
    rejections: Mutex<Vec<String>>,
    script: Mutex<HashMap<String, VecDeque<Scripted>>>,
    hang: std::sync::atomic::AtomicBool,
    /// APNs: provider tokens seen. FCM: assertions accepted. Getui: auth calls.
    credentials: Mutex<Vec<String>>,
    /// Bearer / auth tokens this fake issued (FCM, Getui).
    issued: Mutex<HashSet<String>>,
}

/// One fake provider on its own port.
#[derive(Clone)]
pub struct Fake {
    pub url: String,
    shared: Arc<Shared>,
}

impl Fake {
    pub fn delivered(&self) -> Vec<Delivered> {
        self.shared.delivered.lock().unwrap().clone()
    }

    pub fn delivered_to(&self, token: &str) -> Vec<Delivered> {
        self.delivered()
            .into_iter()
            .filter(|d| d.token == token)
            .collect()
    }

    /// Push requests for `token`, answered or not, with their push ids.
    pub fn requests_for(&self, token: &str) -> Vec<String> {
        self.shared
            .requests
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _)| t == token)
            .map(|(_, id)| id.clone())
            .collect()
    }

    /// The next pushes to `token` get these answers, in order; then pushes are accepted.
    pub fn script(&self, token: &str, answers: &[Scripted]) {
        self.shared
            .script
            .lock()
            .unwrap()
            .entry(token.to_owned())
            .or_default()
            .extend(answers.iter().copied());
    }

    /// While set, pushes are read and never answered.
    pub fn hang(&self, on: bool) {
        self.shared
            .hang
            .store(on, std::sync::atomic::Ordering::SeqCst);
    }

    /// Why the fake refused requests that did not follow the provider's documentation.
    pub fn rejections(&self) -> Vec<String> {
        self.shared.rejections.lock().unwrap().clone()
    }

    /// APNs: the provider tokens (JWTs) used; FCM: the OAuth assertions; Getui: auth calls.
    pub fn credentials(&self) -> Vec<String> {
        self.shared.credentials.lock().unwrap().clone()
    }

    fn next_scripted(&self, token: &str) -> Option<Scripted> {
        self.shared
            .script
            .lock()
            .unwrap()
            .get_mut(token)
            .and_then(VecDeque::pop_front)
    }

    fn refuse(&self, why: String) -> Response {
        self.shared.rejections.lock().unwrap().push(why.clone());
        (StatusCode::BAD_REQUEST, why).into_response()
    }

    fn accept(&self, d: Delivered) {
        self.shared.delivered.lock().unwrap().push(d);
    }

    fn requested(&self, token: &str, push_id: &str) {
        self.shared
            .requests
            .lock()
            .unwrap()
            .push((token.to_owned(), push_id.to_owned()));
    }

    async fn maybe_hang(&self) {
        if self.shared.hang.load(std::sync::atomic::Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
    }
}

/// The keys of this test process: made once, on first use.
struct Keys {
    apns_pem: String,
    apns_public: DecodingKey,
    fcm_pem: String,
    fcm_public: DecodingKey,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        use p256::pkcs8::EncodePrivateKey;
        use rsa::traits::PublicKeyParts;
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let ec = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        let point = p256::EncodedPoint::from(ec.public_key());
        let apns_public = DecodingKey::from_ec_components(
            &b64(point.x().expect("uncompressed point")),
            &b64(point.y().expect("uncompressed point")),
        )
        .unwrap();
        let rsa = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
        let fcm_public = DecodingKey::from_rsa_components(
            &b64(&rsa.n().to_bytes_be()),
            &b64(&rsa.e().to_bytes_be()),
        )
        .unwrap();
        Keys {
            apns_pem: ec
                .to_pkcs8_pem(p256::pkcs8::LineEnding::LF)
                .unwrap()
                .to_string(),
            apns_public,
            fcm_pem: rsa
                .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
                .unwrap()
                .to_string(),
            fcm_public,
        }
    })
}

/// The three fakes, and the key files the server reads.
pub struct Fakes {
    pub apns: Fake,
    pub fcm: Fake,
    pub getui: Fake,
    dir: tempfile::TempDir,
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

async fn start_fake(
    handler: fn(Fake, Request) -> futures::future::BoxFuture<'static, Response>,
) -> Fake {
    // The router needs the fake's own URL (FCM's token_uri), so it learns it after binding.
    let shared = Arc::new(Shared::default());
    let slot: Arc<OnceLock<Fake>> = Arc::new(OnceLock::new());
    let slot2 = slot.clone();
    let router = Router::new().fallback(move |req: Request| {
        let fake = slot2.get().cloned().expect("fake started");
        handler(fake, req)
    });
    let url = serve(router).await;
    let fake = Fake { url, shared };
    let _ = slot.set(fake.clone());
    fake
}

impl Fakes {
    pub async fn start() -> Fakes {
        let _ = keys();
        let apns = start_fake(|f, r| Box::pin(apns(f, r))).await;
        let fcm = start_fake(|f, r| Box::pin(fcm(f, r))).await;
        let getui = start_fake(|f, r| Box::pin(getui(f, r))).await;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("apns.p8"), &keys().apns_pem).unwrap();
        let account = json!({
            "type": "service_account",
            "project_id": FCM_PROJECT,
            "private_key_id": FCM_KEY_ID,
            "private_key": keys().fcm_pem,
            "client_email": FCM_CLIENT_EMAIL,
            "client_id": "1",
            "token_uri": format!("{}/token", fcm.url),
        });
        std::fs::write(dir.path().join("fcm.json"), account.to_string()).unwrap();
        Fakes {
            apns,
            fcm,
            getui,
            dir,
        }
    }

    /// The server's environment for all three providers.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = self.apns_env();
        env.extend([
            (
                "LIANXIAO_FCM_SERVICE_ACCOUNT".into(),
                self.dir.path().join("fcm.json").display().to_string(),
            ),
            ("LIANXIAO_FCM_URL".into(), self.fcm.url.clone()),
            ("LIANXIAO_GETUI_APP_ID".into(), GETUI_APP_ID.into()),
            ("LIANXIAO_GETUI_APP_KEY".into(), GETUI_APP_KEY.into()),
            (
                "LIANXIAO_GETUI_MASTER_SECRET".into(),
                GETUI_MASTER_SECRET.into(),
            ),
            (
                "LIANXIAO_GETUI_URL".into(),
                format!("{}/v2", self.getui.url),
            ),
        ]);
        env
    }

    /// The server's environment for APNs only.
    pub fn apns_env(&self) -> Vec<(String, String)> {
        vec![
            (
                "LIANXIAO_APNS_KEY_FILE".into(),
                self.dir.path().join("apns.p8").display().to_string(),
            ),
            ("LIANXIAO_APNS_KEY_ID".into(), APNS_KEY_ID.into()),
            ("LIANXIAO_APNS_TEAM_ID".into(), APNS_TEAM_ID.into()),
            ("LIANXIAO_APNS_TOPIC".into(), APNS_TOPIC.into()),
            ("LIANXIAO_APNS_URL".into(), self.apns.url.clone()),
        ]
    }

    pub fn all(&self) -> [&Fake; 3] {
        [&self.apns, &self.fcm, &self.getui]
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn body_json(req: Request) -> (axum::http::request::Parts, Option<Value>, Bytes) {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let json = serde_json::from_slice(&bytes).ok();
    (parts, json, bytes)
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.iter().map(|g| g.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
        && s.chars()
            .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c))
}

fn string_field<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

// --- APNs ----------------------------------------------------------------------------------

/// APNs (developer.apple.com, "Sending notification requests to APNs"): HTTP/2,
/// `POST /3/device/<token>`, `authorization: bearer <ES256 JWT with kid, iss, iat>`,
/// `apns-topic`, `apns-push-type`, `apns-priority`, `apns-expiration`, `apns-collapse-id`
/// (at most 64 bytes), `apns-id` (a UUID), and a JSON body with `aps`.
async fn apns(fake: Fake, req: Request) -> Response {
    if req.version() != Version::HTTP_2 {
        return fake.refuse(format!("apns: {:?} instead of HTTP/2", req.version()));
    }
    let path = req.uri().path().to_owned();
    let Some(token) = path.strip_prefix("/3/device/").map(str::to_owned) else {
        return fake.refuse(format!("apns: unexpected path {path}"));
    };
    let (parts, body, _) = body_json(req).await;
    let h = &parts.headers;
    let push_id = header(h, "apns-id").unwrap_or("").to_owned();
    fake.requested(&token, &push_id);
    // "authorization: bearer <token>" (the scheme is case-insensitive).
    let jwt = header(h, "authorization")
        .filter(|a| a.len() > 7 && a[..7].eq_ignore_ascii_case("bearer "))
        .map(|a| &a[7..]);
    let Some(jwt) = jwt else {
        return (
            StatusCode::FORBIDDEN,
            axum::Json(json!({"reason": "MissingProviderToken"})),
        )
            .into_response();
    };
    // The provider token: ES256 with our key id, signed by the test key; iss = team, iat set.
    let mut validation = Validation::new(Algorithm::ES256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    let decoded = jsonwebtoken::decode::<Value>(jwt, &keys().apns_public, &validation);
    let Ok(decoded) = decoded else {
        return fake.refuse("apns: provider token not signed by the team's key".into());
    };
    if decoded.header.kid.as_deref() != Some(APNS_KEY_ID)
        || decoded.claims["iss"] != APNS_TEAM_ID
        || !decoded.claims["iat"].is_i64()
    {
        return fake.refuse(format!("apns: provider token claims {:?}", decoded.claims));
    }
    fake.shared.credentials.lock().unwrap().push(jwt.to_owned());
    let checks = [
        ("apns-topic", header(h, "apns-topic") == Some(APNS_TOPIC)),
        (
            "apns-push-type",
            header(h, "apns-push-type") == Some("alert"),
        ),
        (
            "apns-priority",
            matches!(header(h, "apns-priority"), Some("10" | "5")),
        ),
        (
            "apns-expiration",
            header(h, "apns-expiration").is_some_and(|e| e.parse::<u64>().is_ok()),
        ),
        (
            "apns-collapse-id",
            header(h, "apns-collapse-id").is_some_and(|c| !c.is_empty() && c.len() <= 64),
        ),
        ("apns-id", is_uuid(&push_id)),
    ];
    if let Some((name, _)) = checks.iter().find(|(_, ok)| !ok) {
        return fake.refuse(format!("apns: header {name} missing or malformed"));
    }
    let Some(body) = body else {
        return fake.refuse("apns: body is not JSON".into());
    };
    let aps = &body["aps"];
    if string_field(aps, &["alert", "title"]).is_none()
        || string_field(aps, &["alert", "body"]).is_none()
        || !aps["badge"].is_u64()
        || !aps["sound"].is_string()
    {
        return fake.refuse(format!("apns: aps is {aps}"));
    }
    let (Some(kind), Some(id), Some(account)) = (
        body["kind"].as_str(),
        body["id"].as_str(),
        body["account_id"].as_str(),
    ) else {
        return fake.refuse("apns: our data (kind, id, account_id) is missing".into());
    };
    fake.maybe_hang().await;
    match fake.next_scripted(&token) {
        Some(Scripted::Throttle) => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                axum::Json(json!({"reason": "TooManyRequests"})),
            )
                .into_response();
        }
        Some(Scripted::Unregistered) => {
            return (
                StatusCode::GONE,
                axum::Json(json!({"reason": "Unregistered", "timestamp": 1_700_000_000_000u64})),
            )
                .into_response();
        }
        Some(Scripted::BadToken) => {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"reason": "BadDeviceToken"})),
            )
                .into_response();
        }
        None => {}
    }
    fake.accept(Delivered {
        token,
        push_id: push_id.clone(),
        kind: kind.into(),
        id: id.into(),
        account_id: account.into(),
        badge: aps["badge"].as_u64().unwrap_or(0) as u32,
        title: string_field(aps, &["alert", "title"]).unwrap_or("").into(),
    });
    (StatusCode::OK, [("apns-id", push_id)]).into_response()
}

// --- FCM -----------------------------------------------------------------------------------

/// FCM HTTP v1 (firebase.google.com, "Authorize send requests", "REST Resource:
/// projects.messages"): an OAuth 2.0 token for a service-account assertion (RS256, `iss` =
/// client email, `scope`, `aud` = token_uri, `iat`, `exp` at most an hour later) with the
/// jwt-bearer grant; then `POST /v1/projects/{project}/messages:send` with that bearer and
/// `{"message": {"token", "notification", "data" (strings), "android"}}`.
async fn fcm(fake: Fake, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    if path == "/token" {
        return fcm_token(fake, req).await;
    }
    if path != format!("/v1/projects/{FCM_PROJECT}/messages:send") {
        return fake.refuse(format!("fcm: unexpected path {path}"));
    }
    let (parts, body, _) = body_json(req).await;
    let token = body
        .as_ref()
        .and_then(|b| string_field(b, &["message", "token"]))
        .unwrap_or("")
        .to_owned();
    fake.requested(&token, "");
    let bearer = header(&parts.headers, "authorization")
        .and_then(|a| a.strip_prefix("Bearer "))
        .unwrap_or("");
    if !fake.shared.issued.lock().unwrap().contains(bearer) {
        fake.shared
            .rejections
            .lock()
            .unwrap()
            .push("fcm: a bearer this fake did not issue".into());
        return fcm_error(
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials.",
            None,
        );
    }
    let Some(body) = body else {
        return fake.refuse("fcm: body is not JSON".into());
    };
    let m = &body["message"];
    let data_ok = m["data"]
        .as_object()
        .is_some_and(|d| d.values().all(Value::is_string));
    if token.is_empty()
        || string_field(m, &["notification", "title"]).is_none()
        || string_field(m, &["notification", "body"]).is_none()
        || !data_ok
        || !matches!(
            string_field(m, &["android", "priority"]),
            Some("high" | "normal")
        )
        || string_field(m, &["android", "collapse_key"]).is_none()
    {
        return fake.refuse(format!("fcm: message is {m}"));
    }
    let data = &m["data"];
    let (Some(kind), Some(id), Some(account), Some(badge)) = (
        data["kind"].as_str(),
        data["id"].as_str(),
        data["account_id"].as_str(),
        data["badge"].as_str().and_then(|b| b.parse().ok()),
    ) else {
        return fake.refuse("fcm: our data (kind, id, account_id, badge) is missing".into());
    };
    fake.maybe_hang().await;
    match fake.next_scripted(&token) {
        Some(Scripted::Throttle) => {
            return fcm_error(429, "QUOTA_EXCEEDED", "Quota exceeded.", Some(1));
        }
        Some(Scripted::Unregistered) => {
            return fcm_error(404, "UNREGISTERED", "Requested entity was not found.", None);
        }
        Some(Scripted::BadToken) => {
            return fcm_error(
                400,
                "INVALID_ARGUMENT",
                "The registration token is not a valid FCM registration token",
                None,
            );
        }
        None => {}
    }
    fake.accept(Delivered {
        token,
        push_id: String::new(),
        kind: kind.into(),
        id: id.into(),
        account_id: account.into(),
        badge,
        title: string_field(m, &["notification", "title"])
            .unwrap_or("")
            .into(),
    });
    axum::Json(
        json!({"name": format!("projects/{FCM_PROJECT}/messages/{}", rand::random::<u64>())}),
    )
    .into_response()
}

fn fcm_error(status: u16, code: &str, message: &str, retry_after: Option<u64>) -> Response {
    let status_name = match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        _ => "UNAVAILABLE",
    };
    let mut response = (
        StatusCode::from_u16(status).unwrap(),
        axum::Json(json!({"error": {
            "code": status,
            "message": message,
            "status": status_name,
            "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}],
        }})),
    )
        .into_response();
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert("retry-after", secs.to_string().parse().unwrap());
    }
    response
}

async fn fcm_token(fake: Fake, req: Request) -> Response {
    let (parts, _, bytes) = body_json(req).await;
    if header(&parts.headers, "content-type") != Some("application/x-www-form-urlencoded") {
        return fake.refuse("fcm oauth: not a form".into());
    }
    let form: HashMap<String, String> = String::from_utf8_lossy(&bytes)
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), percent_decode(v)))
        .collect();
    if form.get("grant_type").map(String::as_str) != Some(FCM_GRANT) {
        return fake.refuse(format!(
            "fcm oauth: grant_type {:?}",
            form.get("grant_type")
        ));
    }
    let Some(assertion) = form.get("assertion") else {
        return fake.refuse("fcm oauth: no assertion".into());
    };
    let token_uri = format!("{}/token", fake.url);
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[token_uri.as_str()]);
    validation.set_issuer(&[FCM_CLIENT_EMAIL]);
    validation.set_required_spec_claims(&["exp", "iat", "aud", "iss"]);
    let decoded = match jsonwebtoken::decode::<Value>(assertion, &keys().fcm_public, &validation) {
        Ok(d) => d,
        Err(e) => return fake.refuse(format!("fcm oauth: assertion refused: {e}")),
    };
    let c = &decoded.claims;
    let lifetime = c["exp"].as_i64().unwrap_or(0) - c["iat"].as_i64().unwrap_or(0);
    if decoded.header.kid.as_deref() != Some(FCM_KEY_ID)
        || c["scope"] != FCM_SCOPE
        || !(1..=3600).contains(&lifetime)
    {
        return fake.refuse(format!("fcm oauth: assertion {c}"));
    }
    fake.shared
        .credentials
        .lock()
        .unwrap()
        .push(assertion.clone());
    let access = format!("ya29.test-{:016x}", rand::random::<u64>());
    fake.shared.issued.lock().unwrap().insert(access.clone());
    axum::Json(json!({"access_token": access, "expires_in": 3599, "token_type": "Bearer"}))
        .into_response()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

// --- Getui ---------------------------------------------------------------------------------

/// Getui REST API v2 (docs.getui.com, 鉴权API and 推送API): `POST /v2/{appid}/auth` with
/// `sign = sha256(appkey + timestamp + mastersecret)` and a 13-digit millisecond timestamp;
/// then `POST /v2/{appid}/push/single/cid` with the `token` header, a 10–32 character
/// `request_id`, `audience.cid` holding one cid, and `push_message` (one of notification,
/// transmission, revoke).
async fn getui(fake: Fake, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let base = format!("/v2/{GETUI_APP_ID}");
    if path == format!("{base}/auth") {
        return getui_auth(fake, req).await;
    }
    if path != format!("{base}/push/single/cid") {
        return fake.refuse(format!("getui: unexpected path {path}"));
    }
    let (parts, body, _) = body_json(req).await;
    let Some(body) = body else {
        return fake.refuse("getui: body is not JSON".into());
    };
    let cids = body["audience"]["cid"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let token = cids
        .first()
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let request_id = body["request_id"].as_str().unwrap_or("").to_owned();
    fake.requested(&token, &request_id);
    let auth = header(&parts.headers, "token").unwrap_or("");
    if !fake.shared.issued.lock().unwrap().contains(auth) {
        fake.shared
            .rejections
            .lock()
            .unwrap()
            .push("getui: a token this fake did not issue".into());
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"code": 10001, "msg": "token expired or invalid"})),
        )
            .into_response();
    }
    let n = &body["push_message"]["notification"];
    let payload: Option<Value> = n["payload"]
        .as_str()
        .and_then(|p| serde_json::from_str(p).ok());
    let intent = string_field(
        &body,
        &["push_channel", "android", "ups", "notification", "intent"],
    );
    // Getui keeps offline messages three days at most.
    let ttl_ok = body["settings"]["ttl"]
        .as_i64()
        .is_some_and(|t| t <= 3 * 24 * 3600 * 1000);
    let intent_ok = intent.is_some_and(|i| i.starts_with("intent:") && i.ends_with(";end"));
    let well_formed = cids.len() == 1
        && !token.is_empty()
        && (10..=32).contains(&request_id.len())
        && n["title"].is_string()
        && n["body"].is_string()
        && n["click_type"] == "payload"
        && payload.is_some()
        && ttl_ok
        && intent_ok;
    if !well_formed {
        return fake.refuse(format!("getui: push is {body}"));
    }
    let payload = payload.unwrap_or_default();
    let (Some(kind), Some(id), Some(account), Some(badge)) = (
        payload["kind"].as_str(),
        payload["id"].as_str(),
        payload["account_id"].as_str(),
        payload["badge"].as_str().and_then(|b| b.parse().ok()),
    ) else {
        return fake.refuse("getui: our data (kind, id, account_id, badge) is missing".into());
    };
    if !intent.is_some_and(|i| i.contains(&format!("S.id={id};"))) {
        return fake.refuse("getui: the vendor-channel intent does not carry the id".into());
    }
    fake.maybe_hang().await;
    match fake.next_scripted(&token) {
        Some(Scripted::Throttle) => {
            return (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"code": 10005, "msg": "call frequency over limit"})),
            )
                .into_response();
        }
        Some(Scripted::Unregistered | Scripted::BadToken) => {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"code": 20001, "msg": "target user is invalid"})),
            )
                .into_response();
        }
        None => {}
    }
    fake.accept(Delivered {
        token: token.clone(),
        push_id: request_id,
        kind: kind.into(),
        id: id.into(),
        account_id: account.into(),
        badge,
        title: n["title"].as_str().unwrap_or("").into(),
    });
    let task = format!("RASS_{:016x}", rand::random::<u64>());
    axum::Json(json!({"code": 0, "msg": "", "data": {task: {token: "successed_online"}}}))
        .into_response()
}

async fn getui_auth(fake: Fake, req: Request) -> Response {
    let (_, body, _) = body_json(req).await;
    let Some(body) = body else {
        return fake.refuse("getui auth: body is not JSON".into());
    };
    let timestamp = body["timestamp"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| body["timestamp"].as_i64().map(|t| t.to_string()))
        .unwrap_or_default();
    let expected = hex::encode(Sha256::digest(
        format!("{GETUI_APP_KEY}{timestamp}{GETUI_MASTER_SECRET}").as_bytes(),
    ));
    if body["appkey"] != GETUI_APP_KEY
        || timestamp.len() != 13
        || !timestamp.bytes().all(|b| b.is_ascii_digit())
        || body["sign"] != expected.as_str()
    {
        return fake.refuse("getui auth: wrong appkey, timestamp or sign".into());
    }
    fake.shared
        .credentials
        .lock()
        .unwrap()
        .push(timestamp.clone());
    let token = format!("{:032x}", rand::random::<u128>());
    fake.shared.issued.lock().unwrap().insert(token.clone());
    let expires = timestamp.parse::<i64>().unwrap_or(0) + 24 * 3600 * 1000;
    axum::Json(json!({"code": 0, "msg": "success", "data": {"expire_time": expires.to_string(), "token": token}}))
        .into_response()
}
