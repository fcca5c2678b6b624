//! Where sync stands: the cursor of the last page applied.

use lianxiao_protocol::Millis;
use rusqlite::{Connection, OptionalExtension, params};

use crate::Result;

pub(crate) fn cursor(conn: &Connection) -> Result<Option<String>> {
    Ok(conn
        .query_row("SELECT cursor FROM sync_state WHERE id = 1", [], |r| {
            r.get(0)
        })
        .optional()?)
}

pub(crate) fn set_cursor(conn: &Connection, cursor: &str, server_time: Millis) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO sync_state (id, cursor, server_time) VALUES (1, ?1, ?2) \
         ON CONFLICT(id) DO UPDATE SET cursor = excluded.cursor, server_time = excluded.server_time",
    )?
    .execute(params![cursor, server_time])?;
    Ok(())
}
