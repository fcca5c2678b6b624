//! Exactly-once mutations. A mutating request runs in one write transaction that also records
//! its response under the caller's `Idempotency-Key`; a repeat returns that response and
//! changes nothing, and a reused key with a different request is a conflict.

use axum::{
    extract::FromRequestParts,
    http::{HeaderValue, StatusCode, request::Parts},
    response::{IntoResponse, Response},
};
use lianxiao_protocol::IDEMPOTENCY_KEY_HEADER;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::{
    app::AppState,
    auth::Caller,
    db::{Tx, feed, now_ms},
    error::{ApiError, ApiResult, is_unique_violation},
};

/// The optional `Idempotency-Key` header: 1 to 200 visible ASCII characters.
#[derive(Debug, Clone)]
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(IDEMPOTENCY_KEY_HEADER) else {
            return Ok(IdempotencyKey(None));
        };
        let key = value
            .to_str()
            .ok()
            .filter(|k| !k.is_empty() && k.len() <= 200 && k.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or_else(|| {
                ApiError::validation(
                    IDEMPOTENCY_KEY_HEADER,
                    "must be 1 to 200 visible ASCII characters",
                )
            })?;
        Ok(IdempotencyKey(Some(key.to_owned())))
    }
}

/// A mutation in progress, or the stored answer to a repeat.
pub enum Begin {
    Replay(Response),
    Run(Mutation),
}

pub struct Mutation {
    tx: Tx,
    state: AppState,
    user_id: String,
    key: Option<(String, String)>,
}

/// Starts a mutation for `caller`. `fingerprint` identifies the request (route and body).
pub async fn begin(
    state: &AppState,
    caller: &Caller,
    key: IdempotencyKey,
    fingerprint: &str,
) -> ApiResult<Begin> {
    let key = key
        .0
        .map(|k| (k, hex::encode(Sha256::digest(fingerprint.as_bytes()))));
    if let Some((k, hash)) = &key
        && let Some(replay) = stored(state, &caller.user_id, k, hash).await?
    {
        return Ok(Begin::Replay(replay));
    }
    Ok(Begin::Run(Mutation {
        tx: state.db().begin_write().await?,
        state: state.clone(),
        user_id: caller.user_id.clone(),
        key,
    }))
}

/// A fingerprint from the route and the parsed body.
pub fn fingerprint<T: Serialize>(route: &str, body: &T) -> String {
    format!(
        "{route}\n{}",
        serde_json::to_string(body).unwrap_or_default()
    )
}

async fn stored(
    state: &AppState,
    user_id: &str,
    key: &str,
    hash: &str,
) -> ApiResult<Option<Response>> {
    let row = sqlx::query(
        "SELECT request_hash, status, response FROM idempotency_keys WHERE user_id = $1 AND idem_key = $2",
    )
    .bind(user_id)
    .bind(key)
    .fetch_optional(state.db().pool())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let stored_hash: String = row.try_get(0)?;
    if stored_hash != hash {
        return Err(ApiError::conflict(
            "this Idempotency-Key was already used for a different request",
        ));
    }
    let status: i64 = row.try_get(1)?;
    let body: String = row.try_get(2)?;
    let status = StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK);
    let mut response = (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response();
    response
        .headers_mut()
        .insert("Idempotent-Replayed", HeaderValue::from_static("true"));
    Ok(Some(response))
}

impl Mutation {
    pub fn tx(&mut self) -> &mut Tx {
        &mut self.tx
    }

    /// Records the response under the key, commits, and tells connected devices about `seq`.
    pub async fn finish<T: Serialize>(
        mut self,
        status: StatusCode,
        body: &T,
        seq: Option<i64>,
    ) -> ApiResult<Response> {
        let json = serde_json::to_string(body).map_err(anyhow::Error::from)?;
        if let Some((key, hash)) = &self.key {
            let inserted = sqlx::query(
                "INSERT INTO idempotency_keys (user_id, idem_key, request_hash, status, response, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&self.user_id)
            .bind(key)
            .bind(hash)
            .bind(status.as_u16() as i64)
            .bind(&json)
            .bind(now_ms())
            .execute(&mut *self.tx)
            .await;
            if let Err(e) = inserted {
                if is_unique_violation(&e) {
                    // A concurrent request with the same key won: undo ours, answer with theirs.
                    self.tx.rollback().await?;
                    return stored(&self.state, &self.user_id, key, hash)
                        .await?
                        .ok_or_else(ApiError::internal);
                }
                return Err(e.into());
            }
        }
        let backend = self.state.db().backend();
        if let Some(seq) = seq {
            feed::announce(&mut self.tx, backend, seq).await?;
        }
        self.tx.commit().await?;
        if let Some(seq) = seq {
            self.state.hub().committed(backend, seq);
        }
        Ok((
            status,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            json,
        )
            .into_response())
    }
}
