//! A raw HTTP client for tests that exercise the API directly (authorisation, bad input,
//! idempotency), bypassing the core.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::DEMO_PASSWORD;

/// One signed-in person talking JSON to the server.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
    pub access: String,
    pub refresh: String,
    pub user: Value,
}

/// A response: status, body as JSON (Null when empty), and headers.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    /// The stable error code of an error body.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
}

pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // A fresh connection per request: the tus tests make the server answer before reading a
    // body, after which it closes the connection; a pooled one could be reused in that moment
    // and fail with IncompleteMessage, which is the test's race, not the server's.
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("http client")
}

/// Sends a request without credentials.
/// `POST /v1/auth/refresh` with a refresh token, as a phone would: the answer as it came.
pub async fn refresh_session(base: &str, refresh_token: &str) -> Reply {
    let body = json!({ "refresh_token": refresh_token });
    send(base, Method::POST, "/v1/auth/refresh", Some(body), &[]).await
}

/// `POST /v1/auth/logout` with a refresh token, as a phone would: the answer as it came.
pub async fn sign_out(base: &str, refresh_token: &str) -> Reply {
    let body = json!({ "refresh_token": refresh_token });
    send(base, Method::POST, "/v1/auth/logout", Some(body), &[]).await
}

pub async fn send(
    base: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> Reply {
    let http = http();
    let mut req = http.request(method, format!("{base}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    reply(req).await
}

async fn reply(req: reqwest::RequestBuilder) -> Reply {
    let res = req.send().await.expect("server reachable");
    let status = res.status();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap_or_default();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Reply {
        status,
        body,
        headers,
    }
}

impl Api {
    /// Signs in with the demo password; panics if that fails.
    pub async fn login(base: &str, login: &str) -> Api {
        let r = send(
            base,
            Method::POST,
            "/v1/auth/login",
            Some(json!({"login": login, "password": DEMO_PASSWORD})),
            &[],
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "login {login}: {:?}", r.body);
        Api {
            base: base.to_owned(),
            http: http(),
            access: r.body["access_token"].as_str().unwrap().to_owned(),
            refresh: r.body["refresh_token"].as_str().unwrap().to_owned(),
            user: r.body["user"].clone(),
        }
    }

    pub fn user_id(&self) -> String {
        self.user["id"].as_str().unwrap().to_owned()
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> Reply {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.access);
        if let Some(key) = key {
            req = req.header("Idempotency-Key", key);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        reply(req).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(body), None).await
    }

    /// The class ids this person teaches, from their memberships.
    pub fn taught_classes(&self) -> Vec<String> {
        self.user["memberships"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] == "teacher" || m["role"] == "assistant")
            .filter_map(|m| m["class_id"].as_str().map(str::to_owned))
            .collect()
    }

    /// The class a student is in.
    pub fn student_class(&self) -> String {
        self.user["memberships"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["role"] == "student")
            .and_then(|m| m["class_id"].as_str())
            .unwrap()
            .to_owned()
    }

    /// Posts a notice to classes; returns the reply.
    pub async fn post_notice(
        &self,
        class_ids: &[String],
        title: &str,
        requires_ack: bool,
        include_students: bool,
    ) -> Reply {
        self.post(
            "/v1/notices",
            json!({
                "title": title,
                "body": format!("{title}: details for families."),
                "audience": {"scope": "classes", "class_ids": class_ids},
                "requires_ack": requires_ack,
                "include_students": include_students,
            }),
        )
        .await
    }

    /// Every item of a full sync from the start (or from `since`), following pages.
    pub async fn sync_all(&self, since: Option<&str>) -> (Vec<Value>, String) {
        let mut cursor = since.map(str::to_owned);
        let mut items = Vec::new();
        loop {
            let path = match &cursor {
                Some(c) => format!("/v1/sync?since={c}"),
                None => "/v1/sync".to_owned(),
            };
            let r = self.get(&path).await;
            assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
            items.extend(r.body["items"].as_array().unwrap().iter().cloned());
            cursor = Some(r.body["cursor"].as_str().unwrap().to_owned());
            if !r.body["has_more"].as_bool().unwrap() {
                return (items, cursor.unwrap());
            }
        }
    }

    /// Ids of the notices this person can list.
    pub async fn notice_ids(&self) -> Vec<String> {
        let r = self.get("/v1/notices?limit=500").await;
        assert_eq!(r.status, StatusCode::OK);
        r.body["notices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["id"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// tus requests, spoken by hand so the tests see every header and status.
impl Api {
    /// `POST /v1/uploads` with the given metadata (values are base64-encoded here).
    pub async fn tus_create(&self, length: u64, metadata: &[(&str, &str)]) -> Reply {
        use base64::Engine;
        let meta = metadata
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k} {}",
                    base64::engine::general_purpose::STANDARD.encode(v)
                )
            })
            .collect::<Vec<_>>()
            .join(",");
        let req = self
            .http
            .post(format!("{}/v1/uploads", self.base))
            .bearer_auth(&self.access)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Length", length.to_string())
            .header("Upload-Metadata", meta);
        reply(req).await
    }

    /// `PATCH` one chunk; `checksum` is an `Upload-Checksum` header value.
    pub async fn tus_patch(
        &self,
        location: &str,
        offset: u64,
        data: &[u8],
        checksum: Option<&str>,
    ) -> Reply {
        let mut req = self
            .http
            .patch(format!("{}{location}", self.base))
            .bearer_auth(&self.access)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Offset", offset.to_string())
            .header("Content-Type", "application/offset+octet-stream")
            .body(data.to_vec());
        if let Some(c) = checksum {
            req = req.header("Upload-Checksum", c);
        }
        reply(req).await
    }

    pub async fn tus_head(&self, location: &str) -> Reply {
        let req = self
            .http
            .head(format!("{}{location}", self.base))
            .bearer_auth(&self.access)
            .header("Tus-Resumable", "1.0.0");
        reply(req).await
    }

    /// Creates and fills an upload in one go; returns its id.
    pub async fn upload(&self, data: &[u8], metadata: &[(&str, &str)]) -> String {
        let r = self.tus_create(data.len() as u64, metadata).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        let location = r.headers["location"].to_str().unwrap().to_owned();
        let r = self.tus_patch(&location, 0, data, None).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
        location.rsplit('/').next().unwrap().to_owned()
    }
}
