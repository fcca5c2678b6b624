//! A realtime socket lives no longer than what let it in: it closes when its session ends —
//! sign-out, a reused refresh token, a new password from the roster, an admin's "sign out
//! everywhere" — also when that happens on another server process (PostgreSQL), and when its
//! access token expires. A new password and "sign out everywhere" end every session of the
//! person: old access and refresh tokens stop working at once.

use std::time::Duration;

use futures::StreamExt;
use lianxiao_tests::{
    Backend, DEMO_PASSWORD, Place, RosterBuilder, TestServer,
    api::{Api, send},
    logins::*,
    places::*,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Close codes of the server (`realtime::close_code`).
const TOKEN_EXPIRED: u16 = 4001;
const SESSION_ENDED: u16 = 4002;

/// How long a close or an event may take on a loaded machine: SQLite servers look for ended
/// sessions once a second, PostgreSQL ones hear of them at once; this is only a bound.
const GENEROUS: Duration = Duration::from_secs(60);

fn server_with(env: &[(&str, &str)]) -> TestServer {
    let server = TestServer::start_with_env(&Backend::from_env(), env);
    server.import_demo_roster();
    server
}

fn server() -> TestServer {
    server_with(&[])
}

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
    assert_eq!(next_event(&mut ws).await["type"], "hello");
    ws
}

async fn next_event(ws: &mut Socket) -> Value {
    loop {
        let msg = tokio::time::timeout(GENEROUS, ws.next())
            .await
            .expect("an event in time")
            .expect("socket open")
            .expect("frame");
        if let Message::Text(text) = msg {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

/// Waits for the server to close the socket and returns the close code it gave.
async fn closed(ws: &mut Socket) -> u16 {
    // One deadline for the whole wait: pings and events keep coming while the socket is open.
    let deadline = tokio::time::Instant::now() + GENEROUS;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("the server closed the socket in time");
        match msg {
            Some(Ok(Message::Close(Some(frame)))) => return u16::from(frame.code),
            Some(Ok(Message::Close(None))) => return 1005,
            Some(Ok(_)) => continue,
            other => panic!("the socket ended without a close frame: {other:?}"),
        }
    }
}

/// The socket is still open: a notice for the parent reaches it.
async fn still_hears(ws: &mut Socket, lead: &Api) {
    let r = lead
        .post_notice(&lead.taught_classes(), "还在吗", false, false)
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    loop {
        let e = next_event(ws).await;
        if e["type"] == "changed" && e["cursor"] != "" {
            return;
        }
    }
}

async fn refresh(base: &str, token: &str) -> StatusCode {
    lianxiao_tests::api::refresh_session(base, token)
        .await
        .status
}

async fn logout(base: &str, api: &Api) {
    let r = lianxiao_tests::api::sign_out(base, &api.refresh).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_closes_that_sessions_socket_and_no_other() {
    let server = server();
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let phone = Api::login(&base, PARENT_ONE_CHILD).await;
    let tablet = Api::login(&base, PARENT_ONE_CHILD).await;
    let mut phone_ws = connect(&server.ws_url(), &phone).await;
    let mut tablet_ws = connect(&server.ws_url(), &tablet).await;

    logout(&base, &phone).await;
    assert_eq!(closed(&mut phone_ws).await, SESSION_ENDED);
    assert_eq!(phone.get("/v1/me").await.status, StatusCode::UNAUTHORIZED);
    still_hears(&mut tablet_ws, &lead).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_refresh_token_closes_the_sessions_socket() {
    let server = server();
    let base = server.url();
    let parent = Api::login(&base, PARENT_ONE_CHILD).await;
    let mut ws = connect(&server.ws_url(), &parent).await;
    assert_eq!(refresh(&base, &parent.refresh).await, StatusCode::OK);
    // The rotated token again: copied, so the session ends.
    assert_eq!(
        refresh(&base, &parent.refresh).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(closed(&mut ws).await, SESSION_ENDED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_closes_when_its_access_token_expires() {
    let server = server_with(&[("LIANXIAO_ACCESS_TTL_SECS", "3")]);
    let base = server.url();
    let parent = Api::login(&base, PARENT_ONE_CHILD).await;
    let mut ws = connect(&server.ws_url(), &parent).await;
    assert_eq!(closed(&mut ws).await, TOKEN_EXPIRED);
    // A fresh token opens a new socket.
    let again = Api::login(&base, PARENT_ONE_CHILD).await;
    connect(&server.ws_url(), &again).await;
}

/// The roster rows of main 3(1)'s 李明 and his parent, the parent with `password`.
fn li_with_password(password: &str) -> String {
    let main_1 = Place::class(MAIN_SCHOOL, "main", CLASS_1, GRADE).in_link_group(LINK_GROUP);
    RosterBuilder::new()
        .student(main_1, STUDENT_MAIN_1A, "李明")
        .row([
            MAIN_SCHOOL,
            "",
            "",
            CLASS_1,
            "",
            "parent",
            PARENT_ONE_CHILD,
            "李建国",
            password,
            "",
            STUDENT_MAIN_1A,
        ])
        .to_csv()
}

async fn sign_in_status(base: &str, login: &str, password: &str) -> StatusCode {
    send(
        base,
        Method::POST,
        "/v1/auth/login",
        Some(json!({"login": login, "password": password})),
        &[],
    )
    .await
    .status
}

/// Every session of the parent ended: sockets closed, old tokens refused.
async fn every_session_ended(base: &str, sessions: &mut [(Api, Socket)]) {
    for (api, ws) in sessions.iter_mut() {
        assert_eq!(closed(ws).await, SESSION_ENDED);
        assert_eq!(api.get("/v1/me").await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(refresh(base, &api.refresh).await, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_roster_password_ends_every_session_of_the_person() {
    let server = server();
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let county = Api::login(&base, COUNTY_ADMIN).await;
    let mut sessions = Vec::new();
    for _ in 0..2 {
        let api = Api::login(&base, PARENT_ONE_CHILD).await;
        let ws = connect(&server.ws_url(), &api).await;
        sessions.push((api, ws));
    }
    let other = Api::login(&base, PARENT_MAIN_2).await;
    let mut other_ws = connect(&server.ws_url(), &other).await;

    // Through the server.
    let r = county
        .http
        .post(format!("{base}/v1/admin/roster"))
        .bearer_auth(&county.access)
        .header("content-type", "text/csv")
        .body(li_with_password("new-password-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    every_session_ended(&base, &mut sessions).await;
    assert_eq!(
        sign_in_status(&base, PARENT_ONE_CHILD, DEMO_PASSWORD).await,
        StatusCode::UNAUTHORIZED
    );
    let renewed = send(
        &base,
        Method::POST,
        "/v1/auth/login",
        Some(json!({"login": PARENT_ONE_CHILD, "password": "new-password-1"})),
        &[],
    )
    .await;
    assert_eq!(renewed.status, StatusCode::OK);
    // Someone else's session is untouched.
    assert_eq!(other.get("/v1/me").await.status, StatusCode::OK);
    still_hears(&mut other_ws, &lead).await;

    // Through `lianxiao-server import-roster`, a process of its own beside the server.
    let mut sessions = Vec::new();
    let li = Api {
        base: base.clone(),
        http: lianxiao_tests::api::http(),
        access: renewed.body["access_token"].as_str().unwrap().to_owned(),
        refresh: renewed.body["refresh_token"].as_str().unwrap().to_owned(),
        user: renewed.body["user"].clone(),
    };
    let ws = connect(&server.ws_url(), &li).await;
    sessions.push((li, ws));
    server
        .import_roster(&li_with_password("new-password-2"))
        .unwrap();
    every_session_ended(&base, &mut sessions).await;
    assert_eq!(
        sign_in_status(&base, PARENT_ONE_CHILD, "new-password-2").await,
        StatusCode::OK
    );

    // The same password again is no reset: sessions stay.
    let kept = Api::login(&base, PARENT_MAIN_2).await;
    server.import_demo_roster();
    assert_eq!(kept.get("/v1/me").await.status, StatusCode::OK);
}

async fn sign_out_everywhere(admin: Option<&Api>, base: &str, user_id: &str) -> StatusCode {
    let path = format!("/v1/admin/users/{user_id}/sessions");
    match admin {
        Some(admin) => admin.call(Method::DELETE, &path, None, None).await.status,
        None => send(base, Method::DELETE, &path, None, &[]).await.status,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_of_the_persons_school_or_county_signs_them_out_everywhere() {
    let server = server();
    let hekou = Place::class(BRANCH_HEKOU, "branch", CLASS_1, GRADE).in_link_group(LINK_GROUP);
    server
        .import_roster(
            &RosterBuilder::new()
                .school_admin(hekou, "sa_hekou", "河口管理员")
                .to_csv(),
        )
        .unwrap();
    let base = server.url();
    let school_admin = Api::login(&base, SCHOOL_ADMIN).await;
    let county = Api::login(&base, COUNTY_ADMIN).await;
    let other_school_admin = Api::login(&base, "sa_hekou").await;
    let other_parent = Api::login(&base, PARENT_TWO_CHILDREN).await;
    let student = Api::login(&base, STUDENT_MAIN_1A).await;
    let teacher = Api::login(&base, LEAD_TEACHER).await;

    let mut sessions = Vec::new();
    for _ in 0..2 {
        let api = Api::login(&base, PARENT_ONE_CHILD).await;
        let ws = connect(&server.ws_url(), &api).await;
        sessions.push((api, ws));
    }
    let li_id = sessions[0].0.user_id();

    // Nobody else may: a parent, the child, the child's teacher, another school's admin, and
    // someone not signed in.
    for refused in [&other_parent, &student, &teacher, &other_school_admin] {
        assert_eq!(
            sign_out_everywhere(Some(refused), &base, &li_id).await,
            StatusCode::FORBIDDEN
        );
    }
    assert_eq!(
        sign_out_everywhere(None, &base, &li_id).await,
        StatusCode::UNAUTHORIZED
    );
    // A school admin cannot tell an unknown id from someone of another school.
    assert_eq!(
        sign_out_everywhere(Some(&other_school_admin), &base, "no-such-person").await,
        StatusCode::FORBIDDEN
    );
    for (api, _) in &sessions {
        assert_eq!(api.get("/v1/me").await.status, StatusCode::OK);
    }

    // The admin of the child's school: a parent belongs to their child's school.
    assert_eq!(
        sign_out_everywhere(Some(&school_admin), &base, &li_id).await,
        StatusCode::NO_CONTENT
    );
    every_session_ended(&base, &mut sessions).await;
    // Signing in again works: the account is not locked, only signed out.
    let again = Api::login(&base, PARENT_ONE_CHILD).await;

    // The county admin may sign out anyone, and learns that an id names no one.
    assert_eq!(
        sign_out_everywhere(Some(&county), &base, &again.user_id()).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(again.get("/v1/me").await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        sign_out_everywhere(Some(&county), &base, "no-such-person").await,
        StatusCode::NOT_FOUND
    );
    // Another school's admin for a parent of their school.
    let yang = Api::login(&base, PARENT_HEKOU).await;
    assert_eq!(
        sign_out_everywhere(Some(&other_school_admin), &base, &yang.user_id()).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(yang.get("/v1/me").await.status, StatusCode::UNAUTHORIZED);

    let doc = send(&base, Method::GET, "/v1/openapi.json", None, &[]).await;
    let op = &doc.body["paths"]["/v1/admin/users/{id}/sessions"]["delete"];
    for status in ["204", "401", "403", "404"] {
        assert!(op["responses"][status].is_object(), "{status} documented");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ended_on_one_server_closes_its_socket_on_another() {
    let backend = Backend::from_env();
    if !backend.is_postgres() {
        eprintln!("two server processes need PostgreSQL; this backend is {backend:?}");
        return;
    }
    let first = server();
    let second = first.second_instance();
    let parent = Api::login(&first.url(), PARENT_ONE_CHILD).await;
    let mut ws = connect(&first.ws_url(), &parent).await;
    logout(&second.url(), &parent).await;
    assert_eq!(closed(&mut ws).await, SESSION_ENDED);

    // And an admin's "sign out everywhere" through the other server.
    let county = Api::login(&second.url(), COUNTY_ADMIN).await;
    let parent = Api::login(&first.url(), PARENT_ONE_CHILD).await;
    let mut ws = connect(&first.ws_url(), &parent).await;
    assert_eq!(
        sign_out_everywhere(Some(&county), &second.url(), &parent.user_id()).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(closed(&mut ws).await, SESSION_ENDED);
}
