//! `/v1/auth/*` and `/v1/me`.

use std::net::SocketAddr;

use axum::{
    Json,
    extract::{ConnectInfo, State},
    http::StatusCode,
};
use lianxiao_protocol::{
    ErrorBody, LoginRequest, LogoutRequest, RefreshRequest, TokenResponse, User,
};

use crate::{
    app::AppState,
    auth::{self, Caller},
    error::{ApiError, ApiResult},
    http::extract::ApiJson,
    org,
};

/// Sign in with login and password.
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Wrong login or password", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Too many failed attempts for this login or address (`Retry-After`)", body = ErrorBody),
        (status = 503, description = "Too many sign-ins waiting for a password check (`Retry-After`)", body = ErrorBody),
    ))]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Json<TokenResponse>> {
    let login = req.login.trim();
    let signed_in = auth::login(
        state.db(),
        state.keys(),
        state.limiter(),
        login,
        &req.password,
        addr.ip(),
    )
    .await?;
    match signed_in {
        Some(tokens) => {
            tracing::info!(user = %tokens.user.id, "signed in");
            Ok(Json(tokens))
        }
        None => Err(ApiError::unauthorized("wrong login or password")),
    }
}

/// Exchange a refresh token for new tokens. The old refresh token stops working; using it
/// again revokes the session.
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens", body = TokenResponse),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Refresh token invalid, reused or session ended", body = ErrorBody),
    ))]
pub async fn refresh(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> ApiResult<Json<TokenResponse>> {
    auth::refresh(state.db(), state.keys(), &req.refresh_token)
        .await
        .map(Json)
}

/// End the session a refresh token belongs to.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth", request_body = LogoutRequest,
    responses(
        (status = 204, description = "Signed out"),
        (status = 400, description = "Malformed body", body = ErrorBody),
    ))]
pub async fn logout(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<LogoutRequest>,
) -> ApiResult<StatusCode> {
    auth::logout(state.db(), &req.refresh_token).await?;
    // The phone that session registered gets no more pushes for the account.
    crate::push::devices::unlink_signed_out(state.db(), &req.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in person with their memberships.
#[utoipa::path(get, path = "/v1/me", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = User),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
pub async fn me(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<User>> {
    org::load_user(state.db().pool(), &caller.user_id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::unauthorized("account no longer exists"))
}
