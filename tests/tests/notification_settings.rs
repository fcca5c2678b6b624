//! Notification settings and unreachable parents end to end, against the real server binary
//! on SQLite, or PostgreSQL with `LIANXIAO_TEST_BACKEND=postgres`: settings round trip with
//! refusals that change nothing, a parent who turned notices off for a child gets no push for
//! that class's notice while the other parent does, and the class's teachers see which parents
//! nothing reaches (the server's test clock moves time on; nothing sleeps).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use lianxiao_core::{
    NotificationSettingsListener, SettingsView,
    protocol::{NotificationKinds, QuietHours},
};
use lianxiao_tests::{
    Backend, DEMO_PASSWORD, TestServer,
    api::Api,
    logins::*,
    phone::{PATIENCE as PHONE_PATIENCE, Phone},
    places::{CLASS_1, CLASS_2, GRADE, LINK_GROUP, MAIN_SCHOOL},
    proxy::Proxy,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const PATIENCE: Duration = Duration::from_secs(60);

fn server(env: &[(&str, &str)]) -> TestServer {
    let server = TestServer::start_with_env(&Backend::from_env(), env);
    server.import_demo_roster();
    server
}

async fn put_settings(api: &Api, body: Value, key: Option<&str>) -> lianxiao_tests::api::Reply {
    api.call(Method::PUT, "/v1/notification-settings", Some(body), key)
        .await
}

async fn settings(api: &Api) -> Value {
    let r = api.get("/v1/notification-settings").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body
}

fn kinds(settings: &Value, child: &str) -> Value {
    settings["children"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["child_id"] == child)
        .unwrap_or_else(|| panic!("{child} not in {settings}"))["kinds"]
        .clone()
}

fn all_on() -> Value {
    json!({"notices": true, "homework_graded": true, "homework_missing": true, "lesson_starting": true})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_round_trip_reach_sync_and_refuse_what_is_not_yours() {
    let server = server(&[]);
    let base = server.url();
    let parent = Api::login(&base, PARENT_TWO_CHILDREN).await;
    let main_child = Api::login(&base, STUDENT_MAIN_1B).await.user_id();
    let shiqiao_child = Api::login(&base, STUDENT_SHIQIAO_A).await.user_id();
    let other_child = Api::login(&base, STUDENT_MAIN_1A).await.user_id();

    // Defaults: one entry per child, everything on, no quiet hours, never changed.
    let before = settings(&parent).await;
    assert_eq!(before["children"].as_array().unwrap().len(), 2, "{before}");
    assert_eq!(kinds(&before, &main_child), all_on());
    assert_eq!(kinds(&before, &shiqiao_child), all_on());
    assert!(before.get("quiet_hours").is_none(), "{before}");
    assert_eq!(before["updated_at"], 0);
    let (_, cursor) = parent.sync_all(None).await;

    let change = json!({
        "quiet_hours": {"start_minute": 22 * 60, "end_minute": 6 * 60 + 30},
        "children": [{"child_id": shiqiao_child, "kinds": {
            "notices": true, "homework_graded": false, "homework_missing": true, "lesson_starting": true}}],
    });
    let r = put_settings(&parent, change.clone(), Some("settings-1")).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(kinds(&r.body, &shiqiao_child)["homework_graded"], false);
    assert_eq!(kinds(&r.body, &main_child), all_on());
    assert_eq!(r.body["quiet_hours"]["start_minute"], 1320);
    assert!(r.body["updated_at"].as_i64().unwrap() > 0);
    assert_eq!(settings(&parent).await, r.body);

    // The same request again is answered as before; the key with another request is refused.
    let again = put_settings(&parent, change.clone(), Some("settings-1")).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body, r.body);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    let reused = put_settings(&parent, json!({"children": []}), Some("settings-1")).await;
    assert_eq!(reused.status, StatusCode::CONFLICT, "{:?}", reused.body);

    // Every phone of the account learns it through sync: one item, the account's own.
    let (items, _) = parent.sync_all(Some(&cursor)).await;
    let synced: Vec<&Value> = items
        .iter()
        .filter(|i| i["type"] == "notification_settings")
        .collect();
    assert_eq!(synced.len(), 1, "{items:?}");
    assert_eq!(synced[0]["settings"], r.body);

    // Refusals change nothing.
    let not_mine = put_settings(
        &parent,
        json!({"children": [{"child_id": other_child, "kinds": all_on()}]}),
        None,
    )
    .await;
    assert_eq!(not_mine.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(not_mine.body["field"], "children", "{:?}", not_mine.body);
    let twice = put_settings(
        &parent,
        json!({"children": [{"child_id": main_child, "kinds": all_on()}, {"child_id": main_child, "kinds": all_on()}]}),
        None,
    )
    .await;
    assert_eq!(twice.body["field"], "children", "{:?}", twice.body);
    let bad_quiet = put_settings(
        &parent,
        json!({"quiet_hours": {"start_minute": 1440, "end_minute": 60}, "children": []}),
        None,
    )
    .await;
    assert_eq!(bad_quiet.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        bad_quiet.body["field"], "quiet_hours",
        "{:?}",
        bad_quiet.body
    );
    assert_eq!(settings(&parent).await, r.body);

    // Another parent sees only their own child; students and teachers one entry, themselves.
    let other_parent = settings(&Api::login(&base, PARENT_ONE_CHILD).await).await;
    let ids: Vec<&Value> = other_parent["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["child_id"])
        .collect();
    assert_eq!(ids, vec![&json!(other_child)]);
    assert_eq!(kinds(&other_parent, &other_child), all_on());
    for login in [STUDENT_MAIN_1A, LEAD_TEACHER] {
        let api = Api::login(&base, login).await;
        let own = settings(&api).await;
        assert_eq!(own["children"].as_array().unwrap().len(), 1, "{own}");
        assert_eq!(own["children"][0]["child_id"], api.user_id());
    }
    let anonymous = reqwest::Client::new()
        .get(format!("{base}/v1/notification-settings"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    // The routes are in the OpenAPI document.
    let doc: Value = reqwest::get(format!("{base}/v1/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["paths"]["/v1/notification-settings"]["put"].is_object());
    assert!(doc["paths"]["/v1/classes/{id}/unreachable-parents"]["get"].is_object());
    assert!(doc["components"]["schemas"]["UpdateNotificationSettings"].is_object());
}

/// Registers a phone on the development log sink for the signed-in account.
async fn phone(api: &Api, device_id: &str) {
    let r = api
        .call(
            Method::PUT,
            &format!("/v1/devices/{device_id}"),
            Some(json!({"platform": "android", "provider": "log", "token": format!("tok-{device_id}"),
                "app_version": "1.0.0", "locale": "zh-CN"})),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

/// Posts a notice to classes; returns its id.
async fn notice(author: &Api, classes: &[String], title: &str) -> String {
    let r = author.post_notice(classes, title, false, false).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

/// A recipient's pushes for a notice once none is queued any more.
async fn pushes_of(author: &Api, notice_id: &str, user_id: &str) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let r = author.get(&format!("/v1/notices/{notice_id}/pushes")).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let all: Vec<Value> = r.body["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["pushes"].as_array().unwrap().clone())
            .collect();
        if all.iter().all(|p| p["state"] != "queued") {
            let me = r.body["recipients"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["user_id"] == user_id)
                .unwrap_or_else(|| panic!("{user_id} is no recipient: {}", r.body));
            return me["pushes"].as_array().unwrap().clone();
        }
        assert!(start.elapsed() < PATIENCE, "pushes stay queued: {}", r.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_who_turned_notices_off_for_a_child_gets_no_push_for_that_class() {
    let server = server(&[]);
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let branch = Api::login(&base, BRANCH_TEACHER).await;
    let zhao = Api::login(&base, PARENT_TWO_CHILDREN).await;
    let li = Api::login(&base, PARENT_ONE_CHILD).await;
    let main_child = Api::login(&base, STUDENT_MAIN_1B).await.user_id();
    phone(&zhao, "zhao-phone-1").await;
    phone(&li, "li-phone-1").await;

    // Notices off for the child in the main school only; the other child keeps them.
    let off = json!({"notices": false, "homework_graded": true, "homework_missing": true, "lesson_starting": true});
    let r = put_settings(
        &zhao,
        json!({"children": [{"child_id": main_child, "kinds": off}]}),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    let main_notice = notice(&lead, &lead.taught_classes(), "春游通知").await;
    let zhao_pushes = pushes_of(&lead, &main_notice, &zhao.user_id()).await;
    assert_eq!(zhao_pushes.len(), 1, "{zhao_pushes:?}");
    assert_eq!(zhao_pushes[0]["state"], "skipped");
    assert_eq!(zhao_pushes[0]["reason"], "turned_off");
    let li_pushes = pushes_of(&lead, &main_notice, &li.user_id()).await;
    assert_eq!(li_pushes.len(), 1, "{li_pushes:?}");
    assert_eq!(li_pushes[0]["state"], "sent");
    // The notice itself still reaches the parent through sync: only the push is held back.
    assert!(zhao.notice_ids().await.contains(&main_notice));

    // An urgent notice (a school admin's) breaks through the setting.
    let admin = Api::login(&base, SCHOOL_ADMIN).await;
    let school = admin.user["memberships"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "school_admin")
        .and_then(|m| m["school_id"].as_str())
        .unwrap()
        .to_owned();
    let r = admin
        .post(
            "/v1/notices",
            json!({"title": "明日停课", "body": "暴雨，明天停课。", "urgent": true,
                "audience": {"scope": "school", "school_id": school},
                "requires_ack": false, "include_students": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let urgent = r.body["id"].as_str().unwrap().to_owned();
    let zhao_pushes = pushes_of(&admin, &urgent, &zhao.user_id()).await;
    assert_eq!(zhao_pushes.len(), 1, "{zhao_pushes:?}");
    assert_eq!(zhao_pushes[0]["state"], "sent");

    // The other child's class still pushes to the same parent.
    let branch_notice = notice(&branch, &branch.taught_classes(), "数学测验").await;
    let zhao_pushes = pushes_of(&branch, &branch_notice, &zhao.user_id()).await;
    assert_eq!(zhao_pushes.len(), 1, "{zhao_pushes:?}");
    assert_eq!(zhao_pushes[0]["state"], "sent");
}

/// The class's unreachable parents' ids, as `viewer` asks.
async fn unreachable(viewer: &Api, class_id: &str) -> Vec<String> {
    let r = viewer
        .get(&format!("/v1/classes/{class_id}/unreachable-parents"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["parent"]["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Waits until the class's unreachable parents are `want` (contacts are recorded in the
/// background).
async fn unreachable_becomes(viewer: &Api, class_id: &str, mut want: Vec<String>) {
    want.sort();
    let start = Instant::now();
    loop {
        let mut got = unreachable(viewer, class_id).await;
        got.sort();
        if got == want {
            return;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "unreachable in {class_id}: {got:?}, expected {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teachers_see_the_parents_nothing_reaches() {
    let server = server(&[("LIANXIAO_TEST_CLOCK", "true")]);
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let (main_1, main_2) = {
        let s1 = Api::login(&base, STUDENT_MAIN_1A).await.student_class();
        let s2 = Api::login(&base, STUDENT_MAIN_2A).await.student_class();
        (s1, s2)
    };
    let li = Api::login(&base, PARENT_ONE_CHILD).await;
    let zhao = Api::login(&base, PARENT_TWO_CHILDREN).await;
    let sun = Api::login(&base, PARENT_MAIN_2).await;

    // The school's roster gives two parents' phone numbers (the optional last column). The
    // children's rows come along: the import looks a parent's child up in the file.
    let phones = format!(
        "{},phone\n\
         {MAIN_SCHOOL},main,{LINK_GROUP},{CLASS_1},{GRADE},student,{STUDENT_MAIN_1A},李明,{DEMO_PASSWORD},,,\n\
         {MAIN_SCHOOL},main,{LINK_GROUP},{CLASS_2},{GRADE},student,{STUDENT_MAIN_2A},孙悦,{DEMO_PASSWORD},,,\n\
         {MAIN_SCHOOL},,,{CLASS_1},,parent,{PARENT_ONE_CHILD},李建国,{DEMO_PASSWORD},,{STUDENT_MAIN_1A},138 0000 0001\n\
         {MAIN_SCHOOL},,,{CLASS_2},,parent,{PARENT_MAIN_2},孙卫东,{DEMO_PASSWORD},,{STUDENT_MAIN_2A},13800000002\n",
        lianxiao_protocol::ROSTER_HEADER.join(",")
    );
    server
        .import_roster(&phones)
        .expect("phone numbers imported");

    // Nobody has synced or been pushed to: every parent of the class is listed, with their
    // children in the class and the number to call.
    let r = lead
        .get(&format!("/v1/classes/{main_1}/unreachable-parents"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let listed = r.body.as_array().unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    let zhao_entry = listed
        .iter()
        .find(|p| p["parent"]["id"] == zhao.user_id())
        .unwrap();
    assert_eq!(zhao_entry["children"].as_array().unwrap().len(), 1);
    assert!(zhao_entry.get("last_seen_at").is_none());
    assert!(zhao_entry.get("phone").is_none(), "none on record");
    let li_entry = listed
        .iter()
        .find(|p| p["parent"]["id"] == li.user_id())
        .unwrap();
    assert_eq!(li_entry["phone"], "138 0000 0001");
    assert_eq!(li_entry["children"][0]["name"], "李明");

    // p_zhao syncs; p_li's phone accepts a push; p_sun does neither.
    zhao.sync_all(None).await;
    phone(&li, "li-phone-2").await;
    let n = notice(&lead, &lead.taught_classes(), "家长会").await;
    assert_eq!(
        pushes_of(&lead, &n, &li.user_id()).await[0]["state"],
        "sent"
    );
    unreachable_becomes(&lead, &main_1, vec![]).await;
    unreachable_becomes(&lead, &main_2, vec![sun.user_id()]).await;

    // Three days and an hour later, nothing has come through from anyone.
    let county = Api::login(&base, COUNTY_ADMIN).await;
    let later = lianxiao_tests::bench::now_ms() + 73 * 3600 * 1000;
    let moved = county
        .call(
            Method::PUT,
            "/v1/test/clock",
            Some(json!({"now": later})),
            None,
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{:?}", moved.body);
    unreachable_becomes(&lead, &main_1, vec![li.user_id(), zhao.user_id()]).await;
    // A sync brings p_zhao back.
    zhao.sync_all(None).await;
    unreachable_becomes(&lead, &main_1, vec![li.user_id()]).await;

    // The school's admin and the county admin may look; other teachers, assistants and parents
    // may not; an unknown class is not found.
    let admin = Api::login(&base, SCHOOL_ADMIN).await;
    assert_eq!(unreachable(&admin, &main_1).await, vec![li.user_id()]);
    assert_eq!(unreachable(&county, &main_1).await, vec![li.user_id()]);
    for login in [
        BRANCH_TEACHER,
        ASSISTANT_SHIQIAO,
        PARENT_ONE_CHILD,
        STUDENT_MAIN_1A,
    ] {
        let api = Api::login(&base, login).await;
        let r = api
            .get(&format!("/v1/classes/{main_1}/unreachable-parents"))
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{login}: {:?}", r.body);
    }
    let r = lead
        .get("/v1/classes/no-such-class/unreachable-parents")
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.body);
}

/// Every view a phone's settings listener was told, in order.
struct Screen(tokio::sync::watch::Sender<Vec<SettingsView>>);

impl NotificationSettingsListener for Screen {
    fn on_settings(&self, view: SettingsView) {
        self.0.send_modify(|seen| seen.push(view));
    }
}

async fn screen_shows(
    seen: &mut tokio::sync::watch::Receiver<Vec<SettingsView>>,
    what: &str,
    ready: impl Fn(&SettingsView) -> bool,
) -> Vec<SettingsView> {
    let waited = tokio::time::timeout(
        PHONE_PATIENCE,
        seen.wait_for(|views| views.last().is_some_and(&ready)),
    )
    .await
    .map(|r| r.expect("listener alive").clone());
    waited.unwrap_or_else(|_| panic!("the screen never showed {what}: {:?}", seen.borrow()))
}

fn child_kinds(view: &SettingsView, child: &str) -> NotificationKinds {
    view.settings
        .children
        .iter()
        .find(|c| c.child_id == child)
        .unwrap_or_else(|| panic!("{child} not in {view:?}"))
        .kinds
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_made_offline_is_sent_once_and_reaches_the_accounts_other_phone() {
    let server = server(&[]);
    let base = server.url();
    let proxy = Proxy::to_url(&base).await;
    let shiqiao_child = Api::login(&base, STUDENT_SHIQIAO_A).await.user_id();
    let first = Phone::sign_in(&proxy.url(), PARENT_TWO_CHILDREN).await;
    let second = Phone::sign_in(&base, PARENT_TWO_CHILDREN).await;
    first.client.sync_now().await.expect("sync");
    second.client.sync_now().await.expect("sync");

    // Before anything changed: every kind on for both children, from the store.
    let settings = first.client.notification_settings();
    let before = settings.get().await.expect("settings");
    assert_eq!(before.settings.children.len(), 2, "{before:?}");
    assert!(!before.pending);
    assert_eq!(
        child_kinds(&before, &shiqiao_child),
        NotificationKinds::default()
    );
    let (tx, mut seen) = tokio::sync::watch::channel(Vec::new());
    let _screen = second
        .client
        .notification_settings()
        .subscribe(Arc::new(Screen(tx)));
    screen_shows(&mut seen, "the defaults", |v| {
        v.settings.children.len() == 2
    })
    .await;

    // Offline: the change shows at once and waits; a child not this account's is refused.
    proxy.set_refusing(true);
    proxy.drop_all();
    first.client.network_changed(false);
    let off = NotificationKinds {
        homework_graded: false,
        ..NotificationKinds::default()
    };
    let shown = settings
        .set_kinds(&shiqiao_child, off)
        .await
        .expect("queued");
    assert!(shown.pending);
    assert!(!child_kinds(&shown, &shiqiao_child).homework_graded);
    let stranger = Api::login(&base, STUDENT_MAIN_1A).await.user_id();
    match settings.set_kinds(&stranger, off).await {
        Err(lianxiao_core::Error::Validation { field, .. }) => {
            assert_eq!(field.as_deref(), Some("children"))
        }
        other => panic!("{other:?}"),
    }
    let quiet = QuietHours {
        start_minute: 22 * 60,
        end_minute: 6 * 60 + 30,
    };
    settings.set_quiet_hours(Some(quiet)).await.expect("queued");

    // The app is killed while offline; after the restart the change is still shown.
    let first = first.restart_app(&proxy.url()).await;
    let settings = first.client.notification_settings();
    let shown = settings.get().await.expect("settings");
    assert!(shown.pending);
    assert_eq!(shown.settings.quiet_hours, Some(quiet));
    assert!(!child_kinds(&shown, &shiqiao_child).homework_graded);
    assert_eq!(
        first.client.outbox_pending().await.unwrap(),
        1,
        "one change to send"
    );

    // Online again: sent, settled by the server's answer, and on the other phone.
    proxy.set_refusing(false);
    first.client.network_changed(true);
    first.outbox_drained().await;
    let settled = settings.get().await.expect("settings");
    assert!(!settled.pending, "{settled:?}");
    assert!(settled.settings.updated_at > 0);
    assert_eq!(settled.settings.quiet_hours, Some(quiet));
    let views = screen_shows(&mut seen, "the change", |v| {
        v.settings.updated_at == settled.settings.updated_at
    })
    .await;
    assert!(!child_kinds(views.last().unwrap(), &shiqiao_child).homework_graded);

    // Once: the server keeps the time of the one change, and nothing is left to send.
    let parent = Api::login(&base, PARENT_TWO_CHILDREN).await;
    let on_server = settings_of(&parent).await;
    assert_eq!(on_server["updated_at"], settled.settings.updated_at);
    assert_eq!(first.client.flush_outbox().await.unwrap(), 0);
    second.client.sync_now().await.expect("sync");
    assert_eq!(
        settings_of(&parent).await["updated_at"],
        settled.settings.updated_at
    );
    assert_eq!(
        second
            .client
            .notification_settings()
            .get()
            .await
            .unwrap()
            .settings,
        settled.settings
    );
}

async fn settings_of(api: &Api) -> Value {
    settings(api).await
}
