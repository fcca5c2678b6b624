//! The timetable in the store: lessons as synced, the changes to tell the person about, and
//! which lesson starts were already reminded of.

use lianxiao_protocol::{Lesson, LessonStatus};
use rusqlite::{Connection, OptionalExtension, params};

use crate::Result;

/// A change to a lesson the person should hear about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LessonChangeKind {
    Moved,
    Cancelled,
}

impl LessonChangeKind {
    fn as_str(self) -> &'static str {
        match self {
            LessonChangeKind::Moved => "moved",
            LessonChangeKind::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "moved" => Some(LessonChangeKind::Moved),
            "cancelled" => Some(LessonChangeKind::Cancelled),
            _ => None,
        }
    }
}

pub(crate) fn get(conn: &Connection, id: &str) -> Result<Option<Lesson>> {
    let json: Option<String> = conn
        .prepare_cached("SELECT lesson FROM lessons WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    Ok(json.map(|j| serde_json::from_str(&j)).transpose()?)
}

/// Stores a lesson; returns what changed for the person compared with the copy they had
/// (nothing for a lesson they are seeing for the first time).
pub(crate) fn upsert(conn: &Connection, lesson: &Lesson) -> Result<Option<LessonChangeKind>> {
    let before = get(conn, &lesson.id)?;
    conn.prepare_cached(
        "INSERT INTO lessons (id, starts_at, ends_at, lesson) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT(id) DO UPDATE SET starts_at = excluded.starts_at, ends_at = excluded.ends_at, \
         lesson = excluded.lesson",
    )?
    .execute(params![
        lesson.id,
        lesson.starts_at,
        lesson.ends_at,
        serde_json::to_string(lesson)?
    ])?;
    let Some(before) = before else {
        return Ok(None);
    };
    let change =
        if lesson.status == LessonStatus::Cancelled && before.status != LessonStatus::Cancelled {
            Some(LessonChangeKind::Cancelled)
        } else if lesson.status != LessonStatus::Cancelled
            && (lesson.starts_at, lesson.ends_at) != (before.starts_at, before.ends_at)
        {
            Some(LessonChangeKind::Moved)
        } else {
            None
        };
    if let Some(kind) = change {
        conn.prepare_cached(
            "INSERT OR IGNORE INTO lesson_changes (lesson_id, kind, at) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![lesson.id, kind.as_str(), lesson.updated_at])?;
    }
    Ok(change)
}

pub(crate) fn remove(conn: &Connection, id: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM lessons WHERE id = ?1")?
        .execute([id])?;
    forget_changes(conn, id)
}

/// Lessons overlapping `[from, to)`, in start order.
pub(crate) fn between(conn: &Connection, from: i64, to: i64) -> Result<Vec<Lesson>> {
    let mut stmt = conn.prepare_cached(
        "SELECT lesson FROM lessons WHERE starts_at < ?2 AND ends_at > ?1 ORDER BY starts_at, id",
    )?;
    let rows = stmt.query_map([from, to], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for json in rows {
        out.push(serde_json::from_str(&json?)?);
    }
    Ok(out)
}

/// The first lesson starting at or after `from` that is not cancelled.
pub(crate) fn next_starting(conn: &Connection, from: i64) -> Result<Option<Lesson>> {
    let mut stmt = conn.prepare_cached(
        "SELECT lesson FROM lessons WHERE starts_at >= ?1 ORDER BY starts_at, id",
    )?;
    let rows = stmt.query_map([from], |r| r.get::<_, String>(0))?;
    for json in rows {
        let lesson: Lesson = serde_json::from_str(&json?)?;
        if lesson.status != LessonStatus::Cancelled {
            return Ok(Some(lesson));
        }
    }
    Ok(None)
}

/// Changes not yet acknowledged by the person, newest first.
pub(crate) fn changes(conn: &Connection) -> Result<Vec<(String, LessonChangeKind, i64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT lesson_id, kind, at FROM lesson_changes ORDER BY at DESC, lesson_id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, kind, at) = row?;
        if let Some(kind) = LessonChangeKind::parse(&kind) {
            out.push((id, kind, at));
        }
    }
    Ok(out)
}

/// Drops one lesson's pending changes (its author made them: not news to them).
pub(crate) fn forget_changes(conn: &Connection, lesson_id: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM lesson_changes WHERE lesson_id = ?1")?
        .execute([lesson_id])?;
    Ok(())
}

pub(crate) fn clear_changes(conn: &Connection) -> Result<()> {
    conn.execute("DELETE FROM lesson_changes", [])?;
    Ok(())
}

/// Records that the reminder for this start was given; false if it already was.
pub(crate) fn mark_reminded(conn: &Connection, lesson_id: &str, starts_at: i64) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO lesson_reminders (lesson_id, starts_at) VALUES (?1, ?2)",
        )?
        .execute(params![lesson_id, starts_at])?;
    Ok(n == 1)
}

pub(crate) fn was_reminded(conn: &Connection, lesson_id: &str, starts_at: i64) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM lesson_reminders WHERE lesson_id = ?1 AND starts_at = ?2")?
        .query_row(params![lesson_id, starts_at], |_| Ok(()))
        .optional()?
        .is_some())
}
