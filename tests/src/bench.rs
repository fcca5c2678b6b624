//! What the live-lesson benches share (`hls_latency`, `hls_viewers`, `lesson_joins`): the
//! release server binary, a county-sized linked lesson written straight into the database,
//! the machine's figures from /proc, and percentiles.
//!
//! The benches run [`TestServer`] on the release `lianxiao-server` (target/release/, where
//! `cargo bench` puts its executables). They do not build it: a nested cargo would wait for the
//! lock `cargo bench` holds, so [`require_release_server`] refuses a binary older than the
//! server's sources.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant, SystemTime},
};

use anyhow::{Context, bail, ensure};
use lianxiao_server::{
    auth::TokenKeys,
    db::{Db, new_id},
    fixtures,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{Backend, DEMO_PASSWORD, TestServer};

/// The benches' server binary: `LIANXIAO_SERVER_BIN` as given, or target/release's, which must
/// be newer than `server/src`, `server/migrations` and `protocol/src`.
pub fn require_release_server() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("LIANXIAO_SERVER_BIN") {
        return Ok(PathBuf::from(path));
    }
    // target/release/deps/<bench> → target/release/lianxiao-server, where [`TestServer`] looks.
    let exe = std::env::current_exe()?;
    let binary = exe
        .parent()
        .and_then(Path::parent)
        .context("bench executable outside target/")?
        .join(format!("lianxiao-server{}", std::env::consts::EXE_SUFFIX));
    let build = "cargo build --release -p lianxiao-server";
    let built = std::fs::metadata(&binary)
        .and_then(|m| m.modified())
        .map_err(|_| anyhow::anyhow!("no {}: run `{build}` first", binary.display()))?;
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for dir in ["server/src", "server/migrations", "protocol/src"] {
        if let Some((newest, path)) = newest_file(&workspace.join(dir))
            && newest > built
        {
            bail!(
                "{} is older than {}: run `{build}` first (or name a binary in LIANXIAO_SERVER_BIN)",
                binary.display(),
                path.display()
            );
        }
    }
    Ok(binary)
}

fn newest_file(dir: &Path) -> Option<(SystemTime, PathBuf)> {
    let mut newest: Option<(SystemTime, PathBuf)> = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let candidate = if path.is_dir() {
            newest_file(&path)
        } else {
            entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .map(|t| (t, path))
        };
        if let Some(c) = candidate
            && newest.as_ref().is_none_or(|n| c.0 > n.0)
        {
            newest = Some(c);
        }
    }
    newest
}

/// The backends to run: `LIANXIAO_BENCH_BACKENDS=sqlite,postgres`, else `default`. PostgreSQL
/// needs an admin URL (`LIANXIAO_BENCH_PG_URL`, else `LIANXIAO_TEST_PG_URL`); without one it
/// is left out with a message.
pub fn backends(default: &[&str]) -> Vec<Backend> {
    let asked = std::env::var("LIANXIAO_BENCH_BACKENDS").unwrap_or_default();
    let names: Vec<String> = if asked.trim().is_empty() {
        default.iter().map(|s| s.to_string()).collect()
    } else {
        asked.split(',').map(|s| s.trim().to_owned()).collect()
    };
    let pg = ["LIANXIAO_BENCH_PG_URL", "LIANXIAO_TEST_PG_URL"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()));
    let mut out = Vec::new();
    for name in names {
        match (name.as_str(), &pg) {
            ("sqlite", _) => out.push(Backend::Sqlite),
            ("postgres", Some(url)) => out.push(Backend::Postgres {
                admin_url: url.clone(),
            }),
            ("postgres", None) => println!(
                "postgresql: skipped (set LIANXIAO_BENCH_PG_URL or LIANXIAO_TEST_PG_URL to a URL \
                 whose role may create databases)"
            ),
            (other, _) => println!("unknown backend {other:?} in LIANXIAO_BENCH_BACKENDS"),
        }
    }
    out
}

pub fn backend_name(backend: &Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "SQLite",
        Backend::Postgres { .. } => "PostgreSQL",
    }
}

// ---------------------------------------------------------------------------------------------
// A county lesson: one main school's class teaching the receiving classes of its link group.

/// One student of the county, signed in.
#[derive(Debug, Clone)]
pub struct Student {
    pub id: String,
    pub login: String,
    pub class_id: String,
    /// An access token from [`fixtures::sign_in`].
    pub token: String,
}

#[derive(Debug)]
pub struct County {
    pub lead_token: String,
    pub lead_class: String,
    /// (class, its assistant) for every class but the lead's.
    pub receiving: Vec<(String, String)>,
    /// In class order, the students of each class together.
    pub students: Vec<Student>,
}

/// Classes per school outside the main school (branch schools and teaching points).
const CLASSES_PER_SCHOOL: usize = 3;

/// A link group whose main school's lead class and `classes - 1` receiving classes (in branch
/// schools and teaching points, three classes each) hold `students` students between them, as
/// evenly as they go; an assistant in each receiving class; every student signed in. Written
/// straight into the server's database (the roster import would hash a password per person;
/// everyone here shares one hash of [`DEMO_PASSWORD`], so a real login works too).
pub async fn county(
    server: &TestServer,
    classes: usize,
    students: usize,
) -> anyhow::Result<County> {
    ensure!(classes >= 2 && students >= classes);
    let db = Db::open(server.data_dir(), server.database_url().as_deref()).await?;
    // The server made its signing key at start; this loads the same one.
    let keys = TokenKeys::load(&db, 3600).await?;
    let hash = lianxiao_server::auth::password::hash(DEMO_PASSWORD.into()).await?;
    let mut tx = db.begin_write().await?;
    let group = new_id();
    sqlx::query("INSERT INTO link_groups (id, name, created_at) VALUES ($1, '县城关联校', 0)")
        .bind(&group)
        .execute(&mut *tx)
        .await?;
    let mut schools = Vec::new();
    let mut class_ids = Vec::with_capacity(classes);
    for c in 0..classes {
        // The lead class alone in the main school; then three classes a school.
        let school_no = if c == 0 {
            0
        } else {
            1 + (c - 1) / CLASSES_PER_SCHOOL
        };
        if school_no == schools.len() {
            let school = new_id();
            let (name, kind) = match school_no {
                0 => ("城关中心小学".to_owned(), "main"),
                n if n % 4 == 0 => (format!("第{n}教学点"), "teaching_point"),
                n => (format!("第{n}分校"), "branch"),
            };
            fixtures::insert_school(&mut tx, &school, &name, kind).await?;
            sqlx::query(
                "INSERT INTO link_group_schools (link_group_id, school_id) VALUES ($1, $2)",
            )
            .bind(&group)
            .bind(&school)
            .execute(&mut *tx)
            .await?;
            schools.push(school);
        }
        let class = new_id();
        let name = format!("三年级({})班", c + 1);
        fixtures::insert_class(&mut tx, &class, &schools[school_no], &name, "3").await?;
        class_ids.push((class, schools[school_no].clone()));
    }

    let lead = new_id();
    fixtures::insert_user(&mut tx, &lead, "bench_lead", "王老师", &hash).await?;
    let (lead_class, lead_school) = class_ids[0].clone();
    fixtures::insert_membership(&mut tx, &lead, "teacher", &lead_school, &lead_class, "").await?;
    let mut receiving = Vec::new();
    for (c, (class, school)) in class_ids.iter().enumerate().skip(1) {
        let assistant = new_id();
        let login = format!("bench_a{c}");
        fixtures::insert_user(&mut tx, &assistant, &login, "助课老师", &hash).await?;
        fixtures::insert_membership(&mut tx, &assistant, "assistant", school, class, "").await?;
        receiving.push((class.clone(), assistant));
    }

    let mut signed_in = Vec::with_capacity(students);
    for (c, (class, school)) in class_ids.iter().enumerate() {
        // The first `students % classes` classes take one more.
        let size = students / classes + usize::from(c < students % classes);
        for _ in 0..size {
            let id = new_id();
            let login = format!("bench_s{}", signed_in.len());
            fixtures::insert_user(&mut tx, &id, &login, "学生", &hash).await?;
            fixtures::insert_membership(&mut tx, &id, "student", school, class, "").await?;
            let token = fixtures::sign_in(&mut tx, &keys, &id).await?;
            signed_in.push(Student {
                id,
                login,
                class_id: class.clone(),
                token,
            });
        }
    }
    let lead_token = fixtures::sign_in(&mut tx, &keys, &lead).await?;
    tx.commit().await?;
    db.pool().close().await;
    Ok(County {
        lead_token,
        lead_class,
        receiving,
        students: signed_in,
    })
}

impl County {
    /// The lead schedules one lesson for every class of the county, starting in `starts_in`
    /// (inside the join window, which opens 15 minutes ahead) and lasting an hour.
    pub async fn schedule(
        &self,
        base: &str,
        mode: &str,
        starts_in: Duration,
    ) -> anyhow::Result<String> {
        let start = now_ms() + starts_in.as_millis() as i64;
        let receiving: Vec<Value> = self
            .receiving
            .iter()
            .map(|(class, assistant)| json!({"class_id": class, "assistant_id": assistant}))
            .collect();
        let r = reqwest::Client::new()
            .post(format!("{base}/v1/lessons"))
            .bearer_auth(&self.lead_token)
            .json(&json!({
                "subject": "语文", "title": "全县同上一堂课", "mode": mode,
                "starts_at": start, "ends_at": start + 3_600_000,
                "lead_class_id": self.lead_class, "receiving": receiving,
            }))
            .send()
            .await?;
        let status = r.status();
        let body: Value = r.json().await?;
        ensure!(status == StatusCode::CREATED, "schedule: {status}: {body}");
        Ok(body["lessons"][0]["id"]
            .as_str()
            .context("lesson id")?
            .to_owned())
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

// ---------------------------------------------------------------------------------------------
// The machine, from /proc.

/// `2 cores (model), load average 0.52 0.61 0.70`.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown cpu".into());
    format!("{} cores ({cpu}), load average {}", cores(), loadavg())
}

pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(0, |n| n.get())
}

/// The 1, 5 and 15 minute load averages.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn load_1min() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// The 1-minute load average, sampled every 2 s on a thread until [`LoadWatch::finish`].
pub struct LoadWatch {
    stop: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<Vec<f64>>,
}

impl LoadWatch {
    pub fn start() -> LoadWatch {
        let (stop, stopped) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let mut samples = vec![load_1min()];
            while stopped.recv_timeout(Duration::from_secs(2)).is_err() {
                samples.push(load_1min());
            }
            samples.push(load_1min());
            samples
        });
        LoadWatch { stop, thread }
    }

    /// `load 1.2–2.4 (1-min average, sampled every 2 s)`.
    pub fn finish(self) -> String {
        let _ = self.stop.send(());
        let samples = self.thread.join().unwrap_or_default();
        let min = samples.iter().copied().fold(f64::INFINITY, f64::min);
        let max = samples.iter().copied().fold(0.0, f64::max);
        format!("load {min:.1}–{max:.1} (1-min average over the run)")
    }
}

/// CPU time (user + system) a process has used, in clock ticks (1/100 s).
pub fn cpu_ticks(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // Fields after the command name (which may hold spaces), from field 3.
            let rest: Vec<&str> = s.rsplit_once(')')?.1.split_whitespace().collect();
            Some(rest.get(11)?.parse::<u64>().ok()? + rest.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0)
}

/// A process's resident set (VmRSS), KiB.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Every process whose parent chain reaches `pid` (not `pid` itself).
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut parents = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(p) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let ppid: Option<u32> = std::fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .and_then(|s| {
                    s.rsplit_once(')')?
                        .1
                        .split_whitespace()
                        .nth(1)?
                        .parse()
                        .ok()
                });
            if let Some(ppid) = ppid {
                parents.push((p, ppid));
            }
        }
    }
    let mut out = Vec::new();
    let mut frontier = vec![pid];
    while let Some(parent) = frontier.pop() {
        for &(p, pp) in &parents {
            if pp == parent && !out.contains(&p) {
                out.push(p);
                frontier.push(p);
            }
        }
    }
    out
}

/// CPU and memory of a set of processes over a stretch of time: `sample` it every second or
/// so, then read the share of one core they used and their peak resident memory.
pub struct ProcWatch {
    pids: Vec<u32>,
    started: Instant,
    ticks_before: u64,
    peak_rss_kib: u64,
}

impl ProcWatch {
    pub fn start(pids: Vec<u32>) -> ProcWatch {
        let ticks_before = pids.iter().map(|p| cpu_ticks(*p)).sum();
        let mut w = ProcWatch {
            pids,
            started: Instant::now(),
            ticks_before,
            peak_rss_kib: 0,
        };
        w.sample();
        w
    }

    pub fn sample(&mut self) {
        let rss = self.pids.iter().map(|p| rss_kib(*p)).sum();
        self.peak_rss_kib = self.peak_rss_kib.max(rss);
    }

    /// (% of one core since the start, peak RSS in MiB).
    pub fn finish(mut self) -> (f64, f64) {
        self.sample();
        let ticks: u64 = self.pids.iter().map(|p| cpu_ticks(*p)).sum();
        let secs = self.started.elapsed().as_secs_f64();
        let share = (ticks.saturating_sub(self.ticks_before)) as f64 / 100.0 / secs * 100.0;
        (share, self.peak_rss_kib as f64 / 1024.0)
    }
}

// ---------------------------------------------------------------------------------------------
// Figures.

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Nearest-rank percentile of sorted durations.
pub fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

// ---------------------------------------------------------------------------------------------
// HLS, as a player reads it.

/// A media playlist: its target duration, and its segments with their sequence numbers.
#[derive(Debug, Clone, Default)]
pub struct MediaPlaylist {
    pub target_secs: f64,
    pub segments: Vec<Segment>,
    /// The segments an `EXT-X-DISCONTINUITY` comes before: the first of each push (the
    /// packager marks the first push's first segment too).
    pub discontinuities: Vec<u64>,
}

#[derive(Debug, Clone)]
pub struct Segment {
    /// Media sequence number (`EXT-X-MEDIA-SEQUENCE` plus its place in the list).
    pub seq: u64,
    /// `EXTINF`, seconds.
    pub duration: f64,
    /// As written in the playlist (relative, signed query included).
    pub uri: String,
}

pub fn parse_media(text: &str) -> anyhow::Result<MediaPlaylist> {
    let mut playlist = MediaPlaylist::default();
    let mut seq = None;
    let mut duration = None;
    for line in text.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("#EXT-X-TARGETDURATION:") {
            playlist.target_secs = v.parse().context("EXT-X-TARGETDURATION")?;
        } else if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            seq = Some(v.parse::<u64>().context("EXT-X-MEDIA-SEQUENCE")?);
        } else if line == "#EXT-X-DISCONTINUITY" {
            playlist.discontinuities.extend(seq);
        } else if let Some(v) = line.strip_prefix("#EXTINF:") {
            let d = v.split(',').next().unwrap_or_default();
            duration = Some(d.parse::<f64>().context("EXTINF")?);
        } else if !line.is_empty() && !line.starts_with('#') {
            let n = seq.context("a segment before EXT-X-MEDIA-SEQUENCE")?;
            playlist.segments.push(Segment {
                seq: n,
                duration: duration.take().context("a segment without EXTINF")?,
                uri: line.to_owned(),
            });
            seq = Some(n + 1);
        }
    }
    Ok(playlist)
}

/// A URI of a playlist, made absolute: `http://h/v1/hls/L/low/index.m3u8?q` + `seg_3.ts?q` →
/// `http://h/v1/hls/L/low/seg_3.ts?q`.
pub fn resolve(playlist_url: &str, uri: &str) -> String {
    if uri.contains("://") {
        return uri.to_owned();
    }
    let path = playlist_url.split('?').next().unwrap_or(playlist_url);
    format!("{}/{uri}", &path[..path.rfind('/').unwrap_or(path.len())])
}

// ---------------------------------------------------------------------------------------------
// The lead's encoder.

/// An RTMP push of a generated test stream, as a classroom recording system sends it: 640x360
/// test video at 25 fps and a tone, x264 with a keyframe a second, in real time (`-re`).
/// ffmpeg reports its progress (`-progress`, twice a second), from which [`Push::clock_zero`]
/// estimates when the stream's time 0 was produced. Killed when dropped.
pub struct Push {
    child: std::process::Child,
    pub spawned_at: Instant,
    zero: std::sync::Arc<std::sync::Mutex<Option<Instant>>>,
}

impl Push {
    pub fn start(publish_url: &str, secs: u32) -> anyhow::Result<Push> {
        use std::io::BufRead;
        let spawned_at = Instant::now();
        let mut child = std::process::Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
            .args(["-f", "lavfi", "-i", "testsrc=size=640x360:rate=25"])
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
            .args(["-t", &secs.to_string()])
            .args([
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-tune",
                "zerolatency",
            ])
            .args(["-g", "25", "-pix_fmt", "yuv420p", "-c:a", "aac"])
            .args(["-progress", "pipe:1", "-stats_period", "0.5"])
            .args(["-f", "flv", publish_url])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .context("ffmpeg must be installed (apt-get install ffmpeg)")?;
        let stdout = child.stdout.take().context("piped stdout")?;
        let zero = std::sync::Arc::new(std::sync::Mutex::new(None::<Instant>));
        let z = zero.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let now = Instant::now();
                // The output's time reached `out_time_us` no later than now: now minus it is
                // an upper bound of the instant of time 0; the least one seen is the estimate.
                let Some(us) = line
                    .strip_prefix("out_time_us=")
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .filter(|us| *us > 0)
                else {
                    continue;
                };
                let Some(candidate) = now.checked_sub(Duration::from_micros(us)) else {
                    continue;
                };
                let mut zero = z.lock().expect("clock zero");
                if zero.is_none_or(|z| candidate < z) {
                    *zero = Some(candidate);
                }
            }
        });
        Ok(Push {
            child,
            spawned_at,
            zero,
        })
    }

    /// When the stream's time 0 was produced: the source produced the frame at stream time
    /// `t` at `clock_zero() + t`.
    pub fn clock_zero(&self) -> Option<Instant> {
        *self.zero.lock().expect("clock zero")
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for the push to end by itself (its `-t`).
    pub fn wait(&mut self) {
        let _ = self.child.wait();
    }
}

impl Drop for Push {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The lead asks for the ingest and pushes until the lesson is live, starting the encoder
/// again while the listener is not up yet (as encoders do). Returns the push that went live.
pub async fn push_until_live(
    base: &str,
    lead_token: &str,
    lesson_id: &str,
    secs: u32,
) -> anyhow::Result<Push> {
    let http = reqwest::Client::new();
    let r = http
        .get(format!("{base}/v1/lessons/{lesson_id}/ingest"))
        .bearer_auth(lead_token)
        .send()
        .await?;
    let status = r.status();
    let ticket: Value = r.json().await?;
    ensure!(status == StatusCode::OK, "ingest: {status}: {ticket}");
    let url = ticket["publish_url"]
        .as_str()
        .context("publish_url")?
        .to_owned();
    // The listener starts with the ingest's first call; give it a moment.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let mut push = Push::start(&url, secs)?;
    loop {
        let r = http
            .get(format!("{base}/v1/lessons/{lesson_id}"))
            .bearer_auth(lead_token)
            .send()
            .await?
            .json::<Value>()
            .await?;
        if r["status"] == "live" {
            return Ok(push);
        }
        if !push.is_running() {
            push = Push::start(&url, secs)?;
        }
        ensure!(
            started.elapsed() < Duration::from_secs(30),
            "the push did not make the lesson live within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A server that packages broadcast pushes into HLS segments of `segment_secs`, its RTMP
/// listener on a free port of loopback.
pub fn broadcast_server(backend: &Backend, segment_secs: u64) -> anyhow::Result<TestServer> {
    let rtmp = free_port()?;
    let ports = format!("{rtmp}-{rtmp}");
    let segment = segment_secs.to_string();
    Ok(TestServer::start_with_env(
        backend,
        &[
            ("LIANXIAO_RTMP_LISTEN", "127.0.0.1"),
            ("LIANXIAO_RTMP_PORTS", &ports),
            ("LIANXIAO_HLS_SEGMENT_SECS", &segment),
        ],
    ))
}

/// The absolute, signed URL of the video rendition's media playlist in a broadcast ticket.
pub fn video_playlist(base: &str, ticket: &Value) -> anyhow::Result<String> {
    let low = ticket["hls"]["renditions"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["name"] == "low"))
        .context("no low rendition in the ticket")?;
    Ok(format!("{base}{}", low["url"].as_str().context("url")?))
}

/// A port nothing listens on now (for the lesson's RTMP listener, or nginx).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `POST /v1/lessons/{id}/join` for one person; the ticket as JSON.
pub async fn join(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    lesson_id: &str,
) -> anyhow::Result<Value> {
    let r = http
        .post(format!("{base}/v1/lessons/{lesson_id}/join"))
        .bearer_auth(token)
        .send()
        .await?;
    let status = r.status();
    let text = r.text().await?;
    ensure!(status == StatusCode::OK, "join: {status}: {text}");
    Ok(serde_json::from_str(&text)?)
}

/// The whole machine's CPU time from /proc/stat: (busy, idle) ticks over all cores.
pub fn machine_ticks() -> (u64, u64) {
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            let v: Vec<u64> = s
                .lines()
                .next()?
                .split_whitespace()
                .skip(1)
                .filter_map(|x| x.parse().ok())
                .collect();
            // user nice system idle iowait irq softirq steal
            let idle = v.get(3)? + v.get(4)?;
            Some((v.iter().take(8).sum::<u64>() - idle, idle))
        })
        .unwrap_or((0, 0))
}
