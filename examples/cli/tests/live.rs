//! The live room through the `lianxiao` binary against the real server, on one device with
//! the lead teacher and a student of 三年级(1)班, in an interactive lesson starting now: the
//! student raises a hand, the lead sees it and brings the student on stage (the server asks
//! LiveKit's room service, here a local endpoint that speaks its Twirp protocol and records
//! the call: no LiveKit server runs in these tests), chat goes both ways, a muted student's
//! chat is refused, and a quiz is opened, answered once, closed and its results kept.

mod common;

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpListener,
    sync::{Arc, Mutex},
};

use chrono::Utc;
use common::{Device, as_str, login, user_id, with};
use lianxiao_tests::{
    Backend, TestServer,
    livekit_fakes::server_env,
    logins::{LEAD_TEACHER, STUDENT_MAIN_1A},
    places::CLASS_1,
};

/// LiveKit's room service as a local endpoint: records the path of every Twirp call and
/// answers with an empty `ParticipantInfo` (a valid protobuf message: every field default).
fn room_service() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let calls = Arc::new(Mutex::new(Vec::new()));
    let seen = calls.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let path = request_line
                .split_whitespace()
                .nth(1)
                .unwrap_or("")
                .to_owned();
            seen.lock().unwrap().push(path);
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/protobuf\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            );
        }
    });
    (port, calls)
}

#[test]
fn the_live_room_through_the_terminal_client() {
    let (port, twirp) = room_service();
    let env = server_env(port);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = TestServer::start_with_env(&Backend::from_env(), &env);
    server.import_demo_roster();
    let dir = tempfile::tempdir().unwrap();
    let device = Device {
        dir: dir.path(),
        server: server.url(),
    };
    login(&device, STUDENT_MAIN_1A);
    login(&device, LEAD_TEACHER);
    let student = ["--account", STUDENT_MAIN_1A];
    let student_id = user_id(&device, STUDENT_MAIN_1A);

    // An interactive lesson of 三年级(1)班 starting in two minutes: its room is open.
    let start = (Utc::now() + chrono::Duration::minutes(2)).to_rfc3339();
    let scheduled = device
        .ok(&[
            "lessons",
            "schedule",
            "--class",
            CLASS_1,
            "--subject",
            "数学",
            "--title",
            "分数的初步认识",
            "--start",
            &start,
            "--mode",
            "interactive",
            "--json",
        ])
        .json();
    let lesson = as_str(&scheduled["lessons"][0]["id"]).to_owned();
    device.ok(&with(&student, &["sync"]));
    let room = |account: &[&str]| {
        device
            .ok(&with(account, &["live", "room", &lesson, "--json"]))
            .json()
    };

    // A hand goes up; the lead sees it and brings the student on stage (by login).
    let raised = device.ok(&with(&student, &["live", "hand", &lesson, "raise"]));
    assert!(raised.stdout.contains("raised"), "{}", raised.stdout);
    let seen = room(&[]);
    assert_eq!(seen["hands"][0]["user_id"], student_id.as_str(), "{seen:#}");
    device.ok(&["live", "stage", &lesson, STUDENT_MAIN_1A, "on"]);
    assert!(
        twirp
            .lock()
            .unwrap()
            .iter()
            .any(|p| p == "/twirp/livekit.RoomService/UpdateParticipant"),
        "{:?}",
        twirp.lock().unwrap()
    );
    let seen = room(&[]);
    assert_eq!(
        seen["on_stage"],
        serde_json::json!([student_id]),
        "{seen:#}"
    );
    assert_eq!(seen["hands"], serde_json::json!([]), "{seen:#}");
    device.ok(&["live", "stage", &lesson, &student_id, "off"]);
    assert_eq!(room(&student)["on_stage"], serde_json::json!([]));
    // Only the lead may bring someone on stage.
    device.expect(
        5,
        &with(&student, &["live", "stage", &lesson, &student_id, "on"]),
    );

    // Chat both ways; the lead mutes the student, whose next message is refused.
    device.ok(&["live", "chat", &lesson, "同学们好"]);
    device.ok(&with(&student, &["live", "chat", &lesson, "老师好"]));
    let texts: Vec<String> = room(&student)["chat"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| as_str(&m["text"]).to_owned())
        .collect();
    assert_eq!(texts, ["同学们好", "老师好"]);
    device.ok(&["live", "mute", &lesson, STUDENT_MAIN_1A, "--minutes", "5"]);
    device.expect(5, &with(&student, &["live", "chat", &lesson, "我还想说"]));
    assert_eq!(room(&[])["chat"].as_array().unwrap().len(), 2);

    // A quiz: opened with the right answer, answered once, closed with its tally.
    device.expect(
        7,
        &with(&student, &["live", "quiz", "answer", &lesson, "Z"]),
    );
    device.expect(
        6,
        &with(&student, &["live", "quiz", "answer", &lesson, "A"]),
    );
    let opened = device
        .ok(&[
            "live",
            "quiz",
            "open",
            &lesson,
            "1/2 和 2/4 一样大吗？",
            "--option",
            "一样大",
            "--option",
            "不一样",
            "--correct",
            "A",
            "--json",
        ])
        .json();
    assert_eq!(opened["options"], serde_json::json!(["一样大", "不一样"]));
    let answered = device
        .ok(&with(
            &student,
            &["live", "quiz", "answer", &lesson, "a", "--json"],
        ))
        .json();
    assert_eq!(answered["my_answer"], 0);
    device.expect(
        10,
        &with(&student, &["live", "quiz", "answer", &lesson, "B"]),
    );
    let closed = device
        .ok(&["live", "quiz", "close", &lesson, "--json"])
        .json();
    assert_eq!(closed["counts"], serde_json::json!([1, 0]));
    assert!(closed["closed_at"].is_i64(), "{closed:#}");
    let results = device.ok(&["live", "quiz", "results", &lesson]).stdout;
    assert!(
        results.contains("A. 一样大 — 1 ✓") && results.contains("closed"),
        "{results}"
    );

    // Joined for a moment: the room as the student's phone shows it.
    let joined = device
        .ok(&with(
            &student,
            &["live", "join", &lesson, "--seconds", "1", "--json"],
        ))
        .json();
    assert_eq!(joined["room"]["lesson_id"], lesson.as_str(), "{joined:#}");
    assert_eq!(
        joined["room"]["chat"].as_array().unwrap().len(),
        2,
        "{joined:#}"
    );
}
