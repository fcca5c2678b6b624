//! The live room through the core on simulated phones against the real server: a raised hand
//! reaches the lead's phone by a room event, the lead brings the student on stage and the
//! student's phone starts publishing; chat typed offline arrives once; the quiz tally grows on
//! the lead's phone as answers come in. No LiveKit server can run here: the shells' media
//! engines are fakes that record what the core asks, and a local endpoint stands in for
//! LiveKit's room service.

use std::{sync::Arc, time::Duration};

use axum::{Router, body::Bytes, routing::post};
use lianxiao_core::{
    LiveListener, LiveRoom, LiveSession, LiveState, MediaEvent, MediaSession, VideoQuality,
};
use lianxiao_tests::{
    Backend, TestServer,
    api::Api,
    logins::*,
    phone::{PATIENCE, Phone},
    proxy::Proxy,
};
use prost::Message as _;
use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::sync::watch;

const KEY: &str = "APIlianxiaoTest";
const SECRET: &str = "a-test-secret-that-is-long-enough-for-hs256";
const MINUTE: i64 = 60_000;

/// Answers LiveKit's UpdateParticipant as the room service would.
async fn livekit_room_service() -> u16 {
    async fn update(body: Bytes) -> ([(&'static str, &'static str); 1], Vec<u8>) {
        let req = livekit_protocol::UpdateParticipantRequest::decode(body).expect("protobuf");
        let info = livekit_protocol::ParticipantInfo {
            identity: req.identity,
            ..Default::default()
        };
        (
            [("content-type", "application/protobuf")],
            info.encode_to_vec(),
        )
    }
    let app = Router::new().route("/twirp/livekit.RoomService/UpdateParticipant", post(update));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    port
}

/// The shell's media engine: remembers whether camera and microphone are on.
#[derive(Clone)]
struct FakeMedia(watch::Sender<(bool, bool)>);

impl FakeMedia {
    fn new() -> FakeMedia {
        FakeMedia(watch::channel((false, false)).0)
    }

    fn publishing(&self) -> bool {
        *self.0.borrow() == (true, true)
    }
}

impl MediaSession for FakeMedia {
    fn connect(&self, _url: String, _token: String) {}
    fn disconnect(&self) {}
    fn set_camera(&self, on: bool) {
        self.0.send_modify(|m| m.0 = on);
    }
    fn set_microphone(&self, on: bool) {
        self.0.send_modify(|m| m.1 = on);
    }
    fn set_video_quality(&self, _quality: VideoQuality) {}
    fn set_video_enabled(&self, _enabled: bool) {}
}

/// What the lesson screen would show: the session's state and the room.
#[derive(Clone)]
struct Screen {
    state: watch::Sender<LiveState>,
    room: watch::Sender<LiveRoom>,
}

impl LiveListener for Screen {
    fn on_state(&self, state: LiveState) {
        self.state.send_replace(state);
    }
    fn on_room(&self, room: LiveRoom) {
        self.room.send_replace(room);
    }
}

impl Screen {
    fn new() -> Screen {
        Screen {
            state: watch::channel(LiveState::Joining).0,
            room: watch::channel(LiveRoom::default()).0,
        }
    }

    async fn wait_room(&self, what: &str, ready: impl Fn(&LiveRoom) -> bool) -> LiveRoom {
        let mut rx = self.room.subscribe();
        tokio::time::timeout(PATIENCE, async {
            loop {
                if ready(&rx.borrow_and_update()) {
                    return rx.borrow().clone();
                }
                rx.changed().await.expect("listener alive");
            }
        })
        .await
        .unwrap_or_else(|_| panic!("never {what}: {:?}", self.room.borrow()))
    }

    async fn wait_state(&self, what: &str, ready: impl Fn(&LiveState) -> bool) {
        let mut rx = self.state.subscribe();
        tokio::time::timeout(PATIENCE, async {
            loop {
                if ready(&rx.borrow_and_update()) {
                    return;
                }
                rx.changed().await.expect("listener alive");
            }
        })
        .await
        .unwrap_or_else(|_| panic!("never {what}: {:?}", self.state.borrow()))
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

struct Class {
    server: TestServer,
    lesson: String,
    lead: Phone,
    student: Phone,
    /// Between the student's phone and the server.
    proxy: Proxy,
}

/// An interactive lesson of the lead's class starting soon (its room is open), with the lead
/// and a student on phones; the student's goes through a proxy the test can cut.
async fn class() -> Class {
    let port = livekit_room_service().await;
    let server = TestServer::start_with_env(
        &Backend::from_env(),
        &[
            ("LIANXIAO_LIVEKIT_URL", &format!("ws://127.0.0.1:{port}")),
            ("LIVEKIT_API_KEY", KEY),
            ("LIVEKIT_API_SECRET", SECRET),
        ],
    );
    server.import_demo_roster();
    let base = server.url();
    let lead_api = Api::login(&base, LEAD_TEACHER).await;
    let start = now_ms() + 2 * MINUTE;
    let r = lead_api
        .post(
            "/v1/lessons",
            json!({
                "subject": "数学", "title": "分数的初步认识", "mode": "interactive",
                "starts_at": start, "ends_at": start + 40 * MINUTE,
                "lead_class_id": lead_api.taught_classes()[0],
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let lesson = r.body["lessons"][0]["id"].as_str().unwrap().to_owned();
    let proxy = Proxy::to_url(&base).await;
    let lead = Phone::sign_in(&base, LEAD_TEACHER).await;
    let student = Phone::sign_in(&proxy.url(), STUDENT_MAIN_1A).await;
    Class {
        server,
        lesson,
        lead,
        student,
        proxy,
    }
}

/// Joins the lesson on a phone and lets its media engine connect.
async fn enter(phone: &Phone, lesson: &str) -> (LiveSession, FakeMedia, Screen) {
    let media = FakeMedia::new();
    let screen = Screen::new();
    let session = phone.client.live().join(
        lesson.to_owned(),
        Arc::new(media.clone()),
        Arc::new(screen.clone()),
    );
    // The join answered (the session then asks the engine to connect): the SDK connects.
    tokio::time::timeout(PATIENCE, async {
        while session.ticket().is_none() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("joined");
    session.media_event(MediaEvent::Connected);
    screen
        .wait_state("live", |s| matches!(s, LiveState::Live { .. }))
        .await;
    // The room has been read once the session is in it.
    screen
        .wait_room("the room read", |r| r.lesson_id == lesson)
        .await;
    (session, media, screen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raised_hand_reaches_the_lead_who_brings_the_student_on_stage_to_publish() {
    let c = class().await;
    let student_id = c.student.client.user_id();
    let (lead, _lead_media, lead_screen) = enter(&c.lead, &c.lesson).await;
    let (student, student_media, student_screen) = enter(&c.student, &c.lesson).await;
    assert!(
        !student_media.publishing(),
        "off stage, nothing is published"
    );

    // The student raises a hand: the lead's phone shows it in the queue.
    student.raise_hand().await.expect("hand raised");
    let room = lead_screen
        .wait_room("the hand on the lead's phone", |r| !r.hands.is_empty())
        .await;
    assert_eq!(room.hands[0].user_id, student_id);
    // A student cannot run the stage.
    assert!(student.bring_on_stage(student_id.clone()).await.is_err());

    // The lead brings them on stage: out of the queue, and the student's phone publishes.
    lead.bring_on_stage(student_id.clone())
        .await
        .expect("on stage");
    assert!(lead.room().hands.is_empty());
    student_screen
        .wait_state("publishing", |s| {
            matches!(
                s,
                LiveState::Live {
                    can_publish: true,
                    ..
                }
            )
        })
        .await;
    assert!(student_media.publishing(), "camera and microphone on");
    let room = student_screen
        .wait_room("on stage in the student's room", |r| {
            r.on_stage.contains(&student_id)
        })
        .await;
    assert!(room.hands.is_empty());

    // Taken off: publishing stops.
    lead.take_off_stage(student_id.clone())
        .await
        .expect("off stage");
    student_screen
        .wait_state("not publishing", |s| {
            matches!(
                s,
                LiveState::Live {
                    can_publish: false,
                    ..
                }
            )
        })
        .await;
    assert!(!student_media.publishing());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_typed_offline_arrives_once_and_the_lead_sees_the_quiz_tally_live() {
    let c = class().await;
    let (lead, _lead_media, lead_screen) = enter(&c.lead, &c.lesson).await;
    let (student, _student_media, student_screen) = enter(&c.student, &c.lesson).await;

    // The student's network is gone; the message waits on the phone.
    c.proxy.set_refusing(true);
    c.proxy.drop_all();
    c.student.client.network_changed(false);
    student
        .send_chat("老师，分母是什么？".into())
        .await
        .expect("queued");
    let room = student.room();
    assert_eq!(room.unsent_chat.len(), 1);
    assert_eq!(room.unsent_chat[0].failed, None);
    assert!(student.send_chat("  ".into()).await.is_err(), "empty");

    // Back online: sent once, seen on the lead's phone, gone from the queue.
    c.proxy.set_refusing(false);
    c.student.client.network_changed(true);
    let room = lead_screen
        .wait_room("the message on the lead's phone", |r| !r.chat.is_empty())
        .await;
    assert_eq!(room.chat[0].text, "老师，分母是什么？");
    assert_eq!(room.chat[0].author_id, c.student.client.user_id());
    student_screen
        .wait_room("the queue emptied", |r| {
            r.unsent_chat.is_empty() && r.chat.len() == 1
        })
        .await;
    let api = Api::login(&c.server.url(), LEAD_TEACHER).await;
    let r = api.get(&format!("/v1/lessons/{}/room", c.lesson)).await;
    assert_eq!(r.body["chat"].as_array().unwrap().len(), 1, "exactly once");

    // The lead deletes it: gone from the student's phone too.
    let message = room.chat[0].id.clone();
    lead.delete_message(message).await.expect("deleted");
    student_screen
        .wait_room("the message deleted", |r| r.chat.is_empty())
        .await;

    // A quiz: the student's phone shows the question, the lead's the tally as answers come.
    let quiz = lead
        .open_quiz(
            "3/4 的分母是几？".into(),
            vec!["3".into(), "4".into()],
            Some(1),
        )
        .await
        .expect("quiz open");
    assert_eq!(quiz.counts, vec![0, 0]);
    let room = student_screen
        .wait_room("the question on the student's phone", |r| r.quiz.is_some())
        .await;
    let asked = room.quiz.unwrap();
    assert_eq!(asked.options, ["3", "4"]);
    assert_eq!(asked.correct, None, "the answer is not given away");
    let mine = student
        .answer_quiz(asked.id.clone(), 1)
        .await
        .expect("answered");
    assert_eq!(mine.my_answer, Some(1));
    lead_screen
        .wait_room("the tally with one answer", |r| {
            r.quiz.as_ref().is_some_and(|q| q.counts == [0, 1])
        })
        .await;
    let classmate = Api::login(&c.server.url(), STUDENT_MAIN_1B).await;
    let r = classmate
        .call(
            Method::POST,
            &format!("/v1/lessons/{}/quizzes/{}/answer", c.lesson, quiz.id),
            Some(json!({"option": 0})),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    lead_screen
        .wait_room("the tally with two answers", |r| {
            r.quiz.as_ref().is_some_and(|q| q.counts == [1, 1])
        })
        .await;
    // A second answer is refused.
    assert!(student.answer_quiz(quiz.id.clone(), 0).await.is_err());

    // Closed: the student's phone shows the results and the right answer.
    lead.close_quiz(quiz.id.clone()).await.expect("closed");
    let room = student_screen
        .wait_room("the results", |r| {
            r.quiz.as_ref().is_some_and(|q| q.closed_at.is_some())
        })
        .await;
    let results = room.quiz.unwrap();
    assert_eq!(results.counts, [1, 1]);
    assert_eq!(results.correct, Some(1));
    assert_eq!(results.my_answer, Some(1));

    // Muted by the lead: the next message is refused for good and stays on the phone marked
    // `muted` (not a generic forbidden), so the screen can say why.
    lead.mute(c.student.client.user_id(), 10)
        .await
        .expect("muted");
    student
        .send_chat("我还有问题".into())
        .await
        .expect("queued");
    let room = student_screen
        .wait_room("the refusal on the student's phone", |r| {
            r.unsent_chat.iter().any(|u| u.failed.is_some())
        })
        .await;
    assert_eq!(room.unsent_chat[0].failed.as_deref(), Some("muted"));
}
