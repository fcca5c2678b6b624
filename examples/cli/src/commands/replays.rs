//! `lianxiao replays ...`: replays (异步点播) on the core's public API (`client.replays()`).
//! The list, one replay, the watch place and downloads come from the account's store and
//! work offline; streaming, uploading a classroom recording and the school's review (学校审核)
//! need the server. A download runs while a command follows it (`download`, `resume`), and
//! goes on from where it stopped in the next one.

use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use clap::{Args, Subcommand, ValueEnum};
use comfy_table::Color;
use lianxiao_core::{
    Client, DownloadState, DownloadStatus, Error, NewRecording, OutboxKind, ReplayFilter,
    ReplayListener, ReplayView, UploadListener, UploadStatus, WatchPlace,
    protocol::{Replay, ReplayStatus, ReplayVisibility},
};
use serde::Serialize;
use tokio::sync::watch;

use crate::{
    cli::JsonOpt,
    commands::notices::resolve_child,
    context::{Context, Delivery},
    exit::{CliResult, Exit, Failure},
    output::{Out, human_bytes, local_time, print, print_json, print_table},
};

/// `replays` commands. Replay ids can be shortened to a unique prefix.
#[derive(Debug, Subcommand)]
pub enum ReplaysCommand {
    /// The replays on this device, newest lesson first (run `sync` to refresh).
    List {
        /// Only those of this child's lessons (parents): the child's name, id or login.
        #[arg(long)]
        child: Option<String>,
        #[command(flatten)]
        json: JsonOpt,
    },
    /// One replay: status, review, renditions, your place and its download.
    Show {
        /// The replay id (a unique prefix is enough).
        id: String,
        #[command(flatten)]
        json: JsonOpt,
    },
    /// What a player opens: the downloaded copy (a file URL), else a signed stream URL
    /// (online), and where you stopped.
    Play {
        id: String,
        #[command(flatten)]
        json: JsonOpt,
    },
    /// Report watching: where the player is and how long was played since the last report.
    /// Recorded at once (offline too) and sent; counted once.
    WatchProgress {
        id: String,
        /// Where the player is, in seconds.
        #[arg(long, value_name = "SECS")]
        position: u32,
        /// Seconds played since the last report.
        #[arg(long, value_name = "SECS")]
        played: u32,
    },
    /// Teachers: upload a classroom recording (录播) as a lesson's replay (resumable; run it
    /// again after a break to go on). It is then transcoded and waits for review.
    Upload {
        /// The video file (MP4).
        file: PathBuf,
        /// The lesson it records (its full id).
        #[arg(long, value_name = "LESSON_ID")]
        lesson: String,
        /// Instead of the lesson's title.
        #[arg(long)]
        title: Option<String>,
        /// Share it with the whole link group, not only the lesson's classes.
        #[arg(long)]
        link_group: bool,
        #[command(flatten)]
        json: JsonOpt,
    },
    /// School admins: approve or reject a replay waiting for review (学校审核).
    Review {
        id: String,
        decision: Decision,
        /// Why it is rejected (required to reject; the teacher sees it).
        #[arg(long)]
        reason: Option<String>,
        /// On approval, share it with the whole link group.
        #[arg(long)]
        link_group: bool,
        #[command(flatten)]
        json: JsonOpt,
    },
    /// Download one rendition for offline viewing and follow it to the end (Ctrl-C stops
    /// following; the next `resume` or `download` goes on from there).
    Download {
        id: String,
        /// `low` (360p) or `audio`.
        #[arg(long, default_value = "low")]
        rendition: String,
        #[command(flatten)]
        follow: Follow,
    },
    /// Stop a download, keeping what is on this device.
    Pause { id: String },
    /// Go on with a paused or failed download and follow it to the end.
    Resume {
        id: String,
        #[command(flatten)]
        follow: Follow,
    },
    /// Delete a download and its files.
    Delete { id: String },
    /// Downloads against the storage cap; `--cap` sets the cap.
    Storage {
        /// The most all downloads may take, in MiB.
        #[arg(long, value_name = "MIB")]
        cap: Option<u64>,
        #[command(flatten)]
        json: JsonOpt,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Decision {
    Approve,
    Reject,
}

#[derive(Debug, Args)]
pub struct Follow {
    /// Queue it and return at once (it runs while a later command follows it).
    #[arg(long)]
    pub detach: bool,
    /// Print the download's status as one JSON document.
    #[arg(long)]
    pub json: bool,
}

impl ReplaysCommand {
    pub fn json(&self) -> bool {
        match self {
            ReplaysCommand::List { json, .. }
            | ReplaysCommand::Show { json, .. }
            | ReplaysCommand::Play { json, .. }
            | ReplaysCommand::Upload { json, .. }
            | ReplaysCommand::Review { json, .. }
            | ReplaysCommand::Storage { json, .. } => json.json,
            ReplaysCommand::Download { follow, .. } | ReplaysCommand::Resume { follow, .. } => {
                follow.json
            }
            ReplaysCommand::WatchProgress { .. }
            | ReplaysCommand::Pause { .. }
            | ReplaysCommand::Delete { .. } => false,
        }
    }
}

const MIB: u64 = 1024 * 1024;

pub async fn run(ctx: &Context, command: ReplaysCommand) -> CliResult {
    let client = ctx.client().await?;
    let replays = client.replays();
    match command {
        ReplaysCommand::List { child, json } => {
            let child_id = match child {
                Some(c) => Some(resolve_child(ctx, &client, &c).await?),
                None => None,
            };
            let list = replays.list(ReplayFilter { child_id }).await?;
            if json.json {
                print_json(&list.iter().map(ViewJson::new).collect::<Vec<_>>());
            } else if list.is_empty() {
                print("没有回放 / no replays on this device (run `lianxiao sync`)");
            } else {
                print_table(&table(&ctx.out, &list));
            }
            Ok(())
        }
        ReplaysCommand::Show { id, json } => {
            let view = view(&client, &id).await?;
            if json.json {
                print_json(&ViewJson::new(&view));
            } else {
                print_table(&ctx.out.fields(details(&view)));
            }
            Ok(())
        }
        ReplaysCommand::Play { id, json } => {
            let id = view(&client, &id).await?.replay.id;
            let playback = replays.play(id).await?;
            if json.json {
                print_json(&PlaybackJson::from(&playback));
            } else {
                let from = if playback.local {
                    "本机下载 / downloaded copy"
                } else {
                    "在线 / stream"
                };
                print(format!(
                    "{}\n{from}, 从 {} 开始 / start at {}",
                    playback.url,
                    clock(playback.position_ms),
                    clock(playback.position_ms)
                ));
            }
            Ok(())
        }
        ReplaysCommand::WatchProgress {
            id,
            position,
            played,
        } => {
            let id = view(&client, &id).await?.replay.id;
            replays
                .report_progress(
                    id.clone(),
                    i64::from(position) * 1000,
                    i64::from(played) * 1000,
                )
                .await?;
            match ctx.deliver(&client, OutboxKind::Watch, &id).await {
                Delivery::Delivered => {
                    print(format!(
                        "已记录 / recorded: at {}",
                        clock(i64::from(position) * 1000)
                    ));
                    Ok(())
                }
                Delivery::Queued => Err(ctx.queued_failure(&client)),
                Delivery::Rejected(f) => Err(f),
            }
        }
        ReplaysCommand::Upload {
            file,
            lesson,
            title,
            link_group,
            json,
        } => {
            let replay = upload(ctx, &client, file, lesson, title, visibility(link_group)).await?;
            if json.json {
                print_json(&replay);
            } else {
                print(format!(
                    "已上传 / uploaded: {} — {} ({}): transcoding, then school review",
                    replay.id,
                    replay.title,
                    status_label(&replay).0
                ));
            }
            Ok(())
        }
        ReplaysCommand::Review {
            id,
            decision,
            reason,
            link_group,
            json,
        } => {
            let id = view(&client, &id).await?.replay.id;
            let approve = decision == Decision::Approve;
            let shared = (approve && link_group).then_some(ReplayVisibility::LinkGroup);
            let replay = replays.review(id, approve, reason, shared).await?;
            if json.json {
                print_json(&replay);
            } else {
                print(format!("{}: {}", replay.id, status_label(&replay).0));
            }
            Ok(())
        }
        ReplaysCommand::Download {
            id,
            rendition,
            follow,
        } => {
            let id = view(&client, &id).await?.replay.id;
            let status = replays.download(id.clone(), rendition).await?;
            follow_download(ctx, &client, status, follow).await
        }
        ReplaysCommand::Resume { id, follow } => {
            let id = view(&client, &id).await?.replay.id;
            replays.resume_download(id.clone()).await?;
            let status = download_status(&client, &id).await?;
            follow_download(ctx, &client, status, follow).await
        }
        ReplaysCommand::Pause { id } => {
            let id = view(&client, &id).await?.replay.id;
            replays.pause_download(id.clone()).await?;
            let status = download_status(&client, &id).await?;
            print(format!("{id}: {}", download_label(&status)));
            Ok(())
        }
        ReplaysCommand::Delete { id } => {
            let id = view(&client, &id).await?.replay.id;
            download_status(&client, &id).await?;
            replays.delete_download(id.clone()).await?;
            print(format!("已删除下载 / download deleted: {id}"));
            Ok(())
        }
        ReplaysCommand::Storage { cap, json } => {
            if let Some(mib) = cap {
                if mib == 0 {
                    return Err(Failure::validation("--cap: at least 1 MiB"));
                }
                replays
                    .set_storage_cap_bytes(mib.saturating_mul(MIB))
                    .await?;
            }
            let use_ = replays.storage().await?;
            let downloads = replays.downloads().await?;
            if json.json {
                print_json(&serde_json::json!({
                    "reserved_bytes": use_.reserved_bytes,
                    "cap_bytes": use_.cap_bytes,
                    "downloads": downloads.iter().map(DownloadJson::from).collect::<Vec<_>>(),
                }));
            } else {
                print(format!(
                    "下载占用 / downloads hold {} of {} ({} download(s))",
                    human_bytes(use_.reserved_bytes),
                    human_bytes(use_.cap_bytes),
                    downloads.len()
                ));
            }
            Ok(())
        }
    }
}

fn visibility(link_group: bool) -> ReplayVisibility {
    if link_group {
        ReplayVisibility::LinkGroup
    } else {
        ReplayVisibility::LessonClasses
    }
}

// ---------------------------------------------------------------------------------------
// Ids as typed

/// A replay on this device by id or unique prefix; syncs once when it is not there yet.
async fn view(client: &Client, typed: &str) -> CliResult<ReplayView> {
    let typed = typed.trim();
    if typed.is_empty() {
        return Err(Failure::validation("empty replay id"));
    }
    for attempt in 0..2 {
        if attempt == 1 && client.sync_now().await.is_err() {
            break;
        }
        match client.replays().get(typed.to_owned()).await {
            Ok(v) => return Ok(v),
            Err(Error::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
        let mut found: Vec<ReplayView> = client
            .replays()
            .list(ReplayFilter::default())
            .await?
            .into_iter()
            .filter(|v| v.replay.id.starts_with(typed))
            .collect();
        match found.len() {
            0 => {}
            1 => return Ok(found.remove(0)),
            n => {
                return Err(Failure::validation(format!(
                    "{n} replays start with that id: type more of it"
                )));
            }
        }
    }
    Err(Failure::new(
        Exit::NotFound,
        "没有这个回放 / no such replay on this device (run `lianxiao sync`)",
    ))
}

async fn download_status(client: &Client, id: &str) -> CliResult<DownloadStatus> {
    client
        .replays()
        .download_status(id.to_owned())
        .await?
        .ok_or_else(|| Failure::new(Exit::NotFound, "这个回放没有下载 / no download of it"))
}

// ---------------------------------------------------------------------------------------
// Upload and download, followed

/// Forwards a core subscription's values into a watch channel.
struct Forward<T>(watch::Sender<Option<T>>);

impl ReplayListener for Forward<Vec<ReplayView>> {
    fn on_replays(&self, replays: Vec<ReplayView>) {
        let _ = self.0.send(Some(replays));
    }
}

impl UploadListener for Forward<Vec<UploadStatus>> {
    fn on_uploads(&self, uploads: Vec<UploadStatus>) {
        let _ = self.0.send(Some(uploads));
    }
}

async fn upload(
    ctx: &Context,
    client: &Client,
    file: PathBuf,
    lesson_id: String,
    title: Option<String>,
    visibility: ReplayVisibility,
) -> CliResult<Replay> {
    let path = std::fs::canonicalize(&file).map_err(|e| {
        Failure::validation(format!("{}: cannot read it ({})", file.display(), e.kind()))
    })?;
    ctx.start(client);
    let (tx, mut rx) = watch::channel(None);
    let _handle = client.uploads().subscribe(Arc::new(Forward(tx)));
    let mut bar = ctx.out.progress("上传录像 / uploading the recording");
    let replays = client.replays();
    let sending = replays.upload_recording(NewRecording {
        lesson_id,
        path: path.clone(),
        title,
        visibility,
    });
    tokio::pin!(sending);
    loop {
        tokio::select! {
            done = &mut sending => {
                bar.finish();
                return done.map_err(Into::into);
            }
            changed = rx.changed() => {
                if changed.is_err() {
                    continue;
                }
                let latest = rx.borrow_and_update().clone().unwrap_or_default();
                if let Some(u) = latest.iter().rev().find(|u| u.file_name == file_name(&path)) {
                    bar.update("上传录像 / uploading the recording", u.sent, u.total);
                }
            }
        }
    }
}

fn file_name(path: &std::path::Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Follows a download until it is done or failed (unless `--detach`), with a progress bar.
async fn follow_download(
    ctx: &Context,
    client: &Client,
    started: DownloadStatus,
    follow: Follow,
) -> CliResult {
    let id = started.replay_id.clone();
    let mut last = started;
    if !follow.detach && last.state != DownloadState::Done {
        ctx.start(client);
        let (tx, mut rx) = watch::channel(None);
        let _handle = client
            .replays()
            .subscribe(ReplayFilter::default(), Arc::new(Forward(tx)));
        let mut bar = ctx.out.progress("下载回放 / downloading the replay");
        let deadline = ctx
            .wait()
            .map(|w| Instant::now() + w.max(Duration::from_secs(600)));
        loop {
            let views = rx.borrow_and_update().clone().unwrap_or_default();
            if let Some(d) = views
                .into_iter()
                .find(|v| v.replay.id == id)
                .and_then(|v| v.download)
            {
                bar.update(
                    "下载回放 / downloading the replay",
                    d.bytes_done,
                    d.bytes_total,
                );
                last = d;
                if matches!(
                    last.state,
                    DownloadState::Done | DownloadState::Failed | DownloadState::Paused
                ) {
                    break;
                }
            } else if rx.borrow().is_some() {
                bar.finish();
                return Err(Failure::new(
                    Exit::NotFound,
                    "下载已被删除 / the download was deleted",
                ));
            }
            let wait = rx.changed();
            match deadline {
                Some(d) => match tokio::time::timeout_at(d.into(), wait).await {
                    Ok(r) => r.map_err(|_| Failure::new(Exit::Other, "the core stopped"))?,
                    Err(_) => break,
                },
                None => wait
                    .await
                    .map_err(|_| Failure::new(Exit::Other, "the core stopped"))?,
            }
        }
        bar.finish();
    }
    if follow.json {
        print_json(&DownloadJson::from(&last));
    } else {
        print(format!("{id}: {}", download_label(&last)));
    }
    match (&last.state, &last.error) {
        (DownloadState::Failed, Some(e)) => Err(Failure::new(
            Exit::from_code_str(&e.code),
            format!("下载失败 / download failed: {}", e.message),
        )),
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------
// Text and JSON

/// "12:05" (minutes and seconds), "1:02:05" past an hour.
fn clock(ms: i64) -> String {
    let secs = ms.max(0) / 1000;
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

fn status_label(r: &Replay) -> (String, Option<Color>) {
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

fn download_label(d: &DownloadStatus) -> String {
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

fn table(out: &Out, list: &[ReplayView]) -> comfy_table::Table {
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

fn details(v: &ReplayView) -> Vec<(&'static str, String)> {
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
struct ViewJson<'a> {
    #[serde(flatten)]
    replay: &'a Replay,
    place: Option<PlaceJson>,
    download: Option<DownloadJson<'a>>,
}

impl<'a> ViewJson<'a> {
    fn new(v: &'a ReplayView) -> Self {
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
struct DownloadJson<'a> {
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
struct PlaybackJson<'a> {
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
