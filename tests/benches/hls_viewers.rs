//! Benchmark: one server serving a county lesson's HLS broadcast to 1,700 phones (issue 5),
//! then nginx serving the same files to the same load, on the same machine.
//!
//! The audience is the largest lesson of the issue's seeds: 54 classes (the main school's
//! lead class and 53 receiving classes in branch schools and teaching points), 1,700 students
//! written straight into the database and signed in. Each student joins the broadcast lesson
//! (`POST /v1/lessons/{id}/join`) before the measurement: tickets are signed **per viewer**
//! (the grant names the user, whose fetches count as attendance), so 1,700 viewers follow
//! 1,700 differently signed URLs and every playlist is signed anew for its viewer.
//!
//! The stream is a real `-re` RTMP push of ffmpeg's lavfi test pattern, packaged by the
//! server's ffmpeg into HLS (`LIANXIAO_VIEWERS_SEGMENT_SECS`, default 1 s segments, the length
//! that meets the latency target). Each viewer is a task with its own HTTP client (its own
//! keep-alive connection) doing what a phone's player does with the video rendition (`low`):
//! it starts three segments behind the live edge, reloads the media playlist as RFC 8216
//! §6.3.4 says (a target duration after a reload that brought something new, half of one
//! after one that did not) and fetches each new segment once. Viewers start at random over the
//! first 10 s; the figures count only the steady part after that.
//!
//! Measured: per request, from sending it to its last byte; errors (any non-200 or transport
//! error); segments a viewer missed because they left the playlist before it got to them;
//! the serving process's CPU (ticks in /proc/<pid>/stat, as a share of one core) and peak
//! resident memory (VmRSS, sampled every second); beside it the packaging ffmpeg, the bench's
//! own viewers, and the whole machine.
//!
//! Then nginx (`nginx` from Debian), started here as a child process with a generated config
//! on a free port, serves the server's HLS directory for the same stream, to 1,700 new
//! viewers doing the same. nginx checks no signature and counts no attendance: the
//! difference is the price of those. Without nginx installed that half is skipped.
//!
//! ```sh
//! cargo build --release -p lianxiao-server && cargo bench -p lianxiao-tests --bench hls_viewers
//! ```
//!
//! `LIANXIAO_VIEWERS` (1700), `LIANXIAO_VIEWERS_SECS` (60 s per server),
//! `LIANXIAO_BENCH_BACKENDS` (default `sqlite`).

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, ensure};
use futures::{StreamExt, stream};
use lianxiao_tests::{
    Backend,
    bench::{self, ProcWatch, ms, pct},
};
use rand::{Rng, SeedableRng, rngs::StdRng};
use reqwest::StatusCode;

const CLASSES: usize = 54;
const VIEWERS: usize = 1_700;
const PHASE_SECS: u64 = 60;
/// Viewers start at random over this long; the figures count only what comes after.
const RAMP: Duration = Duration::from_secs(10);
/// A player starts this many segments behind the live edge (hls.js and ExoPlayer: 3).
const START_BEHIND: u64 = 3;

fn main() -> anyhow::Result<()> {
    lianxiao_tests::install_crypto_provider();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(run_all())
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn run_all() -> anyhow::Result<()> {
    bench::require_release_server()?;
    let viewers = env_num("LIANXIAO_VIEWERS", VIEWERS as u64) as usize;
    let phase = Duration::from_secs(env_num("LIANXIAO_VIEWERS_SECS", PHASE_SECS));
    let segment = env_num("LIANXIAO_VIEWERS_SEGMENT_SECS", 1);
    println!(
        "hls viewers: {viewers} viewers of one live stream ({segment} s segments) in {CLASSES} \
         classes, {} s per server ({} s ramp); machine: {}",
        phase.as_secs(),
        RAMP.as_secs(),
        bench::machine()
    );
    for backend in bench::backends(&["sqlite"]) {
        println!(
            "\n== lianxiao-server on {} ==",
            bench::backend_name(&backend)
        );
        run(&backend, viewers, phase, segment).await?;
    }
    Ok(())
}

async fn run(
    backend: &Backend,
    viewers: usize,
    phase: Duration,
    segment: u64,
) -> anyhow::Result<()> {
    let server = bench::broadcast_server(backend, segment)?;
    let base = server.url();
    let t = Instant::now();
    let county = bench::county(&server, CLASSES, viewers).await?;
    let lesson = county
        .schedule(&base, "broadcast", Duration::from_secs(120))
        .await?;
    println!(
        "fixture: {viewers} students in {CLASSES} classes signed in, lesson scheduled, in {:.1?}",
        t.elapsed()
    );

    // Every viewer joins first (not measured here: `lesson_joins` measures joining).
    let t = Instant::now();
    let http = reqwest::Client::new();
    let urls: Vec<String> = stream::iter(&county.students)
        .map(|s| {
            let (http, base, lesson) = (&http, &base, &lesson);
            async move {
                let ticket = bench::join(http, base, &s.token, lesson).await?;
                bench::video_playlist(base, &ticket)
            }
        })
        .buffered(8)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    println!("{viewers} joins in {:.1?} (8 at a time)", t.elapsed());

    let push_secs = 2 * phase.as_secs() + 60;
    let _push =
        bench::push_until_live(&base, &county.lead_token, &lesson, push_secs as u32).await?;
    // Wait for a playlist a player can start in.
    let started = Instant::now();
    loop {
        let r = http.get(&urls[0]).send().await?;
        if r.status() == StatusCode::OK
            && bench::parse_media(&r.text().await?)?.segments.len() as u64 >= START_BEHIND
        {
            break;
        }
        ensure!(started.elapsed() < Duration::from_secs(30), "no segments");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let server_pid = server.pid().context("server not running")?;
    let ffmpeg = bench::descendants(server_pid);
    let mut results = vec![(
        "lianxiao-server (signed per viewer)".to_owned(),
        phase_run(urls, vec![server_pid], ffmpeg.clone(), phase).await?,
    )];

    let hls_root = server.data_dir().join("hls");
    match Nginx::start(&hls_root)? {
        Some(nginx) => {
            let url = format!("{}/hls/{lesson}/low/index.m3u8", nginx.url);
            let urls = vec![url; viewers];
            let mut pids = vec![nginx.pid()];
            pids.extend(bench::descendants(nginx.pid()));
            let r = phase_run(urls, pids, ffmpeg, phase).await?;
            results.push(("nginx (same files, unsigned)".to_owned(), r));
            drop(nginx);
        }
        None => println!(
            "nginx: skipped, not installed (apt-get install -y nginx); only lianxiao-server measured"
        ),
    }
    print_table(viewers, &results);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// One server under the load of every viewer.

#[derive(Debug, Clone, Copy, PartialEq)]
enum What {
    Playlist,
    Segment,
}

struct Fetch {
    at: Instant,
    took: Duration,
    what: What,
    bytes: usize,
}

#[derive(Default)]
struct ViewerLog {
    fetches: Vec<Fetch>,
    errors: Vec<String>,
    /// Segments that left the playlist before this viewer got to them.
    missed: u64,
}

struct PhaseResult {
    steady: Duration,
    logs: Vec<ViewerLog>,
    steady_from: Instant,
    /// % of one core, peak RSS MiB.
    serving: (f64, f64),
    ffmpeg: (f64, f64),
    viewers_cpu: f64,
    machine_busy: f64,
    load: String,
}

async fn phase_run(
    urls: Vec<String>,
    serving: Vec<u32>,
    ffmpeg: Vec<u32>,
    phase: Duration,
) -> anyhow::Result<PhaseResult> {
    let mut rng = StdRng::seed_from_u64(0x17_00);
    let start = Instant::now() + Duration::from_millis(500);
    let end = start + phase;
    let steady_from = start + RAMP;
    let mut tasks = tokio::task::JoinSet::new();
    for url in urls {
        let at = start + RAMP.mul_f64(rng.random::<f64>());
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        tasks.spawn(viewer(http, url, at, end));
    }
    // CPU and memory over the steady part only.
    tokio::time::sleep_until(steady_from.into()).await;
    let load = bench::LoadWatch::start();
    let mut serving = ProcWatch::start(serving);
    let mut ffmpeg = ProcWatch::start(ffmpeg);
    let mut me = ProcWatch::start(vec![std::process::id()]);
    let machine_before = bench::machine_ticks();
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_secs(1)).await;
        serving.sample();
        ffmpeg.sample();
        me.sample();
    }
    let machine_after = bench::machine_ticks();
    let (busy, idle) = (
        machine_after.0 - machine_before.0,
        machine_after.1 - machine_before.1,
    );
    let serving = serving.finish();
    let ffmpeg = ffmpeg.finish();
    let viewers_cpu = me.finish().0;
    let load = load.finish();
    let mut logs = Vec::new();
    while let Some(log) = tasks.join_next().await {
        logs.push(log?);
    }
    Ok(PhaseResult {
        steady: end - steady_from,
        logs,
        steady_from,
        serving,
        ffmpeg,
        viewers_cpu,
        machine_busy: busy as f64 / (busy + idle).max(1) as f64 * bench::cores() as f64 * 100.0,
        load,
    })
}

/// One phone's player on the media playlist at `url`, from `at` until `end`.
async fn viewer(http: reqwest::Client, url: String, at: Instant, end: Instant) -> ViewerLog {
    let mut log = ViewerLog::default();
    tokio::time::sleep_until(at.into()).await;
    let mut next: Option<u64> = None;
    let mut target = 1.0;
    while Instant::now() < end {
        let reload = Instant::now();
        let mut changed = false;
        match get(&http, &url).await {
            Ok(body) => {
                log.fetches.push(Fetch {
                    at: reload,
                    took: reload.elapsed(),
                    what: What::Playlist,
                    bytes: body.len(),
                });
                match bench::parse_media(&String::from_utf8_lossy(&body)) {
                    Ok(playlist) if !playlist.segments.is_empty() => {
                        target = playlist.target_secs.max(0.5);
                        let first = playlist.segments[0].seq;
                        let last = playlist.segments[playlist.segments.len() - 1].seq;
                        let from = match next {
                            None => last.saturating_sub(START_BEHIND - 1).max(first),
                            Some(n) if n < first => {
                                log.missed += first - n;
                                first
                            }
                            Some(n) => n,
                        };
                        for s in playlist.segments.iter().filter(|s| s.seq >= from) {
                            if Instant::now() >= end {
                                break;
                            }
                            let t = Instant::now();
                            match get(&http, &bench::resolve(&url, &s.uri)).await {
                                Ok(body) => log.fetches.push(Fetch {
                                    at: t,
                                    took: t.elapsed(),
                                    what: What::Segment,
                                    bytes: body.len(),
                                }),
                                Err(e) => log.errors.push(format!("segment: {e}")),
                            }
                            next = Some(s.seq + 1);
                            changed = true;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => log.errors.push(format!("playlist: {e:#}")),
                }
            }
            Err(e) => log.errors.push(format!("playlist: {e}")),
        }
        let wait = if changed { target } else { target / 2.0 };
        tokio::time::sleep_until((reload + Duration::from_secs_f64(wait)).into()).await;
    }
    log
}

async fn get(http: &reqwest::Client, url: &str) -> anyhow::Result<Vec<u8>> {
    let r = http.get(url).send().await?;
    let status = r.status();
    ensure!(status == StatusCode::OK, "{status}");
    Ok(r.bytes().await?.to_vec())
}

// ---------------------------------------------------------------------------------------------
// nginx.

/// nginx in the foreground (`daemon off`) with a config of our own, serving `root` at `/hls/`
/// on a free port; stopped when dropped.
struct Nginx {
    child: Child,
    url: String,
    /// The binary, prefix and config, to tell the master to stop.
    stop: Command,
    _dir: tempfile::TempDir,
}

impl Nginx {
    /// `None` when nginx is not installed.
    fn start(root: &Path) -> anyhow::Result<Option<Nginx>> {
        let Some(binary) = ["nginx", "/usr/sbin/nginx"].into_iter().find(|b| {
            Command::new(b)
                .arg("-v")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        }) else {
            return Ok(None);
        };
        let dir = tempfile::Builder::new()
            .prefix("lianxiao-nginx-")
            .tempdir()?;
        let port = bench::free_port()?;
        let d = dir.path().display();
        // As root nginx's workers would run as nobody, who cannot read the data directory.
        let user = if is_root() { "user root;" } else { "" };
        let conf = format!(
            r#"{user}
daemon off;
worker_processes auto;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    keepalive_requests 100000;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    types {{ application/vnd.apple.mpegurl m3u8; video/mp2t ts; }}
    server {{
        listen 127.0.0.1:{port};
        location /hls/ {{
            alias {root}/;
            location ~ \.m3u8$ {{ add_header Cache-Control no-cache; }}
        }}
    }}
}}
"#,
            root = root.display()
        );
        let conf_path: PathBuf = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf)?;
        let child = Command::new(binary)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start nginx")?;
        let mut stop = Command::new(binary);
        stop.arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf_path)
            .args(["-s", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let nginx = Nginx {
            child,
            url: format!("http://127.0.0.1:{port}"),
            stop,
            _dir: dir,
        };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            ensure!(
                started.elapsed() < Duration::from_secs(10),
                "nginx did not listen: {}",
                std::fs::read_to_string(nginx._dir.path().join("error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Some(nginx))
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Nginx {
    /// The master stops its workers (killed, it would leave them running); killed only if it
    /// has not stopped within 5 s.
    fn drop(&mut self) {
        let _ = self.stop.status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().next().map(|u| u == "0"))
        })
        .unwrap_or(false)
}

// ---------------------------------------------------------------------------------------------
// Figures.

fn print_table(viewers: usize, results: &[(String, PhaseResult)]) {
    for (name, r) in results {
        let steady: Vec<&Fetch> = r
            .logs
            .iter()
            .flat_map(|l| &l.fetches)
            .filter(|f| f.at >= r.steady_from)
            .collect();
        let spread = |what: What| {
            let mut v: Vec<Duration> = steady
                .iter()
                .filter(|f| f.what == what)
                .map(|f| f.took)
                .collect();
            v.sort();
            (v.len(), pct(&v, 50.0), pct(&v, 99.0), pct(&v, 100.0))
        };
        let (segments, s50, s99, smax) = spread(What::Segment);
        let (playlists, p50, p99, pmax) = spread(What::Playlist);
        let secs = r.steady.as_secs_f64();
        let bytes: usize = steady.iter().map(|f| f.bytes).sum();
        let mut errors: BTreeMap<String, usize> = BTreeMap::new();
        for e in r.logs.iter().flat_map(|l| &l.errors) {
            *errors.entry(e.clone()).or_default() += 1;
        }
        let error_count: usize = errors.values().sum();
        let missed: u64 = r.logs.iter().map(|l| l.missed).sum();
        let watching = r.logs.iter().filter(|l| !l.fetches.is_empty()).count();
        println!("\n-- {name} --");
        println!(
            "{watching} of {viewers} viewers fetched; steady {secs:.0} s: {:.0} requests/s \
             ({:.0} playlists/s, {:.0} segments/s), {:.1} MB/s ({:.0} Mbit/s)",
            (segments + playlists) as f64 / secs,
            playlists as f64 / secs,
            segments as f64 / secs,
            bytes as f64 / 1e6 / secs,
            bytes as f64 * 8.0 / 1e6 / secs
        );
        println!(
            "segment fetch p50 / p99 / max: {:.1} / {:.1} / {:.0} ms (n={segments}); \
             playlist: {:.1} / {:.1} / {:.0} ms",
            ms(s50),
            ms(s99),
            ms(smax),
            ms(p50),
            ms(p99),
            ms(pmax)
        );
        println!(
            "errors: {error_count} (whole run, ramp included); segments missed (left the \
             playlist before the viewer got to them): {missed}"
        );
        for (e, n) in errors.iter().take(5) {
            println!("  {n} x {e}");
        }
        println!(
            "CPU, % of one core: serving {:.0} %, packaging ffmpeg {:.0} %, the bench's viewers \
             {:.0} %, whole machine {:.0} % (of {} %); serving peak RSS {:.0} MiB",
            r.serving.0,
            r.ffmpeg.0,
            r.viewers_cpu,
            r.machine_busy,
            bench::cores() * 100,
            r.serving.1
        );
        println!("{}", r.load);
    }
    println!("\nafter: {}", bench::machine());
}
