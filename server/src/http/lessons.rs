//! `/v1/lessons`: the timetable. Thin routes over the lessons service; every change takes an
//! Idempotency-Key.

use axum::{
    Json,
    extract::{Path, Query, State},
    http::StatusCode,
    response::Response,
};
use lianxiao_protocol::{
    CancelLesson, ErrorBody, Lesson, MoveLesson, ScheduleLesson, ScheduledLessons,
};
use serde::Deserialize;

use crate::{
    app::AppState,
    auth::Caller,
    error::{ApiError, ApiResult},
    http::extract::ApiJson,
    idempotency::{self, Begin, IdempotencyKey},
    lessons,
};

/// Schedule a lesson (or a weekly series) for a lead class and receiving classes of its link
/// group. Lead teachers schedule their own; school admins schedule for their teachers.
#[utoipa::path(post, path = "/v1/lessons", tag = "lessons", request_body = ScheduleLesson, security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header)),
    responses(
        (status = 201, body = ScheduledLessons),
        (status = 403, body = ErrorBody),
        (status = 409, description = "A class or teacher is already booked; `clash` names the lesson", body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn schedule(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    ApiJson(req): ApiJson<ScheduleLesson>,
) -> ApiResult<Response> {
    let fp = idempotency::fingerprint("POST /v1/lessons", &req);
    let mut m = match idempotency::begin(&state, &caller, key, &fp).await? {
        Begin::Replay(r) => return Ok(r),
        Begin::Run(m) => m,
    };
    let (scheduled, seq) = lessons::schedule(m.tx(), &caller.user_id, req).await?;
    tracing::info!(series = %scheduled.series_id, lessons = scheduled.lessons.len(), "lessons scheduled");
    m.finish(StatusCode::CREATED, &scheduled, Some(seq)).await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListParams {
    /// Window start (Unix ms); default: now.
    from: Option<i64>,
    /// Window end (Unix ms); default: 14 days after `from`. At most 200 days after it.
    to: Option<i64>,
}

/// The caller's timetable: their classes' lessons, their children's, the ones they teach.
#[utoipa::path(get, path = "/v1/lessons", tag = "lessons", params(ListParams), security(("bearer" = [])),
    responses((status = 200, body = Vec<Lesson>), (status = 422, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<ListParams>,
) -> ApiResult<Json<Vec<Lesson>>> {
    let from = p.from.unwrap_or_else(crate::clock::now_ms);
    let to = match p.to {
        Some(to) => to,
        None => from
            .checked_add(14 * 24 * 3600 * 1000)
            .ok_or_else(|| ApiError::validation("from", "from is out of range"))?,
    };
    let mut conn = state.db().pool().acquire().await?;
    lessons::list(&mut conn, &caller.user_id, from, to)
        .await
        .map(Json)
}

#[utoipa::path(get, path = "/v1/lessons/{id}", tag = "lessons", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = Lesson), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Lesson>> {
    let mut conn = state.db().pool().acquire().await?;
    lessons::load_lesson(&mut conn, &caller.user_id, &id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("lesson"))
}

/// Move a lesson that has not started; everyone in it sees the change.
#[utoipa::path(post, path = "/v1/lessons/{id}/move", tag = "lessons", request_body = MoveLesson,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)), security(("bearer" = [])),
    responses((status = 200, body = Lesson), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn move_lesson(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<MoveLesson>,
) -> ApiResult<Response> {
    let fp = idempotency::fingerprint(&format!("POST /v1/lessons/{id}/move"), &req);
    let mut m = match idempotency::begin(&state, &caller, key, &fp).await? {
        Begin::Replay(r) => return Ok(r),
        Begin::Run(m) => m,
    };
    let (lesson, seq) = lessons::move_lesson(m.tx(), &caller.user_id, &id, req).await?;
    m.finish(StatusCode::OK, &lesson, Some(seq)).await
}

/// Cancel a lesson, optionally with the rest of its series; answers every lesson cancelled.
#[utoipa::path(post, path = "/v1/lessons/{id}/cancel", tag = "lessons", request_body = CancelLesson,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)), security(("bearer" = [])),
    responses((status = 200, body = Vec<Lesson>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<CancelLesson>,
) -> ApiResult<Response> {
    let fp = idempotency::fingerprint(&format!("POST /v1/lessons/{id}/cancel"), &req);
    let mut m = match idempotency::begin(&state, &caller, key, &fp).await? {
        Begin::Replay(r) => return Ok(r),
        Begin::Run(m) => m,
    };
    let (lessons, seq) = lessons::cancel(m.tx(), &caller.user_id, &id, req).await?;
    tracing::info!(lesson = %id, cancelled = lessons.len(), "lessons cancelled");
    m.finish(StatusCode::OK, &lessons, Some(seq)).await
}
