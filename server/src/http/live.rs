//! Joining live lessons, LiveKit's webhook, stage control.

use axum::{
    Json,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
};
use lianxiao_protocol::{Attendance, AttendanceInterval, ErrorBody, JoinTicket, StageChange};

use crate::{
    app::AppState,
    auth::Caller,
    error::{ApiError, ApiResult},
    http::extract::ApiJson,
    live,
};

/// Join a lesson: the caller's role in it and, for an interactive lesson, a LiveKit URL and
/// access token with the grants of that role, valid until the lesson ends. Refused outside
/// the lesson's window (it opens a configured time before the start) and to anyone not in it.
#[utoipa::path(post, path = "/v1/lessons/{id}/join", tag = "lessons", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = JoinTicket), (status = 404, body = ErrorBody),
        (status = 409, description = "lesson_not_live: too early, over or cancelled", body = ErrorBody),
        (status = 503, description = "Interactive lessons are not configured", body = ErrorBody)))]
pub async fn join(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<JoinTicket>> {
    let mut conn = state.db().pool().acquire().await?;
    live::join(&mut conn, state.config(), &caller.user_id, &id)
        .await
        .map(Json)
}

/// LiveKit's webhook (participant joined/left, room started/finished, egress ended). The
/// `Authorization` header must be LiveKit's JWT over this exact body. Where interactive
/// lessons go to HLS too, room started/finished start/stop the room's egress.
#[utoipa::path(post, path = "/v1/livekit/webhook", tag = "lessons",
    request_body(content = String, content_type = "application/webhook+json"),
    responses((status = 200, description = "Handled (or already handled)"),
        (status = 401, description = "Unsigned, or signed over another body", body = ErrorBody),
        (status = 422, description = "egress_ended names a local file outside the egress directory (nothing recorded)", body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: String,
) -> ApiResult<StatusCode> {
    let lk = state
        .config()
        .livekit
        .as_ref()
        .ok_or_else(|| ApiError::unavailable("LiveKit is not set up on this server"))?;
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::unauthorized("the webhook is not signed"))?;
    let mut tx = state.db().begin_write().await?;
    let files = live::egress::EgressFiles::of(&state);
    let handled = live::handle_webhook(&mut tx, lk, &body, auth, &files).await?;
    if let Some(seq) = handled.seq {
        // On PostgreSQL the other processes (and this one's realtime) learn of it by NOTIFY.
        crate::db::feed::announce(&mut tx, state.db().backend(), seq).await?;
    }
    tx.commit().await?;
    if let Some(seq) = handled.seq {
        state.hub().committed(state.db().backend(), seq);
    }
    // The room's egress to HLS starts or stops after LiveKit has its answer.
    if let Some(change) = handled.room {
        tokio::spawn(live::egress::follow(state.clone(), change));
    }
    Ok(StatusCode::OK)
}

/// Bring a student or a receiving class's assistant on stage, or take them off (the lead
/// teacher or an admin). The server changes their permissions in LiveKit, takes them out of
/// the hand queue and tells the room.
#[utoipa::path(post, path = "/v1/lessons/{id}/stage", tag = "lessons", request_body = StageChange,
    params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 204, description = "Done"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "lesson_not_live: cancelled, over or not open yet", body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn stage(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(change): ApiJson<StageChange>,
) -> ApiResult<StatusCode> {
    let lk = state
        .config()
        .livekit
        .as_ref()
        .ok_or_else(|| ApiError::unavailable("LiveKit is not set up on this server"))?;
    let mut conn = state.db().pool().acquire().await?;
    live::set_stage(
        &mut conn,
        lk,
        &caller.user_id,
        &id,
        &change,
        state.config().join_early_secs,
    )
    .await?;
    drop(conn);
    // LiveKit took it: the room's queue and stage follow, and every phone is told.
    let mut tx = state.db().begin_write().await?;
    let notices = crate::classroom::stage_changed(&mut tx, &id, &change).await?;
    tx.commit().await?;
    crate::classroom::publish(&state, notices).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Who was in the lesson and for how long (its lead, scheduler and admins; an assistant sees
/// their own class).
#[utoipa::path(get, path = "/v1/lessons/{id}/attendance", tag = "lessons", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = Vec<Attendance>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn attendance(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<Attendance>>> {
    let mut conn = state.db().pool().acquire().await?;
    live::attendance(&mut conn, &caller.user_id, &id)
        .await
        .map(Json)
}

/// The app's attendance heartbeat (every half minute while in the lesson, possibly sent late
/// from the phone's queue): extends the caller's `app` interval, or starts one after a gap.
#[utoipa::path(post, path = "/v1/lessons/{id}/heartbeat", tag = "lessons", request_body = live::heartbeat::Heartbeat,
    params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = AttendanceInterval), (status = 404, body = ErrorBody),
        (status = 409, description = "Cancelled, or dated outside the lesson", body = ErrorBody)))]
pub async fn heartbeat(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(beat): ApiJson<live::heartbeat::Heartbeat>,
) -> ApiResult<Json<AttendanceInterval>> {
    let mut tx = state.db().begin_write().await?;
    let interval = live::heartbeat::record(&mut tx, &caller.user_id, &id, &beat).await?;
    tx.commit().await?;
    Ok(Json(interval))
}
