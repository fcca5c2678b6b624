//! Firebase Cloud Messaging, HTTP v1: `POST /v1/projects/{project}/messages:send` with an
//! OAuth 2.0 access token. The token comes from the service account's own `token_uri` for a
//! signed assertion (RS256 JWT, grant type `jwt-bearer`, scope `firebase.messaging`) and is
//! kept until shortly before it expires; concurrent sends wait for one refresh.

use std::time::Duration;

use futures::future::BoxFuture;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::Mutex;

use super::{FcmConfig, Message, Provider, SendError, retry_after, transport_error};
use crate::db::now_ms;

const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// An access token is replaced this long before Google says it expires.
const EXPIRY_MARGIN_MS: i64 = 5 * 60 * 1000;

/// The fields of a service account key file that we use.
#[derive(Deserialize)]
struct ServiceAccount {
    project_id: String,
    private_key_id: String,
    private_key: String,
    client_email: String,
    token_uri: String,
}

#[derive(Serialize)]
struct Assertion<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: i64,
}

struct AccessToken {
    token: String,
    expires_at: i64,
}

pub struct Fcm {
    client: reqwest::Client,
    send_url: String,
    account: ServiceAccount,
    key: EncodingKey,
    access: Mutex<Option<AccessToken>>,
}

impl Fcm {
    pub fn new(config: &FcmConfig, timeout: Duration) -> anyhow::Result<Fcm> {
        let account: ServiceAccount =
            serde_json::from_str(&config.service_account_json).map_err(|_| {
                anyhow::anyhow!(
                    "LIANXIAO_FCM_SERVICE_ACCOUNT is not a service account key file \
                     (project_id, private_key_id, private_key, client_email, token_uri)"
                )
            })?;
        let key = rsa_key(&account.private_key).ok_or_else(|| {
            anyhow::anyhow!("the FCM service account's private_key is not an RSA key")
        })?;
        Ok(Fcm {
            client: super::http_client(timeout, false)?,
            send_url: format!(
                "{}/v1/projects/{}/messages:send",
                config.url.trim_end_matches('/'),
                account.project_id
            ),
            account,
            key,
            access: Mutex::new(None),
        })
    }

    /// A valid access token, fetched again when the kept one is near its end.
    async fn bearer(&self) -> Result<String, SendError> {
        let mut kept = self.access.lock().await;
        let now = now_ms();
        if let Some(access) = kept
            .as_ref()
            .filter(|a| now < a.expires_at - EXPIRY_MARGIN_MS)
        {
            return Ok(access.token.clone());
        }
        let iat = now / 1000;
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.account.private_key_id.clone());
        let assertion = jsonwebtoken::encode(
            &header,
            &Assertion {
                iss: &self.account.client_email,
                scope: SCOPE,
                aud: &self.account.token_uri,
                iat,
                exp: iat + 3600,
            },
            &self.key,
        )
        .map_err(|_| SendError::Failed {
            reason: "fcm_key_unusable".into(),
        })?;
        let form = format!(
            "grant_type={}&assertion={}",
            super::form_value(GRANT_TYPE),
            super::form_value(&assertion)
        );
        let response = self
            .client
            .post(&self.account.token_uri)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(form)
            .send()
            .await
            .map_err(|e| transport_error(&e))?;
        let status = response.status();
        if !status.is_success() {
            let after = retry_after(response.headers());
            let error = response
                .json::<serde_json::Value>()
                .await
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_owned))
                .unwrap_or_else(|| format!("http {}", status.as_u16()));
            let reason = format!("oauth {error}");
            return Err(
                if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
                    SendError::Retry { after, reason }
                } else {
                    SendError::Failed { reason }
                },
            );
        }
        let token: TokenResponse = response.json().await.map_err(|_| SendError::Retry {
            after: None,
            reason: "oauth unreadable answer".into(),
        })?;
        *kept = Some(AccessToken {
            token: token.access_token.clone(),
            expires_at: now + token.expires_in * 1000,
        });
        Ok(token.access_token)
    }

    async fn post(&self, token: &str, message: &Message) -> Result<(), SendError> {
        let bearer = self.bearer().await?;
        let body = json!({
            "message": {
                "token": token,
                "notification": {"title": message.title, "body": message.body},
                "data": message.data.to_strings(),
                "android": {
                    // Notices are user-visible and wanted now (FCM's rule for "high").
                    "priority": "high",
                    "collapse_key": message.collapse_key,
                    "ttl": format!("{}s", message.ttl.as_secs()),
                    "notification": {"notification_count": message.data.badge},
                },
            }
        });
        let response = self
            .client
            .post(&self.send_url)
            .bearer_auth(bearer)
            .json(&body)
            .send()
            .await
            .map_err(|e| transport_error(&e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let after = retry_after(response.headers());
        let error = response
            .json::<serde_json::Value>()
            .await
            .unwrap_or_default();
        let error = &error["error"];
        let code = error["details"]
            .as_array()
            .and_then(|d| d.iter().find_map(|d| d["errorCode"].as_str()))
            .or_else(|| error["status"].as_str())
            .unwrap_or("")
            .to_owned();
        let about_token = error["message"]
            .as_str()
            .is_some_and(|m| m.contains("registration token"));
        if status == StatusCode::UNAUTHORIZED {
            // Our access token was refused: fetch another for the next attempt.
            *self.access.lock().await = None;
        }
        Err(classify(status, code, about_token, after))
    }
}

/// What FCM's answer means for us (FCM's ErrorCode reference).
fn classify(
    status: StatusCode,
    code: String,
    about_token: bool,
    after: Option<Duration>,
) -> SendError {
    let reason = if code.is_empty() {
        format!("http {}", status.as_u16())
    } else {
        code
    };
    match (status.as_u16(), reason.as_str()) {
        (404, _) | (_, "UNREGISTERED") | (403, "SENDER_ID_MISMATCH") => {
            SendError::BadToken { reason }
        }
        (400, _) if about_token => SendError::BadToken { reason },
        (401, _) | (429, _) | (500..=599, _) => SendError::Retry { after, reason },
        _ => SendError::Failed { reason },
    }
}

/// The service account's key: PKCS#8 as Google issues it (PKCS#1 accepted too), as the
/// PKCS#1 DER jsonwebtoken signs with.
fn rsa_key(pem: &str) -> Option<EncodingKey> {
    use rsa::{pkcs1::DecodeRsaPrivateKey, pkcs1::EncodeRsaPrivateKey, pkcs8::DecodePrivateKey};
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(pem)
        .or_else(|_| rsa::RsaPrivateKey::from_pkcs1_pem(pem))
        .ok()?;
    let der = key.to_pkcs1_der().ok()?;
    Some(EncodingKey::from_rsa_der(der.as_bytes()))
}

impl Provider for Fcm {
    fn send<'a>(
        &'a self,
        token: &'a str,
        message: &'a Message,
    ) -> BoxFuture<'a, Result<(), SendError>> {
        Box::pin(self.post(token, message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_sorted_as_fcm_documents_them() {
        let c =
            |s, code: &str, tok| classify(StatusCode::from_u16(s).unwrap(), code.into(), tok, None);
        assert!(matches!(
            c(404, "UNREGISTERED", false),
            SendError::BadToken { .. }
        ));
        assert!(matches!(
            c(400, "INVALID_ARGUMENT", true),
            SendError::BadToken { .. }
        ));
        assert!(matches!(
            c(400, "INVALID_ARGUMENT", false),
            SendError::Failed { .. }
        ));
        assert!(matches!(
            c(429, "QUOTA_EXCEEDED", false),
            SendError::Retry { .. }
        ));
        assert!(matches!(
            c(503, "UNAVAILABLE", false),
            SendError::Retry { .. }
        ));
        assert!(matches!(
            c(403, "SENDER_ID_MISMATCH", false),
            SendError::BadToken { .. }
        ));
    }
}
