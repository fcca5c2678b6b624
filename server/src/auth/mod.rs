//! Accounts: passwords, sessions with rotating refresh tokens, short-lived access tokens, and
//! the `Caller` extractor every protected route starts with.

mod limiter;
mod limits;
pub mod password;
mod tokens;

pub use limiter::LoginLimiter;
pub use limits::Limits;
pub use tokens::{Caller, SocketCaller, TokenKeys};

use std::net::IpAddr;

use lianxiao_protocol::TokenResponse;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::{
    db::{Backend, Db, Tx, new_id, now_ms},
    error::{ApiError, ApiResult},
    org,
};

/// Channel the servers sharing one PostgreSQL use to say that sessions of a person ended (the
/// payload is the person's id): their realtime sockets close.
pub const SESSIONS_CHANNEL: &str = "lianxiao_sessions";

/// Signs a person in: the attempt is counted first (429 once the login or the address has used
/// its attempts), the password checked in the bounded queue of checks (503 when it is full),
/// then a new session with its first refresh token. `Ok(None)`: wrong login or password.
pub async fn login(
    db: &Db,
    keys: &TokenKeys,
    limiter: &LoginLimiter,
    login: &str,
    password: &str,
    addr: IpAddr,
) -> ApiResult<Option<TokenResponse>> {
    let admission = limiter.admit()?;
    let attempt = limiter.count(db, login, addr).await?;
    let checked = {
        let _check = admission.check().await;
        check_password(db, login, password).await
    };
    drop(admission);
    match checked {
        Ok(Some(user_id)) => {
            limiter.take_back(db, attempt).await;
            start_session(db, keys, &user_id).await.map(Some)
        }
        // A wrong password keeps its count.
        Ok(None) => Ok(None),
        Err(e) => {
            limiter.take_back(db, attempt).await;
            Err(e)
        }
    }
}

/// The person's id if the password is theirs.
async fn check_password(db: &Db, login: &str, password: &str) -> ApiResult<Option<String>> {
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
    Ok(password::verify(password, &hash).await.then_some(user_id))
}

async fn start_session(db: &Db, keys: &TokenKeys, user_id: &str) -> ApiResult<TokenResponse> {
    let session_id = new_id();
    let refresh = random_token();
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    sqlx::query("INSERT INTO sessions (id, user_id, created_at) VALUES ($1, $2, $3)")
        .bind(&session_id)
        .bind(user_id)
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
    token_response(db, keys, user_id, &session_id, refresh).await
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
        sessions_ended(&mut tx, db.backend(), &user_id).await?;
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
    let ended = sqlx::query(
        "UPDATE sessions SET revoked_at = $1 WHERE revoked_at IS NULL AND id IN \
         (SELECT session_id FROM refresh_tokens WHERE token_hash = $2) RETURNING user_id",
    )
    .bind(now_ms())
    .bind(hash_token(refresh_token))
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(row) = ended {
        let user_id: String = row.try_get(0)?;
        sessions_ended(&mut tx, db.backend(), &user_id).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Ends every session of a person, inside the caller's transaction (a new password, an admin's
/// "sign out everywhere"): their access and refresh tokens stop working when it commits, and
/// their realtime sockets close. Returns how many sessions were live.
pub async fn end_all_sessions(tx: &mut Tx, backend: Backend, user_id: &str) -> sqlx::Result<u64> {
    let ended = sqlx::query(
        "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
    )
    .bind(now_ms())
    .bind(user_id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if ended > 0 {
        sessions_ended(tx, backend, user_id).await?;
    }
    Ok(ended)
}

/// Tells every server that sessions of this person ended, when the transaction commits: the
/// epoch SQLite servers watch, and on PostgreSQL a NOTIFY with the person's id. The phone
/// links those sessions made go in the same transaction, so a phone whose farewell never
/// comes gets no more pushes for a session ended elsewhere.
async fn sessions_ended(tx: &mut Tx, backend: Backend, user_id: &str) -> sqlx::Result<()> {
    crate::push::devices::unlink_ended_sessions(tx, user_id).await?;
    sqlx::query("UPDATE session_epoch SET value = value + 1 WHERE id = 1")
        .execute(&mut **tx)
        .await?;
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(SESSIONS_CHANNEL)
            .bind(user_id)
            .execute(&mut **tx)
            .await?;
    }
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

/// An admin's "sign this account out everywhere": every session of the person ends. A county
/// admin may do it to anyone, a school admin to the people of their school (a parent through a
/// child there). Anyone else, or a school admin asking about someone not of their school or
/// about no one at all, is refused the same way, so ids cannot be probed. Returns how many
/// sessions were live.
pub async fn sign_out_everywhere(db: &Db, admin_id: &str, user_id: &str) -> ApiResult<u64> {
    let allowed: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM memberships a WHERE a.user_id = $1 AND (a.role = 'county_admin' \
         OR (a.role = 'school_admin' AND a.school_id IN ( \
             SELECT m.school_id FROM memberships m WHERE m.user_id = $2 AND m.school_id <> '' \
             UNION SELECT c.school_id FROM memberships p \
               JOIN memberships c ON c.user_id = p.child_id AND c.role = 'student' \
               WHERE p.user_id = $2 AND p.role = 'parent')))",
    )
    .bind(admin_id)
    .bind(user_id)
    .fetch_one(db.pool())
    .await?;
    if allowed == 0 {
        return Err(ApiError::forbidden(
            "only a county admin or an admin of the person's school may sign them out",
        ));
    }
    let mut tx = db.begin_write().await?;
    let exists: Option<String> = sqlx::query_scalar("SELECT id FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?;
    if exists.is_none() {
        // Only a county admin gets here for an unknown id.
        return Err(ApiError::not_found("person"));
    }
    let ended = end_all_sessions(&mut tx, db.backend(), user_id).await?;
    tx.commit().await?;
    Ok(ended)
}
