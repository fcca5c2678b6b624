//! Benchmark: a county-wide notice to 50,000 phones (issue 6).
//!
//! A county of 20 schools, 200 classes and 50,000 students, each with one parent whose phone
//! is registered for push: 60 % Getui, 30 % APNs, 10 % FCM, the providers being the local
//! fakes of `lianxiao_tests::push_fakes`, which check every request's format and
//! authentication as the real services would. People, phones and their links are written
//! straight into the server's database (the roster import would hash a password per person,
//! and registering 50,000 phones through the API measures something else). A county admin
//! then posts one notice to the county through the API; measured are the post itself (its
//! transaction queues a push per phone) and the time until the fakes have accepted every one
//! of the 50,000, with the server's peak resident memory and CPU time meanwhile. Every push
//! must arrive exactly once.
//!
//! ```sh
//! cargo build --release -p lianxiao-server && cargo bench -p lianxiao-tests --bench push_fanout
//! ```
//!
//! Backends: SQLite, and PostgreSQL when `LIANXIAO_BENCH_PG_URL` or `LIANXIAO_TEST_PG_URL` is
//! set; `LIANXIAO_BENCH_BACKENDS=sqlite` (or `postgres`) runs one. `LIANXIAO_BENCH_PHONES`
//! changes the size; `LIANXIAO_PUSH_CONCURRENCY` is passed on to the server.

use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use anyhow::{Context, ensure};
use lianxiao_server::{
    auth::TokenKeys,
    db::{Db, Tx, new_id, placeholders},
    fixtures,
};
use lianxiao_tests::{
    Backend, DEMO_PASSWORD, TestServer,
    bench::{self, ms},
    push_fakes::Fakes,
};
use serde_json::{Value, json};

const SCHOOLS: usize = 20;
const CLASSES: usize = 200;
const PHONES: usize = 50_000;
/// Rows per multi-row INSERT while seeding.
const CHUNK: usize = 500;

fn main() -> anyhow::Result<()> {
    lianxiao_tests::install_crypto_provider();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(run_all())
}

fn phones() -> usize {
    std::env::var("LIANXIAO_BENCH_PHONES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(PHONES)
}

async fn run_all() -> anyhow::Result<()> {
    bench::require_release_server()?;
    let phones = phones();
    println!(
        "push fan-out: one county notice to {phones} parents' phones ({SCHOOLS} schools, \
         {CLASSES} classes; Getui 60 %, APNs 30 %, FCM 10 %); machine: {}",
        bench::machine()
    );
    let mut rows = Vec::new();
    for backend in bench::backends(&["sqlite", "postgres"]) {
        println!("\n== {} ==", bench::backend_name(&backend));
        rows.push((bench::backend_name(&backend), run(&backend, phones).await?));
    }
    println!(
        "\n{:<11} {:>7} {:>9} {:>11} {:>10} {:>10} {:>9}  load",
        "backend", "phones", "post", "all sent", "pushes/s", "peak RSS", "CPU"
    );
    for (name, f) in &rows {
        println!(
            "{name:<11} {:>7} {:>7.0}ms {:>9.1}s {:>10.0} {:>7} MiB {:>8.1}s  {}",
            f.phones,
            ms(f.post),
            f.all_sent.as_secs_f64(),
            f.phones as f64 / f.all_sent.as_secs_f64(),
            f.peak_rss_kib / 1024,
            f.cpu_secs,
            f.load
        );
    }
    Ok(())
}

struct Figures {
    phones: usize,
    post: Duration,
    all_sent: Duration,
    peak_rss_kib: u64,
    cpu_secs: f64,
    load: String,
}

async fn run(backend: &Backend, phones: usize) -> anyhow::Result<Figures> {
    let fakes = Fakes::start().await;
    let mut env = fakes.env();
    if let Ok(c) = std::env::var("LIANXIAO_PUSH_CONCURRENCY") {
        env.push(("LIANXIAO_PUSH_CONCURRENCY".into(), c));
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = TestServer::start_with_env(backend, &env);
    let pid = server.pid().context("server pid")?;
    let t = Instant::now();
    let admin = seed(&server, phones).await?;
    println!(
        "seeded {phones} students, parents and phones in {:.1}s",
        t.elapsed().as_secs_f64()
    );

    let http = reqwest::Client::new();
    let load = bench::LoadWatch::start();
    let cpu_before = bench::cpu_ticks(pid);
    let rss_before = bench::rss_kib(pid);
    let start = Instant::now();
    let r = http
        .post(format!("{}/v1/notices", server.url()))
        .bearer_auth(&admin)
        .json(
            &json!({"title": "全县防汛通知", "body": "明日起全县中小学停课一天，请家长做好安排。",
                      "audience": {"scope": "county"}}),
        )
        .send()
        .await?;
    let status = r.status();
    let body: Value = r.json().await?;
    ensure!(status.as_u16() == 201, "post: {status}: {body}");
    let post = start.elapsed();
    println!("posted in {:.0} ms", ms(post));

    let mut peak = rss_before;
    let mut last_report = Instant::now();
    let all_sent = loop {
        let delivered: usize = fakes.all().iter().map(|f| f.delivered().len()).sum();
        peak = peak.max(bench::rss_kib(pid));
        if delivered >= phones {
            break start.elapsed();
        }
        if last_report.elapsed() > Duration::from_secs(10) {
            println!(
                "  {delivered} of {phones} after {:.0}s",
                start.elapsed().as_secs_f64()
            );
            last_report = Instant::now();
        }
        ensure!(
            start.elapsed() < Duration::from_secs(1800),
            "only {delivered} of {phones} pushes arrived in half an hour"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let cpu_secs = (bench::cpu_ticks(pid) - cpu_before) as f64 / 100.0;
    let load = load.finish();

    // Each phone once, nothing refused.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut tokens = HashSet::new();
    let mut total = 0;
    for fake in fakes.all() {
        ensure!(
            fake.rejections().is_empty(),
            "refused: {:?}",
            fake.rejections().first()
        );
        for d in fake.delivered() {
            total += 1;
            tokens.insert(d.token);
        }
    }
    if total != phones {
        // Why a push went twice: the server's word on retries.
        for line in server.log_tail(4000).lines() {
            if line.contains("retried") || line.contains("failed") || line.contains("gave up") {
                println!("  server: {line}");
            }
        }
    }
    ensure!(
        total == phones && tokens.len() == phones,
        "{total} pushes to {} phones, expected {phones} once each",
        tokens.len()
    );
    println!(
        "all {phones} handed over in {:.1}s; peak RSS {} MiB; server CPU {cpu_secs:.1}s",
        all_sent.as_secs_f64(),
        peak / 1024
    );
    Ok(Figures {
        phones,
        post,
        all_sent,
        peak_rss_kib: peak,
        cpu_secs,
        load,
    })
}

/// Rows of `width` bound values each, then the SQL `constants` (after a comma when not
/// empty), inserted `CHUNK` rows a statement.
async fn insert_rows(
    tx: &mut Tx,
    head: &str,
    width: usize,
    constants: &str,
    rows: &[Vec<String>],
) -> anyhow::Result<()> {
    for chunk in rows.chunks(CHUNK) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| {
                let bound = placeholders(1 + i * width, width);
                if constants.is_empty() {
                    format!("({bound})")
                } else {
                    format!("({bound}, {constants})")
                }
            })
            .collect();
        let sql = format!("{head} VALUES {}", values.join(", "));
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for row in chunk {
            for v in row {
                q = q.bind(v.clone());
            }
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// The county, its people and their phones; returns the county admin's access token.
async fn seed(server: &TestServer, phones: usize) -> anyhow::Result<String> {
    let db = Db::open(server.data_dir(), server.database_url().as_deref()).await?;
    let keys = TokenKeys::load(&db, 3600).await?;
    let hash = lianxiao_server::auth::password::hash(DEMO_PASSWORD.into()).await?;
    let mut tx = db.begin_write().await?;
    let mut classes = Vec::with_capacity(CLASSES);
    for s in 0..SCHOOLS {
        let school = new_id();
        let (name, kind) = if s == 0 {
            ("城关中心小学".to_owned(), "main")
        } else {
            (format!("第{s}分校"), "branch")
        };
        fixtures::insert_school(&mut tx, &school, &name, kind).await?;
        for c in 0..CLASSES / SCHOOLS {
            let class = new_id();
            fixtures::insert_class(&mut tx, &class, &school, &format!("{}年级(1)班", c + 1), "")
                .await?;
            classes.push((class, school.clone()));
        }
    }
    let (mut users, mut members, mut devices, mut links) = (
        Vec::with_capacity(2 * phones),
        Vec::with_capacity(2 * phones),
        Vec::with_capacity(phones),
        Vec::with_capacity(phones),
    );
    for i in 0..phones {
        let (class, school) = &classes[i % classes.len()];
        let (student, parent) = (new_id(), new_id());
        users.push(vec![
            student.clone(),
            format!("fan_s{i}"),
            "学生".into(),
            hash.clone(),
        ]);
        users.push(vec![
            parent.clone(),
            format!("fan_p{i}"),
            "家长".into(),
            hash.clone(),
        ]);
        members.push(vec![
            student.clone(),
            "student".into(),
            school.clone(),
            class.clone(),
            String::new(),
        ]);
        members.push(vec![
            parent.clone(),
            "parent".into(),
            school.clone(),
            class.clone(),
            student,
        ]);
        let provider = match i % 10 {
            0..=5 => ("android", "getui"),
            6..=8 => ("ios", "apns"),
            _ => ("android", "fcm"),
        };
        let device = format!("fanout-phone-{i:06}");
        devices.push(vec![
            device.clone(),
            provider.0.into(),
            provider.1.into(),
            format!("tok{i:06}"),
        ]);
        links.push(vec![device, parent]);
    }
    insert_rows(
        &mut tx,
        "INSERT INTO users (id, login, name, password_hash, created_at, updated_at)",
        4,
        "0, 0",
        &users,
    )
    .await?;
    insert_rows(
        &mut tx,
        "INSERT INTO memberships (user_id, role, school_id, class_id, child_id, subject)",
        5,
        "''",
        &members,
    )
    .await?;
    insert_rows(
        &mut tx,
        "INSERT INTO devices (id, platform, provider, token, app_version, locale, created_at, \
         updated_at)",
        4,
        "'1.0.0', 'zh-CN', 0, 0",
        &devices,
    )
    .await?;
    insert_rows(
        &mut tx,
        "INSERT INTO device_accounts (device_id, user_id, linked_at)",
        2,
        "0",
        &links,
    )
    .await?;
    let admin = new_id();
    fixtures::insert_user(&mut tx, &admin, "fan_county", "县教育局", &hash).await?;
    fixtures::insert_membership(&mut tx, &admin, "county_admin", "", "", "").await?;
    let token = fixtures::sign_in(&mut tx, &keys, &admin).await?;
    tx.commit().await?;
    db.pool().close().await;
    Ok(token)
}
