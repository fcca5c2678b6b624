//! Which push providers this deployment has, read from the environment once at start-up.
//! A provider whose variables are absent is simply not configured: its devices' pushes are
//! recorded as skipped.

use std::{path::PathBuf, time::Duration};

use anyhow::Context;

#[derive(Clone)]
pub struct ApnsConfig {
    /// The `.p8` signing key (PKCS#8 PEM) from the Apple developer account.
    pub key_pem: String,
    pub key_id: String,
    pub team_id: String,
    /// The app's bundle id (`apns-topic`).
    pub topic: String,
    /// `https://api.push.apple.com` (or the sandbox); `http://` speaks HTTP/2 with prior
    /// knowledge, for a local endpoint.
    pub url: String,
}

#[derive(Clone)]
pub struct FcmConfig {
    /// The Firebase service account's JSON key file, as downloaded.
    pub service_account_json: String,
    /// `https://fcm.googleapis.com`.
    pub url: String,
}

#[derive(Clone)]
pub struct GetuiConfig {
    pub app_id: String,
    pub app_key: String,
    pub master_secret: String,
    /// `https://restapi.getui.com/v2` (the app id is appended).
    pub url: String,
    /// The Android app's package: vendor-channel notifications open it with an intent that
    /// carries the push's data.
    pub android_package: String,
    /// The activity a tapped notification opens (the intent's `component=`, with the package).
    pub android_activity: String,
}

/// Push set-up of one deployment.
#[derive(Clone)]
pub struct PushConfig {
    pub apns: Option<ApnsConfig>,
    pub fcm: Option<FcmConfig>,
    pub getui: Option<GetuiConfig>,
    /// Whether devices registered with the `log` provider get their pushes in the log.
    pub log: bool,
    /// Pushes sent at the same time.
    pub concurrency: usize,
    /// Longest wait for one provider request.
    pub timeout: Duration,
    /// Attempts before a push that keeps being throttled or failing transiently gives up.
    pub max_attempts: u32,
    /// How long a provider keeps a push for a phone that is off (APNs expiration, FCM ttl,
    /// Getui ttl; Getui allows at most 3 days).
    pub ttl: Duration,
    /// A phone that got a non-urgent push less than this long ago gets the next ones together
    /// as one digest when it has passed (`LIANXIAO_PUSH_DIGEST_WINDOW_SECS`).
    pub digest_window: Duration,
    /// How long before a live lesson starts its students and parents are told
    /// (`LIANXIAO_PUSH_LESSON_LEAD_MINUTES`).
    pub lesson_lead: Duration,
    /// How often the scheduler looks for passed homework deadlines and lessons about to start.
    pub schedule_every: Duration,
    /// The push policy of schools that set none (`LIANXIAO_PUSH_QUIET_HOURS=21:30-07:00` or
    /// `none`; 21:30–07:00 in UTC+8 by default).
    pub default_policy: lianxiao_protocol::PushPolicy,
}

impl Default for PushConfig {
    fn default() -> Self {
        PushConfig {
            apns: None,
            fcm: None,
            getui: None,
            log: true,
            concurrency: 32,
            timeout: Duration::from_secs(30),
            max_attempts: 10,
            ttl: Duration::from_secs(3 * 24 * 3600),
            digest_window: Duration::from_secs(120),
            lesson_lead: Duration::from_secs(10 * 60),
            schedule_every: Duration::from_secs(5),
            default_policy: lianxiao_protocol::PushPolicy::default(),
        }
    }
}

impl std::fmt::Debug for PushConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys and secrets stay out: only which providers are set up.
        f.debug_struct("PushConfig")
            .field("apns", &self.apns.as_ref().map(|a| (&a.url, &a.topic)))
            .field("fcm", &self.fcm.as_ref().map(|f| &f.url))
            .field("getui", &self.getui.as_ref().map(|g| (&g.url, &g.app_id)))
            .field("log", &self.log)
            .field("concurrency", &self.concurrency)
            .field("timeout", &self.timeout)
            .field("max_attempts", &self.max_attempts)
            .finish()
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn read_file(var_name: &str, path: String) -> anyhow::Result<String> {
    std::fs::read_to_string(PathBuf::from(&path))
        .with_context(|| format!("{var_name}: cannot read {path}"))
}

fn number<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T> {
    match var(name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("{name} must be a number")),
    }
}

impl PushConfig {
    /// Reads the `LIANXIAO_APNS_*`, `LIANXIAO_FCM_*`, `LIANXIAO_GETUI_*` and `LIANXIAO_PUSH_*`
    /// variables (README, "Push notifications"). A provider with some of its variables but not
    /// all is an error, so a typo is not a silently silent provider.
    pub fn from_env() -> anyhow::Result<PushConfig> {
        let defaults = PushConfig::default();
        let apns = match (
            var("LIANXIAO_APNS_KEY_FILE"),
            var("LIANXIAO_APNS_KEY_ID"),
            var("LIANXIAO_APNS_TEAM_ID"),
            var("LIANXIAO_APNS_TOPIC"),
        ) {
            (None, None, None, None) => None,
            (Some(file), Some(key_id), Some(team_id), Some(topic)) => Some(ApnsConfig {
                key_pem: read_file("LIANXIAO_APNS_KEY_FILE", file)?,
                key_id,
                team_id,
                topic,
                url: var("LIANXIAO_APNS_URL")
                    .unwrap_or_else(|| "https://api.push.apple.com".to_owned()),
            }),
            _ => anyhow::bail!(
                "APNs needs all of LIANXIAO_APNS_KEY_FILE, LIANXIAO_APNS_KEY_ID, \
                 LIANXIAO_APNS_TEAM_ID and LIANXIAO_APNS_TOPIC"
            ),
        };
        let fcm = match var("LIANXIAO_FCM_SERVICE_ACCOUNT") {
            None => None,
            Some(file) => Some(FcmConfig {
                service_account_json: read_file("LIANXIAO_FCM_SERVICE_ACCOUNT", file)?,
                url: var("LIANXIAO_FCM_URL")
                    .unwrap_or_else(|| "https://fcm.googleapis.com".to_owned()),
            }),
        };
        let getui = match (
            var("LIANXIAO_GETUI_APP_ID"),
            var("LIANXIAO_GETUI_APP_KEY"),
            var("LIANXIAO_GETUI_MASTER_SECRET"),
        ) {
            (None, None, None) => None,
            (Some(app_id), Some(app_key), Some(master_secret)) => {
                let android_package = var("LIANXIAO_GETUI_ANDROID_PACKAGE")
                    .unwrap_or_else(|| "org.lianxiao.app".to_owned());
                Some(GetuiConfig {
                    app_id,
                    app_key,
                    master_secret,
                    url: var("LIANXIAO_GETUI_URL")
                        .unwrap_or_else(|| "https://restapi.getui.com/v2".to_owned()),
                    android_activity: var("LIANXIAO_GETUI_ANDROID_ACTIVITY")
                        .unwrap_or_else(|| format!("{android_package}.MainActivity")),
                    android_package,
                })
            }
            _ => anyhow::bail!(
                "Getui needs all of LIANXIAO_GETUI_APP_ID, LIANXIAO_GETUI_APP_KEY and \
                 LIANXIAO_GETUI_MASTER_SECRET"
            ),
        };
        let log = match var("LIANXIAO_PUSH_LOG").as_deref() {
            None => defaults.log,
            Some("1" | "true" | "on") => true,
            Some("0" | "false" | "off") => false,
            Some(_) => anyhow::bail!("LIANXIAO_PUSH_LOG must be 1 or 0"),
        };
        Ok(PushConfig {
            apns,
            fcm,
            getui,
            log,
            concurrency: number("LIANXIAO_PUSH_CONCURRENCY", defaults.concurrency)?.max(1),
            digest_window: Duration::from_secs(number(
                "LIANXIAO_PUSH_DIGEST_WINDOW_SECS",
                defaults.digest_window.as_secs(),
            )?),
            lesson_lead: Duration::from_secs(
                60 * number(
                    "LIANXIAO_PUSH_LESSON_LEAD_MINUTES",
                    defaults.lesson_lead.as_secs() / 60,
                )?,
            ),
            schedule_every: defaults.schedule_every,
            default_policy: match var("LIANXIAO_PUSH_QUIET_HOURS") {
                None => defaults.default_policy,
                Some(text) => lianxiao_protocol::PushPolicy {
                    quiet_hours: super::policy::parse_quiet_hours(&text).ok_or_else(|| {
                        anyhow::anyhow!(
                            "LIANXIAO_PUSH_QUIET_HOURS must be like 21:30-07:00, or none"
                        )
                    })?,
                    ..defaults.default_policy
                },
            },
            timeout: Duration::from_secs(
                number("LIANXIAO_PUSH_TIMEOUT_SECS", defaults.timeout.as_secs())?.max(1),
            ),
            max_attempts: number("LIANXIAO_PUSH_MAX_ATTEMPTS", defaults.max_attempts)?.max(1),
            ttl: defaults.ttl,
        })
    }
}
