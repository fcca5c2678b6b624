//! `/v1/uploads`: the tus 1.0 endpoint (core, creation, creation-with-upload, termination,
//! checksum, expiration). Any standard tus client can upload; errors that are not tus's own
//! status codes carry our JSON error body.

use std::time::{Duration, UNIX_EPOCH};

use axum::{
    Json,
    body::Body,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use lianxiao_protocol::{
    ErrorBody, TUS_CHECKSUM_ALGORITHMS, TUS_EXTENSIONS, TUS_MAX_SIZE, TUS_VERSION, UPLOADS_PATH,
    UploadInfo, UploadPurpose, WorkKind, meta,
};

use crate::{
    app::AppState,
    auth::Caller,
    db::{new_id, now_ms},
    error::{ApiError, ApiResult},
    uploads::{self, NewUpload, Upload, tus},
};

const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";

fn tus_headers(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert("Tus-Resumable", HeaderValue::from_static(TUS_VERSION));
    response
}

fn status(code: StatusCode) -> Response {
    tus_headers(code.into_response())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Every request but OPTIONS must speak our tus version.
fn version_refused(headers: &HeaderMap) -> Option<Response> {
    if header(headers, "Tus-Resumable") == Some(TUS_VERSION) {
        return None;
    }
    let mut r = status(StatusCode::PRECONDITION_FAILED);
    r.headers_mut()
        .insert("Tus-Version", HeaderValue::from_static(TUS_VERSION));
    Some(r)
}

fn http_date(ms: i64) -> HeaderValue {
    let at = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    HeaderValue::from_str(&httpdate::fmt_http_date(at)).expect("dates are ASCII")
}

fn ttl_ms(state: &AppState) -> i64 {
    state.config().upload_ttl_secs as i64 * 1000
}

/// The caller's upload, or 404; 410 once expired unfinished.
async fn owned(state: &AppState, caller: &Caller, id: &str) -> Result<Upload, Response> {
    let mut conn = state
        .db()
        .pool()
        .acquire()
        .await
        .map_err(|e| tus_headers(ApiError::from(e).into_response()))?;
    let upload = uploads::load(&mut conn, id)
        .await
        .map_err(|e| tus_headers(ApiError::from(e).into_response()))?;
    match upload {
        Some(u) if u.owner_id == caller.user_id => {
            if !u.completed && u.expires_at < now_ms() {
                Err(status(StatusCode::GONE))
            } else {
                Ok(u)
            }
        }
        _ => Err(tus_headers(ApiError::not_found("upload").into_response())),
    }
}

fn error(e: ApiError) -> Response {
    tus_headers(e.into_response())
}

/// What this server supports (tus discovery).
#[utoipa::path(options, path = "/v1/uploads", tag = "uploads",
    responses((status = 204, description = "Tus-Version, Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm")))]
pub async fn options() -> Response {
    let mut r = status(StatusCode::NO_CONTENT);
    let h = r.headers_mut();
    h.insert("Tus-Version", HeaderValue::from_static(TUS_VERSION));
    h.insert("Tus-Extension", HeaderValue::from_static(TUS_EXTENSIONS));
    h.insert("Tus-Max-Size", HeaderValue::from(TUS_MAX_SIZE));
    h.insert(
        "Tus-Checksum-Algorithm",
        HeaderValue::from_static(TUS_CHECKSUM_ALGORITHMS),
    );
    r
}

/// Create an upload. `Upload-Metadata` must name `purpose` (submission, instructions,
/// feedback), `kind` (photo, audio, video, file), the file `name` (or `filename`) and, for
/// submission and feedback, `homework_id`. A body with `Content-Type:
/// application/offset+octet-stream` is the first chunk (creation-with-upload).
#[utoipa::path(post, path = "/v1/uploads", tag = "uploads", security(("bearer" = [])),
    params(("Tus-Resumable" = String, Header), ("Upload-Length" = u64, Header),
        ("Upload-Metadata" = String, Header), ("Upload-Checksum" = Option<String>, Header)),
    responses(
        (status = 201, description = "Created; Location, Upload-Expires, Upload-Offset"),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 412, description = "Tus-Resumable missing or unsupported"),
        (status = 413, description = "Larger than allowed for this kind or homework", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Some(r) = version_refused(&headers) {
        return r;
    }
    match create_inner(&state, &caller, &headers, body).await {
        Ok(r) => r,
        Err(e) => error(e),
    }
}

async fn create_inner(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    if headers.contains_key("Upload-Defer-Length") {
        return Err(ApiError::bad_request(
            "Upload-Defer-Length is not supported",
        ));
    }
    let length: u64 = header(headers, "Upload-Length")
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| ApiError::bad_request("Upload-Length is required"))?;
    let m = tus::parse_metadata(header(headers, "Upload-Metadata").unwrap_or(""))
        .map_err(ApiError::bad_request)?;
    let get = |a: &str, b: Option<&str>| {
        m.get(a)
            .or_else(|| b.and_then(|b| m.get(b)))
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    let purpose = get(meta::PURPOSE, None)
        .and_then(|p| UploadPurpose::parse(&p))
        .ok_or_else(|| {
            ApiError::validation(
                "purpose",
                "metadata purpose must be submission, instructions or feedback",
            )
        })?;
    let kind = get(meta::KIND, None)
        .and_then(|k| WorkKind::parse(&k))
        .ok_or_else(|| {
            ApiError::validation("kind", "metadata kind must be photo, audio, video or file")
        })?;
    let file_name = get(meta::FILE_NAME, Some(meta::FILE_NAME_ALT))
        .ok_or_else(|| ApiError::validation("name", "metadata name (the file name) is required"))?;
    if file_name.chars().count() > 255 {
        return Err(ApiError::validation(
            "name",
            "the file name is longer than 255 characters",
        ));
    }
    let new = NewUpload {
        purpose,
        homework_id: get(meta::HOMEWORK_ID, None),
        kind,
        file_name,
        content_type: get(meta::CONTENT_TYPE, Some(meta::CONTENT_TYPE_ALT))
            .unwrap_or_else(|| "application/octet-stream".into()),
        length,
    };
    let mut conn = state.db().pool().acquire().await?;
    uploads::authorise(&mut conn, &caller.user_id, &new).await?;
    let id = new_id();
    let now = now_ms();
    let expires_at = now + ttl_ms(state);
    state
        .blobs()
        .create(&id)
        .await
        .map_err(|e| anyhow::anyhow!("create blob: {e}"))?;
    sqlx::query(
        "INSERT INTO uploads (id, owner_id, purpose, homework_id, kind, file_name, content_type, length, \
         created_at, expires_at, completed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&id)
    .bind(&caller.user_id)
    .bind(purpose.as_str())
    .bind(new.homework_id.as_deref().unwrap_or(""))
    .bind(kind.as_str())
    .bind(&new.file_name)
    .bind(&new.content_type)
    .bind(length as i64)
    .bind(now)
    .bind(expires_at)
    // An empty file is finished the moment it exists.
    .bind((length == 0).then_some(now))
    .execute(&mut *conn)
    .await?;
    drop(conn);
    if length == 0 {
        sqlx::query("UPDATE uploads SET sha256 = $2 WHERE id = $1")
            .bind(&id)
            .bind(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"")))
            .execute(state.db().pool())
            .await?;
    }
    tracing::info!(upload = %id, purpose = purpose.as_str(), kind = kind.as_str(), length, "upload created");

    let mut response = status(StatusCode::CREATED);
    let location = format!("{UPLOADS_PATH}/{id}");
    response.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(&location).expect("ids are ASCII"),
    );
    response
        .headers_mut()
        .insert("Upload-Expires", http_date(expires_at));
    if header(headers, header::CONTENT_TYPE.as_str()) == Some(OFFSET_OCTET_STREAM) {
        let upload = owned(state, caller, &id)
            .await
            .map_err(|_| ApiError::internal())?;
        let patched = patch_inner(state, &upload, headers, body, 0).await?;
        for name in ["Upload-Offset", "Upload-Expires"] {
            if let Some(v) = patched.headers().get(name) {
                response.headers_mut().insert(name, v.clone());
            }
        }
    }
    Ok(response)
}

/// Where an upload stands: `Upload-Offset` is where to resume.
#[utoipa::path(head, path = "/v1/uploads/{id}", tag = "uploads", security(("bearer" = [])),
    params(("id" = String, Path), ("Tus-Resumable" = String, Header)),
    responses((status = 200, description = "Upload-Offset, Upload-Length, Upload-Expires"),
        (status = 404, description = "No such upload, or not the caller's"), (status = 410, description = "Expired")))]
pub async fn head(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = version_refused(&headers) {
        return r;
    }
    let u = match owned(&state, &caller, &id).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let mut r = status(StatusCode::OK);
    let h = r.headers_mut();
    h.insert("Upload-Offset", HeaderValue::from(u.offset));
    h.insert("Upload-Length", HeaderValue::from(u.length));
    h.insert("Upload-Expires", http_date(u.expires_at));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Append bytes at `Upload-Offset`. With `Upload-Checksum` (sha1 or sha256) a chunk that
/// does not match is refused with 460 and nothing is kept.
#[utoipa::path(patch, path = "/v1/uploads/{id}", tag = "uploads", security(("bearer" = [])),
    params(("id" = String, Path), ("Tus-Resumable" = String, Header), ("Upload-Offset" = u64, Header),
        ("Upload-Checksum" = Option<String>, Header)),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream"),
    responses((status = 204, description = "Stored; Upload-Offset is the new offset"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Upload-Offset is not the upload's offset", body = ErrorBody),
        (status = 410, description = "Expired"), (status = 413, description = "More bytes than Upload-Length", body = ErrorBody),
        (status = 415, description = "Wrong Content-Type"), (status = 460, description = "Checksum mismatch")))]
pub async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Some(r) = version_refused(&headers) {
        return r;
    }
    if header(&headers, header::CONTENT_TYPE.as_str()) != Some(OFFSET_OCTET_STREAM) {
        return status(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
    let Some(offset) = header(&headers, "Upload-Offset").and_then(|v| v.trim().parse::<u64>().ok())
    else {
        return error(ApiError::bad_request("Upload-Offset is required"));
    };
    let lock = state.upload_locks().get(&id);
    let _guard = lock.lock().await;
    let upload = match owned(&state, &caller, &id).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    match patch_inner(&state, &upload, &headers, body, offset).await {
        Ok(r) => r,
        Err(e) => error(e),
    }
}

async fn patch_inner(
    state: &AppState,
    upload: &Upload,
    headers: &HeaderMap,
    body: Body,
    offset: u64,
) -> ApiResult<Response> {
    if offset != upload.offset {
        let mut e = ApiError::conflict(format!(
            "Upload-Offset {offset} does not match the upload's offset {}",
            upload.offset
        ));
        e.body.field = Some("Upload-Offset".into());
        let mut r = e.into_response();
        r.headers_mut()
            .insert("Upload-Offset", HeaderValue::from(upload.offset));
        return Ok(tus_headers(r));
    }
    let checksum = header(headers, "Upload-Checksum")
        .map(tus::Checksum::parse)
        .transpose()?;
    let written = tus::write(
        state.db(),
        state.blobs(),
        upload,
        body,
        checksum,
        ttl_ms(state),
    )
    .await?;
    let new_offset = match written {
        tus::Written::Done(o) | tus::Written::Broken(o) => o,
        tus::Written::Mismatch => {
            return Ok(status(
                StatusCode::from_u16(460).expect("460 is a valid status"),
            ));
        }
        tus::Written::TooLong => {
            return Ok(error(ApiError::new(
                lianxiao_protocol::ErrorCode::PayloadTooLarge,
                "the body goes past Upload-Length",
            )));
        }
    };
    let mut r = status(StatusCode::NO_CONTENT);
    r.headers_mut()
        .insert("Upload-Offset", HeaderValue::from(new_offset));
    r.headers_mut()
        .insert("Upload-Expires", http_date(now_ms() + ttl_ms(state)));
    Ok(r)
}

/// Give up an upload (termination): its bytes are deleted. An upload already used as an
/// attachment cannot be terminated (409).
#[utoipa::path(delete, path = "/v1/uploads/{id}", tag = "uploads", security(("bearer" = [])),
    params(("id" = String, Path), ("Tus-Resumable" = String, Header)),
    responses((status = 204, description = "Terminated"), (status = 404, body = ErrorBody),
        (status = 409, description = "Already attached to something", body = ErrorBody)))]
pub async fn terminate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = version_refused(&headers) {
        return r;
    }
    let lock = state.upload_locks().get(&id);
    let _guard = lock.lock().await;
    let upload = match owned(&state, &caller, &id).await {
        Ok(u) => u,
        Err(r) if r.status() == StatusCode::GONE => {
            uploads_delete(&state, &id).await;
            return status(StatusCode::NO_CONTENT);
        }
        Err(r) => return r,
    };
    if upload.attached {
        return error(ApiError::conflict(
            "this upload is already attached and cannot be deleted",
        ));
    }
    uploads_delete(&state, &id).await;
    status(StatusCode::NO_CONTENT)
}

async fn uploads_delete(state: &AppState, id: &str) {
    let _ = sqlx::query("DELETE FROM uploads WHERE id = $1 AND attached_at IS NULL")
        .bind(id)
        .execute(state.db().pool())
        .await;
    state.blobs().remove(id).await;
}

/// The upload as JSON (for clients that prefer it to tus headers).
#[utoipa::path(get, path = "/v1/uploads/{id}", tag = "uploads", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = UploadInfo), (status = 404, body = ErrorBody), (status = 410, description = "Expired")))]
pub async fn info(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Response {
    match owned(&state, &caller, &id).await {
        Ok(u) => Json(UploadInfo {
            id: u.id,
            purpose: u.purpose,
            kind: u.kind,
            length: u.length,
            offset: u.offset,
            expires_at: u.expires_at,
            complete: u.completed,
            sha256: (!u.sha256.is_empty()).then_some(u.sha256),
        })
        .into_response(),
        Err(r) => r,
    }
}
