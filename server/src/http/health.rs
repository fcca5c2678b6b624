//! `/v1/health` and the OpenAPI document.

use axum::{Json, extract::State};
use lianxiao_protocol::Health;

use crate::{app::AppState, clock::now_ms, error::ApiResult};

/// Liveness and readiness: answers 200 once the database is reachable.
#[utoipa::path(get, path = "/v1/health", tag = "meta",
    responses((status = 200, body = Health), (status = 500, body = lianxiao_protocol::ErrorBody)))]
pub async fn health(State(state): State<AppState>) -> ApiResult<Json<Health>> {
    sqlx::query("SELECT 1").execute(state.db().pool()).await?;
    Ok(Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        database: state.db().backend().name().into(),
        server_time: now_ms(),
    }))
}
