//! Live lessons and LiveKit through the API. No LiveKit server can run here: tokens are
//! checked by decoding them with LiveKit's own verifier, webhooks are signed the way LiveKit
//! signs them (a JWT whose `sha256` claim is the body's hash), and stage changes go to a
//! local endpoint that records the Twirp request (protobuf `UpdateParticipantRequest` to
//! `/twirp/livekit.RoomService/UpdateParticipant`) as LiveKit's room service would receive it.

use std::sync::{Arc, Mutex};

use axum::{Router, body::Bytes, extract::State, http::HeaderMap, routing::post};
use base64::Engine;
use lianxiao_tests::{Backend, TestServer, api::Api, logins::*};
use livekit_api::access_token::{AccessToken, Claims, TokenVerifier};
use prost::Message;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Digest;

const KEY: &str = "APIlianxiaoTest";
const SECRET: &str = "a-test-secret-that-is-long-enough-for-hs256";
const MINUTE: i64 = 60_000;

#[derive(Clone, Default)]
struct Twirp {
    requests: Arc<Mutex<Vec<(HeaderMap, livekit_protocol::UpdateParticipantRequest)>>>,
    fail: Arc<Mutex<bool>>,
}

async fn update_participant(
    State(t): State<Twirp>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, [(&'static str, &'static str); 1], Vec<u8>) {
    let req = livekit_protocol::UpdateParticipantRequest::decode(body).expect("protobuf body");
    let identity = req.identity.clone();
    t.requests.lock().unwrap().push((headers, req));
    if *t.fail.lock().unwrap() {
        let body = br#"{"code":"unavailable","msg":"node draining"}"#.to_vec();
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [("content-type", "application/json")],
            body,
        );
    }
    let info = livekit_protocol::ParticipantInfo {
        identity,
        ..Default::default()
    };
    (
        StatusCode::OK,
        [("content-type", "application/protobuf")],
        info.encode_to_vec(),
    )
}

/// A local stand-in for LiveKit's room service that records what it is sent.
async fn twirp_recorder() -> (Twirp, u16) {
    let t = Twirp::default();
    let app = Router::new()
        .route(
            "/twirp/livekit.RoomService/UpdateParticipant",
            post(update_participant),
        )
        .with_state(t.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (t, port)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn claims(ticket: &Value) -> Claims {
    let token = ticket["livekit"]["token"]
        .as_str()
        .expect("a LiveKit token");
    TokenVerifier::with_api_key(KEY, SECRET)
        .verify(token)
        .expect("signed with our key")
}

/// LiveKit's webhook: JSON body, `Authorization` a JWT with the body's sha256.
fn signed(body: &Value, secret: &str) -> (String, String) {
    let text = body.to_string();
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&text));
    let token = AccessToken::with_api_key(KEY, secret)
        .with_sha256(&hash)
        .to_jwt()
        .unwrap();
    (text, token)
}

async fn webhook(base: &str, body: &str, auth: Option<&str>) -> StatusCode {
    let mut req = lianxiao_tests::api::http()
        .post(format!("{base}/v1/livekit/webhook"))
        .header("content-type", "application/webhook+json")
        .body(body.to_owned());
    if let Some(auth) = auth {
        req = req.header("authorization", auth);
    }
    req.send().await.unwrap().status()
}

fn event(kind: &str, id: &str, room: &str, identity: Option<&str>, at_secs: i64) -> Value {
    let mut e = json!({"event": kind, "id": id, "createdAt": at_secs, "room": {"name": room}});
    if let Some(identity) = identity {
        e["participant"] = json!({"identity": identity});
    }
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_carry_each_roles_grants_and_webhooks_become_attendance() {
    let (twirp, port) = twirp_recorder().await;
    let livekit_url = format!("ws://127.0.0.1:{port}");
    let server = TestServer::start_with_env(
        &Backend::from_env(),
        &[
            ("LIANXIAO_LIVEKIT_URL", &livekit_url),
            ("LIVEKIT_API_KEY", KEY),
            ("LIVEKIT_API_SECRET", SECRET),
            // Rooms open two hours early: the stage is run below in a lesson an hour away.
            ("LIANXIAO_JOIN_EARLY_SECS", "7200"),
        ],
    );
    server.import_demo_roster();
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let student = Api::login(&base, STUDENT_MAIN_1A).await;
    let zhou = Api::login(&base, ASSISTANT_SHIQIAO).await;
    let main_1 = student.student_class();
    let shiqiao = zhou.taught_classes()[0].clone();
    let schedule = |start: i64| {
        json!({
            "subject": "语文", "title": "古诗两首", "mode": "interactive",
            "starts_at": start, "ends_at": start + 40 * MINUTE,
            "lead_class_id": main_1,
            "receiving": [{"class_id": shiqiao, "assistant_id": zhou.user_id()}],
        })
    };
    let soon = lead
        .post("/v1/lessons", schedule(now_ms() + 5 * MINUTE))
        .await;
    assert_eq!(soon.status, StatusCode::CREATED, "{:?}", soon.body);
    let lesson = soon.body["lessons"][0].clone();
    let id = lesson["id"].as_str().unwrap().to_owned();
    let room = format!("lesson-{id}");
    let ends_at = lesson["ends_at"].as_i64().unwrap();
    let join = format!("/v1/lessons/{id}/join");

    // The lead publishes, subscribes and runs the room.
    let r = lead.call(Method::POST, &join, None, None).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["role"], "lead");
    assert_eq!(r.body["livekit"]["url"], livekit_url.as_str());
    assert_eq!(r.body["livekit"]["room"], room.as_str());
    let c = claims(&r.body);
    assert_eq!(c.sub, lead.user_id());
    assert_eq!(c.name, "王丽");
    assert_eq!(c.iss, KEY);
    assert_eq!(c.video.room, room);
    assert!(c.video.room_join && c.video.room_admin);
    assert_eq!(c.video.can_publish, Some(true));
    assert_eq!(c.video.can_subscribe, Some(true));
    assert!(!c.video.hidden);
    // The token ends with the lesson (plus a little overrun), not at a fixed hour.
    let exp_ms = c.exp as i64 * 1000;
    assert!(
        exp_ms > ends_at && exp_ms <= ends_at + 11 * MINUTE,
        "{exp_ms} vs {ends_at}"
    );

    // Students and assistants watch; publishing waits for the stage.
    for (api, role, class) in [
        (&student, "student", &main_1),
        (&zhou, "assistant", &shiqiao),
    ] {
        let r = api.call(Method::POST, &join, None, None).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert_eq!(r.body["role"], role);
        let c = claims(&r.body);
        assert_eq!(c.video.can_publish, Some(false), "{role}");
        assert_eq!(c.video.can_subscribe, Some(true));
        assert!(!c.video.room_admin && !c.video.hidden);
        let meta: Value = serde_json::from_str(&c.metadata).unwrap();
        assert_eq!(meta["role"], role);
        assert_eq!(meta["class_id"], class.as_str());
    }
    // A parent follows from home and an admin looks in, both unseen.
    for (who, role) in [
        (PARENT_ONE_CHILD, "parent"),
        (SCHOOL_ADMIN, "observer"),
        (COUNTY_ADMIN, "observer"),
    ] {
        let api = Api::login(&base, who).await;
        let r = api.call(Method::POST, &join, None, None).await;
        assert_eq!(r.status, StatusCode::OK, "{who}: {:?}", r.body);
        assert_eq!(r.body["role"], role);
        let c = claims(&r.body);
        assert!(c.video.hidden, "{who}");
        assert_eq!(c.video.can_publish, Some(false));
    }
    // Outsiders get nothing; tomorrow's lesson is not open yet.
    let outsider = Api::login(&base, STUDENT_MAIN_2A).await;
    let r = outsider.call(Method::POST, &join, None, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let later = lead
        .post("/v1/lessons", schedule(now_ms() + 24 * 60 * MINUTE))
        .await;
    let later_id = later.body["lessons"][0]["id"].as_str().unwrap().to_owned();
    let r = student
        .call(
            Method::POST,
            &format!("/v1/lessons/{later_id}/join"),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);

    // Webhooks: the room starts, the student comes and goes twice, the room finishes.
    let t0 = now_ms() / 1000;
    let student_id = student.user_id();
    let events = [
        event("room_started", "EV_start", &room, None, t0),
        event(
            "participant_joined",
            "EV_j1",
            &room,
            Some(&student_id),
            t0 + 10,
        ),
        event(
            "participant_left",
            "EV_l1",
            &room,
            Some(&student_id),
            t0 + 70,
        ),
        event(
            "participant_joined",
            "EV_j2",
            &room,
            Some(&student_id),
            t0 + 100,
        ),
    ];
    for e in &events {
        let (body, token) = signed(e, SECRET);
        assert_eq!(
            webhook(&base, &body, Some(&token)).await,
            StatusCode::OK,
            "{e}"
        );
    }
    let r = lead.get(&format!("/v1/lessons/{id}")).await;
    assert_eq!(r.body["status"], "live");
    // LiveKit retries a delivery: nothing is counted twice.
    let (body, token) = signed(&events[1], SECRET);
    assert_eq!(webhook(&base, &body, Some(&token)).await, StatusCode::OK);
    // Unsigned, signed with another secret, or a body altered after signing: refused.
    let forged = event(
        "participant_joined",
        "EV_forged",
        &room,
        Some(&lead.user_id()),
        t0,
    );
    let (body, token) = signed(&forged, "not-our-secret-not-our-secret-not-ours");
    assert_eq!(
        webhook(&base, &body, Some(&token)).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(webhook(&base, &body, None).await, StatusCode::UNAUTHORIZED);
    let (_, token) = signed(&events[1], SECRET);
    let altered = event(
        "participant_joined",
        "EV_j1",
        &room,
        Some(&lead.user_id()),
        t0,
    );
    assert_eq!(
        webhook(&base, &altered.to_string(), Some(&token)).await,
        StatusCode::UNAUTHORIZED
    );
    let (body, token) = signed(
        &event("room_finished", "EV_end", &room, None, t0 + 160),
        SECRET,
    );
    assert_eq!(webhook(&base, &body, Some(&token)).await, StatusCode::OK);
    let r = lead.get(&format!("/v1/lessons/{id}")).await;
    assert_eq!(r.body["status"], "ended");

    let r = lead.get(&format!("/v1/lessons/{id}/attendance")).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let people = r.body.as_array().unwrap();
    assert_eq!(
        people.len(),
        1,
        "the forged join was not recorded: {people:?}"
    );
    assert_eq!(people[0]["user"]["id"], student_id.as_str());
    assert_eq!(people[0]["class_id"], main_1.as_str());
    assert_eq!(people[0]["intervals"].as_array().unwrap().len(), 2);
    assert_eq!(people[0]["total_ms"], (60 + 60) * 1000, "{:?}", people[0]);
    let r = student.get(&format!("/v1/lessons/{id}/attendance")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // An ended lesson cannot be joined.
    let r = student.call(Method::POST, &join, None, None).await;
    assert_eq!(r.status, StatusCode::CONFLICT);

    // Stage control goes to LiveKit's room service as a Twirp call, only while the lesson's
    // room is open: tomorrow's lesson refuses it without calling LiveKit.
    let r = lead
        .post(
            &format!("/v1/lessons/{later_id}/stage"),
            json!({"user_id": student_id, "on_stage": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    assert_eq!(r.code(), "lesson_not_live");
    assert!(twirp.requests.lock().unwrap().is_empty());
    let next = lead
        .post("/v1/lessons", schedule(now_ms() + 60 * MINUTE))
        .await;
    assert_eq!(next.status, StatusCode::CREATED, "{:?}", next.body);
    let later_id = next.body["lessons"][0]["id"].as_str().unwrap().to_owned();
    let stage = format!("/v1/lessons/{later_id}/stage");
    let r = lead
        .post(&stage, json!({"user_id": student_id, "on_stage": true}))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    {
        let sent = twirp.requests.lock().unwrap();
        assert_eq!(sent.len(), 1);
        let (headers, req) = &sent[0];
        assert_eq!(req.room, format!("lesson-{later_id}"));
        assert_eq!(req.identity, student_id);
        let permission = req.permission.as_ref().expect("a permission change");
        assert!(permission.can_publish && permission.can_subscribe);
        let bearer = headers["authorization"].to_str().unwrap();
        let admin = TokenVerifier::with_api_key(KEY, SECRET)
            .verify(bearer.strip_prefix("Bearer ").unwrap())
            .expect("room service calls are signed with our key");
        assert!(admin.video.room_admin);
        assert_eq!(admin.video.room, format!("lesson-{later_id}"));
    }
    let r = lead
        .post(&stage, json!({"user_id": student_id, "on_stage": false}))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(
        !twirp.requests.lock().unwrap()[1]
            .1
            .permission
            .as_ref()
            .unwrap()
            .can_publish
    );
    // Only the lead runs the stage, and only for the lesson's students and assistants.
    let r = student
        .post(&stage, json!({"user_id": student_id, "on_stage": true}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let parent = Api::login(&base, PARENT_ONE_CHILD).await;
    let r = lead
        .post(
            &stage,
            json!({"user_id": parent.user_id(), "on_stage": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    // LiveKit unavailable: a clear retryable answer.
    *twirp.fail.lock().unwrap() = true;
    let r = lead
        .post(&stage, json!({"user_id": zhou.user_id(), "on_stage": true}))
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", r.body);
    assert_eq!(twirp.requests.lock().unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_livekit_interactive_lessons_answer_503_and_webhooks_are_refused() {
    let server = TestServer::start(&Backend::from_env());
    server.import_demo_roster();
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let main_1 = Api::login(&base, STUDENT_MAIN_1A).await.student_class();
    let start = now_ms() + 5 * MINUTE;
    let r = lead
        .post(
            "/v1/lessons",
            json!({"subject": "语文", "title": "古诗", "mode": "interactive",
                   "starts_at": start, "ends_at": start + 40 * MINUTE, "lead_class_id": main_1}),
        )
        .await;
    let id = r.body["lessons"][0]["id"].as_str().unwrap().to_owned();
    let r = lead
        .call(Method::POST, &format!("/v1/lessons/{id}/join"), None, None)
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", r.body);
    assert_eq!(r.code(), "server");
    let (body, token) = signed(&event("room_started", "EV", "lesson-x", None, 1), SECRET);
    assert_eq!(
        webhook(&base, &body, Some(&token)).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
}
