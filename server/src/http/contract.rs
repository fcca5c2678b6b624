//! The OpenAPI document as a promise the server keeps. Some answers do not come from a route's
//! handler but from what every route shares — the `Caller` extractor (401), the JSON and query
//! extractors and the text checks (`extract`: 400, 413, 422) — so they are added to every
//! operation here, in one place, instead of being remembered in each annotation.
//! The integer ranges the document gives query parameters are enforced here too
//! ([`query_bounds`]). `tests/fuzz/run.sh` (schemathesis) checks the server against it all.

use std::{collections::HashMap, sync::Arc};

use axum::{
    extract::{MatchedPath, Query, Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use utoipa::openapi::{
    ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder,
    path::{Operation, ParameterIn},
};

use crate::error::ApiError;

/// Adds the shared answers to every operation that can give them, keeping any the route
/// already documents (its own words are more precise).
pub fn add_common_responses(doc: &mut OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let path_params = path.contains('{');
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
            &mut item.options,
        ]
        .into_iter()
        .flatten()
        {
            add_to(op, path_params);
        }
    }
}

fn add_to(op: &mut Operation, path_params: bool) {
    let query = op
        .parameters
        .iter()
        .flatten()
        .any(|p| matches!(p.parameter_in, ParameterIn::Query));
    // Every body passes a size limit and an extractor that can refuse it (JSON, UTF-8 text).
    let body = op.request_body.is_some();
    if requires_token(op) {
        add(
            op,
            "401",
            "No valid access token (missing, expired or signed out)",
        );
    }
    if body || query {
        add(
            op,
            "400",
            "The body or the query string does not parse (not JSON, a wrong type, a missing field)",
        );
    }
    if body {
        add(op, "413", "The body is larger than the limit");
    }
    let idempotent = op
        .parameters
        .iter()
        .flatten()
        .any(|p| matches!(p.parameter_in, ParameterIn::Header) && p.name == "Idempotency-Key");
    if idempotent {
        add(
            op,
            "409",
            "The Idempotency-Key was already used for a different request",
        );
    }
    if body || query || path_params {
        add(
            op,
            "422",
            "A field is invalid; `field` names it (a control character such as NUL, a title that shows nothing, a value out of range)",
        );
    }
}

/// An operation with a security requirement that is not the empty (optional) one.
fn requires_token(op: &Operation) -> bool {
    op.security.iter().flatten().any(|requirement| {
        serde_json::to_value(requirement)
            .ok()
            .and_then(|v| v.as_object().map(|o| !o.is_empty()))
            .unwrap_or(false)
    })
}

fn add(op: &mut Operation, status: &str, description: &str) {
    op.responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("ErrorBody")))
                            .build(),
                    )
                    .build(),
            )
        });
}

/// The range each integer query parameter has in the document — its `minimum` and `maximum`,
/// else the range of its `format` (`int32`, `int64`) — per route, enforced by [`query_bounds`]
/// so a documented maximum is a promise: `limit=2147483648` on a `u32` the document calls
/// `int32` was accepted, and a route that clamped a value too large answered as if it fitted.
#[derive(Clone, Default)]
pub struct QueryBounds(Arc<HashMap<(String, String), Vec<Bound>>>);

struct Bound {
    name: String,
    min: Option<i128>,
    max: Option<i128>,
}

impl QueryBounds {
    pub fn from_doc(doc: &OpenApi) -> QueryBounds {
        let mut routes = HashMap::new();
        for (path, item) in &doc.paths.paths {
            for (method, op) in [
                ("GET", &item.get),
                ("PUT", &item.put),
                ("POST", &item.post),
                ("DELETE", &item.delete),
                ("PATCH", &item.patch),
                ("HEAD", &item.head),
            ] {
                let Some(op) = op else { continue };
                let bounds: Vec<Bound> = op
                    .parameters
                    .iter()
                    .flatten()
                    .filter(|p| matches!(p.parameter_in, ParameterIn::Query))
                    .filter_map(|p| integer_bound(&p.name, p.schema.as_ref()?))
                    .collect();
                if !bounds.is_empty() {
                    routes.insert((method.to_owned(), path.clone()), bounds);
                }
            }
        }
        QueryBounds(Arc::new(routes))
    }
}

/// Read from the schema as JSON, which is how clients see it.
fn integer_bound(name: &str, schema: &RefOr<utoipa::openapi::Schema>) -> Option<Bound> {
    let schema = serde_json::to_value(schema).ok()?;
    let is_integer = match &schema["type"] {
        serde_json::Value::String(t) => t == "integer",
        serde_json::Value::Array(types) => types.iter().any(|t| t == "integer"),
        _ => false,
    };
    if !is_integer {
        return None;
    }
    let (format_min, format_max) = match schema["format"].as_str() {
        Some("int32") => (Some(i32::MIN as i128), Some(i32::MAX as i128)),
        Some("int64") => (Some(i64::MIN as i128), Some(i64::MAX as i128)),
        _ => (None, None),
    };
    let number = |key: &str| schema[key].as_f64().map(|v| v as i128);
    Some(Bound {
        name: name.to_owned(),
        min: number("minimum").or(format_min),
        max: number("maximum").or(format_max),
    })
}

/// Refuses (422, `field` = the parameter) an integer query parameter outside the range the
/// document gives it. Values that are not integers are left to the route's extractor (400).
pub async fn query_bounds(State(bounds): State<QueryBounds>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| (req.method().as_str().to_owned(), p.as_str().to_owned()));
    if let Some(params) = route.and_then(|r| bounds.0.get(&r))
        && let Ok(Query(query)) = Query::<Vec<(String, String)>>::try_from_uri(req.uri())
    {
        for (name, value) in &query {
            let Some(bound) = params.iter().find(|b| &b.name == name) else {
                continue;
            };
            let Ok(v) = value.parse::<i128>() else {
                continue;
            };
            let low = bound.min.is_some_and(|min| v < min);
            let high = bound.max.is_some_and(|max| v > max);
            if low || high {
                let range = match (bound.min, bound.max) {
                    (Some(min), Some(max)) => format!("{min} to {max}"),
                    (Some(min), None) => format!("at least {min}"),
                    (None, Some(max)) => format!("at most {max}"),
                    (None, None) => String::new(),
                };
                return ApiError::validation(name, format!("{name} must be {range}"))
                    .into_response();
            }
        }
    }
    next.run(req).await
}
