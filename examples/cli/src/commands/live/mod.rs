//! `lianxiao live ...`: the live room of a lesson (hands, stage, chat, mutes, quiz) on the
//! core's public API (`client.live()`). Each command joins the lesson as the phone would, with
//! a media engine that carries no media (a terminal has no camera: stage and video stay the
//! phone's), reads the room, acts, prints the room, and leaves. Chat is queued on this device
//! and sent once, like on the phone; the other calls need the server and the lesson open.

use std::{sync::Arc, time::Duration};

use clap::{Subcommand, ValueEnum};
use lianxiao_core::{
    Client, LiveListener, LiveRoom, LiveSession, LiveState, MediaSession, RenditionChoice,
    VideoQuality, protocol::Quiz,
};
use tokio::sync::watch;

mod print;

use print::{RoomJson, print_changes, print_room, quiz_text, show_room, state_label};

use crate::{
    cli::JsonOpt,
    context::Context,
    exit::{CliResult, Exit, Failure},
    output::{print, print_json},
};

/// `live` commands. Lessons by their full id (`lianxiao lessons list` shows them); people by
/// user id or by the login of an account signed in on this device.
#[derive(Debug, Subcommand)]
pub enum LiveCommand {
    /// Join a lesson and print what happens in its room (state, hands, stage, chat, quiz)
    /// until it ends, Ctrl-C, or `--seconds` pass.
    Join {
        lesson: String,
        #[arg(long, value_name = "SECS")]
        seconds: Option<u64>,
        /// At the end, print the session's last state and the room as one JSON document.
        #[arg(long)]
        json: bool,
    },
    /// The room now: raised hands, who is on stage, chat, mutes, the quiz.
    Room {
        lesson: String,
        #[command(flatten)]
        json: JsonOpt,
    },
    /// Raise or lower your hand (an assistant raises one for the whole class).
    Hand { lesson: String, action: HandAction },
    /// The lead brings someone on stage (their phone starts publishing) or takes them off.
    Stage {
        lesson: String,
        user: String,
        action: OnOff,
    },
    /// Say something in the lesson's chat (queued here and sent once).
    Chat { lesson: String, text: String },
    /// Teachers: mute someone in the chat (`--minutes 0` lifts it).
    Mute {
        lesson: String,
        user: String,
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(0..=240))]
        minutes: u32,
    },
    /// In-class quiz (课堂测验).
    #[command(subcommand)]
    Quiz(QuizCommand),
}

#[derive(Debug, Subcommand)]
pub enum QuizCommand {
    /// The lead asks a multiple-choice question (2 to 6 options, shown as A, B, C...).
    Open {
        lesson: String,
        question: String,
        /// An option; repeat for each (2 to 6).
        #[arg(long = "option", required = true)]
        options: Vec<String>,
        /// The right option (A, B, ... or 1, 2, ...).
        #[arg(long)]
        correct: Option<String>,
        #[command(flatten)]
        json: JsonOpt,
    },
    /// Answer the open quiz (A, B, ... or 1, 2, ...); once.
    Answer {
        lesson: String,
        option: String,
        #[command(flatten)]
        json: JsonOpt,
    },
    /// The lead closes the open quiz: everyone sees the counts and the right answer.
    Close {
        lesson: String,
        #[command(flatten)]
        json: JsonOpt,
    },
    /// The open quiz's tally, or the last one closed seen on this device.
    Results {
        lesson: String,
        #[command(flatten)]
        json: JsonOpt,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HandAction {
    Raise,
    Lower,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

impl LiveCommand {
    pub fn json(&self) -> bool {
        match self {
            LiveCommand::Join { json, .. } => *json,
            LiveCommand::Room { json, .. } => json.json,
            LiveCommand::Quiz(
                QuizCommand::Open { json, .. }
                | QuizCommand::Answer { json, .. }
                | QuizCommand::Close { json, .. }
                | QuizCommand::Results { json, .. },
            ) => json.json,
            LiveCommand::Hand { .. }
            | LiveCommand::Stage { .. }
            | LiveCommand::Chat { .. }
            | LiveCommand::Mute { .. } => false,
        }
    }
}

pub async fn run(ctx: &Context, command: LiveCommand) -> CliResult {
    let client = ctx.client().await?;
    match command {
        LiveCommand::Join {
            lesson,
            seconds,
            json,
        } => join(ctx, &client, lesson, seconds, json).await,
        LiveCommand::Room { lesson, json } => {
            let room = Entered::join(ctx, &client, lesson).await?;
            let view = room.session.room();
            room.leave().await;
            show_room(&view, json.json);
            Ok(())
        }
        LiveCommand::Hand { lesson, action } => {
            let room = Entered::join(ctx, &client, lesson).await?;
            let done = match action {
                HandAction::Raise => room.session.raise_hand().await,
                HandAction::Lower => room.session.lower_hand().await,
            };
            room.leave().await;
            done?;
            print(match action {
                HandAction::Raise => "已举手 / hand raised",
                HandAction::Lower => "已放下 / hand lowered",
            });
            Ok(())
        }
        LiveCommand::Stage {
            lesson,
            user,
            action,
        } => {
            let user = user_id(ctx, &user).await;
            let room = Entered::join(ctx, &client, lesson).await?;
            let done = match action {
                OnOff::On => room.session.bring_on_stage(user.clone()).await,
                OnOff::Off => room.session.take_off_stage(user.clone()).await,
            };
            room.leave().await;
            done?;
            print(match action {
                OnOff::On => format!("已上台 / on stage: {user}"),
                OnOff::Off => format!("已下台 / off stage: {user}"),
            });
            Ok(())
        }
        LiveCommand::Chat { lesson, text } => chat(ctx, &client, lesson, text).await,
        LiveCommand::Mute {
            lesson,
            user,
            minutes,
        } => {
            let user = user_id(ctx, &user).await;
            let room = Entered::join(ctx, &client, lesson).await?;
            let done = room.session.mute(user.clone(), minutes).await;
            room.leave().await;
            done?;
            print(if minutes == 0 {
                format!("已解除禁言 / unmuted: {user}")
            } else {
                format!("已禁言 / muted for {minutes} min: {user}")
            });
            Ok(())
        }
        LiveCommand::Quiz(q) => quiz(ctx, &client, q).await,
    }
}

/// A user id as typed, or the user id of an account signed in on this device.
async fn user_id(ctx: &Context, typed: &str) -> String {
    match ctx.find_account(typed).await {
        Ok(account) => account.user_id,
        Err(_) => typed.to_owned(),
    }
}

// ---------------------------------------------------------------------------------------
// The session

/// A terminal carries no media: the core's asks of the engine are only logged.
struct NoMedia;

impl MediaSession for NoMedia {
    fn connect(&self, _url: String, _token: String) {}
    fn disconnect(&self) {}
    fn set_camera(&self, _on: bool) {}
    fn set_microphone(&self, _on: bool) {}
    fn set_video_quality(&self, _quality: VideoQuality) {}
    fn set_video_enabled(&self, _enabled: bool) {}
}

/// What the session tells the screen, kept for the command.
struct Screen {
    state: watch::Sender<LiveState>,
    /// Every room seen, with how many times it was told.
    room: watch::Sender<(u32, LiveRoom)>,
}

impl LiveListener for Screen {
    fn on_state(&self, state: LiveState) {
        self.state.send_replace(state);
    }
    fn on_rendition(&self, _choice: RenditionChoice) {}
    fn on_room(&self, room: LiveRoom) {
        self.room.send_modify(|(n, r)| {
            *n += 1;
            *r = room;
        });
    }
}

/// A joined lesson whose room was read from the server.
struct Entered {
    session: LiveSession,
    state: watch::Receiver<LiveState>,
    room: watch::Receiver<(u32, LiveRoom)>,
}

impl Entered {
    async fn join(ctx: &Context, client: &Client, lesson: String) -> CliResult<Entered> {
        let lesson = lesson.trim().to_owned();
        if lesson.is_empty() {
            return Err(Failure::validation("empty lesson id"));
        }
        // The realtime connection carries the room's events.
        ctx.start(client);
        let (state_tx, state) = watch::channel(LiveState::Joining);
        let (room_tx, mut room) = watch::channel((0, LiveRoom::default()));
        let session = client.live().join(
            lesson,
            Arc::new(NoMedia),
            Arc::new(Screen {
                state: state_tx,
                room: room_tx,
            }),
        );
        // The room is told once from this device's store, then once read from the server.
        let patience = ctx
            .wait()
            .unwrap_or(Duration::MAX)
            .clamp(Duration::from_secs(2), Duration::from_secs(15));
        let read = tokio::time::timeout(patience, room.wait_for(|(n, _)| *n >= 2))
            .await
            .is_ok();
        if !read {
            ctx.out.note(
                "教室未能从服务器读取 / the room could not be read from the server: showing \
                 what this device last saw",
                "33",
            );
        }
        Ok(Entered {
            session,
            state,
            room,
        })
    }

    async fn leave(mut self) {
        self.session.leave();
        let _ = tokio::time::timeout(
            Duration::from_secs(2),
            self.state
                .wait_for(|s| matches!(s, LiveState::Ended { .. })),
        )
        .await;
    }
}

async fn join(
    ctx: &Context,
    client: &Client,
    lesson: String,
    seconds: Option<u64>,
    json: bool,
) -> CliResult {
    let mut room = Entered::join(ctx, client, lesson).await?;
    let until = seconds.map(|s| tokio::time::Instant::now() + Duration::from_secs(s));
    let mut last_state = room.state.borrow().clone();
    let mut last_room = room.room.borrow().1.clone();
    if !json {
        print(format!("状态 / state: {}", state_label(&last_state)));
        print_room(&last_room);
    }
    loop {
        let sleep = async {
            match until {
                Some(u) => tokio::time::sleep_until(u).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = sleep => break,
            _ = tokio::signal::ctrl_c() => break,
            changed = room.state.changed() => {
                if changed.is_err() { break; }
                last_state = room.state.borrow_and_update().clone();
                if !json {
                    print(format!("状态 / state: {}", state_label(&last_state)));
                }
                if matches!(last_state, LiveState::Ended { .. }) { break; }
            }
            changed = room.room.changed() => {
                if changed.is_err() { break; }
                let now = room.room.borrow_and_update().1.clone();
                if !json && now != last_room {
                    print_changes(&last_room, &now);
                }
                last_room = now;
            }
        }
    }
    room.leave().await;
    if json {
        print_json(&serde_json::json!({
            "state": state_label(&last_state),
            "room": RoomJson::from(&last_room),
        }));
    }
    Ok(())
}

async fn chat(ctx: &Context, client: &Client, lesson: String, text: String) -> CliResult {
    let mut room = Entered::join(ctx, client, lesson).await?;
    let queued = room.session.send_chat(text.clone()).await;
    if let Err(e) = queued {
        room.leave().await;
        return Err(e.into());
    }
    // Sent once the room shows it in the chat; refused for good (muted) it stays unsent
    // with the server's code.
    let patience = ctx.wait().unwrap_or(Duration::MAX);
    let outcome = tokio::time::timeout(
        patience,
        room.room.wait_for(|(_, r)| {
            r.unsent_chat
                .iter()
                .all(|u| u.text != text || u.failed.is_some())
                && (r.chat.iter().any(|m| m.text == text)
                    || r.unsent_chat.iter().any(|u| u.text == text))
        }),
    )
    .await
    .ok()
    .map(|r| r.map(|r| r.1.clone()).unwrap_or_default());
    room.leave().await;
    match outcome {
        Some(r) => match r.unsent_chat.iter().find(|u| u.text == text) {
            Some(u) => Err(Failure::new(
                Exit::from_code_str(u.failed.as_deref().unwrap_or("server")),
                format!(
                    "被拒绝 / refused: {}",
                    u.failed.as_deref().unwrap_or("unknown")
                ),
            )),
            None => {
                print("已发送 / sent");
                Ok(())
            }
        },
        None => Err(Failure::new(
            Exit::Queued,
            "已保存，联网后发送 / queued: the next `lianxiao live` command of this lesson \
             sends it",
        )),
    }
}

// ---------------------------------------------------------------------------------------
// Quiz

/// "A".."F" or "1".."6" → the option's index.
fn option_index(typed: &str) -> CliResult<u32> {
    let t = typed.trim();
    let letter = t.chars().next().filter(|_| t.chars().count() == 1);
    match (t.parse::<u32>(), letter) {
        (Ok(n), _) if (1..=6).contains(&n) => Ok(n - 1),
        (_, Some(c))
            if c.is_ascii_alphabetic() && ('A'..='F').contains(&c.to_ascii_uppercase()) =>
        {
            Ok(u32::from(c.to_ascii_uppercase()) - u32::from('A'))
        }
        _ => Err(Failure::validation(
            "an option is a letter A–F or a number 1–6",
        )),
    }
}

async fn quiz(ctx: &Context, client: &Client, command: QuizCommand) -> CliResult {
    let (lesson, json) = match &command {
        QuizCommand::Open { lesson, json, .. }
        | QuizCommand::Answer { lesson, json, .. }
        | QuizCommand::Close { lesson, json }
        | QuizCommand::Results { lesson, json } => (lesson.clone(), json.json),
    };
    // Typos are refused before anything is joined or sent.
    let (correct, answer) = match &command {
        QuizCommand::Open { correct, .. } => {
            (correct.as_deref().map(option_index).transpose()?, None)
        }
        QuizCommand::Answer { option, .. } => (None, Some(option_index(option)?)),
        _ => (None, None),
    };
    let room = Entered::join(ctx, client, lesson).await?;
    let open_quiz = || {
        room.session
            .room()
            .quiz
            .filter(|q| q.closed_at.is_none())
            .ok_or_else(|| Failure::new(Exit::NotFound, "没有进行中的测验 / no quiz is open"))
    };
    let result: CliResult<Quiz> =
        match command {
            QuizCommand::Open {
                question, options, ..
            } => room
                .session
                .open_quiz(question, options, correct)
                .await
                .map_err(Into::into),
            QuizCommand::Answer { .. } => match open_quiz() {
                Ok(q) => room
                    .session
                    .answer_quiz(q.id, answer.unwrap_or_default())
                    .await
                    .map_err(Into::into),
                Err(e) => Err(e),
            },
            QuizCommand::Close { .. } => match open_quiz() {
                Ok(q) => room.session.close_quiz(q.id).await.map_err(Into::into),
                Err(e) => Err(e),
            },
            QuizCommand::Results { .. } => room.session.room().quiz.ok_or_else(|| {
                Failure::new(Exit::NotFound, "没有测验 / no quiz seen in this lesson")
            }),
        };
    room.leave().await;
    let quiz = result?;
    if json {
        print_json(&quiz);
    } else {
        print(quiz_text(&quiz));
    }
    Ok(())
}
