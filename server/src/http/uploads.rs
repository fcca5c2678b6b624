//! `/v1/uploads`: the tus 1.0 endpoint (core, creation, creation-with-upload, termination,
//! checksum, expiration). Any standard tus client can upload; errors that are not tus's own
//! status codes carry our JSON error body.

use std::time::{Duration, UNIX_EPOCH};

use axum::{
    Json,
    body::Body,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware,
    response::{IntoResponse, Response},
};
use base64::Engine;
use lianxiao_protocol::{
    ErrorBody, ErrorCode, MAX_CHUNK_BYTES, TUS_CHECKSUM_ALGORITHMS, TUS_EXTENSIONS, TUS_MAX_SIZE,
    TUS_VERSION, UPLOADS_PATH, UploadInfo, UploadPurpose, WorkKind, meta,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    app::AppState,
    auth::Caller,
    db::{new_id, now_ms},
    error::{ApiError, ApiResult},
    uploads::{self, NewUpload, Upload, tus},
};

const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";

/// The tus routes. Bodies are streamed to disk, never buffered, so the JSON body limit is
/// not applied here; a PATCH body is bounded by the upload's room and `MAX_CHUNK_BYTES`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(options, create))
        .routes(routes!(head, patch, terminate, info))
        .layer(middleware::map_response(tus_resumable))
}

/// tus wants `Tus-Resumable` on every response, refusals of sign-in included.
async fn tus_resumable(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert("Tus-Resumable", HeaderValue::from_static(TUS_VERSION));
    response
}

fn status(code: StatusCode) -> Response {
    code.into_response()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The body size the client announced, when it did (not with chunked transfer).
fn content_length(headers: &HeaderMap) -> Option<u64> {
    header(headers, header::CONTENT_LENGTH.as_str()).and_then(|v| v.trim().parse().ok())
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

fn mb(bytes: u64) -> u64 {
    bytes.div_ceil(1 << 20)
}

/// The caller's upload, or 404 (also for someone else's); 410 once expired unfinished.
async fn owned(state: &AppState, caller: &Caller, id: &str) -> Result<Upload, Response> {
    let mut conn = state
        .db()
        .pool()
        .acquire()
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    let upload = uploads::load(&mut conn, id)
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    match upload {
        Some(u) if u.owner_id == caller.user_id => {
            if !u.completed && u.expires_at < now_ms() {
                Err(status(StatusCode::GONE))
            } else {
                Ok(u)
            }
        }
        _ => Err(ApiError::not_found("upload").into_response()),
    }
}

/// What a body may be checked against before a byte of it is read.
struct Chunk {
    checksum: Option<tus::Checksum>,
    announced: Option<u64>,
}

fn chunk(headers: &HeaderMap) -> ApiResult<Chunk> {
    let checksum = header(headers, "Upload-Checksum")
        .map(tus::Checksum::parse)
        .transpose()?;
    let announced = content_length(headers);
    if announced.is_some_and(|n| n > MAX_CHUNK_BYTES) {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("a chunk can be at most {} MB", mb(MAX_CHUNK_BYTES)),
        ));
    }
    Ok(Chunk {
        checksum,
        announced,
    })
}

fn past_length() -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        "the body goes past Upload-Length",
    )
}

/// Writes one body at the upload's offset: the new offset, or the tus answer that refused
/// it (460 checksum mismatch, 413, 409 when a newer request took over).
async fn write_chunk(
    state: &AppState,
    upload: &Upload,
    held: &mut tus::Held,
    chunk: Chunk,
    body: Body,
) -> ApiResult<Result<u64, Response>> {
    if chunk
        .announced
        .is_some_and(|n| n > upload.length - upload.offset)
    {
        return Ok(Err(past_length().into_response()));
    }
    let written = tus::write(
        state.db(),
        state.blobs(),
        upload,
        held,
        body,
        chunk.checksum,
        ttl_ms(state),
    )
    .await?;
    Ok(match written {
        tus::Written::Done(o) | tus::Written::Broken(o) => Ok(o),
        tus::Written::Mismatch => Err(status(
            StatusCode::from_u16(460).expect("460 is a valid status"),
        )),
        tus::Written::TooLong => Err(past_length().into_response()),
        tus::Written::TakenOver(o) => Err(offset_conflict(
            "a newer request for this upload took over",
            o,
        )),
    })
}

/// 409 with the offset to resume from.
fn offset_conflict(message: &str, offset: u64) -> Response {
    let mut e = ApiError::conflict(message);
    e.body.field = Some("Upload-Offset".into());
    let mut r = e.into_response();
    r.headers_mut()
        .insert("Upload-Offset", HeaderValue::from(offset));
    r
}

/// `Upload-Metadata` as the client would have sent it.
fn metadata_echo(u: &Upload) -> Option<HeaderValue> {
    let b64 = |v: &str| base64::engine::general_purpose::STANDARD.encode(v);
    let mut pairs = vec![
        format!("{} {}", meta::PURPOSE, b64(u.purpose.as_str())),
        format!("{} {}", meta::KIND, b64(u.kind.as_str())),
        format!("{} {}", meta::FILE_NAME, b64(&u.file_name)),
        format!("{} {}", meta::CONTENT_TYPE, b64(&u.content_type)),
    ];
    if !u.homework_id.is_empty() {
        pairs.push(format!("{} {}", meta::HOMEWORK_ID, b64(&u.homework_id)));
    }
    HeaderValue::from_str(&pairs.join(",")).ok()
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
/// submission and feedback, `homework_id`; `content_type` (or `filetype`) is optional. A body
/// with `Content-Type: application/offset+octet-stream` is the first chunk
/// (creation-with-upload). A homework the caller cannot see answers 404; one they see but
/// may not upload this for, 403.
#[utoipa::path(post, path = "/v1/uploads", tag = "uploads", security(("bearer" = [])),
    params(("Tus-Resumable" = String, Header), ("Upload-Length" = u64, Header),
        ("Upload-Metadata" = String, Header), ("Upload-Checksum" = Option<String>, Header)),
    request_body(content = Option<Vec<u8>>, content_type = "application/offset+octet-stream"),
    responses(
        (status = 201, description = "Created; Location, Upload-Expires, and Upload-Offset when a first chunk was sent"),
        (status = 400, description = "Upload-Length missing, Upload-Defer-Length sent, metadata or checksum malformed", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 412, description = "Tus-Resumable missing or unsupported"),
        (status = 413, description = "Larger than allowed for this kind or homework (`payload_too_large`), or than the account's upload quota leaves room for (`quota_exceeded`)", body = ErrorBody),
        (status = 422, description = "Metadata missing or wrong; `field` names it", body = ErrorBody),
        (status = 429, description = "`quota_exceeded`: the account has as many unfinished uploads as it may", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Some(r) = version_refused(&headers) {
        return r;
    }
    create_inner(&state, &caller, &headers, body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
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
                "metadata purpose must be submission, instructions, feedback or recording",
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
        lesson_id: get(meta::LESSON_ID, None),
        kind,
        file_name,
        content_type: get(meta::CONTENT_TYPE, Some(meta::CONTENT_TYPE_ALT))
            .unwrap_or_else(|| "application/octet-stream".into()),
        length,
    };
    // creation-with-upload: the first chunk's headers are checked before anything exists.
    let first_chunk = if header(headers, header::CONTENT_TYPE.as_str()) == Some(OFFSET_OCTET_STREAM)
    {
        let c = chunk(headers)?;
        if c.announced.is_some_and(|n| n > length) {
            return Err(past_length());
        }
        Some(c)
    } else {
        None
    };
    let mut conn = state.db().pool().acquire().await?;
    uploads::authorise(&mut conn, &caller.user_id, &new).await?;
    drop(conn);
    let id = new_id();
    let now = now_ms();
    let expires_at = now + ttl_ms(state);
    // An empty file is finished the moment it exists.
    let empty_sha256 =
        (length == 0).then(|| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"")));
    state
        .blobs()
        .create(&id)
        .await
        .map_err(|e| anyhow::anyhow!("create blob: {e}"))?;
    let recorded = uploads::record_new(
        state.db(),
        &state.config().uploads,
        &uploads::NewRow {
            id: &id,
            owner_id: &caller.user_id,
            new: &new,
            // What a file is comes from its bytes once they are all here (see `tus::write`).
            content_type: if length == 0 {
                uploads::content::UNKNOWN
            } else {
                &new.content_type
            },
            length,
            created_at: now,
            expires_at,
            completed_at: empty_sha256.is_some().then_some(now),
            sha256: empty_sha256.as_deref().unwrap_or_default(),
        },
    )
    .await;
    if let Err(e) = recorded {
        state.blobs().remove(&id).await;
        return Err(e);
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
    if let Some(c) = first_chunk {
        let mut held = state.upload_locks().acquire(&id).await;
        let upload = owned(state, caller, &id)
            .await
            .map_err(|_| ApiError::internal())?;
        // A first chunk that was refused (checksum, too long) leaves an empty upload: the
        // client learns from Upload-Offset 0 where to go on.
        let offset = write_chunk(state, &upload, &mut held, c, body)
            .await?
            .unwrap_or(0);
        let h = response.headers_mut();
        h.insert("Upload-Offset", HeaderValue::from(offset));
        if offset > 0 {
            h.insert("Upload-Expires", http_date(now_ms() + ttl_ms(state)));
        }
    }
    Ok(response)
}

/// Where an upload stands: `Upload-Offset` is where to resume.
#[utoipa::path(head, path = "/v1/uploads/{id}", tag = "uploads", security(("bearer" = [])),
    params(("id" = String, Path), ("Tus-Resumable" = String, Header)),
    responses((status = 200, description = "Upload-Offset, Upload-Length, Upload-Expires, Upload-Metadata"),
        (status = 404, description = "No such upload, or not the caller's"), (status = 410, description = "Expired unfinished"),
        (status = 412, description = "Tus-Resumable missing or unsupported")))]
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
    if let Some(m) = metadata_echo(&u) {
        h.insert("Upload-Metadata", m);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Append bytes at `Upload-Offset`. With `Upload-Checksum` (sha1 or sha256) a chunk that
/// does not match is refused with 460 and nothing is kept; without one, the bytes that
/// arrived before a broken connection are kept. A chunk is at most `MAX_CHUNK_BYTES`.
#[utoipa::path(patch, path = "/v1/uploads/{id}", tag = "uploads", security(("bearer" = [])),
    params(("id" = String, Path), ("Tus-Resumable" = String, Header), ("Upload-Offset" = u64, Header),
        ("Upload-Checksum" = Option<String>, Header)),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream"),
    responses((status = 204, description = "Stored; Upload-Offset is the new offset, Upload-Expires the new expiry"),
        (status = 400, description = "Upload-Offset missing, or Upload-Checksum malformed or of an unsupported algorithm", body = ErrorBody),
        (status = 404, description = "No such upload, or not the caller's", body = ErrorBody),
        (status = 409, description = "Upload-Offset is not the upload's offset (the response's Upload-Offset is)", body = ErrorBody),
        (status = 410, description = "Expired unfinished"),
        (status = 412, description = "Tus-Resumable missing or unsupported"),
        (status = 413, description = "More bytes than Upload-Length leaves room for, or than one chunk may hold", body = ErrorBody),
        (status = 415, description = "Content-Type is not application/offset+octet-stream"),
        (status = 460, description = "Checksum mismatch; nothing kept")))]
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
        return ApiError::bad_request("Upload-Offset is required").into_response();
    };
    let c = match chunk(&headers) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    // Only the owner may take the upload over from a request still holding it.
    if let Err(r) = owned(&state, &caller, &id).await {
        return r;
    }
    let mut held = state.upload_locks().acquire(&id).await;
    let upload = match owned(&state, &caller, &id).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    if offset != upload.offset {
        return offset_conflict(
            &format!(
                "Upload-Offset {offset} does not match the upload's offset {}",
                upload.offset
            ),
            upload.offset,
        );
    }
    match write_chunk(&state, &upload, &mut held, c, body).await {
        Ok(Ok(new_offset)) => {
            let mut r = status(StatusCode::NO_CONTENT);
            let h = r.headers_mut();
            h.insert("Upload-Offset", HeaderValue::from(new_offset));
            h.insert("Upload-Expires", http_date(now_ms() + ttl_ms(&state)));
            r
        }
        Ok(Err(refused)) => refused,
        Err(e) => e.into_response(),
    }
}

/// Give up an upload (termination): its bytes are deleted. An upload already used as an
/// attachment cannot be terminated (409).
#[utoipa::path(delete, path = "/v1/uploads/{id}", tag = "uploads", security(("bearer" = [])),
    params(("id" = String, Path), ("Tus-Resumable" = String, Header)),
    responses((status = 204, description = "Terminated (also when it had expired)"),
        (status = 404, description = "No such upload, or not the caller's", body = ErrorBody),
        (status = 409, description = "Already attached to homework or work", body = ErrorBody),
        (status = 412, description = "Tus-Resumable missing or unsupported")))]
pub async fn terminate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = version_refused(&headers) {
        return r;
    }
    match owned(&state, &caller, &id).await {
        Ok(_) => {}
        // An expired upload can still be given up: that frees its disk at once.
        Err(r) if r.status() == StatusCode::GONE => {}
        Err(r) => return r,
    }
    // Stops a PATCH still writing it.
    let _held = state.upload_locks().acquire(&id).await;
    match terminate_inner(&state, &caller, &id).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn terminate_inner(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Response> {
    let deleted =
        sqlx::query("DELETE FROM uploads WHERE id = $1 AND owner_id = $2 AND attached_at IS NULL")
            .bind(id)
            .bind(&caller.user_id)
            .execute(state.db().pool())
            .await?;
    if deleted.rows_affected() > 0 {
        state.blobs().remove(id).await;
        return Ok(status(StatusCode::NO_CONTENT));
    }
    let mut conn = state.db().pool().acquire().await?;
    match uploads::load(&mut conn, id).await? {
        Some(_) => Err(ApiError::conflict(
            "this upload is already attached and cannot be deleted",
        )),
        None => Err(ApiError::not_found("upload")),
    }
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
