//! The room as a whole, the hand queue and the stage.

use lianxiao_protocol::{ChatMessage, Mute, RaisedHand, RoomEvent, RoomState, StageChange};
use sqlx::{AnyConnection, Row};

use super::{Notices, learns, quiz, require};
use crate::{
    db::{Tx, now_ms},
    error::ApiResult,
    lessons::access,
};

/// Messages a phone gets when it reads the room.
const RECENT_CHAT: i64 = 100;

/// `GET /v1/lessons/{id}/room`, as the caller may see it.
pub async fn state(
    conn: &mut AnyConnection,
    user_id: &str,
    lesson_id: &str,
) -> ApiResult<RoomState> {
    let (lesson, standing) = access::visible_lesson(conn, user_id, lesson_id).await?;
    let now = now_ms();
    let hands = sqlx::query(
        "SELECT user_id, class_id, raised_at FROM classroom_hands WHERE lesson_id = $1 \
         ORDER BY raised_at, user_id",
    )
    .bind(&lesson.id)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| {
        Ok(RaisedHand {
            user_id: r.try_get(0)?,
            class_id: r.try_get(1)?,
            raised_at: r.try_get(2)?,
        })
    })
    .collect::<sqlx::Result<Vec<_>>>()?;
    let on_stage = sqlx::query_scalar(
        "SELECT user_id FROM classroom_stage WHERE lesson_id = $1 ORDER BY since, user_id",
    )
    .bind(&lesson.id)
    .fetch_all(&mut *conn)
    .await?;
    let mut chat = sqlx::query(
        "SELECT id, author_id, body, sent_at FROM classroom_chat \
         WHERE lesson_id = $1 AND deleted_at IS NULL ORDER BY sent_at DESC, id DESC LIMIT $2",
    )
    .bind(&lesson.id)
    .bind(RECENT_CHAT)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| {
        Ok(ChatMessage {
            id: r.try_get(0)?,
            lesson_id: lesson.id.clone(),
            author_id: r.try_get(1)?,
            text: r.try_get(2)?,
            sent_at: r.try_get(3)?,
        })
    })
    .collect::<sqlx::Result<Vec<_>>>()?;
    chat.reverse();
    let mutes = sqlx::query(
        "SELECT user_id, until_at FROM classroom_mutes WHERE lesson_id = $1 AND until_at > $2 \
         ORDER BY user_id",
    )
    .bind(&lesson.id)
    .bind(now)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| {
        Ok(Mute {
            user_id: r.try_get(0)?,
            until: r.try_get(1)?,
        })
    })
    .collect::<sqlx::Result<Vec<_>>>()?;
    let quiz = quiz::open_quiz(conn, &lesson.id, user_id, &standing).await?;
    Ok(RoomState {
        lesson_id: lesson.id,
        hands,
        on_stage,
        chat,
        mutes,
        quiz,
        server_time: now,
    })
}

/// `POST /v1/lessons/{id}/hand`: a student raises or lowers their hand; an assistant raises
/// one for their whole class. Raising twice keeps the first place in the queue.
pub async fn hand(
    tx: &mut Tx,
    user_id: &str,
    lesson_id: &str,
    raised: bool,
    early_secs: u64,
) -> ApiResult<(Option<RaisedHand>, Notices)> {
    let (lesson, standing) = super::open_lesson(tx, user_id, lesson_id, early_secs).await?;
    require(
        learns(&standing),
        "only the lesson's students and assistants raise hands",
    )?;
    let mut notices = Notices::default();
    if !raised {
        let gone = sqlx::query("DELETE FROM classroom_hands WHERE lesson_id = $1 AND user_id = $2")
            .bind(&lesson.id)
            .bind(user_id)
            .execute(&mut **tx)
            .await?
            .rows_affected();
        if gone > 0 {
            notices.everyone(
                &lesson.id,
                RoomEvent::HandLowered {
                    user_id: user_id.to_owned(),
                },
            );
        }
        return Ok((None, notices));
    }
    // An assistant's hand stands for their class; a student's for themselves.
    let class_id = if standing.student_class.is_some() {
        None
    } else {
        standing.assists.first().cloned()
    };
    let inserted = sqlx::query(
        "INSERT INTO classroom_hands (lesson_id, user_id, class_id, raised_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (lesson_id, user_id) DO NOTHING",
    )
    .bind(&lesson.id)
    .bind(user_id)
    .bind(&class_id)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    let r = sqlx::query(
        "SELECT class_id, raised_at FROM classroom_hands WHERE lesson_id = $1 AND user_id = $2",
    )
    .bind(&lesson.id)
    .bind(user_id)
    .fetch_one(&mut **tx)
    .await?;
    let hand = RaisedHand {
        user_id: user_id.to_owned(),
        class_id: r.try_get(0)?,
        raised_at: r.try_get(1)?,
    };
    if inserted > 0 {
        notices.everyone(&lesson.id, RoomEvent::HandRaised { hand: hand.clone() });
    }
    Ok((Some(hand), notices))
}

/// Records a stage change LiveKit accepted: on stage takes the person's hand out of the queue.
pub async fn stage_changed(
    tx: &mut Tx,
    lesson_id: &str,
    change: &StageChange,
) -> ApiResult<Notices> {
    let mut notices = Notices::default();
    if change.on_stage {
        sqlx::query("DELETE FROM classroom_hands WHERE lesson_id = $1 AND user_id = $2")
            .bind(lesson_id)
            .bind(&change.user_id)
            .execute(&mut **tx)
            .await?;
        sqlx::query(
            "INSERT INTO classroom_stage (lesson_id, user_id, since) VALUES ($1, $2, $3) \
             ON CONFLICT (lesson_id, user_id) DO NOTHING",
        )
        .bind(lesson_id)
        .bind(&change.user_id)
        .bind(now_ms())
        .execute(&mut **tx)
        .await?;
    } else {
        sqlx::query("DELETE FROM classroom_stage WHERE lesson_id = $1 AND user_id = $2")
            .bind(lesson_id)
            .bind(&change.user_id)
            .execute(&mut **tx)
            .await?;
    }
    notices.everyone(
        lesson_id,
        RoomEvent::Stage {
            user_id: change.user_id.clone(),
            on_stage: change.on_stage,
        },
    );
    Ok(notices)
}
