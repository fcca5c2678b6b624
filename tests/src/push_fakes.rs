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
/// The Android app a tapped Getui notification must open (the sample's).
pub const GETUI_ANDROID_PACKAGE: &str = "org.lianxiao.sample";
pub const GETUI_ANDROID_ACTIVITY: &str = "org.lianxiao.sample.MainActivity";

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
    /// Getui: the body of every push it accepted, with its token.
    bodies: Mutex<Vec<(String, Value)>>,
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

    /// Getui: the bodies of the pushes to `token` it accepted, in order.
    pub fn bodies_for(&self, token: &str) -> Vec<Value> {
        self.shared
            .bodies
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _)| t == token)
            .map(|(_, b)| b.clone())
            .collect()
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
            (
                "LIANXIAO_GETUI_ANDROID_PACKAGE".into(),
                GETUI_ANDROID_PACKAGE.into(),
            ),
            (
                "LIANXIAO_GETUI_ANDROID_ACTIVITY".into(),
                GETUI_ANDROID_ACTIVITY.into(),
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
/// `request_id`, `audience.cid` holding one cid, `push_message` (one of notification,
/// transmission, revoke) and, for phones reached through their maker's channel,
/// `push_channel.android.ups.notification`.
///
/// Each notification is checked as Getui documents it ([`getui_notification`]) and as the
/// Android app handles it: a tap must open the app's activity through `click_type: intent`
/// with `component=<package>/<activity>` and Lianxiao's data as string extras, the same on
/// both channels. (`click_type: payload` reaches only `GTIntentService.onNotificationMessageClicked`,
/// a background service that may not start an activity on Android 10+, and never comes from a
/// phone maker's channel.)
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
    // Getui keeps offline messages three days at most.
    let ttl_ok = body["settings"]["ttl"]
        .as_i64()
        .is_some_and(|t| t <= 3 * 24 * 3600 * 1000);
    if cids.len() != 1 || token.is_empty() || !(10..=32).contains(&request_id.len()) || !ttl_ok {
        return fake.refuse(format!("getui: push is {body}"));
    }
    let n = &body["push_message"]["notification"];
    let ups = &body["push_channel"]["android"]["ups"]["notification"];
    // Vendor channels take shorter intents than Getui's 4096 characters; Meizu's 1000 bytes
    // are the least.
    let (online, offline) = match (
        getui_notification("push_message.notification", n, 4096),
        getui_notification("push_channel.android.ups.notification", ups, 1000),
    ) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(why), _) | (_, Err(why)) => return fake.refuse(format!("getui: {why}")),
    };
    if online.extras != offline.extras {
        return fake.refuse(format!(
            "getui: the two channels' taps carry different data: {:?} and {:?}",
            online.extras, offline.extras
        ));
    }
    let data = &online.extras;
    let (Some(kind), Some(id), Some(account), Some(badge)) = (
        data.get("kind"),
        data.get("id"),
        data.get("account_id"),
        data.get("badge").and_then(|b| b.parse().ok()),
    ) else {
        return fake.refuse(format!(
            "getui: our data (kind, id, account_id, badge) is missing from the tap's extras {data:?}"
        ));
    };
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
        kind: kind.clone(),
        id: id.clone(),
        account_id: account.clone(),
        badge,
        title: n["title"].as_str().unwrap_or("").into(),
    });
    fake.shared
        .bodies
        .lock()
        .unwrap()
        .push((token.clone(), body.clone()));
    let task = format!("RASS_{:016x}", rand::random::<u64>());
    axum::Json(json!({"code": 0, "msg": "", "data": {task: {token: "successed_online"}}}))
        .into_response()
}

/// One Getui notification (推送API `notification`; the same fields in
/// `push_channel.android.ups.notification`): `title` at most 50 and `body` at most 256
/// characters, `click_type` one of intent, url, payload, payload_custom, startapp, none with
/// the field it needs (`intent`, `url`, `payload`). The app takes taps through `intent` only:
/// returns the intent, read as Android reads it, when it opens the app's activity.
fn getui_notification(
    name: &str,
    n: &Value,
    max_intent_bytes: usize,
) -> Result<AndroidIntent, String> {
    let java_len = |v: &Value| v.as_str().map(|s| s.encode_utf16().count());
    if !java_len(&n["title"]).is_some_and(|l| (1..=50).contains(&l)) {
        return Err(format!("{name}: title missing or over 50 characters: {n}"));
    }
    if !java_len(&n["body"]).is_some_and(|l| (1..=256).contains(&l)) {
        return Err(format!("{name}: body missing or over 256 characters: {n}"));
    }
    let click_type = n["click_type"].as_str().unwrap_or("");
    let needs = match click_type {
        "intent" => Some("intent"),
        "url" => Some("url"),
        "payload" | "payload_custom" => Some("payload"),
        "startapp" | "none" => None,
        _ => return Err(format!("{name}: click_type {click_type:?} is not Getui's")),
    };
    if let Some(field) = needs
        && n[field].as_str().is_none_or(str::is_empty)
    {
        return Err(format!("{name}: click_type {click_type} without {field}"));
    }
    if click_type != "intent" {
        return Err(format!(
            "{name}: click_type {click_type}: the app opens a tapped push only through the \
             intent's activity"
        ));
    }
    let uri = n["intent"].as_str().unwrap_or("");
    if uri.len() > max_intent_bytes {
        return Err(format!(
            "{name}: intent of {} bytes, over {max_intent_bytes}",
            uri.len()
        ));
    }
    let intent = parse_android_intent(uri).map_err(|e| format!("{name}: {e}: {uri}"))?;
    let expected = (
        GETUI_ANDROID_PACKAGE.to_owned(),
        GETUI_ANDROID_ACTIVITY.to_owned(),
    );
    if intent.component.as_ref() != Some(&expected) {
        return Err(format!(
            "{name}: the intent's component is {:?}, not {GETUI_ANDROID_PACKAGE}/{GETUI_ANDROID_ACTIVITY}: {uri}",
            intent.component
        ));
    }
    if intent
        .package
        .as_deref()
        .is_some_and(|p| p != GETUI_ANDROID_PACKAGE)
    {
        return Err(format!(
            "{name}: the intent's package is not the app's: {uri}"
        ));
    }
    Ok(intent)
}

/// An Android intent URI read as `Intent.parseUri(uri, Intent.URI_INTENT_SCHEME)` reads it:
/// `intent:<data>#Intent;key=value;…;end`, values percent-decoded (`Uri.decode`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AndroidIntent {
    /// The data URI, its scheme given by `scheme=` (`lianxiao://open?`), if any.
    pub data: Option<String>,
    pub action: Option<String>,
    pub package: Option<String>,
    /// `component=<package>/<class>`, a class starting with `.` taken inside the package
    /// (`ComponentName.unflattenFromString`).
    pub component: Option<(String, String)>,
    pub launch_flags: Option<u32>,
    /// `S.<key>=<value>` extras (strings; other extra types are refused).
    pub extras: std::collections::BTreeMap<String, String>,
}

pub fn parse_android_intent(uri: &str) -> Result<AndroidIntent, String> {
    let rest = uri.strip_prefix("intent:").ok_or("not an intent: URI")?;
    let (data, fields) = rest.rsplit_once("#Intent;").ok_or("no #Intent; part")?;
    let fields = fields
        .strip_suffix("end")
        .ok_or("the #Intent part does not close with end")?;
    let mut intent = AndroidIntent::default();
    let mut scheme = None;
    for field in fields.split_terminator(';') {
        let (key, value) = field
            .split_once('=')
            .ok_or_else(|| format!("field {field:?} is not key=value"))?;
        let value = percent_decode_strict(value)?;
        match key {
            "action" => intent.action = Some(value),
            "package" => intent.package = Some(value),
            "scheme" => scheme = Some(value),
            "launchFlags" => {
                let hex = value
                    .strip_prefix("0x")
                    .ok_or("launchFlags is not 0x hex")?;
                intent.launch_flags =
                    Some(u32::from_str_radix(hex, 16).map_err(|e| format!("launchFlags: {e}"))?);
            }
            "component" => {
                let (package, class) = value
                    .split_once('/')
                    .ok_or("component is not <package>/<class>")?;
                let class = match class.strip_prefix('.') {
                    Some(_) => format!("{package}{class}"),
                    None => class.to_owned(),
                };
                if package.is_empty() || class.is_empty() {
                    return Err("component with an empty package or class".into());
                }
                intent.component = Some((package.to_owned(), class));
            }
            "category" | "type" | "sourceBounds" | "selector" => {}
            k if k.starts_with("S.") => {
                intent.extras.insert(k[2..].to_owned(), value);
            }
            k => return Err(format!("field {k:?} is not one this check knows")),
        }
    }
    if !fields.is_empty() && !fields.ends_with(';') {
        return Err("fields must each end with ;".into());
    }
    intent.data = match (scheme, data) {
        (_, "") => None,
        (Some(scheme), data) => Some(format!("{scheme}:{data}")),
        (None, data) => Some(format!("intent:{data}")),
    };
    Ok(intent)
}

/// `Uri.decode`, refusing a `%` not followed by two hex digits (which would not survive it).
fn percent_decode_strict(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent escape in {s:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{s:?} is not UTF-8 once decoded"))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The vendor-channel intent the server sent before it named the activity is refused; Getui's
    /// template (with `component=`) is read as Android reads it.
    #[test]
    fn the_getui_check_wants_the_intents_component() {
        let n = |intent: &str| json!({"title": "春游", "body": "明天", "click_type": "intent", "intent": intent});
        let without = "intent://open?#Intent;scheme=lianxiao;launchFlags=0x4000000;\
                       package=org.lianxiao.sample;S.kind=notice;S.id=n1;end";
        let why = getui_notification("ups", &n(without), 1000).unwrap_err();
        assert!(why.contains("component"), "{why}");
        let with = "intent://open?#Intent;scheme=lianxiao;launchFlags=0x4000000;\
                    package=org.lianxiao.sample;component=org.lianxiao.sample/.MainActivity;\
                    S.kind=notice;S.id=n%201;end";
        let intent = getui_notification("ups", &n(with), 1000).unwrap();
        assert_eq!(intent.data.as_deref(), Some("lianxiao://open?"));
        assert_eq!(intent.extras["id"], "n 1");
        assert_eq!(intent.launch_flags, Some(0x0400_0000));
        // Not Getui's click types, or one the app cannot take a tap from.
        for (click, field) in [("payload", "payload"), ("open", "intent"), ("url", "x")] {
            let v = json!({"title": "t", "body": "b", "click_type": click, field: "x"});
            assert!(getui_notification("n", &v, 1000).is_err(), "{click}");
        }
        assert!(parse_android_intent("lianxiao://open").is_err());
        assert!(parse_android_intent("intent:#Intent;S.id=%zz;end").is_err());
        assert!(parse_android_intent("intent:#Intent;S.id=1").is_err());
    }
}
