//! The live room of a lesson (课堂互动): raised hands, who is on stage, chat, mutes and the
//! in-class quiz. Changes travel as [`RoomEvent`]s on the realtime channel; the whole state is
//! `GET /v1/lessons/{id}/room`, for a phone that joins late or reconnects.

use serde::{Deserialize, Serialize};

use crate::Millis;

/// Longest chat message, in characters.
pub const MAX_CHAT_CHARS: usize = 500;
/// Longest quiz question and option, in characters.
pub const MAX_QUIZ_TEXT_CHARS: usize = 500;
/// A quiz has this many options at least, and at most [`MAX_QUIZ_OPTIONS`].
pub const MIN_QUIZ_OPTIONS: usize = 2;
pub const MAX_QUIZ_OPTIONS: usize = 6;
/// Longest mute, in minutes.
pub const MAX_MUTE_MINUTES: u32 = 24 * 60;

/// A hand in the queue: a student's own, or an assistant's for the whole receiving class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RaisedHand {
    /// Who raised it (and who comes on stage).
    pub user_id: String,
    /// Set when an assistant raised it for their class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_id: Option<String>,
    pub raised_at: Millis,
}

/// `POST /v1/lessons/{id}/hand`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HandChange {
    /// False lowers it.
    pub raised: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChatMessage {
    pub id: String,
    pub lesson_id: String,
    pub author_id: String,
    pub text: String,
    pub sent_at: Millis,
}

/// `POST /v1/lessons/{id}/chat` (with an `Idempotency-Key`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PostChat {
    pub text: String,
}

/// Someone who may not chat until `until`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Mute {
    pub user_id: String,
    pub until: Millis,
}

/// `POST /v1/lessons/{id}/mutes`: mute someone for `minutes` (0 lifts the mute).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MuteChange {
    pub user_id: String,
    pub minutes: u32,
}

/// `POST /v1/lessons/{id}/quizzes`: a multiple-choice question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OpenQuiz {
    pub question: String,
    pub options: Vec<String>,
    /// Index into `options`, when the question has a right answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correct: Option<u32>,
}

/// `POST /v1/lessons/{id}/quizzes/{quiz}/answer` (with an `Idempotency-Key`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QuizAnswer {
    /// Index into the quiz's options.
    pub option: u32,
}

/// One person's answer, shown to the teachers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QuizResponse {
    pub user_id: String,
    pub option: u32,
    pub answered_at: Millis,
}

/// A quiz as the caller may see it. Teachers see the tally and every answer at all times;
/// others see their own answer, and the tally only once the quiz is closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Quiz {
    pub id: String,
    pub lesson_id: String,
    pub question: String,
    pub options: Vec<String>,
    /// Shown to students only once the quiz is closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correct: Option<u32>,
    pub opened_at: Millis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<Millis>,
    /// Answers per option (empty when the caller may not see them yet).
    #[serde(default)]
    pub counts: Vec<u32>,
    /// Every answer (teachers only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub responses: Vec<QuizResponse>,
    /// The caller's own answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub my_answer: Option<u32>,
}

/// `GET /v1/lessons/{id}/room`: everything a phone needs to draw the live room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoomState {
    pub lesson_id: String,
    /// Oldest first: the order the lead takes them in.
    pub hands: Vec<RaisedHand>,
    /// User ids on stage now.
    pub on_stage: Vec<String>,
    /// Recent messages, oldest first; deleted ones are left out.
    pub chat: Vec<ChatMessage>,
    /// Mutes still running.
    pub mutes: Vec<Mute>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiz: Option<Quiz>,
    pub server_time: Millis,
}

/// One change in a lesson's room, pushed to everyone in the lesson who is connected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RoomEvent {
    HandRaised {
        hand: RaisedHand,
    },
    HandLowered {
        user_id: String,
    },
    /// Brought on stage (may publish) or taken off; bringing on also lowers the hand.
    Stage {
        user_id: String,
        on_stage: bool,
    },
    Chat {
        message: ChatMessage,
    },
    ChatDeleted {
        message_id: String,
    },
    /// `until` in the past lifts the mute.
    Muted {
        mute: Mute,
    },
    /// A new question (as students see it: no tally, no correct option).
    QuizOpened {
        quiz: Quiz,
    },
    /// The live tally, to the lesson's teachers only; at most about once a second per quiz.
    QuizTally {
        quiz_id: String,
        counts: Vec<u32>,
    },
    /// Closed: the counts and the correct option, as everyone may now see them.
    QuizClosed {
        quiz: Quiz,
    },
}
