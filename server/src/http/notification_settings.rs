//! `/v1/notification-settings`: what the signed-in account wants pushed, per child, and its own
//! quiet hours; and `/v1/classes/{id}/unreachable-parents`, the parents nothing reaches. Thin
//! routes over `push::prefs` and `push::unreachable`.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
    response::Response,
};
use lianxiao_protocol::{
    ErrorBody, NotificationSettings, UnreachableParent, UpdateNotificationSettings,
};

use crate::{
    app::AppState,
    auth::Caller,
    error::ApiResult,
    http::extract::ApiJson,
    idempotency::{self, Begin, IdempotencyKey},
    push,
};

/// The caller's notification settings: for parents one entry per child they may see, for
/// students and teachers one for themselves; defaults (every kind on) filled in.
#[utoipa::path(get, path = "/v1/notification-settings", tag = "devices", security(("bearer" = [])),
    responses(
        (status = 200, body = NotificationSettings),
        (status = 401, body = ErrorBody),
    ))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<NotificationSettings>> {
    let mut conn = state.db().pool().acquire().await?;
    Ok(Json(push::prefs::load(&mut conn, &caller.user_id).await?))
}

/// Replace the caller's notification settings; children left out go back to the defaults.
/// Every phone of the account gets the new settings through sync.
#[utoipa::path(put, path = "/v1/notification-settings", tag = "devices",
    request_body = UpdateNotificationSettings, security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header)),
    responses(
        (status = 200, body = NotificationSettings),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 409, description = "Idempotency-Key reused for another request", body = ErrorBody),
        (status = 422, description = "A child the caller may not see, or named twice (`children`); quiet hours outside a day (`quiet_hours`)", body = ErrorBody),
    ))]
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    ApiJson(req): ApiJson<UpdateNotificationSettings>,
) -> ApiResult<Response> {
    let fp = idempotency::fingerprint("PUT /v1/notification-settings", &req);
    let mut m = match idempotency::begin(&state, &caller, key, &fp).await? {
        Begin::Replay(r) => return Ok(r),
        Begin::Run(m) => m,
    };
    let (settings, seq) = push::prefs::update(m.tx(), &caller.user_id, &req).await?;
    m.finish(StatusCode::OK, &settings, Some(seq)).await
}

/// Parents of the class whom nothing has reached: no push accepted by a provider for any of
/// their phones and no sync or realtime connection for `LIANXIAO_UNREACHABLE_AFTER_HOURS`
/// (default 72), with the phone number to call. For the class's teachers and assistants, its
/// school's admin and county admins.
#[utoipa::path(get, path = "/v1/classes/{id}/unreachable-parents", tag = "notices",
    params(("id" = String, Path)), security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<UnreachableParent>),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not a teacher of the class, its school's admin or a county admin", body = ErrorBody),
        (status = 404, description = "No such class", body = ErrorBody),
    ))]
pub async fn unreachable(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<UnreachableParent>>> {
    let mut conn = state.db().pool().acquire().await?;
    let (now, after) = (state.clock().now_ms(), state.config().unreachable_after);
    push::unreachable::list(&mut conn, &caller.user_id, &id, now, after)
        .await
        .map(Json)
}
