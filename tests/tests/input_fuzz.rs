//! The server answers as its OpenAPI document says. schemathesis (from PyPI; `scripts/test.sh`
//! installs it in `.tools/venv`) reads `/v1/openapi.json` and sends each operation requests
//! the schema allows and requests it forbids, signed in as a teacher, then checks every
//! answer: never a 5xx, only documented status codes with their content types and bodies,
//! forbidden input refused, and a 401 without the token where the document asks for one.
//!
//! Bounded: a fixed seed and a fixed number of examples per operation, so a run takes a few
//! minutes at most on a busy machine and repeats exactly. It is `#[ignore]`d in the ordinary
//! run; `tests/fuzz/run.sh` runs it on SQLite and on PostgreSQL.

use std::path::PathBuf;
use std::process::Command;

use lianxiao_tests::{Backend, TestServer, api::Api, logins::*};

/// The venv's `schemathesis` command: next to `LIANXIAO_TEST_PYTHON`, or in `.tools/venv`.
fn schemathesis() -> Option<PathBuf> {
    let pythons = [
        std::env::var("LIANXIAO_TEST_PYTHON")
            .ok()
            .map(PathBuf::from),
        Some(PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../.tools/venv/bin/python"
        ))),
    ];
    pythons
        .into_iter()
        .flatten()
        .filter_map(|python| Some(python.parent()?.join("schemathesis")))
        .find(|cli| cli.is_file())
}

/// Examples per operation and phase: `LIANXIAO_FUZZ_EXAMPLES`, default 25 (about two minutes
/// for both phases on a loaded 2-core machine; raise it for a deeper look).
fn examples() -> String {
    std::env::var("LIANXIAO_FUZZ_EXAMPLES").unwrap_or_else(|_| "25".to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "schema fuzzing takes minutes: tests/fuzz/run.sh runs it on both databases"]
async fn the_server_answers_as_its_openapi_document_says() {
    let cli = schemathesis().expect(
        "schemathesis is not installed in .tools/venv (scripts/test.sh installs it, or \
         .tools/venv/bin/pip install schemathesis)",
    );
    // A token that outlives the run; no test clock, so the route that sets it is not there.
    // LiveKit is configured (at an address where nothing listens) so its routes answer as in a
    // real deployment instead of 503 "not set up".
    let server = TestServer::start_with_env(
        &Backend::from_env(),
        &[
            ("LIANXIAO_ACCESS_TTL_SECS", "86400"),
            ("LIANXIAO_LIVEKIT_URL", "ws://127.0.0.1:9"),
            ("LIVEKIT_API_KEY", "APIlianxiaoFuzz"),
            (
                "LIVEKIT_API_SECRET",
                "a-fuzz-secret-that-is-long-enough-for-hs256",
            ),
        ],
    );
    server.import_demo_roster();
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    // Reports (`--report har` in LIANXIAO_FUZZ_ARGS) stay in LIANXIAO_FUZZ_REPORT_DIR if set.
    let scratch = tempfile::tempdir().unwrap();
    let report = std::env::var_os("LIANXIAO_FUZZ_REPORT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| scratch.path().to_owned());

    let fuzz_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz");
    let mut cmd = Command::new(&cli);
    cmd.args(["--config-file", &format!("{fuzz_dir}/schemathesis.toml")])
        .env("SCHEMATHESIS_HOOKS", "lianxiao_fuzz_hooks")
        .env("PYTHONPATH", fuzz_dir)
        .arg("run")
        .arg(format!("{base}/v1/openapi.json"))
        .args(["--url", &base])
        .args([
            "--header",
            &format!("Authorization: Bearer {}", lead.access),
        ])
        .args(["--checks", "all"])
        // Needs links between operations the document does not declare.
        .args([
            "--exclude-checks",
            "use_after_free,ensure_resource_availability,positive_data_acceptance",
        ])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", &examples()])
        .args(["--seed", "13"])
        .args(["--workers", "2"])
        .args(["--request-timeout", "60"])
        .args(["--generation-database", "none"])
        .args(["--suppress-health-check", "all"])
        // The realtime socket is a WebSocket upgrade, not a JSON route.
        .args(["--exclude-path", "/v1/events"])
        .args(["--report-dir", &report.to_string_lossy()])
        .arg("--no-color")
        // More, for a closer look: e.g. `--include-path /v1/sync --report har`.
        .args(
            std::env::var("LIANXIAO_FUZZ_ARGS")
                .unwrap_or_default()
                .split_whitespace(),
        );
    // Its own directory for anything schemathesis writes (.hypothesis, cassettes).
    cmd.current_dir(scratch.path());
    let out = cmd.output().expect("cannot run schemathesis");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "schemathesis found answers the document does not describe (see above); server log:\n{}",
        server.log_tail(30)
    );
}
