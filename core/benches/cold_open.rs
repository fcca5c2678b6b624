//! Benchmark: opening the app in airplane mode with 1,000 notices stored.
//!
//! A device syncs 1,000 notices from the reference server (in this process), everything is
//! dropped and the server stopped; then, ten times over, `Accounts::open` +
//! `accounts.client(user_id)` (restored from the device, background tasks not started) +
//! `client.notices().list(NoticeFilter::default())` returning all 1,000, dropping everything
//! after each. The process is warm (and so is the OS page cache): this is the core's own cost
//! of a cold start, not the phone's flash.
//!
//! `cargo bench -p lianxiao-core --bench cold_open`

mod common;

use std::time::Instant;

use common::{median, ms};
use lianxiao_core::{Accounts, ClientState, NoticeFilter};

const NOTICES: usize = 1_000;
const ROUNDS: usize = 10;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir()?;
    let server = common::start_server(&dir.path().join("server")).await?;
    let url = server.url();
    let org = common::org(server.state.db()).await?;
    common::notices_sql(server.state.db(), &org, NOTICES).await?;
    let device = dir.path().join("device");
    let user_id = {
        let (_accounts, client) = common::sign_in_parent(&device, &url).await?;
        client.sync_now().await?;
        let n = client.notices().list(NoticeFilter::default()).await?.len();
        anyhow::ensure!(n == NOTICES, "synced {n}, expected {NOTICES}");
        client.user_id()
    };
    // Airplane mode: nothing answers at the server's address any more.
    server.stop().await;

    let (mut open_ms, mut client_ms, mut list_ms, mut total_ms) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let t = Instant::now();
        let accounts = Accounts::open(common::device(&device, &url))?;
        let opened = t.elapsed();
        let client = accounts.client(user_id.clone()).await?;
        let restored = t.elapsed();
        let list = client.notices().list(NoticeFilter::default()).await?;
        let listed = t.elapsed();
        anyhow::ensure!(list.len() == NOTICES, "listed {}", list.len());
        anyhow::ensure!(!client.is_started() && client.state() == ClientState::Offline);
        drop((list, client, accounts));
        println!(
            "round {round}: Accounts::open {:>5.2} ms, client() {:>5.2} ms, list {:>5.2} ms, total {:>5.2} ms",
            ms(opened),
            ms(restored - opened),
            ms(listed - restored),
            ms(listed)
        );
        open_ms.push(ms(opened));
        client_ms.push(ms(restored - opened));
        list_ms.push(ms(listed - restored));
        total_ms.push(ms(listed));
    }
    let max = total_ms.iter().copied().fold(0.0, f64::max);
    println!(
        "median of {ROUNDS}: Accounts::open {:.2} ms, client() {:.2} ms, list of {NOTICES} {:.2} ms; \
         total median {:.2} ms, max {:.2} ms (target < 50)",
        median(&mut open_ms),
        median(&mut client_ms),
        median(&mut list_ms),
        median(&mut total_ms),
        max
    );
    Ok(())
}
