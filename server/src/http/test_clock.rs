//! `PUT /v1/test/clock`: moves the server's clock, for end-to-end tests of quiet hours, caps
//! and deadlines. Registered only when the server runs with `LIANXIAO_TEST_CLOCK=1` (see
//! [`crate::clock`]), kept out of the OpenAPI document, and a county admin's only.

use axum::{Json, extract::State};
use lianxiao_protocol::Role;
use serde::{Deserialize, Serialize};

use crate::{
    app::AppState,
    auth::Caller,
    error::{ApiError, ApiResult},
    http::extract::ApiJson,
    org,
};

#[derive(Debug, Serialize, Deserialize)]
pub struct TestClock {
    /// Unix milliseconds the clock reads from now on (it keeps running from there).
    pub now: i64,
}

pub async fn set(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<TestClock>,
) -> ApiResult<Json<TestClock>> {
    let mut conn = state.db().pool().acquire().await?;
    if !org::has_role(&mut conn, &caller.user_id, Role::CountyAdmin, None).await? {
        return Err(ApiError::forbidden(
            "only a county admin may move the test clock",
        ));
    }
    if !state.clock().set(req.now) {
        return Err(ApiError::not_found("route"));
    }
    tracing::warn!(now = req.now, "TEST CLOCK moved");
    // Held pushes may be due now.
    state.push().wake();
    Ok(Json(TestClock {
        now: state.clock().now_ms(),
    }))
}

pub async fn get(State(state): State<AppState>) -> Json<TestClock> {
    Json(TestClock {
        now: state.clock().now_ms(),
    })
}
