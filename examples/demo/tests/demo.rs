//! The demo's story end to end, in-process and as the binary the README promises.

use std::process::Command;

use lianxiao_demo::{Narrator, run_story};

const KEY_LINES: [&str; 11] = [
    "roster imported",
    "signed in, lead teacher",
    "switched back to the mother's account",
    "posted, pending",
    "acknowledged, waiting to send (pending)",
    "acknowledgment delivered once",
    "reminded 1 parent(s)",
    "a second reminder within the hour is refused",
    "ONE notice naming both children",
    "a double booking is refused",
    "told of the cancellation",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_story_runs_to_the_end_and_cleans_up() {
    let report = run_story(Narrator::quiet())
        .await
        .unwrap_or_else(|e| panic!("the story failed: {e:#}"));
    let text = report.lines.join("\n");
    for line in KEY_LINES {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    assert!(text.contains("总结 · Summary"), "{text}");
    assert!(
        !report.data_root.exists(),
        "{} was not removed",
        report.data_root.display()
    );
}

#[test]
fn the_binary_exits_0_and_tells_the_story() {
    let output = Command::new(env!("CARGO_BIN_EXE_lianxiao-demo"))
        .env_remove("RUST_LOG")
        .output()
        .expect("run lianxiao-demo");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    for line in KEY_LINES {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
    assert!(
        stderr.trim().is_empty(),
        "nothing on stderr, got:\n{stderr}"
    );
}
