//! The OpenAPI document as a promise the server keeps. Some answers do not come from a route's
//! handler but from what every route shares — the `Caller` extractor (401), the JSON and query
//! extractors and the text checks (`extract`: 400, 413, 422) — so they are added to every
//! operation here, in one place, instead of being remembered in each annotation.
//! `tests/fuzz/run.sh` (schemathesis) checks the server against this document.

use utoipa::openapi::{
    ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder,
    path::{Operation, ParameterIn},
};

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
    let json_body = op
        .request_body
        .as_ref()
        .is_some_and(|b| b.content.contains_key("application/json"));
    if requires_token(op) {
        add(
            op,
            "401",
            "No valid access token (missing, expired or signed out)",
        );
    }
    if json_body || query {
        add(
            op,
            "400",
            "The body or the query string does not parse (not JSON, a wrong type, a missing field)",
        );
    }
    if json_body {
        add(op, "413", "The body is larger than the limit");
    }
    if json_body || query || path_params {
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
