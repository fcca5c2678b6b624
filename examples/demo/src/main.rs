//! `cargo run -p lianxiao-demo`: the whole story on an embedded server, no set-up.

use std::{process::ExitCode, time::Duration};

use lianxiao_demo::{Narrator, run_story};

/// The story takes a few seconds; anything near this is stuck.
const DEADLINE: Duration = Duration::from_secs(90);

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    // No tracing subscriber: the core and the server log nothing here.
    match tokio::time::timeout(DEADLINE, run_story(Narrator::stdout())).await {
        Ok(Ok(_)) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("\n演示失败 · demo failed: {e:#}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("\n演示超时 · demo did not finish within {DEADLINE:?}");
            ExitCode::FAILURE
        }
    }
}
