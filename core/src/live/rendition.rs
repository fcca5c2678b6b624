//! Which rendition of a broadcast the phone plays, as a pure chooser in the style of the
//! policy: fed throughput samples and settings with the time they happened, it answers with
//! a new choice only when the choice changes. The shell's player measures (every player
//! reports the bandwidth of the segments it fetched); the core decides, so Android and iOS
//! behave the same and the decision is tested here on traces.
//!
//! The estimate is the lower of a fast and a slow moving average (as hls.js does): a drop
//! shows at once, a short burst does not lift it. Hysteresis keeps it from flapping: it steps
//! down as soon as the estimate no longer leaves `down_headroom_pct` above the rendition's
//! bitrate, but up only after the next rendition has fitted with the larger `up_headroom_pct`
//! for `up_hold_ms`, one rung at a time.
//!
//! Data saver (a per-account setting, off by default): on mobile data the phone plays the
//! audio-only rendition, because a parent pays for every megabyte and a lecture is mostly
//! speech; on Wi-Fi it plays at most the lowest video, because rural Wi-Fi is a school's
//! shared line. A network whose kind the shell has not told counts as mobile data.

use std::sync::{Arc, Mutex};

use lianxiao_protocol::{HlsRendition, HlsTicket, Millis};

use crate::{Result, client::Shared, store};

/// Thresholds of the chooser. The defaults suit 2 s segments on a rural mobile network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenditionConfig {
    /// Stay on a rendition while the estimate is at least its bitrate plus this much.
    pub down_headroom_pct: u64,
    /// Go up one rendition once the estimate has been at least its bitrate plus this much
    /// for `up_hold_ms`.
    pub up_headroom_pct: u64,
    pub up_hold_ms: u64,
    /// Half-lives of the two moving averages.
    pub fast_half_life_ms: u64,
    pub slow_half_life_ms: u64,
    /// This many samples in a row below the playing rendition's own bitrate (the player
    /// downloads slower than it plays: the buffer drains) step down at once, whatever the
    /// averages say.
    pub starved_samples: u32,
}

impl Default for RenditionConfig {
    fn default() -> Self {
        RenditionConfig {
            down_headroom_pct: 20,
            up_headroom_pct: 60,
            up_hold_ms: 10_000,
            fast_half_life_ms: 3_000,
            slow_half_life_ms: 10_000,
            starved_samples: 2,
        }
    }
}

/// Why this rendition plays (the lesson screen may say "data saver: audio only").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RenditionReason {
    /// No measurement yet: the lowest video, so the first segments come quickly.
    Start,
    /// The measured throughput.
    Throughput,
    /// The data saver caps it.
    DataSaver,
}

/// The rendition the shell's player should play.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RenditionChoice {
    /// `low`, `audio`... as the server names them.
    pub name: String,
    /// The rendition's media playlist, absolute and signed for this person.
    pub url: String,
    /// Bits per second, as the master playlist announces it.
    pub bandwidth: u64,
    pub audio_only: bool,
    pub reason: RenditionReason,
    /// The throughput estimate behind the choice, bits per second (absent before the first
    /// sample).
    pub estimate: Option<u64>,
}

/// What the chooser learns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenditionInput {
    /// The player fetched at this many bits per second.
    Throughput(u64),
    DataSaver(bool),
    /// True: mobile data (the user pays per megabyte); false: Wi-Fi or wired.
    Metered(bool),
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Estimate {
    fast: f64,
    slow: f64,
    at: Millis,
}

#[derive(Debug, Clone)]
pub struct RenditionChooser {
    config: RenditionConfig,
    /// Highest bitrate first.
    ladder: Vec<HlsRendition>,
    data_saver: bool,
    metered: bool,
    estimate: Option<Estimate>,
    /// Samples in a row below the playing rendition's bitrate.
    starved: u32,
    /// Since when the next rendition up has fitted.
    room_since: Option<Millis>,
    current: Option<(usize, RenditionReason)>,
}

impl RenditionChooser {
    pub fn new(config: RenditionConfig, renditions: &[HlsRendition]) -> RenditionChooser {
        let mut ladder = renditions.to_vec();
        ladder.sort_by_key(|r| std::cmp::Reverse(r.bandwidth));
        RenditionChooser {
            config,
            ladder,
            data_saver: false,
            metered: true,
            estimate: None,
            starved: 0,
            room_since: None,
            current: None,
        }
    }

    /// The rendition to play now, chosen on the first call (`None`: the ticket had none).
    pub fn current(&mut self, now: Millis) -> Option<(&HlsRendition, RenditionReason)> {
        if self.current.is_none() {
            self.decide(now);
        }
        let (i, reason) = self.current?;
        Some((&self.ladder[i], reason))
    }

    /// The estimate in bits per second, once there is one.
    pub fn estimate(&self) -> Option<u64> {
        self.estimate.map(|e| e.fast.min(e.slow) as u64)
    }

    /// Feeds one input; answers the new rendition when the choice changed.
    pub fn handle(
        &mut self,
        now: Millis,
        input: RenditionInput,
    ) -> Option<(&HlsRendition, RenditionReason)> {
        let before = self.current;
        match input {
            RenditionInput::Throughput(bps) => self.sample(now, bps),
            RenditionInput::DataSaver(on) => self.data_saver = on,
            RenditionInput::Metered(metered) => self.metered = metered,
        }
        self.decide(now);
        if self.current == before {
            return None;
        }
        let (i, reason) = self.current?;
        Some((&self.ladder[i], reason))
    }

    fn sample(&mut self, now: Millis, bps: u64) {
        let bps = bps as f64;
        let c = self.config;
        self.estimate = Some(match self.estimate {
            None => Estimate {
                fast: bps,
                slow: bps,
                at: now,
            },
            Some(e) => {
                // Samples reported together still weigh a second each; after a long pause
                // the old estimate is stale and the new sample nearly replaces it.
                let dt = (now - e.at).max(1_000) as f64;
                let mix = |avg: f64, half_life: u64| {
                    let keep = 0.5f64.powf(dt / half_life as f64);
                    avg * keep + bps * (1.0 - keep)
                };
                Estimate {
                    fast: mix(e.fast, c.fast_half_life_ms),
                    slow: mix(e.slow, c.slow_half_life_ms),
                    at: now,
                }
            }
        });
        match self.current {
            Some((i, _)) if bps < self.ladder[i].bandwidth as f64 => self.starved += 1,
            _ => self.starved = 0,
        }
    }

    /// The highest rendition the data saver allows, and whether it is the data saver's cap.
    fn ceiling(&self) -> (usize, bool) {
        let last = self.ladder.len().saturating_sub(1);
        if !self.data_saver {
            return (0, false);
        }
        let audio = self.ladder.iter().position(|r| r.audio_only);
        let lowest_video = self.ladder.iter().rposition(|r| !r.audio_only);
        let cap = if self.metered {
            audio.or(lowest_video)
        } else {
            lowest_video.or(audio)
        };
        let cap = cap.unwrap_or(last);
        (cap, cap > 0)
    }

    fn fits(&self, i: usize, headroom_pct: u64) -> bool {
        let need = self.ladder[i].bandwidth as f64 * (100 + headroom_pct) as f64 / 100.0;
        self.estimate().is_some_and(|e| e as f64 >= need)
    }

    fn decide(&mut self, now: Millis) {
        if self.ladder.is_empty() {
            return;
        }
        let last = self.ladder.len() - 1;
        let (ceiling, capped) = self.ceiling();
        let cap_reason = |i: usize, otherwise: RenditionReason| {
            if capped && i == ceiling {
                RenditionReason::DataSaver
            } else {
                otherwise
            }
        };
        let Some((current, reason)) = self.current else {
            // Start on the lowest video: it shows a picture, and comes quickly.
            let start = self
                .ladder
                .iter()
                .rposition(|r| !r.audio_only)
                .unwrap_or(last)
                .max(ceiling);
            self.current = Some((start, cap_reason(start, RenditionReason::Start)));
            if self.estimate.is_some() {
                self.decide(now);
            }
            return;
        };
        // The data saver was turned on (or the phone left Wi-Fi): obey at once.
        if current < ceiling {
            self.set(ceiling, RenditionReason::DataSaver);
            return;
        }
        // The cap was lifted (turned off, or Wi-Fi now): the person asked for more, so try
        // the starting rendition at once; the estimate takes it down again if it must.
        if reason == RenditionReason::DataSaver && !(capped && current == ceiling) {
            self.set(current, reason);
            self.current = None;
            self.decide(now);
            return;
        }
        if self.estimate.is_some() {
            let c = self.config;
            let starved = self.starved >= c.starved_samples;
            if current < last && (starved || !self.fits(current, c.down_headroom_pct)) {
                // Down to the best that fits, or the bottom.
                let to = (current + 1..=last)
                    .find(|&i| self.fits(i, c.down_headroom_pct))
                    .unwrap_or(last);
                self.set(to, cap_reason(to, RenditionReason::Throughput));
                return;
            }
            if current > ceiling && self.fits(current - 1, c.up_headroom_pct) {
                let since = *self.room_since.get_or_insert(now);
                if now - since >= c.up_hold_ms as i64 {
                    self.set(
                        current - 1,
                        cap_reason(current - 1, RenditionReason::Throughput),
                    );
                }
                return;
            }
            self.room_since = None;
        }
        // Same rendition; the data saver may now be what holds it there.
        self.current = Some((current, cap_reason(current, reason)));
    }

    fn set(&mut self, i: usize, reason: RenditionReason) {
        self.current = Some((i, reason));
        self.room_since = None;
        self.starved = 0;
    }
}

/// The session's side of the choice: a chooser for the broadcast while the session watches
/// it, the settings it obeys, and the latest choice for `LiveSession::rendition`.
pub(crate) struct Player {
    config: RenditionConfig,
    /// The server's URL: the ticket's are relative to it.
    base: String,
    /// The master playlist the chooser was built for (a new ticket signs new URLs).
    playing: Option<(String, RenditionChooser)>,
    data_saver: bool,
    metered: bool,
    /// Throughput reported before the broadcast started, kept for its first choice.
    early: Option<(Millis, u64)>,
    chosen: Arc<Mutex<Option<RenditionChoice>>>,
}

impl Player {
    pub(crate) fn new(base: String, chosen: Arc<Mutex<Option<RenditionChoice>>>) -> Player {
        Player {
            config: RenditionConfig::default(),
            base,
            playing: None,
            data_saver: false,
            metered: true,
            early: None,
            chosen,
        }
    }

    /// Follows the session: `hls` is the broadcast's ticket while the session watches it,
    /// `None` otherwise. Answers a choice when the shell must be told one.
    pub(crate) fn follow(
        &mut self,
        now: Millis,
        hls: Option<&HlsTicket>,
    ) -> Option<RenditionChoice> {
        let Some(hls) = hls else {
            self.playing = None;
            *self.chosen.lock().unwrap_or_else(|e| e.into_inner()) = None;
            return None;
        };
        if self
            .playing
            .as_ref()
            .is_some_and(|(m, _)| *m == hls.master_url)
        {
            return None;
        }
        let mut chooser = RenditionChooser::new(self.config, &hls.renditions);
        chooser.handle(now, RenditionInput::Metered(self.metered));
        chooser.handle(now, RenditionInput::DataSaver(self.data_saver));
        if let Some((at, bps)) = self.early.take() {
            chooser.handle(at, RenditionInput::Throughput(bps));
        }
        self.playing = Some((hls.master_url.clone(), chooser));
        self.announce(now, true)
    }

    pub(crate) fn input(&mut self, now: Millis, input: RenditionInput) -> Option<RenditionChoice> {
        match input {
            RenditionInput::DataSaver(on) if on == self.data_saver => return None,
            RenditionInput::DataSaver(on) => self.data_saver = on,
            RenditionInput::Metered(metered) => self.metered = metered,
            RenditionInput::Throughput(bps) if self.playing.is_none() => {
                self.early = Some((now, bps));
            }
            RenditionInput::Throughput(_) => {}
        }
        let (_, chooser) = self.playing.as_mut()?;
        chooser.handle(now, input)?;
        self.announce(now, false)
    }

    /// The chooser's current rendition as the shell sees it; `None` when it is already known.
    fn announce(&mut self, now: Millis, always: bool) -> Option<RenditionChoice> {
        let (_, chooser) = self.playing.as_mut()?;
        let estimate = chooser.estimate();
        let (r, reason) = chooser.current(now)?;
        let choice = RenditionChoice {
            name: r.name.clone(),
            url: format!("{}{}", self.base, r.url),
            bandwidth: r.bandwidth,
            audio_only: r.audio_only,
            reason,
            estimate,
        };
        let mut chosen = self.chosen.lock().unwrap_or_else(|e| e.into_inner());
        if !always && chosen.as_ref() == Some(&choice) {
            return None;
        }
        *chosen = Some(choice.clone());
        Some(choice)
    }
}

/// The data saver setting's key in the account's store.
const SETTING_DATA_SAVER: &str = "live.data_saver";

/// The account's data saver setting (off unless turned on).
pub(crate) async fn data_saver(s: &Arc<Shared>) -> Result<bool> {
    Ok(s.store
        .read(|c| store::homework::setting(c, SETTING_DATA_SAVER))
        .await?
        .is_some_and(|v| v == "on"))
}

/// Stores the data saver setting. Running sessions re-read it when the timetable changes, so
/// this nudges it (one signal, rather than another channel through the client).
pub(crate) async fn set_data_saver(s: &Arc<Shared>, on: bool) -> Result<()> {
    let value = if on { "on" } else { "off" };
    s.store
        .write(move |tx| store::homework::set_setting(tx, SETTING_DATA_SAVER, value))
        .await?;
    s.timetable_changed();
    Ok(())
}

#[cfg(test)]
#[path = "rendition_tests.rs"]
mod tests;
