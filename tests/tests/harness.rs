//! The harness itself: a real server process starts, answers, survives a restart on the same
//! data, and takes the demo roster.

use lianxiao_tests::{Backend, TestServer, demo_roster};

#[tokio::test]
async fn a_server_starts_answers_and_restarts_on_the_same_data() {
    let backend = Backend::from_env();
    let mut server = TestServer::start(&backend);
    let health = reqwest::get(format!("{}/v1/health", server.url()))
        .await
        .expect("health request");
    assert!(health.status().is_success(), "{}", health.status());

    let report = server
        .import_roster(&demo_roster())
        .unwrap_or_else(|e| panic!("the demo roster did not import: {e}"));
    assert!(!report.is_empty());

    let port = server.port();
    server.stop();
    assert!(
        reqwest::get(format!("{}/v1/health", server.url()))
            .await
            .is_err()
    );
    server.restart();
    assert_eq!(server.port(), port, "a restart keeps the port");
    let health = reqwest::get(format!("{}/v1/health", server.url()))
        .await
        .expect("health request after restart");
    assert!(health.status().is_success());
}

#[tokio::test]
async fn two_instances_share_one_postgres_database() {
    let backend = Backend::from_env();
    if !backend.is_postgres() {
        // Several instances need a shared database: only meaningful on PostgreSQL.
        return;
    }
    let server = TestServer::start(&backend);
    let second = server.second_instance();
    assert_ne!(server.port(), second.port());
    assert_eq!(server.database_url(), second.database_url());
    for url in [server.url(), second.url()] {
        let health = reqwest::get(format!("{url}/v1/health")).await.unwrap();
        assert!(health.status().is_success());
    }
}
