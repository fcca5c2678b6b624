//! A server stopped inside its process (the demo, an embedding app) lets go of every device,
//! and the devices find the server again when it comes back on the same address.

use std::time::Duration;

use lianxiao_core::ClientState;
use lianxiao_server::ServerConfig;
use lianxiao_tests::{
    api::Api,
    demo_roster,
    logins::*,
    phone::{PATIENCE, Phone, find},
};

async fn wait_state(phone: &Phone, wanted: ClientState) {
    let waited = tokio::time::timeout(PATIENCE, async {
        while phone.client.state() != wanted {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        waited.is_ok(),
        "state {wanted:?} never reached, still {:?}",
        phone.client.state()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_reconnect_after_an_in_process_restart_on_the_same_address() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new(dir.path());
    config.listen = "127.0.0.1:0".parse().unwrap();
    let server = lianxiao_server::start(&config).await.unwrap();
    lianxiao_server::roster::import(&server.state, demo_roster().as_bytes())
        .await
        .unwrap();
    let url = server.url();
    let li = Phone::sign_in(&url, PARENT_ONE_CHILD).await;
    wait_state(&li, ClientState::Online).await;

    config.listen = server.addr;
    server.stop().await;
    wait_state(&li, ClientState::Offline).await;

    let server = lianxiao_server::start(&config).await.unwrap();
    li.client.network_changed(true);
    wait_state(&li, ClientState::Online).await;
    assert_eq!(
        server.state.hub().connected(),
        1,
        "the device is connected to the new server"
    );

    // And it hears about new notices in real time again.
    let lead = Api::login(&url, LEAD_TEACHER).await;
    let id = lead
        .post_notice(&lead.taught_classes(), "重启之后", false, false)
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    li.wait_notices(|l| find(l, &id).is_some()).await;
    server.stop().await;
}
