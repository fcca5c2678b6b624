//! Request extractors and layers shared by the routes: JSON bodies with typed errors, and the
//! server clock on every response.

use axum::{
    extract::{FromRequest, Request, rejection::JsonRejection},
    http::{HeaderValue, StatusCode},
    middleware::Next,
    response::Response,
};
use lianxiao_protocol::{MAX_JSON_BODY_BYTES, SERVER_TIME_HEADER};
use serde::de::DeserializeOwned;

use crate::{db::now_ms, error::ApiError};

/// `axum::Json`, but a bad body answers with our error body (400, or 413 when too large).
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_error(rejection)),
        }
    }
}

fn json_error(rejection: JsonRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::too_large(MAX_JSON_BODY_BYTES);
    }
    match rejection {
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::bad_request("expected a JSON body with Content-Type: application/json")
        }
        // serde's message names the field and position, never echoes values.
        JsonRejection::JsonDataError(e) => {
            ApiError::bad_request(format!("invalid request: {}", e.body_text()))
        }
        JsonRejection::JsonSyntaxError(_) => {
            ApiError::bad_request("request body is not valid JSON")
        }
        other => ApiError::bad_request(other.body_text()),
    }
}

/// Adds `X-Server-Time` to every response: phones' clocks are wrong, the server's decides.
pub async fn server_time(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&now_ms().to_string()) {
        response.headers_mut().insert(SERVER_TIME_HEADER, v);
    }
    response
}

/// Turns axum's plain-text 413 (body limit hit before our extractor ran) into our error body.
pub async fn typed_limits(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE
        && !response
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/json"))
    {
        use axum::response::IntoResponse;
        return ApiError::too_large(MAX_JSON_BODY_BYTES).into_response();
    }
    response
}
