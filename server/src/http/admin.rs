//! `/v1/admin/roster`: bulk import of schools, classes and people from CSV; and signing a
//! person out everywhere.

use axum::{
    Json,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
};
use lianxiao_protocol::{ErrorBody, MAX_ROSTER_BODY_BYTES, Role, RosterReport};

use crate::{
    app::AppState,
    auth::{self, Caller},
    error::{ApiError, ApiResult},
    org, roster,
};

/// Import a roster CSV (county admins). Every row is validated first; if any is bad, nothing is
/// imported and every bad row is reported with its line number. Re-importing changes nothing.
#[utoipa::path(post, path = "/v1/admin/roster", tag = "admin", security(("bearer" = [])),
    request_body(content = String, content_type = "text/csv",
        description = "UTF-8 CSV with header school,school_kind,link_group,class,grade,role,login,name,password,subject,child_login"),
    responses(
        (status = 200, description = "Imported", body = RosterReport),
        (status = 400, description = "Not text/csv", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not a county admin", body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 422, description = "Invalid rows, each with its line", body = ErrorBody),
    ))]
pub async fn import_roster(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<RosterReport>> {
    let mut conn = state.db().pool().acquire().await?;
    if !org::has_role(&mut conn, &caller.user_id, Role::CountyAdmin, None).await? {
        return Err(ApiError::forbidden(
            "only a county admin may import the roster",
        ));
    }
    drop(conn);
    let is_csv = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/csv"));
    if !is_csv {
        return Err(ApiError::bad_request("expected Content-Type: text/csv"));
    }
    if body.len() > MAX_ROSTER_BODY_BYTES {
        return Err(ApiError::too_large(MAX_ROSTER_BODY_BYTES));
    }
    let report = roster::import(&state, &body).await?;
    tracing::info!(rows = report.rows, "roster imported");
    Ok(Json(report))
}

/// Sign a person out everywhere: every session of theirs ends, their access and refresh tokens
/// stop working at once and their realtime connections close. For a lost or stolen phone.
/// County admins may sign out anyone, school admins the people of their school (a parent
/// through a child there).
#[utoipa::path(delete, path = "/v1/admin/users/{id}/sessions", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "The person's user id")),
    responses(
        (status = 204, description = "Every session of the person ended (also when there was none)"),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not a county admin nor an admin of the person's school (also for an id that names no one)", body = ErrorBody),
        (status = 404, description = "No such person (county admins only)", body = ErrorBody),
    ))]
pub async fn sign_out_everywhere(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let ended = auth::sign_out_everywhere(state.db(), &caller.user_id, &id).await?;
    tracing::info!(admin = %caller.user_id, user = %id, sessions = ended, "signed out everywhere");
    Ok(StatusCode::NO_CONTENT)
}
