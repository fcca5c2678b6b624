//! Benchmark: how close the test fault proxy's bandwidth limit comes to its setting.
//!
//! The proxy (`tests/src/proxy.rs`) plays a thin mobile link in the upload tests and the
//! `upload_goodput` bench. That it never sends faster than its limit is a test
//! (`tests/tests/proxy.rs`); how close to the limit it gets is this bench, because it depends on
//! how busy the machine is. For each limit, five fresh proxies to a sink each carry two
//! seconds' worth of bytes from a client sending as fast as it can
//! ([`proxy::measure_up`]); printed are the achieved rate as a share of the limit (median, min,
//! max) and the load meanwhile. No server is involved.
//!
//! `cargo bench -p lianxiao-tests --bench proxy_shaping`

use lianxiao_tests::{
    bench,
    proxy::{self, Proxy},
};

const LIMITS_MBIT: [u64; 3] = [2, 10, 50];
const RUNS: usize = 5;

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(run());
    Ok(())
}

async fn run() {
    println!("proxy shaping: {}", bench::machine());
    println!("| limit | achieved / limit: median (min–max) of {RUNS} | load |");
    println!("|---|---|---|");
    for mbit in LIMITS_MBIT {
        let limit = mbit * 1_000_000;
        let load = bench::LoadWatch::start();
        let mut shares = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            let proxy = Proxy::start(proxy::sink().await).await;
            proxy.set_rate_up(Some(limit));
            // Two seconds at the limit.
            let rate = proxy::measure_up(&proxy, limit / 8 * 2).await;
            shares.push(rate / limit as f64);
        }
        shares.sort_by(f64::total_cmp);
        println!(
            "| {mbit} Mbit/s | {:.3} ({:.3}–{:.3}) | {} |",
            shares[RUNS / 2],
            shares[0],
            shares[RUNS - 1],
            load.finish()
        );
    }
}
