//! Chat in a live lesson: a per-person rate limit (a burst, then a steady pace), mutes, and
//! messages a teacher deletes from every phone.

use lianxiao_protocol::{
    ChatMessage, ErrorCode, MAX_CHAT_CHARS, MAX_MUTE_MINUTES, Mute, MuteChange, RoomEvent,
};

use super::{Notices, learns, moderates, require, takes_part};
use crate::{
    db::{Tx, new_id, now_ms},
    error::{ApiError, ApiResult},
    lessons::access,
};

/// Messages one person may send at once...
const BURST: i64 = 5;
/// ...and then one per this many milliseconds.
const PACE_MS: i64 = 2_000;

/// `POST /v1/lessons/{id}/chat`.
pub async fn post(
    tx: &mut Tx,
    user_id: &str,
    lesson_id: &str,
    text: &str,
    early_secs: u64,
) -> ApiResult<(ChatMessage, Notices)> {
    let text = text.trim();
    if text.is_empty() {
        return Err(ApiError::validation("text", "a message needs some text"));
    }
    if text.chars().count() > MAX_CHAT_CHARS {
        return Err(ApiError::validation(
            "text",
            format!("a message has at most {MAX_CHAT_CHARS} characters"),
        ));
    }
    let (lesson, standing) = super::open_lesson(tx, user_id, lesson_id, early_secs).await?;
    require(takes_part(&standing), "only people in the lesson chat")?;
    let now = now_ms();
    let muted_until: Option<i64> = sqlx::query_scalar(
        "SELECT until_at FROM classroom_mutes WHERE lesson_id = $1 AND user_id = $2 AND until_at > $3",
    )
    .bind(&lesson.id)
    .bind(user_id)
    .bind(now)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(until) = muted_until {
        let mut e = ApiError::new(
            ErrorCode::Muted,
            "a teacher muted you in this lesson's chat",
        );
        e.body.retry_after_secs = Some(((until - now) as u64).div_ceil(1000).max(1));
        return Err(e);
    }
    spend_budget(tx, &lesson.id, user_id, now).await?;
    let message = ChatMessage {
        id: new_id(),
        lesson_id: lesson.id.clone(),
        author_id: user_id.to_owned(),
        text: text.to_owned(),
        sent_at: now,
    };
    sqlx::query(
        "INSERT INTO classroom_chat (id, lesson_id, author_id, body, sent_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&message.id)
    .bind(&lesson.id)
    .bind(user_id)
    .bind(&message.text)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    let mut notices = Notices::default();
    notices.everyone(
        &lesson.id,
        RoomEvent::Chat {
            message: message.clone(),
        },
    );
    Ok((message, notices))
}

/// The rate limit as GCRA: `tat` is when the person's budget is full again; a message is
/// allowed while `tat` is at most a burst ahead of now. Kept in the database, so every
/// server process counts the same messages.
async fn spend_budget(tx: &mut Tx, lesson_id: &str, user_id: &str, now: i64) -> ApiResult<()> {
    let tat: Option<i64> = sqlx::query_scalar(
        "SELECT tat FROM classroom_chat_budget WHERE lesson_id = $1 AND user_id = $2",
    )
    .bind(lesson_id)
    .bind(user_id)
    .fetch_optional(&mut **tx)
    .await?;
    let tat = tat.unwrap_or(now).max(now);
    let tolerance = PACE_MS * (BURST - 1);
    if tat - now > tolerance {
        let wait_ms = tat - tolerance - now;
        return Err(ApiError::rate_limited((wait_ms as u64).div_ceil(1000)));
    }
    sqlx::query(
        "INSERT INTO classroom_chat_budget (lesson_id, user_id, tat) VALUES ($1, $2, $3) \
         ON CONFLICT (lesson_id, user_id) DO UPDATE SET tat = excluded.tat",
    )
    .bind(lesson_id)
    .bind(user_id)
    .bind(tat + PACE_MS)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// `DELETE /v1/lessons/{id}/chat/{message}`: a teacher takes a message down for everyone.
pub async fn delete_message(
    tx: &mut Tx,
    user_id: &str,
    lesson_id: &str,
    message_id: &str,
) -> ApiResult<Notices> {
    let (lesson, standing) = access::visible_lesson(tx, user_id, lesson_id).await?;
    require(
        moderates(&standing),
        "only the lesson's teachers delete messages",
    )?;
    let changed = sqlx::query(
        "UPDATE classroom_chat SET deleted_by = $1, deleted_at = $2 \
         WHERE id = $3 AND lesson_id = $4 AND deleted_at IS NULL",
    )
    .bind(user_id)
    .bind(now_ms())
    .bind(message_id)
    .bind(&lesson.id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    let mut notices = Notices::default();
    if changed == 0 {
        let exists: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM classroom_chat WHERE id = $1 AND lesson_id = $2",
        )
        .bind(message_id)
        .bind(&lesson.id)
        .fetch_one(&mut **tx)
        .await?;
        if exists == 0 {
            return Err(ApiError::not_found("message"));
        }
        // Already deleted: nothing more to tell anyone.
        return Ok(notices);
    }
    notices.everyone(
        &lesson.id,
        RoomEvent::ChatDeleted {
            message_id: message_id.to_owned(),
        },
    );
    Ok(notices)
}

/// `POST /v1/lessons/{id}/mutes`: a teacher mutes a student or assistant for some minutes
/// (0 lifts it).
pub async fn mute(
    tx: &mut Tx,
    user_id: &str,
    lesson_id: &str,
    change: &MuteChange,
    early_secs: u64,
) -> ApiResult<(Mute, Notices)> {
    let (lesson, standing) = super::open_lesson(tx, user_id, lesson_id, early_secs).await?;
    require(moderates(&standing), "only the lesson's teachers mute")?;
    if change.minutes > MAX_MUTE_MINUTES {
        return Err(ApiError::validation(
            "minutes",
            format!("a mute lasts at most {MAX_MUTE_MINUTES} minutes"),
        ));
    }
    let target = access::standing(tx, &change.user_id, &lesson).await?;
    if !learns(&target) || target.lead {
        return Err(ApiError::validation(
            "user_id",
            "only the lesson's students and assistants can be muted",
        ));
    }
    let now = now_ms();
    let mute = Mute {
        user_id: change.user_id.clone(),
        until: now + i64::from(change.minutes) * 60_000,
    };
    sqlx::query(
        "INSERT INTO classroom_mutes (lesson_id, user_id, until_at, muted_by) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (lesson_id, user_id) DO UPDATE SET until_at = excluded.until_at, muted_by = excluded.muted_by",
    )
    .bind(&lesson.id)
    .bind(&mute.user_id)
    .bind(mute.until)
    .bind(user_id)
    .execute(&mut **tx)
    .await?;
    let mut notices = Notices::default();
    notices.everyone(&lesson.id, RoomEvent::Muted { mute: mute.clone() });
    Ok((mute, notices))
}
