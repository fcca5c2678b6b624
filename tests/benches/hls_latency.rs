//! Benchmark: how long after the teacher's encoder makes a frame a viewer has it (issue 5).
//!
//! The release server packages a real RTMP push into HLS with 1 s segments
//! (`LIANXIAO_HLS_SEGMENT_SECS=1`). The push is ffmpeg's lavfi test stream sent with `-re`, as
//! a classroom recording system sends it. One student joins the broadcast lesson and follows
//! the signed media playlist of the video rendition (`low`) in two ways at once:
//!
//! - a *player* reloads the playlist as RFC 8216 §6.3.4 tells clients to (one target duration
//!   after a reload that brought something new, half of it after one that did not) and fetches
//!   each new segment as soon as it sees it: what a phone gets;
//! - a *probe* reloads every 50 ms: the server's own delay, with almost no polling in it.
//!
//! Latency of segment `n` = when the viewer has received its last byte, minus when the source
//! produced the segment's last frame. The source time is *push clock zero + the segment's end
//! time in the stream − one frame*: the segment's end is the sum of the `EXTINF`s from the
//! first segment (the packager starts at the push's first frame, and the segments tile the
//! stream), and clock zero is when the push's stream time 0 was produced, estimated from
//! ffmpeg's own `-progress` reports (twice a second it says how far its output has got; the
//! least `arrival − out_time` over the run bounds it from above, so this estimate, if
//! anything, makes the latency look a little shorter than it is: by a few ms). Burning the
//! clock into the picture would need reading it back from decoded frames; the stream's own
//! timestamps say the same without a decoder.
//!
//! ```sh
//! cargo build --release -p lianxiao-server && cargo bench -p lianxiao-tests --bench hls_latency
//! ```
//!
//! `LIANXIAO_LATENCY_SECS` (default 75) sets the push's length; `LIANXIAO_BENCH_BACKENDS`
//! (default `sqlite`; `postgres` needs `LIANXIAO_BENCH_PG_URL` or `LIANXIAO_TEST_PG_URL`).

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use anyhow::{Context, bail, ensure};
use lianxiao_tests::bench::{self, County, ms, pct};

const SEGMENT_SECS: u64 = 1;
const TARGET: Duration = Duration::from_secs(4);
const FRAME: Duration = Duration::from_millis(40);
const PROBE_EVERY: Duration = Duration::from_millis(50);

fn main() -> anyhow::Result<()> {
    lianxiao_tests::install_crypto_provider();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(run_all())
}

async fn run_all() -> anyhow::Result<()> {
    bench::require_release_server()?;
    let secs: u32 = std::env::var("LIANXIAO_LATENCY_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(75);
    println!(
        "hls latency: {SEGMENT_SECS} s segments, a {secs} s lavfi push with -re; machine: {}",
        bench::machine()
    );
    for backend in bench::backends(&["sqlite"]) {
        println!("\n== {} ==", bench::backend_name(&backend));
        run(&backend, secs).await?;
    }
    Ok(())
}

async fn run(backend: &lianxiao_tests::Backend, secs: u32) -> anyhow::Result<()> {
    let server = bench::broadcast_server(backend, SEGMENT_SECS)?;
    let base = server.url();
    let county = bench::county(&server, 2, 2).await?;
    let lesson = county
        .schedule(&base, "broadcast", Duration::from_secs(120))
        .await?;
    let url = media_url(&base, &county, &lesson).await?;

    let load = bench::LoadWatch::start();
    let deadline = Instant::now() + Duration::from_secs(u64::from(secs) + 60);
    // Both viewers are polling before the push starts, so they see every segment arrive.
    let player = tokio::spawn(follow(url.clone(), Poll::Player, deadline));
    let probe = tokio::spawn(follow(url.clone(), Poll::Every(PROBE_EVERY), deadline));
    let mut push = bench::push_until_live(&base, &county.lead_token, &lesson, secs).await?;
    let push = tokio::task::spawn_blocking(move || {
        push.wait();
        push
    })
    .await?;
    let zero = push.clock_zero().context("ffmpeg reported no progress")?;
    println!(
        "push: its stream time 0 was produced {:.0} ms after ffmpeg was started",
        ms(zero.saturating_duration_since(push.spawned_at))
    );
    let player = player.await??;
    let probe = probe.await??;
    report(&player, &probe, zero, &load.finish())
}

/// The first student joins; the signed URL of the video rendition's media playlist.
async fn media_url(base: &str, county: &County, lesson: &str) -> anyhow::Result<String> {
    let viewer = &county.students[0];
    let ticket = bench::join(&reqwest::Client::new(), base, &viewer.token, lesson).await?;
    bench::video_playlist(base, &ticket)
}

#[derive(Debug, Clone, Copy)]
enum Poll {
    /// RFC 8216 §6.3.4: reload one target duration after a reload that changed the playlist,
    /// half of one after a reload that did not.
    Player,
    Every(Duration),
}

/// What one viewer saw: every segment's duration, and when each segment was first listed and
/// when it had been received whole.
#[derive(Debug, Default)]
struct Followed {
    durations: BTreeMap<u64, f64>,
    listed: BTreeMap<u64, Instant>,
    fetched: BTreeMap<u64, Instant>,
}

async fn follow(url: String, poll: Poll, deadline: Instant) -> anyhow::Result<Followed> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let mut seen = Followed::default();
    let mut last_new = None::<Instant>;
    loop {
        let reload = Instant::now();
        let r = http.get(&url).send().await?;
        let status = r.status();
        let text = r.text().await?;
        let listed_at = Instant::now();
        let mut changed = false;
        let mut target = SEGMENT_SECS as f64;
        if status == reqwest::StatusCode::OK {
            let playlist = bench::parse_media(&text)?;
            // A later push runs on another clock: this one is over.
            let ended = playlist.discontinuities.iter().find(|at| **at > 0).copied();
            if playlist.target_secs > 0.0 {
                target = playlist.target_secs;
            }
            for s in &playlist.segments {
                if ended.is_some_and(|at| s.seq >= at) {
                    return Ok(seen);
                }
                seen.durations.insert(s.seq, s.duration);
                if seen.listed.contains_key(&s.seq) {
                    continue;
                }
                changed = true;
                seen.listed.insert(s.seq, listed_at);
                let r = http.get(bench::resolve(&url, &s.uri)).send().await?;
                ensure!(r.status().is_success(), "segment {}: {}", s.seq, r.status());
                let body = r.bytes().await?;
                ensure!(
                    body.first() == Some(&0x47),
                    "segment {} is no MPEG-TS",
                    s.seq
                );
                seen.fetched.insert(s.seq, Instant::now());
            }
        } else if status != reqwest::StatusCode::NOT_FOUND {
            bail!("media playlist: {status}: {text}");
        }
        if changed {
            last_new = Some(Instant::now());
        }
        // The push is over once nothing new has come for a while.
        if last_new.is_some_and(|t| t.elapsed() > Duration::from_secs(6))
            || Instant::now() > deadline
        {
            return Ok(seen);
        }
        let wait = match poll {
            Poll::Every(d) => d,
            Poll::Player if changed => Duration::from_secs_f64(target),
            Poll::Player => Duration::from_secs_f64(target / 2.0),
        };
        tokio::time::sleep_until((reload + wait).into()).await;
    }
}

fn report(player: &Followed, probe: &Followed, zero: Instant, load: &str) -> anyhow::Result<()> {
    // Each segment's end in the stream: the durations from the first segment on.
    let mut durations = probe.durations.clone();
    durations.extend(player.durations.iter().map(|(k, v)| (*k, *v)));
    let mut ends = BTreeMap::new();
    let mut end = 0.0;
    for (i, (seq, d)) in durations.iter().enumerate() {
        ensure!(*seq == i as u64, "segment {i} was never listed");
        end += d;
        ends.insert(*seq, end);
    }
    ensure!(!ends.is_empty(), "no segment arrived");
    // The source made the segment's last frame one frame before its end.
    let source = |seq: u64| zero + Duration::from_secs_f64(ends[&seq]) - FRAME;
    let latencies = |at: &BTreeMap<u64, Instant>| {
        let mut v: Vec<Duration> = at
            .iter()
            .map(|(seq, t)| t.saturating_duration_since(source(*seq)))
            .collect();
        v.sort();
        v
    };
    let rows = [
        ("probe (50 ms reloads): listed", latencies(&probe.listed)),
        ("probe: segment received", latencies(&probe.fetched)),
        (
            "player (RFC 8216 reloads): segment received",
            latencies(&player.fetched),
        ),
    ];
    println!(
        "{} segments ({:.1} s of stream), from the source's last frame of a segment to:",
        ends.len(),
        end
    );
    println!(
        "{:<46} {:>7} {:>7} {:>7} {:>5}",
        "", "p50", "p95", "max", "n"
    );
    for (name, v) in &rows {
        println!(
            "{name:<46} {:>5.0}ms {:>5.0}ms {:>5.0}ms {:>5}",
            ms(pct(v, 50.0)),
            ms(pct(v, 95.0)),
            ms(pct(v, 100.0)),
            v.len()
        );
    }
    let player = &rows[2].1;
    let missed = player.iter().filter(|d| **d >= TARGET).count();
    println!(
        "target: a phone has each segment within {} s: {} ({missed} of {} segments later)",
        TARGET.as_secs(),
        if pct(player, 100.0) < TARGET {
            "met"
        } else if pct(player, 95.0) < TARGET {
            "met at p95, not at max"
        } else {
            "MISSED"
        },
        player.len()
    );
    // The packager's start (it probes the push before its first segment) shows here.
    let first: Vec<String> = probe
        .fetched
        .iter()
        .take(3)
        .map(|(seq, t)| format!("{:.0}", ms(t.saturating_duration_since(source(*seq)))))
        .collect();
    println!("probe, first three segments: {} ms", first.join(", "));
    println!("during the run: {load}; after: {}", bench::machine());
    Ok(())
}
