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
    auth::Caller,
    error::{ApiError, ApiResult},
    http::extract::ApiQuery,
    realtime, sync,
};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
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
/// Authenticate with the `Authorization` header or `?access_token=`.
#[utoipa::path(get, path = "/v1/events", tag = "sync", security(("bearer" = [])),
    responses(
        (status = 101, description = "Switching to WebSocket; frames are ServerEvent JSON",
            body = lianxiao_protocol::ServerEvent),
        (status = 401, body = ErrorBody),
    ))]
pub async fn events(
    State(state): State<AppState>,
    caller: Caller,
    ws: WebSocketUpgrade,
) -> Response {
    state.contact(&caller.user_id);
    let hub = state.hub().clone();
    ws.on_upgrade(move |socket| realtime::serve_socket(socket, hub, caller.user_id))
}
