//! The live room of a joined lesson (hand queue, stage, chat, mutes, quiz): its records and
//! the calls on `LiveSession` that act in it.

use lianxiao_core::{
    LiveRoom, UnsentChat,
    protocol::{ChatMessage, Mute, Quiz, QuizResponse, RaisedHand},
};

use crate::{Result, live::LiveSession, write};

#[uniffi::remote(Record)]
pub struct RaisedHand {
    pub user_id: String,
    pub class_id: Option<String>,
    pub raised_at: i64,
}

#[uniffi::remote(Record)]
pub struct ChatMessage {
    pub id: String,
    pub lesson_id: String,
    pub author_id: String,
    pub text: String,
    pub sent_at: i64,
}

#[uniffi::remote(Record)]
pub struct Mute {
    pub user_id: String,
    pub until: i64,
}

#[uniffi::remote(Record)]
pub struct QuizResponse {
    pub user_id: String,
    pub option: u32,
    pub answered_at: i64,
}

#[uniffi::remote(Record)]
pub struct Quiz {
    pub id: String,
    pub lesson_id: String,
    pub question: String,
    pub options: Vec<String>,
    pub correct: Option<u32>,
    pub opened_at: i64,
    pub closed_at: Option<i64>,
    pub counts: Vec<u32>,
    pub responses: Vec<QuizResponse>,
    pub my_answer: Option<u32>,
}

#[uniffi::remote(Record)]
pub struct UnsentChat {
    pub id: i64,
    pub text: String,
    pub failed: Option<String>,
}

#[uniffi::remote(Record)]
pub struct LiveRoom {
    pub lesson_id: String,
    pub hands: Vec<RaisedHand>,
    pub on_stage: Vec<String>,
    pub chat: Vec<ChatMessage>,
    pub mutes: Vec<Mute>,
    pub quiz: Option<Quiz>,
    pub unsent_chat: Vec<UnsentChat>,
}

/// Interaction in the live room. Calls that need the server fail with `Offline` without a
/// network, except chat, which is queued on the phone and sent once.
#[uniffi::export(async_runtime = "tokio")]
impl LiveSession {
    /// The room now (also told to `LiveListener.on_room` at once and on every change).
    pub fn room(&self) -> LiveRoom {
        self.inner.room()
    }

    /// A student raises their hand; an assistant raises one for their whole class.
    pub async fn raise_hand(&self) -> Result<()> {
        let s = self.inner.clone();
        write(async move { s.raise_hand().await }).await
    }

    pub async fn lower_hand(&self) -> Result<()> {
        let s = self.inner.clone();
        write(async move { s.lower_hand().await }).await
    }

    /// The lead brings someone on stage: their phone starts publishing.
    pub async fn bring_on_stage(&self, user_id: String) -> Result<()> {
        let s = self.inner.clone();
        write(async move { s.bring_on_stage(user_id).await }).await
    }

    pub async fn take_off_stage(&self, user_id: String) -> Result<()> {
        let s = self.inner.clone();
        write(async move { s.take_off_stage(user_id).await }).await
    }

    /// Queued on the phone and sent (now, or when the network returns); shows in
    /// `unsent_chat` until the server has it.
    pub async fn send_chat(&self, text: String) -> Result<()> {
        let s = self.inner.clone();
        write(async move { s.send_chat(text).await }).await
    }

    /// A teacher takes a message down from every phone.
    pub async fn delete_message(&self, message_id: String) -> Result<()> {
        let s = self.inner.clone();
        write(async move { s.delete_message(message_id).await }).await
    }

    /// A teacher mutes someone in the chat for `minutes` (0 lifts it).
    pub async fn mute(&self, user_id: String, minutes: u32) -> Result<()> {
        let s = self.inner.clone();
        write(async move { s.mute(user_id, minutes).await }).await
    }

    /// The lead asks a multiple-choice question (2 to 6 options, optionally the right one).
    pub async fn open_quiz(
        &self,
        question: String,
        options: Vec<String>,
        correct: Option<u32>,
    ) -> Result<Quiz> {
        let s = self.inner.clone();
        write(async move { s.open_quiz(question, options, correct).await }).await
    }

    /// Answers the open quiz (once; a second answer is a `Conflict`).
    pub async fn answer_quiz(&self, quiz_id: String, option: u32) -> Result<Quiz> {
        let s = self.inner.clone();
        write(async move { s.answer_quiz(quiz_id, option).await }).await
    }

    /// The lead closes the quiz: everyone sees the counts and the right answer.
    pub async fn close_quiz(&self, quiz_id: String) -> Result<Quiz> {
        let s = self.inner.clone();
        write(async move { s.close_quiz(quiz_id).await }).await
    }
}
