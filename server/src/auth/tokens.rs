//! Access tokens: HS256 JWTs naming the user and the session, signed with a secret kept in
//! the database so every server process sharing it accepts the same tokens.

use axum::{extract::FromRequestParts, http::request::Parts};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::{
    app::AppState,
    db::{Db, now_ms},
    error::{ApiError, ApiResult},
};

#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    ttl_secs: u64,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys")
            .field("ttl_secs", &self.ttl_secs)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    sid: String,
    iat: i64,
    exp: i64,
}

impl TokenKeys {
    /// Loads the signing secret, creating it on the first start.
    pub async fn load(db: &Db, ttl_secs: u64) -> anyhow::Result<TokenKeys> {
        use base64::Engine;
        let candidate: [u8; 32] = rand::random();
        let candidate = base64::engine::general_purpose::STANDARD.encode(candidate);
        sqlx::query("INSERT INTO server_secrets (name, value) VALUES ('jwt', $1) ON CONFLICT (name) DO NOTHING")
            .bind(candidate)
            .execute(db.pool())
            .await?;
        let secret: String = sqlx::query("SELECT value FROM server_secrets WHERE name = 'jwt'")
            .fetch_one(db.pool())
            .await?
            .try_get(0)?;
        Ok(TokenKeys {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            ttl_secs,
        })
    }

    pub fn issue(&self, user_id: &str, session_id: &str) -> ApiResult<(String, u64)> {
        let now = now_ms() / 1000;
        let claims = Claims {
            sub: user_id.to_owned(),
            sid: session_id.to_owned(),
            iat: now,
            exp: now + self.ttl_secs as i64,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| anyhow::anyhow!("signing failed: {e}"))?;
        Ok((token, self.ttl_secs))
    }

    fn verify(&self, token: &str) -> Option<Claims> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .ok()
            .map(|d| d.claims)
    }
}

/// The signed-in person making a request, with a live session. The access token comes from
/// the `Authorization: Bearer` header only: a token in a URL ends up in logs, browser
/// histories and `Referer` headers.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: String,
    pub session_id: String,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or_else(|| ApiError::unauthorized("missing bearer token"))?;
        authenticate(state, &token).await.map(|(caller, _)| caller)
    }
}

/// The caller of the realtime socket (`GET /v1/events`), the one route that also takes
/// `?access_token=`: a browser's WebSocket cannot send headers. Carries when the token expires,
/// for the socket to close then.
#[derive(Debug, Clone)]
pub struct SocketCaller {
    pub caller: Caller,
    /// Unix seconds.
    pub expires_at: i64,
}

impl FromRequestParts<AppState> for SocketCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)
            .or_else(|| query_token(parts))
            .ok_or_else(|| ApiError::unauthorized("missing bearer token"))?;
        authenticate(state, &token)
            .await
            .map(|(caller, expires_at)| SocketCaller { caller, expires_at })
    }
}

/// Checks the token's signature and expiry, then that its session is still live (one primary
/// key look-up: a session ended anywhere stops its access tokens at once).
async fn authenticate(state: &AppState, token: &str) -> Result<(Caller, i64), ApiError> {
    let claims = state
        .keys()
        .verify(token)
        .ok_or_else(|| ApiError::unauthorized("access token is invalid or expired"))?;
    let live = sqlx::query("SELECT revoked_at FROM sessions WHERE id = $1 AND user_id = $2")
        .bind(&claims.sid)
        .bind(&claims.sub)
        .fetch_optional(state.db().pool())
        .await?;
    match live {
        Some(row) if row.try_get::<Option<i64>, _>(0)?.is_none() => Ok((
            Caller {
                user_id: claims.sub,
                session_id: claims.sid,
            },
            claims.exp,
        )),
        _ => Err(ApiError::unauthorized("session has ended; sign in again")),
    }
}

/// `Authorization: Bearer ...`.
fn bearer(parts: &Parts) -> Option<String> {
    let value = parts.headers.get(axum::http::header::AUTHORIZATION)?;
    let value = value.to_str().ok()?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))?;
    Some(token.trim().to_owned())
}

/// `?access_token=...` (JWTs are URL-safe: nothing to decode).
fn query_token(parts: &Parts) -> Option<String> {
    parts
        .uri
        .query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("access_token="))
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}
