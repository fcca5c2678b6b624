//! `/v1/sync` and the realtime socket `/v1/events`.

use axum::{
    Json,
    extract::{State, WebSocketUpgrade},
    response::Response,
};
use lianxiao_protocol::{ErrorBody, SYNC_PAGE_DEFAULT, SYNC_PAGE_MAX, SyncPage};
use serde::Deserialize;

use crate::{
    app::AppState,
    auth::{Caller, SocketCaller},
    error::{ApiError, ApiResult},
    http::extract::ApiQuery,
    realtime, sync,
};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SyncParams {
    /// The cursor from the previous page; omit for everything.
    since: Option<String>,
    /// Items per page (default 500, at most 2000; more is refused, not cut down).
    #[param(minimum = 1, maximum = 2000)]
    limit: Option<u32>,
}

/// Everything visible to the caller that changed after `since`: notices, receipt summaries of
/// their own notices, profile, classes, children, link groups, and tombstones.
#[utoipa::path(get, path = "/v1/sync", tag = "sync", params(SyncParams), security(("bearer" = [])),
    responses(
        (status = 200, body = SyncPage),
        (status = 401, body = ErrorBody),
        (status = 400, description = "The query string does not parse", body = ErrorBody),
        (status = 422, description = "Cursor is not valid, or `limit` is outside 1 to 2000", body = ErrorBody),
    ))]
pub async fn sync(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<SyncParams>,
) -> ApiResult<Json<SyncPage>> {
    let limit = p.limit.unwrap_or(SYNC_PAGE_DEFAULT);
    // The document promises this range; silently clamping let `limit=2147483648` through.
    if !(1..=SYNC_PAGE_MAX).contains(&limit) {
        return Err(ApiError::validation(
            "limit",
            format!("limit must be 1 to {SYNC_PAGE_MAX}"),
        ));
    }
    state.contact(&caller.user_id);
    let mut conn = state.db().pool().acquire().await?;
    sync::page(&mut conn, &caller.user_id, p.since.as_deref(), limit)
        .await
        .map(Json)
}

/// Upgrades to a WebSocket that carries `ServerEvent`s (JSON text frames) for the caller.
/// Authenticate with the `Authorization` header or `?access_token=` (this route only: a
/// browser's WebSocket cannot send headers). The server closes the socket with code 4001 when
/// the access token expires (connect again with a fresh one), 4002 when the session ends (sign
/// in again) and 4003 after 90 s without a frame or pong from the device.
#[utoipa::path(get, path = "/v1/events", tag = "sync", security(("bearer" = [])),
    params(("access_token" = Option<String>, Query, description = "The access token, for clients that cannot send the Authorization header")),
    responses(
        (status = 101, description = "Switching to WebSocket; frames are ServerEvent JSON",
            body = lianxiao_protocol::ServerEvent),
        (status = 401, body = ErrorBody),
        (status = 429, description = "The account has its limit of realtime connections open on this server", body = ErrorBody),
    ))]
pub async fn events(
    State(state): State<AppState>,
    caller: SocketCaller,
    ws: WebSocketUpgrade,
) -> ApiResult<Response> {
    state.contact(&caller.caller.user_id);
    realtime::upgrade(&state, caller, ws)
}
