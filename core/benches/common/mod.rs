//! Shared by the core benches: the reference server in this process on an embedded SQLite, one
//! school with a class (a teacher, a student, the student's parent), N notices to that class
//! written straight into the server's database, and a fresh device signing the parent in.

#![allow(dead_code)] // Each bench uses part of this.

use std::{
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use lianxiao_core::{
    Accounts, ClientConfig, FileSecureStorage,
    protocol::{EntityKind, NoticeAudience},
};
use lianxiao_server::{
    RunningServer, ServerConfig,
    db::{Db, feed, new_id, now_ms},
    fixtures,
};

pub const PASSWORD: &str = "bench-password";
pub const PARENT_LOGIN: &str = "p_bench";

/// About 200 bytes of Chinese text, like a real notice body.
pub const BODY: &str = "各位家长：本周五下午三点在学校礼堂召开家长会，请准时参加。\
    会上将通报期中考试情况，并说明寒假安全注意事项。请收到后回执确认。";

/// The people and places of the fixture.
#[derive(Debug, Clone)]
pub struct Org {
    pub school: String,
    pub class: String,
    pub teacher: String,
    pub student: String,
    pub parent: String,
    /// A second class with its own family, for notices the parent must not see.
    pub other_class: String,
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The reference server on 127.0.0.1, its SQLite in `dir`.
pub async fn start_server(dir: &Path) -> anyhow::Result<RunningServer> {
    let mut config = ServerConfig::new(dir);
    config.listen = "127.0.0.1:0".parse()?;
    config.access_ttl_secs = 3600;
    lianxiao_server::start(&config).await
}

/// One school, two classes, a teacher of both, and one family per class; every one's
/// organisation announced in the feed as the roster import would.
pub async fn org(db: &Db) -> anyhow::Result<Org> {
    let hash = lianxiao_server::auth::password::hash(PASSWORD.into()).await?;
    let mut tx = db.begin_write().await?;
    let school = new_id();
    fixtures::insert_school(&mut tx, &school, "城关中心小学", "main").await?;
    let teacher = new_id();
    fixtures::insert_user(&mut tx, &teacher, "t_bench", "王老师", &hash).await?;
    let mut classes = Vec::new();
    let mut families = Vec::new();
    for (i, name) in ["三年级一班", "三年级二班"].into_iter().enumerate() {
        let class = new_id();
        fixtures::insert_class(&mut tx, &class, &school, name, "3").await?;
        fixtures::insert_membership(&mut tx, &teacher, "teacher", &school, &class, "").await?;
        let student = new_id();
        let parent = new_id();
        fixtures::insert_user(&mut tx, &student, &format!("s_bench_{i}"), "李小明", &hash).await?;
        let login = if i == 0 {
            PARENT_LOGIN.to_owned()
        } else {
            format!("p_other_{i}")
        };
        fixtures::insert_user(&mut tx, &parent, &login, "李小明家长", &hash).await?;
        fixtures::insert_membership(&mut tx, &student, "student", &school, &class, "").await?;
        fixtures::insert_membership(&mut tx, &parent, "parent", "", "", &student).await?;
        classes.push(class);
        families.push((student, parent));
    }
    let seq = feed::next_seq(&mut tx).await?;
    for id in [&teacher, &families[0].0, &families[0].1, &families[1].1] {
        lianxiao_server::org::refresh_feed(&mut tx, seq, id).await?;
    }
    tx.commit().await?;
    let (student, parent) = families.swap_remove(0);
    Ok(Org {
        school,
        class: classes[0].clone(),
        teacher,
        student,
        parent,
        other_class: classes[1].clone(),
    })
}

/// `n` notices from the teacher to the class, one a minute up to now, in one transaction:
/// row for row what `notices::post` writes for a one-class audience (the notice, its class,
/// the parent's target and receipt, the next sequence number, and feed rows for the parent and
/// for the author's notice and receipt summary).
pub async fn notices_sql(db: &Db, org: &Org, n: usize) -> anyhow::Result<()> {
    let audience = serde_json::to_string(&NoticeAudience::Classes {
        class_ids: vec![org.class.clone()],
    })?;
    let start = now_ms() - n as i64 * 60_000;
    let mut tx = db.begin_write().await?;
    for i in 0..n {
        let id = new_id();
        sqlx::query(
            "INSERT INTO notices (id, author_id, title, body, audience, audience_label, \
             include_students, requires_ack, ack_deadline, posted_at) \
             VALUES ($1, $2, $3, $4, $5, '城关中心小学 · 三年级一班', 0, $6, NULL, $7)",
        )
        .bind(&id)
        .bind(&org.teacher)
        .bind(format!("第{}号通知：关于本周家长会的安排", i + 1))
        .bind(BODY)
        .bind(&audience)
        .bind((i % 2) as i64)
        .bind(start + i as i64 * 60_000)
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO notice_classes (notice_id, class_id) VALUES ($1, $2)")
            .bind(&id)
            .bind(&org.class)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO notice_targets (notice_id, user_id, class_id, child_id) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&id)
        .bind(&org.parent)
        .bind(&org.class)
        .bind(&org.student)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO notice_receipts (notice_id, user_id, role) VALUES ($1, $2, 'parent')",
        )
        .bind(&id)
        .bind(&org.parent)
        .execute(&mut *tx)
        .await?;
        let seq = feed::next_seq(&mut tx).await?;
        feed::touch(&mut tx, seq, &org.parent, EntityKind::Notice, &id, false).await?;
        feed::touch(&mut tx, seq, &org.teacher, EntityKind::Notice, &id, false).await?;
        feed::touch(
            &mut tx,
            seq,
            &org.teacher,
            EntityKind::ReceiptSummary,
            &id,
            false,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Posts `n` notices through `POST /v1/notices` to the *other* class (so the parent under
/// test never sees them) and returns the time taken: to decide whether the fixture could be
/// written through the API instead.
pub async fn post_through_api(
    server: &RunningServer,
    org: &Org,
    n: usize,
) -> anyhow::Result<Duration> {
    let db = server.state.db();
    let session = new_id();
    sqlx::query("INSERT INTO sessions (id, user_id, created_at) VALUES ($1, $2, $3)")
        .bind(&session)
        .bind(&org.teacher)
        .bind(now_ms())
        .execute(db.pool())
        .await?;
    let token = server
        .state
        .keys()
        .issue(&org.teacher, &session)
        .map_err(|e| anyhow::anyhow!("{:?}", e.body))?
        .0;
    let http = reqwest::Client::new();
    let t = Instant::now();
    for i in 0..n {
        let res = http
            .post(format!("{}/v1/notices", server.url()))
            .bearer_auth(&token)
            .json(&serde_json::json!({
                "title": format!("第{}号通知：关于本周家长会的安排", i + 1),
                "body": BODY,
                "requires_ack": true,
                "audience": {"scope": "classes", "class_ids": [org.other_class]},
            }))
            .send()
            .await?;
        anyhow::ensure!(res.status() == 201, "post failed: {}", res.status());
    }
    Ok(t.elapsed())
}

/// A device: its data directory and token file under `dir`, talking to `server_url`.
pub fn device(dir: &Path, server_url: &str) -> ClientConfig {
    ClientConfig {
        server_url: server_url.to_owned(),
        data_dir: dir.join("data"),
        secure_storage: Arc::new(FileSecureStorage::new(dir.join("tokens.json"))),
    }
}

/// A fresh device with the parent signed in (nothing synced yet, no background tasks).
pub async fn sign_in_parent(
    dir: &Path,
    server_url: &str,
) -> anyhow::Result<(Accounts, lianxiao_core::Client)> {
    let accounts = Accounts::open(device(dir, server_url))?;
    let client = accounts
        .sign_in(PARENT_LOGIN.into(), PASSWORD.into())
        .await?;
    Ok((accounts, client))
}
