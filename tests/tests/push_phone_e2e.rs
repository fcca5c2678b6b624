//! Push notifications on the phone, end to end: the real core on a simulated family phone
//! (two parents signed in) registers its install with the real server, a teacher posts, the
//! server's gateway hands the pushes to the local Getui fake, and the phone reports them
//! received and opened; the teacher's receipt view tells "on the phone, not read" from "no
//! device". Offline registrations and offline sign-outs go out later, once. On SQLite, or
//! PostgreSQL with `LIANXIAO_TEST_BACKEND=postgres`.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use lianxiao_core::{
    Accounts, ErrorCode, RegistrationState,
    protocol::{DevicePlatform, PushKind, PushProvider, PushReach, RegisterDevice},
};
use lianxiao_tests::{
    Backend, DEMO_PASSWORD, TestServer,
    api::Api,
    logins::*,
    phone::Phone,
    proxy::Proxy,
    push_fakes::{Delivered, Fakes},
};
use reqwest::StatusCode;
use serde_json::Value;

const PATIENCE: Duration = Duration::from_secs(60);

fn server_with(env: &[(String, String)]) -> TestServer {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = TestServer::start_with_env(&Backend::from_env(), &env);
    server.import_demo_roster();
    server
}

fn getui(token: &str) -> RegisterDevice {
    RegisterDevice {
        platform: DevicePlatform::Android,
        provider: PushProvider::Getui,
        token: token.to_owned(),
        app_version: "1.2.0".into(),
        locale: "zh-CN".into(),
    }
}

/// Waits until every signed-in account's registration is accepted by the server.
async fn all_registered(accounts: &Accounts, count: usize) {
    let start = Instant::now();
    loop {
        let regs = accounts.devices().registrations().await.unwrap();
        if regs.len() == count
            && regs
                .iter()
                .all(|r| r.state == RegistrationState::Registered)
        {
            return;
        }
        assert!(start.elapsed() < PATIENCE, "not registered: {regs:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Posts a notice to the lead's classes and waits until the gateway is done with it.
async fn post(server: &TestServer, lead: &Api, title: &str) -> (String, Value) {
    let r = lead
        .post_notice(&lead.taught_classes(), title, false, false)
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let report = settled(server, lead, &id, |_| true).await;
    (id, report)
}

/// The author's view of a notice's pushes once none is queued and `ready` holds.
async fn settled(
    server: &TestServer,
    lead: &Api,
    notice_id: &str,
    ready: impl Fn(&Value) -> bool,
) -> Value {
    let start = Instant::now();
    loop {
        let r = lead.get(&format!("/v1/notices/{notice_id}/pushes")).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let queued = r.body["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["pushes"].as_array().unwrap())
            .any(|p| p["state"] == "queued");
        if !queued && ready(&r.body) {
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

fn recipient<'a>(report: &'a Value, user_id: &str) -> &'a Value {
    report["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["user_id"] == user_id)
        .unwrap_or_else(|| panic!("{user_id} is no recipient: {report}"))
}

/// What the shell's notification handler hands the core: the push's data as strings.
fn data_of(d: &Delivered) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("kind".to_owned(), d.kind.clone()),
        ("id".to_owned(), d.id.clone()),
        ("account_id".to_owned(), d.account_id.clone()),
        ("badge".to_owned(), d.badge.to_string()),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_family_phone_gets_one_push_per_account_and_reports_it_received_and_opened() {
    let fakes = Fakes::start().await;
    let server = server_with(&fakes.env());
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let li_api = Api::login(&base, PARENT_ONE_CHILD).await;
    let zhao_api = Api::login(&base, PARENT_TWO_CHILDREN).await;
    let sun_api = Api::login(&base, PARENT_MAIN_2).await; // no phone registered

    // One phone, two parents signed in, one install id.
    let phone = Phone::sign_in(&base, PARENT_ONE_CHILD).await;
    let zhao = phone
        .accounts
        .sign_in(PARENT_TWO_CHILDREN.into(), DEMO_PASSWORD.into())
        .await
        .unwrap();
    let devices = phone.accounts.devices();
    let device_id = devices.device_id().await.unwrap();
    assert_eq!(devices.device_id().await.unwrap(), device_id);
    let regs = devices.registrations().await.unwrap();
    assert!(
        regs.iter()
            .all(|r| r.state == RegistrationState::WaitingForToken),
        "{regs:?}"
    );

    devices.set_push_token(getui("gt-first")).await.unwrap();
    all_registered(&phone.accounts, 2).await;

    // Exactly one push per account to this phone.
    let (first, _) = post(&server, &lead, "家长会").await;
    let got = fakes.getui.delivered_to("gt-first");
    assert_eq!(got.len(), 2, "{got:?}");
    let mut accounts: Vec<&str> = got.iter().map(|d| d.account_id.as_str()).collect();
    accounts.sort();
    let mut expected = vec![li_api.user_id(), zhao_api.user_id()];
    expected.sort();
    assert_eq!(accounts, expected);
    assert!(got.iter().all(|d| d.id == first && d.kind == "notice"));

    // A new token re-registers both accounts; the old token gets nothing more.
    devices.set_push_token(getui("gt-second")).await.unwrap();
    all_registered(&phone.accounts, 2).await;
    let (second, _) = post(&server, &lead, "运动会").await;
    assert_eq!(fakes.getui.delivered_to("gt-first").len(), 2);
    let got = fakes.getui.delivered_to("gt-second");
    assert_eq!(got.len(), 2, "{got:?}");

    // The badge the server pushed is the unread count the core shows once synced.
    let for_li = got
        .iter()
        .find(|d| d.account_id == li_api.user_id())
        .unwrap()
        .clone();
    let for_zhao = got
        .iter()
        .find(|d| d.account_id == zhao_api.user_id())
        .unwrap()
        .clone();
    let target = devices.push_received(data_of(&for_li)).await.unwrap();
    assert_eq!(
        (target.account_id.as_str(), target.kind, target.id.as_str()),
        (li_api.user_id().as_str(), PushKind::Notice, second.as_str())
    );
    assert!(target.in_store, "the push's sync brought the notice");
    assert_eq!(phone.client.notifications().badge().await.unwrap(), 2);
    assert_eq!(for_li.badge, 2);

    // Opening the other account's push syncs that account and leads to its notice.
    let opened = devices.push_opened(data_of(&for_zhao)).await.unwrap();
    assert_eq!(opened.account_id, zhao_api.user_id());
    assert_eq!(opened.id, second);
    assert!(opened.in_store);
    assert_eq!(zhao.notifications().badge().await.unwrap(), for_zhao.badge);

    // The author sees both on the phone; a parent with no phone is told apart.
    let report = settled(&server, &lead, &second, |r| {
        recipient(r, &li_api.user_id())["reach"] == "on_phone"
            && recipient(r, &zhao_api.user_id())["pushes"][0]["state"] == "opened"
    })
    .await;
    assert_eq!(
        recipient(&report, &li_api.user_id())["pushes"][0]["state"],
        "received"
    );
    assert_eq!(recipient(&report, &sun_api.user_id())["reach"], "no_device");
    // The same in the receipt report the core shows the author.
    let lead_phone = Phone::sign_in(&base, LEAD_TEACHER).await;
    let receipts = lead_phone
        .client
        .notices()
        .receipts(second.clone())
        .await
        .unwrap();
    let not_read: Vec<_> = receipts
        .classes
        .iter()
        .flat_map(|c| c.not_read.iter())
        .collect();
    let reach = |id: String| not_read.iter().find(|p| p.id == id).map(|p| p.push);
    assert_eq!(reach(li_api.user_id()), Some(PushReach::OnPhone));
    assert_eq!(reach(sun_api.user_id()), Some(PushReach::NoDevice));

    // Reading drops the badge, and the next push carries the same number.
    phone
        .client
        .notices()
        .mark_read(first.clone())
        .await
        .unwrap();
    phone.outbox_drained().await;
    assert_eq!(phone.client.notifications().badge().await.unwrap(), 1);
    let (third, _) = post(&server, &lead, "放假通知").await;
    let pushed = fakes
        .getui
        .delivered_to("gt-second")
        .into_iter()
        .find(|d| d.id == third && d.account_id == li_api.user_id())
        .unwrap();
    devices.push_received(data_of(&pushed)).await.unwrap();
    assert_eq!(
        phone.client.notifications().badge().await.unwrap(),
        pushed.badge
    );
    assert_eq!(pushed.badge, 2);

    // Reporting twice changes nothing; bad data and strangers' pushes are refused.
    devices.push_received(data_of(&pushed)).await.unwrap();
    let mut broken = data_of(&pushed);
    broken.remove("kind");
    let e = devices.push_received(broken).await.unwrap_err();
    assert!(matches!(e.code(), ErrorCode::Validation { .. }), "{e:?}");
    let mut stranger = data_of(&pushed);
    stranger.insert("account_id".into(), sun_api.user_id());
    let e = devices.push_opened(stranger).await.unwrap_err();
    assert!(matches!(e.code(), ErrorCode::Validation { .. }), "{e:?}");
    assert_eq!(devices.flush().await.unwrap(), 0);
    assert!(fakes.getui.rejections().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_registration_goes_out_later_once_and_offline_sign_out_still_unlinks() {
    let fakes = Fakes::start().await;
    let server = server_with(&fakes.env());
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let li_api = Api::login(&base, PARENT_ONE_CHILD).await;
    let zhao_api = Api::login(&base, PARENT_TWO_CHILDREN).await;
    let proxy = Proxy::to_url(&base).await;

    // Zhao's account is the one on screen; Li's is signed in beside it.
    let phone = Phone::sign_in(&proxy.url(), PARENT_TWO_CHILDREN).await;
    phone
        .accounts
        .sign_in(PARENT_ONE_CHILD.into(), DEMO_PASSWORD.into())
        .await
        .unwrap();

    // Offline: the token is kept and the registration waits, across a restart.
    proxy.set_refusing(true);
    proxy.drop_all();
    phone
        .accounts
        .devices()
        .set_push_token(getui("gt-offline"))
        .await
        .unwrap();
    assert_eq!(phone.accounts.devices().flush().await.unwrap(), 2);
    let regs = phone.accounts.devices().registrations().await.unwrap();
    assert!(regs.iter().all(|r| r.state == RegistrationState::Pending));
    let phone = phone.restart_app(&proxy.url()).await;
    let (nothing, _) = post(&server, &lead, "没有手机").await;
    assert!(
        fakes.getui.delivered_to("gt-offline").is_empty(),
        "{nothing}"
    );

    proxy.set_refusing(false);
    // The shell's reachability tells the client; the install's pending work follows.
    phone.client.network_changed(true);
    all_registered(&phone.accounts, 2).await;
    let (notice, _) = post(&server, &lead, "网络恢复").await;
    let got = fakes.getui.delivered_to("gt-offline");
    assert_eq!(got.len(), 2, "one push per account: {got:?}");

    // Sign-out while offline: the device is unlinked once the network is back, after a
    // restart too; the other account keeps its pushes.
    proxy.set_refusing(true);
    proxy.drop_all();
    phone.accounts.sign_out(li_api.user_id()).await.unwrap();
    let phone = phone.restart_app(&proxy.url()).await;
    assert_eq!(phone.accounts.devices().flush().await.unwrap(), 1);
    proxy.set_refusing(false);
    let start = Instant::now();
    while phone.accounts.devices().flush().await.unwrap() > 0 {
        assert!(start.elapsed() < PATIENCE, "the farewell never went");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (after, report) = post(&server, &lead, "退出之后").await;
    assert_eq!(recipient(&report, &li_api.user_id())["reach"], "no_device");
    assert_eq!(
        recipient(&report, &zhao_api.user_id())["reach"],
        "delivered"
    );
    let got: Vec<_> = fakes
        .getui
        .delivered_to("gt-offline")
        .into_iter()
        .filter(|d| d.id == after)
        .collect();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_ne!(notice, after);

    // Sign-out online unlinks at once: no push for the next notice.
    phone.accounts.sign_out(zhao_api.user_id()).await.unwrap();
    assert_eq!(phone.accounts.devices().flush().await.unwrap(), 0);
    let (last, report) = post(&server, &lead, "都退出了").await;
    assert_eq!(
        recipient(&report, &zhao_api.user_id())["reach"],
        "no_device"
    );
    assert!(
        fakes
            .getui
            .delivered_to("gt-offline")
            .iter()
            .all(|d| d.id != last)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_reports_only_its_own_pushes_and_repeats_change_nothing() {
    let server = server_with(&[]);
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let li = Api::login(&base, PARENT_ONE_CHILD).await;
    let sun = Api::login(&base, PARENT_MAIN_2).await;
    let r = li
        .call(
            reqwest::Method::PUT,
            "/v1/devices/li-phone-0001",
            Some(serde_json::json!({"platform": "android", "provider": "log",
                "token": "li-log-1", "app_version": "1.0.0", "locale": "zh-CN"})),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let (notice, report) = post(&server, &lead, "校车通知").await;
    assert_eq!(recipient(&report, &li.user_id())["reach"], "delivered");

    let received = |kind: &str, id: &str, opened: bool| serde_json::json!({"kind": kind, "id": id, "opened": opened});
    // Another parent cannot mark Li's push, nor with Li's device id; nothing changes.
    let path = "/v1/devices/li-phone-0001/received";
    let r = sun
        .call(
            reqwest::Method::POST,
            path,
            Some(received("notice", &notice, false)),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.body);
    // Malformed: an unknown kind.
    let r = li
        .call(
            reqwest::Method::POST,
            path,
            Some(received("grade", &notice, false)),
            None,
        )
        .await;
    assert!(r.status.is_client_error(), "{:?}", r.body);
    let r = li
        .call(
            reqwest::Method::POST,
            path,
            Some(received("notice", "nope", false)),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.body);
    let report = settled(&server, &lead, &notice, |_| true).await;
    assert_eq!(recipient(&report, &li.user_id())["reach"], "delivered");

    // Li's phone: received, twice; then opened.
    for _ in 0..2 {
        let r = li
            .call(
                reqwest::Method::POST,
                path,
                Some(received("notice", &notice, false)),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    }
    let report = settled(&server, &lead, &notice, |_| true).await;
    let me = recipient(&report, &li.user_id());
    assert_eq!(
        (me["reach"].as_str(), me["pushes"][0]["state"].as_str()),
        (Some("on_phone"), Some("received"))
    );
    let r = li
        .call(
            reqwest::Method::POST,
            path,
            Some(received("notice", &notice, true)),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let report = settled(&server, &lead, &notice, |_| true).await;
    assert_eq!(
        recipient(&report, &li.user_id())["pushes"][0]["state"],
        "opened"
    );
    // Only the author sees the pushes.
    let r = li.get(&format!("/v1/notices/{notice}/pushes")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
