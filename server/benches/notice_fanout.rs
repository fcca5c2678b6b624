//! Benchmark: one notice to 10,000 families.
//!
//! Measures (1) the `POST /v1/notices` round trip that resolves recipients and writes one
//! receipt per family plus their feed rows, and (2) the time from that post until 1,000
//! devices connected to `/v1/events` have all heard about it. Runs on SQLite by default, on
//! PostgreSQL when `LIANXIAO_BENCH_PG_URL` names an empty database.
//!
//! `cargo bench -p lianxiao-server --bench notice_fanout`

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use futures::StreamExt;
use lianxiao_server::{
    ServerConfig,
    auth::TokenKeys,
    db::{Db, new_id, now_ms},
    fixtures,
};
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

const FAMILIES: usize = 10_000;
const CLASSES: usize = 200;
const CONNECTED: usize = 1_000;
const ROUNDS: usize = 5;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir()?;
    let mut config = ServerConfig::new(dir.path());
    config.listen = "127.0.0.1:0".parse()?;
    config.database_url = std::env::var("LIANXIAO_BENCH_PG_URL").ok();
    config.access_ttl_secs = 3600;
    let server = lianxiao_server::start(&config).await?;
    let db = server.state.db().clone();
    println!("backend: {}", db.backend().name());

    let t = Instant::now();
    let (teacher, parents, classes) = fixture(&db).await?;
    println!(
        "fixture: {FAMILIES} families in {CLASSES} classes written in {:.2?}",
        t.elapsed()
    );

    let keys = TokenKeys::load(&db, 3600).await?;
    let teacher_token = token(&db, &keys, &teacher).await?;
    let heard = Arc::new(AtomicUsize::new(0));
    let all_heard = Arc::new(Notify::new());
    let ws_base = format!("ws://{}", server.addr);
    let t = Instant::now();
    for parent in parents.iter().take(CONNECTED) {
        let token = token(&db, &keys, parent).await?;
        let mut req = format!("{ws_base}/v1/events").into_client_request()?;
        req.headers_mut()
            .insert("authorization", format!("Bearer {token}").parse()?);
        let (mut ws, _) = tokio_tungstenite::connect_async(req).await?;
        // The hello frame: the device is registered.
        ws.next().await;
        let (heard, all_heard) = (heard.clone(), all_heard.clone());
        tokio::spawn(async move {
            while let Some(Ok(msg)) = ws.next().await {
                if let Message::Text(text) = msg
                    && text.contains("\"changed\"")
                    && heard.fetch_add(1, Ordering::SeqCst) + 1 == CONNECTED
                {
                    all_heard.notify_one();
                }
            }
        });
    }
    println!(
        "connected {CONNECTED} realtime devices in {:.2?}",
        t.elapsed()
    );

    let http = reqwest::Client::new();
    let mut post_ms = Vec::new();
    let mut fanout_ms = Vec::new();
    for round in 0..ROUNDS {
        heard.store(0, Ordering::SeqCst);
        let body = serde_json::json!({
            "title": format!("全校通知 {round}"),
            "body": "明天上午九点举行全校家长会，请准时参加。",
            "requires_ack": true,
            "audience": {"scope": "classes", "class_ids": classes},
        });
        let waiting = all_heard.notified();
        tokio::pin!(waiting);
        waiting.as_mut().enable();
        let start = Instant::now();
        let res = http
            .post(format!("{}/v1/notices", server.url()))
            .bearer_auth(&teacher_token)
            .json(&body)
            .send()
            .await?;
        let posted = start.elapsed();
        anyhow::ensure!(res.status() == 201, "post failed: {}", res.status());
        tokio::time::timeout(Duration::from_secs(60), waiting).await?;
        let fanned = start.elapsed();
        println!(
            "round {round}: post (resolve + {FAMILIES} receipts) {:>7.1} ms; all {CONNECTED} devices told {:>7.1} ms",
            ms(posted),
            ms(fanned)
        );
        post_ms.push(ms(posted));
        fanout_ms.push(ms(fanned));
    }
    post_ms.sort_by(f64::total_cmp);
    fanout_ms.sort_by(f64::total_cmp);
    println!(
        "median: post {:.1} ms (target < 1000), realtime fan-out {:.1} ms (target < 1000)",
        post_ms[ROUNDS / 2],
        fanout_ms[ROUNDS / 2]
    );
    server.stop().await;
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn token(db: &Db, keys: &TokenKeys, user: &str) -> anyhow::Result<String> {
    let session = new_id();
    sqlx::query("INSERT INTO sessions (id, user_id, created_at) VALUES ($1, $2, $3)")
        .bind(&session)
        .bind(user)
        .bind(now_ms())
        .execute(db.pool())
        .await?;
    Ok(keys
        .issue(user, &session)
        .map_err(|e| anyhow::anyhow!("{:?}", e.body))?
        .0)
}

/// One school, CLASSES classes, one student and one parent per family, one teacher of every
/// class: written straight into the database (the roster import would hash 20,000 passwords).
async fn fixture(db: &Db) -> anyhow::Result<(String, Vec<String>, Vec<String>)> {
    let hash = lianxiao_server::auth::password::hash("bench-password".into()).await?;
    let mut tx = db.begin_write().await?;
    let school = new_id();
    fixtures::insert_school(&mut tx, &school, "城关中心小学", "main").await?;
    let teacher = new_id();
    fixtures::insert_user(&mut tx, &teacher, "t_bench", "王老师", &hash).await?;
    let mut classes = Vec::new();
    let mut parents = Vec::new();
    for c in 0..CLASSES {
        let class = new_id();
        fixtures::insert_class(&mut tx, &class, &school, &format!("班级 {c}"), "3").await?;
        fixtures::insert_membership(&mut tx, &teacher, "teacher", &school, &class, "").await?;
        for f in 0..FAMILIES / CLASSES {
            let student = new_id();
            let parent = new_id();
            fixtures::insert_user(&mut tx, &student, &format!("s_{c}_{f}"), "学生", &hash).await?;
            fixtures::insert_user(&mut tx, &parent, &format!("p_{c}_{f}"), "家长", &hash).await?;
            fixtures::insert_membership(&mut tx, &student, "student", &school, &class, "").await?;
            fixtures::insert_membership(&mut tx, &parent, "parent", "", "", &student).await?;
            parents.push(parent);
        }
        classes.push(class);
    }
    tx.commit().await?;
    Ok((teacher, parents, classes))
}
