//! `/v1/devices`: phones registered for push, per signed-in account; and a notice's pushes for
//! its author. Thin routes over `push::devices` and `push::queue`.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use lianxiao_protocol::{Device, ErrorBody, NoticePushes, PushReceived, RegisterDevice};

use crate::{app::AppState, auth::Caller, error::ApiResult, http::extract::ApiJson, push};

/// Register this phone for push notifications to the signed-in account, or update it (a new
/// token, app version or locale keeps the device id). Several accounts on one phone each
/// register the same device id.
#[utoipa::path(put, path = "/v1/devices/{device_id}", tag = "devices", request_body = RegisterDevice,
    params(("device_id" = String, Path, description = "The app's own id for this install: 8 to 128 of A-Z a-z 0-9 . _ -")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Registered", body = Device),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 409, description = "The device is registered with another token by other accounts: an account not linked to it must bring the phone's current token; nothing changed", body = ErrorBody),
        (status = 422, description = "A field is invalid (named in `field`)", body = ErrorBody),
    ))]
pub async fn register(
    State(state): State<AppState>,
    caller: Caller,
    Path(device_id): Path<String>,
    ApiJson(req): ApiJson<RegisterDevice>,
) -> ApiResult<Json<Device>> {
    let mut tx = state.db().begin_write().await?;
    let device = push::devices::register(
        &mut tx,
        &caller.user_id,
        &caller.session_id,
        &device_id,
        &req,
    )
    .await?;
    tx.commit().await?;
    tracing::info!(device = %device.id, provider = device.provider.as_str(), "device registered");
    Ok(Json(device))
}

/// Stop pushes from reaching this phone for the signed-in account (sign-out). Other accounts
/// on the phone keep theirs. Repeating it changes nothing.
#[utoipa::path(delete, path = "/v1/devices/{device_id}", tag = "devices",
    params(("device_id" = String, Path)), security(("bearer" = [])),
    responses(
        (status = 204, description = "Unlinked"),
        (status = 401, body = ErrorBody),
    ))]
pub async fn unregister(
    State(state): State<AppState>,
    caller: Caller,
    Path(device_id): Path<String>,
) -> ApiResult<StatusCode> {
    let mut tx = state.db().begin_write().await?;
    push::devices::unlink(&mut tx, &caller.user_id, &device_id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The app on this phone got a push for the signed-in account (or the user tapped it): kept
/// on that push so the author's receipt view shows it on the phone. Repeating it changes
/// nothing.
#[utoipa::path(post, path = "/v1/devices/{device_id}/received", tag = "devices",
    request_body = PushReceived, params(("device_id" = String, Path)), security(("bearer" = [])),
    responses(
        (status = 204, description = "Recorded"),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No push for this event reached this device for the caller", body = ErrorBody),
    ))]
pub async fn received(
    State(state): State<AppState>,
    caller: Caller,
    Path(device_id): Path<String>,
    ApiJson(req): ApiJson<PushReceived>,
) -> ApiResult<StatusCode> {
    let mut tx = state.db().begin_write().await?;
    push::devices::received(&mut tx, &caller.user_id, &device_id, &req).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// For the notice's author: whether a push reached each recipient's phones (sent, received or
/// opened on the phone, pending, failed, device removed, skipped), to tell "not delivered to any device" from "delivered,
/// not read".
#[utoipa::path(get, path = "/v1/notices/{id}/pushes", tag = "notices", params(("id" = String, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = NoticePushes),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such notice, or not the caller's", body = ErrorBody),
    ))]
pub async fn notice_pushes(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<NoticePushes>> {
    let mut conn = state.db().pool().acquire().await?;
    let mut report = push::queue::notice_pushes(&mut conn, &caller.user_id, &id).await?;
    push::devices::overlay_on_phone(&mut conn, &mut report).await?;
    Ok(Json(report))
}
