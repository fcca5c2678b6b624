//! Trace tests of the live policy: scripted media events on simulated time.

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

#[test]
fn watching_a_broadcast_lesson_sends_heartbeats_until_it_ends() {
    let mut t = Trace::new();
    t.at(0.0, Input::Start);
    let actions = t.at(
        1.0,
        Input::BroadcastOnly {
            hls_url: Some("https://school.example.cn/v1/hls/L1/master.m3u8?sig".into()),
        },
    );
    assert_eq!(
        actions,
        vec![Action::Disconnect, Action::Heartbeat { at: S }],
        "the first at once"
    );
    let beats = heartbeats(&t.run_until(100.0));
    assert_eq!(
        beats,
        vec![31 * S, 61 * S, 91 * S],
        "then every half minute"
    );
    t.at(120.0, Input::LessonEnded(EndCause::LessonOver));
    assert!(t.run_until(1000.0).is_empty(), "none once it is over");
}

#[test]
fn a_watcher_fallen_back_to_the_broadcast_keeps_its_heartbeats() {
    let mut t = Trace::new();
    t.at(0.0, Input::Start);
    t.at(
        0.2,
        Input::Joined {
            can_publish: false,
            broadcast_capable: true,
            expires_at: LESSON_END,
            hls_url: Some("https://school.example.cn/v1/hls/L1/master.m3u8?sig".into()),
        },
    );
    t.media(0.5, MediaEvent::Connected);
    let live = heartbeats(&t.run_until(65.0));
    assert_eq!(live, vec![30_500, 60_500], "heartbeats in the room");
    t.media(70.0, MediaEvent::Reconnecting);
    t.run_until(85.0);
    t.at(86.0, Input::JoinFailed);
    t.run_until(91.0);
    t.at(92.0, Input::JoinFailed);
    t.run_until(97.0);
    let actions = t.at(98.0, Input::JoinFailed);
    assert!(
        matches!(
            t.state(),
            LiveState::FallbackToBroadcast { hls_url: Some(_) }
        ),
        "{:?}",
        t.state()
    );
    assert_eq!(
        actions,
        vec![Action::Disconnect, Action::Heartbeat { at: 98 * S }]
    );
    let watching = heartbeats(&t.run_until(160.0));
    assert_eq!(
        watching,
        vec![128 * S, 158 * S],
        "the same pace while watching"
    );
}
