//! LiveKit as the tests play it. No LiveKit server runs here: webhooks are signed the way
//! LiveKit signs them (a JWT whose `sha256` claim is the body's hash, with the deployment's
//! key pair), and LiveKit's Twirp services are local endpoints that decode and record each
//! request (protobuf bodies at `/twirp/livekit.<Service>/<Method>`) and answer as LiveKit
//! documents.

use std::sync::{Arc, Mutex};

use axum::{Router, body::Bytes, extract::State, http::HeaderMap, routing::post};
use base64::Engine;
use livekit_api::access_token::AccessToken;
use prost::Message;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Digest;

/// The key pair the test servers are given (`LIVEKIT_API_KEY`, `LIVEKIT_API_SECRET`).
pub const KEY: &str = "APIlianxiaoTest";
pub const SECRET: &str = "a-test-secret-that-is-long-enough-for-hs256";

/// Environment that points a test server at a fake LiveKit on `port`.
pub fn server_env(port: u16) -> Vec<(&'static str, String)> {
    vec![
        ("LIANXIAO_LIVEKIT_URL", format!("ws://127.0.0.1:{port}")),
        ("LIVEKIT_API_KEY", KEY.to_owned()),
        ("LIVEKIT_API_SECRET", SECRET.to_owned()),
    ]
}

/// A webhook event as LiveKit sends it (`createdAt` in seconds).
pub fn event(kind: &str, id: &str, room: &str, identity: Option<&str>, at_secs: i64) -> Value {
    let mut e = json!({"event": kind, "id": id, "createdAt": at_secs, "room": {"name": room}});
    if let Some(identity) = identity {
        e["participant"] = json!({"identity": identity});
    }
    e
}

/// The body as sent and its `Authorization` value, signed with our key pair.
pub fn signed(body: &Value) -> (String, String) {
    let text = body.to_string();
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&text));
    let token = AccessToken::with_api_key(KEY, SECRET)
        .with_sha256(&hash)
        .to_jwt()
        .expect("a signed webhook token");
    (text, token)
}

/// Delivers a signed event to the server's webhook, as LiveKit would.
pub async fn deliver(base: &str, event: &Value) -> StatusCode {
    let (body, token) = signed(event);
    crate::api::http()
        .post(format!("{base}/v1/livekit/webhook"))
        .header("content-type", "application/webhook+json")
        .header("authorization", token)
        .body(body)
        .send()
        .await
        .expect("the webhook is delivered")
        .status()
}

/// Requests LiveKit's Egress service was sent, with their headers (the `Authorization`
/// bearer is a token signed with our key pair).
#[derive(Clone, Default)]
pub struct EgressService {
    pub started: Arc<Mutex<Vec<(HeaderMap, livekit_protocol::RoomCompositeEgressRequest)>>>,
    pub stopped: Arc<Mutex<Vec<(HeaderMap, livekit_protocol::StopEgressRequest)>>>,
}

/// The egress id the fake hands out for a room.
pub fn egress_id(room: &str) -> String {
    format!("EG_{room}")
}

fn protobuf(body: Vec<u8>) -> ([(&'static str, &'static str); 1], Vec<u8>) {
    ([("content-type", "application/protobuf")], body)
}

async fn start_room_composite(
    State(s): State<EgressService>,
    headers: HeaderMap,
    body: Bytes,
) -> ([(&'static str, &'static str); 1], Vec<u8>) {
    let req = livekit_protocol::RoomCompositeEgressRequest::decode(body).expect("protobuf body");
    let info = livekit_protocol::EgressInfo {
        egress_id: egress_id(&req.room_name),
        room_name: req.room_name.clone(),
        status: livekit_protocol::EgressStatus::EgressStarting as i32,
        ..Default::default()
    };
    s.started.lock().unwrap().push((headers, req));
    protobuf(info.encode_to_vec())
}

async fn stop_egress(
    State(s): State<EgressService>,
    headers: HeaderMap,
    body: Bytes,
) -> ([(&'static str, &'static str); 1], Vec<u8>) {
    let req = livekit_protocol::StopEgressRequest::decode(body).expect("protobuf body");
    let info = livekit_protocol::EgressInfo {
        egress_id: req.egress_id.clone(),
        status: livekit_protocol::EgressStatus::EgressEnding as i32,
        ..Default::default()
    };
    s.stopped.lock().unwrap().push((headers, req));
    protobuf(info.encode_to_vec())
}

/// A local stand-in for LiveKit's Egress service (Twirp: protobuf `RoomCompositeEgressRequest`
/// to `/twirp/livekit.Egress/StartRoomCompositeEgress`, `StopEgressRequest` to
/// `/twirp/livekit.Egress/StopEgress`, each answered with an `EgressInfo`), recording what it
/// is sent. It starts no egress: the test pushes what the egress would.
pub async fn egress_service() -> (EgressService, u16) {
    let s = EgressService::default();
    let app = Router::new()
        .route(
            "/twirp/livekit.Egress/StartRoomCompositeEgress",
            post(start_room_composite),
        )
        .route("/twirp/livekit.Egress/StopEgress", post(stop_egress))
        .with_state(s.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (s, port)
}
