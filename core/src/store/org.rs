//! The organisation as this account sees it: its profile, classes, link groups, children.

use lianxiao_protocol::{Child, ClassInfo, LinkGroup, User};
use rusqlite::{Connection, OptionalExtension, params};

use super::from_json;
use crate::Result;

pub(crate) fn put_profile(conn: &Connection, user: &User) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO profile (id, user_id, user) VALUES (1, ?1, ?2) \
         ON CONFLICT(id) DO UPDATE SET user_id = excluded.user_id, user = excluded.user",
    )?
    .execute(params![user.id, serde_json::to_string(user)?])?;
    Ok(())
}

pub(crate) fn profile(conn: &Connection) -> Result<Option<User>> {
    let text: Option<String> = conn
        .query_row("SELECT user FROM profile WHERE id = 1", [], |r| r.get(0))
        .optional()?;
    text.map(|t| from_json(&t)).transpose()
}

pub(crate) fn put_class(conn: &Connection, class: &ClassInfo) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO classes (id, class) VALUES (?1, ?2) \
         ON CONFLICT(id) DO UPDATE SET class = excluded.class",
    )?
    .execute(params![class.id, serde_json::to_string(class)?])?;
    Ok(())
}

pub(crate) fn put_link_group(conn: &Connection, group: &LinkGroup) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO link_groups (id, link_group) VALUES (?1, ?2) \
         ON CONFLICT(id) DO UPDATE SET link_group = excluded.link_group",
    )?
    .execute(params![group.id, serde_json::to_string(group)?])?;
    Ok(())
}

pub(crate) fn put_child(conn: &Connection, child: &Child) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO children (id, child) VALUES (?1, ?2) \
         ON CONFLICT(id) DO UPDATE SET child = excluded.child",
    )?
    .execute(params![child.id, serde_json::to_string(child)?])?;
    Ok(())
}

/// Removes a row of one of the org tables; `table` is one of ours, never user input.
pub(crate) fn remove(conn: &Connection, table: &'static str, id: &str) -> Result<()> {
    let sql = match table {
        "classes" => "DELETE FROM classes WHERE id = ?1",
        "link_groups" => "DELETE FROM link_groups WHERE id = ?1",
        "children" => "DELETE FROM children WHERE id = ?1",
        "profile" => "DELETE FROM profile WHERE user_id = ?1",
        _ => unreachable!("unknown org table"),
    };
    conn.prepare_cached(sql)?.execute([id])?;
    Ok(())
}

fn all<T: serde::de::DeserializeOwned>(conn: &Connection, sql: &str) -> Result<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for text in rows {
        out.push(from_json(&text?)?);
    }
    Ok(out)
}

pub(crate) fn classes(conn: &Connection) -> Result<Vec<ClassInfo>> {
    all(conn, "SELECT class FROM classes ORDER BY id")
}

pub(crate) fn link_groups(conn: &Connection) -> Result<Vec<LinkGroup>> {
    all(conn, "SELECT link_group FROM link_groups ORDER BY id")
}

pub(crate) fn children(conn: &Connection) -> Result<Vec<Child>> {
    all(conn, "SELECT child FROM children ORDER BY id")
}
