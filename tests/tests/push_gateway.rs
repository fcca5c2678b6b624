//! Push notifications end to end: phones register through the API, a teacher posts a notice,
//! and the real server binary hands one push per phone of each recipient to local fakes of
//! APNs, FCM and Getui that check each provider's documented format and authentication
//! (`lianxiao_tests::push_fakes`). Dead tokens remove the phone, throttling is retried, a
//! restart loses and repeats nothing. On SQLite, or PostgreSQL with
//! `LIANXIAO_TEST_BACKEND=postgres`.

use std::time::{Duration, Instant};

use lianxiao_tests::{
    Backend, TestServer,
    api::{Api, Reply},
    logins::*,
    push_fakes::{
        Fake, Fakes, GETUI_ANDROID_ACTIVITY, GETUI_ANDROID_PACKAGE, Scripted, parse_android_intent,
    },
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const PATIENCE: Duration = Duration::from_secs(60);

fn server_with(env: &[(String, String)]) -> TestServer {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = TestServer::start_with_env(&Backend::from_env(), &env);
    server.import_demo_roster();
    server
}

/// Registers a phone for the signed-in account.
async fn register(
    api: &Api,
    device_id: &str,
    platform: &str,
    provider: &str,
    token: &str,
) -> Reply {
    api.call(
        Method::PUT,
        &format!("/v1/devices/{device_id}"),
        Some(json!({
            "platform": platform,
            "provider": provider,
            "token": token,
            "app_version": "1.0.0",
            "locale": "zh-CN",
        })),
        None,
    )
    .await
}

async fn registered(api: &Api, device_id: &str, platform: &str, provider: &str, token: &str) {
    let r = register(api, device_id, platform, provider, token).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

/// Posts a notice to the lead teacher's two classes; returns its id.
async fn post(lead: &Api, title: &str, include_students: bool) -> String {
    let r = lead
        .post_notice(&lead.taught_classes(), title, false, include_students)
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

/// The author's view of the notice's pushes once none is waiting any more.
async fn settled(lead: &Api, notice_id: &str) -> Value {
    let start = Instant::now();
    loop {
        let r = lead.get(&format!("/v1/notices/{notice_id}/pushes")).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let pending = r.body["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["pushes"].as_array().unwrap())
            .any(|p| p["state"] == "queued");
        if !pending {
            return r.body;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "pushes still queued: {}",
            r.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `f` holds.
async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < PATIENCE, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn recipient<'a>(report: &'a Value, user_id: &str) -> &'a Value {
    report["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["user_id"] == user_id)
        .unwrap_or_else(|| panic!("{user_id} is no recipient: {report}"))
}

fn no_rejections(fakes: &Fakes) {
    for fake in fakes.all() {
        assert!(fake.rejections().is_empty(), "{:?}", fake.rejections());
    }
}

fn once(fake: &Fake, token: &str, notice: &str, account: &str) {
    let got = fake.delivered_to(token);
    assert_eq!(
        got.len(),
        1,
        "{token}: delivered {got:?}, asked {:?}, refused {:?}",
        fake.requests_for(token),
        fake.rejections()
    );
    assert_eq!(got[0].kind, "notice");
    assert_eq!(got[0].id, notice);
    assert_eq!(got[0].account_id, account);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notice_reaches_every_registered_phone_of_each_parent_once() {
    let fakes = Fakes::start().await;
    let server = server_with(&fakes.env());
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let li = Api::login(&base, PARENT_ONE_CHILD).await; // main class 1
    let zhao = Api::login(&base, PARENT_TWO_CHILDREN).await; // main class 1 and 石桥
    let sun = Api::login(&base, PARENT_MAIN_2).await; // main class 2
    let yang = Api::login(&base, PARENT_HEKOU).await; // not in the lead's classes
    let student = Api::login(&base, STUDENT_MAIN_1A).await;

    registered(&li, "li-iphone-0001", "ios", "apns", "a1a1a1").await;
    registered(&li, "li-android-0001", "android", "getui", "cid-li-2").await;
    registered(&zhao, "zhao-pixel-0001", "android", "fcm", "fcm-zhao").await;
    registered(&sun, "sun-huawei-0001", "android", "getui", "cid-sun").await;
    registered(&yang, "yang-iphone-0001", "ios", "apns", "b2b2b2").await;
    registered(
        &student,
        "li-ming-tablet1",
        "android",
        "getui",
        "cid-student",
    )
    .await;

    let notice = post(&lead, "春游通知", false).await;
    let report = settled(&lead, &notice).await;
    once(&fakes.apns, "a1a1a1", &notice, &li.user_id());
    once(&fakes.getui, "cid-li-2", &notice, &li.user_id());
    once(&fakes.fcm, "fcm-zhao", &notice, &zhao.user_id());
    once(&fakes.getui, "cid-sun", &notice, &sun.user_id());
    // Not a recipient; and students only when the notice includes them.
    assert!(fakes.apns.requests_for("b2b2b2").is_empty());
    assert!(fakes.getui.requests_for("cid-student").is_empty());
    // The badge is the account's unread count; the text is the notice's.
    let pushed = &fakes.apns.delivered_to("a1a1a1")[0];
    assert_eq!((pushed.badge, pushed.title.as_str()), (1, "春游通知"));

    // The author sees who was reached: all three parents, on every phone.
    for parent in [&li, &zhao, &sun] {
        let r = recipient(&report, &parent.user_id());
        assert_eq!(r["reach"], "delivered", "{r}");
        assert!(
            r["pushes"]
                .as_array()
                .unwrap()
                .iter()
                .all(|p| p["state"] == "sent")
        );
    }
    assert_eq!(
        recipient(&report, &li.user_id())["pushes"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // A notice that includes students reaches the student's tablet too, with badges counting.
    let second = post(&lead, "运动会", true).await;
    let report = settled(&lead, &second).await;
    once(&fakes.getui, "cid-student", &second, &student.user_id());
    assert_eq!(recipient(&report, &student.user_id())["reach"], "delivered");
    let latest = fakes
        .apns
        .delivered_to("a1a1a1")
        .into_iter()
        .find(|d| d.id == second)
        .unwrap();
    assert_eq!(latest.badge, 2);

    // APNs' provider token was made once and reused; FCM's OAuth token was fetched once.
    let jwts: std::collections::HashSet<String> = fakes.apns.credentials().into_iter().collect();
    assert_eq!(jwts.len(), 1);
    assert_eq!(fakes.fcm.credentials().len(), 1);
    no_rejections(&fakes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_accounts_on_one_phone_each_get_their_own_push_until_one_signs_out() {
    let fakes = Fakes::start().await;
    let server = server_with(&fakes.env());
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    // A family phone: the mother and the child are both signed in.
    let zhao = Api::login(&base, PARENT_TWO_CHILDREN).await;
    let child = Api::login(&base, STUDENT_MAIN_1B).await;
    registered(&zhao, "family-phone-01", "android", "fcm", "fcm-family").await;
    registered(&child, "family-phone-01", "android", "fcm", "fcm-family").await;

    let notice = post(&lead, "家长会", true).await;
    settled(&lead, &notice).await;
    let got = fakes.fcm.delivered_to("fcm-family");
    let mut accounts: Vec<String> = got.iter().map(|d| d.account_id.clone()).collect();
    accounts.sort();
    let mut expected = vec![zhao.user_id(), child.user_id()];
    expected.sort();
    assert_eq!(accounts, expected, "one push per account: {got:?}");

    // The child signs out on that phone: the mother's pushes keep coming, the child's stop.
    let r = child
        .call(Method::DELETE, "/v1/devices/family-phone-01", None, None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let again = child
        .call(Method::DELETE, "/v1/devices/family-phone-01", None, None)
        .await;
    assert_eq!(
        again.status,
        StatusCode::NO_CONTENT,
        "signing out twice is fine"
    );
    let second = post(&lead, "放假通知", true).await;
    let report = settled(&lead, &second).await;
    let got: Vec<_> = fakes
        .fcm
        .delivered_to("fcm-family")
        .into_iter()
        .filter(|d| d.id == second)
        .collect();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].account_id, zhao.user_id());
    assert_eq!(recipient(&report, &child.user_id())["reach"], "no_device");
    no_rejections(&fakes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_token_replaces_the_old_one_on_the_same_phone() {
    let fakes = Fakes::start().await;
    let server = server_with(&fakes.env());
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let li = Api::login(&base, PARENT_ONE_CHILD).await;
    registered(&li, "li-iphone-0001", "ios", "apns", "0ld70ken").await;
    let first = register(&li, "li-iphone-0001", "ios", "apns", "0ld70ken").await;
    registered(&li, "li-iphone-0001", "ios", "apns", "new70ken").await;
    let second = register(&li, "li-iphone-0001", "ios", "apns", "new70ken").await;
    assert_eq!(second.body["registered_at"], first.body["registered_at"]);
    assert!(
        second.body.get("token").is_none(),
        "the token is not echoed"
    );

    let notice = post(&lead, "新学期", false).await;
    settled(&lead, &notice).await;
    once(&fakes.apns, "new70ken", &notice, &li.user_id());
    assert!(fakes.apns.requests_for("0ld70ken").is_empty());

    // The app reinstalled: a new device id with a token the old id had is one phone, not two.
    registered(&li, "li-iphone-0002", "ios", "apns", "new70ken").await;
    let next = post(&lead, "重装之后", false).await;
    let report = settled(&lead, &next).await;
    assert_eq!(
        fakes
            .apns
            .delivered_to("new70ken")
            .iter()
            .filter(|d| d.id == next)
            .count(),
        1
    );
    assert_eq!(
        recipient(&report, &li.user_id())["pushes"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    no_rejections(&fakes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_tokens_remove_the_phone() {
    let fakes = Fakes::start().await;
    let server = server_with(&fakes.env());
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let li = Api::login(&base, PARENT_ONE_CHILD).await;
    let zhao = Api::login(&base, PARENT_TWO_CHILDREN).await;
    let sun = Api::login(&base, PARENT_MAIN_2).await;
    registered(&li, "li-iphone-0001", "ios", "apns", "dead01").await;
    registered(&li, "li-ipad-000001", "ios", "apns", "dead02").await;
    registered(&zhao, "zhao-pixel-0001", "android", "fcm", "fcm-dead").await;
    registered(&sun, "sun-huawei-0001", "android", "getui", "cid-dead").await;
    fakes.apns.script("dead01", &[Scripted::Unregistered]);
    fakes.apns.script("dead02", &[Scripted::BadToken]);
    fakes.fcm.script("fcm-dead", &[Scripted::Unregistered]);
    fakes.getui.script("cid-dead", &[Scripted::Unregistered]);

    let notice = post(&lead, "停水通知", false).await;
    let report = settled(&lead, &notice).await;
    for parent in [&li, &zhao, &sun] {
        let r = recipient(&report, &parent.user_id());
        assert_eq!(r["reach"], "not_delivered", "{r}");
        for p in r["pushes"].as_array().unwrap() {
            assert_eq!(p["state"], "device_removed", "{p}");
        }
    }
    let reasons: Vec<&str> = recipient(&report, &li.user_id())["pushes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["reason"].as_str().unwrap())
        .collect();
    assert!(reasons.contains(&"Unregistered") && reasons.contains(&"BadDeviceToken"));

    // The phones are gone: the next notice is not even tried on them.
    let next = post(&lead, "恢复供水", false).await;
    let report = settled(&lead, &next).await;
    for parent in [&li, &zhao, &sun] {
        assert_eq!(recipient(&report, &parent.user_id())["reach"], "no_device");
    }
    for (fake, token) in [
        (&fakes.apns, "dead01"),
        (&fakes.apns, "dead02"),
        (&fakes.fcm, "fcm-dead"),
        (&fakes.getui, "cid-dead"),
    ] {
        assert_eq!(fake.requests_for(token).len(), 1, "{token}");
        assert!(fake.delivered_to(token).is_empty());
    }
    // Registering again (the app got a fresh token) brings the phone back.
    registered(&li, "li-iphone-0001", "ios", "apns", "alive01").await;
    let third = post(&lead, "第三条", false).await;
    settled(&lead, &third).await;
    once(&fakes.apns, "alive01", &third, &li.user_id());
    no_rejections(&fakes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_pushes_are_retried_and_delivered_once() {
    let fakes = Fakes::start().await;
    let server = server_with(&fakes.env());
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let li = Api::login(&base, PARENT_ONE_CHILD).await;
    let zhao = Api::login(&base, PARENT_TWO_CHILDREN).await;
    let sun = Api::login(&base, PARENT_MAIN_2).await;
    registered(&li, "li-iphone-0001", "ios", "apns", "s10w01").await;
    registered(&zhao, "zhao-pixel-0001", "android", "fcm", "fcm-slow").await;
    registered(&sun, "sun-huawei-0001", "android", "getui", "cid-slow").await;
    fakes
        .apns
        .script("s10w01", &[Scripted::Throttle, Scripted::Throttle]);
    fakes.fcm.script("fcm-slow", &[Scripted::Throttle]);
    fakes.getui.script("cid-slow", &[Scripted::Throttle]);

    let notice = post(&lead, "体检通知", false).await;
    let report = settled(&lead, &notice).await;
    once(&fakes.apns, "s10w01", &notice, &li.user_id());
    once(&fakes.fcm, "fcm-slow", &notice, &zhao.user_id());
    once(&fakes.getui, "cid-slow", &notice, &sun.user_id());
    assert_eq!(fakes.apns.requests_for("s10w01").len(), 3);
    assert_eq!(fakes.fcm.requests_for("fcm-slow").len(), 2);
    assert_eq!(fakes.getui.requests_for("cid-slow").len(), 2);
    // A retry is the same push: APNs sees one apns-id, Getui one request_id.
    let ids: std::collections::HashSet<String> =
        fakes.apns.requests_for("s10w01").into_iter().collect();
    assert_eq!(ids.len(), 1);
    let r = recipient(&report, &li.user_id());
    assert_eq!(r["reach"], "delivered");
    assert_eq!(r["pushes"][0]["attempts"], 3);
    no_rejections(&fakes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_queued_across_a_restart_go_out_once() {
    let fakes = Fakes::start().await;
    let mut env = fakes.env();
    // Short provider timeouts so a crashed sender's claims run out soon.
    env.push(("LIANXIAO_PUSH_TIMEOUT_SECS".into(), "2".into()));
    let mut server = server_with(&env);
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let li = Api::login(&base, PARENT_ONE_CHILD).await;
    let zhao = Api::login(&base, PARENT_TWO_CHILDREN).await;
    let sun = Api::login(&base, PARENT_MAIN_2).await;
    registered(&li, "li-iphone-0001", "ios", "apns", "c0ffee").await;
    registered(&zhao, "zhao-pixel-0001", "android", "fcm", "fcm-restart").await;
    registered(&sun, "sun-huawei-0001", "android", "getui", "cid-restart").await;

    // The providers take the pushes and never answer; the server dies meanwhile.
    for fake in fakes.all() {
        fake.hang(true);
    }
    let notice = post(&lead, "台风停课", false).await;
    until("every provider has the push in hand", || {
        !fakes.apns.requests_for("c0ffee").is_empty()
            && !fakes.fcm.requests_for("fcm-restart").is_empty()
            && !fakes.getui.requests_for("cid-restart").is_empty()
    })
    .await;
    server.stop();
    for fake in fakes.all() {
        fake.hang(false);
    }
    server.restart();

    let lead = Api::login(&base, LEAD_TEACHER).await;
    let report = settled(&lead, &notice).await;
    once(&fakes.apns, "c0ffee", &notice, &li.user_id());
    once(&fakes.fcm, "fcm-restart", &notice, &zhao.user_id());
    once(&fakes.getui, "cid-restart", &notice, &sun.user_id());
    // The push that went out after the restart is the one that was in flight.
    let asked = fakes.apns.requests_for("c0ffee");
    assert_eq!(fakes.apns.delivered_to("c0ffee")[0].push_id, asked[0]);
    for parent in [&li, &zhao, &sun] {
        assert_eq!(recipient(&report, &parent.user_id())["reach"], "delivered");
    }
    no_rejections(&fakes);
}

/// A tapped Getui notification opens the app's activity with the push's data, whichever way it
/// came: Getui's own notification while the app runs (`push_message`) and the phone maker's
/// when it does not (`push_channel.android.ups`) both use `click_type: intent` with Getui's
/// template — `component=<package>/<activity>` and the data as `S.` extras — so the system
/// starts the activity from the notification (no activity started from a background service,
/// which Android 10+ blocks) and the activity hands the extras to the core's `push_opened`.
/// A title longer than Getui's 50 characters is cut, not refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tapped_getui_push_opens_the_apps_activity_with_its_data_on_both_channels() {
    let fakes = Fakes::start().await;
    let server = server_with(&fakes.env());
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let sun = Api::login(&base, PARENT_MAIN_2).await;
    registered(&sun, "sun-huawei-0001", "android", "getui", "cid-tap").await;

    let title = format!("春游通知：{}", "请家长签字确认".repeat(10));
    assert!(title.chars().count() > 50);
    let notice = post(&lead, &title, false).await;
    settled(&lead, &notice).await;
    no_rejections(&fakes);
    once(&fakes.getui, "cid-tap", &notice, &sun.user_id());

    let body = &fakes.getui.bodies_for("cid-tap")[0];
    let channels = [
        &body["push_message"]["notification"],
        &body["push_channel"]["android"]["ups"]["notification"],
    ];
    for n in channels {
        assert_eq!(n["click_type"], "intent", "{n}");
        assert!(
            n.get("payload").is_none(),
            "nothing the app would not read: {n}"
        );
        let shown = n["title"].as_str().unwrap();
        assert_eq!(shown.chars().count(), 50, "{shown}");
        assert!(shown.ends_with('…') && title.starts_with(shown.trim_end_matches('…')));
        let intent = parse_android_intent(n["intent"].as_str().unwrap()).unwrap();
        assert_eq!(
            intent.component,
            Some((GETUI_ANDROID_PACKAGE.into(), GETUI_ANDROID_ACTIVITY.into()))
        );
        assert_eq!(intent.package.as_deref(), Some(GETUI_ANDROID_PACKAGE));
        assert_eq!(intent.data.as_deref(), Some("lianxiao://open?"));
        // FLAG_ACTIVITY_CLEAR_TOP: a running activity gets the tap (singleTop: onNewIntent).
        assert_eq!(intent.launch_flags, Some(0x0400_0000));
        let extras: Vec<(&str, &str)> = intent
            .extras
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            extras,
            [
                ("account_id", sun.user_id().as_str()),
                ("badge", "1"),
                ("id", notice.as_str()),
                ("kind", "notice"),
            ]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_whose_provider_is_not_set_up_here_is_skipped_and_said_so() {
    let fakes = Fakes::start().await;
    // This deployment has APNs only.
    let server = server_with(&fakes.apns_env());
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let li = Api::login(&base, PARENT_ONE_CHILD).await;
    let zhao = Api::login(&base, PARENT_TWO_CHILDREN).await;
    registered(&li, "li-iphone-0001", "ios", "apns", "feed01").await;
    registered(&zhao, "zhao-xiaomi-001", "android", "getui", "cid-nowhere").await;

    let notice = post(&lead, "只有苹果", false).await;
    let report = settled(&lead, &notice).await;
    once(&fakes.apns, "feed01", &notice, &li.user_id());
    let r = recipient(&report, &zhao.user_id());
    assert_eq!(r["reach"], "not_delivered");
    assert_eq!(r["pushes"][0]["state"], "skipped");
    assert_eq!(r["pushes"][0]["reason"], "provider_not_configured");
    assert!(fakes.getui.requests_for("cid-nowhere").is_empty());
    no_rejections(&fakes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_are_checked_field_by_field_and_pushes_shown_only_to_the_author() {
    let server = server_with(&[]);
    let base = server.url();
    let li = Api::login(&base, PARENT_ONE_CHILD).await;
    let cases = [
        ("short", "ios", "apns", "abc", "device_id"),
        ("bad:colon-0001", "ios", "apns", "abc", "device_id"),
        ("li-iphone-0001", "ios", "apns", "", "token"),
        ("li-iphone-0001", "ios", "apns", "with space", "token"),
        ("li-android-001", "android", "apns", "abc", "provider"),
    ];
    for (device, platform, provider, token, field) in cases {
        let r = register(&li, device, platform, provider, token).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{device}: {:?}",
            r.body
        );
        assert_eq!(r.body["field"], field, "{:?}", r.body);
        let text = r.body.to_string();
        assert!(
            token.len() < 3 || !text.contains(token),
            "the token is not echoed"
        );
    }
    let r = li
        .call(
            Method::PUT,
            "/v1/devices/li-iphone-0001",
            Some(
                json!({"platform": "ios", "provider": "apns", "token": "abc",
                        "app_version": "1.0", "locale": "zh CN"}),
            ),
            None,
        )
        .await;
    assert_eq!(r.body["field"], "locale");
    let r = li
        .call(
            Method::PUT,
            "/v1/devices/li-iphone-0001",
            Some(
                json!({"platform": "ios", "provider": "pigeon", "token": "abc",
                        "app_version": "1.0", "locale": "zh-CN"}),
            ),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body["message"].as_str().unwrap().contains("provider"),
        "{:?}",
        r.body
    );
    // Without signing in: nothing.
    let r = lianxiao_tests::api::send(
        &base,
        Method::PUT,
        "/v1/devices/li-iphone-0001",
        Some(json!({"platform": "ios", "provider": "log", "token": "abc",
                    "app_version": "1.0", "locale": "zh-CN"})),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // Only the author sees a notice's pushes.
    let lead = Api::login(&base, LEAD_TEACHER).await;
    registered(&li, "li-devphone-01", "android", "log", "log-token").await;
    let notice = post(&lead, "日志", false).await;
    let report = settled(&lead, &notice).await;
    assert_eq!(recipient(&report, &li.user_id())["reach"], "delivered");
    let r = li.get(&format!("/v1/notices/{notice}/pushes")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // The log sink logs ids, never the token.
    let log = server.log_tail(200);
    assert!(log.contains("push (log sink)"), "{log}");
    assert!(!log.contains("log-token"));
}
