//! The school's day follows the server's clock, and so the test clock (`LIANXIAO_TEST_CLOCK=1`,
//! moved through `PUT /v1/test/clock`): homework deadlines and lateness, a lesson's window
//! (the timetable's "from now", the room opening, heartbeats) and the time the server tells
//! phones (`X-Server-Time`, `server_time`). Sign-in keeps working across a moved clock. On the
//! real server binary; SQLite, or PostgreSQL with `LIANXIAO_TEST_BACKEND=postgres`.

use lianxiao_tests::{Backend, TestServer, api::Api, logins::*};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const HOUR: i64 = 3_600_000;
const MINUTE: i64 = 60_000;
/// 2030-03-01 00:00 in China (UTC+8): years from any real clock running these tests, so only
/// a server that follows its test clock passes.
const DAY0: i64 = 1_898_524_800_000;
/// How far a reading may be past the instant the clock was moved to: the clock keeps running
/// at the real pace, and a loaded machine may take a while between two requests.
const RUNNING: i64 = 5 * MINUTE;

/// That day at `h:m`, China time.
fn cst(h: i64, m: i64) -> i64 {
    DAY0 + h * HOUR + m * MINUTE
}

struct World {
    server: TestServer,
    county: Api,
}

async fn world() -> World {
    let server = TestServer::start_with_env(&Backend::from_env(), &[("LIANXIAO_TEST_CLOCK", "1")]);
    server.import_demo_roster();
    let county = Api::login(&server.url(), COUNTY_ADMIN).await;
    World { server, county }
}

impl World {
    async fn login(&self, who: &str) -> Api {
        Api::login(&self.server.url(), who).await
    }

    /// Moves the server's clock.
    async fn at(&self, t: i64) {
        let r = self
            .county
            .call(Method::PUT, "/v1/test/clock", Some(json!({"now": t})), None)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    }
}

fn around(read: i64, t: i64) -> bool {
    (t..t + RUNNING).contains(&read)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn homework_deadlines_and_lateness_follow_the_moved_clock() {
    let w = world().await;
    let lead = w.login(LEAD_TEACHER).await;
    let student = w.login(STUDENT_MAIN_1A).await;
    let other = w.login(STUDENT_MAIN_1B).await;
    let class = student.student_class();
    let assign = |due_at: i64, accepts_late: bool| {
        json!({"title": "古诗默写", "instructions": "默写两首古诗", "class_ids": [class],
               "due_at": due_at, "accepted_kinds": ["text"], "max_score": 100,
               "accepts_late": accepts_late})
    };

    w.at(cst(10, 0)).await;
    // 09:00 has passed on the server's clock: no homework may be due then.
    let r = lead.post("/v1/homework", assign(cst(9, 0), true)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert_eq!(r.body["field"], "due_at");
    let r = lead.post("/v1/homework", assign(cst(11, 0), true)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let lenient = r.body["id"].as_str().unwrap().to_owned();
    let r = lead.post("/v1/homework", assign(cst(11, 0), false)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let strict = r.body["id"].as_str().unwrap().to_owned();

    // Before the deadline: on time.
    let hand_in = |api: &Api, homework: &str, text: &str| {
        let (api, path, text) = (
            api.clone(),
            format!("/v1/homework/{homework}/submissions"),
            text.to_owned(),
        );
        async move { api.post(&path, json!({"text": text})).await }
    };
    let r = hand_in(&other, &lenient, "白日依山尽").await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["attempts"][0]["late"], false, "{:?}", r.body);

    // After it, by the moved clock: late where late work is taken, refused where it is not.
    w.at(cst(11, 5)).await;
    let r = hand_in(&student, &lenient, "床前明月光").await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["attempts"][0]["late"], true, "{:?}", r.body);
    let r = hand_in(&student, &strict, "床前明月光").await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_time_told_to_phones_follows_the_moved_clock() {
    let w = world().await;
    let base = w.server.url();
    w.at(cst(21, 45)).await;

    let header = |r: &lianxiao_tests::api::Reply| -> i64 {
        r.headers[lianxiao_protocol::SERVER_TIME_HEADER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    let r = lianxiao_tests::api::send(&base, Method::GET, "/v1/health", None, &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(around(header(&r), cst(21, 45)), "{}", header(&r));
    assert!(around(r.body["server_time"].as_i64().unwrap(), cst(21, 45)));

    // Signing in works on a moved clock (tokens keep the system's) and says the same time.
    let parent = w.login(PARENT_ONE_CHILD).await;
    let r = lianxiao_tests::api::send(
        &base,
        Method::POST,
        "/v1/auth/login",
        Some(json!({"login": PARENT_ONE_CHILD, "password": lianxiao_tests::DEMO_PASSWORD})),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(around(r.body["server_time"].as_i64().unwrap(), cst(21, 45)));
    assert!(around(header(&r), cst(21, 45)));
    let r = parent.get("/v1/sync").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(around(header(&r), cst(21, 45)));
    assert!(around(r.body["server_time"].as_i64().unwrap(), cst(21, 45)));
    let r = parent.get("/v1/notices").await;
    assert!(around(r.body["server_time"].as_i64().unwrap(), cst(21, 45)));

    // Moved again (backwards too): the next answer says so.
    w.at(cst(7, 0)).await;
    let r = parent.get("/v1/notices").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(around(header(&r), cst(7, 0)), "{}", header(&r));
    // An error answer carries it as well.
    let r = parent.get("/v1/notices/no-such-notice").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(around(header(&r), cst(7, 0)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lessons_window_follows_the_moved_clock() {
    let w = world().await;
    let lead = w.login(LEAD_TEACHER).await;
    let student = w.login(STUDENT_MAIN_1A).await;
    let class = student.student_class();
    let schedule = |starts_at: i64| {
        json!({"subject": "语文", "title": "古诗两首", "mode": "interactive",
               "starts_at": starts_at, "ends_at": starts_at + 40 * MINUTE,
               "lead_class_id": class, "receiving": []})
    };

    w.at(cst(10, 0)).await;
    // 09:30 is past on the server's clock.
    let r = lead.post("/v1/lessons", schedule(cst(9, 30))).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert_eq!(r.body["field"], "starts_at");
    let r = lead.post("/v1/lessons", schedule(cst(11, 0))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let lesson = r.body["lessons"][0]["id"].as_str().unwrap().to_owned();

    // The timetable's default window starts now, on the server's clock.
    let listed = |r: &lianxiao_tests::api::Reply| -> Vec<String> {
        r.body
            .as_array()
            .unwrap_or_else(|| panic!("{:?}", r.body))
            .iter()
            .map(|l: &Value| l["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let r = student.get("/v1/lessons").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(listed(&r), std::slice::from_ref(&lesson));

    let chat = |api: &Api, key: &str| {
        let (api, path, key) = (
            api.clone(),
            format!("/v1/lessons/{lesson}/chat"),
            key.to_owned(),
        );
        async move {
            api.call(
                Method::POST,
                &path,
                Some(json!({"text": "老师好"})),
                Some(&key),
            )
            .await
        }
    };
    let beat = |api: &Api| {
        let (api, path) = (api.clone(), format!("/v1/lessons/{lesson}/heartbeat"));
        async move { api.post(&path, json!({})).await }
    };
    // An hour before: the room is not open, a heartbeat is outside the lesson.
    let r = chat(&student, "chat-early-0001").await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    assert_eq!(r.code(), "lesson_not_live");
    let r = beat(&student).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);

    // About to start (inside the join margin, 15 minutes by default): the room is open.
    w.at(cst(10, 50)).await;
    let r = chat(&student, "chat-soon-00001").await;
    assert!(r.status.is_success(), "{:?}", r.body);
    // Live: heartbeats count, stamped with the server's time.
    w.at(cst(11, 10)).await;
    let r = beat(&student).await;
    assert!(r.status.is_success(), "{:?}", r.body);
    let joined = r.body["joined_at"]
        .as_i64()
        .unwrap_or_else(|| panic!("{:?}", r.body));
    assert!(around(joined, cst(11, 10)), "{joined}");

    // Long over: the room is shut again, and the lesson is no longer "from now".
    w.at(cst(13, 0)).await;
    let r = chat(&student, "chat-late-00001").await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    assert_eq!(r.code(), "lesson_not_live");
    let r = student.get("/v1/lessons").await;
    assert!(listed(&r).is_empty(), "{:?}", r.body);
}
