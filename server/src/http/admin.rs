//! `/v1/admin/roster`: bulk import of schools, classes and people from CSV.

use axum::{Json, body::Bytes, extract::State, http::HeaderMap};
use lianxiao_protocol::{ErrorBody, MAX_ROSTER_BODY_BYTES, Role, RosterReport};

use crate::{
    app::AppState,
    auth::Caller,
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
