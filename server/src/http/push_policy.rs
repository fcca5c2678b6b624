//! A school's push policy (`/v1/schools/{id}/push-policy`: its school admin or a county admin)
//! and a class's notice allowance for today (`/v1/classes/{id}/notice-allowance`: the class's
//! teachers). Thin routes over `push::policy`.

use axum::{
    Json,
    extract::{Path, State},
};
use lianxiao_protocol::{ErrorBody, NoticeAllowance, PushPolicy};

use crate::{
    app::AppState,
    auth::Caller,
    error::{ApiError, ApiResult},
    http::extract::ApiJson,
    org,
    push::policy,
};

/// Who may not manage the school hears the same whether it exists or not, so school ids
/// cannot be probed; only a county admin learns that one does not.
async fn authorise(state: &AppState, caller: &Caller, school_id: &str) -> ApiResult<()> {
    let mut conn = state.db().pool().acquire().await?;
    if !policy::may_manage(&mut conn, &caller.user_id, school_id).await? {
        return Err(ApiError::forbidden(
            "only the school's admin or a county admin manages its push policy",
        ));
    }
    if !policy::school_exists(&mut conn, school_id).await? {
        return Err(ApiError::not_found("school"));
    }
    Ok(())
}

/// The school's push policy: quiet hours, the daily cap on each class's notices, its offset
/// from UTC. Defaults (21:30–07:00, no cap, UTC+8) until the school sets its own.
#[utoipa::path(get, path = "/v1/schools/{id}/push-policy", tag = "notices",
    params(("id" = String, Path)), security(("bearer" = [])),
    responses(
        (status = 200, body = PushPolicy),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not this school's admin nor a county admin (whether or not the school exists)", body = ErrorBody),
        (status = 404, description = "No such school (county admins)", body = ErrorBody),
    ))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<PushPolicy>> {
    authorise(&state, &caller, &id).await?;
    let mut conn = state.db().pool().acquire().await?;
    Ok(Json(policy::load(&mut conn, &id).await?))
}

/// Replace the school's push policy. Pushes already held keep their time; new ones follow it.
#[utoipa::path(put, path = "/v1/schools/{id}/push-policy", tag = "notices", request_body = PushPolicy,
    params(("id" = String, Path)), security(("bearer" = [])),
    responses(
        (status = 200, body = PushPolicy),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not this school's admin nor a county admin (whether or not the school exists)", body = ErrorBody),
        (status = 404, description = "No such school (county admins)", body = ErrorBody),
        (status = 422, description = "A field is invalid (named in `field`)", body = ErrorBody),
    ))]
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<PushPolicy>,
) -> ApiResult<Json<PushPolicy>> {
    authorise(&state, &caller, &id).await?;
    policy::validate(&req)?;
    let mut tx = state.db().begin_write().await?;
    policy::store(&mut tx, &id, &req, &caller.user_id, state.clock().now_ms()).await?;
    tx.commit().await?;
    tracing::info!(school = %id, "push policy changed");
    Ok(Json(req))
}

/// How many more non-urgent notices the class may send its parents today (the school's local
/// day). Teachers ask before posting; posting past the cap answers 409 `daily_notice_cap`.
#[utoipa::path(get, path = "/v1/classes/{id}/notice-allowance", tag = "notices",
    params(("id" = String, Path)), security(("bearer" = [])),
    responses(
        (status = 200, body = NoticeAllowance),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not a teacher of this class (also when no such class exists)", body = ErrorBody),
    ))]
pub async fn allowance(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<NoticeAllowance>> {
    let mut conn = state.db().pool().acquire().await?;
    // Not a teacher of the class: the same answer whether it exists or not (ids cannot be
    // probed); every class someone teaches exists.
    if !org::teachable_classes(&mut conn, &caller.user_id)
        .await?
        .contains(&id)
    {
        return Err(ApiError::forbidden(format!("you do not teach class {id}")));
    }
    let now = state.clock().now_ms();
    Ok(Json(policy::allowance(&mut conn, &id, now).await?))
}
