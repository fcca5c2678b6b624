//! An interactive lesson's room on the broadcast HLS path, through LiveKit's egress.
//!
//! No LiveKit server (and so no egress worker) runs here. LiveKit's webhooks are signed as
//! LiveKit signs them; its Egress service is a local endpoint that decodes and records the
//! Twirp requests (`StartRoomCompositeEgress`, `StopEgress`) as LiveKit would receive them;
//! and a real ffmpeg pushes to the RTMP address the server put in the egress request, as the
//! egress worker would. The server packages that push with its real ffmpeg into signed HLS.

use std::{
    collections::BTreeSet,
    time::{Duration, Instant},
};

use lianxiao_tests::broadcast::{fetch, follow, free_port, push, status};
use lianxiao_tests::livekit_fakes::{self, KEY, SECRET};
use lianxiao_tests::{Backend, TestServer, api::Api, logins::*};
use livekit_api::access_token::TokenVerifier;
use reqwest::{Method, StatusCode};
use serde_json::json;

const MINUTE: i64 = 60_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Waits until `check` holds, or fails with the server's log.
async fn eventually(server: &TestServer, what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{what}; server log:\n{}",
            server.log_tail(40)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The room starts: the server asks LiveKit for a RoomComposite egress streaming RTMP into the
/// lesson's own ingest; what arrives there reaches viewers (a parent outside the room, a
/// student's phone falling back) on the signed HLS of their join tickets; the egress's push
/// stopping leaves the lesson live (the room says that); the room finishing stops the egress
/// once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_livekit_room_reaches_hls_viewers_through_egress() {
    let (egress, lk_port) = livekit_fakes::egress_service().await;
    let rtmp_port = free_port();
    let ports = format!("{rtmp_port}-{rtmp_port}");
    let mut env: Vec<(&str, String)> = livekit_fakes::server_env(lk_port);
    env.extend([
        ("LIANXIAO_EGRESS_RTMP_HOST", "127.0.0.1".to_owned()),
        ("LIANXIAO_RTMP_LISTEN", "127.0.0.1".to_owned()),
        ("LIANXIAO_SRT_LISTEN", "off".to_owned()),
        ("LIANXIAO_RTMP_PORTS", ports),
        ("LIANXIAO_HLS_SEGMENT_SECS", "1".to_owned()),
    ]);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = TestServer::start_with_env(&Backend::from_env(), &env);
    server.import_demo_roster();
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let student = Api::login(&base, STUDENT_MAIN_1A).await;
    let parent = Api::login(&base, PARENT_ONE_CHILD).await;
    let start = now_ms() + 5 * MINUTE;
    let r = lead
        .post(
            "/v1/lessons",
            json!({
                "subject": "数学", "title": "认识钟表", "mode": "interactive",
                "starts_at": start, "ends_at": start + 40 * MINUTE,
                "lead_class_id": student.student_class(),
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let id = r.body["lessons"][0]["id"].as_str().unwrap().to_owned();
    let room = lianxiao_protocol::lesson_room(&id);

    // Tickets carry the room and, beside it, the lesson's HLS.
    let join = format!("/v1/lessons/{id}/join");
    let r = student.call(Method::POST, &join, None, None).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(r.body["livekit"]["token"].is_string());
    let student_low = r.body["hls"]["renditions"][0]["url"]
        .as_str()
        .expect("the interactive lesson's HLS")
        .to_owned();
    let r = parent.call(Method::POST, &join, None, None).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let parent_master = r.body["hls"]["master_url"].as_str().unwrap().to_owned();
    assert_eq!(fetch(&base, &parent_master).await.0, StatusCode::NOT_FOUND);
    assert!(egress.started.lock().unwrap().is_empty());

    // LiveKit says the room started: the egress request goes out, in LiveKit's format.
    let started = livekit_fakes::event("room_started", "EV_start", &room, None, now_ms() / 1000);
    assert_eq!(
        livekit_fakes::deliver(&base, &started).await,
        StatusCode::OK
    );
    eventually(&server, "the egress was asked for", || {
        !egress.started.lock().unwrap().is_empty()
    })
    .await;
    let (headers, req) = egress.started.lock().unwrap()[0].clone();
    assert_eq!(req.room_name, room);
    assert_eq!(req.layout, "speaker");
    assert!(req.file_outputs.is_empty() && req.segment_outputs.is_empty());
    assert_eq!(req.stream_outputs.len(), 1, "{req:?}");
    let output = &req.stream_outputs[0];
    assert_eq!(
        output.protocol,
        livekit_protocol::StreamProtocol::Rtmp as i32
    );
    let url = output.urls[0].clone();
    let prefix = format!("rtmp://127.0.0.1:{rtmp_port}/live/");
    let key = url.strip_prefix(&prefix).unwrap_or_else(|| panic!("{url}"));
    assert_eq!(key.len(), 32, "the lesson's own stream key: {url}");
    let bearer = headers["authorization"].to_str().unwrap();
    let claims = TokenVerifier::with_api_key(KEY, SECRET)
        .verify(bearer.strip_prefix("Bearer ").unwrap())
        .expect("egress calls are signed with our key");
    assert!(
        claims.video.room_record,
        "StartRoomCompositeEgress needs roomRecord"
    );
    assert_eq!(status(&lead, &id).await, "live");
    // A retried delivery asks for no second egress.
    assert_eq!(
        livekit_fakes::deliver(&base, &started).await,
        StatusCode::OK
    );

    // What the egress worker does: push the composed room to that address.
    let t = Instant::now();
    let mut egress_push = push(&url, 60);
    loop {
        if fetch(&base, &parent_master).await.0 == StatusCode::OK {
            break;
        }
        if egress_push.try_wait().unwrap().is_some() {
            egress_push = push(&url, 60);
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the egress push never reached HLS; server log:\n{}",
            server.log_tail(40)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut seen = BTreeSet::new();
    follow(&base, &student_low, 4, &mut seen).await;
    assert!(seen.len() >= 3, "segments of the room: {seen:?}");
    // The student's watching counts (segment fetches) like a broadcast viewer's.
    let r = lead.get(&format!("/v1/lessons/{id}/attendance")).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(
        r.body.to_string().contains("\"hls\""),
        "watching the room on HLS is attendance: {:?}",
        r.body
    );

    // The egress stops pushing (say it restarts): the lesson stays live, the room says so.
    egress_push.kill().unwrap();
    egress_push.wait().unwrap();
    eventually(&server, "the ingest's ffmpeg run ended", || {
        server.log_tail(60).contains("ffmpeg run ended")
    })
    .await;
    assert_eq!(status(&lead, &id).await, "live");
    assert_eq!(egress.started.lock().unwrap().len(), 1);

    // The room finishes: the egress is stopped, once.
    let finished = livekit_fakes::event("room_finished", "EV_end", &room, None, now_ms() / 1000);
    assert_eq!(
        livekit_fakes::deliver(&base, &finished).await,
        StatusCode::OK
    );
    eventually(&server, "the egress was stopped", || {
        !egress.stopped.lock().unwrap().is_empty()
    })
    .await;
    let (headers, stop) = egress.stopped.lock().unwrap()[0].clone();
    assert_eq!(stop.egress_id, livekit_fakes::egress_id(&room));
    assert!(
        headers["authorization"]
            .to_str()
            .unwrap()
            .starts_with("Bearer ")
    );
    assert_eq!(status(&lead, &id).await, "ended");
    let again = livekit_fakes::event("room_finished", "EV_end_2", &room, None, now_ms() / 1000);
    assert_eq!(livekit_fakes::deliver(&base, &again).await, StatusCode::OK);
    // The fake answers at once; give a second stop every chance to arrive before checking.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(egress.stopped.lock().unwrap().len(), 1, "stopped once");
}

/// Without `LIANXIAO_EGRESS_RTMP_HOST` an interactive lesson has no HLS and a started room
/// asks LiveKit for no egress.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_egress_host_rooms_stay_off_hls() {
    let (egress, lk_port) = livekit_fakes::egress_service().await;
    let env = livekit_fakes::server_env(lk_port);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = TestServer::start_with_env(&Backend::from_env(), &env);
    server.import_demo_roster();
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let student = Api::login(&base, STUDENT_MAIN_1A).await;
    let start = now_ms() + 5 * MINUTE;
    let r = lead
        .post(
            "/v1/lessons",
            json!({
                "subject": "数学", "title": "认识钟表", "mode": "interactive",
                "starts_at": start, "ends_at": start + 40 * MINUTE,
                "lead_class_id": student.student_class(),
            }),
        )
        .await;
    let id = r.body["lessons"][0]["id"].as_str().unwrap().to_owned();
    let r = student
        .call(Method::POST, &format!("/v1/lessons/{id}/join"), None, None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(
        r.body.get("hls").is_none_or(|h| h.is_null()),
        "{:?}",
        r.body
    );
    let room = lianxiao_protocol::lesson_room(&id);
    let started = livekit_fakes::event("room_started", "EV_s", &room, None, now_ms() / 1000);
    assert_eq!(
        livekit_fakes::deliver(&base, &started).await,
        StatusCode::OK
    );
    assert_eq!(status(&lead, &id).await, "live");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(egress.started.lock().unwrap().is_empty());
}
