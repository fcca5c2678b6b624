//! A live lesson through the core's `LiveSession` on a simulated phone against the real
//! server (no LiveKit server can run here: the shell's media engine is a fake that records
//! what the core asks of it, and the test plays the SDK's events). The connection uses the
//! token the join returned, an outage longer than the threshold leads to a fresh ticket,
//! heartbeats become attendance, and a cancelled or ended lesson ends the session.

use std::{sync::Arc, time::Duration};

use base64::Engine;
use lianxiao_core::{
    ConnectionQuality, EndCause, LiveListener, LiveSession, LiveState, MediaEvent, MediaSession,
    PolicyConfig, RenditionChoice, RenditionReason, VideoQuality,
};
use lianxiao_tests::{
    Backend, TestServer,
    api::Api,
    logins::*,
    phone::{PATIENCE, Phone},
    proxy::Proxy,
};
use livekit_api::access_token::{AccessToken, Claims, TokenVerifier};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Digest;
use tokio::sync::watch;

const KEY: &str = "APIlianxiaoTest";
const SECRET: &str = "a-test-secret-that-is-long-enough-for-hs256";
const MINUTE: i64 = 60_000;

/// What the core asked of the shell's media engine.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Call {
    Connect { url: String, token: String },
    Disconnect,
    Camera(bool),
    Microphone(bool),
    Quality(VideoQuality),
    Video(bool),
}

#[derive(Clone)]
struct FakeMedia(watch::Sender<Vec<Call>>);

impl FakeMedia {
    fn new() -> FakeMedia {
        FakeMedia(watch::channel(Vec::new()).0)
    }

    fn push(&self, call: Call) {
        self.0.send_modify(|calls| calls.push(call));
    }

    fn calls(&self) -> Vec<Call> {
        self.0.borrow().clone()
    }

    fn connects(&self) -> Vec<(String, String)> {
        self.calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::Connect { url, token } => Some((url, token)),
                _ => None,
            })
            .collect()
    }

    /// Waits until `n` connects were asked for.
    async fn wait_connects(&self, n: usize) -> Vec<(String, String)> {
        let mut rx = self.0.subscribe();
        tokio::time::timeout(PATIENCE, async {
            loop {
                if self.connects().len() >= n {
                    return self.connects();
                }
                rx.changed().await.expect("fake alive");
            }
        })
        .await
        .unwrap_or_else(|_| panic!("never {n} connects: {:?}", self.calls()))
    }
}

impl MediaSession for FakeMedia {
    fn connect(&self, url: String, token: String) {
        self.push(Call::Connect { url, token });
    }
    fn disconnect(&self) {
        self.push(Call::Disconnect);
    }
    fn set_camera(&self, on: bool) {
        self.push(Call::Camera(on));
    }
    fn set_microphone(&self, on: bool) {
        self.push(Call::Microphone(on));
    }
    fn set_video_quality(&self, quality: VideoQuality) {
        self.push(Call::Quality(quality));
    }
    fn set_video_enabled(&self, enabled: bool) {
        self.push(Call::Video(enabled));
    }
}

/// Every state the listener was told, in order.
#[derive(Clone)]
struct States(watch::Sender<Vec<LiveState>>);

impl LiveListener for States {
    fn on_state(&self, state: LiveState) {
        self.0.send_modify(|s| s.push(state));
    }
}

impl States {
    fn new() -> States {
        States(watch::channel(Vec::new()).0)
    }

    fn all(&self) -> Vec<LiveState> {
        self.0.borrow().clone()
    }

    async fn wait(&self, what: &str, ready: impl Fn(&LiveState) -> bool) {
        let mut rx = self.0.subscribe();
        tokio::time::timeout(PATIENCE, async {
            loop {
                if rx.borrow_and_update().last().is_some_and(&ready) {
                    return;
                }
                rx.changed().await.expect("listener alive");
            }
        })
        .await
        .unwrap_or_else(|_| panic!("never {what}: {:?}", self.all()))
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn claims(token: &str) -> Claims {
    TokenVerifier::with_api_key(KEY, SECRET)
        .verify(token)
        .expect("a token signed with our key")
}

/// Quick thresholds so the test's outage is "long".
fn quick() -> PolicyConfig {
    PolicyConfig {
        rejoin_after_ms: 1_500,
        heartbeat_ms: 1_000,
        poor_window_ms: 300,
        good_window_ms: 300,
        ..PolicyConfig::default()
    }
}

struct Setup {
    server: TestServer,
    livekit_url: String,
    lead: Api,
    student: Phone,
    /// Between the student's phone and the server, when the test cuts the network.
    proxy: Option<Proxy>,
}

async fn setup() -> Setup {
    setup_with(false).await
}

async fn setup_with(through_proxy: bool) -> Setup {
    // Nothing listens there: the fake media engine never dials it.
    let livekit_url = "ws://127.0.0.1:9".to_owned();
    let server = TestServer::start_with_env(
        &Backend::from_env(),
        &[
            ("LIANXIAO_LIVEKIT_URL", &livekit_url),
            ("LIVEKIT_API_KEY", KEY),
            ("LIVEKIT_API_SECRET", SECRET),
        ],
    );
    server.import_demo_roster();
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let proxy = if through_proxy {
        Some(Proxy::to_url(&base).await)
    } else {
        None
    };
    let phone_url = proxy.as_ref().map_or(base.clone(), |p| p.url());
    let student = Phone::sign_in(&phone_url, STUDENT_MAIN_1A).await;
    Setup {
        server,
        livekit_url,
        lead,
        student,
        proxy,
    }
}

/// A ten-minute interactive lesson of the lead's class starting in `in_minutes` (open for
/// joining up to 15 minutes before); waits until the student's phone has it.
async fn lesson_soon(s: &Setup, in_minutes: i64) -> String {
    lesson_soon_in(s, in_minutes, "interactive").await
}

/// [`lesson_soon`] in either mode (`interactive` or `broadcast`).
async fn lesson_soon_in(s: &Setup, in_minutes: i64, mode: &str) -> String {
    let class = s.lead.taught_classes()[0].clone();
    let start = now_ms() + in_minutes * MINUTE;
    let r = s
        .lead
        .post(
            "/v1/lessons",
            json!({
                "subject": "语文", "title": "古诗两首", "mode": mode,
                "starts_at": start, "ends_at": start + 10 * MINUTE,
                "lead_class_id": class,
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let id = r.body["lessons"][0]["id"].as_str().unwrap().to_owned();
    let timetable = s.student.client.timetable();
    tokio::time::timeout(PATIENCE, async {
        while timetable.lesson(id.clone()).await.is_err() {
            s.student.client.sync_now().await.ok();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the lesson reached the phone");
    id
}

async fn join(s: &Setup, id: &str) -> (LiveSession, FakeMedia, States) {
    let media = FakeMedia::new();
    let states = States::new();
    let session = s.student.client.live().join_with(
        id.to_owned(),
        quick(),
        Arc::new(media.clone()),
        Arc::new(states.clone()),
    );
    (session, media, states)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_student_joins_rides_out_an_outage_with_a_fresh_ticket_and_the_cancel_ends_it() {
    let s = setup().await;
    let id = lesson_soon(&s, 2).await;
    let student_id = s.student.client.user_id();
    let (session, media, states) = join(&s, &id).await;

    // The connection uses the token the join returned: this student, this lesson's room.
    let connects = media.wait_connects(1).await;
    let (url, token) = connects[0].clone();
    assert_eq!(url, s.livekit_url);
    let ticket = session.ticket().expect("a ticket");
    assert_eq!(Some(&token), ticket.livekit.as_ref().map(|l| &l.token));
    let first = claims(&token);
    assert_eq!(first.sub, student_id);
    assert_eq!(first.video.room, format!("lesson-{id}"));
    assert_eq!(states.all()[0], LiveState::Joining, "current state first");

    // The SDK connects: live, watching in full quality, nothing published off stage.
    session.media_event(MediaEvent::Connected);
    states
        .wait("live", |s| matches!(s, LiveState::Live { .. }))
        .await;
    assert_eq!(
        session.state(),
        LiveState::Live {
            quality: VideoQuality::High,
            video_enabled: true,
            can_publish: false
        }
    );
    let calls = media.calls();
    assert!(calls.contains(&Call::Camera(false)) && calls.contains(&Call::Microphone(false)));

    // Heartbeats become the student's attendance, with source `app`.
    app_intervals(&s, &id, |spans| !spans.is_empty()).await;

    // The network drops and the SDK's reconnecting goes on too long: a new join, a new token.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    session.media_event(MediaEvent::Reconnecting);
    states
        .wait("reconnecting", |s| {
            matches!(s, LiveState::Reconnecting { .. })
        })
        .await;
    let connects = media.wait_connects(2).await;
    let (_, fresh) = connects[1].clone();
    assert_ne!(fresh, token, "a fresh ticket");
    let second = claims(&fresh);
    assert_eq!(second.sub, student_id);
    assert!(second.nbf > first.nbf);
    assert_eq!(
        session.ticket().and_then(|t| t.livekit).map(|l| l.token),
        Some(fresh.clone())
    );
    let calls = media.calls();
    let at = calls
        .iter()
        .position(|c| matches!(c, Call::Connect { token, .. } if *token == fresh))
        .unwrap();
    assert_eq!(
        calls[at - 1],
        Call::Disconnect,
        "the old connection dropped first"
    );
    assert!(
        states
            .all()
            .contains(&LiveState::Reconnecting { attempt: 1 })
    );
    session.media_event(MediaEvent::Connected);
    states
        .wait("live again", |s| matches!(s, LiveState::Live { .. }))
        .await;

    // The teacher cancels the lesson: the phone hears of it and the session ends.
    let r = s
        .lead
        .post(
            &format!("/v1/lessons/{id}/cancel"),
            json!({"reason": "停电"}),
        )
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);
    states
        .wait("ended", |s| matches!(s, LiveState::Ended { .. }))
        .await;
    assert_eq!(
        session.state(),
        LiveState::Ended {
            cause: EndCause::Cancelled
        }
    );
    assert_eq!(media.calls().last(), Some(&Call::Disconnect));

    // Joining a cancelled lesson ends at once, with the same cause, and connects nothing.
    let (again, media, states) = join(&s, &id).await;
    states
        .wait("ended", |s| matches!(s, LiveState::Ended { .. }))
        .await;
    assert_eq!(
        again.state(),
        LiveState::Ended {
            cause: EndCause::Cancelled
        }
    );
    assert!(media.connects().is_empty());
    drop(s.server);
}

/// LiveKit's webhook: JSON body, `Authorization` a JWT with the body's sha256.
async fn room_finished(base: &str, room: &str) {
    let body: Value = json!({
        "event": "room_finished", "id": format!("EV_{room}"),
        "createdAt": now_ms() / 1000, "room": {"name": room},
    });
    let text = body.to_string();
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&text));
    let token = AccessToken::with_api_key(KEY, SECRET)
        .with_sha256(&hash)
        .to_jwt()
        .unwrap();
    let r = lianxiao_tests::api::http()
        .post(format!("{base}/v1/livekit/webhook"))
        .header("content-type", "application/webhook+json")
        .header("authorization", token)
        .body(text)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lesson_ending_in_livekit_ends_the_session_and_leaving_disconnects() {
    let s = setup().await;
    let id = lesson_soon(&s, 2).await;
    let (session, media, states) = join(&s, &id).await;
    media.wait_connects(1).await;
    session.media_event(MediaEvent::Connected);
    states
        .wait("live", |s| matches!(s, LiveState::Live { .. }))
        .await;
    // Brought on stage: the camera and microphone go on.
    session.media_event(MediaEvent::PermissionsChanged { can_publish: true });
    states
        .wait("on stage", |s| {
            matches!(
                s,
                LiveState::Live {
                    can_publish: true,
                    ..
                }
            )
        })
        .await;
    let calls = media.calls();
    assert_eq!(
        calls[calls.len() - 2..],
        [Call::Camera(true), Call::Microphone(true)]
    );

    // The network turns poor and stays so (the SDK reports once): down to audio only on the
    // session's own timer, the camera off; good again, video comes back rung by rung.
    session.media_event(MediaEvent::ConnectionQuality {
        quality: ConnectionQuality::Poor,
    });
    states
        .wait("audio only", |s| {
            matches!(
                s,
                LiveState::Live {
                    video_enabled: false,
                    ..
                }
            )
        })
        .await;
    let calls = media.calls();
    assert!(
        calls.ends_with(&[Call::Video(false), Call::Camera(false)]),
        "{calls:?}"
    );
    session.media_event(MediaEvent::ConnectionQuality {
        quality: ConnectionQuality::Excellent,
    });
    states
        .wait("full video", |s| {
            matches!(
                s,
                LiveState::Live {
                    quality: VideoQuality::High,
                    video_enabled: true,
                    ..
                }
            )
        })
        .await;
    assert_eq!(media.calls().last(), Some(&Call::Camera(true)));
    let qualities: Vec<VideoQuality> = media
        .calls()
        .into_iter()
        .filter_map(|c| match c {
            Call::Quality(q) => Some(q),
            _ => None,
        })
        .collect();
    use VideoQuality::*;
    assert_eq!(qualities, vec![High, Medium, Low, Low, Medium, High]);

    // LiveKit says the room finished: the lesson is over for the phone too.
    room_finished(&s.server.url(), &format!("lesson-{id}")).await;
    states
        .wait("ended", |s| matches!(s, LiveState::Ended { .. }))
        .await;
    assert_eq!(
        session.state(),
        LiveState::Ended {
            cause: EndCause::LessonOver
        }
    );
    assert_eq!(media.calls().last(), Some(&Call::Disconnect));

    // Leaving another lesson disconnects and says so.
    let other = lesson_soon(&s, 13).await;
    let (session, media, states) = join(&s, &other).await;
    media.wait_connects(1).await;
    session.media_event(MediaEvent::Connected);
    states
        .wait("live", |s| matches!(s, LiveState::Live { .. }))
        .await;
    session.leave();
    states
        .wait("left", |s| {
            *s == LiveState::Ended {
                cause: EndCause::Left,
            }
        })
        .await;
    assert_eq!(media.calls().last(), Some(&Call::Disconnect));
}

/// The student's `app` attendance intervals as the lead sees them, once `ready` holds.
async fn app_intervals(
    s: &Setup,
    id: &str,
    ready: impl Fn(&[(i64, i64)]) -> bool,
) -> Vec<(i64, i64)> {
    let student_id = s.student.client.user_id();
    let mut last = Vec::new();
    let found = tokio::time::timeout(PATIENCE, async {
        loop {
            let r = s.lead.get(&format!("/v1/lessons/{id}/attendance")).await;
            assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
            last = r
                .body
                .as_array()
                .unwrap()
                .iter()
                .filter(|a| a["user"]["id"] == student_id.as_str())
                .flat_map(|a| a["intervals"].as_array().unwrap().clone())
                .filter(|i| i["source"] == "app")
                .map(|i| {
                    (
                        i["joined_at"].as_i64().unwrap(),
                        i["left_at"].as_i64().unwrap(),
                    )
                })
                .collect();
            if ready(&last) {
                return last.clone();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("attendance never right: {last:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_made_while_the_school_server_is_unreachable_count_once_it_is_back() {
    let s = setup_with(true).await;
    let proxy = s.proxy.as_ref().unwrap();
    let id = lesson_soon(&s, 2).await;
    let (session, media, states) = join(&s, &id).await;
    media.wait_connects(1).await;
    session.media_event(MediaEvent::Connected);
    states
        .wait("live", |s| matches!(s, LiveState::Live { .. }))
        .await;
    let first = app_intervals(&s, &id, |spans| !spans.is_empty()).await;
    let joined_at = first[0].0;

    // The school's server cannot be reached (the media, elsewhere, goes on): the heartbeats
    // wait on the phone.
    proxy.set_refusing(true);
    proxy.drop_all();
    let cut_at = now_ms();
    let live = s.student.client.live();
    tokio::time::timeout(PATIENCE, async {
        while live.pending_heartbeats().await.unwrap() < 3 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("heartbeats queued while offline");
    let back_at = now_ms();
    assert!(back_at - cut_at >= 2_000);

    // Back: they are delivered, and the one interval now covers the time offline.
    proxy.set_refusing(false);
    tokio::time::timeout(PATIENCE, async {
        while live.pending_heartbeats().await.unwrap() > 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("queued heartbeats delivered");
    let spans = app_intervals(&s, &id, |spans| {
        spans.iter().any(|(_, left)| *left >= back_at - 1_500)
    })
    .await;
    assert_eq!(spans.len(), 1, "one stretch, no gap: {spans:?}");
    assert_eq!(spans[0].0, joined_at);
    session.leave();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_heartbeat_endpoint_extends_one_interval_and_starts_another_after_a_gap() {
    let s = setup().await;
    let base = s.server.url();
    let id = lesson_soon(&s, 2).await;
    let student = Api::login(&base, STUDENT_MAIN_1A).await;
    let beat = |at: i64| json!({ "at": at });
    let path = format!("/v1/lessons/{id}/heartbeat");

    let t = now_ms();
    let r = student.post(&path, beat(t)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["source"], "app");
    assert_eq!(
        (r.body["joined_at"].as_i64(), r.body["left_at"].as_i64()),
        (Some(t), Some(t))
    );
    // Heartbeats 30 s apart (a late one from the phone's queue among them) make one stretch.
    let r = student.post(&path, beat(t - 30_000)).await;
    assert_eq!(r.body["joined_at"].as_i64(), Some(t - 30_000));
    assert_eq!(r.body["left_at"].as_i64(), Some(t));
    // Sent twice (a lost answer), it changes nothing.
    let again = student.post(&path, beat(t - 30_000)).await;
    assert_eq!(again.body, r.body);
    // After two minutes away, a new stretch.
    let r = student.post(&path, beat(t - 150_000)).await;
    assert_eq!(r.body["joined_at"].as_i64(), Some(t - 150_000));
    assert_eq!(r.body["left_at"].as_i64(), Some(t - 150_000));
    let spans = app_intervals(&s, &id, |spans| spans.len() == 2).await;
    assert_eq!(spans, vec![(t - 150_000, t - 150_000), (t - 30_000, t)]);
    // A heartbeat "from the future" counts as now, not later.
    let r = student.post(&path, beat(t + 3_600_000)).await;
    assert!(r.body["left_at"].as_i64().unwrap() < t + 60_000);

    // Outside the lesson's time, outside the lesson, or a cancelled lesson: refused.
    let later = lesson_soon(&s, 24 * 60).await;
    let r = student
        .post(&format!("/v1/lessons/{later}/heartbeat"), beat(now_ms()))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    let outsider = Api::login(&base, STUDENT_MAIN_2A).await;
    assert_eq!(
        outsider.post(&path, beat(now_ms())).await.status,
        StatusCode::NOT_FOUND
    );
    let r = s
        .lead
        .post(&format!("/v1/lessons/{id}/cancel"), json!({}))
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);
    assert_eq!(
        student.post(&path, beat(now_ms())).await.status,
        StatusCode::CONFLICT
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_lesson_goes_to_its_hls_playlist_without_a_room() {
    let s = setup().await;
    let id = lesson_soon_in(&s, 2, "broadcast").await;
    let (session, media, states) = join(&s, &id).await;
    states
        .wait("the broadcast", |s| {
            matches!(s, LiveState::FallbackToBroadcast { .. })
        })
        .await;
    let LiveState::FallbackToBroadcast { hls_url: Some(url) } = session.state() else {
        panic!("no playlist: {:?}", session.state());
    };
    let prefix = format!("{}/v1/hls/{id}/master.m3u8?", s.server.url());
    assert!(url.starts_with(&prefix), "{url}");
    assert!(media.connects().is_empty(), "no room to connect to");
}

/// Every broadcast rendition the listener was told, in order.
#[derive(Clone)]
struct Renditions(watch::Sender<Vec<RenditionChoice>>);

impl LiveListener for Renditions {
    fn on_state(&self, _: LiveState) {}

    fn on_rendition(&self, choice: RenditionChoice) {
        self.0.send_modify(|c| c.push(choice));
    }
}

impl Renditions {
    /// The `n`th rendition told (from 1), once it was.
    async fn nth(&self, n: usize) -> RenditionChoice {
        let mut rx = self.0.subscribe();
        tokio::time::timeout(PATIENCE, async {
            loop {
                if let Some(c) = rx.borrow_and_update().get(n - 1) {
                    return c.clone();
                }
                rx.changed().await.expect("listener alive");
            }
        })
        .await
        .unwrap_or_else(|_| panic!("never {n} renditions: {:?}", self.0.borrow()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_plays_the_rendition_that_the_throughput_and_the_data_saver_allow() {
    let s = setup().await;
    let id = lesson_soon_in(&s, 2, "broadcast").await;
    let live = s.student.client.live();
    let told = Renditions(watch::channel(Vec::new()).0);
    let session = live.join(
        id.clone(),
        Arc::new(FakeMedia::new()),
        Arc::new(told.clone()),
    );

    // Before any measurement: the lowest video, its own signed media playlist.
    let first = told.nth(1).await;
    assert_eq!(
        (first.name.as_str(), first.reason),
        ("low", RenditionReason::Start)
    );
    let prefix = format!("{}/v1/hls/{id}/low/index.m3u8?", s.server.url());
    assert!(first.url.starts_with(&prefix), "{}", first.url);

    // The data saver turned on mid-lesson, on a network not known to be Wi-Fi: audio only,
    // at once, and kept for the account.
    assert!(!live.data_saver().await.unwrap());
    live.set_data_saver(true).await.unwrap();
    let saver = told.nth(2).await;
    assert_eq!(
        (saver.name.as_str(), saver.audio_only, saver.reason),
        ("audio", true, RenditionReason::DataSaver)
    );
    assert_eq!(session.rendition(), Some(saver));
    assert!(live.data_saver().await.unwrap());

    // On Wi-Fi the saver allows the lowest video: the server's only one, so it holds
    // nothing back.
    session.set_metered(false);
    let wifi = told.nth(3).await;
    assert_eq!(
        (wifi.name.as_str(), wifi.reason),
        ("low", RenditionReason::Start)
    );

    // The player's segments come slower than the video plays: audio only.
    session.report_throughput(100_000);
    let slow = told.nth(4).await;
    assert_eq!(
        (slow.name.as_str(), slow.reason),
        ("audio", RenditionReason::Throughput)
    );
    assert_eq!(slow.estimate, Some(100_000));
}
