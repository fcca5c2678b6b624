//! The live session's policy: what to do about the network, the room and the stage, as a pure
//! state machine. It is fed inputs with the time they happened (server clock, Unix ms) and
//! answers with actions; it never sleeps or reads a clock, so tests replay scripted traces
//! with simulated time. `next_deadline` says when it wants a `Tick` if nothing else happens.

use lianxiao_protocol::Millis;

use super::{ConnectionQuality, DisconnectReason, EndCause, LiveState, MediaEvent, VideoQuality};

/// Thresholds of the policy. The defaults suit a phone on a rural mobile network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyConfig {
    /// Poor (or Lost) quality for `poor_window_ms`, confirmed by at least `poor_reports`
    /// reports in a row, before video steps down one rung (High → Medium → Low → audio
    /// only), and again after each further window. LiveKit's SDKs report quality on change,
    /// so one report suffices; a shell that samples periodically may ask for more.
    pub poor_reports: u32,
    pub poor_window_ms: u64,
    /// Good or Excellent for `good_window_ms` (at least `good_reports` reports in a row)
    /// before video steps back up one rung.
    pub good_reports: u32,
    pub good_window_ms: u64,
    /// The SDK reconnecting for longer than this: join again with a fresh ticket (the token
    /// may have expired, or the SDK given up).
    pub rejoin_after_ms: u64,
    /// Connecting (after a join) with no `Connected` for this long counts as a failure.
    pub connect_timeout_ms: u64,
    /// Wait before trying a failed join again.
    pub retry_join_ms: u64,
    /// Failed rejoins in a row, or an outage this long, while the person only watches: fall
    /// back to the broadcast (HLS).
    pub max_failures: u32,
    pub fallback_after_ms: u64,
    /// An outage this long when no broadcast can replace the room: give up.
    pub give_up_after_ms: u64,
    /// While live, or watching the broadcast, an attendance heartbeat this often.
    pub heartbeat_ms: u64,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            poor_reports: 1,
            poor_window_ms: 10_000,
            good_reports: 1,
            good_window_ms: 30_000,
            rejoin_after_ms: 15_000,
            connect_timeout_ms: 20_000,
            retry_join_ms: 5_000,
            max_failures: 3,
            fallback_after_ms: 60_000,
            give_up_after_ms: 10 * 60_000,
            heartbeat_ms: 30_000,
        }
    }
}

/// What the policy learns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The session is starting: ask for a ticket.
    Start,
    /// A join answered with a ticket: connect to it.
    Joined {
        /// Publishing allowed from the start (the lead teacher).
        can_publish: bool,
        /// Someone who only watches: the broadcast could replace the room.
        broadcast_capable: bool,
        /// The ticket's token stops working then; the lesson is over for this session.
        expires_at: Millis,
        /// Where the lesson's broadcast plays, when it has one.
        hls_url: Option<String>,
    },
    /// A join failed in a way that may pass (no network, server busy).
    JoinFailed,
    /// The lesson has no room (a broadcast lesson): watch the broadcast.
    BroadcastOnly {
        hls_url: Option<String>,
    },
    Media(MediaEvent),
    /// The lesson is over or cancelled (timetable, join refused, room closed).
    LessonEnded(EndCause),
    /// The person leaves.
    Leave,
    Tick,
}

/// What the session must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Call `POST /v1/lessons/{id}/join` for a fresh ticket, then feed `Joined` or `JoinFailed`.
    Join,
    /// Connect the media to the latest ticket.
    Connect,
    Disconnect,
    SetVideoQuality(VideoQuality),
    SetVideoEnabled(bool),
    SetCamera(bool),
    SetMicrophone(bool),
    /// Queue an attendance heartbeat dated `at`.
    Heartbeat {
        at: Millis,
    },
}

/// One rung of the video ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rung {
    AudioOnly,
    Low,
    Medium,
    High,
}

impl Rung {
    fn down(self) -> Rung {
        match self {
            Rung::High => Rung::Medium,
            Rung::Medium => Rung::Low,
            _ => Rung::AudioOnly,
        }
    }

    fn up(self) -> Rung {
        match self {
            Rung::AudioOnly => Rung::Low,
            Rung::Low => Rung::Medium,
            _ => Rung::High,
        }
    }

    fn quality(self) -> VideoQuality {
        match self {
            Rung::High => VideoQuality::High,
            Rung::Medium => VideoQuality::Medium,
            _ => VideoQuality::Low,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    /// Waiting for a ticket (`since`: when this attempt began).
    Joining,
    /// Ticket in hand, media connecting.
    Connecting {
        since: Millis,
    },
    Live,
    /// The SDK is reconnecting on its own since `since`.
    Reconnecting {
        since: Millis,
    },
    /// A join failed; try again at `at`.
    RetryAt {
        at: Millis,
    },
    Broadcast,
    Ended,
}

/// A run of same-kind quality reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    poor: bool,
    count: u32,
    since: Millis,
}

#[derive(Debug, Clone)]
pub struct Policy {
    config: PolicyConfig,
    phase: Phase,
    state: LiveState,
    /// Connected at least once: later trouble shows as Reconnecting, not Joining.
    was_live: bool,
    rung: Rung,
    run: Option<Run>,
    can_publish: bool,
    /// Only watches (not the lead): the broadcast could replace the room while off stage.
    watcher: bool,
    hls_url: Option<String>,
    expires_at: Option<Millis>,
    /// When the current outage began (first Reconnecting, disconnect or failed join).
    outage_since: Option<Millis>,
    failures: u32,
    attempt: u32,
    next_heartbeat: Option<Millis>,
}

impl Policy {
    pub fn new(config: PolicyConfig) -> Policy {
        Policy {
            config,
            phase: Phase::Idle,
            state: LiveState::Joining,
            was_live: false,
            rung: Rung::High,
            run: None,
            can_publish: false,
            watcher: false,
            hls_url: None,
            expires_at: None,
            outage_since: None,
            failures: 0,
            attempt: 0,
            next_heartbeat: None,
        }
    }

    pub fn state(&self) -> &LiveState {
        &self.state
    }

    /// When the policy wants a `Tick` at the latest, if it waits for time at all.
    pub fn next_deadline(&self) -> Option<Millis> {
        let c = &self.config;
        let phase = match self.phase {
            Phase::Connecting { since } => Some(since + c.connect_timeout_ms as i64),
            Phase::Reconnecting { since } => Some(since + c.rejoin_after_ms as i64),
            Phase::RetryAt { at } => Some(at),
            Phase::Live => [self.next_heartbeat, self.step_due()]
                .into_iter()
                .flatten()
                .min(),
            // Watching the broadcast counts as attendance too.
            Phase::Broadcast => self.next_heartbeat,
            _ => None,
        };
        let outage = match self.phase {
            Phase::Broadcast | Phase::Ended | Phase::Live | Phase::Idle => None,
            _ => self.outage_since.map(|s| s + self.outage_limit() as i64),
        };
        let expiry = match self.phase {
            Phase::Ended | Phase::Idle => None,
            _ => self.expires_at,
        };
        [phase, outage, expiry].into_iter().flatten().min()
    }

    fn broadcast_capable(&self) -> bool {
        self.watcher && !self.can_publish
    }

    fn outage_limit(&self) -> u64 {
        if self.broadcast_capable() {
            self.config.fallback_after_ms
        } else {
            self.config.give_up_after_ms
        }
    }

    /// Feeds one input that happened at `now`; returns the actions to take, in order.
    pub fn handle(&mut self, now: Millis, input: Input) -> Vec<Action> {
        let mut out = Vec::new();
        if self.phase == Phase::Ended {
            return out;
        }
        match input {
            Input::Start => {
                self.phase = Phase::Joining;
                out.push(Action::Join);
            }
            Input::Joined {
                can_publish,
                broadcast_capable,
                expires_at,
                hls_url,
            } => {
                if matches!(self.phase, Phase::Joining | Phase::RetryAt { .. }) {
                    self.hls_url = hls_url;
                    self.can_publish = can_publish;
                    self.watcher = broadcast_capable;
                    self.expires_at = Some(expires_at);
                    self.phase = Phase::Connecting { since: now };
                    out.push(Action::Connect);
                }
            }
            Input::JoinFailed => {
                if self.phase == Phase::Joining {
                    self.failure(now, &mut out);
                }
            }
            Input::BroadcastOnly { hls_url } => {
                if self.phase == Phase::Joining {
                    self.hls_url = hls_url;
                    self.fall_back(now, &mut out);
                }
            }
            Input::Media(event) => self.media(now, event, &mut out),
            Input::LessonEnded(cause) => self.end(cause, &mut out),
            Input::Leave => self.end(EndCause::Left, &mut out),
            Input::Tick => self.tick(now, &mut out),
        }
        self.check_outage(now, &mut out);
        if self.phase != Phase::Ended
            && let Some(expires) = self.expires_at
            && now >= expires
        {
            self.end(EndCause::LessonOver, &mut out);
        }
        out
    }

    fn media(&mut self, now: Millis, event: MediaEvent, out: &mut Vec<Action>) {
        match event {
            MediaEvent::Connected | MediaEvent::Reconnected => {
                if matches!(
                    self.phase,
                    Phase::Connecting { .. } | Phase::Reconnecting { .. }
                ) {
                    let first = !self.was_live;
                    self.phase = Phase::Live;
                    self.was_live = true;
                    self.outage_since = None;
                    self.failures = 0;
                    self.attempt = 0;
                    self.run = None;
                    // A new connection starts from the SDK's defaults: say what we want.
                    if first || event == MediaEvent::Connected {
                        self.apply_rung(out);
                        self.apply_publishing(out);
                    }
                    self.next_heartbeat = Some(now);
                    self.tick(now, out);
                    self.publish_state();
                }
            }
            MediaEvent::Reconnecting => {
                if self.phase == Phase::Live {
                    self.phase = Phase::Reconnecting { since: now };
                    self.outage_since.get_or_insert(now);
                    self.attempt = 0;
                    self.publish_state();
                }
            }
            MediaEvent::Disconnected { reason } => match reason {
                DisconnectReason::Kicked => self.end(EndCause::Kicked, out),
                DisconnectReason::RoomClosed => self.end(EndCause::LessonOver, out),
                DisconnectReason::DuplicateIdentity => self.end(
                    EndCause::Failed {
                        reason: "joined the lesson on another device".into(),
                    },
                    out,
                ),
                DisconnectReason::ClientInitiated => {}
                DisconnectReason::Network | DisconnectReason::Other { .. } => {
                    if matches!(
                        self.phase,
                        Phase::Live | Phase::Connecting { .. } | Phase::Reconnecting { .. }
                    ) {
                        // The SDK gave up: a fresh ticket at once.
                        self.outage_since.get_or_insert(now);
                        self.rejoin(out);
                    }
                }
            },
            MediaEvent::ConnectionQuality { quality } => {
                if self.phase == Phase::Live {
                    let poor = matches!(quality, ConnectionQuality::Poor | ConnectionQuality::Lost);
                    self.report(now, poor, out);
                }
            }
            // The SDK paused a stream for bandwidth: as bad as a Poor report.
            MediaEvent::StreamPaused => {
                if self.phase == Phase::Live {
                    self.report(now, true, out);
                }
            }
            MediaEvent::TrackSubscribed => {}
            MediaEvent::PermissionsChanged { can_publish } => {
                if self.can_publish != can_publish {
                    self.can_publish = can_publish;
                    if self.phase == Phase::Live {
                        self.apply_publishing(out);
                        self.publish_state();
                    }
                }
            }
        }
    }

    /// One quality report; a sustained run moves one rung.
    fn report(&mut self, now: Millis, poor: bool, out: &mut Vec<Action>) {
        let run = match self.run {
            Some(r) if r.poor == poor => Run {
                count: r.count + 1,
                ..r
            },
            _ => Run {
                poor,
                count: 1,
                since: now,
            },
        };
        self.run = Some(run);
        self.step(now, out);
    }

    /// When the current run would move a rung (the quality holds until the next report:
    /// LiveKit's SDKs report on change only).
    fn step_due(&self) -> Option<Millis> {
        let run = self.run?;
        let (reports, window, next) = if run.poor {
            let c = &self.config;
            (c.poor_reports, c.poor_window_ms, self.rung.down())
        } else {
            let c = &self.config;
            (c.good_reports, c.good_window_ms, self.rung.up())
        };
        (run.count >= reports && next != self.rung).then_some(run.since + window as i64)
    }

    /// Moves one rung if the run has lasted long enough.
    fn step(&mut self, now: Millis, out: &mut Vec<Action>) {
        let (Some(run), Some(due)) = (self.run, self.step_due()) else {
            return;
        };
        if now < due {
            return;
        }
        let next = if run.poor {
            self.rung.down()
        } else {
            self.rung.up()
        };
        // The same quality must last another window before the next rung.
        self.run = Some(Run { since: now, ..run });
        self.rung = next;
        self.apply_rung(out);
        if self.can_publish {
            out.push(Action::SetCamera(self.rung != Rung::AudioOnly));
        }
        self.publish_state();
    }

    fn apply_rung(&self, out: &mut Vec<Action>) {
        if self.rung == Rung::AudioOnly {
            out.push(Action::SetVideoEnabled(false));
        } else {
            out.push(Action::SetVideoEnabled(true));
            out.push(Action::SetVideoQuality(self.rung.quality()));
        }
    }

    fn apply_publishing(&self, out: &mut Vec<Action>) {
        out.push(Action::SetCamera(
            self.can_publish && self.rung != Rung::AudioOnly,
        ));
        out.push(Action::SetMicrophone(self.can_publish));
    }

    fn tick(&mut self, now: Millis, out: &mut Vec<Action>) {
        let c = self.config;
        match self.phase {
            Phase::Live => {
                self.step(now, out);
                if let Some(at) = self.next_heartbeat
                    && now >= at
                {
                    out.push(Action::Heartbeat { at: now });
                    self.next_heartbeat = Some(now + c.heartbeat_ms as i64);
                }
            }
            Phase::Reconnecting { since } if now - since >= c.rejoin_after_ms as i64 => {
                self.rejoin(out);
            }
            Phase::Connecting { since } if now - since >= c.connect_timeout_ms as i64 => {
                out.push(Action::Disconnect);
                self.failure(now, out);
            }
            Phase::RetryAt { at } if now >= at => {
                self.phase = Phase::Joining;
                out.push(Action::Join);
            }
            Phase::Broadcast => {
                if let Some(at) = self.next_heartbeat
                    && now >= at
                {
                    out.push(Action::Heartbeat { at: now });
                    self.next_heartbeat = Some(now + c.heartbeat_ms as i64);
                }
            }
            _ => {}
        }
    }

    /// Drop the connection and ask for a fresh ticket.
    fn rejoin(&mut self, out: &mut Vec<Action>) {
        self.attempt += 1;
        self.phase = Phase::Joining;
        out.push(Action::Disconnect);
        out.push(Action::Join);
        self.publish_state();
    }

    /// A join or connection attempt failed: wait, then try again.
    fn failure(&mut self, now: Millis, out: &mut Vec<Action>) {
        self.failures += 1;
        self.outage_since.get_or_insert(now);
        self.attempt += 1;
        self.phase = Phase::RetryAt {
            at: now + self.config.retry_join_ms as i64,
        };
        if self.broadcast_capable() && self.failures >= self.config.max_failures {
            self.fall_back(now, out);
        } else {
            self.publish_state();
        }
    }

    fn check_outage(&mut self, now: Millis, out: &mut Vec<Action>) {
        if matches!(self.phase, Phase::Ended | Phase::Broadcast | Phase::Live) {
            return;
        }
        let Some(since) = self.outage_since else {
            return;
        };
        if now - since < self.outage_limit() as i64 {
            return;
        }
        if self.broadcast_capable() {
            self.fall_back(now, out);
        } else {
            self.end(
                EndCause::Failed {
                    reason: "no connection to the lesson".into(),
                },
                out,
            );
        }
    }

    /// To the HLS broadcast: the room is left; while there is a playlist to watch, the
    /// attendance heartbeats go on (the first at once), so watching counts as being there.
    fn fall_back(&mut self, now: Millis, out: &mut Vec<Action>) {
        self.phase = Phase::Broadcast;
        out.push(Action::Disconnect);
        self.state = LiveState::FallbackToBroadcast {
            hls_url: self.hls_url.clone(),
        };
        self.next_heartbeat = None;
        if self.hls_url.is_some() {
            out.push(Action::Heartbeat { at: now });
            self.next_heartbeat = Some(now + self.config.heartbeat_ms as i64);
        }
    }

    fn end(&mut self, cause: EndCause, out: &mut Vec<Action>) {
        if self.phase != Phase::Idle {
            out.push(Action::Disconnect);
        }
        self.phase = Phase::Ended;
        self.state = LiveState::Ended { cause };
    }

    fn publish_state(&mut self) {
        self.state = match self.phase {
            Phase::Live => LiveState::Live {
                quality: self.rung.quality(),
                video_enabled: self.rung != Rung::AudioOnly,
                can_publish: self.can_publish,
            },
            Phase::Broadcast => LiveState::FallbackToBroadcast {
                hls_url: self.hls_url.clone(),
            },
            Phase::Ended => return,
            _ if self.was_live => LiveState::Reconnecting {
                attempt: self.attempt,
            },
            _ => LiveState::Joining,
        };
    }
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
