//! A tus client that is not ours (tuspy, from PyPI; `scripts/test.sh` installs it in
//! `.tools/venv`) uploads to the endpoint, stops after a few chunks as a dropped connection
//! would, and resumes from the server's offset in later runs: once from the upload URL, once
//! from tuspy's own URL store.

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

    let store = dir.path().join("tus-urls.json");
    let store = store.to_string_lossy().into_owned();
    let chunk = "65536";

    // Four chunks, then the "connection" is gone.
    let first = run(
        &python,
        &[
            &base,
            &lead.access,
            &file,
            "--chunk",
            chunk,
            "--chunks",
            "4",
            "--store",
            &store,
        ],
    );
    assert_eq!(
        first["resumed_from"],
        serde_json::Value::Null,
        "a new upload"
    );
    assert_eq!(first["offset"], 4 * 65536);
    let url = first["url"].as_str().unwrap().to_owned();
    let id = url.rsplit('/').next().unwrap().to_owned();
    let info = lead.get(&format!("/v1/uploads/{id}")).await;
    assert_eq!(info.body["offset"], 4 * 65536);
    assert_eq!(info.body["complete"], false);

    // Resumed from the upload URL: tuspy asks the server for the offset and goes on.
    let second = run(
        &python,
        &[
            &base,
            &lead.access,
            &file,
            "--chunk",
            chunk,
            "--chunks",
            "3",
            "--url",
            &url,
        ],
    );
    assert_eq!(second["resumed_from"], 4 * 65536);
    assert_eq!(second["offset"], 7 * 65536);

    // Resumed by tuspy's own URL store (by file fingerprint), to the end.
    let third = run(
        &python,
        &[
            &base,
            &lead.access,
            &file,
            "--chunk",
            chunk,
            "--store",
            &store,
        ],
    );
    assert_eq!(third["url"], url.as_str(), "the same upload, not a new one");
    assert_eq!(third["resumed_from"], 7 * 65536);
    assert_eq!(third["offset"], 1_000_000);
    let info = lead.get(&format!("/v1/uploads/{id}")).await;
    assert_eq!(info.body["offset"], 1_000_000);
    assert_eq!(info.body["complete"], true);
    assert_eq!(
        info.body["sha256"],
        hex::encode(sha2::Sha256::digest(&data))
    );
}
