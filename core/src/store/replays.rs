//! Replays in the store: the synced replays, each person's watch position (with the open
//! watch report in the outbox that still takes more time) and the offline downloads with
//! the segments already on disk.

use lianxiao_protocol::{Millis, Replay, WatchPosition, WatchReport};
use rusqlite::{Connection, OptionalExtension, params};

use crate::{Result, outbox::OutboxKind, store::from_json};

pub(crate) fn upsert(conn: &Connection, replay: &Replay) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO replays (id, lesson_id, lesson_starts_at, replay) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT(id) DO UPDATE SET lesson_id = excluded.lesson_id, \
         lesson_starts_at = excluded.lesson_starts_at, replay = excluded.replay",
    )?
    .execute(params![
        replay.id,
        replay.lesson_id,
        replay.lesson_starts_at,
        serde_json::to_string(replay)?
    ])?;
    Ok(())
}

/// Forgets a replay that stopped being visible, with its position and its download; true if
/// it had a download (whose files are the caller's to delete).
pub(crate) fn remove(conn: &Connection, id: &str) -> Result<bool> {
    conn.prepare_cached("DELETE FROM replays WHERE id = ?1")?
        .execute([id])?;
    conn.prepare_cached("DELETE FROM watch_positions WHERE replay_id = ?1")?
        .execute([id])?;
    remove_download(conn, id)
}

pub(crate) fn get(conn: &Connection, id: &str) -> Result<Option<Replay>> {
    let json: Option<String> = conn
        .prepare_cached("SELECT replay FROM replays WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    json.map(|j| from_json(&j)).transpose()
}

/// Replays newest lesson first. With `child_id`, those a parent's child can see: the lesson
/// is one of the child's class, or the replay is shared with the link group, or the lesson
/// is not on this phone (the server sent the replay, so some child of the parent sees it).
pub(crate) fn list(conn: &Connection, child_id: Option<&str>) -> Result<Vec<Replay>> {
    let mut stmt = conn.prepare_cached(
        "SELECT r.replay FROM replays r WHERE ?1 IS NULL \
           OR json_extract(r.replay, '$.visibility') = 'link_group' \
           OR NOT EXISTS (SELECT 1 FROM lessons l WHERE l.id = r.lesson_id) \
           OR EXISTS (SELECT 1 FROM lessons l, json_each(l.lesson, '$.classes') c, children k \
                      WHERE l.id = r.lesson_id AND k.id = ?1 \
                        AND json_extract(c.value, '$.class_id') = json_extract(k.child, '$.class_id')) \
         ORDER BY r.lesson_starts_at DESC, r.id",
    )?;
    let rows = stmt.query_map([child_id], |r| r.get::<_, String>(0))?;
    rows.map(|j| from_json(&j?)).collect()
}

/// The person's place in one replay as this phone knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Position {
    pub position_ms: i64,
    pub at: Millis,
    /// What the server counted (every device).
    pub server_watched_ms: i64,
    /// Watched on this phone, waiting in the outbox.
    pub unsent_watched_ms: i64,
}

pub(crate) fn position(conn: &Connection, replay_id: &str) -> Result<Option<Position>> {
    let row = conn
        .prepare_cached(
            "SELECT position_ms, at, server_watched_ms FROM watch_positions WHERE replay_id = ?1",
        )?
        .query_row([replay_id], |r| {
            Ok(Position {
                position_ms: r.get(0)?,
                at: r.get(1)?,
                server_watched_ms: r.get(2)?,
                unsent_watched_ms: 0,
            })
        })
        .optional()?;
    let Some(mut p) = row else {
        return Ok(None);
    };
    p.unsent_watched_ms = conn
        .prepare_cached(
            "SELECT coalesce(sum(json_extract(body, '$.watched_ms')), 0) FROM outbox \
             WHERE kind = ?1 AND notice_id = ?2 AND state = 'pending'",
        )?
        .query_row(params![OutboxKind::Watch.as_str(), replay_id], |r| r.get(0))?;
    Ok(Some(p))
}

/// Moves the position if `at` is not older than the one stored.
fn put_position(conn: &Connection, replay_id: &str, position_ms: i64, at: Millis) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO watch_positions (replay_id, position_ms, at) VALUES (?1, ?2, ?3) \
         ON CONFLICT(replay_id) DO UPDATE SET position_ms = excluded.position_ms, at = excluded.at \
         WHERE excluded.at >= watch_positions.at",
    )?
    .execute(params![replay_id, position_ms, at])?;
    Ok(())
}

/// The server's view of the person's place (sync, or the answer to a report): a later `at`
/// wins the position; the server's total only grows.
pub(crate) fn put_synced_position(conn: &Connection, p: &WatchPosition) -> Result<()> {
    put_position(conn, &p.replay_id, p.position_ms, p.at)?;
    conn.prepare_cached(
        "UPDATE watch_positions SET server_watched_ms = max(server_watched_ms, ?2) \
         WHERE replay_id = ?1",
    )?
    .execute(params![p.replay_id, p.watched_ms])?;
    Ok(())
}

pub(crate) fn remove_position(conn: &Connection, replay_id: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM watch_positions WHERE replay_id = ?1")?
        .execute([replay_id])?;
    Ok(())
}

/// Records progress from the player: the position at once, and the watched time into the
/// open report of this replay (online or offline), or a new one in the outbox. Returns true
/// when a new outbox item was queued.
pub(crate) fn record_progress(
    conn: &Connection,
    replay_id: &str,
    report: &WatchReport,
    now: Millis,
) -> Result<bool> {
    put_position(conn, replay_id, report.position_ms, report.at)?;
    let open: Option<(i64, String)> = conn
        .prepare_cached(
            "SELECT o.id, o.body FROM watch_open_reports w JOIN outbox o ON o.id = w.outbox_id \
             WHERE w.replay_id = ?1 AND w.offline = ?2 AND o.state = 'pending'",
        )?
        .query_row(params![replay_id, report.offline], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    if let Some((id, body)) = open {
        let mut merged: WatchReport = from_json(&body)?;
        merged.watched_ms += report.watched_ms;
        if report.at >= merged.at {
            merged.position_ms = report.position_ms;
            merged.at = report.at;
        }
        conn.prepare_cached("UPDATE outbox SET body = ?2 WHERE id = ?1")?
            .execute(params![id, serde_json::to_string(&merged)?])?;
        return Ok(false);
    }
    let body = serde_json::to_string(report)?;
    let id = crate::store::outbox::enqueue(conn, OutboxKind::Watch, replay_id, Some(&body), now)?;
    conn.prepare_cached(
        "INSERT INTO watch_open_reports (replay_id, offline, outbox_id) VALUES (?1, ?2, ?3) \
         ON CONFLICT(replay_id, offline) DO UPDATE SET outbox_id = excluded.outbox_id",
    )?
    .execute(params![replay_id, report.offline, id])?;
    Ok(true)
}

/// Closes a watch report to more time and returns its body to send: from now on its
/// idempotency key stands for exactly this body.
pub(crate) fn seal_report(conn: &Connection, outbox_id: i64) -> Result<Option<String>> {
    conn.prepare_cached("DELETE FROM watch_open_reports WHERE outbox_id = ?1")?
        .execute([outbox_id])?;
    Ok(conn
        .prepare_cached("SELECT body FROM outbox WHERE id = ?1 AND state = 'pending'")?
        .query_row([outbox_id], |r| r.get(0))
        .optional()?
        .flatten())
}

/// How a download is kept in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum StoredDownload {
    Queued,
    Paused,
    Done,
    Failed,
}

impl StoredDownload {
    fn as_str(self) -> &'static str {
        match self {
            StoredDownload::Queued => "queued",
            StoredDownload::Paused => "paused",
            StoredDownload::Done => "done",
            StoredDownload::Failed => "failed",
        }
    }

    fn parse(s: &str) -> StoredDownload {
        match s {
            "paused" => StoredDownload::Paused,
            "done" => StoredDownload::Done,
            "failed" => StoredDownload::Failed,
            _ => StoredDownload::Queued,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DownloadRow {
    pub replay_id: String,
    pub rendition: String,
    pub state: StoredDownload,
    pub expected_bytes: u64,
    pub segments_total: Option<u32>,
    pub playlist: Option<String>,
    pub attempts: u32,
    pub error: Option<(String, String)>,
    /// Bytes and count of the segments on disk.
    pub bytes_done: u64,
    pub segments_done: u32,
}

const DOWNLOAD_COLUMNS: &str = "d.replay_id, d.rendition, d.state, d.expected_bytes, \
    d.segments_total, d.playlist, d.attempts, d.error_code, d.error_message, \
    (SELECT coalesce(sum(bytes), 0) FROM replay_download_segments s WHERE s.replay_id = d.replay_id), \
    (SELECT count(*) FROM replay_download_segments s WHERE s.replay_id = d.replay_id)";

fn download_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DownloadRow> {
    let state: String = r.get(2)?;
    let code: Option<String> = r.get(7)?;
    let message: Option<String> = r.get(8)?;
    Ok(DownloadRow {
        replay_id: r.get(0)?,
        rendition: r.get(1)?,
        state: StoredDownload::parse(&state),
        expected_bytes: r.get::<_, i64>(3)? as u64,
        segments_total: r.get(4)?,
        playlist: r.get(5)?,
        attempts: r.get(6)?,
        error: code.map(|c| (c, message.unwrap_or_default())),
        bytes_done: r.get::<_, i64>(9)? as u64,
        segments_done: r.get(10)?,
    })
}

pub(crate) fn download(conn: &Connection, replay_id: &str) -> Result<Option<DownloadRow>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {DOWNLOAD_COLUMNS} FROM replay_downloads d WHERE d.replay_id = ?1"
        ))?
        .query_row([replay_id], download_row)
        .optional()?)
}

/// Every download, oldest first.
pub(crate) fn downloads(conn: &Connection) -> Result<Vec<DownloadRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {DOWNLOAD_COLUMNS} FROM replay_downloads d ORDER BY d.created_at, d.replay_id"
    ))?;
    let rows = stmt.query_map([], download_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Disk the downloads hold or will hold: a finished one what it has, any other the larger
/// of what the server announced and what it already has.
pub(crate) fn reserved_bytes(conn: &Connection) -> Result<u64> {
    let n: i64 = conn
        .prepare_cached(
            "SELECT coalesce(sum(CASE WHEN state = 'done' THEN have \
                                      ELSE max(expected_bytes, have) END), 0) \
             FROM (SELECT d.state, d.expected_bytes, (SELECT coalesce(sum(s.bytes), 0) \
                     FROM replay_download_segments s WHERE s.replay_id = d.replay_id) AS have \
                   FROM replay_downloads d)",
        )?
        .query_row([], |r| r.get(0))?;
    Ok(n as u64)
}

pub(crate) fn add_download(
    conn: &Connection,
    replay_id: &str,
    rendition: &str,
    expected_bytes: u64,
    now: Millis,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO replay_downloads (replay_id, rendition, state, expected_bytes, created_at, \
         updated_at) VALUES (?1, ?2, 'queued', ?3, ?4, ?4)",
    )?
    .execute(params![replay_id, rendition, expected_bytes as i64, now])?;
    Ok(())
}

/// The oldest queued download whose retry time has come.
pub(crate) fn next_due(conn: &Connection, now: Millis) -> Result<Option<DownloadRow>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {DOWNLOAD_COLUMNS} FROM replay_downloads d \
             WHERE d.state = 'queued' AND d.next_attempt_at <= ?1 \
             ORDER BY d.created_at, d.replay_id LIMIT 1"
        ))?
        .query_row([now], download_row)
        .optional()?)
}

pub(crate) fn next_due_at(conn: &Connection) -> Result<Option<Millis>> {
    Ok(conn
        .prepare_cached("SELECT min(next_attempt_at) FROM replay_downloads WHERE state = 'queued'")?
        .query_row([], |r| r.get(0))?)
}

/// The network is back: every queued download may go now.
pub(crate) fn all_due_now(conn: &Connection) -> Result<()> {
    conn.prepare_cached("UPDATE replay_downloads SET next_attempt_at = 0 WHERE state = 'queued'")?
        .execute([])?;
    Ok(())
}

/// Sets the state; queueing again clears the error and the backoff. False if there is no
/// such download.
pub(crate) fn set_state(
    conn: &Connection,
    replay_id: &str,
    state: StoredDownload,
    now: Millis,
) -> Result<bool> {
    let reset = state == StoredDownload::Queued;
    let n = conn
        .prepare_cached(
            "UPDATE replay_downloads SET state = ?2, updated_at = ?3, \
             attempts = CASE WHEN ?4 THEN 0 ELSE attempts END, \
             next_attempt_at = CASE WHEN ?4 THEN 0 ELSE next_attempt_at END, \
             error_code = CASE WHEN ?4 THEN NULL ELSE error_code END, \
             error_message = CASE WHEN ?4 THEN NULL ELSE error_message END \
             WHERE replay_id = ?1",
        )?
        .execute(params![replay_id, state.as_str(), now, reset])?;
    Ok(n > 0)
}

/// Keeps the media playlist as read (first time, or after the server changed it, in which
/// case the segments on disk no longer fit and are forgotten).
pub(crate) fn set_playlist(
    conn: &Connection,
    replay_id: &str,
    playlist: &str,
    segments_total: u32,
    forget_segments: bool,
    now: Millis,
) -> Result<()> {
    if forget_segments {
        conn.prepare_cached("DELETE FROM replay_download_segments WHERE replay_id = ?1")?
            .execute([replay_id])?;
    }
    conn.prepare_cached(
        "UPDATE replay_downloads SET playlist = ?2, segments_total = ?3, updated_at = ?4 \
         WHERE replay_id = ?1",
    )?
    .execute(params![replay_id, playlist, segments_total, now])?;
    Ok(())
}

/// A segment is whole on disk. False if the download is gone (deleted meanwhile).
pub(crate) fn segment_done(
    conn: &Connection,
    replay_id: &str,
    seq: u32,
    bytes: u64,
    now: Millis,
) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "UPDATE replay_downloads SET attempts = 0, updated_at = ?2 WHERE replay_id = ?1",
        )?
        .execute(params![replay_id, now])?;
    if n == 0 {
        return Ok(false);
    }
    conn.prepare_cached(
        "INSERT OR REPLACE INTO replay_download_segments (replay_id, seq, bytes) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![replay_id, seq, bytes as i64])?;
    Ok(true)
}

/// The segments on disk, by sequence number.
pub(crate) fn done_segments(conn: &Connection, replay_id: &str) -> Result<Vec<u32>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq FROM replay_download_segments WHERE replay_id = ?1 ORDER BY seq",
    )?;
    let rows = stmt.query_map([replay_id], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn retry_later(
    conn: &Connection,
    replay_id: &str,
    attempts: u32,
    at: Millis,
    now: Millis,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE replay_downloads SET attempts = ?2, next_attempt_at = ?3, updated_at = ?4 \
         WHERE replay_id = ?1 AND state = 'queued'",
    )?
    .execute(params![replay_id, attempts, at, now])?;
    Ok(())
}

pub(crate) fn failed(
    conn: &Connection,
    replay_id: &str,
    code: &str,
    message: &str,
    now: Millis,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE replay_downloads SET state = 'failed', error_code = ?2, error_message = ?3, \
         updated_at = ?4 WHERE replay_id = ?1 AND state = 'queued'",
    )?
    .execute(params![replay_id, code, message, now])?;
    Ok(())
}

/// Every segment is on disk and the local playlist written.
pub(crate) fn finished(conn: &Connection, replay_id: &str, now: Millis) -> Result<()> {
    conn.prepare_cached(
        "UPDATE replay_downloads SET state = 'done', attempts = 0, error_code = NULL, \
         error_message = NULL, updated_at = ?2 WHERE replay_id = ?1 AND state = 'queued'",
    )?
    .execute(params![replay_id, now])?;
    Ok(())
}

/// Forgets a download (its segments go with it). True if there was one.
pub(crate) fn remove_download(conn: &Connection, replay_id: &str) -> Result<bool> {
    let n = conn
        .prepare_cached("DELETE FROM replay_downloads WHERE replay_id = ?1")?
        .execute([replay_id])?;
    Ok(n > 0)
}

#[cfg(test)]
mod tests {
    use lianxiao_protocol::{
        PersonRef, ReplayRendition, ReplaySource, ReplayStatus, ReplayVisibility,
    };

    use super::*;
    use crate::store::tests::temp_store;

    pub(crate) fn replay(id: &str, starts: Millis) -> Replay {
        Replay {
            id: id.into(),
            lesson_id: format!("lesson-{id}"),
            subject: "数学".into(),
            title: format!("replay {id}"),
            lesson_starts_at: starts,
            source: ReplaySource::Upload,
            status: ReplayStatus::Approved,
            progress_percent: None,
            problem: None,
            visibility: ReplayVisibility::LessonClasses,
            duration_ms: Some(60_000),
            renditions: vec![ReplayRendition {
                name: "low".into(),
                bandwidth: 800_000,
                size_bytes: 1000,
                audio_only: false,
            }],
            owner: PersonRef {
                id: "t1".into(),
                name: "Teacher".into(),
            },
            review: None,
            created_at: 1,
            updated_at: 1,
        }
    }

    fn report(position_ms: i64, watched_ms: i64, at: Millis, offline: bool) -> WatchReport {
        WatchReport {
            position_ms,
            watched_ms,
            at,
            offline,
        }
    }

    #[test]
    fn replays_list_newest_lesson_first_and_go_with_their_tombstone() {
        let (_dir, store) = temp_store();
        store
            .write_blocking(|tx| {
                upsert(tx, &replay("old", 10))?;
                upsert(tx, &replay("new", 30))?;
                upsert(tx, &replay("mid", 20))?;
                add_download(tx, "mid", "low", 1000, 1)?;
                segment_done(tx, "mid", 0, 10, 1)?;
                Ok(())
            })
            .unwrap();
        let ids = store
            .read_blocking(|c| list(c, None))
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect::<Vec<_>>();
        assert_eq!(ids, ["new", "mid", "old"]);
        let had_download = store.write_blocking(|tx| remove(tx, "mid")).unwrap();
        assert!(had_download);
        store
            .read_blocking(|c| {
                assert!(get(c, "mid")?.is_none());
                assert!(download(c, "mid")?.is_none());
                assert!(done_segments(c, "mid")?.is_empty());
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn a_parent_sees_the_replays_of_each_childs_lessons() {
        let (_dir, store) = temp_store();
        let lesson = |id: &str, class: &str| {
            serde_json::json!({"id": id, "classes": [{"class_id": class}]}).to_string()
        };
        store
            .write_blocking(|tx| {
                for (id, class) in [("lesson-a", "c1"), ("lesson-b", "c2")] {
                    tx.execute(
                        "INSERT INTO lessons (id, starts_at, ends_at, lesson) VALUES (?1, 0, 1, ?2)",
                        params![id, lesson(id, class)],
                    )?;
                }
                for (kid, class) in [("k1", "c1"), ("k2", "c2")] {
                    tx.execute(
                        "INSERT INTO children (id, child) VALUES (?1, ?2)",
                        params![kid, serde_json::json!({"id": kid, "class_id": class}).to_string()],
                    )?;
                }
                upsert(tx, &replay("a", 1))?;
                upsert(tx, &replay("b", 2))?;
                // Shared with the link group, and one whose lesson this phone does not have.
                let mut shared = replay("s", 3);
                shared.visibility = ReplayVisibility::LinkGroup;
                shared.lesson_id = "lesson-b".into();
                upsert(tx, &shared)?;
                upsert(tx, &replay("unknown", 4))?;
                Ok(())
            })
            .unwrap();
        let ids = |child: &'static str| {
            store
                .read_blocking(|c| list(c, Some(child)))
                .unwrap()
                .into_iter()
                .map(|r| r.id)
                .collect::<Vec<_>>()
        };
        assert_eq!(ids("k1"), ["unknown", "s", "a"]);
        assert_eq!(ids("k2"), ["unknown", "s", "b"]);
    }

    #[test]
    fn progress_accumulates_in_one_open_report_until_it_is_sealed() {
        let (_dir, store) = temp_store();
        let (first, second) = store
            .write_blocking(|tx| {
                let a = record_progress(tx, "r1", &report(5_000, 5_000, 100, false), 100)?;
                let b = record_progress(tx, "r1", &report(10_000, 5_000, 200, false), 200)?;
                Ok((a, b))
            })
            .unwrap();
        assert!(first && !second, "one item for both");
        let items = store.read_blocking(crate::store::outbox::pending).unwrap();
        assert_eq!(items.len(), 1);
        let body = store
            .write_blocking(|tx| seal_report(tx, items[0].id))
            .unwrap()
            .unwrap();
        let sent: WatchReport = serde_json::from_str(&body).unwrap();
        assert_eq!(sent, report(10_000, 10_000, 200, false));
        // Sealed: more time goes into a new report; the sealed one keeps its body.
        let queued = store
            .write_blocking(|tx| record_progress(tx, "r1", &report(12_000, 2_000, 300, false), 300))
            .unwrap();
        assert!(queued);
        let items = store.read_blocking(crate::store::outbox::pending).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].body.as_deref(), Some(body.as_str()));
        let p = store.read_blocking(|c| position(c, "r1")).unwrap().unwrap();
        assert_eq!(
            (p.position_ms, p.at, p.unsent_watched_ms),
            (12_000, 300, 12_000)
        );
    }

    #[test]
    fn offline_time_goes_in_its_own_report() {
        let (_dir, store) = temp_store();
        store
            .write_blocking(|tx| {
                record_progress(tx, "r1", &report(1_000, 1_000, 1, false), 1)?;
                record_progress(tx, "r1", &report(2_000, 1_000, 2, true), 2)?;
                record_progress(tx, "r1", &report(3_000, 1_000, 3, true), 3)?;
                Ok(())
            })
            .unwrap();
        let items = store.read_blocking(crate::store::outbox::pending).unwrap();
        let bodies: Vec<WatchReport> = items
            .iter()
            .map(|i| serde_json::from_str(i.body.as_deref().unwrap()).unwrap())
            .collect();
        assert_eq!(
            bodies,
            [
                report(1_000, 1_000, 1, false),
                report(3_000, 2_000, 3, true)
            ]
        );
    }

    #[test]
    fn a_later_at_wins_the_position() {
        let (_dir, store) = temp_store();
        let synced = |position_ms, at, watched_ms| WatchPosition {
            replay_id: "r1".into(),
            position_ms,
            watched_ms,
            at,
        };
        store
            .write_blocking(|tx| {
                record_progress(tx, "r1", &report(5_000, 5_000, 100, false), 100)?;
                // From another device, earlier: the position stays, the total is taken.
                put_synced_position(tx, &synced(1_000, 50, 7_000))?;
                Ok(())
            })
            .unwrap();
        let p = store.read_blocking(|c| position(c, "r1")).unwrap().unwrap();
        assert_eq!((p.position_ms, p.server_watched_ms), (5_000, 7_000));
        store
            .write_blocking(|tx| {
                put_synced_position(tx, &synced(40_000, 500, 9_000))?;
                // A stale total never goes back.
                put_synced_position(tx, &synced(40_000, 500, 8_000))
            })
            .unwrap();
        let p = store.read_blocking(|c| position(c, "r1")).unwrap().unwrap();
        assert_eq!(
            (p.position_ms, p.at, p.server_watched_ms),
            (40_000, 500, 9_000)
        );
    }

    #[test]
    fn downloads_reserve_what_they_will_need_and_keep_their_segments() {
        let (_dir, store) = temp_store();
        store
            .write_blocking(|tx| {
                add_download(tx, "a", "low", 1_000, 1)?;
                add_download(tx, "b", "audio", 300, 2)?;
                segment_done(tx, "a", 0, 400, 3)?;
                segment_done(tx, "b", 0, 200, 3)?;
                segment_done(tx, "b", 1, 250, 3)?;
                Ok(())
            })
            .unwrap();
        // a: announced 1000, has 400 → 1000; b: announced 300, already has 450 → 450.
        assert_eq!(store.read_blocking(reserved_bytes).unwrap(), 1_450);
        store.write_blocking(|tx| finished(tx, "b", 4)).unwrap();
        assert_eq!(store.read_blocking(reserved_bytes).unwrap(), 1_450);
        let a = store.read_blocking(|c| download(c, "a")).unwrap().unwrap();
        assert_eq!((a.bytes_done, a.segments_done), (400, 1));
        // The next due is the oldest queued one; a paused one waits.
        let next = store.read_blocking(|c| next_due(c, 10)).unwrap().unwrap();
        assert_eq!(next.replay_id, "a");
        store
            .write_blocking(|tx| set_state(tx, "a", StoredDownload::Paused, 5))
            .unwrap();
        assert!(store.read_blocking(|c| next_due(c, 10)).unwrap().is_none());
        // A changed playlist forgets what no longer fits.
        store
            .write_blocking(|tx| set_playlist(tx, "a", "#EXTM3U", 3, true, 6))
            .unwrap();
        assert!(
            store
                .read_blocking(|c| done_segments(c, "a"))
                .unwrap()
                .is_empty()
        );
        assert!(store.write_blocking(|tx| remove_download(tx, "a")).unwrap());
        assert!(
            !store
                .write_blocking(|tx| segment_done(tx, "a", 1, 5, 7))
                .unwrap()
        );
    }
}
