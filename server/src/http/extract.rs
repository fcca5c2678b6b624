//! Request extractors and layers shared by the routes: JSON bodies and query strings with typed
//! errors, the text checks every string of a request passes (`crate::text`), and the server
//! clock on every response.
//!
//! The checks live here, not in the routes, so a new route cannot forget them: every string of
//! a JSON body ([`ApiJson`]) and every path segment and query parameter ([`checked_uri`]) is
//! refused with a 422 naming the field when it holds NUL or another control character, and a
//! JSON `title` or `name` when it is more than one line or shows nothing.

use axum::{
    body::Body,
    extract::{FromRequest, FromRequestParts, Query, Request, rejection::JsonRejection},
    http::{HeaderValue, StatusCode, header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
};
use lianxiao_protocol::{MAX_JSON_BODY_BYTES, SERVER_TIME_HEADER};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{
    clock::now_ms,
    error::{ApiError, ApiResult},
    text,
};

/// `axum::Json`, but a bad body answers with our error body (400, or 413 when too large), and
/// every string in it passes the text checks first (422 with the field's path).
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let value = match axum::Json::<Value>::from_request(req, state).await {
            Ok(axum::Json(value)) => value,
            Err(rejection) => return Err(json_error(rejection)),
        };
        check_json(&value, &mut String::new(), false)?;
        // serde's message names the field and the problem, never the value.
        serde_path_to_error::deserialize(value)
            .map(ApiJson)
            .map_err(|e| ApiError::bad_request(format!("invalid request: {e}")))
    }
}

/// JSON keys whose strings are one-line names shown in lists: notice, homework, lesson and
/// replay titles, names of people and classes.
const LINE_KEYS: [&str; 2] = ["title", "name"];

/// Walks every string (and object key) of a body; `path` is the field as the error names it
/// (`title`, `audience.class_ids[0]`).
fn check_json(value: &Value, path: &mut String, line: bool) -> ApiResult<()> {
    match value {
        Value::String(s) if line => text::check_line(field(path), s),
        Value::String(s) => text::check_text(field(path), s),
        Value::Array(items) => {
            let len = path.len();
            for (i, item) in items.iter().enumerate() {
                path.push_str(&format!("[{i}]"));
                check_json(item, path, line)?;
                path.truncate(len);
            }
            Ok(())
        }
        Value::Object(map) => {
            let len = path.len();
            for (key, item) in map {
                text::check_line(field(path), key)?;
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                check_json(item, path, LINE_KEYS.contains(&key.as_str()))?;
                path.truncate(len);
            }
            Ok(())
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
    }
}

fn field(path: &str) -> &str {
    if path.is_empty() { "body" } else { path }
}

fn json_error(rejection: JsonRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::too_large(MAX_JSON_BODY_BYTES);
    }
    match rejection {
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::bad_request("expected a JSON body with Content-Type: application/json")
        }
        JsonRejection::JsonDataError(e) => {
            ApiError::bad_request(format!("invalid request: {}", e.body_text()))
        }
        JsonRejection::JsonSyntaxError(_) => {
            ApiError::bad_request("request body is not valid JSON")
        }
        other => ApiError::bad_request(other.body_text()),
    }
}

/// `axum::extract::Query`, answering a query string that does not parse with our error body
/// (400) instead of axum's plain text.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::try_from_uri(&parts.uri)
            .map(|Query(value)| ApiQuery(value))
            .map_err(|e| ApiError::bad_request(e.body_text()))
    }
}

/// Refuses (422) a request whose path or query string holds NUL or another control character,
/// percent-encoded or not, before any route sees it: `GET /v1/notices/%00` reached PostgreSQL,
/// which cannot store NUL and answered 500. The field is `path`, or the query parameter's name.
pub async fn checked_uri(req: Request, next: Next) -> Response {
    match check_uri(req.uri()) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

fn check_uri(uri: &axum::http::Uri) -> ApiResult<()> {
    let path = percent_encoding::percent_decode_str(uri.path()).decode_utf8_lossy();
    text::check_line("path", &path)?;
    if let Ok(Query(params)) = Query::<Vec<(String, String)>>::try_from_uri(uri) {
        for (name, value) in &params {
            text::check_line("query", name)?;
            text::check_text(name, value)?;
        }
    }
    Ok(())
}

/// Adds `X-Server-Time` to every response: phones' clocks are wrong, the server's decides.
pub async fn server_time(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&now_ms().to_string()) {
        response.headers_mut().insert(SERVER_TIME_HEADER, v);
    }
    response
}

/// Turns axum's plain-text answers into our error body: the 413 of a body limit hit before our
/// extractor ran, and the 400 of its `Path` and `Query` extractors (a path id or a query
/// number that does not parse), so every 4xx a client sees is an `ErrorBody`.
pub async fn typed_limits(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json {
        return response;
    }
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::too_large(MAX_JSON_BODY_BYTES).into_response(),
        StatusCode::BAD_REQUEST if is_plain_text(&response) => {
            // axum's rejection texts are short ("Failed to deserialize query string: ...").
            let text = match axum::body::to_bytes(response.into_body(), 4096).await {
                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(_) => "bad request".to_owned(),
            };
            ApiError::bad_request(text).into_response()
        }
        _ => response,
    }
}

fn is_plain_text(response: &Response<Body>) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/plain"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: Value) -> Result<(), String> {
        check_json(&body, &mut String::new(), false).map_err(|e| e.body.field.unwrap_or_default())
    }

    #[test]
    fn every_string_of_a_body_is_checked_and_the_field_named() {
        use serde_json::json;
        assert_eq!(
            check(json!({"title": "春游", "body": "第一行\n第二行"})),
            Ok(())
        );
        assert_eq!(check(json!({"login": "t_wang\u{0}"})), Err("login".into()));
        assert_eq!(
            check(json!({"audience": {"class_ids": ["c1", "c\u{0}"]}})),
            Err("audience.class_ids[1]".into())
        );
        assert_eq!(check(json!({"title": "\u{200B}"})), Err("title".into()));
        assert_eq!(check(json!({"title": "a\nb"})), Err("title".into()));
        assert_eq!(
            check(json!({"items": [{"name": "\u{202E}"}]})),
            Err("items[0].name".into())
        );
        // A body may be blank-looking text; only names and titles must show something.
        assert_eq!(check(json!({"text": "\u{200B}"})), Ok(()));
        assert_eq!(check(json!({"k\u{0}": 1})), Err("body".into()));
        assert_eq!(check(json!("\u{0}")), Err("body".into()));
    }

    #[test]
    fn paths_and_queries_with_control_characters_are_refused() {
        let field = |uri: &str| {
            check_uri(&uri.parse().unwrap())
                .err()
                .and_then(|e| e.body.field)
        };
        assert_eq!(field("/v1/notices/abc?limit=5"), None);
        assert_eq!(field("/v1/notices/%E6%98%A5"), None);
        assert_eq!(field("/v1/notices/%00"), Some("path".into()));
        assert_eq!(field("/v1/notices/a%0Ab"), Some("path".into()));
        assert_eq!(field("/v1/sync?since=%00"), Some("since".into()));
        assert_eq!(field("/v1/sync?x=a%0Ab"), None, "query values are text");
    }
}
