//! The server's database: SQLite in the data directory by default, PostgreSQL when
//! `DATABASE_URL` names one. One schema and one set of queries serve both (sqlx's `Any`
//! driver, `$N` placeholders, portable types).

use std::{path::Path, str::FromStr, time::Duration};

use sqlx::{
    Any, AnyPool, Executor,
    any::{AnyConnectOptions, AnyPoolOptions},
};

pub mod feed;

pub type Tx = sqlx::Transaction<'static, Any>;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgresql",
        }
    }
}

#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    url: String,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend)
            .finish()
    }
}

impl Db {
    /// Opens the database named by `database_url`, or `lianxiao.sqlite3` in `data_dir`, and
    /// brings its schema up to date.
    pub async fn open(data_dir: &Path, database_url: Option<&str>) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let url = match database_url {
            Some(url) => url.to_owned(),
            None => {
                std::fs::create_dir_all(data_dir)?;
                format!(
                    "sqlite://{}?mode=rwc",
                    data_dir.join("lianxiao.sqlite3").display()
                )
            }
        };
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            anyhow::bail!("DATABASE_URL must be a postgres:// or sqlite: URL");
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let pool_options = match backend {
            Backend::Sqlite => {
                AnyPoolOptions::new()
                    .max_connections(8)
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
            }
            Backend::Postgres => AnyPoolOptions::new().max_connections(16),
        };
        let pool = pool_options
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Db { pool, backend, url })
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Starts a transaction that will write. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so two writers never deadlock upgrading their locks.
    ///
    /// BEGIN runs in a task of its own so that it always completes: sqlx 0.9's PostgreSQL
    /// driver, dropped while BEGIN is in flight (axum drops the handler of a phone that hangs
    /// up), returns the connection to the pool inside a transaction nothing ends, where later
    /// requests' writes stay uncommitted. A finished BEGIN that nobody awaits any more is
    /// dropped as a whole transaction, and that rolls back.
    pub async fn begin_write(&self) -> sqlx::Result<Tx> {
        let (pool, backend) = (self.pool.clone(), self.backend);
        tokio::spawn(async move {
            match backend {
                Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
                Backend::Postgres => pool.begin().await,
            }
        })
        .await
        .map_err(|_| sqlx::Error::WorkerCrashed)?
    }
}

/// Server clock, Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A new time-ordered id.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// `$start, $start+1, ...` placeholders for an `IN (...)` list of `n` values.
pub fn placeholders(start: usize, n: usize) -> String {
    (start..start + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use futures::FutureExt;

    use super::*;

    /// A request dropped while its BEGIN is in flight (a phone that hangs up mid-request) must
    /// not leave its pooled connection inside a transaction: the autocommit writes of later
    /// requests on that connection would stay uncommitted and invisible to everyone else.
    /// PostgreSQL (`LIANXIAO_TEST_PG_URL`), where sqlx 0.9 leaves such a transaction open.
    #[tokio::test]
    async fn a_request_dropped_during_begin_leaves_no_transaction_open() {
        let Ok(url) = std::env::var("LIANXIAO_TEST_PG_URL") else {
            eprintln!("skipped: LIANXIAO_TEST_PG_URL is not set");
            return;
        };
        sqlx::any::install_default_drivers();
        // One connection, handed out without a ping, so BEGIN is the first thing it sends.
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect(&url)
            .await
            .unwrap();
        let db = Db {
            pool,
            backend: Backend::Postgres,
            url,
        };
        for _ in 0..20 {
            // Polled once, so BEGIN is on the wire and its answer not read, then dropped.
            assert!(db.begin_write().now_or_never().is_none());
            // Time for a BEGIN still going on elsewhere to finish and be dropped.
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            // SAVEPOINT is refused outside a transaction block.
            let probe = sqlx::raw_sql("SAVEPOINT probe").execute(db.pool()).await;
            assert!(
                probe.is_err(),
                "the connection came back to the pool inside a transaction"
            );
        }
    }
}
