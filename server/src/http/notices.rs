//! `/v1/notices`: thin routes over the notices service.

use axum::{
    Json,
    extract::{Path, Query, State},
    http::StatusCode,
    response::Response,
};
use lianxiao_protocol::{
    ErrorBody, Notice, NoticeList, PostNotice, ReceiptAck, ReceiptReport, RemindResult,
};
use serde::Deserialize;

use crate::{
    app::AppState,
    auth::Caller,
    clock::now_ms,
    error::ApiResult,
    http::extract::ApiJson,
    idempotency::{self, Begin, IdempotencyKey},
    notices,
};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListParams {
    /// Only notices that concern this child (parents).
    child_id: Option<String>,
    /// Unread notices first.
    #[serde(default)]
    unread_first: bool,
    /// At most this many (default 100, at most 500).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// Notices the caller received or wrote, newest first.
#[utoipa::path(get, path = "/v1/notices", tag = "notices", params(ListParams), security(("bearer" = [])),
    responses(
        (status = 200, body = NoticeList),
        (status = 401, body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<ListParams>,
) -> ApiResult<Json<NoticeList>> {
    let query = notices::NoticeQuery {
        child_id: p.child_id,
        unread_first: p.unread_first,
        limit: p.limit.unwrap_or(100),
    };
    let mut conn = state.db().pool().acquire().await?;
    let notices = notices::list(&mut conn, &caller.user_id, &query).await?;
    Ok(Json(NoticeList {
        notices,
        server_time: now_ms(),
    }))
}

/// Post a notice. Teachers post to classes they teach, school admins to their school, county
/// admins to a link group or the county. Parents always receive it; students when
/// `include_students` is set.
#[utoipa::path(post, path = "/v1/notices", tag = "notices", request_body = PostNotice, security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key chosen by the client")),
    responses(
        (status = 201, description = "Posted", body = Notice),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "The caller may not reach this audience, or marked it urgent without being an admin (`urgent_not_allowed`)", body = ErrorBody),
        (status = 409, description = "A class had today's notices (`daily_notice_cap`, `field` = `class:<id>`), or the Idempotency-Key was reused with a different body", body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 422, description = "A field is invalid", body = ErrorBody),
    ))]
pub async fn post(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    ApiJson(req): ApiJson<PostNotice>,
) -> ApiResult<Response> {
    let fp = idempotency::fingerprint("POST /v1/notices", &req);
    let mut m = match idempotency::begin(&state, &caller, key, &fp).await? {
        Begin::Replay(r) => return Ok(r),
        Begin::Run(m) => m,
    };
    let backend = state.db().backend();
    let now = state.clock().now_ms();
    let (notice, seq) = notices::post(m.tx(), backend, &caller.user_id, req, now).await?;
    tracing::info!(notice = %notice.id, "notice posted");
    let response = m.finish(StatusCode::CREATED, &notice, Some(seq)).await?;
    state.push().wake();
    Ok(response)
}

/// One notice the caller received or wrote.
#[utoipa::path(get, path = "/v1/notices/{id}", tag = "notices", params(("id" = String, Path)), security(("bearer" = [])),
    responses(
        (status = 200, body = Notice),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such notice, or not the caller's", body = ErrorBody),
    ))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Notice>> {
    let mut conn = state.db().pool().acquire().await?;
    notices::get(&mut conn, &caller.user_id, &id)
        .await
        .map(Json)
}

/// Retract a notice (author only): it disappears from recipients' phones.
#[utoipa::path(delete, path = "/v1/notices/{id}", tag = "notices", params(("id" = String, Path),
        ("Idempotency-Key" = Option<String>, Header)), security(("bearer" = [])),
    responses(
        (status = 204, description = "Retracted"),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not the author", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn retract(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let fp = format!("DELETE /v1/notices/{id}");
    let mut m = match idempotency::begin(&state, &caller, key, &fp).await? {
        Begin::Replay(r) => return Ok(r),
        Begin::Run(m) => m,
    };
    let seq = notices::retract(m.tx(), &caller.user_id, &id).await?;
    let mut response = m.finish(StatusCode::NO_CONTENT, &(), seq).await?;
    *response.body_mut() = axum::body::Body::empty();
    Ok(response)
}

async fn mark(
    state: AppState,
    caller: Caller,
    key: IdempotencyKey,
    id: String,
    ack: bool,
) -> ApiResult<Response> {
    let fp = format!("POST /v1/notices/{id}/{}", if ack { "ack" } else { "read" });
    let mut m = match idempotency::begin(&state, &caller, key, &fp).await? {
        Begin::Replay(r) => return Ok(r),
        Begin::Run(m) => m,
    };
    let (receipt, seq) = notices::mark(m.tx(), &caller.user_id, &id, ack).await?;
    m.finish(StatusCode::OK, &receipt, seq).await
}

/// Mark a received notice read. Repeating it keeps the first time.
#[utoipa::path(post, path = "/v1/notices/{id}/read", tag = "notices", params(("id" = String, Path),
        ("Idempotency-Key" = Option<String>, Header)), security(("bearer" = [])),
    responses(
        (status = 200, body = ReceiptAck),
        (status = 401, body = ErrorBody),
        (status = 403, description = "The caller wrote it but did not receive it", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
    ))]
pub async fn read(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    mark(state, caller, key, id, false).await
}

/// Acknowledge (回执) a received notice that asks for it; implies read.
#[utoipa::path(post, path = "/v1/notices/{id}/ack", tag = "notices", params(("id" = String, Path),
        ("Idempotency-Key" = Option<String>, Header)), security(("bearer" = [])),
    responses(
        (status = 200, body = ReceiptAck),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
        (status = 422, description = "The notice does not ask for an acknowledgment", body = ErrorBody),
    ))]
pub async fn ack(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    mark(state, caller, key, id, true).await
}

/// Counts and, per class, who has not read or acknowledged (author only).
#[utoipa::path(get, path = "/v1/notices/{id}/receipts", tag = "notices", params(("id" = String, Path)), security(("bearer" = [])),
    responses(
        (status = 200, body = ReceiptReport),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not the author", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn receipts(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ReceiptReport>> {
    let mut conn = state.db().pool().acquire().await?;
    notices::receipt_report(&mut conn, &caller.user_id, &id)
        .await
        .map(Json)
}

/// Remind everyone who has not acted yet (author only; at most once an hour per notice).
#[utoipa::path(post, path = "/v1/notices/{id}/remind", tag = "notices", params(("id" = String, Path),
        ("Idempotency-Key" = Option<String>, Header)), security(("bearer" = [])),
    responses(
        (status = 200, body = RemindResult),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
        (status = 429, description = "Reminded less than an hour ago", body = ErrorBody),
    ))]
pub async fn remind(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let fp = format!("POST /v1/notices/{id}/remind");
    let mut m = match idempotency::begin(&state, &caller, key, &fp).await? {
        Begin::Replay(r) => return Ok(r),
        Begin::Run(m) => m,
    };
    let (result, seq) = notices::remind(m.tx(), &caller.user_id, &id).await?;
    m.finish(StatusCode::OK, &result, seq).await
}
