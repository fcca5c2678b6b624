//! The live room of a joined lesson on the phone: the hand queue, who is on stage, chat, mutes
//! and the quiz. The room is read from the server when the session starts and whenever the
//! realtime connection comes back (events missed meanwhile are not replayed), then kept
//! current by room events. The last room seen is kept in the store, so the lesson screen
//! opens with it offline.
//!
//! Chat typed here goes into the `live_chat_outbox` table first, each message with its own
//! idempotency key, and is sent from there: a message typed offline is sent once when the
//! network returns; one the server refuses for good (muted, not in the lesson) stays, marked,
//! for the user to see. Being brought on stage by the lead turns publishing on through the
//! session's policy, like a permission change reported by the media SDK.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use lianxiao_protocol::{
    ChatMessage, MAX_CHAT_CHARS, Mute, Quiz, RaisedHand, RoomEvent, RoomState,
};
use rusqlite::{OptionalExtension, params};
use tokio::sync::{Notify, broadcast, watch};

use super::{LiveListener, LiveSession, LiveState};
use crate::{
    Error, Result, RetryClass,
    api::now_ms,
    client::{ClientState, Shared},
};

/// Messages kept in the room's view.
const KEEP_CHAT: usize = 200;
/// Wait before sending queued chat again after a failure that may pass.
const CHAT_RETRY: Duration = Duration::from_secs(5);

/// The live room as the lesson screen draws it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LiveRoom {
    pub lesson_id: String,
    /// Oldest first: the order the lead takes them in.
    pub hands: Vec<RaisedHand>,
    pub on_stage: Vec<String>,
    /// Oldest first.
    pub chat: Vec<ChatMessage>,
    pub mutes: Vec<Mute>,
    /// The open quiz, or the last one closed while watching (with its results).
    pub quiz: Option<Quiz>,
    /// Typed on this phone, not yet accepted by the server, oldest first.
    pub unsent_chat: Vec<UnsentChat>,
}

/// A chat message still on the phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsentChat {
    pub id: i64,
    pub text: String,
    /// The error code when the server refused it for good (e.g. `muted`);
    /// `None` while it waits to be sent.
    pub failed: Option<String>,
}

/// One session's room.
pub(super) struct Room {
    shared: Arc<Shared>,
    lesson_id: String,
    listener: Arc<dyn LiveListener>,
    view: Mutex<LiveRoom>,
    /// Tells the session's policy that this person may (or may no longer) publish.
    stage: Box<dyn Fn(bool) + Send + Sync>,
    chat_queued: Notify,
    sending: tokio::sync::Mutex<()>,
}

impl Room {
    pub(super) fn start(
        shared: Arc<Shared>,
        lesson_id: String,
        listener: Arc<dyn LiveListener>,
        session: watch::Receiver<LiveState>,
        stage: Box<dyn Fn(bool) + Send + Sync>,
    ) -> Arc<Room> {
        let room = Arc::new(Room {
            view: Mutex::new(LiveRoom {
                lesson_id: lesson_id.clone(),
                ..Default::default()
            }),
            shared: shared.clone(),
            lesson_id,
            listener,
            stage,
            chat_queued: Notify::new(),
            sending: tokio::sync::Mutex::new(()),
        });
        // Subscribed before the first read, so no event falls between the two.
        let events = shared.rooms.subscribe();
        crate::client::spawn_reported(&shared, "live room", room.clone().run(events, session));
        room
    }

    pub(super) fn view(&self) -> LiveRoom {
        self.view.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    async fn run(
        self: Arc<Self>,
        mut events: broadcast::Receiver<(String, RoomEvent)>,
        mut session: watch::Receiver<LiveState>,
    ) {
        let mut connection = self.shared.connection_watch();
        connection.borrow_and_update();
        self.load_cached().await;
        self.refresh().await;
        let mut retry = self.send_chat_queue().await;
        loop {
            if matches!(*session.borrow_and_update(), LiveState::Ended { .. }) {
                return;
            }
            tokio::select! {
                event = events.recv() => match event {
                    Ok((lesson, event)) if lesson == self.lesson_id => self.apply(event).await,
                    Ok(_) => {}
                    // Too far behind to trust the view: read the room again.
                    Err(broadcast::error::RecvError::Lagged(_)) => self.refresh().await,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                changed = connection.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    if *connection.borrow_and_update() == ClientState::Online {
                        self.refresh().await;
                        retry = self.send_chat_queue().await;
                    }
                }
                changed = session.changed() => if changed.is_err() { return },
                _ = self.chat_queued.notified() => retry = self.send_chat_queue().await,
                _ = tokio::time::sleep(retry.unwrap_or(Duration::MAX)), if retry.is_some() => {
                    retry = self.send_chat_queue().await;
                }
            }
        }
    }

    /// The room last seen, and what is still queued here.
    async fn load_cached(&self) {
        let id = self.lesson_id.clone();
        let cached = self
            .shared
            .store
            .read(move |c| {
                let state: Option<String> = c
                    .query_row(
                        "SELECT state FROM live_rooms WHERE lesson_id = ?1",
                        [&id],
                        |r| r.get(0),
                    )
                    .optional()?;
                Ok(state.and_then(|s| serde_json::from_str::<RoomState>(&s).ok()))
            })
            .await;
        match cached {
            Ok(Some(state)) => self.replace(state),
            Ok(None) => {}
            Err(e) => tracing::debug!(code = e.code_str(), "no cached room"),
        }
        self.reload_unsent().await;
        self.report();
    }

    /// Reads the whole room from the server.
    async fn refresh(&self) {
        let path = format!("/lessons/{}/room", self.lesson_id);
        match self.shared.api.get::<RoomState>(&path, &[]).await {
            Ok(state) => {
                let me_on_stage = state.on_stage.contains(&self.shared.user_id);
                self.replace(state);
                self.save().await;
                self.report();
                if me_on_stage {
                    (self.stage)(true);
                }
            }
            Err(e) => {
                tracing::debug!(lesson = %self.lesson_id, code = e.code_str(), "room not read")
            }
        }
    }

    fn replace(&self, state: RoomState) {
        let mut view = self.view.lock().unwrap_or_else(|e| e.into_inner());
        // A closed quiz's results stay on screen until another is opened.
        let quiz = match (state.quiz, view.quiz.take()) {
            (Some(open), _) => Some(open),
            (None, Some(old)) if old.closed_at.is_some() => Some(old),
            (None, _) => None,
        };
        *view = LiveRoom {
            lesson_id: state.lesson_id,
            hands: state.hands,
            on_stage: state.on_stage,
            chat: state.chat,
            mutes: state.mutes,
            quiz,
            unsent_chat: std::mem::take(&mut view.unsent_chat),
        };
    }

    /// Keeps the room in the store for the next time the screen opens.
    async fn save(&self) {
        let view = self.view();
        let state = RoomState {
            lesson_id: view.lesson_id.clone(),
            hands: view.hands,
            on_stage: view.on_stage,
            chat: view.chat,
            mutes: view.mutes,
            quiz: view.quiz,
            server_time: self.shared.api.clock.now(),
        };
        let Ok(json) = serde_json::to_string(&state) else {
            return;
        };
        let saved = self
            .shared
            .store
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO live_rooms (lesson_id, state, updated_at) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (lesson_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
                    params![state.lesson_id, json, now_ms()],
                )?;
                Ok(())
            })
            .await;
        if let Err(e) = saved {
            tracing::debug!(code = e.code_str(), "room not kept");
        }
    }

    fn report(&self) {
        self.listener.on_room(self.view());
    }

    /// One change, from a room event or from the answer to this phone's own call.
    async fn apply(&self, event: RoomEvent) {
        let mut stage_me = None;
        {
            let mut view = self.view.lock().unwrap_or_else(|e| e.into_inner());
            match event {
                RoomEvent::HandRaised { hand } => {
                    if !view.hands.iter().any(|h| h.user_id == hand.user_id) {
                        view.hands.push(hand);
                        view.hands.sort_by_key(|h| h.raised_at);
                    }
                }
                RoomEvent::HandLowered { user_id } => view.hands.retain(|h| h.user_id != user_id),
                RoomEvent::Stage { user_id, on_stage } => {
                    view.on_stage.retain(|u| *u != user_id);
                    if on_stage {
                        view.hands.retain(|h| h.user_id != user_id);
                        view.on_stage.push(user_id.clone());
                    }
                    if user_id == self.shared.user_id {
                        stage_me = Some(on_stage);
                    }
                }
                RoomEvent::Chat { message } => {
                    if !view.chat.iter().any(|m| m.id == message.id) {
                        view.chat.push(message);
                        let over = view.chat.len().saturating_sub(KEEP_CHAT);
                        view.chat.drain(..over);
                    }
                }
                RoomEvent::ChatDeleted { message_id } => view.chat.retain(|m| m.id != message_id),
                RoomEvent::Muted { mute } => {
                    view.mutes.retain(|m| m.user_id != mute.user_id);
                    if mute.until > self.shared.api.clock.now() {
                        view.mutes.push(mute);
                    }
                }
                RoomEvent::QuizOpened { quiz } => {
                    // The lead's own answer (with the tally) may have come first: keep it.
                    if view.quiz.as_ref().is_none_or(|q| q.id != quiz.id) {
                        view.quiz = Some(quiz);
                    }
                }
                RoomEvent::QuizTally { quiz_id, counts } => {
                    if let Some(q) = view.quiz.as_mut().filter(|q| q.id == quiz_id) {
                        q.counts = counts;
                    }
                }
                RoomEvent::QuizClosed { mut quiz } => {
                    if let Some(old) = view.quiz.take().filter(|q| q.id == quiz.id) {
                        quiz.my_answer = quiz.my_answer.or(old.my_answer);
                        if quiz.responses.is_empty() {
                            quiz.responses = old.responses;
                        }
                    }
                    view.quiz = Some(quiz);
                }
            }
        }
        if let Some(on) = stage_me {
            (self.stage)(on);
        }
        self.save().await;
        self.report();
    }

    fn path(&self, rest: &str) -> String {
        format!("/lessons/{}/{rest}", self.lesson_id)
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        rest: &str,
        body: serde_json::Value,
    ) -> Result<T> {
        let body = serde_json::to_vec(&body)?;
        let key = uuid::Uuid::new_v4().to_string();
        self.shared
            .api
            .post(&self.path(rest), Some(&body), &key)
            .await
    }

    async fn hand(&self, raised: bool) -> Result<()> {
        let hand: Option<RaisedHand> = self
            .post("hand", serde_json::json!({ "raised": raised }))
            .await?;
        let event = match hand {
            Some(hand) => RoomEvent::HandRaised { hand },
            None => RoomEvent::HandLowered {
                user_id: self.shared.user_id.clone(),
            },
        };
        self.apply(event).await;
        Ok(())
    }

    async fn stage(&self, user_id: String, on_stage: bool) -> Result<()> {
        let body =
            serde_json::to_vec(&serde_json::json!({ "user_id": user_id, "on_stage": on_stage }))?;
        let key = uuid::Uuid::new_v4().to_string();
        self.shared
            .api
            .post_no_content(&self.path("stage"), &body, &key)
            .await?;
        self.apply(RoomEvent::Stage { user_id, on_stage }).await;
        Ok(())
    }

    async fn queue_chat(&self, text: String) -> Result<()> {
        let text = text.trim().to_owned();
        if text.is_empty() || text.chars().count() > MAX_CHAT_CHARS {
            return Err(Error::Validation {
                field: Some("text".into()),
                message: format!("a message has 1 to {MAX_CHAT_CHARS} characters"),
            });
        }
        let lesson_id = self.lesson_id.clone();
        let body = serde_json::to_string(&serde_json::json!({ "text": text }))?;
        self.shared
            .store
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO live_chat_outbox (idempotency_key, lesson_id, body, created_at) \
                     VALUES (?1, ?2, ?3, ?4)",
                    params![uuid::Uuid::new_v4().to_string(), lesson_id, body, now_ms()],
                )?;
                Ok(())
            })
            .await?;
        self.reload_unsent().await;
        self.report();
        self.chat_queued.notify_one();
        Ok(())
    }

    async fn reload_unsent(&self) {
        let id = self.lesson_id.clone();
        let unsent = self
            .shared
            .store
            .read(move |c| {
                let mut stmt = c.prepare(
                    "SELECT id, body, failed_code FROM live_chat_outbox WHERE lesson_id = ?1 ORDER BY id",
                )?;
                let rows = stmt.query_map([&id], |r| {
                    let body: String = r.get(1)?;
                    Ok(UnsentChat {
                        id: r.get(0)?,
                        text: serde_json::from_str::<serde_json::Value>(&body)
                            .ok()
                            .and_then(|v| v["text"].as_str().map(str::to_owned))
                            .unwrap_or_default(),
                        failed: r.get(2)?,
                    })
                })?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await;
        if let Ok(unsent) = unsent {
            self.view
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .unsent_chat = unsent;
        }
    }

    /// Sends queued chat oldest first; returns when to try again if some must wait.
    async fn send_chat_queue(&self) -> Option<Duration> {
        let _sending = self.sending.lock().await;
        let id = self.lesson_id.clone();
        let queued: Vec<(i64, String, String)> = self
            .shared
            .store
            .read(move |c| {
                let mut stmt = c.prepare(
                    "SELECT id, idempotency_key, body FROM live_chat_outbox \
                     WHERE lesson_id = ?1 AND failed_code IS NULL ORDER BY id",
                )?;
                let rows = stmt.query_map([&id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .await
            .unwrap_or_default();
        if queued.is_empty() {
            return None;
        }
        let mut retry = None;
        for (row, key, body) in queued {
            let sent: Result<ChatMessage> = self
                .shared
                .api
                .post(&self.path("chat"), Some(body.as_bytes()), &key)
                .await;
            let outcome = match sent {
                Ok(message) => {
                    self.apply(RoomEvent::Chat { message }).await;
                    None
                }
                Err(e) => match e.retry_class() {
                    RetryClass::Transient { after } => {
                        retry = Some(after.unwrap_or(CHAT_RETRY).max(Duration::from_millis(500)));
                        break;
                    }
                    RetryClass::Paused => {
                        retry = Some(CHAT_RETRY);
                        break;
                    }
                    RetryClass::Permanent => {
                        tracing::info!(lesson = %self.lesson_id, code = e.code_str(), "chat message refused");
                        Some(e.code_str())
                    }
                },
            };
            let done = self
                .shared
                .store
                .write(move |tx| {
                    match outcome {
                        None => tx.execute("DELETE FROM live_chat_outbox WHERE id = ?1", [row])?,
                        Some(code) => tx.execute(
                            "UPDATE live_chat_outbox SET failed_code = ?1 WHERE id = ?2",
                            params![code, row],
                        )?,
                    };
                    Ok(())
                })
                .await;
            if let Err(e) = done {
                tracing::warn!(code = e.code_str(), "chat queue not updated");
                retry = Some(CHAT_RETRY);
                break;
            }
        }
        self.reload_unsent().await;
        self.report();
        retry
    }
}

/// Interaction in the live room (hand raise, stage, chat, quiz). Calls that need the server
/// answer `Offline` without a network, except chat, which is queued and sent once.
impl LiveSession {
    /// The room now: hands, stage, chat, mutes, quiz and unsent chat (also told to the
    /// listener's `on_room` at once and on every change).
    pub fn room(&self) -> LiveRoom {
        self.room.view()
    }

    /// A student raises their hand; an assistant raises one for their whole class.
    pub async fn raise_hand(&self) -> Result<()> {
        self.room.hand(true).await
    }

    pub async fn lower_hand(&self) -> Result<()> {
        self.room.hand(false).await
    }

    /// The lead brings a student (or a class, through its assistant) on stage: they leave the
    /// hand queue and their phone starts publishing.
    pub async fn bring_on_stage(&self, user_id: String) -> Result<()> {
        self.room.stage(user_id, true).await
    }

    pub async fn take_off_stage(&self, user_id: String) -> Result<()> {
        self.room.stage(user_id, false).await
    }

    /// Queues a chat message on the phone and sends it (now, or when the network returns);
    /// it shows in `unsent_chat` until the server has it. Empty or too long is refused here.
    pub async fn send_chat(&self, text: String) -> Result<()> {
        self.room.queue_chat(text).await
    }

    /// A teacher takes a message down from every phone.
    pub async fn delete_message(&self, message_id: String) -> Result<()> {
        let key = uuid::Uuid::new_v4().to_string();
        let path = self.room.path(&format!("chat/{message_id}"));
        self.room
            .shared
            .api
            .send_empty(reqwest::Method::DELETE, &path, &key)
            .await?;
        self.room.apply(RoomEvent::ChatDeleted { message_id }).await;
        Ok(())
    }

    /// A teacher mutes someone in the chat for `minutes` (0 lifts it).
    pub async fn mute(&self, user_id: String, minutes: u32) -> Result<()> {
        let mute: Mute = self
            .room
            .post(
                "mutes",
                serde_json::json!({ "user_id": user_id, "minutes": minutes }),
            )
            .await?;
        self.room.apply(RoomEvent::Muted { mute }).await;
        Ok(())
    }

    /// The lead asks a multiple-choice question (2 to 6 options, optionally the right one).
    pub async fn open_quiz(
        &self,
        question: String,
        options: Vec<String>,
        correct: Option<u32>,
    ) -> Result<Quiz> {
        let quiz: Quiz = self
            .room
            .post(
                "quizzes",
                serde_json::json!({ "question": question, "options": options, "correct": correct }),
            )
            .await?;
        self.room.set_quiz(quiz.clone()).await;
        Ok(quiz)
    }

    /// Answers the open quiz (once; a second answer is a `Conflict`).
    pub async fn answer_quiz(&self, quiz_id: String, option: u32) -> Result<Quiz> {
        let quiz: Quiz = self
            .room
            .post(
                &format!("quizzes/{quiz_id}/answer"),
                serde_json::json!({ "option": option }),
            )
            .await?;
        self.room.set_quiz(quiz.clone()).await;
        Ok(quiz)
    }

    /// The lead closes the quiz: everyone sees the counts and the right answer.
    pub async fn close_quiz(&self, quiz_id: String) -> Result<Quiz> {
        let quiz: Quiz = self
            .room
            .post(&format!("quizzes/{quiz_id}/close"), serde_json::json!({}))
            .await?;
        self.room.set_quiz(quiz.clone()).await;
        Ok(quiz)
    }
}

impl Room {
    /// A quiz as the server answered this phone's own call (the fullest view it may have).
    async fn set_quiz(&self, quiz: Quiz) {
        self.view.lock().unwrap_or_else(|e| e.into_inner()).quiz = Some(quiz);
        self.save().await;
        self.report();
    }
}
