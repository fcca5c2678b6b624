//! Accounts on a phone through the real core: a shared family phone, token refresh under
//! concurrency, and a session ended elsewhere that loses no work.

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use lianxiao_core::{
    Accounts, ClientState, DeliveryState, FileSecureStorage, NoticeFilter, SecureStorage,
};
use lianxiao_tests::{
    Backend, DEMO_PASSWORD, TestServer,
    api::{Api, send},
    logins::*,
    phone::{PATIENCE, Phone, PhoneProcess, config, find},
};
use reqwest::Method;

fn server_with(env: &[(&str, &str)]) -> TestServer {
    let server = TestServer::start_with_env(&Backend::from_env(), env);
    server.import_demo_roster();
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_family_phone_keeps_each_account_apart_and_signing_out_wipes_only_one() {
    let server = server_with(&[]);
    let url = server.url();
    let lead = Api::login(&url, LEAD_TEACHER).await;
    let parents_only = lead
        .post_notice(&lead.taught_classes(), "家长会", true, false)
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let everyone = lead
        .post_notice(&lead.taught_classes(), "运动会", false, true)
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let dir = tempfile::tempdir().unwrap();
    let accounts = Accounts::open(config(&url, dir.path())).unwrap();
    let mother = accounts
        .sign_in(PARENT_TWO_CHILDREN.into(), DEMO_PASSWORD.into())
        .await
        .unwrap();
    let child = accounts
        .sign_in(STUDENT_MAIN_1B.into(), DEMO_PASSWORD.into())
        .await
        .unwrap();
    mother.sync_now().await.unwrap();
    child.sync_now().await.unwrap();

    let list = accounts.list().await.unwrap();
    assert_eq!(list.len(), 2);
    let active: Vec<_> = list
        .iter()
        .filter(|a| a.active)
        .map(|a| a.login.clone())
        .collect();
    assert_eq!(
        active,
        vec![STUDENT_MAIN_1B.to_owned()],
        "the last sign-in is active"
    );

    let ids = |views: Vec<lianxiao_core::NoticeView>| {
        views
            .into_iter()
            .map(|v| v.notice.id)
            .collect::<BTreeSet<_>>()
    };
    let mother_sees = ids(mother
        .notices()
        .list(NoticeFilter::default())
        .await
        .unwrap());
    let child_sees = ids(child.notices().list(NoticeFilter::default()).await.unwrap());
    assert_eq!(
        mother_sees,
        BTreeSet::from([parents_only.clone(), everyone.clone()])
    );
    assert_eq!(
        child_sees,
        BTreeSet::from([everyone.clone()]),
        "the child's store has no parents-only notice"
    );
    assert_eq!(mother.children().await.unwrap().len(), 2);

    let switched = accounts.switch_to(mother.user_id()).await.unwrap();
    assert_eq!(switched.user_id(), mother.user_id());
    assert_eq!(
        accounts.active().await.unwrap().unwrap().user_id(),
        mother.user_id()
    );

    // Restored from secure storage without the network.
    let child_dir = child.data_dir();
    let child_id = child.user_id();
    drop(child);
    drop(mother);
    drop(switched);
    drop(accounts);
    let accounts = Accounts::open(config(&url, dir.path())).unwrap();
    let child = accounts.client(child_id.clone()).await.unwrap();
    assert_eq!(
        ids(child.notices().list(NoticeFilter::default()).await.unwrap()),
        BTreeSet::from([everyone])
    );
    drop(child);

    accounts.sign_out(child_id.clone()).await.unwrap();
    assert!(!child_dir.exists(), "the child's local data is wiped");
    let storage = FileSecureStorage::new(dir.path().join("secure-storage.json"));
    assert!(
        storage
            .get(format!("lianxiao.tokens.{child_id}"))
            .unwrap()
            .is_none()
    );
    let list = accounts.list().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].login, PARENT_TWO_CHILDREN);
    let mother = accounts.client(list[0].user_id.clone()).await.unwrap();
    assert_eq!(
        mother
            .notices()
            .list(NoticeFilter::default())
            .await
            .unwrap()
            .len(),
        2,
        "the mother's data is untouched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_requests_hitting_an_expired_token_refresh_it_once() {
    let server = server_with(&[("LIANXIAO_ACCESS_TTL_SECS", "1")]);
    let url = server.url();
    let lead = Phone::sign_in(&url, LEAD_TEACHER).await;
    lead.client.sync_now().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let client = lead.client.clone();
            tokio::spawn(async move { client.sync_now().await })
        })
        .collect();
    for c in calls {
        c.await
            .unwrap()
            .expect("every request succeeds after one refresh");
    }
    // Had two refreshes raced, the server would have revoked the session as stolen.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    lead.client
        .sync_now()
        .await
        .expect("the session is still alive");
    assert_ne!(lead.client.state(), ClientState::AuthExpired);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ended_elsewhere_keeps_unsent_work_until_the_parent_signs_in_again() {
    let server = server_with(&[("LIANXIAO_ACCESS_TTL_SECS", "1")]);
    let url = server.url();
    let lead = Api::login(&url, LEAD_TEACHER).await;
    let id = lead
        .post_notice(&lead.taught_classes(), "回执", true, false)
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let li = Phone::sign_in(&url, PARENT_ONE_CHILD).await;
    li.wait_notices(|l| find(l, &id).is_some()).await;

    // The session is ended from another place (say, an admin reset): its refresh token dies.
    let storage: Arc<dyn SecureStorage> =
        Arc::new(FileSecureStorage::new(li.dir.join("secure-storage.json")));
    let tokens: serde_json::Value = serde_json::from_str(
        &storage
            .get(format!("lianxiao.tokens.{}", li.client.user_id()))
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    let out = send(
        &url,
        Method::POST,
        "/v1/auth/logout",
        Some(serde_json::json!({"refresh_token": tokens["refresh_token"]})),
        &[],
    )
    .await;
    assert_eq!(out.status, 204);
    tokio::time::sleep(Duration::from_millis(1200)).await;

    li.client.notices().acknowledge(id.clone()).await.unwrap();
    let waited = tokio::time::timeout(PATIENCE, async {
        while li.client.state() != ClientState::AuthExpired {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "the phone learns it must sign in again");
    assert_eq!(
        li.client.outbox_pending().await.unwrap(),
        1,
        "the acknowledgment is kept"
    );
    assert!(
        li.client.outbox_failures().await.unwrap().is_empty(),
        "and not thrown away as failed"
    );

    let again = li
        .accounts
        .sign_in(PARENT_ONE_CHILD.into(), DEMO_PASSWORD.into())
        .await
        .unwrap();
    again.start();
    tokio::time::timeout(PATIENCE, again.wait_outbox_empty())
        .await
        .unwrap()
        .unwrap();
    let view = again.notices().get(id.clone()).await.unwrap();
    assert_eq!(view.acknowledged, DeliveryState::Delivered);
    let lead = Api::login(&url, LEAD_TEACHER).await;
    let report = lead.get(&format!("/v1/notices/{id}/receipts")).await;
    assert_eq!(report.status, 200, "{:?}", report.body);
    assert_eq!(report.body["summary"]["acknowledged"], 1);
}

/// The phone process the tests below start (ignored in normal runs; see `PhoneProcess`).
#[test]
#[ignore = "a phone process the other tests start themselves"]
fn phone_process() {
    lianxiao_tests::phone::run_phone_process();
}

/// Two processes on one data directory (an app and its push service, the terminal client run
/// twice) refresh the same account's token at the same moment. Rotating refresh tokens make a
/// second refresh with the old token look like theft, and the server ends the session: each
/// must take the lock and the tokens the other stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_phone_refresh_at_once_and_both_stay_signed_in() {
    const TTL_MS: u64 = 2_000;
    let server = server_with(&[("LIANXIAO_ACCESS_TTL_SECS", "2")]);
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let open = format!("open {url} {}", dir.path().display());
    let mut app = PhoneProcess::spawn("phone_process", &[]);
    app.ok(&open).await;
    let user = app.ok(&format!("sign_in {PARENT_ONE_CHILD}")).await;
    app.ok("sync").await;
    let mut other = PhoneProcess::spawn("phone_process", &[]);
    other.ok(&open).await;
    assert_eq!(other.ok("active").await, user, "the same account");
    other.ok("sync").await;

    for round in 0..3 {
        // Both hold a token past its refresh time (a wait for the token's life to pass, not
        // a measurement): both refresh now, at once.
        tokio::time::sleep(Duration::from_millis(TTL_MS + 100)).await;
        app.send("sync");
        other.send("sync");
        let (a, b) = (app.answer("sync").await, other.answer("sync").await);
        assert_eq!(
            (a.as_str(), b.as_str()),
            ("ok sync ", "ok sync "),
            "round {round}"
        );
    }
    assert_eq!(app.ok("state").await, "Offline", "not AuthExpired");
    assert_eq!(other.ok("state").await, "Offline", "not AuthExpired");
    app.quit().await;
    other.quit().await;

    // And the session is still the server's: this directory's tokens work.
    let accounts = Accounts::open(config(&url, dir.path())).unwrap();
    let client = accounts.active().await.unwrap().unwrap();
    client.sync_now().await.expect("still signed in");
}

/// A token near its expiry is refreshed before the request that would get a 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_near_its_expiry_is_refreshed_before_it_is_refused() {
    let server = server_with(&[("LIANXIAO_ACCESS_TTL_SECS", "2")]);
    let url = server.url();
    let phone = Phone::sign_in(&url, PARENT_ONE_CHILD).await;
    let before = phone.client.token_refreshes();
    // Past half its life (the refresh point for a 2 s token), and past its end: without the
    // refresh ahead this request would be refused first.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    phone.client.sync_now().await.unwrap();
    let after = phone.client.token_refreshes();
    assert_eq!(
        after.ahead,
        before.ahead + 1,
        "refreshed ahead: {before:?} → {after:?}"
    );
    assert_eq!(
        after.after_refusal, before.after_refusal,
        "no 401 first: {before:?} → {after:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_the_active_account_makes_the_other_one_active() {
    let server = server_with(&[]);
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let accounts = Accounts::open(config(&url, dir.path())).unwrap();
    let mother = accounts
        .sign_in(PARENT_TWO_CHILDREN.into(), DEMO_PASSWORD.into())
        .await
        .unwrap();
    let child = accounts
        .sign_in(STUDENT_MAIN_1B.into(), DEMO_PASSWORD.into())
        .await
        .unwrap();
    assert_eq!(
        accounts.active().await.unwrap().unwrap().user_id(),
        child.user_id()
    );
    accounts.sign_out(child.user_id()).await.unwrap();
    let active = accounts
        .active()
        .await
        .unwrap()
        .expect("the mother is active");
    assert_eq!(active.user_id(), mother.user_id());
    active.sync_now().await.expect("and still signed in");
}

/// A parent signs in on a new phone and, before its first sync, turns one child's notices
/// off and sets quiet hours. The change is kept (not refused for a child the phone does not
/// know yet), shown at once, and laid over what the server has when it goes: the other child's
/// setting, made on another phone, stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_changed_before_the_first_sync_are_kept_and_merged_with_the_servers() {
    use lianxiao_core::protocol::{NotificationKinds, NotificationSettings, QuietHours};
    let server = server_with(&[]);
    let url = server.url();
    let kinds = |notices: bool, graded: bool| NotificationKinds {
        notices,
        homework_graded: graded,
        ..Default::default()
    };

    // On the first phone: the second child's graded-homework pushes off.
    let first = Phone::sign_in(&url, PARENT_TWO_CHILDREN).await;
    first.client.sync_now().await.unwrap();
    let settings = first.client.notification_settings();
    let children: Vec<String> = settings
        .get()
        .await
        .unwrap()
        .settings
        .children
        .iter()
        .map(|c| c.child_id.clone())
        .collect();
    assert_eq!(children.len(), 2);
    settings
        .set_kinds(&children[1], kinds(true, false))
        .await
        .unwrap();
    first.outbox_drained().await;

    // A new phone, signed in, not synced yet.
    let dir = tempfile::tempdir().unwrap();
    let accounts = Accounts::open(config(&url, dir.path())).unwrap();
    let phone = accounts
        .sign_in(PARENT_TWO_CHILDREN.into(), DEMO_PASSWORD.into())
        .await
        .unwrap();
    let settings = phone.notification_settings();
    let view = settings
        .set_kinds(&children[0], kinds(false, true))
        .await
        .expect("kept, not refused before the first sync");
    assert!(view.pending);
    let night = QuietHours {
        start_minute: 21 * 60,
        end_minute: 6 * 60,
    };
    let view = settings.set_quiet_hours(Some(night)).await.unwrap();
    assert!(view.pending);
    assert_eq!(view.settings.quiet_hours, Some(night));
    let first_child = |s: &NotificationSettings| {
        s.children
            .iter()
            .find(|c| c.child_id == children[0])
            .map(|c| c.kinds)
    };
    assert_eq!(
        first_child(&view.settings),
        Some(kinds(false, true)),
        "both changes show"
    );

    phone.start();
    tokio::time::timeout(PATIENCE, phone.wait_outbox_empty())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(phone.outbox_failures().await.unwrap(), vec![]);
    let parent = Api::login(&url, PARENT_TWO_CHILDREN).await;
    let on_server: NotificationSettings =
        serde_json::from_value(parent.get("/v1/notification-settings").await.body).unwrap();
    assert_eq!(on_server.quiet_hours, Some(night));
    assert_eq!(first_child(&on_server), Some(kinds(false, true)));
    assert_eq!(
        on_server
            .children
            .iter()
            .find(|c| c.child_id == children[1])
            .map(|c| c.kinds),
        Some(kinds(true, false)),
        "the other phone's setting is kept"
    );
    phone.sync_now().await.unwrap();
    let view = settings.get().await.unwrap();
    assert!(!view.pending);
    assert_eq!(view.settings.quiet_hours, on_server.quiet_hours);
    assert_eq!(view.settings.children, on_server.children);
}
