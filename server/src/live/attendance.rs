//! Who was in a lesson and for how long, for its teachers and admins.

use std::collections::BTreeMap;

use lianxiao_protocol::{Attendance, AttendanceInterval, PersonRef};
use sqlx::{AnyConnection, Row};

use crate::{
    error::{ApiError, ApiResult},
    lessons::access,
};

/// Everyone's attendance for the lead, the scheduler and admins; an assistant sees their own
/// class's students.
pub async fn report(
    conn: &mut AnyConnection,
    caller_id: &str,
    lesson_id: &str,
) -> ApiResult<Vec<Attendance>> {
    let (lesson, standing) = access::visible_lesson(conn, caller_id, lesson_id).await?;
    if !standing.manages() && standing.assists.is_empty() {
        return Err(ApiError::forbidden(
            "attendance is for the lesson's teachers and admins",
        ));
    }
    let rows = sqlx::query(
        "SELECT a.user_id, u.name, a.source, a.joined_at, a.left_at, \
           (SELECT MIN(m.class_id) FROM memberships m JOIN lesson_classes lc \
              ON lc.class_id = m.class_id AND lc.lesson_id = a.lesson_id \
            WHERE m.user_id = a.user_id AND m.role = 'student') AS class_id \
         FROM attendance a JOIN users u ON u.id = a.user_id \
         WHERE a.lesson_id = $1 ORDER BY a.user_id, a.joined_at",
    )
    .bind(&lesson.id)
    .fetch_all(&mut *conn)
    .await?;
    let until = crate::clock::now_ms().min(lesson.ends_at.max(lesson.starts_at));
    let mut people: BTreeMap<String, Attendance> = BTreeMap::new();
    for r in rows {
        let user_id: String = r.try_get("user_id")?;
        let class_id: Option<String> = r.try_get("class_id")?;
        if !standing.manages()
            && !class_id
                .as_ref()
                .is_some_and(|c| standing.assists.contains(c))
        {
            continue;
        }
        let entry = people.entry(user_id.clone()).or_insert_with(|| Attendance {
            user: PersonRef {
                id: user_id,
                name: String::new(),
            },
            class_id: class_id.clone(),
            intervals: Vec::new(),
            total_ms: 0,
        });
        entry.user.name = r.try_get("name")?;
        entry.intervals.push(AttendanceInterval {
            source: r.try_get("source")?,
            joined_at: r.try_get("joined_at")?,
            left_at: r.try_get("left_at")?,
        });
    }
    let mut out: Vec<Attendance> = people.into_values().collect();
    for a in &mut out {
        a.intervals = merge_watching(std::mem::take(&mut a.intervals), until);
        a.total_ms = present_ms(&a.intervals, until);
    }
    Ok(out)
}

/// Watching is seen twice: the broadcast's segment fetches (`hls`) and the app's heartbeats
/// (`app`, sent while the phone plays the broadcast as while it is in the room). Where those
/// overlap they are one stretch of being there, listed once with both sources (`app+hls`),
/// so a report never shows the same minutes twice. Room intervals (`livekit`) stay apart.
pub fn merge_watching(intervals: Vec<AttendanceInterval>, until: i64) -> Vec<AttendanceInterval> {
    fn watching(source: &str) -> bool {
        source.split('+').all(|s| s == "app" || s == "hls")
    }
    let (mut seen, mut out): (Vec<_>, Vec<_>) =
        intervals.into_iter().partition(|i| watching(&i.source));
    seen.sort_by_key(|i| i.joined_at);
    let end = |i: &AttendanceInterval| i.left_at.unwrap_or(until.max(i.joined_at));
    let mut merged: Vec<AttendanceInterval> = Vec::new();
    for i in seen {
        match merged.last_mut() {
            Some(last) if i.joined_at <= end(last) => {
                last.left_at = match (last.left_at, i.left_at) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    _ => None,
                };
                let mut sources: Vec<&str> =
                    last.source.split('+').chain(i.source.split('+')).collect();
                sources.sort_unstable();
                sources.dedup();
                last.source = sources.join("+");
            }
            _ => merged.push(i),
        }
    }
    out.extend(merged);
    out.sort_by_key(|i| i.joined_at);
    out
}

/// Time covered by the intervals, overlaps once; open intervals run to `until`.
pub fn present_ms(intervals: &[AttendanceInterval], until: i64) -> i64 {
    let mut spans: Vec<(i64, i64)> = intervals
        .iter()
        .map(|i| (i.joined_at, i.left_at.unwrap_or(until.max(i.joined_at))))
        .collect();
    spans.sort();
    let mut total = 0;
    let mut current: Option<(i64, i64)> = None;
    for (start, end) in spans {
        current = match current {
            Some((s, e)) if start <= e => Some((s, e.max(end))),
            Some((s, e)) => {
                total += e - s;
                Some((start, end))
            }
            None => Some((start, end)),
        };
    }
    total + current.map_or(0, |(s, e)| e - s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(joined_at: i64, left_at: Option<i64>) -> AttendanceInterval {
        AttendanceInterval {
            source: "livekit".into(),
            joined_at,
            left_at,
        }
    }

    fn from(source: &str, joined_at: i64, left_at: i64) -> AttendanceInterval {
        AttendanceInterval {
            source: source.into(),
            joined_at,
            left_at: Some(left_at),
        }
    }

    #[test]
    fn heartbeats_and_segment_fetches_of_one_stretch_are_one_interval() {
        let merged = merge_watching(
            vec![
                from("livekit", 0, 50),
                from("app", 40, 100),
                from("hls", 45, 110),
                from("app", 200, 230),
                from("hls", 300, 310),
            ],
            1000,
        );
        assert_eq!(
            merged,
            vec![
                from("livekit", 0, 50),
                from("app+hls", 40, 110),
                from("app", 200, 230),
                from("hls", 300, 310),
            ]
        );
        assert_eq!(present_ms(&merged, 1000), 110 + 30 + 10);
    }

    #[test]
    fn overlapping_stretches_count_once_and_open_ones_run_to_the_end() {
        let spans = [span(0, Some(10)), span(5, Some(20)), span(30, None)];
        assert_eq!(present_ms(&spans, 40), 20 + 10);
        assert_eq!(present_ms(&[], 40), 0);
    }
}
