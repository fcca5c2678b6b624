//! 个推 Getui, REST API v2: the channel to Chinese Android phones without Google services.
//! Getui keeps its own connection while the app runs and otherwise hands the push to the
//! phone maker's channel (Huawei, Honor, Xiaomi, OPPO, vivo, Meizu), which the system keeps
//! open even when the app is killed.
//!
//! Authentication: `POST {base}/{appid}/auth` with `sign = sha256(appkey + timestamp +
//! mastersecret)` (hex) gives a token (valid a day) sent as the `token` header; it is kept
//! until shortly before it expires, and fetched again at once when Getui answers 10001.
//! A push: `POST {base}/{appid}/push/single/cid`.
//!
//! A tap: both the notification Getui shows itself (`push_message`, the app online) and the
//! phone maker's (`push_channel.android.ups`, the app offline) use `click_type: intent`, whose
//! Android intent names the app's activity (`component=<package>/<activity>`) and carries the
//! push's data as string extras (Getui's 怎么传递自定义参数). The system starts that activity
//! from the notification, so the app never starts one from a background service (which
//! Android 10+ blocks); the activity hands the extras to the core's `push_opened`. With
//! `click_type: payload` the data would reach only `GTIntentService.onNotificationMessageClicked`
//! (a background service), and only for Getui's own notification.

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
/// Getui's limits on a notification (推送API, `notification` and `ups.notification`): title at
/// most 50 characters, body at most 256 (Java string lengths, UTF-16 units).
const MAX_TITLE: usize = 50;
const MAX_BODY: usize = 256;
/// `launchFlags` of the tap's intent: `FLAG_ACTIVITY_CLEAR_TOP`, as in Getui's template (with
/// the activity's `singleTop` launch mode a running one gets `onNewIntent`).
const LAUNCH_FLAGS: &str = "0x4000000";

pub struct Getui {
    client: reqwest::Client,
    base: String,
    app_key: String,
    master_secret: String,
    android_package: String,
    /// The activity's full class name.
    android_activity: String,
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

/// A dotted Java name (`org.lianxiao.app`, `org.lianxiao.app.MainActivity`): at least `min`
/// parts, each a letter or `_` then letters, digits or `_` — nothing that could end a field of
/// the intent (`;`, `#`, `/`, `=`).
fn java_name(s: &str, min: usize) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() >= min
        && parts.iter().all(|p| {
            let mut c = p.chars();
            c.next()
                .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
                && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// `s` cut to at most `max` UTF-16 units, with `…` at the end when cut.
fn cut(s: &str, max: usize) -> String {
    if s.encode_utf16().count() <= max {
        return s.to_owned();
    }
    let mut out = String::new();
    let mut units = 0;
    for c in s.chars() {
        if units + c.len_utf16() > max - 1 {
            break;
        }
        units += c.len_utf16();
        out.push(c);
    }
    out.push('…');
    out
}

impl Getui {
    pub fn new(config: &GetuiConfig, timeout: Duration) -> anyhow::Result<Getui> {
        let package = &config.android_package;
        // Android expands a leading dot with the package (ComponentName.unflattenFromString);
        // the full name is sent, which every phone maker's channel understands.
        let activity = match config.android_activity.strip_prefix('.') {
            Some(rest) => format!("{package}.{rest}"),
            None => config.android_activity.clone(),
        };
        anyhow::ensure!(
            java_name(package, 2),
            "LIANXIAO_GETUI_ANDROID_PACKAGE must be an Android application id such as org.lianxiao.app"
        );
        anyhow::ensure!(
            java_name(&activity, 2),
            "LIANXIAO_GETUI_ANDROID_ACTIVITY must be the activity's class name such as \
             org.lianxiao.app.MainActivity"
        );
        Ok(Getui {
            client: super::http_client(timeout, false)?,
            base: format!("{}/{}", config.url.trim_end_matches('/'), config.app_id),
            app_key: config.app_key.clone(),
            master_secret: config.master_secret.clone(),
            android_package: config.android_package.clone(),
            android_activity: activity,
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

    /// The Android intent a tap opens, in the form of Getui's template: the `lianxiao://open`
    /// data the app's intent filter declares, `FLAG_ACTIVITY_CLEAR_TOP`, the package, the
    /// activity as `component=<package>/<activity>` and the push's data as string extras
    /// (`S.<key>=<value>`, percent-encoded as Android's `Uri.decode` reads them).
    fn intent(&self, message: &Message) -> String {
        let extras: String = message
            .data
            .to_strings()
            .iter()
            .map(|(k, v)| format!("S.{k}={};", super::form_value(v)))
            .collect();
        let package = &self.android_package;
        format!(
            "intent://open?#Intent;scheme=lianxiao;launchFlags={LAUNCH_FLAGS};package={package};\
             component={package}/{};{extras}end",
            self.android_activity
        )
    }

    fn body(&self, token: &str, message: &Message) -> serde_json::Value {
        let ttl = (message.ttl.as_millis() as i64).min(MAX_TTL_MS);
        // One notification for both ways to the phone: Getui's own connection while the app
        // runs, the phone maker's channel when it does not (strategy 1: Getui first).
        let notification = json!({
            "title": cut(&message.title, MAX_TITLE),
            "body": cut(&message.body, MAX_BODY),
            "click_type": "intent",
            "intent": self.intent(message),
        });
        json!({
            "request_id": message.uuid.simple().to_string(),
            "settings": {"ttl": ttl, "strategy": {"default": 1}},
            "audience": {"cid": [token]},
            "push_message": {"notification": notification},
            "push_channel": {"android": {"ups": {"notification": notification}}},
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
    fn titles_and_bodies_are_cut_to_getuis_limits() {
        assert_eq!(cut("春游通知", MAX_TITLE), "春游通知");
        let long = "通".repeat(60);
        let title = cut(&long, MAX_TITLE);
        assert_eq!(title.encode_utf16().count(), MAX_TITLE);
        assert!(title.ends_with('…'));
        // Characters outside the BMP count twice in Java and are never split.
        let emoji = "😀".repeat(30);
        let cut_emoji = cut(&emoji, MAX_TITLE);
        assert!(cut_emoji.encode_utf16().count() <= MAX_TITLE);
        assert_eq!(cut_emoji.chars().filter(|c| *c == '😀').count(), 24);
    }

    #[test]
    fn package_and_activity_must_be_java_names() {
        assert!(java_name("org.lianxiao.app", 2));
        assert!(java_name("org.lianxiao.app.MainActivity", 2));
        assert!(!java_name("lianxiao", 2));
        assert!(!java_name("org.lianxiao;end", 2));
        assert!(!java_name("org.lianxiao/x", 2));
        assert!(!java_name("org..app", 2));
        assert!(!java_name("org.1app", 2));
        let config = |package: &str, activity: &str| GetuiConfig {
            app_id: "a".into(),
            app_key: "k".into(),
            master_secret: "s".into(),
            url: "http://127.0.0.1:9".into(),
            android_package: package.into(),
            android_activity: activity.into(),
        };
        let t = Duration::from_secs(1);
        assert!(Getui::new(&config("org.lianxiao.app", "x;S.id=1"), t).is_err());
        assert!(Getui::new(&config("org.lianxiao.app#", ".MainActivity"), t).is_err());
        let relative = Getui::new(&config("org.lianxiao.app", ".MainActivity"), t).unwrap();
        assert_eq!(relative.android_activity, "org.lianxiao.app.MainActivity");
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
