//! A tus client that is not ours (tuspy, from PyPI; `scripts/test.sh` installs it in
//! `.tools/venv`) uploads to the endpoint, stops halfway as a dropped connection would, and
//! resumes from the server's offset in a second run.

use std::process::Command;

use lianxiao_tests::{Backend, TestServer, api::Api, logins::*};
use sha2::Digest;

fn python() -> Option<String> {
    let candidates = [
        std::env::var("LIANXIAO_TEST_PYTHON").ok(),
        Some(concat!(env!("CARGO_MANIFEST_DIR"), "/../.tools/venv/bin/python").to_owned()),
    ];
    candidates.into_iter().flatten().find(|p| {
        Command::new(p)
            .args(["-c", "import tusclient"])
            .status()
            .is_ok_and(|s| s.success())
    })
}

fn run(python: &str, args: &[&str]) -> serde_json::Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/tus_client.py");
    let out = Command::new(python)
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tuspy failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tuspy_uploads_and_resumes_after_a_break() {
    let Some(python) = python() else {
        assert!(
            std::env::var_os("LIANXIAO_REQUIRE_TUSPY").is_none(),
            "tuspy is required (scripts/test.sh installs it in .tools/venv)"
        );
        eprintln!("skipped: no python with tuspy; run scripts/test.sh to install it");
        return;
    };
    let server = TestServer::start(&Backend::from_env());
    server.import_demo_roster();
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("worksheet.pdf");
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i * 31 % 255) as u8).collect();
    std::fs::write(&file, &data).unwrap();
    let file = file.to_string_lossy().into_owned();

    let first = run(
        &python,
        &[&base, &lead.access, &file, "--stop-at", "300000"],
    );
    let url = first["url"].as_str().unwrap().to_owned();
    let id = url.rsplit('/').next().unwrap().to_owned();
    let info = lead.get(&format!("/v1/uploads/{id}")).await;
    let offset = info.body["offset"].as_u64().unwrap();
    assert!(
        (300_000..1_000_000).contains(&offset),
        "stopped part-way: {offset}"
    );
    assert_eq!(info.body["complete"], false);

    let second = run(&python, &[&base, &lead.access, &file, "--url", &url]);
    assert_eq!(second["offset"], 1_000_000);
    let info = lead.get(&format!("/v1/uploads/{id}")).await;
    assert_eq!(info.body["complete"], true);
    assert_eq!(
        info.body["sha256"],
        hex::encode(sha2::Sha256::digest(&data))
    );
}
