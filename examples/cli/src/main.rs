//! `lianxiao`: the terminal client of Lianxiao (联校) on the client core. Each invocation opens
//! the device's accounts in the data directory, sends what earlier invocations left queued,
//! runs one command, and exits with a documented code (see `cli::EXIT_CODES_HELP`).

mod cli;
mod commands;
mod context;
mod exit;
mod output;

use std::process::ExitCode;

use clap::Parser;

use crate::{
    cli::{Cli, Command, NoticesCommand},
    context::Context,
    exit::{CliResult, Exit},
    output::Out,
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .try_init();
    }
    let out = Out::detect(wants_json(&cli.command));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(_) => {
            out.note("lianxiao: cannot start the async runtime", "31");
            return Exit::Other.into();
        }
    };
    let result = runtime.block_on(run(cli, out));
    // Background work (a half-sent request) must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    match result {
        Ok(()) => Exit::Ok.into(),
        Err(failure) => {
            out.note(&format!("lianxiao: {}", failure.message), "31");
            failure.exit.into()
        }
    }
}

fn wants_json(command: &Command) -> bool {
    match command {
        Command::Accounts(j) | Command::Sync(j) => j.json,
        Command::Notices(n) => match n {
            NoticesCommand::List { json, .. }
            | NoticesCommand::Show { json, .. }
            | NoticesCommand::Receipts { json, .. } => json.json,
            NoticesCommand::Post(p) => p.json,
            NoticesCommand::Read { .. }
            | NoticesCommand::Ack { .. }
            | NoticesCommand::Remind { .. } => false,
        },
        Command::Homework(h) => h.json(),
        Command::Lessons(l) => l.json(),
        Command::Replays(r) => r.json(),
        Command::Live(l) => l.json(),
        Command::Devices(d) => d.json(),
        Command::Settings(s) => s.json(),
        Command::Unreachable(u) => u.json.json,
        Command::Login { .. } | Command::Switch { .. } | Command::Logout { .. } => false,
    }
}

async fn run(cli: Cli, out: Out) -> CliResult {
    let ctx = Context::open(&cli.global, out)?;
    match cli.command {
        Command::Login { login, password } => {
            commands::accounts::login(&ctx, &cli.global, login, password).await
        }
        Command::Accounts(j) => commands::accounts::list(&ctx, j.json).await,
        Command::Switch { login } => commands::accounts::switch(&ctx, login).await,
        Command::Logout { force } => commands::accounts::logout(&ctx, force).await,
        Command::Sync(j) => commands::sync::run(&ctx, j.json).await,
        Command::Notices(n) => commands::notices::run(&ctx, n).await,
        Command::Homework(h) => commands::homework::run(&ctx, h).await,
        Command::Lessons(l) => commands::lessons::run(&ctx, l).await,
        Command::Replays(r) => commands::replays::run(&ctx, r).await,
        Command::Live(l) => commands::live::run(&ctx, l).await,
        Command::Devices(d) => commands::devices::run(&ctx, d).await,
        Command::Settings(s) => commands::settings::run(&ctx, s).await,
        Command::Unreachable(u) => commands::settings::unreachable(&ctx, u).await,
    }
}
