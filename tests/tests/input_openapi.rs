//! The OpenAPI document lists what every route can answer, and the server keeps to the ranges
//! it gives. (tests/fuzz/run.sh checks all of it with schemathesis; these are the quick cases
//! every run has.)

use lianxiao_tests::{
    Backend, TestServer,
    api::{Api, send},
    logins::*,
};
use reqwest::{Method, StatusCode};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_documents_the_answers_shared_by_all_routes() {
    let server = TestServer::start(&Backend::from_env());
    let base = server.url();
    let doc = send(&base, Method::GET, "/v1/openapi.json", None, &[])
        .await
        .body;
    let mut missing = Vec::new();
    let mut secured = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(responses) = op["responses"].as_object() else {
                continue;
            };
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let has = |p: &Value, place: &str| p["in"] == place;
            let mut need = Vec::new();
            let token = op["security"].as_array().is_some_and(|s| {
                s.iter()
                    .any(|r| r.as_object().is_some_and(|r| !r.is_empty()))
            });
            if token {
                secured += 1;
                need.push("401");
            }
            let body = op.get("requestBody").is_some();
            let query = params.iter().any(|p| has(p, "query"));
            if body || query {
                need.push("400");
            }
            if body {
                need.push("413");
            }
            if body || query || path.contains('{') {
                need.push("422");
            }
            if params
                .iter()
                .any(|p| has(p, "header") && p["name"] == "Idempotency-Key")
            {
                need.push("409");
            }
            for status in need {
                if !responses.contains_key(status) {
                    missing.push(format!("{method} {path}: {status}"));
                }
            }
        }
    }
    assert!(secured > 50, "most routes need a token ({secured})");
    assert!(missing.is_empty(), "undocumented answers: {missing:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_numbers_outside_the_documented_range_are_refused() {
    let server = TestServer::start(&Backend::from_env());
    server.import_demo_roster();
    let base = server.url();
    let parent = Api::login(&base, PARENT_ONE_CHILD).await;

    // Documented as 1 to 500: the server used to clamp 501 and accept 2147483648 (past int32).
    for limit in ["501", "0", "2147483648"] {
        let r = parent.get(&format!("/v1/notices?limit={limit}")).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{limit}: {:?}",
            r.body
        );
        assert_eq!(r.body["field"], "limit");
    }
    let r = parent.get("/v1/notices?limit=500").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    // Not a number at all: a typed 400 (axum's answer was plain text).
    let r = parent.get("/v1/notices?limit=many").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    assert_eq!(r.code(), "validation");
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
}
