//! How replays and downloads look: labels, the table, one replay's fields, and the JSON the
//! `--json` commands print.

use comfy_table::Color;
use lianxiao_core::{
    DownloadState, DownloadStatus, ReplayView, WatchPlace,
    protocol::{Replay, ReplayStatus},
};
use serde::Serialize;

use crate::output::{Out, human_bytes, local_time};

/// "12:05" (minutes and seconds), "1:02:05" past an hour.
pub(super) fn clock(ms: i64) -> String {
    let secs = ms.max(0) / 1000;
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

pub(super) fn status_label(r: &Replay) -> (String, Option<Color>) {
    match r.status {
        ReplayStatus::Processing => (
            format!("转码中 processing {}%", r.progress_percent.unwrap_or(0)),
            Some(Color::Yellow),
        ),
        ReplayStatus::Failed => ("失败 failed".into(), Some(Color::Red)),
        ReplayStatus::PendingReview => ("待审核 pending review".into(), Some(Color::Yellow)),
        ReplayStatus::Approved => ("已发布 approved".into(), Some(Color::Green)),
        ReplayStatus::Rejected => ("未通过 rejected".into(), Some(Color::Red)),
    }
}

pub(super) fn download_label(d: &DownloadStatus) -> String {
    let state = match d.state {
        DownloadState::Queued => "排队 queued",
        DownloadState::Downloading => "下载中 downloading",
        DownloadState::Paused => "已暂停 paused",
        DownloadState::Done => "已下载 downloaded",
        DownloadState::Failed => "失败 failed",
    };
    format!(
        "{state} ({}, {} / {})",
        d.rendition,
        human_bytes(d.bytes_done),
        human_bytes(d.bytes_total)
    )
}

fn place_label(p: Option<&WatchPlace>) -> String {
    match p {
        Some(p) => format!(
            "at {} · watched {}",
            clock(p.position_ms),
            clock(p.watched_ms)
        ),
        None => "—".into(),
    }
}

pub(super) fn table(out: &Out, list: &[ReplayView]) -> comfy_table::Table {
    let mut t = out.table();
    t.set_header(out.header(&[
        "上课 lesson",
        "科目 subject",
        "课题 title",
        "状态 status",
        "观看 watched",
        "下载 download",
        "id",
    ]));
    for v in list {
        let (status, color) = status_label(&v.replay);
        t.add_row(vec![
            out.cell(local_time(v.replay.lesson_starts_at), None, false),
            out.cell(&v.replay.subject, None, false),
            out.cell(&v.replay.title, None, false),
            out.cell(status, color, false),
            out.cell(place_label(v.place.as_ref()), None, false),
            out.cell(
                v.download.as_ref().map(download_label).unwrap_or_default(),
                None,
                false,
            ),
            out.cell(&v.replay.id, Some(Color::DarkGrey), false),
        ]);
    }
    t
}

pub(super) fn details(v: &ReplayView) -> Vec<(&'static str, String)> {
    let r = &v.replay;
    let mut rows = vec![
        ("课题 title", r.title.clone()),
        ("科目 subject", r.subject.clone()),
        (
            "上课 lesson",
            format!("{} ({})", local_time(r.lesson_starts_at), r.lesson_id),
        ),
        ("状态 status", status_label(r).0),
        ("教师 teacher", r.owner.name.clone()),
    ];
    if let Some(ms) = r.duration_ms {
        rows.push(("时长 length", clock(ms)));
    }
    if let Some(review) = &r.review {
        let mut text = format!(
            "{} by {}",
            local_time(review.decided_at),
            review.reviewer.name
        );
        if let Some(reason) = &review.reason {
            text.push_str(&format!(": {reason}"));
        }
        rows.push(("审核 review", text));
    }
    if let Some(p) = r.problem {
        rows.push(("问题 problem", format!("{p:?}")));
    }
    for rendition in &r.renditions {
        rows.push((
            "清晰度 rendition",
            format!("{} ({})", rendition.name, human_bytes(rendition.size_bytes)),
        ));
    }
    rows.push(("观看 watched", place_label(v.place.as_ref())));
    if let Some(d) = &v.download {
        rows.push(("下载 download", download_label(d)));
    }
    rows.push(("id", r.id.clone()));
    rows
}

#[derive(Serialize)]
pub(super) struct ViewJson<'a> {
    #[serde(flatten)]
    replay: &'a Replay,
    place: Option<PlaceJson>,
    download: Option<DownloadJson<'a>>,
}

impl<'a> ViewJson<'a> {
    pub(super) fn new(v: &'a ReplayView) -> Self {
        ViewJson {
            replay: &v.replay,
            place: v.place.as_ref().map(|p| PlaceJson {
                position_ms: p.position_ms,
                at: p.at,
                watched_ms: p.watched_ms,
                unsent_watched_ms: p.unsent_watched_ms,
            }),
            download: v.download.as_ref().map(DownloadJson::from),
        }
    }
}

#[derive(Serialize)]
struct PlaceJson {
    position_ms: i64,
    at: i64,
    watched_ms: i64,
    unsent_watched_ms: i64,
}

#[derive(Serialize)]
pub(super) struct DownloadJson<'a> {
    replay_id: &'a str,
    rendition: &'a str,
    state: &'static str,
    bytes_done: u64,
    bytes_total: u64,
    segments_done: u32,
    segments_total: Option<u32>,
    error: Option<&'a str>,
}

impl<'a> From<&'a DownloadStatus> for DownloadJson<'a> {
    fn from(d: &'a DownloadStatus) -> Self {
        DownloadJson {
            replay_id: &d.replay_id,
            rendition: &d.rendition,
            state: match d.state {
                DownloadState::Queued => "queued",
                DownloadState::Downloading => "downloading",
                DownloadState::Paused => "paused",
                DownloadState::Done => "done",
                DownloadState::Failed => "failed",
            },
            bytes_done: d.bytes_done,
            bytes_total: d.bytes_total,
            segments_done: d.segments_done,
            segments_total: d.segments_total,
            error: d.error.as_ref().map(|e| e.code.as_str()),
        }
    }
}

#[derive(Serialize)]
pub(super) struct PlaybackJson<'a> {
    url: &'a str,
    local: bool,
    path: Option<&'a str>,
    expires_at: Option<i64>,
    position_ms: i64,
}

impl<'a> From<&'a lianxiao_core::Playback> for PlaybackJson<'a> {
    fn from(p: &'a lianxiao_core::Playback) -> Self {
        PlaybackJson {
            url: &p.url,
            local: p.local,
            path: p.path.as_deref(),
            expires_at: p.expires_at,
            position_ms: p.position_ms,
        }
    }
}
