//! Benchmark: a fresh phone syncing 5,000 notices into an empty store.
//!
//! 1. *Raw SQLite*: rusqlite inserting 5,000 notice-shaped rows (id, title, ~200 bytes of
//!    Chinese body, author, two timestamps, a JSON column) with one prepared statement in one
//!    transaction into a WAL database in the same temp directory: the ceiling on this disk.
//! 2. *End to end*: the reference server in this process (SQLite), the parent of a class
//!    with 5,000 notices signs in on a new device, and `client.sync_now()` is timed from an
//!    empty store until done: the server producing pages, loopback HTTP, decoding, applying.
//! 3. *Server side only*: one untimed sync through a recording proxy keeps the pages exactly
//!    as the core asks for them (its page size, its cursors); those requests are then sent
//!    again with plain reqwest and timed (no decoding, no store).
//! 4. *Core side only*: the recorded pages served back from memory by that proxy, and a fresh
//!    device's `sync_now()` timed against it: loopback HTTP, decoding and applying, with
//!    (almost) nothing left of the server.
//!
//! `cargo bench -p lianxiao-core --bench sync_notices`

mod common;

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Bytes,
    extract::{RawQuery, State},
    http::{
        HeaderMap, StatusCode,
        header::{AUTHORIZATION, CONTENT_TYPE},
    },
    response::{IntoResponse, Response},
    routing::{get, post},
};
use common::{median, ms};
use lianxiao_core::{NoticeFilter, protocol::SyncPage};
use lianxiao_server::db::{new_id, now_ms};
use rusqlite::{Connection, params};

const NOTICES: usize = 5_000;
const ROUNDS: usize = 5;
/// Notices posted through the HTTP API to time that way of writing the fixture.
const API_SAMPLE: usize = 200;

fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut raw = Vec::new();
    for _ in 0..ROUNDS {
        raw.push(raw_inserts(NOTICES)?.as_secs_f64());
    }
    let raw_s = median(&mut raw);
    println!(
        "raw SQLite: {NOTICES} rows in {:.1} ms (median of {ROUNDS}) = {:.0} rows/s",
        raw_s * 1000.0,
        NOTICES as f64 / raw_s
    );
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(raw_s))
}

async fn run(raw_s: f64) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = common::start_server(&dir.path().join("server")).await?;
    let db = server.state.db().clone();
    let org = common::org(&db).await?;
    let t = Instant::now();
    common::notices_sql(&db, &org, NOTICES).await?;
    let sql_fixture = t.elapsed();
    let api = common::post_through_api(&server, &org, API_SAMPLE).await?;
    let per_post = api.as_secs_f64() / API_SAMPLE as f64;
    println!(
        "fixture: {NOTICES} notices by SQL in {:.2?}; through POST /v1/notices {:.1} ms each \
         ({API_SAMPLE} timed), {:.1} s for {NOTICES}",
        sql_fixture,
        per_post * 1000.0,
        per_post * NOTICES as f64
    );

    // End to end.
    let mut e2e = Vec::new();
    for round in 0..ROUNDS {
        let device = tempfile::tempdir_in(dir.path())?;
        let (_accounts, client) = common::sign_in_parent(device.path(), &server.url()).await?;
        let t = Instant::now();
        client.sync_now().await?;
        let took = t.elapsed();
        check(&client).await?;
        println!(
            "end to end, round {round}: {:.0} ms = {:.0} notices/s",
            ms(took),
            NOTICES as f64 / took.as_secs_f64()
        );
        e2e.push(took.as_secs_f64());
    }
    let e2e_s = median(&mut e2e);

    // Record the pages exactly as the core asks for them (its page size, its cursors): one
    // untimed sync through a proxy that keeps every `/v1/sync` answer.
    let stub = stub_server(server.url()).await?;
    {
        let device = tempfile::tempdir_in(dir.path())?;
        let (_accounts, client) =
            common::sign_in_parent(device.path(), &format!("http://{}", stub.addr)).await?;
        client.sync_now().await?;
        check(&client).await?;
    }
    stub.replay_only()?;
    let pages = stub.pages()?;

    // The server's part: the same requests, fetched and not decoded.
    let token = parent_token(&server, &org.parent).await?;
    let mut fetch = Vec::new();
    for _ in 0..ROUNDS {
        fetch.push(
            fetch_pages(&server.url(), &token, &pages)
                .await?
                .as_secs_f64(),
        );
    }
    let fetch_s = median(&mut fetch);
    let bytes: usize = pages.iter().map(|(_, b)| b.len()).sum();
    println!(
        "server side: {} pages as the core asks for them ({}; {:.1} MB of JSON) fetched in \
         {:.0} ms (median of {ROUNDS})",
        pages.len(),
        pages.first().map(|(q, _)| q.as_str()).unwrap_or(""),
        bytes as f64 / 1e6,
        fetch_s * 1000.0
    );

    // Decoding alone, as the core does it (`serde_json::from_slice` of each page).
    let t = Instant::now();
    for (_, body) in &pages {
        let page: SyncPage = serde_json::from_slice(body)?;
        std::hint::black_box(page);
    }
    let decode_s = t.elapsed().as_secs_f64();

    // The core's part: the same pages served from memory.
    let mut core = Vec::new();
    for round in 0..ROUNDS {
        let device = tempfile::tempdir_in(dir.path())?;
        let (_accounts, client) =
            common::sign_in_parent(device.path(), &format!("http://{}", stub.addr)).await?;
        let t = Instant::now();
        client.sync_now().await?;
        let took = t.elapsed();
        check(&client).await?;
        println!(
            "core side (pages from memory), round {round}: {:.0} ms = {:.0} notices/s",
            ms(took),
            NOTICES as f64 / took.as_secs_f64()
        );
        core.push(took.as_secs_f64());
    }
    let core_s = median(&mut core);

    let rate = |s: f64| NOTICES as f64 / s;
    println!();
    println!("{NOTICES} notices, medians of {ROUNDS}:");
    println!(
        "  raw SQLite insert            {:>7.1} ms  {:>8.0} /s",
        raw_s * 1e3,
        rate(raw_s)
    );
    println!(
        "  sync end to end              {:>7.1} ms  {:>8.0} /s  ratio to raw {:.3} (target >= 0.3)",
        e2e_s * 1e3,
        rate(e2e_s),
        raw_s / e2e_s
    );
    println!(
        "  server side (fetch pages)    {:>7.1} ms  {:>8.0} /s",
        fetch_s * 1e3,
        rate(fetch_s)
    );
    println!(
        "  core side (HTTP+decode+apply){:>7.1} ms  {:>8.0} /s  ratio to raw {:.3} (target >= 0.3)",
        core_s * 1e3,
        rate(core_s),
        raw_s / core_s
    );
    println!(
        "  of which decoding JSON       {:>7.1} ms  {:>8.0} /s",
        decode_s * 1e3,
        rate(decode_s)
    );
    server.stop().await;
    Ok(())
}

/// The store holds every notice once the sync is done.
async fn check(client: &lianxiao_core::Client) -> anyhow::Result<()> {
    let n = client.notices().list(NoticeFilter::default()).await?.len();
    anyhow::ensure!(n == NOTICES, "synced {n} notices, expected {NOTICES}");
    Ok(())
}

/// The rows a raw insert writes, built before the clock starts.
struct RawRow {
    id: String,
    title: String,
    posted_at: i64,
    extra: String,
}

/// 5,000 notice-shaped rows in one transaction with one prepared statement, WAL and
/// `synchronous = NORMAL` like the core's store, a text primary key and a time index like its
/// `notices` table.
fn raw_inserts(n: usize) -> anyhow::Result<Duration> {
    let dir = tempfile::tempdir()?;
    let mut conn = Connection::open(dir.path().join("raw.sqlite3"))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.execute_batch(
        "CREATE TABLE notices (id TEXT PRIMARY KEY, title TEXT NOT NULL, body TEXT NOT NULL, \
           author TEXT NOT NULL, posted_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, \
           extra TEXT NOT NULL);
         CREATE INDEX notices_by_time ON notices (posted_at DESC);",
    )?;
    let now = now_ms();
    let rows: Vec<RawRow> = (0..n)
        .map(|i| RawRow {
            id: new_id(),
            title: format!("第{}号通知：关于本周家长会的安排", i + 1),
            posted_at: now + i as i64,
            extra: serde_json::json!({
                "audience_label": "城关中心小学 · 三年级一班",
                "requires_ack": i % 2 == 1,
                "children": [{"id": new_id(), "name": "李小明"}],
            })
            .to_string(),
        })
        .collect();
    let author = new_id();
    let t = Instant::now();
    let tx = conn.transaction()?;
    {
        let mut stmt = tx.prepare(
            "INSERT INTO notices (id, title, body, author, posted_at, updated_at, extra) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)",
        )?;
        for r in &rows {
            stmt.execute(params![
                r.id,
                r.title,
                common::BODY,
                author,
                r.posted_at,
                r.extra
            ])?;
        }
    }
    tx.commit()?;
    Ok(t.elapsed())
}

/// An access token for the parent, minted like the server does at sign-in.
async fn parent_token(
    server: &lianxiao_server::RunningServer,
    parent: &str,
) -> anyhow::Result<String> {
    let session = new_id();
    sqlx::query("INSERT INTO sessions (id, user_id, created_at) VALUES ($1, $2, $3)")
        .bind(&session)
        .bind(parent)
        .bind(now_ms())
        .execute(server.state.db().pool())
        .await?;
    Ok(server
        .state
        .keys()
        .issue(parent, &session)
        .map_err(|e| anyhow::anyhow!("{:?}", e.body))?
        .0)
}

/// Asks the server for `pages` again (the query strings the core sent, in order); only the
/// HTTP requests are timed.
async fn fetch_pages(
    base: &str,
    token: &str,
    pages: &[(String, Bytes)],
) -> anyhow::Result<Duration> {
    let http = reqwest::Client::new();
    let t = Instant::now();
    for (query, _) in pages {
        let res = http
            .get(format!("{base}/v1/sync?{query}"))
            .bearer_auth(token)
            .send()
            .await?;
        anyhow::ensure!(res.status() == 200, "sync failed: {}", res.status());
        std::hint::black_box(res.bytes().await?);
    }
    Ok(t.elapsed())
}

/// A recording proxy in front of the real server: `GET /v1/sync` answers are kept by query
/// string; once `replay_only` is called they are served from memory and nothing else is.
struct Stub {
    addr: SocketAddr,
    state: Arc<StubState>,
}

#[derive(Default)]
struct Recorded {
    replay_only: bool,
    /// Query string -> body, in the order first asked.
    pages: Vec<(String, Bytes)>,
    index: HashMap<String, usize>,
}

struct StubState {
    upstream: String,
    http: reqwest::Client,
    recorded: Mutex<Recorded>,
}

impl Stub {
    fn replay_only(&self) -> anyhow::Result<()> {
        let mut r = self
            .state
            .recorded
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?;
        anyhow::ensure!(!r.pages.is_empty(), "no sync page was recorded");
        r.replay_only = true;
        Ok(())
    }

    fn pages(&self) -> anyhow::Result<Vec<(String, Bytes)>> {
        let r = self
            .state
            .recorded
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?;
        Ok(r.pages.clone())
    }
}

/// Passes sign-in and (until `replay_only`) sync through to `upstream`, recording sync pages.
async fn stub_server(upstream: String) -> anyhow::Result<Stub> {
    fn json(status: u16, body: Bytes) -> Response {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
        (status, [(CONTENT_TYPE, "application/json")], body).into_response()
    }
    async fn sync(
        State(stub): State<Arc<StubState>>,
        RawQuery(query): RawQuery,
        headers: HeaderMap,
    ) -> Response {
        let query = query.unwrap_or_default();
        {
            let r = stub.recorded.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(&i) = r.index.get(&query) {
                let body = r.pages[i].1.clone();
                return ([(CONTENT_TYPE, "application/json")], body).into_response();
            }
            if r.replay_only {
                return StatusCode::NOT_FOUND.into_response();
            }
        }
        let mut req = stub.http.get(format!("{}/v1/sync?{query}", stub.upstream));
        if let Some(auth) = headers.get(AUTHORIZATION) {
            req = req.header(AUTHORIZATION, auth.as_bytes());
        }
        let Ok(res) = req.send().await else {
            return StatusCode::BAD_GATEWAY.into_response();
        };
        let status = res.status().as_u16();
        let Ok(body) = res.bytes().await else {
            return StatusCode::BAD_GATEWAY.into_response();
        };
        if status == 200 {
            let mut r = stub.recorded.lock().unwrap_or_else(|e| e.into_inner());
            let i = r.pages.len();
            r.pages.push((query.clone(), body.clone()));
            r.index.insert(query, i);
        }
        json(status, body)
    }
    async fn login(State(stub): State<Arc<StubState>>, body: Bytes) -> Response {
        let res = stub
            .http
            .post(format!("{}/v1/auth/login", stub.upstream))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await;
        let Ok(res) = res else {
            return StatusCode::BAD_GATEWAY.into_response();
        };
        let status = res.status().as_u16();
        match res.bytes().await {
            Ok(body) => json(status, body),
            Err(_) => StatusCode::BAD_GATEWAY.into_response(),
        }
    }
    let state = Arc::new(StubState {
        upstream,
        http: reqwest::Client::new(),
        recorded: Mutex::new(Recorded::default()),
    });
    let app = Router::new()
        .route("/v1/sync", get(sync))
        .route("/v1/auth/login", post(login))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(Stub { addr, state })
}
