//! Bad text through the API, as a stranger, a student, a parent and a teacher would send it:
//! NUL and other control characters (PostgreSQL cannot store NUL and answered 500), titles that
//! show nothing (U+200B, U+202E), on SQLite and PostgreSQL. Each is a 422 naming the field, and
//! nothing is stored.

use lianxiao_tests::{
    Backend, TestServer,
    api::{Api, Reply, send},
    logins::*,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const MINUTE: i64 = 60_000;

fn server() -> TestServer {
    let server = TestServer::start(&Backend::from_env());
    server.import_demo_roster();
    server
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[track_caller]
fn assert_refused(r: &Reply, field: &str) {
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{field}: {:?}",
        r.body
    );
    assert_eq!(r.code(), "validation", "{field}: {:?}", r.body);
    assert_eq!(r.body["field"], field, "{:?}", r.body);
}

fn notice(class_ids: &[String], title: &str, body: &str) -> Value {
    json!({
        "title": title,
        "body": body,
        "audience": {"scope": "classes", "class_ids": class_ids},
        "requires_ack": false,
        "include_students": false,
    })
}

fn homework(class_ids: &[String], title: &str, instructions: &str) -> Value {
    json!({
        "title": title,
        "instructions": instructions,
        "class_ids": class_ids,
        "due_at": now_ms() + 24 * 60 * MINUTE,
        "accepted_kinds": ["text"],
        "max_score": 100,
        "requires_signoff": false,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_in_logins_titles_chat_homework_and_path_ids_is_a_422_naming_the_field() {
    let server = server();
    let base = server.url();

    // A stranger: NUL in the login, in a path id and in a query parameter.
    let r = send(
        &base,
        Method::POST,
        "/v1/auth/login",
        Some(json!({"login": "t_wang\u{0}", "password": "x"})),
        &[],
    )
    .await;
    assert_refused(&r, "login");
    let lead = Api::login(&base, LEAD_TEACHER).await;
    assert_refused(&lead.get("/v1/notices/%00").await, "path");
    assert_refused(&lead.get("/v1/homework/a%00b").await, "path");
    assert_refused(&lead.get("/v1/sync?since=%00").await, "since");
    assert_refused(&lead.get("/v1/notices?child_id=%00").await, "child_id");

    // A teacher: NUL in a notice title, a bell in its body, NUL in homework instructions.
    let classes = lead.taught_classes();
    let r = lead
        .post("/v1/notices", notice(&classes, "春游\u{0}", "b"))
        .await;
    assert_refused(&r, "title");
    let r = lead
        .post("/v1/notices", notice(&classes, "春游", "带好\u{7}水杯"))
        .await;
    assert_refused(&r, "body");
    let r = lead
        .post("/v1/notices", notice(&["c\u{0}".to_owned()], "春游", "b"))
        .await;
    assert_refused(&r, "audience.class_ids[0]");
    assert!(lead.notice_ids().await.is_empty(), "nothing was posted");
    let r = lead
        .post(
            "/v1/homework",
            homework(&classes, "看图写话", "写\u{0}五句话"),
        )
        .await;
    assert_refused(&r, "instructions");
    let r = lead.get("/v1/homework").await;
    assert_eq!(r.body, json!([]), "no homework was assigned");

    // Line breaks and tabs in a body are text, not control characters to refuse.
    let r = lead
        .post(
            "/v1/notices",
            notice(&classes, "春游", "第一行\n第二行\r\n\t带好水杯"),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["body"], "第一行\n第二行\r\n\t带好水杯");

    // A student: NUL in the text of their homework and in chat.
    let r = lead
        .post("/v1/homework", homework(&classes, "看图写话", "写五句话"))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let hw = r.body["id"].as_str().unwrap().to_owned();
    let student = Api::login(&base, STUDENT_MAIN_1A).await;
    let r = student
        .post(
            &format!("/v1/homework/{hw}/submissions"),
            json!({"text": "我的\u{0}作业"}),
        )
        .await;
    assert_refused(&r, "text");
    let r = lead.get(&format!("/v1/homework/{hw}/submissions")).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body, json!([]), "nothing was handed in");

    let start = now_ms() + 5 * MINUTE;
    let r = lead
        .post(
            "/v1/lessons",
            json!({
                "subject": "数学", "title": "分数的初步认识", "mode": "interactive",
                "starts_at": start, "ends_at": start + 40 * MINUTE,
                "lead_class_id": student.student_class(), "receiving": [],
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let lesson = r.body["lessons"][0]["id"].as_str().unwrap().to_owned();
    let r = student
        .call(
            Method::POST,
            &format!("/v1/lessons/{lesson}/chat"),
            Some(json!({"text": "老师\u{0}好"})),
            Some("chat-nul"),
        )
        .await;
    assert_refused(&r, "text");

    // A parent: NUL in the id of the notice they read.
    let parent = Api::login(&base, PARENT_ONE_CHILD).await;
    let r = parent.post("/v1/notices/%00/read", json!({})).await;
    assert_refused(&r, "path");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn titles_of_only_invisible_characters_are_refused() {
    let server = server();
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let classes = lead.taught_classes();

    for title in ["\u{200B}", "\u{202E}", "\u{200B}\u{202E}\u{FEFF} \u{3000}"] {
        let r = lead.post("/v1/notices", notice(&classes, title, "b")).await;
        assert_refused(&r, "title");
        let r = lead
            .post("/v1/homework", homework(&classes, title, "写五句话"))
            .await;
        assert_refused(&r, "title");
    }
    // A title is one line.
    let r = lead
        .post("/v1/notices", notice(&classes, "春游\n通知", "b"))
        .await;
    assert_refused(&r, "title");
    assert!(lead.notice_ids().await.is_empty(), "nothing was posted");
    assert_eq!(lead.get("/v1/homework").await.body, json!([]));

    // Lessons: scheduling and moving keep the same rule.
    let student = Api::login(&base, STUDENT_MAIN_1A).await;
    let start = now_ms() + 24 * 60 * MINUTE;
    let lesson = |title: &str| {
        json!({
            "subject": "数学", "title": title, "mode": "interactive",
            "starts_at": start, "ends_at": start + 40 * MINUTE,
            "lead_class_id": student.student_class(), "receiving": [],
        })
    };
    let r = lead.post("/v1/lessons", lesson("\u{200B}\u{202E}")).await;
    assert_refused(&r, "title");
    let r = lead.get("/v1/lessons").await;
    assert_eq!(r.body, json!([]), "no lesson was scheduled");

    // Invisible characters inside a real title are text (a right-to-left mark in a name).
    let r = lead
        .post("/v1/notices", notice(&classes, "春游\u{200B}通知", "b"))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    // A formula-looking title is kept as typed: exports neutralise it, not the API.
    let formula = "=HYPERLINK(\"http://evil.example/\",\"成绩\")";
    let r = lead
        .post("/v1/notices", notice(&classes, formula, "b"))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["title"], formula);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_refuses_a_limit_beyond_the_documented_range() {
    let server = server();
    let base = server.url();
    let parent = Api::login(&base, PARENT_ONE_CHILD).await;

    for limit in ["2147483648", "99999999999", "2001", "0", "-1"] {
        let r = parent.get(&format!("/v1/sync?limit={limit}")).await;
        assert_refused(&r, "limit");
    }
    // Not a number: a typed 400, not axum's plain text.
    let r = parent.get("/v1/sync?limit=abc").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    assert_eq!(r.code(), "validation", "{:?}", r.body);
    let r = parent.get("/v1/sync?limit=2000").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = parent.get("/v1/sync?limit=1").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
}
