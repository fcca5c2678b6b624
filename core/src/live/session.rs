//! One person in one live lesson: runs the policy against the real world. It calls the join
//! endpoint, drives the shell's `MediaSession`, feeds the policy the media events, the
//! timetable (a cancelled or ended lesson ends the session) and timer ticks, queues the
//! attendance heartbeats, and reports every state change to the listener.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};

use lianxiao_protocol::{JoinTicket, LessonMode, LessonRole, LessonStatus};
use tokio::sync::{mpsc, watch};

use super::{
    EndCause, LiveListener, LiveState, MediaEvent, MediaSession, heartbeats,
    policy::{Action, Input, Policy, PolicyConfig},
    rendition::{self, Player, RenditionChoice, RenditionInput},
    room::Room,
};
use crate::{Error, RetryClass, client::Shared, store};

/// Longest wait for a join answer before it counts as failed.
const JOIN_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest sleep without a tick (a corrected server clock is noticed).
const MAX_SLEEP: Duration = Duration::from_secs(30);

enum Command {
    Media(MediaEvent),
    Rendition(RenditionInput),
    Leave,
}

/// A running session. Dropping it leaves the lesson.
pub struct LiveSession {
    lesson_id: String,
    commands: mpsc::UnboundedSender<Command>,
    state: watch::Receiver<LiveState>,
    ticket: Arc<Mutex<Option<JoinTicket>>>,
    rendition: Arc<Mutex<Option<RenditionChoice>>>,
    /// The lesson's live room (hands, stage, chat, quiz): see `room.rs`.
    pub(super) room: Arc<Room>,
}

impl std::fmt::Debug for LiveSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveSession")
            .field("lesson_id", &self.lesson_id)
            .field("state", &*self.state.borrow())
            .finish_non_exhaustive()
    }
}

impl LiveSession {
    pub(crate) fn start(
        shared: Arc<Shared>,
        lesson_id: String,
        config: PolicyConfig,
        media: Arc<dyn MediaSession>,
        listener: Arc<dyn LiveListener>,
    ) -> LiveSession {
        let (commands, rx) = mpsc::unbounded_channel();
        let (state_tx, state) = watch::channel(LiveState::Joining);
        let ticket = Arc::new(Mutex::new(None));
        let rendition = Arc::new(Mutex::new(None));
        let player = Player::new(shared.api.base().to_string(), rendition.clone());
        // Brought on stage by the lead (a room event): the policy turns publishing on, as if
        // the media SDK had reported the permission change.
        let stage = {
            let commands = commands.clone();
            Box::new(move |can_publish| {
                let _ = commands.send(Command::Media(MediaEvent::PermissionsChanged {
                    can_publish,
                }));
            })
        };
        let room = Room::start(
            shared.clone(),
            lesson_id.clone(),
            listener.clone(),
            state.clone(),
            stage,
        );
        let runner = Runner {
            shared: shared.clone(),
            lesson_id: lesson_id.clone(),
            media,
            listener,
            state: state_tx,
            ticket: ticket.clone(),
        };
        crate::client::spawn_reported(
            &shared,
            "live session",
            runner.run(Policy::new(config), player, rx),
        );
        LiveSession {
            lesson_id,
            commands,
            state,
            ticket,
            rendition,
            room,
        }
    }

    pub fn lesson_id(&self) -> String {
        self.lesson_id.clone()
    }

    /// What the shell's media engine reports.
    pub fn media_event(&self, event: MediaEvent) {
        let _ = self.commands.send(Command::Media(event));
    }

    /// Leaves the lesson (the media is disconnected).
    pub fn leave(&self) {
        let _ = self.commands.send(Command::Leave);
    }

    pub fn state(&self) -> LiveState {
        self.state.borrow().clone()
    }

    /// What the shell's player measured fetching the broadcast, in bits per second (each
    /// segment's, or the player's own estimate): the core picks the rendition from it.
    pub fn report_throughput(&self, bits_per_second: u64) {
        let _ = self
            .commands
            .send(Command::Rendition(RenditionInput::Throughput(
                bits_per_second,
            )));
    }

    /// True when the phone is on mobile data (metered), false on Wi-Fi. Until told, the
    /// session assumes mobile data (it only matters with the data saver on).
    pub fn set_metered(&self, metered: bool) {
        let _ = self
            .commands
            .send(Command::Rendition(RenditionInput::Metered(metered)));
    }

    /// The broadcast rendition to play while in `FallbackToBroadcast` (also told to the
    /// listener's `on_rendition` each time it changes).
    pub fn rendition(&self) -> Option<RenditionChoice> {
        self.rendition
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The ticket in use (the latest join's).
    pub fn ticket(&self) -> Option<JoinTicket> {
        self.ticket
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for LiveSession {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Leave);
    }
}

struct Runner {
    shared: Arc<Shared>,
    lesson_id: String,
    media: Arc<dyn MediaSession>,
    listener: Arc<dyn LiveListener>,
    state: watch::Sender<LiveState>,
    ticket: Arc<Mutex<Option<JoinTicket>>>,
}

impl Runner {
    async fn run(
        self,
        mut policy: Policy,
        mut player: Player,
        mut commands: mpsc::UnboundedReceiver<Command>,
    ) {
        self.listener.on_state(policy.state().clone());
        self.data_saver(&mut player).await;
        let mut timetable = self.shared.timetable_watch();
        timetable.borrow_and_update();
        // Heartbeats left from an earlier lesson (made offline) go first.
        self.send_heartbeats();
        let mut inputs = VecDeque::from([Input::Start]);
        loop {
            while let Some(input) = inputs.pop_front() {
                let now = self.shared.api.clock.now();
                for action in policy.handle(now, input) {
                    if let Some(next) = self.act(action).await {
                        inputs.push_back(next);
                    }
                }
                self.report(&policy);
                self.follow(&mut player, &policy);
            }
            if matches!(policy.state(), LiveState::Ended { .. }) {
                return;
            }
            let sleep = policy
                .next_deadline()
                .map(|at| {
                    let ms = (at - self.shared.api.clock.now()).max(0) as u64;
                    Duration::from_millis(ms).min(MAX_SLEEP)
                })
                .unwrap_or(MAX_SLEEP);
            tokio::select! {
                command = commands.recv() => inputs.push_back(match command {
                    Some(Command::Media(event)) => Input::Media(event),
                    Some(Command::Rendition(input)) => {
                        let now = self.shared.api.clock.now();
                        self.tell(player.input(now, input));
                        continue;
                    }
                    Some(Command::Leave) | None => Input::Leave,
                }),
                changed = timetable.changed() => {
                    if changed.is_err() {
                        inputs.push_back(Input::Leave);
                    } else if let Some(cause) = self.lesson_over().await {
                        inputs.push_back(Input::LessonEnded(cause));
                    } else {
                        self.data_saver(&mut player).await;
                    }
                }
                _ = tokio::time::sleep(sleep) => inputs.push_back(Input::Tick),
            }
        }
    }

    fn report(&self, policy: &Policy) {
        let state = policy.state().clone();
        let changed = self.state.send_if_modified(|s| {
            let changed = *s != state;
            *s = state.clone();
            changed
        });
        if changed {
            tracing::info!(lesson = %self.lesson_id, state = ?state, "live session");
            self.listener.on_state(state);
        }
    }

    /// Tells the player the broadcast's ticket while the session watches it.
    fn follow(&self, player: &mut Player, policy: &Policy) {
        let watching = matches!(policy.state(), LiveState::FallbackToBroadcast { .. });
        let ticket = self
            .ticket
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let hls = ticket.and_then(|t| t.hls).filter(|_| watching);
        self.tell(player.follow(self.shared.api.clock.now(), hls.as_ref()));
    }

    /// The data saver setting may have changed (it nudges the timetable).
    async fn data_saver(&self, player: &mut Player) {
        if let Ok(on) = rendition::data_saver(&self.shared).await {
            let now = self.shared.api.clock.now();
            self.tell(player.input(now, RenditionInput::DataSaver(on)));
        }
    }

    fn tell(&self, choice: Option<RenditionChoice>) {
        if let Some(choice) = choice {
            tracing::info!(lesson = %self.lesson_id, rendition = %choice.name, reason = ?choice.reason, "broadcast rendition");
            self.listener.on_rendition(choice);
        }
    }

    /// Does one action; a join answers with the policy's next input.
    async fn act(&self, action: Action) -> Option<Input> {
        let media = &self.media;
        match action {
            Action::Join => return Some(self.join().await),
            Action::Connect => {
                let ticket = self
                    .ticket
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone();
                if let Some(lk) = ticket.and_then(|t| t.livekit) {
                    media.connect(lk.url, lk.token);
                }
            }
            Action::Disconnect => media.disconnect(),
            Action::SetVideoQuality(q) => media.set_video_quality(q),
            Action::SetVideoEnabled(on) => media.set_video_enabled(on),
            Action::SetCamera(on) => media.set_camera(on),
            Action::SetMicrophone(on) => media.set_microphone(on),
            Action::Heartbeat { at } => {
                if let Err(e) = heartbeats::queue(&self.shared, &self.lesson_id, at).await {
                    tracing::warn!(code = e.code_str(), "could not queue a heartbeat");
                }
                self.send_heartbeats();
            }
        }
        None
    }

    async fn join(&self) -> Input {
        let path = format!("/lessons/{}/join", self.lesson_id);
        let key = uuid::Uuid::new_v4().to_string();
        let answer = tokio::time::timeout(
            JOIN_TIMEOUT,
            self.shared.api.post::<JoinTicket>(&path, None, &key),
        )
        .await
        .unwrap_or_else(|_| Err(Error::Offline("the join timed out".into())));
        match answer {
            Ok(ticket) => {
                // The ticket's URLs are relative to the server's.
                let hls_url = ticket
                    .hls
                    .as_ref()
                    .map(|h| format!("{}{}", self.shared.api.base(), h.master_url));
                let input = match (&ticket.livekit, ticket.mode) {
                    (Some(lk), LessonMode::Interactive) => Input::Joined {
                        can_publish: ticket.role == LessonRole::Lead,
                        broadcast_capable: ticket.role != LessonRole::Lead,
                        expires_at: lk.expires_at,
                        hls_url,
                    },
                    _ => Input::BroadcastOnly { hls_url },
                };
                *self.ticket.lock().unwrap_or_else(|e| e.into_inner()) = Some(ticket);
                input
            }
            Err(e) => {
                tracing::info!(lesson = %self.lesson_id, code = e.code_str(), "join failed");
                join_refused(&e)
            }
        }
    }

    /// The timetable changed: has this lesson been cancelled or ended?
    async fn lesson_over(&self) -> Option<EndCause> {
        let id = self.lesson_id.clone();
        let lesson = self
            .shared
            .store
            .read(move |c| store::lessons::get(c, &id))
            .await
            .ok()
            .flatten()?;
        match lesson.status {
            LessonStatus::Cancelled => Some(EndCause::Cancelled),
            LessonStatus::Ended => Some(EndCause::LessonOver),
            _ => None,
        }
    }

    fn send_heartbeats(&self) {
        let shared = self.shared.clone();
        crate::client::spawn_reported(&self.shared, "heartbeats", async move {
            if let Err(e) = heartbeats::send_pending_unless_busy(&shared).await {
                tracing::debug!(code = e.code_str(), "heartbeats not sent");
            }
        });
    }
}

/// What a failed join means for the session.
fn join_refused(e: &Error) -> Input {
    match e {
        // The server's message says which (its code is the same for both).
        Error::LessonNotLive(message) if message.contains("cancelled") => {
            Input::LessonEnded(EndCause::Cancelled)
        }
        Error::LessonNotLive(message) if message.contains("over") => {
            Input::LessonEnded(EndCause::LessonOver)
        }
        _ => match e.retry_class() {
            RetryClass::Transient { .. } => Input::JoinFailed,
            RetryClass::Paused => Input::LessonEnded(EndCause::Failed {
                reason: "signed out".into(),
            }),
            RetryClass::Permanent => Input::LessonEnded(EndCause::Failed {
                reason: e.code_str().into(),
            }),
        },
    }
}
