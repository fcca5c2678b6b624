//! Registered phones: checking a registration, registering (or updating) a phone for an
//! account, unlinking an account when it signs out, and what the phones say about the pushes
//! they got (received, opened). All the SQL on devices lives here and in the queue's removal
//! of dead tokens.

use std::collections::HashMap;

use lianxiao_protocol::{
    Device, DevicePlatform, MAX_APP_VERSION, MAX_DEVICE_ID, MAX_LOCALE, MAX_PUSH_TOKEN,
    NoticePushes, PushProvider, PushReach, PushReceived, PushState, RegisterDevice,
};
use sqlx::{AnyConnection, Row};

use sha2::{Digest, Sha256};

use crate::{
    db::{Db, Tx, now_ms},
    error::{ApiError, ApiResult},
};

/// A device id is the app's own random id: 8 to 128 of `A-Z a-z 0-9 . _ -`.
fn check(device_id: &str, req: &RegisterDevice) -> ApiResult<()> {
    let id_ok = (8..=MAX_DEVICE_ID).contains(&device_id.len())
        && device_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !id_ok {
        return Err(ApiError::validation(
            "device_id",
            format!("device_id must be 8 to {MAX_DEVICE_ID} letters, digits, '.', '_' or '-'"),
        ));
    }
    let token_ok = !req.token.is_empty()
        && req.token.len() <= MAX_PUSH_TOKEN
        && req.token.bytes().all(|b| b.is_ascii_graphic());
    if !token_ok {
        return Err(ApiError::validation(
            "token",
            format!("token must be 1 to {MAX_PUSH_TOKEN} printable characters without spaces"),
        ));
    }
    if req.provider == PushProvider::Apns && req.platform != DevicePlatform::Ios {
        return Err(ApiError::validation(
            "provider",
            "apns delivers to iOS devices only",
        ));
    }
    let version = req.app_version.trim();
    if version.is_empty() || version.len() > MAX_APP_VERSION {
        return Err(ApiError::validation(
            "app_version",
            format!("app_version must be 1 to {MAX_APP_VERSION} characters"),
        ));
    }
    let locale_ok = (2..=MAX_LOCALE).contains(&req.locale.len())
        && req
            .locale
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
    if !locale_ok {
        return Err(ApiError::validation(
            "locale",
            "locale must be a language tag such as zh-CN",
        ));
    }
    Ok(())
}

/// Registers `device_id` for `user_id`, or updates it (a new token keeps the id). The link
/// belongs to the caller's session (`session_id`): it ends with it ([`unlink_session`]).
///
/// The device row is shared by every account on the phone. A token another device row holds
/// (the app reinstalled under a new id) moves here, so the phone is not pushed twice. An
/// account already linked to the phone may bring a new token (the provider changed it). An
/// account not linked yet must prove it is on the phone by bringing the token the phone is
/// registered with: a device id alone, learned or guessed, neither unlinks the accounts on
/// the phone nor redirects their pushes (`409`, nothing changes). Only when no live session
/// is linked any more may a new token take the device over.
pub async fn register(
    tx: &mut Tx,
    user_id: &str,
    session_id: &str,
    device_id: &str,
    req: &RegisterDevice,
) -> ApiResult<Device> {
    check(device_id, req)?;
    let now = now_ms();
    let token = req.token.as_str();
    // Links whose session has ended are gone already (their phones signed out).
    sqlx::query(
        "DELETE FROM device_accounts WHERE device_id = $1 AND session_id IN \
         (SELECT id FROM sessions WHERE revoked_at IS NOT NULL)",
    )
    .bind(device_id)
    .execute(&mut **tx)
    .await?;
    let existing = sqlx::query("SELECT token, created_at FROM devices WHERE id = $1")
        .bind(device_id)
        .fetch_optional(&mut **tx)
        .await?;
    let linked = sqlx::query("SELECT 1 FROM device_accounts WHERE device_id = $1 AND user_id = $2")
        .bind(device_id)
        .bind(user_id)
        .fetch_optional(&mut **tx)
        .await?
        .is_some();
    if let Some(row) = &existing {
        let old_token: String = row.try_get("token")?;
        let others: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM device_accounts WHERE device_id = $1")
                .bind(device_id)
                .fetch_one(&mut **tx)
                .await?;
        if !linked && old_token != token && others > 0 {
            let mut e = ApiError::conflict(
                "this device is registered with another push token: register from the phone \
                 with its current token (its signed-in accounts bring a new one first)",
            );
            e.body.field = Some("token".into());
            return Err(e);
        }
    }

    // The same token under another id is this phone, reinstalled.
    sqlx::query(
        "DELETE FROM device_accounts WHERE device_id IN \
         (SELECT id FROM devices WHERE provider = $1 AND token = $2 AND id <> $3)",
    )
    .bind(req.provider.as_str())
    .bind(token)
    .bind(device_id)
    .execute(&mut **tx)
    .await?;
    sqlx::query("DELETE FROM devices WHERE provider = $1 AND token = $2 AND id <> $3")
        .bind(req.provider.as_str())
        .bind(token)
        .bind(device_id)
        .execute(&mut **tx)
        .await?;

    let registered_at = match existing {
        None => {
            sqlx::query(
                "INSERT INTO devices (id, platform, provider, token, app_version, locale, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
            )
            .bind(device_id)
            .bind(req.platform.as_str())
            .bind(req.provider.as_str())
            .bind(token)
            .bind(req.app_version.trim())
            .bind(&req.locale)
            .bind(now)
            .execute(&mut **tx)
            .await?;
            now
        }
        Some(row) => {
            sqlx::query(
                "UPDATE devices SET platform = $1, provider = $2, token = $3, app_version = $4, \
                 locale = $5, updated_at = $6 WHERE id = $7",
            )
            .bind(req.platform.as_str())
            .bind(req.provider.as_str())
            .bind(token)
            .bind(req.app_version.trim())
            .bind(&req.locale)
            .bind(now)
            .bind(device_id)
            .execute(&mut **tx)
            .await?;
            row.try_get("created_at")?
        }
    };
    // A new sign-in of the same account moves its link to the new session.
    sqlx::query(
        "INSERT INTO device_accounts (device_id, user_id, linked_at, session_id) \
         VALUES ($1, $2, $3, $4) \
         ON CONFLICT (device_id, user_id) DO UPDATE SET session_id = excluded.session_id",
    )
    .bind(device_id)
    .bind(user_id)
    .bind(now)
    .bind(session_id)
    .execute(&mut **tx)
    .await?;
    Ok(Device {
        id: device_id.to_owned(),
        platform: req.platform,
        provider: req.provider,
        app_version: req.app_version.trim().to_owned(),
        locale: req.locale.clone(),
        registered_at,
        updated_at: now,
    })
}

/// Unlinks the account from the phone (sign-out); the phone's row goes with its last account.
/// Unlinking what is not linked is not an error: signing out must always work.
pub async fn unlink(tx: &mut Tx, user_id: &str, device_id: &str) -> ApiResult<()> {
    sqlx::query("DELETE FROM device_accounts WHERE device_id = $1 AND user_id = $2")
        .bind(device_id)
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    forget_if_unlinked(tx, device_id).await?;
    Ok(())
}

/// The phone's row goes with its last account.
async fn forget_if_unlinked(tx: &mut Tx, device_id: &str) -> sqlx::Result<()> {
    sqlx::query(
        "DELETE FROM devices WHERE id = $1 \
         AND NOT EXISTS (SELECT 1 FROM device_accounts WHERE device_id = $1)",
    )
    .bind(device_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A session ended: the phone it registered gets no more pushes for its account.
pub async fn unlink_session(tx: &mut Tx, session_id: &str) -> sqlx::Result<()> {
    if session_id.is_empty() {
        return Ok(());
    }
    let devices: Vec<String> =
        sqlx::query_scalar("DELETE FROM device_accounts WHERE session_id = $1 RETURNING device_id")
            .bind(session_id)
            .fetch_all(&mut **tx)
            .await?;
    for device in &devices {
        forget_if_unlinked(tx, device).await?;
    }
    Ok(())
}

/// Every phone link of `user_id` whose session has ended goes, inside the transaction that
/// ended sessions (a new password, "sign out everywhere", a reused refresh token).
pub async fn unlink_ended_sessions(tx: &mut Tx, user_id: &str) -> sqlx::Result<()> {
    let devices: Vec<String> = sqlx::query_scalar(
        "DELETE FROM device_accounts WHERE user_id = $1 AND session_id IN \
         (SELECT id FROM sessions WHERE user_id = $1 AND revoked_at IS NOT NULL) \
         RETURNING device_id",
    )
    .bind(user_id)
    .fetch_all(&mut **tx)
    .await?;
    for device in &devices {
        forget_if_unlinked(tx, device).await?;
    }
    Ok(())
}

/// `POST /v1/auth/logout` ended the session of `refresh_token` (or it had ended before): its
/// phone link goes, so a farewell that could not be sent leaves no pushes flowing.
pub async fn unlink_signed_out(db: &Db, refresh_token: &str) -> ApiResult<()> {
    // The refresh token's stored form, as `auth` keeps it.
    let hash = hex::encode(Sha256::digest(refresh_token.as_bytes()));
    let mut tx = db.begin_write().await?;
    let sessions: Vec<String> = sqlx::query_scalar(
        "SELECT r.session_id FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id \
         WHERE r.token_hash = $1 AND s.revoked_at IS NOT NULL",
    )
    .bind(&hash)
    .fetch_all(&mut *tx)
    .await?;
    for session in &sessions {
        unlink_session(&mut tx, session).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The app on a phone says a push arrived (or was tapped): the first time of each is kept on
/// that device's push for the item. The device must be the caller's, and the push must
/// exist (`not_found` otherwise, for either, so device ids cannot be probed).
pub async fn received(
    tx: &mut Tx,
    user_id: &str,
    device_id: &str,
    req: &PushReceived,
) -> ApiResult<()> {
    let now = now_ms();
    let opened_at = req.opened.then_some(now);
    // The push for the item (a homework push's event is one student's work, its item the
    // assignment), and those a digest carrying it stood for.
    let n = sqlx::query(
        "UPDATE pushes SET received_at = COALESCE(received_at, $1), \
         opened_at = COALESCE(opened_at, $2) \
         WHERE user_id = $5 AND device_id = $6 AND ((event_kind = $3 AND event_id = $4) \
         OR item_id = $4 OR digest_of IN (SELECT d.id FROM pushes d WHERE d.user_id = $5 \
         AND d.device_id = $6 AND ((d.event_kind = $3 AND d.event_id = $4) OR d.item_id = $4)))",
    )
    .bind(now)
    .bind(opened_at)
    .bind(req.kind.as_str())
    .bind(&req.id)
    .bind(user_id)
    .bind(device_id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(ApiError::not_found("push"));
    }
    Ok(())
}

/// What the phones said about a notice's pushes, laid over the gateway's outcomes: a push
/// the app received shows as `received` (or `opened`), and its recipient as `on_phone`.
pub async fn overlay_on_phone(
    conn: &mut AnyConnection,
    report: &mut NoticePushes,
) -> ApiResult<()> {
    let on_phone = on_phone(conn, &report.notice_id).await?;
    for r in &mut report.recipients {
        for p in &mut r.pushes {
            if let Some(state) = on_phone.get(&(r.user_id.clone(), p.device_id.clone())) {
                p.state = *state;
            }
        }
        if r.pushes
            .iter()
            .any(|p| matches!(p.state, PushState::Received | PushState::Opened))
        {
            r.reach = PushReach::OnPhone;
        }
    }
    Ok(())
}

/// (user, device) → received or opened, for a notice's pushes the phones confirmed.
async fn on_phone(
    conn: &mut AnyConnection,
    notice_id: &str,
) -> ApiResult<HashMap<(String, String), PushState>> {
    let rows = sqlx::query(
        "SELECT user_id, device_id, opened_at FROM pushes WHERE event_kind = 'notice' \
         AND event_id = $1 AND received_at IS NOT NULL",
    )
    .bind(notice_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = HashMap::new();
    for r in rows {
        let opened: Option<i64> = r.try_get("opened_at")?;
        let state = if opened.is_some() {
            PushState::Opened
        } else {
            PushState::Received
        };
        out.insert((r.try_get("user_id")?, r.try_get("device_id")?), state);
    }
    Ok(out)
}

/// Each recipient's push reach for a notice, for the author's receipt report: the same
/// rules as `GET /v1/notices/{id}/pushes`, so the two views never disagree.
pub async fn reach_by_recipient(
    conn: &mut AnyConnection,
    user_id: &str,
    notice_id: &str,
) -> ApiResult<HashMap<String, PushReach>> {
    let mut report = super::queue::notice_pushes(conn, user_id, notice_id).await?;
    overlay_on_phone(conn, &mut report).await?;
    Ok(report
        .recipients
        .into_iter()
        .map(|r| (r.user_id, r.reach))
        .collect())
}
