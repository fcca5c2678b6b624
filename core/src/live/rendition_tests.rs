//! Trace tests of the rendition chooser: throughput samples and settings on simulated time.

use super::*;

/// The server's ladder today: 360p with audio, and audio only.
fn server_ladder() -> Vec<HlsRendition> {
    vec![rung("low", 620_400, false), rung("audio", 52_800, true)]
}

/// A fuller ladder, listed out of order (the chooser sorts it).
fn three_rungs() -> Vec<HlsRendition> {
    vec![
        rung("low", 620_400, false),
        rung("high", 2_200_000, false),
        rung("audio", 52_800, true),
    ]
}

fn rung(name: &str, bandwidth: u64, audio_only: bool) -> HlsRendition {
    HlsRendition {
        name: name.into(),
        bandwidth,
        url: format!("/v1/hls/l1/{name}/index.m3u8"),
        audio_only,
    }
}

struct Trace {
    chooser: RenditionChooser,
}

impl Trace {
    fn new(ladder: Vec<HlsRendition>) -> Trace {
        Trace {
            chooser: RenditionChooser::new(RenditionConfig::default(), &ladder),
        }
    }

    fn playing(&mut self, secs: f64) -> (String, RenditionReason) {
        let (r, reason) = self.chooser.current((secs * 1000.0) as Millis).unwrap();
        (r.name.clone(), reason)
    }

    fn at(&mut self, secs: f64, input: RenditionInput) -> Option<(String, RenditionReason)> {
        self.chooser
            .handle((secs * 1000.0) as Millis, input)
            .map(|(r, reason)| (r.name.clone(), reason))
    }

    /// One sample every 2 s (a segment each) from `from` to `to` seconds; returns every
    /// switch with its time.
    fn steady(&mut self, from: f64, to: f64, bps: u64) -> Vec<(f64, String)> {
        let mut switches = Vec::new();
        let mut t = from;
        while t <= to {
            if let Some((name, _)) = self.at(t, RenditionInput::Throughput(bps)) {
                switches.push((t, name));
            }
            t += 2.0;
        }
        switches
    }
}

fn switch(t: f64, name: &str) -> (f64, String) {
    (t, name.to_owned())
}

#[test]
fn it_starts_on_the_lowest_video_before_any_measurement() {
    let mut t = Trace::new(three_rungs());
    assert_eq!(t.playing(0.0), ("low".into(), RenditionReason::Start));
    assert_eq!(t.chooser.estimate(), None);
}

#[test]
fn a_good_network_climbs_one_rung_after_holding_its_headroom() {
    let mut t = Trace::new(three_rungs());
    t.playing(0.0);
    // 4 Mbit/s carries `high` (2.2 Mbit/s) with 60% headroom, but only after 10 s of it.
    let switches = t.steady(0.0, 30.0, 4_000_000);
    assert_eq!(switches, vec![switch(10.0, "high")]);
    assert_eq!(
        t.playing(30.0),
        ("high".into(), RenditionReason::Throughput)
    );
}

#[test]
fn a_network_between_the_thresholds_stays_where_it_is() {
    // 3 Mbit/s: enough to keep `high` (needs 2.64), not enough to climb to it (needs 3.52).
    let mut t = Trace::new(three_rungs());
    t.playing(0.0);
    assert!(t.steady(0.0, 120.0, 3_000_000).is_empty());
    assert_eq!(t.playing(120.0).0, "low");

    let mut t = Trace::new(three_rungs());
    t.playing(0.0);
    t.steady(0.0, 20.0, 5_000_000);
    assert_eq!(t.playing(20.0).0, "high");
    assert!(t.steady(22.0, 120.0, 3_000_000).is_empty());
    assert_eq!(t.playing(120.0).0, "high");
}

#[test]
fn a_network_that_swings_does_not_flap() {
    let mut t = Trace::new(three_rungs());
    t.playing(0.0);
    // Alternating 5 and 1 Mbit/s segments: on average 3 Mbit/s, never 10 s of headroom for
    // `high`, and `low` always fits: no switch at all in ten minutes.
    let mut switches = Vec::new();
    for i in 0..300 {
        let bps = if i % 2 == 0 { 5_000_000 } else { 1_000_000 };
        if let Some(s) = t.at(i as f64 * 2.0, RenditionInput::Throughput(bps)) {
            switches.push(s);
        }
    }
    assert_eq!(switches, vec![]);
    assert_eq!(t.playing(600.0).0, "low");
}

#[test]
fn a_collapse_steps_down_within_two_segments() {
    let mut t = Trace::new(three_rungs());
    t.playing(0.0);
    t.steady(0.0, 20.0, 5_000_000);
    assert_eq!(t.playing(20.0).0, "high");
    // 400 kbit/s: the averages lag, but two segments fetched slower than `high` plays step
    // down at once, to the best the estimate carries.
    assert_eq!(t.at(22.0, RenditionInput::Throughput(400_000)), None);
    let down = t.at(24.0, RenditionInput::Throughput(400_000)).unwrap();
    assert_eq!(down.1, RenditionReason::Throughput);
    // Then the estimate catches up and takes it to audio only.
    let rest = t.steady(26.0, 60.0, 400_000);
    assert_eq!(t.playing(60.0).0, "audio");
    assert!(rest.len() <= 1, "{rest:?}");
}

#[test]
fn a_rural_evening_goes_to_audio_only_and_back_to_video_when_it_recovers() {
    // The server's two renditions, a 3G-like line that sags at 19:00 and recovers.
    let mut t = Trace::new(server_ladder());
    assert_eq!(t.playing(0.0).0, "low");
    assert!(t.steady(0.0, 60.0, 1_200_000).is_empty());
    let sag = t.steady(62.0, 120.0, 300_000);
    assert_eq!(sag.len(), 1);
    assert_eq!(sag[0].1, "audio");
    assert!(sag[0].0 <= 66.0, "down within two segments: {sag:?}");
    let back = t.steady(122.0, 200.0, 1_200_000);
    assert_eq!(back.len(), 1, "{back:?}");
    assert_eq!(back[0].1, "low");
    // Back only after the slow average has risen and held 10 s: not on the first good one.
    assert!(back[0].0 >= 132.0, "{back:?}");
}

#[test]
fn one_slow_segment_does_not_drop_the_video() {
    let mut t = Trace::new(server_ladder());
    t.steady(0.0, 30.0, 1_500_000);
    assert_eq!(t.at(32.0, RenditionInput::Throughput(200_000)), None);
    assert!(t.steady(34.0, 60.0, 1_500_000).is_empty());
    assert_eq!(t.playing(60.0).0, "low");
}

#[test]
fn data_saver_on_mobile_data_plays_audio_only() {
    let mut t = Trace::new(three_rungs());
    assert_eq!(t.playing(0.0).0, "low");
    // A network of unknown kind counts as mobile data.
    assert_eq!(
        t.at(1.0, RenditionInput::DataSaver(true)),
        Some(("audio".into(), RenditionReason::DataSaver))
    );
    // However fast the network, it stays there.
    assert!(t.steady(2.0, 120.0, 20_000_000).is_empty());
    assert_eq!(
        t.playing(120.0),
        ("audio".into(), RenditionReason::DataSaver)
    );
}

#[test]
fn data_saver_on_wifi_plays_at_most_the_lowest_video() {
    let mut t = Trace::new(three_rungs());
    t.at(0.0, RenditionInput::Metered(false));
    t.steady(0.0, 20.0, 8_000_000);
    assert_eq!(t.playing(20.0).0, "high");
    assert_eq!(
        t.at(21.0, RenditionInput::DataSaver(true)),
        Some(("low".into(), RenditionReason::DataSaver))
    );
    assert!(t.steady(22.0, 120.0, 8_000_000).is_empty());
    // Leaving the Wi-Fi: audio only.
    assert_eq!(
        t.at(121.0, RenditionInput::Metered(true)),
        Some(("audio".into(), RenditionReason::DataSaver))
    );
    // Back on Wi-Fi: the lowest video at once.
    assert_eq!(
        t.at(130.0, RenditionInput::Metered(false)),
        Some(("low".into(), RenditionReason::DataSaver))
    );
}

#[test]
fn data_saver_on_a_weak_line_still_steps_below_its_cap() {
    let mut t = Trace::new(three_rungs());
    t.at(0.0, RenditionInput::Metered(false));
    // The cap is where it starts anyway: the same rendition, now held there by the saver.
    assert_eq!(
        t.at(0.0, RenditionInput::DataSaver(true)),
        Some(("low".into(), RenditionReason::DataSaver))
    );
    let down = t.steady(2.0, 30.0, 200_000);
    assert_eq!(down.len(), 1);
    assert_eq!(down[0].1, "audio");
    assert_eq!(t.playing(30.0).1, RenditionReason::Throughput);
}

#[test]
fn turning_data_saver_off_tries_video_again_at_once() {
    let mut t = Trace::new(three_rungs());
    t.at(0.0, RenditionInput::DataSaver(true));
    t.steady(0.0, 30.0, 8_000_000);
    assert_eq!(t.playing(30.0).0, "audio");
    assert_eq!(
        t.at(31.0, RenditionInput::DataSaver(false)),
        Some(("low".into(), RenditionReason::Start))
    );
    // And climbs from there as usual.
    assert_eq!(t.steady(32.0, 60.0, 8_000_000), vec![switch(42.0, "high")]);
}

#[test]
fn turning_data_saver_off_on_a_weak_line_stays_on_audio() {
    let mut t = Trace::new(server_ladder());
    t.at(0.0, RenditionInput::DataSaver(true));
    t.steady(0.0, 30.0, 150_000);
    assert_eq!(
        t.at(31.0, RenditionInput::DataSaver(false)),
        Some(("audio".into(), RenditionReason::Throughput)),
        "the estimate cannot carry video: only the reason changes"
    );
}

#[test]
fn a_long_pause_forgets_the_old_estimate() {
    let mut t = Trace::new(server_ladder());
    t.steady(0.0, 30.0, 5_000_000);
    // The player was paused for ten minutes; the first sample after it is what counts.
    assert_eq!(
        t.at(630.0, RenditionInput::Throughput(100_000)),
        Some(("audio".into(), RenditionReason::Throughput))
    );
}

#[test]
fn a_ticket_without_renditions_chooses_nothing() {
    let mut chooser = RenditionChooser::new(RenditionConfig::default(), &[]);
    assert!(chooser.current(0).is_none());
    assert!(
        chooser
            .handle(1, RenditionInput::Throughput(1_000_000))
            .is_none()
    );
}
