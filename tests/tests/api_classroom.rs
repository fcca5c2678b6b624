//! The live room through the API: hands and the stage, chat with its rate limit and
//! moderation, the in-class quiz, and the room events each change pushes to the people in the
//! lesson (across server processes on PostgreSQL). No LiveKit server can run here: stage
//! changes go to a local endpoint standing in for LiveKit's room service (Twirp).

use std::time::Duration;

use axum::{Router, body::Bytes, routing::post};
use futures::StreamExt;
use lianxiao_tests::{Backend, TestServer, api::Api, logins::*};
use prost::Message as _;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

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

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

struct Room {
    server: TestServer,
    lead: Api,
    student: Api,
    zhou: Api,
    id: String,
}

/// The demo county with an interactive lesson of main 3(1), received by Shiqiao (assistant
/// Zhou); Hekou is not in it.
async fn room() -> Room {
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
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let student = Api::login(&base, STUDENT_MAIN_1A).await;
    let zhou = Api::login(&base, ASSISTANT_SHIQIAO).await;
    let start = now_ms() + 5 * MINUTE;
    let r = lead
        .post(
            "/v1/lessons",
            json!({
                "subject": "数学", "title": "分数的初步认识", "mode": "interactive",
                "starts_at": start, "ends_at": start + 40 * MINUTE,
                "lead_class_id": student.student_class(),
                "receiving": [{"class_id": zhou.taught_classes()[0], "assistant_id": zhou.user_id()}],
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let id = r.body["lessons"][0]["id"].as_str().unwrap().to_owned();
    Room {
        server,
        lead,
        student,
        zhou,
        id,
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(ws_base: &str, api: &Api) -> Socket {
    let mut req = format!("{ws_base}/v1/events")
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {}", api.access).parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("websocket upgrade");
    let hello = next_event(&mut ws).await;
    assert_eq!(hello["type"], "hello");
    ws
}

async fn next_event(ws: &mut Socket) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("an event within 10 s")
            .expect("socket open")
            .expect("frame");
        if let Message::Text(text) = msg {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

/// The next room event of this lesson, skipping "changed" and other lessons.
async fn next_room_event(ws: &mut Socket, lesson: &str) -> Value {
    loop {
        let e = next_event(ws).await;
        if e["type"] == "room" && e["lesson_id"] == lesson {
            return e["event"].clone();
        }
    }
}

/// The next room event of this kind, skipping others.
async fn next_of(ws: &mut Socket, lesson: &str, kind: &str) -> Value {
    loop {
        let e = next_room_event(ws, lesson).await;
        if e["kind"] == kind {
            return e;
        }
    }
}

async fn chat(api: &Api, lesson: &str, text: &str, key: &str) -> lianxiao_tests::api::Reply {
    api.call(
        Method::POST,
        &format!("/v1/lessons/{lesson}/chat"),
        Some(json!({ "text": text })),
        Some(key),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hands_queue_in_order_and_the_lead_brings_one_on_stage() {
    let Room {
        server,
        lead,
        student,
        zhou,
        id,
    } = room().await;
    let base = server.url();
    // On PostgreSQL the student's phone is connected to another server process: the room
    // events cross between processes.
    let other = server
        .backend()
        .is_postgres()
        .then(|| server.second_instance());
    let student_ws_base = other.as_ref().map_or(server.ws_url(), |o| o.ws_url());
    let mut lead_ws = connect(&server.ws_url(), &lead).await;
    let mut student_ws = connect(&student_ws_base, &student).await;
    let hand = format!("/v1/lessons/{id}/hand");
    let room = format!("/v1/lessons/{id}/room");
    let stage = format!("/v1/lessons/{id}/stage");

    // People outside the lesson do not find it; a parent watches but does not raise hands.
    let outsider = Api::login(&base, STUDENT_HEKOU_A).await;
    let r = outsider.post(&hand, json!({"raised": true})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(outsider.get(&room).await.status, StatusCode::NOT_FOUND);
    let parent = Api::login(&base, PARENT_ONE_CHILD).await;
    let r = parent.post(&hand, json!({"raised": true})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);

    // The student raises a hand, then the assistant raises one for the whole class.
    let r = student.post(&hand, json!({"raised": true})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let e = next_room_event(&mut lead_ws, &id).await;
    assert_eq!(e["kind"], "hand_raised");
    assert_eq!(e["hand"]["user_id"], student.user_id().as_str());
    let r = zhou.post(&hand, json!({"raised": true})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["class_id"], zhou.taught_classes()[0].as_str());
    let e = next_room_event(&mut lead_ws, &id).await;
    assert_eq!(e["hand"]["user_id"], zhou.user_id().as_str());
    // Raising again keeps the first place.
    student.post(&hand, json!({"raised": true})).await;
    let r = lead.get(&room).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let queue: Vec<&str> = r.body["hands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(queue, [student.user_id(), zhou.user_id()]);

    // Only the lead runs the stage.
    let r = student
        .post(
            &stage,
            json!({"user_id": student.user_id(), "on_stage": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = zhou
        .post(
            &stage,
            json!({"user_id": student.user_id(), "on_stage": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = lead
        .post(
            &stage,
            json!({"user_id": student.user_id(), "on_stage": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    // The student's phone hears it (and would start publishing).
    let e = next_of(&mut student_ws, &id, "stage").await;
    assert_eq!(e["user_id"], student.user_id().as_str());
    assert_eq!(e["on_stage"], true);
    // On stage, out of the queue; a late joiner reads the same room.
    let r = zhou.get(&room).await;
    assert_eq!(r.body["on_stage"], json!([student.user_id()]));
    assert_eq!(r.body["hands"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["hands"][0]["user_id"], zhou.user_id().as_str());

    // The assistant lowers the class's hand; the lead takes the student off.
    let r = zhou.post(&hand, json!({"raised": false})).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, Value::Null);
    let r = lead
        .post(
            &stage,
            json!({"user_id": student.user_id(), "on_stage": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let e = next_of(&mut student_ws, &id, "hand_lowered").await;
    assert_eq!(e["user_id"], zhou.user_id().as_str());
    let e = next_of(&mut student_ws, &id, "stage").await;
    assert_eq!(e["on_stage"], false);
    let r = student.get(&room).await;
    assert_eq!(r.body["on_stage"], json!([]));
    assert_eq!(r.body["hands"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_is_rate_limited_and_moderated() {
    let Room {
        server,
        lead,
        student,
        zhou,
        id,
    } = room().await;
    let base = server.url();
    let room = format!("/v1/lessons/{id}/room");

    // Refused: empty, too long, a parent, someone outside the lesson.
    let r = chat(&student, &id, "   ", "empty").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["field"], "text");
    let r = chat(&student, &id, &"长".repeat(501), "long").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["field"], "text");
    let parent = Api::login(&base, PARENT_ONE_CHILD).await;
    assert_eq!(
        chat(&parent, &id, "老师好", "p").await.status,
        StatusCode::FORBIDDEN
    );
    let outsider = Api::login(&base, STUDENT_HEKOU_A).await;
    assert_eq!(
        chat(&outsider, &id, "老师好", "o").await.status,
        StatusCode::NOT_FOUND
    );

    // A message sent twice with one key (a retry after a lost answer) is one message.
    let mut lead_ws = connect(&server.ws_url(), &lead).await;
    let first = chat(&student, &id, "老师，我懂了", "k1").await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    let again = chat(&student, &id, "老师，我懂了", "k1").await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.body["id"], first.body["id"]);
    let e = next_room_event(&mut lead_ws, &id).await;
    assert_eq!(e["kind"], "chat");
    assert_eq!(e["message"]["text"], "老师，我懂了");

    // A burst of five, then the sixth must wait.
    for i in 2..=5 {
        let r = chat(&student, &id, &format!("第{i}条"), &format!("k{i}")).await;
        assert_eq!(r.status, StatusCode::CREATED, "{i}: {:?}", r.body);
    }
    let r = chat(&student, &id, "第六条", "k6").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", r.body);
    assert_eq!(r.code(), "rate_limited");
    assert!(r.body["retry_after_secs"].as_u64().unwrap() >= 1);
    // Another person's budget is their own.
    let classmate = Api::login(&base, STUDENT_MAIN_1B).await;
    let spam = chat(&classmate, &id, "捣乱", "c1").await;
    assert_eq!(spam.status, StatusCode::CREATED);

    // Moderation is the teachers': a student cannot mute or delete.
    let mutes = format!("/v1/lessons/{id}/mutes");
    let spam_id = spam.body["id"].as_str().unwrap().to_owned();
    let delete = format!("/v1/lessons/{id}/chat/{spam_id}");
    let r = student
        .post(
            &mutes,
            json!({"user_id": classmate.user_id(), "minutes": 5}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = student.call(Method::DELETE, &delete, None, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // The assistant mutes the classmate for five minutes: a typed refusal with the wait.
    let r = zhou
        .post(
            &mutes,
            json!({"user_id": classmate.user_id(), "minutes": 5}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = chat(&classmate, &id, "再捣乱", "c2").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.code(), "muted");
    assert!(r.body["retry_after_secs"].as_u64().unwrap() > 60);
    let r = student.get(&room).await;
    assert_eq!(r.body["mutes"][0]["user_id"], classmate.user_id().as_str());
    // The lead deletes the message from every phone.
    let r = lead.call(Method::DELETE, &delete, None, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    let e = next_of(&mut lead_ws, &id, "chat_deleted").await;
    assert_eq!(e["message_id"], spam_id.as_str());
    let r = student.get(&room).await;
    let texts: Vec<&str> = r.body["chat"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["老师，我懂了", "第2条", "第3条", "第4条", "第5条"]);
    // Lifting the mute lets them speak again.
    let r = lead
        .post(
            &mutes,
            json!({"user_id": classmate.user_id(), "minutes": 0}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        chat(&classmate, &id, "对不起", "c3").await.status,
        StatusCode::CREATED
    );
    // Parents cannot be muted: they do not chat.
    let r = lead
        .post(&mutes, json!({"user_id": parent.user_id(), "minutes": 5}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiz_is_answered_once_tallied_live_and_kept_with_the_lesson() {
    let Room {
        server,
        lead,
        student,
        zhou,
        id,
    } = room().await;
    let base = server.url();
    let quizzes = format!("/v1/lessons/{id}/quizzes");
    let question = json!({"question": "1/2 和 1/3 哪个大？", "options": ["1/2", "1/3", "一样大"], "correct": 0});

    // Only the lead asks; a quiz has 2 to 6 options.
    assert_eq!(
        student.post(&quizzes, question.clone()).await.status,
        StatusCode::FORBIDDEN
    );
    let r = lead
        .post(&quizzes, json!({"question": "?", "options": ["只有一个"]}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["field"], "options");
    let mut lead_ws = connect(&server.ws_url(), &lead).await;
    let mut student_ws = connect(&server.ws_url(), &student).await;
    let r = lead.post(&quizzes, question.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let quiz = r.body["id"].as_str().unwrap().to_owned();
    // Students are asked without being told the answer.
    let e = next_room_event(&mut student_ws, &id).await;
    assert_eq!(e["kind"], "quiz_opened");
    assert_eq!(e["quiz"]["options"], json!(["1/2", "1/3", "一样大"]));
    assert!(e["quiz"].get("correct").is_none());
    assert_eq!(
        lead.post(&quizzes, question).await.status,
        StatusCode::CONFLICT,
        "one quiz open at a time"
    );

    let answer = format!("/v1/lessons/{id}/quizzes/{quiz}/answer");
    let r = student
        .call(
            Method::POST,
            &answer,
            Some(json!({"option": 0})),
            Some("a1"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["my_answer"], 0);
    assert_eq!(r.body["counts"], json!([]), "no tally for students yet");
    // The same key is the same answer; a new key is a second answer, refused.
    let r = student
        .call(
            Method::POST,
            &answer,
            Some(json!({"option": 0})),
            Some("a1"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = student
        .call(
            Method::POST,
            &answer,
            Some(json!({"option": 1})),
            Some("a2"),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = zhou
        .call(Method::POST, &answer, Some(json!({"option": 9})), None)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["field"], "option");
    let parent = Api::login(&base, PARENT_ONE_CHILD).await;
    let r = parent
        .call(Method::POST, &answer, Some(json!({"option": 0})), None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let classmate = Api::login(&base, STUDENT_MAIN_1B).await;
    let r = classmate
        .call(Method::POST, &answer, Some(json!({"option": 1})), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);

    // The lead watches the tally grow; students see none while the quiz is open.
    loop {
        let e = next_room_event(&mut lead_ws, &id).await;
        if e["kind"] == "quiz_tally" && e["counts"] == json!([1, 1, 0]) {
            break;
        }
    }
    let r = lead.get(&format!("/v1/lessons/{id}/room")).await;
    assert_eq!(r.body["quiz"]["counts"], json!([1, 1, 0]));
    let r = student.get(&format!("/v1/lessons/{id}/room")).await;
    assert_eq!(r.body["quiz"]["counts"], json!([]));
    assert_eq!(r.body["quiz"]["my_answer"], 0);

    // Closed: everyone sees the counts and the right answer; answers are over.
    let close = format!("/v1/lessons/{id}/quizzes/{quiz}/close");
    assert_eq!(
        student.call(Method::POST, &close, None, None).await.status,
        StatusCode::FORBIDDEN
    );
    let r = lead.call(Method::POST, &close, None, None).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let e = next_of(&mut student_ws, &id, "quiz_closed").await;
    assert_eq!(e["quiz"]["counts"], json!([1, 1, 0]));
    assert_eq!(e["quiz"]["correct"], 0);
    assert!(e["quiz"].get("responses").is_none());
    let r = zhou
        .call(Method::POST, &answer, Some(json!({"option": 0})), None)
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);

    // The results stay with the lesson: teachers see who answered what, a student only the
    // counts and their own answer.
    let r = lead.get(&quizzes).await;
    assert_eq!(r.status, StatusCode::OK);
    let kept = &r.body[0];
    assert_eq!(kept["question"], "1/2 和 1/3 哪个大？");
    assert_eq!(kept["counts"], json!([1, 1, 0]));
    assert_eq!(kept["correct"], 0);
    let who: Vec<(&str, u64)> = kept["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["user_id"].as_str().unwrap(),
                a["option"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        who,
        [
            (student.user_id().as_str(), 0),
            (classmate.user_id().as_str(), 1)
        ]
    );
    let r = student.get(&quizzes).await;
    assert_eq!(r.body[0]["counts"], json!([1, 1, 0]));
    assert_eq!(r.body[0]["my_answer"], 0);
    assert!(r.body[0].get("responses").is_none());
    let outsider = Api::login(&base, STUDENT_HEKOU_A).await;
    assert_eq!(outsider.get(&quizzes).await.status, StatusCode::NOT_FOUND);
}

/// Asserts the room refused a change because the lesson is not open now.
fn not_live(r: &lianxiao_tests::api::Reply, why: &str) {
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    assert_eq!(r.code(), "lesson_not_live", "{:?}", r.body);
    let message = r.body["message"].as_str().unwrap_or("");
    assert!(message.contains(why), "{message:?} should say {why:?}");
}

/// Hands, stage, chat, mutes and quizzes take part in a lesson, so they follow the rule
/// joining does: a cancelled lesson, one LiveKit says is finished and one whose room is not
/// open yet refuse them all with `lesson_not_live`, and change nothing; the room can still be
/// read, and a quiz left open can still be closed so its results show.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lesson_not_live_takes_no_hands_chat_stage_or_quiz() {
    use lianxiao_tests::livekit_fakes;
    let Room {
        server,
        lead,
        student,
        zhou,
        id,
    } = room().await;
    let base = server.url();
    let path = |lesson: &str, what: &str| format!("/v1/lessons/{lesson}/{what}");

    // While open: a chat message and a quiz, which are kept after the lesson.
    let r = chat(&student, &id, "老师好", "chat-open").await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = lead
        .post(
            &path(&id, "quizzes"),
            json!({"question": "1/2 和 1/3 哪个大？", "options": ["1/2", "1/3"], "correct": 0}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let quiz = r.body["id"].as_str().unwrap().to_owned();

    // Every change a person could try in the room, as (who, method, path, body).
    let attempts = |lesson: &str, quiz: &str| {
        vec![
            (&student, path(lesson, "hand"), json!({"raised": true})),
            (&zhou, path(lesson, "hand"), json!({"raised": true})),
            (&student, path(lesson, "chat"), json!({"text": "还在吗"})),
            (
                &lead,
                path(lesson, "stage"),
                json!({"user_id": student.user_id(), "on_stage": true}),
            ),
            (
                &zhou,
                path(lesson, "mutes"),
                json!({"user_id": student.user_id(), "minutes": 5}),
            ),
            (
                &lead,
                path(lesson, "quizzes"),
                json!({"question": "再来一题", "options": ["对", "错"]}),
            ),
            (
                &student,
                format!("/v1/lessons/{lesson}/quizzes/{quiz}/answer"),
                json!({"option": 0}),
            ),
        ]
    };

    // Cancelled: refused, with the reason the phone shows.
    let r = lead
        .post(&path(&id, "cancel"), json!({"reason": "停电"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    for (who, url, body) in attempts(&id, &quiz) {
        let r = who.post(&url, body).await;
        not_live(&r, "cancelled");
    }
    // Nothing changed, and reading the room still works.
    let r = student.get(&path(&id, "room")).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["hands"], json!([]));
    assert_eq!(r.body["on_stage"], json!([]));
    assert_eq!(r.body["mutes"], json!([]));
    let texts: Vec<&str> = r.body["chat"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["老师好"]);
    assert_eq!(r.body["quiz"]["id"], quiz.as_str());
    let r = lead.get(&path(&id, "quizzes")).await;
    assert_eq!(r.body.as_array().unwrap().len(), 1, "{:?}", r.body);
    assert_eq!(
        r.body[0]["counts"],
        json!([0, 0]),
        "no answer counted: {:?}",
        r.body
    );
    // The lead can still close the quiz left open, so its results are shown.
    let r = lead
        .post(&format!("/v1/lessons/{id}/quizzes/{quiz}/close"), json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    // The same slot again, this time finished by LiveKit (room_finished webhook).
    let start = now_ms() + 5 * MINUTE;
    let r = lead
        .post(
            "/v1/lessons",
            json!({
                "subject": "数学", "title": "分数的大小", "mode": "interactive",
                "starts_at": start, "ends_at": start + 40 * MINUTE,
                "lead_class_id": student.student_class(),
                "receiving": [{"class_id": zhou.taught_classes()[0], "assistant_id": zhou.user_id()}],
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let ended = r.body["lessons"][0]["id"].as_str().unwrap().to_owned();
    let r = student
        .post(&path(&ended, "hand"), json!({"raised": true}))
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "open before it ends: {:?}",
        r.body
    );
    let room = lianxiao_protocol::lesson_room(&ended);
    let finished = livekit_fakes::event("room_finished", "EV_fin", &room, None, now_ms() / 1000);
    assert_eq!(
        livekit_fakes::deliver(&base, &finished).await,
        StatusCode::OK
    );
    for (who, url, body) in attempts(&ended, &quiz) {
        let r = who.post(&url, body).await;
        not_live(&r, "over");
    }
    let r = lead.get(&path(&ended, "room")).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["hands"].as_array().unwrap().len(), 1, "{:?}", r.body);

    // Tomorrow's lesson: its room is not open yet.
    let start = now_ms() + 24 * 60 * MINUTE;
    let r = lead
        .post(
            "/v1/lessons",
            json!({
                "subject": "数学", "title": "分数的加法", "mode": "interactive",
                "starts_at": start, "ends_at": start + 40 * MINUTE,
                "lead_class_id": student.student_class(),
                "receiving": [{"class_id": zhou.taught_classes()[0], "assistant_id": zhou.user_id()}],
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let later = r.body["lessons"][0]["id"].as_str().unwrap().to_owned();
    for (who, url, body) in attempts(&later, &quiz) {
        let r = who.post(&url, body).await;
        not_live(&r, "opens at");
    }
    // Joining answers with the same code.
    let r = student
        .call(Method::POST, &path(&later, "join"), None, None)
        .await;
    not_live(&r, "opens at");
    assert_eq!(lead.get(&path(&later, "room")).await.status, StatusCode::OK);
}
