//! The live room of a lesson (课堂互动): raised hands and the stage, chat with moderation and
//! a rate limit, and the in-class quiz. Everything is stored, so `GET /v1/lessons/{id}/room`
//! gives a late or reconnecting phone the same room; every change is also pushed as a
//! [`RoomEvent`] on the realtime channel to the people in the lesson.
//!
//! Who may do what is decided from the caller's [`Standing`] in the lesson. Taking part
//! (hands, stage, chat, mutes, asking and answering quizzes) needs the lesson open now, by
//! the same rule as joining ([`crate::live::check_window`]): a cancelled, ended or not yet
//! open lesson answers `409 lesson_not_live`. Reading the room always works, and two
//! clean-ups stay open to the lesson's teachers afterwards: closing a quiz left open (so its
//! results are shown) and deleting a message (so it is not kept with the lesson).

mod chat;
mod quiz;
mod room;
mod tally;

pub use chat::{delete_message, mute, post as post_chat};
pub use quiz::{answer as answer_quiz, close as close_quiz, list as quizzes, open as open_quiz};
pub use room::{hand, stage_changed, state};
pub use tally::Tallies;

use lianxiao_protocol::RoomEvent;

use sqlx::AnyConnection;

use crate::{
    app::AppState,
    db::Backend,
    error::{ApiError, ApiResult},
    lessons::access::{self, LessonRow, Standing},
    realtime::{ROOM_CHANNEL, RoomNotice},
};

/// The lesson as the caller stands towards it, refused (`lesson_not_live`) unless its room is
/// open now; `early_secs` is how long before the start it opens (the join margin).
async fn open_lesson(
    conn: &mut AnyConnection,
    user_id: &str,
    lesson_id: &str,
    early_secs: u64,
) -> ApiResult<(LessonRow, Standing)> {
    let (lesson, standing) = access::visible_lesson(conn, user_id, lesson_id).await?;
    crate::live::check_window(&lesson, early_secs, crate::clock::now_ms())?;
    Ok((lesson, standing))
}

/// Room events a change produced, sent once it is committed.
#[derive(Debug, Default)]
pub struct Notices(Vec<RoomNotice>);

impl Notices {
    fn everyone(&mut self, lesson_id: &str, event: RoomEvent) {
        self.push(lesson_id, false, event);
    }

    fn staff(&mut self, lesson_id: &str, event: RoomEvent) {
        self.push(lesson_id, true, event);
    }

    fn push(&mut self, lesson_id: &str, staff_only: bool, event: RoomEvent) {
        self.0.push(RoomNotice {
            lesson_id: lesson_id.to_owned(),
            staff_only,
            event,
        });
    }
}

/// Sends committed room events to every server process (PostgreSQL NOTIFY) or to this one's
/// sockets (SQLite). Best effort: a phone that misses one reads the room again on reconnect.
pub async fn publish(state: &AppState, notices: Notices) {
    if notices.0.is_empty() {
        return;
    }
    if state.db().backend() == Backend::Postgres {
        for notice in notices.0 {
            let Ok(payload) = serde_json::to_string(&notice) else {
                continue;
            };
            let sent = sqlx::query("SELECT pg_notify($1, $2)")
                .bind(ROOM_CHANNEL)
                .bind(payload)
                .execute(state.db().pool())
                .await;
            if let Err(e) = sent {
                tracing::warn!(error = %e, lesson = %notice.lesson_id, "room event not sent");
            }
        }
    } else {
        state.hub().room_committed(state.db(), notices.0);
    }
}

/// Takes part in the room: teaches, attends or looks after it. Parents only watch.
fn takes_part(s: &Standing) -> bool {
    s.lead || s.admin || s.scheduler || !s.assists.is_empty() || s.student_class.is_some()
}

/// Moderates the chat: the lead, the assistants, an admin.
fn moderates(s: &Standing) -> bool {
    s.lead || s.admin || !s.assists.is_empty()
}

/// Runs the room: the stage and the quiz.
fn runs(s: &Standing) -> bool {
    s.lead || s.admin
}

/// In the room as a learner: a student, or an assistant for their class.
fn learns(s: &Standing) -> bool {
    s.student_class.is_some() || !s.assists.is_empty()
}

fn require(ok: bool, message: &'static str) -> ApiResult<()> {
    if ok {
        Ok(())
    } else {
        Err(ApiError::forbidden(message))
    }
}
