//! Watching a broadcast is attendance, counted once. A student's phone (the real core) joins
//! a broadcast lesson that a real ffmpeg pushes; its `LiveSession` is in broadcast mode and
//! sends the attendance heartbeats it sends in a room, queued on the phone while the school's
//! server is out of reach; the phone's player fetches the signed HLS, which the server also
//! counts. The lesson's attendance lists that one stretch once, from both sources.

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use lianxiao_core::{LiveListener, LiveState, MediaSession, PolicyConfig, VideoQuality};
use lianxiao_tests::broadcast::{follow, free_port, push_until_live};
use lianxiao_tests::{
    Backend, TestServer,
    api::Api,
    logins::*,
    phone::{PATIENCE, Phone},
    proxy::Proxy,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::watch;

const MINUTE: i64 = 60_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A broadcast has no room: the shell's media engine is never asked for anything.
struct NoRoom;

impl MediaSession for NoRoom {
    fn connect(&self, _: String, _: String) {
        panic!("a broadcast lesson has no room to connect to");
    }
    fn disconnect(&self) {}
    fn set_camera(&self, _: bool) {}
    fn set_microphone(&self, _: bool) {}
    fn set_video_quality(&self, _: VideoQuality) {}
    fn set_video_enabled(&self, _: bool) {}
}

#[derive(Clone)]
struct States(watch::Sender<Option<LiveState>>);

impl LiveListener for States {
    fn on_state(&self, state: LiveState) {
        self.0.send_replace(Some(state));
    }
}

/// The student's attendance as the lead sees it, once `ready` holds.
async fn attendance(lead: &Api, id: &str, student: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    let found = tokio::time::timeout(PATIENCE, async {
        loop {
            let r = lead.get(&format!("/v1/lessons/{id}/attendance")).await;
            assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
            last = r
                .body
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["user"]["id"] == student)
                .cloned()
                .unwrap_or(Value::Null);
            if ready(&last) {
                return last.clone();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("attendance never right: {last}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watching_a_broadcast_sends_heartbeats_and_counts_once_with_the_segment_fetches() {
    let rtmp_port = free_port();
    let ports = format!("{rtmp_port}-{rtmp_port}");
    let server = TestServer::start_with_env(
        &Backend::from_env(),
        &[
            ("LIANXIAO_RTMP_LISTEN", "127.0.0.1"),
            ("LIANXIAO_SRT_LISTEN", "off"),
            ("LIANXIAO_RTMP_PORTS", &ports),
            ("LIANXIAO_HLS_SEGMENT_SECS", "1"),
        ],
    );
    server.import_demo_roster();
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    // The student's phone reaches the school's server through a link the test can cut.
    let proxy = Proxy::to_url(&base).await;
    let student = Phone::sign_in(&proxy.url(), STUDENT_MAIN_1A).await;
    let student_id = student.client.user_id();
    let start = now_ms() + 2 * MINUTE;
    let r = lead
        .post(
            "/v1/lessons",
            json!({
                "subject": "家庭教育", "title": "怎样陪孩子读书", "mode": "broadcast",
                "starts_at": start, "ends_at": start + 10 * MINUTE,
                "lead_class_id": lead.taught_classes()[0],
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let id = r.body["lessons"][0]["id"].as_str().unwrap().to_owned();
    let publish_url = lead.get(&format!("/v1/lessons/{id}/ingest")).await.body["publish_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut encoder = push_until_live(&publish_url, &lead, &id, &server).await;
    let timetable = student.client.timetable();
    tokio::time::timeout(PATIENCE, async {
        while timetable.lesson(id.clone()).await.is_err() {
            student.client.sync_now().await.ok();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the lesson reached the phone");

    // The phone joins: broadcast mode, and heartbeats from the start.
    let states = States(watch::channel(None).0);
    let session = student.client.live().join_with(
        id.clone(),
        PolicyConfig {
            heartbeat_ms: 1_000,
            ..PolicyConfig::default()
        },
        Arc::new(NoRoom),
        Arc::new(states.clone()),
    );
    let mut rx = states.0.subscribe();
    tokio::time::timeout(PATIENCE, async {
        while !matches!(
            *rx.borrow_and_update(),
            Some(LiveState::FallbackToBroadcast { hls_url: Some(_) })
        ) {
            rx.changed().await.unwrap();
        }
    })
    .await
    .expect("the session plays the broadcast");
    let ticket = session.ticket().expect("the join's ticket");
    let low = ticket.hls.expect("HLS").renditions[0].url.clone();

    // The player plays (through the same link); the core's heartbeats come in beside it.
    let mut seen = BTreeSet::new();
    follow(&proxy.url(), &low, 3, &mut seen).await;
    let a = attendance(&lead, &id, &student_id, |a| {
        a["intervals"].to_string().contains("app")
    })
    .await;
    assert!(
        a["intervals"].to_string().contains("hls"),
        "the fetches count too: {a}"
    );

    // The school's server is out of reach for a while: the heartbeats wait on the phone.
    proxy.set_refusing(true);
    proxy.drop_all();
    let live = student.client.live();
    tokio::time::timeout(PATIENCE, async {
        while live.pending_heartbeats().await.unwrap() < 2 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("heartbeats queued while out of reach");
    let back_at = now_ms();
    proxy.set_refusing(false);
    tokio::time::timeout(PATIENCE, async {
        while live.pending_heartbeats().await.unwrap() > 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("queued heartbeats delivered");
    follow(&proxy.url(), &low, 3, &mut seen).await;

    // One stretch, from both sources, counted once.
    let a = attendance(&lead, &id, &student_id, |a| {
        a["intervals"]
            .as_array()
            .is_some_and(|i| i.len() == 1 && i[0]["left_at"].as_i64().unwrap() >= back_at)
    })
    .await;
    let only = &a["intervals"][0];
    assert_eq!(only["source"], "app+hls", "{a}");
    let span = only["left_at"].as_i64().unwrap() - only["joined_at"].as_i64().unwrap();
    assert_eq!(
        a["total_ms"].as_i64().unwrap(),
        span,
        "not counted twice: {a}"
    );
    assert!(span > 0, "{a}");

    session.leave();
    let _ = encoder.kill();
    let _ = encoder.wait();
}
