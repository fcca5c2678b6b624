//! `/v1/replays`: recordings made into replays, their review (学校审核), playback through
//! signed URLs, and watch positions. Routes parse, authorise through the replay service and
//! map its errors; every mutation takes an Idempotency-Key.

use axum::{
    Json,
    extract::{Path, Query, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use lianxiao_protocol::{
    CreateReplay, ErrorBody, HlsTicket, IDEMPOTENCY_KEY_HEADER, Replay, ReplayStatus, ReplayViewer,
    ReviewReplay, WatchPosition, WatchReport,
};
use serde::Deserialize;
use tower::ServiceExt;

use crate::{
    app::AppState,
    auth::Caller,
    broadcast::{sign::HlsGrant, viewers},
    db::now_ms,
    error::{ApiError, ApiResult},
    http::extract::ApiJson,
    idempotency::{self, Begin, IdempotencyKey},
    replays,
};

/// Make a replay of a finished recording upload (purpose `recording`, the lesson's
/// `lesson_id`): the lesson's lead or an assistant of a receiving class. It starts
/// `processing`; progress and the outcome arrive through sync.
#[utoipa::path(post, path = "/v1/replays", tag = "replays", request_body = CreateReplay, security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header)),
    responses(
        (status = 201, body = Replay),
        (status = 403, description = "Not a teacher of the lesson", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
        (status = 422, description = "The upload is not a finished, unused recording of this lesson", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    ApiJson(req): ApiJson<CreateReplay>,
) -> ApiResult<Response> {
    let fp = idempotency::fingerprint("POST /v1/replays", &req);
    let mut m = match idempotency::begin(&state, &caller, key, &fp).await? {
        Begin::Replay(r) => return Ok(r),
        Begin::Run(m) => m,
    };
    let (replay, seq) =
        replays::create_from_upload(m.tx(), state.blobs(), &caller.user_id, req).await?;
    let response = m.finish(StatusCode::CREATED, &replay, Some(seq)).await?;
    tracing::info!(replay = %replay.id, lesson = %replay.lesson_id, "replay created from an upload");
    state.replays().enqueue(&replay.id);
    Ok(response)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListParams {
    /// Only replays in this state (`pending_review`: what waits for the caller's review).
    status: Option<ReplayStatus>,
    /// Only this lesson's.
    lesson_id: Option<String>,
}

/// The replays the caller sees, newest first: approved ones of their lessons, and for their
/// owners, the lessons' leads and reviewers those in every other state.
#[utoipa::path(get, path = "/v1/replays", tag = "replays", params(ListParams), security(("bearer" = [])),
    responses((status = 200, body = Vec<Replay>), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<ListParams>,
) -> ApiResult<Json<Vec<Replay>>> {
    let mut conn = state.db().pool().acquire().await?;
    replays::list(&mut conn, &caller.user_id, p.status, p.lesson_id.as_deref())
        .await
        .map(Json)
}

#[utoipa::path(get, path = "/v1/replays/{id}", tag = "replays", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = Replay), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Replay>> {
    let mut conn = state.db().pool().acquire().await?;
    replays::load_for(&mut conn, &caller.user_id, &id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("replay"))
}

/// Approve a replay for its audience or reject it with a reason (school admins of a school in
/// the lesson, county admins), optionally changing who may watch it.
#[utoipa::path(post, path = "/v1/replays/{id}/review", tag = "replays", request_body = ReviewReplay,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)), security(("bearer" = [])),
    responses((status = 200, body = Replay), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Still processing, or failed", body = ErrorBody),
        (status = 422, description = "A rejection without a reason", body = ErrorBody)))]
pub async fn review(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ReviewReplay>,
) -> ApiResult<Response> {
    let fp = idempotency::fingerprint(&format!("POST /v1/replays/{id}/review"), &req);
    let mut m = match idempotency::begin(&state, &caller, key, &fp).await? {
        Begin::Replay(r) => return Ok(r),
        Begin::Run(m) => m,
    };
    let (replay, seq) = replays::review(m.tx(), &caller.user_id, &id, req).await?;
    tracing::info!(replay = %id, status = ?replay.status, "replay reviewed");
    m.finish(StatusCode::OK, &replay, Some(seq)).await
}

/// Signed URLs of the replay's HLS (video on demand), good for some hours: for its audience
/// once approved, and for its staff to preview it before.
#[utoipa::path(post, path = "/v1/replays/{id}/play", tag = "replays", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = HlsTicket), (status = 404, body = ErrorBody),
        (status = 409, description = "Still processing, or failed", body = ErrorBody)))]
pub async fn play(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<HlsTicket>> {
    let mut conn = state.db().pool().acquire().await?;
    replays::ticket(&mut conn, state.broadcasts().signer(), &caller.user_id, &id)
        .await
        .map(Json)
}

/// Where the caller is in the replay and how much they watched since their last report.
/// The Idempotency-Key is required: a report is counted once.
#[utoipa::path(post, path = "/v1/replays/{id}/watch", tag = "replays", request_body = WatchReport,
    params(("id" = String, Path), ("Idempotency-Key" = String, Header)), security(("bearer" = [])),
    responses((status = 200, body = WatchPosition), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn watch(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<WatchReport>,
) -> ApiResult<Response> {
    if key.0.is_none() {
        return Err(ApiError::validation(
            IDEMPOTENCY_KEY_HEADER,
            "a watch report needs an Idempotency-Key, so it is counted once",
        ));
    }
    let fp = idempotency::fingerprint(&format!("POST /v1/replays/{id}/watch"), &req);
    let mut m = match idempotency::begin(&state, &caller, key, &fp).await? {
        Begin::Replay(r) => return Ok(r),
        Begin::Run(m) => m,
    };
    let (position, seq) = replays::watch::report(m.tx(), &caller.user_id, &id, &req).await?;
    m.finish(StatusCode::OK, &position, Some(seq)).await
}

/// Who watched the replay and how much (the lesson's teachers, the reviewers).
#[utoipa::path(get, path = "/v1/replays/{id}/views", tag = "replays", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = Vec<ReplayViewer>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn views(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<ReplayViewer>>> {
    let mut conn = state.db().pool().acquire().await?;
    replays::watch::views(&mut conn, &caller.user_id, &id)
        .await
        .map(Json)
}

/// The signature of a replay ticket's URLs.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct Signed {
    /// The viewer the URL was signed for.
    u: Option<String>,
    /// Expiry, Unix seconds.
    exp: Option<i64>,
    /// HMAC-SHA256 of the replay's HLS path, the viewer and the expiry, hex.
    sig: Option<String>,
}

impl Signed {
    fn check(self, state: &AppState, replay_id: &str) -> ApiResult<HlsGrant> {
        let (Some(user_id), Some(expires), Some(sig)) = (self.u, self.exp, self.sig) else {
            return Err(ApiError::forbidden("the URL is not signed"));
        };
        let grant = HlsGrant {
            user_id,
            expires,
            sig,
        };
        let scope = replays::scope(replay_id);
        if !state
            .broadcasts()
            .signer()
            .verify_in(&scope, &grant, now_ms() / 1000)
        {
            return Err(ApiError::forbidden(
                "the URL's signature is wrong or has expired: ask to play the replay again",
            ));
        }
        Ok(grant)
    }
}

/// A replay's master playlist, its URIs signed like this URL.
#[utoipa::path(get, path = "/v1/replays/{id}/hls/{file}", tag = "replays",
    params(("id" = String, Path), ("file" = String, Path, description = "master.m3u8"), Signed),
    responses((status = 200, description = "HLS master playlist", content_type = "application/vnd.apple.mpegurl"),
        (status = 403, description = "Unsigned, tampered or expired", body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn master(
    State(state): State<AppState>,
    Path((id, file)): Path<(String, String)>,
    Query(signed): Query<Signed>,
    request: Request,
) -> ApiResult<Response> {
    let grant = signed.check(&state, &id)?;
    serve(&state, &id, None, &file, &grant, request).await
}

/// A rendition's media playlist (video on demand, its URIs signed like this URL) or one of its
/// segments (with `Range`, for resumable downloads).
#[utoipa::path(get, path = "/v1/replays/{id}/hls/{rendition}/{file}", tag = "replays",
    params(("id" = String, Path), ("rendition" = String, Path, description = "low or audio"),
        ("file" = String, Path, description = "index.m3u8 or a segment"), Signed),
    responses((status = 200, description = "HLS media playlist or MPEG-TS segment"),
        (status = 206, description = "Part of a segment"),
        (status = 403, description = "Unsigned, tampered or expired", body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn media(
    State(state): State<AppState>,
    Path((id, rendition, file)): Path<(String, String, String)>,
    Query(signed): Query<Signed>,
    request: Request,
) -> ApiResult<Response> {
    let grant = signed.check(&state, &id)?;
    serve(&state, &id, Some(&rendition), &file, &grant, request).await
}

async fn serve(
    state: &AppState,
    id: &str,
    rendition: Option<&str>,
    file: &str,
    grant: &HlsGrant,
    request: Request,
) -> ApiResult<Response> {
    if !viewers::servable(rendition, file) || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(ApiError::not_found("file"));
    }
    let mut path = state.replays().dir(id);
    if let Some(r) = rendition {
        path.push(r);
    }
    path.push(file);
    if file.ends_with(".m3u8") {
        let text = match tokio::fs::read_to_string(&path).await {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ApiError::not_found("file"));
            }
            Err(e) => return Err(anyhow::Error::from(e).into()),
        };
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/vnd.apple.mpegurl"),
        );
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-cache"),
        );
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        return Ok((headers, viewers::sign_playlist(&text, &grant.query())).into_response());
    }
    let mut response = tower_http::services::ServeFile::new(&path)
        .oneshot(request)
        .await
        .map_err(|_| ApiError::internal())?
        .into_response();
    if response.status() == StatusCode::NOT_FOUND {
        return Err(ApiError::not_found("file"));
    }
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp2t"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // A finished replay's segments never change.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=86400, immutable"),
    );
    Ok(response)
}
