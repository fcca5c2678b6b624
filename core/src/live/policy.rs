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
    /// While live, an attendance heartbeat this often.
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
                    self.fall_back(&mut out);
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
            self.fall_back(out);
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
            self.fall_back(out);
        } else {
            self.end(
                EndCause::Failed {
                    reason: "no connection to the lesson".into(),
                },
                out,
            );
        }
    }

    fn fall_back(&mut self, out: &mut Vec<Action>) {
        self.phase = Phase::Broadcast;
        out.push(Action::Disconnect);
        self.state = LiveState::FallbackToBroadcast {
            hls_url: self.hls_url.clone(),
        };
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
mod tests {
    use super::*;

    const S: i64 = 1000;
    const LESSON_END: Millis = 3600 * S;

    /// A policy fed a scripted trace on simulated time (seconds from the start).
    struct Trace {
        policy: Policy,
    }

    impl Trace {
        fn new() -> Trace {
            Trace {
                policy: Policy::new(PolicyConfig::default()),
            }
        }

        fn at(&mut self, secs: f64, input: Input) -> Vec<Action> {
            self.policy.handle((secs * 1000.0) as Millis, input)
        }

        fn media(&mut self, secs: f64, event: MediaEvent) -> Vec<Action> {
            self.at(secs, Input::Media(event))
        }

        fn quality(&mut self, secs: f64, quality: ConnectionQuality) -> Vec<Action> {
            self.media(secs, MediaEvent::ConnectionQuality { quality })
        }

        fn state(&self) -> LiveState {
            self.policy.state().clone()
        }

        /// Ticks at every deadline the policy asks for up to `until`, collecting actions.
        fn run_until(&mut self, until: f64) -> Vec<(Millis, Action)> {
            let mut out = Vec::new();
            while let Some(at) = self.policy.next_deadline() {
                if at > (until * 1000.0) as Millis {
                    break;
                }
                for a in self.policy.handle(at, Input::Tick) {
                    out.push((at, a));
                }
            }
            out
        }

        /// Like `run_until`, answering every join 100 ms later with `answer`.
        fn run_answering(&mut self, until: f64, answer: &Input) -> Vec<(Millis, Action)> {
            let mut out = Vec::new();
            while let Some(at) = self.policy.next_deadline() {
                if at > (until * 1000.0) as Millis {
                    break;
                }
                for a in self.policy.handle(at, Input::Tick) {
                    let join = a == Action::Join;
                    out.push((at, a));
                    if join {
                        for a in self.policy.handle(at + 100, answer.clone()) {
                            out.push((at + 100, a));
                        }
                    }
                }
            }
            out
        }

        /// Started and connected at t = 0 as `role_publishes` (the lead) or a watcher.
        fn live(lead: bool) -> Trace {
            let mut t = Trace::new();
            assert_eq!(t.at(0.0, Input::Start), vec![Action::Join]);
            assert_eq!(t.state(), LiveState::Joining);
            assert_eq!(
                t.at(0.2, joined(lead)),
                vec![Action::Connect],
                "a ticket is used at once"
            );
            t.media(0.5, MediaEvent::Connected);
            t
        }
    }

    fn joined(lead: bool) -> Input {
        Input::Joined {
            can_publish: lead,
            broadcast_capable: !lead,
            expires_at: LESSON_END,
            hls_url: None,
        }
    }

    fn live(quality: VideoQuality, video_enabled: bool, can_publish: bool) -> LiveState {
        LiveState::Live {
            quality,
            video_enabled,
            can_publish,
        }
    }

    fn heartbeats(actions: &[(Millis, Action)]) -> Vec<Millis> {
        actions
            .iter()
            .filter_map(|(_, a)| match a {
                Action::Heartbeat { at } => Some(*at),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn connecting_sets_the_media_up_and_starts_heartbeats() {
        let mut t = Trace::new();
        t.at(0.0, Input::Start);
        t.at(0.2, joined(false));
        let actions = t.media(0.5, MediaEvent::Connected);
        assert_eq!(
            actions,
            vec![
                Action::SetVideoEnabled(true),
                Action::SetVideoQuality(VideoQuality::High),
                Action::SetCamera(false),
                Action::SetMicrophone(false),
                Action::Heartbeat { at: 500 },
            ]
        );
        assert_eq!(t.state(), live(VideoQuality::High, true, false));
        // Every 30 s while live.
        let beats = heartbeats(&t.run_until(95.0));
        assert_eq!(beats, vec![30_500, 60_500, 90_500]);
    }

    #[test]
    fn a_short_network_loss_is_left_to_the_sdk_and_recovers() {
        let mut t = Trace::live(false);
        t.run_until(40.0);
        assert!(t.media(40.0, MediaEvent::Reconnecting).is_empty());
        assert_eq!(t.state(), LiveState::Reconnecting { attempt: 0 });
        // No heartbeats while away; no rejoin before the threshold.
        let during = t.run_until(50.0);
        assert!(during.is_empty(), "{during:?}");
        let back = t.media(50.0, MediaEvent::Reconnected);
        assert!(!back.contains(&Action::Join) && !back.contains(&Action::Connect));
        assert_eq!(back, vec![Action::Heartbeat { at: 50_000 }]);
        assert_eq!(t.state(), live(VideoQuality::High, true, false));
    }

    #[test]
    fn a_long_outage_rejoins_with_a_fresh_ticket() {
        let mut t = Trace::live(false);
        t.media(100.0, MediaEvent::Reconnecting);
        let actions = t.run_until(115.5);
        // 15 s of reconnecting: drop the connection, ask for a new ticket.
        assert_eq!(
            actions,
            vec![(115_000, Action::Disconnect), (115_000, Action::Join)]
        );
        assert_eq!(t.state(), LiveState::Reconnecting { attempt: 1 });
        // The network is still down: the join fails, and is retried 5 s later.
        assert!(t.at(116.0, Input::JoinFailed).is_empty());
        assert_eq!(t.state(), LiveState::Reconnecting { attempt: 2 });
        assert_eq!(t.run_until(121.0), vec![(121_000, Action::Join)]);
        // Back: the new ticket is connected, and the media set up again.
        assert_eq!(t.at(121.5, joined(false)), vec![Action::Connect]);
        let actions = t.media(122.0, MediaEvent::Connected);
        assert!(actions.contains(&Action::SetVideoQuality(VideoQuality::High)));
        assert!(actions.contains(&Action::Heartbeat { at: 122_000 }));
        assert_eq!(t.state(), live(VideoQuality::High, true, false));
    }

    #[test]
    fn the_sdk_giving_up_rejoins_at_once() {
        let mut t = Trace::live(false);
        let actions = t.media(
            10.0,
            MediaEvent::Disconnected {
                reason: DisconnectReason::Network,
            },
        );
        assert_eq!(actions, vec![Action::Disconnect, Action::Join]);
        assert_eq!(t.state(), LiveState::Reconnecting { attempt: 1 });
    }

    #[test]
    fn a_watcher_falls_back_to_the_broadcast_after_repeated_failures() {
        let mut t = Trace::live(false);
        t.media(100.0, MediaEvent::Reconnecting);
        t.run_until(115.0);
        t.at(116.0, Input::JoinFailed);
        t.run_until(121.0);
        t.at(122.0, Input::JoinFailed);
        t.run_until(127.0);
        let actions = t.at(128.0, Input::JoinFailed);
        assert_eq!(actions, vec![Action::Disconnect]);
        assert_eq!(t.state(), LiveState::FallbackToBroadcast { hls_url: None });
        // It stays there; nothing more to do on its own.
        assert!(t.run_until(1000.0).is_empty());
    }

    #[test]
    fn a_watcher_falls_back_after_a_long_outage_even_if_joins_seem_to_work() {
        let mut t = Trace::live(false);
        t.media(100.0, MediaEvent::Reconnecting);
        // Each ticket comes, but the media never connects (UDP blocked, say).
        let actions = t.run_answering(300.0, &joined(false));
        let joins = actions.iter().filter(|(_, a)| *a == Action::Join).count();
        // Connect times out after 20 s, a new ticket 5 s later; the minute runs out first.
        assert_eq!(joins, 2, "{actions:?}");
        assert_eq!(actions.last(), Some(&(160_000, Action::Disconnect)));
        assert_eq!(t.state(), LiveState::FallbackToBroadcast { hls_url: None });
    }

    #[test]
    fn the_lead_never_falls_back_and_gives_up_after_ten_minutes() {
        let mut t = Trace::live(true);
        t.media(100.0, MediaEvent::Reconnecting);
        let actions = t.run_answering(2000.0, &Input::JoinFailed);
        let joins = actions.iter().filter(|(_, a)| *a == Action::Join).count();
        assert!(joins > 100, "kept trying every 5 s: {joins}");
        assert_eq!(actions.last(), Some(&(700_000, Action::Disconnect)));
        assert_eq!(
            t.state(),
            LiveState::Ended {
                cause: EndCause::Failed {
                    reason: "no connection to the lesson".into()
                }
            }
        );
    }

    #[test]
    fn sustained_poor_quality_steps_down_to_audio_only_and_good_brings_video_back() {
        let mut t = Trace::live(false);
        // A single bad report, or bad ones interrupted by a good one, change nothing.
        assert!(t.quality(2.0, ConnectionQuality::Poor).is_empty());
        assert!(t.quality(4.0, ConnectionQuality::Poor).is_empty());
        assert!(t.quality(6.0, ConnectionQuality::Good).is_empty());
        // Poor every 2 s: a step every 10 s of it.
        let mut steps = Vec::new();
        let mut secs = 8.0;
        while secs <= 60.0 {
            let actions = t.quality(secs, ConnectionQuality::Poor);
            if !actions.is_empty() {
                steps.push((secs, actions));
            }
            secs += 2.0;
        }
        assert_eq!(
            steps,
            vec![
                (
                    18.0,
                    vec![
                        Action::SetVideoEnabled(true),
                        Action::SetVideoQuality(VideoQuality::Medium)
                    ]
                ),
                (
                    28.0,
                    vec![
                        Action::SetVideoEnabled(true),
                        Action::SetVideoQuality(VideoQuality::Low)
                    ]
                ),
                (38.0, vec![Action::SetVideoEnabled(false)]),
            ]
        );
        assert_eq!(t.state(), live(VideoQuality::Low, false, false));
        // Lost counts as poor, and audio only is the floor.
        assert!(t.quality(62.0, ConnectionQuality::Lost).is_empty());
        // Good every 5 s: one rung back per 30 s of it.
        let mut steps = Vec::new();
        let mut secs = 65.0;
        while secs <= 200.0 {
            let actions = t.quality(secs, ConnectionQuality::Excellent);
            if !actions.is_empty() {
                steps.push((secs, t.state()));
            }
            secs += 5.0;
        }
        assert_eq!(
            steps,
            vec![
                (95.0, live(VideoQuality::Low, true, false)),
                (125.0, live(VideoQuality::Medium, true, false)),
                (155.0, live(VideoQuality::High, true, false)),
            ]
        );
    }

    #[test]
    fn paused_streams_count_as_poor_quality() {
        let mut t = Trace::live(false);
        for secs in [2.0, 6.0] {
            assert!(t.media(secs, MediaEvent::StreamPaused).is_empty());
        }
        let actions = t.media(12.0, MediaEvent::StreamPaused);
        assert_eq!(
            actions,
            vec![
                Action::SetVideoEnabled(true),
                Action::SetVideoQuality(VideoQuality::Medium)
            ]
        );
    }

    #[test]
    fn the_stage_turns_publishing_on_and_off() {
        let mut t = Trace::live(false);
        assert_eq!(t.state(), live(VideoQuality::High, true, false));
        let on = t.media(20.0, MediaEvent::PermissionsChanged { can_publish: true });
        assert_eq!(
            on,
            vec![Action::SetCamera(true), Action::SetMicrophone(true)]
        );
        assert_eq!(t.state(), live(VideoQuality::High, true, true));
        // The same permission again changes nothing.
        assert!(
            t.media(21.0, MediaEvent::PermissionsChanged { can_publish: true })
                .is_empty()
        );
        let off = t.media(60.0, MediaEvent::PermissionsChanged { can_publish: false });
        assert_eq!(
            off,
            vec![Action::SetCamera(false), Action::SetMicrophone(false)]
        );
        assert_eq!(t.state(), live(VideoQuality::High, true, false));
    }

    #[test]
    fn on_stage_with_audio_only_the_camera_stays_off_until_video_returns() {
        let mut t = Trace::live(true);
        let mut camera = Vec::new();
        let mut secs = 1.0;
        while secs < 45.0 {
            for a in t.quality(secs, ConnectionQuality::Poor) {
                if let Action::SetCamera(on) = a {
                    camera.push(on);
                }
            }
            secs += 1.0;
        }
        assert_eq!(camera, vec![true, true, false]);
        assert_eq!(t.state(), live(VideoQuality::Low, false, true));
        // Taken off and put back on stage while audio only: microphone, no camera.
        t.media(50.0, MediaEvent::PermissionsChanged { can_publish: false });
        assert_eq!(
            t.media(51.0, MediaEvent::PermissionsChanged { can_publish: true }),
            vec![Action::SetCamera(false), Action::SetMicrophone(true)]
        );
    }

    #[test]
    fn a_publisher_on_stage_does_not_fall_back_to_watching() {
        let mut t = Trace::live(false);
        t.media(5.0, MediaEvent::PermissionsChanged { can_publish: true });
        t.media(10.0, MediaEvent::Reconnecting);
        t.run_answering(300.0, &Input::JoinFailed);
        assert!(
            matches!(t.state(), LiveState::Reconnecting { .. }),
            "{:?}",
            t.state()
        );
    }

    #[test]
    fn the_lesson_ending_ends_the_session_whatever_it_was_doing() {
        for cause in [EndCause::Cancelled, EndCause::LessonOver] {
            let mut t = Trace::live(false);
            t.media(10.0, MediaEvent::Reconnecting);
            assert_eq!(
                t.at(12.0, Input::LessonEnded(cause.clone())),
                vec![Action::Disconnect]
            );
            assert_eq!(t.state(), LiveState::Ended { cause });
            // Nothing more happens after the end.
            assert!(t.media(13.0, MediaEvent::Reconnected).is_empty());
            assert_eq!(t.policy.next_deadline(), None);
        }
    }

    #[test]
    fn the_room_closing_kicks_and_leaving_end_with_their_cause() {
        for (reason, cause) in [
            (DisconnectReason::RoomClosed, EndCause::LessonOver),
            (DisconnectReason::Kicked, EndCause::Kicked),
        ] {
            let mut t = Trace::live(false);
            t.media(10.0, MediaEvent::Disconnected { reason });
            assert_eq!(t.state(), LiveState::Ended { cause });
        }
        let mut t = Trace::live(false);
        assert_eq!(t.at(10.0, Input::Leave), vec![Action::Disconnect]);
        assert_eq!(
            t.state(),
            LiveState::Ended {
                cause: EndCause::Left
            }
        );
    }

    #[test]
    fn the_ticket_expiring_ends_the_lesson() {
        let mut t = Trace::live(false);
        let actions = t.run_until(4000.0);
        assert_eq!(actions.last(), Some(&(LESSON_END, Action::Disconnect)));
        assert_eq!(
            t.state(),
            LiveState::Ended {
                cause: EndCause::LessonOver
            }
        );
    }

    #[test]
    fn a_broadcast_lesson_goes_straight_to_the_broadcast() {
        let mut t = Trace::new();
        t.at(0.0, Input::Start);
        let url = "https://school.example.cn/v1/hls/L1/master.m3u8?sig".to_owned();
        t.at(
            0.1,
            Input::BroadcastOnly {
                hls_url: Some(url.clone()),
            },
        );
        assert_eq!(
            t.state(),
            LiveState::FallbackToBroadcast { hls_url: Some(url) }
        );
    }

    #[test]
    fn a_connection_that_never_comes_up_is_retried_with_a_fresh_ticket() {
        let mut t = Trace::new();
        t.at(0.0, Input::Start);
        t.at(0.1, joined(false));
        let actions = t.run_until(30.0);
        assert_eq!(
            actions,
            vec![(20_100, Action::Disconnect), (25_100, Action::Join)]
        );
        // Never live yet: still joining, not reconnecting.
        assert_eq!(t.state(), LiveState::Joining);
    }

    #[test]
    fn quality_reported_only_on_change_still_steps_with_time() {
        // LiveKit's SDKs report quality when it changes: one Poor, then silence.
        let mut t = Trace::live(false);
        assert!(t.quality(5.0, ConnectionQuality::Poor).is_empty());
        let steps: Vec<(Millis, Action)> = t
            .run_until(60.0)
            .into_iter()
            .filter(|(_, a)| !matches!(a, Action::Heartbeat { .. }))
            .collect();
        assert_eq!(
            steps,
            vec![
                (15_000, Action::SetVideoEnabled(true)),
                (15_000, Action::SetVideoQuality(VideoQuality::Medium)),
                (25_000, Action::SetVideoEnabled(true)),
                (25_000, Action::SetVideoQuality(VideoQuality::Low)),
                (35_000, Action::SetVideoEnabled(false)),
            ]
        );
        // One Good report: back up a rung every 30 s of it.
        t.quality(100.0, ConnectionQuality::Good);
        let ups: Vec<Millis> = t
            .run_until(300.0)
            .into_iter()
            .filter(|(_, a)| matches!(a, Action::SetVideoQuality(_)))
            .map(|(at, _)| at)
            .collect();
        assert_eq!(ups, vec![130_000, 160_000, 190_000]);
        assert_eq!(t.state(), live(VideoQuality::High, true, false));
    }

    #[test]
    fn a_shell_sampling_periodically_can_ask_for_several_reports() {
        let mut t = Trace {
            policy: Policy::new(PolicyConfig {
                poor_reports: 3,
                ..PolicyConfig::default()
            }),
        };
        t.at(0.0, Input::Start);
        t.at(0.1, joined(false));
        t.media(0.2, MediaEvent::Connected);
        // One Poor report held for a minute is not enough for this shell.
        t.quality(1.0, ConnectionQuality::Poor);
        assert!(
            !t.run_until(60.0)
                .iter()
                .any(|(_, a)| matches!(a, Action::SetVideoQuality(_))),
        );
        t.quality(61.0, ConnectionQuality::Poor);
        assert_eq!(
            t.quality(62.0, ConnectionQuality::Poor),
            vec![
                Action::SetVideoEnabled(true),
                Action::SetVideoQuality(VideoQuality::Medium)
            ]
        );
    }
}
