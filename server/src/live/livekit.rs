//! LiveKit through `livekit-api`: access tokens with grants by role, the webhook receiver
//! (signature checked, each event handled once), and stage changes through the room service.

use std::time::Duration;

use lianxiao_protocol::{
    EntityKind, LessonRole, LessonStatus, LiveKitTicket, StageChange, lesson_room, room_lesson,
};
use livekit_api::{
    access_token::{AccessToken, TokenVerifier, VideoGrants},
    services::room::{RoomClient, UpdateParticipantOptions},
    webhooks::WebhookReceiver,
};
use livekit_protocol::{ParticipantPermission, WebhookEvent};

use super::egress::{EgressFiles, RoomChange};
use crate::{
    app::LiveKitConfig,
    db::{Tx, feed, new_id, now_ms},
    error::{ApiError, ApiResult},
    lessons::access::{self, LessonRow},
};

/// An access token for one person in one lesson's room, expiring at `expires_at`.
#[allow(clippy::too_many_arguments)]
pub(super) fn ticket(
    lk: &LiveKitConfig,
    lesson: &LessonRow,
    user_id: &str,
    name: &str,
    role: LessonRole,
    class_id: Option<&str>,
    expires_at: i64,
    now: i64,
) -> ApiResult<LiveKitTicket> {
    let room = lesson_room(&lesson.id);
    let lead = role == LessonRole::Lead;
    let grants = VideoGrants {
        room_join: true,
        room: room.clone(),
        room_admin: lead,
        // Everyone else publishes only once the lead brings them on stage.
        can_publish: Some(lead),
        can_subscribe: Some(true),
        // Chat, hands and quizzes go through our realtime channel, not LiveKit data.
        can_publish_data: Some(false),
        can_update_own_metadata: Some(false),
        hidden: matches!(role, LessonRole::Parent | LessonRole::Observer),
        ..Default::default()
    };
    let metadata = serde_json::json!({ "role": role.as_str(), "class_id": class_id }).to_string();
    let ttl = Duration::from_millis((expires_at - now).max(1000) as u64);
    let token = AccessToken::with_api_key(&lk.api_key, &lk.api_secret)
        .with_identity(user_id)
        .with_name(name)
        .with_metadata(&metadata)
        .with_ttl(ttl)
        .with_grants(grants)
        .to_jwt()
        .map_err(|e| {
            tracing::error!(error = %e, "could not sign a LiveKit token");
            ApiError::internal()
        })?;
    Ok(LiveKitTicket {
        url: lk.url.clone(),
        token,
        room,
        expires_at: now + ttl.as_millis() as i64,
    })
}

/// What a webhook did: the lesson's new feed sequence, if the lesson changed, and the room
/// starting or finishing (for its egress, once committed).
#[derive(Debug, Default)]
pub struct Handled {
    pub seq: Option<i64>,
    pub room: Option<RoomChange>,
}

/// `POST /v1/livekit/webhook`: verifies LiveKit's signature over the body, then turns the
/// event into attendance, lesson status or a recording. A retried event changes nothing.
pub async fn handle_webhook(
    tx: &mut Tx,
    lk: &LiveKitConfig,
    body: &str,
    authorization: &str,
    files: &EgressFiles,
) -> ApiResult<Handled> {
    let token = authorization
        .strip_prefix("Bearer ")
        .unwrap_or(authorization);
    let receiver = WebhookReceiver::new(TokenVerifier::with_api_key(&lk.api_key, &lk.api_secret));
    let event = receiver.receive(body, token).map_err(|e| {
        tracing::warn!(error = %e, "LiveKit webhook refused");
        ApiError::unauthorized("the webhook's signature does not match its body")
    })?;
    apply(tx, &event, files).await
}

async fn apply(tx: &mut Tx, event: &WebhookEvent, files: &EgressFiles) -> ApiResult<Handled> {
    let room = event
        .room
        .as_ref()
        .map(|r| r.name.as_str())
        .or_else(|| event.egress_info.as_ref().map(|e| e.room_name.as_str()))
        .unwrap_or("");
    let Some(lesson_id) = room_lesson(room) else {
        return Ok(Handled::default());
    };
    let Some(lesson) = access::lesson_row(tx, lesson_id).await? else {
        return Ok(Handled::default());
    };
    if !event.id.is_empty() {
        let fresh = sqlx::query(
            "INSERT INTO livekit_events (id, received_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&event.id)
        .bind(now_ms())
        .execute(&mut **tx)
        .await?
        .rows_affected();
        if fresh == 0 {
            return Ok(Handled::default());
        }
    }
    let at = if event.created_at > 0 {
        event.created_at * 1000
    } else {
        now_ms()
    };
    let identity = event
        .participant
        .as_ref()
        .map(|p| p.identity.as_str())
        .unwrap_or("");
    tracing::info!(event = %event.event, lesson = %lesson.id, "LiveKit webhook");
    let mut handled = Handled::default();
    match event.event.as_str() {
        "room_started" => {
            if matches!(
                lesson.status,
                LessonStatus::Scheduled | LessonStatus::Interrupted
            ) {
                handled.seq = Some(set_status(tx, &lesson.id, LessonStatus::Live).await?);
            }
            if !matches!(lesson.status, LessonStatus::Ended | LessonStatus::Cancelled) {
                handled.room = Some(RoomChange::Started(lesson.id.clone()));
            }
        }
        "participant_joined" if !identity.is_empty() => {
            sqlx::query(
                "INSERT INTO attendance (id, lesson_id, user_id, source, joined_at) \
                 VALUES ($1, $2, $3, 'livekit', $4)",
            )
            .bind(new_id())
            .bind(&lesson.id)
            .bind(identity)
            .bind(at)
            .execute(&mut **tx)
            .await?;
        }
        "participant_left" if !identity.is_empty() => {
            close_intervals(tx, &lesson.id, Some(identity), at).await?;
        }
        "room_finished" => {
            close_intervals(tx, &lesson.id, None, at).await?;
            handled.room = Some(RoomChange::Finished(lesson.id.clone()));
            if lesson.status != LessonStatus::Cancelled {
                handled.seq = Some(set_status(tx, &lesson.id, LessonStatus::Ended).await?);
            }
        }
        "egress_ended" => {
            if let Some(egress) = &event.egress_info {
                let location = egress
                    .file_results
                    .iter()
                    .map(|f| f.location.as_str())
                    .find(|l| !l.is_empty())
                    .unwrap_or("");
                // A stream egress (the room fed to our own HLS ingest) leaves no file: its
                // recording is the ingest's own.
                if !location.is_empty() {
                    // Signed is not enough: only files where egress recordings live are read.
                    let location = files.location(location).await.inspect_err(|_| {
                        tracing::warn!(lesson = %lesson.id, "egress file outside the egress directory refused");
                    })?;
                    sqlx::query(
                        "INSERT INTO recordings (id, lesson_id, source, location, status, created_at) \
                         VALUES ($1, $2, 'egress', $3, 'pending', $4)",
                    )
                    .bind(new_id())
                    .bind(&lesson.id)
                    .bind(&location)
                    .bind(at)
                    .execute(&mut **tx)
                    .await?;
                }
            }
        }
        _ => {}
    }
    Ok(handled)
}

async fn close_intervals(
    tx: &mut Tx,
    lesson_id: &str,
    user_id: Option<&str>,
    at: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE attendance SET left_at = $3 WHERE lesson_id = $1 AND source = 'livekit' \
         AND left_at IS NULL AND ($2 = '' OR user_id = $2)",
    )
    .bind(lesson_id)
    .bind(user_id.unwrap_or(""))
    .bind(at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Sets a lesson's status and tells everyone who has it in their timetable (sync feed).
pub(crate) async fn set_status(
    tx: &mut Tx,
    lesson_id: &str,
    status: LessonStatus,
) -> ApiResult<i64> {
    sqlx::query("UPDATE lessons SET status = $2, updated_at = $3 WHERE id = $1")
        .bind(lesson_id)
        .bind(status.as_str())
        .bind(now_ms())
        .execute(&mut **tx)
        .await?;
    let seq = feed::next_seq(tx).await?;
    feed::touch_many(
        tx,
        seq,
        EntityKind::Lesson,
        lesson_id,
        false,
        crate::lessons::AUDIENCE_SQL,
        &[lesson_id],
    )
    .await?;
    Ok(seq)
}

/// Brings a participant on stage (may publish camera and microphone) or takes them off,
/// through LiveKit's room service. Only the lead teacher (or an admin), only for people in
/// the lesson, and only while it is open (`lesson_not_live` otherwise).
pub async fn set_stage(
    conn: &mut sqlx::AnyConnection,
    lk: &LiveKitConfig,
    caller_id: &str,
    lesson_id: &str,
    change: &StageChange,
    early_secs: u64,
) -> ApiResult<()> {
    let (lesson, standing) = access::visible_lesson(conn, caller_id, lesson_id).await?;
    super::check_window(&lesson, early_secs, crate::clock::now_ms())?;
    if !standing.lead && !standing.admin {
        return Err(ApiError::forbidden("only the lead teacher runs the stage"));
    }
    let target = access::standing(conn, &change.user_id, &lesson).await?;
    if target.assists.is_empty() && target.student_class.is_none() {
        return Err(ApiError::validation(
            "user_id",
            "only a student or an assistant of the lesson can be brought on stage",
        ));
    }
    let permission = ParticipantPermission {
        can_subscribe: true,
        can_publish: change.on_stage,
        can_publish_data: false,
        hidden: false,
        ..Default::default()
    };
    RoomClient::with_api_key(&lk.api_base(), &lk.api_key, &lk.api_secret)
        .update_participant(
            &lesson_room(&lesson.id),
            &change.user_id,
            UpdateParticipantOptions {
                permission: Some(permission),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, lesson = %lesson.id, "LiveKit refused the stage change");
            ApiError::unavailable("the media server did not accept the change; try again")
        })?;
    Ok(())
}
