//! Accounts: passwords, sessions with rotating refresh tokens, short-lived access tokens, and
//! the `Caller` extractor every protected route starts with.

mod limiter;
pub mod password;
mod tokens;

pub use limiter::LoginLimiter;
pub use tokens::{Caller, TokenKeys};

use lianxiao_protocol::TokenResponse;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::{
    db::{Db, new_id, now_ms},
    error::{ApiError, ApiResult},
    org,
};

/// Signs a person in after checking their password: a new session with its first refresh token.
pub async fn login(
    db: &Db,
    keys: &TokenKeys,
    login: &str,
    password: &str,
) -> ApiResult<Option<TokenResponse>> {
    let row = sqlx::query("SELECT id, password_hash FROM users WHERE login = $1")
        .bind(login)
        .fetch_optional(db.pool())
        .await?;
    let Some(row) = row else {
        // Spend the same time as a real check so logins cannot be probed by timing.
        password::verify_dummy(password).await;
        return Ok(None);
    };
    let user_id: String = row.try_get("id")?;
    let hash: String = row.try_get("password_hash")?;
    if !password::verify(password, &hash).await {
        return Ok(None);
    }
    let session_id = new_id();
    let refresh = random_token();
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    sqlx::query("INSERT INTO sessions (id, user_id, created_at) VALUES ($1, $2, $3)")
        .bind(&session_id)
        .bind(&user_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES ($1, $2, $3)",
    )
    .bind(hash_token(&refresh))
    .bind(&session_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    token_response(db, keys, &user_id, &session_id, refresh)
        .await
        .map(Some)
}

/// Rotates a refresh token. A token that was already rotated means it was copied: the whole
/// session is revoked, so both the thief and the owner must sign in again.
pub async fn refresh(db: &Db, keys: &TokenKeys, refresh_token: &str) -> ApiResult<TokenResponse> {
    let now = now_ms();
    let token_hash = hash_token(refresh_token);
    let mut tx = db.begin_write().await?;
    let row = sqlx::query(
        "SELECT r.session_id, r.used_at, s.user_id, s.revoked_at FROM refresh_tokens r \
         JOIN sessions s ON s.id = r.session_id WHERE r.token_hash = $1",
    )
    .bind(&token_hash)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Err(ApiError::unauthorized("refresh token is not valid"));
    };
    let session_id: String = row.try_get("session_id")?;
    let user_id: String = row.try_get("user_id")?;
    let revoked_at: Option<i64> = row.try_get("revoked_at")?;
    let used_at: Option<i64> = row.try_get("used_at")?;
    if revoked_at.is_some() {
        return Err(ApiError::unauthorized("session has ended; sign in again"));
    }
    let claimed = sqlx::query(
        "UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL",
    )
    .bind(now)
    .bind(&token_hash)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if used_at.is_some() || claimed == 0 {
        sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2")
            .bind(now)
            .bind(&session_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::warn!(session = %session_id, "rotated refresh token reused; session revoked");
        return Err(ApiError::unauthorized(
            "refresh token was already used; session revoked",
        ));
    }
    let next = random_token();
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES ($1, $2, $3)",
    )
    .bind(hash_token(&next))
    .bind(&session_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    token_response(db, keys, &user_id, &session_id, next).await
}

/// Ends the session a refresh token belongs to. Unknown tokens are ignored: signing out twice
/// is not an error.
pub async fn logout(db: &Db, refresh_token: &str) -> ApiResult<()> {
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "UPDATE sessions SET revoked_at = $1 WHERE revoked_at IS NULL AND id IN \
         (SELECT session_id FROM refresh_tokens WHERE token_hash = $2)",
    )
    .bind(now_ms())
    .bind(hash_token(refresh_token))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn token_response(
    db: &Db,
    keys: &TokenKeys,
    user_id: &str,
    session_id: &str,
    refresh_token: String,
) -> ApiResult<TokenResponse> {
    let user = org::load_user(db.pool(), user_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("account no longer exists"))?;
    let (access_token, expires_in) = keys.issue(user_id, session_id)?;
    Ok(TokenResponse {
        access_token,
        refresh_token,
        expires_in,
        user,
        server_time: crate::clock::now_ms(),
    })
}

fn random_token() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Refresh tokens are stored hashed: a database leak does not hand out sessions.
fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}
