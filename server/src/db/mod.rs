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
    pub async fn begin_write(&self) -> sqlx::Result<Tx> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
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
