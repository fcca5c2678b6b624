//! This data directory as a phone for push notifications, through the `lianxiao` binary
//! against the real server: its device id, p_li's registration waiting for a token, a token
//! for the server's `log` provider registered (a teacher's notice is then pushed to it), a
//! malformed token refused, and `devices unregister` stopping the pushes.

mod common;

use std::time::{Duration, Instant};

use common::{Device, as_str, login, user_id};
use lianxiao_tests::{
    Backend, TestServer,
    api::Api,
    logins::{LEAD_TEACHER, PARENT_ONE_CHILD},
};
use serde_json::Value;

/// The lead posts to their classes; returns p_li's push reach once the gateway is done.
async fn post_and_reach(base: &str, parent: &str) -> String {
    let lead = Api::login(base, LEAD_TEACHER).await;
    let r = lead
        .post_notice(&lead.taught_classes(), "家长会", false, false)
        .await;
    let id = r.body["id"].as_str().expect("a notice id").to_owned();
    let start = Instant::now();
    loop {
        let report = lead.get(&format!("/v1/notices/{id}/pushes")).await.body;
        let me = report["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["user_id"] == parent)
            .cloned()
            .unwrap_or_else(|| panic!("{parent} is no recipient: {report}"));
        if me["reach"] != "pending" {
            return as_str(&me["reach"]).to_owned();
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{report}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn registration(shown: &Value) -> &Value {
    let regs = shown["registrations"].as_array().expect("registrations");
    assert_eq!(regs.len(), 1, "{shown:#}");
    &regs[0]
}

#[test]
fn devices_register_and_unregister_through_the_terminal_client() {
    let server = TestServer::start(&Backend::from_env());
    server.import_demo_roster();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let device = Device {
        dir: dir.path(),
        server: server.url(),
    };
    login(&device, PARENT_ONE_CHILD);
    let parent = user_id(&device, PARENT_ONE_CHILD);

    let shown = device.ok(&["devices", "show", "--json"]).json();
    let device_id = as_str(&shown["device_id"]).to_owned();
    assert!(device_id.len() >= 8, "{shown:#}");
    assert_eq!(registration(&shown)["state"], "waiting_for_token");
    assert_eq!(registration(&shown)["account"], PARENT_ONE_CHILD);

    device.expect(
        7,
        &["devices", "register", "--provider", "log", "--token", "a b"],
    );
    let run = device.ok(&[
        "devices",
        "register",
        "--provider",
        "log",
        "--token",
        "cli-log-token-1",
    ]);
    assert!(run.stdout.contains(&device_id), "{}", run.stdout);
    let shown = device.ok(&["devices", "show", "--json"]).json();
    assert_eq!(shown["device_id"], device_id.as_str(), "one id per install");
    assert_eq!(registration(&shown)["state"], "registered", "{shown:#}");
    assert_eq!(registration(&shown)["provider"], "log");
    assert_eq!(shown["pending"], 0);
    assert_eq!(
        rt.block_on(post_and_reach(&server.url(), &parent)),
        "delivered"
    );

    device.ok(&["devices", "unregister"]);
    let shown = device.ok(&["devices", "show", "--json"]).json();
    assert_eq!(registration(&shown)["state"], "off", "{shown:#}");
    assert_eq!(
        rt.block_on(post_and_reach(&server.url(), &parent)),
        "no_device"
    );
}
