//! 个推 Getui, REST API v2: the channel to Chinese Android phones without Google services.
//! Getui keeps its own connection while the app runs and otherwise hands the push to the
//! phone maker's channel (Huawei, Honor, Xiaomi, OPPO, vivo, Meizu), which the system keeps
//! open even when the app is killed.
//!
//! Authentication: `POST {base}/{appid}/auth` with `sign = sha256(appkey + timestamp +
//! mastersecret)` (hex) gives a token (valid a day) sent as the `token` header; it is kept
//! until shortly before it expires, and fetched again at once when Getui answers 10001.
//! A push: `POST {base}/{appid}/push/single/cid`.

use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use super::{GetuiConfig, Message, Provider, SendError, retry_after, transport_error};
use crate::db::now_ms;

const EXPIRY_MARGIN_MS: i64 = 5 * 60 * 1000;
/// Getui keeps offline messages three days at most.
const MAX_TTL_MS: i64 = 3 * 24 * 3600 * 1000;

pub struct Getui {
    client: reqwest::Client,
    base: String,
    app_key: String,
    master_secret: String,
    android_package: String,
    token: Mutex<Option<(String, i64)>>,
}

/// What a Getui answer says, beside the HTTP status.
struct Answer {
    code: i64,
    msg: String,
    body: serde_json::Value,
}

async fn answer(response: reqwest::Response) -> Answer {
    let body = response
        .json::<serde_json::Value>()
        .await
        .unwrap_or_default();
    Answer {
        code: body["code"].as_i64().unwrap_or(-1),
        msg: body["msg"].as_str().unwrap_or("").to_owned(),
        body,
    }
}

/// `sha256(appkey + timestamp + mastersecret)`, lowercase hex.
pub(crate) fn sign(app_key: &str, timestamp: &str, master_secret: &str) -> String {
    hex::encode(Sha256::digest(
        format!("{app_key}{timestamp}{master_secret}").as_bytes(),
    ))
}

impl Getui {
    pub fn new(config: &GetuiConfig, timeout: Duration) -> anyhow::Result<Getui> {
        Ok(Getui {
            client: super::http_client(timeout, false)?,
            base: format!("{}/{}", config.url.trim_end_matches('/'), config.app_id),
            app_key: config.app_key.clone(),
            master_secret: config.master_secret.clone(),
            android_package: config.android_package.clone(),
            token: Mutex::new(None),
        })
    }

    async fn token(&self) -> Result<String, SendError> {
        let mut kept = self.token.lock().await;
        let now = now_ms();
        if let Some((token, _)) = kept
            .as_ref()
            .filter(|(_, exp)| now < exp - EXPIRY_MARGIN_MS)
        {
            return Ok(token.clone());
        }
        let timestamp = now.to_string();
        let response = self
            .client
            .post(format!("{}/auth", self.base))
            .json(&json!({
                "sign": sign(&self.app_key, &timestamp, &self.master_secret),
                "timestamp": timestamp,
                "appkey": self.app_key,
            }))
            .send()
            .await
            .map_err(|e| transport_error(&e))?;
        let status = response.status();
        let after = retry_after(response.headers());
        let a = answer(response).await;
        let token = a.body["data"]["token"].as_str();
        let expires = a.body["data"]["expire_time"]
            .as_str()
            .and_then(|t| t.parse::<i64>().ok())
            .or_else(|| a.body["data"]["expire_time"].as_i64());
        match (a.code, token, expires) {
            (0, Some(token), Some(expires)) => {
                *kept = Some((token.to_owned(), expires));
                Ok(token.to_owned())
            }
            _ => {
                let reason = format!("auth code {}", a.code);
                Err(
                    if status.is_server_error() || a.code == 10003 || a.code == 2 {
                        SendError::Retry { after, reason }
                    } else {
                        SendError::Failed { reason }
                    },
                )
            }
        }
    }

    /// The Android intent the vendor channels open on a tap, carrying the push's data as
    /// string extras; the app declares the `lianxiao://open` intent filter.
    fn intent(&self, message: &Message) -> String {
        let extras: String = message
            .data
            .to_strings()
            .iter()
            .map(|(k, v)| format!("S.{k}={};", super::form_value(v)))
            .collect();
        format!(
            "intent://open?#Intent;scheme=lianxiao;launchFlags=0x4000000;package={};{extras}end",
            self.android_package
        )
    }

    fn body(&self, token: &str, message: &Message) -> serde_json::Value {
        let payload = serde_json::to_string(&message.data.to_strings()).unwrap_or_default();
        let ttl = (message.ttl.as_millis() as i64).min(MAX_TTL_MS);
        json!({
            "request_id": message.uuid.simple().to_string(),
            "settings": {"ttl": ttl, "strategy": {"default": 1}},
            "audience": {"cid": [token]},
            "push_message": {
                "notification": {
                    "title": message.title,
                    "body": message.body,
                    "click_type": "payload",
                    "payload": payload,
                },
            },
            "push_channel": {
                "android": {
                    "ups": {
                        "notification": {
                            "title": message.title,
                            "body": message.body,
                            "click_type": "intent",
                            "intent": self.intent(message),
                        },
                    },
                },
            },
        })
    }

    async fn post(&self, token: &str, message: &Message) -> Result<(), SendError> {
        let body = self.body(token, message);
        // Once more with a fresh auth token if Getui says ours is no longer good (10001).
        for _ in 0..2 {
            let auth = self.token().await?;
            let response = self
                .client
                .post(format!("{}/push/single/cid", self.base))
                .header("token", auth)
                .json(&body)
                .send()
                .await
                .map_err(|e| transport_error(&e))?;
            let status = response.status();
            let after = retry_after(response.headers());
            let a = answer(response).await;
            match a.code {
                0 if status.is_success() => return Ok(()),
                10001 => {
                    *self.token.lock().await = None;
                    continue;
                }
                _ => return Err(classify(status.as_u16(), a.code, &a.msg, after)),
            }
        }
        Err(SendError::Retry {
            after: None,
            reason: "code 10001".into(),
        })
    }
}

/// What Getui's answer means for us (its 返回码说明).
fn classify(status: u16, code: i64, msg: &str, after: Option<Duration>) -> SendError {
    let reason = format!("code {code}");
    match code {
        20001 if msg.contains("target user is invalid") => SendError::BadToken {
            reason: "target user is invalid".into(),
        },
        // Starting up, or calls per minute over the limit.
        2 | 10005 => SendError::Retry { after, reason },
        _ if status >= 500 || status == 429 => SendError::Retry { after, reason },
        _ => SendError::Failed { reason },
    }
}

impl Provider for Getui {
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
    fn the_sign_is_sha256_of_key_time_and_secret() {
        // sha256("k" + "1" + "s") = sha256("k1s")
        assert_eq!(sign("k", "1", "s"), hex::encode(Sha256::digest(b"k1s")));
        assert_eq!(sign("k", "1", "s").len(), 64);
    }

    #[test]
    fn answers_are_sorted_as_getui_documents_them() {
        assert!(matches!(
            classify(400, 20001, "target user is invalid", None),
            SendError::BadToken { .. }
        ));
        assert!(matches!(
            classify(400, 20001, "ttl is invalid", None),
            SendError::Failed { .. }
        ));
        assert!(matches!(
            classify(401, 10005, "", None),
            SendError::Retry { .. }
        ));
        assert!(matches!(
            classify(503, -1, "", None),
            SendError::Retry { .. }
        ));
    }
}
