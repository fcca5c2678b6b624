//! The live room of a lesson: its state, hands, chat, mutes and quizzes. Every change takes
//! an Idempotency-Key and is pushed to the lesson's people as a room event once committed.
//! Hands, chat, mutes and quizzes need the lesson open now (the join window): otherwise
//! `409 lesson_not_live`.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
    response::Response,
};
use lianxiao_protocol::{
    ChatMessage, ErrorBody, HandChange, Mute, MuteChange, OpenQuiz, PostChat, Quiz, QuizAnswer,
    RaisedHand, RoomState,
};

use crate::{
    app::AppState,
    auth::Caller,
    classroom,
    error::ApiResult,
    http::extract::ApiJson,
    idempotency::{self, Begin, IdempotencyKey},
};

/// Everything a phone needs to draw the room: the hand queue, who is on stage, recent chat,
/// mutes and the open quiz (its live tally for teachers).
#[utoipa::path(get, path = "/v1/lessons/{id}/room", tag = "lessons", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = RoomState), (status = 404, body = ErrorBody)))]
pub async fn room(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<RoomState>> {
    let mut conn = state.db().pool().acquire().await?;
    classroom::state(&mut conn, &caller.user_id, &id)
        .await
        .map(Json)
}

/// Raise or lower a hand (a student for themselves, an assistant for their class).
#[utoipa::path(post, path = "/v1/lessons/{id}/hand", tag = "lessons", request_body = HandChange,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)), security(("bearer" = [])),
    responses((status = 200, description = "The hand in the queue, or null once lowered", body = Option<RaisedHand>),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "lesson_not_live: cancelled, over or not open yet", body = ErrorBody)))]
pub async fn hand(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    Path(id): Path<String>,
    ApiJson(change): ApiJson<HandChange>,
) -> ApiResult<Response> {
    let fp = idempotency::fingerprint(&format!("POST /v1/lessons/{id}/hand"), &change);
    let mut m = match idempotency::begin(&state, &caller, key, &fp).await? {
        Begin::Replay(r) => return Ok(r),
        Begin::Run(m) => m,
    };
    let early = state.config().join_early_secs;
    let (hand, notices) =
        classroom::hand(m.tx(), &caller.user_id, &id, change.raised, early).await?;
    let response = m.finish(StatusCode::OK, &hand, None).await?;
    classroom::publish(&state, notices).await;
    Ok(response)
}

/// Post a chat message. Rate limited per person (a burst, then one every 2 s: `429` with
/// `retry_after_secs`); a muted person gets `403` with code `muted`.
#[utoipa::path(post, path = "/v1/lessons/{id}/chat", tag = "lessons", request_body = PostChat,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)), security(("bearer" = [])),
    responses((status = 201, body = ChatMessage), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "lesson_not_live: cancelled, over or not open yet", body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn chat(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    Path(id): Path<String>,
    ApiJson(post): ApiJson<PostChat>,
) -> ApiResult<Response> {
    let fp = idempotency::fingerprint(&format!("POST /v1/lessons/{id}/chat"), &post);
    let mut m = match idempotency::begin(&state, &caller, key, &fp).await? {
        Begin::Replay(r) => return Ok(r),
        Begin::Run(m) => m,
    };
    let early = state.config().join_early_secs;
    let (message, notices) =
        classroom::post_chat(m.tx(), &caller.user_id, &id, &post.text, early).await?;
    let response = m.finish(StatusCode::CREATED, &message, None).await?;
    classroom::publish(&state, notices).await;
    Ok(response)
}

/// Delete a message for everyone (the lesson's teachers).
#[utoipa::path(delete, path = "/v1/lessons/{id}/chat/{message}", tag = "lessons",
    params(("id" = String, Path), ("message" = String, Path), ("Idempotency-Key" = Option<String>, Header)), security(("bearer" = [])),
    responses((status = 204, description = "Deleted"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_message(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    Path((id, message)): Path<(String, String)>,
) -> ApiResult<Response> {
    let fp = format!("DELETE /v1/lessons/{id}/chat/{message}");
    let mut m = match idempotency::begin(&state, &caller, key, &fp).await? {
        Begin::Replay(r) => return Ok(r),
        Begin::Run(m) => m,
    };
    let notices = classroom::delete_message(m.tx(), &caller.user_id, &id, &message).await?;
    let mut response = m.finish(StatusCode::NO_CONTENT, &(), None).await?;
    *response.body_mut() = axum::body::Body::empty();
    classroom::publish(&state, notices).await;
    Ok(response)
}

/// Mute a student or assistant in the chat for some minutes (0 lifts it; the lesson's
/// teachers).
#[utoipa::path(post, path = "/v1/lessons/{id}/mutes", tag = "lessons", request_body = MuteChange,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)), security(("bearer" = [])),
    responses((status = 200, body = Mute), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "lesson_not_live: cancelled, over or not open yet", body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn mute(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    Path(id): Path<String>,
    ApiJson(change): ApiJson<MuteChange>,
) -> ApiResult<Response> {
    let fp = idempotency::fingerprint(&format!("POST /v1/lessons/{id}/mutes"), &change);
    let mut m = match idempotency::begin(&state, &caller, key, &fp).await? {
        Begin::Replay(r) => return Ok(r),
        Begin::Run(m) => m,
    };
    let early = state.config().join_early_secs;
    let (mute, notices) = classroom::mute(m.tx(), &caller.user_id, &id, &change, early).await?;
    let response = m.finish(StatusCode::OK, &mute, None).await?;
    classroom::publish(&state, notices).await;
    Ok(response)
}

/// The lesson's quizzes, oldest first: teachers see every answer; others their own, and the
/// counts once a quiz is closed.
#[utoipa::path(get, path = "/v1/lessons/{id}/quizzes", tag = "lessons", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = Vec<Quiz>), (status = 404, body = ErrorBody)))]
pub async fn quizzes(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<Quiz>>> {
    let mut conn = state.db().pool().acquire().await?;
    classroom::quizzes(&mut conn, &caller.user_id, &id)
        .await
        .map(Json)
}

/// Ask a multiple-choice question (the lead; one open at a time).
#[utoipa::path(post, path = "/v1/lessons/{id}/quizzes", tag = "lessons", request_body = OpenQuiz,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)), security(("bearer" = [])),
    responses((status = 201, body = Quiz), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Another quiz is open, or lesson_not_live", body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn open_quiz(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<OpenQuiz>,
) -> ApiResult<Response> {
    let fp = idempotency::fingerprint(&format!("POST /v1/lessons/{id}/quizzes"), &req);
    let mut m = match idempotency::begin(&state, &caller, key, &fp).await? {
        Begin::Replay(r) => return Ok(r),
        Begin::Run(m) => m,
    };
    let early = state.config().join_early_secs;
    let (quiz, notices) = classroom::open_quiz(m.tx(), &caller.user_id, &id, &req, early).await?;
    let response = m.finish(StatusCode::CREATED, &quiz, None).await?;
    classroom::publish(&state, notices).await;
    Ok(response)
}

/// Answer the open quiz, once (another answer is `409`; the same key repeats the first).
#[utoipa::path(post, path = "/v1/lessons/{id}/quizzes/{quiz}/answer", tag = "lessons", request_body = QuizAnswer,
    params(("id" = String, Path), ("quiz" = String, Path), ("Idempotency-Key" = Option<String>, Header)), security(("bearer" = [])),
    responses((status = 200, body = Quiz), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Already answered, closed, or lesson_not_live", body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn answer_quiz(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    Path((id, quiz)): Path<(String, String)>,
    ApiJson(answer): ApiJson<QuizAnswer>,
) -> ApiResult<Response> {
    let fp = idempotency::fingerprint(
        &format!("POST /v1/lessons/{id}/quizzes/{quiz}/answer"),
        &answer,
    );
    let mut m = match idempotency::begin(&state, &caller, key, &fp).await? {
        Begin::Replay(r) => return Ok(r),
        Begin::Run(m) => m,
    };
    let early = state.config().join_early_secs;
    let seen =
        classroom::answer_quiz(m.tx(), &caller.user_id, &id, &quiz, answer.option, early).await?;
    let response = m.finish(StatusCode::OK, &seen, None).await?;
    state.hub().tallies.answered(&state, &quiz);
    Ok(response)
}

/// Close a quiz: everyone sees the counts and the correct option.
#[utoipa::path(post, path = "/v1/lessons/{id}/quizzes/{quiz}/close", tag = "lessons",
    params(("id" = String, Path), ("quiz" = String, Path), ("Idempotency-Key" = Option<String>, Header)), security(("bearer" = [])),
    responses((status = 200, body = Quiz), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn close_quiz(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    Path((id, quiz)): Path<(String, String)>,
) -> ApiResult<Response> {
    let fp = format!("POST /v1/lessons/{id}/quizzes/{quiz}/close");
    let mut m = match idempotency::begin(&state, &caller, key, &fp).await? {
        Begin::Replay(r) => return Ok(r),
        Begin::Run(m) => m,
    };
    let (closed, notices) = classroom::close_quiz(m.tx(), &caller.user_id, &id, &quiz).await?;
    let response = m.finish(StatusCode::OK, &closed, None).await?;
    classroom::publish(&state, notices).await;
    Ok(response)
}
