//! `/v1/homework`, `/v1/submissions` and `/v1/attachments`: thin routes over the homework
//! service. Every mutation takes an Idempotency-Key, so a phone that resends after a lost
//! response hands work in once.

use axum::{
    Json,
    extract::{Path, Query, Request, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use lianxiao_protocol::{
    AssignHomework, EditHomework, ErrorBody, GradeWork, Homework, HomeworkReport, RemindResult,
    ReturnWork, SignOffWork, Submission, SubmitWork,
};
use serde::Deserialize;
use tower::ServiceExt;

use crate::{
    app::AppState,
    auth::Caller,
    error::{ApiError, ApiResult},
    homework,
    http::extract::ApiJson,
    idempotency::{self, Begin, IdempotencyKey},
};

/// Give one homework to classes the caller teaches, in their school or linked schools.
#[utoipa::path(post, path = "/v1/homework", tag = "homework", request_body = AssignHomework, security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header)),
    responses(
        (status = 201, body = Homework),
        (status = 401, body = ErrorBody),
        (status = 403, description = "The caller does not teach one of the classes", body = ErrorBody),
        (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn assign(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    ApiJson(req): ApiJson<AssignHomework>,
) -> ApiResult<Response> {
    let fp = idempotency::fingerprint("POST /v1/homework", &req);
    let mut m = match idempotency::begin(&state, &caller, key, &fp).await? {
        Begin::Replay(r) => return Ok(r),
        Begin::Run(m) => m,
    };
    let (hw, seq) = homework::assign(m.tx(), &caller.user_id, req).await?;
    tracing::info!(homework = %hw.id, classes = hw.classes.len(), "homework assigned");
    m.finish(StatusCode::CREATED, &hw, Some(seq)).await
}

/// Every assignment the caller sees: their own, their children's, the ones they gave.
#[utoipa::path(get, path = "/v1/homework", tag = "homework", security(("bearer" = [])),
    responses((status = 200, body = Vec<Homework>), (status = 401, body = ErrorBody)))]
pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<Homework>>> {
    let mut conn = state.db().pool().acquire().await?;
    homework::list(&mut conn, &caller.user_id).await.map(Json)
}

#[utoipa::path(get, path = "/v1/homework/{id}", tag = "homework", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = Homework), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Homework>> {
    let mut conn = state.db().pool().acquire().await?;
    homework::load_homework(&mut conn, &caller.user_id, &id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("homework"))
}

/// Change an assignment (author only); everyone who has it sees it marked edited.
#[utoipa::path(patch, path = "/v1/homework/{id}", tag = "homework", request_body = EditHomework,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)), security(("bearer" = [])),
    responses((status = 200, body = Homework), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn edit(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<EditHomework>,
) -> ApiResult<Response> {
    let fp = idempotency::fingerprint(&format!("PATCH /v1/homework/{id}"), &req);
    let mut m = match idempotency::begin(&state, &caller, key, &fp).await? {
        Begin::Replay(r) => return Ok(r),
        Begin::Run(m) => m,
    };
    let (hw, seq) = homework::edit(m.tx(), &caller.user_id, &id, req).await?;
    m.finish(StatusCode::OK, &hw, Some(seq)).await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct DeleteParams {
    /// Required when students have handed in work: it is deleted too.
    #[serde(default)]
    confirm: bool,
}

/// Delete an assignment (author only). With submissions it answers 409 (`field` =
/// `confirm`) unless `confirm=true`.
#[utoipa::path(delete, path = "/v1/homework/{id}", tag = "homework",
    params(("id" = String, Path), DeleteParams, ("Idempotency-Key" = Option<String>, Header)), security(("bearer" = [])),
    responses((status = 204, description = "Deleted"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Has submissions and confirm was not given", body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    Path(id): Path<String>,
    Query(p): Query<DeleteParams>,
) -> ApiResult<Response> {
    let fp = format!("DELETE /v1/homework/{id}?confirm={}", p.confirm);
    let mut m = match idempotency::begin(&state, &caller, key, &fp).await? {
        Begin::Replay(r) => return Ok(r),
        Begin::Run(m) => m,
    };
    let seq = homework::delete(m.tx(), &caller.user_id, &id, p.confirm).await?;
    let mut response = m.finish(StatusCode::NO_CONTENT, &(), Some(seq)).await?;
    *response.body_mut() = axum::body::Body::empty();
    Ok(response)
}

/// Per class: who handed in, who did not, who was late (teachers of the homework).
#[utoipa::path(get, path = "/v1/homework/{id}/report", tag = "homework", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = HomeworkReport), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn report(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<HomeworkReport>> {
    let mut conn = state.db().pool().acquire().await?;
    homework::report(&mut conn, &caller.user_id, &id)
        .await
        .map(Json)
}

/// Remind everyone who has not handed in (and their parents), at most once an hour.
#[utoipa::path(post, path = "/v1/homework/{id}/remind", tag = "homework",
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)), security(("bearer" = [])),
    responses((status = 200, body = RemindResult), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 429, body = ErrorBody)))]
pub async fn remind(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let fp = format!("POST /v1/homework/{id}/remind");
    let mut m = match idempotency::begin(&state, &caller, key, &fp).await? {
        Begin::Replay(r) => return Ok(r),
        Begin::Run(m) => m,
    };
    let (result, seq) = homework::remind(m.tx(), &caller.user_id, &id).await?;
    m.finish(StatusCode::OK, &result, Some(seq)).await
}

/// Hand in work (students). Each call is a new attempt; the previous ones are kept.
#[utoipa::path(post, path = "/v1/homework/{id}/submissions", tag = "homework", request_body = SubmitWork,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)), security(("bearer" = [])),
    responses(
        (status = 201, description = "Received; `attempts` ends with this one, `submitted_at` is the receipt", body = Submission),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Past due and late work is refused, or already graded", body = ErrorBody),
        (status = 413, description = "Files add up to more than the homework allows", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn submit(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<SubmitWork>,
) -> ApiResult<Response> {
    let fp = idempotency::fingerprint(&format!("POST /v1/homework/{id}/submissions"), &req);
    let mut m = match idempotency::begin(&state, &caller, key, &fp).await? {
        Begin::Replay(r) => return Ok(r),
        Begin::Run(m) => m,
    };
    let (submission, seq) = homework::submit(m.tx(), &caller.user_id, &id, req).await?;
    tracing::info!(homework = %id, submission = %submission.id, "work handed in");
    m.finish(StatusCode::CREATED, &submission, Some(seq)).await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct SubmissionsParams {
    /// Only this class.
    class_id: Option<String>,
}

/// The submissions the caller may see: teachers their classes', students their own,
/// parents their children's.
#[utoipa::path(get, path = "/v1/homework/{id}/submissions", tag = "homework",
    params(("id" = String, Path), SubmissionsParams), security(("bearer" = [])),
    responses((status = 200, body = Vec<Submission>), (status = 404, body = ErrorBody)))]
pub async fn submissions(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(p): Query<SubmissionsParams>,
) -> ApiResult<Json<Vec<Submission>>> {
    let mut conn = state.db().pool().acquire().await?;
    homework::submissions_for(&mut conn, &caller.user_id, &id, p.class_id.as_deref())
        .await
        .map(Json)
}

#[utoipa::path(get, path = "/v1/submissions/{id}", tag = "homework", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = Submission), (status = 404, body = ErrorBody)))]
pub async fn get_submission(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Submission>> {
    let mut conn = state.db().pool().acquire().await?;
    homework::load_submission(&mut conn, &caller.user_id, &id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("submission"))
}

/// Grade the current attempt: score, text and optional voice feedback (teachers of the class).
#[utoipa::path(post, path = "/v1/submissions/{id}/grade", tag = "homework", request_body = GradeWork,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)), security(("bearer" = [])),
    responses((status = 200, body = Submission), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn grade(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<GradeWork>,
) -> ApiResult<Response> {
    let fp = idempotency::fingerprint(&format!("POST /v1/submissions/{id}/grade"), &req);
    let mut m = match idempotency::begin(&state, &caller, key, &fp).await? {
        Begin::Replay(r) => return Ok(r),
        Begin::Run(m) => m,
    };
    let (submission, seq) = homework::grade(m.tx(), &caller.user_id, &id, req).await?;
    // The student and their parents are told, with the grade: both or neither.
    crate::push::schedule::enqueue_graded(m.tx(), &id, state.clock().now_ms()).await?;
    let response = m.finish(StatusCode::OK, &submission, Some(seq)).await?;
    state.push().wake();
    Ok(response)
}

/// Return the current attempt for redo, with the reason (teachers of the class).
#[utoipa::path(post, path = "/v1/submissions/{id}/return", tag = "homework", request_body = ReturnWork,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)), security(("bearer" = [])),
    responses((status = 200, body = Submission), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn return_work(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ReturnWork>,
) -> ApiResult<Response> {
    let fp = idempotency::fingerprint(&format!("POST /v1/submissions/{id}/return"), &req);
    let mut m = match idempotency::begin(&state, &caller, key, &fp).await? {
        Begin::Replay(r) => return Ok(r),
        Begin::Run(m) => m,
    };
    let (submission, seq) = homework::return_work(m.tx(), &caller.user_id, &id, req).await?;
    m.finish(StatusCode::OK, &submission, Some(seq)).await
}

/// A parent signs the work off (家长签字).
#[utoipa::path(post, path = "/v1/submissions/{id}/sign-off", tag = "homework", request_body = SignOffWork,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)), security(("bearer" = [])),
    responses((status = 200, body = Submission), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn sign_off(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<SignOffWork>,
) -> ApiResult<Response> {
    let fp = idempotency::fingerprint(&format!("POST /v1/submissions/{id}/sign-off"), &req);
    let mut m = match idempotency::begin(&state, &caller, key, &fp).await? {
        Begin::Replay(r) => return Ok(r),
        Begin::Run(m) => m,
    };
    let (submission, seq) = homework::sign_off(m.tx(), &caller.user_id, &id, req).await?;
    m.finish(StatusCode::OK, &submission, Some(seq)).await
}

/// Download an attachment: instructions, handed-in work or voice feedback, for whoever may
/// see what it belongs to. Supports `Range`, so a player can seek and a download resume.
#[utoipa::path(get, path = "/v1/attachments/{id}", tag = "homework", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, description = "The file"), (status = 206, description = "Part of the file"),
        (status = 404, body = ErrorBody)))]
pub async fn download(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    request: Request,
) -> ApiResult<Response> {
    let mut conn = state.db().pool().acquire().await?;
    if !homework::attachment_readable(&mut conn, &caller.user_id, &id).await? {
        return Err(ApiError::not_found("attachment"));
    }
    let (kind, file_name, sha256): (String, String, String) =
        sqlx::query_as("SELECT kind, file_name, sha256 FROM attachments WHERE id = $1")
            .bind(&id)
            .fetch_one(&mut *conn)
            .await?;
    drop(conn);
    let path = state.blobs().path(&id);
    // Served as what its bytes are (checked against its kind), never as the uploader said:
    // a "photo" that is a web page must not run in the teacher's browser.
    let kind =
        lianxiao_protocol::WorkKind::parse(&kind).unwrap_or(lianxiao_protocol::WorkKind::File);
    let head = crate::uploads::content::head_of(&path)
        .await
        .unwrap_or_default();
    let (content_type, inline) = crate::uploads::content::served(kind, &head);
    let mut response = tower_http::services::ServeFile::new(&path)
        .oneshot(request)
        .await
        .map_err(|_| ApiError::internal())?
        .into_response();
    let success = response.status().is_success();
    let h = response.headers_mut();
    if success {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    if let Ok(value) =
        HeaderValue::from_str(&crate::uploads::content::disposition(inline, &file_name))
    {
        h.insert(header::CONTENT_DISPOSITION, value);
    }
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{sha256}\"")) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=86400"),
    );
    Ok(response)
}
