//! Benchmark: the homework deadline spike (issue 4).
//!
//! 2,000 students in 40 classes each hand in one 500 KB photo within the 60 s before a
//! deadline, against one real `lianxiao-server` process (the release binary, started here as a
//! child process) on SQLite and then on PostgreSQL. Each simulated phone does what the core
//! does for a photo: `POST /v1/uploads` (tus creation), the photo in `PATCH`es of at most
//! 256 KiB (the core's first chunk size) each with `Upload-Checksum: sha256`, then `POST
//! /v1/homework/{id}/submissions` naming the upload, with an `Idempotency-Key`. Every phone has
//! its own HTTP client (its own connection).
//!
//! Arrivals are open loop: 2,000 start times drawn uniformly over the window (a Poisson
//! process given its count), and each phone starts on time whatever the others are doing.
//! Latency runs from a phone's *scheduled* start to its receipt, so a phone the bench started
//! late still counts that lateness.
//!
//! Lost responses: 5 % of phones never hear the receipt of their hand-in (the server did
//! commit it), and 5 % lose the connection 0–5 ms into that request (before it was sent,
//! while the server works on it, or after it answered). Both send the same hand-in again with the same key after the core's
//! first backoff (1–2 s); a replayed receipt must equal the first. At the end the database
//! must hold exactly one submission per student with one attempt and its attachment, no
//! upload unused, and every stored photo must be that student's bytes.
//!
//! Sign-in: the fixture writes each student's session and signs their access token with the
//! server's own key (`fixtures::sign_in`), which is how a login ends. 2,000 argon2
//! verifications (the bench prints what one costs) would otherwise dominate, and a deadline
//! spike happens to phones that have been signed in for weeks.
//!
//! The server binary is not built by this bench (a nested cargo would wait for the lock that
//! `cargo bench` holds): build it first, and the bench refuses a binary older than the
//! server's sources.
//!
//! ```sh
//! cargo build --release -p lianxiao-server && cargo bench -p lianxiao-tests --bench deadline_spike
//! ```
//!
//! PostgreSQL as well: `LIANXIAO_BENCH_PG_URL` (else `LIANXIAO_TEST_PG_URL`), a URL of a role
//! that may create databases; the bench creates its own database there and drops it.
//! `LIANXIAO_SPIKE_STUDENTS` and `LIANXIAO_SPIKE_SECS` make smaller runs;
//! `LIANXIAO_SPIKE_BACKENDS=sqlite` (or `postgres`) runs one backend.

use std::{
    collections::{HashMap, HashSet},
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use anyhow::{Context, bail, ensure};
use base64::Engine;
use lianxiao_protocol::{IDEMPOTENCY_KEY_HEADER, Submission, meta};
use lianxiao_server::{
    auth::TokenKeys,
    db::{Db, new_id},
    fixtures,
    uploads::Blobs,
};
use lianxiao_tests::bench::{self, ms, pct};
use rand::{Rng, SeedableRng, rngs::StdRng};
use reqwest::StatusCode;
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::Row;

const STUDENTS: usize = 2_000;
const CLASS_SIZE: usize = 50;
const WINDOW_SECS: u64 = 60;
const PHOTO_BYTES: usize = 500_000;
/// The core uploader's first chunk (`START_CHUNK`): a new phone knows nothing of its link yet.
const CHUNK_BYTES: usize = 256 * 1024;
/// Share of phones that never hear their hand-in's receipt.
const RECEIPT_LOST: f64 = 0.05;
/// Share of phones whose hand-in connection breaks 0–5 ms into the request (a hand-in takes a
/// few ms here, so some break before the server commits and some after).
const CUT_IN_FLIGHT: f64 = 0.05;
/// Distinct photos; each student's copy is stamped with their number, so no two are equal.
const BASE_PHOTOS: usize = 16;
const TARGET_P99: Duration = Duration::from_secs(1);

fn main() -> anyhow::Result<()> {
    lianxiao_tests::install_crypto_provider();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(bench())
}

fn env_usize(name: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v.parse().with_context(|| format!("{name}={v}")),
        _ => Ok(default),
    }
}

async fn bench() -> anyhow::Result<()> {
    let students = env_usize("LIANXIAO_SPIKE_STUDENTS", STUDENTS)?;
    let window =
        Duration::from_secs(env_usize("LIANXIAO_SPIKE_SECS", WINDOW_SECS as usize)? as u64);
    let backends = std::env::var("LIANXIAO_SPIKE_BACKENDS").unwrap_or_default();
    let wants = |name: &str| backends.is_empty() || backends.split(',').any(|b| b.trim() == name);
    let binary = bench::require_release_server()?;
    println!(
        "deadline spike: {students} students x {} KB photo, arrivals over {} s (open loop); \
         server: {} as a child process",
        PHOTO_BYTES / 1000,
        window.as_secs(),
        binary.display()
    );
    println!("machine: {}", bench::machine());

    let hash = lianxiao_server::auth::password::hash("bench-password".into()).await?;
    let t = Instant::now();
    let _ = lianxiao_server::auth::password::verify("bench-password", &hash).await;
    println!(
        "one argon2 verification takes {:.0} ms here: {students} logins would be {:.0} s of CPU \
         before the spike; the fixture issues sessions instead",
        ms(t.elapsed()),
        (t.elapsed().as_secs_f64() * students as f64),
    );

    let photos = Photos::new();
    let mut failed = Vec::new();
    if wants("sqlite")
        && let Err(e) = run(&binary, None, students, window, &photos, &hash).await
    {
        println!("sqlite: FAILED: {e:#}");
        failed.push("sqlite");
    }
    if wants("postgres") {
        let admin = ["LIANXIAO_BENCH_PG_URL", "LIANXIAO_TEST_PG_URL"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()));
        match admin {
            Some(admin) => {
                let db = PgDatabase::create(&admin).await?;
                let result = run(&binary, Some(&db.url), students, window, &photos, &hash).await;
                db.drop_it().await;
                if let Err(e) = result {
                    println!("postgresql: FAILED: {e:#}");
                    failed.push("postgresql");
                }
            }
            None => println!(
                "postgresql: skipped (set LIANXIAO_BENCH_PG_URL to a PostgreSQL URL whose role \
                 may create databases)"
            ),
        }
    }
    ensure!(failed.is_empty(), "failed on {}", failed.join(", "));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// One run against one backend.

/// What a phone's network does to its hand-in.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fate {
    Clean,
    /// The server answered; the phone never heard it.
    ReceiptLost,
    /// The connection broke this long after the request started.
    Cut(Duration),
}

#[derive(Clone)]
struct Phone {
    index: usize,
    student_id: String,
    token: String,
    /// Scheduled start, from the spike's start.
    at: Duration,
    fate: Fate,
    /// The core's first retry: 1–2 s.
    backoff: Duration,
    key: String,
    /// `Upload-Checksum` of each chunk.
    chunk_sums: Vec<String>,
    sha256: String,
}

struct Outcome {
    index: usize,
    fate: Fate,
    /// How late the phone started against its schedule.
    lag: Duration,
    /// Scheduled start to receipt.
    latency: Duration,
    /// Creation, each PATCH, and the (first) hand-in request.
    steps: Vec<Duration>,
    upload_id: String,
    submission_id: String,
    /// The receipt came from the idempotency store (a repeat).
    replayed: bool,
}

async fn run(
    binary: &Path,
    database_url: Option<&str>,
    students: usize,
    window: Duration,
    photos: &Photos,
    password_hash: &str,
) -> anyhow::Result<()> {
    let data = tempfile::Builder::new()
        .prefix("lianxiao-spike-")
        .tempdir()?;
    let server = ServerProcess::start(binary, data.path(), database_url)?;
    let db = Db::open(data.path(), database_url).await?;
    let backend = db.backend().name();
    println!("\n== {backend} ==");

    let t = Instant::now();
    let org = fixture(&db, students, password_hash).await?;
    println!(
        "fixture: {students} students and their parents in {} classes, {students} sessions, \
         written in {:.1?}",
        org.classes.len(),
        t.elapsed()
    );
    let homework_id = assign(&server.url, &org).await?;

    let mut rng = StdRng::seed_from_u64(0x5eed_2024);
    let mut phones = Vec::with_capacity(students);
    for (index, (student_id, token)) in org.students.iter().enumerate() {
        let roll: f64 = rng.random();
        let fate = if roll < RECEIPT_LOST {
            Fate::ReceiptLost
        } else if roll < RECEIPT_LOST + CUT_IN_FLIGHT {
            Fate::Cut(Duration::from_micros(rng.random_range(0..=5_000)))
        } else {
            Fate::Clean
        };
        let photo = photos.photo(index);
        phones.push(Phone {
            index,
            student_id: student_id.clone(),
            token: token.clone(),
            at: window.mul_f64(rng.random::<f64>()),
            fate,
            backoff: Duration::from_millis(rng.random_range(1000..=2000)),
            key: format!("handin-{}", new_id()),
            chunk_sums: photo
                .chunks(CHUNK_BYTES)
                .map(|c| format!("sha256 {}", b64(&Sha256::digest(c))))
                .collect(),
            sha256: hex::encode(Sha256::digest(&photo)),
        });
    }
    phones.sort_by_key(|p| p.at);

    // Each phone its own client, so its own connection; made before the clock starts.
    let clients = phones
        .iter()
        .map(|_| {
            reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
        })
        .collect::<Result<Vec<_>, _>>()?;

    let cpu_before = Cpu::now(server.pid());
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (phone, http) in phones.iter().zip(clients) {
        let base = server.url.clone();
        let homework_id = homework_id.clone();
        let photos = photos.clone();
        let phone = phone.clone();
        tasks.spawn(async move {
            let index = phone.index;
            hand_in(&http, &base, &homework_id, phone, &photos, started)
                .await
                .with_context(|| format!("phone {index}"))
        });
    }
    let mut outcomes = Vec::with_capacity(students);
    let mut errors = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined? {
            Ok(o) => outcomes.push(o),
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    let elapsed = started.elapsed();
    let cpu_after = Cpu::now(server.pid());
    let peak_rss = server.peak_rss_kib();

    report(
        &outcomes,
        elapsed,
        window,
        students,
        &cpu_before,
        &cpu_after,
        peak_rss,
    );
    if !errors.is_empty() {
        errors.sort();
        for e in errors.iter().take(10) {
            println!("  failed: {e}");
        }
        bail!("{} of {students} phones failed", errors.len());
    }
    let t = Instant::now();
    verify(&db, data.path(), &homework_id, &phones, &outcomes, photos).await?;
    println!(
        "verified in the database ({:.1?}): {students} submissions, one attempt each, each with \
         its photo; every blob equals the student's photo; no upload left unused",
        t.elapsed()
    );
    db.pool().close().await;
    drop(server);
    Ok(())
}

/// One phone: upload the photo with tus, then hand in, as the core does.
async fn hand_in(
    http: &reqwest::Client,
    base: &str,
    homework_id: &str,
    phone: Phone,
    photos: &Photos,
    spike_start: Instant,
) -> anyhow::Result<Outcome> {
    let scheduled = spike_start + phone.at;
    tokio::time::sleep_until(scheduled.into()).await;
    let lag = scheduled.elapsed();
    let photo = photos.photo(phone.index);
    let mut steps = Vec::with_capacity(4);

    let t = Instant::now();
    let metadata = [
        (meta::PURPOSE, "submission"),
        (meta::KIND, "photo"),
        (meta::FILE_NAME, "page1.jpg"),
        (meta::CONTENT_TYPE, "image/jpeg"),
        (meta::HOMEWORK_ID, homework_id),
    ]
    .iter()
    .map(|(k, v)| format!("{k} {}", b64(v.as_bytes())))
    .collect::<Vec<_>>()
    .join(",");
    let r = http
        .post(format!("{base}/v1/uploads"))
        .bearer_auth(&phone.token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", photo.len())
        .header("Upload-Metadata", metadata)
        .send()
        .await
        .context("create upload")?;
    ensure!(r.status() == StatusCode::CREATED, "create: {}", r.status());
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .context("no Location")?
        .to_owned();
    let upload_id = location.rsplit('/').next().unwrap_or_default().to_owned();
    steps.push(t.elapsed());

    let mut offset = 0;
    for (chunk, sum) in photo.chunks(CHUNK_BYTES).zip(&phone.chunk_sums) {
        let t = Instant::now();
        let r = http
            .patch(format!("{base}{location}"))
            .bearer_auth(&phone.token)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Offset", offset)
            .header("Content-Type", "application/offset+octet-stream")
            .header("Upload-Checksum", sum)
            .body(chunk.to_vec())
            .send()
            .await
            .context("patch")?;
        let status = r.status();
        let new_offset = r
            .headers()
            .get("upload-offset")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        ensure!(
            status == StatusCode::NO_CONTENT && new_offset == Some(offset + chunk.len()),
            "patch at {offset}: {status}, offset {new_offset:?}"
        );
        offset += chunk.len();
        steps.push(t.elapsed());
    }

    let body = json!({"upload_ids": [upload_id]});
    let submit = || {
        http.post(format!("{base}/v1/homework/{homework_id}/submissions"))
            .bearer_auth(&phone.token)
            .header(IDEMPOTENCY_KEY_HEADER, &phone.key)
            .json(&body)
            .send()
    };
    let t = Instant::now();
    let first = match phone.fate {
        Fate::Clean | Fate::ReceiptLost => Some(receipt(submit().await.context("hand in")?).await?),
        Fate::Cut(after) => {
            // Dropping the request closes its connection, wherever it had got to.
            let _ = tokio::time::timeout(after, submit()).await;
            None
        }
    };
    steps.push(t.elapsed());
    let (submission, replayed) = match (phone.fate, first) {
        (Fate::Clean, Some(first)) => first,
        (_, first) => {
            tokio::time::sleep(phone.backoff).await;
            let (again, replayed) = receipt(submit().await.context("hand in again")?).await?;
            if let Some((first, _)) = first {
                ensure!(
                    replayed && again == first,
                    "the repeated hand-in did not replay the first receipt"
                );
            }
            (again, replayed)
        }
    };
    let latency = scheduled.elapsed();
    ensure!(
        submission.attempts.len() == 1
            && submission.attempts[0].attachments.len() == 1
            && submission.attempts[0].attachments[0].id == upload_id,
        "the receipt does not hold exactly this upload in one attempt"
    );
    Ok(Outcome {
        index: phone.index,
        fate: phone.fate,
        lag,
        latency,
        steps,
        upload_id,
        submission_id: submission.id,
        replayed,
    })
}

/// A 201 hand-in answer: the submission, and whether it was replayed.
async fn receipt(r: reqwest::Response) -> anyhow::Result<(Submission, bool)> {
    let status = r.status();
    let replayed = r.headers().contains_key("idempotent-replayed");
    let text = r.text().await?;
    ensure!(status == StatusCode::CREATED, "hand in: {status}: {text}");
    Ok((serde_json::from_str(&text)?, replayed))
}

// ---------------------------------------------------------------------------------------------
// The school.

struct Org {
    teacher_token: String,
    classes: Vec<String>,
    /// (student id, access token), in student order.
    students: Vec<(String, String)>,
}

/// One main school, classes of 50 with one teacher who teaches them all (so one homework
/// reaches every student), one parent per student (the hand-in is announced to them too), and
/// everyone signed in.
async fn fixture(db: &Db, students: usize, password_hash: &str) -> anyhow::Result<Org> {
    // The server created the signing key at its start; this loads the same one.
    let keys = TokenKeys::load(db, 3600).await?;
    let mut tx = db.begin_write().await?;
    let school = new_id();
    fixtures::insert_school(&mut tx, &school, "城关中心小学", "main").await?;
    let teacher = new_id();
    fixtures::insert_user(&mut tx, &teacher, "t_spike", "王老师", password_hash).await?;
    let mut classes = Vec::new();
    let mut signed_in = Vec::with_capacity(students);
    for c in 0..students.div_ceil(CLASS_SIZE) {
        let class = new_id();
        fixtures::insert_class(
            &mut tx,
            &class,
            &school,
            &format!("三年级({})班", c + 1),
            "3",
        )
        .await?;
        fixtures::insert_membership(&mut tx, &teacher, "teacher", &school, &class, "").await?;
        for s in c * CLASS_SIZE..((c + 1) * CLASS_SIZE).min(students) {
            let student = new_id();
            let parent = new_id();
            fixtures::insert_user(&mut tx, &student, &format!("s_{s}"), "学生", password_hash)
                .await?;
            fixtures::insert_user(&mut tx, &parent, &format!("p_{s}"), "家长", password_hash)
                .await?;
            fixtures::insert_membership(&mut tx, &student, "student", &school, &class, "").await?;
            fixtures::insert_membership(&mut tx, &parent, "parent", "", "", &student).await?;
            let token = fixtures::sign_in(&mut tx, &keys, &student).await?;
            signed_in.push((student, token));
        }
        classes.push(class);
    }
    let teacher_token = fixtures::sign_in(&mut tx, &keys, &teacher).await?;
    tx.commit().await?;
    Ok(Org {
        teacher_token,
        classes,
        students: signed_in,
    })
}

/// The teacher gives one photo homework to every class, due in an hour.
async fn assign(base: &str, org: &Org) -> anyhow::Result<String> {
    let due_at = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)?
        .as_millis() as i64
        + 3_600_000;
    let r = reqwest::Client::new()
        .post(format!("{base}/v1/homework"))
        .bearer_auth(&org.teacher_token)
        .json(&json!({
            "title": "看图写话",
            "instructions": "拍下作业本第一页。",
            "class_ids": org.classes,
            "due_at": due_at,
            "accepted_kinds": ["photo"],
            "max_score": 100,
        }))
        .send()
        .await?;
    let status = r.status();
    let body: serde_json::Value = r.json().await?;
    ensure!(status == StatusCode::CREATED, "assign: {status}: {body}");
    Ok(body["id"].as_str().context("homework id")?.to_owned())
}

// ---------------------------------------------------------------------------------------------
// Photos: 500 KB of noise (a JPEG does not compress further either), stamped per student.

#[derive(Clone)]
struct Photos {
    bases: Arc<Vec<Vec<u8>>>,
}

impl Photos {
    fn new() -> Photos {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let bases = (0..BASE_PHOTOS)
            .map(|_| {
                (0..PHOTO_BYTES)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        x as u8
                    })
                    .collect()
            })
            .collect();
        Photos {
            bases: Arc::new(bases),
        }
    }

    fn photo(&self, student: usize) -> Vec<u8> {
        let mut photo = self.bases[student % BASE_PHOTOS].clone();
        let stamp = format!("student {student:08}");
        photo[..stamp.len()].copy_from_slice(stamp.as_bytes());
        photo
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

// ---------------------------------------------------------------------------------------------
// Checking what the server kept.

async fn verify(
    db: &Db,
    data_dir: &Path,
    homework_id: &str,
    phones: &[Phone],
    outcomes: &[Outcome],
    photos: &Photos,
) -> anyhow::Result<()> {
    let pool = db.pool();
    let n = phones.len() as i64;
    let count = |sql: &'static str| async move {
        let row = sqlx::query(sql).bind(homework_id).fetch_one(pool).await?;
        anyhow::Ok(row.try_get::<i64, _>(0)?)
    };
    let submissions = count("SELECT COUNT(*) FROM submissions WHERE homework_id = $1").await?;
    let students =
        count("SELECT COUNT(DISTINCT student_id) FROM submissions WHERE homework_id = $1").await?;
    let repeated =
        count("SELECT COUNT(*) FROM submissions WHERE homework_id = $1 AND attempts <> 1").await?;
    let attempts = count(
        "SELECT COUNT(*) FROM submission_attempts a JOIN submissions s ON s.id = a.submission_id \
         WHERE s.homework_id = $1",
    )
    .await?;
    let uploads = count("SELECT COUNT(*) FROM uploads WHERE homework_id = $1").await?;
    let unused = count(
        "SELECT COUNT(*) FROM uploads WHERE homework_id = $1 AND (attached_at IS NULL OR completed_at IS NULL)",
    )
    .await?;
    ensure!(
        (submissions, students, repeated, attempts, uploads, unused) == (n, n, 0, n, n, 0),
        "expected {n} submissions of {n} students with one attempt each and {n} uploads all \
         used; found {submissions} submissions, {students} students, {repeated} with more than \
         one attempt, {attempts} attempts, {uploads} uploads, {unused} unused"
    );

    let rows = sqlx::query(
        "SELECT s.student_id, s.id, at.id, at.size, at.sha256 FROM submissions s \
         JOIN attempt_attachments aa ON aa.submission_id = s.id AND aa.number = 1 \
         JOIN attachments at ON at.id = aa.attachment_id WHERE s.homework_id = $1",
    )
    .bind(homework_id)
    .fetch_all(pool)
    .await?;
    ensure!(rows.len() == phones.len(), "{} attachments", rows.len());
    let mut stored = HashMap::new();
    for r in &rows {
        let student: String = r.try_get(0)?;
        let entry = (
            r.try_get::<String, _>(1)?,
            r.try_get::<String, _>(2)?,
            r.try_get::<i64, _>(3)?,
            r.try_get::<String, _>(4)?,
        );
        ensure!(
            stored.insert(student, entry).is_none(),
            "a student has two attachments"
        );
    }
    let by_index: HashMap<usize, &Outcome> = outcomes.iter().map(|o| (o.index, o)).collect();
    let blobs = Blobs::under(data_dir)?;
    let mut seen_submissions = HashSet::new();
    for phone in phones {
        let (submission, attachment, size, sha256) = stored
            .get(&phone.student_id)
            .with_context(|| format!("student {} has no submission", phone.index))?;
        let outcome = by_index[&phone.index];
        ensure!(
            *submission == outcome.submission_id && *attachment == outcome.upload_id,
            "student {}: the database disagrees with the receipt",
            phone.index
        );
        ensure!(seen_submissions.insert(submission.clone()));
        ensure!(
            *size == PHOTO_BYTES as i64 && *sha256 == phone.sha256,
            "student {}: stored size {size} / sha256 differ",
            phone.index
        );
        let bytes = tokio::fs::read(blobs.path(attachment)).await?;
        ensure!(
            bytes == photos.photo(phone.index),
            "student {}: the stored bytes are not the photo",
            phone.index
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Figures.

fn spread(mut d: Vec<Duration>) -> String {
    d.sort();
    format!(
        "p50 {:.0} / p90 {:.0} / p99 {:.0} / max {:.0} ms",
        ms(pct(&d, 50.0)),
        ms(pct(&d, 90.0)),
        ms(pct(&d, 99.0)),
        ms(pct(&d, 100.0))
    )
}

fn report(
    outcomes: &[Outcome],
    elapsed: Duration,
    window: Duration,
    students: usize,
    before: &Cpu,
    after: &Cpu,
    peak_rss_kib: Option<u64>,
) {
    let done = outcomes.len();
    let (clean, lossy): (Vec<&Outcome>, Vec<&Outcome>) =
        outcomes.iter().partition(|o| o.fate == Fate::Clean);
    let lost_receipt = lossy.iter().filter(|o| o.fate == Fate::ReceiptLost).count();
    let cut = lossy.len() - lost_receipt;
    let cut_replayed = lossy
        .iter()
        .filter(|o| matches!(o.fate, Fate::Cut(_)) && o.replayed)
        .count();
    // From the spike's start to the last receipt.
    let span = elapsed.as_secs_f64();
    println!(
        "delivered {done}/{students} in {span:.1} s (window {} s): {:.1} submissions/s, {:.1} MB/s \
         of photos",
        window.as_secs(),
        done as f64 / span,
        (done * PHOTO_BYTES) as f64 / 1e6 / span
    );
    println!(
        "lost responses: {lost_receipt} receipts lost (all replayed, equal to the first), \
         {cut} connections cut in flight ({cut_replayed} of them had been committed and were \
         replayed); duplicates: checked below"
    );
    let latencies = |v: &[&Outcome]| v.iter().map(|o| o.latency).collect::<Vec<_>>();
    let mut clean_lat = latencies(&clean);
    clean_lat.sort();
    let p99 = pct(&clean_lat, 99.0);
    println!(
        "latency, start of upload to receipt, phones that lost nothing (n={}): {} \
         (target p99 < {} ms: {})",
        clean.len(),
        spread(clean_lat.clone()),
        TARGET_P99.as_millis(),
        if p99 < TARGET_P99 { "met" } else { "MISSED" }
    );
    println!(
        "latency, phones that lost a response (n={}, includes the core's 1-2 s backoff): {}",
        lossy.len(),
        spread(latencies(&lossy))
    );
    println!(
        "latency, all phones (n={done}): {}",
        spread(latencies(&outcomes.iter().collect::<Vec<_>>()))
    );
    let step = |i: usize| {
        let mut v: Vec<Duration> = clean
            .iter()
            .filter_map(|o| o.steps.get(i).copied())
            .collect();
        v.sort();
        format!("{:.0}/{:.0}", ms(pct(&v, 50.0)), ms(pct(&v, 99.0)))
    };
    let patches = PHOTO_BYTES.div_ceil(CHUNK_BYTES);
    let mut line = format!("per request, p50/p99 ms: create {}", step(0));
    for p in 0..patches {
        line.push_str(&format!(", patch {} {}", p + 1, step(1 + p)));
    }
    line.push_str(&format!(", hand-in {}", step(1 + patches)));
    println!("{line}");
    println!(
        "bench start lag: {}",
        spread(outcomes.iter().map(|o| o.lag).collect())
    );
    let secs = (after.at - before.at).as_secs_f64();
    let share = |ticks: u64| ticks as f64 / 100.0 / secs * 100.0;
    println!(
        "cpu over the spike (% of one core): server {:.0} %, bench phones {:.0} %, everything \
         else (database, other processes) {:.0} %, idle {:.0} % of {} cores",
        share(after.server - before.server),
        share(after.bench - before.bench),
        share(
            (after.busy - before.busy)
                .saturating_sub(after.server - before.server)
                .saturating_sub(after.bench - before.bench)
        ),
        share(after.idle - before.idle),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    match peak_rss_kib {
        Some(kib) => println!("server peak RSS: {:.0} MiB", kib as f64 / 1024.0),
        None => println!("server peak RSS: not measurable here"),
    }
    println!("after the spike: {}", bench::machine());
}

/// CPU ticks (1/100 s) from /proc: the server process, this process, the whole machine.
struct Cpu {
    at: Instant,
    server: u64,
    bench: u64,
    busy: u64,
    idle: u64,
}

impl Cpu {
    fn now(server_pid: u32) -> Cpu {
        let (busy, idle) = bench::machine_ticks();
        Cpu {
            at: Instant::now(),
            server: bench::cpu_ticks(server_pid),
            bench: bench::cpu_ticks(std::process::id()),
            busy,
            idle,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The server process and its database.

/// `lianxiao-server serve` on a free port; killed when dropped.
struct ServerProcess {
    child: Child,
    url: String,
}

impl ServerProcess {
    fn start(binary: &Path, data_dir: &Path, database_url: Option<&str>) -> anyhow::Result<Self> {
        let log = std::fs::File::create(data_dir.join("server.log"))?;
        let mut cmd = Command::new(binary);
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .env_remove("DATABASE_URL")
            // As every test server (tests/src/lib.rs): no quiet hours nor digest window, so the
            // bench measures the same work at any hour of the day.
            .env("LIANXIAO_PUSH_QUIET_HOURS", "none")
            .env("LIANXIAO_PUSH_DIGEST_WINDOW_SECS", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log);
        if let Some(url) = database_url {
            cmd.env("DATABASE_URL", url);
        }
        let mut child = cmd.spawn().context("cannot start lianxiao-server")?;
        let stdout = child.stdout.take().context("stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().transpose()?.unwrap_or_default();
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let url = first
            .strip_prefix("lianxiao-server listening on ")
            .map(|u| u.trim().trim_end_matches('/').to_owned());
        let mut server = ServerProcess {
            child,
            url: String::new(),
        };
        server.url = url.with_context(|| format!("the server said {first:?}"))?;
        Ok(server)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's resident high-water mark (VmHWM), in KiB.
    fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A database of the bench's own on the PostgreSQL server named by an admin URL.
struct PgDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl PgDatabase {
    async fn create(admin_url: &str) -> anyhow::Result<PgDatabase> {
        let name = format!("lianxiao_spike_{:016x}", rand::random::<u64>());
        let mut url = reqwest::Url::parse(admin_url).context("the PostgreSQL URL is no URL")?;
        url.set_path(&format!("/{name}"));
        admin_sql(admin_url, &format!("CREATE DATABASE \"{name}\"")).await?;
        Ok(PgDatabase {
            admin_url: admin_url.to_owned(),
            name,
            url: url.to_string(),
        })
    }

    async fn drop_it(self) {
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        if let Err(e) = admin_sql(&self.admin_url, &sql).await {
            println!("could not drop {}: {e:#}", self.name);
        }
    }
}

async fn admin_sql(admin_url: &str, sql: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(admin_url)
        .await
        .context("cannot connect to PostgreSQL")?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}
