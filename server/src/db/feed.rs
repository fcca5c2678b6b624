//! The change feed behind `GET /v1/sync`.
//!
//! Every writing transaction ends by taking the next sequence number (locking the one counter
//! row, so sequence order is commit order) and upserting one feed row per (user, thing) that
//! changed. A user's sync reads their rows above their cursor. Rows are written set-based
//! (`INSERT ... SELECT`), so fanning a notice out to ten thousand families is one statement.

use lianxiao_protocol::EntityKind;
use sqlx::Row;

use super::{Backend, Tx};

/// Channel the servers sharing one PostgreSQL use to tell each other about new changes.
pub const NOTIFY_CHANNEL: &str = "lianxiao_changes";

/// Takes the next sequence number. Call after the transaction's other writes: it holds the
/// counter lock until commit.
pub async fn next_seq(tx: &mut Tx) -> sqlx::Result<i64> {
    let row =
        sqlx::query("UPDATE change_counter SET value = value + 1 WHERE id = 1 RETURNING value")
            .fetch_one(&mut **tx)
            .await?;
    row.try_get(0)
}

/// Marks one thing changed (or removed) for one user.
pub async fn touch(
    tx: &mut Tx,
    seq: i64,
    user_id: &str,
    kind: EntityKind,
    entity_id: &str,
    removed: bool,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO feed (user_id, kind, entity_id, seq, removed) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (user_id, kind, entity_id) DO UPDATE SET seq = excluded.seq, removed = excluded.removed",
    )
    .bind(user_id)
    .bind(kind.as_str())
    .bind(entity_id)
    .bind(seq)
    .bind(removed as i64)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Marks one thing changed for every user a query selects. `users_sql` is a SELECT returning
/// one column of user ids, using `$3..` for its own parameters (`$1` is the seq, `$2` the
/// entity id); `params` bind in order from `$3`.
pub async fn touch_many(
    tx: &mut Tx,
    seq: i64,
    kind: EntityKind,
    entity_id: &str,
    removed: bool,
    users_sql: &str,
    params: &[&str],
) -> sqlx::Result<u64> {
    let sql = format!(
        "INSERT INTO feed (user_id, kind, entity_id, seq, removed) \
         SELECT DISTINCT u.user_id, '{kind}', $2, $1, {removed} FROM ({users_sql}) AS u WHERE u.user_id IS NOT NULL \
         ON CONFLICT (user_id, kind, entity_id) DO UPDATE SET seq = excluded.seq, removed = excluded.removed",
        kind = kind.as_str(),
        removed = removed as i64,
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(seq)
        .bind(entity_id);
    for p in params {
        query = query.bind(*p);
    }
    Ok(query.execute(&mut **tx).await?.rows_affected())
}

/// Tells every server process that `seq` committed. On PostgreSQL this is a NOTIFY, delivered
/// only if the transaction commits; on SQLite there is one process and the caller publishes
/// locally after commit.
pub async fn announce(tx: &mut Tx, backend: Backend, seq: i64) -> sqlx::Result<()> {
    if backend == Backend::Postgres {
        // NOTIFY takes no bind parameters; the payload is a number we formatted ourselves.
        let sql = format!("NOTIFY {NOTIFY_CHANNEL}, '{seq}'");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}
