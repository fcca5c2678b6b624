//! Broadcast lessons: the lead's ingest address, and the HLS files behind signed URLs.

use axum::{
    Json,
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};
use lianxiao_protocol::{ErrorBody, IngestTicket};
use serde::Deserialize;

use crate::{
    app::AppState,
    auth::Caller,
    broadcast::{sign::HlsGrant, viewers},
    db::now_ms,
    error::{ApiError, ApiResult},
};

/// Where the lead teacher's encoder pushes the lesson (RTMP address and stream key). The
/// first call makes the key; from the lesson's join window on, a push makes it live.
#[utoipa::path(get, path = "/v1/lessons/{id}/ingest", tag = "lessons", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = IngestTicket), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Not a broadcast lesson, or over", body = ErrorBody),
        (status = 503, description = "No ingest port free", body = ErrorBody)))]
pub async fn ingest(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<IngestTicket>> {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let mut conn = state.db().pool().acquire().await?;
    state
        .broadcasts()
        .ingest(&mut conn, &caller.user_id, &id, host)
        .await
        .map(Json)
}

/// The signature of a join ticket's HLS URLs.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct Signed {
    /// The viewer the URL was signed for.
    u: Option<String>,
    /// Expiry, Unix seconds.
    exp: Option<i64>,
    /// HMAC-SHA256 of the lesson's HLS path, the viewer and the expiry, hex.
    sig: Option<String>,
}

impl Signed {
    fn check(self, state: &AppState, lesson_id: &str) -> ApiResult<HlsGrant> {
        let (Some(user_id), Some(expires), Some(sig)) = (self.u, self.exp, self.sig) else {
            return Err(ApiError::forbidden("the URL is not signed"));
        };
        let grant = HlsGrant {
            user_id,
            expires,
            sig,
        };
        if !state
            .broadcasts()
            .signer()
            .verify(lesson_id, &grant, now_ms() / 1000)
        {
            return Err(ApiError::forbidden(
                "the URL's signature is wrong or has expired: join the lesson again",
            ));
        }
        Ok(grant)
    }
}

/// A broadcast lesson's master playlist (every rendition), its URIs signed like this URL.
#[utoipa::path(get, path = "/v1/hls/{lesson}/{file}", tag = "lessons",
    params(("lesson" = String, Path), ("file" = String, Path, description = "master.m3u8"), Signed),
    responses((status = 200, description = "HLS master playlist", content_type = "application/vnd.apple.mpegurl"),
        (status = 403, description = "Unsigned, tampered or expired", body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn master(
    State(state): State<AppState>,
    Path((lesson, file)): Path<(String, String)>,
    Query(signed): Query<Signed>,
) -> ApiResult<Response> {
    let grant = signed.check(&state, &lesson)?;
    serve(&state, &lesson, None, &file, &grant).await
}

/// A rendition's media playlist (its URIs signed like this URL) or one of its segments.
/// Fetching them counts as watching the lesson.
#[utoipa::path(get, path = "/v1/hls/{lesson}/{rendition}/{file}", tag = "lessons",
    params(("lesson" = String, Path), ("rendition" = String, Path, description = "low or audio"),
        ("file" = String, Path, description = "index.m3u8 or a segment"), Signed),
    responses((status = 200, description = "HLS media playlist or MPEG-TS segment"),
        (status = 403, description = "Unsigned, tampered or expired", body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn media(
    State(state): State<AppState>,
    Path((lesson, rendition, file)): Path<(String, String, String)>,
    Query(signed): Query<Signed>,
) -> ApiResult<Response> {
    let grant = signed.check(&state, &lesson)?;
    let response = serve(&state, &lesson, Some(&rendition), &file, &grant).await?;
    let b = state.broadcasts();
    if let Err(e) = b
        .shared()
        .viewers
        .watched(state.db(), &lesson, &grant.user_id)
        .await
    {
        tracing::warn!(error = %e, lesson = %lesson, "viewing not recorded");
    }
    Ok(response)
}

async fn serve(
    state: &AppState,
    lesson: &str,
    rendition: Option<&str>,
    file: &str,
    grant: &HlsGrant,
) -> ApiResult<Response> {
    if !viewers::servable(rendition, file) {
        return Err(ApiError::not_found("file"));
    }
    let mut path = state.broadcasts().lesson_dir(lesson);
    if let Some(r) = rendition {
        path.push(r);
    }
    path.push(file);
    let bytes = match tokio::fs::read(&path).await {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ApiError::not_found("file"));
        }
        Err(e) => return Err(anyhow::Error::from(e).into()),
    };
    let mut headers = HeaderMap::new();
    // Our own types, never a browser's guess.
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if file.ends_with(".m3u8") {
        let text = String::from_utf8_lossy(&bytes);
        let body = viewers::sign_playlist(&text, &grant.query());
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/vnd.apple.mpegurl"),
        );
        // A live playlist changes every segment.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        Ok((headers, body).into_response())
    } else {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp2t"));
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, max-age=3600"),
        );
        Ok((headers, bytes).into_response())
    }
}
