//! Whose phone a push reaches, probed as an attacker would: a notice's author does not learn
//! the recipients' device ids; another account registering someone's device id neither cuts
//! off nor redirects their pushes; and a session that ends on the server (sign-out) takes its
//! phone's link with it, so the signed-out phone gets no more pushes for that account. Against
//! the local FCM fake, on SQLite or PostgreSQL (`LIANXIAO_TEST_BACKEND=postgres`).

use std::time::{Duration, Instant};

use lianxiao_tests::{
    Backend, TestServer,
    api::{Api, Reply},
    logins::*,
    push_fakes::Fakes,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// How long the gateway may take to hand a push to the fake on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(60);

fn server(fakes: &Fakes) -> TestServer {
    let env = fakes.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = TestServer::start_with_env(&Backend::from_env(), &env);
    server.import_demo_roster();
    server
}

async fn register(api: &Api, device_id: &str, token: &str) -> Reply {
    api.call(
        Method::PUT,
        &format!("/v1/devices/{device_id}"),
        Some(json!({
            "platform": "android",
            "provider": "fcm",
            "token": token,
            "app_version": "1.0.0",
            "locale": "zh-CN",
        })),
        None,
    )
    .await
}

/// Posts a notice to the lead's classes and waits until no push of it is queued; returns the
/// author's push report.
async fn post_and_settle(server: &TestServer, lead: &Api, title: &str) -> Value {
    let r = lead
        .post_notice(&lead.taught_classes(), title, false, false)
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let start = Instant::now();
    loop {
        let r = lead.get(&format!("/v1/notices/{id}/pushes")).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let queued = r.body["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["pushes"].as_array().unwrap())
            .any(|p| p["state"] == "queued");
        if !queued {
            return r.body;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "not settled: {}\n{}",
            r.body,
            server.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn reach(report: &Value, user_id: &str) -> String {
    report["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["user_id"] == user_id)
        .unwrap_or_else(|| panic!("{user_id} is no recipient: {report}"))["reach"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The accounts the fake has delivered pushes for to `token`.
fn accounts_pushed(fakes: &Fakes, token: &str) -> Vec<String> {
    fakes
        .fcm
        .delivered_to(token)
        .into_iter()
        .map(|d| d.account_id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_author_of_a_notice_does_not_learn_the_recipients_device_ids() {
    let fakes = Fakes::start().await;
    let server = server(&fakes);
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let li = Api::login(&base, PARENT_ONE_CHILD).await;
    let device = "lx-li-family-phone-1";
    let r = register(&li, device, "cid-li-phone").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    let report = post_and_settle(&server, &lead, "开学通知").await;
    assert_eq!(reach(&report, &li.user_id()), "delivered", "{report}");
    let text = report.to_string();
    assert!(!text.contains("device_id"), "{text}");
    assert!(!text.contains(device), "{text}");
    // Nor does the published schema promise one.
    let doc = lianxiao_tests::api::send(&base, Method::GET, "/v1/openapi.json", None, &[]).await;
    let outcome = &doc.body["components"]["schemas"]["PushOutcome"];
    assert!(outcome["properties"]["state"].is_object(), "{outcome}");
    assert!(
        outcome["properties"].get("device_id").is_none(),
        "{outcome}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_accounts_registration_of_a_device_id_leaves_its_pushes_flowing() {
    let fakes = Fakes::start().await;
    let server = server(&fakes);
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let li = Api::login(&base, PARENT_ONE_CHILD).await;
    // An id the attacker learned somehow (an old report, a log, a shared screenshot).
    let device = "lx-li-family-phone-1";
    let r = register(&li, device, "cid-li-phone").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let report = post_and_settle(&server, &lead, "开学通知").await;
    assert_eq!(reach(&report, &li.user_id()), "delivered", "{report}");

    // A parent of another class, a student, a teacher of another school and the author
    // herself try the victim's device id with a token of their own: refused, nothing changes.
    for login in [
        PARENT_MAIN_2,
        STUDENT_MAIN_2A,
        BRANCH_TEACHER,
        ASSISTANT_HEKOU,
        LEAD_TEACHER,
    ] {
        let attacker = Api::login(&base, login).await;
        let r = register(&attacker, device, &format!("cid-{login}")).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{login}: {:?}", r.body);
        assert_eq!(r.body["field"], "token", "{:?}", r.body);
        // Unlinking someone else's device id touches only the caller's own (absent) link.
        let r = attacker
            .call(Method::DELETE, &format!("/v1/devices/{device}"), None, None)
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
    }

    // The victim's pushes still reach the victim's phone, and no attacker's token got any.
    let report = post_and_settle(&server, &lead, "家长会").await;
    assert_eq!(reach(&report, &li.user_id()), "delivered", "{report}");
    assert_eq!(
        accounts_pushed(&fakes, "cid-li-phone"),
        vec![li.user_id(), li.user_id()]
    );
    for login in [
        PARENT_MAIN_2,
        STUDENT_MAIN_2A,
        BRANCH_TEACHER,
        ASSISTANT_HEKOU,
        LEAD_TEACHER,
    ] {
        assert!(
            fakes.fcm.delivered_to(&format!("cid-{login}")).is_empty(),
            "{login}"
        );
    }

    // The phone itself brings a new token (the provider changed it): its own account moves it.
    let r = register(&li, device, "cid-li-phone-2").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    // A second account on that phone brings the token the phone really has: linked.
    let zhao = Api::login(&base, PARENT_TWO_CHILDREN).await;
    let r = register(&zhao, device, "cid-li-phone-2").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    post_and_settle(&server, &lead, "运动会").await;
    let mut got = accounts_pushed(&fakes, "cid-li-phone-2");
    got.sort();
    let mut want = vec![li.user_id(), zhao.user_id()];
    want.sort();
    assert_eq!(got, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_sign_out_no_push_for_that_account_reaches_the_phone() {
    let fakes = Fakes::start().await;
    let server = server(&fakes);
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let device = "lx-shared-family-phone";
    let token = "cid-family-phone";

    // Two parents signed in on one phone.
    let li = Api::login(&base, PARENT_ONE_CHILD).await;
    let zhao = Api::login(&base, PARENT_TWO_CHILDREN).await;
    for who in [&li, &zhao] {
        let r = register(who, device, token).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    }
    post_and_settle(&server, &lead, "第一条").await;
    assert_eq!(fakes.fcm.delivered_to(token).len(), 2);

    // 李 signs out; the phone's farewell (DELETE /v1/devices) never arrives.
    let r = lianxiao_tests::api::sign_out(&base, &li.refresh).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    let report = post_and_settle(&server, &lead, "第二条").await;
    assert_eq!(reach(&report, &li.user_id()), "no_device", "{report}");
    assert_eq!(reach(&report, &zhao.user_id()), "delivered", "{report}");
    let pushed = accounts_pushed(&fakes, token);
    assert_eq!(pushed.len(), 3, "{pushed:?}");
    assert_eq!(pushed[2], zhao.user_id(), "{pushed:?}");

    // Signed in again, the phone registers again and pushes come back. An older session of
    // the same account signing out later does not take the new registration away.
    let old = Api::login(&base, PARENT_ONE_CHILD).await;
    let again = Api::login(&base, PARENT_ONE_CHILD).await;
    let r = register(&old, device, token).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = register(&again, device, token).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = lianxiao_tests::api::sign_out(&base, &old.refresh).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let report = post_and_settle(&server, &lead, "第三条").await;
    assert_eq!(reach(&report, &li.user_id()), "delivered", "{report}");

    // The last account signing out leaves the phone unregistered: nothing more reaches it.
    for who in [&again, &zhao] {
        let r = lianxiao_tests::api::sign_out(&base, &who.refresh).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
    }
    let before = fakes.fcm.delivered_to(token).len();
    let report = post_and_settle(&server, &lead, "第四条").await;
    assert_eq!(reach(&report, &li.user_id()), "no_device", "{report}");
    assert_eq!(reach(&report, &zhao.user_id()), "no_device", "{report}");
    assert_eq!(fakes.fcm.delivered_to(token).len(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ended_elsewhere_takes_its_phone_link_with_it() {
    let fakes = Fakes::start().await;
    let server = server(&fakes);
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let token = "cid-ended-elsewhere";
    let li = Api::login(&base, PARENT_ONE_CHILD).await;
    let zhao = Api::login(&base, PARENT_TWO_CHILDREN).await;
    assert_eq!(
        register(&li, "lx-li-phone", token).await.status,
        StatusCode::OK
    );
    assert_eq!(
        register(&zhao, "lx-zhao-phone", "cid-zhao").await.status,
        StatusCode::OK
    );
    post_and_settle(&server, &lead, "第一条").await;
    assert_eq!(fakes.fcm.delivered_to(token).len(), 1);

    // The school's admin signs 李 out everywhere (a lost phone); the phone never says goodbye.
    let admin = Api::login(&base, SCHOOL_ADMIN).await;
    let r = admin
        .call(
            Method::DELETE,
            &format!("/v1/admin/users/{}/sessions", li.user_id()),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    let report = post_and_settle(&server, &lead, "第二条").await;
    assert_eq!(reach(&report, &li.user_id()), "no_device", "{report}");
    assert_eq!(fakes.fcm.delivered_to(token).len(), 1);

    // A reused refresh token ends 赵's session the same way (it looks like a stolen token).
    let r = lianxiao_tests::api::refresh_session(&base, &zhao.refresh).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = lianxiao_tests::api::refresh_session(&base, &zhao.refresh).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{:?}", r.body);
    let before = fakes.fcm.delivered_to("cid-zhao").len();
    let report = post_and_settle(&server, &lead, "第三条").await;
    assert_eq!(reach(&report, &zhao.user_id()), "no_device", "{report}");
    assert_eq!(fakes.fcm.delivered_to("cid-zhao").len(), before);
}
