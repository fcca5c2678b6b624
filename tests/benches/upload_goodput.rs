//! Benchmark: upload goodput on a thin, breaking link (issue 4).
//!
//! The reference server runs in this process (SQLite, release build); a phone signed in as a
//! teacher uploads through the fault proxy limited to 10 Mbit/s each way:
//!
//! 1. *steady*: no breaks — what the protocol itself costs (headers, one round trip per
//!    chunk);
//! 2. *breaking*: every connection cut every 5 s.
//!
//! goodput = file bytes / (elapsed × link capacity), elapsed from the moment the file is
//! queued until the server confirmed its last byte. Bytes re-sent per break = (bytes the
//! proxy forwarded − file − the steady run's overhead per byte) / breaks. The chunk sizes the
//! uploader chose are sampled as it goes.
//!
//! `cargo bench -p lianxiao-tests --bench upload_goodput`

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use lianxiao_core::{Accounts, Client, UploadRequest};
use lianxiao_protocol::{UploadPurpose, WorkKind};
use lianxiao_server::ServerConfig;
use lianxiao_tests::{DEMO_PASSWORD, demo_roster, logins::LEAD_TEACHER, phone, proxy::Proxy};

const LINK_BITS: u64 = 10_000_000;
const DROP_EVERY: Duration = Duration::from_secs(5);
const STEADY_BYTES: u64 = 20 * 1000 * 1000;
const BREAKING_BYTES: u64 = 40 * 1000 * 1000;

struct Run {
    len: u64,
    elapsed: f64,
    forwarded: u64,
    breaks: u64,
    chunks: Vec<u64>,
}

impl Run {
    fn goodput(&self) -> f64 {
        self.len as f64 * 8.0 / (self.elapsed * LINK_BITS as f64)
    }
}

fn main() -> anyhow::Result<()> {
    lianxiao_tests::install_crypto_provider();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(bench())
}

async fn bench() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut config = ServerConfig::new(dir.path().join("server"));
    config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let server = lianxiao_server::start(&config).await?;
    lianxiao_server::roster::import(&server.state, demo_roster().as_bytes())
        .await
        .map_err(|e| anyhow::anyhow!("roster import failed: {e:?}"))?;
    let proxy = Proxy::start(server.addr).await;
    proxy.set_rate(Some(LINK_BITS));

    let phone_dir = dir.path().join("phone");
    let accounts = Accounts::open(phone::config(&proxy.url(), &phone_dir))?;
    let client = accounts
        .sign_in(LEAD_TEACHER.into(), DEMO_PASSWORD.into())
        .await?;
    client.start();

    println!(
        "upload goodput: in-process server (SQLite), proxy at {} Mbit/s each way, {} cores",
        LINK_BITS / 1_000_000,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let steady = upload(&client, &proxy, &phone_dir, STEADY_BYTES, None).await?;
    report("steady", &steady, None);
    let overhead = (steady.forwarded - steady.len) as f64 / steady.len as f64;
    let breaking = upload(
        &client,
        &proxy,
        &phone_dir,
        BREAKING_BYTES,
        Some(DROP_EVERY),
    )
    .await?;
    report(
        &format!("cut every {} s", DROP_EVERY.as_secs()),
        &breaking,
        Some(overhead),
    );
    let link = client.uploads().link();
    println!(
        "link as learnt: {:.2} Mbit/s, {:.1} s between breaks",
        link.bytes_per_sec.unwrap_or(0) as f64 * 8.0 / 1e6,
        link.secs_between_drops.unwrap_or(f64::NAN)
    );

    client.stop();
    drop(client);
    drop(accounts);
    drop(proxy);
    server.stop().await;
    Ok(())
}

/// Queues a file of `len` bytes and waits for it, cutting connections every `drop_every`.
async fn upload(
    client: &Client,
    proxy: &Proxy,
    dir: &std::path::Path,
    len: u64,
    drop_every: Option<Duration>,
) -> anyhow::Result<Run> {
    let path = dir.join(format!("recording-{len}.mp4"));
    let mut data = vec![0u8; len as usize];
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    for b in data.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    std::fs::write(&path, &data)?;
    drop(data);

    let uploads = client.uploads();
    proxy.reset_counters();
    let cuts = proxy.cuts();
    proxy.set_drop_every(drop_every);
    let started = Instant::now();
    let id = uploads
        .enqueue(UploadRequest {
            path,
            purpose: UploadPurpose::Instructions,
            homework_id: None,
            kind: WorkKind::Video,
            file_name: "recording.mp4".into(),
            content_type: "video/mp4".into(),
            batch: None,
        })
        .await?;
    let mut chunks = Vec::new();
    let wait = uploads.wait(id);
    tokio::pin!(wait);
    let deadline = started + Duration::from_secs(600);
    loop {
        tokio::select! {
            r = &mut wait => { r?; break; }
            _ = tokio::time::sleep(Duration::from_millis(100)) => {
                chunks.push(uploads.link().next_chunk);
                anyhow::ensure!(Instant::now() < deadline, "the upload took over 10 minutes");
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    proxy.set_drop_every(None);
    Ok(Run {
        len,
        elapsed,
        forwarded: proxy.bytes_up(),
        breaks: proxy.cuts() - cuts,
        chunks,
    })
}

fn report(name: &str, run: &Run, steady_overhead: Option<f64>) {
    let mut chunks = run.chunks.clone();
    chunks.sort_unstable();
    let kib = |b: u64| b / 1024;
    let (lo, mid, hi) = match chunks.len() {
        0 => (0, 0, 0),
        n => (chunks[0], chunks[n / 2], chunks[n - 1]),
    };
    println!(
        "{name}: {:.1} MB in {:.1} s = {:.2} Mbit/s, goodput {:.3} (target >= 0.9); \
         {} bytes forwarded up ({:.2} % beyond the file); chunks {} / {} / {} KiB (min / median / max)",
        run.len as f64 / 1e6,
        run.elapsed,
        run.len as f64 * 8.0 / run.elapsed / 1e6,
        run.goodput(),
        run.forwarded,
        (run.forwarded - run.len) as f64 * 100.0 / run.len as f64,
        kib(lo),
        kib(mid),
        kib(hi),
    );
    if let Some(overhead) = steady_overhead
        && run.breaks > 0
    {
        let expected = run.len as f64 * (1.0 + overhead);
        let resent = (run.forwarded as f64 - expected).max(0.0);
        println!(
            "  {} breaks: {:.0} KiB re-sent per break (target <= one chunk; median chunk {} KiB)",
            run.breaks,
            resent / run.breaks as f64 / 1024.0,
            kib(mid),
        );
    }
}
