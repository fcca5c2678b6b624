//! One account's SQLite store: WAL, foreign keys, numbered migrations (each in its own
//! transaction). One writer connection behind a mutex and one reader, so a long sync write
//! never blocks the screens; all database work runs on tokio's blocking pool.

pub(crate) mod homework;
pub(crate) mod lessons;
pub(crate) mod notices;
pub(crate) mod notification_settings;
pub(crate) mod org;
pub(crate) mod outbox;
pub(crate) mod replays;
pub(crate) mod sync_state;
pub(crate) mod uploads;

use std::{
    path::Path,
    sync::{Arc, LazyLock, Mutex},
};

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use rusqlite_migration::{M, Migrations};

use crate::{Error, Result};

static MIGRATIONS: LazyLock<Migrations<'static>> = LazyLock::new(|| {
    Migrations::new(vec![
        M::up(include_str!("migrations/0001_notices_and_outbox.sql")),
        M::up(include_str!("migrations/0002_uploads.sql")),
        M::up(include_str!("migrations/0003_homework.sql")),
        M::up(include_str!("migrations/0004_timetable.sql")),
        M::up(include_str!("migrations/0005_live.sql")),
        M::up(include_str!("migrations/0006_classroom.sql")),
        M::up(include_str!("migrations/0007_replays.sql")),
        M::up(include_str!("migrations/0009_notification_settings.sql")),
    ])
});

#[derive(Clone)]
pub(crate) struct Store {
    inner: Arc<Connections>,
}

struct Connections {
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
}

fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(())
}

impl Store {
    /// Opens (creating if needed) and migrates the store. Blocking: call from
    /// `spawn_blocking` or at start-up.
    pub(crate) fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::Storage(format!("cannot create data dir: {}", e.kind())))?;
        }
        let mut writer = Connection::open(path)?;
        writer.pragma_update(None, "journal_mode", "WAL")?;
        configure(&writer)?;
        MIGRATIONS.to_latest(&mut writer)?;
        let reader = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        configure(&reader)?;
        Ok(Store {
            inner: Arc::new(Connections {
                writer: Mutex::new(writer),
                reader: Mutex::new(reader),
            }),
        })
    }

    pub(crate) async fn open_async(path: std::path::PathBuf) -> Result<Store> {
        tokio::task::spawn_blocking(move || Store::open(&path)).await?
    }

    /// Runs `f` on the reader, off the async threads.
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.read_blocking(f)).await?
    }

    /// Runs `f` in one write transaction, committed when it returns `Ok`.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.write_blocking(f)).await?
    }

    pub(crate) fn read_blocking<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = self.inner.reader.lock().unwrap_or_else(|e| e.into_inner());
        f(&conn)
    }

    pub(crate) fn write_blocking<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        let mut conn = self.inner.writer.lock().unwrap_or_else(|e| e.into_inner());
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let value = f(&tx)?;
        tx.commit()?;
        Ok(value)
    }
}

/// `Option<i64>` columns read as `Option<i64>`; a helper for JSON columns.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::Storage(format!("corrupt row: {e}")))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn temp_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store.sqlite3")).unwrap();
        (dir, store)
    }

    #[test]
    fn migrations_are_valid() {
        MIGRATIONS.validate().unwrap();
    }

    #[test]
    fn migrations_apply_on_a_fresh_store_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/store.sqlite3");
        let store = Store::open(&path).unwrap();
        let (mode, fk): (String, bool) = store
            .write_blocking(|tx| {
                Ok((
                    tx.query_row("PRAGMA journal_mode", [], |r| r.get(0))?,
                    tx.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?,
                ))
            })
            .unwrap();
        assert_eq!(mode, "wal");
        assert!(fk);
        let tables: i64 = store
            .read_blocking(|c| {
                Ok(c.query_row(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN \
                     ('notices', 'outbox', 'sync_state', 'profile', 'classes', 'children', \
                      'link_groups', 'receipt_summaries')",
                    [],
                    |r| r.get(0),
                )?)
            })
            .unwrap();
        assert_eq!(tables, 8);
        drop(store);
        // Reopening applies nothing twice.
        Store::open(&path).unwrap();
    }
}
