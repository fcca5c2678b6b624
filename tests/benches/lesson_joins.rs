//! Benchmark: 200 people of a county lesson press "join" at the same moment (issue 5).
//!
//! An interactive lesson of 54 classes (the issue's largest seeded lesson: the main school's
//! lead class and 53 receiving classes, 1,700 students) on the release server, with LiveKit
//! configured by a dummy URL, key and secret: minting a token needs no LiveKit server. 200
//! students spread over all the classes sign in with their password (real `POST
//! /v1/auth/login`, one argon2 verification each) before anything is measured, and each opens
//! its own keep-alive connection. Then, five times, all 200 send `POST /v1/lessons/{id}/join`
//! at once (released together by a barrier); latency runs from each request's send to its
//! last byte. Every answer must be 200 with a LiveKit token of the student's role: errors must
//! be 0.
//!
//! ```sh
//! cargo build --release -p lianxiao-server && cargo bench -p lianxiao-tests --bench lesson_joins
//! ```
//!
//! Backends: SQLite, and PostgreSQL when `LIANXIAO_BENCH_PG_URL` or `LIANXIAO_TEST_PG_URL` is
//! set (a role that may create databases; a database is made for the run and dropped);
//! `LIANXIAO_BENCH_BACKENDS=sqlite` (or `postgres`) runs one.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, ensure};
use futures::{StreamExt, stream};
use lianxiao_tests::{
    Backend, DEMO_PASSWORD, TestServer,
    bench::{self, ms, pct},
};
use reqwest::StatusCode;
use serde_json::{Value, json};

const CLASSES: usize = 54;
const STUDENTS: usize = 1_700;
const JOINERS: usize = 200;
const BURSTS: usize = 5;
const LIVEKIT_URL: &str = "ws://127.0.0.1:7880";

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
    println!(
        "lesson joins: {JOINERS} of {STUDENTS} students in {CLASSES} classes join an interactive \
         lesson at once, {BURSTS} bursts; machine: {}",
        bench::machine()
    );
    let mut rows = Vec::new();
    for backend in bench::backends(&["sqlite", "postgres"]) {
        println!("\n== {} ==", bench::backend_name(&backend));
        rows.push((bench::backend_name(&backend), run(&backend).await?));
    }
    println!(
        "\n{:<11} {:>6} {:>8} {:>8} {:>8} {:>14} {:>7}  load",
        "backend", "joins", "p50", "p99", "max", "burst (median)", "errors"
    );
    for (name, r) in &rows {
        println!(
            "{name:<11} {:>6} {:>6.0}ms {:>6.0}ms {:>6.0}ms {:>12.0}ms {:>7}  {}",
            r.joins,
            ms(r.p50),
            ms(r.p99),
            ms(r.max),
            ms(r.burst_median),
            r.errors,
            r.load
        );
    }
    ensure!(rows.iter().all(|(_, r)| r.errors == 0), "some joins failed");
    Ok(())
}

struct Figures {
    joins: usize,
    p50: Duration,
    p99: Duration,
    max: Duration,
    burst_median: Duration,
    errors: usize,
    load: String,
}

async fn run(backend: &Backend) -> anyhow::Result<Figures> {
    let server = TestServer::start_with_env(
        backend,
        &[
            ("LIANXIAO_LIVEKIT_URL", LIVEKIT_URL),
            ("LIVEKIT_API_KEY", "bench-key"),
            (
                "LIVEKIT_API_SECRET",
                "bench-secret-of-at-least-32-characters",
            ),
        ],
    );
    let base = server.url();
    let county = bench::county(&server, CLASSES, STUDENTS).await?;
    let lesson = county
        .schedule(&base, "interactive", Duration::from_secs(120))
        .await?;
    // Every 8th or 9th student: all 54 classes are among them.
    let people: Vec<_> = (0..JOINERS)
        .map(|i| county.students[i * STUDENTS / JOINERS].clone())
        .collect();

    // Sign-ins, before anything is measured: each person's own client and connection.
    let t = Instant::now();
    let signed_in: Vec<(reqwest::Client, String)> = stream::iter(&people)
        .map(|p| {
            let base = &base;
            async move {
                let http = reqwest::Client::builder()
                    .timeout(Duration::from_secs(30))
                    .build()?;
                let r = http
                    .post(format!("{base}/v1/auth/login"))
                    .json(&json!({"login": p.login, "password": DEMO_PASSWORD}))
                    .send()
                    .await?;
                let status = r.status();
                let body: Value = r.json().await?;
                ensure!(status == StatusCode::OK, "login: {status}: {body}");
                let token = body["access_token"].as_str().context("token")?.to_owned();
                anyhow::Ok((http, token))
            }
        })
        .buffer_unordered(4)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    println!(
        "{JOINERS} sign-ins with their passwords in {:.1?} (4 at a time), not measured",
        t.elapsed()
    );
    let signed_in = Arc::new(signed_in);

    let server_pid = server.pid().context("server not running")?;
    let load = bench::LoadWatch::start();
    let cpu_before = bench::cpu_ticks(server_pid);
    let mut latencies = Vec::new();
    let mut bursts = Vec::new();
    let mut errors = Vec::new();
    for round in 0..BURSTS {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let barrier = Arc::new(tokio::sync::Barrier::new(JOINERS + 1));
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..JOINERS {
            let (signed_in, barrier, base, lesson) = (
                signed_in.clone(),
                barrier.clone(),
                base.clone(),
                lesson.clone(),
            );
            tasks.spawn(async move {
                let (http, token) = &signed_in[i];
                // Open the connection first, as a phone that has just synced has one.
                let _ = http.get(format!("{base}/v1/health")).send().await;
                barrier.wait().await;
                let t = Instant::now();
                let ticket = bench::join(http, &base, token, &lesson).await;
                let took = t.elapsed();
                let checked = ticket.and_then(|t| {
                    ensure!(
                        t["role"] == "student"
                            && t["livekit"]["url"] == LIVEKIT_URL
                            && t["livekit"]["token"]
                                .as_str()
                                .is_some_and(|s| s.len() > 100),
                        "not a student's LiveKit ticket: {t}"
                    );
                    Ok(())
                });
                (took, checked)
            });
        }
        barrier.wait().await;
        let burst = Instant::now();
        while let Some(r) = tasks.join_next().await {
            let (took, checked) = r?;
            latencies.push(took);
            if let Err(e) = checked {
                errors.push(format!("{e:#}"));
            }
        }
        let whole = burst.elapsed();
        bursts.push(whole);
        println!(
            "burst {}: all {JOINERS} answered within {:.0} ms",
            round + 1,
            ms(whole)
        );
    }
    let cpu = bench::cpu_ticks(server_pid) - cpu_before;
    let load = load.finish();
    latencies.sort();
    bursts.sort();
    let joins = latencies.len();
    println!(
        "{joins} joins: p50 {:.0} / p99 {:.0} / max {:.0} ms; server CPU {:.2} ms per join; \
         errors {}; {load}",
        ms(pct(&latencies, 50.0)),
        ms(pct(&latencies, 99.0)),
        ms(pct(&latencies, 100.0)),
        cpu as f64 * 10.0 / joins as f64,
        errors.len()
    );
    for e in errors.iter().take(5) {
        println!("  error: {e}");
    }
    Ok(Figures {
        joins,
        p50: pct(&latencies, 50.0),
        p99: pct(&latencies, 99.0),
        max: pct(&latencies, 100.0),
        burst_median: bursts[bursts.len() / 2],
        errors: errors.len(),
        load,
    })
}
