//! Serving a broadcast to its viewers, and counting who watched.
//!
//! Watching is counted from what a player does anyway: it refetches the media playlist every
//! segment or two and fetches each segment. The first fetch opens an attendance interval
//! (source `hls`), later ones move its end forward (written at most every
//! [`WRITE_EVERY_MS`]); a pause longer than [`GAP_MS`] starts a new interval. So an
//! interval runs from the first fetch to the last one seen, never further.

use std::{collections::HashMap, sync::Mutex};

use crate::db::{Db, new_id, now_ms};

/// A viewer unseen for this long has stopped watching.
pub const GAP_MS: i64 = 30_000;
/// How often a watching viewer's interval end is written.
pub const WRITE_EVERY_MS: i64 = 10_000;

#[derive(Debug)]
struct Seen {
    attendance_id: String,
    last_seen: i64,
    last_written: i64,
}

/// Open viewing intervals, by (lesson, viewer).
#[derive(Debug, Default)]
pub struct Viewers {
    seen: Mutex<HashMap<(String, String), Seen>>,
}

enum Write {
    Open(String),
    Extend(String),
    Nothing,
}

impl Viewers {
    /// Counts one fetch by a viewer with a valid grant.
    pub async fn watched(&self, db: &Db, lesson_id: &str, user_id: &str) -> sqlx::Result<()> {
        let now = now_ms();
        let write = {
            let mut seen = self.seen.lock().expect("viewers");
            // Forget viewers long gone, so the map holds only current audiences.
            if seen.len() > 10_000 {
                seen.retain(|_, s| now - s.last_seen <= GAP_MS);
            }
            let key = (lesson_id.to_owned(), user_id.to_owned());
            match seen.get_mut(&key) {
                Some(s) if now - s.last_seen <= GAP_MS => {
                    s.last_seen = now;
                    if now - s.last_written >= WRITE_EVERY_MS {
                        s.last_written = now;
                        Write::Extend(s.attendance_id.clone())
                    } else {
                        Write::Nothing
                    }
                }
                _ => {
                    let id = new_id();
                    seen.insert(
                        key,
                        Seen {
                            attendance_id: id.clone(),
                            last_seen: now,
                            last_written: now,
                        },
                    );
                    Write::Open(id)
                }
            }
        };
        match write {
            Write::Open(id) => {
                sqlx::query(
                    "INSERT INTO attendance (id, lesson_id, user_id, source, joined_at, left_at) \
                     VALUES ($1, $2, $3, 'hls', $4, $4)",
                )
                .bind(id)
                .bind(lesson_id)
                .bind(user_id)
                .bind(now)
                .execute(db.pool())
                .await?;
            }
            Write::Extend(id) => {
                sqlx::query("UPDATE attendance SET left_at = $2 WHERE id = $1")
                    .bind(id)
                    .bind(now)
                    .execute(db.pool())
                    .await?;
            }
            Write::Nothing => {}
        }
        Ok(())
    }
}

/// A file of a lesson's HLS output a viewer may ask for: the master playlist, or a media
/// playlist or segment of a known rendition. Nothing else (no `..`, no temporary files).
pub fn servable(rendition: Option<&str>, file: &str) -> bool {
    let plain = !file.is_empty()
        && !file.starts_with('.')
        && file
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    match rendition {
        None => file == "master.m3u8",
        Some(r) => {
            super::RENDITIONS.iter().any(|(name, _, _)| *name == r)
                && plain
                && (file == "index.m3u8" || file.ends_with(".ts"))
        }
    }
}

/// The playlist with `query` appended to every URI, so a player's next requests carry the
/// signature that fetched it.
pub fn sign_playlist(text: &str, query: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64 * 16);
    for line in text.lines() {
        let uri = line.trim();
        out.push_str(line);
        if !uri.is_empty() && !uri.starts_with('#') {
            out.push(if uri.contains('?') { '&' } else { '?' });
            out.push_str(query);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_playlists_and_segments_of_known_renditions() {
        assert!(servable(None, "master.m3u8"));
        assert!(!servable(None, "index.m3u8"));
        assert!(servable(Some("low"), "index.m3u8"));
        assert!(servable(Some("audio"), "seg_12.ts"));
        assert!(!servable(Some("low"), "seg_12.ts.tmp"));
        assert!(!servable(Some("high"), "seg_1.ts"));
        assert!(!servable(Some("low"), "..ts"));
        assert!(!servable(Some("low"), "a/b.ts"));
    }

    #[test]
    fn every_uri_carries_the_signature() {
        let text = "#EXTM3U\n#EXTINF:1.0,\nseg_1.ts\n\n#EXT-X-DISCONTINUITY\nseg_2.ts\n";
        assert_eq!(
            sign_playlist(text, "u=a&exp=1&sig=ff"),
            "#EXTM3U\n#EXTINF:1.0,\nseg_1.ts?u=a&exp=1&sig=ff\n\n#EXT-X-DISCONTINUITY\nseg_2.ts?u=a&exp=1&sig=ff\n"
        );
    }
}
