//! Apple Push Notification service: HTTP/2, token-based authentication. Every request carries
//! an ES256 JWT (`kid` = key id, `iss` = team id, `iat`) signed with the team's `.p8` key;
//! Apple wants one token reused for up to an hour (and refused if renewed more often than every
//! 20 minutes), so one is kept and replaced after 50 minutes.

use std::{sync::Mutex, time::Duration};

use futures::future::BoxFuture;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde::Serialize;
use serde_json::json;

use super::{ApnsConfig, Message, Provider, SendError, pem_der, retry_after, transport_error};

/// A provider token older than this is replaced before use.
const TOKEN_REFRESH_SECS: i64 = 50 * 60;

pub struct Apns {
    client: reqwest::Client,
    url: String,
    topic: String,
    key_id: String,
    team_id: String,
    key: EncodingKey,
    token: Mutex<Option<ProviderToken>>,
}

#[derive(Clone)]
struct ProviderToken {
    jwt: String,
    issued_at: i64,
}

impl ProviderToken {
    fn fresh(&self, now_secs: i64) -> bool {
        now_secs >= self.issued_at && now_secs - self.issued_at < TOKEN_REFRESH_SECS
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    iat: i64,
}

impl Apns {
    pub fn new(config: &ApnsConfig, timeout: Duration) -> anyhow::Result<Apns> {
        let der = pem_der(&config.key_pem, "PRIVATE KEY")
            .ok_or_else(|| anyhow::anyhow!("LIANXIAO_APNS_KEY_FILE is not a PKCS#8 PEM key"))?;
        // Fail at start-up, not at the first push, if the key is not a P-256 key.
        {
            use p256::pkcs8::DecodePrivateKey;
            p256::SecretKey::from_pkcs8_der(&der).map_err(|_| {
                anyhow::anyhow!("LIANXIAO_APNS_KEY_FILE is not an ES256 (P-256) key")
            })?;
        }
        let url = config.url.trim_end_matches('/').to_owned();
        let client = super::http_client(timeout, url.starts_with("http://"))?;
        Ok(Apns {
            client,
            url,
            topic: config.topic.clone(),
            key_id: config.key_id.clone(),
            team_id: config.team_id.clone(),
            key: EncodingKey::from_ec_der(&der),
            token: Mutex::new(None),
        })
    }

    /// The provider token for a request at `now_secs`: the kept one while fresh, else a new one.
    fn bearer(&self, now_secs: i64) -> Result<String, SendError> {
        let mut kept = self.token.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(token) = kept.as_ref().filter(|t| t.fresh(now_secs)) {
            return Ok(token.jwt.clone());
        }
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.key_id.clone());
        header.typ = None;
        let jwt = jsonwebtoken::encode(
            &header,
            &Claims {
                iss: &self.team_id,
                iat: now_secs,
            },
            &self.key,
        )
        .map_err(|_| SendError::Failed {
            reason: "apns_key_unusable".into(),
        })?;
        *kept = Some(ProviderToken {
            jwt: jwt.clone(),
            issued_at: now_secs,
        });
        Ok(jwt)
    }

    fn forget_token(&self) {
        *self.token.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    async fn post(&self, token: &str, message: &Message) -> Result<(), SendError> {
        let now_secs = crate::db::now_ms() / 1000;
        let bearer = self.bearer(now_secs)?;
        let mut payload = json!({
            "aps": {
                "alert": {"title": message.title, "body": message.body},
                "badge": message.data.badge,
                "sound": "default",
            },
        });
        if let (Some(obj), Ok(serde_json::Value::Object(data))) =
            (payload.as_object_mut(), serde_json::to_value(&message.data))
        {
            obj.extend(data);
        }
        let collapse: String = message.collapse_key.chars().take(64).collect();
        let response = self
            .client
            .post(format!(
                "{}/3/device/{}",
                self.url,
                super::path_segment(token)
            ))
            .header(reqwest::header::AUTHORIZATION, format!("bearer {bearer}"))
            .header("apns-topic", &self.topic)
            .header("apns-push-type", "alert")
            // 10: now. Today every alert goes at once; quiet hours will hold non-urgent ones
            // in the queue rather than lower this.
            .header("apns-priority", "10")
            .header(
                "apns-expiration",
                (now_secs + message.ttl.as_secs() as i64).to_string(),
            )
            .header("apns-collapse-id", collapse)
            .header("apns-id", message.uuid.hyphenated().to_string())
            .json(&payload)
            .send()
            .await
            .map_err(|e| transport_error(&e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let after = retry_after(response.headers());
        let reason = response
            .json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|v| v["reason"].as_str().map(str::to_owned))
            .unwrap_or_else(|| format!("http {}", status.as_u16()));
        Err(classify(status, reason, after))
    }
}

/// What APNs' answer means for us (Apple's "Handling notification responses").
fn classify(status: StatusCode, reason: String, after: Option<Duration>) -> SendError {
    match (status.as_u16(), reason.as_str()) {
        (410, _) | (400, "BadDeviceToken" | "DeviceTokenNotForTopic") => {
            SendError::BadToken { reason }
        }
        (403, "ExpiredProviderToken" | "InvalidProviderToken") | (429, _) | (500..=599, _) => {
            SendError::Retry { after, reason }
        }
        _ => SendError::Failed { reason },
    }
}

impl Provider for Apns {
    fn send<'a>(
        &'a self,
        token: &'a str,
        message: &'a Message,
    ) -> BoxFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            let result = self.post(token, message).await;
            if let Err(SendError::Retry { reason, .. }) = &result
                && reason.ends_with("ProviderToken")
            {
                // Signed anew on the next attempt.
                self.forget_token();
            }
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apns() -> Apns {
        use p256::pkcs8::EncodePrivateKey;
        let key = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        let pem = key
            .to_pkcs8_pem(p256::pkcs8::LineEnding::LF)
            .unwrap()
            .to_string();
        Apns::new(
            &ApnsConfig {
                key_pem: pem,
                key_id: "KEY1234567".into(),
                team_id: "TEAM123456".into(),
                topic: "org.lianxiao.app".into(),
                url: "http://127.0.0.1:1".into(),
            },
            Duration::from_secs(5),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn the_provider_token_is_kept_for_fifty_minutes_then_renewed() {
        let apns = apns();
        let t0 = 1_800_000_000;
        let first = apns.bearer(t0).unwrap();
        assert_eq!(apns.bearer(t0 + 49 * 60).unwrap(), first);
        let renewed = apns.bearer(t0 + 51 * 60).unwrap();
        assert_ne!(renewed, first);
        assert_eq!(apns.bearer(t0 + 60 * 60).unwrap(), renewed);
        // A clock that went back does not keep a token "from the future".
        assert_ne!(apns.bearer(t0).unwrap(), renewed);
    }

    #[test]
    fn answers_are_sorted_as_apple_documents_them() {
        let bad = |s, r: &str| classify(StatusCode::from_u16(s).unwrap(), r.into(), None);
        assert!(matches!(
            bad(410, "Unregistered"),
            SendError::BadToken { .. }
        ));
        assert!(matches!(
            bad(400, "BadDeviceToken"),
            SendError::BadToken { .. }
        ));
        assert!(matches!(
            bad(400, "BadCollapseId"),
            SendError::Failed { .. }
        ));
        assert!(matches!(
            bad(429, "TooManyRequests"),
            SendError::Retry { .. }
        ));
        assert!(matches!(
            bad(503, "ServiceUnavailable"),
            SendError::Retry { .. }
        ));
        assert!(matches!(
            bad(403, "ExpiredProviderToken"),
            SendError::Retry { .. }
        ));
        assert!(matches!(
            bad(413, "PayloadTooLarge"),
            SendError::Failed { .. }
        ));
    }
}
