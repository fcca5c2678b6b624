//! Sign-in, tokens and bad input, through the API directly.

use lianxiao_tests::{
    Backend, TestServer,
    api::{Api, send},
    logins::*,
};
use reqwest::{Method, StatusCode};
use serde_json::json;

fn server() -> TestServer {
    let server = TestServer::start(&Backend::from_env());
    server.import_demo_roster();
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_rotates_and_a_reused_refresh_token_revokes_the_session() {
    let server = server();
    let base = server.url();
    let parent = Api::login(&base, PARENT_ONE_CHILD).await;

    let first = send(
        &base,
        Method::POST,
        "/v1/auth/refresh",
        Some(json!({"refresh_token": parent.refresh})),
        &[],
    )
    .await;
    assert_eq!(first.status, StatusCode::OK);
    let rotated = first.body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rotated, parent.refresh);

    // The old token again: someone copied it. The whole session ends.
    let reuse = send(
        &base,
        Method::POST,
        "/v1/auth/refresh",
        Some(json!({"refresh_token": parent.refresh})),
        &[],
    )
    .await;
    assert_eq!(reuse.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reuse.code(), "unauthorized");
    let after = send(
        &base,
        Method::POST,
        "/v1/auth/refresh",
        Some(json!({"refresh_token": rotated})),
        &[],
    )
    .await;
    assert_eq!(
        after.status,
        StatusCode::UNAUTHORIZED,
        "the rotated token died with the session"
    );
    assert_eq!(
        parent.get("/v1/me").await.status,
        StatusCode::UNAUTHORIZED,
        "access tokens of the session too"
    );

    // Another device of the same person is unaffected.
    let other = Api::login(&base, PARENT_ONE_CHILD).await;
    assert_eq!(other.get("/v1/me").await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_ends_the_session() {
    let server = server();
    let base = server.url();
    let teacher = Api::login(&base, LEAD_TEACHER).await;
    let out = send(
        &base,
        Method::POST,
        "/v1/auth/logout",
        Some(json!({"refresh_token": teacher.refresh})),
        &[],
    )
    .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert_eq!(teacher.get("/v1/me").await.status, StatusCode::UNAUTHORIZED);
    let refresh = send(
        &base,
        Method::POST,
        "/v1/auth/refresh",
        Some(json!({"refresh_token": teacher.refresh})),
        &[],
    )
    .await;
    assert_eq!(refresh.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_rate_limited_per_login() {
    let server = server();
    let base = server.url();
    let wrong = json!({"login": PARENT_HEKOU, "password": "not-the-password"});
    for _ in 0..5 {
        let r = send(
            &base,
            Method::POST,
            "/v1/auth/login",
            Some(wrong.clone()),
            &[],
        )
        .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(r.code(), "unauthorized");
    }
    let limited = send(&base, Method::POST, "/v1/auth/login", Some(wrong), &[]).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.code(), "rate_limited");
    assert!(limited.headers.get("retry-after").is_some());
    assert!(limited.body["retry_after_secs"].as_u64().unwrap() > 0);
    // Even the right password waits now; other logins do not.
    let right = json!({"login": PARENT_HEKOU, "password": lianxiao_tests::DEMO_PASSWORD});
    let r = send(&base, Method::POST, "/v1/auth/login", Some(right), &[]).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    Api::login(&base, PARENT_MAIN_2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_and_forged_tokens_are_refused() {
    let server =
        TestServer::start_with_env(&Backend::from_env(), &[("LIANXIAO_ACCESS_TTL_SECS", "1")]);
    server.import_demo_roster();
    let base = server.url();
    let parent = Api::login(&base, PARENT_ONE_CHILD).await;
    assert_eq!(parent.get("/v1/me").await.status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let expired = parent.get("/v1/me").await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert_eq!(expired.code(), "unauthorized");

    // Same claims, signed with a key the server never had.
    let forged = forge_token(&parent.user_id());
    let r = send(
        &base,
        Method::GET,
        "/v1/me",
        None,
        &[("authorization", &format!("Bearer {forged}"))],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = send(
        &base,
        Method::GET,
        "/v1/me",
        None,
        &[("authorization", "Bearer not.a.token")],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = send(&base, Method::GET, "/v1/notices", None, &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

fn forge_token(user_id: &str) -> String {
    use base64::Engine;
    let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let header = b64(br#"{"alg":"HS256","typ":"JWT"}"#);
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    let claims = b64(format!(r#"{{"sub":"{user_id}","sid":"x","iat":0,"exp":{exp}}}"#).as_bytes());
    format!(
        "{header}.{claims}.{}",
        b64(b"forged-signature-bytes-forged-signature")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_bodies_get_clear_errors_and_change_nothing() {
    let server = server();
    let base = server.url();
    let teacher = Api::login(&base, LEAD_TEACHER).await;
    let auth = format!("Bearer {}", teacher.access);

    let r = teacher
        .http
        .post(format!("{base}/v1/notices"))
        .header("authorization", &auth)
        .header("content-type", "application/json")
        .body("{\"title\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "validation");

    let r = teacher.post("/v1/notices", json!({"title": "x"})).await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "missing fields: {:?}",
        r.body
    );

    let classes = teacher.taught_classes();
    let huge = "家".repeat(40_000);
    let r = teacher
        .post(
            "/v1/notices",
            json!({"title": "t", "body": huge, "audience": {"scope": "classes", "class_ids": classes}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.code(), "payload_too_large");

    let r = teacher.post_notice(&classes, "   ", false, false).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["field"], "title");

    let r = teacher
        .post(
            "/v1/notices",
            json!({"title": "t", "body": "b", "requires_ack": true, "ack_deadline": 1000,
                   "audience": {"scope": "classes", "class_ids": classes}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["field"], "ack_deadline");

    let r = teacher.get("/v1/sync?since=garbage").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["field"], "since");

    assert!(
        teacher.notice_ids().await.is_empty(),
        "no bad request created a notice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_carries_the_server_clock_and_the_openapi_document_covers_every_route() {
    let server = server();
    let base = server.url();
    let r = send(&base, Method::GET, "/v1/health", None, &[]).await;
    let server_time: i64 = r.headers["x-server-time"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!((server_time - now).abs() < 60_000);
    assert!(r.headers.get("x-request-id").is_some());

    let doc = send(&base, Method::GET, "/v1/openapi.json", None, &[]).await;
    assert_eq!(doc.status, StatusCode::OK);
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc.body["paths"].as_object().unwrap();
    for (path, method) in [
        ("/v1/health", "get"),
        ("/v1/auth/login", "post"),
        ("/v1/auth/refresh", "post"),
        ("/v1/auth/logout", "post"),
        ("/v1/me", "get"),
        ("/v1/notices", "get"),
        ("/v1/notices", "post"),
        ("/v1/notices/{id}", "get"),
        ("/v1/notices/{id}", "delete"),
        ("/v1/notices/{id}/read", "post"),
        ("/v1/notices/{id}/ack", "post"),
        ("/v1/notices/{id}/receipts", "get"),
        ("/v1/notices/{id}/remind", "post"),
        ("/v1/sync", "get"),
        ("/v1/events", "get"),
        ("/v1/admin/roster", "post"),
        ("/v1/openapi.json", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} documented"
        );
    }
    // Error responses are documented with the error schema.
    let post = &paths["/v1/notices"]["post"]["responses"];
    assert!(
        post["403"]["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .unwrap()
            .ends_with("ErrorBody")
    );
    assert!(doc.body["components"]["schemas"]["SyncItem"].is_object());
}

/// A token in a URL ends up in logs, histories and `Referer` headers: only the realtime socket,
/// which a browser cannot give headers, takes `?access_token=`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_token_in_the_url_is_taken_only_by_the_realtime_socket() {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message;

    let server = server();
    let base = server.url();
    let teacher = Api::login(&base, LEAD_TEACHER).await;
    let token = &teacher.access;
    for (method, path) in [
        (Method::GET, "/v1/me"),
        (Method::GET, "/v1/notices"),
        (Method::GET, "/v1/sync"),
        (Method::GET, "/v1/lessons"),
        (Method::POST, "/v1/notices"),
    ] {
        let body = (method == Method::POST).then(|| {
            json!({"title": "t", "body": "b",
                   "audience": {"scope": "classes", "class_ids": teacher.taught_classes()}})
        });
        let r = send(
            &base,
            method.clone(),
            &format!("{path}?access_token={token}"),
            body,
            &[],
        )
        .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {path}");
    }
    assert!(teacher.notice_ids().await.is_empty(), "nothing was posted");

    let (mut ws, _) = tokio_tungstenite::connect_async(format!(
        "{}/v1/events?access_token={token}",
        server.ws_url()
    ))
    .await
    .expect("the socket takes the token from the URL");
    let hello = tokio::time::timeout(std::time::Duration::from_secs(60), ws.next())
        .await
        .expect("hello in time")
        .unwrap()
        .unwrap();
    let Message::Text(hello) = hello else {
        panic!("{hello:?}")
    };
    assert!(hello.contains("\"hello\""));
}
